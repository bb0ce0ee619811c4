package io.engram.job.operator;

import io.engram.kernels.Kernel;
import io.engram.kernels.KernelCall;
import io.engram.kernels.KernelDecorator;
import io.engram.kernels.MemoryKernels;

/**
 * TEST ONLY (engram.kernels.shadow.test-inject-divergence): makes the Zig similarity scores wrong by a fixed amount,
 * whichever similarity kernel computes them, so a drill or test can prove that the divergence guard notices and
 * switches the subtask to Java.
 */
final class InjectedDivergence extends KernelDecorator {
    private final float delta;

    InjectedDivergence(MemoryKernels delegate, float delta) {
        super(delegate);
        this.delta = delta;
    }

    @Override
    protected void intercept(KernelCall call) {
        call.runOn(next);
        if (isSimilarity(call.kernel())) {
            KernelCall.FloatOutput out = call.floatOutput();
            for (int i = 0; i < out.count(); i++) {
                out.values()[i] += delta;
            }
        }
    }

    /** The kernels whose output is a similarity score; a switch, so a new kernel must be placed here to compile. */
    static boolean isSimilarity(Kernel kernel) {
        return switch (kernel) {
            case COSINE_SIMILARITY, COSINE_SIMILARITY_BATCH, COSINE_SIMILARITY_NORMED -> true;
            case SPREAD_ACTIVATION, DECAY_RETENTION -> false;
        };
    }

    @Override
    public void close() {
        // The router owns the delegate.
    }
}
