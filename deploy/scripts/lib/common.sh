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
#   ENGRAM_PARALLELISM job parallelism                   (default: 4: 2 TaskManagers x 2 slots)
#   FLINK_HOME         the Flink distribution            (default: from cluster.env, else .tools/ via
#                                                          deploy/flink/install_flink.sh)
#   FLINK_CONF_DIR     the `flink` CLI's configuration   (default: from cluster.env, the cluster's conf dir)
#   ENGRAM_JOB_CONF    extra "key=value,key=value" Flink/engram options for deploy_with_zig.sh (e.g. test settings)

ENGRAM_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENGRAM_DEPLOY_DIR="$(cd "$ENGRAM_SCRIPTS_DIR/.." && pwd)"
ENGRAM_HOME="$(cd "$ENGRAM_DEPLOY_DIR/.." && pwd)"
ENGRAM_STATE_DIR="${ENGRAM_STATE_DIR:-$ENGRAM_HOME/run/cluster}"
ENGRAM_LOCAL_DIR="${ENGRAM_LOCAL_DIR:-$ENGRAM_HOME/job/tools/target/engram-tools}"
ENGRAM_ENTRY_CLASS="${ENGRAM_ENTRY_CLASS:-io.engram.job.EngramJob}"
ENGRAM_PARALLELISM="${ENGRAM_PARALLELISM:-4}"
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
        k=${k#export }
        v=${v#\"}
        v=${v%\"}
        if [ -z "${!k:-}" ]; then
            printf -v "$k" '%s' "$v"
            export "${k?}"
        fi
    done <"$f"
}

# cluster_env_value KEY [STATE_DIR]: KEY's value in the cluster.env of the state dir ('' if none).
cluster_env_value() {
    [ -f "${2:-$ENGRAM_STATE_DIR}/cluster.env" ] || return 0
    sed -n "s/^\(export \)\{0,1\}$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\2/p" "${2:-$ENGRAM_STATE_DIR}/cluster.env" 2>/dev/null | tail -1
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

# ----- the flink CLI ------------------------------------------------------------------------------------------

# need_flink: FLINK_HOME (the distribution: cluster.env, the environment, or installed into .tools/ now) and a
# FLINK_CONF_DIR for the client (the cluster's conf dir from cluster.env, else the state dir's client conf).
need_flink() {
    if [ -z "${FLINK_HOME:-}" ] || [ ! -x "$FLINK_HOME/bin/flink" ]; then
        FLINK_HOME=$("$ENGRAM_DEPLOY_DIR/flink/install_flink.sh") || die "no Flink distribution (deploy/flink/install_flink.sh failed)"
    fi
    export FLINK_HOME
    if [ -z "${FLINK_CONF_DIR:-}" ] || [ ! -f "$FLINK_CONF_DIR/config.yaml" ]; then
        FLINK_CONF_DIR="$ENGRAM_STATE_DIR/client-conf"
        mkdir -p "$FLINK_CONF_DIR"
        cp "$FLINK_HOME/conf/log4j-cli.properties" "$FLINK_CONF_DIR/" 2>/dev/null || true
        [ -f "$FLINK_CONF_DIR/config.yaml" ] || : >"$FLINK_CONF_DIR/config.yaml"
    fi
    export FLINK_CONF_DIR
}

# flink_cli ACTION ARGS...: the distribution's bin/flink ACTION against the cluster at $ENGRAM_REST (-m).
flink_cli() {
    local action=$1
    shift
    need_rest
    need_flink
    "$FLINK_HOME/bin/flink" "$action" -m "${ENGRAM_REST#*://}" "$@"
}

# flink_error OUTPUT: the lines of a failed `flink` command that say why (the job's own message first).
flink_error() {
    grep -E 'invalid configuration|engram:|Caused by|Exception:|ERROR' <<<"$1" | grep -vE '^\s+at ' | head -4 \
        | cut -c1-600 | tr '\n' ' '
}

# shown_conf KEY=VALUE...: the settings for a log line, secrets hidden.
shown_conf() {
    local kv out=""
    for kv in "$@"; do
        case "${kv%%=*}" in
            *password*|*secret*|*jaas*|*token*|*credential*|*private*|*.key) kv="${kv%%=*}=<hidden>" ;;
        esac
        out="$out${out:+ }$kv"
    done
    echo "$out"
}

# submit_job JAR MODE [SAVEPOINT]: `flink run -d` of JAR at parallelism $ENGRAM_PARALLELISM with the settings of the
# array SUBMIT_CONF (KEY=VALUE each, -D) and engram.kernels.mode=MODE, from SAVEPOINT if given. The job checks its
# configuration in the client, so a typo or an arena that cannot fit ends here with the job's own message and
# nothing submitted. Then waits until every task is RUNNING and sets SUBMITTED_JOB_ID; a job that fails to start is
# cancelled (flink cancel), so nothing flaps. The savepoint is never touched.
SUBMIT_CONF=()
submit_job() {
    local jar=$1 mode=$2 savepoint=${3:-} dargs=() kv out jid
    for kv in ${SUBMIT_CONF[@]+"${SUBMIT_CONF[@]}"} "engram.kernels.mode=$mode"; do dargs+=(-D "$kv"); done
    log "    jar $(basename "$jar") ($(du -h "$jar" | cut -f1), native library: $(jar_is_java_only "$jar" && echo none || echo yes))"
    log "    flink run -d -p $ENGRAM_PARALLELISM${savepoint:+ -s $savepoint} $(shown_conf ${SUBMIT_CONF[@]+"${SUBMIT_CONF[@]}"} "engram.kernels.mode=$mode") $(basename "$jar")"
    if ! out=$(flink_cli run -d -p "$ENGRAM_PARALLELISM" ${savepoint:+-s "$savepoint"} "${dargs[@]}" "$jar" 2>&1); then
        printf '%s\n' "$out" >>"$ENGRAM_STATE_DIR/log/flink-run.log" 2>/dev/null || true
        die "flink run refused the job (nothing was submitted${savepoint:+; savepoint untouched}): $(flink_error "$out")"
    fi
    jid=$(sed -n 's/.*Job has been submitted with JobID \([0-9a-f]\{32\}\).*/\1/p' <<<"$out" | head -1)
    [ -n "$jid" ] || die "flink run printed no job id: $(tail -3 <<<"$out" | tr '\n' ' ')"
    log "    job id $jid, waiting for all tasks RUNNING"
    # In the background so that `set -e` stays in force inside it (it is off inside an `if` condition).
    wait_job_running "$jid" "${SUBMIT_TIMEOUT:-120}" &
    if ! wait $!; then
        warn "cancelling the failed job $jid so it does not keep restarting"
        flink_cli cancel "$jid" >/dev/null 2>&1 || true
        die "job $jid did not start with mode=$mode${savepoint:+ from $savepoint} (savepoint untouched)"
    fi
    record_deployment "$jid" "$mode" "$jar" "$savepoint"
    SUBMITTED_JOB_ID=$jid
}

# Every deployment: one line in deployments.log, for people.
record_deployment() {
    printf '%s job=%s mode=%s jar=%s savepoint=%s parallelism=%s rest=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" \
        "$2" "$3" "${4:--}" "$ENGRAM_PARALLELISM" "$ENGRAM_REST" >>"$ENGRAM_STATE_DIR/deployments.log" 2>/dev/null || true
}

# stop_with_savepoint JOBID DIR: `flink stop --type canonical` (no drain: event time does not jump to the end; the
# canonical format restores on any state backend), waits for it, sets SAVEPOINT_PATH.
stop_with_savepoint() {
    local jid=$1 dir=${2:-} out t0
    if ! out=$(flink_cli stop --type canonical ${dir:+--savepointPath "$dir"} "$jid" 2>&1); then
        die "stop-with-savepoint of $jid failed, the job KEEPS RUNNING on its current kernels: $(flink_error "$out")"
    fi
    SAVEPOINT_PATH=$(sed -n 's/.*Savepoint completed\. Path: \(.*\)$/\1/p' <<<"$out" | tail -1)
    [ -n "$SAVEPOINT_PATH" ] || die "flink stop printed no savepoint path for $jid: $(tail -3 <<<"$out" | tr '\n' ' ')"
    # The job ends FINISHED once the savepoint is in.
    t0=$(date +%s)
    while [ "$(job_state "$jid")" != FINISHED ]; do
        [ $(($(date +%s) - t0)) -lt 60 ] || die "job $jid did not finish after its savepoint $SAVEPOINT_PATH"
        sleep 0.2
    done
}

# job_config JOBID FILE: the configuration the running job published (GET /jobs/{id}/config) into FILE.
job_config() {
    rest GET "/jobs/$1/config" >"$2"
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

# daemon_log NAME: the log file of a recorded Flink daemon (jobmanager, taskmanager-N) while it runs (the
# distribution names it flink-<ident>-<kind>-<n>-<host>.log and passes it as -Dlog.file).
daemon_log() {
    local pid
    read -r pid _ <"$ENGRAM_STATE_DIR/pids/$1.pid" 2>/dev/null || return 0
    tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | sed -n 's/^-Dlog.file=//p' | head -1
}
