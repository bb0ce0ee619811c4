#!/usr/bin/env bash
# End-to-end benchmark: the REAL job (engram run: EngramJob.build on a MiniCluster, in a child JVM) against a REAL
# Kafka broker (KRaft, single node), once per kernel mode (zig, java) and state backend (hashmap, rocksdb with
# incremental checkpoints), for each space shape. Reports the ingest rate (memory events/s), the maximum recall
# throughput (queries/s, closed-loop saturation), the recall latency p50/p95/p99 at 80% of that maximum (open loop,
# fixed rate, read_uncommitted; read_committed reported too), the Zig/Java and RocksDB/heap ratios, checks sampled
# answers against a brute-force reference, and verifies with a read_committed consumer that every query got exactly
# one result. Then the consistency variants: arrival, event-time and read-your-writes, each with a background store
# stream, at the same offered load, for their added latency.
# Driver: io.engram.job.bench.EndToEndBenchmark; report and checks: deploy/scripts/bench/e2etool.py.
#
# Usage: deploy/scripts/benchmark_e2e.sh [--smoke | --quick] [--no-build] [--out DIR] [--name NAME]
#            [--conf key=value]... [--note TEXT] [driver options]
#   (default)       full run: 4 spaces of 10k x 768d and 16 spaces of 1k x 384d, both modes, both backends (8 jobs),
#                   then the three consistency variants (10k x 768d, zig, hashmap); not timed yet with all of that
#                   (a 5-job cut of 2 x 10k x 768d took 5 min, docs/benchmarks/e2e-state.md). Writes
#                   docs/benchmarks/e2e-results.json, docs/benchmarks/e2e.md and docs/benchmarks/e2e-*.svg
#   --quick         2 spaces of 10k x 768d and 8 of 1k x 384d, shorter phases, no consistency variants (8 jobs);
#                   writes to job/target/bench-e2e-quick/ (not docs/) unless --out is given
#   --smoke         CI size (81 s without the build, measured): 2 spaces of 1k x 64d, zig and java on hashmap and zig on
#                   rocksdb, a few seconds per phase, checkpoints every 2 s; checks the machinery and sanity (every
#                   query answered exactly once, sampled answers equal the reference, numbers positive), not
#                   performance. Writes to job/target/bench-e2e-smoke/
#   --no-build      use job/tools/target/engram-tools as it is (default: build it with mvn -pl job/tools -am package first)
#   --out DIR       where the JSON, the page and the charts go
#   --name NAME     file names NAME.md, NAME-results.json, NAME-*.svg (default e2e)
#   --conf key=value  passed to the job as -D key=value (any engram.* or Flink option); repeatable. The benchmark
#                   sets the kernel mode (--modes), the state backend (--backends), the consistency (--consistency),
#                   topics, group and transactional ids itself
#   --driver-cpus LIST  the driver's JVM, which also runs the broker, runs on these CPUs only (taskset -c LIST);
#                   with --job-cpus on other CPUs the load driver and broker stay off the job's cores
#   --note TEXT     a line shown at the top of the page (e.g. that the machine was busy)
#   --notes FILE    hand-written Markdown appended to the page (full run default: docs/benchmarks/e2e-analysis.md)
#   --results FILE  only regenerate the page and charts from an earlier results file (no build, no run)
#   driver options: --shapes MEMORIESxDIMxSPACES[,...] --modes zig,java --backends hashmap,rocksdb
#                   --chunk-sizes N[,...] (crossed with the rest; default: the job's) --consistency
#                   arrival,event-time,read-your-writes --background-writes STORES_PER_S_PER_SPACE (10)
#                   --verify-recall N (queries checked against the brute-force reference per run; 0 = none)
#                   --jfr (a flight recording per job JVM, next to its log) --job-java-opts "OPTS"
#                   --job-cpus LIST (the job JVM runs on these CPUs only: taskset -c LIST)
#                   --parallelism N --job-heap SIZE --warmup S --saturation S --open-loop S --in-flight N
#                   --load FRACTION --k K --seed N
#                   --query-linger-ms MS (the driver's query producer; 0 = each query sent at once, the default)
# Exit codes: 0 ok (goals missed are reported, not failed); 1 a verification or sanity check failed; 2 usage/build
# error or no results (e.g. the run hit its time limit: 10 min with --smoke, otherwise 120 min or
# ENGRAM_E2E_TIME_LIMIT seconds).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
TOOL="$SCRIPT_DIR/bench/e2etool.py"
JAVA=${JAVA:-java}
LOCAL="$REPO_DIR/job/tools/target/engram-tools"

preset=full build=true out="" name=e2e note="" notes="" results_only="" driver=() pin=()
orig_args=("$@")
die() { echo "benchmark_e2e: ERROR: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --smoke) preset=smoke ;;
        --quick) preset=quick ;;
        --no-build) build=false ;;
        --out) out=${2:?--out needs a directory}; shift ;;
        --name) name=${2:?--name needs a name}; shift
            [[ $name =~ ^[A-Za-z0-9_.-]+$ ]] || die "--name takes letters, digits, '.', '_' and '-'" ;;
        --driver-cpus) [[ ${2:-} =~ ^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$ ]] ||
                die "--driver-cpus takes a CPU list such as 0, 0,2 or 0-1"
            command -v taskset >/dev/null || die "--driver-cpus needs taskset (util-linux)"
            pin=(taskset -c "$2"); shift ;;
        --note) note=${2:?--note needs a text}; shift ;;
        --notes) notes=${2:?--notes needs a file}; shift ;;
        --results) results_only=${2:?--results needs a file}; build=false; shift ;;
        --conf | --shapes | --modes | --backends | --chunk-sizes | --consistency | --background-writes | \
            --verify-recall | --job-java-opts | --job-cpus | --parallelism | --job-heap | --warmup | --saturation | --open-loop | \
            --in-flight | --load | --k | --seed | --query-linger-ms)
            driver+=("$1" "${2:?$1 needs a value}"); shift ;;
        --jfr) driver+=("$1") ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

[[ " ${driver[*]} " == *" --job-cpus "* ]] && ! command -v taskset >/dev/null && die "--job-cpus needs taskset (util-linux)"
case $preset in
    full) out=${out:-$REPO_DIR/docs/benchmarks}; notes=${notes:-$REPO_DIR/docs/benchmarks/e2e-analysis.md} ;;
    quick) out=${out:-$REPO_DIR/job/target/bench-e2e-quick} ;;
    smoke) out=${out:-$REPO_DIR/job/target/bench-e2e-smoke} ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
logs="$REPO_DIR/job/target/bench-e2e-logs/$preset"
mkdir -p "$logs"

start=$SECONDS
if $build; then
    echo "== building the local distribution (mvn -B -q -pl job/tools -am package -DskipTests)"
    # shellcheck disable=SC2086
    (cd "$REPO_DIR" && mvn -B -q ${ENGRAM_MVN_ARGS:-} -pl job/tools -am package -DskipTests) >"$logs/build.log" 2>&1 ||
        { tail -40 "$logs/build.log" >&2; die "the build failed (log: $logs/build.log)"; }
fi
rc=0
if [[ -n $results_only ]]; then
    results=$(cd "$(dirname "$results_only")" && pwd)/$(basename "$results_only")
    [[ -f $results ]] || die "no results file $results_only"
    echo "== regenerating the report from $results"
else
    [[ -f $LOCAL/jvm.options && -d $LOCAL/lib ]] || die "no local distribution at $LOCAL (run without --no-build)"
    results="$out/$name-results.json"
    command_line="deploy/scripts/benchmark_e2e.sh"
    for a in "${orig_args[@]}"; do
        if [[ $a =~ ^[A-Za-z0-9_./=:,+-]+$ ]]; then command_line+=" $a"; else q=${a//\'/\'\\\'\'}; command_line+=" '$q'"; fi
    done
    echo "== end-to-end benchmark, preset $preset ($(date -u +%H:%M:%S) UTC); logs in $logs"
    # A hard limit, so a hung run cannot eat a CI budget: SIGTERM lets the driver stop its job JVMs (shutdown hook).
    limit=${ENGRAM_E2E_TIME_LIMIT:-7200}
    [[ $preset == smoke ]] && limit=600
    timeout --signal=TERM --kill-after=60 "$limit" ${pin[@]+"${pin[@]}"} "$JAVA" @"$LOCAL/jvm.options" -Xms1g -Xmx1g \
        -Dlog4j2.configurationFile=classpath:io/engram/job/cli/log4j2-cli.properties -Dlog.file="$logs/driver.log" \
        -cp "$LOCAL/lib/*" io.engram.job.bench.EndToEndBenchmark --preset "$preset" --out "$results" \
        --log-dir "$logs" --local-dir "$LOCAL" --command "$command_line" --note "$note" "${driver[@]}" || rc=$?
    [[ -f $results ]] || die "the driver wrote no results (exit $rc; log: $logs/driver.log)"
fi

report_args=(--md "$out/$name.md" --out-dir "$out" --prefix "$name" --results-name "$(basename "$results")")
[[ -n $notes && -f $notes ]] && report_args+=(--notes-file "$notes")
python3 "$TOOL" report "${report_args[@]}" "$results"
python3 "$TOOL" check "$results" || rc=1
echo "== done in $((SECONDS - start)) s: $out/$name.md"
exit $rc
