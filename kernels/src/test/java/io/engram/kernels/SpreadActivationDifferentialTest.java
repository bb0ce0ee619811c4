package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/** Zig vs Java for spreadActivation: 10,000 random graphs plus named edge cases. */
@AddLifecycleHook(SkipInJavaOnlyBuild.class)
class SpreadActivationDifferentialTest {

    /** A random spreading problem; fields are what both implementations receive. */
    record Problem(CsrGraph graph, int[] seeds, float[] seedActs, int maxHops, float hopDecay, float threshold) {
    }

    static Problem randomProblem(Random r, int maxNodes, int maxDegree) {
        return randomProblemWithNodes(r, r.nextInt(maxNodes + 1), maxDegree);
    }

    static Problem randomProblemWithNodes(Random r, int n, int maxDegree) {
        int m = n == 0 ? 0 : r.nextInt(n * maxDegree + 1);
        int[] src = new int[m];
        int[] dst = new int[m];
        float[] w = new float[m];
        for (int e = 0; e < m; e++) {
            src[e] = r.nextInt(n);
            // Self-loops, multi-edges and back-edges (cycles) all happen on purpose.
            dst[e] = r.nextInt(8) == 0 ? src[e] : r.nextInt(n);
            w[e] = switch (r.nextInt(6)) {
                case 0 -> 0f;
                case 1 -> 1f;
                default -> r.nextFloat();
            };
        }
        CsrGraph g = CsrGraph.fromEdges(n, src, dst, w, m);
        int seedCount = n == 0 ? 0 : r.nextInt(Math.min(n, 12) + 1);
        int[] seeds = new int[seedCount];
        float[] acts = new float[seedCount];
        for (int i = 0; i < seedCount; i++) {
            seeds[i] = r.nextInt(n);
            acts[i] = switch (r.nextInt(8)) {
                case 0 -> -0.5f;                          // clamped to 0
                case 1 -> 1.7f;                           // clamped to 1
                case 2 -> Float.POSITIVE_INFINITY;        // clamped to 1
                default -> r.nextFloat();
            };
        }
        int maxHops = r.nextInt(7);
        float hopDecay = r.nextInt(5) == 0 ? 1f : 0.05f + 0.95f * r.nextFloat();
        float threshold = switch (r.nextInt(4)) {
            case 0 -> 0f;
            case 1 -> r.nextFloat() * 0.001f;
            default -> r.nextFloat() * 0.3f;
        };
        return new Problem(g, seeds, acts, maxHops, hopDecay, threshold);
    }

    @Property(tries = 6000)
    void smallGraphsMatchJava(@ForAll long seed) {
        assertSame(randomProblem(new Random(seed), 40, 4), "seed " + seed);
    }

    @Property(tries = 4000)
    void largerGraphsMatchJava(@ForAll long seed) {
        assertSame(randomProblem(new Random(seed), 2000, 12), "seed " + seed);
    }

    @Example
    void emptyGraph() {
        assertSame(new Problem(CsrGraph.empty(0), new int[0], new float[0], 3, 0.8f, 0.01f), "empty");
    }

    @Example
    void isolatedNodesKeepOnlyTheirSeedActivation() {
        Problem p = new Problem(CsrGraph.empty(5), new int[] {1, 3}, new float[] {0.4f, 2f}, 4, 0.8f, 0f);
        Result z = assertSame(p, "isolated");
        assertThat(z.activation).containsExactly(0f, 0.4f, 0f, 1f, 0f);
        assertThat(z.firstHop).containsExactly(-1, 0, -1, 0, -1);
    }

    @Example
    void cycleSaturatesAtOneAndSelfLoopReinforces() {
        // 0 -> 1 -> 2 -> 0, and 1 -> 1
        CsrGraph g = CsrGraph.fromEdges(3, new int[] {0, 1, 1, 2}, new int[] {1, 2, 1, 0},
                new float[] {1f, 1f, 1f, 1f}, 4);
        Result z = assertSame(new Problem(g, new int[] {0}, new float[] {1f}, 10, 1f, 0f), "cycle");
        assertThat(z.activation).containsExactly(1f, 1f, 1f);
        assertThat(z.firstHop).containsExactly(0, 1, 2);
    }

    @Example
    void chainHandComputed() {
        // 0 -0.5-> 1 -0.5-> 2, decay 0.8: act(1) = 0.4, act(2) = 0.4 * 0.5 * 0.8 = 0.16
        CsrGraph g = CsrGraph.fromEdges(3, new int[] {0, 1}, new int[] {1, 2}, new float[] {0.5f, 0.5f}, 2);
        Result z = assertSame(new Problem(g, new int[] {0}, new float[] {1f}, 3, 0.8f, 0.01f), "chain");
        assertThat(z.activation[1]).isEqualTo(1f * 0.5f * 0.8f);
        assertThat(z.activation[2]).isEqualTo((1f * 0.5f * 0.8f) * 0.5f * 0.8f);
        assertThat(z.firstHop).containsExactly(0, 1, 2);
        // The threshold drops the second hop's contribution of 0.16.
        Result cut = assertSame(new Problem(g, new int[] {0}, new float[] {1f}, 3, 0.8f, 0.2f), "threshold");
        assertThat(cut.activation[2]).isZero();
        assertThat(cut.firstHop[2]).isEqualTo(-1);
    }

    @Example
    void multiEdgesAddUpAndMaxHopsZeroOnlySeeds() {
        CsrGraph g = CsrGraph.fromEdges(2, new int[] {0, 0}, new int[] {1, 1}, new float[] {0.25f, 0.25f}, 2);
        Result z = assertSame(new Problem(g, new int[] {0}, new float[] {1f}, 1, 1f, 0f), "multi");
        assertThat(z.activation[1]).isEqualTo(0.5f);
        Result none = assertSame(new Problem(g, new int[] {0}, new float[] {1f}, 0, 1f, 0f), "hops 0");
        assertThat(none.activation).containsExactly(1f, 0f);
    }

    @Example
    void seedsOutOfRangeAreRejectedBeforeJni() {
        CsrGraph g = CsrGraph.empty(3);
        for (MemoryKernels k : new MemoryKernels[] {new JavaKernels(), TestKernels.zig()}) {
            try (k) {
                assertThatThrownBy(() -> k.spreadActivation(g, new int[] {3}, new float[] {1f}, 1, 2, 0.5f, 0f,
                        new float[3], new int[3])).isInstanceOf(IndexOutOfBoundsException.class)
                        .hasMessageContaining("seed 0 node 3");
                assertThatThrownBy(() -> k.spreadActivation(g, new int[] {-1}, new float[] {1f}, 1, 2, 0.5f, 0f,
                        new float[3], new int[3])).isInstanceOf(IndexOutOfBoundsException.class);
                assertThatThrownBy(() -> k.spreadActivation(g, new int[] {0}, new float[] {Float.NaN}, 1, 2, 0.5f,
                        0f, new float[3], new int[3])).isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> k.spreadActivation(g, new int[] {0}, new float[] {1f}, 1, 2, 0f, 0f,
                        new float[3], new int[3])).hasMessageContaining("hopDecay");
            }
        }
    }

    @Example
    void invalidGraphsNeverGetBuilt() {
        assertThatThrownBy(() -> CsrGraph.copyOf(new int[] {0, 1}, new int[] {5}, new float[] {1f}))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> CsrGraph.copyOf(new int[] {0, 2, 1}, new int[] {0, 0}, new float[] {1f, 1f}))
                .hasMessageContaining("decrease");
        assertThatThrownBy(() -> CsrGraph.copyOf(new int[] {0, 1}, new int[] {0}, new float[] {1.5f}))
                .hasMessageContaining("weight");
        assertThatThrownBy(() -> CsrGraph.copyOf(new int[] {0, 1}, new int[] {0}, new float[] {Float.NaN}))
                .hasMessageContaining("weight");
        assertThatThrownBy(() -> CsrGraph.copyOf(new int[] {0, 1}, new int[] {0}, new float[0]))
                .hasMessageContaining("disagree");
    }

    record Result(float[] activation, int[] firstHop) {
    }

    static Result run(MemoryKernels k, Problem p) {
        int n = p.graph.nodeCount();
        float[] act = new float[n];
        int[] hop = new int[n];
        k.spreadActivation(p.graph, p.seeds, p.seedActs, p.seeds.length, p.maxHops, p.hopDecay, p.threshold, act,
                hop);
        return new Result(act, hop);
    }

    static Result assertSame(Problem p, String what) {
        Result j = run(new JavaKernels(), p);
        Result z;
        try (MemoryKernels zig = TestKernels.zig()) {
            z = run(zig, p);
        }
        for (int v = 0; v < j.activation.length; v++) {
            assertThat(Math.abs((double) z.activation[v] - j.activation[v]))
                    .as("%s node %d: zig %s java %s", what, v, z.activation[v], j.activation[v])
                    .isLessThanOrEqualTo(Tolerances.SPREAD_ABS);
            assertThat(z.activation[v]).isBetween(0f, 1f);
        }
        assertThat(z.firstHop).as("%s first hops", what).containsExactly(j.firstHop);
        return z;
    }
}
