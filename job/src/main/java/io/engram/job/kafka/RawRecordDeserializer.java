package io.engram.job.kafka;

import io.engram.job.config.EngramOptions;
import io.engram.job.model.RawRecord;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Keeps every Kafka record as raw bytes with its coordinates: nothing is dropped or decoded at the source. */
public final class RawRecordDeserializer implements KafkaRecordDeserializationSchema<RawRecord> {
    private static final long serialVersionUID = 1L;
    private final RawRecord.Kind kind;
    private final long maxFutureSkewMs;

    /** With the default engram.limits.max-future-skew. */
    public RawRecordDeserializer(RawRecord.Kind kind) {
        this(kind, EngramOptions.MAX_FUTURE_SKEW.defaultValue().toMillis());
    }

    /**
     * @param maxFutureSkewMs engram.limits.max-future-skew: a payload time further ahead of the wall clock than this
     *                        is not used as event time (the operator dead-letters the record as FUTURE_TIMESTAMP; its
     *                        time must not drag the watermark and fire every decay sweep up to that time first)
     */
    public RawRecordDeserializer(RawRecord.Kind kind, long maxFutureSkewMs) {
        this.kind = kind;
        this.maxFutureSkewMs = maxFutureSkewMs;
    }

    /**
     * Control records carry the time they were read instead of an event time: every subtask of the memory
     * operator checks a switch's timestamp against that same instant, so all of them accept or reject it alike.
     */
    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<RawRecord> out) {
        long now = System.currentTimeMillis();
        long eventTime = kind == RawRecord.Kind.CONTROL ? now : TimestampPeek.eventTime(r.value(), r.timestamp());
        if (eventTime - now > maxFutureSkewMs) {
            eventTime = now;
        }
        out.collect(new RawRecord(kind, r.topic(), r.partition(), r.offset(), eventTime, r.key(), r.value()));
    }

    @Override
    public TypeInformation<RawRecord> getProducedType() {
        return TypeInformation.of(RawRecord.class);
    }
}
