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
 * cosineSimilarityBatch: Zig batch, Java batch and the interface's default (a loop over cosineSimilarity) against
 * Java's cosineSimilarity called once per query, the semantics the batch promises. 10,000 random cases (awkward dims,
 * 0..40 queries, sliced row ranges, NaN/Inf/denormal/huge elements, zero vectors, longer query buffers) plus named
 * edge cases.
 */
@AddLifecycleHook(SkipInJavaOnlyBuild.class)
class CosineSimilarityBatchDifferentialTest {
    private final JavaKernels java = new JavaKernels();

    @Property(tries = 10_000)
    void batchMatchesCosineSimilarityPerQuery(@ForAll long seed) {
        Random r = new Random(seed);
        int dim = Gen.dim(r);
        int queryCount = r.nextInt(8) == 0 ? r.nextInt(41) : r.nextInt(10);
        int rows = r.nextInt(1 + Math.min(24, 24576 / dim));
        double special = r.nextInt(4) == 0 ? 0.02 : 0.0;
        int slack = r.nextInt(3) == 0 ? r.nextInt(2 * dim + 1) : 0; // a query buffer longer than needed
        float[] queries = Gen.floats(r, queryCount * dim + slack, special);
        float[] candidates = Gen.floats(r, rows * dim, special);
        if (rows > 0 && queryCount > 0 && r.nextBoolean()) { // an exact match scores 1
            System.arraycopy(queries, r.nextInt(queryCount) * dim, candidates, r.nextInt(rows) * dim, dim);
        }
        if (queryCount > 0 && r.nextInt(5) == 0) { // a zero query scores 0 everywhere
            int q = r.nextInt(queryCount);
            Arrays.fill(queries, q * dim, q * dim + dim, 0f);
        }
        int first = rows == 0 ? 0 : r.nextInt(rows + 1);
        int count = r.nextInt(rows - first + 1);
        assertBatchAgrees(queries, queryCount, candidates, dim, first, count, "seed " + seed);
    }

    @Example
    void registerTileRemaindersAndTails() {
        Random r = new Random(42);
        for (int dim : new int[] {1, 2, 7, 8, 9, 15, 16, 17, 23, 24, 25, 383, 384, 385, 768, 1536}) {
            for (int queryCount = 0; queryCount <= 9; queryCount++) {
                for (int rows = 0; rows <= 5; rows++) {
                    float[] queries = Gen.floats(r, queryCount * dim, 0);
                    float[] candidates = Gen.floats(r, rows * dim, 0);
                    assertBatchAgrees(queries, queryCount, candidates, dim, 0, rows,
                            "dim " + dim + " queries " + queryCount + " rows " + rows);
                }
            }
        }
    }

    @Example
    void nonFiniteAndZeroVectorsScoreZeroForTheirQueryOrRowOnly() {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            for (int dim : new int[] {1, 7, 8, 9, 33, 768}) {
                float[] queries = Gen.floats(new Random(dim), 5 * dim, 0);
                float[] candidates = Gen.floats(new Random(dim + 1), 3 * dim, 0);
                candidates[dim + dim / 2] = bad; // row 1 poisoned
                queries[2 * dim + dim - 1] = bad; // query 2 poisoned
                Arrays.fill(queries, 4 * dim, 5 * dim, 0f); // query 4 is zero
                float[] z = new float[5 * 3];
                try (MemoryKernels zig = TestKernels.zig()) {
                    zig.cosineSimilarityBatch(queries, 5, candidates, dim, 0, 3, z);
                }
                for (int q = 0; q < 5; q++) {
                    for (int i = 0; i < 3; i++) {
                        boolean zero = i == 1 || q == 2 || q == 4;
                        assertThat(z[q * 3 + i] == 0f).as("%s dim %d query %d row %d", bad, dim, q, i)
                                .isEqualTo(zero);
                    }
                }
                assertBatchAgrees(queries, 5, candidates, dim, 0, 3, bad + " dim " + dim);
            }
        }
    }

    @Example
    void denormalsHugeValuesAndTheClamp() {
        for (int dim : new int[] {1, 5, 8, 16, 100, 4096}) {
            float[] queries = new float[3 * dim];
            float[] candidates = new float[4 * dim];
            Random r = new Random(dim);
            for (int j = 0; j < dim; j++) {
                queries[j] = Float.MIN_VALUE * (j + 1);
                queries[dim + j] = (float) r.nextGaussian();
                queries[2 * dim + j] = 3e19f;
                candidates[j] = Float.MIN_VALUE;
                candidates[dim + j] = 1e-20f * (j % 3 - 1);
                candidates[2 * dim + j] = queries[dim + j]; // identical to query 1: 1
                candidates[3 * dim + j] = -queries[dim + j]; // opposite: -1
            }
            assertBatchAgrees(queries, 3, candidates, dim, 0, 4, "dim " + dim);
            float[] z = new float[3 * 4];
            try (MemoryKernels zig = TestKernels.zig()) {
                zig.cosineSimilarityBatch(queries, 3, candidates, dim, 0, 4, z);
            }
            assertThat(z[4 + 2]).isLessThanOrEqualTo(1f).isGreaterThan(1f - 1e-5f);
            assertThat(z[4 + 3]).isGreaterThanOrEqualTo(-1f).isLessThan(-1f + 1e-5f);
        }
    }

    @Example
    void emptyBatchesWriteNothing() {
        float[] q = Gen.floats(new Random(3), 2 * 8, 0);
        float[] c = Gen.floats(new Random(4), 10 * 8, 0);
        for (MemoryKernels k : new MemoryKernels[] {new JavaKernels(), TestKernels.zig()}) {
            try (k) {
                float[] s = {7f, 7f};
                k.cosineSimilarityBatch(q, 0, c, 8, 0, 10, s);
                k.cosineSimilarityBatch(q, 2, c, 8, 10, 0, s);
                k.cosineSimilarityBatch(new float[0], 0, c, 8, 3, 0, new float[0]);
                assertThat(s).containsExactly(7f, 7f);
            }
        }
    }

    @Example
    void invalidArgumentsAreRejectedByAllImplementations() {
        float[] q = new float[16];
        float[] c = new float[24];
        MemoryKernels[] all = {new JavaKernels(), TestKernels.zig(), new DefaultOnly(new JavaKernels())};
        for (MemoryKernels k : all) {
            try (k) {
                assertThatThrownBy(() -> k.cosineSimilarityBatch(q, 3, c, 8, 0, 3, new float[9]))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("need 24");
                assertThatThrownBy(() -> k.cosineSimilarityBatch(q, -1, c, 8, 0, 3, new float[9]))
                        .isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> k.cosineSimilarityBatch(q, 2, c, 0, 0, 3, new float[9]))
                        .isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> k.cosineSimilarityBatch(q, 2, new float[23], 8, 0, 1, new float[9]))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("not a multiple");
                assertThatThrownBy(() -> k.cosineSimilarityBatch(q, 2, c, 8, 1, 3, new float[9]))
                        .isInstanceOf(IndexOutOfBoundsException.class);
                assertThatThrownBy(() -> k.cosineSimilarityBatch(q, 2, c, 8, 0, 3, new float[5]))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2 x 3");
                assertThatThrownBy(() -> k.cosineSimilarityBatch(null, 2, c, 8, 0, 3, new float[6]))
                        .isInstanceOf(IllegalArgumentException.class);
                assertThatThrownBy(() -> k.cosineSimilarityBatch(q, 2, c, 8, 0, 3, null))
                        .isInstanceOf(IllegalArgumentException.class);
            }
        }
    }

    @Example
    void aBatchTooBigForTheArenaFallsBackOrFailsByStrategy() {
        int dim = 512;
        int queryCount = 5; // 5 * 2048 + 64 bytes > 8 KiB
        float[] queries = Gen.floats(new Random(5), queryCount * dim, 0);
        float[] candidates = Gen.floats(new Random(6), 3 * dim, 0);
        float[] expected = new float[queryCount * 3];
        java.cosineSimilarityBatch(queries, queryCount, candidates, dim, 0, 3, expected);
        float[] got = new float[queryCount * 3];
        try (MemoryKernels zig = TestKernels.zig(TestKernels.arena(8192, OverflowStrategy.FALLBACK))) {
            zig.cosineSimilarityBatch(queries, queryCount, candidates, dim, 0, 3, got);
            assertThat(got).containsExactly(expected);
            assertThat(zig.arenaStats().fallbacks()).isEqualTo(1);
            zig.cosineSimilarityBatch(queries, 3, candidates, dim, 0, 3, got); // 3 * 2048 + 64 fits
            assertThat(zig.arenaStats().fallbacks()).isEqualTo(1);
        }
        try (MemoryKernels zig = TestKernels.zig(TestKernels.arena(8192, OverflowStrategy.FAIL))) {
            assertThatThrownBy(() -> zig.cosineSimilarityBatch(queries, queryCount, candidates, dim, 0, 3, got))
                    .isInstanceOf(ArenaOverflowException.class);
        }
    }

    /**
     * Zig batch, Java batch and the default method against Java's cosineSimilarity per query. The Java batch computes
     * the same sums in the same order, so it must be bit-identical; Zig within {@link Tolerances#COSINE_ABS}.
     */
    private void assertBatchAgrees(float[] queries, int queryCount, float[] candidates, int dim, int first, int count,
                                   String what) {
        float[] expected = new float[queryCount * count];
        float[] query = new float[dim];
        float[] row = new float[count];
        for (int q = 0; q < queryCount; q++) {
            System.arraycopy(queries, q * dim, query, 0, dim);
            java.cosineSimilarity(query, candidates, dim, first, count, row);
            System.arraycopy(row, 0, expected, q * count, count);
        }
        float[] javaBatch = new float[queryCount * count];
        java.cosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, javaBatch);
        assertThat(javaBatch).as("%s: Java batch is bit-identical to Java per query", what).containsExactly(expected);

        float[] viaDefault = new float[queryCount * count];
        new DefaultOnly(java).cosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, viaDefault);
        assertThat(viaDefault).as("%s: the interface default", what).containsExactly(expected);

        float[] zig = new float[queryCount * count + 1];
        zig[queryCount * count] = 42f; // one slot past the batch: must stay untouched
        try (MemoryKernels k = TestKernels.zig()) {
            k.cosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, zig);
        }
        assertThat(zig[queryCount * count]).isEqualTo(42f);
        for (int i = 0; i < queryCount * count; i++) {
            assertThat(Math.abs((double) zig[i] - expected[i]))
                    .as("%s dim %d query %d row %d: zig %s java %s", what, dim, i / count, first + i % count, zig[i],
                            expected[i])
                    .isLessThanOrEqualTo(Tolerances.COSINE_ABS);
            assertThat(zig[i]).isBetween(-1f, 1f);
        }
    }

    /** A decorator that does not override the batch: gets the interface's default loop. */
    private static final class DefaultOnly implements MemoryKernels {
        private final MemoryKernels delegate;

        DefaultOnly(MemoryKernels delegate) {
            this.delegate = delegate;
        }

        @Override
        public KernelMode mode() {
            return delegate.mode();
        }

        @Override
        public void cosineSimilarity(float[] q, float[] c, int dim, int first, int count, float[] scores) {
            delegate.cosineSimilarity(q, c, dim, first, count, scores);
        }

        @Override
        public int cosineTopK(float[] q, float[] c, int dim, int first, int count, int k, int[] rows, float[] s) {
            return delegate.cosineTopK(q, c, dim, first, count, k, rows, s);
        }

        @Override
        public void spreadActivation(CsrGraph g, int[] seeds, float[] acts, int seedCount, int maxHops,
                                     float hopDecay, float threshold, float[] activation, int[] firstHop) {
            delegate.spreadActivation(g, seeds, acts, seedCount, maxHops, hopDecay, threshold, activation, firstHop);
        }

        @Override
        public void decayRetention(long[] last, float[] stability, int count, long now, float[] retention) {
            delegate.decayRetention(last, stability, count, now, retention);
        }

        @Override
        public void close() {
            delegate.close();
        }
    }
}
