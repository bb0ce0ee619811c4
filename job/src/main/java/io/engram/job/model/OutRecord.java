package io.engram.job.model;

/** An encoded record for a Kafka sink: key (the space, UTF-8) and Avro single-object value. A Flink POJO. */
public class OutRecord {
    public byte[] key;
    public byte[] value;

    public OutRecord() {
    }

    public OutRecord(byte[] key, byte[] value) {
        this.key = key;
        this.value = value;
    }
}
