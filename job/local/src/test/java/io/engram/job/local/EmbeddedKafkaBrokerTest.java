package io.engram.job.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

@Timeout(180)
class EmbeddedKafkaBrokerTest {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafkaBrokerTest.class);

    @Test
    void transactionsAreVisibleToReadCommittedConsumersOnlyWhenCommitted() throws Exception {
        long t0 = System.nanoTime();
        EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start();
        long started = System.nanoTime();
        Path dataDir = broker.dataDir();
        int brokerPort = broker.brokerPort();
        int controllerPort = broker.controllerPort();
        try {
            assertThat(broker.bootstrapServers()).isEqualTo("127.0.0.1:" + brokerPort);
            assertThat(Files.isDirectory(dataDir)).isTrue();

            broker.createTopics(3, "tx-topic", "other-topic");
            broker.createTopics(3, "tx-topic"); // same partition count again: accepted
            assertThatThrownBy(() -> broker.createTopics(5, "tx-topic"))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("already exists with 3 partitions");
            long topicsCreated = System.nanoTime();

            List<String> committed = new ArrayList<>();
            List<String> aborted = new ArrayList<>();
            try (KafkaProducer<String, String> producer = transactionalProducer(broker, "engram-test-tx")) {
                producer.initTransactions();

                producer.beginTransaction();
                for (int i = 0; i < 10; i++) {
                    send(producer, "committed-a-" + i, committed);
                }
                producer.commitTransaction();

                producer.beginTransaction();
                for (int i = 0; i < 7; i++) {
                    send(producer, "aborted-" + i, aborted);
                }
                producer.flush(); // the aborted records really reach the log
                producer.abortTransaction();

                producer.beginTransaction();
                for (int i = 0; i < 5; i++) {
                    send(producer, "committed-b-" + i, committed);
                }
                producer.commitTransaction();
            }
            long produced = System.nanoTime();

            List<String> readCommitted = EmbeddedKafkaExtension.readAll(broker, "tx-topic", "read_committed", committed.size());
            List<String> readUncommitted =
                    EmbeddedKafkaExtension.readAll(broker, "tx-topic", "read_uncommitted", committed.size() + aborted.size());
            long consumed = System.nanoTime();

            assertThat(readCommitted).containsExactlyInAnyOrderElementsOf(committed);
            List<String> all = new ArrayList<>(committed);
            all.addAll(aborted);
            assertThat(readUncommitted).containsExactlyInAnyOrderElementsOf(all);

            LOG.info("timings: start {} ms, topics {} ms, produce {} ms, consume {} ms",
                    ms(t0, started), ms(started, topicsCreated), ms(topicsCreated, produced), ms(produced, consumed));
        } finally {
            long c0 = System.nanoTime();
            broker.close();
            LOG.info("timings: close {} ms", ms(c0, System.nanoTime()));
        }

        // close() is idempotent, releases both ports and deletes the data.
        broker.close();
        assertThat(broker.isClosed()).isTrue();
        assertThat(Files.exists(dataDir)).isFalse();
        assertPortFree(brokerPort);
        assertPortFree(controllerPort);
        assertThatThrownBy(() -> broker.createTopics(1, "after-close")).isInstanceOf(IllegalStateException.class);

        // A second broker starts in the same JVM afterwards.
        long t1 = System.nanoTime();
        try (EmbeddedKafkaBroker second = EmbeddedKafkaBroker.start()) {
            LOG.info("timings: second start {} ms", ms(t1, System.nanoTime()));
            second.createTopics(1, "tx-topic");
            try (KafkaProducer<String, String> producer = transactionalProducer(second, "engram-test-tx-2")) {
                producer.initTransactions();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>("tx-topic", "k", "hello")).get();
                producer.commitTransaction();
            }
            assertThat(EmbeddedKafkaExtension.readAll(second, "tx-topic", "read_committed", 1)).containsExactly("hello");
        }
    }

    @Test
    void placeholdersInExtraPropertiesAreReplacedAndBadConfigFailsClearly() {
        // A valid override using the port tokens.
        try (EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(Map.of(
                "advertised.listeners", "PLAINTEXT://127.0.0.1:" + EmbeddedKafkaBroker.BROKER_PORT_TOKEN,
                "log.retention.hours", "1"))) {
            broker.createTopics(1, "t");
        }

        // An invalid one: the start fails with a clear message and cause, and leaves nothing behind.
        assertThatThrownBy(() -> EmbeddedKafkaBroker.start(Map.of("num.io.threads", "-1")))
                .isInstanceOf(EmbeddedKafkaBroker.BrokerStartException.class)
                .hasMessageContaining("failed to start")
                .hasMessageContaining("num.io.threads")
                .hasCauseInstanceOf(Exception.class)
                .satisfies(e -> LOG.info("bad config fails with: {}", e.toString()));
    }

    @Test
    void persistentDataDirSurvivesARestartOnTheSamePorts(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("broker-data");
        List<String> committed = new ArrayList<>();
        int port;
        int controllerPort;
        String clusterId;
        EmbeddedKafkaBroker first = EmbeddedKafkaBroker.start(0, dir, Map.of());
        try {
            assertThat(first.isPersistent()).isTrue();
            port = first.brokerPort();
            controllerPort = first.controllerPort();
            clusterId = first.clusterId();
            first.createTopics(2, "tx-topic");
            try (KafkaProducer<String, String> producer = transactionalProducer(first, "engram-test-persist")) {
                producer.initTransactions();
                producer.beginTransaction();
                for (int i = 0; i < 20; i++) {
                    send(producer, "kept-" + i, committed);
                }
                producer.commitTransaction();
                producer.beginTransaction();
                producer.send(new ProducerRecord<>("tx-topic", "aborted", "aborted"));
                producer.flush();
                producer.abortTransaction();
            }
        } finally {
            first.close();
        }
        assertThat(Files.exists(dir.resolve(EmbeddedKafkaBroker.IDENTITY_FILE))).isTrue();
        assertThat(Files.exists(dir.resolve("data").resolve("meta.properties"))).isTrue();

        // Same directory: same cluster, same ports, same topics and committed records; a different port is refused.
        assertThatThrownBy(() -> EmbeddedKafkaBroker.start(port == 65000 ? 65001 : 65000, dir, Map.of()))
                .isInstanceOf(EmbeddedKafkaBroker.BrokerStartException.class)
                .hasMessageContaining("belongs to a broker on port " + port);
        EmbeddedKafkaBroker second = EmbeddedKafkaBroker.start(0, dir, Map.of());
        try {
            assertThat(second.brokerPort()).isEqualTo(port);
            assertThat(second.controllerPort()).isEqualTo(controllerPort);
            assertThat(second.clusterId()).isEqualTo(clusterId);
            second.createTopics(2, "tx-topic"); // exists with 2 partitions: accepted
            assertThat(EmbeddedKafkaExtension.readAll(second, "tx-topic", "read_committed", committed.size()))
                    .containsExactlyInAnyOrderElementsOf(committed);
        } finally {
            second.close();
        }
        assertThat(Files.exists(dir.resolve("data").resolve("meta.properties"))).isTrue();
    }

    private static void send(KafkaProducer<String, String> producer, String value, List<String> sink) {
        producer.send(new ProducerRecord<>("tx-topic", value, value));
        sink.add(value);
    }

    static KafkaProducer<String, String> transactionalProducer(EmbeddedKafkaBroker broker, String txId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txId);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, "60000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    /** Reads the whole topic from the beginning, until {@code expected} records or 30 s, then 1 s more. */

    private static void assertPortFree(int port) throws Exception {
        try (ServerSocket s = new ServerSocket(port, 50, InetAddress.getByName("127.0.0.1"))) {
            assertThat(s.getLocalPort()).isEqualTo(port);
        }
    }

    private static long ms(long from, long to) {
        return (to - from) / 1_000_000;
    }
}
