package io.engram.job.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.EventPosition;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.LoggerConfig;
import org.apache.logging.log4j.core.config.Property;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The job against a broker with a SASL_PLAINTEXT/SCRAM-SHA-256 listener and StandardAuthorizer ACLs that grant the
 * job's principal only what it needs. Right credentials (its JAAS configuration read from a file by Kafka's
 * FileConfigProvider): a query is answered end to end. The control topic: the operators' principal may write it,
 * an application's principal (which may write events and queries) is refused by ACL. Wrong password: the job fails
 * (or makes no progress) with an authentication error. The password does not appear in the captured logs (Kafka
 * clients and Flink at INFO). ({@code engram status} hiding it is CliTest's, in job/tools.)
 */
class SaslScramIT {
    private static final Logger LOG = LoggerFactory.getLogger(SaslScramIT.class);
    private static final String USER = "engram-job";
    private static final String PASSWORD = "s3cret-" + UUID.randomUUID();
    private static final String WRONG_PASSWORD = "wrong-" + UUID.randomUUID();
    private static final String PREFIX = "sasl-job";
    /** Writes kernel switches: the operators (set_kernel_mode.sh). */
    private static final String OPS_USER = "engram-ops";
    private static final String OPS_PASSWORD = "ops-" + UUID.randomUUID();
    /** An application: may write events and queries, must not switch kernels. */
    private static final String APP_USER = "mallory-app";
    private static final String APP_PASSWORD = "app-" + UUID.randomUUID();

    @RegisterExtension
    static final MiniClusterExtension FLINK = Rel.miniCluster();

    private static EmbeddedKafkaBroker kafka;
    private static int saslPort;
    private static String saslBootstrap;
    private static final List<String> CAPTURED = Collections.synchronizedList(new ArrayList<>());
    private static AbstractAppender appender;
    private static final List<String> RAISED = new ArrayList<>();

    @BeforeAll
    static void start() throws Exception {
        captureLogs();
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            saslPort = s.getLocalPort();
        }
        long t = System.nanoTime();
        kafka = EmbeddedKafkaBroker.start(Map.of(
                "listeners", "PLAINTEXT://127.0.0.1:{BROKER_PORT},CONTROLLER://127.0.0.1:{CONTROLLER_PORT},"
                        + "SASL_PLAINTEXT://127.0.0.1:" + saslPort,
                "advertised.listeners", "PLAINTEXT://127.0.0.1:{BROKER_PORT},SASL_PLAINTEXT://127.0.0.1:" + saslPort,
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
                "sasl.enabled.mechanisms", "SCRAM-SHA-256",
                "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
                // the loopback PLAINTEXT/CONTROLLER listeners carry broker<->controller traffic and this test's admin
                "super.users", "User:ANONYMOUS",
                "allow.everyone.if.no.acl.found", "false"));
        saslBootstrap = "127.0.0.1:" + saslPort;
        LOG.info("SASL broker up in {} ms; SCRAM listener {}", (System.nanoTime() - t) / 1_000_000, saslBootstrap);
    }

    @AfterAll
    static void stop() {
        if (kafka != null) {
            kafka.close();
        }
        if (appender != null) {
            LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
            ctx.getConfiguration().getRootLogger().removeAppender(appender.getName());
            ctx.updateLoggers();
        }
    }

    /** Every log event of this JVM at INFO+ from io.engram, Kafka clients and Flink, with stack traces. */
    private static void captureLogs() {
        LoggerContext ctx = (LoggerContext) LogManager.getContext(false);
        org.apache.logging.log4j.core.config.Configuration cfg = ctx.getConfiguration();
        appender = new AbstractAppender("sasl-capture", null, null, true, Property.EMPTY_ARRAY) {
            @Override
            public void append(LogEvent e) {
                StringBuilder sb = new StringBuilder(e.getLoggerName()).append(' ')
                        .append(e.getMessage().getFormattedMessage());
                if (e.getThrown() != null) {
                    StringWriter w = new StringWriter();
                    e.getThrown().printStackTrace(new PrintWriter(w));
                    sb.append('\n').append(w);
                }
                CAPTURED.add(sb.toString());
            }
        };
        appender.start();
        cfg.addAppender(appender);
        cfg.getRootLogger().addAppender(appender, Level.ALL, null);
        for (String name : List.of("org.apache.kafka.clients", "org.apache.kafka.common.security",
                // AbstractConfig logs every client's configuration ("ProducerConfig values: ...") at INFO
                "org.apache.kafka.common.config",
                "org.apache.flink.runtime.jobmaster", "org.apache.flink.runtime.taskmanager",
                "org.apache.flink.connector.kafka", "org.apache.flink.configuration")) {
            LoggerConfig lc = new LoggerConfig(name, Level.INFO, true);
            cfg.addLogger(name, lc);
            RAISED.add(name);
        }
        ctx.updateLoggers();
    }

    private static String jaas(String password) {
        return jaas(USER, password);
    }

    private static String jaas(String user, String password) {
        return "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"" + user
                + "\" password=\"" + password + "\";";
    }

    private static Map<String, String> plainAdmin() {
        return Map.of();
    }

    private static void setUpUserAndAcls(Rel.Topics t) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        try (Admin admin = Admin.create(p)) {
            ScramCredentialInfo scram = new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096);
            admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(USER, scram, PASSWORD),
                    new UserScramCredentialUpsertion(OPS_USER, scram, OPS_PASSWORD),
                    new UserScramCredentialUpsertion(APP_USER, scram, APP_PASSWORD))).all()
                    .get(60, TimeUnit.SECONDS);
            String principal = "User:" + USER;
            List<AclBinding> acls = new ArrayList<>();
            for (String topic : List.of(t.events(), t.queries(), t.control())) {
                acls.add(allow(ResourceType.TOPIC, topic, PatternType.LITERAL, principal, AclOperation.READ));
                acls.add(allow(ResourceType.TOPIC, topic, PatternType.LITERAL, principal, AclOperation.DESCRIBE));
            }
            for (String topic : List.of(t.results(), t.deadLetters())) {
                acls.add(allow(ResourceType.TOPIC, topic, PatternType.LITERAL, principal, AclOperation.WRITE));
                acls.add(allow(ResourceType.TOPIC, topic, PatternType.LITERAL, principal, AclOperation.DESCRIBE));
                // read at submission: the output bound is checked against the topics' max.message.bytes
                acls.add(allow(ResourceType.TOPIC, topic, PatternType.LITERAL, principal,
                        AclOperation.DESCRIBE_CONFIGS));
            }
            // the operators write kernel switches; applications write events and queries, never the control topic
            acls.add(allow(ResourceType.TOPIC, t.control(), PatternType.LITERAL, "User:" + OPS_USER,
                    AclOperation.WRITE));
            acls.add(allow(ResourceType.TOPIC, t.control(), PatternType.LITERAL, "User:" + OPS_USER,
                    AclOperation.DESCRIBE));
            for (String topic : List.of(t.events(), t.queries())) {
                acls.add(allow(ResourceType.TOPIC, topic, PatternType.LITERAL, "User:" + APP_USER,
                        AclOperation.WRITE));
                acls.add(allow(ResourceType.TOPIC, topic, PatternType.LITERAL, "User:" + APP_USER,
                        AclOperation.DESCRIBE));
            }
            acls.add(allow(ResourceType.GROUP, PREFIX, PatternType.PREFIXED, principal, AclOperation.READ));
            acls.add(allow(ResourceType.TRANSACTIONAL_ID, PREFIX, PatternType.PREFIXED, principal,
                    AclOperation.WRITE));
            acls.add(allow(ResourceType.TRANSACTIONAL_ID, PREFIX, PatternType.PREFIXED, principal,
                    AclOperation.DESCRIBE));
            admin.createAcls(acls).all().get(60, TimeUnit.SECONDS);
            LOG.info("created SCRAM-SHA-256 user {} and {} ACLs", USER, acls.size());
        }
        // the credential reaches the broker through the metadata log: wait until a SASL login works
        Properties s = saslClient(PASSWORD);
        long deadline = System.nanoTime() + Rel.WAIT.toNanos();
        while (true) {
            try (Admin a = Admin.create(s)) {
                a.describeTopics(List.of(t.queries())).allTopicNames().get(30, TimeUnit.SECONDS);
                return;
            } catch (ExecutionException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(500);
            }
        }
    }

    private static Properties saslClient(String password) {
        return saslClient(USER, password);
    }

    private static Properties saslClient(String user, String password) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, saslBootstrap);
        p.put("security.protocol", "SASL_PLAINTEXT");
        p.put("sasl.mechanism", "SCRAM-SHA-256");
        p.put("sasl.jaas.config", jaas(user, password));
        return p;
    }

    /** A SASL producer as {@code user} (idempotence off: it would need IDEMPOTENT_WRITE on the cluster). */
    private static KafkaProducer<byte[], byte[]> saslProducer(String user, String password) {
        Properties p = saslClient(user, password);
        p.put("acks", "all");
        p.put("enable.idempotence", "false");
        p.put("max.block.ms", "20000");
        p.put("delivery.timeout.ms", "20000");
        p.put("request.timeout.ms", "10000");
        p.put("key.serializer", org.apache.kafka.common.serialization.ByteArraySerializer.class.getName());
        p.put("value.serializer", org.apache.kafka.common.serialization.ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    private static AclBinding allow(ResourceType type, String name, PatternType pattern, String principal,
                                    AclOperation op) {
        return new AclBinding(new ResourcePattern(type, name, pattern),
                new AccessControlEntry(principal, "*", op, AclPermissionType.ALLOW));
    }

    private static Configuration saslJob(Rel.Topics t, String password, String name) {
        return saslJobWithJaas(t, name, jaas(password));
    }

    /** @param jaasValue the value of engram.kafka.properties.sasl.jaas.config: the JAAS text or a reference */
    private static Configuration saslJobWithJaas(Rel.Topics t, String name, String jaasValue) {
        Configuration c = Rel.jobConfig(saslBootstrap, t, name);
        c.set(EngramOptions.GROUP_ID, PREFIX + "-" + name);
        c.set(EngramOptions.TRANSACTIONAL_ID_PREFIX, PREFIX + "-" + name);
        c.setString("engram.kafka.properties.security.protocol", "SASL_PLAINTEXT");
        c.setString("engram.kafka.properties.sasl.mechanism", "SCRAM-SHA-256");
        c.setString("engram.kafka.properties.sasl.jaas.config", jaasValue);
        return c;
    }

    @Test
    void rightCredentialsAnswerWrongOnesFailClearlyAndThePasswordNeverLeaks() throws Exception {
        long t0 = System.nanoTime();
        Rel.Topics t = Rel.Topics.suffixed("sasl");
        kafka.createTopics(2, t.all());
        setUpUserAndAcls(t);
        long ready = System.nanoTime();

        // -- 1. right credentials: one store, one query, answered
        EventPosition stored;
        try (KafkaProducer<byte[], byte[]> p = Rel.producer(kafka.bootstrapServers(), plainAdmin())) {
            MemoryEvent e = MemoryEvent.newBuilder().setSpace("sasl-space").setEventId("e1")
                    .setTimestampMs(System.currentTimeMillis() - 1000).setPayload(StoreMemory.newBuilder()
                            .setMemoryId("m1").setEmbedding(List.of(1f, 0f, 0f)).setStrength(1f).build()).build();
            RecordMetadata md =
                    p.send(new ProducerRecord<>(t.events(), bytes("sasl-space"), AvroCodec.encode(e))).get();
            stored = new EventPosition(md.partition(), md.offset());
        }
        // the job's credentials from a file (mode 600), through Kafka's FileConfigProvider: the configuration Flink
        // sees and ships holds only the reference
        java.nio.file.Path secrets = java.nio.file.Files.createTempFile("engram-kafka-secrets", ".properties",
                java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
        java.nio.file.Files.writeString(secrets, "sasl.jaas.config=" + jaas(PASSWORD).replace("\\", "\\\\")
                + "\n");
        JobClient job = Rel.start(saslJobWithJaas(t, "ok", "${file:" + secrets + ":sasl.jaas.config}"),
                "engram-sasl-ok");
        long answeredMs;
        String controlOutcome;
        try (Rel.Reader results = new Rel.Reader(kafka.bootstrapServers(), t.results(), plainAdmin())) {
            Rel.waitUntil(() -> status(job) == JobStatus.RUNNING, Rel.WAIT, () -> "job RUNNING", job);
            // queries come through their own topic: q1 names the store's position, so the job answers it only
            // once the store is applied (read-your-writes)
            RecallQuery q = RecallQuery.newBuilder().setQueryId("q1").setSpace("sasl-space")
                    .setTimestampMs(System.currentTimeMillis()).setCue(List.of(1f, 0f, 0f)).setK(3)
                    .setAfterPositions(List.of(stored)).build();
            long sent = System.nanoTime();
            try (KafkaProducer<byte[], byte[]> p = Rel.producer(kafka.bootstrapServers(), plainAdmin())) {
                p.send(new ProducerRecord<>(t.queries(), bytes("sasl-space"), AvroCodec.encode(q))).get();
            }
            Rel.waitUntil(() -> {
                results.pollOnce();
                return !results.records.isEmpty();
            }, Rel.WAIT, () -> "the answer to q1 over SASL/SCRAM", job);
            answeredMs = (System.nanoTime() - sent) / 1_000_000;
            ConsumerRecord<byte[], byte[]> r = results.records.get(0);
            RecallResult res = AvroCodec.decodeRecallResult(r.value());
            assertThat(res.getQueryId()).isEqualTo("q1");
            assertThat(res.getHits()).isNotEmpty();
            assertThat(res.getHits().get(0).getMemoryId()).isEqualTo("m1");
            controlOutcome = controlTopicIsTheOperatorsOnly(t);
            assertThat(status(job)).isEqualTo(JobStatus.RUNNING);
        } finally {
            Rel.cancel(job);
            java.nio.file.Files.deleteIfExists(secrets);
        }
        LOG.info("control topic ACLs: {}", controlOutcome);
        LOG.info("SASL/SCRAM job answered a query {} ms after it was produced", answeredMs);

        // -- 2. wrong password: fails clearly
        long wrongStart = System.nanoTime();
        JobClient bad = Rel.start(saslJob(t, WRONG_PASSWORD, "bad"), "engram-sasl-bad");
        String failure;
        String outcome;
        try {
            failure = failureOrNull(bad, Duration.ofSeconds(150));
            if (failure != null) {
                outcome = "job FAILED";
            } else {
                outcome = "job still " + status(bad) + ", no progress";
                failure = String.join("\n", CAPTURED);
            }
        } finally {
            Rel.cancel(bad);
        }
        long wrongMs = (System.nanoTime() - wrongStart) / 1_000_000;
        LOG.info("wrong password: {} after {} ms:\n{}", outcome, wrongMs, firstLines(failure, 12));
        assertThat(failure).as("the failure names the authentication problem")
                .containsAnyOf("Authentication failed", "SaslAuthenticationException", "invalid credentials");
        assertThat(failure).doesNotContain(WRONG_PASSWORD).doesNotContain(PASSWORD);

        // -- 3. the logs of this whole test
        List<String> logs;
        synchronized (CAPTURED) {
            logs = new ArrayList<>(CAPTURED);
        }
        long leaks = logs.stream().filter(l -> l.contains(PASSWORD) || l.contains(WRONG_PASSWORD)).count();
        long jaasMentions = logs.stream().filter(l -> l.contains("sasl.jaas.config")).count();
        LOG.info("captured {} log events ({} mention sasl.jaas.config); {} contain a password", logs.size(),
                jaasMentions, leaks);
        assertThat(logs).as("captured log events").hasSizeGreaterThan(50);
        // the capture saw the clients' configuration dumps, which list sasl.jaas.config (with its value hidden)
        assertThat(jaasMentions).as("captured log events naming sasl.jaas.config").isGreaterThan(0);
        assertThat(logs.stream().filter(l -> l.contains("sasl.jaas.config = [hidden]")).count())
                .as("configuration dumps with sasl.jaas.config = [hidden]").isGreaterThan(0);
        assertThat(logs.stream().filter(l -> l.contains(PASSWORD) || l.contains(WRONG_PASSWORD)).map(l ->
                firstLines(l, 3)).toList()).as("log events containing a password").isEmpty();
        LOG.info("SASL/SCRAM: setup {} ms, query answered {} ms after produce, wrong password -> {} in {} ms, "
                        + "total {} ms", (ready - t0) / 1_000_000, answeredMs, outcome, wrongMs,
                (System.nanoTime() - t0) / 1_000_000);
    }

    /**
     * The application's principal may write events but is refused the control topic by ACL; the operators'
     * principal writes a switch there, which the job accepts (no dead letter).
     */
    private static String controlTopicIsTheOperatorsOnly(Rel.Topics t) throws Exception {
        KernelControl sw = KernelControl.newBuilder().setMode("java").setReason("ACL test").setIssuedBy(APP_USER)
                .setTimestampMs(System.currentTimeMillis()).setSpaces(List.of()).setFraction(null).build();
        long t0 = System.nanoTime();
        try (KafkaProducer<byte[], byte[]> app = saslProducer(APP_USER, APP_PASSWORD)) {
            MemoryEvent e = MemoryEvent.newBuilder().setSpace("sasl-space").setEventId("e-app")
                    .setTimestampMs(System.currentTimeMillis()).setPayload(StoreMemory.newBuilder()
                            .setMemoryId("m-app").setEmbedding(List.of(0f, 1f, 0f)).setStrength(1f).build()).build();
            app.send(new ProducerRecord<>(t.events(), bytes("sasl-space"), AvroCodec.encode(e))).get(30,
                    TimeUnit.SECONDS);
            ExecutionException refused = org.assertj.core.api.Assertions.catchThrowableOfType(ExecutionException.class,
                    () -> app.send(new ProducerRecord<>(t.control(), null, AvroCodec.encode(sw))).get(30,
                            TimeUnit.SECONDS));
            assertThat(refused).as("the application's write to the control topic").isNotNull();
            assertThat(refused.getCause()).isInstanceOf(TopicAuthorizationException.class);
        }
        long refusedMs = (System.nanoTime() - t0) / 1_000_000;
        KernelControl ops = KernelControl.newBuilder(sw).setIssuedBy(OPS_USER).build();
        try (KafkaProducer<byte[], byte[]> o = saslProducer(OPS_USER, OPS_PASSWORD);
             Rel.Reader dl = new Rel.Reader(kafka.bootstrapServers(), t.deadLetters(), plainAdmin())) {
            o.send(new ProducerRecord<>(t.control(), 0, null, AvroCodec.encode(ops))).get(30, TimeUnit.SECONDS);
            // A marker behind it on the same partition, invalid on purpose (blank issued_by): once its dead letter is
            // out, the job has processed the switch too, so "no dead letter for the switch" is a real observation.
            KernelControl marker = KernelControl.newBuilder(ops).setIssuedBy(" ").build();
            long markerOffset = o.send(new ProducerRecord<>(t.control(), 0, null, AvroCodec.encode(marker)))
                    .get(30, TimeUnit.SECONDS).offset();
            Rel.waitUntil(() -> {
                dl.pollOnce();
                return !dl.records.isEmpty();
            }, Rel.WAIT, () -> "the marker's dead letter", null);
            Thread.sleep(500);
            dl.drainCommitted();
            assertThat(dl.records).as("dead letters after the operators' switch and the invalid marker behind it")
                    .hasSize(1);
            DeadLetter only = AvroCodec.decodeDeadLetter(dl.records.get(0).value());
            assertThat(only.getReason()).isEqualTo("BAD_CONTROL");
            assertThat(only.getSourceOffset()).as("the dead letter is the marker's, not the switch's")
                    .isEqualTo(markerOffset);
        }
        return "application refused WRITE on " + t.control() + " (TopicAuthorizationException) in " + refusedMs
                + " ms; operators' switch accepted";
    }

    private static String failureOrNull(JobClient job, Duration timeout) throws Exception {
        try {
            job.getJobExecutionResult().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return "finished without failure";
        } catch (ExecutionException e) {
            return Rel.messages(e);
        } catch (java.util.concurrent.TimeoutException e) {
            return null;
        }
    }

    private static JobStatus status(JobClient job) {
        try {
            return job.getJobStatus().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            return null;
        }
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String firstLines(String s, int n) {
        return String.join("\n", s.lines().limit(n).toList());
    }
}
