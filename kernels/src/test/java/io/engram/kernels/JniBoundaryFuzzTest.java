package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * Fuzzes the JNI boundary. Through the API: random, often invalid lengths, offsets, counts and nulls must give the
 * same outcome as the Java kernels (the same exception type, or results within tolerance). Underneath the API:
 * raw {@link ZigNative} calls with arguments Java validation would have refused must be answered with
 * {@link ZigNative#STATUS_INVALID_ARGUMENTS}, never with a crash or a write out of bounds.
 */
@AddLifecycleHook(SkipInJavaOnlyBuild.class)
class JniBoundaryFuzzTest {

    private static int len(Random r, int typical) {
        return switch (r.nextInt(6)) {
            case 0 -> 0;
            case 1 -> r.nextInt(3);
            default -> Math.max(0, typical + r.nextInt(5) - 2);
        };
    }

    private static int any(Random r, int typical) {
        return switch (r.nextInt(8)) {
            case 0 -> -1 - r.nextInt(5);
            case 1 -> Integer.MAX_VALUE - r.nextInt(3);
            case 2 -> Integer.MIN_VALUE;
            default -> r.nextInt(typical + 3);
        };
    }

    /** Runs {@code call}, returning the exception class or null. */
    private static Class<?> outcome(Runnable call) {
        try {
            call.run();
            return null;
        } catch (RuntimeException e) {
            return e.getClass();
        }
    }

    @Property(tries = 4000)
    void apiCallsWithRandomArgumentsBehaveLikeJava(@ForAll long seed) {
        Random r = new Random(seed);
        JavaKernels java = new JavaKernels();
        try (MemoryKernels zig = TestKernels.zig()) {
            int dim = 1 + r.nextInt(20);
            int rows = r.nextInt(6);
            float[] q = r.nextInt(20) == 0 ? null : new float[len(r, dim)];
            float[] c = new float[len(r, rows * dim)];
            fill(r, q);
            fill(r, c);
            int d = r.nextInt(10) == 0 ? any(r, dim) : dim;
            int first = any(r, rows);
            int count = any(r, rows);
            float[] outJ = new float[len(r, Math.max(0, Math.min(count, rows + 2)))];
            float[] outZ = outJ.clone();
            switch (r.nextInt(5)) {
                case 4 -> {
                    int queryCount = any(r, 3);
                    float[] qs = new float[len(r, 3 * dim)];
                    fill(r, qs);
                    float[] bJ = new float[len(r, 3 * Math.max(0, Math.min(count, rows + 2)))];
                    float[] bZ = bJ.clone();
                    Class<?> j = outcome(() -> java.cosineSimilarityBatch(qs, queryCount, c, d, first, count, bJ));
                    Class<?> z = outcome(() -> zig.cosineSimilarityBatch(qs, queryCount, c, d, first, count, bZ));
                    assertThat(z).as("seed %d", seed).isEqualTo(j);
                    if (j == null) {
                        for (int i = 0; i < queryCount * count; i++) {
                            assertThat(Math.abs(bZ[i] - bJ[i])).isLessThanOrEqualTo((float) Tolerances.COSINE_ABS);
                        }
                    }
                }
                case 0 -> {
                    Class<?> j = outcome(() -> java.cosineSimilarity(q, c, d, first, count, outJ));
                    Class<?> z = outcome(() -> zig.cosineSimilarity(q, c, d, first, count, outZ));
                    assertThat(z).as("seed %d", seed).isEqualTo(j);
                    if (j == null) {
                        for (int i = 0; i < count; i++) {
                            assertThat(Math.abs(outZ[i] - outJ[i])).isLessThanOrEqualTo((float) Tolerances.COSINE_ABS);
                        }
                    }
                }
                case 1 -> {
                    int k = any(r, 4);
                    int[] rowsOut = new int[len(r, 4)];
                    float[] scoresOut = new float[len(r, 4)];
                    Class<?> j = outcome(() -> java.cosineTopK(q, c, d, first, count, k, rowsOut.clone(),
                            scoresOut.clone()));
                    Class<?> z = outcome(() -> zig.cosineTopK(q, c, d, first, count, k, rowsOut, scoresOut));
                    assertThat(z).as("seed %d", seed).isEqualTo(j);
                }
                case 2 -> {
                    int n = r.nextInt(6);
                    CsrGraph g = CsrGraph.fromEdges(n, new int[0], new int[0], new float[0], 0);
                    int seeds = r.nextInt(4);
                    int[] seedNodes = new int[len(r, seeds)];
                    for (int i = 0; i < seedNodes.length; i++) {
                        seedNodes[i] = any(r, n);
                    }
                    float[] acts = new float[len(r, seeds)];
                    fill(r, acts);
                    int seedCount = any(r, seeds);
                    int hops = any(r, 3);
                    float decay = r.nextInt(5) == 0 ? -r.nextFloat() : r.nextFloat();
                    float threshold = r.nextInt(5) == 0 ? Float.NaN : r.nextFloat();
                    float[] act = new float[len(r, n)];
                    int[] firstHop = new int[len(r, n)];
                    Class<?> j = outcome(() -> java.spreadActivation(g, seedNodes, acts, seedCount, hops, decay,
                            threshold, act.clone(), firstHop.clone()));
                    Class<?> z = outcome(() -> zig.spreadActivation(g, seedNodes, acts, seedCount, hops, decay,
                            threshold, act, firstHop));
                    assertThat(z).as("seed %d", seed).isEqualTo(j);
                }
                default -> {
                    long[] last = r.nextInt(20) == 0 ? null : new long[len(r, 5)];
                    float[] stab = new float[len(r, 5)];
                    float[] ret = new float[len(r, 5)];
                    int n = any(r, 5);
                    Class<?> j = outcome(() -> java.decayRetention(last, stab, n, 99, ret.clone()));
                    Class<?> z = outcome(() -> zig.decayRetention(last, stab, n, 99, ret));
                    assertThat(z).as("seed %d", seed).isEqualTo(j);
                }
            }
        }
    }

    private static void fill(Random r, float[] v) {
        if (v != null) {
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) r.nextGaussian();
            }
        }
    }

    @Property(tries = 3000)
    void rawNativeCallsRejectWhatJavaWouldRefuse(@ForAll long seed) {
        Random r = new Random(seed);
        TestKernels.zig().close(); // makes sure the library is loaded
        try (Arena arena = Arena.allocate(TestKernels.arena(64 * 1024, OverflowStrategy.FAIL))) {
            long a = arena.begin(0);
            long cap = arena.capacityBytes();
            int dim = 1 + r.nextInt(16);
            float[] q = new float[len(r, dim)];
            float[] c = new float[len(r, 4 * dim)];
            float[] out = new float[len(r, 4)];
            long status;
            switch (r.nextInt(5)) {
                case 0 -> status = ZigNative.cosineSimilarity(a, cap, q, c, any(r, dim), any(r, 4), any(r, 4), out);
                case 4 -> status = ZigNative.cosineSimilarityBatch(a, cap, new float[len(r, 3 * dim)], any(r, 3), c,
                        any(r, dim), any(r, 4), any(r, 4), new float[len(r, 12)]);
                case 1 -> status = ZigNative.cosineTopK(a, cap, q, c, any(r, dim), any(r, 4), any(r, 4), any(r, 4),
                        new int[len(r, 4)], out);
                case 2 -> {
                    int n = r.nextInt(6);
                    int[] offsets = new int[len(r, n + 1)];
                    int m = r.nextInt(8);
                    for (int i = 0; i < offsets.length; i++) {
                        offsets[i] = r.nextInt(3) == 0 ? any(r, m) : Math.min(m, i);
                    }
                    int[] targets = new int[len(r, m)];
                    for (int i = 0; i < targets.length; i++) {
                        targets[i] = any(r, n);
                    }
                    float[] weights = new float[len(r, m)];
                    int[] seeds = new int[len(r, 2)];
                    for (int i = 0; i < seeds.length; i++) {
                        seeds[i] = any(r, n);
                    }
                    status = ZigNative.spreadActivation(a, cap, offsets, targets, weights, any(r, n), seeds,
                            new float[len(r, 2)], any(r, 2), r.nextInt(4), 0.5f, 0f, new float[len(r, n)],
                            new int[len(r, n)]);
                }
                default -> status = ZigNative.decayRetention(a, cap, new long[len(r, 5)], new float[len(r, 5)],
                        any(r, 5), 7, new float[len(r, 5)]);
            }
            arena.abort();
            // Valid-by-chance calls succeed; everything else is refused. Either way the JVM is still here.
            assertThat(status).as("seed %d", seed)
                    .matches(s -> s == ZigNative.STATUS_INVALID_ARGUMENTS || s >= 0, "refused or succeeded");
        }
    }

    @Property(tries = 200)
    void rawNativeCallsRejectNullsAndANullArena(@ForAll long seed) {
        Random r = new Random(seed);
        TestKernels.zig().close();
        float[] f = new float[8];
        long[] l = new long[8];
        int[] i8 = new int[8];
        boolean nullArena = r.nextBoolean();
        try (Arena arena = Arena.allocate(TestKernels.arena(8192, OverflowStrategy.FAIL))) {
            long a = nullArena ? 0 : arena.begin(0);
            long s1 = ZigNative.cosineSimilarity(a, 8192, nullArena ? f : null, f, 8, 0, 1, f);
            long s2 = ZigNative.cosineTopK(a, 8192, f, nullArena ? f : null, 8, 0, 1, 1, i8, f);
            long s3 = ZigNative.spreadActivation(a, 8192, nullArena ? new int[] {0, 0} : null, new int[0],
                    new float[0], 1, i8, f, 1, 1, 0.5f, 0f, f, i8);
            long s4 = ZigNative.decayRetention(a, 8192, nullArena ? l : null, f, 1, 1, f);
            long s5 = ZigNative.cosineSimilarityBatch(a, 8192, nullArena ? f : null, 1, f, 8, 0, 1, f);
            arena.abort();
            assertThat(new long[] {s1, s2, s3, s4, s5}).containsOnly(ZigNative.STATUS_INVALID_ARGUMENTS);
        }
    }
}
