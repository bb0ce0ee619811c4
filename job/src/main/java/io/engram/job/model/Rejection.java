package io.engram.job.model;

/** A record that cannot be applied: carries the dead-letter reason and a message for a person. */
public final class Rejection extends Exception {
    private final Reason reason;

    public Rejection(Reason reason, String message) {
        super(message, null, false, false); // no stack trace: this is flow control, on the record path
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
