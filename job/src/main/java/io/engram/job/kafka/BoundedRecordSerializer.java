package io.engram.job.kafka;

import io.engram.job.model.OutRecord;
import io.engram.job.model.Reason;
import io.engram.job.operator.DeadLetters;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last step before the sinks: nothing leaves it that the topic would refuse for a reason of its own. A record
 * larger than engram.limits.max-output-record-size (the operator never emits one: this is the guard behind it)
 * becomes a small dead letter on the dead-letter topic, written in the same transaction (if any); a timestamp the
 * topic would refuse becomes the wall clock's. Without this, such a record fails the sink, the job restores from its
 * last checkpoint, emits the same record again and fails again, forever.
 */
final class BoundedRecordSerializer implements KafkaRecordSerializationSchema<OutRecord> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(BoundedRecordSerializer.class);

    private final String topic;
    private final OutputLimits limits;

    BoundedRecordSerializer(String topic, OutputLimits limits) {
        this.topic = topic;
        this.limits = limits;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(OutRecord element, KafkaSinkContext context, Long timestamp) {
        long now = System.currentTimeMillis();
        Long own = element.timestampMs != null ? element.timestampMs : timestamp;
        long size = DeadLetters.kafkaSize(element.key, element.value);
        if (size > limits.maxRecordBytes()) {
            LOG.error("engram: a {}-byte record for {} exceeds engram.limits.max-output-record-size ({} bytes); "
                    + "writing a dead letter ({}) instead. This is a bug: please report it.", size, topic,
                    limits.maxRecordBytes(), Reason.OUTPUT_TOO_LARGE);
            var dl = DeadLetters.of(topic, -1, -1L, element.key, element.value, Reason.OUTPUT_TOO_LARGE.name(),
                    "a " + size + "-byte record for topic " + topic + " exceeded engram.limits.max-output-record-size ("
                            + limits.maxRecordBytes() + " bytes)", now, limits.maxRecordBytes());
            return new ProducerRecord<>(limits.deadLetterTopic(), null, now, dl.key, dl.value);
        }
        Long ts = own == null ? null : limits.writeTimestamp(topic, own, now);
        return new ProducerRecord<>(topic, null, ts, element.key, element.value);
    }
}
