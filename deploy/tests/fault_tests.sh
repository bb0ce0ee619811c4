#!/usr/bin/env bash
# Fault tests against a REAL standalone cluster (JobManager + TaskManager JVMs + `engram broker`) that this script
# starts in its own state dir and ALWAYS stops (EXIT trap), under a hard time limit. Runnable by hand:
#     deploy/tests/fault_tests.sh
#
#   tm-kill      deploy with Zig; stream memory events (known ids, incl. "ghost" stores that reuse an applied
#                event_id and must be dropped by dedup) and recall queries (4/s) while the TaskManager is killed
#                with SIGKILL FAULT_KILLS times (default 5) at random moments; after each kill start_cluster.sh brings
#                up a new TaskManager and the job must be RUNNING with a checkpoint completed after the kill.
#                Recovery time = kill -> all tasks RUNNING and a checkpoint completed after the kill (its ack time).
#   exactly-once after the kills and the end of the load: memories/edges gauges = what was sent, one census per
#                space = the expected memory set (no ghost), every query answered exactly once (read_committed).
#   broker restart  NOT tested: `engram broker` deletes its data directory on SIGTERM and has no persistent-dir
#                option, so a restarted broker has empty topics (input and committed results gone): "nothing lost"
#                cannot be checked across it. See docs/operations/reliability.md, "Standalone-cluster faults".
#
# Environment: FAULT_TIMEOUT (seconds, default 900), FAULT_KILLS (default 5), FAULT_WORK (default
# deploy/target/faults; each run uses run-<time>-<pid> in it), FAULT_SEED (random delays; default: random),
# plus what lib/common.sh reads (ENGRAM_FLINK_LIB, ENGRAM_JOB_JAR, ENGRAM_CLI).
# Prints timings, recovery min/median/max, lost and duplicates, and "N passed, M failed" last; exits non-zero on
# any failure or when the time limit hits.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
S="$(cd "$HERE/../scripts" && pwd)"
WORK="${FAULT_WORK:-$HERE/../target/faults}"
LIMIT="${FAULT_TIMEOUT:-900}"

if [ "${1:-}" != --inner ]; then
    WORK="$WORK/run-$(date +%Y%m%d-%H%M%S)-$$"
    mkdir -p "$WORK"
    WORK=$(cd "$WORK" && pwd)
    export ENGRAM_STATE_DIR="$WORK/cluster"
    # Whatever happens inside (failure, time limit, Ctrl-C), the cluster is stopped: exactly the recorded processes.
    trap '"$S/stop_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" >"$WORK/final-stop.log" 2>&1 || cat "$WORK/final-stop.log"' EXIT
    set +e
    timeout --kill-after=20 "$LIMIT" bash "$0" --inner "$WORK"
    rc=$?
    set -e
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "FAIL the fault tests hit the hard time limit of ${LIMIT}s (FAULT_TIMEOUT)"
        echo "0 passed, 1 failed"
    fi
    exit "$rc"
fi

WORK=$2
W=$WORK
T0=$(date +%s)
PASSED=0
FAILED=0
FAILS=()
LOAD_PID="" SEND_PID="" EV_PID="" EV_SEND_PID="" TAIL_PID=""
RECOVERY_MS=()
pass() { PASSED=$((PASSED + 1)); printf 'PASS %-44s %s\n' "$1" "${2:-}"; }
fail() { FAILED=$((FAILED + 1)); FAILS+=("$1"); printf 'FAIL %-44s %s\n' "$1" "${2:-}"; }
section() { echo; echo "== $* ($(( $(date +%s) - T0 )) s)"; }
DATA="python3 $S/lib/drill_data.py"
FDATA="python3 $HERE/lib_faults.py"

# shellcheck source=../scripts/lib/common.sh
source "$S/lib/common.sh"
# shellcheck disable=SC2034 # read by common.sh
SCRIPT_NAME=faults

summary() {
    local rc=$?
    set +e
    [ "$rc" -eq 0 ] || [ "$FAILED" -gt 0 ] || fail "aborted" "exit $rc at line ${BASH_LINENO[0]:-?} (see above)"
    # Our own background processes, by their ids (the results tail is its own process group).
    for p in "$LOAD_PID" "$EV_PID"; do [ -z "$p" ] || kill "$p" 2>/dev/null; done
    for p in "$SEND_PID" "$EV_SEND_PID"; do [ -z "$p" ] || kill "$p" 2>/dev/null; done
    [ -z "$TAIL_PID" ] || kill -- "-$TAIL_PID" 2>/dev/null
    echo
    if [ ${#RECOVERY_MS[@]} -gt 0 ]; then
        echo "recovery per TaskManager kill (kill -> RUNNING + checkpoint): $(printf '%s ' "${RECOVERY_MS[@]}" | awk '{for(i=1;i<=NF;i++) printf "%.1f s ", $i/1000}')"
        echo "recovery: $($FDATA stats "${RECOVERY_MS[@]}")"
    fi
    [ -z "${LOST:-}" ] || echo "records lost: $LOST, duplicates: $DUPS"
    echo "fault tests: $(( $(date +%s) - T0 )) s, work dir $WORK"
    [ ${#FAILS[@]} -eq 0 ] || echo "failed: ${FAILS[*]}"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] || exit 1
}
trap summary EXIT   # replaces common.sh's

# ----- cluster + job ----------------------------------------------------------------------------------------------
section "start cluster + deploy (zig)"
t0=$(date +%s)
if "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" >"$W/start.log" 2>&1; then
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

# ----- load ---------------------------------------------------------------------------------------------------------
section "load: memory events (paced) + queries (4/s), results tail (read_committed)"
RID="fault$$"
TEV=$(($(now_ms) - 120000))
TQ=$((TEV + 60000))
set -m
( engram_cli tail --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type results --from-beginning --idle-timeout 180s 2>"$W/tail.err" \
    | while IFS= read -r line; do printf '%s %s\n' "$(($(date +%s%N) / 1000000))" "$line"; done >"$W/results.log" ) &
TAIL_PID=$!
set +m
$FDATA events --rid "$RID" --t0 "$TEV" --out "$W/events.jsonl" --expected "$W/expected.json" | sed 's/^/    /'
N_EVENTS=$(wc -l <"$W/events.jsonl")
# Paced so that the events span the kills: ~2.5 events/s.
mkfifo "$W/events.fifo" "$W/load.fifo"
engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type event --file - <"$W/events.fifo" >"$W/events-send.log" 2>&1 &
EV_SEND_PID=$!
$FDATA pace --file "$W/events.jsonl" --rate "${FAULT_EVENT_RATE:-2.5}" >"$W/events.fifo" &
EV_PID=$!
engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type query --file - <"$W/load.fifo" >"$W/load-send.log" 2>&1 &
SEND_PID=$!
$DATA load --rid "$RID" --spaces 4 --t "$TQ" --rate 4 --ids "$W/load-ids.txt" >"$W/load.fifo" &
LOAD_PID=$!
log "    $N_EVENTS events streaming (pid $EV_PID -> producer $EV_SEND_PID), queries (pid $LOAD_PID -> producer $SEND_PID)"

# ----- TaskManager kills ----------------------------------------------------------------------------------------------
SEED=${FAULT_SEED:-$RANDOM}
RANDOM=$SEED
KILLS=${FAULT_KILLS:-5}
section "TaskManager SIGKILL x $KILLS at random moments (seed $SEED)"

# recover KILL_MS: until all tasks RUNNING and a checkpoint completed (acknowledged) after KILL_MS; prints ms.
recover() {
    local kill_ms=$1 t0 j state pending ack
    t0=$(date +%s)
    while true; do
        j=$(rest GET "/jobs/$JOB" 2>/dev/null || echo '{}')
        state=$(jq -r '.state // "?"' <<<"$j")
        pending=$(jq -r '[.vertices[]? | select(.status != "RUNNING")] | length' <<<"$j")
        case "$state" in FAILED|CANCELED|FINISHED|SUSPENDED) echo "job $state"; return 1 ;; esac
        if [ "$state" = RUNNING ] && [ "$pending" = 0 ]; then
            ack=$(rest GET "/jobs/$JOB/checkpoints" 2>/dev/null | jq -r '.latest.completed.latest_ack_timestamp // 0')
            if [ "${ack:-0}" -gt "$kill_ms" ]; then echo $((ack - kill_ms)); return 0; fi
        fi
        [ $(($(date +%s) - t0)) -lt 240 ] || { echo "not recovered after 240 s (state $state, $pending vertices not RUNNING)"; return 1; }
        sleep 0.3
    done
}

# restart_tm N: start_cluster.sh restarts only the dead TaskManager. Its registration check filters TaskManagers
# on `timeSinceLastHeartbeat < 15000`, but Flink's REST reports the LAST HEARTBEAT TIMESTAMP (epoch ms) there, 0
# before the first heartbeat: the check passes only if it polls before the new TaskManager's first heartbeat and
# otherwise times out (and stops the TaskManager it started). Until start_cluster.sh is fixed, retry it (short
# --timeout); the attempts are reported and the retries count in the recovery time.
TM_ATTEMPTS=0
restart_tm() {
    local n=$1 a
    for a in 1 2 3 4; do
        TM_ATTEMPTS=$a
        if "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --timeout "${FAULT_TM_TIMEOUT:-40}" >"$W/restart-tm-$n.log" 2>&1; then
            return 0
        fi
        grep -q 'TaskManager not registered' "$W/restart-tm-$n.log" || return 1
        cp "$W/restart-tm-$n.log" "$W/restart-tm-$n-attempt-$a.log"
        log "    kill $n: start_cluster.sh attempt $a missed the registration (timeSinceLastHeartbeat check), retrying"
    done
    return 1
}
restarts_before=$(rest GET "/jobs/$JOB/exceptions?maxExceptions=50" | jq -r '.exceptionHistory.entries | length')
for i in $(seq 1 "$KILLS"); do
    delay_ms=$((2000 + RANDOM % 8000))
    sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))"
    read -r tm_pid _ <"$ENGRAM_STATE_DIR/pids/taskmanager.pid"
    pid_alive "$tm_pid" || { fail "kill $i: TaskManager alive before the kill" "pid $tm_pid is gone"; break; }
    answered=$(grep -c . "$W/results.log" || true)
    kill_ms=$(now_ms)
    kill -9 "$tm_pid"
    log "    kill $i: kill -9 TaskManager pid $tm_pid after a random ${delay_ms} ms; $answered results so far"
    while pid_alive "$tm_pid"; do sleep 0.1; done
    t_start=$(now_ms)
    if ! restart_tm "$i"; then
        fail "kill $i: new TaskManager" "$(tail -5 "$W/restart-tm-$i.log" | tr '\n' ' ')"; break
    fi
    tm_up=$(( $(now_ms) - t_start ))
    grep -q 'starting only the TaskManager' "$W/restart-tm-$i.log" || { fail "kill $i: only the TaskManager restarted" "$(grep -E 'running|start' "$W/restart-tm-$i.log" | head -3 | tr '\n' ' ')"; break; }
    if out=$(recover "$kill_ms"); then
        RECOVERY_MS+=("$out")
        pass "kill $i: recovered" "$(fmt_ms "$out") (new TM registered $(fmt_ms "$tm_up") after start, start_cluster.sh attempts $TM_ATTEMPTS; pid $(cut -d' ' -f1 "$ENGRAM_STATE_DIR/pids/taskmanager.pid"))"
    else
        fail "kill $i: recovered" "$out"; break
    fi
done
n_exc=$(rest GET "/jobs/$JOB/exceptions?maxExceptions=50" | jq -r '.exceptionHistory.entries | length')
log "    job $JOB: $((n_exc - restarts_before)) failures in the exception history during the kills"

# ----- end of load + verdicts ---------------------------------------------------------------------------------------
section "end of load, verify exactly-once"
# The event stream must be complete (the pacer ends at the end of the file), then the query load stops.
t0=$(date +%s)
while kill -0 "$EV_PID" 2>/dev/null; do
    [ $(($(date +%s) - t0)) -lt 300 ] || { fail "event stream complete" "pacer still running after 300 s"; break; }
    sleep 1
done
wait "$EV_SEND_PID" 2>/dev/null || true
EV_PID="" EV_SEND_PID=""
kill "$LOAD_PID" 2>/dev/null || true
wait "$LOAD_PID" 2>/dev/null || true
wait "$SEND_PID" 2>/dev/null || true
LOAD_PID="" SEND_PID=""
log "    events producer: $(grep -E '^sent ' "$W/events-send.log" || tail -2 "$W/events-send.log")"
log "    query producer:  $(grep -E '^sent ' "$W/load-send.log" || tail -2 "$W/load-send.log")"
grep -qE "^sent $N_EVENTS\b" "$W/events-send.log" && pass "all $N_EVENTS events sent" || \
    fail "all $N_EVENTS events sent" "$(tail -2 "$W/events-send.log" | tr '\n' ' ')"

# Census last: asked after every event was sent; the job applies a space's events in order (keyed by space, the
# event partitions are keyed by space too), but queries travel on another topic, so wait until the memory gauges
# reach the expected totals first.
EXP_M=$(jq -r .memories_total "$W/expected.json")
EXP_E=$(jq -r .edges_total "$W/expected.json")
vid=$(memory_vertex "$JOB")
t0=$(date +%s)
while true; do
    m=$(printf '%.0f' "$(agg_metric "$JOB" "$vid" engram.memories sum || echo -1)" 2>/dev/null || echo -1)
    e=$(printf '%.0f' "$(agg_metric "$JOB" "$vid" engram.edges sum || echo -1)" 2>/dev/null || echo -1)
    if [ "$m" = "$EXP_M" ] && [ "$e" = "$EXP_E" ]; then sleep 3; m2=$(printf '%.0f' "$(agg_metric "$JOB" "$vid" engram.memories sum)"); [ "$m2" = "$m" ] && break; fi
    [ $(($(date +%s) - t0)) -lt 90 ] || break
    sleep 2
done
if [ "$m" = "$EXP_M" ] && [ "$e" = "$EXP_E" ]; then
    pass "state counts = sent" "memories $m (expected $EXP_M), edges $e (expected $EXP_E), $(jq -r .ghosts "$W/expected.json") ghost stores dropped"
else
    fail "state counts = sent" "memories $m (expected $EXP_M), edges $e (expected $EXP_E)"
fi
$DATA queries --rid "$RID" --batch C --spaces 4 --per-space 0 --t "$TQ" --out "$W/queries-C.jsonl" >/dev/null
engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type query --file "$W/queries-C.jsonl" >"$W/census-send.log" 2>&1 \
    || fail "census sent" "$(tail -2 "$W/census-send.log")"
# Every query answered: wait (the sink commits on checkpoints, every 5 s) until exactly-once holds or 120 s.
t0=$(date +%s)
until out=$($DATA exactly-once --rid "$RID" --results "$W/results.log" --sent "$W/load-ids.txt" "$W/queries-C.jsonl"); do
    [ $(($(date +%s) - t0)) -lt 120 ] || break
    sleep 2
done
# One more checkpoint interval: an answer committed twice would show up late, not early.
sleep 6
out=$($DATA exactly-once --rid "$RID" --results "$W/results.log" --sent "$W/load-ids.txt" "$W/queries-C.jsonl") && rc=0 || rc=$?
LOST=$(sed -nE 's/.* ([0-9]+) lost.*/\1/p' <<<"$out"); LOST=${LOST:-0}
DUPS=$(sed -nE 's/.* ([0-9]+) answered more than once.*/\1/p' <<<"$out"); DUPS=${DUPS:-0}
[ "$rc" -eq 0 ] && pass "queries exactly once (read_committed)" "$out" || fail "queries exactly once (read_committed)" "$out"
if out=$($FDATA census --rid "$RID" --batch C --results "$W/results.log" --expected "$W/expected.json"); then
    pass "census = expected memories, dedup held" "$out"
else
    fail "census = expected memories, dedup held" "$out"
fi
if [ ${#RECOVERY_MS[@]} -eq "$KILLS" ]; then
    pass "$KILLS TaskManager kills recovered" "recovery $($FDATA stats "${RECOVERY_MS[@]}")"
else
    fail "$KILLS TaskManager kills recovered" "${#RECOVERY_MS[@]} of $KILLS"
fi
echo "SKIP broker restart under load: engram broker deletes its data dir on SIGTERM and has no persistent-dir option (see reliability.md)"
