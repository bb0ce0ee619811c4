#!/usr/bin/env bash
# Peer benchmark: the Zig kernels (JMH, through JNI from Java) against numpy (OpenBLAS) and FAISS (IndexFlatIP) on the
# same vectors and shapes, single-threaded, with the read-bandwidth and FMA ceilings measured in the same run, in
# rounds (JMH, then the peers; the ratios are per round, their median is reported). Writes a ratio table and an SVG
# chart; with --write-docs into docs/benchmarks/peers.md, peers.svg and peers-results.json.
#
# numpy and faiss-cpu come from PyPI into a project-local venv (.tools/peers-venv), created on first use.
#
# Usage: deploy/scripts/benchmark_peers.sh [--smoke] [--rounds N] [--variant V] [--jar FILE | --no-build]
#            [--out DIR] [--write-docs]
#   --smoke        CI size: 1000 and 10000 rows, one round, short iterations (checks the pipeline, not the numbers)
#   --rounds N     rounds (default 3; 1 with --smoke)
#   --variant V    load this build of the kernels (x86_64_v4, x86_64_v3, baseline) instead of the best for the CPU
#   --jar FILE     use this benchmark jar; --no-build: kernels/target/engram-kernels-bench.jar as it is
#   --out DIR      JMH and peer JSON, logs and the report (default kernels/target/bench-peers)
#   --write-docs   also write the report into docs/benchmarks/ (peers.md, peers.svg, peers-results.json)
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
PEERS="$SCRIPT_DIR/bench/peers.py"
JAVA=${JAVA:-java}
VENV="$REPO_DIR/.tools/peers-venv"
PIP_PACKAGES=("numpy==2.4.6" "faiss-cpu==1.15.1" "threadpoolctl==3.6.0")

smoke=false rounds="" build=true variant="" write_docs=false
jar="$REPO_DIR/kernels/target/engram-kernels-bench.jar"
out="$REPO_DIR/kernels/target/bench-peers"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "peer benchmark: ERROR: $*" >&2; exit 2; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --smoke) smoke=true ;;
        --rounds) rounds=${2:?--rounds needs a value}; shift ;;
        --variant) variant=${2:?--variant needs a value}; shift ;;
        --jar) jar=${2:?}; build=false; shift ;;
        --no-build) build=false ;;
        --out) out=${2:?}; shift ;;
        --write-docs) write_docs=true ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

command -v python3 >/dev/null || die "python3 is required"
command -v "$JAVA" >/dev/null || die "java not found"
[[ $(uname -sm) == "Linux x86_64" ]] || die "the peer benchmark runs on x86_64 Linux (its helper library is built for it)"

if $smoke; then
    rounds=${rounds:-1}
    sizes=1000,10000 batch_sizes=10000 seconds=0.4
    jmh_iter=(-f 1 -wi 1 -w 300ms -i 2 -r 300ms)
else
    rounds=${rounds:-3}
    sizes=1000,10000,100000 batch_sizes=10000,100000 seconds=3
    jmh_iter=(-f 1 -wi 3 -w 1s -i 5 -r 1s)
fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"

# --- the peers' Python, pinned, in a project-local venv ----------------------------------------------------------
if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c 'import numpy, faiss, threadpoolctl' 2>/dev/null; then
    echo "== installing ${PIP_PACKAGES[*]} into ${VENV#"$REPO_DIR"/}"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}" ||
        die "pip could not install ${PIP_PACKAGES[*]} (offline?)"
fi
PY="$VENV/bin/python"

# --- our side: the benchmark jar ---------------------------------------------------------------------------------
if $build; then
    echo "== building the benchmark jar (mvn -Pbench -pl kernels -am package -DskipTests)"
    (cd "$REPO_DIR" && mvn -B -q -Pbench -pl kernels -am package -DskipTests) || die "the benchmark build failed"
fi
[[ -f $jar ]] || die "no benchmark jar at $jar (build it, or drop --no-build)"

mkdir -p "$out"
rm -f "$out"/jmh-r*.json "$out"/peers-r*.json "$out"/*.log
# Python measures its ceilings with the very library the jar carries.
rm -rf "$out/bench-lib" && (cd "$out" && unzip -q -o "$jar" 'bench-lib/*') || die "the jar has no bench-lib/"

# Page size as the job's TaskManagers run: transparent huge pages for the Java heap where the kernel allows them.
jvm=()
thp=$(sed -nE 's/.*\[(\w+)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)
[[ $thp == always || $thp == madvise ]] && jvm+=(-XX:+UseTransparentHugePages)
[[ -n $variant ]] && jvm+=("-Dengram.bench.variant=$variant")
loaded=$("$JAVA" ${jvm[@]+"${jvm[@]}"} -cp "$jar" io.engram.kernels.bench.PeerData variant 2>/dev/null | tail -1) ||
    die "the kernels did not load from $jar"
echo "== kernels build: $loaded; JVM flags: ${jvm[*]:-none}; THP: $thp"

include='^io\.engram\.kernels\.bench\.(SimilarityBench\.(zigNormed|zigNormedTop16|zig|ceiling)|BatchBench\.(zigNormedBatch|zigNormedBatchTop16|zigBatch)|CeilingBench\.fmaPeak|JniBench\.(zigTinyNormed|zigTinyCosine|nativeNoop))$'
start=$SECONDS
for ((r = 1; r <= rounds; r++)); do
    echo "== round $r/$rounds ($(date -u +%H:%M:%S)): JMH ${jmh_iter[*]}"
    extra=()
    [[ ${#jvm[@]} -gt 0 ]] && extra=(-jvmArgsPrepend "${jvm[*]}")
    "$JAVA" -jar "$jar" "$include" -p dim=768 -p n="$sizes" -p b=8 -p residency=hot "${jmh_iter[@]}" -foe true \
        ${extra[@]+"${extra[@]}"} -rf json -rff "$out/jmh-r$r.json" >"$out/jmh-r$r.log" 2>&1 ||
        { tail -30 "$out/jmh-r$r.log" >&2; die "JMH failed (round $r; log: $out/jmh-r$r.log)"; }
    echo "== round $r/$rounds ($(date -u +%H:%M:%S)): numpy and FAISS"
    "$PY" "$PEERS" measure --bench-lib "$out/bench-lib" --out "$out/peers-r$r.json" --round "$r" --sizes "$sizes" \
        --batch-sizes "$batch_sizes" --seconds "$seconds" --jar "$jar" --java "$JAVA" 2>&1 | tee "$out/peers-r$r.log" ||
        die "the peer measurement failed (round $r)"
done

settings="JMH ${jmh_iter[*]} per round; peers ${seconds}s per case"
commit=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO_DIR" diff --quiet HEAD -- 2>/dev/null || commit="$commit+uncommitted changes"
report_args=(--dir "$out" --sizes "$sizes" --batch-sizes "$batch_sizes" --java "$JAVA" --variant "$loaded"
    "--jvm-flags=${jvm[*]:-none}" "--settings=$settings" --commit "$commit")
$smoke && report_args+=(--smoke)
"$PY" "$PEERS" report "${report_args[@]}" --out-dir "$out" --md "$out/peers.md" || die "the report failed"
if $write_docs; then
    "$PY" "$PEERS" report "${report_args[@]}" --out-dir "$REPO_DIR/docs/benchmarks" \
        --md "$REPO_DIR/docs/benchmarks/peers.md" --notes-file "$REPO_DIR/docs/benchmarks/peers-notes.md" ||
        die "the report failed"
fi
echo "== peer benchmark finished in $((SECONDS - start)) s (report: ${out#"$REPO_DIR"/}/peers.md)"
