#!/usr/bin/env bash
# The runtime kernel switch: publishes a KernelControl record on engram.control (via `engram send --type control`).
# Every subtask picks it up from broadcast state on its next record, WITHOUT a restart or savepoint; it survives
# restarts and savepoints, and the newest record replaces the previous one entirely.
#   - no scope: all spaces; the engram.kernelMode gauge follows (verify with --verify).
#   - --spaces a,b: only these spaces. --fraction F: a stable hash-chosen share F of the spaces (canary).
# A switch to zig only takes effect in a job deployed with the native library loaded (mode zig or auto); a job
# deployed with mode=java stays on Java. To undo a java switch, issue `set_kernel_mode.sh zig --reason ...`.
#
# Usage: set_kernel_mode.sh zig|java [--spaces a,b | --fraction 0.05] --reason "why" [--issued-by WHO]
#                           [--bootstrap-servers H:P] [--verify] [--rest URL] [--job-id ID] [--timeout SECONDS]
#   --verify  (unscoped switches only) wait until every subtask's engram.kernelMode gauge shows the new mode.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

MODE="${1:-}"
[ $# -gt 0 ] && shift
SPACES=""
FRACTION=""
REASON=""
ISSUED_BY="${USER:-$(id -un)}@$(hostname)"
VERIFY=0
JOB_ID=""
TIMEOUT=60
while [ $# -gt 0 ]; do
    case "$1" in
        --spaces) SPACES=$2; shift 2 ;;
        --fraction) FRACTION=$2; shift 2 ;;
        --reason) REASON=$2; shift 2 ;;
        --issued-by) ISSUED_BY=$2; shift 2 ;;
        --bootstrap-servers) ENGRAM_BOOTSTRAP=$2; shift 2 ;;
        --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
        --verify) VERIFY=1; shift ;;
        --rest) ENGRAM_REST=$2; shift 2 ;;
        --job-id) JOB_ID=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        -h|--help) print_help; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
case "$MODE" in zig|java) ;; *) die "first argument must be zig or java (got '${MODE}'); see --help" ;; esac
[ -n "${REASON// /}" ] || die "--reason is required: every kernel switch is audited (the job dead-letters a switch without one)"
[ -z "$SPACES" ] || [ -z "$FRACTION" ] || die "give either --spaces or --fraction, not both"
if [ -n "$FRACTION" ]; then
    awk -v f="$FRACTION" 'BEGIN { exit !(f + 0 > 0 && f + 0 <= 1) }' || die "--fraction must be in (0, 1], got $FRACTION"
fi
if [ "$VERIFY" = 1 ] && { [ -n "$SPACES" ] || [ -n "$FRACTION" ]; }; then
    die "--verify works for unscoped switches only (the mode gauge shows the mode of unscoped spaces)"
fi
load_cluster_env
need_bootstrap

record=$(jq -nc --arg mode "$MODE" --arg reason "$REASON" --arg by "$ISSUED_BY" --argjson ts "$(now_ms)" \
    --arg spaces "$SPACES" --arg fraction "$FRACTION" '
    {mode: $mode, reason: $reason, issued_by: $by, timestamp_ms: $ts,
     spaces: (if $spaces == "" then [] else ($spaces | split(",") | map(select(. != ""))) end),
     fraction: (if $fraction == "" then null else ($fraction | tonumber) end)}')

step "publish kernel switch to $ENGRAM_BOOTSTRAP: $record"
out=$(printf '%s\n' "$record" | engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type control --file - 2>&1) \
    || die "engram send failed: $out"
log "    $(grep -E '^sent ' <<<"$out" || echo "$out" | tail -1)"
grep -qE '^sent 1 ' <<<"$out" || die "the switch was not confirmed by the broker: $out"
printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$record" >>"$ENGRAM_STATE_DIR/kernel-switches.log" 2>/dev/null || true

if [ "$VERIFY" = 1 ]; then
    need_rest
    [ -n "$JOB_ID" ] || JOB_ID=$(find_job_id)
    step "wait until every subtask of job $JOB_ID reports mode $MODE"
    want=$([ "$MODE" = zig ] && echo 1 || echo 0)
    t0=$(date +%s)
    while true; do
        vid=$(memory_vertex "$JOB_ID")
        mn=$(agg_metric "$JOB_ID" "$vid" engram.kernelMode min)
        mx=$(agg_metric "$JOB_ID" "$vid" engram.kernelMode max)
        if [ -n "$mn" ] && [ "$(printf '%.0f' "$mn")" = "$want" ] && [ "$(printf '%.0f' "$mx")" = "$want" ]; then
            break
        fi
        if [ $(($(date +%s) - t0)) -ge "$TIMEOUT" ]; then
            die "after ${TIMEOUT}s the mode gauge is min=${mn:-?} max=${mx:-?}, not $want: was the job deployed with mode=java (no native library loaded)? Check the TaskManager log for 'engram kernel switch'."
        fi
        sleep 1
    done
    log "    all subtasks on $MODE"
fi
finish
