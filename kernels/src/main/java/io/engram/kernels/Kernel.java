package io.engram.kernels;

/**
 * The kernels of {@link MemoryKernels}, one constant per kernel method. The label is the one name a kernel has
 * everywhere: the interface method, the Java and Zig implementations, the native op (native/src/abi.zig), the
 * {@code kernel} label of the job's metrics, the alert thresholds and the dashboard. {@link KernelDecorator}
 * intercepts exactly these; tests fail when a kernel exists that one of those places does not name.
 */
public enum Kernel {
    /** One query against a block of rows, norms computed per call. */
    COSINE_SIMILARITY("cosineSimilarity"),
    /** Several queries against the same rows in one pass, norms computed per call. */
    COSINE_SIMILARITY_BATCH("cosineSimilarityBatch"),
    /** One or several cues against rows whose norms are stored with them: the dot products only. */
    COSINE_SIMILARITY_NORMED("cosineSimilarityNormed"),
    /** Activation spreading over the association graph. */
    SPREAD_ACTIVATION("spreadActivation"),
    /** Ebbinghaus retention. */
    DECAY_RETENTION("decayRetention");

    private final String label;

    Kernel(String label) {
        this.label = label;
    }

    /** The kernel's name: its method name, metric label and native op name. */
    public String label() {
        return label;
    }
}
