#!/usr/bin/env bash
# ROLL BACK the running engram job from the Zig kernels to the pure-Java kernels, keeping all state:
# stop-with-savepoint -> resubmit the SAME jar from the savepoint with engram.kernels.mode=java -> health check.
# With --java-only-jar it resubmits the Java-only build (no native code in the jar at all) instead.
# Prints every step with its duration and the measured RTO (decision -> healthy). See lib/switch.sh.
#
# Usage: rollback_to_java.sh [--rest URL] [--job-id ID] [--savepoint-dir DIR] [--jar PATH]
#                            [--java-only-jar [PATH]] [--health-timeout SECONDS] [--result-file FILE]
# Example at 3 AM:   deploy/scripts/rollback_to_java.sh
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/switch.sh
source "$(dirname "$0")/lib/switch.sh"
TARGET_MODE=java
switch_main "$@"
