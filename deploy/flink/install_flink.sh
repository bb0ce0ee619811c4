#!/usr/bin/env bash
# Installs the real Apache Flink distribution (bin/, conf/, lib/ with flink-dist and RocksDB, opt/, plugins/) that
# the deploy scripts and tests run, and prints its FLINK_HOME on stdout (progress goes to stderr).
#
# The distribution comes from PyPI, where Apache publishes it as the apache-flink (bin/, conf/) and
# apache-flink-libraries (lib/, opt/, plugins/) packages; `--no-deps` leaves PyFlink's Python dependencies out.
# It goes into <repo>/.tools/flink-<version> (git-ignored), like Zig (native/build.sh): installed once, version
# checked on every call, reused afterwards. FLINK_HOME is that folder's pyflink/ directory.
#
# Usage: deploy/flink/install_flink.sh [--check]
#   --check   install nothing: exit 1 (with the reason) unless the pinned version is installed
# Environment:
#   FLINK_VERSION   the version to install (default 2.2.1, the version the job is built against)
#   FLINK_HOME      use this existing distribution instead (its lib/flink-dist-<version>.jar must match)
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FLINK_VERSION=${FLINK_VERSION:-2.2.1}
TARGET=$REPO_DIR/.tools/flink-$FLINK_VERSION
CHECK_ONLY=0
[ "${1:-}" = --check ] && CHECK_ONLY=1

log() { echo "[flink] $*" >&2; }
die() {
    echo "[flink] ERROR: $*" >&2
    exit 1
}

# installed_version DIR: the version of the distribution in DIR (from lib/flink-dist-<v>.jar), '' if none.
installed_version() {
    local dist
    dist=$(ls "$1"/lib/flink-dist-*.jar 2>/dev/null | head -1)
    [ -n "$dist" ] && [ -x "$1/bin/flink" ] && [ -x "$1/bin/taskmanager.sh" ] && [ -f "$1/conf/config.yaml" ] \
        || return 0
    dist=${dist##*/flink-dist-}
    echo "${dist%.jar}"
}

if [ -n "${FLINK_HOME:-}" ]; then
    found=$(installed_version "$FLINK_HOME")
    [ "$found" = "$FLINK_VERSION" ] || die "FLINK_HOME=$FLINK_HOME holds Flink ${found:-(no distribution)}, $FLINK_VERSION required"
    echo "$FLINK_HOME"
    exit 0
fi

home=$TARGET/pyflink
found=$(installed_version "$home")
if [ "$found" != "$FLINK_VERSION" ]; then
    [ "$CHECK_ONLY" = 0 ] || die "Flink $FLINK_VERSION is not installed in ${TARGET#"$REPO_DIR"/} (found: ${found:-none}): run $0"
    command -v python3 >/dev/null 2>&1 || die "python3 not found: install Python 3 with pip"
    python3 -m pip --version >/dev/null 2>&1 || die "pip not found for python3: install Python 3 with pip"
    log "installing the Flink $FLINK_VERSION distribution into ${TARGET#"$REPO_DIR"/} (found: ${found:-none}; about 340 MB)"
    t0=$SECONDS
    rm -rf "$TARGET"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check --no-deps \
        --target "$TARGET" "apache-flink==$FLINK_VERSION" "apache-flink-libraries==$FLINK_VERSION" >&2 ||
        die "pip could not install apache-flink==$FLINK_VERSION apache-flink-libraries==$FLINK_VERSION (offline?)"
    found=$(installed_version "$home")
    [ "$found" = "$FLINK_VERSION" ] || die "after pip install: Flink ${found:-(no distribution)} in $home, $FLINK_VERSION required"
    log "Flink $FLINK_VERSION installed in $((SECONDS - t0)) s: FLINK_HOME=$home"
fi
echo "$home"
