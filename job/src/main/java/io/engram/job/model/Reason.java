package io.engram.job.model;

/** Why a record went to the dead-letter topic. The code is the DeadLetter's {@code reason}; metrics count by it. */
public enum Reason {
    EMPTY("the record has no value"),
    BAD_HEADER("not Avro single-object encoding (no C3 01 marker)"),
    UNKNOWN_SCHEMA("the schema fingerprint is not one this job knows (a record of another type, or from the future)"),
    UNDECODABLE("the Avro body could not be decoded (truncated or garbage)"),
    BAD_SPACE("the space id does not match [a-z0-9_-]{3,64}"),
    SPACE_MISMATCH("the record key and the payload's space differ"),
    BAD_ID("an event, memory or query id is empty or too long"),
    BAD_TIMESTAMP("the timestamp is negative"),
    FUTURE_TIMESTAMP("the timestamp is further ahead of the wall clock than engram.limits.max-future-skew"),
    PAST_TIMESTAMP("the timestamp is further behind the wall clock than engram.limits.max-past-age"),
    EMPTY_EMBEDDING("the embedding or cue has dimension 0"),
    DIM_TOO_LARGE("the embedding or cue is larger than engram.limits.max-dim"),
    DIM_MISMATCH("the embedding or cue dimension differs from the space's"),
    NON_FINITE("an embedding, cue, weight or parameter is NaN or infinite"),
    BAD_STRENGTH("strength must be finite and >= 0"),
    BAD_STABILITY("stability_s must be finite and > 0"),
    BAD_WEIGHT("an association weight must be in [0, 1]"),
    SELF_EDGE("an association from a memory to itself"),
    UNKNOWN_MEMORY("the memory id is not in the space (never stored, or forgotten)"),
    CONTENT_TOO_LONG("content is longer than engram.limits.max-content-length"),
    SPACE_FULL("the space already holds engram.limits.max-memories-per-space memories"),
    BAD_K("k must be in [1, engram.limits.max-k]"),
    BAD_HOPS("max_hops must be in [0, engram.limits.max-hops]"),
    BAD_SEED_K("seed_k must be in [1, engram.limits.max-seed-k]"),
    BAD_HOP_DECAY("hop_decay must be in (0, 1]"),
    BAD_THRESHOLD("threshold must be finite and >= 0"),
    BAD_WAIT("after_event_ids / after_positions invalid: more than 64 entries, a bad id, a negative partition or "
            + "offset, or an on_timeout other than 'answer-stale' or 'dead-letter'"),
    WAIT_TIMEOUT("the writes the query named (after_event_ids / after_positions) were not all applied within "
            + "engram.recall.wait.timeout, and the query (or engram.recall.wait.on-timeout) asked for a dead letter"),
    TOO_MANY_WAITING("the space already holds engram.limits.max-waiting-per-space waiting records"),
    LATE_EVENT("event-time mode: the memory event's timestamp is at or behind the point the space has been answered "
            + "up to (the watermark), so applying it would change answers already given; raise "
            + "engram.watermark.max-out-of-orderness if producers are that far out of order"),
    ARENA_OVERFLOW("a kernel's scratch did not fit the arena and engram.kernels.arena.overflow is 'fail'"),
    BAD_CONTROL("a KernelControl record is invalid"),
    OUTPUT_TOO_LARGE("a record the job was about to write exceeded engram.limits.max-output-record-size; the sink wrote"
            + " this dead letter instead (never expected: the operator bounds every output)");

    private final String meaning;

    Reason(String meaning) {
        this.meaning = meaning;
    }

    public String meaning() {
        return meaning;
    }
}
