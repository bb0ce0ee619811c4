#!/usr/bin/env bash
# Starts a real Flink 2.2 standalone session cluster with the Flink distribution's own scripts (bin/jobmanager.sh,
# bin/taskmanager.sh of the distribution that deploy/flink/install_flink.sh installs into .tools/, or $FLINK_HOME)
# and deploy/flink/config.yaml: 1 JobManager and N TaskManagers (2 by default, 2 slots each), plus a real Kafka
# broker (KRaft, `engram broker`), all on 127.0.0.1 with free ports.
#
# The cluster's configuration directory is $ENGRAM_STATE_DIR/conf: the distribution's conf/ with our config.yaml and
# log4j.properties, and the per-run values (ports, checkpoint/savepoint/upload/tmp dirs) set in it by the
# distribution's bin/config-parser-utils.sh. It is also the FLINK_CONF_DIR of the `flink` CLI: after
#     source $ENGRAM_STATE_DIR/cluster.env
# `$FLINK_HOME/bin/flink run|list|savepoint|stop|cancel` talk to this cluster. Logs go to $ENGRAM_STATE_DIR/log, the
# distribution's pid files to $ENGRAM_STATE_DIR/pids/flink, and every process this script started is recorded (pid +
# start time) in $ENGRAM_STATE_DIR/pids (jobmanager, taskmanager-1..N, broker) for stop_cluster.sh and the tests.
#
# Usage: start_cluster.sh [--state-dir DIR] [--taskmanagers N] [--rest http://H:P] [--bootstrap-servers H:P]
#                         [--no-broker] [--persistent-broker] [--config FILE] [--timeout SECONDS]
#   --taskmanagers N         TaskManagers to start (default $ENGRAM_TASKMANAGERS or 2)
#   --rest URL               attach to an EXISTING Flink cluster: check it, start nothing of Flink.
#   --bootstrap-servers H:P  use an EXISTING Kafka broker: start none.
#   --no-broker              start no broker (and record none).
#   --persistent-broker      keep the broker's data in $ENGRAM_STATE_DIR/broker-data (default: a temporary dir
#                            deleted when the broker stops). Once that dir exists, every later start_cluster.sh on
#                            the state dir (e.g. after the broker crashed or was stopped with --only broker) resumes
#                            it on the SAME port with all topics, records, offsets and transactions.
#   --config FILE            the cluster configuration (default deploy/flink/config.yaml)
# Environment: ENGRAM_TM_JVM_OPTS = extra JVM options for the TaskManagers (e.g. -XX:NativeMemoryTracking=summary),
# handed to bin/taskmanager.sh as FLINK_ENV_JAVA_OPTS_TM.
# Idempotent: if the recorded processes are alive and answer, it prints their addresses and exits 0; if the
# JobManager runs but a TaskManager is gone (crashed, killed), it starts only the missing ones, on their old ports.
# Writes $ENGRAM_STATE_DIR/cluster.env (ENGRAM_REST=..., ENGRAM_BOOTSTRAP=..., FLINK_HOME, FLINK_CONF_DIR, metrics
# URLs), which every other script reads.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

CONFIG="$ENGRAM_DEPLOY_DIR/flink/config.yaml"
LOG4J="$ENGRAM_DEPLOY_DIR/flink/log4j.properties"
TIMEOUT=120
ATTACH_REST=""
ATTACH_BOOTSTRAP=""
WANT_BROKER=1
PERSIST_BROKER=0
TASKMANAGERS=${ENGRAM_TASKMANAGERS:-2}
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
        --taskmanagers) TASKMANAGERS=$2; shift 2 ;;
        --rest) ATTACH_REST=$2; shift 2 ;;
        --bootstrap-servers) ATTACH_BOOTSTRAP=$2; shift 2 ;;
        --no-broker) WANT_BROKER=0; shift ;;
        --persistent-broker) PERSIST_BROKER=1; shift ;;
        --config) CONFIG=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        -h|--help) print_help; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $TASKMANAGERS =~ ^[1-9][0-9]*$ ]] || die "--taskmanagers needs a positive integer, got '$TASKMANAGERS'"
require_tools java python3 unzip setsid
# This script trusts only its flags and its own state dir, not addresses left in the environment by another cluster.
unset ENGRAM_REST ENGRAM_BOOTSTRAP ENGRAM_SAVEPOINT_DIR ENGRAM_JM_METRICS ENGRAM_TM_METRICS ENGRAM_CLUSTER_MANAGED \
    FLINK_CONF_DIR
load_cluster_env
ENGRAM_STATE_DIR=$(mkdir -p "$ENGRAM_STATE_DIR" && cd "$ENGRAM_STATE_DIR" && pwd)
PIDS="$ENGRAM_STATE_DIR/pids"
LOGS="$ENGRAM_STATE_DIR/log"
CONF="$ENGRAM_STATE_DIR/conf"
mkdir -p "$PIDS/flink" "$LOGS" "$ENGRAM_STATE_DIR/checkpoints" "$ENGRAM_STATE_DIR/savepoints" \
    "$ENGRAM_STATE_DIR/web-upload" "$ENGRAM_STATE_DIR/tmp"

# The processes this run started: stopped again if the start fails half-way.
STARTED=()
cleanup_on_failure() {
    local rc=$? name
    _on_exit
    if [ "$rc" -ne 0 ] && [ ${#STARTED[@]} -gt 0 ]; then
        for name in "${STARTED[@]}"; do
            warn "start failed: stopping the $name this run started"
            "$ENGRAM_SCRIPTS_DIR/stop_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" --only "$name" >&2 || true
        done
    fi
    exit "$rc"
}
trap cleanup_on_failure EXIT

recorded_alive() { # NAME -> 0 when the recorded process is alive and is the one we started
    local f="$PIDS/$1.pid" pid st
    [ -f "$f" ] || return 1
    read -r pid st <"$f" || return 1
    pid_alive "$pid" && [ "$(pid_start_time "$pid")" = "$st" ]
}

# launch NAME LOGFILE CMD...: starts CMD (the broker) as the leader of a new session (so stop_cluster.sh can end
# exactly it and its children), records "PID STARTTIME".
launch() {
    local name=$1 logf=$2 pid
    shift 2
    setsid nohup "$@" >"$logf" 2>&1 </dev/null &
    pid=$!
    sleep 0.2
    pid_alive "$pid" || die "$name exited at once; see $logf: $(tail -5 "$logf")"
    echo "$pid $(pid_start_time "$pid")" >"$PIDS/$name.pid"
    STARTED+=("$name")
    log "    $name pid $pid, log $logf"
}

tail_log() { # shows the end of a log when something does not come up
    [ -n "${1:-}" ] || return 0
    echo "----- last lines of $1 -----" >&2
    tail -n "${2:-30}" "$1" >&2 || true
    echo "-----" >&2
}

# cluster.env: read by the other deploy scripts (load_cluster_env), and sourced by people before `$FLINK_HOME/bin/flink`.
write_env() {
    local k
    {
        echo "# written by start_cluster.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ): source it, or let the deploy scripts read it"
        for k in ENGRAM_REST ENGRAM_BOOTSTRAP ENGRAM_SAVEPOINT_DIR ENGRAM_JM_METRICS ENGRAM_TM_METRICS \
            ENGRAM_CLUSTER_MANAGED FLINK_HOME FLINK_CONF_DIR; do
            printf 'export %s="%s"\n' "$k" "${!k:-}"
        done
    } >"$ENGRAM_STATE_DIR/cluster.env"
}

# ----- Kafka (launched first: it starts while the Flink JVMs come up) -------------------------------------------

step "Kafka broker"
BROKER_WAIT=0
if [ -n "$ATTACH_BOOTSTRAP" ]; then
    ENGRAM_BOOTSTRAP=$ATTACH_BOOTSTRAP
    log "    using the existing broker at $ENGRAM_BOOTSTRAP (none started)"
elif [ "$WANT_BROKER" = 0 ]; then
    ENGRAM_BOOTSTRAP=""
    log "    --no-broker: none started"
elif recorded_alive broker && [ -n "${ENGRAM_BOOTSTRAP:-}" ]; then
    log "    already running (pid $(cut -d' ' -f1 "$PIDS/broker.pid")) at $ENGRAM_BOOTSTRAP"
else
    if [ -f "$PIDS/broker.pid" ] && ! recorded_alive broker; then rm -f "$PIDS/broker.pid"; fi
    rm -f "$ENGRAM_STATE_DIR/broker.port"
    # `engram broker` formats a fresh KRaft log, creates the engram topics, writes the port file once it is ready
    # and serves in the foreground until SIGTERM.
    if [ -n "${ENGRAM_CLI:-}" ]; then BROKER_CMD=("$ENGRAM_CLI");
    elif [ -x "$ENGRAM_HOME/engram" ]; then BROKER_CMD=("$ENGRAM_HOME/engram");
    else BROKER_CMD=(java @"$ENGRAM_LOCAL_DIR/jvm.options" -cp "$ENGRAM_LOCAL_DIR/lib/*" io.engram.job.cli.EngramCli); fi
    # The broker's own (Kafka) log goes to the state dir too, not to the launcher's shared default.
    # A persistent broker (--persistent-broker, remembered by its data dir) keeps topics, records, offsets and
    # transactions in $ENGRAM_STATE_DIR/broker-data and comes back on the same port when it is started again.
    BROKER_DATA=()
    if [ "$PERSIST_BROKER" = 1 ] || [ -f "$ENGRAM_STATE_DIR/broker-data/engram-broker.properties" ]; then
        BROKER_DATA=(--data-dir "$ENGRAM_STATE_DIR/broker-data")
        log "    persistent broker data in $ENGRAM_STATE_DIR/broker-data"
    fi
    # 4 partitions per topic: every source subtask of the job at parallelism 4 reads one.
    ENGRAM_LOG_FILE="$LOGS/broker-kafka.log" launch broker "$LOGS/broker.log" "${BROKER_CMD[@]}" broker --port 0 \
        --topics default --partitions 4 --port-file "$ENGRAM_STATE_DIR/broker.port" "${BROKER_DATA[@]}"
    BROKER_WAIT=1
fi

# ----- Flink ----------------------------------------------------------------------------------------------------

# The distribution's daemon scripts read these: pid files and logs in the state dir (never /tmp, where other
# clusters on this machine keep theirs), and a fixed ident, so pid file names do not depend on $USER.
export FLINK_PID_DIR="$PIDS/flink" FLINK_LOG_DIR="$LOGS" FLINK_IDENT_STRING=engram

# prepare_conf: $CONF = the distribution's conf/ + our config.yaml and log4j.properties + the per-run values.
prepare_conf() {
    [ -f "$CONFIG" ] || die "no Flink config at $CONFIG"
    rm -rf "$CONF"
    cp -r "$FLINK_HOME/conf" "$CONF"
    cp "$CONFIG" "$CONF/config.yaml"
    cp "$LOG4J" "$CONF/log4j.properties"
    "$FLINK_HOME/bin/config-parser-utils.sh" "$CONF" "$FLINK_HOME/bin" "$FLINK_HOME/lib" \
        -D "rest.port=$REST_PORT" -D "jobmanager.rpc.port=$RPC_PORT" \
        -D "execution.checkpointing.dir=file://$ENGRAM_STATE_DIR/checkpoints" \
        -D "execution.checkpointing.savepoint-dir=file://$ENGRAM_STATE_DIR/savepoints" \
        -D "web.upload.dir=$ENGRAM_STATE_DIR/web-upload" \
        -D "io.tmp.dirs=$ENGRAM_STATE_DIR/tmp" >"$LOGS/config-parser.log" 2>&1 \
        || { tail_log "$LOGS/config-parser.log"; die "the distribution's config-parser-utils.sh could not write $CONF/config.yaml from $CONFIG"; }
    # For bin/start-cluster.sh / stop-cluster.sh users: the same cluster shape.
    echo "127.0.0.1:$REST_PORT" >"$CONF/masters"
    local i
    : >"$CONF/workers"
    for i in $(seq 1 "$TASKMANAGERS"); do echo 127.0.0.1 >>"$CONF/workers"; done
}

# daemon NAME SCRIPT ARGS...: starts a JobManager or TaskManager with the distribution's bin/SCRIPT (in its own
# session, so a Ctrl-C or a test's time limit in the caller's terminal does not reach it) and records its JVM: the
# line bin/flink-daemon.sh appends to its pid file.
daemon() {
    local name=$1 script=$2 kind pidfile before pid
    shift 2
    case "$script" in jobmanager.sh) kind=standalonesession ;; *) kind=taskexecutor ;; esac
    pidfile="$FLINK_PID_DIR/flink-$FLINK_IDENT_STRING-$kind.pid"
    before=0
    [ ! -f "$pidfile" ] || before=$(wc -l <"$pidfile")
    setsid -w "$FLINK_HOME/bin/$script" start "$@" >>"$LOGS/$name.start" 2>&1 </dev/null \
        || { tail_log "$LOGS/$name.start"; die "bin/$script start failed"; }
    [ -f "$pidfile" ] && [ "$(wc -l <"$pidfile")" -gt "$before" ] \
        || { tail_log "$LOGS/$name.start"; die "bin/$script start recorded no process in $pidfile"; }
    pid=$(tail -1 "$pidfile")
    pid_alive "$pid" || { tail_log "$LOGS/$name.start"; die "$name (pid $pid) exited at once"; }
    echo "$pid $(pid_start_time "$pid")" >"$PIDS/$name.pid"
    STARTED+=("$name")
    log "    $name pid $pid (bin/$script), log $(daemon_log "$name")"
}

start_taskmanager() { # N: TaskManager N with its own Prometheus port
    local n=$1 port
    port=$(cut -d' ' -f"$n" <<<"$TM_PROMS")
    # ENGRAM_TM_JVM_OPTS: extra JVM options for the TaskManagers only (the soak test passes NMT flags this way).
    [ -z "${ENGRAM_TM_JVM_OPTS:-}" ] || log "    extra TaskManager JVM options (ENGRAM_TM_JVM_OPTS): $ENGRAM_TM_JVM_OPTS"
    FLINK_ENV_JAVA_OPTS_TM="${ENGRAM_TM_JVM_OPTS:-}" daemon "taskmanager-$n" taskmanager.sh \
        -D "metrics.reporter.prom.port=$port"
}

slots_per_tm() { sed -n 's/^ *numberOfTaskSlots: *//p' "$CONF/config.yaml" | tr -d "'\"" | head -1; }

# wait_taskmanagers: until the slots of all TaskManagers are registered. A dead predecessor may still be listed
# until its heartbeat times out, so count slots of live TaskManagers. Despite its name, REST's
# timeSinceLastHeartbeat is the epoch millis of the last heartbeat (0 before the first one).
wait_taskmanagers() {
    local want=$((TASKMANAGERS * $(slots_per_tm))) t0 n
    step "wait for $TASKMANAGERS TaskManager(s) to register ($want slots)"
    t0=$(date +%s)
    until [ "$(rest GET /taskmanagers | jq -r --argjson now "$(date +%s%3N)" \
                '[.taskmanagers[] | select(.timeSinceLastHeartbeat == 0 or ($now - .timeSinceLastHeartbeat) < 15000)]
                 | map(.slotsNumber) | add // 0')" -ge "$want" ] \
        && [ "$(rest GET /overview | jq -r '."slots-total"')" -ge "$want" ]; do
        for n in $(seq 1 "$TASKMANAGERS"); do
            recorded_alive "taskmanager-$n" || { tail_log "$(daemon_log "taskmanager-$n")"; die "taskmanager-$n died while starting"; }
        done
        [ $(($(date +%s) - t0)) -lt "$TIMEOUT" ] || { tail_log "$(daemon_log taskmanager-1)"; die "TaskManager not registered after ${TIMEOUT}s"; }
        sleep 0.5
    done
}

cluster_urls() {
    local p
    ENGRAM_REST="http://127.0.0.1:$REST_PORT"
    ENGRAM_SAVEPOINT_DIR="file://$ENGRAM_STATE_DIR/savepoints"
    ENGRAM_JM_METRICS="http://127.0.0.1:$JM_PROM/metrics"
    ENGRAM_TM_METRICS=""
    for p in $TM_PROMS; do ENGRAM_TM_METRICS="$ENGRAM_TM_METRICS${ENGRAM_TM_METRICS:+ }http://127.0.0.1:$p/metrics"; done
    ENGRAM_CLUSTER_MANAGED=1
    # bin/jobmanager.sh and bin/taskmanager.sh read the configuration from here.
    export FLINK_CONF_DIR=$CONF
}

step "Flink cluster"
if [ -n "$ATTACH_REST" ]; then
    ENGRAM_REST=$ATTACH_REST
    need_rest
    rest_ok /overview || die "no Flink cluster answers at $ENGRAM_REST/overview"
    FLINK_HOME=$("$ENGRAM_DEPLOY_DIR/flink/install_flink.sh")
    # A client-only conf dir for the `flink` CLI: where the cluster's REST endpoint is, nothing else (a job
    # submitted from here gets no setting from it).
    rm -rf "$CONF"
    mkdir -p "$CONF"
    cp "$FLINK_HOME/conf/log4j-cli.properties" "$CONF/"
    hp=${ENGRAM_REST#*://}
    printf 'rest:\n  address: %s\n  port: %s\n' "${hp%%:*}" "${hp##*:}" >"$CONF/config.yaml"
    export FLINK_CONF_DIR=$CONF
    ENGRAM_CLUSTER_MANAGED=0
    ENGRAM_JM_METRICS=""
    ENGRAM_TM_METRICS=""
    ENGRAM_SAVEPOINT_DIR="${ENGRAM_SAVEPOINT_DIR:-}"
    log "    attached to the existing cluster at $ENGRAM_REST (nothing of Flink started)"
elif recorded_alive jobmanager && [ -n "${ENGRAM_REST:-}" ] && rest_ok /overview; then
    [ -f "$ENGRAM_STATE_DIR/ports.env" ] || die "the cluster runs but $ENGRAM_STATE_DIR/ports.env is missing: run stop_cluster.sh, then start_cluster.sh"
    # shellcheck disable=SC1091
    source "$ENGRAM_STATE_DIR/ports.env"
    FLINK_HOME=$("$ENGRAM_DEPLOY_DIR/flink/install_flink.sh")
    cluster_urls
    missing=()
    for n in $(seq 1 "$TASKMANAGERS"); do recorded_alive "taskmanager-$n" || missing+=("$n"); done
    if [ ${#missing[@]} -eq 0 ]; then
        log "    already running (JobManager pid $(cut -d' ' -f1 "$PIDS/jobmanager.pid"), $TASKMANAGERS TaskManager(s)) at $ENGRAM_REST"
    else
        # The JobManager is up but TaskManagers are gone (crashed, killed): start only those, on the ports this
        # cluster was started with. Running jobs recover on them by their restart strategy.
        for n in "${missing[@]}"; do
            log "    JobManager running at $ENGRAM_REST, taskmanager-$n missing: starting only the TaskManager"
            rm -f "$PIDS/taskmanager-$n.pid"
            step "TaskManager $n (restart, bin/taskmanager.sh)"
            start_taskmanager "$n"
        done
        wait_taskmanagers
    fi
else
    for f in "$PIDS"/jobmanager.pid "$PIDS"/taskmanager-*.pid; do
        [ -f "$f" ] || continue
        n=$(basename "$f" .pid)
        if recorded_alive "$n"; then
            die "a half-running cluster is recorded in $ENGRAM_STATE_DIR ($n alive, JobManager not answering): run stop_cluster.sh first"
        fi
        rm -f "$f"
    done
    FLINK_HOME=$("$ENGRAM_DEPLOY_DIR/flink/install_flink.sh")
    REST_PORT=$(free_port)
    RPC_PORT=$(free_port)
    JM_PROM=$(free_port)
    TM_PROMS=""
    for n in $(seq 1 "$TASKMANAGERS"); do TM_PROMS="$TM_PROMS${TM_PROMS:+ }$(free_port)"; done
    printf 'REST_PORT=%s\nRPC_PORT=%s\nJM_PROM=%s\nTM_PROMS="%s"\nTASKMANAGERS=%s\n' "$REST_PORT" "$RPC_PORT" \
        "$JM_PROM" "$TM_PROMS" "$TASKMANAGERS" >"$ENGRAM_STATE_DIR/ports.env"
    log "    Flink distribution $FLINK_HOME"
    log "    ports: rest $REST_PORT, jobmanager rpc $RPC_PORT, prometheus jm $JM_PROM / tm $TM_PROMS"
    prepare_conf
    cluster_urls
    step "JobManager (bin/jobmanager.sh)"
    daemon jobmanager jobmanager.sh -D "metrics.reporter.prom.port=$JM_PROM"
    step "wait for the JobManager's REST endpoint at $ENGRAM_REST"
    t0=$(date +%s)
    until rest_ok /overview; do
        recorded_alive jobmanager || { tail_log "$(daemon_log jobmanager)"; die "the JobManager died while starting"; }
        [ $(($(date +%s) - t0)) -lt "$TIMEOUT" ] || { tail_log "$(daemon_log jobmanager)"; die "REST not up after ${TIMEOUT}s"; }
        sleep 0.5
    done
    for n in $(seq 1 "$TASKMANAGERS"); do
        step "TaskManager $n of $TASKMANAGERS (bin/taskmanager.sh)"
        start_taskmanager "$n"
    done
    wait_taskmanagers
fi
write_env

# ----- wait for the broker -------------------------------------------------------------------------------------

if [ "$BROKER_WAIT" = 1 ]; then
    step "wait for the broker and its topics"
    t0=$(date +%s)
    # The port file appears once the broker is ready and the topics exist: "bootstrap.servers=127.0.0.1:PORT"
    # (a bare port number is accepted too).
    until [ -s "$ENGRAM_STATE_DIR/broker.port" ]; do
        recorded_alive broker || { tail_log "$LOGS/broker.log"; die "the broker exited while starting"; }
        [ $(($(date +%s) - t0)) -lt "$TIMEOUT" ] || { tail_log "$LOGS/broker.log"; die "broker not up after ${TIMEOUT}s"; }
        sleep 0.3
    done
    bs=$(tr -d '[:space:]' <"$ENGRAM_STATE_DIR/broker.port")
    bs=${bs#bootstrap.servers=}
    case "$bs" in *:*) ENGRAM_BOOTSTRAP=$bs ;; *) ENGRAM_BOOTSTRAP="127.0.0.1:$bs" ;; esac
    (exec 3<>"/dev/tcp/${ENGRAM_BOOTSTRAP%:*}/${ENGRAM_BOOTSTRAP##*:}") 2>/dev/null \
        || die "broker port file says $ENGRAM_BOOTSTRAP but nothing listens there"
fi
write_env
finish

cat <<EOF

engram cluster ready (state dir $ENGRAM_STATE_DIR)
  Flink REST / web UI   $ENGRAM_REST
  Kafka bootstrap       ${ENGRAM_BOOTSTRAP:-(none)}
  metrics (Prometheus)  JobManager ${ENGRAM_JM_METRICS:-(unknown: attached cluster)}
                        TaskManagers ${ENGRAM_TM_METRICS:-(unknown: attached cluster)}
  savepoints            ${ENGRAM_SAVEPOINT_DIR:-(cluster default)}
  logs                  $LOGS
  Flink                 $FLINK_HOME (FLINK_CONF_DIR $FLINK_CONF_DIR)
  use it:               source $ENGRAM_STATE_DIR/cluster.env; \$FLINK_HOME/bin/flink list
  stop it:              $ENGRAM_SCRIPTS_DIR/stop_cluster.sh${ENGRAM_STATE_DIR:+ --state-dir $ENGRAM_STATE_DIR}
EOF
STARTED=()
