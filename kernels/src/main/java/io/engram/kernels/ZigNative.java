package io.engram.kernels;

/**
 * The JNI boundary. Zig implements these functions directly (native/src/jni.zig), one per kernel, with the same
 * names as {@link MemoryKernels}. Only {@link ZigKernels} calls them, and only after {@link Validation} has checked
 * every length, offset and index. The native side checks array lengths again (defence in depth) and answers with a
 * status instead of throwing:
 *
 * <ul>
 *   <li>{@code >= 0}: success; the value is the number of arena bytes the call used;</li>
 *   <li>{@link #STATUS_ARENA_TOO_SMALL}: the arena cannot hold the call's scratch; nothing was written;</li>
 *   <li>{@link #STATUS_INVALID_ARGUMENTS}: a length or index failed the native re-check; nothing was written.</li>
 * </ul>
 *
 * <p>Arrays are pinned with GetPrimitiveArrayCritical for the duration of a call; the native code never keeps a
 * pointer past the call, never allocates outside the arena, and never calls back into the JVM.
 */
final class ZigNative {
    /** Bumped whenever a signature or status code below changes; the loader refuses a mismatched library. */
    static final int ABI_VERSION = 2;

    static final long STATUS_ARENA_TOO_SMALL = -1;
    static final long STATUS_INVALID_ARGUMENTS = -2;

    /** Bits of {@link #compiledFeatures()}: what the loaded build was compiled to use. */
    static final int FEATURE_AVX2 = 1;
    static final int FEATURE_FMA = 2;
    static final int FEATURE_NEON = 4;

    private ZigNative() {
    }

    static native int abiVersion();

    static native int compiledFeatures();

    /** Allocates a 64-byte-aligned native block of {@code capacity} bytes; 0 if the allocation failed. */
    static native long arenaCreate(long capacity);

    /** Frees a block from {@link #arenaCreate}; the same capacity must be passed back. */
    static native void arenaDestroy(long arena, long capacity);

    static native long cosineSimilarity(long arena, long arenaCapacity, float[] query, float[] candidates,
                                        int dim, int first, int count, float[] scores);

    static native long cosineSimilarityBatch(long arena, long arenaCapacity, float[] queries, int queryCount,
                                             float[] candidates, int dim, int first, int count, float[] scores);

    static native long cosineTopK(long arena, long arenaCapacity, float[] query, float[] candidates, int dim,
                                  int first, int count, int k, int[] topRows, float[] topScores);

    static native long spreadActivation(long arena, long arenaCapacity, int[] offsets, int[] targets,
                                        float[] weights, int nodeCount, int[] seedNodes, float[] seedActivations,
                                        int seedCount, int maxHops, float hopDecay, float threshold,
                                        float[] activation, int[] firstHop);

    static native long decayRetention(long arena, long arenaCapacity, long[] lastAccessMillis,
                                      float[] stabilitySeconds, int count, long nowMillis, float[] retention);

    /**
     * A read-only pass over every byte of {@code floats} and then {@code longs} (either may be null), for the
     * benchmarks' bandwidth ceiling: not a kernel, uses no arena. Returns a non-negative checksum of the bytes, or
     * {@link #STATUS_INVALID_ARGUMENTS} if an array could not be pinned.
     */
    static native long memorySweep(float[] floats, long[] longs);
}
