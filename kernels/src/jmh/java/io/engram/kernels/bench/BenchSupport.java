package io.engram.kernels.bench;

import io.engram.kernels.ArenaConfig;
import io.engram.kernels.BenchAccess;
import io.engram.kernels.KernelMode;
import io.engram.kernels.Kernels;
import io.engram.kernels.KernelsConfig;
import io.engram.kernels.MemoryKernels;
import io.engram.kernels.OverflowStrategy;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;

/** Shared set-up of the kernel benchmarks: data, kernel sets, and the test-only slowdown knob. */
final class BenchSupport {
    /**
     * TEST-ONLY knob for verifying the regression gate: {@code -Dengram.bench.inject-slowdown=cosineSimilarity:0.25}
     * makes every Zig call of that kernel in the benchmarks take 25% longer: after the call, the benchmark thread
     * spins for a quarter of the time the call took ({@link Slowdown}). A spin costs exactly what it waits, in wall
     * and CPU time, whatever the cache holds (re-running the kernel on part of its input did not: the re-read rows
     * were still cached, and "25% more rows" measured 12% slower). Several entries are separated by commas. Never
     * set it for real measurements: it exists only so that the gate can be shown to fail on a known slowdown.
     */
    static final String SLOWDOWN_PROPERTY = "engram.bench.inject-slowdown";

    /** Arena for every Zig set: room for the largest call the benchmarks make (spreading over 100k nodes). */
    private static final long ARENA_BYTES = 16L << 20;

    private BenchSupport() {
    }

    static MemoryKernels zig() {
        MemoryKernels k = Kernels.open(new KernelsConfig(KernelMode.ZIG,
                ArenaConfig.resolve(ARENA_BYTES, OverflowStrategy.FAIL, Map.of()), Optional.empty(),
                BenchAccess.forcedVariant()));
        if (k.mode() != KernelMode.ZIG) {
            throw new IllegalStateException("the Zig kernels did not load");
        }
        return k;
    }

    static MemoryKernels java() {
        return Kernels.open(KernelsConfig.of(KernelMode.JAVA));
    }

    /** Uniform floats in [-1, 1). */
    static float[] floats(long seed, int n) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (r.nextDouble() * 2 - 1);
        }
        return v;
    }

    /** The test-only slowdown of one kernel's Zig calls: {@code start} before a call, {@code stretch} after it. */
    static final class Slowdown {
        private final double fraction;

        Slowdown(double fraction) {
            this.fraction = fraction;
        }

        long start() {
            return fraction > 0 ? System.nanoTime() : 0L;
        }

        /** Spins until the call that started at {@code t0} has taken (1 + fraction) times as long. */
        void stretch(long t0) {
            if (fraction > 0) {
                long now = System.nanoTime();
                long until = now + (long) ((now - t0) * fraction);
                while (System.nanoTime() < until) {
                    Thread.onSpinWait();
                }
            }
        }
    }

    static Slowdown slowdownOf(String kernel) {
        return new Slowdown(slowdown(kernel));
    }

    /** The extra fraction of time injected into {@code kernel}'s Zig calls; 0 unless the test knob says so. */
    static double slowdown(String kernel) {
        String spec = System.getProperty(SLOWDOWN_PROPERTY, "").trim();
        if (spec.isEmpty()) {
            return 0;
        }
        for (String entry : spec.split(",")) {
            String[] kv = entry.trim().split(":");
            if (kv.length != 2) {
                throw new IllegalArgumentException(SLOWDOWN_PROPERTY + ": expected kernel:fraction, got '" + entry + "'");
            }
            if (kv[0].trim().equals(kernel)) {
                double f = Double.parseDouble(kv[1].trim());
                if (!(f >= 0 && f <= 10)) {
                    throw new IllegalArgumentException(SLOWDOWN_PROPERTY + ": fraction out of range: " + f);
                }
                System.err.println("[bench] TEST-ONLY slowdown injected into " + kernel + ": +" + f);
                return f;
            }
        }
        return 0;
    }

    static void checkNative() {
        BenchAccess.loadNative();
    }

    /**
     * The k best of {@code scores[offset .. offset+n-1]} (score descending, index ascending on ties), as a caller of
     * the scores kernel selects them: a threshold test per score, a sorted insert for the few that pass. Returns a
     * checksum.
     */
    static long topK(float[] scores, int offset, int n, int k, float[] bestScores, int[] bestRows) {
        int size = 0;
        for (int i = 0; i < n; i++) {
            float s = scores[offset + i];
            if (size == k && !(s > bestScores[k - 1])) {
                continue;
            }
            int j = size < k ? size++ : k - 1;
            while (j > 0 && bestScores[j - 1] < s) {
                bestScores[j] = bestScores[j - 1];
                bestRows[j] = bestRows[j - 1];
                j--;
            }
            bestScores[j] = s;
            bestRows[j] = i;
        }
        return size == 0 ? 0 : bestRows[0] + 31L * bestRows[size - 1];
    }
}
