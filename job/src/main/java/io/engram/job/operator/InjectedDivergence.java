package io.engram.job.operator;

import io.engram.kernels.ArenaStats;
import io.engram.kernels.CsrGraph;
import io.engram.kernels.KernelMode;
import io.engram.kernels.MemoryKernels;

/**
 * TEST ONLY (engram.kernels.shadow.test-inject-divergence): makes the Zig cosine scores wrong by a fixed amount, so a
 * drill or test can prove that the divergence guard notices and switches the subtask to Java.
 */
final class InjectedDivergence implements MemoryKernels {
    private final MemoryKernels delegate;
    private final float delta;

    InjectedDivergence(MemoryKernels delegate, float delta) {
        this.delegate = delegate;
        this.delta = delta;
    }

    @Override
    public KernelMode mode() {
        return delegate.mode();
    }

    @Override
    public ArenaStats arenaStats() {
        return delegate.arenaStats();
    }

    @Override
    public void cosineSimilarity(float[] query, float[] candidates, int dim, int first, int count, float[] scores) {
        delegate.cosineSimilarity(query, candidates, dim, first, count, scores);
        for (int i = 0; i < count; i++) {
            scores[i] += delta;
        }
    }

    @Override
    public int cosineTopK(float[] query, float[] candidates, int dim, int first, int count, int k, int[] topRows,
                          float[] topScores) {
        return delegate.cosineTopK(query, candidates, dim, first, count, k, topRows, topScores);
    }

    @Override
    public void spreadActivation(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount,
                                 int maxHops, float hopDecay, float threshold, float[] activation, int[] firstHop) {
        delegate.spreadActivation(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                activation, firstHop);
    }

    @Override
    public void decayRetention(long[] lastAccessMillis, float[] stabilitySeconds, int count, long nowMillis,
                               float[] retention) {
        delegate.decayRetention(lastAccessMillis, stabilitySeconds, count, nowMillis, retention);
    }

    @Override
    public void close() {
        // The router owns the delegate.
    }
}
