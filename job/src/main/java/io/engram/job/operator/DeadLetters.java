package io.engram.job.operator;

import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * Builds the dead-letter record for an input: where it came from, why, and its bytes, within a size bound. A record
 * that fits is kept whole; a larger one keeps a prefix of its key and value, their full sizes and SHA-256 digests,
 * so that an operator can find the original at its source coordinates and check it. The bound is what makes the
 * dead-letter sink unable to fail on one record: a dead letter larger than the producer's max.request.size or the
 * topic's max.message.bytes would fail the sink, the job would restore, read the record again and fail
 * again, forever.
 */
public final class DeadLetters {
    /** Longest key prefix kept (and used as the dead letter's Kafka key): space names are at most 64 characters. */
    public static final int KEY_PREFIX_BYTES = 1024;
    /** Longest message kept, in characters. */
    static final int MESSAGE_CHARS = 1000;
    /**
     * Kafka's framing of a record in a batch of one, at most: the batch header (61 bytes) and the record's own
     * length, attribute, delta and header-count varints (21 bytes). The producer's max.request.size check and the
     * broker's max.message.bytes check both count it.
     */
    public static final int KAFKA_RECORD_OVERHEAD = 61 + 21;
    /** An Avro union branch index plus the longest int varint of a bytes length. */
    private static final int BYTES_FIELD_FRAMING = 1 + 5;

    private DeadLetters() {
    }

    /**
     * The dead letter of {@code raw}, at most {@code maxRecordBytes} as a Kafka record (key + value + framing).
     *
     * @param maxRecordBytes engram.limits.max-output-record-size; large enough for every field but the value
     *                       (EngramSettings enforces its minimum)
     */
    public static OutRecord of(RawRecord raw, Reason reason, String message, long nowMs, int maxRecordBytes) {
        return of(raw.topic, raw.partition, raw.offset, raw.key, raw.value, reason.name(), message, nowMs,
                maxRecordBytes);
    }

    /** The same for any record, e.g. one the sink refused to write (then the source is the output topic). */
    public static OutRecord of(String topic, int partition, long offset, byte[] key, byte[] value, String reason,
                               String message, long nowMs, int maxRecordBytes) {
        byte[] keyPrefix = key == null ? null : Arrays.copyOf(key, Math.min(key.length, KEY_PREFIX_BYTES));
        DeadLetter dl = DeadLetter.newBuilder()
                .setSourceTopic(topic == null ? "" : abbreviate(topic, 256))
                .setSourcePartition(partition)
                .setSourceOffset(offset)
                .setKey(keyPrefix == null ? null : ByteBuffer.wrap(keyPrefix))
                .setValue(null)
                .setReason(reason)
                .setMessage(message == null ? "" : abbreviate(message, MESSAGE_CHARS))
                .setTimestampMs(nowMs)
                .setKeySize(key == null ? null : key.length)
                .setValueSize(value == null ? null : value.length)
                .setKeySha256(key == null ? null : sha256(key))
                .setValueSha256(value == null ? null : sha256(value))
                .setTruncated(false)
                .build();
        int keyBytes = keyPrefix == null ? 0 : keyPrefix.length;
        int withoutValue = AvroCodec.encode(dl).length;
        int room = maxRecordBytes - KAFKA_RECORD_OVERHEAD - keyBytes - withoutValue - BYTES_FIELD_FRAMING;
        if (value != null) {
            int kept = Math.max(0, Math.min(value.length, room));
            dl.setValue(ByteBuffer.wrap(kept == value.length ? value : Arrays.copyOf(value, kept)));
            dl.setTruncated(kept < value.length);
        }
        dl.setTruncated(dl.getTruncated() || (key != null && keyPrefix.length < key.length));
        return new OutRecord(keyPrefix, AvroCodec.encode(dl));
    }

    /** Its size as Kafka counts it against max.request.size and max.message.bytes (a batch of one, no headers). */
    public static long kafkaSize(byte[] key, byte[] value) {
        return KAFKA_RECORD_OVERHEAD + (key == null ? 0L : key.length) + (value == null ? 0L : value.length);
    }

    static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 3) + "...";
    }
}
