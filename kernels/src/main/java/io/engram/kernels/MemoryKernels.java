package io.engram.kernels;

/**
 * The memory kernels behind one API: one method per {@link Kernel} (similarity in three shapes, spreading, decay).
 * {@link JavaKernels} and the Zig kernels ({@link Kernels#open}) implement it with the same semantics; the differential
 * tests hold them to the tolerances in {@link Tolerances}.
 *
 * <p>An instance belongs to one operator subtask (one thread): the Zig implementation owns that subtask's native
 * arena. All arguments are validated in Java before any native call; invalid arguments throw
 * {@link IllegalArgumentException} (or {@link IndexOutOfBoundsException} for ranges).
 *
 * <p>To observe or alter calls (metering, comparison, fault injection), extend {@link KernelDecorator}: it sees every
 * kernel call as one {@link KernelCall}, so a decorator cannot miss a kernel.
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
     * {@link #cosineSimilarity} for {@code queryCount} queries against the same candidate rows in one call:
     * {@code scores[q * count + i]} = cos(query q, row {@code first + i}) (row-major, {@code queryCount × count}),
     * where query q is {@code queries[q * dim .. q * dim + dim - 1]}. {@code queries} may be longer than
     * {@code queryCount * dim}. Identical semantics to calling {@link #cosineSimilarity} once per query, within
     * {@link Tolerances#COSINE_ABS}; implementations make one pass over the candidates for all queries.
     *
     * <p>The default loops over {@link #cosineSimilarity}, so decorators keep their behaviour; a decorator that
     * wants the batched kernel must override this and delegate.
     */
    default void cosineSimilarityBatch(float[] queries, int queryCount, float[] candidates, int dim, int first,
                                       int count, float[] scores) {
        Validation.cosineBatch(queries, queryCount, candidates, dim, first, count, scores);
        float[] query = new float[dim];
        float[] row = new float[count];
        for (int q = 0; q < queryCount; q++) {
            System.arraycopy(queries, q * dim, query, 0, dim);
            cosineSimilarity(query, candidates, dim, first, count, row);
            System.arraycopy(row, 0, scores, q * count, count);
        }
    }

    /**
     * Cosine similarity against rows whose Euclidean norms are stored with them (computed once, when a vector is
     * stored): for {@code cueCount} cues, {@code scores[q * count + i]} = dot(cue q, row {@code first + i}) /
     * ({@code cueNorms[q]} · {@code norms[first + i]}), computed in f64 from the f32 dot product and clamped to
     * [-1, 1]. A norm that is not a positive finite number (0, negative, NaN, ±Inf), or a dot product that is not
     * finite (a NaN or ±Inf element, an overflow), gives 0. Cue q is {@code cues[q * dim .. q * dim + dim - 1]};
     * {@code cues} may be longer. Row indices are absolute, for the rows ({@code candidates}, row-major, {@code dim}
     * columns) and their norms alike.
     *
     * <p>With norms as {@link Norms#of} computes them (f64, rounded to f32) the scores equal
     * {@link #cosineSimilarity}'s within {@link Tolerances#COSINE_ABS}; only the dot products are computed, so the
     * candidates are read once per call whatever the number of cues, with one multiply-add per element and cue. Needs
     * no arena: it never overflows.
     *
     * <p>The default throws: an implementation, or a decorator that does not extend {@link KernelDecorator}, must
     * implement it, so that no decorator can silently run it around its delegate.
     */
    default void cosineSimilarityNormed(float[] cues, float[] cueNorms, int cueCount, float[] candidates,
                                        float[] norms, int dim, int first, int count, float[] scores) {
        throw new UnsupportedOperationException(getClass().getName() + " does not implement cosineSimilarityNormed:"
                + " a decorator must extend KernelDecorator (or forward every kernel)");
    }

    /**
     * The {@code k} best rows of {@link #cosineSimilarity} over the same range, ordered by score descending, ties by
     * row index ascending. Row indices are absolute (in {@code first .. first+count-1}).
     *
     * <p>Not a kernel of its own: {@link #cosineSimilarity} into a temporary array, then a bounded heap in Java. The
     * job ranks by memory id, not row, and never calls it; it stays for callers that want the top rows.
     *
     * @return how many entries were written: {@code min(k, count)}
     */
    default int cosineTopK(float[] query, float[] candidates, int dim, int first, int count, int k,
                           int[] topRows, float[] topScores) {
        Validation.cosineTopK(query, candidates, dim, first, count, k, topRows, topScores);
        int capacity = Math.min(k, count);
        if (capacity == 0) {
            return 0;
        }
        float[] scores = new float[count];
        cosineSimilarity(query, candidates, dim, first, count, scores);
        TopK heap = new TopK(capacity);
        for (int i = 0; i < count; i++) {
            heap.offer(scores[i], first + i);
        }
        return heap.drainSorted(topRows, topScores);
    }

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
