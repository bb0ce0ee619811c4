# shellcheck shell=bash
# The savepoint-based kernel switch behind rollback_to_java.sh and roll_forward_to_zig.sh. Sourced after common.sh.
#
#   1. pre-flight: the job is RUNNING, the jar to resubmit exists and CAN run the target mode (checked BEFORE the
#      job is stopped: never stop what we cannot restart)
#   2. stop-with-savepoint (POST /jobs/{id}/stop, canonical format, no drain), poll until COMPLETED
#   3. resubmit the jar from the savepoint with engram.kernels.mode=<target>, wait for all tasks RUNNING
#   4. health_check.sh --expect-mode <target> (waits for the first checkpoint after the restore)
# RTO = from the start of this script (the decision) to the healthy verdict. Printed, and written as key=value
# lines to --result-file.

switch_usage() {
    cat <<EOF
Usage: $(basename "$0") [--rest URL] [--job-id ID] [--savepoint-dir DIR] [--jar PATH] $([ "$TARGET_MODE" = java ] && echo "[--java-only-jar [PATH]] ")
       [--bootstrap-servers H:P] [--parallelism N] [--health-timeout SECONDS] [--result-file FILE]$([ "$TARGET_MODE" = zig ] && echo " [--reset-runtime-switch|--keep-runtime-switch]")
  --job-id ID        the job to switch (default: the one running engram-flink job)
  --savepoint-dir    where the savepoint goes (default: \$ENGRAM_SAVEPOINT_DIR or the cluster's
                     execution.checkpointing.savepoint-dir)
  --jar PATH         the jar to resubmit (default: the jar this job was deployed from, per
                     \$ENGRAM_STATE_DIR/deployments.log, else \$ENGRAM_JOB_JAR): the SAME jar, only the mode changes
$([ "$TARGET_MODE" = java ] && echo "  --java-only-jar    resubmit the Java-only build instead (no native code at all; default path
                     job/target/engram-job-<version>-java-only.jar or \$ENGRAM_JAVA_ONLY_JAR)")
$([ "$TARGET_MODE" = zig ] && echo "  --reset-runtime-switch  also publish an unscoped 'zig' KernelControl record, clearing a runtime
                     'java' switch (set_kernel_mode.sh) that would otherwise keep routing to Java
  --keep-runtime-switch   roll forward although the latest runtime switch says java (those spaces stay on
                     Java). Without either flag, a runtime java switch in force stops the roll forward
                     in pre-flight.")
  --parallelism N    resubmit with parallelism N instead of the running job's (a rescale through the same
                     savepoint; N must not exceed the cluster's free slots plus the job's own, or its max parallelism)
  --health-timeout   seconds to wait for the restored job to be healthy (default 60)
  --result-file F    write the timings (key=value) to F
EOF
}

switch_main() {
    local job_id="" sp_dir="" jar="" java_only=0 health_timeout=60 result_file="" reset_switch=0 keep_switch=0 src_mode
    local parallelism=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --rest) ENGRAM_REST=$2; shift 2 ;;
            --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
            --bootstrap-servers) ENGRAM_BOOTSTRAP=$2; shift 2 ;;
            --job-id) job_id=$2; shift 2 ;;
            --savepoint-dir) sp_dir=$2; shift 2 ;;
            --jar) jar=$2; shift 2 ;;
            --java-only-jar)
                [ "$TARGET_MODE" = java ] || die "--java-only-jar cannot run the Zig kernels"
                java_only=1
                if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then jar=$2; shift; fi
                shift ;;
            --parallelism)
                [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--parallelism needs a positive integer, got '${2:-}'"
                parallelism=$2; shift 2 ;;
            --health-timeout) health_timeout=$2; shift 2 ;;
            --result-file) result_file=$2; shift 2 ;;
            --reset-runtime-switch) reset_switch=1; shift ;;
            --keep-runtime-switch) keep_switch=1; shift ;;
            -h|--help) switch_usage; exit 0 ;;
            *) die "unknown argument '$1' (see --help)" ;;
        esac
    done
    load_cluster_env
    need_rest
    sp_dir=${sp_dir:-${ENGRAM_SAVEPOINT_DIR:-}}
    src_mode=$([ "$TARGET_MODE" = java ] && echo zig || echo java)
    log "decision: switch the engram job to the $TARGET_MODE kernels through a savepoint (clock starts now)"

    step "pre-flight"
    [ -n "$job_id" ] || job_id=$(find_job_id)
    local state
    state=$(job_state "$job_id")
    [ "$state" = RUNNING ] || die "job $job_id is $state, not RUNNING: there is nothing to stop-with-savepoint. Start from the latest savepoint/checkpoint with deploy_with_zig.sh --mode $TARGET_MODE --savepoint PATH"
    # The deployment record of the running job: its jar, configuration and parallelism are reused as they are.
    local record="$ENGRAM_STATE_DIR/jobs/$job_id.json" base_conf="{}"
    if [ -f "$record" ]; then
        base_conf=$(jq -c '.flinkConfiguration // {}' "$record")
        ENGRAM_PARALLELISM=$(jq -r '.parallelism // 2' "$record")
        log "    deployment record $record: parallelism $ENGRAM_PARALLELISM, configuration $base_conf"
    else
        warn "no deployment record for job $job_id in $ENGRAM_STATE_DIR/jobs (not deployed by these scripts?): resubmitting with only the mode, bootstrap servers and \$ENGRAM_JOB_CONF; parallelism $ENGRAM_PARALLELISM"
        need_bootstrap
    fi
    if [ -n "$parallelism" ] && [ "$parallelism" != "$ENGRAM_PARALLELISM" ]; then
        log "    rescale: parallelism $ENGRAM_PARALLELISM -> $parallelism (the savepoint's key groups are redistributed)"
        ENGRAM_PARALLELISM=$parallelism
    fi
    [ -n "${ENGRAM_BOOTSTRAP:-}" ] || ENGRAM_BOOTSTRAP=$(jq -r '."engram.kafka.bootstrap-servers" // empty' <<<"$base_conf")
    if [ -z "$jar" ]; then
        if [ "$java_only" = 1 ]; then
            jar=$ENGRAM_JAVA_ONLY_JAR
        elif [ -f "$record" ] && [ -n "$(jq -r '.jar // empty' "$record")" ]; then
            jar=$(jq -r '.jar' "$record")
            log "    job $job_id was deployed from $jar: resubmitting the same jar"
        else
            jar=$ENGRAM_JOB_JAR
        fi
    fi
    [ -f "$jar" ] || die "jar not found: $jar. Nothing was stopped."
    if [ "$java_only" = 1 ] && ! jar_is_java_only "$jar"; then
        die "$jar contains a native library: it is not the Java-only jar. Nothing was stopped."
    fi
    if [ "$TARGET_MODE" = zig ] && jar_is_java_only "$jar"; then
        die "$jar has no native library (a Java-only build) and cannot run mode=zig: pass --jar with the full job jar. Nothing was stopped."
    fi
    if [ "$TARGET_MODE" = zig ] && [ "$reset_switch" = 0 ] && [ "$keep_switch" = 0 ]; then
        # A runtime switch (set_kernel_mode.sh java) lives in the job's broadcast state and survives the savepoint:
        # rolled forward, those spaces would STILL run Java, and the mode gauge only shows it once records arrive.
        local last
        # The switch in force is the newest by timestamp_ms (the job ignores older ones), not the last read: the
        # control topic may have several partitions.
        last=$(engram_cli tail --bootstrap-servers "$ENGRAM_BOOTSTRAP" --type control --from-beginning \
            --idle-timeout 2s 2>/dev/null | jq -cs 'map(select((.mode == "zig" or .mode == "java") and ((.reason // "") | test("\\S")))) | max_by(.timestamp_ms) // empty' 2>/dev/null || true)
        if [ -n "$last" ] && [ "$(jq -r '.mode // empty' <<<"$last" 2>/dev/null)" = java ]; then
            die "a runtime switch to Java is still in force ($(jq -r '"spaces: \(if (.spaces | length) > 0 then (.spaces | join(",")) elif .fraction != null then "fraction \(.fraction)" else "all" end); reason: \(.reason); by \(.issued_by) at \(.timestamp_ms / 1000 | floor | todate)"' <<<"$last")). Rolled forward, it would keep routing to Java. Pass --reset-runtime-switch to clear it, or --keep-runtime-switch to keep it. Nothing was stopped."
        fi
    fi
    log "    job $job_id RUNNING; resubmit jar $jar ($(jar_is_java_only "$jar" && echo "Java-only, no native code" || echo "with native library")); savepoint dir ${sp_dir:-(cluster default)}"

    local preflight_ms=$(($(now_ms) - SCRIPT_T0))
    step "stop-with-savepoint of job $job_id"
    SAVEPOINT_PATH=""
    stop_with_savepoint "$job_id" "$sp_dir"
    local stop_ms=$(($(now_ms) - STEP_T0))
    log "    savepoint $SAVEPOINT_PATH"
    printf '%s savepoint=%s from_job=%s target_mode=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$SAVEPOINT_PATH" "$job_id" \
        "$TARGET_MODE" >>"$ENGRAM_STATE_DIR/savepoints.log" 2>/dev/null || true

    step "resubmit from the savepoint with engram.kernels.mode=$TARGET_MODE"
    # A failed resubmit leaves the job stopped: say exactly how to get back.
    RECOVERY_HINT="The job is STOPPED; its state is safe in $SAVEPOINT_PATH. Retry: $ENGRAM_SCRIPTS_DIR/deploy_with_zig.sh --mode $TARGET_MODE --jar $jar --savepoint $SAVEPOINT_PATH ; or resume the previous kernels: $ENGRAM_SCRIPTS_DIR/deploy_with_zig.sh --mode $src_mode --savepoint $SAVEPOINT_PATH"
    trap 'rc=$?; [ $rc -eq 0 ] || printf "%s [%s] RECOVERY: %s\n" "$(date +%H:%M:%S)" "$SCRIPT_NAME" "$RECOVERY_HINT" >&2; _on_exit; exit $rc' EXIT
    submit_job "$jar" "$TARGET_MODE" "$SAVEPOINT_PATH" "$base_conf"
    local new_job=$SUBMITTED_JOB_ID
    local resubmit_ms=$(($(now_ms) - STEP_T0))
    RECOVERY_HINT="Job $new_job runs on $TARGET_MODE kernels from $SAVEPOINT_PATH but is not healthy: inspect it (health_check.sh --job-id $new_job, TaskManager log); to go back: $ENGRAM_SCRIPTS_DIR/$([ "$TARGET_MODE" = java ] && echo roll_forward_to_zig.sh || echo rollback_to_java.sh) --job-id $new_job"

    if [ "$reset_switch" = 1 ]; then
        step "reset the runtime switch: publish an unscoped zig KernelControl record"
        "$ENGRAM_SCRIPTS_DIR/set_kernel_mode.sh" zig --reason "roll forward to zig: clear earlier runtime switches" \
            --bootstrap-servers "$ENGRAM_BOOTSTRAP"
    fi

    step "health check of job $new_job (expect $TARGET_MODE)"
    "$ENGRAM_SCRIPTS_DIR/health_check.sh" --rest "$ENGRAM_REST" --job-id "$new_job" --expect-mode "$TARGET_MODE" \
        --wait "$health_timeout" || die "job $new_job is not healthy on $TARGET_MODE kernels (see the FAIL lines)"
    local health_ms=$(($(now_ms) - STEP_T0))
    step_end
    local rto_ms=$(($(now_ms) - SCRIPT_T0))
    trap _on_exit EXIT
    log "pre-flight $(fmt_ms "$preflight_ms"), stop-with-savepoint $(fmt_ms "$stop_ms"), resubmit $(fmt_ms "$resubmit_ms"), healthy after $(fmt_ms "$health_ms")"
    log "RTO (decision -> healthy on $TARGET_MODE) = $(fmt_ms "$rto_ms")"
    local result
    result=$(printf 'old_job_id=%s\nnew_job_id=%s\ntarget_mode=%s\njar=%s\nsavepoint=%s\npreflight_ms=%s\nstop_ms=%s\nresubmit_ms=%s\nhealth_ms=%s\nrto_ms=%s\n' \
        "$job_id" "$new_job" "$TARGET_MODE" "$jar" "$SAVEPOINT_PATH" "$preflight_ms" "$stop_ms" "$resubmit_ms" "$health_ms" "$rto_ms")
    [ -z "$result_file" ] || printf '%s\n' "$result" >"$result_file"
    echo "SWITCHED $(tr '\n' ' ' <<<"$result")"
}
