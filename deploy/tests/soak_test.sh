#!/usr/bin/env bash
# Soak test: steady load on a REAL standalone cluster (the Flink distribution's JobManager and ONE TaskManager with 2
# slots, the job at parallelism 2, so every subtask is in the measured process; + `engram broker`) that this script
# starts in its own state dir and ALWAYS stops (EXIT trap), under a hard time limit. Runnable by hand:
#     deploy/tests/soak_test.sh                       # CI cut: 150 s of steady load after a 60 s warm-up
#     SOAK_DURATION=600 deploy/tests/soak_test.sh     # the 10-minute soak (Maven: -DsoakDuration=600)
#     SOAK_DURATION=3600 SOAK_TIMEOUT=4500 deploy/tests/soak_test.sh   # an hour
# Runs by default in `mvn -B verify` (deploy module, integration-test, after the fault tests); skip with
# -DskipSoakTests (or -DskipFaultTests, which skips both).
#
# The TaskManager runs with -XX:NativeMemoryTracking=summary and -XX:+AlwaysPreTouch (the whole heap is paged in at
# start, so filling the heap does not show up as RSS growth: what can still grow is native memory). The job runs
# the Zig kernels (every query pins arrays over JNI and uses the native arenas) under a steady load: memory events
# (stores that upsert a bounded working set of 60 memories per space, reinforcements, associations) and recall
# queries, SOAK_EVENT_RATE / SOAK_QUERY_RATE per second (default 10 / 10). SOAK_WARMUP seconds after the first
# committed answer the first sample
# is taken, then one every SOAK_SAMPLE_EVERY seconds, the last after SOAK_DURATION seconds:
#   VmRSS (/proc/PID/status) and `jcmd PID VM.native_memory summary`.
# Asserted flat within SOAK_MAX_DRIFT_PCT (default 5) %, first vs last sample (or within 1 MiB for small values):
#   - VmRSS of the TaskManager;
#   - NMT committed minus Java Heap, Code and Arena Chunk (the JIT's compiled code, which keeps growing for minutes
#     while the JIT warms up, bounded by the code cache size, and the compilers' transient scratch);
#   - NMT Internal + Other (JNI handles, direct buffers, Unsafe allocations).
# Native memory the Zig library allocates itself (the arenas) is not seen by NMT; it is part of VmRSS.
# Also asserted: the job never restarted, and every query of the load was answered exactly once (read_committed).
# Writes soak-results.txt (the table) and samples.jsonl into its work dir and prints them.
#
# Environment: SOAK_DURATION (default 150), SOAK_WARMUP (60), SOAK_SAMPLE_EVERY (30), SOAK_EVENT_RATE (10),
# SOAK_QUERY_RATE (10), SOAK_MAX_DRIFT_PCT (5), SOAK_TIMEOUT (hard limit, default duration + 420 s), SOAK_WORK
# (default deploy/target/soak; each run uses run-<time>-<pid> in it), plus what lib/common.sh reads.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
S="$(cd "$HERE/../scripts" && pwd)"
WORK="${SOAK_WORK:-$HERE/../target/soak}"
DURATION="${SOAK_DURATION:-150}"
LIMIT="${SOAK_TIMEOUT:-$((DURATION + 420))}"

# shellcheck source=lib_frame.sh
source "$HERE/lib_frame.sh"
if [ "${1:-}" != --inner ]; then
    run_in_frame "soak test" "$LIMIT" SOAK_TIMEOUT "$0"
fi

WORK=$2
W=$WORK
T0=$(date +%s)
PASSED=0
FAILED=0
FAILS=()
LOAD_PID="" SEND_PID="" EV_PID="" EV_SEND_PID="" TAIL_PID="" SAMPLER_PID=""
pass() { PASSED=$((PASSED + 1)); printf 'PASS %-44s %s\n' "$1" "${2:-}"; }
fail() { FAILED=$((FAILED + 1)); FAILS+=("$1"); printf 'FAIL %-44s %s\n' "$1" "${2:-}"; }
section() { echo; echo "== $* ($(( $(date +%s) - T0 )) s)"; }
DATA="python3 $S/lib/drill_data.py"
FDATA="python3 $HERE/lib_faults.py"

# shellcheck source=../scripts/lib/common.sh
source "$S/lib/common.sh"
# shellcheck disable=SC2034 # read by common.sh
SCRIPT_NAME=soak

summary() {
    local rc=$?
    set +e
    [ "$rc" -eq 0 ] || [ "$FAILED" -gt 0 ] || fail "aborted" "exit $rc at line ${BASH_LINENO[0]:-?} (see above)"
    for p in "$LOAD_PID" "$EV_PID" "$SEND_PID" "$EV_SEND_PID"; do [ -z "$p" ] || kill "$p" 2>/dev/null; done
    [ -z "$TAIL_PID" ] || kill -- "-$TAIL_PID" 2>/dev/null
    echo
    echo "soak test: $(( $(date +%s) - T0 )) s, work dir $WORK"
    [ ${#FAILS[@]} -eq 0 ] || echo "failed: ${FAILS[*]}"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] || exit 1
}
trap summary EXIT

section "start cluster (TaskManager with NMT) + deploy (zig)"
export ENGRAM_TM_JVM_OPTS="-XX:NativeMemoryTracking=summary -XX:+AlwaysPreTouch"
export ENGRAM_PARALLELISM=2
t0=$(date +%s)
if "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --taskmanagers 1 >"$W/start.log" 2>&1; then
    pass "start_cluster.sh" "$(( $(date +%s) - t0 )) s"
else
    fail "start_cluster.sh" "$(tail -15 "$W/start.log")"; exit 1
fi
load_cluster_env
export ENGRAM_REST ENGRAM_BOOTSTRAP
t0=$(date +%s)
if "$S/deploy_with_zig.sh" --state-dir "$ENGRAM_STATE_DIR" >"$W/deploy.log" 2>&1; then
    JOB=$(find_job_id)
    pass "deploy_with_zig.sh" "job $JOB healthy on zig in $(( $(date +%s) - t0 )) s"
else
    fail "deploy_with_zig.sh" "$(grep -E 'FAILED|FAIL ' "$W/deploy.log" | head -3 | tr '\n' ' ')"; exit 1
fi
read -r TM_PID _ <"$ENGRAM_STATE_DIR/pids/taskmanager-1.pid"
jcmd "$TM_PID" VM.native_memory summary >/dev/null 2>&1 || { fail "NMT on the TaskManager" "jcmd $TM_PID VM.native_memory failed"; exit 1; }

section "steady load: ${SOAK_EVENT_RATE:-10} events/s + ${SOAK_QUERY_RATE:-10} queries/s for ${SOAK_WARMUP:-60} s warm-up + ${DURATION} s"
RID="soak$$"
TEV=$(($(now_ms) - 120000))
set -m
( engram_cli tail --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type results --from-beginning --idle-timeout 120s 2>"$W/tail.err" \
    | while IFS= read -r line; do printf '%s %s\n' "$(($(date +%s%N) / 1000000))" "$line"; done >"$W/results.log" ) &
TAIL_PID=$!
set +m
mkfifo "$W/events.fifo" "$W/load.fifo"
engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type event --file - <"$W/events.fifo" >"$W/events-send.log" 2>&1 &
EV_SEND_PID=$!
$FDATA soak-events --rid "$RID" --t0 "$TEV" --rate "${SOAK_EVENT_RATE:-10}" >"$W/events.fifo" &
EV_PID=$!
engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type query --file - <"$W/load.fifo" >"$W/load-send.log" 2>&1 &
SEND_PID=$!
$DATA load --rid "$RID" --spaces 4 --t "$((TEV + 60000))" --rate "${SOAK_QUERY_RATE:-10}" --ids "$W/load-ids.txt" >"$W/load.fifo" &
LOAD_PID=$!
exc0=$(rest GET "/jobs/$JOB/exceptions?maxExceptions=50" | jq -r '.exceptionHistory.entries | length')

# The warm-up counts from the first committed answer (the tail and producer JVMs start slowly on a loaded machine).
t0=$(date +%s)
until grep -q "\"$RID-" "$W/results.log" 2>/dev/null; do
    kill -0 "$TAIL_PID" 2>/dev/null || { fail "results tail running" "it exited: $(tail -2 "$W/tail.err" | tr '\n' ' ')"; exit 1; }
    [ $(($(date +%s) - t0)) -lt 240 ] || { fail "load answered" "no result committed within 240 s"; exit 1; }
    sleep 1
done
log "    first answer committed after $(( $(date +%s) - t0 )) s; warm-up ${SOAK_WARMUP:-60} s"
sleep "${SOAK_WARMUP:-60}"
log "    warm-up done: $(grep -c "\"$RID-" "$W/results.log" || true) queries answered so far"
$FDATA nmt --pid "$TM_PID" --label start >"$W/samples.jsonl" || { fail "NMT sample" "start"; exit 1; }
t_start=$(date +%s)
n=1
while [ $(($(date +%s) - t_start)) -lt "$DURATION" ]; do
    left=$((DURATION - ($(date +%s) - t_start)))
    sleep "$(( left < ${SOAK_SAMPLE_EVERY:-30} ? left : ${SOAK_SAMPLE_EVERY:-30} ))"
    pid_alive "$TM_PID" || { fail "TaskManager alive" "pid $TM_PID is gone"; exit 1; }
    n=$((n + 1))
    $FDATA nmt --pid "$TM_PID" --label "t+$(( $(date +%s) - t_start ))s" >>"$W/samples.jsonl"
    log "    sample $n: $(tail -1 "$W/samples.jsonl" | jq -r '"VmRSS \(.rss_kb/1024|floor) MiB, NMT committed \(.nmt_total_kb/1024|floor) MiB"'); $(grep -c "\"$RID-" "$W/results.log" || true) answered"
done

section "end of load"
kill "$EV_PID" "$LOAD_PID" 2>/dev/null || true
wait "$EV_PID" "$LOAD_PID" 2>/dev/null || true
wait "$EV_SEND_PID" "$SEND_PID" 2>/dev/null || true
EV_PID="" LOAD_PID="" EV_SEND_PID="" SEND_PID=""
log "    events producer: $(grep -E '^sent ' "$W/events-send.log" || tail -2 "$W/events-send.log")"
log "    query producer:  $(grep -E '^sent ' "$W/load-send.log" || tail -2 "$W/load-send.log")"
note="load ${SOAK_EVENT_RATE:-10} events/s + ${SOAK_QUERY_RATE:-10} queries/s (zig kernels), $(grep -E '^sent ' "$W/events-send.log" | cut -d' ' -f2) events and $(grep -E '^sent ' "$W/load-send.log" | cut -d' ' -f2) queries in all"
if out=$($FDATA drift --samples "$W/samples.jsonl" --out "$W/soak-results.txt" --max-pct "${SOAK_MAX_DRIFT_PCT:-5}" --note "$note"); then
    echo "$out"
    pass "RSS and native memory flat within ${SOAK_MAX_DRIFT_PCT:-5} %" "over ${DURATION} s"
else
    echo "$out"
    fail "RSS and native memory flat within ${SOAK_MAX_DRIFT_PCT:-5} %" "see the table above"
fi
exc1=$(rest GET "/jobs/$JOB/exceptions?maxExceptions=50" | jq -r '.exceptionHistory.entries | length')
state=$(job_state "$JOB")
[ "$state" = RUNNING ] && [ "$exc1" = "$exc0" ] && pass "job ran through without a restart" "state $state, $((exc1 - exc0)) failures" \
    || fail "job ran through without a restart" "state $state, $((exc1 - exc0)) failures: $(root_cause "$JOB")"
t0=$(date +%s)
until $DATA exactly-once --rid "$RID" --results "$W/results.log" --sent "$W/load-ids.txt" >/dev/null; do
    [ $(($(date +%s) - t0)) -lt 90 ] || break
    sleep 2
done
sleep 6
out=$($DATA exactly-once --rid "$RID" --results "$W/results.log" --sent "$W/load-ids.txt") && rc=0 || rc=$?
[ "$rc" -eq 0 ] && pass "queries exactly once (read_committed)" "$out" || fail "queries exactly once (read_committed)" "$out"
echo "$out" >>"$W/soak-results.txt"
