#!/usr/bin/env bash
# Is the engram job healthy? Prints one verdict line per check and exits 0 only if every check passes:
#   job-running      the job and all its tasks are RUNNING
#   no-restarts      numRestarts = 0 and no exception recorded since this job was deployed
#   checkpoints      at least one checkpoint completed, the latest no older than --max-checkpoint-age, and no
#                    checkpoint failed after it
#   kernel-mode      the engram.kernelMode gauge of every memory-spaces subtask shows --expect-mode
#                    (1 = zig, 0 = java); a mix of modes always fails
#   arena-overflow   engram.arena.overflows / engram.arena.resets (overflowing share of native kernel calls)
#                    at most --max-overflow-rate
#   divergence       engram.shadowDivergences = 0 (Zig and Java disagreed beyond the differential-test
#                    tolerances on a shadow-compared call)
# Metrics are read from the Flink REST API (aggregated over the subtasks), so this works against any cluster.
#
# Usage: health_check.sh [--rest URL] [--job-id ID] [--expect-mode zig|java] [--wait SECONDS]
#                        [--max-checkpoint-age SECONDS] [--max-overflow-rate RATE] [--max-restarts N] [--quiet]
#   --wait S   keep re-checking for up to S seconds while data is still missing (a job that just started has no
#              checkpoint and no metrics yet). A definite failure (wrong mode, a restart, a divergence) ends the
#              wait at once. Default 0: check once.
#   --max-restarts N   accept up to N restarts of this job run (default 0: any restart since the deploy fails;
#              a redeploy through a savepoint starts a new job with numRestarts 0)
# Exit: 0 healthy, 1 unhealthy or cannot check.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

JOB_ID=""
EXPECT=""
WAIT=0
MAX_CP_AGE=30
MAX_OVERFLOW=0.01
MAX_RESTARTS=0
QUIET=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rest) ENGRAM_REST=$2; shift 2 ;;
        --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
        --job-id) JOB_ID=$2; shift 2 ;;
        --expect-mode) EXPECT=$2; shift 2 ;;
        --wait) WAIT=$2; shift 2 ;;
        --max-checkpoint-age) MAX_CP_AGE=$2; shift 2 ;;
        --max-overflow-rate) MAX_OVERFLOW=$2; shift 2 ;;
        --max-restarts) MAX_RESTARTS=$2; shift 2 ;;
        --quiet) QUIET=1; shift ;;
        -h|--help) print_help; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case "$EXPECT" in ''|zig|java) ;; *) die "--expect-mode must be zig or java, not '$EXPECT'" ;; esac
load_cluster_env
need_rest
[ -n "$JOB_ID" ] || JOB_ID=$(find_job_id)

# Each check sets VERDICT (PASS, FAIL or PENDING = not decidable yet) and DETAIL.
declare -A VERDICTS DETAILS
CHECKS=(job-running no-restarts checkpoints kernel-mode arena-overflow divergence)

metric_ids=""
vertex=""
metric() { # SUFFIX AGG -> value or empty
    local id
    id=$(grep -E "(^|\.)${1//./\\.}$" <<<"$metric_ids" | head -1 || true)
    [ -n "$id" ] || return 0
    rest GET "/jobs/$JOB_ID/vertices/$vertex/subtasks/metrics?get=$id&agg=$2" | jq -r --arg a "$2" '.[0][$a] // empty'
}
num() { printf '%.0f' "${1:-0}"; }

run_checks() {
    local j state pending restarts nexc cp completed failed latest_ts latest_failed_ts age now mn mx ov rs div rate
    now=$(now_ms)
    j=$(rest GET "/jobs/$JOB_ID")
    state=$(jq -r '.state' <<<"$j")
    pending=$(jq -r '[.vertices[] | select(.status != "RUNNING")] | length' <<<"$j")
    if [ "$state" = RUNNING ] && [ "$pending" -eq 0 ]; then
        VERDICTS[job-running]=PASS; DETAILS[job-running]="job $JOB_ID RUNNING, all $(jq '.vertices | length' <<<"$j") vertices RUNNING"
    elif [ "$state" = RUNNING ] || [ "$state" = CREATED ] || [ "$state" = INITIALIZING ]; then
        VERDICTS[job-running]=PENDING; DETAILS[job-running]="job $state, $pending vertices not RUNNING yet"
    else
        VERDICTS[job-running]=FAIL; DETAILS[job-running]="job $JOB_ID is $state"
    fi

    restarts=$(rest GET "/jobs/$JOB_ID/metrics?get=numRestarts" | jq -r '.[0].value // "0"')
    nexc=$(rest GET "/jobs/$JOB_ID/exceptions?maxExceptions=1" | jq -r '.exceptionHistory.entries | length')
    if [ "$(num "$restarts")" -eq 0 ] && [ "$nexc" -eq 0 ]; then
        VERDICTS[no-restarts]=PASS; DETAILS[no-restarts]="numRestarts 0, no exceptions since deploy"
    elif [ "$(num "$restarts")" -le "$MAX_RESTARTS" ]; then
        VERDICTS[no-restarts]=PASS; DETAILS[no-restarts]="numRestarts $restarts (accepted: --max-restarts $MAX_RESTARTS), last exception: $(root_cause "$JOB_ID")"
    else
        VERDICTS[no-restarts]=FAIL; DETAILS[no-restarts]="numRestarts $restarts, last exception: $(root_cause "$JOB_ID")"
    fi

    cp=$(rest GET "/jobs/$JOB_ID/checkpoints")
    completed=$(jq -r '.counts.completed' <<<"$cp")
    failed=$(jq -r '.counts.failed' <<<"$cp")
    latest_ts=$(jq -r '.latest.completed.latest_ack_timestamp // 0' <<<"$cp")
    latest_failed_ts=$(jq -r '.latest.failed.trigger_timestamp // 0' <<<"$cp")
    if [ "$completed" -eq 0 ]; then
        # Triggers that fire before every task runs count as failed too: only time decides here.
        VERDICTS[checkpoints]=PENDING
        DETAILS[checkpoints]="no checkpoint completed yet ($failed failed$( [ "$failed" -eq 0 ] || echo ": $(jq -r '.latest.failed.failure_message // "trigger before all tasks ran"' <<<"$cp" | head -c 300)"))"
    elif [ "$(jq -r '.latest.completed.trigger_timestamp // 0' <<<"$cp")" -lt "$(jq -r '."start-time"' <<<"$j")" ]; then
        VERDICTS[checkpoints]=PENDING; DETAILS[checkpoints]="no checkpoint of this job run completed yet"
    else
        age=$(((now - latest_ts) / 1000))
        if [ "$latest_failed_ts" -gt "$latest_ts" ]; then
            VERDICTS[checkpoints]=FAIL; DETAILS[checkpoints]="the latest checkpoint FAILED after the last completed one: $(jq -r '.latest.failed.failure_message // "?"' <<<"$cp" | head -c 300)"
        elif [ "$age" -le "$MAX_CP_AGE" ]; then
            VERDICTS[checkpoints]=PASS; DETAILS[checkpoints]="$completed completed, latest ${age}s ago (limit ${MAX_CP_AGE}s), $failed failed"
        else
            VERDICTS[checkpoints]=FAIL; DETAILS[checkpoints]="latest completed checkpoint is ${age}s old (limit ${MAX_CP_AGE}s); $completed completed, $failed failed"
        fi
    fi

    vertex=$(jq -r '[.vertices[] | select(.name | test("memory-spaces"))][0].id // empty' <<<"$j")
    metric_ids=""
    [ -z "$vertex" ] || metric_ids=$(rest GET "/jobs/$JOB_ID/vertices/$vertex/subtasks/metrics" | jq -r '.[].id')
    if ! grep -q 'engram\.kernelMode$' <<<"$metric_ids"; then
        for c in kernel-mode arena-overflow divergence; do
            VERDICTS[$c]=PENDING; DETAILS[$c]="engram metrics not reported yet"
        done
        [ -n "$vertex" ] || DETAILS[kernel-mode]="no memory-spaces vertex in job $JOB_ID"
        return 0
    fi

    mn=$(metric engram.kernelMode min); mx=$(metric engram.kernelMode max)
    local m
    if [ "$(num "$mn")" -ne "$(num "$mx")" ]; then
        m=mixed
    elif [ "$(num "$mx")" -eq 1 ]; then
        m=zig
    else
        m=java
    fi
    if [ "$m" = mixed ]; then
        VERDICTS[kernel-mode]=FAIL; DETAILS[kernel-mode]="subtasks disagree: some on zig, some on java (divergence auto-fallback or a scoped runtime switch?)"
    elif [ -z "$EXPECT" ] || [ "$m" = "$EXPECT" ]; then
        VERDICTS[kernel-mode]=PASS; DETAILS[kernel-mode]="all subtasks on $m${EXPECT:+ (expected $EXPECT)}"
    else
        VERDICTS[kernel-mode]=FAIL; DETAILS[kernel-mode]="subtasks run $m, expected $EXPECT (a runtime switch from set_kernel_mode.sh overrides the deployed mode)"
    fi
    KERNEL_MODE=$m

    ov=$(metric engram.arena.overflows sum); rs=$(metric engram.arena.resets sum)
    rate=$(awk -v o="${ov:-0}" -v r="${rs:-0}" 'BEGIN { if (r > 0) printf "%.6f", o / r; else printf "0" }')
    if awk -v x="$rate" -v t="$MAX_OVERFLOW" 'BEGIN { exit !(x <= t) }'; then
        VERDICTS[arena-overflow]=PASS
    else
        VERDICTS[arena-overflow]=FAIL
    fi
    DETAILS[arena-overflow]="$(num "$ov") overflows in $(num "$rs") native calls = rate $rate (limit $MAX_OVERFLOW)"

    div=$(metric engram.shadowDivergences sum)
    if [ -z "$div" ]; then
        VERDICTS[divergence]=PASS; DETAILS[divergence]="no divergence metric in this job version (skipped)"
    elif [ "$(num "$div")" -eq 0 ]; then
        VERDICTS[divergence]=PASS; DETAILS[divergence]="0 divergences in $(num "$(metric engram.shadowComparisons sum)") shadow comparisons"
    else
        VERDICTS[divergence]=FAIL; DETAILS[divergence]="$(num "$div") Zig/Java divergences: roll back to Java (rollback_to_java.sh) and report the TaskManager log lines 'engram divergence guard'"
    fi
    INFO="memories $(num "$(metric engram.memories sum)"), edges $(num "$(metric engram.edges sum)"), dead letters $(num "$(for r in $(grep -E 'engram\.reason\.[A-Z_]+\.deadLetters$' <<<"$metric_ids"); do rest GET "/jobs/$JOB_ID/vertices/$vertex/subtasks/metrics?get=$r&agg=sum" | jq -r '.[0].sum'; done | awk '{s += $1} END {print s + 0}')")"
}

step "health of job $JOB_ID at $ENGRAM_REST${EXPECT:+ (expect $EXPECT)}"
t0=$(date +%s)
KERNEL_MODE=""
INFO=""
while true; do
    run_checks
    any_fail=0; any_pending=0
    for c in "${CHECKS[@]}"; do
        case "${VERDICTS[$c]}" in FAIL) any_fail=1 ;; PENDING) any_pending=1 ;; esac
    done
    if [ "$any_fail" = 1 ] || [ "$any_pending" = 0 ] || [ $(($(date +%s) - t0)) -ge "$WAIT" ]; then
        break
    fi
    sleep 1
done
step_end
rc=0
for c in "${CHECKS[@]}"; do
    v=${VERDICTS[$c]}
    if [ "$v" = PENDING ]; then
        v=FAIL
        if [ "$any_fail" = 1 ]; then
            DETAILS[$c]="${DETAILS[$c]} (undecided: the check stopped at the first definite failure)"
        else
            DETAILS[$c]="${DETAILS[$c]} (still after ${WAIT}s)"
        fi
    fi
    [ "$v" = PASS ] || rc=1
    [ "$QUIET" = 1 ] && [ "$v" = PASS ] || printf '%-4s %-15s %s\n' "$v" "$c" "${DETAILS[$c]}"
done
[ -z "$INFO" ] || [ "$QUIET" = 1 ] || printf 'INFO %-15s %s\n' "state" "$INFO"
if [ "$rc" -eq 0 ]; then
    log "HEALTHY: job $JOB_ID${KERNEL_MODE:+ on $KERNEL_MODE kernels} ($(fmt_ms $(($(now_ms) - SCRIPT_T0))))"
else
    printf '%s [%s] UNHEALTHY: job %s (see the FAIL lines above)\n' "$(date +%H:%M:%S)" "$SCRIPT_NAME" "$JOB_ID" >&2
fi
exit "$rc"
