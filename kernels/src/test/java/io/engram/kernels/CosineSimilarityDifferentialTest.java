package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/** Zig vs Java for cosineSimilarity and cosineTopK: 10,000 random cases plus named edge cases. */
@AddLifecycleHook(SkipInJavaOnlyBuild.class)
class CosineSimilarityDifferentialTest {
    private final JavaKernels java = new JavaKernels();

    @Property(tries = 5000)
    void cosineSimilarityMatchesJava(@ForAll long seed) {
        Random r = new Random(seed);
        int dim = Gen.dim(r);
        int rows = r.nextInt(1 + Math.min(48, 49152 / dim));
        double special = r.nextInt(4) == 0 ? 0.02 : 0.0;
        float[] query = Gen.floats(r, dim, special);
        float[] candidates = Gen.floats(r, rows * dim, special);
        if (rows > 0 && r.nextBoolean()) {
            System.arraycopy(query, 0, candidates, r.nextInt(rows) * dim, dim); // an exact match scores 1
        }
        int first = rows == 0 ? 0 : r.nextInt(rows + 1);
        int count = r.nextInt(rows - first + 1);
        assertSameScores(query, candidates, dim, first, count, "seed " + seed);
    }

    @Property(tries = 5000)
    void cosineTopKMatchesJava(@ForAll long seed) {
        Random r = new Random(seed);
        int dim = Gen.dim(r);
        int rows = r.nextInt(1 + Math.min(64, 65536 / dim));
        float[] query = Gen.floats(r, dim, 0.005);
        float[] candidates = Gen.floats(r, rows * dim, 0.005);
        if (rows > 1 && r.nextBoolean()) { // exact ties: the lower row must win on both sides
            System.arraycopy(candidates, 0, candidates, (rows - 1) * dim, dim);
        }
        int first = rows == 0 ? 0 : r.nextInt(rows);
        int count = rows - first;
        int k = r.nextInt(count + 3);
        float[] all = new float[count];
        java.cosineSimilarity(query, candidates, dim, first, count, all);

        int[] rowsJ = new int[k];
        float[] scoresJ = new float[k];
        int[] rowsZ = new int[k];
        float[] scoresZ = new float[k];
        int foundJ = java.cosineTopK(query, candidates, dim, first, count, k, rowsJ, scoresJ);
        int foundZ;
        try (MemoryKernels zig = TestKernels.zig()) {
            foundZ = zig.cosineTopK(query, candidates, dim, first, count, k, rowsZ, scoresZ);
        }
        assertThat(foundZ).isEqualTo(foundJ).isEqualTo(Math.min(k, count));
        for (int i = 0; i < foundZ; i++) {
            // Each Zig pick carries the score Java gives that row, the list is ordered, and nothing Zig left out
            // beats its last pick by more than the tolerance: the same top-k up to near-ties.
            float javaScoreOfPick = all[rowsZ[i] - first];
            assertThat((double) scoresZ[i]).as("seed %d pick %d", seed, i)
                    .isCloseTo(javaScoreOfPick, org.assertj.core.data.Offset.offset(Tolerances.COSINE_ABS));
            assertThat((double) scoresZ[i]).isCloseTo(scoresJ[i],
                    org.assertj.core.data.Offset.offset(2 * Tolerances.COSINE_ABS));
            if (i > 0) {
                assertThat(scoresZ[i] < scoresZ[i - 1]
                        || (scoresZ[i] == scoresZ[i - 1] && rowsZ[i] > rowsZ[i - 1])).as("order at %d", i).isTrue();
            }
        }
        if (foundZ > 0) {
            java.util.Set<Integer> picked = new java.util.HashSet<>();
            for (int i = 0; i < foundZ; i++) {
                picked.add(rowsZ[i]);
            }
            float last = scoresZ[foundZ - 1];
            for (int i = 0; i < count; i++) {
                if (!picked.contains(first + i)) {
                    assertThat((double) all[i]).as("seed %d row %d left out", seed, first + i)
                            .isLessThanOrEqualTo(last + 2 * Tolerances.COSINE_ABS);
                }
            }
        }
    }

    @Example
    void zeroVectorsScoreZero() {
        float[] q = new float[13];
        float[] c = Gen.floats(new Random(1), 3 * 13, 0);
        assertSameScores(q, c, 13, 0, 3, "zero query");
        assertThat(scoresOf(TestKernels.zig(), q, c, 13, 3)).containsOnly(0f);
        float[] q2 = Gen.floats(new Random(2), 13, 0);
        float[] c2 = new float[2 * 13];
        assertThat(scoresOf(TestKernels.zig(), q2, c2, 13, 2)).containsOnly(0f);
    }

    @Example
    void nonFiniteElementsScoreZero() {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (int dim : new int[] {1, 7, 8, 9, 33, 768}) {
                float[] q = Gen.floats(new Random(dim), dim, 0);
                float[] c = Gen.floats(new Random(dim + 1), 2 * dim, 0);
                c[dim + dim / 2] = bad; // only row 1 is poisoned
                float[] z = scoresOf(TestKernels.zig(), q, c, dim, 2);
                assertThat(z[1]).as("dim %d, %s in candidate", dim, bad).isZero();
                assertThat(z[0]).isNotZero();
                q[dim - 1] = bad;
                assertThat(scoresOf(TestKernels.zig(), q, c, dim, 2)).as("%s in query", bad).containsOnly(0f);
            }
        }
    }

    @Example
    void denormalsAndHugeValuesAgree() {
        for (int dim : new int[] {1, 5, 8, 16, 100}) {
            float[] q = new float[dim];
            float[] c = new float[3 * dim];
            for (int j = 0; j < dim; j++) {
                q[j] = Float.MIN_VALUE * (j + 1);
                c[j] = Float.MIN_VALUE;
                c[dim + j] = 1e-20f * (j % 3 - 1);
                c[2 * dim + j] = 3e19f;
            }
            assertSameScores(q, c, dim, 0, 3, "denormal dim " + dim);
        }
    }

    @Example
    void identicalAndOppositeVectorsHitTheClamp() {
        for (int dim : new int[] {1, 3, 8, 17, 4096}) {
            float[] q = Gen.floats(new Random(dim), dim, 0);
            float[] c = new float[2 * dim];
            for (int j = 0; j < dim; j++) {
                c[j] = q[j];
                c[dim + j] = -q[j];
            }
            float[] z = scoresOf(TestKernels.zig(), q, c, dim, 2);
            assertThat((double) z[0]).isCloseTo(1.0, org.assertj.core.data.Offset.offset(Tolerances.COSINE_ABS))
                    .isLessThanOrEqualTo(1.0);
            assertThat((double) z[1]).isCloseTo(-1.0, org.assertj.core.data.Offset.offset(Tolerances.COSINE_ABS))
                    .isGreaterThanOrEqualTo(-1.0);
        }
    }

    @Example
    void emptyRangeAndSliceWithoutCopy() {
        float[] q = Gen.floats(new Random(3), 8, 0);
        float[] c = Gen.floats(new Random(4), 10 * 8, 0);
        assertSameScores(q, c, 8, 10, 0, "N = 0 at the end");
        assertSameScores(q, c, 8, 0, 0, "N = 0");
        float[] whole = scoresOf(new JavaKernels(), q, c, 8, 10);
        float[] slice = new float[4];
        try (MemoryKernels zig = TestKernels.zig()) {
            zig.cosineSimilarity(q, c, 8, 3, 4, slice);
        }
        for (int i = 0; i < 4; i++) {
            assertThat((double) slice[i]).isCloseTo(whole[3 + i],
                    org.assertj.core.data.Offset.offset(Tolerances.COSINE_ABS));
        }
    }

    @Example
    void dimensionMismatchIsRejectedByBoth() {
        float[] q = new float[7];
        float[] c = new float[16];
        for (MemoryKernels k : new MemoryKernels[] {new JavaKernels(), TestKernels.zig()}) {
            try (k) {
                assertThatThrownBy(() -> k.cosineSimilarity(q, c, 8, 0, 2, new float[2]))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("dimension 7");
                assertThatThrownBy(() -> k.cosineSimilarity(new float[8], new float[15], 8, 0, 1, new float[1]))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a multiple");
                assertThatThrownBy(() -> k.cosineSimilarity(new float[8], c, 8, 1, 2, new float[2]))
                        .isInstanceOf(IndexOutOfBoundsException.class);
            }
        }
    }

    private void assertSameScores(float[] query, float[] candidates, int dim, int first, int count, String what) {
        float[] expected = new float[count];
        java.cosineSimilarity(query, candidates, dim, first, count, expected);
        float[] actual = new float[count];
        try (MemoryKernels zig = TestKernels.zig()) {
            zig.cosineSimilarity(query, candidates, dim, first, count, actual);
        }
        for (int i = 0; i < count; i++) {
            assertThat(Math.abs((double) actual[i] - expected[i])).as("%s dim %d row %d: zig %s java %s", what, dim,
                    first + i, actual[i], expected[i]).isLessThanOrEqualTo(Tolerances.COSINE_ABS);
            assertThat(actual[i]).isBetween(-1f, 1f);
        }
    }

    private static float[] scoresOf(MemoryKernels k, float[] q, float[] c, int dim, int rows) {
        float[] out = new float[rows];
        try (k) {
            k.cosineSimilarity(q, c, dim, 0, rows, out);
        }
        return out;
    }
}
