package io.engram.job.operator;

import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.streaming.api.operators.StreamingRuntimeContext;

/**
 * Keeps the native arenas inside Flink's memory model: they are task off-heap memory, so arena size × task slots
 * must fit {@code taskmanager.memory.task.off-heap.size}, or the TaskManager's process size would not hold.
 */
final class ArenaBudget {
    private ArenaBudget() {
    }

    static void check(long arenaBytes, RuntimeContext ctx) {
        if (!(ctx instanceof StreamingRuntimeContext src)) {
            return; // test harnesses without a TaskManager
        }
        Configuration tm = src.getTaskManagerRuntimeInfo().getConfiguration();
        check(arenaBytes, tm.get(TaskManagerOptions.NUM_TASK_SLOTS), tm.get(TaskManagerOptions.TASK_OFF_HEAP_MEMORY));
    }

    static void check(long arenaBytes, int slots, MemorySize taskOffHeap) {
        long needed = arenaBytes * Math.max(1, slots);
        if (taskOffHeap.getBytes() < needed) {
            throw new IllegalStateException("engram: the native kernel arenas need " + new MemorySize(needed)
                    .toHumanReadableString() + " (engram.kernels.arena.size " + new MemorySize(arenaBytes)
                    .toHumanReadableString() + " x " + slots + " task slots), but "
                    + TaskManagerOptions.TASK_OFF_HEAP_MEMORY.key() + " is " + taskOffHeap.toHumanReadableString()
                    + ". Raise " + TaskManagerOptions.TASK_OFF_HEAP_MEMORY.key() + " to at least "
                    + new MemorySize(needed).toHumanReadableString()
                    + ", lower engram.kernels.arena.size, or set engram.kernels.mode=java.");
        }
    }
}
