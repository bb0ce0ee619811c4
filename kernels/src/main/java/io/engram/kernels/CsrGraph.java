package io.engram.kernels;

import java.util.Arrays;

/**
 * An immutable, validated association graph in CSR form: the out-edges of node u are
 * {@code targets[offsets[u] .. offsets[u+1]-1]} with {@code weights[...]} alongside.
 *
 * <p>Validation happens once, here, so that per-call checks before JNI stay O(1) for the graph: offsets start at 0,
 * never decrease and end at m; every target is in [0, n); every weight is finite and in [0, 1]. The arrays are
 * private copies (or built here), so nobody can change them after validation.
 */
public final class CsrGraph {
    private final int nodeCount;
    private final int[] offsets;
    private final int[] targets;
    private final float[] weights;

    private CsrGraph(int nodeCount, int[] offsets, int[] targets, float[] weights) {
        this.nodeCount = nodeCount;
        this.offsets = offsets;
        this.targets = targets;
        this.weights = weights;
    }

    /** Validates copies of the given arrays. {@code offsets.length} must be n + 1. */
    public static CsrGraph copyOf(int[] offsets, int[] targets, float[] weights) {
        if (offsets == null || targets == null || weights == null) {
            throw new IllegalArgumentException("CSR arrays must not be null");
        }
        return validated(offsets.clone(), targets.clone(), weights.clone());
    }

    /**
     * Validates the given arrays and takes them over without copying: the caller hands them in freshly built and
     * never touches them again (the job builds a space's graph once per change and caches it).
     */
    public static CsrGraph adopt(int[] offsets, int[] targets, float[] weights) {
        if (offsets == null || targets == null || weights == null) {
            throw new IllegalArgumentException("CSR arrays must not be null");
        }
        return validated(offsets, targets, weights);
    }

    /** A graph with n nodes and no edges. */
    public static CsrGraph empty(int nodeCount) {
        if (nodeCount < 0) {
            throw new IllegalArgumentException("node count must be >= 0, got " + nodeCount);
        }
        return new CsrGraph(nodeCount, new int[nodeCount + 1], new int[0], new float[0]);
    }

    /**
     * Builds a CSR graph from an edge list (sources, targets, weights of equal length m), keeping the edges of each
     * source in the order given.
     */
    public static CsrGraph fromEdges(int nodeCount, int[] sources, int[] edgeTargets, float[] edgeWeights, int m) {
        if (nodeCount < 0) {
            throw new IllegalArgumentException("node count must be >= 0, got " + nodeCount);
        }
        if (sources.length < m || edgeTargets.length < m || edgeWeights.length < m || m < 0) {
            throw new IllegalArgumentException("edge arrays shorter than edge count " + m);
        }
        int[] offsets = new int[nodeCount + 1];
        for (int e = 0; e < m; e++) {
            int s = sources[e];
            if (s < 0 || s >= nodeCount) {
                throw new IndexOutOfBoundsException("edge " + e + " source " + s + " outside [0, " + nodeCount + ")");
            }
            offsets[s + 1]++;
        }
        for (int u = 0; u < nodeCount; u++) {
            offsets[u + 1] += offsets[u];
        }
        int[] fill = Arrays.copyOf(offsets, nodeCount);
        int[] targets = new int[m];
        float[] weights = new float[m];
        for (int e = 0; e < m; e++) {
            int slot = fill[sources[e]]++;
            targets[slot] = edgeTargets[e];
            weights[slot] = edgeWeights[e];
        }
        return validated(offsets, targets, weights);
    }

    private static CsrGraph validated(int[] offsets, int[] targets, float[] weights) {
        if (offsets.length < 1) {
            throw new IllegalArgumentException("offsets must have n + 1 >= 1 entries");
        }
        int n = offsets.length - 1;
        int m = targets.length;
        if (weights.length != m) {
            throw new IllegalArgumentException(
                    "targets and weights disagree in length: " + m + " vs " + weights.length);
        }
        if (offsets[0] != 0) {
            throw new IllegalArgumentException("offsets[0] must be 0, got " + offsets[0]);
        }
        for (int u = 0; u < n; u++) {
            if (offsets[u + 1] < offsets[u]) {
                throw new IllegalArgumentException("offsets decrease at node " + u);
            }
        }
        if (offsets[n] != m) {
            throw new IllegalArgumentException("offsets[n] must equal the edge count " + m + ", got " + offsets[n]);
        }
        for (int e = 0; e < m; e++) {
            int v = targets[e];
            if (v < 0 || v >= n) {
                throw new IndexOutOfBoundsException("edge " + e + " target " + v + " outside [0, " + n + ")");
            }
            float w = weights[e];
            if (!(w >= 0f && w <= 1f)) {
                throw new IllegalArgumentException("edge " + e + " weight " + w + " is not a finite value in [0, 1]");
            }
        }
        return new CsrGraph(n, offsets, targets, weights);
    }

    public int nodeCount() {
        return nodeCount;
    }

    public int edgeCount() {
        return targets.length;
    }

    /** Package-private views for the kernels; never handed out. */
    int[] offsets() {
        return offsets;
    }

    int[] targets() {
        return targets;
    }

    float[] weights() {
        return weights;
    }

    /** Copies for callers that need to look (tests, state snapshots). */
    public int[] offsetsCopy() {
        return offsets.clone();
    }

    public int[] targetsCopy() {
        return targets.clone();
    }

    public float[] weightsCopy() {
        return weights.clone();
    }
}
