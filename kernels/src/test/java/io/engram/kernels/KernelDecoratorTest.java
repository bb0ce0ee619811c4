package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** A decorator sees every kernel call as one KernelCall, cannot skip a kernel, and changes nothing it passes on. */
class KernelDecoratorTest {
    @Test
    void everyKernelReachesInterceptOnceAndTheResultsAreTheDelegates() {
        List<Kernel> seen = new ArrayList<>();
        MemoryKernels counted = KernelDecorator.of(new JavaKernels(), (call, next) -> {
            seen.add(call.kernel());
            call.runOn(next);
        });
        ShadowKernelsTest.exercise(counted);
        assertThat(seen).containsExactly(Kernel.values());

        // Same answers as undecorated.
        Random r = new Random(5);
        float[] q = Gen.floats(r, 3 * 24, 0);
        float[] c = Gen.floats(r, 7 * 24, 0);
        float[] viaDecorator = new float[21];
        float[] direct = new float[21];
        counted.cosineSimilarityNormed(q, Norms.ofRows(q, 24, 3), 3, c, Norms.ofRows(c, 24, 7), 24, 0, 7,
                viaDecorator);
        new JavaKernels().cosineSimilarityNormed(q, Norms.ofRows(q, 24, 3), 3, c, Norms.ofRows(c, 24, 7), 24, 0, 7,
                direct);
        assertThat(viaDecorator).containsExactly(direct);
    }

    @Test
    void topKIsNotAKernelAndArrivesAsTheCosineItMakes() {
        List<KernelCall> seen = new ArrayList<>();
        MemoryKernels k = KernelDecorator.of(new JavaKernels(), (call, next) -> {
            seen.add(call);
            call.runOn(next);
        });
        Random r = new Random(9);
        float[] q = Gen.floats(r, 8, 0);
        float[] c = Gen.floats(r, 20 * 8, 0);
        int[] rows = new int[3];
        float[] scores = new float[3];
        assertThat(k.cosineTopK(q, c, 8, 2, 18, 3, rows, scores)).isEqualTo(3);
        assertThat(seen).hasSize(1);
        assertThat(seen.get(0)).isInstanceOf(KernelCall.CosineSimilarity.class);
        assertThat(seen.get(0).describe()).isEqualTo("dim 8, rows 2..20");
        float[] all = new float[18];
        new JavaKernels().cosineSimilarity(q, c, 8, 2, 18, all);
        float best = Float.NEGATIVE_INFINITY;
        for (float s : all) {
            best = Math.max(best, s);
        }
        assertThat(scores[0]).isEqualTo(best);
    }

    @Test
    void aCallReRunOnFreshOutputsAgreesAndADifferentAnswerIsReported() {
        KernelCall[] captured = new KernelCall[1];
        MemoryKernels k = KernelDecorator.of(new JavaKernels(), (call, next) -> {
            call.runOn(next);
            captured[0] = call;
        });
        k.decayRetention(new long[] {0, 500}, new float[] {1f, 2f}, 2, 1000, new float[2]);
        KernelCall again = captured[0].withFreshOutputs();
        assertThat(again.floatOutput().values()).isNotSameAs(captured[0].floatOutput().values());
        again.runOn(new JavaKernels());
        assertThat(captured[0].divergence(again)).isNull();
        again.floatOutput().values()[1] *= 1.01f;
        assertThat(captured[0].divergence(again)).startsWith("memory 1: primary");
    }

    @Test
    void aDecoratorThatForgetsTheStoredNormKernelFailsLoudlyInsteadOfRunningItElsewhere() {
        MemoryKernels handWritten = new MemoryKernels() {
            private final JavaKernels java = new JavaKernels();

            @Override
            public KernelMode mode() {
                return KernelMode.JAVA;
            }

            @Override
            public void cosineSimilarity(float[] q, float[] c, int dim, int first, int count, float[] s) {
                java.cosineSimilarity(q, c, dim, first, count, s);
            }

            @Override
            public void spreadActivation(CsrGraph g, int[] seeds, float[] acts, int seedCount, int maxHops,
                                         float hopDecay, float threshold, float[] activation, int[] firstHop) {
                java.spreadActivation(g, seeds, acts, seedCount, maxHops, hopDecay, threshold, activation, firstHop);
            }

            @Override
            public void decayRetention(long[] last, float[] stab, int count, long now, float[] retention) {
                java.decayRetention(last, stab, count, now, retention);
            }

            @Override
            public void close() {
            }
        };
        assertThatThrownBy(() -> handWritten.cosineSimilarityNormed(new float[1], new float[] {1f}, 1, new float[1],
                new float[] {1f}, 1, 0, 1, new float[1]))
                .isInstanceOf(UnsupportedOperationException.class).hasMessageContaining("KernelDecorator");
    }

    @Test
    void modeStatsAndCloseGoToTheWrappedKernels() {
        boolean[] closed = {false};
        MemoryKernels inner = new KernelDecorator(new JavaKernels()) {
            @Override
            protected void intercept(KernelCall call) {
                call.runOn(next);
            }

            @Override
            public void close() {
                closed[0] = true;
            }
        };
        MemoryKernels outer = KernelDecorator.of(inner, (call, next) -> call.runOn(next));
        assertThat(outer.mode()).isEqualTo(KernelMode.JAVA);
        assertThat(outer.arenaStats()).isEqualTo(ArenaStats.NONE);
        outer.close();
        assertThat(closed[0]).isTrue();
        assertThatThrownBy(() -> KernelDecorator.of(null, (call, next) -> { }))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
