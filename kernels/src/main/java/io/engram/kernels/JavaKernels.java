package io.engram.kernels;

import java.util.Arrays;

/**
 * The pure-Java kernels: the reference semantics and the rollback target. Plain Java 17, no incubator modules.
 * {@link #cosineTopK} is the interface's (cosineSimilarity plus a bounded heap).
 *
 * <p>Stateless apart from reusable scratch, so an instance, like every {@link MemoryKernels}, belongs to one thread.
 */
public final class JavaKernels implements MemoryKernels {
    private int[] frontier = new int[0];
    private int[] next = new int[0];
    private float[] snapshot = new float[0];
    private boolean[] marked = new boolean[0];

    @Override
    public KernelMode mode() {
        return KernelMode.JAVA;
    }

    @Override
    public void cosineSimilarity(float[] query, float[] candidates, int dim, int first, int count, float[] scores) {
        Validation.cosine(query, candidates, dim, first, count, scores);
        float qq = sumOfSquares(query, 0, dim);
        for (int i = 0; i < count; i++) {
            scores[i] = cosineRow(query, qq, candidates, (first + i) * dim, dim);
        }
    }

    /**
     * One pass over the candidates: each row's sum of squares once, then its dot with every query. The sums are
     * the ones {@link #cosineSimilarity} computes, in the same order, so the scores are bit-identical to it.
     */
    @Override
    public void cosineSimilarityBatch(float[] queries, int queryCount, float[] candidates, int dim, int first,
                                      int count, float[] scores) {
        Validation.cosineBatch(queries, queryCount, candidates, dim, first, count, scores);
        if (queryCount == 0 || count == 0) {
            return;
        }
        float[] qq = new float[queryCount];
        for (int q = 0; q < queryCount; q++) {
            qq[q] = sumOfSquares(queries, q * dim, dim);
        }
        for (int i = 0; i < count; i++) {
            int base = (first + i) * dim;
            float cc = sumOfSquares(candidates, base, dim);
            for (int q = 0; q < queryCount; q++) {
                scores[q * count + i] = CosineSemantics.finish(dot(queries, q * dim, candidates, base, dim), qq[q], cc);
            }
        }
    }

    /** The dot product of {@link #cosineRow}: the same four accumulators in the same order. */
    private static float dot(float[] q, int qBase, float[] c, int cBase, int dim) {
        float d0 = 0f, d1 = 0f, d2 = 0f, d3 = 0f;
        int j = 0;
        for (; j + 3 < dim; j += 4) {
            d0 += q[qBase + j] * c[cBase + j];
            d1 += q[qBase + j + 1] * c[cBase + j + 1];
            d2 += q[qBase + j + 2] * c[cBase + j + 2];
            d3 += q[qBase + j + 3] * c[cBase + j + 3];
        }
        for (; j < dim; j++) {
            d0 += q[qBase + j] * c[cBase + j];
        }
        return (d0 + d1) + (d2 + d3);
    }

    /**
     * One pass over the candidates; per row, the dot product with every cue (the four accumulators of
     * {@link #cosineSimilarityBatch}), finished with the stored norms.
     */
    @Override
    public void cosineSimilarityNormed(float[] cues, float[] cueNorms, int cueCount, float[] candidates,
                                       float[] norms, int dim, int first, int count, float[] scores) {
        Validation.cosineNormed(cues, cueNorms, cueCount, candidates, norms, dim, first, count, scores);
        for (int i = 0; i < count; i++) {
            int row = first + i;
            int base = row * dim;
            for (int q = 0; q < cueCount; q++) {
                scores[q * count + i] = CosineSemantics.finishNormed(dot(cues, q * dim, candidates, base, dim),
                        cueNorms[q], norms[row]);
            }
        }
    }

    /** One candidate's cosine against a query whose sum of squares is {@code qq}. */
    private static float cosineRow(float[] q, float qq, float[] c, int base, int dim) {
        // Four independent accumulators per sum let the JIT overlap the add latencies.
        float d0 = 0f, d1 = 0f, d2 = 0f, d3 = 0f;
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        int j = 0;
        for (; j + 3 < dim; j += 4) {
            float c0 = c[base + j], c1 = c[base + j + 1], c2 = c[base + j + 2], c3 = c[base + j + 3];
            d0 += q[j] * c0;
            d1 += q[j + 1] * c1;
            d2 += q[j + 2] * c2;
            d3 += q[j + 3] * c3;
            s0 += c0 * c0;
            s1 += c1 * c1;
            s2 += c2 * c2;
            s3 += c3 * c3;
        }
        for (; j < dim; j++) {
            float cj = c[base + j];
            d0 += q[j] * cj;
            s0 += cj * cj;
        }
        return CosineSemantics.finish((d0 + d1) + (d2 + d3), qq, (s0 + s1) + (s2 + s3));
    }

    private static float sumOfSquares(float[] v, int base, int dim) {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f;
        int j = 0;
        for (; j + 3 < dim; j += 4) {
            s0 += v[base + j] * v[base + j];
            s1 += v[base + j + 1] * v[base + j + 1];
            s2 += v[base + j + 2] * v[base + j + 2];
            s3 += v[base + j + 3] * v[base + j + 3];
        }
        for (; j < dim; j++) {
            s0 += v[base + j] * v[base + j];
        }
        return (s0 + s1) + (s2 + s3);
    }

    @Override
    public void spreadActivation(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount,
                                 int maxHops, float hopDecay, float threshold, float[] activation, int[] firstHop) {
        Validation.spread(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay, threshold,
                activation, firstHop);
        int n = graph.nodeCount();
        ensureSpreadScratch(n);
        Arrays.fill(activation, 0, n, 0f);
        Arrays.fill(firstHop, 0, n, -1);

        int frontierSize = 0;
        for (int i = 0; i < seedCount; i++) {
            int s = seedNodes[i];
            float a = Math.max(0f, Math.min(1f, seedActivations[i]));
            if (firstHop[s] == -1) {
                firstHop[s] = 0;
                activation[s] = a;
                frontier[frontierSize++] = s;
            } else {
                activation[s] = Math.max(activation[s], a);
            }
        }
        Arrays.sort(frontier, 0, frontierSize);

        int[] offsets = graph.offsets();
        int[] targets = graph.targets();
        float[] weights = graph.weights();
        for (int hop = 1; hop <= maxHops && frontierSize > 0; hop++) {
            for (int i = 0; i < frontierSize; i++) {
                snapshot[i] = activation[frontier[i]];
            }
            int nextSize = 0;
            for (int i = 0; i < frontierSize; i++) {
                int u = frontier[i];
                float a = snapshot[i];
                for (int e = offsets[u], end = offsets[u + 1]; e < end; e++) {
                    float c = a * weights[e] * hopDecay;
                    if (c < threshold) {
                        continue;
                    }
                    int v = targets[e];
                    activation[v] = Math.min(1f, activation[v] + c);
                    if (firstHop[v] == -1) {
                        firstHop[v] = hop;
                    }
                    if (!marked[v]) {
                        marked[v] = true;
                        next[nextSize++] = v;
                    }
                }
            }
            Arrays.sort(next, 0, nextSize);
            for (int i = 0; i < nextSize; i++) {
                marked[next[i]] = false;
            }
            int[] swap = frontier;
            frontier = next;
            next = swap;
            frontierSize = nextSize;
        }
    }

    private void ensureSpreadScratch(int n) {
        if (frontier.length < n) {
            frontier = new int[n];
            next = new int[n];
            snapshot = new float[n];
            marked = new boolean[n];
        }
    }

    @Override
    public void decayRetention(long[] lastAccessMillis, float[] stabilitySeconds, int count, long nowMillis,
                               float[] retention) {
        Validation.decay(lastAccessMillis, stabilitySeconds, count, retention);
        for (int i = 0; i < count; i++) {
            retention[i] = retention(lastAccessMillis[i], stabilitySeconds[i], nowMillis);
        }
    }

    /** {@link DecaySemantics} for one memory. */
    static float retention(long lastAccessMillis, float stabilitySeconds, long nowMillis) {
        if (nowMillis - lastAccessMillis <= 0) {
            return 1f;
        }
        if (!(stabilitySeconds > 0f)) {
            return 0f;
        }
        double x = DecaySemantics.exponent(lastAccessMillis, stabilitySeconds, nowMillis);
        if (x < DecaySemantics.UNDERFLOW_EXPONENT) {
            return 0f;
        }
        return (float) Math.exp(x);
    }

    @Override
    public void close() {
        // Nothing native to free.
    }
}
