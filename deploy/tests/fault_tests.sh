#!/usr/bin/env bash
# Fault tests against a REAL standalone cluster (the Flink distribution's JobManager + 2 TaskManagers, the job at
# parallelism 4 across them, and a persistent `engram broker`) that this script starts in its own state dir and ALWAYS
# stops (EXIT trap), under a hard time limit. Runnable by hand:
#     deploy/tests/fault_tests.sh                      # all phases
#     FAULT_PHASES="broker-restart" deploy/tests/fault_tests.sh
# Runs by default in `mvn -B verify` (deploy module, integration-test, after the drill); skip with -DskipFaultTests.
#
# One cluster, one job, one read_committed results tail; each phase streams its OWN load (memory events with known
# ids, incl. "ghost" stores that reuse an applied event_id and must be dropped by dedup, plus recall queries at
# 4/s), injects its faults while the load runs, then checks exactly-once for its load: memories/edges gauges = what
# was sent in all phases so far (earlier phases' state must survive later faults), one census per space = the
# expected memory set (no ghost), every query answered exactly once in read_committed output.
#   tm-kill         SIGKILL one of the two TaskManagers (chosen at random) FAULT_KILLS times (default 5) at random
#                   moments; start_cluster.sh starts a new one in its place (the other keeps running). Recovery =
#                   kill -> all tasks RUNNING and a checkpoint acknowledged after the kill.
#   broker-restart  SIGKILL the broker (process group), restart it with start_cluster.sh (same data dir, same port),
#                   then the same with SIGTERM (stop_cluster.sh --only broker). Recovery = fault -> all tasks
#                   RUNNING, a checkpoint acknowledged after the broker was back, and a new result committed.
#   jm-restart      no HA in the standalone setup (see docs/operations/reliability.md): SIGKILL the JobManager (the
#                   job is lost with it), stop the orphaned TaskManagers, start a fresh cluster with start_cluster.sh
#                   and resubmit with deploy_with_zig.sh --savepoint <latest retained checkpoint>. Recovery = kill
#                   -> new job RUNNING with a checkpoint acknowledged.
#
# Environment: FAULT_TIMEOUT (seconds, default 1200), FAULT_PHASES (default "tm-kill broker-restart jm-restart"),
# FAULT_KILLS (default 5), FAULT_WORK (default deploy/target/faults; each run uses run-<time>-<pid> in it),
# FAULT_SEED (random delays and victims; default: random), plus what lib/common.sh reads (ENGRAM_JOB_JAR, ENGRAM_CLI,
# FLINK_HOME). Prints timings, recovery min/median/max per fault, lost and duplicates, and "N passed, M failed"
# last; writes results.txt in its work dir; exits non-zero on any failure or when the time limit hits.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
S="$(cd "$HERE/../scripts" && pwd)"
WORK="${FAULT_WORK:-$HERE/../target/faults}"
LIMIT="${FAULT_TIMEOUT:-1200}"

# shellcheck source=lib_frame.sh
source "$HERE/lib_frame.sh"
if [ "${1:-}" != --inner ]; then
    run_in_frame "fault tests" "$LIMIT" FAULT_TIMEOUT "$0"
fi

WORK=$2
W=$WORK
T0=$(date +%s)
PASSED=0
FAILED=0
FAILS=()
LOAD_PID="" SEND_PID="" EV_PID="" EV_SEND_PID="" TAIL_PID=""
RECOVERY_MS=() BROKER_MS=() JM_MS=()
LOST_TOTAL=0 DUPS_TOTAL=0
pass() { PASSED=$((PASSED + 1)); printf 'PASS %-44s %s\n' "$1" "${2:-}"; }
fail() { FAILED=$((FAILED + 1)); FAILS+=("$1"); printf 'FAIL %-44s %s\n' "$1" "${2:-}"; }
section() { echo; echo "== $* ($(( $(date +%s) - T0 )) s)"; }
DATA="python3 $S/lib/drill_data.py"
FDATA="python3 $HERE/lib_faults.py"
secs() { printf '%s ' "$@" | awk '{for(i=1;i<=NF;i++) printf "%.1f s ", $i/1000}'; }

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
    {
    if [ ${#RECOVERY_MS[@]} -gt 0 ]; then
        echo "recovery per TaskManager SIGKILL (kill -> RUNNING + checkpoint): $(secs "${RECOVERY_MS[@]}")"
        echo "recovery TaskManager SIGKILL: $($FDATA stats "${RECOVERY_MS[@]}")"
    fi
    [ ${#BROKER_MS[@]} -eq 0 ] || echo "recovery per broker restart (SIGKILL, SIGTERM): $(secs "${BROKER_MS[@]}")"
    [ ${#JM_MS[@]} -eq 0 ] || echo "recovery JobManager SIGKILL -> new cluster + resubmit from retained checkpoint: $(secs "${JM_MS[@]}")"
    echo "records lost: $LOST_TOTAL, duplicates: $DUPS_TOTAL (all phases)"
    echo "fault tests: $(( $(date +%s) - T0 )) s, work dir $WORK"
    } | tee "$WORK/results.txt"
    [ ${#FAILS[@]} -eq 0 ] || echo "failed: ${FAILS[*]}"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ] || exit 1
}
trap summary EXIT   # replaces common.sh's

# ----- cluster + job ----------------------------------------------------------------------------------------------
section "start cluster + deploy (zig)"
t0=$(date +%s)
if "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --persistent-broker >"$W/start.log" 2>&1; then
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

# ----- load and verdicts, per phase ---------------------------------------------------------------------------------
PHASES=${FAULT_PHASES:-tm-kill broker-restart jm-restart}
SEED=${FAULT_SEED:-$RANDOM}
RANDOM=$SEED
EXP_M_ALL=0 EXP_E_ALL=0
section "results tail (read_committed), phases: $PHASES (seed $SEED)"
set -m
( engram_cli tail --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type results --from-beginning --idle-timeout 600s 2>"$W/tail.err" \
    | while IFS= read -r line; do printf '%s %s\n' "$(($(date +%s%N) / 1000000))" "$line"; done >"$W/results.log" ) &
TAIL_PID=$!
set +m

# start_load PHASE: this phase's memory events (paced ~2.5/s, so they span the faults) and queries (4/s).
start_load() {
    PH=$1
    PD="$W/$PH"
    mkdir -p "$PD"
    RID="${PH%%-*}$$"
    TEV=$(($(now_ms) - 120000))
    TQ=$((TEV + 60000))
    section "$PH: load (rid $RID): memory events (paced) + queries (4/s)"
    $FDATA events --rid "$RID" --t0 "$TEV" --out "$PD/events.jsonl" --expected "$PD/expected.json" | sed 's/^/    /'
    N_EVENTS=$(wc -l <"$PD/events.jsonl")
    mkfifo "$PD/events.fifo" "$PD/load.fifo"
    # --positions: each space's last event position, which the census queries wait for (--after-from)
    engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type event --positions --file - <"$PD/events.fifo" >"$PD/events-send.log" 2>&1 &
    EV_SEND_PID=$!
    $FDATA pace --file "$PD/events.jsonl" --rate "${FAULT_EVENT_RATE:-2.5}" >"$PD/events.fifo" &
    EV_PID=$!
    engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type query --file - <"$PD/load.fifo" >"$PD/load-send.log" 2>&1 &
    SEND_PID=$!
    $DATA load --rid "$RID" --spaces 4 --t "$TQ" --rate 4 --ids "$PD/load-ids.txt" >"$PD/load.fifo" &
    LOAD_PID=$!
    log "    $N_EVENTS events streaming (pid $EV_PID -> producer $EV_SEND_PID), queries (pid $LOAD_PID -> producer $SEND_PID)"
    # Faults hit a job that is answering this phase's load, seen by a live tail (a tail that is still starting
    # when the broker goes away gives up: "cannot reach Kafka").
    local t0
    t0=$(date +%s)
    until grep -q "\"$RID-" "$W/results.log" 2>/dev/null; do
        tail_alive || return 1
        [ $(($(date +%s) - t0)) -lt 180 ] || { fail "$PH: first result of the load" "none committed within 180 s"; return 1; }
        sleep 0.5
    done
    log "    first result of $RID committed after $(( $(date +%s) - t0 )) s"
}
# tail_alive: the results tail still runs; else a FAIL with its last words.
tail_alive() {
    kill -0 "$TAIL_PID" 2>/dev/null && return 0
    fail "results tail running" "it exited: $(tail -2 "$W/tail.err" | tr '\n' ' ')"
    return 1
}

# random_sleep MIN_MS SPAN_MS
random_sleep() {
    local d=$(($1 + RANDOM % $2))
    sleep "$((d / 1000)).$(printf '%03d' $((d % 1000)))"
    echo "$d"
}

# recover KILL_MS [AFTER_MS]: until all tasks RUNNING and a checkpoint acknowledged after max(KILL_MS, AFTER_MS);
# prints ms since KILL_MS.
recover() {
    local kill_ms=$1 after=${2:-$1} t0 j state pending ack
    t0=$(date +%s)
    while true; do
        j=$(rest GET "/jobs/$JOB" 2>/dev/null || echo '{}')
        state=$(jq -r '.state // "?"' <<<"$j")
        pending=$(jq -r '[.vertices[]? | select(.status != "RUNNING")] | length' <<<"$j")
        case "$state" in FAILED|CANCELED|FINISHED|SUSPENDED) echo "job $state: $(root_cause "$JOB")"; return 1 ;; esac
        if [ "$state" = RUNNING ] && [ "$pending" = 0 ]; then
            ack=$(rest GET "/jobs/$JOB/checkpoints" 2>/dev/null | jq -r '.latest.completed.latest_ack_timestamp // 0')
            if [ "${ack:-0}" -gt "$after" ]; then echo $((ack - kill_ms)); return 0; fi
        fi
        [ $(($(date +%s) - t0)) -lt 240 ] || { echo "not recovered after 240 s (state $state, $pending vertices not RUNNING)"; return 1; }
        sleep 0.3
    done
}

# end_load_and_verify: the event stream complete, queries stopped, then gauges, exactly-once and census.
end_load_and_verify() {
    section "$PH: end of load, verify exactly-once"
    local t0 m e m2 out rc lost dups
    t0=$(date +%s)
    while kill -0 "$EV_PID" 2>/dev/null; do
        [ $(($(date +%s) - t0)) -lt 300 ] || { fail "$PH: event stream complete" "pacer still running after 300 s"; break; }
        sleep 1
    done
    wait "$EV_SEND_PID" 2>/dev/null || true
    EV_PID="" EV_SEND_PID=""
    kill "$LOAD_PID" 2>/dev/null || true
    wait "$LOAD_PID" 2>/dev/null || true
    wait "$SEND_PID" 2>/dev/null || true
    LOAD_PID="" SEND_PID=""
    log "    events producer: $(grep -E '^sent ' "$PD/events-send.log" || tail -2 "$PD/events-send.log")"
    log "    query producer:  $(grep -E '^sent ' "$PD/load-send.log" || tail -2 "$PD/load-send.log")"
    grep -qE "^sent $N_EVENTS\b" "$PD/events-send.log" && pass "$PH: all $N_EVENTS events sent" || \
        fail "$PH: all $N_EVENTS events sent" "$(tail -2 "$PD/events-send.log" | tr '\n' ' ')"
    # The memory and edge gauges must reach the totals sent in all phases so far (earlier phases' state survives).
    EXP_M_ALL=$((EXP_M_ALL + $(jq -r .memories_total "$PD/expected.json")))
    EXP_E_ALL=$((EXP_E_ALL + $(jq -r .edges_total "$PD/expected.json")))
    local vid
    vid=$(memory_vertex "$JOB")
    t0=$(date +%s)
    while true; do
        m=$(printf '%.0f' "$(agg_metric "$JOB" "$vid" engram.memories sum || echo -1)" 2>/dev/null || echo -1)
        e=$(printf '%.0f' "$(agg_metric "$JOB" "$vid" engram.edges sum || echo -1)" 2>/dev/null || echo -1)
        if [ "$m" = "$EXP_M_ALL" ] && [ "$e" = "$EXP_E_ALL" ]; then sleep 3; m2=$(printf '%.0f' "$(agg_metric "$JOB" "$vid" engram.memories sum)"); [ "$m2" = "$m" ] && break; fi
        [ $(($(date +%s) - t0)) -lt 120 ] || break
        sleep 2
    done
    if [ "$m" = "$EXP_M_ALL" ] && [ "$e" = "$EXP_E_ALL" ]; then
        pass "$PH: state counts = sent (all phases)" "memories $m (expected $EXP_M_ALL), edges $e (expected $EXP_E_ALL), $(jq -r .ghosts "$PD/expected.json") ghost stores dropped"
    else
        fail "$PH: state counts = sent (all phases)" "memories $m (expected $EXP_M_ALL), edges $e (expected $EXP_E_ALL)"
    fi
    $DATA queries --rid "$RID" --batch C --spaces 4 --per-space 0 --t "$TQ" --out "$PD/queries-C.jsonl" >/dev/null
    # Census last. Queries travel on another topic than events, so each census query names its space's last event
    # position (read-your-writes): it is answered once that event is applied, or marked stale, which fails the census.
    engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type query --file "$PD/queries-C.jsonl" \
        --after-from "$PD/events-send.log" >"$PD/census-send.log" 2>&1 \
        || fail "$PH: census sent" "$(tail -2 "$PD/census-send.log")"
    tail_alive || return 0
    # Every query answered: wait (the sink commits on checkpoints, every 5 s) until exactly-once holds or 150 s.
    t0=$(date +%s)
    until $DATA exactly-once --rid "$RID" --results "$W/results.log" --sent "$PD/load-ids.txt" "$PD/queries-C.jsonl" >/dev/null; do
        [ $(($(date +%s) - t0)) -lt 150 ] || break
        sleep 2
    done
    # One more checkpoint interval: an answer committed twice would show up late, not early.
    sleep 6
    out=$($DATA exactly-once --rid "$RID" --results "$W/results.log" --sent "$PD/load-ids.txt" "$PD/queries-C.jsonl") && rc=0 || rc=$?
    lost=$(sed -nE 's/.* ([0-9]+) lost.*/\1/p' <<<"$out"); lost=${lost:-0}
    dups=$(sed -nE 's/.* ([0-9]+) answered more than once.*/\1/p' <<<"$out"); dups=${dups:-0}
    LOST_TOTAL=$((LOST_TOTAL + lost)) DUPS_TOTAL=$((DUPS_TOTAL + dups))
    [ "$rc" -eq 0 ] && pass "$PH: queries exactly once (read_committed)" "$out" || fail "$PH: queries exactly once (read_committed)" "$out"
    if out=$($FDATA census --rid "$RID" --batch C --results "$W/results.log" --expected "$PD/expected.json"); then
        pass "$PH: census = expected memories, dedup held" "$out"
    else
        fail "$PH: census = expected memories, dedup held" "$out"
    fi
}

# ----- phase: TaskManager SIGKILL ------------------------------------------------------------------------------------
# restart_tm N: start_cluster.sh restarts only the dead TaskManager (retried once more if it misses the
# registration; the attempts are reported and count in the recovery time).
TM_ATTEMPTS=0
restart_tm() {
    local n=$1 a
    for a in 1 2 3; do
        TM_ATTEMPTS=$a
        if "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --timeout "${FAULT_TM_TIMEOUT:-60}" >"$PD/restart-tm-$n.log" 2>&1; then
            return 0
        fi
        grep -q 'TaskManager not registered' "$PD/restart-tm-$n.log" || return 1
        cp "$PD/restart-tm-$n.log" "$PD/restart-tm-$n-attempt-$a.log"
        log "    kill $n: start_cluster.sh attempt $a: TaskManager not registered, retrying"
    done
    return 1
}
phase_tm_kill() {
    start_load tm-kill || return 0
    local KILLS=${FAULT_KILLS:-5} i delay_ms tm_pid answered kill_ms t_start tm_up out restarts_before n_exc victim
    local tms
    tms=$(ls "$ENGRAM_STATE_DIR"/pids/taskmanager-*.pid | wc -l)
    section "tm-kill: SIGKILL one of $tms TaskManagers x $KILLS at random moments"
    restarts_before=$(rest GET "/jobs/$JOB/exceptions?maxExceptions=50" | jq -r '.exceptionHistory.entries | length')
    for i in $(seq 1 "$KILLS"); do
        delay_ms=$(random_sleep 2000 8000)
        victim=taskmanager-$((1 + RANDOM % tms))
        read -r tm_pid _ <"$ENGRAM_STATE_DIR/pids/$victim.pid"
        pid_alive "$tm_pid" || { fail "kill $i: $victim alive before the kill" "pid $tm_pid is gone"; break; }
        answered=$(grep -c . "$W/results.log" || true)
        kill_ms=$(now_ms)
        kill -9 "$tm_pid"
        log "    kill $i: kill -9 $victim (pid $tm_pid) after a random ${delay_ms} ms; $answered results so far"
        while pid_alive "$tm_pid"; do sleep 0.1; done
        t_start=$(now_ms)
        if ! restart_tm "$i"; then
            fail "kill $i: new TaskManager" "$(tail -5 "$PD/restart-tm-$i.log" | tr '\n' ' ')"; break
        fi
        tm_up=$(( $(now_ms) - t_start ))
        [ "$(grep -c 'starting only the TaskManager' "$PD/restart-tm-$i.log")" = 1 ] && grep -q "$victim missing" "$PD/restart-tm-$i.log" \
            || { fail "kill $i: only $victim restarted" "$(grep -E 'running|start' "$PD/restart-tm-$i.log" | head -3 | tr '\n' ' ')"; break; }
        if out=$(recover "$kill_ms"); then
            RECOVERY_MS+=("$out")
            pass "kill $i: $victim killed, recovered" "$(fmt_ms "$out") (new TM registered $(fmt_ms "$tm_up") after start, start_cluster.sh attempts $TM_ATTEMPTS; pid $(cut -d' ' -f1 "$ENGRAM_STATE_DIR/pids/$victim.pid"))"
        else
            fail "kill $i: recovered" "$out"; break
        fi
    done
    n_exc=$(rest GET "/jobs/$JOB/exceptions?maxExceptions=50" | jq -r '.exceptionHistory.entries | length')
    log "    job $JOB: $((n_exc - restarts_before)) failures in the exception history during the kills"
    end_load_and_verify
    if [ ${#RECOVERY_MS[@]} -eq "$KILLS" ]; then
        pass "$KILLS TaskManager kills recovered" "recovery $($FDATA stats "${RECOVERY_MS[@]}")"
    else
        fail "$KILLS TaskManager kills recovered" "${#RECOVERY_MS[@]} of $KILLS"
    fi
}

# ----- phase: broker restart -------------------------------------------------------------------------------------------
# results_after MS: number of result lines the tail received after MS (epoch ms).
results_after() { awk -v t="$1" '$1 > t' "$W/results.log" | grep -c . || true; }
phase_broker_restart() {
    start_load broker-restart || return 0
    local sig n bpid kill_ms down_ms up_ms out t0 answered exc0 exc1
    exc0=$(rest GET "/jobs/$JOB/exceptions?maxExceptions=50" | jq -r '.exceptionHistory.entries | length')
    n=0
    for sig in KILL TERM; do
        n=$((n + 1))
        section "broker-restart $n: SIG$sig to the broker under load, restart it on its data dir"
        delay_ms=$(random_sleep 4000 6000)
        read -r bpid _ <"$ENGRAM_STATE_DIR/pids/broker.pid"
        pid_alive "$bpid" || { fail "broker $n: alive before the fault" "pid $bpid is gone"; return; }
        answered=$(grep -c . "$W/results.log" || true)
        kill_ms=$(now_ms)
        if [ "$sig" = KILL ]; then
            kill -KILL -- "-$bpid" 2>/dev/null || kill -KILL "$bpid"
            log "    broker $n: kill -9 (process group $bpid) after a random ${delay_ms} ms; $answered results so far"
            t0=$(date +%s)
            while pid_alive "$bpid"; do sleep 0.1; [ $(($(date +%s) - t0)) -lt 30 ] || break; done
        else
            log "    broker $n: SIGTERM via stop_cluster.sh --only broker after a random ${delay_ms} ms; $answered results so far"
            "$S/stop_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --only broker --timeout 60 >"$PD/stop-broker-$n.log" 2>&1 \
                || { fail "broker $n: stopped by SIGTERM" "$(tail -3 "$PD/stop-broker-$n.log" | tr '\n' ' ')"; return; }
        fi
        pid_alive "$bpid" && { fail "broker $n: down" "pid $bpid still alive"; return; }
        down_ms=$(( $(now_ms) - kill_ms ))
        # Down for a few seconds under load (the job's producers and consumers see it gone), then back.
        sleep 5
        t0=$(now_ms)
        if ! "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --timeout 120 >"$PD/restart-broker-$n.log" 2>&1; then
            fail "broker $n: restarted" "$(tail -8 "$PD/restart-broker-$n.log" | tr '\n' ' ')"; return
        fi
        up_ms=$(now_ms)
        local bs
        bs=$(cluster_env_value ENGRAM_BOOTSTRAP)
        if [ "$bs" != "$ENGRAM_BOOTSTRAP" ] || ! grep -q 'persistent broker data' "$PD/restart-broker-$n.log"; then
            fail "broker $n: same port, same data" "bootstrap now $bs (was $ENGRAM_BOOTSTRAP)"; return
        fi
        log "    broker $n: stopped in $(fmt_ms "$down_ms"), down 5 s, restarted on $bs in $(fmt_ms $((up_ms - t0)))"
        if ! out=$(recover "$kill_ms" "$up_ms"); then fail "broker $n: job recovered" "$out"; return; fi
        # And results flow again: a new answer committed after the broker came back.
        t0=$(date +%s)
        until [ "$(results_after "$up_ms")" -gt 0 ]; do
            [ $(($(date +%s) - t0)) -lt 120 ] || { fail "broker $n: results flow again" "no result committed within 120 s after the restart"; return; }
            sleep 0.3
        done
        local first
        first=$(awk -v t="$up_ms" '$1 > t { print $1; exit }' "$W/results.log")
        out=$(( (first - kill_ms) > out ? first - kill_ms : out ))
        BROKER_MS+=("$out")
        pass "broker $n (SIG$sig): recovered" "$(fmt_ms "$out") (fault -> job RUNNING, checkpoint acknowledged and a new result committed; broker down $(fmt_ms $((up_ms - kill_ms))) incl. 5 s pause)"
    done
    exc1=$(rest GET "/jobs/$JOB/exceptions?maxExceptions=50" | jq -r '.exceptionHistory.entries | length')
    log "    job $JOB: $((exc1 - exc0)) failures (restarts) in the exception history during the broker restarts"
    end_load_and_verify
}

# ----- phase: JobManager SIGKILL, fresh cluster, resubmit from the retained checkpoint -----------------------------
phase_jm_restart() {
    start_load jm-restart || return 0
    section "jm-restart: SIGKILL the JobManager under load (no HA), restart, resubmit from the latest checkpoint"
    local jm_pid kill_ms chk t0 t_cluster t_submit out old_job=$JOB
    # Let at least one checkpoint of this phase's load complete first.
    delay_ms=$(random_sleep 6000 6000)
    read -r jm_pid _ <"$ENGRAM_STATE_DIR/pids/jobmanager.pid"
    kill_ms=$(now_ms)
    kill -KILL -- "-$jm_pid" 2>/dev/null || kill -KILL "$jm_pid"
    log "    kill -9 JobManager (process group $jm_pid) after a random ${delay_ms} ms; $(grep -c . "$W/results.log" || true) results so far"
    t0=$(date +%s)
    while pid_alive "$jm_pid"; do sleep 0.1; [ $(($(date +%s) - t0)) -lt 30 ] || break; done
    # The TaskManagers lost their JobManager; stop them (SIGTERM) so start_cluster.sh starts a whole new cluster.
    "$S/stop_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --only taskmanagers --timeout 30 >"$PD/stop-tm.log" 2>&1 \
        || { fail "jm-restart: orphaned TaskManagers stopped" "$(tail -3 "$PD/stop-tm.log" | tr '\n' ' ')"; return; }
    "$S/stop_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --only jobmanager --timeout 10 >>"$PD/stop-tm.log" 2>&1 || true
    # The newest COMPLETED checkpoint of the old job: a chk-N directory with _metadata (RETAIN_ON_CANCELLATION; a
    # killed JobManager deletes nothing).
    chk=$(ls -d "$ENGRAM_STATE_DIR/checkpoints/$old_job"/chk-* 2>/dev/null | while read -r d; do [ -f "$d/_metadata" ] && echo "${d##*chk-} $d"; done | sort -n | tail -1 | cut -d' ' -f2)
    [ -n "$chk" ] || { fail "jm-restart: retained checkpoint" "no completed checkpoint under $ENGRAM_STATE_DIR/checkpoints/$old_job"; return; }
    pass "jm-restart: retained checkpoint found" "$chk"
    t0=$(now_ms)
    if ! "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --timeout 120 >"$PD/restart-cluster.log" 2>&1; then
        fail "jm-restart: new cluster" "$(tail -8 "$PD/restart-cluster.log" | tr '\n' ' ')"; return
    fi
    t_cluster=$(( $(now_ms) - t0 ))
    unset ENGRAM_REST
    load_cluster_env
    export ENGRAM_REST
    t0=$(now_ms)
    if ! "$S/deploy_with_zig.sh" --state-dir "$ENGRAM_STATE_DIR" --savepoint "file://$chk" >"$PD/resubmit.log" 2>&1; then
        fail "jm-restart: resubmitted from $chk" "$(grep -E 'FAILED|FAIL |ERROR' "$PD/resubmit.log" | head -3 | tr '\n' ' ')"; return
    fi
    t_submit=$(( $(now_ms) - t0 ))
    JOB=$(find_job_id)
    if out=$(recover "$kill_ms"); then
        JM_MS+=("$out")
        pass "jm-restart: recovered" "$(fmt_ms "$out") (kill -> new job $JOB RUNNING + checkpoint; new cluster $(fmt_ms "$t_cluster"), resubmit $(fmt_ms "$t_submit"), REST now $ENGRAM_REST)"
    else
        fail "jm-restart: recovered" "$out"; return
    fi
    end_load_and_verify
}

for ph in $PHASES; do
    case "$ph" in
        tm-kill) phase_tm_kill ;;
        broker-restart) phase_broker_restart ;;
        jm-restart) phase_jm_restart ;;
        *) fail "phase $ph" "unknown phase (tm-kill, broker-restart, jm-restart)" ;;
    esac
    # A phase that could not finish leaves its load running: stop it before the next phase.
    for p in "$LOAD_PID" "$EV_PID" "$SEND_PID" "$EV_SEND_PID"; do [ -z "$p" ] || kill "$p" 2>/dev/null || true; done
    LOAD_PID="" EV_PID="" SEND_PID="" EV_SEND_PID=""
done
