package io.engram.job.monitoring;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.EngramJob;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.kernels.Kernel;
import io.engram.kernels.KernelMode;
import io.engram.kernels.Kernels;
import io.engram.kernels.KernelsConfig;
import io.engram.schemas.Associate;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The monitoring material names real metrics: runs the real job ({@link EngramJob#build}) on a MiniCluster with
 * Flink's Prometheus reporter, feeds it memory events, recall queries and one undecodable record through a real
 * (in-process) Kafka broker, waits for the recall results, scrapes {@code http://127.0.0.1:<port>/metrics} and
 * asserts that every metric name used by deploy/prometheus/alerts.yaml, by deploy/grafana/engram-dashboard.json and
 * listed in deploy/prometheus/exported-metrics.txt is exported, with the labels the rules rely on.
 *
 * <p>Runs the Zig kernels when the native library loads in this JVM, the Java kernels otherwise (-Pjava-only).
 * The scraped engram/checkpoint names are written to target/scraped-metrics.txt.
 */
@Timeout(300)
class MetricsScrapeIT {
    private static final Logger LOG = LoggerFactory.getLogger(MetricsScrapeIT.class);

    private static final int PARALLELISM = 2;
    private static final int PORTS = 10;
    private static final int DIM = 8;
    private static final List<String> SPACES = List.of("alpha-space", "beta-space", "gamma-space");
    private static final int MEMORIES_PER_SPACE = 5;
    private static final int QUERIES_PER_SPACE = 2;
    /** 1 when this JVM can load the native library: then the job runs zig, as in production. */
    private static final String MODE = Kernels.status(KernelsConfig.of(KernelMode.AUTO)).activeMode().label();
    private static final int PORT_BASE = freePortBase();

    private static final String ENGRAM = "flink_taskmanager_job_task_operator_engram_";
    /** name{labels} value, as in the Prometheus text format (Flink's reporter writes no timestamps). */
    private static final Pattern SAMPLE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})?\\s+(\\S+)$");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    private static Configuration clusterConfig() {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        c.setString("metrics.reporter.prom.factory.class",
                "org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
        c.setString("metrics.reporter.prom.port", PORT_BASE + "-" + (PORT_BASE + PORTS - 1));
        // Room for the native arenas (2 MiB per slot by default), which come out of the slots' managed memory.
        c.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.ofMebiBytes(64));
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
    void runningJobExportsEveryMetricTheAlertsAndDashboardUse() throws Exception {
        long t0 = System.nanoTime();
        String prefix = "scrape-" + UUID.randomUUID().toString().substring(0, 8);
        String events = prefix + ".memory-events";
        String queries = prefix + ".recall-queries";
        String results = prefix + ".recall-results";
        String deadLetters = prefix + ".dead-letters";
        String control = prefix + ".control";
        kafka.createTopics(PARALLELISM, events, queries, results, deadLetters, control);

        Configuration conf = new Configuration();
        conf.setString("engram.kafka.bootstrap-servers", kafka.bootstrapServers());
        conf.setString("engram.kafka.group-id", prefix);
        conf.setString("engram.kafka.transactional-id-prefix", prefix);
        conf.setString("engram.kafka.transaction-timeout", "2 min");
        conf.setString("engram.topics.memory-events", events);
        conf.setString("engram.topics.recall-queries", queries);
        conf.setString("engram.topics.recall-results", results);
        conf.setString("engram.topics.dead-letters", deadLetters);
        conf.setString("engram.topics.control", control);
        conf.setString("engram.kernels.mode", MODE);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(500));

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(PARALLELISM);
        EngramJob.build(env, conf);
        String jobName = "engram-scrape-" + prefix;
        // Flink's reporter replaces every character outside [a-zA-Z0-9_:] in label values with '_'.
        String jobLabel = jobName.replaceAll("[^a-zA-Z0-9_:]", "_");
        JobClient job = env.executeAsync(jobName);
        long submitted = System.nanoTime();
        try {
            int port = findReporterPort(jobLabel);
            LOG.info("engram job {} ({} kernels) reports on port {}", job.getJobID(), MODE, port);

            long now = System.currentTimeMillis() - 1_000;
            try (KafkaProducer<byte[], byte[]> producer = producer()) {
                for (String space : SPACES) {
                    for (int i = 0; i < MEMORIES_PER_SPACE; i++) {
                        send(producer, events, space, AvroCodec.encode(store(space, "m" + i, now + i, i)));
                    }
                    send(producer, events, space, AvroCodec.encode(MemoryEvent.newBuilder().setSpace(space)
                            .setEventId(space + "-assoc").setTimestampMs(now + 100)
                            .setPayload(Associate.newBuilder().setFromId("m0").setToId("m1").setWeight(0.8f)
                                    .setBidirectional(true).build())
                            .build()));
                    // The same event id again: counted as a duplicate, changes nothing.
                    send(producer, events, space, AvroCodec.encode(store(space, "m0", now, 0)));
                }
                // Not Avro single-object encoding: a dead letter with reason BAD_HEADER.
                send(producer, events, SPACES.get(0), "definitely not avro".getBytes(StandardCharsets.UTF_8));
                producer.flush();
            }

            int memories = SPACES.size() * MEMORIES_PER_SPACE;
            Map<String, List<Sample>> scrape = awaitScrape(port, s -> sum(s, ENGRAM + "memories") >= memories,
                    "all " + memories + " memories applied");

            try (KafkaProducer<byte[], byte[]> producer = producer()) {
                for (String space : SPACES) {
                    for (int q = 0; q < QUERIES_PER_SPACE; q++) {
                        send(producer, queries, space, AvroCodec.encode(RecallQuery.newBuilder()
                                .setQueryId(space + "-q" + q).setSpace(space).setTimestampMs(now + 1_000 + q)
                                .setCue(embedding(q)).setK(3).setMaxHops(2).build()));
                    }
                }
                producer.flush();
            }
            int expectedResults = SPACES.size() * QUERIES_PER_SPACE;
            List<RecallResult> got = readResults(results, expectedResults);
            long answered = System.nanoTime();
            assertThat(got).hasSize(expectedResults);
            assertThat(got).allSatisfy(r -> {
                assertThat(r.getHits()).isNotEmpty();
                assertThat(r.getKernelMode()).isEqualTo(MODE);
            });

            scrape = awaitScrape(port,
                    s -> sum(s, ENGRAM + "mode_recalls") >= expectedResults
                            && sum(s, "flink_jobmanager_job_numberOfCompletedCheckpoints") >= 1,
                    "recalls counted and a checkpoint completed");
            long scraped = System.nanoTime();

            SortedSet<String> names = new TreeSet<>(scrape.keySet());
            writeNames(names);

            // 1. Every name the monitoring material uses is really exported.
            SortedSet<String> alertNames = MonitoringArtifacts.metricNames(MonitoringArtifacts.alertExpressions());
            SortedSet<String> dashboardNames =
                    MonitoringArtifacts.metricNames(MonitoringArtifacts.dashboardExpressions());
            SortedSet<String> catalogue = MonitoringArtifacts.catalogue();
            LOG.info("alerts use {}", alertNames);
            LOG.info("dashboard uses {}", dashboardNames);
            assertThat(alertNames).as("metric names in %s", MonitoringArtifacts.alertRules()).isNotEmpty();
            assertThat(dashboardNames).as("metric names in %s", MonitoringArtifacts.dashboard()).isNotEmpty();
            assertThat(names).as("scraped names vs deploy/prometheus/alerts.yaml").containsAll(alertNames);
            assertThat(names).as("scraped names vs deploy/grafana/engram-dashboard.json").containsAll(dashboardNames);
            assertThat(names).as("scraped names vs deploy/prometheus/exported-metrics.txt").containsAll(catalogue);
            SortedSet<String> uncatalogued = names.stream().filter(n -> n.startsWith(ENGRAM))
                    .filter(n -> !catalogue.contains(n)).collect(Collectors.toCollection(TreeSet::new));
            if (!uncatalogued.isEmpty()) {
                LOG.warn("exported engram metrics missing from deploy/prometheus/exported-metrics.txt: {}",
                        uncatalogued);
            }

            // 2. The labels the rules and panels group by are there, with the values they match on.
            List<String> kernels = new ArrayList<>();
            for (Kernel k : Kernel.values()) {
                kernels.add(k.label());
            }
            kernels.add("cosineTopK");
            for (String kernel : kernels) {
                for (String mode : new String[] {"zig", "java"}) {
                    assertThat(scrape.get(ENGRAM + "kernel_mode_calls"))
                            .anyMatch(s -> kernel.equals(s.labels.get("kernel")) && mode.equals(s.labels.get("mode"))
                                    && s.labels.containsKey("subtask_index") && s.labels.containsKey("job_name"));
                    assertThat(scrape.get(ENGRAM + "kernel_mode_latencyNs"))
                            .anyMatch(s -> kernel.equals(s.labels.get("kernel")) && mode.equals(s.labels.get("mode"))
                                    && "0.99".equals(s.labels.get("quantile")));
                }
            }
            assertThat(sum(scrape, ENGRAM + "kernel_mode_calls", "mode", MODE)).isPositive();
            assertThat(sum(scrape, ENGRAM + "mode_recalls", "mode", MODE)).isEqualTo(expectedResults);
            assertThat(scrape.get(ENGRAM + "kernelMode")).hasSize(PARALLELISM)
                    .allMatch(s -> s.value == ("zig".equals(MODE) ? 1 : 0));
            assertThat(sum(scrape, ENGRAM + "reason_deadLetters", "reason", "BAD_HEADER")).isEqualTo(1);
            assertThat(sum(scrape, ENGRAM + "duplicateEvents")).isEqualTo(SPACES.size());
            assertThat(sum(scrape, ENGRAM + "edges")).isEqualTo(2.0 * SPACES.size());
            assertThat(scrape.get(ENGRAM + "recallLatencyUs"))
                    .anyMatch(s -> "0.99".equals(s.labels.get("quantile")));
            // Recall batching (on by default): every answer went through a batch, counted once by cause.
            assertThat(sum(scrape, ENGRAM + "recallBatchWaitUs_count")).isEqualTo(expectedResults);
            assertThat(sum(scrape, ENGRAM + "recallBatchSize_count")).isPositive()
                    .isEqualTo(sum(scrape, ENGRAM + "flush_recallBatches"));
            assertThat(scrape.get(ENGRAM + "arena_capacityBytes")).hasSize(PARALLELISM);
            if ("zig".equals(MODE)) {
                assertThat(scrape.get(ENGRAM + "arena_capacityBytes")).allMatch(s -> s.value > 0);
            }
            // Checkpoints complete. Flink counts each trigger that found tasks still deploying as a failed
            // checkpoint (several per start with a 500 ms interval): why EngramCheckpointsFailing ignores the first
            // 20 minutes of runningTime.
            assertThat(scrape.get("flink_jobmanager_job_numberOfCompletedCheckpoints"))
                    .allMatch(s -> jobLabel.equals(s.labels.get("job_name")) && s.value >= 1);
            LOG.info("checkpoints: {} completed, {} failed (triggers during start-up)",
                    sum(scrape, "flink_jobmanager_job_numberOfCompletedCheckpoints"),
                    sum(scrape, "flink_jobmanager_job_numberOfFailedCheckpoints"));
            assertThat(scrape.get("flink_jobmanager_job_runningTime")).allMatch(s -> s.value > 0);

            LOG.info("scrape IT ({} kernels): submit {} ms, results after {} ms, scraped after {} ms, total {} ms",
                    MODE, ms(t0, submitted), ms(submitted, answered), ms(answered, scraped), ms(t0, scraped));
        } finally {
            job.cancel().get();
        }
    }

    // ----- Prometheus endpoint -----------------------------------------------------------------------------------

    record Sample(String name, Map<String, String> labels, double value) {
    }

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    /** The reporter takes the first free port of the range; ours is the one that reports our job. */
    private static int findReporterPort(String jobLabel) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            for (int port = PORT_BASE; port < PORT_BASE + PORTS; port++) {
                String body = fetch(port);
                if (body != null && body.contains("job_name=\"" + jobLabel + "\"")) {
                    return port;
                }
            }
            Thread.sleep(250);
        }
        StringBuilder seen = new StringBuilder();
        for (int port = PORT_BASE; port < PORT_BASE + PORTS; port++) {
            String body = fetch(port);
            if (body != null) {
                seen.append("\n  port ").append(port).append(": ").append(body.lines()
                        .filter(l -> l.contains("job_name=")).findFirst().orElse("(no job metrics)"));
            }
        }
        throw new AssertionError("no Prometheus endpoint on 127.0.0.1:" + PORT_BASE + "-" + (PORT_BASE + PORTS - 1)
                + " reports job " + jobLabel + "; endpoints seen:" + (seen.length() == 0 ? " none" : seen));
    }

    private static String fetch(int port) {
        try {
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                    .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? r.body() : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    static Map<String, List<Sample>> parse(String body) {
        Map<String, List<Sample>> out = new LinkedHashMap<>();
        for (String line : body.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Matcher m = SAMPLE.matcher(line.strip());
            if (!m.matches()) {
                throw new AssertionError("not a Prometheus sample line: " + line);
            }
            Map<String, String> labels = new LinkedHashMap<>();
            if (m.group(3) != null) {
                Matcher l = LABEL.matcher(m.group(3));
                while (l.find()) {
                    labels.put(l.group(1), l.group(2));
                }
            }
            out.computeIfAbsent(m.group(1), k -> new ArrayList<>())
                    .add(new Sample(m.group(1), labels, Double.parseDouble(m.group(4))));
        }
        return out;
    }

    private static Map<String, List<Sample>> awaitScrape(int port, Predicate<Map<String, List<Sample>>> ready,
            String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        Map<String, List<Sample>> last = Map.of();
        while (System.nanoTime() < deadline) {
            String body = fetch(port);
            if (body != null) {
                last = parse(body);
                if (ready.test(last)) {
                    return last;
                }
            }
            Thread.sleep(250);
        }
        throw new AssertionError("timed out waiting for: " + what + "; last scrape had "
                + last.keySet().stream().filter(n -> n.contains("engram")).collect(Collectors.toList()));
    }

    private static double sum(Map<String, List<Sample>> scrape, String name) {
        return scrape.getOrDefault(name, List.of()).stream().mapToDouble(Sample::value).sum();
    }

    private static double sum(Map<String, List<Sample>> scrape, String name, String label, String value) {
        return scrape.getOrDefault(name, List.of()).stream().filter(s -> value.equals(s.labels.get(label)))
                .mapToDouble(Sample::value).sum();
    }

    private static void writeNames(SortedSet<String> names) throws IOException {
        List<String> relevant = names.stream()
                .filter(n -> n.contains("_engram_") || n.startsWith("flink_jobmanager_job_"))
                .collect(Collectors.toList());
        Path out = Paths.get("target", "scraped-metrics.txt");
        Files.createDirectories(out.getParent());
        Files.write(out, relevant, StandardCharsets.UTF_8);
        LOG.info("{} engram/job metric names scraped (all in {}):\n{}", relevant.size(), out.toAbsolutePath(),
                String.join("\n", relevant));
    }

    // ----- Kafka -------------------------------------------------------------------------------------------------

    private static KafkaProducer<byte[], byte[]> producer() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    private static void send(KafkaProducer<byte[], byte[]> producer, String topic, String space, byte[] value) {
        producer.send(new ProducerRecord<>(topic, space.getBytes(StandardCharsets.UTF_8), value));
    }

    private static List<RecallResult> readResults(String topic, int expected) throws Exception {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        List<RecallResult> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = consumer.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).collect(Collectors.toList());
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            while (out.size() < expected && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    out.add(AvroCodec.decodeRecallResult(r.value()));
                }
            }
        }
        return out;
    }

    // ----- records -----------------------------------------------------------------------------------------------

    private static MemoryEvent store(String space, String memoryId, long ts, int seed) {
        return MemoryEvent.newBuilder().setSpace(space).setEventId(space + "-store-" + memoryId).setTimestampMs(ts)
                .setPayload(StoreMemory.newBuilder().setMemoryId(memoryId).setEmbedding(embedding(seed)).build())
                .build();
    }

    private static List<Float> embedding(int seed) {
        List<Float> v = new ArrayList<>(DIM);
        for (int i = 0; i < DIM; i++) {
            v.add((float) Math.sin(seed * 1.7 + i * 0.9) + 1.1f);
        }
        return v;
    }

    private static int freePortBase() {
        // A base from the kernel's ephemeral range, free right now; the reporter takes the first free port of it.
        for (int attempt = 0; attempt < 20; attempt++) {
            int base;
            try (ServerSocket s = new ServerSocket(0)) {
                base = s.getLocalPort();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
            if (base + PORTS < 65535) {
                return base;
            }
        }
        throw new IllegalStateException("no free port range found");
    }

    private static long ms(long from, long to) {
        return (to - from) / 1_000_000;
    }
}
