package io.engram.job.state;

import io.engram.job.model.RawRecord;
import java.util.Arrays;
import java.util.Objects;

/**
 * A recall query that passed validation and waits in its space's batch (keyed list state
 * {@code MemorySpaceFunction.PENDING}). It keeps the record as it arrived, so the answer (or a dead letter) is built
 * exactly as an immediate answer would be, plus when it arrived: wall-clock microseconds for the wait metric and the
 * answer's {@code latency_us} (comparable across a restore on another machine), and the operator's processing time,
 * from which the batch's flush timer was registered.
 */
public final class PendingQuery {
    public final RawRecord raw;
    public final long arrivalMicros;
    public final long arrivalProcessingMs;
    /**
     * The query as decoded at arrival, so the flush need not decode it again; never serialized. Present when the
     * state backend hands back the same object (hashmap backend), null after a copy through the serializer (RocksDB,
     * a restore): then the flush decodes {@code raw.value}.
     */
    public Object decoded;

    public PendingQuery(RawRecord raw, long arrivalMicros, long arrivalProcessingMs) {
        this.raw = Objects.requireNonNull(raw, "raw");
        this.arrivalMicros = arrivalMicros;
        this.arrivalProcessingMs = arrivalProcessingMs;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof PendingQuery p)) {
            return false;
        }
        return arrivalMicros == p.arrivalMicros && arrivalProcessingMs == p.arrivalProcessingMs
                && raw.kind == p.raw.kind && Objects.equals(raw.topic, p.raw.topic)
                && raw.partition == p.raw.partition && raw.offset == p.raw.offset
                && raw.timestampMs == p.raw.timestampMs && Arrays.equals(raw.key, p.raw.key)
                && Arrays.equals(raw.value, p.raw.value);
    }

    @Override
    public int hashCode() {
        return Objects.hash(raw.topic, raw.partition, raw.offset, arrivalMicros);
    }

    @Override
    public String toString() {
        return "pending " + raw + " since " + arrivalMicros + " us";
    }
}
