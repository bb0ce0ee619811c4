package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;

/**
 * Fuzzes the JNI boundary. Through the API: random, often invalid lengths, offsets, counts and nulls must give the
 * same outcome as the Java kernels (the same exception type, or results within tolerance). Underneath the API:
 * raw {@link ZigNative} calls with arguments Java validation would have refused must be answered with
 * {@link ZigNative#STATUS_INVALID_ARGUMENTS}, never with a crash or a write out of bounds. Inputs include NaN, +-Inf,
 * denormals, -0 and Float.MAX_VALUE; output arrays carry sentinels past the valid range, which Zig must leave
 * exactly as Java does.
 *
 * <p>Case counts: the jqwik properties (shrinking, 7.2k cases) plus {@link #apiCasesInBulk()} and
 * {@link #rawCasesInBulk()}, which run {@code -Dfuzz.cases=N} cases each (default {@value #DEFAULT_BULK_CASES}, the
 * CI size) from seed {@code -Dfuzz.seed} (default: random, printed). The documented heavy run is
 * {@code -Dfuzz.cases=100000} (docs/operations/reliability.md).
 */
@AddLifecycleHook(SkipInJavaOnlyBuild.class)
class JniBoundaryFuzzTest {
    static final int DEFAULT_BULK_CASES = 100_000;

    static int bulkCases() {
        return Integer.getInteger("fuzz.cases", DEFAULT_BULK_CASES);
    }

    static long bulkSeed() {
        String s = System.getProperty("fuzz.seed");
        return s == null || s.isBlank() ? new Random().nextLong() : Long.parseLong(s.trim());
    }

    private static final float[] SPECIAL = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
        Float.MIN_VALUE, 1e-40f, -1e-39f, -0f, 0f, Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_NORMAL};
    private static final float SENTINEL = -12345.5f;

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
        try (MemoryKernels zig = TestKernels.zig()) {
            apiCase(seed, zig);
        }
    }

    @Test
    @Timeout(value = 900, unit = TimeUnit.SECONDS)
    @DisabledIfSystemProperty(named = "engram.build.javaOnly", matches = "true",
            disabledReason = "a Java-only build has no Zig kernels")
    void apiCasesInBulk() {
        int n = bulkCases();
        long base = bulkSeed();
        long t0 = System.nanoTime();
        try (MemoryKernels zig = TestKernels.zig()) {
            for (int i = 0; i < n; i++) {
                apiCase(base + i, zig);
            }
        }
        System.out.printf("JniBoundaryFuzzTest.apiCasesInBulk: %d cases from seed %d in %.1f s%n", n, base,
                (System.nanoTime() - t0) / 1e9);
    }

    @Test
    @Timeout(value = 900, unit = TimeUnit.SECONDS)
    @DisabledIfSystemProperty(named = "engram.build.javaOnly", matches = "true",
            disabledReason = "a Java-only build has no Zig kernels")
    void rawCasesInBulk() {
        int n = bulkCases();
        long base = bulkSeed();
        long t0 = System.nanoTime();
        TestKernels.zig().close();
        try (Arena arena = Arena.allocate(TestKernels.arena(64 * 1024, OverflowStrategy.FAIL))) {
            for (int i = 0; i < n; i++) {
                rawCase(base + i, arena);
            }
        }
        System.out.printf("JniBoundaryFuzzTest.rawCasesInBulk: %d cases from seed %d in %.1f s%n", n, base,
                (System.nanoTime() - t0) / 1e9);
    }

    /** One API case: Zig and Java see the same arguments; same exception class, same results (finite inputs). */
    static void apiCase(long seed, MemoryKernels zig) {
        Random r = new Random(seed);
        JavaKernels java = new JavaKernels();
        boolean special = r.nextInt(4) == 0;
        {
            int dim = 1 + r.nextInt(20);
            int rows = r.nextInt(6);
            float[] q = r.nextInt(20) == 0 ? null : new float[len(r, dim)];
            float[] c = new float[len(r, rows * dim)];
            fill(r, q, special);
            fill(r, c, special);
            int d = r.nextInt(10) == 0 ? any(r, dim) : dim;
            int first = any(r, rows);
            int count = any(r, rows);
            float[] outJ = new float[len(r, Math.max(0, Math.min(count, rows + 2)) + 2)];
            Arrays.fill(outJ, SENTINEL);
            float[] outZ = outJ.clone();
            switch (r.nextInt(6)) {
                case 5 -> {
                    int cueCount = any(r, 3);
                    float[] cues = new float[len(r, 3 * dim)];
                    fill(r, cues, special);
                    float[] cueNorms = r.nextInt(20) == 0 ? null : new float[len(r, 3)];
                    fill(r, cueNorms, special);
                    float[] norms = r.nextInt(20) == 0 ? null : new float[len(r, rows)];
                    fill(r, norms, special);
                    float[] nJ = new float[len(r, 3 * Math.max(0, Math.min(count, rows + 2))) + 2];
                    Arrays.fill(nJ, SENTINEL);
                    float[] nZ = nJ.clone();
                    Class<?> j = outcome(() -> java.cosineSimilarityNormed(cues, cueNorms, cueCount, c, norms, d, first,
                            count, nJ));
                    Class<?> z = outcome(() -> zig.cosineSimilarityNormed(cues, cueNorms, cueCount, c, norms, d, first,
                            count, nZ));
                    assertThat(z).as("seed %d", seed).isEqualTo(j);
                    if (j == null) {
                        compare(seed, nZ, nJ, cueCount * count, special);
                    }
                }
                case 4 -> {
                    int queryCount = any(r, 3);
                    float[] qs = new float[len(r, 3 * dim)];
                    fill(r, qs, special);
                    float[] bJ = new float[len(r, 3 * Math.max(0, Math.min(count, rows + 2))) + 2];
                    Arrays.fill(bJ, SENTINEL);
                    float[] bZ = bJ.clone();
                    Class<?> j = outcome(() -> java.cosineSimilarityBatch(qs, queryCount, c, d, first, count, bJ));
                    Class<?> z = outcome(() -> zig.cosineSimilarityBatch(qs, queryCount, c, d, first, count, bZ));
                    assertThat(z).as("seed %d", seed).isEqualTo(j);
                    if (j == null) {
                        compare(seed, bZ, bJ, queryCount * count, special);
                    }
                }
                case 0 -> {
                    Class<?> j = outcome(() -> java.cosineSimilarity(q, c, d, first, count, outJ));
                    Class<?> z = outcome(() -> zig.cosineSimilarity(q, c, d, first, count, outZ));
                    assertThat(z).as("seed %d", seed).isEqualTo(j);
                    if (j == null) {
                        compare(seed, outZ, outJ, count, special);
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
                    fill(r, acts, special);
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
                    fill(r, stab, special);
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
        fill(r, v, false);
    }

    /** Gaussian values; with {@code special}, about one in three is NaN, +-Inf, a denormal, -0 or +-MAX_VALUE. */
    private static void fill(Random r, float[] v, boolean special) {
        if (v != null) {
            for (int i = 0; i < v.length; i++) {
                v[i] = special && r.nextInt(3) == 0 ? SPECIAL[r.nextInt(SPECIAL.length)] : (float) r.nextGaussian();
            }
        }
    }

    /**
     * The first {@code n} outputs agree within tolerance (finite inputs only: with NaN/Inf/denormal inputs the two
     * implementations may round differently, but neither may crash). Past {@code n} both arrays are bit-identical:
     * Zig wrote nothing out of range that Java did not.
     */
    private static void compare(long seed, float[] zig, float[] java, int n, boolean special) {
        for (int i = 0; i < zig.length; i++) {
            if (i < n) {
                if (!special) {
                    assertThat(Math.abs(zig[i] - java[i])).as("seed %d, output %d", seed, i)
                            .isLessThanOrEqualTo((float) Tolerances.COSINE_ABS);
                }
            } else {
                assertThat(Float.floatToRawIntBits(zig[i])).as("seed %d: output %d past the %d results", seed, i, n)
                        .isEqualTo(Float.floatToRawIntBits(java[i]));
            }
        }
    }

    @Property(tries = 3000)
    void rawNativeCallsRejectWhatJavaWouldRefuse(@ForAll long seed) {
        TestKernels.zig().close(); // makes sure the library is loaded
        try (Arena arena = Arena.allocate(TestKernels.arena(64 * 1024, OverflowStrategy.FAIL))) {
            rawCase(seed, arena);
        }
    }

    static void rawCase(long seed, Arena arena) {
        Random r = new Random(seed);
        boolean special = r.nextInt(4) == 0;
        {
            long a = arena.begin(0);
            long cap = arena.capacityBytes();
            int dim = 1 + r.nextInt(16);
            float[] q = new float[len(r, dim)];
            float[] c = new float[len(r, 4 * dim)];
            fill(r, q, special);
            fill(r, c, special);
            float[] out = new float[len(r, 4)];
            long status;
            switch (r.nextInt(5)) {
                case 0 -> status = ZigNative.cosineSimilarity(a, cap, q, c, any(r, dim), any(r, 4), any(r, 4), out);
                case 4 -> status = ZigNative.cosineSimilarityBatch(a, cap, new float[len(r, 3 * dim)], any(r, 3), c,
                        any(r, dim), any(r, 4), any(r, 4), new float[len(r, 12)]);
                case 1 -> status = ZigNative.cosineSimilarityNormed(a, cap, new float[len(r, 2 * dim)],
                        r.nextInt(20) == 0 ? null : new float[len(r, 2)], any(r, 2), c,
                        r.nextInt(20) == 0 ? null : new float[len(r, 4)], any(r, dim), any(r, 4), any(r, 4),
                        new float[len(r, 8)]);
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
            long s2 = ZigNative.cosineSimilarityNormed(a, 8192, f, nullArena ? f : null, 1, f, f, 8, 0, 1, f);
            long s3 = ZigNative.spreadActivation(a, 8192, nullArena ? new int[] {0, 0} : null, new int[0],
                    new float[0], 1, i8, f, 1, 1, 0.5f, 0f, f, i8);
            long s4 = ZigNative.decayRetention(a, 8192, nullArena ? l : null, f, 1, 1, f);
            long s5 = ZigNative.cosineSimilarityBatch(a, 8192, nullArena ? f : null, 1, f, 8, 0, 1, f);
            arena.abort();
            assertThat(new long[] {s1, s2, s3, s4, s5}).containsOnly(ZigNative.STATUS_INVALID_ARGUMENTS);
        }
    }
}
