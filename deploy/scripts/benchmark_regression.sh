#!/usr/bin/env bash
# Kernel performance regression gate, A/B on this machine in this run. Exit 0: no regression; 1: a regression (or a
# ratio missing); 2: usage, build or JMH error.
#
# A is the baseline commit named in docs/benchmarks/baseline.json, B is the current tree. The gate builds both
# benchmark jars (A in a git worktree, cached under .tools/bench-jars/<commit>/), then runs the same short JMH suite
# from both, interleaved: in every round each benchmark group (similarity, batch, spreading, decay, JNI) runs from
# A and from B back to back, the order alternating (A B, B A, ...) so that a drift of the machine hits both sides
# alike. Every same-run ratio (Zig vs Java, Zig vs the memory-sweep ceiling, batched vs one-at-a-time, native no-op
# vs a tiny call) is computed per round and side; its change is the median over the rounds of ratio_B / ratio_A.
# A regression is a change between A and B, never a difference between two machines. The thresholds below come
# from A/A runs on the CI machine class (docs/internal/performance_regression_guide.md).
#
# Usage: deploy/scripts/benchmark_regression.sh [--smoke] [--rounds N] [--threshold PCT]
#            [--confirm N] [--baseline-commit REV] [--a-jar FILE] [--jar FILE | --no-build] [--out DIR]
#            [--inject-slowdown KERNEL:FRACTION] [--update-baseline REV]
#   --smoke            CI size: 7 rounds of short JMH iterations; threshold 12%
#   --rounds N         rounds (default 10; 7 with --smoke)
#   --threshold PCT    allowed drop of a ratio from A to B, percent (default 7; 12 with --smoke)
#   --confirm N        confirmation rounds when a ratio drops more than the threshold (default 2 x rounds; 0: none):
#                      only the flagged ratios' groups run again, and a ratio fails only if its median change over
#                      the confirmation rounds drops more than the threshold too
#   --baseline-commit REV  compare against this commit instead of baseline.json's (HEAD on a clean tree: an A/A run)
#   --a-jar FILE       use this jar for A instead of building the baseline commit's
#   --jar FILE         use this jar for B; --no-build: B is kernels/target/engram-kernels-bench.jar as it is
#   --out DIR          JMH JSON, logs and report.md (default kernels/target/bench-gate)
#   --inject-slowdown KERNEL:FRACTION
#                      TEST-ONLY: every Zig call of KERNEL (cosineSimilarity, cosineSimilarityBatch,
#                      cosineSimilarityNormed, spreadActivation, decayRetention) in B's benchmarks takes FRACTION longer (0.25 = 25% slower). A is untouched.
#                      Used to prove the gate fails on a real-looking slowdown; never for anything else.
#   --update-baseline REV  write REV (a commit; default HEAD) into baseline.json as the new baseline and exit
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
TOOL="$SCRIPT_DIR/bench/benchtool.py"
JAVA=${JAVA:-java}
BASELINE_FILE="$REPO_DIR/docs/benchmarks/baseline.json"
JAR_CACHE="$REPO_DIR/.tools/bench-jars"

smoke=false threshold="" rounds="" confirm="" build=true baseline_rev="" a_jar="" update=""
b_jar="$REPO_DIR/kernels/target/engram-kernels-bench.jar"
out="$REPO_DIR/kernels/target/bench-gate"
inject=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "benchmark gate: ERROR: $*" >&2; exit 2; }
git_() { git -C "$REPO_DIR" "$@"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --smoke) smoke=true ;;
        --threshold) threshold=${2:?--threshold needs a value}; shift ;;
        --rounds) rounds=${2:?--rounds needs a value}; shift ;;
        --confirm) confirm=${2:?--confirm needs a value}; shift ;;
        --baseline-commit) baseline_rev=${2:?--baseline-commit needs a commit}; shift ;;
        --a-jar) a_jar=${2:?}; shift ;;
        --jar) b_jar=${2:?}; build=false; shift ;;
        --no-build) build=false ;;
        --out) out=${2:?}; shift ;;
        --inject-slowdown) inject=${2:?}; shift ;;
        --update-baseline) if [[ ${2:-} != "" && ${2:0:2} != -- ]]; then update=$2; shift; else update=HEAD; fi ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

command -v python3 >/dev/null || die "python3 is required"
command -v "$JAVA" >/dev/null || die "java not found"
command -v git >/dev/null || die "git is required (the baseline is a commit)"

if [[ -n $update ]]; then
    sha=$(git_ rev-parse --verify --quiet "$update^{commit}") || die "not a commit: $update"
    python3 - "$BASELINE_FILE" "$sha" "$(git_ log -1 --format=%s "$sha")" <<'EOF'
import json, sys
path, sha, subject = sys.argv[1:]
json.dump({"commit": sha, "subject": subject,
           "about": "The regression gate's A side: deploy/scripts/benchmark_regression.sh builds this commit's "
                    "benchmark jar and measures it against the current tree on the same machine in the same run. "
                    "See docs/internal/performance_regression_guide.md."},
          open(path, "w"), indent=2)
open(path, "a").write("\n")
EOF
    echo "benchmark gate: baseline is now $sha ($(git_ log -1 --format=%s "$sha"))"
    exit 0
fi

# Noise is mostly fork to fork (JIT decisions, memory placement, a busy neighbour for a few seconds), so the gate
# runs many short forks (rounds) rather than few long ones, and takes the median over the rounds.
if $smoke; then
    rounds=${rounds:-7}
    threshold=${threshold:-12}
    jmh_iter=(-f 1 -wi 2 -w 500ms -i 3 -r 500ms)
else
    rounds=${rounds:-10}
    threshold=${threshold:-7}
    jmh_iter=(-f 1 -wi 2 -w 1s -i 3 -r 1s)
fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
confirm=${confirm:-$((2 * rounds))}
[[ $confirm =~ ^[0-9]+$ ]] || die "--confirm must be a non-negative integer"
[[ $threshold =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--threshold must be a number (percent)"

# The suite: one JMH invocation per group and side. The shapes stay clear of cache cliffs on every machine of the
# CI class (Zen 3/4: L2 0.5-1 MiB, L3 32 MiB; Xeon: L2 2 MiB, L3 hundreds of MiB): similarity and batch read
# 768 x 2000 floats = 6 MiB (above every L2, far below every L3), decay 250k memories = 4 MiB of inputs.
groups=(similarity batch spreading decay jni)
suite_of() {
    case $1 in
        similarity) echo 'SimilarityBench\.(zig|java|ceiling|zigNormed|javaNormed)$ -p dim=768 -p n=2000' ;;
        batch) echo 'BatchBench\.zig(Batch|Loop|NormedBatch)$ -p dim=768 -p n=2000 -p b=8 -p residency=hot' ;;
        spreading) echo 'SpreadBench\.(zig|java)$ -p nodes=1000' ;;
        decay) echo 'DecayBench\.(zig|java)$ -p m=250000' ;;
        jni) echo 'JniBench\.(zigTinyCosine|zigTinyNormed|nativeNoop)$' ;;
    esac
}

# --- A: the baseline commit's jar --------------------------------------------------------------------------------
if [[ -z $baseline_rev ]]; then
    [[ -f $BASELINE_FILE ]] || die "no baseline at $BASELINE_FILE (set one with --update-baseline REV)"
    baseline_rev=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["commit"])' "$BASELINE_FILE") ||
        die "$BASELINE_FILE names no commit"
fi
if ! a_sha=$(git_ rev-parse --verify --quiet "$baseline_rev^{commit}"); then
    # A shallow clone may lack the baseline commit: fetch it (by name, then the whole history).
    echo "== the baseline commit $baseline_rev is not in this clone: fetching it"
    git_ fetch --quiet origin "$baseline_rev" 2>/dev/null || git_ fetch --quiet --unshallow origin 2>/dev/null || true
    a_sha=$(git_ rev-parse --verify --quiet "$baseline_rev^{commit}") ||
        die "the baseline commit $baseline_rev is not in this clone and could not be fetched (clone with history)"
fi

start=$SECONDS
if [[ -z $a_jar ]]; then
    a_jar="$JAR_CACHE/$a_sha/engram-kernels-bench.jar"
    if [[ -f $a_jar ]]; then
        echo "== A: baseline jar of ${a_sha:0:12} from the cache (${a_jar#"$REPO_DIR"/})"
    else
        wt="$REPO_DIR/.tools/bench-src/$a_sha"
        echo "== A: building the benchmark jar of ${a_sha:0:12} in a worktree (${wt#"$REPO_DIR"/})"
        git_ worktree remove --force "$wt" >/dev/null 2>&1 || rm -rf "$wt"
        git_ worktree prune
        git_ worktree add --detach --quiet "$wt" "$a_sha" || die "git worktree add failed for $a_sha"
        # Reuse the Zig this tree installed (hard links: the worktree's build may replace them, never ours).
        if [[ -d $REPO_DIR/.tools/zig ]]; then
            mkdir -p "$wt/.tools" && cp -al "$REPO_DIR/.tools/zig" "$wt/.tools/zig"
        fi
        if ! (cd "$wt" && mvn -B -q -Pbench -pl kernels -am package -DskipTests) >"$REPO_DIR/.tools/bench-src/$a_sha.log" 2>&1; then
            tail -30 "$REPO_DIR/.tools/bench-src/$a_sha.log" >&2
            die "building the baseline commit's benchmark jar failed (log: .tools/bench-src/$a_sha.log)"
        fi
        mkdir -p "$(dirname "$a_jar")"
        cp "$wt/kernels/target/engram-kernels-bench.jar" "$a_jar.tmp" && mv "$a_jar.tmp" "$a_jar"
        git_ worktree remove --force "$wt"
    fi
fi
[[ -f $a_jar ]] || die "no A jar at $a_jar"

# --- B: the current tree's jar -----------------------------------------------------------------------------------
if $build; then
    echo "== B: building the benchmark jar of the current tree (mvn -Pbench -pl kernels -am package -DskipTests)"
    (cd "$REPO_DIR" && mvn -B -q -Pbench -pl kernels -am package -DskipTests) || die "the benchmark build failed"
fi
[[ -f $b_jar ]] || die "no B jar at $b_jar (build it, or drop --no-build)"
b_sha=$(git_ rev-parse HEAD)
b_desc=$b_sha
git_ diff --quiet HEAD -- 2>/dev/null || b_desc="$b_sha+uncommitted changes"

# --- rounds ------------------------------------------------------------------------------------------------------
mkdir -p "$out"
rm -f "$out"/[AB]-[rc]*.json "$out"/[AB]-[rc]*.log "$out/report.md" "$out/flagged.txt"
# Both sides run with the page size the job's TaskManagers use: transparent huge pages for the Java heap
# (deploy/flink/config.yaml env.java.opts.taskmanager), where the kernel allows it (THP "madvise" or "always").
# JVM flags go in one -jvmArgsPrepend (space-separated): a command-line -jvmArgsAppend would replace the
# benchmarks' own @Fork(jvmArgsAppend = ...).
a_jvm=() b_jvm=()
if [[ ${ENGRAM_BENCH_THP:-on} == on ]]; then a_jvm+=(-XX:+UseTransparentHugePages); b_jvm+=(-XX:+UseTransparentHugePages); fi
if [[ -n $inject ]]; then
    echo "== TEST-ONLY: injecting a slowdown into B: $inject"
    b_jvm+=("-Dengram.bench.inject-slowdown=$inject")
fi
run_side() { # side round-label (r3: round 3, c3: confirmation round 3) group
    local side=$1 r=$2 g=$3 jar flags file log
    # shellcheck disable=SC2207
    local spec=($(suite_of "$g"))
    if [[ $side == A ]]; then jar=$a_jar; flags="${a_jvm[*]}"; else jar=$b_jar; flags="${b_jvm[*]}"; fi
    local extra=()
    [[ -n $flags ]] && extra=(-jvmArgsPrepend "$flags")
    file="$out/$side-$r-$g.json"
    log="$out/$side-$r-$g.log"
    "$JAVA" -jar "$jar" "${spec[@]}" "${jmh_iter[@]}" -foe true "${extra[@]}" -rf json -rff "$file" >"$log" 2>&1 ||
        { tail -40 "$log" >&2; die "JMH failed ($side, $r, $g; log: $log)"; }
}
# One round: every group on both sides. The order alternates by round and by group, so neither side always runs
# first (a machine that slows down within a round would otherwise favour one side).
run_round() { # round-label (r3 or c3) round-number group...
    local label=$1 r=$2 gi=0 g side order
    shift 2
    for g in "$@"; do
        if (((r + gi) % 2 == 1)); then order=(A B); else order=(B A); fi
        for side in "${order[@]}"; do run_side "$side" "$label" "$g"; done
        gi=$((gi + 1))
    done
}
echo "== A = ${a_sha:0:12} ($(git_ log -1 --format=%s "$a_sha"))"
echo "== B = ${b_desc:0:12}${b_desc:40} ($(git_ log -1 --format=%s HEAD))"
for ((r = 1; r <= rounds; r++)); do
    echo "== round $r/$rounds ($(date -u +%H:%M:%S)): ${jmh_iter[*]}"
    run_round "r$r" "$r" "${groups[@]}"
done

ab_args=(--dir "$out" --rounds "$rounds" --threshold "$threshold" --java "$JAVA"
    --commit-a "$a_sha" --subject-a "($(git_ log -1 --format=%s "$a_sha"))"
    --commit-b "$b_desc" --subject-b "($(git_ log -1 --format=%s HEAD))")

# Noise on a shared machine is fork to fork and heavy-tailed (per-round changes of +-30% happen), so a median over a
# few rounds now and then lands beyond the threshold with nothing changed. A flagged ratio is therefore measured
# again in fresh rounds of its group alone; it fails only if that independent median drops beyond the threshold too.
# A real slowdown moves every round and fails both; noise rarely does twice.
set +e
python3 "$TOOL" ab "${ab_args[@]}" --flagged-out "$out/flagged.txt"
first=$?
set -e
((first != 2)) || die "comparing the rounds failed"
confirmed=0
if ((first == 1 && confirm > 0)); then
    read -r -a confirm_groups <"$out/flagged.txt" || true
    if ((${#confirm_groups[@]} > 0)); then
        echo "== confirmation: $confirm fresh rounds of ${confirm_groups[*]}"
        for ((r = 1; r <= confirm; r++)); do
            echo "== confirmation round $r/$confirm ($(date -u +%H:%M:%S))"
            run_round "c$r" "$r" "${confirm_groups[@]}"
        done
        confirmed=$confirm
    fi
fi

settings="$rounds rounds; JMH ${jmh_iter[*]}; groups: ${groups[*]}"
((confirmed == 0)) || settings+="; $confirmed confirmation rounds of: ${confirm_groups[*]}"
set +e
python3 "$TOOL" ab "${ab_args[@]}" --confirm-rounds "$confirmed" \
    --settings "$settings${inject:+; TEST-ONLY slowdown in B: $inject}" --report "$out/report.md"
status=$?
set -e
echo "== benchmark gate finished in $((SECONDS - start)) s (report: ${out#"$REPO_DIR"/}/report.md)"
exit $status
