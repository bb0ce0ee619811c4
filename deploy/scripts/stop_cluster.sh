#!/usr/bin/env bash
# Stops exactly the processes start_cluster.sh recorded in $ENGRAM_STATE_DIR/pids (TaskManager, JobManager, broker):
# SIGTERM to the recorded process group, SIGKILL after --timeout seconds, then checks nothing of it is left.
# A recorded PID whose start time no longer matches (the PID was reused by another process) is left alone.
# Running jobs are not savepointed: take a savepoint first (rollback_to_java.sh / the REST API) if you need one.
# Their retained checkpoints stay in $ENGRAM_STATE_DIR/checkpoints.
#
# Usage: stop_cluster.sh [--state-dir DIR] [--timeout SECONDS] [--only jobmanager|taskmanager|broker] [--purge]
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

# group_members PGID: PIDs still in the process group (the recorded process and whatever it started).
group_members() {
    local p
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
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

[ -d "$PIDS" ] || { log "no cluster recorded in $ENGRAM_STATE_DIR: nothing to stop"; exit 0; }
if [ -n "$ONLY" ]; then
    case "$ONLY" in jobmanager|taskmanager|broker) stop_one "$ONLY" ;; *) die "--only takes jobmanager, taskmanager or broker" ;; esac
else
    # TaskManager first (its tasks stop cleanly), then the JobManager, then the broker the jobs wrote to.
    stop_one taskmanager
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
