package io.engram.kernels;

import java.util.Locale;

/** Which implementation serves kernel calls. */
public enum KernelMode {
    /** Zig over JNI; startup fails if the native library cannot be loaded. */
    ZIG,
    /** Pure Java; never touches native code. */
    JAVA,
    /** Zig if the library loads, else Java with one clear warning. */
    AUTO;

    /** Parses {@code zig|java|auto} (any case); anything else is a clear error. */
    public static KernelMode parse(String text) {
        if (text == null) {
            throw new IllegalArgumentException("kernel mode is missing: expected one of zig, java, auto");
        }
        switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "zig":
                return ZIG;
            case "java":
                return JAVA;
            case "auto":
                return AUTO;
            default:
                throw new IllegalArgumentException(
                        "invalid kernel mode '" + text + "': expected one of zig, java, auto");
        }
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
