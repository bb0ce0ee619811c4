package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.recall.RecallParams;
import io.engram.schemas.Associate;
import io.engram.schemas.Forget;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Checks that need no state: ids, space, timestamps, dimensions, finiteness and ranges. What does need the space
 * (its dimension, which ids exist) is checked by the operator. Every failure is a {@link Rejection}.
 */
final class InputValidator {
    static final Pattern SPACE = Pattern.compile("[a-z0-9_-]{3,64}");
    /** Longest kernel-control reason and issued_by kept in broadcast state and logged. */
    static final int MAX_CONTROL_TEXT = 1000;

    private final EngramSettings s;

    InputValidator(EngramSettings settings) {
        this.s = settings;
    }

    void envelope(String keySpace, String space, String id, long timestampMs, long wallClockMs) throws Rejection {
        if (space == null || !SPACE.matcher(space).matches()) {
            throw new Rejection(Reason.BAD_SPACE, "space '" + abbreviate(space) + "' does not match [a-z0-9_-]{3,64}");
        }
        if (!space.equals(keySpace)) {
            throw new Rejection(Reason.SPACE_MISMATCH,
                    "record key '" + abbreviate(keySpace) + "' differs from payload space '" + space + "'");
        }
        id(id, "id");
        timestamp(timestampMs, wallClockMs);
    }

    /** Event and control timestamps: not negative, not further ahead or behind the wall clock than the limits. */
    void timestamp(long timestampMs, long wallClockMs) throws Rejection {
        if (timestampMs < 0) {
            throw new Rejection(Reason.BAD_TIMESTAMP, "timestamp_ms " + timestampMs + " is negative");
        }
        if (timestampMs - wallClockMs > s.maxFutureSkewMs) {
            throw new Rejection(Reason.FUTURE_TIMESTAMP, "timestamp_ms " + timestampMs + " is "
                    + (timestampMs - wallClockMs) + " ms ahead of the wall clock (limit " + s.maxFutureSkewMs + ")");
        }
        if (wallClockMs - timestampMs > s.maxPastAgeMs) {
            throw new Rejection(Reason.PAST_TIMESTAMP, "timestamp_ms " + timestampMs + " is "
                    + (wallClockMs - timestampMs) + " ms behind the wall clock (limit " + s.maxPastAgeMs + ")");
        }
    }

    /**
     * What a kernel switch must satisfy besides {@link KernelRouter#validate} (mode, scope, reason): timestamps
     * bounded like event timestamps, so that no switch can stay in force by claiming to be from the future; valid
     * space names; an issuer; bounded texts (they are logged and kept in broadcast state).
     */
    void control(KernelControl c, long wallClockMs) throws Rejection {
        KernelRouter.validate(c);
        timestamp(c.getTimestampMs(), wallClockMs);
        for (String space : c.getSpaces()) {
            if (space == null || !SPACE.matcher(space).matches()) {
                throw new Rejection(Reason.BAD_SPACE, "control record names space '" + abbreviate(space)
                        + "', which does not match [a-z0-9_-]{3,64}");
            }
        }
        if (c.getIssuedBy() == null || c.getIssuedBy().isBlank()) {
            throw new Rejection(Reason.BAD_CONTROL, "a kernel switch needs issued_by");
        }
        if (c.getIssuedBy().length() > MAX_CONTROL_TEXT || c.getReason().length() > MAX_CONTROL_TEXT) {
            throw new Rejection(Reason.BAD_CONTROL, "reason and issued_by must have at most " + MAX_CONTROL_TEXT
                    + " characters");
        }
    }

    void event(MemoryEvent e) throws Rejection {
        Object p = e.getPayload();
        if (p instanceof StoreMemory m) {
            id(m.getMemoryId(), "memory_id");
            vector(m.getEmbedding(), "embedding");
            if (!(m.getStrength() >= 0f) || Float.isInfinite(m.getStrength())) {
                throw new Rejection(Reason.BAD_STRENGTH, "strength " + m.getStrength() + " must be finite and >= 0");
            }
            Float stab = m.getStabilityS();
            if (stab != null && (!(stab > 0f) || Float.isInfinite(stab))) {
                throw new Rejection(Reason.BAD_STABILITY, "stability_s " + stab + " must be finite and > 0");
            }
            if (m.getContent() != null && m.getContent().length() > s.maxContentLength) {
                throw new Rejection(Reason.CONTENT_TOO_LONG, "content has " + m.getContent().length()
                        + " characters, limit " + s.maxContentLength);
            }
        } else if (p instanceof ReinforceMemory r) {
            id(r.getMemoryId(), "memory_id");
        } else if (p instanceof Associate a) {
            id(a.getFromId(), "from_id");
            id(a.getToId(), "to_id");
            float w = a.getWeight();
            if (Float.isNaN(w) || Float.isInfinite(w)) {
                throw new Rejection(Reason.NON_FINITE, "weight " + w + " is not finite");
            }
            if (!(w >= 0f && w <= 1f)) {
                throw new Rejection(Reason.BAD_WEIGHT, "weight " + w + " is outside [0, 1]");
            }
            if (a.getFromId().equals(a.getToId())) {
                throw new Rejection(Reason.SELF_EDGE, "association from '" + a.getFromId() + "' to itself");
            }
        } else if (p instanceof Forget f) {
            id(f.getMemoryId(), "memory_id");
        } else {
            throw new Rejection(Reason.UNDECODABLE, "unknown payload type " + (p == null ? "null" : p.getClass()));
        }
    }

    /** Checks the query and returns its effective parameters, defaults filled in. */
    RecallParams query(RecallQuery q) throws Rejection {
        vector(q.getCue(), "cue");
        waits(q);
        int k = q.getK();
        if (k < 1 || k > s.maxK) {
            throw new Rejection(Reason.BAD_K, "k " + k + " is outside [1, " + s.maxK + "]");
        }
        int hops = q.getMaxHops() == null ? s.maxHops : q.getMaxHops();
        if (hops < 0 || hops > s.maxQueryHops) {
            throw new Rejection(Reason.BAD_HOPS, "max_hops " + hops + " is outside [0, " + s.maxQueryHops + "]");
        }
        int seedK = q.getSeedK() == null ? s.seedK : q.getSeedK();
        if (seedK < 1 || seedK > s.maxSeedK) {
            throw new Rejection(Reason.BAD_SEED_K, "seed_k " + seedK + " is outside [1, " + s.maxSeedK + "]");
        }
        float decay = q.getHopDecay() == null ? s.hopDecay : q.getHopDecay();
        if (!(decay > 0f && decay <= 1f)) {
            throw new Rejection(Reason.BAD_HOP_DECAY, "hop_decay " + decay + " is outside (0, 1]");
        }
        float threshold = q.getThreshold() == null ? s.threshold : q.getThreshold();
        if (!(threshold >= 0f) || Float.isInfinite(threshold)) {
            throw new Rejection(Reason.BAD_THRESHOLD, "threshold " + threshold + " must be finite and >= 0");
        }
        return new RecallParams(k, hops, decay, threshold, seedK);
    }

    /** Most read-your-writes conditions one query may name, of each kind. */
    static final int MAX_WAIT_ENTRIES = 64;

    private void waits(RecallQuery q) throws Rejection {
        if (q.getAfterEventIds().size() > MAX_WAIT_ENTRIES || q.getAfterPositions().size() > MAX_WAIT_ENTRIES) {
            throw new Rejection(Reason.BAD_WAIT, "a query may name at most " + MAX_WAIT_ENTRIES + " event ids and "
                    + MAX_WAIT_ENTRIES + " positions, got " + q.getAfterEventIds().size() + " and "
                    + q.getAfterPositions().size());
        }
        for (CharSequence id : q.getAfterEventIds()) {
            if (id == null || id.length() == 0 || id.length() > s.maxIdLength) {
                throw new Rejection(Reason.BAD_WAIT, "after_event_ids entry '" + abbreviate(String.valueOf(id))
                        + "' must have 1 to " + s.maxIdLength + " characters");
            }
        }
        for (var p : q.getAfterPositions()) {
            if (p.getPartition() < 0 || p.getOffset() < 0) {
                throw new Rejection(Reason.BAD_WAIT, "after_positions entry " + p.getPartition() + ":" + p.getOffset()
                        + " must have a partition and an offset >= 0");
            }
        }
        CharSequence t = q.getOnTimeout();
        if (t != null && !t.toString().equals("answer-stale") && !t.toString().equals("dead-letter")) {
            throw new Rejection(Reason.BAD_WAIT, "on_timeout '" + abbreviate(t.toString())
                    + "' must be 'answer-stale' or 'dead-letter'");
        }
    }

    private void id(String id, String field) throws Rejection {
        if (id == null || id.isEmpty() || id.length() > s.maxIdLength) {
            throw new Rejection(Reason.BAD_ID, field + " '" + abbreviate(id) + "' must have 1 to " + s.maxIdLength
                    + " characters");
        }
    }

    private void vector(List<Float> v, String field) throws Rejection {
        if (v == null || v.isEmpty()) {
            throw new Rejection(Reason.EMPTY_EMBEDDING, field + " has dimension 0");
        }
        if (v.size() > s.maxDim) {
            throw new Rejection(Reason.DIM_TOO_LARGE, field + " has dimension " + v.size() + ", limit " + s.maxDim);
        }
        // Any finite vector is fine: near-FLT_MAX and denormal ones are stored (and compared) scaled by a power of two
        // (MemorySpace.scaled), so their f32 norms neither overflow nor vanish.
        for (int i = 0; i < v.size(); i++) {
            float x = v.get(i);
            if (Float.isNaN(x) || Float.isInfinite(x)) {
                throw new Rejection(Reason.NON_FINITE, field + "[" + i + "] is " + x);
            }
        }
    }

    static String abbreviate(String s) {
        if (s == null) {
            return "null";
        }
        return s.length() <= 70 ? s : s.substring(0, 67) + "...";
    }
}
