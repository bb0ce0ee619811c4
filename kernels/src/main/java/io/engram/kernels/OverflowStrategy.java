package io.engram.kernels;

import java.util.Locale;

/** What a kernel call does when its scratch does not fit in the arena. Every overflow is counted first. */
public enum OverflowStrategy {
    /** Serve the call with the Java implementation (same results, Java speed). */
    FALLBACK("fallback"),
    /** Throw {@link ArenaOverflowException}, which the caller can route (e.g. to the dead-letter topic). */
    FAIL("fail"),
    /** Throw {@link ArenaOverflowError}, which nobody catches: the task fails and Flink restarts it. */
    FAIL_TASK("fail-task");

    private final String label;

    OverflowStrategy(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }

    public static OverflowStrategy parse(String text) {
        if (text != null) {
            String t = text.trim().toLowerCase(Locale.ROOT);
            for (OverflowStrategy s : values()) {
                if (s.label.equals(t)) {
                    return s;
                }
            }
        }
        throw new IllegalArgumentException(
                "invalid arena overflow strategy '" + text + "': expected one of fallback, fail, fail-task");
    }
}
