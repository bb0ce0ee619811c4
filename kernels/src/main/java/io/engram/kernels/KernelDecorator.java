package io.engram.kernels;

/**
 * The one way to wrap a {@link MemoryKernels}: every kernel method is final here and hands its call, as one
 * {@link KernelCall}, to {@link #intercept}. A decorator (metering, the divergence guard, a test's fault injector)
 * implements that one method, so it cannot miss a kernel, today's or one added later: a new kernel is a new
 * {@link KernelCall} record, and this class's test fails until it is routed here.
 *
 * <p>{@link #mode()}, {@link #arenaStats()} and {@link #close()} delegate to the wrapped kernels unless overridden.
 * {@link MemoryKernels#cosineTopK} is not a kernel: it reaches {@link #intercept} as the cosine call it makes.
 */
public abstract class KernelDecorator implements MemoryKernels {
    /** The wrapped kernels. */
    protected final MemoryKernels next;

    protected KernelDecorator(MemoryKernels next) {
        if (next == null) {
            throw new IllegalArgumentException("the decorated kernels must not be null");
        }
        this.next = next;
    }

    /** What a decorator does with one call; to let it through unchanged: {@code call.runOn(next)}. */
    protected abstract void intercept(KernelCall call);

    /**
     * Wraps {@code next} with an interceptor given as a function, for callers that need no subclass; metering, e.g.:
     * {@code KernelDecorator.of(k, (call, next) -> { long t = System.nanoTime(); call.runOn(next);
     * record(call.kernel().label(), System.nanoTime() - t); })}.
     */
    public static MemoryKernels of(MemoryKernels next, Interceptor interceptor) {
        if (interceptor == null) {
            throw new IllegalArgumentException("interceptor must not be null");
        }
        return new KernelDecorator(next) {
            @Override
            protected void intercept(KernelCall call) {
                interceptor.intercept(call, this.next);
            }
        };
    }

    /** {@link #intercept} as a function of the call and the wrapped kernels. */
    @FunctionalInterface
    public interface Interceptor {
        void intercept(KernelCall call, MemoryKernels next);
    }

    @Override
    public KernelMode mode() {
        return next.mode();
    }

    @Override
    public ArenaStats arenaStats() {
        return next.arenaStats();
    }

    @Override
    public void close() {
        next.close();
    }

    @Override
    public final void cosineSimilarity(float[] query, float[] candidates, int dim, int first, int count,
                                       float[] scores) {
        intercept(new KernelCall.CosineSimilarity(query, candidates, dim, first, count, scores));
    }

    @Override
    public final void cosineSimilarityBatch(float[] queries, int queryCount, float[] candidates, int dim, int first,
                                            int count, float[] scores) {
        intercept(new KernelCall.CosineSimilarityBatch(queries, queryCount, candidates, dim, first, count, scores));
    }

    @Override
    public final void cosineSimilarityNormed(float[] cues, float[] cueNorms, int cueCount, float[] candidates,
                                             float[] norms, int dim, int first, int count, float[] scores) {
        intercept(new KernelCall.CosineSimilarityNormed(cues, cueNorms, cueCount, candidates, norms, dim, first, count,
                scores));
    }

    @Override
    public final void spreadActivation(CsrGraph graph, int[] seedNodes, float[] seedActivations, int seedCount,
                                       int maxHops, float hopDecay, float threshold, float[] activation,
                                       int[] firstHop) {
        intercept(new KernelCall.SpreadActivation(graph, seedNodes, seedActivations, seedCount, maxHops, hopDecay,
                threshold, activation, firstHop));
    }

    @Override
    public final void decayRetention(long[] lastAccessMillis, float[] stabilitySeconds, int count, long nowMillis,
                                     float[] retention) {
        intercept(new KernelCall.DecayRetention(lastAccessMillis, stabilitySeconds, count, nowMillis, retention));
    }
}
