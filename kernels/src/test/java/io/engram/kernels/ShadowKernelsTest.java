package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The divergence guard catches a primary that drifts beyond tolerance in every kernel ({@link #exercise} calls each
 * one of {@link Kernel}, and fails for a kernel it does not know), and stays quiet when it does not.
 */
class ShadowKernelsTest {
    /** Java kernels whose cosine scores and retentions are off by {@code delta}: a stand-in for a broken Zig build. */
    static final class Skewed implements MemoryKernels {
        private final JavaKernels java = new JavaKernels();
        private final float delta;

        Skewed(float delta) {
            this.delta = delta;
        }

        @Override
        public KernelMode mode() {
            return KernelMode.ZIG;
        }

        @Override
        public void cosineSimilarity(float[] q, float[] c, int dim, int first, int count, float[] scores) {
            java.cosineSimilarity(q, c, dim, first, count, scores);
            for (int i = 0; i < count; i++) {
                scores[i] += delta;
            }
        }

        @Override
        public void cosineSimilarityBatch(float[] q, int n, float[] c, int dim, int first, int count, float[] s) {
            java.cosineSimilarityBatch(q, n, c, dim, first, count, s);
            for (int i = 0; i < n * count; i++) {
                s[i] += delta;
            }
        }

        @Override
        public void cosineSimilarityNormed(float[] q, float[] qn, int n, float[] c, float[] cn, int dim, int first,
                                           int count, float[] s) {
            java.cosineSimilarityNormed(q, qn, n, c, cn, dim, first, count, s);
            for (int i = 0; i < n * count; i++) {
                s[i] += delta;
            }
        }

        @Override
        public void spreadActivation(CsrGraph g, int[] seeds, float[] acts, int seedCount, int maxHops,
                                     float hopDecay, float threshold, float[] activation, int[] firstHop) {
            java.spreadActivation(g, seeds, acts, seedCount, maxHops, hopDecay, threshold, activation, firstHop);
            if (g.nodeCount() > 0) {
                activation[0] += delta;
            }
        }

        @Override
        public void decayRetention(long[] last, float[] stab, int count, long now, float[] retention) {
            java.decayRetention(last, stab, count, now, retention);
            for (int i = 0; i < count; i++) {
                retention[i] *= 1 + delta;
            }
        }

        @Override
        public void close() {
        }
    }

    private static final class Recorder implements ShadowKernels.Listener {
        int compared;
        final List<String> divergences = new ArrayList<>();

        @Override
        public void compared(String kernel) {
            compared++;
        }

        @Override
        public void diverged(String kernel, String detail) {
            divergences.add(kernel + ": " + detail);
        }
    }

    /** One call of every kernel, in {@link Kernel} order. */
    static void exercise(MemoryKernels k) {
        Random r = new Random(7);
        float[] q = Gen.floats(r, 2 * 16, 0);
        float[] c = Gen.floats(r, 5 * 16, 0);
        for (Kernel kernel : Kernel.values()) {
            switch (kernel) {
                case COSINE_SIMILARITY -> k.cosineSimilarity(java.util.Arrays.copyOf(q, 16), c, 16, 0, 5,
                        new float[5]);
                case COSINE_SIMILARITY_BATCH -> k.cosineSimilarityBatch(q, 2, c, 16, 0, 5, new float[10]);
                case COSINE_SIMILARITY_NORMED -> k.cosineSimilarityNormed(q, Norms.ofRows(q, 16, 2), 2, c,
                        Norms.ofRows(c, 16, 5), 16, 0, 5, new float[10]);
                case SPREAD_ACTIVATION -> k.spreadActivation(
                        CsrGraph.fromEdges(3, new int[] {0}, new int[] {1}, new float[] {0.5f}, 1),
                        new int[] {0}, new float[] {0.5f}, 1, 2, 0.8f, 0f, new float[3], new int[3]);
                case DECAY_RETENTION -> k.decayRetention(new long[] {0, 1000}, new float[] {10f, 10f}, 2, 5000,
                        new float[2]);
                default -> throw new AssertionError("exercise() does not call " + kernel);
            }
        }
    }

    @Test
    void agreeingKernelsRaiseNothing() {
        Recorder rec = new Recorder();
        exercise(new ShadowKernels(new Skewed(0f), new JavaKernels(), 1.0, 1, rec));
        assertThat(rec.compared).isEqualTo(Kernel.values().length);
        assertThat(rec.divergences).isEmpty();
    }

    @Test
    void driftWithinToleranceIsNotADivergence() {
        Recorder rec = new Recorder();
        exercise(new ShadowKernels(new Skewed(5e-7f), new JavaKernels(), 1.0, 1, rec));
        assertThat(rec.divergences).isEmpty();
    }

    @Test
    void injectedDivergenceIsCaughtInEveryKernelWithItsInputs() {
        Recorder rec = new Recorder();
        exercise(new ShadowKernels(new Skewed(1e-3f), new JavaKernels(), 1.0, 1, rec));
        assertThat(rec.divergences).hasSize(Kernel.values().length);
        for (int i = 0; i < Kernel.values().length; i++) {
            assertThat(rec.divergences.get(i)).startsWith(Kernel.values()[i].label() + ": ");
        }
        assertThat(rec.divergences.get(0)).startsWith("cosineSimilarity: element 0").contains("dim 16");
        assertThat(rec.divergences.get(1)).contains("queries 2");
        assertThat(rec.divergences.get(2)).contains("cues 2");
        assertThat(rec.divergences.get(3)).startsWith("spreadActivation").contains("nodes 3");
        assertThat(rec.divergences.get(4)).startsWith("decayRetention").contains("stability");
    }

    @Test
    void sampleRateZeroNeverCompares() {
        Recorder rec = new Recorder();
        exercise(new ShadowKernels(new Skewed(1f), new JavaKernels(), 0.0, 1, rec));
        assertThat(rec.compared).isZero();
    }

    @Test
    void sampleRateIsHonouredStatistically() {
        Recorder rec = new Recorder();
        MemoryKernels k = new ShadowKernels(new Skewed(0f), new JavaKernels(), 0.1, 42, rec);
        for (int i = 0; i < 2000; i++) {
            k.decayRetention(new long[] {0}, new float[] {1f}, 1, 10, new float[1]);
        }
        assertThat(rec.compared).isBetween(140, 260);
    }
}
