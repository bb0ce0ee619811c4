package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The divergence guard catches a primary that drifts beyond tolerance, and stays quiet when it does not. */
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
        public int cosineTopK(float[] q, float[] c, int dim, int first, int count, int k, int[] rows, float[] s) {
            return java.cosineTopK(q, c, dim, first, count, k, rows, s);
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

    private static void exercise(MemoryKernels k) {
        Random r = new Random(7);
        float[] q = Gen.floats(r, 16, 0);
        float[] c = Gen.floats(r, 5 * 16, 0);
        k.cosineSimilarity(q, c, 16, 0, 5, new float[5]);
        k.spreadActivation(CsrGraph.fromEdges(3, new int[] {0}, new int[] {1}, new float[] {0.5f}, 1),
                new int[] {0}, new float[] {0.5f}, 1, 2, 0.8f, 0f, new float[3], new int[3]);
        k.decayRetention(new long[] {0, 1000}, new float[] {10f, 10f}, 2, 5000, new float[2]);
    }

    @Test
    void agreeingKernelsRaiseNothing() {
        Recorder rec = new Recorder();
        exercise(new ShadowKernels(new Skewed(0f), new JavaKernels(), 1.0, 1, rec));
        assertThat(rec.compared).isEqualTo(3);
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
        assertThat(rec.divergences).hasSize(3);
        assertThat(rec.divergences.get(0)).startsWith("cosineSimilarity: element 0").contains("dim 16");
        assertThat(rec.divergences.get(1)).startsWith("spreadActivation").contains("nodes 3");
        assertThat(rec.divergences.get(2)).startsWith("decayRetention").contains("stability");
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
