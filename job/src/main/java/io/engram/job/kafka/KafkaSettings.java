package io.engram.job.kafka;

import io.engram.job.config.EngramOptions;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

/** Builds the job's Kafka sources and exactly-once sinks from the engram options. */
public final class KafkaSettings {
    private final Configuration conf;

    public KafkaSettings(Configuration conf) {
        this.conf = conf;
    }

    /** Everything under engram.kafka.properties.* (SASL, SSL, ...), for every client. */
    public static Properties clientProperties(Map<String, String> conf) {
        Properties p = new Properties();
        conf.forEach((k, v) -> {
            if (k.startsWith(EngramOptions.KAFKA_PROPERTIES_PREFIX)) {
                p.setProperty(k.substring(EngramOptions.KAFKA_PROPERTIES_PREFIX.length()), v);
            }
        });
        return p;
    }

    public String bootstrapServers() {
        return conf.get(EngramOptions.BOOTSTRAP_SERVERS);
    }

    public KafkaSource<RawRecord> source(String topic, RawRecord.Kind kind) {
        Properties props = clientProperties(conf.toMap());
        props.setProperty("isolation.level", "read_committed");
        return KafkaSource.<RawRecord>builder()
                .setBootstrapServers(bootstrapServers())
                .setTopics(topic)
                .setGroupId(conf.get(EngramOptions.GROUP_ID) + (kind == RawRecord.Kind.CONTROL ? "-control" : ""))
                .setStartingOffsets(startingOffsets(conf.get(EngramOptions.STARTING_OFFSETS)))
                .setDeserializer(new RawRecordDeserializer(kind, conf.get(EngramOptions.MAX_FUTURE_SKEW).toMillis()))
                .setProperties(props)
                .build();
    }

    static OffsetsInitializer startingOffsets(String text) {
        switch (text.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "earliest":
                return OffsetsInitializer.earliest();
            case "latest":
                return OffsetsInitializer.latest();
            case "committed":
                return OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
            default:
                throw new IllegalArgumentException("invalid configuration: " + EngramOptions.STARTING_OFFSETS.key()
                        + " '" + text + "' must be earliest, latest or committed");
        }
    }

    /** The client properties, for the checks made when the job is built. */
    Properties clientPropertiesForChecks() {
        return clientProperties(conf.toMap());
    }

    /**
     * An exactly-once (transactional) sink: readers of the topic must use isolation.level=read_committed. Records
     * pass {@link BoundedRecordSerializer}, so none is refused by the topic for its size or timestamp.
     */
    public KafkaSink<OutRecord> sink(String topic, String transactionalSuffix, OutputLimits limits) {
        Properties props = clientProperties(conf.toMap());
        props.setProperty("transaction.timeout.ms",
                Long.toString(conf.get(EngramOptions.TRANSACTION_TIMEOUT).toMillis()));
        KafkaRecordSerializationSchema<OutRecord> schema = new BoundedRecordSerializer(topic, limits);
        return KafkaSink.<OutRecord>builder()
                .setBootstrapServers(bootstrapServers())
                .setRecordSerializer(schema)
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix(conf.get(EngramOptions.TRANSACTIONAL_ID_PREFIX) + "-" + transactionalSuffix)
                .setKafkaProducerConfig(props)
                .build();
    }
}
