package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;

/** The per-slot arena: overflow under each strategy, exact stats, thread ownership and lifecycle. */
@DisabledIfSystemProperty(named = "engram.build.javaOnly", matches = "true",
        disabledReason = "arenas are native; JavaOnlyBuildTest covers the Java-only build")
class ArenaTest {
    /** 1000 nodes need 3*4032 + 1024 = 13120 bytes of scratch: more than the minimal 4096-byte arena. */
    private static final int NODES = 1000;

    private static SpreadActivationDifferentialTest.Problem bigProblem() {
        Random r = new Random(42);
        int m = 5000;
        int[] src = new int[m];
        int[] dst = new int[m];
        float[] w = new float[m];
        for (int e = 0; e < m; e++) {
            src[e] = r.nextInt(NODES);
            dst[e] = r.nextInt(NODES);
            w[e] = r.nextFloat();
        }
        return new SpreadActivationDifferentialTest.Problem(CsrGraph.fromEdges(NODES, src, dst, w, m),
                new int[] {1, 2, 3}, new float[] {1f, 0.5f, 0.7f}, 3, 0.8f, 0.01f);
    }

    @Test
    void fallbackServesTheJavaResultAndCounts() {
        var p = bigProblem();
        assertThat(ZigNative.spreadActivationScratch(NODES, 0, 0)).isGreaterThan(4096);
        var expected = SpreadActivationDifferentialTest.run(new JavaKernels(), p);
        try (MemoryKernels zig = TestKernels.zig(TestKernels.arena(4096, OverflowStrategy.FALLBACK))) {
            var actual = SpreadActivationDifferentialTest.run(zig, p);
            assertThat(actual.activation()).containsExactly(expected.activation());
            assertThat(actual.firstHop()).containsExactly(expected.firstHop());
            ArenaStats s = zig.arenaStats();
            assertThat(s.overflows()).isEqualTo(1);
            assertThat(s.fallbacks()).isEqualTo(1);
            assertThat(s.highWaterBytes()).isZero();
            assertThat(s.inUseBytes()).isZero();
        }
    }

    @Test
    void failThrowsARoutableExceptionAndWritesNothing() {
        var p = bigProblem();
        try (MemoryKernels zig = TestKernels.zig(TestKernels.arena(4096, OverflowStrategy.FAIL))) {
            float[] act = new float[NODES];
            java.util.Arrays.fill(act, -3f);
            assertThatThrownBy(() -> zig.spreadActivation(p.graph(), p.seeds(), p.seedActs(), 3, 3, 0.8f, 0.01f, act,
                    new int[NODES]))
                    .isInstanceOf(ArenaOverflowException.class)
                    .hasMessageContaining("spreadActivation").hasMessageContaining("needs 13120 bytes")
                    .hasMessageContaining("engram.kernels.arena.size");
            assertThat(act).containsOnly(-3f);
            assertThat(zig.arenaStats().overflows()).isEqualTo(1);
            assertThat(zig.arenaStats().fallbacks()).isZero();
        }
    }

    @Test
    void failTaskThrowsAnErrorNoCatchExceptionSwallows() {
        var p = bigProblem();
        try (MemoryKernels zig = TestKernels.zig(TestKernels.arena(4096, OverflowStrategy.FAIL_TASK))) {
            Throwable t = null;
            try {
                SpreadActivationDifferentialTest.run(zig, p);
            } catch (Exception e) {
                throw new AssertionError("fail-task must not surface as an Exception", e);
            } catch (Throwable e) {
                t = e;
            }
            assertThat(t).isInstanceOf(ArenaOverflowError.class);
            assertThat(zig.arenaStats().overflows()).isEqualTo(1);
        }
    }

    @Test
    void statsAreExact() {
        int dim = 100;
        float[] q = Gen.floats(new Random(1), dim, 0);
        float[] c = Gen.floats(new Random(2), 10 * dim, 0);
        try (MemoryKernels zig = TestKernels.zig(TestKernels.arena(64 * 1024, OverflowStrategy.FAIL))) {
            ArenaStats s0 = zig.arenaStats();
            assertThat(s0).isEqualTo(new ArenaStats(64 * 1024, 0, 0, 0, 0, 0));
            zig.cosineSimilarity(q, c, dim, 0, 10, new float[10]);
            assertThat(zig.arenaStats().highWaterBytes()).isEqualTo(ZigNative.cosineSimilarityScratch(dim, 0, 10))
                    .isEqualTo(448);
            zig.cosineSimilarityBatch(q, 1, c, dim, 0, 10, new float[10]);
            assertThat(zig.arenaStats().highWaterBytes())
                    .isEqualTo(ZigNative.cosineSimilarityBatchScratch(1, dim, 0, 10)).isEqualTo(448 + 64);
            zig.decayRetention(new long[] {1}, new float[] {1f}, 1, 2, new float[1]);
            SpreadActivationDifferentialTest.run(zig, new SpreadActivationDifferentialTest.Problem(
                    CsrGraph.empty(100), new int[] {0}, new float[] {1f}, 2, 0.5f, 0f));
            ArenaStats s = zig.arenaStats();
            assertThat(s.highWaterBytes()).isEqualTo(ZigNative.spreadActivationScratch(100, 1, 2)).isEqualTo(3 * 448 + 128);
            assertThat(s.resets()).isEqualTo(4);
            assertThat(s.inUseBytes()).isZero();
            assertThat(s.overflows()).isZero();
            assertThat(s.capacityBytes()).isEqualTo(64 * 1024);
        }
    }

    @Test
    void slotsAreIsolatedAcrossThreads() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Future<long[]> a = pool.submit(() -> runSlot(100, 300));
            Future<long[]> b = pool.submit(() -> runSlot(700, 50));
            assertThat(a.get()).containsExactly(300, ZigNative.spreadActivationScratch(100, 0, 0));
            assertThat(b.get()).containsExactly(50, ZigNative.spreadActivationScratch(700, 0, 0));
        } finally {
            pool.shutdownNow();
        }
    }

    /** One slot's work: returns {resets, high-water}; checks every result against Java on the way. */
    private static long[] runSlot(int nodes, int calls) {
        try (MemoryKernels zig = TestKernels.zig()) {
            Random r = new Random(nodes);
            for (int i = 0; i < calls; i++) {
                var p = SpreadActivationDifferentialTest.randomProblemWithNodes(r, nodes, 4);
                var expected = SpreadActivationDifferentialTest.run(new JavaKernels(), p);
                var actual = SpreadActivationDifferentialTest.run(zig, p);
                assertThat(actual.activation()).containsExactly(expected.activation());
            }
            ArenaStats s = zig.arenaStats();
            return new long[] {s.resets(), s.highWaterBytes()};
        }
    }

    @Test
    void anotherThreadIsRefused() throws Exception {
        try (MemoryKernels zig = TestKernels.zig()) {
            zig.decayRetention(new long[1], new float[] {1f}, 1, 5, new float[1]);
            ExecutorService other = Executors.newSingleThreadExecutor();
            try {
                Future<?> f = other.submit(() -> zig.decayRetention(new long[1], new float[] {1f}, 1, 5, new float[1]));
                assertThatThrownBy(f::get).hasCauseInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("never shared");
            } finally {
                other.shutdownNow();
            }
        }
    }

    @Test
    void closeTwiceIsSafeAndUseAfterCloseIsAClearError() {
        MemoryKernels zig = TestKernels.zig();
        zig.close();
        zig.close();
        assertThatThrownBy(() -> zig.decayRetention(new long[1], new float[] {1f}, 1, 5, new float[1]))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("after close");
        assertThatThrownBy(() -> zig.cosineSimilarity(new float[2], new float[4], 2, 0, 2, new float[2]))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("after close");
    }
}
