package io.engram.job.local;

import java.time.Duration;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import java.util.stream.Collectors;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One in-process {@link EmbeddedKafkaBroker} per test class: started before all tests, closed after them (also when
 * a test fails). Register it as {@code @RegisterExtension static final EmbeddedKafkaExtension KAFKA = ...}.
 */
public final class EmbeddedKafkaExtension implements BeforeAllCallback, AfterAllCallback {
    private EmbeddedKafkaBroker broker;

    @Override
    public void beforeAll(ExtensionContext context) {
        broker = EmbeddedKafkaBroker.start();
    }

    @Override
    public void afterAll(ExtensionContext context) {
        if (broker != null) {
            broker.close();
            broker = null;
        }
    }

    /** The running broker (only between beforeAll and afterAll). */
    public EmbeddedKafkaBroker broker() {
        if (broker == null) {
            throw new IllegalStateException("the embedded Kafka broker is not running");
        }
        return broker;
    }

    /**
     * A consumer of every partition of {@code topic} from its beginning, without a consumer group, reading with the
     * given isolation level ({@code read_committed} or {@code read_uncommitted}). The caller closes it.
     */
    public static KafkaConsumer<byte[], byte[]> consumerFromStart(EmbeddedKafkaBroker kafka, String topic,
                                                                  String isolationLevel) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolationLevel);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p);
        List<TopicPartition> parts = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
                .map(pi -> new TopicPartition(topic, pi.partition())).toList();
        consumer.assign(parts);
        consumer.seekToBeginning(parts);
        return consumer;
    }

    /**
     * Every String value of {@code topic}, read from the beginning with the isolation level {@code isolation}: waits
     * up to 30 s for {@code expected} values, then one more second, so duplicates and leaked aborted records show up.
     */
    public static List<String> readAll(EmbeddedKafkaBroker broker, String topic, String isolation, int expected) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        List<String> values = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
            List<TopicPartition> tps = infos.stream()
                    .map(i -> new TopicPartition(topic, i.partition()))
                    .collect(Collectors.toList());
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (values.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    values.add(r.value());
                }
            }
            // Anything beyond the expected count (duplicates, leaked aborted records) must show up too.
            long grace = System.nanoTime() + Duration.ofSeconds(1).toNanos();
            while (System.nanoTime() < grace) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    values.add(r.value());
                }
            }
        }
        return values;
    }
}
