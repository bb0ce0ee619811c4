package io.engram.kernels;

import io.engram.kernels.bench.BenchNative;
import java.util.Map;
import java.util.Optional;

/**
 * Benchmark-only access to package-private parts of the kernels (compiled only under -Pbench, never shipped in the
 * kernels jar): a pure native no-op, the raw JNI cosine (no Java validation), the loaded variant. The bandwidth and
 * FMA ceilings live in the benchmarks' own native library ({@link BenchNative}), not in the production one.
 */
public final class BenchAccess {
    /** {@code -Dengram.bench.variant=x86_64_v3} makes every benchmark load that build instead of the best one. */
    public static final String VARIANT_PROPERTY = "engram.bench.variant";

    private BenchAccess() {
    }

    /** The variant forced for the benchmarks, if any. */
    public static Optional<String> forcedVariant() {
        String v = System.getProperty(VARIANT_PROPERTY, "").trim();
        return v.isEmpty() ? Optional.empty() : Optional.of(v);
    }

    /** Makes sure the Zig library is loaded (opening a Zig kernel set loads it). */
    public static void loadNative() {
        Kernels.open(new KernelsConfig(KernelMode.ZIG, ArenaConfig.resolve(ArenaConfig.MIN_CAPACITY,
                OverflowStrategy.FAIL, Map.of()), Optional.empty(), forcedVariant())).close();
    }

    /** Reads every byte of both arrays once (either may be null); returns a checksum. */
    public static long memorySweep(float[] floats, long[] longs) {
        return BenchNative.memorySweep(floats, longs);
    }

    /** The cheapest native call there is: no arguments but the selector, no pins. */
    public static long nativeNoop() {
        return ZigNative.info(ZigNative.INFO_ABI_VERSION);
    }

    /** A native block for {@link #rawCosine}. */
    public static final class RawArena implements AutoCloseable {
        private final Arena arena;

        private RawArena(Arena arena) {
            this.arena = arena;
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /** A native block for {@link #rawCosine}; the caller closes it. */
    public static RawArena rawArena() {
        loadNative();
        return new RawArena(Arena.allocate(ArenaConfig.resolve(ArenaConfig.MIN_CAPACITY, OverflowStrategy.FAIL,
                Map.of())));
    }

    /**
     * The bare JNI cosine call (no Java validation, no arena bookkeeping): what is left of a tiny call's cost is the
     * JNI transition, the native side's argument checks, pins and releases, and the kernel itself.
     */
    public static long rawCosine(RawArena raw, float[] query, float[] candidates, int dim, int count, float[] scores) {
        return ZigNative.cosineSimilarity(raw.arena.begin(0), raw.arena.capacityBytes(), query, candidates, dim, 0,
                count, scores);
    }

    /** Which build the loader picked, e.g. "x86_64-linux-gnu/x86_64_v4", or "none". */
    public static String loadedVariant() {
        return NativeLibrary.loaded().map(lib -> lib.triple() + "/" + lib.variant()).orElse("none");
    }
}
