package io.engram.kernels;

/**
 * Arena bytes each Zig kernel needs for one call. The Zig side computes the same sizes (see native/src/scratch.zig)
 * and refuses a call whose arena is too small; Java checks first, so overflow is handled by strategy, never by
 * the native code.
 */
public final class Scratch {
    /** Every block in the arena starts on a 64-byte (cache-line) boundary. */
    public static final long ALIGN = 64;

    private Scratch() {
    }

    static long align(long bytes) {
        return (bytes + ALIGN - 1) & -ALIGN;
    }

    /** An aligned copy of the query. */
    public static long cosineSimilarity(int dim) {
        return align(4L * dim);
    }

    /** The padded copy of every query (as {@link #cosineSimilarity} makes of one) plus their sums of squares. */
    public static long cosineSimilarityBatch(int dim, int queryCount) {
        return queryCount * align(4L * dim) + align(4L * queryCount);
    }

    /** The query copy plus a heap of k (score, row) pairs. */
    public static long cosineTopK(int dim, int k, int count) {
        return align(4L * dim) + align(8L * Math.min(k, count));
    }

    /** Current and next frontier (int each), the frontier snapshot (float) and a visit mark (byte) per node. */
    public static long spreadActivation(int nodeCount) {
        return 3 * align(4L * nodeCount) + align(nodeCount);
    }

    /** Decay runs in registers. */
    public static long decayRetention(int count) {
        return 0;
    }
}
