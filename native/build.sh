#!/usr/bin/env bash
# Builds and tests the Zig kernels (called by native/pom.xml; runnable by hand).
#
#   native/build.sh build     install the pinned Zig if needed, check that the committed ZigNative.java is what
#                             native/src/gen_java.zig generates from native/src/abi.zig, cross-compile every
#                             library variant into native/target/lib/<triple>/<variant>/, check their symbols, write
#                             native/target/lib/engram-native.properties (read by the Java loader), and build the
#                             benchmarks' helper library into native/target/bench-lib/ (never part of the kernels jar)
#   native/build.sh generate  rewrite kernels/src/main/java/io/engram/kernels/ZigNative.java from native/src/abi.zig
#   native/build.sh test      run the Zig unit tests on this machine (zig build test)
#
# Zig comes from PyPI (the `ziglang` wheel) into <repo>/.tools/zig, so the only prerequisite is Python 3 with pip.
# Caches live under <repo>/.tools too (git-ignored): nothing is written to $HOME or the source tree, and a
# `mvn clean` keeps the compiled objects, so rebuilding is a few seconds.
set -euo pipefail

NATIVE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$NATIVE_DIR")
ZIG_VERSION=${ZIG_VERSION:-0.13.0}
TOOLS_DIR=$REPO_DIR/.tools
ZIG_PKG_DIR=$TOOLS_DIR/zig
LIB_DIR=$NATIVE_DIR/target/lib
BENCH_LIB_DIR=$NATIVE_DIR/target/bench-lib
PROPERTIES=$LIB_DIR/engram-native.properties
ZIG_NATIVE_JAVA=$REPO_DIR/kernels/src/main/java/io/engram/kernels/ZigNative.java
export ZIG_GLOBAL_CACHE_DIR=$TOOLS_DIR/zig-cache/global
export ZIG_LOCAL_CACHE_DIR=$TOOLS_DIR/zig-cache/native

log() { echo "[native] $*"; }
die() {
    echo "[native] ERROR: $*" >&2
    exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }
zig() { PYTHONPATH=$ZIG_PKG_DIR python3 -m ziglang "$@"; }
installed_zig_version() {
    [[ -d $ZIG_PKG_DIR/ziglang ]] && zig version 2>/dev/null || true
}

# Installs ziglang==$ZIG_VERSION into .tools/zig unless exactly that version is already there.
ensure_zig() {
    have python3 || die "python3 not found: install Python 3 with pip, or build with -Pjava-only"
    local found
    found=$(installed_zig_version)
    if [[ $found == "$ZIG_VERSION" ]]; then
        return
    fi
    python3 -m pip --version >/dev/null 2>&1 ||
        die "pip not found for python3: install Python 3 with pip, or build with -Pjava-only"
    log "installing Zig $ZIG_VERSION into ${ZIG_PKG_DIR#"$REPO_DIR"/} (found: ${found:-none})"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
        --target "$ZIG_PKG_DIR" --upgrade "ziglang==$ZIG_VERSION" ||
        die "pip could not install ziglang==$ZIG_VERSION (offline?): install Python 3 with pip and network access, or build with -Pjava-only"
    found=$(installed_zig_version)
    [[ $found == "$ZIG_VERSION" ]] || die "Zig ${found:-(none)} found, $ZIG_VERSION required"
}

# The JNI symbols every library must export: one per native method of ZigNative.java (the contract), or the
# list in library.zig if the Java source is not next to us.
expected_symbols() {
    local names
    if [[ -f $ZIG_NATIVE_JAVA ]]; then
        names=$(sed -nE 's/^[[:space:]]*(private )?static native [^(]* ([A-Za-z0-9]+)\(.*/\2/p' "$ZIG_NATIVE_JAVA")
    else
        names=$(sed -nE 's/.*@export\([A-Za-z0-9]+, \.\{ \.name = prefix \+\+ "([A-Za-z0-9]+)".*/\1/p' "$NATIVE_DIR/src/library.zig")
    fi
    [[ -n $names ]] || die "could not read the JNI method list"
    local n
    for n in $names; do echo "Java_io_engram_kernels_ZigNative_$n"; done
}

# Writes ZigNative.java as native/src/gen_java.zig generates it from native/src/abi.zig, to stdout.
generated_java() {
    (cd "$NATIVE_DIR" && zig run src/gen_java.zig) || die "native/src/gen_java.zig failed"
}

# The committed ZigNative.java must be exactly what the generator writes: Java and Zig cannot drift apart.
check_generated() {
    [[ -f $ZIG_NATIVE_JAVA ]] || return 0 # building the native module on its own
    local fresh
    fresh=$(mktemp)
    generated_java >"$fresh"
    if ! cmp -s "$fresh" "$ZIG_NATIVE_JAVA"; then
        diff -u "$ZIG_NATIVE_JAVA" "$fresh" | head -40 >&2 || true
        rm -f "$fresh"
        die "kernels/src/main/java/io/engram/kernels/ZigNative.java is not what native/src/abi.zig generates: run native/build.sh generate (and never edit ZigNative.java by hand)"
    fi
    rm -f "$fresh"
}

generate() {
    ensure_zig
    local fresh
    fresh=$(mktemp)
    generated_java >"$fresh"
    mv "$fresh" "$ZIG_NATIVE_JAVA"
    log "wrote ${ZIG_NATIVE_JAVA#"$REPO_DIR"/}"
}

# Defined, exported symbol names of a library ('' if no tool can read it).
exported_symbols() {
    local lib=$1
    if [[ $lib == *.so ]]; then
        if have nm; then
            nm -D --defined-only "$lib" | awk '{print $NF}'
        elif have readelf; then
            readelf --dyn-syms -W "$lib" | awk '$7 != "UND" && $5 == "GLOBAL" {print $8}'
        elif have objdump; then
            objdump -T "$lib" | awk '$4 != "*UND*" {print $NF}'
        fi
    elif have llvm-nm; then
        llvm-nm -g --defined-only "$lib" | awk '{print $NF}' | sed 's/^_//'
    fi
}

# Prints how the library calls fma/fmaf (a soft-float call: @mulAdd on a target without FMA), '' if it does not.
fma_calls() {
    local lib=$1 dis=objdump sym=nm
    if [[ $lib != *.so ]]; then dis=llvm-objdump sym=llvm-nm; fi
    local pattern='<_?_?(fmaf?|fmal)(@plt)?>'
    if have "$dis"; then
        "$dis" -d --no-show-raw-insn "$lib" | grep -E "(call|jmp)[a-z]*[[:space:]].*$pattern" || true
    fi
    if have "$sym"; then
        "$sym" "$lib" 2>/dev/null | grep -E '[[:space:]]_?_?(fmaf?|fmal)$' || true
    elif [[ $lib == *.so ]] && have readelf; then
        readelf -sW "$lib" | awk '$4 == "FUNC" {print $8}' | grep -E '^_?_?(fmaf?|fmal)$' || true
    fi
}

can_check() {
    local lib=$1
    if [[ $lib == *.so ]]; then have nm || have readelf || have objdump; else have llvm-nm; fi
}

build() {
    ensure_zig
    local start=$SECONDS
    check_generated
    rm -rf "$LIB_DIR" "$BENCH_LIB_DIR" # never package a stale variant
    mkdir -p "$LIB_DIR" "$BENCH_LIB_DIR"
    (cd "$NATIVE_DIR" && zig build --prefix "$LIB_DIR" --summary none) || die "zig build failed"
    (cd "$NATIVE_DIR" && zig build -Dset=bench --prefix "$BENCH_LIB_DIR" --summary none) ||
        die "zig build of the benchmark helper library failed"

    local expected abi
    expected=$(expected_symbols)
    abi=$(sed -nE 's/^pub const version: i32 = ([0-9]+);.*/\1/p' "$NATIVE_DIR/src/abi.zig")
    [[ -n $abi ]] || die "could not read the ABI version from src/abi.zig"
    if [[ -f $ZIG_NATIVE_JAVA ]] && ! grep -qE "ABI_VERSION = $abi;" "$ZIG_NATIVE_JAVA"; then
        die "src/abi.zig version $abi differs from ZigNative.ABI_VERSION"
    fi

    local libs=() entries=() lib rel id file size sha exported missing extra fma note
    while IFS= read -r lib; do libs+=("$lib"); done < <(find "$LIB_DIR" -type f -name 'libengram.*' | LC_ALL=C sort)
    [[ ${#libs[@]} -gt 0 ]] || die "zig build produced no library"
    for lib in "${libs[@]}"; do
        rel=${lib#"$LIB_DIR"/}
        id=${rel%/*}
        file=${rel##*/}
        size=$(wc -c <"$lib" | tr -d ' ')
        sha=$(sha256 "$lib")
        note="exports checked"
        if can_check "$lib"; then
            exported=$(exported_symbols "$lib")
            missing=$(comm -23 <(echo "$expected" | LC_ALL=C sort) <(echo "$exported" | LC_ALL=C sort))
            [[ -z $missing ]] || die "$rel does not export: $(echo $missing)"
            # Nothing beyond the contract: a benchmark helper or a stray symbol does not ship.
            extra=$(comm -13 <(echo "$expected" | LC_ALL=C sort) <(echo "$exported" | grep '^Java_' | LC_ALL=C sort))
            [[ -z $extra ]] || die "$rel exports JNI functions ZigNative.java does not declare: $(echo $extra)"
        else
            note="exports not checked (no nm/readelf/objdump for this format)"
        fi
        if [[ $id == x86_64-*/baseline ]]; then
            if can_check "$lib"; then
                fma=$(fma_calls "$lib")
                [[ -z $fma ]] || die "$rel calls a soft-float fma (@mulAdd without FMA hardware):"$'\n'"$fma"
                note="$note, no fma call"
            else
                note="$note, fma not checked"
            fi
        fi
        log "built $(printf '%-28s' "$id") $(printf '%8d' "$size") bytes  sha256 ${sha:0:16}  ($note)"
        entries+=("$id.file=$file" "$id.sha256=$sha")
    done

    local ids=()
    for lib in "${libs[@]}"; do
        rel=${lib#"$LIB_DIR"/}
        ids+=("${rel%/*}")
    done
    {
        echo "# Written by native/build.sh; read by the kernels' native library loader."
        echo "zig.version=$ZIG_VERSION"
        echo "abi.version=$abi"
        echo "libraries=$(IFS=,; echo "${ids[*]}")"
        printf '%s\n' "${entries[@]}"
    } >"$PROPERTIES"
    local bench_libs
    bench_libs=$(find "$BENCH_LIB_DIR" -type f -name 'libengram-bench.*' | wc -l)
    [[ $bench_libs -gt 0 ]] || die "zig build produced no benchmark helper library"
    log "${#libs[@]} libraries and ${PROPERTIES#"$REPO_DIR"/}, $bench_libs benchmark helper libraries in $((SECONDS - start))s"
}

sha256() {
    if have sha256sum; then
        sha256sum "$1" | awk '{print $1}'
    elif have shasum; then
        shasum -a 256 "$1" | awk '{print $1}'
    else
        python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}

run_tests() {
    ensure_zig
    local start=$SECONDS
    (cd "$NATIVE_DIR" && zig build test --summary all) || die "Zig unit tests failed"
    log "Zig unit tests passed in $((SECONDS - start))s"
}

case "${1:-}" in
    build) build ;;
    generate) generate ;;
    test) run_tests ;;
    *)
        echo "usage: $0 build|generate|test" >&2
        exit 2
        ;;
esac
