package io.engram.kernels;

import java.util.List;

/**
 * The native library could not be loaded. The message names the problem and then every candidate that was tried
 * (jar resource, extracted file, explicit path) with the reason it was rejected, so that an operator can act on the
 * log line alone.
 */
public final class NativeLoadException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final String problem;
    private final List<String> attempts;
    private final boolean javaOnlyBuild;

    public NativeLoadException(String problem) {
        this(problem, List.of(), null);
    }

    public NativeLoadException(String problem, List<String> attempts, Throwable cause) {
        this(problem, attempts, cause, false);
    }

    private NativeLoadException(String problem, List<String> attempts, Throwable cause, boolean javaOnlyBuild) {
        super(format(problem, attempts), cause);
        this.problem = problem;
        this.attempts = List.copyOf(attempts);
        this.javaOnlyBuild = javaOnlyBuild;
    }

    /** The jar was built with -Pjava-only and holds no library at all: expected, not a fault, in {@code auto}. */
    static NativeLoadException javaOnlyBuild(String problem) {
        return new NativeLoadException(problem, List.of(), null, true);
    }

    /** The problem alone, without the list of attempts. */
    public String problem() {
        return problem;
    }

    /** One line per candidate tried, in order: what it was and why it was rejected. */
    public List<String> attempts() {
        return attempts;
    }

    /** Whether the failure is only that this is a Java-only build, which {@code auto} mode may log quietly. */
    public boolean javaOnlyBuild() {
        return javaOnlyBuild;
    }

    private static String format(String problem, List<String> attempts) {
        if (attempts.isEmpty()) {
            return problem;
        }
        StringBuilder message = new StringBuilder(problem).append("; tried:");
        for (String attempt : attempts) {
            message.append(System.lineSeparator()).append("  - ").append(attempt);
        }
        return message.toString();
    }
}
