# shellcheck shell=bash
# Shared helpers of the engram-flink operator scripts. Sourced, never run.
#
# Every script: set -euo pipefail, says what it does, times each step, and on failure exits non-zero with one
# "FAILED: ..." line that says what to do next. Settings come from flags first, then environment variables, then
# the cluster file that start_cluster.sh writes ($ENGRAM_STATE_DIR/cluster.env).
#
#   ENGRAM_STATE_DIR   cluster state directory           (default: <repo>/run/cluster; git-ignored)
#   ENGRAM_REST        Flink REST address, http://H:P     (default: from cluster.env)
#   ENGRAM_BOOTSTRAP   Kafka bootstrap servers H:P        (default: from cluster.env)
#   ENGRAM_JOB_JAR     the job jar to deploy              (default: job/target/engram-job-<version>.jar)
#   ENGRAM_JAVA_ONLY_JAR  the Java-only job jar           (default: job/target/engram-job-<version>-java-only.jar)
#   ENGRAM_SAVEPOINT_DIR  where stop-with-savepoint writes (default: the cluster's execution.checkpointing.savepoint-dir)
#   ENGRAM_CLI         the engram launcher               (default: <repo>/engram)
#   ENGRAM_PARALLELISM job parallelism                   (default: 2)
#   ENGRAM_JOB_CONF    extra "key=value,key=value" Flink/engram options for every submission (e.g. test settings)

ENGRAM_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENGRAM_DEPLOY_DIR="$(cd "$ENGRAM_SCRIPTS_DIR/.." && pwd)"
ENGRAM_HOME="$(cd "$ENGRAM_DEPLOY_DIR/.." && pwd)"
ENGRAM_STATE_DIR="${ENGRAM_STATE_DIR:-$ENGRAM_HOME/run/cluster}"
ENGRAM_LOCAL_DIR="${ENGRAM_LOCAL_DIR:-$ENGRAM_HOME/job/tools/target/engram-tools}"
ENGRAM_ENTRY_CLASS="${ENGRAM_ENTRY_CLASS:-io.engram.job.EngramJob}"
ENGRAM_PARALLELISM="${ENGRAM_PARALLELISM:-2}"
ENGRAM_JOB_NAME="engram-flink"
SCRIPT_NAME="$(basename "$0" .sh)"

# --help: the script's header comment (everything from line 2 up to the first non-comment line).
print_help() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }

# ----- output -------------------------------------------------------------------------------------------------

now_ms() { date +%s%3N; }
fmt_ms() { printf '%d.%03d s' $(($1 / 1000)) $(($1 % 1000)); }
log() { printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "$SCRIPT_NAME" "$*"; }
warn() { printf '%s [%s] WARNING: %s\n' "$(date +%H:%M:%S)" "$SCRIPT_NAME" "$*" >&2; }
die() {
    printf '%s [%s] FAILED: %s\n' "$(date +%H:%M:%S)" "$SCRIPT_NAME" "$*" >&2
    exit 1
}

SCRIPT_T0=$(now_ms)
STEP_NAME=""
STEP_T0=0
# step "what happens now": starts a timed step (ends the previous one).
step() {
    step_end
    STEP_NAME="$1"
    STEP_T0=$(now_ms)
    log "==> $STEP_NAME"
}
# step_end: prints how long the current step took. Returns the duration in STEP_MS.
STEP_MS=0
step_end() {
    if [ -n "$STEP_NAME" ]; then
        STEP_MS=$(($(now_ms) - STEP_T0))
        log "    done: $STEP_NAME ($(fmt_ms "$STEP_MS"))"
        STEP_NAME=""
    fi
}
# Scripts call this last: closes the open step, prints the total time.
finish() {
    step_end
    log "total $(fmt_ms $(($(now_ms) - SCRIPT_T0)))"
}
# On any unexpected exit, say which step was running.
_on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ -n "$STEP_NAME" ]; then
        printf '%s [%s] FAILED during step "%s" after %s (exit %d)\n' "$(date +%H:%M:%S)" "$SCRIPT_NAME" \
            "$STEP_NAME" "$(fmt_ms $(($(now_ms) - STEP_T0)))" "$rc" >&2
    fi
}
trap _on_exit EXIT

require_tools() {
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null 2>&1 || die "'$t' is not installed (needed by $SCRIPT_NAME): apt-get install $t"
    done
}
require_tools curl jq

# ----- cluster file -------------------------------------------------------------------------------------------

# Scripts call this after parsing their flags (flags win, then the environment, then the file).
# Reads $ENGRAM_STATE_DIR/cluster.env (written by start_cluster.sh) without overriding what the caller set.
load_cluster_env() {
    local f="$ENGRAM_STATE_DIR/cluster.env" k v
    [ -f "$f" ] || return 0
    while IFS='=' read -r k v; do
        case "$k" in ''|\#*) continue ;; esac
        if [ -z "${!k:-}" ]; then
            printf -v "$k" '%s' "$v"
            export "${k?}"
        fi
    done <"$f"
}

need_rest() {
    [ -n "${ENGRAM_REST:-}" ] || die "no Flink REST address: pass --rest http://HOST:PORT, set ENGRAM_REST, or start a cluster with start_cluster.sh (state dir $ENGRAM_STATE_DIR)"
    ENGRAM_REST="${ENGRAM_REST%/}"
    case "$ENGRAM_REST" in http://*|https://*) ;; *) ENGRAM_REST="http://$ENGRAM_REST" ;; esac
}
need_bootstrap() {
    [ -n "${ENGRAM_BOOTSTRAP:-}" ] || die "no Kafka bootstrap servers: pass --bootstrap-servers HOST:PORT, set ENGRAM_BOOTSTRAP, or start a cluster with start_cluster.sh"
}

# ----- jars ---------------------------------------------------------------------------------------------------

default_job_jar() {
    local j
    for j in "$ENGRAM_HOME"/job/target/engram-job-*.jar; do
        case "$j" in *-java-only.jar|*-classes.jar|*/original-*|*-sources.jar|*-tests.jar) continue ;; esac
        [ -f "$j" ] && { echo "$j"; return 0; }
    done
    echo "$ENGRAM_HOME/job/target/engram-job.jar"
}
default_java_only_jar() {
    local j
    for j in "$ENGRAM_HOME"/job/target/engram-job-*-java-only.jar; do
        [ -f "$j" ] && { echo "$j"; return 0; }
    done
    echo "$ENGRAM_HOME/job/target/engram-job-java-only.jar"
}
ENGRAM_JOB_JAR="${ENGRAM_JOB_JAR:-$(default_job_jar)}"
ENGRAM_JAVA_ONLY_JAR="${ENGRAM_JAVA_ONLY_JAR:-$(default_java_only_jar)}"

# True (0) when the jar carries no native library at all.
jar_is_java_only() {
    local n
    # (no grep -q in a pipe: under pipefail its early exit would fail unzip with SIGPIPE)
    n=$(unzip -Z1 "$1" 2>/dev/null | grep -Ec '(^|/)libengram\.(so|dylib|dll)$' || true)
    [ "${n:-0}" -eq 0 ]
}

# ----- the engram CLI -----------------------------------------------------------------------------------------

# engram_cli ARGS...: the repo's ./engram launcher, or the CLI class straight from the local distribution.
engram_cli() {
    # Each command logs to the cluster's log dir (the launcher's default is one shared file per user).
    if [ -z "${ENGRAM_LOG_FILE:-}" ] && [ -d "$ENGRAM_STATE_DIR/log" ]; then
        local ENGRAM_LOG_FILE="$ENGRAM_STATE_DIR/log/cli-${1:-engram}.log"
        export ENGRAM_LOG_FILE
    fi
    if [ -n "${ENGRAM_CLI:-}" ]; then
        "$ENGRAM_CLI" "$@"
    elif [ -x "$ENGRAM_HOME/engram" ]; then
        "$ENGRAM_HOME/engram" "$@"
    elif [ -d "$ENGRAM_LOCAL_DIR/lib" ]; then
        java @"$ENGRAM_LOCAL_DIR/jvm.options" -cp "$ENGRAM_LOCAL_DIR/lib/*" io.engram.job.cli.EngramCli "$@"
    else
        die "the engram CLI is not built: run 'mvn -B -DskipTests package' in $ENGRAM_HOME"
    fi
}

# ----- REST ---------------------------------------------------------------------------------------------------

REST_TIMEOUT="${REST_TIMEOUT:-30}"

# rest METHOD PATH [JSON]: prints the response body; dies with Flink's error message on HTTP >= 400.
rest() {
    local method=$1 path=$2 body=${3:-} out code
    out=$(mktemp)
    if [ -n "$body" ]; then
        code=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
            --data "$body" --max-time "$REST_TIMEOUT" "$ENGRAM_REST$path") || code=000
    else
        code=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" --max-time "$REST_TIMEOUT" "$ENGRAM_REST$path") \
            || code=000
    fi
    if [ "$code" = 000 ]; then
        rm -f "$out"
        die "cannot reach Flink REST at $ENGRAM_REST ($method $path): is the cluster up? (start_cluster.sh / --rest)"
    fi
    if [ "$code" -ge 400 ]; then
        local msg
        msg=$(jq -r '(.errors // []) | map(tostring) | join(" | ")' <"$out" 2>/dev/null | head -c 1500 || true)
        [ -n "$msg" ] || msg=$(head -c 1500 "$out")
        rm -f "$out"
        die "REST $method $path -> HTTP $code: $msg"
    fi
    cat "$out"
    rm -f "$out"
}
# rest_ok PATH: 0 when GET PATH answers 200.
rest_ok() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$ENGRAM_REST$1" 2>/dev/null)" = 200 ]
}

# ----- jobs ---------------------------------------------------------------------------------------------------

# find_job_id: the one RUNNING (or restarting) engram job on the cluster; dies if there is none or several.
find_job_id() {
    local ids n
    ids=$(rest GET /jobs/overview | jq -r --arg n "$ENGRAM_JOB_NAME" \
        '.jobs[] | select(.name == $n and (.state | IN("RUNNING","RESTARTING","CREATED","INITIALIZING","FAILING","RECONCILING"))) | .jid')
    n=$(printf '%s' "$ids" | grep -c . || true)
    [ "$n" -ge 1 ] || die "no running '$ENGRAM_JOB_NAME' job on $ENGRAM_REST: pass --job-id, or deploy one with deploy_with_zig.sh"
    [ "$n" -eq 1 ] || die "$n running '$ENGRAM_JOB_NAME' jobs on $ENGRAM_REST ($(echo $ids)): pass --job-id"
    printf '%s\n' "$ids"
}

job_state() { rest GET "/jobs/$1" | jq -r '.state'; }

# root_cause JOBID: the newest exception of the job, one line.
root_cause() {
    rest GET "/jobs/$1/exceptions?maxExceptions=1" | jq -r '
        (.exceptionHistory.entries[0] // {}) as $e
        | if $e == {} then "no exception recorded"
          else "\($e.exceptionName // "?"): \(($e.stacktrace // "") | split("\n") | map(select(test("Caused by|Exception|Error"))) | last // "" | .[0:400])"
          end' 2>/dev/null || echo "unknown"
}

# wait_job_running JOBID TIMEOUT_S: until the job and ALL its tasks are RUNNING. Dies at once if the job fails,
# restarts or records an exception (a bad deploy must not flap quietly).
wait_job_running() {
    local jid=$1 timeout=${2:-120} t0 j state pending nexc
    t0=$(date +%s)
    while true; do
        j=$(rest GET "/jobs/$jid")
        state=$(jq -r '.state' <<<"$j")
        pending=$(jq -r '[.vertices[] | select(.status != "RUNNING" and .status != "FINISHED")] | length' <<<"$j")
        case "$state" in
            FAILED|CANCELED|CANCELLING|FINISHED|SUSPENDED)
                die "job $jid is $state instead of RUNNING: $(root_cause "$jid")" ;;
        esac
        nexc=$(rest GET "/jobs/$jid/exceptions?maxExceptions=1" | jq -r '.exceptionHistory.entries | length')
        if [ "$state" = RESTARTING ] || [ "$nexc" -gt 0 ]; then
            die "job $jid failed while starting (state $state): $(root_cause "$jid")"
        fi
        if [ "$state" = RUNNING ] && [ "$pending" -eq 0 ]; then
            return 0
        fi
        if [ $(($(date +%s) - t0)) -ge "$timeout" ]; then
            die "job $jid not RUNNING after ${timeout}s (state $state, $pending vertices not running)"
        fi
        sleep 0.5
    done
}

# upload_jar PATH: uploads to the cluster, prints the jar id.
upload_jar() {
    local jar=$1 out code
    [ -f "$jar" ] || die "jar not found: $jar (build it: mvn -B -DskipTests package)"
    out=$(mktemp)
    code=$(curl -sS -o "$out" -w '%{http_code}' -X POST -F "jarfile=@$jar" --max-time 300 "$ENGRAM_REST/jars/upload") \
        || code=000
    [ "$code" = 200 ] || { local m; m=$(head -c 800 "$out"); rm -f "$out"; die "jar upload to $ENGRAM_REST failed (HTTP $code): $m"; }
    jq -r '.filename' <"$out" | xargs basename
    rm -f "$out"
}

# submit_job JAR MODE [SAVEPOINT] [BASE_CONF_JSON]: uploads JAR, runs it with engram.kernels.mode=MODE (from SAVEPOINT
# if given), waits until every task is RUNNING, sets SUBMITTED_JOB_ID. The job's flinkConfiguration is
# BASE_CONF_JSON (a switch passes the recorded configuration of the job it replaces), then the bootstrap servers,
# then $ENGRAM_JOB_CONF, then the mode. On a failed start the half-started job is cancelled, so nothing flaps; the
# savepoint is never touched.
submit_job() {
    local jar=$1 mode=$2 savepoint=${3:-} base=${4:-"{}"} jar_id conf body jid kv k v
    need_rest
    conf=$base
    if [ -n "${ENGRAM_BOOTSTRAP:-}" ]; then
        conf=$(jq --arg bs "$ENGRAM_BOOTSTRAP" '. + {"engram.kafka.bootstrap-servers": $bs}' <<<"$conf")
    fi
    [ "$(jq -r '."engram.kafka.bootstrap-servers" // empty' <<<"$conf")" != "" ] || need_bootstrap
    if [ -n "${ENGRAM_JOB_CONF:-}" ]; then
        IFS=',' read -r -a kv <<<"$ENGRAM_JOB_CONF"
        for k in "${kv[@]}"; do
            v=${k#*=}
            k=${k%%=*}
            conf=$(jq --arg k "$k" --arg v "$v" '. + {($k): $v}' <<<"$conf")
        done
    fi
    conf=$(jq --arg mode "$mode" '. + {"engram.kernels.mode": $mode}' <<<"$conf")
    log "    jar $(basename "$jar") ($(du -h "$jar" | cut -f1), native library: $(jar_is_java_only "$jar" && echo none || echo yes))"
    jar_id=$(upload_jar "$jar")
    log "    uploaded as $jar_id"
    body=$(jq -n --arg ec "$ENGRAM_ENTRY_CLASS" --argjson p "$ENGRAM_PARALLELISM" --argjson conf "$conf" \
        --arg sp "$savepoint" \
        '{entryClass: $ec, parallelism: $p, programArgsList: [], flinkConfiguration: $conf}
         + (if $sp != "" then {savepointPath: $sp, allowNonRestoredState: false} else {} end)')
    log "    run: mode=$mode parallelism=$ENGRAM_PARALLELISM${savepoint:+ savepoint=$savepoint} conf=$(jq -c . <<<"$conf")"
    jid=$(rest POST "/jars/$jar_id/run" "$body" | jq -r '.jobid')
    [ -n "$jid" ] && [ "$jid" != null ] || die "the cluster accepted the jar but returned no job id"
    log "    job id $jid, waiting for all tasks RUNNING"
    # In the background so that `set -e` stays in force inside it (it is off inside an `if` condition).
    wait_job_running "$jid" "${SUBMIT_TIMEOUT:-120}" &
    if ! wait $!; then
        warn "cancelling the failed job $jid so it does not keep restarting"
        curl -sS -o /dev/null -X PATCH --max-time 10 "$ENGRAM_REST/jobs/$jid?mode=cancel" || true
        # The upload is no longer needed either way.
        curl -sS -o /dev/null -X DELETE --max-time 10 "$ENGRAM_REST/jars/$jar_id" || true
        die "job $jid did not start with mode=$mode${savepoint:+ from $savepoint} (savepoint untouched)"
    fi
    # Running jobs keep their own copy in the blob store: the upload can go.
    curl -sS -o /dev/null -X DELETE --max-time 10 "$ENGRAM_REST/jars/$jar_id" || true
    record_deployment "$jid" "$mode" "$jar" "$savepoint" "$conf"
    SUBMITTED_JOB_ID=$jid
}

# Every deployment: one line in deployments.log (for people) and jobs/<job id>.json (for the switch scripts, so a
# rollback resubmits the same jar with the same configuration and parallelism, only the mode changed).
record_deployment() {
    mkdir -p "$ENGRAM_STATE_DIR/jobs" 2>/dev/null || return 0
    printf '%s job=%s mode=%s jar=%s savepoint=%s rest=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" "$3" \
        "${4:--}" "$ENGRAM_REST" >>"$ENGRAM_STATE_DIR/deployments.log" 2>/dev/null || true
    jq -n --arg j "$1" --arg m "$2" --arg jar "$3" --arg sp "${4:-}" --argjson conf "${5:-"{}"}" \
        --argjson p "$ENGRAM_PARALLELISM" --arg rest "$ENGRAM_REST" --arg t "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        '{job_id: $j, mode: $m, jar: $jar, savepoint: $sp, parallelism: $p, rest: $rest, deployed_at: $t,
          flinkConfiguration: $conf}' >"$ENGRAM_STATE_DIR/jobs/$1.json" 2>/dev/null || true
}

# stop_with_savepoint JOBID DIR: stop-with-savepoint (no drain: event time does not jump to the end), waits for
# it, prints nothing, sets SAVEPOINT_PATH.
stop_with_savepoint() {
    local jid=$1 dir=${2:-} body rid t0 r status loc
    body=$(jq -n --arg d "$dir" '{drain: false, formatType: "CANONICAL"} + (if $d != "" then {targetDirectory: $d} else {} end)')
    rid=$(rest POST "/jobs/$jid/stop" "$body" | jq -r '."request-id"')
    [ -n "$rid" ] && [ "$rid" != null ] || die "the cluster returned no request id for stop-with-savepoint of $jid"
    log "    stop-with-savepoint requested (request $rid)"
    t0=$(date +%s)
    while true; do
        r=$(rest GET "/jobs/$jid/savepoints/$rid")
        status=$(jq -r '.status.id' <<<"$r")
        if [ "$status" = COMPLETED ]; then
            loc=$(jq -r '.operation.location // empty' <<<"$r")
            if [ -z "$loc" ]; then
                die "stop-with-savepoint of $jid failed, the job KEEPS RUNNING on its current kernels: $(jq -r '.operation."failure-cause"."stack-trace" // .operation."failure-cause" // "unknown" | tostring' <<<"$r" | grep -m3 -E 'Exception|Error' | head -c 600)"
            fi
            SAVEPOINT_PATH=$loc
            break
        fi
        [ $(($(date +%s) - t0)) -lt "${STOP_TIMEOUT:-180}" ] || die "stop-with-savepoint of $jid not complete after ${STOP_TIMEOUT:-180}s (status $status)"
        sleep 0.3
    done
    # The job ends FINISHED once the savepoint is in.
    t0=$(date +%s)
    while [ "$(job_state "$jid")" != FINISHED ]; do
        [ $(($(date +%s) - t0)) -lt 60 ] || die "job $jid did not finish after its savepoint $SAVEPOINT_PATH"
        sleep 0.2
    done
}

# ----- metrics (REST) -----------------------------------------------------------------------------------------

# memory_vertex JOBID: the id of the vertex that holds the memory-spaces operator.
memory_vertex() {
    rest GET "/jobs/$1" | jq -r '[.vertices[] | select(.name | test("memory-spaces"))][0].id // empty'
}

# operator_metric_ids JOBID VERTEX: the aggregated metric ids of the vertex (one per line).
operator_metric_ids() {
    rest GET "/jobs/$1/vertices/$2/subtasks/metrics" | jq -r '.[].id'
}

# agg_metric JOBID VERTEX METRIC_SUFFIX AGG: e.g. agg_metric J V engram.kernelMode min -> "1.0" (or empty when
# not reported yet). METRIC_SUFFIX is matched against the end of the metric id, so operator name prefixes are
# resolved at run time.
agg_metric() {
    local jid=$1 vid=$2 suffix=$3 agg=$4 id
    id=$(operator_metric_ids "$jid" "$vid" | grep -E "(^|\.)${suffix//./\\.}$" | head -1 || true)
    [ -n "$id" ] || return 0
    rest GET "/jobs/$jid/vertices/$vid/subtasks/metrics?get=$id&agg=$agg" | jq -r --arg a "$agg" '.[0][$a] // empty'
}

# ----- misc ---------------------------------------------------------------------------------------------------

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# pid_alive PID: the process exists and is not a zombie.
pid_alive() {
    local st
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ "$st" != Z ] && [ "$st" != X ]
}
# pid_start_time PID: the process's start time in clock ticks since boot (guards against PID reuse).
pid_start_time() {
    # Field 22 of /proc/PID/stat; the command name (field 2) may contain spaces, so cut after the last ')'.
    sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}
