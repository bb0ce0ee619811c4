package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.Rejection;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;

/**
 * The memory operator's checks that need no state ({@link InputValidator}, {@link KernelRouter#validate}), for
 * producers: {@code engram send} refuses a record the job would dead-letter, with the same reason code, before it
 * reaches Kafka. What needs the space's state (its dimension, which memories exist) only the job can check.
 */
public final class InputChecks {
    private final InputValidator validator;

    public InputChecks(EngramSettings settings) {
        this.validator = new InputValidator(settings);
    }

    /** Why the job would reject this event (keyed by its own space, as producers key it), or null. */
    public Rejection event(MemoryEvent e, long wallClockMs) {
        try {
            validator.envelope(e.getSpace(), e.getSpace(), e.getEventId(), e.getTimestampMs(), wallClockMs);
            validator.event(e);
            return null;
        } catch (Rejection r) {
            return r;
        }
    }

    /** Why the job would reject this query, or null. */
    public Rejection query(RecallQuery q, long wallClockMs) {
        try {
            validator.envelope(q.getSpace(), q.getSpace(), q.getQueryId(), q.getTimestampMs(), wallClockMs);
            validator.query(q);
            return null;
        } catch (Rejection r) {
            return r;
        }
    }

    /** Why the job would reject this kernel switch, or null. */
    public Rejection control(KernelControl c) {
        try {
            KernelRouter.validate(c);
            return null;
        } catch (Rejection r) {
            return r;
        }
    }
}
