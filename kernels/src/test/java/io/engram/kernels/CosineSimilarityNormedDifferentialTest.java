package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.Random;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * cosineSimilarityNormed (stored norms): Zig against Java on any input, including NaN/Inf/denormal/huge elements and
 * norms that are zero, negative, NaN or infinite; and both against the plain cosine (the semantics the stored norms
 * stand in for) on the vectors the job stores, with norms from {@link Norms#of}. 10,000 random cases (awkward dims,
 * 0..40 cues, sliced row ranges, longer cue buffers) plus named edge cases.
 */
@AddLifecycleHook(SkipInJavaOnlyBuild.class)
class CosineSimilarityNormedDifferentialTest {
    private final JavaKernels java = new JavaKernels();

    @Property(tries = 6000)
    void zigMatchesJavaAndThePlainCosine(@ForAll long seed) {
        Random r = new Random(seed);
        int dim = Gen.dim(r);
        int cueCount = r.nextInt(8) == 0 ? r.nextInt(41) : r.nextInt(10);
        int rows = r.nextInt(1 + Math.min(40, 40960 / dim));
        int slack = r.nextInt(3) == 0 ? r.nextInt(2 * dim + 1) : 0;
        float[] cues = Gen.floats(r, cueCount * dim + slack, 0);
        float[] candidates = Gen.floats(r, rows * dim, 0);
        if (rows > 0 && cueCount > 0 && r.nextBoolean()) { // an exact match scores 1
            System.arraycopy(cues, r.nextInt(cueCount) * dim, candidates, r.nextInt(rows) * dim, dim);
        }
        if (cueCount > 0 && r.nextInt(5) == 0) { // a zero cue scores 0 everywhere
            int q = r.nextInt(cueCount);
            Arrays.fill(cues, q * dim, q * dim + dim, 0f);
        }
        int first = rows == 0 ? 0 : r.nextInt(rows + 1);
        int count = r.nextInt(rows - first + 1);
        Case c = Case.of(cues, cueCount, candidates, dim, first, count);
        float[] zig = c.run(TestKernels.zig());
        float[] javaScores = c.run(java);
        assertAgree(zig, javaScores, c, "seed " + seed + ": Zig vs Java");
        assertAgree(javaScores, c.plainCosine(java), c, "seed " + seed + ": Java normed vs plain cosine");
    }

    @Property(tries = 4000)
    void specialValuesAgreeWithJava(@ForAll long seed) {
        Random r = new Random(seed);
        int dim = Gen.dim(r);
        int cueCount = r.nextInt(10);
        int rows = r.nextInt(1 + Math.min(24, 24576 / dim));
        float[] cues = Gen.floats(r, cueCount * dim, 0.02);
        float[] candidates = Gen.floats(r, rows * dim, 0.02);
        Case c = Case.of(cues, cueCount, candidates, dim, 0, rows);
        for (float[] norms : new float[][] {c.norms, c.cueNorms}) { // some norms that are not norms
            for (int i = 0; i < norms.length; i++) {
                if (r.nextInt(6) == 0) {
                    norms[i] = Gen.SPECIAL[r.nextInt(Gen.SPECIAL.length)] * (r.nextBoolean() ? 1 : -1);
                }
            }
        }
        float[] zig = c.run(TestKernels.zig());
        float[] javaScores = c.run(java);
        for (int i = 0; i < zig.length; i++) {
            assertThat(zig[i]).as("seed %d cell %d", seed, i).isBetween(-1f, 1f);
            // Where Java scores 0 for a degenerate norm or dot, Zig does too; elsewhere f32 rounding may differ
            // at NaN/Inf/denormal inputs, but never beyond the clamp.
            if (!(c.normOk(i / Math.max(1, rows), i % Math.max(1, rows)))) {
                assertThat(zig[i]).as("seed %d cell %d: a degenerate norm scores 0", seed, i).isZero();
                assertThat(javaScores[i]).isZero();
            }
        }
    }

    @Example
    void tilesTailsAndTheOneCuePathsAgree() {
        Random r = new Random(42);
        for (int dim : new int[] {1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 383, 384, 385, 768, 1536}) {
            for (int cueCount = 0; cueCount <= 17; cueCount++) {
                for (int rows = 0; rows <= 9; rows++) {
                    Case c = Case.of(Gen.floats(r, cueCount * dim, 0), cueCount, Gen.floats(r, rows * dim, 0), dim, 0,
                            rows);
                    assertAgree(c.run(TestKernels.zig()), c.run(java), c, "dim " + dim + " cues " + cueCount);
                }
            }
        }
    }

    @Example
    void aBlockTooBigToShareCueLoadsStreamsRowByRow() {
        Random r = new Random(7);
        int dim = 768;
        int rows = 1500; // 4.6 MB: beyond the kernel's shared-cue block limit
        Case c = Case.of(Gen.floats(r, 3 * dim, 0), 1, Gen.floats(r, rows * dim, 0), dim, 0, rows);
        float[] zig = c.run(TestKernels.zig());
        assertAgree(zig, c.run(java), c, "one cue, 1500 rows");
        assertAgree(zig, c.plainCosine(java), c, "one cue, 1500 rows, plain cosine");
    }

    @Example
    void degenerateNormsAndTheClamp() {
        int dim = 11;
        float[] q = new float[dim];
        for (int j = 0; j < dim; j++) {
            q[j] = j + 1;
        }
        float qn = Norms.of(q);
        float[] c = new float[6 * dim];
        for (int j = 0; j < dim; j++) {
            c[j] = q[j];
            c[dim + j] = -3 * q[j];
            c[2 * dim + j] = j == 4 ? Float.NaN : q[j];
            c[3 * dim + j] = q[j];
            c[4 * dim + j] = q[j];
            c[5 * dim + j] = q[j];
        }
        // Row 3's norm is stored 1% too small (the ratio exceeds 1 and is clamped), row 4's is negative, row 5's 0.
        float[] norms = {qn, 3 * qn, Float.NaN, qn * 0.99f, -qn, 0f};
        for (MemoryKernels k : new MemoryKernels[] {java, TestKernels.zig()}) {
            try (k) {
                float[] s = new float[6];
                k.cosineSimilarityNormed(q, new float[] {qn}, 1, c, norms, dim, 0, 6, s);
                assertThat(s[0]).isCloseTo(1f, org.assertj.core.data.Offset.offset(1e-6f));
                assertThat(s[1]).isCloseTo(-1f, org.assertj.core.data.Offset.offset(1e-6f));
                assertThat(s[2]).isZero();
                assertThat(s[3]).isEqualTo(1f);
                assertThat(s[4]).isZero();
                assertThat(s[5]).isZero();
                for (float bad : new float[] {0f, -1f, Float.NaN, Float.POSITIVE_INFINITY}) {
                    k.cosineSimilarityNormed(q, new float[] {bad}, 1, c, norms, dim, 0, 6, s);
                    assertThat(s).containsOnly(0f);
                }
            }
        }
    }

    @Example
    void invalidArgumentsAreRejectedByBothAndWriteNothing() {
        float[] q = new float[16];
        float[] c = new float[24];
        float[] qn = {1f, 1f};
        float[] n = {1f, 1f, 1f};
        for (MemoryKernels k : new MemoryKernels[] {java, TestKernels.zig()}) {
            try (k) {
                float[] s = new float[6];
                Arrays.fill(s, 7f);
                assertThatThrownBy(() -> k.cosineSimilarityNormed(q, qn, 3, c, n, 8, 0, 3, new float[9]))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("need 24");
                assertThatThrownBy(() -> k.cosineSimilarityNormed(q, new float[1], 2, c, n, 8, 0, 3, s))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("cueNorms");
                assertThatThrownBy(() -> k.cosineSimilarityNormed(q, qn, 2, c, new float[2], 8, 0, 3, s))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("norms has 2");
                assertThatThrownBy(() -> k.cosineSimilarityNormed(q, null, 2, c, n, 8, 0, 3, s))
                        .isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> k.cosineSimilarityNormed(q, qn, 2, c, null, 8, 0, 3, s))
                        .isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> k.cosineSimilarityNormed(q, qn, -1, c, n, 8, 0, 3, s))
                        .isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> k.cosineSimilarityNormed(q, qn, 2, c, n, 8, 1, 3, s))
                        .isInstanceOf(IndexOutOfBoundsException.class);
                assertThatThrownBy(() -> k.cosineSimilarityNormed(q, qn, 2, c, n, 8, 0, 3, new float[5]))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2 x 3");
                assertThat(s).containsOnly(7f);
            }
        }
    }

    @Example
    void needsNoArenaSoATinyOneNeverOverflows() {
        Random r = new Random(3);
        int dim = 1536;
        Case c = Case.of(Gen.floats(r, 40 * dim, 0), 40, Gen.floats(r, 20 * dim, 0), dim, 0, 20);
        try (MemoryKernels zig = TestKernels.zig(TestKernels.arena(ArenaConfig.MIN_CAPACITY, OverflowStrategy.FAIL))) {
            float[] s = c.run(zig);
            assertAgree(s, c.run(java), c, "40 cues, minimal arena");
            assertThat(zig.arenaStats().overflows()).isZero();
            assertThat(zig.arenaStats().highWaterBytes()).isZero();
        }
    }

    /** One call's inputs, with norms as the job stores them. */
    record Case(float[] cues, int cueCount, float[] cueNorms, float[] candidates, float[] norms, int dim, int first,
                int count) {
        static Case of(float[] cues, int cueCount, float[] candidates, int dim, int first, int count) {
            return new Case(cues, cueCount, Norms.ofRows(cues, dim, cueCount), candidates,
                    Norms.ofRows(candidates, dim, candidates.length / dim), dim, first, count);
        }

        /** Runs the case (and closes the kernels); one slot past the scores must stay untouched. */
        float[] run(MemoryKernels k) {
            float[] s = new float[cueCount * count + 1];
            s[cueCount * count] = 42f;
            try (k) {
                k.cosineSimilarityNormed(cues, cueNorms, cueCount, candidates, norms, dim, first, count, s);
            }
            assertThat(s[cueCount * count]).as("the slot past the scores").isEqualTo(42f);
            return Arrays.copyOf(s, cueCount * count);
        }

        float[] plainCosine(JavaKernels k) {
            float[] s = new float[cueCount * count];
            float[] cue = new float[dim];
            float[] row = new float[count];
            for (int q = 0; q < cueCount; q++) {
                System.arraycopy(cues, q * dim, cue, 0, dim);
                k.cosineSimilarity(cue, candidates, dim, first, count, row);
                System.arraycopy(row, 0, s, q * count, count);
            }
            return s;
        }

        boolean normOk(int cue, int i) {
            float a = cueNorms[cue];
            float b = norms[first + i];
            return a > 0 && b > 0 && !Float.isInfinite(a) && !Float.isInfinite(b);
        }
    }

    private static void assertAgree(float[] actual, float[] expected, Case c, String what) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < actual.length; i++) {
            assertThat(Math.abs((double) actual[i] - expected[i]))
                    .as("%s: dim %d cue %d row %d: %s vs %s", what, c.dim(), i / Math.max(1, c.count()),
                            c.first() + i % Math.max(1, c.count()), actual[i], expected[i])
                    .isLessThanOrEqualTo(Tolerances.COSINE_ABS);
            assertThat(actual[i]).isBetween(-1f, 1f);
        }
    }
}
