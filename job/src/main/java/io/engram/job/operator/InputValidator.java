package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
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
    /**
     * The range of a non-zero vector's sum of squares. Both kernels sum squares and products in f32 (SIMD lanes in
     * Zig, four accumulators in Java): outside this range the sum overflows to infinity or underflows to zero, the
     * cosine is then 0 for every cue, and the memory could never be recalled. Inside it every term of two accepted
     * vectors stays in f32's normal range with at least 2^14 to spare (4096 dimensions at most), so the f32 sums
     * agree with exact arithmetic to rounding. Rejecting at input keeps the kernels (and the state) f32; no real
     * embedding has a norm outside [2^-50, 2^50].
     */
    static final double MIN_SUM_OF_SQUARES = 0x1p-100;
    static final double MAX_SUM_OF_SQUARES = 0x1p100;
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
    QueryParams query(RecallQuery q) throws Rejection {
        vector(q.getCue(), "cue");
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
        return new QueryParams(k, hops, decay, threshold, seedK);
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
        double sumOfSquares = 0;
        for (int i = 0; i < v.size(); i++) {
            float x = v.get(i);
            if (Float.isNaN(x) || Float.isInfinite(x)) {
                throw new Rejection(Reason.NON_FINITE, field + "[" + i + "] is " + x);
            }
            sumOfSquares += (double) x * x; // exact per term: a float's square fits a double's mantissa and range
        }
        if (sumOfSquares != 0 && !(sumOfSquares >= MIN_SUM_OF_SQUARES && sumOfSquares <= MAX_SUM_OF_SQUARES)) {
            throw new Rejection(Reason.NORM_OUT_OF_RANGE, field + " has a sum of squares of " + sumOfSquares
                    + ", outside [2^-100, 2^100]: its norm cannot be computed in f32");
        }
    }

    static String abbreviate(String s) {
        if (s == null) {
            return "null";
        }
        return s.length() <= 70 ? s : s.substring(0, 67) + "...";
    }
}
