package io.engram.job.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.engram.job.cli.EngramCli;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.client.program.rest.RestClusterClient;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.InjectClusterClient;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Property;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Kafka client secrets never leave the process: not on Flink's REST API (what the web UI shows), not in the logs.
 * Flink masks only keys it knows (password, secret, token, jaas.config, ...); engram.kafka.properties.ssl.keystore.key
 * was shown as typed. Both ways of running the job are read over real REST endpoints: {@code engram run} (its own
 * MiniCluster with REST) and a job submitted to a cluster with the secrets in its configuration, as {@code flink run
 * -D} does. A secret given through a file (Kafka's config providers) is used by the job and appears nowhere either.
 */
class SecretMaskingIT {
    private static final Logger LOG = LoggerFactory.getLogger(SecretMaskingIT.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String MARK = "sekret-" + UUID.randomUUID();
    private static final List<String> CAPTURED = Collections.synchronizedList(new ArrayList<>());
    private static AbstractAppender appender;
    private static final List<String> RAISED = new ArrayList<>();

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(Rel.PARALLELISM)
                    .build());

    private static EmbeddedKafkaBroker kafka;

    @BeforeAll
    static void start() {
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        appender = new AbstractAppender("secret-capture", null, null, true, Property.EMPTY_ARRAY) {
            @Override
            public void append(LogEvent e) {
                CAPTURED.add(e.getLoggerName() + " " + e.getMessage().getFormattedMessage()
                        + (e.getThrown() == null ? "" : " " + e.getThrown()));
            }
        };
        appender.start();
        org.apache.logging.log4j.core.config.Configuration cfg = ctx.getConfiguration();
        cfg.addAppender(appender);
        cfg.getRootLogger().addAppender(appender, Level.ALL, null);
        // Flink and the Kafka clients' configuration dumps at INFO, into the capture only (not the console)
        for (String name : List.of("org.apache.flink.runtime", "org.apache.flink.configuration",
                "org.apache.flink.client", "org.apache.flink.streaming", "org.apache.flink.connector",
                "org.apache.kafka.common.config")) {
            org.apache.logging.log4j.core.config.LoggerConfig lc =
                    new org.apache.logging.log4j.core.config.LoggerConfig(name, Level.INFO, false);
            lc.addAppender(appender, Level.ALL, null);
            cfg.addLogger(name, lc);
            RAISED.add(name);
        }
        ctx.updateLoggers();
        kafka = EmbeddedKafkaBroker.start();
    }

    @AfterAll
    static void stop() {
        if (kafka != null) {
            kafka.close();
        }
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        ctx.getConfiguration().getRootLogger().removeAppender(appender.getName());
        RAISED.forEach(ctx.getConfiguration()::removeLogger);
        ctx.updateLoggers();
    }

    /** Every Kafka client key of type PASSWORD that Flink does not mask by name, with a marked value. */
    private static Map<String, String> secrets(String tag) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("engram.kafka.properties.ssl.keystore.key", MARK + "-" + tag + "-keystore-key");
        m.put("engram.kafka.properties.ssl.truststore.certificates", MARK + "-" + tag + "-truststore-certs");
        m.put("engram.kafka.properties.ssl.keystore.certificate.chain", MARK + "-" + tag + "-chain");
        m.put("engram.kafka.properties.sasl.jaas.config", MARK + "-" + tag + "-jaas"); // masked by Flink already
        return m;
    }

    /** The REST endpoints that show configuration or environment, for the cluster and the job. */
    static List<String> endpoints(String jobId) {
        return List.of("config", "jobmanager/config", "jobmanager/environment", "jobs/overview", "taskmanagers",
                "jobs/" + jobId, "jobs/" + jobId + "/config", "jobs/" + jobId + "/jobmanager/config",
                "jobs/" + jobId + "/jobmanager/environment", "jobs/" + jobId + "/plan");
    }

    /** GETs every endpoint; returns endpoint -> body, asserting each answered. */
    static Map<String, String> read(URI base, String jobId) throws Exception {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        Map<String, String> bodies = new LinkedHashMap<>();
        List<String> paths = new ArrayList<>(endpoints(jobId));
        JsonNode tms = JSON.readTree(get(http, base.resolve("taskmanagers")));
        for (JsonNode tm : tms.get("taskmanagers")) {
            paths.add("taskmanagers/" + tm.get("id").asText());
        }
        for (String p : paths) {
            bodies.put(p, get(http, base.resolve(p)));
        }
        return bodies;
    }

    private static String get(HttpClient http, URI uri) throws Exception {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as("GET %s: %s", uri, r.body()).isEqualTo(200);
        return r.body();
    }

    private static void assertNoSecret(Map<String, String> bodies, String where) {
        for (Map.Entry<String, String> e : bodies.entrySet()) {
            assertThat(e.getValue()).as("%s: GET /%s", where, e.getKey()).doesNotContain(MARK);
        }
    }

    @Test
    void engramRunShowsNoKafkaClientSecretOverRest(@TempDir Path dir) throws Exception {
        kafka.createTopics(1, "engram.memory-events", "engram.recall-queries", "engram.recall-results",
                "engram.dead-letters", "engram.control");
        // one secret from a file, through Kafka's FileConfigProvider: the configuration holds only the reference
        Path file = dir.resolve("kafka-secrets.properties");
        Files.writeString(file, "keystore.password=" + MARK + "-from-file\n");
        List<String> args = new ArrayList<>(List.of("run", "--bootstrap-servers", kafka.bootstrapServers(),
                "--parallelism", "1", "--duration", "3min",
                "-D", "engram.kernels.mode=java",
                "-D", "execution.checkpointing.interval=1s",
                "-D", "restart-strategy.type=none",
                "-D", "engram.kafka.properties.ssl.keystore.password=${file:" + file + ":keystore.password}"));
        secrets("run").forEach((k, v) -> {
            args.add("-D");
            args.add(k + "=" + v);
        });
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        AtomicInteger code = new AtomicInteger(-1);
        Thread run = new Thread(() -> code.set(EngramCli.execute(new ByteArrayInputStream(new byte[0]),
                new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                args.toArray(new String[0]))), "engram-run");
        run.start();
        try {
            long deadline = System.nanoTime() + Duration.ofSeconds(120).toNanos();
            while (!out.toString(StandardCharsets.UTF_8).contains("running (started in") && run.isAlive()
                    && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            String banner = out.toString(StandardCharsets.UTF_8);
            assertThat(banner).as(err.toString(StandardCharsets.UTF_8)).contains("running (started in");
            Matcher m = Pattern.compile("web UI: +(http://127\\.0\\.0\\.1:\\d+/)").matcher(banner);
            assertThat(m.find()).isTrue();
            URI base = URI.create(m.group(1));
            String jobId = JSON.readTree(get(HttpClient.newHttpClient(), base.resolve("jobs/overview")))
                    .get("jobs").get(0).get("jid").asText();
            Map<String, String> bodies = read(base, jobId);
            LOG.info("engram run: read {} REST endpoints ({} bytes)", bodies.size(),
                    bodies.values().stream().mapToInt(String::length).sum());
            assertThat(bodies.get("jobmanager/config")).as("the cluster's configuration is shown")
                    .contains("engram.kernels.mode");
            assertNoSecret(bodies, "engram run");
            assertThat(banner + err.toString(StandardCharsets.UTF_8)).doesNotContain(MARK);
            answersAQuery("run-space");
        } finally {
            run.interrupt();
            run.join(60_000);
        }
        assertThat(code.get()).as(err.toString(StandardCharsets.UTF_8)).isZero();
        assertNoSecretLogged();
    }

    @Test
    void aJobSubmittedWithSecretsInItsConfigurationShowsNoneOverRest(
            @InjectClusterClient RestClusterClient<?> client) throws Exception {
        Rel.Topics t = Rel.Topics.suffixed("secrets");
        kafka.createTopics(1, t.all());
        Configuration conf = Rel.jobConfig(kafka.bootstrapServers(), t, "secrets");
        secrets("job").forEach(conf::setString);
        JobClient job = Rel.start(conf, "engram-secrets");
        try {
            Rel.waitUntil(() -> status(job) == JobStatus.RUNNING, Rel.WAIT, () -> "job RUNNING", job);
            URI base = URI.create(client.getWebInterfaceURL() + "/");
            Map<String, String> bodies = read(base, job.getJobID().toHexString());
            LOG.info("submitted job: read {} REST endpoints", bodies.size());
            assertNoSecret(bodies, "job submitted with the secrets in its configuration");
        } finally {
            Rel.cancel(job);
        }
        assertNoSecretLogged();
    }

    private static void answersAQuery(String space) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = Rel.producer(kafka.bootstrapServers(), Map.of());
             Rel.Reader results = new Rel.Reader(kafka.bootstrapServers(), "engram.recall-results", Map.of())) {
            long now = System.currentTimeMillis();
            MemoryEvent e = MemoryEvent.newBuilder().setSpace(space).setEventId("e1").setTimestampMs(now)
                    .setPayload(StoreMemory.newBuilder().setMemoryId("m1").setEmbedding(List.of(1f, 0f))
                            .setStrength(1f).build()).build();
            p.send(new ProducerRecord<>("engram.memory-events", space.getBytes(StandardCharsets.UTF_8),
                    AvroCodec.encode(e))).get();
            RecallResult answer = null;
            for (int i = 0; i < 60 && answer == null; i++) {
                RecallQuery q = RecallQuery.newBuilder().setQueryId("q" + i).setSpace(space).setTimestampMs(now)
                        .setCue(List.of(1f, 0f)).setK(1).build();
                p.send(new ProducerRecord<>("engram.recall-queries", space.getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(q))).get();
                long until = System.nanoTime() + 2_000_000_000L;
                while (System.nanoTime() < until && answer == null) {
                    results.pollOnce();
                    for (var r : results.records) {
                        RecallResult res = AvroCodec.decodeRecallResult(r.value());
                        if (!res.getHits().isEmpty()) {
                            answer = res;
                        }
                    }
                }
            }
            assertThat(answer).as("the job, with its secrets from -D and from a file, answers").isNotNull();
        }
    }

    private static void assertNoSecretLogged() {
        List<String> logs;
        synchronized (CAPTURED) {
            logs = new ArrayList<>(CAPTURED);
        }
        LOG.info("captured {} log events (Flink and Kafka configuration at INFO), {} name ssl.keystore.key, {} contain "
                + "a secret", logs.size(), logs.stream().filter(l -> l.contains("ssl.keystore.key")).count(),
                logs.stream().filter(l -> l.contains(MARK)).count());
        assertThat(logs).as("captured log events").hasSizeGreaterThan(100);
        assertThat(logs.stream().filter(l -> l.contains("ssl.keystore.key")).count())
                .as("log events naming ssl.keystore.key (Kafka's configuration dumps, value hidden)").isPositive();
        assertThat(logs.stream().filter(l -> l.contains(MARK)).toList()).as("log events with a secret").isEmpty();
    }

    private static JobStatus status(JobClient job) {
        try {
            return job.getJobStatus().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            return null;
        }
    }
}
