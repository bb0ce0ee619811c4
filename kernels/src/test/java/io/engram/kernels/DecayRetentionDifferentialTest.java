package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * Zig vs Java for decayRetention, and both vs a double-precision {@code Math.exp} reference: 10,000 random batches
 * plus named edge cases. The tolerance is relative ({@link Tolerances#DECAY_REL}); values the semantics pin (0 and 1)
 * must match exactly.
 */
@AddLifecycleHook(SkipInJavaOnlyBuild.class)
class DecayRetentionDifferentialTest {
    private static final long NOW = 1_800_000_000_000L;

    @Property(tries = 6000)
    void randomBatchesMatchJava(@ForAll long seed) {
        Random r = new Random(seed);
        int count = r.nextInt(200);
        long[] last = new long[count];
        float[] stability = new float[count];
        for (int i = 0; i < count; i++) {
            last[i] = NOW - (long) (Math.pow(10, r.nextDouble() * 11) * (r.nextInt(20) == 0 ? -1 : 1));
            stability[i] = (float) Math.pow(10, -1 + r.nextDouble() * 8);
        }
        assertSame(last, stability, count, NOW, "seed " + seed);
    }

    @Property(tries = 4000)
    void exponentSweepNearTheCutoff(@ForAll long seed) {
        // Exponents spread over the whole [-90, 0] range, where the polynomial and the cutoff both matter.
        Random r = new Random(seed);
        int count = 1 + r.nextInt(64);
        long[] last = new long[count];
        float[] stability = new float[count];
        for (int i = 0; i < count; i++) {
            double x = -90 * r.nextDouble();
            stability[i] = 1000f;
            last[i] = NOW - (long) (-x * 1000.0 * 1000.0);
        }
        assertSame(last, stability, count, NOW, "seed " + seed);
    }

    @Example
    void namedEdgeCases() {
        long[] last = {
            NOW, NOW + 1, NOW + 86_400_000L, NOW - 1, NOW - 1000, NOW - 86_400_000L, Long.MIN_VALUE, Long.MAX_VALUE,
            NOW - 1000, NOW - 1000, NOW - 1000, NOW - 1000, NOW - 1000, NOW - 1000, 0L
        };
        float[] stability = {
            100f, 100f, 100f, 100f, 1f, 86_400f, 100f, 100f,
            0f, -5f, Float.NaN, Float.POSITIVE_INFINITY, Float.MIN_VALUE, Float.MAX_VALUE, 3600f
        };
        float[] z = assertSame(last, stability, last.length, NOW, "edge cases");
        assertThat(z[0]).as("now").isEqualTo(1f);
        assertThat(z[1]).as("future").isEqualTo(1f);
        assertThat(z[2]).as("far future").isEqualTo(1f);
        assertThat((double) z[4]).as("one e-folding").isCloseTo(Math.exp(-1), org.assertj.core.data.Offset.offset(1e-7));
        assertThat(z[8]).as("stability 0").isZero();
        assertThat(z[9]).as("negative stability").isZero();
        assertThat(z[10]).as("NaN stability").isZero();
        assertThat(z[11]).as("infinite stability").isEqualTo(1f);
        assertThat(z[12]).as("denormal stability").isZero();
        assertThat(z[14]).as("56 years at 1 h stability").isZero();
    }

    @Example
    void emptyBatch() {
        assertSame(new long[0], new float[0], 0, NOW, "N = 0");
    }

    @Example
    void countSmallerThanArraysLeavesTheRestAlone() {
        long[] last = {NOW - 1000, NOW - 2000, NOW - 3000};
        float[] stability = {1f, 1f, 1f};
        float[] out = {-7f, -7f, -7f};
        try (MemoryKernels zig = TestKernels.zig()) {
            zig.decayRetention(last, stability, 2, NOW, out);
        }
        assertThat(out[2]).isEqualTo(-7f);
        assertThat(out[1]).isPositive();
    }

    private static float[] assertSame(long[] last, float[] stability, int count, long now, String what) {
        float[] j = new float[count];
        new JavaKernels().decayRetention(last, stability, count, now, j);
        float[] z = new float[count];
        try (MemoryKernels zig = TestKernels.zig()) {
            zig.decayRetention(last, stability, count, now, z);
        }
        for (int i = 0; i < count; i++) {
            double reference = reference(last[i], stability[i], now);
            assertThat((double) j[i]).as("%s java #%d", what, i).isEqualTo((double) (float) reference);
            double err = reference == 0 ? Math.abs(z[i]) : Math.abs(z[i] - reference) / reference;
            assertThat(err).as("%s #%d: age %d ms, stability %s: zig %s, reference %s", what, i, now - last[i],
                    stability[i], z[i], reference).isLessThanOrEqualTo(Tolerances.DECAY_REL);
            assertThat(z[i]).isBetween(0f, 1f);
        }
        return z;
    }

    /** DecaySemantics with Math.exp in double, written out independently of JavaKernels. */
    static double reference(long last, float stability, long now) {
        long diff = now - last;
        if (diff <= 0) {
            return 1.0;
        }
        if (!(stability > 0f)) {
            return 0.0;
        }
        double x = -((double) diff / 1000.0) / stability;
        return x < -87.0 ? 0.0 : Math.exp(x);
    }
}
