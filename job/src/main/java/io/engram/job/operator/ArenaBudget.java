package io.engram.job.operator;

import io.engram.kernels.Scratch;
import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.streaming.api.operators.StreamingRuntimeContext;

/**
 * Keeps the native arenas inside Flink's memory model: they are task off-heap memory, so arena size × task slots
 * must fit {@code taskmanager.memory.task.off-heap.size}, or the TaskManager's process size would not hold. Per call,
 * {@link #batchQueriesThatFit} sizes a recall batch to the arena.
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

    /**
     * How many of a batch's {@code queries} cues of dimension {@code dim} one batched similarity call may take so
     * that its scratch ({@link Scratch#cosineSimilarityBatch}: a padded copy of every cue plus their norms) fits an
     * arena of {@code arenaBytes}; the operator splits a bigger batch into calls of this size. The B x N scores are
     * written to a Java array, not the arena, so only B x dim counts here. At least 1: a single cue that does not
     * fit overflows exactly as an unbatched query does (by the arena's strategy). {@code arenaBytes} 0 means no arena
     * (the Java kernels): the whole batch.
     */
    static int batchQueriesThatFit(long arenaBytes, int dim, int queries) {
        if (arenaBytes <= 0 || queries <= 1 || Scratch.cosineSimilarityBatch(dim, queries) <= arenaBytes) {
            return Math.max(1, queries);
        }
        int lo = 1; // invariant: lo fits, or lo == 1
        int hi = queries; // hi does not fit
        while (hi - lo > 1) {
            int mid = (lo + hi) >>> 1;
            if (Scratch.cosineSimilarityBatch(dim, mid) <= arenaBytes) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
