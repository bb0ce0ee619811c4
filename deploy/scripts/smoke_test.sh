#!/usr/bin/env bash
# End-to-end smoke test through Kafka: stores a known set of memories in a fresh space, asks one recall query,
# and expects the known top hit in the read_committed results within --timeout seconds.
# Uses a new space name per run (smoke-<time>-<pid>), so it never touches real spaces and can run any time.
#
# Usage: smoke_test.sh [--bootstrap-servers H:P] [--timeout SECONDS] [--space NAME] [--expect-mode zig|java]
#   --expect-mode  also require the result's kernel_mode to be this.
# Exit 0 when the expected top hit came back.
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"

TIMEOUT=60
SPACE="smoke-$(date +%s)-$$"
EXPECT_MODE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bootstrap-servers) ENGRAM_BOOTSTRAP=$2; shift 2 ;;
        --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
        --timeout) TIMEOUT=$2; shift 2 ;;
        --space) SPACE=$2; shift 2 ;;
        --expect-mode) EXPECT_MODE=$2; shift 2 ;;
        -h|--help) print_help; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
load_cluster_env
need_bootstrap
WORK=$(mktemp -d)
TAIL_PID=""
cleanup() {
    local rc=$?
    # TAIL_PID is the subshell running engram_cli; the `engram tail` JVM is its child: end that first.
    [ -z "$TAIL_PID" ] || pkill -TERM -P "$TAIL_PID" 2>/dev/null || true
    [ -z "$TAIL_PID" ] || kill "$TAIL_PID" 2>/dev/null || true
    rm -rf "$WORK"
    _on_exit
    exit "$rc"
}
trap cleanup EXIT

NOW=$(now_ms)
QID="smoke-q-$NOW-$$"
# Three memories with clearly different directions; the cue is m-beta's own embedding, no associations:
# m-beta has similarity 1 and must rank first.
cat >"$WORK/events.jsonl" <<EOF
{"space":"$SPACE","event_id":"$SPACE-e1","timestamp_ms":$NOW,"payload":{"type":"store","memory_id":"m-alpha","embedding":[1.0,0.0,0.0,0.1],"strength":1.0,"stability_s":86400}}
{"space":"$SPACE","event_id":"$SPACE-e2","timestamp_ms":$NOW,"payload":{"type":"store","memory_id":"m-beta","embedding":[0.0,1.0,0.0,0.1],"strength":1.0,"stability_s":86400}}
{"space":"$SPACE","event_id":"$SPACE-e3","timestamp_ms":$NOW,"payload":{"type":"store","memory_id":"m-gamma","embedding":[0.0,0.0,1.0,0.1],"strength":1.0,"stability_s":86400}}
EOF
echo "{\"query_id\":\"$QID\",\"space\":\"$SPACE\",\"timestamp_ms\":$((NOW + 1)),\"cue\":[0.0,1.0,0.0,0.1],\"k\":3}" >"$WORK/query.jsonl"

step "send 3 memories to space $SPACE"
out=$(engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type event --file "$WORK/events.jsonl" 2>&1) || die "engram send failed: $out"
log "    $(grep -E '^sent ' <<<"$out" || echo "$out" | tail -1)"
step "send recall query $QID"
# Queries have their own topic, so this one could overtake the stores: it names them (read-your-writes,
# after_event_ids) and the job answers it once all three are applied.
out=$(engram_cli send --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type query --after-events "$SPACE-e1,$SPACE-e2,$SPACE-e3" --file "$WORK/query.jsonl" 2>&1) || die "engram send failed: $out"
log "    $(grep -E '^sent ' <<<"$out" || echo "$out" | tail -1)"

step "wait up to ${TIMEOUT}s for its committed result (results appear after the next checkpoint)"
# read_committed from the beginning of engram.recall-results, until our query id shows up.
engram_cli tail --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type results --from-beginning \
    --idle-timeout "${TIMEOUT}s" >"$WORK/results.jsonl" 2>"$WORK/tail.err" &
TAIL_PID=$!
t0=$(date +%s)
line=""
while true; do
    line=$(grep -F "\"$QID\"" "$WORK/results.jsonl" | head -1 || true)
    [ -z "$line" ] || break
    if ! kill -0 "$TAIL_PID" 2>/dev/null; then
        # tail ended (idle timeout): one last look
        line=$(grep -F "\"$QID\"" "$WORK/results.jsonl" | head -1 || true)
        [ -n "$line" ] || die "no result for $QID: 'engram tail' ended: $(tail -3 "$WORK/tail.err")"
        break
    fi
    [ $(($(date +%s) - t0)) -lt "$TIMEOUT" ] || die "no result for $QID after ${TIMEOUT}s: is the job RUNNING and checkpointing? (health_check.sh)"
    sleep 0.5
done
step_end
top=$(jq -r '.hits[0].memory_id // "none"' <<<"$line")
mode=$(jq -r '.kernel_mode' <<<"$line")
log "    result: top hit $top (score $(jq -r '.hits[0].score // "-"' <<<"$line")), $(jq -r '.hits | length' <<<"$line") hits, kernel_mode $mode, latency $(jq -r '.latency_us' <<<"$line") us"
[ "$(jq -r '.stale' <<<"$line")" != true ] || die "the answer is stale: the job did not apply the 3 stores within engram.recall.wait.timeout: $line"
[ "$top" = m-beta ] || die "expected top hit m-beta, got $top: $line"
[ -z "$EXPECT_MODE" ] || [ "$mode" = "$EXPECT_MODE" ] || die "answered with $mode kernels, expected $EXPECT_MODE"
finish
echo "SMOKE PASS space=$SPACE query=$QID top_hit=$top kernel_mode=$mode"
