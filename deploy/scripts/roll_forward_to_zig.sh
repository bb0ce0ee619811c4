#!/usr/bin/env bash
# ROLL FORWARD the running engram job from the Java kernels to the Zig kernels, keeping all state and every setting:
# flink stop (savepoint) -> flink run -s from the savepoint with the jar (it must contain the native library) and the
# job's own configuration (read back from the cluster), only engram.kernels.mode=zig changed -> health check. The jar is checked BEFORE the job is stopped, and so is the control
# topic: if the latest runtime switch (set_kernel_mode.sh) says java, the roll forward stops in pre-flight unless
# --reset-runtime-switch (publish an unscoped zig switch after the restart) or --keep-runtime-switch is given.
# See lib/switch.sh.
#
# Usage: roll_forward_to_zig.sh [--rest URL] [--job-id ID] [--savepoint-dir DIR] [--jar PATH] [--parallelism N]
#                               [--conf KEY=VALUE]... [--reset-runtime-switch | --keep-runtime-switch]
#                               [--health-timeout SECONDS] [--result-file FILE]
set -euo pipefail
# shellcheck source=lib/common.sh
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=lib/switch.sh
source "$(dirname "$0")/lib/switch.sh"
TARGET_MODE=zig
switch_main "$@"
