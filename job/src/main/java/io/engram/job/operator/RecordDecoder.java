package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.recall.RecallParams;
import io.engram.job.space.SpaceEvent;
import io.engram.job.state.PendingQuery;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DecodeException;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import java.util.function.Supplier;

/**
 * From raw Kafka records to what the domain takes: decode (Avro single-object encoding) and validate everything that
 * needs no state. Every failure is a {@link Rejection} with its reason.
 */
final class RecordDecoder {
    private final InputValidator validator;

    RecordDecoder(EngramSettings settings) {
        this.validator = new InputValidator(settings);
    }

    /** A query that passed validation, with its effective parameters. */
    record ValidQuery(RecallQuery query, RecallParams params) {
        float[] cue() {
            return SpaceEvent.floats(query.getCue());
        }
    }

    SpaceEvent event(RawRecord raw, long wallClockMs) throws Rejection {
        MemoryEvent e = decode(() -> AvroCodec.decodeMemoryEvent(raw.value));
        validator.envelope(raw.space, e.getSpace(), e.getEventId(), e.getTimestampMs(), wallClockMs);
        validator.event(e);
        return SpaceEvent.of(e);
    }

    ValidQuery query(RawRecord raw, long wallClockMs) throws Rejection {
        RecallQuery q = decode(() -> AvroCodec.decodeRecallQuery(raw.value));
        validator.envelope(raw.space, q.getSpace(), q.getQueryId(), q.getTimestampMs(), wallClockMs);
        return new ValidQuery(q, validator.query(q));
    }

    /** A control record, decoded (else BAD_CONTROL) and checked against {@code nowMs}. */
    KernelControl control(RawRecord raw, long nowMs) throws Rejection {
        KernelControl c;
        try {
            c = decode(() -> AvroCodec.decodeKernelControl(raw.value));
        } catch (Rejection r) {
            throw new Rejection(Reason.BAD_CONTROL, r.getMessage()); // not a KernelControl at all
        }
        validator.control(c, nowMs);
        return c;
    }

    /**
     * A waiting query, checked again at its flush only against limits a restore may have changed
     * ({@code engram.limits.*}); decoded again unless the state handed back the object decoded at arrival.
     */
    ValidQuery waiting(PendingQuery pq) throws Rejection {
        RecallQuery q = pq.decoded instanceof RecallQuery rq ? rq
                : decode(() -> AvroCodec.decodeRecallQuery(pq.raw.value));
        return new ValidQuery(q, validator.query(q));
    }

    private static <T> T decode(Supplier<T> d) throws Rejection {
        try {
            return d.get();
        } catch (DecodeException e) {
            throw new Rejection(Reason.valueOf(e.reason().name()), e.getMessage());
        }
    }
}
