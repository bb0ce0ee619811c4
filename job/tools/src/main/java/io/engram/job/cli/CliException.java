package io.engram.job.cli;

/**
 * A failure the CLI reports as one clear line ({@code error: ...}) with an exit code, without a stack trace:
 * {@link #USAGE} (2) for bad arguments or bad input, {@link #FAILURE} (1) for everything else.
 */
public final class CliException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Bad arguments, bad input data (e.g. a malformed JSON line). */
    public static final int USAGE = 2;
    /** The command could not do its job (broker unreachable, job failed, ...). */
    public static final int FAILURE = 1;

    private final int exitCode;

    public CliException(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    public CliException(int exitCode, String message, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    public static CliException usage(String message) {
        return new CliException(USAGE, message);
    }

    public static CliException failure(String message, Throwable cause) {
        return new CliException(FAILURE, message, cause);
    }

    public int exitCode() {
        return exitCode;
    }
}
