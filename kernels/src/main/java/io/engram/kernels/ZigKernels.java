package io.engram.kernels;

/**
 * The Zig kernels over JNI. Every call validates in Java ({@link Validation}), sizes its scratch with the formula
 * generated from the native side ({@link ZigNative}{@code .<kernel>Scratch}), handles an overflow by the arena's
 * strategy before crossing JNI, and only then calls {@link ZigNative}. Every native status goes through one place,
 * {@link #finished}. A call served by the Java fallback produces the Java result, never a partial or zero-filled one.
 */
final class ZigKernels implements MemoryKernels {
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
        long need = ZigNative.cosineSimilarityScratch(dim, first, count);
        if (fits(Kernel.COSINE_SIMILARITY, need) && finished(Kernel.COSINE_SIMILARITY, need, ZigNative.cosineSimilarity(
                arena.begin(need), arena.capacityBytes(), query, candidates, dim, first, count, scores))) {
            return;
        }
        java.cosineSimilarity(query, candidates, dim, first, count, scores);
    }

    @Override
    public void cosineSimilarityBatch(float[] queries, int queryCount, float[] candidates, int dim, int first,
                                      int count, float[] scores) {
        Validation.cosineBatch(queries, queryCount, candidates, dim, first, count, scores);
        long need = ZigNative.cosineSimilarityBatchScratch(queryCount, dim, first, count);
        if (fits(Kernel.COSINE_SIMILARITY_BATCH, need) && finished(Kernel.COSINE_SIMILARITY_BATCH, need,
                ZigNative.cosineSimilarityBatch(arena.begin(need), arena.capacityBytes(), queries, queryCount,
                        candidates, dim, first, count, scores))) {
            return;
        }
        java.cosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, scores);
    }

    @Override
    public void cosineSimilarityNormed(float[] cues, float[] cueNorms, int cueCount, float[] candidates,
                                       float[] norms, int dim, int first, int count, float[] scores) {
        Validation.cosineNormed(cues, cueNorms, cueCount, candidates, norms, dim, first, count, scores);
        long need = ZigNative.cosineSimilarityNormedScratch(cueCount, dim, first, count);
        if (fits(Kernel.COSINE_SIMILARITY_NORMED, need) && finished(Kernel.COSINE_SIMILARITY_NORMED, need,
                ZigNative.cosineSimilarityNormed(arena.begin(need), arena.capacityBytes(), cues, cueNorms, cueCount,
                        candidates, norms, dim, first, count, scores))) {
            return;
        }
        java.cosineSimilarityNormed(cues, cueNorms, cueCount, candidates, norms, dim, first, count, scores);
    }

    @Override
    public void spreadActivation(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount,
                                 int maxHops, float hopDecay, float threshold, float[] activation, int[] firstHop) {
        Validation.spread(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                activation, firstHop);
        long need = ZigNative.spreadActivationScratch(graph.nodeCount(), seedCount, maxHops);
        if (fits(Kernel.SPREAD_ACTIVATION, need) && finished(Kernel.SPREAD_ACTIVATION, need,
                ZigNative.spreadActivation(arena.begin(need), arena.capacityBytes(), graph.offsets(), graph.targets(),
                        graph.weights(), graph.nodeCount(), seedNodes, seedActivations, seedCount, maxHops, hopDecay,
                        threshold, activation, firstHop))) {
            return;
        }
        java.spreadActivation(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                activation, firstHop);
    }

    @Override
    public void decayRetention(long[] lastAccessMillis, float[] stabilitySeconds, int count, long nowMillis,
                               float[] retention) {
        Validation.decay(lastAccessMillis, stabilitySeconds, count, retention);
        long need = ZigNative.decayRetentionScratch(count, nowMillis);
        if (fits(Kernel.DECAY_RETENTION, need) && finished(Kernel.DECAY_RETENTION, need,
                ZigNative.decayRetention(arena.begin(need), arena.capacityBytes(), lastAccessMillis,
                        stabilitySeconds, count, nowMillis, retention))) {
            return;
        }
        java.decayRetention(lastAccessMillis, stabilitySeconds, count, nowMillis, retention);
    }

    /**
     * True if {@code need} bytes fit the arena. Otherwise counts the overflow and applies the strategy: returns
     * false for {@code fallback} (the caller runs Java), or throws for {@code fail} / {@code fail-task}.
     */
    private boolean fits(Kernel kernel, long need) {
        if (need <= arena.capacityBytes()) {
            return true;
        }
        overflow(kernel, need);
        return false;
    }

    private void overflow(Kernel kernel, long need) {
        arena.recordOverflow();
        switch (arena.config().overflow()) {
            case FALLBACK:
                arena.recordFallback();
                return;
            case FAIL:
                throw new ArenaOverflowException(kernel.label(), need, arena.capacityBytes());
            case FAIL_TASK:
                throw new ArenaOverflowError(kernel.label(), need, arena.capacityBytes());
            default:
                throw new AssertionError(arena.config().overflow());
        }
    }

    /**
     * The one error path of the native boundary. True when the native call succeeded. A native overflow (only
     * possible if the generated formula and the kernel disagree) goes through the same strategy; an argument
     * rejection is a bug in {@link Validation} and fails loudly. In neither case has the native side written
     * anything.
     */
    private boolean finished(Kernel kernel, long need, long status) {
        if (status >= 0) {
            arena.end(status);
            return true;
        }
        arena.abort();
        if (status == ZigNative.STATUS_ARENA_TOO_SMALL) {
            overflow(kernel, need);
            return false;
        }
        throw new IllegalStateException("native " + kernel.label() + " rejected arguments that passed Java validation"
                + " (status " + status + "): this is a bug, please report it");
    }

    @Override
    public void close() {
        arena.close();
    }
}
