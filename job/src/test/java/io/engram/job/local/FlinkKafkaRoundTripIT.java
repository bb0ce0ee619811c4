package io.engram.job.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Proves the stack end to end on this machine: Flink 2.2.1 MiniCluster + flink-connector-kafka 5.0.0-2.2 +
 * kafka-clients 4.2.2 against the in-process Kafka 4.2.2 broker. A bounded KafkaSource feeds an EXACTLY_ONCE
 * KafkaSink with checkpointing on; a read_committed consumer must then see every input exactly once.
 */
@Timeout(300)
class FlinkKafkaRoundTripIT {

    private static final Logger LOG = LoggerFactory.getLogger(FlinkKafkaRoundTripIT.class);

    private static final int RECORDS = 2_000;
    private static final int PARALLELISM = 2;

    /** A failing job must fail the test, not restart forever (the default once checkpointing is on). */
    private static Configuration clusterConfig() {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        return c;
    }

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(PARALLELISM)
                    .setConfiguration(clusterConfig())
                    .build());

    private static EmbeddedKafkaBroker kafka;

    @BeforeAll
    static void startKafka() {
        kafka = EmbeddedKafkaBroker.start();
    }

    @AfterAll
    static void stopKafka() {
        if (kafka != null) {
            kafka.close();
        }
    }

    @Test
    void exactlyOnceRoundTrip() throws Exception {
        String in = "rt-in";
        String out = "rt-out";
        kafka.createTopics(3, in, out);

        List<String> expected = new ArrayList<>();
        long t0 = System.nanoTime();
        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(pp)) {
            for (int i = 0; i < RECORDS; i++) {
                String v = "event-" + i;
                producer.send(new ProducerRecord<>(in, v, v));
                expected.add("OUT:" + v);
            }
            producer.flush();
        }
        long produced = System.nanoTime();

        Configuration jobConf = new Configuration();
        jobConf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        jobConf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(500));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(jobConf);
        env.setParallelism(PARALLELISM);

        KafkaSource<byte[]> source = KafkaSource.<byte[]>builder()
                .setBootstrapServers(kafka.bootstrapServers())
                .setTopics(in)
                .setGroupId("rt-" + UUID.randomUUID())
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setBounded(OffsetsInitializer.latest())
                .setDeserializer(KafkaRecordDeserializationSchema.valueOnly(ByteArrayDeserializer.class))
                .build();

        Properties sinkProps = new Properties();
        // Must not exceed the broker's transaction.max.timeout.ms.
        sinkProps.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "120000");
        assertThat(120_000L).isLessThanOrEqualTo(EmbeddedKafkaBroker.TRANSACTION_MAX_TIMEOUT_MS);

        KafkaSink<byte[]> sink = KafkaSink.<byte[]>builder()
                .setBootstrapServers(kafka.bootstrapServers())
                .setRecordSerializer(KafkaRecordSerializationSchema.<byte[]>builder()
                        .setTopic(out)
                        .setValueSerializationSchema(new BytesSchema())
                        .build())
                .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
                .setTransactionalIdPrefix("engram-rt-" + UUID.randomUUID())
                .setKafkaProducerConfig(sinkProps)
                .build();

        DataStream<byte[]> mapped = env
                .fromSource(source, WatermarkStrategy.noWatermarks(), "kafka-in")
                .map(b -> ("OUT:" + new String(b, StandardCharsets.UTF_8)).getBytes(StandardCharsets.UTF_8))
                .returns(PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO)
                .name("prefix");
        mapped.sinkTo(sink).name("kafka-out");

        env.execute("engram-kafka-round-trip");
        long executed = System.nanoTime();

        List<String> got = EmbeddedKafkaExtension.readAll(kafka, out, "read_committed", RECORDS);
        long verified = System.nanoTime();

        assertThat(got).hasSize(RECORDS).containsExactlyInAnyOrderElementsOf(expected);
        LOG.info("round trip of {} records: produce {} ms, Flink job (submit..finish) {} ms, verify {} ms",
                RECORDS, ms(t0, produced), ms(produced, executed), ms(executed, verified));
    }

    /**
     * Identity value schema. Must be a named class, not a lambda: the connector's builder extracts the type
     * argument reflectively and fails on lambdas ("types ... could not be inferred").
     */
    static final class BytesSchema implements SerializationSchema<byte[]> {
        private static final long serialVersionUID = 1L;

        @Override
        public byte[] serialize(byte[] element) {
            return element;
        }
    }

    private static long ms(long from, long to) {
        return (to - from) / 1_000_000;
    }
}
