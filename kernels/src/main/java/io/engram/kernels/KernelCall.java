package io.engram.kernels;

import java.util.Arrays;

/**
 * One kernel call with its arguments, as {@link KernelDecorator} hands it to its {@code intercept}: the decorator can
 * run it ({@link #runOn}), time it, re-run it elsewhere with fresh outputs and compare ({@link #withFreshOutputs},
 * {@link #divergence}), or look at its outputs. One record per {@link Kernel}; the interface is sealed, so a switch
 * over calls that misses a kernel does not compile.
 */
public sealed interface KernelCall {
    Kernel kernel();

    /** Runs this call on {@code kernels}, writing into this call's output arrays. */
    void runOn(MemoryKernels kernels);

    /** The same call with newly allocated outputs of the same length (the inputs are shared, not copied). */
    KernelCall withFreshOutputs();

    /**
     * The first disagreement between this call's outputs and {@code other}'s (the same call, run elsewhere) beyond
     * the kernel's tolerance ({@link Tolerances}), with the call's shape; null when they agree.
     */
    String divergence(KernelCall other);

    /** The call's shape for logs: sizes and parameters, no data. */
    String describe();

    /** The float outputs this call writes, and how many of each are valid. */
    FloatOutput floatOutput();

    /** A call's float output: {@code values[0 .. count - 1]}. */
    record FloatOutput(float[] values, int count) {
    }

    private static String compareAbsolute(float[] actual, float[] expected, int n, double tolerance, String inputs) {
        for (int i = 0; i < n; i++) {
            if (!(Math.abs((double) actual[i] - expected[i]) <= tolerance)) {
                return "element " + i + ": primary " + actual[i] + ", reference " + expected[i] + ", tolerance "
                        + tolerance + "; " + inputs;
            }
        }
        return null;
    }

    /** {@link MemoryKernels#cosineSimilarity}. */
    record CosineSimilarity(float[] query, float[] candidates, int dim, int first, int count, float[] scores)
            implements KernelCall {
        @Override
        public Kernel kernel() {
            return Kernel.COSINE_SIMILARITY;
        }

        @Override
        public void runOn(MemoryKernels k) {
            k.cosineSimilarity(query, candidates, dim, first, count, scores);
        }

        @Override
        public KernelCall withFreshOutputs() {
            return new CosineSimilarity(query, candidates, dim, first, count, new float[count]);
        }

        @Override
        public String divergence(KernelCall other) {
            return compareAbsolute(scores, ((CosineSimilarity) other).scores, count, Tolerances.COSINE_ABS,
                    describe());
        }

        @Override
        public String describe() {
            return "dim " + dim + ", rows " + first + ".." + (first + count);
        }

        @Override
        public FloatOutput floatOutput() {
            return new FloatOutput(scores, count);
        }
    }

    /** {@link MemoryKernels#cosineSimilarityBatch}. */
    record CosineSimilarityBatch(float[] queries, int queryCount, float[] candidates, int dim, int first, int count,
                                 float[] scores) implements KernelCall {
        @Override
        public Kernel kernel() {
            return Kernel.COSINE_SIMILARITY_BATCH;
        }

        @Override
        public void runOn(MemoryKernels k) {
            k.cosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, scores);
        }

        @Override
        public KernelCall withFreshOutputs() {
            return new CosineSimilarityBatch(queries, queryCount, candidates, dim, first, count,
                    new float[queryCount * count]);
        }

        @Override
        public String divergence(KernelCall other) {
            return compareAbsolute(scores, ((CosineSimilarityBatch) other).scores, queryCount * count,
                    Tolerances.COSINE_ABS, describe());
        }

        @Override
        public String describe() {
            return "dim " + dim + ", queries " + queryCount + ", rows " + first + ".." + (first + count);
        }

        @Override
        public FloatOutput floatOutput() {
            return new FloatOutput(scores, queryCount * count);
        }
    }

    /** {@link MemoryKernels#cosineSimilarityNormed}. */
    record CosineSimilarityNormed(float[] cues, float[] cueNorms, int cueCount, float[] candidates, float[] norms,
                                  int dim, int first, int count, float[] scores) implements KernelCall {
        @Override
        public Kernel kernel() {
            return Kernel.COSINE_SIMILARITY_NORMED;
        }

        @Override
        public void runOn(MemoryKernels k) {
            k.cosineSimilarityNormed(cues, cueNorms, cueCount, candidates, norms, dim, first, count, scores);
        }

        @Override
        public KernelCall withFreshOutputs() {
            return new CosineSimilarityNormed(cues, cueNorms, cueCount, candidates, norms, dim, first, count,
                    new float[cueCount * count]);
        }

        @Override
        public String divergence(KernelCall other) {
            return compareAbsolute(scores, ((CosineSimilarityNormed) other).scores, cueCount * count,
                    Tolerances.COSINE_ABS, describe());
        }

        @Override
        public String describe() {
            return "dim " + dim + ", cues " + cueCount + ", rows " + first + ".." + (first + count);
        }

        @Override
        public FloatOutput floatOutput() {
            return new FloatOutput(scores, cueCount * count);
        }
    }

    /** {@link MemoryKernels#spreadActivation}. */
    record SpreadActivation(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount, int maxHops,
                            float hopDecay, float threshold, float[] activation, int[] firstHop)
            implements KernelCall {
        @Override
        public Kernel kernel() {
            return Kernel.SPREAD_ACTIVATION;
        }

        @Override
        public void runOn(MemoryKernels k) {
            k.spreadActivation(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold, activation,
                    firstHop);
        }

        @Override
        public KernelCall withFreshOutputs() {
            int n = graph.nodeCount();
            return new SpreadActivation(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                    new float[n], new int[n]);
        }

        @Override
        public String divergence(KernelCall other) {
            SpreadActivation o = (SpreadActivation) other;
            int n = graph.nodeCount();
            String d = compareAbsolute(activation, o.activation, n, Tolerances.SPREAD_ABS, describe());
            if (d == null && !Arrays.equals(firstHop, 0, n, o.firstHop, 0, n)) {
                d = "first hops differ; " + describe();
            }
            return d;
        }

        @Override
        public String describe() {
            return "nodes " + graph.nodeCount() + ", edges " + graph.edgeCount() + ", seeds " + seedCount
                    + ", maxHops " + maxHops + ", hopDecay " + hopDecay + ", threshold " + threshold;
        }

        @Override
        public FloatOutput floatOutput() {
            return new FloatOutput(activation, graph.nodeCount());
        }
    }

    /** {@link MemoryKernels#decayRetention}. */
    record DecayRetention(long[] lastAccessMillis, float[] stabilitySeconds, int count, long nowMillis,
                          float[] retention) implements KernelCall {
        @Override
        public Kernel kernel() {
            return Kernel.DECAY_RETENTION;
        }

        @Override
        public void runOn(MemoryKernels k) {
            k.decayRetention(lastAccessMillis, stabilitySeconds, count, nowMillis, retention);
        }

        @Override
        public KernelCall withFreshOutputs() {
            return new DecayRetention(lastAccessMillis, stabilitySeconds, count, nowMillis, new float[count]);
        }

        @Override
        public String divergence(KernelCall other) {
            float[] expected = ((DecayRetention) other).retention;
            for (int i = 0; i < count; i++) {
                double err = Math.abs((double) retention[i] - expected[i]);
                if (!(err <= Tolerances.DECAY_REL * Math.abs(expected[i]) + Float.MIN_NORMAL)) {
                    return "memory " + i + ": primary " + retention[i] + ", reference " + expected[i]
                            + " (lastAccess " + lastAccessMillis[i] + ", stability " + stabilitySeconds[i] + ", now "
                            + nowMillis + ")";
                }
            }
            return null;
        }

        @Override
        public String describe() {
            return "memories " + count + ", now " + nowMillis;
        }

        @Override
        public FloatOutput floatOutput() {
            return new FloatOutput(retention, count);
        }
    }
}
