package io.engram.job.kafka;

/**
 * Reads the event time out of an encoded MemoryEvent or RecallQuery without decoding it: both start with two
 * strings followed by {@code timestamp_ms} (a zig-zag varint long) after the 10-byte single-object header. The
 * watermark then follows the payload's own time, not the producer's clock. Anything odd returns the fallback; the
 * operator decodes properly and dead-letters what is broken.
 */
final class TimestampPeek {
    private TimestampPeek() {
    }

    static long eventTime(byte[] value, long fallback) {
        if (value == null || value.length < 12 || value[0] != (byte) 0xC3 || value[1] != 0x01) {
            return fallback;
        }
        int[] pos = {10};
        for (int field = 0; field < 2; field++) {
            long len = varint(value, pos);
            if (len < 0 || len > value.length - pos[0]) {
                return fallback;
            }
            pos[0] += (int) len;
        }
        long ts = varint(value, pos);
        return ts < 0 ? fallback : ts;
    }

    /** Decodes one zig-zag varint at pos[0], advancing it; Long.MIN_VALUE when malformed. */
    private static long varint(byte[] b, int[] pos) {
        long raw = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos[0] >= b.length) {
                return Long.MIN_VALUE;
            }
            int x = b[pos[0]++] & 0xff;
            raw |= (long) (x & 0x7f) << shift;
            if ((x & 0x80) == 0) {
                return (raw >>> 1) ^ -(raw & 1);
            }
        }
        return Long.MIN_VALUE;
    }
}
