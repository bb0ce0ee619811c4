package io.engram.job.model;

/**
 * An encoded record for a Kafka sink: key (the space, UTF-8) and Avro single-object value. A Flink POJO.
 * {@code timestampMs}, when set, is the Kafka record's timestamp; otherwise the stream element's is used. A batched
 * recall answer sets it to its query's, so it carries the same timestamp as an answer given on arrival.
 */
public class OutRecord {
    public byte[] key;
    public byte[] value;
    public Long timestampMs;

    public OutRecord() {
    }

    public OutRecord(byte[] key, byte[] value) {
        this.key = key;
        this.value = value;
    }
}
