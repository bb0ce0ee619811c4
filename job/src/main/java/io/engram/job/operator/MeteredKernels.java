package io.engram.job.operator;

import io.engram.kernels.ArenaStats;
import io.engram.kernels.CsrGraph;
import io.engram.kernels.KernelMode;
import io.engram.kernels.MemoryKernels;

/** Times and counts every kernel call of the wrapped set, per kernel and mode. */
final class MeteredKernels implements MemoryKernels {
    private final MemoryKernels delegate;
    private final EngramMetrics metrics;
    private final KernelMode mode;

    MeteredKernels(MemoryKernels delegate, EngramMetrics metrics) {
        this.delegate = delegate;
        this.metrics = metrics;
        this.mode = delegate.mode();
    }

    @Override
    public KernelMode mode() {
        return mode;
    }

    @Override
    public ArenaStats arenaStats() {
        return delegate.arenaStats();
    }

    @Override
    public void cosineSimilarity(float[] query, float[] candidates, int dim, int first, int count, float[] scores) {
        long t = System.nanoTime();
        delegate.cosineSimilarity(query, candidates, dim, first, count, scores);
        metrics.kernelCall(mode, "cosineSimilarity", System.nanoTime() - t);
    }

    /** Delegates as one call, so a batching delegate keeps its single pass over the candidates. */
    @Override
    public void cosineSimilarityBatch(float[] queries, int queryCount, float[] candidates, int dim, int first,
                                      int count, float[] scores) {
        long t = System.nanoTime();
        delegate.cosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, scores);
        metrics.kernelCall(mode, "cosineSimilarityBatch", System.nanoTime() - t);
    }

    @Override
    public int cosineTopK(float[] query, float[] candidates, int dim, int first, int count, int k, int[] topRows,
                          float[] topScores) {
        long t = System.nanoTime();
        int found = delegate.cosineTopK(query, candidates, dim, first, count, k, topRows, topScores);
        metrics.kernelCall(mode, "cosineTopK", System.nanoTime() - t);
        return found;
    }

    @Override
    public void spreadActivation(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount,
                                 int maxHops, float hopDecay, float threshold, float[] activation, int[] firstHop) {
        long t = System.nanoTime();
        delegate.spreadActivation(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                activation, firstHop);
        metrics.kernelCall(mode, "spreadActivation", System.nanoTime() - t);
    }

    @Override
    public void decayRetention(long[] lastAccessMillis, float[] stabilitySeconds, int count, long nowMillis,
                               float[] retention) {
        long t = System.nanoTime();
        delegate.decayRetention(lastAccessMillis, stabilitySeconds, count, nowMillis, retention);
        metrics.kernelCall(mode, "decayRetention", System.nanoTime() - t);
    }

    @Override
    public void close() {
        // The router owns and closes the underlying kernels.
    }
}
