#!/usr/bin/env bash
# CI tests of the operator scripts, against a REAL cluster (JobManager + TaskManager JVMs + Kafka broker) that this
# script starts and ALWAYS stops (EXIT trap), all under a hard time limit. Run by deploy/pom.xml in the
# integration-test phase; runnable by hand:  deploy/tests/run_drill_tests.sh
#
#   static            every script parses (bash -n); drill_data.py compiles
#   usage errors      scripts fail fast with a clear message (no cluster, no --reason, bad mode, unknown flag)
#   start_cluster     starts, is idempotent, records PIDs; TaskManager memory = the arithmetic in config.yaml
#   wrong mode        a job deployed with mode=java: health_check.sh --expect-mode zig exits non-zero,
#                     --expect-mode java exits 0
#   safety            deploy_with_zig.sh refuses a second job and the Java-only jar; rollback/roll-forward with an
#                     unusable jar stop NOTHING (the job keeps running, same id)
#   drill             rollback_drill.sh, the full monthly drill (every checklist item must PASS)
#   stop_cluster      leaves no process of the cluster behind, closes its ports, and is idempotent
#
# Environment: ENGRAM_TEST_TIMEOUT (seconds, default 600), ENGRAM_TEST_WORK (default deploy/target/drill; each run
# uses its own run-<time>-<pid> directory in it),
# plus everything lib/common.sh reads (ENGRAM_FLINK_LIB, ENGRAM_JOB_JAR, ENGRAM_JAVA_ONLY_JAR, ENGRAM_CLI).
# Prints "N passed, M failed" last; exits non-zero if anything failed or the time limit hit.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
S="$(cd "$HERE/../scripts" && pwd)"
WORK="${ENGRAM_TEST_WORK:-$HERE/../target/drill}"
LIMIT="${ENGRAM_TEST_TIMEOUT:-600}"

# shellcheck source=lib_frame.sh
source "$HERE/lib_frame.sh"
if [ "${1:-}" != --inner ]; then
    run_in_frame "deploy tests" "$LIMIT" ENGRAM_TEST_TIMEOUT "$0"
fi

WORK=$2
T0=$(date +%s)
PASSED=0
FAILED=0
FAILS=()
pass() { PASSED=$((PASSED + 1)); printf 'PASS %-40s %s\n' "$1" "${2:-}"; }
fail() { FAILED=$((FAILED + 1)); FAILS+=("$1"); printf 'FAIL %-40s %s\n' "$1" "${2:-}"; }
# expect_fail NAME PATTERN CMD...: CMD must exit non-zero and print PATTERN (its clear message).
expect_fail() {
    local name=$1 pat=$2 out rc
    shift 2
    set +e
    out=$("$@" 2>&1)
    rc=$?
    set -e
    if [ "$rc" -ne 0 ] && grep -qE -- "$pat" <<<"$out"; then
        pass "$name" "exit $rc: $(grep -m1 -E -- "$pat" <<<"$out" | cut -c1-150)"
    else
        fail "$name" "exit $rc, expected non-zero with /$pat/: $(tail -3 <<<"$out" | tr '\n' ' ' | cut -c1-300)"
    fi
}
summary() {
    echo
    echo "deploy tests: $(( $(date +%s) - T0 )) s, work dir $WORK"
    [ ${#FAILS[@]} -eq 0 ] || echo "failed: ${FAILS[*]}"
    echo "$PASSED passed, $FAILED failed"
}
trap summary EXIT
section() { echo; echo "== $* ($(( $(date +%s) - T0 )) s)"; }

# shellcheck source=../scripts/lib/common.sh
SCRIPT_NAME=tests source "$S/lib/common.sh"
trap summary EXIT   # common.sh installs its own EXIT trap

# ----- static ---------------------------------------------------------------------------------------------------
section static
bad=""
for f in "$S"/*.sh "$S"/lib/*.sh "$HERE"/*.sh; do bash -n "$f" 2>/dev/null || bad="$bad $(basename "$f")"; done
[ -z "$bad" ] && pass "scripts parse (bash -n)" || fail "scripts parse (bash -n)" "$bad"
python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" "$S/lib/drill_data.py" && pass "drill_data.py compiles" || fail "drill_data.py compiles"
[ -f "$ENGRAM_JOB_JAR" ] && ! jar_is_java_only "$ENGRAM_JOB_JAR" && pass "job jar has the native library" "$(basename "$ENGRAM_JOB_JAR")" \
    || fail "job jar has the native library" "$ENGRAM_JOB_JAR"
if [ -f "$ENGRAM_JAVA_ONLY_JAR" ] && jar_is_java_only "$ENGRAM_JAVA_ONLY_JAR" \
    && [ "$(unzip -Z1 "$ENGRAM_JAVA_ONLY_JAR" | grep -c '^lib/' || true)" -eq 0 ]; then
    pass "Java-only jar has no native library" "$(basename "$ENGRAM_JAVA_ONLY_JAR"): no lib/, no libengram.so/.dylib"
else
    fail "Java-only jar has no native library" "$ENGRAM_JAVA_ONLY_JAR"
fi

# ----- usage errors ---------------------------------------------------------------------------------------------
section "usage errors (no cluster needed)"
expect_fail "health_check: unreachable REST" "cannot reach Flink REST" "$S/health_check.sh" --rest http://127.0.0.1:9 --job-id 0
expect_fail "set_kernel_mode: reason required" "--reason is required" "$S/set_kernel_mode.sh" java --bootstrap-servers 127.0.0.1:9
expect_fail "set_kernel_mode: bad mode" "must be zig or java" "$S/set_kernel_mode.sh" fast --reason x
expect_fail "set_kernel_mode: bad fraction" "fraction must be in" "$S/set_kernel_mode.sh" java --fraction 1.5 --reason x --bootstrap-servers 127.0.0.1:9
expect_fail "rollback_to_java: unknown flag" "unknown argument" "$S/rollback_to_java.sh" --frobnicate
expect_fail "deploy_with_zig: no cluster" "no Flink REST address|cannot reach" env -u ENGRAM_REST "$S/deploy_with_zig.sh" --state-dir "$WORK/nowhere" --bootstrap-servers 127.0.0.1:9

# ----- start_cluster --------------------------------------------------------------------------------------------
section start_cluster
t0=$(date +%s)
if "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" >"$WORK/start.log" 2>&1; then
    pass "start_cluster.sh" "$(( $(date +%s) - t0 )) s: $(grep -E 'Flink REST|Kafka bootstrap' "$WORK/start.log" | tr -s ' ' | tr '\n' ' ')"
else
    fail "start_cluster.sh" "$(tail -15 "$WORK/start.log")"
    exit 1
fi
load_cluster_env
export ENGRAM_REST ENGRAM_BOOTSTRAP
out=$("$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" 2>&1) && grep -q 'already running' <<<"$out" \
    && pass "start_cluster.sh is idempotent" "second run: $(grep -c 'already running' <<<"$out") x 'already running', nothing started" \
    || fail "start_cluster.sh is idempotent" "$(tail -5 <<<"$out")"
PIDS_BEFORE=""
for f in "$ENGRAM_STATE_DIR"/pids/*.pid; do PIDS_BEFORE="$PIDS_BEFORE $(cut -d' ' -f1 "$f")"; done
[ "$(wc -w <<<"$PIDS_BEFORE")" -eq 3 ] && pass "3 processes recorded" "pids$PIDS_BEFORE" || fail "3 processes recorded" "$PIDS_BEFORE"
tm=$(rest GET /taskmanagers | jq -c '.taskmanagers[0] | {slotsNumber, memoryConfiguration}')
mib() { jq -r "$1" <<<"$tm" | awk '{printf "%d", $1 / 1048576}'; }
# config.yaml: process 1344 MiB = Flink 896 + metaspace 256 + overhead 192; task off-heap 64 MiB >= 2 MiB x 2 slots.
if [ "$(mib .memoryConfiguration.totalProcessMemory)" = 1344 ] && [ "$(mib .memoryConfiguration.totalFlinkMemory)" = 896 ] \
    && [ "$(mib .memoryConfiguration.taskOffHeap)" = 64 ] && [ "$(jq -r .slotsNumber <<<"$tm")" = 2 ]; then
    pass "TaskManager memory = config.yaml arithmetic" "process 1344 MiB, Flink 896 MiB, task off-heap 64 MiB >= 2 MiB arena x 2 slots"
else
    fail "TaskManager memory = config.yaml arithmetic" "$tm"
fi
scrape=$(curl -sf --max-time 5 "${ENGRAM_TM_METRICS:-http://127.0.0.1:9}" || true)
if grep -q '^flink_taskmanager_Status_JVM' <<<"$scrape"; then
    pass "Prometheus endpoint of the TaskManager" "$ENGRAM_TM_METRICS"
else
    fail "Prometheus endpoint of the TaskManager" "${ENGRAM_TM_METRICS:-unknown}"
fi

# ----- wrong mode + safety --------------------------------------------------------------------------------------
section "wrong mode and pre-flight safety (a job deployed with mode=java)"
if "$S/deploy_with_zig.sh" --mode java --health-timeout 60 >"$WORK/deploy-java.log" 2>&1; then
    JID=$(grep -oE 'DEPLOYED job_id=[0-9a-f]+' "$WORK/deploy-java.log" | cut -d= -f2)
    pass "deploy_with_zig.sh --mode java" "job $JID healthy on java ($(grep -oE 'total_ms=[0-9]+' "$WORK/deploy-java.log"))"
    expect_fail "health_check: wrong mode exits non-zero" "FAIL kernel-mode +subtasks run java, expected zig" \
        "$S/health_check.sh" --job-id "$JID" --expect-mode zig
    "$S/health_check.sh" --job-id "$JID" --expect-mode java >"$WORK/health-java.log" 2>&1 \
        && pass "health_check: right mode exits 0" "$(grep -c '^PASS' "$WORK/health-java.log") checks PASS" \
        || fail "health_check: right mode exits 0" "$(grep -E '^FAIL' "$WORK/health-java.log" | head -3)"
    expect_fail "deploy_with_zig: refuses a second job" "already RUNNING" "$S/deploy_with_zig.sh"
    expect_fail "deploy_with_zig: refuses the Java-only jar" "contains no native library" \
        "$S/deploy_with_zig.sh" --allow-second-job --jar "$ENGRAM_JAVA_ONLY_JAR"
    expect_fail "roll_forward: Java-only jar, nothing stopped" "Nothing was stopped" \
        "$S/roll_forward_to_zig.sh" --job-id "$JID" --jar "$ENGRAM_JAVA_ONLY_JAR"
    expect_fail "rollback: missing jar, nothing stopped" "Nothing was stopped" \
        "$S/rollback_to_java.sh" --job-id "$JID" --jar "$WORK/no-such.jar"
    [ "$(job_state "$JID")" = RUNNING ] && [ "$(rest GET /jobs/"$JID"/metrics?get=numRestarts | jq -r '.[0].value')" = 0 ] \
        && pass "job untouched by the refused operations" "$JID still RUNNING, 0 restarts" \
        || fail "job untouched by the refused operations" "state $(job_state "$JID")"
    curl -s -o /dev/null -X PATCH "$ENGRAM_REST/jobs/$JID?mode=cancel"
    t0=$(date +%s)
    until [ "$(job_state "$JID")" = CANCELED ] || [ $(( $(date +%s) - t0 )) -gt 30 ]; do sleep 0.5; done
else
    fail "deploy_with_zig.sh --mode java" "$(grep -E 'FAILED' "$WORK/deploy-java.log" | head -3)"
fi

# ----- the drill ------------------------------------------------------------------------------------------------
section "rollback drill"
if "$S/rollback_drill.sh" --state-dir "$ENGRAM_STATE_DIR" --result-dir "$WORK/drill-run" --report "$WORK/drill-report.txt" \
    >"$WORK/drill.log" 2>&1; then
    pass "rollback_drill.sh" "$(grep -E '^RESULT|passed,' "$WORK/drill-report.txt" | tr '\n' ' ')"
else
    fail "rollback_drill.sh" "see $WORK/drill.log"
fi
sed -n '/==== ROLLBACK DRILL/,$p' "$WORK/drill-report.txt" 2>/dev/null || tail -40 "$WORK/drill.log"

# ----- stop_cluster ---------------------------------------------------------------------------------------------
section stop_cluster
REST_BEFORE=$ENGRAM_REST
BS_BEFORE=$ENGRAM_BOOTSTRAP
if "$S/stop_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" >"$WORK/stop.log" 2>&1; then
    # A process that exited may stay a zombie for a moment until it is reaped: it holds nothing, so it does not
    # count (pid_alive ignores zombies), but give the reaper a second anyway.
    sleep 1
    left=""
    for p in $PIDS_BEFORE; do
        pid_alive "$p" && left="$left $p"
        # nothing left in the process group either
        for q in /proc/[0-9]*; do
            q=${q#/proc/}
            [ "$(sed -E 's/^.*\) //' "/proc/$q/stat" 2>/dev/null | awk '{print $3}')" = "$p" ] && pid_alive "$q" && left="$left $q(group $p)"
        done
    done
    open=""
    curl -s -o /dev/null --max-time 3 "$REST_BEFORE/overview" && open="$open REST"
    (exec 3<>"/dev/tcp/${BS_BEFORE%:*}/${BS_BEFORE##*:}") 2>/dev/null && open="$open broker"
    if [ -z "$left" ] && [ -z "$open" ]; then
        pass "stop_cluster.sh leaves no processes" "pids$PIDS_BEFORE and their groups gone, REST and broker ports closed ($(grep -oE 'total [0-9.]+ s' "$WORK/stop.log"))"
    else
        fail "stop_cluster.sh leaves no processes" "left:$left open:$open"
    fi
else
    fail "stop_cluster.sh" "$(tail -5 "$WORK/stop.log")"
fi
out=$("$S/stop_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" 2>&1) && pass "stop_cluster.sh is idempotent" "$(tail -1 <<<"$out" | cut -c1-100)" \
    || fail "stop_cluster.sh is idempotent" "$out"

[ "$FAILED" -eq 0 ]
