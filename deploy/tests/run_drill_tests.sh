#!/usr/bin/env bash
# CI tests of the operator scripts against REAL clusters started with the Flink distribution's own scripts
# (JobManager + TaskManager JVMs) and a real Kafka broker, which this script starts and ALWAYS stops (EXIT trap), all
# under a hard time limit. Run by deploy/pom.xml in the integration-test phase; runnable by hand:
#     deploy/tests/run_drill_tests.sh
#
#   static            every script parses (bash -n); the Python helpers compile, jobconf.py passes its unit tests;
#                     the jars are what they claim
#   usage errors      scripts fail fast with a clear message (no cluster, no --reason, bad mode, unknown flag)
#   distribution      deploy/flink/install_flink.sh installed Flink 2.2.1 (bin/flink --version)
#   start_cluster     2 TaskManagers; idempotent; records every process; TaskManager memory = config.yaml
#                     arithmetic; a Prometheus endpoint per TaskManager; REST on 127.0.0.1 only
#   refused           flink run with a typo'd engram.* key, an arena that cannot fit, mode zig on the Java-only jar,
#                     and the REST API with a typo'd key: refused at submission with the reason, no job created
#   user path         the README's commands: flink run / list / savepoint / stop / run -s / cancel on the cluster
#   wrong mode        a job deployed with mode=java: health_check.sh --expect-mode zig exits non-zero,
#                     --expect-mode java exits 0
#   safety            deploy_with_zig.sh refuses a second job and the Java-only jar; rollback/roll-forward with an
#                     unusable jar stop NOTHING (the job keeps running, same id)
#   config kept       a RocksDB job with incremental checkpoints and custom engram.* options, submitted with
#                     flink run, rolled back to Java and forward to Zig with the full jar and with the Java-only jar:
#                     every setting kept (its published configuration, the state backend REST reports)
#   drill             rollback_drill.sh, the full monthly drill (every checklist item must PASS)
#   stock config      Flink's unmodified config.yaml (only bind address and ports changed), started with
#                     bin/jobmanager.sh + bin/taskmanager.sh: flink run reaches RUNNING with 0 restarts on Zig
#   stop_cluster      leaves no process of the cluster behind, closes its ports, and is idempotent
#
# Environment: ENGRAM_TEST_TIMEOUT (seconds, default 900), ENGRAM_TEST_WORK (default deploy/target/drill; each run
# uses its own run-<time>-<pid> directory in it),
# plus everything lib/common.sh reads (ENGRAM_JOB_JAR, ENGRAM_JAVA_ONLY_JAR, ENGRAM_CLI, FLINK_HOME).
# Prints "N passed, M failed" last; exits non-zero if anything failed or the time limit hit.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
S="$(cd "$HERE/../scripts" && pwd)"
WORK="${ENGRAM_TEST_WORK:-$HERE/../target/drill}"
LIMIT="${ENGRAM_TEST_TIMEOUT:-900}"

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
STOCK=""
pass() { PASSED=$((PASSED + 1)); printf 'PASS %-44s %s\n' "$1" "${2:-}"; }
fail() { FAILED=$((FAILED + 1)); FAILS+=("$1"); printf 'FAIL %-44s %s\n' "$1" "${2:-}"; }
# expect_fail NAME PATTERN CMD...: CMD must exit non-zero and print PATTERN (its clear message).
expect_fail() {
    local name=$1 pat=$2 out rc
    shift 2
    set +e
    out=$("$@" 2>&1)
    rc=$?
    set -e
    if [ "$rc" -ne 0 ] && grep -qE -- "$pat" <<<"$out"; then
        pass "$name" "exit $rc: $(grep -m1 -oE -- ".{0,60}$pat.{0,60}" <<<"$out" | cut -c1-200)"
    else
        fail "$name" "exit $rc, expected non-zero with /$pat/: $(tail -3 <<<"$out" | tr '\n' ' ' | cut -c1-300)"
    fi
}
summary() {
    echo
    # The stock-config cluster of this run, if it is still up (its daemons were started by this script).
    if [ -n "$STOCK" ] && [ -d "$STOCK/pids" ]; then
        FLINK_PID_DIR="$STOCK/pids" FLINK_CONF_DIR="$STOCK/conf" "$FLINK_HOME/bin/taskmanager.sh" stop-all >/dev/null 2>&1 || true
        FLINK_PID_DIR="$STOCK/pids" FLINK_CONF_DIR="$STOCK/conf" "$FLINK_HOME/bin/jobmanager.sh" stop-all >/dev/null 2>&1 || true
    fi
    echo "deploy tests: $(( $(date +%s) - T0 )) s, work dir $WORK"
    [ ${#FAILS[@]} -eq 0 ] || echo "failed: ${FAILS[*]}"
    echo "$PASSED passed, $FAILED failed"
}
trap summary EXIT
section() { echo; echo "== $* ($(( $(date +%s) - T0 )) s)"; }

# shellcheck source=../scripts/lib/common.sh
SCRIPT_NAME=tests source "$S/lib/common.sh"
trap summary EXIT   # common.sh installs its own EXIT trap
JC="python3 $S/lib/jobconf.py"

# job_of OUTPUT: the job id `flink run` printed.
job_of() { sed -n 's/.*Job has been submitted with JobID \([0-9a-f]\{32\}\).*/\1/p' <<<"$1" | head -1; }
engram_jobs() { rest GET /jobs/overview | jq -r --arg n "$ENGRAM_JOB_NAME" '[.jobs[] | select(.name == $n)] | length'; }
cancel_job() { # JOB: flink cancel, then wait for CANCELED
    local t0
    "$FLINK_HOME/bin/flink" cancel -m "${ENGRAM_REST#*://}" "$1" >/dev/null 2>&1 || true
    t0=$(date +%s)
    until [ "$(job_state "$1")" = CANCELED ] || [ $(( $(date +%s) - t0 )) -gt 30 ]; do sleep 0.5; done
}

# ----- static ---------------------------------------------------------------------------------------------------
section static
bad=""
for f in "$S"/*.sh "$S"/lib/*.sh "$HERE"/*.sh "$S/../flink/install_flink.sh"; do bash -n "$f" 2>/dev/null || bad="$bad $(basename "$f")"; done
[ -z "$bad" ] && pass "scripts parse (bash -n)" || fail "scripts parse (bash -n)" "$bad"
for py in "$S/lib/drill_data.py" "$S/lib/jobconf.py"; do
    python3 -c "import ast, sys; ast.parse(open(sys.argv[1]).read())" "$py" && pass "$(basename "$py") compiles" || fail "$(basename "$py") compiles"
done
(cd "$S/lib" && python3 -m unittest -q test_jobconf) >"$WORK/test_jobconf.log" 2>&1 \
    && pass "jobconf.py unit tests" "$(grep -E '^Ran ' "$WORK/test_jobconf.log")" || fail "jobconf.py unit tests" "$(tail -5 "$WORK/test_jobconf.log")"
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
expect_fail "rollback_to_java: --conf needs KEY=VALUE" "--conf needs KEY=VALUE" "$S/rollback_to_java.sh" --conf oops
expect_fail "deploy_with_zig: no cluster" "no Flink REST address|cannot reach" env -u ENGRAM_REST "$S/deploy_with_zig.sh" --state-dir "$WORK/nowhere" --bootstrap-servers 127.0.0.1:9
expect_fail "start_cluster: bad --taskmanagers" "positive integer" "$S/start_cluster.sh" --state-dir "$WORK/nowhere" --taskmanagers 0

# ----- the Flink distribution ----------------------------------------------------------------------------------
section "the Flink distribution"
if FLINK_HOME=$("$S/../flink/install_flink.sh" 2>"$WORK/install.log") && version=$("$FLINK_HOME/bin/flink" --version 2>/dev/null) \
    && grep -q 'Version: 2.2.1' <<<"$version"; then
    export FLINK_HOME
    pass "Flink distribution installed" "$FLINK_HOME: $(tr -s ' ' <<<"$version" | head -1)"
else
    fail "Flink distribution installed" "$(tail -3 "$WORK/install.log")"
    exit 1
fi

# ----- start_cluster --------------------------------------------------------------------------------------------
section "start_cluster (2 TaskManagers)"
t0=$(date +%s)
if "$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" >"$WORK/start.log" 2>&1; then
    pass "start_cluster.sh" "$(( $(date +%s) - t0 )) s: $(grep -E 'Flink REST|Kafka bootstrap' "$WORK/start.log" | tr -s ' ' | tr '\n' ' ')"
else
    fail "start_cluster.sh" "$(tail -15 "$WORK/start.log")"
    exit 1
fi
load_cluster_env
export ENGRAM_REST ENGRAM_BOOTSTRAP FLINK_CONF_DIR
out=$("$S/start_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" 2>&1) && grep -q 'already running' <<<"$out" \
    && pass "start_cluster.sh is idempotent" "second run: $(grep -c 'already running' <<<"$out") x 'already running', nothing started" \
    || fail "start_cluster.sh is idempotent" "$(tail -5 <<<"$out")"
PIDS_BEFORE=""
for f in "$ENGRAM_STATE_DIR"/pids/*.pid; do PIDS_BEFORE="$PIDS_BEFORE $(cut -d' ' -f1 "$f")"; done
recorded=$(cd "$ENGRAM_STATE_DIR/pids" && ls ./*.pid | sed 's|^\./||; s|\.pid$||' | sort | tr '\n' ' ')
[ "$recorded" = "broker jobmanager taskmanager-1 taskmanager-2 " ] && pass "4 processes recorded" "$recorded: pids$PIDS_BEFORE" \
    || fail "4 processes recorded" "$recorded"
[ "$(wc -l <"$ENGRAM_STATE_DIR/pids/flink/flink-engram-taskexecutor.pid")" -eq 2 ] \
    && pass "started by bin/taskmanager.sh" "the distribution's pid file lists both TaskManagers" \
    || fail "started by bin/taskmanager.sh" "$(cat "$ENGRAM_STATE_DIR/pids/flink/"*.pid 2>&1)"
tms=$(rest GET /taskmanagers | jq -c '[.taskmanagers[] | {slotsNumber, memoryConfiguration}]')
mib() { jq -r "$1" <<<"$tms" | awk '{printf "%d ", $1 / 1048576}'; }
# config.yaml: process 1280 MiB = Flink 832 + metaspace 256 + overhead 192; managed 128 MiB (64 MiB per slot holds
# the 2 MiB arena), no task off-heap.
if [ "$(mib '.[].memoryConfiguration.totalProcessMemory')" = "1280 1280 " ] \
    && [ "$(mib '.[].memoryConfiguration.totalFlinkMemory')" = "832 832 " ] \
    && [ "$(mib '.[].memoryConfiguration.managedMemory')" = "128 128 " ] \
    && [ "$(mib '.[].memoryConfiguration.taskOffHeap')" = "0 0 " ] \
    && [ "$(jq -r '[.[].slotsNumber] | add' <<<"$tms")" = 4 ]; then
    pass "TaskManager memory = config.yaml arithmetic" "2 x (process 1280 MiB, Flink 832 MiB, managed 128 MiB, task off-heap 0, 2 slots)"
else
    fail "TaskManager memory = config.yaml arithmetic" "$tms"
fi
n=0 ok=0
for url in $ENGRAM_TM_METRICS; do
    n=$((n + 1))
    # (not curl | grep -q: under pipefail grep's early exit fails curl with SIGPIPE)
    scrape=$(curl -sf --max-time 5 "$url" || true)
    grep -q '^flink_taskmanager_Status_JVM' <<<"$scrape" && ok=$((ok + 1))
done
[ "$n" -eq 2 ] && [ "$ok" -eq 2 ] && pass "a Prometheus endpoint per TaskManager" "$ENGRAM_TM_METRICS" \
    || fail "a Prometheus endpoint per TaskManager" "$ok of $n answer: $ENGRAM_TM_METRICS"
rest_port=${ENGRAM_REST##*:}
if command -v ss >/dev/null 2>&1; then
    binds=$(ss -ltnH "( sport = :$rest_port )" | awk '{print $4}' | sort -u | tr '\n' ' ')
    if [ -n "$binds" ] && ! grep -qvE '^(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):' <<<"$(tr ' ' '\n' <<<"$binds" | grep .)"; then
        pass "REST listens on loopback only" "$binds"
    else
        fail "REST listens on loopback only" "${binds:-nothing listens on $rest_port}"
    fi
fi

# ----- refused at submission ---------------------------------------------------------------------------------------
section "refused at submission: flink run and the REST API"
jobs_before=$(engram_jobs)
BS=$ENGRAM_BOOTSTRAP
expect_fail "flink run: typo'd engram.* key refused" "unknown option engram.kernels.mod \(did you mean engram.kernels.mode\?\)" \
    "$FLINK_HOME/bin/flink" run -d -D engram.kernels.mod=java -D engram.kafka.bootstrap-servers="$BS" "$ENGRAM_JOB_JAR"
expect_fail "flink run: arena that cannot fit refused" "does not fit the memory operator's share of managed memory" \
    "$FLINK_HOME/bin/flink" run -d -D engram.kernels.mode=zig -D engram.kernels.arena.size=512m -D engram.kafka.bootstrap-servers="$BS" "$ENGRAM_JOB_JAR"
expect_fail "flink run: zig on the Java-only jar refused" "this job jar has no native library" \
    "$FLINK_HOME/bin/flink" run -d -D engram.kernels.mode=zig -D engram.kafka.bootstrap-servers="$BS" "$ENGRAM_JAVA_ONLY_JAR"
# The REST API (what the web UI's submit page uses): upload, then run with a typo in flinkConfiguration.
jar_id=$(curl -sS -X POST -F "jarfile=@$ENGRAM_JOB_JAR" "$ENGRAM_REST/jars/upload" | jq -r '.filename' | xargs basename)
body=$(jq -n --arg bs "$BS" '{entryClass: "io.engram.job.EngramJob", flinkConfiguration: {"engram.kernels.mod": "java", "engram.kafka.bootstrap-servers": $bs}}')
code=$(curl -sS -o "$WORK/rest-run.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data "$body" "$ENGRAM_REST/jars/$jar_id/run")
curl -sS -o /dev/null -X DELETE "$ENGRAM_REST/jars/$jar_id" || true
if [ "$code" -ge 400 ] && grep -q 'did you mean engram.kernels.mode' "$WORK/rest-run.json"; then
    pass "REST /jars/run: typo'd engram.* key refused" "HTTP $code: $(grep -oE 'unknown option [^(]*\(did you mean [^)]*\)' "$WORK/rest-run.json" | head -1)"
else
    fail "REST /jars/run: typo'd engram.* key refused" "HTTP $code: $(head -c 300 "$WORK/rest-run.json")"
fi
[ "$(engram_jobs)" = "$jobs_before" ] && pass "no job created by the refused submissions" "$jobs_before engram jobs before and after" \
    || fail "no job created by the refused submissions" "$jobs_before before, $(engram_jobs) after"

# ----- the README's commands --------------------------------------------------------------------------------------
section "user path: the README's flink commands on this cluster"
# Exactly as the README shows them (DocsTestedBlocksTest finds each line here), run by bash -e from the repository
# root: the first command that fails ends it.
cat >"$WORK/user-path.sh" <<'USERPATH'
cd "$ENGRAM_HOME"
source "$ENGRAM_STATE_DIR/cluster.env"
JOB_ID=$($FLINK_HOME/bin/flink run -d -p 4 -D engram.kernels.mode=zig -D engram.kafka.bootstrap-servers=$ENGRAM_BOOTSTRAP job/target/engram-job-0.1.0-SNAPSHOT.jar | sed -n 's/^Job has been submitted with JobID //p')
$FLINK_HOME/bin/flink list
deploy/scripts/health_check.sh --job-id $JOB_ID --expect-mode zig --wait 60
deploy/scripts/smoke_test.sh --expect-mode zig
$FLINK_HOME/bin/flink savepoint $JOB_ID $ENGRAM_SAVEPOINT_DIR
SAVEPOINT=$($FLINK_HOME/bin/flink stop --type canonical --savepointPath $ENGRAM_SAVEPOINT_DIR $JOB_ID | sed -n 's/^Savepoint completed. Path: //p')
JOB_ID=$($FLINK_HOME/bin/flink run -d -p 4 -s $SAVEPOINT -D engram.kernels.mode=java -D engram.kafka.bootstrap-servers=$ENGRAM_BOOTSTRAP job/target/engram-job-0.1.0-SNAPSHOT.jar | sed -n 's/^Job has been submitted with JobID //p')
deploy/scripts/health_check.sh --job-id $JOB_ID --expect-mode java --wait 60
deploy/scripts/smoke_test.sh --expect-mode java
# sizing.md "Latency and the sink": the delivery guarantee switched at a stop with a savepoint, there and back
SAVEPOINT=$($FLINK_HOME/bin/flink stop --type canonical --savepointPath $ENGRAM_SAVEPOINT_DIR $JOB_ID | sed -n 's/^Savepoint completed. Path: //p')
JOB_ID=$($FLINK_HOME/bin/flink run -d -p 4 -s $SAVEPOINT -D engram.kernels.mode=java -D engram.kafka.delivery-guarantee=at-least-once -D engram.kafka.bootstrap-servers=$ENGRAM_BOOTSTRAP job/target/engram-job-0.1.0-SNAPSHOT.jar | sed -n 's/^Job has been submitted with JobID //p')
deploy/scripts/health_check.sh --job-id $JOB_ID --expect-mode java --wait 60
deploy/scripts/smoke_test.sh --expect-mode java
echo "AT LEAST ONCE job $JOB_ID"
SAVEPOINT=$($FLINK_HOME/bin/flink stop --type canonical --savepointPath $ENGRAM_SAVEPOINT_DIR $JOB_ID | sed -n 's/^Savepoint completed. Path: //p')
JOB_ID=$($FLINK_HOME/bin/flink run -d -p 4 -s $SAVEPOINT -D engram.kernels.mode=java -D engram.kafka.delivery-guarantee=exactly-once -D engram.kafka.bootstrap-servers=$ENGRAM_BOOTSTRAP job/target/engram-job-0.1.0-SNAPSHOT.jar | sed -n 's/^Job has been submitted with JobID //p')
deploy/scripts/health_check.sh --job-id $JOB_ID --expect-mode java --wait 60
deploy/scripts/smoke_test.sh --expect-mode java
echo "EXACTLY ONCE job $JOB_ID"
$FLINK_HOME/bin/flink cancel $JOB_ID
echo "USER PATH OK job $JOB_ID from $SAVEPOINT"
USERPATH
ENGRAM_HOME="$ENGRAM_HOME" bash -e -o pipefail "$WORK/user-path.sh" >"$WORK/user-path.log" 2>&1 && rc=0 || rc=$?
if [ "$rc" -eq 0 ] && grep -q '^USER PATH OK' "$WORK/user-path.log"; then
    pass "flink run/list/savepoint/stop/run -s/cancel" "$(grep -c '^SMOKE PASS' "$WORK/user-path.log") smoke tests passed (zig, then java from the savepoint, then at-least-once and exactly-once again, each from the last one's savepoint); $(grep '^USER PATH OK' "$WORK/user-path.log" | cut -c14-)"
    # The legs' published configuration (GET /jobs/{id}/config) must say which guarantee each ran with.
    for leg in "AT LEAST ONCE:at-least-once" "EXACTLY ONCE:exactly-once"; do
        lj=$(sed -n "s/^${leg%%:*} job //p" "$WORK/user-path.log")
        job_config "$lj" "$WORK/user-path-$lj.json"
        got=$($JC get --job "$WORK/user-path-$lj.json" engram.kafka.delivery-guarantee)
        [ "$got" = "${leg#*:}" ] && pass "delivery guarantee switched: ${leg#*:}" "job $lj, from a stop-with-savepoint" \
            || fail "delivery guarantee switched: ${leg#*:}" "job $lj published engram.kafka.delivery-guarantee='$got'"
    done
else
    fail "flink run/list/savepoint/stop/run -s/cancel" "exit $rc, see $WORK/user-path.log: $(grep -E 'FAIL|Exception|ERROR' "$WORK/user-path.log" | head -3 | tr '\n' ' ' | cut -c1-300)"
fi
t0=$(date +%s)
until [ "$(rest GET /jobs/overview | jq -r '[.jobs[] | select(.state == "RUNNING" or .state == "CANCELLING")] | length')" = 0 ] \
    || [ $(( $(date +%s) - t0 )) -gt 30 ]; do sleep 0.5; done

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
    # config.yaml's env.java.opts.taskmanager + engram.state.snapshot-thread-priority (default 1): once the heap
    # backend checkpoints a memory, the TaskManager thread that wrote it runs at nice 10.
    "$S/smoke_test.sh" --expect-mode java >"$WORK/smoke-nice.log" 2>&1 || true
    checkpoint_nices() { # "COUNT NICE;" per nice value of the TaskManagers' AsyncOperations threads
        local p t c
        for p in $(cat "$ENGRAM_STATE_DIR/pids/flink/flink-engram-taskexecutor.pid"); do
            for t in /proc/"$p"/task/*; do
                read -r c <"$t/comm" 2>/dev/null || continue
                if [ "$c" = AsyncOperations ]; then awk '{print $19}' "$t/stat" 2>/dev/null || true; fi
            done
        done | sort -n | uniq -c | awk '{printf "%s at nice %s; ", $1, $2}' || true
    }
    t0=$(date +%s)
    until grep -q 'at nice 10;' <<<"$(checkpoint_nices)" || [ $(( $(date +%s) - t0 )) -gt 45 ]; do sleep 1; done
    nices=$(checkpoint_nices)
    grep -q 'at nice 10;' <<<"$nices" \
        && pass "heap checkpoint threads at nice 10" "TaskManagers' AsyncOperations threads: $nices$(grep -m1 '^SMOKE' "$WORK/smoke-nice.log" | cut -c1-60)" \
        || fail "heap checkpoint threads at nice 10" "after $(( $(date +%s) - t0 )) s: ${nices:-no AsyncOperations thread}; $(grep -m1 -E '^SMOKE|FAIL' "$WORK/smoke-nice.log")"
    cancel_job "$JID"
else
    fail "deploy_with_zig.sh --mode java" "$(grep -E 'FAILED' "$WORK/deploy-java.log" | head -3)"
fi

# ----- configuration kept across rollback and roll-forward -------------------------------------------------------------
section "configuration kept: a RocksDB job submitted with flink run, rolled back and forward (full and Java-only jar)"
# Submitted as an operator would, not by our scripts: the switch scripts must read everything back from the cluster.
CFG=(-D state.backend.type=rocksdb -D execution.checkpointing.incremental=true -D engram.recall.seed-k=12
     -D engram.decay.sweep-interval=2min -D engram.kernels.shadow.sample-rate=0.01 -D engram.recall.batch.max-size=4
     -D engram.kafka.group-id=engram-cfg-kept -D engram.kafka.transactional-id-prefix=engram-cfg-kept
     -D pipeline.name=engram-flink)
if out=$("$FLINK_HOME/bin/flink" run -d -p 4 "${CFG[@]}" -D engram.kernels.mode=zig -D engram.kafka.bootstrap-servers="$BS" \
        "$ENGRAM_JOB_JAR" 2>&1) && CJOB=$(job_of "$out") && [ -n "$CJOB" ] \
    && "$S/health_check.sh" --job-id "$CJOB" --expect-mode zig --wait 90 >"$WORK/cfg-health.log" 2>&1; then
    job_config "$CJOB" "$WORK/cfg-original.json"
    pass "RocksDB job submitted with flink run" "job $CJOB healthy on zig, $(jq -r '.["execution-config"]["user-config"] | length' "$WORK/cfg-original.json") settings published"
    # check_kept LABEL MODE: the running job has the original's every setting (only the mode differs) and runs on
    # the RocksDB backend with incremental checkpoints, per REST.
    check_kept() {
        local label=$1 mode=$2 cfgjob backend d
        cfgjob=$(find_job_id)
        job_config "$cfgjob" "$WORK/cfg-$label.json"
        backend=$(rest GET "/jobs/$cfgjob/checkpoints/config" | jq -r '.state_backend')
        if d=$($JC compare --before "$WORK/cfg-original.json" --after "$WORK/cfg-$label.json" --changed engram.kernels.mode) \
            && [ "$($JC get --job "$WORK/cfg-$label.json" engram.kernels.mode)" = "$mode" ] \
            && [ "$backend" = EmbeddedRocksDBStateBackend ] \
            && [ "$($JC get --job "$WORK/cfg-$label.json" execution.checkpointing.incremental)" = true ]; then
            pass "config kept: $label" "job $cfgjob mode $mode, $d, $backend, incremental checkpoints, seed-k $($JC get --job "$WORK/cfg-$label.json" engram.recall.seed-k)"
        else
            fail "config kept: $label" "job $cfgjob mode $($JC get --job "$WORK/cfg-$label.json" engram.kernels.mode), backend $backend: $d"
        fi
    }
    kept_switch() { # LABEL MODE SCRIPT ARGS...
        local label=$1 mode=$2 script=$3
        shift 3
        if "$S/$script" --health-timeout 90 "$@" >"$WORK/cfg-$label.log" 2>&1; then
            check_kept "$label" "$mode"
        else
            fail "config kept: $label" "$script failed: $(grep -E 'FAILED|FAIL ' "$WORK/cfg-$label.log" | head -3 | tr '\n' ' ')"
        fi
    }
    kept_switch "rollback to Java (full jar)" java rollback_to_java.sh
    kept_switch "roll forward to Zig" zig roll_forward_to_zig.sh
    kept_switch "rollback to the Java-only jar" java rollback_to_java.sh --java-only-jar
    kept_switch "roll forward to Zig (full jar again)" zig roll_forward_to_zig.sh --jar "$ENGRAM_JOB_JAR"
    cancel_job "$(find_job_id)"
else
    fail "RocksDB job submitted with flink run" "$(flink_error "$out") $(grep -E '^FAIL' "$WORK/cfg-health.log" 2>/dev/null | head -2)"
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

# ----- Flink's stock configuration ------------------------------------------------------------------------------
section "stock configuration: the distribution's config.yaml, only bind address and ports changed"
# A second cluster, as a user gets it: conf/ copied from the distribution, REST bound to loopback (Flink's default
# REST bind is every interface) and free ports (other builds run on this machine), nothing else changed. 1 JobManager
# and 1 TaskManager (1 slot, 1728m process, task off-heap 0, managed memory 0.4 of Flink memory).
STOCK="$WORK/stock"
mkdir -p "$STOCK/pids" "$STOCK/log"
cp -r "$FLINK_HOME/conf" "$STOCK/conf"
STOCK_REST=$(free_port)
"$FLINK_HOME/bin/config-parser-utils.sh" "$STOCK/conf" "$FLINK_HOME/bin" "$FLINK_HOME/lib" \
    -D rest.bind-address=127.0.0.1 -D "rest.port=$STOCK_REST" -D "jobmanager.rpc.port=$(free_port)" >"$STOCK/config-parser.log" 2>&1
changed=$(python3 - "$FLINK_HOME/conf/config.yaml" "$STOCK/conf/config.yaml" <<'EOF'
import sys
def flat(path):  # config.yaml as flat keys (the nested YAML Flink writes and ships; no lists in it)
    out, stack = {}, []
    for line in open(path):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, value = line.strip().partition(":")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if value.strip():
            out[".".join(k for _, k in stack)] = value.strip().strip("'\"")
    return out
a, b = flat(sys.argv[1]), flat(sys.argv[2])
print(" ".join(sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))))
EOF
)
if [ "$changed" = "jobmanager.rpc.port rest.bind-address rest.port" ]; then
    pass "stock config.yaml: only bind address and ports changed" "$changed"
else
    fail "stock config.yaml: only bind address and ports changed" "changed keys: $changed"
fi
(
    cd "$ENGRAM_HOME"
    export FLINK_CONF_DIR="$STOCK/conf" FLINK_PID_DIR="$STOCK/pids" FLINK_LOG_DIR="$STOCK/log"
    $FLINK_HOME/bin/jobmanager.sh start
    $FLINK_HOME/bin/taskmanager.sh start
) >"$STOCK/start.log" 2>&1
SAVED_REST=$ENGRAM_REST
ENGRAM_REST="http://127.0.0.1:$STOCK_REST"
t0=$(date +%s)
until [ "$(curl -s --max-time 2 "$ENGRAM_REST/overview" | jq -r '."slots-total" // 0' 2>/dev/null)" = 1 ] \
    || [ $(( $(date +%s) - t0 )) -gt 90 ]; do sleep 0.5; done
if [ "$(curl -s --max-time 2 "$ENGRAM_REST/overview" | jq -r '."slots-total" // 0' 2>/dev/null)" = 1 ]; then
    pass "stock cluster up (bin/jobmanager.sh, bin/taskmanager.sh)" "$(( $(date +%s) - t0 )) s, $ENGRAM_REST, 1 slot"
    # The operations guide's commands, as it shows them.
    (
        cd "$ENGRAM_HOME"
        export FLINK_CONF_DIR="$STOCK/conf"
        $FLINK_HOME/bin/flink run -d -D engram.kernels.mode=zig -D engram.kafka.bootstrap-servers=$ENGRAM_BOOTSTRAP job/target/engram-job-0.1.0-SNAPSHOT.jar
    ) >"$STOCK/run.log" 2>&1 && SJOB=$(job_of "$(cat "$STOCK/run.log")") || SJOB=""
    if [ -n "$SJOB" ] && "$S/health_check.sh" --rest "$ENGRAM_REST" --job-id "$SJOB" --expect-mode zig --wait 90 >"$STOCK/health.log" 2>&1 \
        && sleep 12 && "$S/health_check.sh" --rest "$ENGRAM_REST" --job-id "$SJOB" --expect-mode zig >>"$STOCK/health.log" 2>&1; then
        pass "stock config: flink run RUNNING, 0 restarts, on Zig" "job $SJOB: $(grep -E '^PASS (no-restarts|kernel-mode|checkpoints)' "$STOCK/health.log" | tail -3 | cut -c6- | tr -s ' ' | tr '\n' ';')"
        "$S/smoke_test.sh" --bootstrap-servers "$BS" --expect-mode zig >"$STOCK/smoke.log" 2>&1 \
            && pass "stock config: a recall answered" "$(grep '^SMOKE PASS' "$STOCK/smoke.log" | cut -c12-)" \
            || fail "stock config: a recall answered" "$(grep FAILED "$STOCK/smoke.log")"
        "$FLINK_HOME/bin/flink" cancel -m "${ENGRAM_REST#*://}" "$SJOB" >/dev/null 2>&1 || true
    else
        fail "stock config: flink run RUNNING, 0 restarts, on Zig" "${SJOB:-no job}: $(flink_error "$(cat "$STOCK/run.log")") $(grep -E '^FAIL' "$STOCK/health.log" 2>/dev/null | head -3 | tr '\n' ' ')"
    fi
else
    fail "stock cluster up (bin/jobmanager.sh, bin/taskmanager.sh)" "$(tail -5 "$STOCK/start.log")"
fi
(
    export FLINK_CONF_DIR="$STOCK/conf" FLINK_PID_DIR="$STOCK/pids" FLINK_LOG_DIR="$STOCK/log"
    "$FLINK_HOME/bin/taskmanager.sh" stop-all
    "$FLINK_HOME/bin/jobmanager.sh" stop-all
) >"$STOCK/stop.log" 2>&1 || true
STOCK=""
ENGRAM_REST=$SAVED_REST

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
