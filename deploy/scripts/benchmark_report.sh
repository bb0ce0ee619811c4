#!/usr/bin/env bash
# Runs the FULL kernel benchmark suite (JMH, kernels/src/jmh/java) once and regenerates the report:
#   docs/benchmarks/kernels.md                 machine, JDK, versions, command, goal table, result tables
#   docs/benchmarks/kernels-*.svg              charts, drawn by deploy/scripts/bench/benchtool.py (no plotting library)
#   docs/benchmarks/kernels-results.json       the raw JMH results the report was generated from
# Every number in the report is measured by this run; the machine is a noisy shared VM, so only compare numbers of
# one run. Takes about 10 minutes on 2 vCPUs (71 benchmarks, 1 fork each).
#
# Usage: deploy/scripts/benchmark_report.sh [--jar FILE | --no-build] [--forks N] [--quick] [--notes FILE]
#                                           [-- extra JMH options]
#   --forks N   JMH forks per benchmark (default 1; each fork: 2 warm-up + 5 measured 1-second iterations)
#   --quick     a reduced grid (dim 768 only), for trying the tooling out
#   --notes F   Markdown appended to the report (default docs/benchmarks/analysis.md: the hand-written analysis of
#               goals that were not reached, with its evidence)
#   --results F regenerate the report from an earlier results file instead of running JMH
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
TOOL="$SCRIPT_DIR/bench/benchtool.py"
JAVA=${JAVA:-java}
DOCS="$REPO_DIR/docs/benchmarks"
jar="$REPO_DIR/kernels/target/engram-kernels-bench.jar"
build=true forks=1 quick=false notes="$DOCS/analysis.md" results="" extra=()

die() { echo "benchmark report: ERROR: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
    case $1 in
        --jar) jar=${2:?}; build=false; shift ;;
        --no-build) build=false ;;
        --forks) forks=${2:?}; shift ;;
        --quick) quick=true ;;
        --notes) notes=${2:?}; shift ;;
        --results) results=${2:?}; build=false; shift ;;
        --) shift; extra=("$@"); break ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1" ;;
    esac
    shift
done

start=$SECONDS
if $build; then
    echo "== building the benchmark jar (mvn -Pbench -pl kernels -am package -DskipTests)"
    (cd "$REPO_DIR" && mvn -B -q -Pbench -pl kernels -am package -DskipTests) || die "the benchmark build failed"
fi
mkdir -p "$DOCS"
jmh_opts=(-f "$forks" -wi 2 -w 1s -i 5 -r 1s)
grid=()
$quick && grid=(-p dim=768 -p n=1000,10000)
command_line=$(echo "java -jar kernels/target/engram-kernels-bench.jar ${jmh_opts[*]} ${grid[*]} ${extra[*]} -rf json" | tr -s " ")
if [[ -z $results ]]; then
    [[ -f $jar ]] || die "no benchmark jar at $jar"
    results="$DOCS/kernels-results.json"
    log="$REPO_DIR/kernels/target/bench-report.log"
    mkdir -p "$(dirname "$log")"
    echo "== running the full suite ($(date -u +%H:%M:%S)): $command_line (log: $log)"
    "$JAVA" -jar "$jar" "${jmh_opts[@]}" "${grid[@]}" "${extra[@]}" -foe true -rf json -rff "$results" >"$log" 2>&1 ||
        { tail -40 "$log" >&2; die "JMH failed"; }
fi

zig_version=$(sed -nE 's/.*<zig.version>([^<]+)<.*/\1/p' "$REPO_DIR/pom.xml" | head -1)
jmh_version=$(sed -nE 's/.*<jmh.version>([^<]+)<.*/\1/p' "$REPO_DIR/pom.xml" | head -1)
lucene_version=$(sed -nE 's/.*<lucene.version>([^<]+)<.*/\1/p' "$REPO_DIR/kernels/pom.xml" | head -1)
commit=$(cd "$REPO_DIR" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(cd "$REPO_DIR" && git status --porcelain -- kernels native 2>/dev/null | head -1 || true)
meta=$(python3 - "$zig_version" "$jmh_version" "$lucene_version" "$commit${dirty:+ + uncommitted kernel changes}" \
    "$command_line" "$(date -u -r "$results" +%Y-%m-%dT%H:%MZ)" <<'EOF'
import json, sys
z, j, l, c, cmd, when = sys.argv[1:]
print(json.dumps({
    "Zig": f"{z}, ReleaseFast, x86_64_v3 build (AVX2 + FMA) picked by the loader",
    "JMH": j, "Lucene (peer)": f"lucene-core {l}",
    "commit": c, "measured": when,
    "command": f"`mvn -B -Pbench -pl kernels -am package -DskipTests && {cmd}`",
}))
EOF
)
args=(--out-dir "$DOCS" --md "$DOCS/kernels.md" --meta "$meta" --java "$JAVA")
[[ -n $notes && -f $notes ]] && args+=(--notes-file "$notes")
python3 "$TOOL" report "${args[@]}" "$results"
echo "== report written in $((SECONDS - start)) s"
