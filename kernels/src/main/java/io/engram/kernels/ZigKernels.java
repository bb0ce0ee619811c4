package io.engram.kernels;

/**
 * The Zig kernels over JNI. Every call validates in Java ({@link Validation}), sizes its scratch ({@link Scratch}),
 * handles an overflow by the arena's strategy before crossing JNI, and only then calls {@link ZigNative}. A call
 * served by the Java fallback produces the Java result, never a partial or zero-filled one.
 */
public final class ZigKernels implements MemoryKernels {
    private final Arena arena;
    private final JavaKernels java = new JavaKernels();

    ZigKernels(Arena arena) {
        this.arena = arena;
    }

    @Override
    public KernelMode mode() {
        return KernelMode.ZIG;
    }

    @Override
    public ArenaStats arenaStats() {
        return arena.stats();
    }

    @Override
    public void cosineSimilarity(float[] query, float[] candidates, int dim, int first, int count, float[] scores) {
        Validation.cosine(query, candidates, dim, first, count, scores);
        long need = Scratch.cosineSimilarity(dim);
        if (fits("cosineSimilarity", need)) {
            long status = ZigNative.cosineSimilarity(arena.begin(need), arena.capacityBytes(), query, candidates,
                    dim, first, count, scores);
            if (finished("cosineSimilarity", status, need)) {
                return;
            }
        }
        java.cosineSimilarity(query, candidates, dim, first, count, scores);
    }

    @Override
    public void cosineSimilarityBatch(float[] queries, int queryCount, float[] candidates, int dim, int first,
                                      int count, float[] scores) {
        Validation.cosineBatch(queries, queryCount, candidates, dim, first, count, scores);
        long need = Scratch.cosineSimilarityBatch(dim, queryCount);
        if (fits("cosineSimilarityBatch", need)) {
            long status = ZigNative.cosineSimilarityBatch(arena.begin(need), arena.capacityBytes(), queries,
                    queryCount, candidates, dim, first, count, scores);
            if (finished("cosineSimilarityBatch", status, need)) {
                return;
            }
        }
        java.cosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, scores);
    }

    @Override
    public int cosineTopK(float[] query, float[] candidates, int dim, int first, int count, int k,
                          int[] topRows, float[] topScores) {
        Validation.cosineTopK(query, candidates, dim, first, count, k, topRows, topScores);
        int found = Math.min(k, count);
        if (found == 0) {
            return 0;
        }
        long need = Scratch.cosineTopK(dim, k, count);
        if (fits("cosineTopK", need)) {
            long status = ZigNative.cosineTopK(arena.begin(need), arena.capacityBytes(), query, candidates, dim,
                    first, count, k, topRows, topScores);
            if (finished("cosineTopK", status, need)) {
                return found;
            }
        }
        return java.cosineTopK(query, candidates, dim, first, count, k, topRows, topScores);
    }

    @Override
    public void spreadActivation(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount,
                                 int maxHops, float hopDecay, float threshold, float[] activation, int[] firstHop) {
        Validation.spread(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                activation, firstHop);
        long need = Scratch.spreadActivation(graph.nodeCount());
        if (fits("spreadActivation", need)) {
            long status = ZigNative.spreadActivation(arena.begin(need), arena.capacityBytes(), graph.offsets(),
                    graph.targets(), graph.weights(), graph.nodeCount(), seedNodes, seedActivations, seedCount,
                    maxHops, hopDecay, threshold, activation, firstHop);
            if (finished("spreadActivation", status, need)) {
                return;
            }
        }
        java.spreadActivation(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                activation, firstHop);
    }

    @Override
    public void decayRetention(long[] lastAccessMillis, float[] stabilitySeconds, int count, long nowMillis,
                               float[] retention) {
        Validation.decay(lastAccessMillis, stabilitySeconds, count, retention);
        long need = Scratch.decayRetention(count);
        if (fits("decayRetention", need)) {
            long status = ZigNative.decayRetention(arena.begin(need), arena.capacityBytes(), lastAccessMillis,
                    stabilitySeconds, count, nowMillis, retention);
            if (finished("decayRetention", status, need)) {
                return;
            }
        }
        java.decayRetention(lastAccessMillis, stabilitySeconds, count, nowMillis, retention);
    }

    /**
     * True if {@code need} bytes fit the arena. Otherwise counts the overflow and applies the strategy: returns
     * false for {@code fallback} (the caller runs Java), or throws for {@code fail} / {@code fail-task}.
     */
    private boolean fits(String kernel, long need) {
        if (need <= arena.capacityBytes()) {
            return true;
        }
        overflow(kernel, need);
        return false;
    }

    private void overflow(String kernel, long need) {
        arena.recordOverflow();
        switch (arena.config().overflow()) {
            case FALLBACK:
                arena.recordFallback();
                return;
            case FAIL:
                throw new ArenaOverflowException(kernel, need, arena.capacityBytes());
            case FAIL_TASK:
                throw new ArenaOverflowError(kernel, need, arena.capacityBytes());
            default:
                throw new AssertionError(arena.config().overflow());
        }
    }

    /**
     * Interprets a native status. True when the native call succeeded. A native overflow (only possible if the Zig
     * and Java scratch formulas disagree) goes through the same strategy; an argument rejection is a bug in
     * {@link Validation} and fails loudly. In neither case has the native side written anything.
     */
    private boolean finished(String kernel, long status, long need) {
        if (status >= 0) {
            arena.end(status);
            return true;
        }
        arena.abort();
        if (status == ZigNative.STATUS_ARENA_TOO_SMALL) {
            overflow(kernel, need);
            return false;
        }
        throw new IllegalStateException("native " + kernel + " rejected arguments that passed Java validation"
                + " (status " + status + "): this is a bug, please report it");
    }

    @Override
    public void close() {
        arena.close();
    }
}
