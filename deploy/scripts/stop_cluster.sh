#!/usr/bin/env bash
# Stops the cluster start_cluster.sh started in $ENGRAM_STATE_DIR: the Flink processes with the distribution's own
# bin/taskmanager.sh stop-all and bin/jobmanager.sh stop-all (their pid files are in the state dir, so no other
# cluster on the machine is touched), then exactly the processes recorded in $ENGRAM_STATE_DIR/pids that are still
# there (SIGTERM to the recorded process group, SIGKILL after --timeout seconds), and the broker; then checks nothing
# of them is left. A recorded PID whose start time no longer matches (the PID was reused) is left alone.
# Running jobs are not savepointed: take a savepoint first (rollback_to_java.sh / the REST API) if you need one.
# Their retained checkpoints stay in $ENGRAM_STATE_DIR/checkpoints.
#
# Usage: stop_cluster.sh [--state-dir DIR] [--timeout SECONDS] [--only jobmanager|taskmanager-N|taskmanagers|broker]
#                        [--purge]
#   --only NAME  stop one recorded process (taskmanager-N: the N-th TaskManager; taskmanagers: all of them)
#   --purge  also delete the state directory (checkpoints, savepoints, logs) once everything is stopped.
# An attached cluster (start_cluster.sh --rest) has no recorded processes: nothing of it is stopped.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

TIMEOUT=20
ONLY=""
PURGE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        --purge) PURGE=1; shift ;;
        -h|--help) print_help; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
PIDS="$ENGRAM_STATE_DIR/pids"

# group_members PID: the recorded process if alive, and what is still in its process group (the broker leads its
# own group with its children; a Flink daemon's JVM is a member of the group of the bin/*.sh that started it).
group_members() {
    local p
    pid_alive "$1" && echo "$1"
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" != "$1" ] || continue
        [ "$(sed -E 's/^.*\) //' "/proc/$p/stat" 2>/dev/null | awk '{print $3}')" = "$1" ] && pid_alive "$p" && echo "$p"
    done
    return 0
}

stop_one() {
    local name=$1 f="$PIDS/$1.pid" pid st t0 left
    [ -f "$f" ] || return 0
    read -r pid st <"$f" || true
    if ! pid_alive "$pid"; then
        left=$(group_members "$pid")
        if [ -z "$left" ]; then
            log "    $name (pid $pid) is not running"
            rm -f "$f"
            return 0
        fi
    elif [ "$(pid_start_time "$pid")" != "$st" ]; then
        warn "pid $pid is no longer the $name we started (start time changed): not touching it"
        rm -f "$f"
        return 0
    fi
    step "stop $name (process group $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    t0=$(date +%s)
    while [ -n "$(group_members "$pid")" ]; do
        if [ $(($(date +%s) - t0)) -ge "$TIMEOUT" ]; then
            warn "$name still running after ${TIMEOUT}s: SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 0.2
    done
    left=$(group_members "$pid")
    [ -z "$left" ] || die "$name: processes $(echo $left) survived SIGKILL"
    rm -f "$f"
}

# distribution_stop SCRIPT: bin/SCRIPT stop-all of the cluster's distribution, on the state dir's pid files.
distribution_stop() {
    local home
    home=$(cluster_env_value FLINK_HOME)
    [ -n "$home" ] && [ -x "$home/bin/$1" ] && [ -d "$PIDS/flink" ] || return 0
    step "bin/$1 stop-all"
    FLINK_PID_DIR="$PIDS/flink" FLINK_LOG_DIR="$ENGRAM_STATE_DIR/log" FLINK_IDENT_STRING=engram \
        FLINK_CONF_DIR="$ENGRAM_STATE_DIR/conf" "$home/bin/$1" stop-all 2>&1 | sed 's/^/    /' || true
}

[ -d "$PIDS" ] || { log "no cluster recorded in $ENGRAM_STATE_DIR: nothing to stop"; exit 0; }
taskmanagers() { for f in "$PIDS"/taskmanager-*.pid; do [ -f "$f" ] && basename "$f" .pid; done; return 0; }
if [ -n "$ONLY" ]; then
    case "$ONLY" in
        jobmanager|broker|taskmanager-[0-9]*) stop_one "$ONLY" ;;
        taskmanagers) for t in $(taskmanagers); do stop_one "$t"; done ;;
        *) die "--only takes jobmanager, taskmanager-N, taskmanagers or broker" ;;
    esac
else
    # TaskManagers first (their tasks stop cleanly), then the JobManager, then the broker the jobs wrote to.
    distribution_stop taskmanager.sh
    for t in $(taskmanagers); do stop_one "$t"; done
    distribution_stop jobmanager.sh
    stop_one jobmanager
    stop_one broker
    rm -f "$ENGRAM_STATE_DIR/cluster.env" "$ENGRAM_STATE_DIR/broker.port"
fi
step_end
if [ "$PURGE" = 1 ] && [ -z "$ONLY" ]; then
    step "purge $ENGRAM_STATE_DIR"
    rm -rf "$ENGRAM_STATE_DIR"
fi
finish
