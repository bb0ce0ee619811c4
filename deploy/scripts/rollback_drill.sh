#!/usr/bin/env bash
# The monthly Zig -> Java rollback drill, automated (and run by CI on every build: deploy/pom.xml).
#
#   1. start a cluster (start_cluster.sh: the Flink distribution, 2 TaskManagers) or attach to one
#      (--rest/--bootstrap-servers), deploy with Zig (flink run, parallelism 4: the memory operator's subtasks on both
#      TaskManagers, records crossing the network between them)
#   2. drive load: memory events for several spaces, a batch of recall queries (baseline A, incl. one census
#      query per space that returns every memory), and a continuous query load that keeps running through
#      every switch below
#   3. runtime switch (no restart): set_kernel_mode.sh java -> the health check must now FAIL on mode -> back to zig
#   4. a backup savepoint of the running job (flink savepoint), then
#      roll back to Java with the SAME jar (rollback_to_java.sh) -> MEASURED RTO; state equal (memory/edge gauges,
#      census per space = the expected memory set), answers match (batch B = baseline A within 1e-4)
#   5. roll forward to Zig (roll_forward_to_zig.sh), verify again (batch C)
#   6. roll back to the Java-only jar (rollback_to_java.sh --java-only-jar), rescaled to parallelism N-1, verify
#      (batch D); roll forward to Zig with the full jar at parallelism N to leave the job as it was, verify (batch E)
#   7. exactly-once: every query sent (batches + continuous load) appears exactly once in the read_committed
#      results: none lost, none answered twice
#   8. print the checklist (PASS/FAIL per item) and the measured RTOs; exit non-zero if any item failed
#
# Usage: rollback_drill.sh [--state-dir DIR] [--rest URL --bootstrap-servers H:P] [--keep-cluster]
#                          [--skip-java-only] [--spaces N] [--memories N] [--report FILE] [--result-dir DIR]
#   With --rest, nothing is started or stopped; an engram job already running there is used as it is (it must
#   be on Zig, or is rolled forward first). Otherwise a cluster is started in --state-dir (default
#   $ENGRAM_STATE_DIR) unless one is already running there, and stopped at the end if the drill started it
#   (--keep-cluster keeps it). The drill's spaces and ids carry a run id, so it never touches other data.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# The parallelism the drill deploys with (4: 2 TaskManagers x 2 slots); its Java-only leg rescales to one less (an
# uneven share of key groups per subtask) and back to this.
DRILL_PARALLELISM=$ENGRAM_PARALLELISM
RESCALE_TO=$(( DRILL_PARALLELISM > 1 ? DRILL_PARALLELISM - 1 : 1 ))

ATTACH_REST=""
ATTACH_BOOTSTRAP=""
KEEP=0
SKIP_JAVA_ONLY=0
SPACES=6
MEMORIES=40
REPORT=""
RESULT_DIR=""
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
        --rest) ATTACH_REST=$2; shift 2 ;;
        --bootstrap-servers) ATTACH_BOOTSTRAP=$2; shift 2 ;;
        --keep-cluster) KEEP=1; shift ;;
        --skip-java-only) SKIP_JAVA_ONLY=1; shift ;;
        --spaces) SPACES=$2; shift 2 ;;
        --memories) MEMORIES=$2; shift 2 ;;
        --report) REPORT=$2; shift 2 ;;
        --result-dir) RESULT_DIR=$2; shift 2 ;;
        -h|--help) print_help; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
require_tools python3 java unzip
S="$ENGRAM_SCRIPTS_DIR"
DATA="python3 $S/lib/drill_data.py"
RID="drill$(date +%s)"
mkdir -p "$ENGRAM_STATE_DIR"
ENGRAM_STATE_DIR=$(cd "$ENGRAM_STATE_DIR" && pwd)
W="${RESULT_DIR:-$ENGRAM_STATE_DIR/drills/$RID}"
mkdir -p "$W"
export ENGRAM_STATE_DIR

# ----- checklist ----------------------------------------------------------------------------------------------

ITEMS=()
declare -A VERDICT DETAIL
check() { # NAME PASS|FAIL DETAIL
    ITEMS+=("$1")
    VERDICT[$1]=$2
    DETAIL[$1]=$3
    printf '%s [%s] %-4s %s: %s\n' "$(date +%H:%M:%S)" "$SCRIPT_NAME" "$2" "$1" "$3"
}
declare -A TIMING
ABORTED=""

STARTED_CLUSTER=0
TAIL_PID=""
LOAD_PID=""
SEND_PID=""
DEPLOYED_FRESH=0
report() {
    local n_pass=0 n_fail=0 i v
    # Counted here, not inside the pipeline below: a pipeline's braces run in a subshell, and counts made there never
    # reached the exit status (a FAIL item once printed RESULT: FAIL while the drill exited 0).
    for i in "${ITEMS[@]}"; do
        if [ "${VERDICT[$i]}" = PASS ]; then n_pass=$((n_pass + 1)); else n_fail=$((n_fail + 1)); fi
    done
    [ -z "$ABORTED" ] || n_fail=$((n_fail + 1))
    {
        echo
        echo "======================== ROLLBACK DRILL $RID ========================"
        for i in "${ITEMS[@]}"; do
            v=${VERDICT[$i]}
            printf '%-4s  %-34s %s\n' "$v" "$i" "${DETAIL[$i]}"
        done
        if [ -n "$ABORTED" ]; then
            printf '%-4s  %-34s %s\n' FAIL "drill completed" "aborted: $ABORTED"
        fi
        echo "----------------------------------------------------------------------"
        if [ -n "${TIMING[rollback_rto]:-}" ]; then
            echo "MEASURED RTO (rollback Zig -> Java, same jar, decision -> healthy): $(fmt_ms "${TIMING[rollback_rto]}")"
            echo "    pre-flight $(fmt_ms "${TIMING[rollback_preflight]}"), stop-with-savepoint $(fmt_ms "${TIMING[rollback_stop]}"), resubmit $(fmt_ms "${TIMING[rollback_resubmit]}"), first checkpoint + health $(fmt_ms "${TIMING[rollback_health]}")"
        fi
        for k in forward javaonly forward2; do
            [ -n "${TIMING[${k}_rto]:-}" ] || continue
            printf '%-22s RTO %s (pre-flight %s, stop-with-savepoint %s, resubmit %s, health %s)\n' \
                "$(case $k in forward) echo "roll forward to Zig:";; javaonly) echo "Java-only jar:";; forward2) echo "roll forward again:";; esac)" \
                "$(fmt_ms "${TIMING[${k}_rto]}")" "$(fmt_ms "${TIMING[${k}_preflight]}")" "$(fmt_ms "${TIMING[${k}_stop]}")" "$(fmt_ms "${TIMING[${k}_resubmit]}")" "$(fmt_ms "${TIMING[${k}_health]}")"
        done
        [ -z "${TIMING[runtime_switch]:-}" ] || echo "runtime switch (no restart) java and back: $(fmt_ms "${TIMING[runtime_switch]}")"
        echo "drill total $(fmt_ms $(($(now_ms) - SCRIPT_T0))); work dir $W"
        echo "RESULT: $([ "$n_fail" -eq 0 ] && echo PASS || echo FAIL)"
        echo "$n_pass passed, $n_fail failed"
    } | tee "${REPORT:-$W/report.txt}"
    [ "$n_fail" -eq 0 ]
}

cleanup() {
    local rc=$?
    set +e
    _on_exit
    [ -z "$LOAD_PID" ] || kill "$LOAD_PID" 2>/dev/null
    [ -z "$SEND_PID" ] || kill "$SEND_PID" 2>/dev/null
    # The results tail runs as its own process group (set -m below): end the whole group.
    [ -z "$TAIL_PID" ] || kill -- "-$TAIL_PID" 2>/dev/null
    if [ "$rc" -ne 0 ] && [ -z "$ABORTED" ]; then ABORTED="exit $rc during ${STEP_NAME:-setup}"; fi
    report
    local ok=$?
    if [ "$DEPLOYED_FRESH" = 1 ] && [ "$STARTED_CLUSTER" = 0 ] && [ -n "${ENGRAM_REST:-}" ]; then
        # We deployed the job on someone else's cluster: do not leave it behind.
        jid=$(curl -s --max-time 5 "$ENGRAM_REST/jobs/overview" | jq -r --arg n "$ENGRAM_JOB_NAME" '.jobs[] | select(.name == $n and .state == "RUNNING") | .jid' 2>/dev/null)
        for j in $jid; do log "cancelling the drill's job $j"; curl -s -o /dev/null -X PATCH "$ENGRAM_REST/jobs/$j?mode=cancel"; done
    fi
    if [ "$STARTED_CLUSTER" = 1 ] && [ "$KEEP" = 0 ]; then
        "$S/stop_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" >"$W/stop_cluster.log" 2>&1 \
            && log "cluster stopped" || { warn "stop_cluster.sh failed: $(tail -3 "$W/stop_cluster.log")"; ok=1; }
    fi
    [ "$rc" -eq 0 ] && [ "$ok" -eq 0 ] && exit 0
    exit 1
}
trap cleanup EXIT

abort() { ABORTED=$1; exit 1; }

# Runs a script with its output in the work dir (and on our stdout, indented); returns its exit code.
run() {
    local name=$1 rc
    shift
    log "    \$ $(basename "$1") ${*:2}"
    set +e
    "$@" >"$W/$name.log" 2>&1
    rc=$?
    set -e
    sed 's/^/      | /' "$W/$name.log"
    return $rc
}

# Sums an engram gauge over the memory-spaces subtasks via REST.
gauge_sum() {
    local jid=$1 vid
    vid=$(memory_vertex "$jid")
    agg_metric "$jid" "$vid" "$2" sum
}
# Memory and edge totals once the metric fetcher shows two equal readings in a row.
state_totals() {
    local jid=$1 prev="" cur t0
    t0=$(date +%s)
    while true; do
        cur="memories=$(printf '%.0f' "$(gauge_sum "$jid" engram.memories || echo -1)") edges=$(printf '%.0f' "$(gauge_sum "$jid" engram.edges || echo -1)")"
        if [ "$cur" = "$prev" ]; then break; fi
        prev=$cur
        [ $(($(date +%s) - t0)) -lt 30 ] || break
        sleep 2.5
    done
    echo "$cur"
}

# Sends a batch of queries and waits until all are answered; prints how long that took.
ask_batch() { # BATCH [--after-load EXPECTED]
    local b=$1 t0 out
    shift
    $DATA queries --rid "$RID" --batch "$b" --spaces "$SPACES" --t "$TQ" --out "$W/queries-$b.jsonl" "$@" >/dev/null
    t0=$(now_ms)
    out=$(engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type query --file "$W/queries-$b.jsonl" 2>&1) \
        || { echo "engram send failed: $out"; return 1; }
    local t1
    t1=$(date +%s)
    until $DATA wait --rid "$RID" --results "$W/results.log" --queries "$W/queries-$b.jsonl" >/dev/null; do
        [ $(($(date +%s) - t1)) -lt 90 ] || { echo "$( $DATA wait --rid "$RID" --results "$W/results.log" --queries "$W/queries-$b.jsonl" || true) of $(wc -l <"$W/queries-$b.jsonl") queries of batch $b unanswered after 90 s"; return 1; }
        sleep 0.5
    done
    echo "$(wc -l <"$W/queries-$b.jsonl") queries answered in $(fmt_ms $(($(now_ms) - t0)))"
}

# verify_after LABEL BATCH MODE: answers of BATCH vs baseline A, census, and the state totals vs the baseline.
verify_after() {
    local label=$1 b=$2 mode=$3 out totals
    if out=$(ask_batch "$b"); then
        log "    batch $b: $out"
    else
        check "$label: answers match" FAIL "$out"
        return 1
    fi
    if out=$($DATA compare --rid "$RID" --results "$W/results.log" --base A --base-queries "$W/queries-A.jsonl" \
        --other "$b" --expected "$W/expected.json" --expect-mode "$mode" --json-out "$W/compare-$b.json"); then
        check "$label: answers match" PASS "batch $b vs A: $out"
    else
        check "$label: answers match" FAIL "batch $b vs A: $out"
    fi
    totals=$(state_totals "$JOB")
    if [ "$totals" = "$BASE_TOTALS" ]; then
        check "$label: state equal" PASS "$totals (baseline $BASE_TOTALS), census = expected memory set in all $SPACES spaces"
    else
        check "$label: state equal" FAIL "$totals, baseline $BASE_TOTALS"
    fi
}

# switch SCRIPT KEY LABEL ARGS...: runs rollback/roll-forward, records its timings and the new job id.
switch() {
    local script=$1 key=$2 label=$3 f
    shift 3
    f="$W/switch-$key.env"
    if run "switch-$key" "$S/$script" --job-id "$JOB" --result-file "$f" --health-timeout 60 "$@"; then
        # shellcheck disable=SC1090
        local new_job_id="" rto_ms="" preflight_ms="" stop_ms="" resubmit_ms="" health_ms="" savepoint=""
        eval "$(grep -E '^(new_job_id|rto_ms|preflight_ms|stop_ms|resubmit_ms|health_ms|savepoint)=' "$f")"
        TIMING[${key}_preflight]=$preflight_ms
        TIMING[${key}_rto]=$rto_ms
        TIMING[${key}_stop]=$stop_ms
        TIMING[${key}_resubmit]=$resubmit_ms
        TIMING[${key}_health]=$health_ms
        JOB=$new_job_id
        check "$label" PASS "job $JOB healthy, RTO $(fmt_ms "$rto_ms") (pre-flight $(fmt_ms "$preflight_ms"), stop $(fmt_ms "$stop_ms"), resubmit $(fmt_ms "$resubmit_ms"), health $(fmt_ms "$health_ms")), savepoint ${savepoint##*/}"
    else
        check "$label" FAIL "$script failed: $(grep -E 'FAILED|FAIL ' "$W/switch-$key.log" | head -3 | tr '\n' ' ')"
        abort "$label failed"
    fi
}

# check_parallelism LABEL N: the running job's memory operator (the keyed state) runs at parallelism N (REST API).
check_parallelism() {
    local label=$1 want=$2 got
    got=$(rest GET "/jobs/$JOB" | jq -r '[.vertices[] | select(.name | test("memory-spaces")) | .parallelism][0] // empty')
    if [ "$got" = "$want" ]; then
        check "$label" PASS "job $JOB runs the memory operator at parallelism $got"
    else
        check "$label" FAIL "job $JOB memory operator parallelism '${got}', expected $want"
    fi
}

log "rollback drill $RID, work dir $W"

# ----- 0. artifacts -------------------------------------------------------------------------------------------
step "artifacts"
if [ -f "$ENGRAM_JOB_JAR" ] && ! jar_is_java_only "$ENGRAM_JOB_JAR"; then
    if [ "$SKIP_JAVA_ONLY" = 1 ]; then
        check "artifacts" PASS "job jar $(basename "$ENGRAM_JOB_JAR") with native library (Java-only jar skipped)"
    elif [ -f "$ENGRAM_JAVA_ONLY_JAR" ] && jar_is_java_only "$ENGRAM_JAVA_ONLY_JAR"; then
        sos=$(unzip -Z1 "$ENGRAM_JAVA_ONLY_JAR" | grep -cE '(^|/)libengram\.' || true)
        check "artifacts" PASS "$(basename "$ENGRAM_JOB_JAR") carries libengram for $(unzip -Z1 "$ENGRAM_JOB_JAR" | grep -cE 'libengram\.(so|dylib)$') platform variants; $(basename "$ENGRAM_JAVA_ONLY_JAR") carries $sos (no lib/ at all)"
    else
        check "artifacts" FAIL "Java-only jar missing or not Java-only: $ENGRAM_JAVA_ONLY_JAR"
        abort "no Java-only jar"
    fi
else
    check "artifacts" FAIL "job jar missing or without native library: $ENGRAM_JOB_JAR"
    abort "no job jar"
fi

# ----- 1. cluster + deploy ------------------------------------------------------------------------------------
step "cluster"
if [ -n "$ATTACH_REST" ]; then
    ENGRAM_REST=$ATTACH_REST
    ENGRAM_BOOTSTRAP=$ATTACH_BOOTSTRAP
    need_rest
    need_bootstrap
    rest_ok /overview || abort "no Flink cluster at $ENGRAM_REST"
    check "cluster" PASS "attached to $ENGRAM_REST, broker $ENGRAM_BOOTSTRAP (nothing started)"
else
    load_cluster_env
    if [ -n "${ENGRAM_REST:-}" ] && rest_ok /overview && [ -n "${ENGRAM_BOOTSTRAP:-}" ]; then
        check "cluster" PASS "using the running cluster of $ENGRAM_STATE_DIR at $ENGRAM_REST"
    else
        unset ENGRAM_REST ENGRAM_BOOTSTRAP
        t0=$(now_ms)
        STARTED_CLUSTER=1
        if run start_cluster "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR"; then
            load_cluster_env
            check "cluster" PASS "started in $(fmt_ms $(($(now_ms) - t0))): REST $ENGRAM_REST, broker $ENGRAM_BOOTSTRAP, TM metrics $ENGRAM_TM_METRICS"
        else
            check "cluster" FAIL "start_cluster.sh failed (see $W/start_cluster.log)"
            abort "no cluster"
        fi
    fi
fi
export ENGRAM_REST ENGRAM_BOOTSTRAP

step "deploy with Zig"
running=$(rest GET /jobs/overview | jq -r --arg n "$ENGRAM_JOB_NAME" '[.jobs[] | select(.name == $n and .state == "RUNNING") | .jid] | join(" ")')
if [ -n "$running" ]; then
    JOB=$running
    [ "$(wc -w <<<"$JOB")" -eq 1 ] || abort "several engram jobs running: $JOB"
    if run health-initial "$S/health_check.sh" --job-id "$JOB" --expect-mode zig --wait 30; then
        check "deployed with Zig" PASS "existing job $JOB is healthy on Zig"
    else
        switch roll_forward_to_zig.sh initial "deployed with Zig" --jar "$ENGRAM_JOB_JAR"
    fi
else
    t0=$(now_ms)
    if run deploy "$S/deploy_with_zig.sh" --jar "$ENGRAM_JOB_JAR" --health-timeout 60; then
        JOB=$(grep -oE 'DEPLOYED job_id=[0-9a-f]+' "$W/deploy.log" | cut -d= -f2)
        DEPLOYED_FRESH=1
        check "deployed with Zig" PASS "job $JOB healthy on Zig in $(fmt_ms $(($(now_ms) - t0)))"
    else
        check "deployed with Zig" FAIL "deploy_with_zig.sh failed: $(grep -E 'FAILED' "$W/deploy.log" | head -2 | tr '\n' ' ')"
        abort "deploy failed"
    fi
fi

# ----- 2. load ------------------------------------------------------------------------------------------------
step "drive load: memory events, baseline queries, continuous query load"
T0=$(($(now_ms) - 120000))  # event time two minutes back: nothing is "in the future", nothing decays measurably
TQ=$((T0 + 60000))
# Every committed result, as it arrives, stamped with its arrival time (one consumer for the whole drill; the
# continuous load keeps it busy, and it ends by itself 120 s after the last result if the drill dies).
set -m
( engram_cli tail --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type results --from-beginning --idle-timeout 120s 2>"$W/tail.err" \
    | while IFS= read -r line; do printf '%s %s\n' "$(($(date +%s%N) / 1000000))" "$line"; done >"$W/results.log" ) &
TAIL_PID=$!
set +m
$DATA events --rid "$RID" --spaces "$SPACES" --memories "$MEMORIES" --t0 "$T0" --out "$W/events.jsonl" \
    --expected "$W/expected.json" | sed 's/^/    /'
out=$(engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type event --file "$W/events.jsonl" 2>&1) \
    || abort "engram send (events) failed: $out"
log "    $(grep -E '^sent ' <<<"$out" || echo "$out")"
# Batch A right after the events: each query waits for its space's last event (they come through another topic).
if out=$(ask_batch A --after-load "$W/expected.json"); then
    if cmp=$($DATA compare --rid "$RID" --results "$W/results.log" --base A --base-queries "$W/queries-A.jsonl" \
        --other A --expected "$W/expected.json" --expect-mode zig); then
        BASE_TOTALS=$(state_totals "$JOB")
        check "load + baseline on Zig" PASS "$(wc -l <"$W/events.jsonl") events, batch A: $out; census = expected memory set; $BASE_TOTALS"
    else
        check "load + baseline on Zig" FAIL "$cmp"
        abort "baseline wrong"
    fi
else
    check "load + baseline on Zig" FAIL "$out"
    abort "baseline unanswered"
fi
# Continuous load: 4 queries/s through ONE producer for the whole drill, across every switch below.
# generator -> FIFO -> `engram send --file -`; stopping the generator ends the producer's input cleanly.
mkfifo "$W/load.fifo"
engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type query --file - <"$W/load.fifo" >"$W/load-send.log" 2>&1 &
SEND_PID=$!
$DATA load --rid "$RID" --spaces "$SPACES" --t "$TQ" --rate 4 --ids "$W/load-ids.txt" >"$W/load.fifo" &
LOAD_PID=$!
log "    continuous load running (generator pid $LOAD_PID, producer pid $SEND_PID)"

# ----- 3. runtime switch --------------------------------------------------------------------------------------
step "runtime switch without restart: java, health check must refuse, back to zig"
t0=$(now_ms)
if run switch-runtime-java "$S/set_kernel_mode.sh" java --reason "drill $RID: runtime switch" --issued-by rollback_drill \
        --verify --job-id "$JOB" --timeout 45; then
    if run health-wrong-mode "$S/health_check.sh" --job-id "$JOB" --expect-mode zig; then
        check "health check refuses wrong mode" FAIL "health_check.sh --expect-mode zig passed on a job running java"
    else
        check "health check refuses wrong mode" PASS "health_check.sh --expect-mode zig exited non-zero: $(grep -E '^FAIL' "$W/health-wrong-mode.log" | head -1)"
    fi
    if run switch-runtime-zig "$S/set_kernel_mode.sh" zig --reason "drill $RID: end of runtime switch" \
            --issued-by rollback_drill --verify --job-id "$JOB" --timeout 45; then
        TIMING[runtime_switch]=$(($(now_ms) - t0))
        check "runtime switch (set_kernel_mode)" PASS "java then zig on all subtasks without a restart, $(fmt_ms "${TIMING[runtime_switch]}") round trip"
    else
        check "runtime switch (set_kernel_mode)" FAIL "switch back to zig not observed"
        abort "runtime switch back to zig failed"
    fi
else
    check "runtime switch (set_kernel_mode)" FAIL "switch to java not observed on the mode gauge"
    abort "runtime switch failed"
fi

# ----- 4. rollback to Java, same jar --------------------------------------------------------------------------
step "the job across TaskManagers (REST), and a backup savepoint (flink savepoint)"
# Where the memory operator's subtasks run: on a cluster of several TaskManagers, spread over more than one, so
# records cross the network and the native library is loaded by several processes.
tms=$(rest GET "/jobs/$JOB/vertices/$(memory_vertex "$JOB")/taskmanagers" | jq -r '[.taskmanagers[] | select((.["status-counts"].RUNNING // 0) > 0)] | length')
cluster_tms=$(rest GET /taskmanagers | jq -r '.taskmanagers | length')
if [ "$cluster_tms" -le 1 ] || [ "${tms:-0}" -ge 2 ]; then
    check "memory operator across TaskManagers" PASS "$DRILL_PARALLELISM subtasks on ${tms:-?} of $cluster_tms TaskManagers"
else
    check "memory operator across TaskManagers" FAIL "$DRILL_PARALLELISM subtasks on ${tms:-?} of $cluster_tms TaskManagers"
fi
need_flink
# What an operator takes before touching a job: a savepoint it keeps (flink savepoint; the job keeps running).
if out=$("$FLINK_HOME/bin/flink" savepoint -m "${ENGRAM_REST#*://}" -type canonical "$JOB" "${ENGRAM_SAVEPOINT_DIR:-file://$W/savepoints}" 2>&1) \
    && backup=$(sed -n 's/.*Savepoint completed\. Path: \(.*\)$/\1/p' <<<"$out") && [ -n "$backup" ] \
    && [ "$(job_state "$JOB")" = RUNNING ]; then
    check "backup savepoint (flink savepoint)" PASS "$backup; job $JOB still RUNNING"
else
    check "backup savepoint (flink savepoint)" FAIL "$(flink_error "$out")"
fi

step "ROLL BACK to Java (same jar)"
switch rollback_to_java.sh rollback "rollback to Java (same jar)"
verify_after "after rollback" B java

# ----- 5. roll forward ----------------------------------------------------------------------------------------
step "roll forward to Zig"
switch roll_forward_to_zig.sh forward "roll forward to Zig"
verify_after "after roll forward" C zig

# ----- 6. Java-only jar ---------------------------------------------------------------------------------------
if [ "$SKIP_JAVA_ONLY" = 0 ]; then
    # This leg also rescales N -> N-1 -> N: the Java-only job restores the Zig job's savepoint at parallelism N-1, and
    # the full jar restores the Java-only job's savepoint at parallelism N again.
    step "roll back to the Java-only jar, rescaled to parallelism $RESCALE_TO"
    switch rollback_to_java.sh javaonly "rollback to Java-only jar (parallelism $RESCALE_TO)" \
        --java-only-jar "$ENGRAM_JAVA_ONLY_JAR" --parallelism "$RESCALE_TO"
    check_parallelism "rescaled to $RESCALE_TO" "$RESCALE_TO"
    verify_after "after Java-only rollback" D java
    step "roll forward to Zig (full jar again), rescaled to parallelism $DRILL_PARALLELISM"
    switch roll_forward_to_zig.sh forward2 "roll forward from Java-only jar (parallelism $DRILL_PARALLELISM)" \
        --jar "$ENGRAM_JOB_JAR" --parallelism "$DRILL_PARALLELISM"
    check_parallelism "rescaled back to $DRILL_PARALLELISM" "$DRILL_PARALLELISM"
    verify_after "after 2nd roll forward" E zig
fi

# ----- 7. exactly-once ----------------------------------------------------------------------------------------
step "exactly-once over the whole drill"
kill "$LOAD_PID" 2>/dev/null || true   # the generator finishes its line and exits; the producer then sees EOF
wait "$LOAD_PID" 2>/dev/null || true
LOAD_PID=""
t0=$(date +%s)
while kill -0 "$SEND_PID" 2>/dev/null; do
    [ $(($(date +%s) - t0)) -lt 60 ] || { warn "load producer did not exit"; break; }
    sleep 0.3
done
SEND_PID=""
log "    load producer: $(grep -E '^sent ' "$W/load-send.log" || tail -2 "$W/load-send.log")"
sent_n=$(grep -oE '^sent [0-9]+' "$W/load-send.log" | awk '{print $2}' || true)
written_n=$(wc -l <"$W/load-ids.txt")
[ "${sent_n:-x}" = "$written_n" ] || warn "the load producer confirmed ${sent_n:-no} of $written_n queries"
cp "$W/load-ids.txt" "$W/load-ids-sent.txt"
SENT=("$W"/queries-*.jsonl "$W/load-ids-sent.txt")
t0=$(date +%s)
until $DATA exactly-once --rid "$RID" --results "$W/results.log" --sent "${SENT[@]}" >/dev/null 2>&1; do
    [ $(($(date +%s) - t0)) -lt 60 ] || break
    sleep 1
done
sleep 6   # one more checkpoint interval: a duplicate would be committed by now
if out=$($DATA exactly-once --rid "$RID" --results "$W/results.log" --sent "${SENT[@]}"); then
    check "exactly-once (read_committed)" PASS "$out; load producer wrote $written_n, confirmed ${sent_n:-?}; $($DATA load-stats --rid "$RID" --results "$W/results.log")"
else
    check "exactly-once (read_committed)" FAIL "$out"
fi

# ----- 8. metrics under their documented names ----------------------------------------------------------------
step "Prometheus names"
if [ -n "${ENGRAM_TM_METRICS:-}" ]; then
    scrape=""
    for url in $ENGRAM_TM_METRICS; do scrape="$scrape$(curl -s --max-time 10 "$url" || true)"$'\n'; done
    missing=""
    for m in flink_taskmanager_job_task_operator_engram_kernelMode flink_taskmanager_job_task_operator_engram_arena_overflows \
             flink_taskmanager_job_task_operator_engram_arena_resets flink_taskmanager_job_task_operator_engram_kernel_mode_calls \
             flink_taskmanager_job_task_operator_engram_reason_deadLetters flink_taskmanager_job_task_operator_engram_shadowDivergences \
             flink_taskmanager_job_task_operator_engram_memories flink_taskmanager_job_task_operator_engram_edges; do
        grep -q "^$m{" <<<"$scrape" || missing="$missing $m"
    done
    zig_calls=$(grep -E '^flink_taskmanager_job_task_operator_engram_kernel_mode_calls\{' <<<"$scrape" | grep "job_id=\"$JOB\"" \
        | grep 'mode="zig"' | awk '{s += $NF} END {printf "%d", s}')
    modes=$(grep -E '^flink_taskmanager_job_task_operator_engram_kernelMode\{' <<<"$scrape" | grep "job_id=\"$JOB\"" | awk '{print $NF}' | sort -u | tr '\n' ' ')
    if [ -z "$missing" ] && [ "$modes" = "1.0 " ]; then
        check "Prometheus metrics" PASS "TaskManagers $ENGRAM_TM_METRICS export every engram_* name checked; kernelMode=1 on all $(grep -E '^flink_taskmanager_job_task_operator_engram_kernelMode\{' <<<"$scrape" | grep -c "job_id=\"$JOB\"") subtasks, $zig_calls zig kernel calls since the last deploy"
    else
        check "Prometheus metrics" FAIL "missing:${missing:- none}; kernelMode values: ${modes:-none}"
    fi
else
    log "    attached cluster: TaskManager metrics URL unknown, skipped"
fi
# ----- 9. leave no drill data behind on a cluster the drill did not start ------------------------------------
if [ "$STARTED_CLUSTER" = 0 ]; then
    step "clean up: forget the drill's memories"
    n=$($DATA forget-all --expected "$W/expected.json" --t "$((TQ + 1000))" --out "$W/cleanup.jsonl")
    out=$(engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type event --file "$W/cleanup.jsonl" 2>&1) \
        && log "    $n forget events: $(grep -E '^sent ' <<<"$out")" || warn "cleanup failed: $out"
fi
step_end
log "drill finished"
