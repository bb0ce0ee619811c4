package io.engram.kernels;

/** A kernel call needed more scratch than its arena holds, under {@link OverflowStrategy#FAIL}. */
public final class ArenaOverflowException extends RuntimeException {
    private final String kernel;
    private final long neededBytes;
    private final long capacityBytes;

    public ArenaOverflowException(String kernel, long neededBytes, long capacityBytes) {
        super(message(kernel, neededBytes, capacityBytes));
        this.kernel = kernel;
        this.neededBytes = neededBytes;
        this.capacityBytes = capacityBytes;
    }

    static String message(String kernel, long neededBytes, long capacityBytes) {
        return "arena overflow in " + kernel + ": needs " + neededBytes + " bytes, arena holds " + capacityBytes
                + " (raise engram.kernels.arena.size, or set engram.kernels.arena.overflow=fallback)";
    }

    public String kernel() {
        return kernel;
    }

    public long neededBytes() {
        return neededBytes;
    }

    public long capacityBytes() {
        return capacityBytes;
    }
}
