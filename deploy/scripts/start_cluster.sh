#!/usr/bin/env bash
# Starts a real Flink 2.2 standalone session cluster (1 JobManager + 1 TaskManager with 2 slots) and a real Kafka
# broker (KRaft) on this machine, all on 127.0.0.1 with free ports, from the jars of the Maven build
# (deploy/target/flink-dist/lib, assembled by this module's pom; flink-dist is not on Maven Central). Each process is its own session/process group,
# logs to $ENGRAM_STATE_DIR/log, and is recorded in $ENGRAM_STATE_DIR/pids for stop_cluster.sh.
#
# The JVMs are started the way flink-dist's jobmanager.sh / taskmanager.sh start them: BashJavaUtils (flink-runtime)
# turns deploy/flink/config.yaml's memory settings into -Xmx/-XX:MaxDirectMemorySize/... and dynamic properties,
# and Flink's --add-opens/--add-exports flags are passed.
#
# Usage: start_cluster.sh [--state-dir DIR] [--rest http://H:P] [--bootstrap-servers H:P] [--no-broker]
#                         [--persistent-broker] [--config FILE] [--timeout SECONDS]
#   --rest URL               attach to an EXISTING Flink cluster: check it, start nothing of Flink.
#   --bootstrap-servers H:P  use an EXISTING Kafka broker: start none.
#   --no-broker              start no broker (and record none).
#   --persistent-broker      keep the broker's data in $ENGRAM_STATE_DIR/broker-data (default: a temporary dir
#                            deleted when the broker stops). Once that dir exists, every later start_cluster.sh on
#                            the state dir (e.g. after the broker crashed or was stopped with --only broker) resumes
#                            it on the SAME port with all topics, records, offsets and transactions.
# Environment: ENGRAM_TM_JVM_OPTS = extra JVM options for the TaskManager (e.g. -XX:NativeMemoryTracking=summary).
# Idempotent: if the recorded processes are alive and answer, it prints their addresses and exits 0.
# Writes $ENGRAM_STATE_DIR/cluster.env (ENGRAM_REST=..., ENGRAM_BOOTSTRAP=..., metrics URLs), which every other
# script reads.
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
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
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
require_tools java python3 unzip
# This script trusts only its flags and its own state dir, not addresses left in the environment by another cluster.
unset ENGRAM_REST ENGRAM_BOOTSTRAP ENGRAM_SAVEPOINT_DIR ENGRAM_JM_METRICS ENGRAM_TM_METRICS ENGRAM_CLUSTER_MANAGED
load_cluster_env
ENGRAM_STATE_DIR=$(mkdir -p "$ENGRAM_STATE_DIR" && cd "$ENGRAM_STATE_DIR" && pwd)
PIDS="$ENGRAM_STATE_DIR/pids"
LOGS="$ENGRAM_STATE_DIR/log"
CONF="$ENGRAM_STATE_DIR/conf"
mkdir -p "$PIDS" "$LOGS" "$CONF" "$ENGRAM_STATE_DIR/checkpoints" "$ENGRAM_STATE_DIR/savepoints" \
    "$ENGRAM_STATE_DIR/web-upload" "$ENGRAM_STATE_DIR/tmp" "$ENGRAM_STATE_DIR/plugins"
LIB="$ENGRAM_LOCAL_DIR/lib"
FLINK_LIB="${ENGRAM_FLINK_LIB:-$ENGRAM_DEPLOY_DIR/target/flink-dist/lib}"

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

# launch NAME LOGFILE CMD...: starts CMD as the leader of a new session (so stop_cluster.sh can end exactly it and
# its children), records "PID STARTTIME".
launch() {
    local name=$1 logf=$2 pid
    shift 2
    # FLINK_CONF_DIR / FLINK_PLUGINS_DIR as flink-dist sets them (an empty plugins dir: the Prometheus reporter is on
    # the classpath).
    FLINK_CONF_DIR="$CONF" FLINK_PLUGINS_DIR="$ENGRAM_STATE_DIR/plugins" setsid nohup "$@" >"$logf" 2>&1 </dev/null &
    pid=$!
    sleep 0.2
    pid_alive "$pid" || die "$name exited at once; see $logf: $(tail -5 "$logf")"
    echo "$pid $(pid_start_time "$pid")" >"$PIDS/$name.pid"
    STARTED+=("$name")
    log "    $name pid $pid, log $logf"
}

tail_log() { # shows the end of a log when something does not come up
    echo "----- last lines of $1 -----" >&2
    tail -n "${2:-30}" "$1" >&2 || true
    echo "-----" >&2
}

write_env() {
    {
        echo "# written by start_cluster.sh at $(date -u +%Y-%m-%dT%H:%M:%SZ); read by the other deploy scripts"
        echo "ENGRAM_REST=$ENGRAM_REST"
        echo "ENGRAM_BOOTSTRAP=${ENGRAM_BOOTSTRAP:-}"
        echo "ENGRAM_SAVEPOINT_DIR=${ENGRAM_SAVEPOINT_DIR:-}"
        echo "ENGRAM_JM_METRICS=${ENGRAM_JM_METRICS:-}"
        echo "ENGRAM_TM_METRICS=${ENGRAM_TM_METRICS:-}"
        echo "ENGRAM_CLUSTER_MANAGED=${ENGRAM_CLUSTER_MANAGED:-0}"
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
    else BROKER_CMD=(java @"$ENGRAM_LOCAL_DIR/jvm.options" -cp "$LIB/*" io.engram.job.cli.EngramCli); fi
    # The broker's own (Kafka) log goes to the state dir too, not to the launcher's shared default.
    # A persistent broker (--persistent-broker, remembered by its data dir) keeps topics, records, offsets and
    # transactions in $ENGRAM_STATE_DIR/broker-data and comes back on the same port when it is started again.
    BROKER_DATA=()
    if [ "$PERSIST_BROKER" = 1 ] || [ -f "$ENGRAM_STATE_DIR/broker-data/engram-broker.properties" ]; then
        BROKER_DATA=(--data-dir "$ENGRAM_STATE_DIR/broker-data")
        log "    persistent broker data in $ENGRAM_STATE_DIR/broker-data"
    fi
    ENGRAM_LOG_FILE="$LOGS/broker-kafka.log" launch broker "$LOGS/broker.log" "${BROKER_CMD[@]}" broker --port 0 --topics default --partitions 2 \
        --port-file "$ENGRAM_STATE_DIR/broker.port" "${BROKER_DATA[@]}"
    BROKER_WAIT=1
fi

# ----- Flink ----------------------------------------------------------------------------------------------------

# Classpath, config copy, JVM flags and memory sizing of both Flink JVMs (ports must be set).
prepare_flink() {
    [ -d "$FLINK_LIB" ] || die "no Flink cluster jars at $FLINK_LIB: build them with 'mvn -B -DskipTests package' in $ENGRAM_HOME (module deploy)"
    [ -f "$CONFIG" ] || die "no Flink config at $CONFIG"
    # Cluster classpath = deploy/target/flink-dist/lib (what flink-dist's lib/ holds): Flink runtime, clients, web,
    # RocksDB, Prometheus reporter, log4j. Never the job jar (uploaded per job; it carries kafka-clients itself, so
    # there is exactly one kafka-clients), never the Kafka broker.
    CP=""
    local j
    for j in "$FLINK_LIB"/*.jar; do
        case "$(basename "$j")" in engram-*|kafka*) die "$j does not belong on the cluster classpath" ;; esac
        CP="$CP${CP:+:}$j"
    done
    grep -q 'flink-runtime-[0-9]' <<<"$CP" || die "flink-runtime is missing from $FLINK_LIB"
    grep -q 'flink-statebackend-rocksdb' <<<"$CP" || warn "flink-statebackend-rocksdb is not in $FLINK_LIB: state.backend.type rocksdb will not work"
    grep -q 'frocksdbjni' <<<"$CP" || warn "frocksdbjni is not in $FLINK_LIB: state.backend.type rocksdb will not work"
    cp "$CONFIG" "$CONF/config.yaml"
    cp "$LOG4J" "$CONF/log4j.properties"
    # Flink's JDK 17 flags: env.java.opts.all of the config (flink-dist's scripts pass the same key).
    read -r -a JVM_FLAGS <<<"$(sed -n 's/^[[:space:]]*all:[[:space:]]*//p' "$CONFIG" | head -1)"
    [ ${#JVM_FLAGS[@]} -gt 0 ] || die "env.java.opts.all is missing from $CONFIG (Flink needs its --add-opens flags on JDK 17)"
    ENGRAM_REST="http://127.0.0.1:$REST_PORT"
    ENGRAM_SAVEPOINT_DIR="file://$ENGRAM_STATE_DIR/savepoints"
    ENGRAM_JM_METRICS="http://127.0.0.1:$JM_PROM/metrics"
    ENGRAM_TM_METRICS="http://127.0.0.1:$TM_PROM/metrics"
    ENGRAM_CLUSTER_MANAGED=1
    DYN=(-D "rest.port=$REST_PORT" -D "jobmanager.rpc.port=$RPC_PORT"
        -D "execution.checkpointing.dir=file://$ENGRAM_STATE_DIR/checkpoints"
        -D "execution.checkpointing.savepoint-dir=$ENGRAM_SAVEPOINT_DIR"
        -D "web.upload.dir=$ENGRAM_STATE_DIR/web-upload"
        -D "io.tmp.dirs=$ENGRAM_STATE_DIR/tmp")
    # BashJavaUtils (flink-runtime) prints two result lines: JVM memory flags, then -D dynamic properties. This is
    # exactly what flink-dist's jobmanager.sh / taskmanager.sh do.
    local jm tm
    jm=$(bju GET_JM_RESOURCE_PARAMS) || die "BashJavaUtils could not size the JobManager from $CONFIG"
    tm=$(bju GET_TM_RESOURCE_PARAMS) || die "BashJavaUtils could not size the TaskManager from $CONFIG"
    read -r -a JM_JVM <<<"$(sed -n 1p <<<"$jm")"
    read -r -a JM_DYN <<<"$(sed -n 2p <<<"$jm")"
    read -r -a TM_JVM <<<"$(sed -n 1p <<<"$tm")"
    read -r -a TM_DYN <<<"$(sed -n 2p <<<"$tm")"
    [ ${#TM_JVM[@]} -gt 0 ] && [ ${#TM_DYN[@]} -gt 0 ] || die "BashJavaUtils gave no TaskManager memory settings: check taskmanager.memory.* in $CONFIG"
}
bju() {
    java -cp "$CP" org.apache.flink.runtime.util.bash.BashJavaUtils "$1" --configDir "$CONF" "${DYN[@]}" 2>&1 \
        | grep '^BASH_JAVA_UTILS_EXEC_RESULT:' | sed 's/^BASH_JAVA_UTILS_EXEC_RESULT://'
}

start_taskmanager() {
    step "TaskManager (2 slots)"
    log "    taskmanager JVM: ${TM_JVM[*]}"
    # ENGRAM_TM_JVM_OPTS: extra JVM options for the TaskManager only (the soak test passes NMT flags this way).
    local extra=()
    [ -z "${ENGRAM_TM_JVM_OPTS:-}" ] || read -r -a extra <<<"$ENGRAM_TM_JVM_OPTS"
    [ ${#extra[@]} -eq 0 ] || log "    extra TaskManager JVM options (ENGRAM_TM_JVM_OPTS): ${extra[*]}"
    launch taskmanager "$LOGS/taskmanager.out" \
        java "${TM_JVM[@]}" "${JVM_FLAGS[@]}" ${extra[@]+"${extra[@]}"} -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$LOGS" \
        -Dlog.file="$LOGS/taskmanager.log" -Dlog4j.configurationFile="file:$CONF/log4j.properties" \
        -cp "$CP" org.apache.flink.runtime.taskexecutor.TaskManagerRunner \
        --configDir "$CONF" "${DYN[@]}" -D "metrics.reporter.prom.port=$TM_PROM" "${TM_DYN[@]}"
    step "wait for the TaskManager to register"
    local t0
    t0=$(date +%s)
    # Registered = its 2 slots are in the cluster (a dead predecessor may still be listed until its heartbeat
    # times out, so count slots of live TaskManagers, not TaskManagers). Despite its name, REST's
    # timeSinceLastHeartbeat is the epoch millis of the last heartbeat (0 before the first one).
    until [ "$(rest GET /taskmanagers | jq -r --argjson now "$(date +%s%3N)" \
                '[.taskmanagers[] | select(.timeSinceLastHeartbeat == 0 or ($now - .timeSinceLastHeartbeat) < 15000)]
                 | map(.slotsNumber) | add // 0')" -ge 2 ] \
        && [ "$(rest GET /overview | jq -r '."slots-total"')" -ge 2 ]; do
        recorded_alive taskmanager || { tail_log "$LOGS/taskmanager.log"; tail_log "$LOGS/taskmanager.out" 10; die "the TaskManager died while starting"; }
        [ $(($(date +%s) - t0)) -lt "$TIMEOUT" ] || { tail_log "$LOGS/taskmanager.log"; die "TaskManager not registered after ${TIMEOUT}s"; }
        sleep 0.5
    done
}

step "Flink cluster"
if [ -n "$ATTACH_REST" ]; then
    ENGRAM_REST=$ATTACH_REST
    need_rest
    rest_ok /overview || die "no Flink cluster answers at $ENGRAM_REST/overview"
    ENGRAM_CLUSTER_MANAGED=0
    ENGRAM_JM_METRICS=""
    ENGRAM_TM_METRICS=""
    ENGRAM_SAVEPOINT_DIR="${ENGRAM_SAVEPOINT_DIR:-}"
    log "    attached to the existing cluster at $ENGRAM_REST (nothing of Flink started)"
elif recorded_alive jobmanager && [ -n "${ENGRAM_REST:-}" ] && rest_ok /overview; then
    if recorded_alive taskmanager; then
        log "    already running (pids $(cut -d' ' -f1 "$PIDS/jobmanager.pid"), $(cut -d' ' -f1 "$PIDS/taskmanager.pid")) at $ENGRAM_REST"
    else
        # The JobManager is up but its TaskManager is gone (crashed, killed): start only the TaskManager, with
        # the ports this cluster was started with. Running jobs recover on it by their restart strategy.
        [ -f "$ENGRAM_STATE_DIR/ports.env" ] || die "the TaskManager is gone and $ENGRAM_STATE_DIR/ports.env is missing: run stop_cluster.sh, then start_cluster.sh"
        # shellcheck disable=SC1091
        source "$ENGRAM_STATE_DIR/ports.env"
        log "    JobManager running at $ENGRAM_REST, TaskManager missing: starting only the TaskManager"
        rm -f "$PIDS/taskmanager.pid"
        prepare_flink
        start_taskmanager
    fi
else
    if recorded_alive jobmanager || recorded_alive taskmanager; then
        die "a half-running cluster is recorded in $ENGRAM_STATE_DIR (JobManager not answering): run stop_cluster.sh first"
    fi
    REST_PORT=$(free_port)
    RPC_PORT=$(free_port)
    JM_PROM=$(free_port)
    TM_PROM=$(free_port)
    printf 'REST_PORT=%s\nRPC_PORT=%s\nJM_PROM=%s\nTM_PROM=%s\n' "$REST_PORT" "$RPC_PORT" "$JM_PROM" "$TM_PROM" \
        >"$ENGRAM_STATE_DIR/ports.env"
    log "    ports: rest $REST_PORT, jobmanager rpc $RPC_PORT, prometheus jm $JM_PROM / tm $TM_PROM"
    prepare_flink
    log "    jobmanager JVM: ${JM_JVM[*]}"
    launch jobmanager "$LOGS/jobmanager.out" \
        java "${JM_JVM[@]}" "${JVM_FLAGS[@]}" -XX:+HeapDumpOnOutOfMemoryError -XX:HeapDumpPath="$LOGS" \
        -Dlog.file="$LOGS/jobmanager.log" -Dlog4j.configurationFile="file:$CONF/log4j.properties" \
        -cp "$CP" org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint \
        --configDir "$CONF" "${DYN[@]}" -D "metrics.reporter.prom.port=$JM_PROM" "${JM_DYN[@]}"
    step "wait for the JobManager's REST endpoint at $ENGRAM_REST"
    t0=$(date +%s)
    until rest_ok /overview; do
        recorded_alive jobmanager || { tail_log "$LOGS/jobmanager.log"; tail_log "$LOGS/jobmanager.out" 10; die "the JobManager died while starting"; }
        [ $(($(date +%s) - t0)) -lt "$TIMEOUT" ] || { tail_log "$LOGS/jobmanager.log"; die "REST not up after ${TIMEOUT}s"; }
        sleep 0.5
    done
    start_taskmanager
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
                        TaskManager ${ENGRAM_TM_METRICS:-(unknown: attached cluster)}
  savepoints            ${ENGRAM_SAVEPOINT_DIR:-(cluster default)}
  logs                  $LOGS
  use it:               source $ENGRAM_STATE_DIR/cluster.env   (or just run the deploy scripts: they read it)
  stop it:              $ENGRAM_SCRIPTS_DIR/stop_cluster.sh${ENGRAM_STATE_DIR:+ --state-dir $ENGRAM_STATE_DIR}
EOF
STARTED=()
