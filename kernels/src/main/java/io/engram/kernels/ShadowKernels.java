package io.engram.kernels;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The numerical divergence guard: serves every call from {@code primary} (the Zig kernels) and, for a sampled
 * fraction of calls, runs {@code reference} (the Java kernels) on the same inputs and compares within
 * {@link Tolerances}. Divergences go to the {@link Listener}, which decides what to do (count, log, switch to Java).
 * The primary's answer is the one returned either way; the listener's switch takes effect on the next call.
 */
public final class ShadowKernels implements MemoryKernels {
    /** Hears about every comparison and every divergence. Called on the task thread. */
    public interface Listener {
        void compared(String kernel);

        void diverged(String kernel, String detail);
    }

    private final MemoryKernels primary;
    private final MemoryKernels reference;
    private final double sampleRate;
    private final SplittableRandom random;
    private final Listener listener;

    public ShadowKernels(MemoryKernels primary, MemoryKernels reference, double sampleRate, long seed,
                         Listener listener) {
        if (!(sampleRate >= 0.0 && sampleRate <= 1.0)) {
            throw new IllegalArgumentException("shadow sample rate must be in [0, 1], got " + sampleRate);
        }
        this.primary = primary;
        this.reference = reference;
        this.sampleRate = sampleRate;
        this.random = new SplittableRandom(seed);
        this.listener = listener;
    }

    private boolean sample() {
        return sampleRate > 0 && random.nextDouble() < sampleRate;
    }

    @Override
    public KernelMode mode() {
        return primary.mode();
    }

    @Override
    public ArenaStats arenaStats() {
        return primary.arenaStats();
    }

    @Override
    public void cosineSimilarity(float[] query, float[] candidates, int dim, int first, int count, float[] scores) {
        primary.cosineSimilarity(query, candidates, dim, first, count, scores);
        if (sample()) {
            float[] expected = new float[count];
            reference.cosineSimilarity(query, candidates, dim, first, count, expected);
            compareAbsolute("cosineSimilarity", scores, expected, count, Tolerances.COSINE_ABS,
                    "dim " + dim + ", rows " + first + ".." + (first + count));
        }
    }

    @Override
    public void cosineSimilarityBatch(float[] queries, int queryCount, float[] candidates, int dim, int first,
                                      int count, float[] scores) {
        primary.cosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, scores);
        if (sample()) {
            int cells = queryCount * count;
            float[] expected = new float[cells];
            reference.cosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, expected);
            compareAbsolute("cosineSimilarityBatch", scores, expected, cells, Tolerances.COSINE_ABS,
                    "dim " + dim + ", queries " + queryCount + ", rows " + first + ".." + (first + count));
        }
    }

    @Override
    public int cosineTopK(float[] query, float[] candidates, int dim, int first, int count, int k, int[] topRows,
                          float[] topScores) {
        int found = primary.cosineTopK(query, candidates, dim, first, count, k, topRows, topScores);
        if (sample()) {
            int[] rows = new int[found];
            float[] expected = new float[found];
            reference.cosineTopK(query, candidates, dim, first, count, k, rows, expected);
            // Near-ties may swap rows; the ranked scores must still agree.
            compareAbsolute("cosineTopK", topScores, expected, found, 2 * Tolerances.COSINE_ABS,
                    "dim " + dim + ", k " + k + ", rows " + count);
        }
        return found;
    }

    @Override
    public void spreadActivation(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount,
                                 int maxHops, float hopDecay, float threshold, float[] activation, int[] firstHop) {
        primary.spreadActivation(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                activation, firstHop);
        if (sample()) {
            int n = graph.nodeCount();
            float[] expected = new float[n];
            int[] expectedHop = new int[n];
            reference.spreadActivation(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                    expected, expectedHop);
            String inputs = "nodes " + n + ", edges " + graph.edgeCount() + ", seeds " + seedCount + ", maxHops "
                    + maxHops + ", hopDecay " + hopDecay + ", threshold " + threshold;
            if (compareAbsolute("spreadActivation", activation, expected, n, Tolerances.SPREAD_ABS, inputs)
                    && !Arrays.equals(firstHop, 0, n, expectedHop, 0, n)) {
                listener.diverged("spreadActivation", "first hops differ; " + inputs);
            }
        }
    }

    @Override
    public void decayRetention(long[] lastAccessMillis, float[] stabilitySeconds, int count, long nowMillis,
                               float[] retention) {
        primary.decayRetention(lastAccessMillis, stabilitySeconds, count, nowMillis, retention);
        if (sample()) {
            float[] expected = new float[count];
            reference.decayRetention(lastAccessMillis, stabilitySeconds, count, nowMillis, expected);
            listener.compared("decayRetention");
            for (int i = 0; i < count; i++) {
                double err = Math.abs((double) retention[i] - expected[i]);
                if (err > Tolerances.DECAY_REL * Math.abs(expected[i]) + Float.MIN_NORMAL) {
                    listener.diverged("decayRetention", "memory " + i + ": primary " + retention[i] + ", reference "
                            + expected[i] + " (lastAccess " + lastAccessMillis[i] + ", stability "
                            + stabilitySeconds[i] + ", now " + nowMillis + ")");
                    return;
                }
            }
        }
    }

    /** Reports the first element beyond tolerance; true when all agree. */
    private boolean compareAbsolute(String kernel, float[] actual, float[] expected, int n, double tolerance,
                                    String inputs) {
        listener.compared(kernel);
        for (int i = 0; i < n; i++) {
            if (!(Math.abs((double) actual[i] - expected[i]) <= tolerance)) {
                listener.diverged(kernel, "element " + i + ": primary " + actual[i] + ", reference " + expected[i]
                        + ", tolerance " + tolerance + "; " + inputs);
                return false;
            }
        }
        return true;
    }

    @Override
    public void close() {
        primary.close();
        reference.close();
    }
}
