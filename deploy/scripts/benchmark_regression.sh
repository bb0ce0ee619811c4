#!/usr/bin/env bash
# Kernel performance regression gate. Builds the JMH benchmark jar (-Pbench), runs a SHORT, fixed JMH suite and
# compares it with the committed baseline docs/benchmarks/baseline.json. Exit 0: no regression; 1: a regression (or a
# ratio missing); 2: usage or build error.
#
# What is compared: SAME-RUN RATIOS, always: Zig vs Java, Zig vs the memory-sweep ceiling, batched vs one-at-a-time
# similarity, native no-op vs a tiny Zig call. The machines are noisy shared VMs (±15% run to run), but the parts of
# one ratio are measured minutes apart at most, in interleaved rounds, so their ratio is stable even on another
# machine. Times are the benchmark thread's CPU time per operation (JMH aux counters), so the time a busy VM makes
# the thread wait for a CPU does not count. A ratio fails when it dropped by more than --threshold percent, widened
# to that ratio's own round-to-round noise (half the range of its rounds, baseline or now) but never beyond 15%
# (--strict: the plain threshold; with --smoke's 15% nothing is widened). Absolute ns/op are compared too only with --absolute, and only when
# the machine fingerprint (CPU model, cores, JDK) equals the baseline's.
#
# The suite (vector_similarity_768d_10000c, vector_similarity_batch8_768d_10000c, spreading_activation_1000n,
# decay_calculation_1000000m, jni_overhead) runs in ROUNDS: every round is one JMH invocation that measures each
# benchmark once (1 fork); a ratio's value is the median over the rounds of (median iteration time of part A /
# median iteration time of part B).
#
# Usage: deploy/scripts/benchmark_regression.sh [--smoke] [--update-baseline] [--threshold PCT] [--rounds N]
#            [--baseline FILE] [--jar FILE | --no-build] [--absolute] [--strict] [--out DIR]
#            [--inject-slowdown KERNEL:FRACTION]
#   --smoke            CI size (< 3 minutes including the build): 1 round, fewer iterations. Its default
#                      threshold is 15%, because one short round is noisier than the full gate's three
#   --update-baseline  run the full gate suite and rewrite the baseline file instead of comparing
#   --threshold PCT    allowed drop of a ratio, percent (default 5; 15 with --smoke)
#   --strict           no widening of the threshold by a ratio's round-to-round noise
#   --rounds N         rounds (default 3; 1 with --smoke)
#   --baseline FILE    default docs/benchmarks/baseline.json
#   --jar FILE         use this benchmark jar; --no-build: use kernels/target/engram-kernels-bench.jar as it is
#   --out DIR          where the JMH JSON goes (default kernels/target/bench-gate)
#   --inject-slowdown KERNEL:FRACTION
#                      TEST-ONLY: sets -Dengram.bench.inject-slowdown in the benchmark JVMs, so that the Zig
#                      benchmark of KERNEL (cosineSimilarity, cosineSimilarityBatch, spreadActivation, decayRetention)
#                      does FRACTION extra work (0.25 = 25% slower). Used to prove the gate fails; never for baselines.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
TOOL="$SCRIPT_DIR/bench/benchtool.py"
JAVA=${JAVA:-java}

smoke=false update=false threshold="" rounds="" absolute=false strict=false build=true
baseline="$REPO_DIR/docs/benchmarks/baseline.json"
jar="$REPO_DIR/kernels/target/engram-kernels-bench.jar"
out="$REPO_DIR/kernels/target/bench-gate"
inject=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "benchmark gate: ERROR: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --smoke) smoke=true ;;
        --update-baseline) update=true ;;
        --threshold) threshold=${2:?--threshold needs a value}; shift ;;
        --rounds) rounds=${2:?--rounds needs a value}; shift ;;
        --baseline) baseline=${2:?}; shift ;;
        --jar) jar=${2:?}; build=false; shift ;;
        --no-build) build=false ;;
        --out) out=${2:?}; shift ;;
        --absolute) absolute=true ;;
        --strict) strict=true ;;
        --inject-slowdown) inject=${2:?}; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

if $smoke; then
    rounds=${rounds:-1}
    threshold=${threshold:-15}
    jmh_iter=(-f 1 -wi 2 -w 1s -i 3 -r 1s)
else
    rounds=${rounds:-3}
    threshold=${threshold:-5}
    jmh_iter=(-f 1 -wi 3 -w 1s -i 5 -r 1s)
fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $threshold =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--threshold must be a number (percent)"
if $update && [[ -n $inject ]]; then die "--inject-slowdown is test-only and never goes into a baseline"; fi
if $update && $smoke; then die "--update-baseline records the full gate suite; drop --smoke"; fi
command -v python3 >/dev/null || die "python3 is required"
command -v "$JAVA" >/dev/null || die "java not found"

# The short suite: fixed benchmarks and parameters (JMH applies -p to every benchmark that has the parameter).
suite=('SimilarityBench\.(zig|java|ceiling)$' 'BatchBench\.zig(Batch|Loop)$' 'SpreadBench\.(zig|java)$'
    'DecayBench\.(zig|java|ceiling)$' 'JniBench\.(zigTinyCosine|nativeNoop)$'
    -p dim=768 -p n=10000 -p b=8 -p residency=hot -p nodes=1000 -p m=1000000)

start=$SECONDS
if $build; then
    echo "== building the benchmark jar (mvn -Pbench -pl kernels -am package -DskipTests)"
    (cd "$REPO_DIR" && mvn -B -q -Pbench -pl kernels -am package -DskipTests) || die "the benchmark build failed"
fi
[[ -f $jar ]] || die "no benchmark jar at $jar (build it, or drop --no-build)"

mkdir -p "$out"
rm -f "$out"/round-*.json
jvm_extra=()
if [[ -n $inject ]]; then
    echo "== TEST-ONLY: injecting a slowdown: $inject"
    # Prepend: a command-line -jvmArgsAppend would replace the benchmarks' own @Fork(jvmArgsAppend = ...).
    jvm_extra=(-jvmArgsPrepend "-Dengram.bench.inject-slowdown=$inject")
fi
results=()
for ((r = 1; r <= rounds; r++)); do
    echo "== round $r/$rounds ($(date -u +%H:%M:%S)): ${jmh_iter[*]}"
    file="$out/round-$r.json"
    "$JAVA" -jar "$jar" "${suite[@]}" "${jmh_iter[@]}" -foe true "${jvm_extra[@]}" -rf json -rff "$file" \
        >"$out/round-$r.log" 2>&1 || { tail -40 "$out/round-$r.log" >&2; die "JMH failed in round $r (log: $out/round-$r.log)"; }
    results+=("$file")
done

settings=$(printf '{"rounds": %d, "jmh": "%s", "suite": "%s"}' "$rounds" "${jmh_iter[*]}" "${suite[*]//\\/\\\\}")
if $update; then
    python3 "$TOOL" baseline --out "$baseline" --settings "$settings" --java "$JAVA" "${results[@]}"
    echo "== baseline rewritten in $((SECONDS - start)) s"
    exit 0
fi
[[ -f $baseline ]] || die "no baseline at $baseline: run with --update-baseline first"
args=(--baseline "$baseline" --threshold "$threshold" --java "$JAVA")
$absolute && args+=(--absolute)
$strict && args+=(--strict)
set +e
python3 "$TOOL" compare "${args[@]}" "${results[@]}"
status=$?
set -e
echo "== benchmark gate finished in $((SECONDS - start)) s"
exit $status
