package io.engram.kernels;

/**
 * The spreading kernel's exact definition, shared by both implementations (and the recall contract).
 *
 * <ol>
 *   <li>activation[v] = 0 and firstHop[v] = -1 for every node.</li>
 *   <li>Seeds: activation = clamp(seedActivation, 0, 1), firstHop = 0. A node seeded twice keeps the larger value.
 *       The hop-1 frontier is the set of seed nodes in ascending node index.</li>
 *   <li>For h = 1 .. maxHops, while the frontier is not empty: snapshot act(u) for every u on the frontier; then for
 *       each frontier node u in ascending index, for each out-edge (u, v, w) in CSR order:
 *       {@code c = (act(u) * w) * hopDecay} in f32; if {@code c < threshold} the contribution is dropped; otherwise
 *       {@code activation[v] = min(1, activation[v] + c)}, firstHop[v] = h if it was -1, and v joins the next
 *       frontier. The next frontier is sorted ascending and holds each node once.</li>
 * </ol>
 *
 * <p>No FMA contraction: the product and the sum are rounded separately, in that order, on both sides.
 */
public final class SpreadSemantics {
    /** Upper bound on maxHops: each hop costs O(n + m); more than this is a caller bug. */
    public static final int MAX_HOPS = 1024;

    private SpreadSemantics() {
    }
}
