package io.engram.kernels;

/**
 * The JNI boundary. Zig implements these functions directly (native/src/jni.zig), one per kernel, with the same
 * names as {@link MemoryKernels}. Only {@link ZigKernels} calls them, and only after {@link Validation} has checked
 * every length, offset and index. The native side checks every length and index again against the array lengths
 * passed with the arrays (defence in depth; see the wrappers below) and answers with a status instead of throwing:
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
    static final int ABI_VERSION = 3;

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

    // Each kernel is a package-private wrapper over a private native method of the same name that also takes the
    // length of every array, read here: an array's length never changes, so the value the native side bounds its
    // reads and writes by is exactly the array's, and it costs no JNI call back into the VM (GetArrayLength is a
    // native -> VM -> native transition of ~12 ns; three per call were a third of the call's cost). The natives are
    // private so that no caller can pass a length of its own. A null array is passed as length -1.

    static long cosineSimilarity(long arena, long arenaCapacity, float[] query, float[] candidates, int dim,
                                 int first, int count, float[] scores) {
        return cosineSimilarity(arena, arenaCapacity, query, len(query), candidates, len(candidates), dim, first,
                count, scores, len(scores));
    }

    private static native long cosineSimilarity(long arena, long arenaCapacity, float[] query, int queryLength,
                                                float[] candidates, int candidatesLength, int dim, int first,
                                                int count, float[] scores, int scoresLength);

    static long cosineSimilarityBatch(long arena, long arenaCapacity, float[] queries, int queryCount,
                                      float[] candidates, int dim, int first, int count, float[] scores) {
        return cosineSimilarityBatch(arena, arenaCapacity, queries, len(queries), queryCount, candidates,
                len(candidates), dim, first, count, scores, len(scores));
    }

    private static native long cosineSimilarityBatch(long arena, long arenaCapacity, float[] queries,
                                                     int queriesLength, int queryCount, float[] candidates,
                                                     int candidatesLength, int dim, int first, int count,
                                                     float[] scores, int scoresLength);

    static long cosineTopK(long arena, long arenaCapacity, float[] query, float[] candidates, int dim, int first,
                           int count, int k, int[] topRows, float[] topScores) {
        return cosineTopK(arena, arenaCapacity, query, len(query), candidates, len(candidates), dim, first, count,
                k, topRows, len(topRows), topScores, len(topScores));
    }

    private static native long cosineTopK(long arena, long arenaCapacity, float[] query, int queryLength,
                                          float[] candidates, int candidatesLength, int dim, int first, int count,
                                          int k, int[] topRows, int topRowsLength, float[] topScores,
                                          int topScoresLength);

    static long spreadActivation(long arena, long arenaCapacity, int[] offsets, int[] targets, float[] weights,
                                 int nodeCount, int[] seedNodes, float[] seedActivations, int seedCount,
                                 int maxHops, float hopDecay, float threshold, float[] activation, int[] firstHop) {
        return spreadActivation(arena, arenaCapacity, offsets, len(offsets), targets, len(targets), weights,
                len(weights), nodeCount, seedNodes, len(seedNodes), seedActivations, len(seedActivations),
                seedCount, maxHops, hopDecay, threshold, activation, len(activation), firstHop, len(firstHop));
    }

    private static native long spreadActivation(long arena, long arenaCapacity, int[] offsets, int offsetsLength,
                                                int[] targets, int targetsLength, float[] weights,
                                                int weightsLength, int nodeCount, int[] seedNodes,
                                                int seedNodesLength, float[] seedActivations,
                                                int seedActivationsLength, int seedCount, int maxHops,
                                                float hopDecay, float threshold, float[] activation,
                                                int activationLength, int[] firstHop, int firstHopLength);

    static long decayRetention(long arena, long arenaCapacity, long[] lastAccessMillis, float[] stabilitySeconds,
                               int count, long nowMillis, float[] retention) {
        return decayRetention(arena, arenaCapacity, lastAccessMillis, len(lastAccessMillis), stabilitySeconds,
                len(stabilitySeconds), count, nowMillis, retention, len(retention));
    }

    private static native long decayRetention(long arena, long arenaCapacity, long[] lastAccessMillis,
                                              int lastAccessMillisLength, float[] stabilitySeconds,
                                              int stabilitySecondsLength, int count, long nowMillis,
                                              float[] retention, int retentionLength);

    /**
     * A read-only pass over every byte of {@code floats} and then {@code longs} (either may be null), for the
     * benchmarks' bandwidth ceiling: not a kernel, uses no arena. Returns a non-negative checksum of the bytes, or
     * {@link #STATUS_INVALID_ARGUMENTS} if an array could not be pinned.
     */
    static long memorySweep(float[] floats, long[] longs) {
        return memorySweep(floats, len(floats), longs, len(longs));
    }

    private static native long memorySweep(float[] floats, int floatsLength, long[] longs, int longsLength);

    private static int len(float[] a) {
        return a == null ? -1 : a.length;
    }

    private static int len(int[] a) {
        return a == null ? -1 : a.length;
    }

    private static int len(long[] a) {
        return a == null ? -1 : a.length;
    }
}
