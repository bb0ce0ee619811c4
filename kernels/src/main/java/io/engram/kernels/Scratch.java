package io.engram.kernels;

/**
 * Transitional: the job's {@code ArenaBudget} sizes batched recalls with {@link #cosineSimilarityBatch}. The arena
 * formulas themselves are internals, generated from native/src/abi.zig into {@link ZigNative}; this class only
 * forwards to them. {@link MemoryKernels#cosineSimilarityNormed} needs no arena at all, so a caller that uses it has
 * nothing to size and no reason to use this class.
 *
 * @deprecated use {@link MemoryKernels#cosineSimilarityNormed}, which takes any number of cues without arena scratch;
 *     this class goes away once the job no longer calls it.
 */
@Deprecated(forRemoval = true)
public final class Scratch {
    private Scratch() {
    }

    /** Arena bytes of one {@link MemoryKernels#cosineSimilarityBatch} call with {@code queryCount} queries. */
    public static long cosineSimilarityBatch(int dim, int queryCount) {
        return ZigNative.cosineSimilarityBatchScratch(queryCount, dim, 0, 0);
    }
}
