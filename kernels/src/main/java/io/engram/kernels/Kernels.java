package io.engram.kernels;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Opens the kernels for one subtask according to the configured mode, and reports status. */
public final class Kernels {
    private static final Logger LOG = LoggerFactory.getLogger(Kernels.class);
    private static final AtomicBoolean AUTO_WARNED = new AtomicBoolean();
    private static final java.util.concurrent.atomic.AtomicLong autoFallbacks = new java.util.concurrent.atomic.AtomicLong();

    private Kernels() {
    }

    /**
     * Opens a kernel set for one subtask. {@code zig} throws {@link NativeLoadException} if the library cannot load;
     * {@code auto} then falls back to Java and warns once per JVM; {@code java} never touches native code.
     */
    public static MemoryKernels open(KernelsConfig config) {
        return open(config, () -> load(config));
    }

    /** {@link #open(KernelsConfig)} with the library loading step injectable, for tests. */
    static MemoryKernels open(KernelsConfig config, Supplier<LoadedLibrary> loader) {
        switch (config.mode()) {
            case JAVA:
                return new JavaKernels();
            case ZIG:
                loader.get();
                return new ZigKernels(Arena.allocate(config.arena()));
            case AUTO:
                try {
                    loader.get();
                } catch (NativeLoadException e) {
                    autoFallbacks.incrementAndGet();
                    if (AUTO_WARNED.compareAndSet(false, true)) {
                        LOG.warn("engram kernels: mode auto could not load the Zig library, running the Java kernels."
                                + " Cause: {}", e.getMessage());
                    }
                    return new JavaKernels();
                }
                return new ZigKernels(Arena.allocate(config.arena()));
            default:
                throw new AssertionError(config.mode());
        }
    }

    /** How many subtasks in this JVM asked for {@code auto} and got Java because the library did not load. */
    public static long autoFallbackCount() {
        return autoFallbacks.get();
    }

    private static LoadedLibrary load(KernelsConfig config) {
        return NativeLibrary.loadDefault(config.libraryPath(), config.cpuVariant());
    }

    /** What {@link #open} would run with, and why; loads the library if the mode allows it. */
    public static KernelStatus status(KernelsConfig config) {
        Platform platform = Platform.current();
        if (config.mode() == KernelMode.JAVA) {
            return new KernelStatus(config.mode(), KernelMode.JAVA, "mode java requested", null, platform,
                    config.arena());
        }
        try {
            LoadedLibrary lib = load(config);
            return new KernelStatus(config.mode(), KernelMode.ZIG, "native library loaded", lib, platform,
                    config.arena());
        } catch (NativeLoadException e) {
            if (config.mode() == KernelMode.ZIG) {
                throw e;
            }
            return new KernelStatus(config.mode(), KernelMode.JAVA, "auto fell back to Java: " + e.getMessage(),
                    null, platform, config.arena());
        }
    }
}
