#!/usr/bin/env bash
# ROLL BACK the running engram job from the Zig kernels to the pure-Java kernels, keeping all state and every setting:
# flink stop (savepoint) -> flink run -s from the savepoint with the SAME jar and the job's own configuration (read
# back from the cluster), only engram.kernels.mode=java changed -> health check.
# With --java-only-jar it resubmits the Java-only build (no native code in the jar at all) instead.
# Prints every step with its duration and the measured RTO (decision -> healthy). See lib/switch.sh.
#
# Usage: rollback_to_java.sh [--rest URL] [--job-id ID] [--savepoint-dir DIR] [--jar PATH]
#                            [--java-only-jar [PATH]] [--parallelism N] [--conf KEY=VALUE]...
#                            [--health-timeout SECONDS] [--result-file FILE]
# Example at 3 AM:   deploy/scripts/rollback_to_java.sh
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/switch.sh
source "$(dirname "$0")/lib/switch.sh"
TARGET_MODE=java
switch_main "$@"
