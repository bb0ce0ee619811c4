package io.engram.job.operator;

import io.engram.kernels.KernelCall;
import io.engram.kernels.KernelDecorator;
import io.engram.kernels.KernelMode;
import io.engram.kernels.MemoryKernels;

/**
 * Times and counts every kernel call of the wrapped set, per kernel and mode. A {@link KernelDecorator}: it sees each
 * kernel as one call, so a kernel added later is metered under its own name without a change here.
 */
final class MeteredKernels extends KernelDecorator {
    private final EngramMetrics metrics;
    private final KernelMode mode;

    MeteredKernels(MemoryKernels delegate, EngramMetrics metrics) {
        super(delegate);
        this.metrics = metrics;
        this.mode = delegate.mode();
    }

    @Override
    public KernelMode mode() {
        return mode;
    }

    @Override
    protected void intercept(KernelCall call) {
        long t = System.nanoTime();
        call.runOn(next);
        metrics.kernelCall(mode, call.kernel().label(), System.nanoTime() - t);
    }

    @Override
    public void close() {
        // The router owns and closes the underlying kernels.
    }
}
