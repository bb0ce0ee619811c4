# shellcheck shell=bash
# The savepoint-based kernel switch behind rollback_to_java.sh and roll_forward_to_zig.sh. Sourced after common.sh.
#
#   1. pre-flight: the job is RUNNING; its configuration is read back from the cluster (GET /jobs/{id}/config, where
#      the job publishes every setting it was built with; lib/jobconf.py keeps what goes beyond the cluster's own
#      configuration); the jar to resubmit exists and CAN run the target mode. All checked BEFORE the job is
#      stopped: never stop what we cannot restart.
#   2. flink stop --type canonical --savepointPath DIR JOB (stop-with-savepoint, no drain)
#   3. flink run -d -s SAVEPOINT -p N -D <every setting of the job> -D engram.kernels.mode=<target> JAR, wait for all
#      tasks RUNNING; the new job's configuration must equal the old one's except what the operator changed
#   4. health_check.sh --expect-mode <target> (waits for the first checkpoint after the restore)
# RTO = from the start of this script (the decision) to the healthy verdict. Printed, and written as key=value
# lines to --result-file.

switch_usage() {
    cat <<EOF
Usage: $(basename "$0") [--rest URL] [--job-id ID] [--savepoint-dir DIR] [--jar PATH] $([ "$TARGET_MODE" = java ] && echo "[--java-only-jar [PATH]] ")
       [--bootstrap-servers H:P] [--parallelism N] [--conf KEY=VALUE]... [--health-timeout SECONDS]
       [--result-file FILE]$([ "$TARGET_MODE" = zig ] && echo " [--reset-runtime-switch|--keep-runtime-switch]")
  --job-id ID        the job to switch (default: the one running engram-flink job)
  --savepoint-dir    where the savepoint goes (default: \$ENGRAM_SAVEPOINT_DIR or the cluster's
                     execution.checkpointing.savepoint-dir)
  --jar PATH         the jar to resubmit (default: the jar the job was submitted from, per its configuration
                     (pipeline.jars), else \$ENGRAM_JOB_JAR): the SAME jar, only the mode changes
$([ "$TARGET_MODE" = java ] && echo "  --java-only-jar    resubmit the Java-only build instead (no native code at all; default path
                     job/target/engram-job-<version>-java-only.jar or \$ENGRAM_JAVA_ONLY_JAR)")
$([ "$TARGET_MODE" = zig ] && echo "  --reset-runtime-switch  also publish an unscoped 'zig' KernelControl record, clearing a runtime
                     'java' switch (set_kernel_mode.sh) that would otherwise keep routing to Java
  --keep-runtime-switch   roll forward although the latest runtime switch says java (those spaces stay on
                     Java). Without either flag, a runtime java switch in force stops the roll forward
                     in pre-flight.")
  --parallelism N    resubmit with parallelism N instead of the running job's (a rescale through the same
                     savepoint; N must not exceed the cluster's free slots plus the job's own, or its max parallelism)
  --conf KEY=VALUE   change (or add) one setting of the job; also how hidden settings (secrets, which the job does
                     not publish) are given again. Every other setting of the running job is resubmitted as it is.
  --bootstrap-servers H:P  resubmit with these Kafka bootstrap servers (default: the job's own)
  --health-timeout   seconds to wait for the restored job to be healthy (default 60)
  --result-file F    write the timings (key=value) to F
EOF
}

switch_main() {
    local job_id="" sp_dir="" jar="" java_only=0 health_timeout=60 result_file="" reset_switch=0 keep_switch=0 src_mode
    local parallelism="" bootstrap="" sets=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --rest) ENGRAM_REST=$2; shift 2 ;;
            --state-dir) ENGRAM_STATE_DIR=$2; shift 2 ;;
            --bootstrap-servers) bootstrap=$2; shift 2 ;;
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
            --conf) [[ ${2:-} == *=* ]] || die "--conf needs KEY=VALUE, got '${2:-}'"; sets+=("$2"); shift 2 ;;
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
    need_flink
    sp_dir=${sp_dir:-${ENGRAM_SAVEPOINT_DIR:-}}
    src_mode=$([ "$TARGET_MODE" = java ] && echo zig || echo java)
    log "decision: switch the engram job to the $TARGET_MODE kernels through a savepoint (clock starts now)"

    step "pre-flight"
    [ -n "$job_id" ] || job_id=$(find_job_id)
    local state
    state=$(job_state "$job_id")
    [ "$state" = RUNNING ] || die "job $job_id is $state, not RUNNING: there is nothing to stop-with-savepoint. Start from the latest savepoint/checkpoint with deploy_with_zig.sh --mode $TARGET_MODE --savepoint PATH"

    # The running job's configuration, as it published it, and the cluster's: what to resubmit is the difference
    # (lib/jobconf.py), with the operator's --conf and --bootstrap-servers on top; the mode is submit_job's.
    local work="$ENGRAM_STATE_DIR/switches/$job_id-$(date +%Y%m%d-%H%M%S)"
    mkdir -p "$work"
    job_config "$job_id" "$work/job-config.json"
    rest GET /jobmanager/config >"$work/cluster-config.json"
    local jc=(python3 "$ENGRAM_SCRIPTS_DIR/lib/jobconf.py") set_args=() kv rc=0
    for kv in ${sets[@]+"${sets[@]}"}; do set_args+=(--set "$kv"); done
    [ -z "$bootstrap" ] || set_args+=(--set "engram.kafka.bootstrap-servers=$bootstrap")
    "${jc[@]}" resubmit --job "$work/job-config.json" --cluster "$work/cluster-config.json" \
        --drop engram.kernels.mode ${set_args[@]+"${set_args[@]}"} >"$work/resubmit.conf" 2>"$work/resubmit.log" || rc=$?
    [ "$rc" -eq 0 ] || die "cannot resubmit job $job_id with its configuration: $(cat "$work/resubmit.log") Nothing was stopped."
    SUBMIT_CONF=()
    mapfile -d '' SUBMIT_CONF <"$work/resubmit.conf"
    log "    configuration of job $job_id: $(cat "$work/resubmit.log")"
    log "    resubmitted as it is: $(shown_conf ${SUBMIT_CONF[@]+"${SUBMIT_CONF[@]}"})"
    ENGRAM_BOOTSTRAP=$(printf '%s\n' ${SUBMIT_CONF[@]+"${SUBMIT_CONF[@]}"} | sed -n 's/^engram\.kafka\.bootstrap-servers=//p' | tail -1)
    [ -n "$ENGRAM_BOOTSTRAP" ] || ENGRAM_BOOTSTRAP=$(cluster_env_value ENGRAM_BOOTSTRAP)
    # Parallelism: the running memory operator's, unless the operator rescales.
    ENGRAM_PARALLELISM=$(rest GET "/jobs/$job_id" | jq -r '[.vertices[] | select(.name | test("memory-spaces")) | .parallelism][0] // empty')
    [ -n "$ENGRAM_PARALLELISM" ] || die "job $job_id has no memory-spaces vertex: not an engram job? Nothing was stopped."
    if [ -n "$parallelism" ] && [ "$parallelism" != "$ENGRAM_PARALLELISM" ]; then
        log "    rescale: parallelism $ENGRAM_PARALLELISM -> $parallelism (the savepoint's key groups are redistributed)"
        ENGRAM_PARALLELISM=$parallelism
    fi
    if [ -z "$jar" ]; then
        local submitted
        # pipeline.jars as Flink prints a list: ['file:/path/engram-job.jar']
        submitted=$("${jc[@]}" get --job "$work/job-config.json" pipeline.jars | sed -E "s/^\[?'?(file:)?//; s/'?\]?$//")
        if [ "$java_only" = 1 ]; then
            jar=$ENGRAM_JAVA_ONLY_JAR
        elif [ -n "$submitted" ] && [ -f "$submitted" ]; then
            jar=$submitted
            log "    job $job_id was submitted from $jar: resubmitting the same jar"
        else
            jar=$ENGRAM_JOB_JAR
            log "    the jar of job $job_id (${submitted:-unknown}) is not on this machine: resubmitting $jar"
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
    log "    job $job_id RUNNING at parallelism $ENGRAM_PARALLELISM; resubmit jar $jar ($(jar_is_java_only "$jar" && echo "Java-only, no native code" || echo "with native library")); savepoint dir ${sp_dir:-(cluster default)}"

    local preflight_ms=$(($(now_ms) - SCRIPT_T0))
    step "stop-with-savepoint of job $job_id (flink stop)"
    SAVEPOINT_PATH=""
    stop_with_savepoint "$job_id" "$sp_dir"
    local stop_ms=$(($(now_ms) - STEP_T0))
    log "    savepoint $SAVEPOINT_PATH"
    printf '%s savepoint=%s from_job=%s target_mode=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$SAVEPOINT_PATH" "$job_id" \
        "$TARGET_MODE" >>"$ENGRAM_STATE_DIR/savepoints.log" 2>/dev/null || true

    step "resubmit from the savepoint with engram.kernels.mode=$TARGET_MODE (flink run -s)"
    # A failed resubmit leaves the job stopped: say exactly how to get back, with every setting of the job.
    {
        echo "# Resubmits job $job_id's configuration from its savepoint (written by $SCRIPT_NAME). Mode: \$1 (default $TARGET_MODE)."
        printf 'exec %q run -d -m %q -p %q -s %q' "$FLINK_HOME/bin/flink" "${ENGRAM_REST#*://}" "$ENGRAM_PARALLELISM" "$SAVEPOINT_PATH"
        for kv in ${SUBMIT_CONF[@]+"${SUBMIT_CONF[@]}"}; do printf ' -D %q' "$kv"; done
        printf ' -D engram.kernels.mode="${1:-%s}" %q\n' "$TARGET_MODE" "$jar"
    } >"$work/resubmit.sh" 2>/dev/null || true
    RECOVERY_HINT="The job is STOPPED; its state is safe in $SAVEPOINT_PATH. Retry with every setting of the job: bash $work/resubmit.sh $TARGET_MODE ; or resume the previous kernels: bash $work/resubmit.sh $src_mode"
    trap 'rc=$?; [ $rc -eq 0 ] || printf "%s [%s] RECOVERY: %s\n" "$(date +%H:%M:%S)" "$SCRIPT_NAME" "$RECOVERY_HINT" >&2; _on_exit; exit $rc' EXIT
    submit_job "$jar" "$TARGET_MODE" "$SAVEPOINT_PATH"
    local new_job=$SUBMITTED_JOB_ID
    local resubmit_ms=$(($(now_ms) - STEP_T0))
    RECOVERY_HINT="Job $new_job runs on $TARGET_MODE kernels from $SAVEPOINT_PATH but is not healthy: inspect it (health_check.sh --job-id $new_job, TaskManager log); to go back: $ENGRAM_SCRIPTS_DIR/$([ "$TARGET_MODE" = java ] && echo roll_forward_to_zig.sh || echo rollback_to_java.sh) --job-id $new_job"
    # The new job must carry the old one's configuration: only the mode (and what the operator changed) may differ.
    local changed=(--changed engram.kernels.mode) out
    for kv in ${sets[@]+"${sets[@]}"}; do changed+=(--changed "${kv%%=*}"); done
    [ -z "$bootstrap" ] || changed+=(--changed engram.kafka.bootstrap-servers)
    job_config "$new_job" "$work/new-job-config.json"
    if out=$("${jc[@]}" compare --before "$work/job-config.json" --after "$work/new-job-config.json" "${changed[@]}"); then
        log "    job $new_job has job $job_id's configuration (mode $TARGET_MODE): $out"
    else
        die "job $new_job runs with another configuration than job $job_id: $out"
    fi

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
    result=$(printf 'old_job_id=%s\nnew_job_id=%s\ntarget_mode=%s\njar=%s\nsavepoint=%s\nparallelism=%s\npreflight_ms=%s\nstop_ms=%s\nresubmit_ms=%s\nhealth_ms=%s\nrto_ms=%s\n' \
        "$job_id" "$new_job" "$TARGET_MODE" "$jar" "$SAVEPOINT_PATH" "$ENGRAM_PARALLELISM" "$preflight_ms" "$stop_ms" "$resubmit_ms" "$health_ms" "$rto_ms")
    [ -z "$result_file" ] || printf '%s\n' "$result" >"$result_file"
    echo "SWITCHED $(tr '\n' ' ' <<<"$result")"
}
