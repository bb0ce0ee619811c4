package io.engram.kernels;

/**
 * Benchmark-only access to the package-private JNI class (compiled only under -Pbench, never shipped in the
 * kernels jar): the read-only bandwidth sweep, a pure native no-op, and the raw JNI cosine (no Java validation).
 */
public final class BenchAccess {
    private BenchAccess() {
    }

    /** Makes sure the Zig library is loaded (opening a Zig kernel set loads it). */
    public static void loadNative() {
        Kernels.open(new KernelsConfig(KernelMode.ZIG, ArenaConfig.resolve(ArenaConfig.MIN_CAPACITY,
                OverflowStrategy.FAIL, java.util.Map.of()), java.util.Optional.empty(), java.util.Optional.empty()))
                .close();
    }

    /** Reads every byte of both arrays once (either may be null); returns a checksum. */
    public static long memorySweep(float[] floats, long[] longs) {
        return ZigNative.memorySweep(floats, longs);
    }

    /** The cheapest native call there is: no arguments, no pins. */
    public static int nativeNoop() {
        return ZigNative.abiVersion();
    }

    /** A native block for {@link #rawCosine}; the caller closes it. */
    public static Arena rawArena() {
        loadNative();
        return Arena.allocate(ArenaConfig.resolve(ArenaConfig.MIN_CAPACITY, OverflowStrategy.FAIL,
                java.util.Map.of()));
    }

    /**
     * The bare JNI cosine call (no Java validation, no arena bookkeeping): what is left of a tiny call's cost is the
     * JNI transition, the native side's length reads, pins and releases, and the kernel itself.
     */
    public static long rawCosine(Arena arena, float[] query, float[] candidates, int dim, int count, float[] scores) {
        return ZigNative.cosineSimilarity(arena.begin(0), arena.capacityBytes(), query, candidates, dim, 0, count,
                scores);
    }

    /** Which build the loader picked, e.g. "x86_64-linux-gnu/x86_64_v3", or "none". */
    public static String loadedVariant() {
        return NativeLibrary.loaded().map(lib -> lib.triple() + "/" + lib.variant()).orElse("none");
    }
}
