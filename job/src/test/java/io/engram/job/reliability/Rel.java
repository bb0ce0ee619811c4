package io.engram.job.reliability;

import io.engram.job.EngramJob;
import io.engram.job.config.EngramOptions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/** Small Kafka/Flink helpers for the reliability tests (the e2e ones are package-private there). */
final class Rel {
    static final Duration WAIT = Duration.ofSeconds(180);
    static final int PARALLELISM = 2;

    /** The MiniCluster of the reliability tests: one TaskManager with {@link #PARALLELISM} slots. */
    static MiniClusterExtension miniCluster() {
        return new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
                .setNumberTaskManagers(1)
                .setNumberSlotsPerTaskManager(PARALLELISM)
                .build());
    }

    private Rel() {
    }

    /** Five topic names with a suffix. */
    record Topics(String events, String queries, String results, String deadLetters, String control) {
        static Topics suffixed(String s) {
            return new Topics(EngramOptions.TOPIC_MEMORY_EVENTS.defaultValue() + "." + s,
                    EngramOptions.TOPIC_RECALL_QUERIES.defaultValue() + "." + s,
                    EngramOptions.TOPIC_RECALL_RESULTS.defaultValue() + "." + s,
                    EngramOptions.TOPIC_DEAD_LETTERS.defaultValue() + "." + s,
                    EngramOptions.TOPIC_CONTROL.defaultValue() + "." + s);
        }

        String[] all() {
            return new String[] {events, queries, results, deadLetters, control};
        }
    }

    static Configuration jobConfig(String bootstrap, Topics t, String name) {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        c.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(500));
        c.set(StateBackendOptions.STATE_BACKEND, "hashmap");
        c.set(EngramOptions.KERNEL_MODE, "java");
        c.set(EngramOptions.BOOTSTRAP_SERVERS, bootstrap);
        c.set(EngramOptions.GROUP_ID, "rel-" + name);
        c.set(EngramOptions.TRANSACTIONAL_ID_PREFIX, "rel-" + name);
        c.set(EngramOptions.TRANSACTION_TIMEOUT, Duration.ofMinutes(5));
        c.set(EngramOptions.TOPIC_MEMORY_EVENTS, t.events());
        c.set(EngramOptions.TOPIC_RECALL_QUERIES, t.queries());
        c.set(EngramOptions.TOPIC_RECALL_RESULTS, t.results());
        c.set(EngramOptions.TOPIC_DEAD_LETTERS, t.deadLetters());
        c.set(EngramOptions.TOPIC_CONTROL, t.control());
        c.set(EngramOptions.SWEEP_INTERVAL, Duration.ofDays(3650));
        return c;
    }

    static JobClient start(Configuration conf, String name) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(PARALLELISM);
        EngramJob.build(env, conf);
        return env.executeAsync(name);
    }

    static void cancel(JobClient client) {
        if (client == null) {
            return;
        }
        try {
            if (!client.getJobStatus().get(30, TimeUnit.SECONDS).isGloballyTerminalState()) {
                client.cancel().get(60, TimeUnit.SECONDS);
            }
        } catch (Exception ignored) {
            // best effort
        }
    }

    static Properties clientProps(String bootstrap, Map<String, String> extra) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.putAll(extra);
        return p;
    }

    static KafkaProducer<byte[], byte[]> producer(String bootstrap, Map<String, String> extra) {
        Properties p = clientProps(bootstrap, extra);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "1");
        return new KafkaProducer<>(p);
    }

    /** A reader of one topic from the beginning (read_committed unless {@code extra} says otherwise), keeping what it read. */
    static final class Reader implements AutoCloseable {
        private final KafkaConsumer<byte[], byte[]> consumer;
        final List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();

        Reader(String bootstrap, String topic, Map<String, String> extra) {
            Properties p = clientProps(bootstrap, extra);
            p.putIfAbsent(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            consumer = new KafkaConsumer<>(p);
            List<TopicPartition> parts = consumer.partitionsFor(topic, Duration.ofSeconds(60)).stream()
                    .map(pi -> new TopicPartition(topic, pi.partition())).collect(Collectors.toList());
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
        }

        void pollOnce() {
            consumer.poll(Duration.ofMillis(200)).forEach(records::add);
        }

        /** Reads up to the last stable offset of every partition. */
        void drainCommitted() {
            Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment(), Duration.ofSeconds(60));
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (end.entrySet().stream().anyMatch(e -> consumer.position(e.getKey()) < e.getValue())) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("could not read up to " + end);
                }
                pollOnce();
            }
        }

        @Override
        public void close() {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    /** Polls until done; fails on timeout or if the job (if given) ended. */
    static void waitUntil(BooleanSupplier done, Duration timeout, Supplier<String> what, JobClient job)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what.get());
            }
            if (job != null) {
                JobStatus st = job.getJobStatus().get(30, TimeUnit.SECONDS);
                if (st.isGloballyTerminalState()) {
                    String cause = "";
                    try {
                        job.getJobExecutionResult().get(30, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        cause = messages(e);
                    }
                    throw new AssertionError("job ended (" + st + ") while waiting for " + what.get() + "\n" + cause);
                }
            }
            Thread.sleep(100);
        }
    }

    static String messages(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            sb.append(c.getClass().getName()).append(": ").append(c.getMessage()).append('\n');
        }
        return sb.toString();
    }
}
