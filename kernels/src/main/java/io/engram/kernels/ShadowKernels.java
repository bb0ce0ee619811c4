package io.engram.kernels;

import java.util.SplittableRandom;

/**
 * The numerical divergence guard: serves every call from {@code primary} (the Zig kernels) and, for a sampled
 * fraction of calls, runs {@code reference} (the Java kernels) on the same inputs and compares within
 * {@link Tolerances} ({@link KernelCall#divergence}). Divergences go to the {@link Listener}, which decides what to
 * do (count, log, switch to Java). The primary's answer is the one returned either way; the listener's switch takes
 * effect on the next call. A {@link KernelDecorator}: every kernel is guarded, including any added later.
 */
public final class ShadowKernels extends KernelDecorator {
    /** Hears about every comparison and every divergence. Called on the task thread. */
    public interface Listener {
        void compared(String kernel);

        void diverged(String kernel, String detail);
    }

    private final MemoryKernels reference;
    private final double sampleRate;
    private final SplittableRandom random;
    private final Listener listener;

    public ShadowKernels(MemoryKernels primary, MemoryKernels reference, double sampleRate, long seed,
                         Listener listener) {
        super(primary);
        if (!(sampleRate >= 0.0 && sampleRate <= 1.0)) {
            throw new IllegalArgumentException("shadow sample rate must be in [0, 1], got " + sampleRate);
        }
        this.reference = reference;
        this.sampleRate = sampleRate;
        this.random = new SplittableRandom(seed);
        this.listener = listener;
    }

    private boolean sample() {
        return sampleRate > 0 && random.nextDouble() < sampleRate;
    }

    @Override
    protected void intercept(KernelCall call) {
        call.runOn(next);
        if (sample()) {
            KernelCall expected = call.withFreshOutputs();
            expected.runOn(reference);
            String kernel = call.kernel().label();
            listener.compared(kernel);
            String divergence = call.divergence(expected);
            if (divergence != null) {
                listener.diverged(kernel, divergence);
            }
        }
    }

    @Override
    public void close() {
        next.close();
        reference.close();
    }
}
