package io.engram.kernels;

/**
 * The three memory kernels behind one API. {@link JavaKernels} and {@link ZigKernels} implement it with the same
 * semantics; the differential tests hold them to the tolerances in {@link Tolerances}.
 *
 * <p>An instance belongs to one operator subtask (one thread): the Zig implementation owns that subtask's
 * {@link Arena}. All arguments are validated in Java before any native call; invalid arguments throw
 * {@link IllegalArgumentException} (or {@link IndexOutOfBoundsException} for ranges).
 */
public interface MemoryKernels extends AutoCloseable {

    /** The implementation that actually serves calls: {@link KernelMode#ZIG} or {@link KernelMode#JAVA}. */
    KernelMode mode();

    /**
     * Batch cosine similarity of {@code query} against candidate rows {@code first .. first+count-1} of the row-major
     * matrix {@code candidates} (row length {@code dim}). Writes {@code scores[0 .. count-1]}.
     *
     * <p>score = dot(q,c) / (|q|·|c|), clamped to [-1, 1]. A zero norm, any NaN/±Inf in either vector, or a
     * non-finite intermediate gives 0.
     */
    void cosineSimilarity(float[] query, float[] candidates, int dim, int first, int count, float[] scores);

    /**
     * The {@code k} best rows of {@link #cosineSimilarity} over the same range, ordered by score descending, ties by
     * row index ascending. Row indices are absolute (in {@code first .. first+count-1}).
     *
     * @return how many entries were written: {@code min(k, count)}
     */
    int cosineTopK(float[] query, float[] candidates, int dim, int first, int count, int k,
                   int[] topRows, float[] topScores);

    /**
     * Activation spreading over a CSR graph. See {@link SpreadSemantics} for the exact, shared semantics.
     * Writes {@code activation[0 .. n-1]} and {@code firstHop[0 .. n-1]} (-1 = never reached, 0 = seed).
     */
    void spreadActivation(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount,
                          int maxHops, float hopDecay, float threshold, float[] activation, int[] firstHop);

    /**
     * Ebbinghaus retention {@code exp(-(now - lastAccess)/1000/stability)} for {@code count} memories, written to
     * {@code retention[0 .. count-1]}. A lastAccess at or after now gives 1. A stability that is not a positive
     * number (≤ 0 or NaN) gives 0. Arguments below {@link DecaySemantics#UNDERFLOW_EXPONENT} give exactly 0.
     */
    void decayRetention(long[] lastAccessMillis, float[] stabilitySeconds, int count, long nowMillis,
                        float[] retention);

    /** Counters of the arena this instance owns; {@link ArenaStats#NONE} when it owns none (pure Java). */
    default ArenaStats arenaStats() {
        return ArenaStats.NONE;
    }

    /** Frees what the implementation owns (the arena). Idempotent. */
    @Override
    void close();
}
