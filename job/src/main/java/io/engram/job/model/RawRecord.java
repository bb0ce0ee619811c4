package io.engram.job.model;

import java.nio.charset.StandardCharsets;

/**
 * A Kafka record as it arrived, before decoding: the keyed operator decodes it, so that whatever cannot be decoded
 * is dead-lettered with its exact bytes and source coordinates. A Flink POJO (public fields, no-arg constructor), so
 * Flink serializes it without Kryo.
 */
public class RawRecord {
    /** Which input this came from. */
    public enum Kind { MEMORY_EVENT, RECALL_QUERY, CONTROL }

    public Kind kind;
    public String topic;
    public int partition;
    public long offset;
    public long timestampMs;
    public byte[] key;
    public byte[] value;
    /** The partition key: the record key as UTF-8, or "" when there is none. */
    public String space;

    public RawRecord() {
    }

    public RawRecord(Kind kind, String topic, int partition, long offset, long timestampMs, byte[] key,
                     byte[] value) {
        this.kind = kind;
        this.topic = topic;
        this.partition = partition;
        this.offset = offset;
        this.timestampMs = timestampMs;
        this.key = key;
        this.value = value;
        this.space = key == null ? "" : new String(key, StandardCharsets.UTF_8);
    }

    public String getSpace() {
        return space;
    }

    @Override
    public String toString() {
        return kind + " " + topic + "-" + partition + "@" + offset;
    }
}
