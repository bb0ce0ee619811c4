package io.engram.kernels;

/**
 * Argument checks shared by both implementations. They run in Java before any native call, so that no length,
 * offset or index the Zig code sees can be out of range. Each check is O(1) except the seed scan (O(seeds)).
 */
final class Validation {
    private Validation() {
    }

    static void cosine(float[] query, float[] candidates, int dim, int first, int count, float[] scores) {
        cosineRange(query, candidates, dim, first, count);
        if (scores == null) {
            throw new IllegalArgumentException("scores must not be null");
        }
        if (scores.length < count) {
            throw new IllegalArgumentException("scores has " + scores.length + " slots, need " + count);
        }
    }

    static void cosineBatch(float[] queries, int queryCount, float[] candidates, int dim, int first, int count,
                            float[] scores) {
        several("queries", queries, queryCount, candidates, dim, first, count, scores);
    }

    /** {@code n} vectors ({@code what}) of dimension dim against rows [first, first + count); n × count scores. */
    private static void several(String what, float[] vectors, int n, float[] candidates, int dim, int first,
                                int count, float[] scores) {
        if (vectors == null || candidates == null) {
            throw new IllegalArgumentException(what + " and candidates must not be null");
        }
        if (dim < 1) {
            throw new IllegalArgumentException("dim must be >= 1, got " + dim);
        }
        if (n < 0) {
            throw new IllegalArgumentException(what + ": count must be >= 0, got " + n);
        }
        if ((long) n * dim > vectors.length) {
            throw new IllegalArgumentException(what + " has " + vectors.length + " floats, " + n + " " + what
                    + " of dimension " + dim + " need " + (long) n * dim);
        }
        if (candidates.length % dim != 0) {
            throw new IllegalArgumentException(
                    "candidates length " + candidates.length + " is not a multiple of dim " + dim);
        }
        int rows = candidates.length / dim;
        if (first < 0 || count < 0 || first > rows || count > rows - first) {
            throw new IndexOutOfBoundsException(
                    "rows [" + first + ", " + first + "+" + count + ") outside the " + rows + " candidates");
        }
        if (scores == null) {
            throw new IllegalArgumentException("scores must not be null");
        }
        if ((long) n * count > scores.length) {
            throw new IllegalArgumentException("scores has " + scores.length + " slots, need " + n + " x " + count);
        }
    }

    static void cosineNormed(float[] cues, float[] cueNorms, int cueCount, float[] candidates, float[] norms, int dim,
                             int first, int count, float[] scores) {
        several("cues", cues, cueCount, candidates, dim, first, count, scores);
        if (cueNorms == null || norms == null) {
            throw new IllegalArgumentException("cueNorms and norms must not be null");
        }
        if (cueNorms.length < cueCount) {
            throw new IllegalArgumentException("cueNorms has " + cueNorms.length + " norms, " + cueCount
                    + " cues need as many");
        }
        if (norms.length < first + count) {
            throw new IllegalArgumentException("norms has " + norms.length + " norms, rows [" + first + ", " + first
                    + "+" + count + ") need " + (first + count));
        }
    }

    static void cosineTopK(float[] query, float[] candidates, int dim, int first, int count, int k,
                           int[] topRows, float[] topScores) {
        cosineRange(query, candidates, dim, first, count);
        if (k < 0) {
            throw new IllegalArgumentException("k must be >= 0, got " + k);
        }
        if (topRows == null || topScores == null) {
            throw new IllegalArgumentException("top-k outputs must not be null");
        }
        int found = Math.min(k, count);
        if (topRows.length < found || topScores.length < found) {
            throw new IllegalArgumentException("top-k outputs hold " + Math.min(topRows.length, topScores.length)
                    + " entries, need " + found);
        }
    }

    private static void cosineRange(float[] query, float[] candidates, int dim, int first, int count) {
        if (query == null || candidates == null) {
            throw new IllegalArgumentException("query and candidates must not be null");
        }
        if (dim < 1) {
            throw new IllegalArgumentException("dim must be >= 1, got " + dim);
        }
        if (query.length != dim) {
            throw new IllegalArgumentException("query has dimension " + query.length + ", expected " + dim);
        }
        if (candidates.length % dim != 0) {
            throw new IllegalArgumentException(
                    "candidates length " + candidates.length + " is not a multiple of dim " + dim);
        }
        int rows = candidates.length / dim;
        if (first < 0 || count < 0 || first > rows || count > rows - first) {
            throw new IndexOutOfBoundsException(
                    "rows [" + first + ", " + first + "+" + count + ") outside the " + rows + " candidates");
        }
    }

    static void spread(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount, int maxHops,
                       float hopDecay, float threshold, float[] activation, int[] firstHop) {
        if (graph == null) {
            throw new IllegalArgumentException("graph must not be null");
        }
        if (seedNodes == null || seedActivations == null) {
            throw new IllegalArgumentException("seed arrays must not be null");
        }
        if (seedCount < 0 || seedCount > seedNodes.length || seedCount > seedActivations.length) {
            throw new IllegalArgumentException("seed count " + seedCount + " does not fit seed arrays of length "
                    + seedNodes.length + " and " + seedActivations.length);
        }
        if (maxHops < 0 || maxHops > SpreadSemantics.MAX_HOPS) {
            throw new IllegalArgumentException(
                    "maxHops must be in [0, " + SpreadSemantics.MAX_HOPS + "], got " + maxHops);
        }
        if (!(hopDecay > 0f && hopDecay <= 1f)) {
            throw new IllegalArgumentException("hopDecay must be in (0, 1], got " + hopDecay);
        }
        if (!(threshold >= 0f) || Float.isInfinite(threshold)) {
            throw new IllegalArgumentException("threshold must be finite and >= 0, got " + threshold);
        }
        int n = graph.nodeCount();
        if (activation == null || firstHop == null) {
            throw new IllegalArgumentException("outputs must not be null");
        }
        if (activation.length < n || firstHop.length < n) {
            throw new IllegalArgumentException("outputs hold " + Math.min(activation.length, firstHop.length)
                    + " nodes, graph has " + n);
        }
        for (int i = 0; i < seedCount; i++) {
            int s = seedNodes[i];
            if (s < 0 || s >= n) {
                throw new IndexOutOfBoundsException("seed " + i + " node " + s + " outside [0, " + n + ")");
            }
            if (Float.isNaN(seedActivations[i])) {
                throw new IllegalArgumentException("seed " + i + " activation is NaN");
            }
        }
    }

    static void decay(long[] lastAccessMillis, float[] stabilitySeconds, int count, float[] retention) {
        if (lastAccessMillis == null || stabilitySeconds == null || retention == null) {
            throw new IllegalArgumentException("decay arrays must not be null");
        }
        if (count < 0) {
            throw new IllegalArgumentException("count must be >= 0, got " + count);
        }
        if (lastAccessMillis.length < count || stabilitySeconds.length < count || retention.length < count) {
            throw new IllegalArgumentException("decay arrays (" + lastAccessMillis.length + ", "
                    + stabilitySeconds.length + ", " + retention.length + ") are shorter than count " + count);
        }
    }
}
