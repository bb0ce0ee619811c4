package io.engram.job.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.EngramJob;
import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.kernels.Kernels;
import io.engram.kernels.NativeLoadException;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.DecodeException;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Kafka, job and waiting helpers shared by the end-to-end tests. */
final class E2eSupport {
    private static final Logger LOG = LoggerFactory.getLogger(E2eSupport.class);

    static final int PARALLELISM = 2;
    static final int PARTITIONS = 2;
    /** Generous: a noisy 2-core machine runs a broker, a MiniCluster and RocksDB at once. */
    static final Duration WAIT = Duration.ofSeconds(120);

    private E2eSupport() {
    }

    /** The MiniCluster of the end-to-end tests: one TaskManager, {@link #PARALLELISM} slots, 64 MiB managed memory. */
    static MiniClusterExtension miniCluster() {
        return new MiniClusterExtension(new MiniClusterResourceConfiguration.Builder()
                .setNumberTaskManagers(1)
                .setNumberSlotsPerTaskManager(PARALLELISM)
                .setConfiguration(RecallEndToEndIT.clusterConfig(MemorySize.parse("64m")))
                .build());
    }

    /** The five topic names of one job. */
    record Topics(String events, String queries, String results, String deadLetters, String control) {
        static Topics defaults() {
            return new Topics(EngramOptions.TOPIC_MEMORY_EVENTS.defaultValue(),
                    EngramOptions.TOPIC_RECALL_QUERIES.defaultValue(),
                    EngramOptions.TOPIC_RECALL_RESULTS.defaultValue(),
                    EngramOptions.TOPIC_DEAD_LETTERS.defaultValue(), EngramOptions.TOPIC_CONTROL.defaultValue());
        }

        static Topics suffixed(String suffix) {
            Topics d = defaults();
            return new Topics(d.events + "." + suffix, d.queries + "." + suffix, d.results + "." + suffix,
                    d.deadLetters + "." + suffix, d.control + "." + suffix);
        }

        String[] all() {
            return new String[] {events, queries, results, deadLetters, control};
        }

        void create(EmbeddedKafkaBroker kafka) {
            kafka.createTopics(PARTITIONS, all());
        }
    }

    /** Model settings that match {@link #jobConfig}. */
    static ReferenceModel.Settings modelSettings() {
        return new ReferenceModel.Settings(3600f, 2.0f, 3 * 3600f, 2, 0.8f, 0.02f, 4, 1000, 16, 1000, 4096, 256,
                3600_000L);
    }

    /**
     * The job configuration of the tests: the given topics, kernel mode and state backend; event time limits and a
     * decay sweep interval so long that no sweep fires during a test; recall defaults that differ from the built-in
     * ones (and match {@link #modelSettings}), so the option plumbing is exercised too.
     */
    static Configuration jobConfig(EmbeddedKafkaBroker kafka, Topics topics, String mode, String backend,
                                   String jobName) {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        c.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(500));
        c.set(StateBackendOptions.STATE_BACKEND, backend);
        c.set(EngramOptions.KERNEL_MODE, mode);
        c.set(EngramOptions.BOOTSTRAP_SERVERS, kafka.bootstrapServers());
        c.set(EngramOptions.GROUP_ID, "e2e-" + jobName);
        c.set(EngramOptions.TRANSACTIONAL_ID_PREFIX, "e2e-" + jobName);
        c.set(EngramOptions.TRANSACTION_TIMEOUT, Duration.ofMinutes(5));
        if (!topics.equals(Topics.defaults())) {
            c.set(EngramOptions.TOPIC_MEMORY_EVENTS, topics.events());
            c.set(EngramOptions.TOPIC_RECALL_QUERIES, topics.queries());
            c.set(EngramOptions.TOPIC_RECALL_RESULTS, topics.results());
            c.set(EngramOptions.TOPIC_DEAD_LETTERS, topics.deadLetters());
            c.set(EngramOptions.TOPIC_CONTROL, topics.control());
        }
        c.set(EngramOptions.SWEEP_INTERVAL, Duration.ofDays(3650));
        ReferenceModel.Settings m = modelSettings();
        c.set(EngramOptions.DEFAULT_STABILITY, Duration.ofMillis((long) (m.defaultStabilityS() * 1000)));
        c.set(EngramOptions.REINFORCE_FACTOR, (double) m.reinforceFactor());
        c.set(EngramOptions.MAX_STABILITY, Duration.ofMillis((long) (m.maxStabilityS() * 1000)));
        c.set(EngramOptions.MAX_HOPS, m.maxHops());
        c.set(EngramOptions.HOP_DECAY, (double) m.hopDecay());
        c.set(EngramOptions.THRESHOLD, (double) m.threshold());
        c.set(EngramOptions.SEED_K, m.seedK());
        return c;
    }

    /** Builds the real job graph with EngramJob.build and submits it to the test MiniCluster. */
    static JobClient start(Configuration conf, String name) throws Exception {
        return start(conf, name, PARALLELISM);
    }

    /** {@link #start(Configuration, String)} with another parallelism (rescaling tests). */
    static JobClient start(Configuration conf, String name, int parallelism) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(parallelism);
        EngramJob.build(env, conf);
        JobClient client = env.executeAsync(name);
        LOG.info("started job {} ({})", name, client.getJobID());
        return client;
    }

    static void cancel(JobClient client) {
        if (client == null) {
            return;
        }
        try {
            JobStatus status = client.getJobStatus().get(30, TimeUnit.SECONDS);
            if (!status.isGloballyTerminalState()) {
                client.cancel().get(60, TimeUnit.SECONDS);
            }
            waitUntil(() -> terminal(client), Duration.ofSeconds(60), () -> "job " + client.getJobID()
                    + " to end after cancel", null);
        } catch (Exception e) {
            LOG.warn("could not cancel job {}: {}", client.getJobID(), e.toString());
        }
    }

    private static boolean terminal(JobClient client) {
        try {
            return client.getJobStatus().get(30, TimeUnit.SECONDS).isGloballyTerminalState();
        } catch (Exception e) {
            return true; // gone from the cluster
        }
    }

    /**
     * Waits until the job has ended and returns the failure that ended it, or fails the test if it is still
     * running after the timeout or ended without a failure.
     */
    static Throwable failureOf(JobClient client, Duration timeout) throws Exception {
        try {
            client.getJobExecutionResult().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            return e.getCause();
        } catch (java.util.concurrent.TimeoutException e) {
            throw new AssertionError("job " + client.getJobID() + " was expected to fail but still runs after "
                    + timeout + " (status " + client.getJobStatus().get() + ")");
        }
        throw new AssertionError("job " + client.getJobID() + " was expected to fail but finished");
    }

    /** The first throwable in the cause chain of type {@code type}, if any. */
    static <T extends Throwable> Optional<T> causeOf(Throwable t, Class<T> type) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (type.isInstance(c)) {
                return Optional.of(type.cast(c));
            }
        }
        return Optional.empty();
    }

    /** Every message of the cause chain, for assertions on what an operator would read. */
    static String messages(Throwable t) {
        StringBuilder sb = new StringBuilder();
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            sb.append(c.getClass().getName()).append(": ").append(c.getMessage()).append('\n');
        }
        return sb.toString();
    }

    /**
     * Whether the Zig library loads here. Empty: it does. Otherwise the reason, which must be that this is a
     * Java-only build: a default build whose library does not load is a failure, not a reason to skip.
     */
    static Optional<NativeLoadException> zigUnavailable() {
        Configuration c = new Configuration();
        c.set(EngramOptions.KERNEL_MODE, "zig");
        try {
            Kernels.status(new EngramSettings(c).kernelsConfig());
            return Optional.empty();
        } catch (NativeLoadException e) {
            assertThat(e.javaOnlyBuild())
                    .as("the Zig library must load unless this is a -Pjava-only build; it failed with: %s",
                            e.getMessage())
                    .isTrue();
            return Optional.of(e);
        }
    }

    // ----- Kafka ----------------------------------------------------------------------------------------------

    /** Where a produced record landed, with what it must become. */
    record Produced(Workload.Input input, String topic, int partition, long offset) {
    }

    static KafkaProducer<byte[], byte[]> producer(EmbeddedKafkaBroker kafka) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "1"); // keep the produced order per key
        return new KafkaProducer<>(p);
    }

    /** Produces the inputs in order (key = space UTF-8, value = Avro) and returns where each landed. */
    static List<Produced> produce(EmbeddedKafkaBroker kafka, String topic, List<Workload.Input> inputs)
            throws Exception {
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = producer(kafka)) {
            for (Workload.Input in : inputs) {
                sent.add(producer.send(new ProducerRecord<>(topic, in.key(), in.value())));
            }
            producer.flush();
            List<Produced> out = new ArrayList<>();
            for (int i = 0; i < inputs.size(); i++) {
                RecordMetadata md = sent.get(i).get(60, TimeUnit.SECONDS);
                out.add(new Produced(inputs.get(i), topic, md.partition(), md.offset()));
            }
            return out;
        }
    }

    /**
     * A read_committed reader of one topic from its beginning that keeps what it has read, so waiting for more
     * never re-reads. Assigns every partition (no consumer group).
     */
    static final class TopicReader implements AutoCloseable {
        final String topic;
        private final KafkaConsumer<byte[], byte[]> consumer;
        final List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();

        TopicReader(EmbeddedKafkaBroker kafka, String topic) {
            this.topic = topic;
            consumer = EmbeddedKafkaExtension.consumerFromStart(kafka, topic, "read_committed");
        }

        /** Polls once (up to 200 ms) and keeps what arrived. */
        void pollOnce() {
            consumer.poll(Duration.ofMillis(200)).forEach(records::add);
        }

        /**
         * Polls until the read position reaches the last stable offset of every partition: everything committed so
         * far has been read (a duplicate committed after the expected records would show up).
         */
        void drainCommitted() {
            Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment(), Duration.ofSeconds(30));
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (end.entrySet().stream().anyMatch(e -> consumer.position(e.getKey()) < e.getValue())) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("could not read " + topic + " up to " + end);
                }
                pollOnce();
            }
        }

        @Override
        public void close() {
            consumer.close(Duration.ofSeconds(5));
        }
    }

    static RecallResult result(ConsumerRecord<byte[], byte[]> r) {
        try {
            return AvroCodec.decodeRecallResult(r.value());
        } catch (DecodeException e) {
            throw new AssertionError("undecodable RecallResult at " + r.topic() + "-" + r.partition() + "@"
                    + r.offset(), e);
        }
    }

    static DeadLetter deadLetter(ConsumerRecord<byte[], byte[]> r) {
        try {
            return AvroCodec.decodeDeadLetter(r.value());
        } catch (DecodeException e) {
            throw new AssertionError("undecodable DeadLetter at " + r.topic() + "-" + r.partition() + "@"
                    + r.offset(), e);
        }
    }

    /** Dead letters by source coordinates "topic/partition/offset". */
    static Map<String, DeadLetter> deadLettersBySource(TopicReader reader) {
        Map<String, DeadLetter> out = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : reader.records) {
            DeadLetter dl = deadLetter(r);
            String at = dl.getSourceTopic() + "/" + dl.getSourcePartition() + "/" + dl.getSourceOffset();
            DeadLetter before = out.put(at, dl);
            assertThat(before).as("two dead letters for the record at %s", at).isNull();
        }
        return out;
    }

    static String at(Produced p) {
        return p.topic() + "/" + p.partition() + "/" + p.offset();
    }

    /**
     * The metrics of the job's vertex whose name contains {@code vertex} whose ids (SUBTASK.OPERATOR.NAME or
     * SUBTASK.NAME) end with {@code suffix}, id to value, as Flink's REST API reports them; empty if none is
     * registered yet.
     */
    static Map<String, String> vertexMetrics(MiniClusterExtension flink, JobClient job, String vertex, String suffix)
            throws Exception {
        Configuration c = flink.getClientConfiguration();
        String base = "http://" + c.get(org.apache.flink.configuration.RestOptions.ADDRESS) + ":"
                + c.get(org.apache.flink.configuration.RestOptions.PORT) + "/jobs/" + job.getJobID();
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        for (com.fasterxml.jackson.databind.JsonNode v : json.readTree(httpGet(base)).path("vertices")) {
            if (v.path("name").asText().contains(vertex)) {
                String metrics = base + "/vertices/" + v.path("id").asText() + "/metrics";
                List<String> ids = new ArrayList<>();
                for (com.fasterxml.jackson.databind.JsonNode m : json.readTree(httpGet(metrics))) {
                    if (m.path("id").asText().endsWith(suffix)) {
                        ids.add(m.path("id").asText());
                    }
                }
                Map<String, String> out = new java.util.TreeMap<>();
                if (!ids.isEmpty()) {
                    for (com.fasterxml.jackson.databind.JsonNode m : json.readTree(httpGet(metrics + "?get="
                            + java.net.URLEncoder.encode(String.join(",", ids), StandardCharsets.UTF_8)))) {
                        out.put(m.path("id").asText(), m.path("value").asText());
                    }
                }
                return out;
            }
        }
        throw new AssertionError("job " + job.getJobID() + " has no vertex named like '" + vertex + "'");
    }

    private static String httpGet(String url) throws Exception {
        java.net.http.HttpResponse<String> r = java.net.http.HttpClient.newHttpClient().send(
                java.net.http.HttpRequest.newBuilder(java.net.URI.create(url)).timeout(Duration.ofSeconds(10)).build(),
                java.net.http.HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
            throw new IllegalStateException("GET " + url + ": HTTP " + r.statusCode() + ": " + r.body());
        }
        return r.body();
    }

    /**
     * Polls {@code done} until it holds, failing with {@code what} after {@code timeout}, and failing at once if the
     * job (when given) has ended: a job that died must not be waited for.
     */
    static void waitUntil(BooleanSupplier done, Duration timeout, Supplier<String> what, JobClient job)
            throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        long nextJobCheck = 0;
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what.get());
            }
            if (job != null && System.nanoTime() > nextJobCheck) {
                nextJobCheck = System.nanoTime() + 1_000_000_000L;
                JobStatus status = job.getJobStatus().get(30, TimeUnit.SECONDS);
                if (status.isGloballyTerminalState()) {
                    String cause = "";
                    try {
                        job.getJobExecutionResult().get(30, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        cause = messages(e);
                    }
                    throw new AssertionError("job " + job.getJobID() + " ended (" + status + ") while waiting for "
                            + what.get() + "\n" + cause);
                }
            }
            Thread.sleep(50);
        }
    }

    /** Produces one query and waits for its answer (keeps everything else the reader sees). */
    static RecallResult ask(EmbeddedKafkaBroker kafka, Topics topics, TopicReader results, JobClient job,
                            RecallQuery q) throws Exception {
        produce(kafka, topics.queries(), List.of(new Workload.Input(Workload.Kind.QUERY,
                q.getSpace().getBytes(StandardCharsets.UTF_8), AvroCodec.encode(q), null, q.getQueryId())));
        RecallResult[] found = {null};
        int[] seen = {0};
        waitUntil(() -> {
            results.pollOnce();
            for (; seen[0] < results.records.size(); seen[0]++) {
                RecallResult res = result(results.records.get(seen[0]));
                if (res.getQueryId().equals(q.getQueryId())) {
                    found[0] = res;
                }
            }
            return found[0] != null;
        }, WAIT, () -> "the answer to " + q.getQueryId(), job);
        return found[0];
    }

    static Workload.Input eventInput(String space, String eventId, long ts, Object payload) {
        MemoryEvent e = MemoryEvent.newBuilder().setSpace(space).setEventId(eventId).setTimestampMs(ts)
                .setPayload(payload).build();
        return new Workload.Input(Workload.Kind.EVENT, space.getBytes(StandardCharsets.UTF_8), AvroCodec.encode(e),
                null, eventId);
    }

    static StoreMemory store(String id, float[] embedding, float stabilitySeconds) {
        return StoreMemory.newBuilder().setMemoryId(id).setEmbedding(Workload.toList(embedding)).setStrength(1f)
                .setStabilityS(stabilitySeconds).build();
    }

    static long ms(long fromNanos) {
        return (System.nanoTime() - fromNanos) / 1_000_000;
    }
}
