package io.engram.job.operator;

import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.recall.Hit;
import io.engram.job.space.MemorySpace;
import io.engram.kernels.KernelMode;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the result record of an answered query, bounded by construction: as a Kafka record (key, value, framing)
 * it never exceeds {@code engram.limits.max-output-record-size}. Content (asked for with {@code include_content}) is added hit by hit, best
 * first, while it fits, then cut short or left out; if even the hits alone would not fit, the lowest-ranked are left
 * out. Either way the result says {@code truncated = true}. So no answer can fail the sink.
 */
final class Answers {
    /** Fixed part of a result: header, kernel mode, timestamps, array framing, flags (generous). */
    private static final int RESULT_OVERHEAD = 64;
    /** Per hit besides its strings: four floats, hops, union tags, length prefixes (generous). */
    private static final int HIT_OVERHEAD = 40;

    private final int maxBytes;

    Answers(int maxBytes) {
        this.maxBytes = maxBytes;
    }

    OutRecord result(RawRecord raw, RecallQuery q, List<Hit> hits, MemorySpace space, KernelMode mode,
                     long latencyUs, boolean stale) {
        int budget = maxBytes - DeadLetters.KAFKA_RECORD_OVERHEAD - (raw.key == null ? 0 : raw.key.length)
                - RESULT_OVERHEAD - utf8(q.getQueryId()) - utf8(q.getSpace());
        boolean truncated = false;
        // First the hits without content, best first, while they fit: ids are what the answer is.
        int kept = 0;
        for (Hit h : hits) {
            int need = HIT_OVERHEAD + utf8(h.memoryId());
            if (need > budget) {
                truncated = true; // the lowest-ranked hits go
                break;
            }
            budget -= need;
            kept++;
        }
        // Then content, in rank order, while it fits: cut short, then left out.
        List<RecallHit> out = new ArrayList<>(kept);
        for (int i = 0; i < kept; i++) {
            Hit h = hits.get(i);
            String content = null;
            if (q.getIncludeContent()) {
                String stored = space.content(h.slot());
                if (stored != null) {
                    String fitted = fit(stored, budget);
                    truncated |= fitted.length() < stored.length();
                    content = fitted.isEmpty() && !stored.isEmpty() ? null : fitted;
                    budget -= utf8(fitted);
                }
            }
            out.add(new RecallHit(h.memoryId(), h.score(), h.similarity(), h.activation(), h.retention(), h.hops(),
                    content));
        }
        RecallResult result = RecallResult.newBuilder()
                .setQueryId(q.getQueryId())
                .setSpace(q.getSpace())
                .setTimestampMs(q.getTimestampMs())
                .setHits(out)
                .setKernelMode(mode.label())
                .setLatencyUs(latencyUs)
                .setStale(stale)
                .setTruncated(truncated)
                .build();
        byte[] bytes = AvroCodec.encode(result);
        if (DeadLetters.kafkaSize(raw.key, bytes) > maxBytes) {
            // Cannot happen with the overheads above; if it ever did, an empty flagged answer still fits.
            result.setHits(List.of());
            result.setTruncated(true);
            bytes = AvroCodec.encode(result);
        }
        return new OutRecord(raw.key, bytes);
    }

    /** The longest prefix of {@code s} whose UTF-8 encoding fits {@code budget} bytes (never splitting a pair). */
    static String fit(String s, int budget) {
        if (budget <= 0) {
            return "";
        }
        if ((long) s.length() * 3 <= budget) {
            return s;
        }
        int bytes = 0;
        int i = 0;
        while (i < s.length()) {
            int cp = s.codePointAt(i);
            int b = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            if (bytes + b > budget) {
                break;
            }
            bytes += b;
            i += Character.charCount(cp);
        }
        return s.substring(0, i);
    }

    static int utf8(CharSequence s) {
        if (s == null) {
            return 0;
        }
        String str = s.toString();
        return str.length() * 3 <= 256 ? str.getBytes(StandardCharsets.UTF_8).length : encodedLength(str);
    }

    private static int encodedLength(String s) {
        int n = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            n += c < 0x80 ? 1 : c < 0x800 ? 2 : Character.isHighSurrogate(c) ? 2 : Character.isLowSurrogate(c) ? 2 : 3;
        }
        return n;
    }
}
