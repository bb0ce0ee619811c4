# shellcheck shell=bash
# The frame shared by the deploy tests (run_drill_tests.sh, fault_tests.sh, soak_test.sh). Each runs itself again as
# "SCRIPT --inner WORK" under a hard time limit, in a fresh run directory, and the cluster that the inner run started
# is stopped on any exit (failure, time limit, Ctrl-C): exactly the processes recorded in its state dir.
# Expects S (deploy/scripts) and WORK (the parent of the run directories) to be set by the caller.

# run_in_frame WHAT LIMIT LIMIT_VARIABLE SCRIPT: the outer run; exits with the inner run's status.
run_in_frame() {
    local what=$1 limit=$2 limit_var=$3 script=$4 rc
    # One directory per run: two builds in the same tree never share (or wipe) each other's cluster.
    WORK="$WORK/run-$(date +%Y%m%d-%H%M%S)-$$"
    mkdir -p "$WORK"
    WORK=$(cd "$WORK" && pwd)
    export ENGRAM_STATE_DIR="$WORK/cluster"
    trap '"$S/stop_cluster.sh" --state-dir "$ENGRAM_STATE_DIR" >"$WORK/final-stop.log" 2>&1 || cat "$WORK/final-stop.log"' EXIT
    set +e
    timeout --kill-after=20 "$limit" bash "$script" --inner "$WORK"
    rc=$?
    set -e
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "FAIL the $what hit the hard time limit of ${limit}s ($limit_var)"
        echo "0 passed, 1 failed"
    fi
    exit "$rc"
}
