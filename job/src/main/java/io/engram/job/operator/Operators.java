package io.engram.job.operator;

import org.apache.flink.api.common.state.MapStateDescriptor;

/**
 * The job's operator uids. They are what savepoints are keyed by: never change one, or state is lost on restore
 * (Flink then refuses the savepoint unless --allowNonRestoredState is given).
 */
public final class Operators {
    public static final String SOURCE_MEMORY_EVENTS = "source-memory-events";
    public static final String SOURCE_RECALL_QUERIES = "source-recall-queries";
    public static final String SOURCE_CONTROL = "source-kernel-control";
    public static final String MEMORY_SPACES = "memory-spaces";
    public static final String SINK_RECALL_RESULTS = "sink-recall-results";
    public static final String SINK_DEAD_LETTERS = "sink-dead-letters";

    /** The broadcast state holding the runtime kernel switch. */
    public static final MapStateDescriptor<String, byte[]> CONTROL_STATE = KernelRouter.CONTROL;

    private Operators() {
    }
}
