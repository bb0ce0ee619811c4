package io.engram.job.kafka;

import io.engram.job.model.RawRecord;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Keeps every Kafka record as raw bytes with its coordinates: nothing is dropped or decoded at the source. */
public final class RawRecordDeserializer implements KafkaRecordDeserializationSchema<RawRecord> {
    private static final long serialVersionUID = 1L;
    private final RawRecord.Kind kind;

    public RawRecordDeserializer(RawRecord.Kind kind) {
        this.kind = kind;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<RawRecord> out) {
        long eventTime = kind == RawRecord.Kind.CONTROL ? r.timestamp() : TimestampPeek.eventTime(r.value(), r.timestamp());
        out.collect(new RawRecord(kind, r.topic(), r.partition(), r.offset(), eventTime, r.key(), r.value()));
    }

    @Override
    public TypeInformation<RawRecord> getProducedType() {
        return TypeInformation.of(RawRecord.class);
    }
}
