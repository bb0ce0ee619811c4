#!/usr/bin/env bash
# Deploys the engram job with the Zig kernels (engram.kernels.mode=zig: a jar without the native library is refused
# at submission, and a CPU the library does not support fails the start, so it is caught here and not in production
# traffic). Submits with the Flink distribution's own CLI, as a user does:
#     flink run -d -p N [-s SAVEPOINT] -D engram.kernels.mode=zig -D engram.kafka.bootstrap-servers=H:P ... JAR
# waits until every task is RUNNING, then runs health_check.sh --expect-mode zig.
#
# Usage: deploy_with_zig.sh [--rest URL] [--bootstrap-servers H:P] [--jar PATH] [--savepoint PATH]
#                           [--parallelism N] [--mode zig|java] [--conf KEY=VALUE]... [--health-timeout SECONDS]
#                           [--no-health-check] [--allow-second-job]
#   --jar PATH        default $ENGRAM_JOB_JAR or job/target/engram-job-<version>.jar
#   --savepoint PATH  resume from this savepoint (file:///... or a path); without it the job starts fresh and
#                     reads every topic from engram.kafka.starting-offsets (earliest)
#   --mode java       the same deployment with the Java kernels (what deploy_with_java would be)
#   --conf KEY=VALUE  any other setting of the job (-D), e.g. --conf state.backend.type=rocksdb; repeatable
#                     (also: $ENGRAM_JOB_CONF="k=v,k=v")
# Refuses to start a second engram job next to a running one (two jobs would both consume and both write results):
# to switch a running job use roll_forward_to_zig.sh / rollback_to_java.sh.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

JAR=""
SAVEPOINT=""
MODE=zig
HEALTH_TIMEOUT=60
HEALTH=1
SECOND=0
CONF=()
while [ $# -gt 0 ]; do
    case "$1" in
        --rest) ENGRAM_REST=$2; shift 2 ;;
        --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
        --bootstrap-servers) ENGRAM_BOOTSTRAP=$2; shift 2 ;;
        --jar) JAR=$2; shift 2 ;;
        --savepoint) SAVEPOINT=$2; shift 2 ;;
        --parallelism) ENGRAM_PARALLELISM=$2; shift 2 ;;
        --mode) MODE=$2; shift 2 ;;
        --conf) [[ ${2:-} == *=* ]] || die "--conf needs KEY=VALUE, got '${2:-}'"; CONF+=("$2"); shift 2 ;;
        --health-timeout) HEALTH_TIMEOUT=$2; shift 2 ;;
        --no-health-check) HEALTH=0; shift ;;
        --allow-second-job) SECOND=1; shift ;;
        -h|--help) print_help; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case "$MODE" in zig|java) ;; *) die "--mode must be zig or java" ;; esac
load_cluster_env
need_rest
need_bootstrap
need_flink
JAR=${JAR:-$ENGRAM_JOB_JAR}

step "pre-flight: cluster $ENGRAM_REST, jar $JAR"
[ -f "$JAR" ] || die "jar not found: $JAR (build it: mvn -B -DskipTests package)"
if [ "$MODE" = zig ] && jar_is_java_only "$JAR"; then
    die "$JAR contains no native library (a Java-only build): it cannot run mode=zig. Use --mode java or the full jar."
fi
overview=$(rest GET /overview)
log "    cluster: Flink $(jq -r '."flink-version"' <<<"$overview"), $(jq -r '.taskmanagers' <<<"$overview") TaskManager(s), $(jq -r '."slots-available"' <<<"$overview")/$(jq -r '."slots-total"' <<<"$overview") slots free"
running=$(rest GET /jobs/overview | jq -r --arg n "$ENGRAM_JOB_NAME" '[.jobs[] | select(.name == $n and .state == "RUNNING") | .jid] | join(" ")')
if [ -n "$running" ] && [ "$SECOND" = 0 ]; then
    die "engram job $running is already RUNNING on $ENGRAM_REST: switch it with roll_forward_to_zig.sh / rollback_to_java.sh (or stop it first)"
fi
[ "$(jq -r '."slots-available"' <<<"$overview")" -ge "$ENGRAM_PARALLELISM" ] \
    || die "only $(jq -r '."slots-available"' <<<"$overview") free slots for parallelism $ENGRAM_PARALLELISM"

step "submit with engram.kernels.mode=$MODE${SAVEPOINT:+ from savepoint $SAVEPOINT} (flink run)"
SUBMIT_CONF=("engram.kafka.bootstrap-servers=$ENGRAM_BOOTSTRAP")
if [ -n "${ENGRAM_JOB_CONF:-}" ]; then
    IFS=',' read -r -a extra <<<"$ENGRAM_JOB_CONF"
    SUBMIT_CONF+=("${extra[@]}")
fi
SUBMIT_CONF+=(${CONF[@]+"${CONF[@]}"})
submit_job "$JAR" "$MODE" "$SAVEPOINT"
JOB_ID=$SUBMITTED_JOB_ID
SUBMIT_MS=$(($(now_ms) - STEP_T0))

if [ "$HEALTH" = 1 ]; then
    step "health check (expect $MODE, wait up to ${HEALTH_TIMEOUT}s for the first checkpoint)"
    "$ENGRAM_SCRIPTS_DIR/health_check.sh" --rest "$ENGRAM_REST" --job-id "$JOB_ID" --expect-mode "$MODE" \
        --wait "$HEALTH_TIMEOUT" || die "job $JOB_ID is running but NOT healthy (see above)"
fi
finish
echo "DEPLOYED job_id=$JOB_ID mode=$MODE submit_ms=$SUBMIT_MS total_ms=$(($(now_ms) - SCRIPT_T0))"
