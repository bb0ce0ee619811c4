package io.engram.kernels;

/** A consistent-enough snapshot of one arena's counters, for metrics and status. */
public record ArenaStats(long capacityBytes, long inUseBytes, long highWaterBytes, long resets, long overflows,
                         long fallbacks) {
    /** What a kernel set without an arena (pure Java) reports. */
    public static final ArenaStats NONE = new ArenaStats(0, 0, 0, 0, 0, 0);
}
