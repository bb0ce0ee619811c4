package io.engram.job.local;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.utils.Time;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real Apache Kafka broker (KRaft, combined broker + controller, one node) running inside this JVM.
 *
 * <p>Used by {@code engram demo} and by the tests. It listens on 127.0.0.1 only, on two free ports chosen at
 * start (broker and controller), keeps its data in a fresh temporary directory that {@link #close()} deletes
 * (or, with {@link #start(int, Path, Map)}, in a persistent directory that a later start resumes, on the same
 * ports), and is configured for a single node: every replication factor and min ISR is 1, consumer groups rebalance
 * without delay, transactions work (exactly-once producers, {@code read_committed} consumers), and topics are
 * never auto-created: create them with {@link #createTopics(int, String...)}.
 *
 * <p>Needs {@code org.apache.kafka:kafka_2.13} (same version as {@code kafka-clients}) on the classpath. That
 * jar is {@code provided} in the job module: present in the local distribution and in tests, absent from the
 * shaded cluster jar.
 *
 * <p>Thread-safe. {@link #close()} is idempotent; a JVM shutdown hook also closes a broker that is still
 * running, so an interrupted demo does not leave data behind.
 */
public final class EmbeddedKafkaBroker implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafkaBroker.class);

    /** How long {@link #start()} waits for the broker to be ready before failing. */
    public static final Duration START_TIMEOUT = Duration.ofSeconds(60);

    /** How long {@link #createTopics(int, String...)} waits for the topics to have leaders. */
    public static final Duration TOPIC_TIMEOUT = Duration.ofSeconds(30);

    /**
     * The broker's {@code transaction.max.timeout.ms} (Kafka's default, set explicitly). A transactional producer,
     * such as Flink's exactly-once {@code KafkaSink}, must use {@code transaction.timeout.ms} at most this.
     */
    public static final long TRANSACTION_MAX_TIMEOUT_MS = 900_000L;

    /** In a property value passed to {@link #start(Map)}, replaced by the broker (client) port. */
    public static final String BROKER_PORT_TOKEN = "{BROKER_PORT}";

    /** In a property value passed to {@link #start(Map)}, replaced by the controller port. */
    public static final String CONTROLLER_PORT_TOKEN = "{CONTROLLER_PORT}";

    private static final String HOST = "127.0.0.1";
    private static final int NODE_ID = 1;
    /** Attempts with fresh ports if another process grabs a chosen port between choosing and binding. */
    private static final int BIND_ATTEMPTS = 3;

    private final KafkaRaftServer server;
    private final Path dataDir;
    private final int brokerPort;
    private final int controllerPort;
    private final String clusterId;
    private final boolean persistent;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Thread shutdownHook;

    /** In a persistent data directory: the cluster id and ports of the broker that formatted it. */
    static final String IDENTITY_FILE = "engram-broker.properties";

    private EmbeddedKafkaBroker(KafkaRaftServer server, Path dataDir, boolean persistent, int brokerPort,
                                int controllerPort, String clusterId) {
        this.server = server;
        this.dataDir = dataDir;
        this.persistent = persistent;
        this.brokerPort = brokerPort;
        this.controllerPort = controllerPort;
        this.clusterId = clusterId;
        this.shutdownHook = new Thread(this::closeQuietly, "engram-kafka-shutdown-hook");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /** Starts a broker with the default single-node configuration. Blocks until it serves requests. */
    public static EmbeddedKafkaBroker start() {
        return start(Map.of());
    }

    /**
     * Starts a broker whose configuration is the default one overridden by {@code extraBrokerProperties} (any
     * Kafka broker property, e.g. SASL listeners). Values may contain {@value #BROKER_PORT_TOKEN} and
     * {@value #CONTROLLER_PORT_TOKEN}, replaced by the ports chosen at start; for example
     * {@code listeners=SASL_PLAINTEXT://127.0.0.1:{BROKER_PORT},CONTROLLER://127.0.0.1:{CONTROLLER_PORT}}.
     * {@link #bootstrapServers()} always points at the broker port.
     *
     * @throws BrokerStartException if the broker is not ready within {@link #START_TIMEOUT}, or fails to start
     *     (the cause is attached); nothing is left behind in that case.
     */
    public static EmbeddedKafkaBroker start(Map<String, String> extraBrokerProperties) {
        return start(0, extraBrokerProperties);
    }

    /**
     * As {@link #start(Map)}, with the client listener on {@code brokerPort} of 127.0.0.1 ({@code 0}: a free port,
     * as {@link #start(Map)} does). A fixed port that is taken is an immediate {@link BrokerStartException}.
     */
    public static EmbeddedKafkaBroker start(int brokerPort, Map<String, String> extraBrokerProperties) {
        Objects.requireNonNull(extraBrokerProperties, "extraBrokerProperties");
        if (brokerPort < 0 || brokerPort > 65535) {
            throw new IllegalArgumentException("broker port must be in [0, 65535]: " + brokerPort);
        }
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        for (int attempt = 1; ; attempt++) {
            try {
                return startOnce(brokerPort, null, extraBrokerProperties, deadline);
            } catch (BrokerStartException e) {
                if (attempt < BIND_ATTEMPTS && isBindFailure(e) && System.nanoTime() < deadline) {
                    LOG.warn("Embedded Kafka: a chosen port was taken meanwhile, retrying with new ports ({})",
                            e.getCause().getMessage());
                    continue;
                }
                throw e;
            }
        }
    }

    /**
     * A broker whose data lives in {@code dataDir} and survives {@link #close()}, a SIGTERM and a SIGKILL of this
     * JVM. The first start formats the directory and records the cluster id and both ports in it
     * ({@value #IDENTITY_FILE}); a later start on the same directory skips the format and listens on the recorded
     * ports again (Kafka recovers its logs after an unclean stop), so clients configured with the old
     * {@code bootstrap.servers} reconnect and every committed record, topic, consumer offset and transaction state
     * is still there. {@code brokerPort} 0 = the recorded port, or a free one on the first start; a non-zero port
     * that differs from the recorded one is an error. A recorded port still held by a dying predecessor is retried
     * until {@link #START_TIMEOUT}.
     */
    public static EmbeddedKafkaBroker start(int brokerPort, Path dataDir, Map<String, String> extraBrokerProperties) {
        Objects.requireNonNull(dataDir, "dataDir");
        Objects.requireNonNull(extraBrokerProperties, "extraBrokerProperties");
        if (brokerPort < 0 || brokerPort > 65535) {
            throw new IllegalArgumentException("broker port must be in [0, 65535]: " + brokerPort);
        }
        long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
        for (int attempt = 1; ; attempt++) {
            try {
                return startOnce(brokerPort, dataDir, extraBrokerProperties, deadline);
            } catch (BrokerStartException e) {
                boolean recorded = Files.exists(dataDir.resolve(IDENTITY_FILE));
                if (isBindFailure(e) && System.nanoTime() < deadline && (recorded || attempt < BIND_ATTEMPTS)) {
                    LOG.warn("Embedded Kafka: port not free yet (attempt {}), retrying: {}", attempt,
                            e.getMessage());
                    try {
                        Thread.sleep(500);
                    } catch (InterruptedException ie) {
                        Thread.currentThread().interrupt();
                        throw e;
                    }
                    continue;
                }
                throw e;
            }
        }
    }

    private static EmbeddedKafkaBroker startOnce(int fixedBrokerPort, Path persistentDir, Map<String, String> extra,
                                                 long deadline) {
        long t0 = System.nanoTime();
        int[] ports = freePorts(2);
        int brokerPort = ports[0];
        int controllerPort = ports[1];
        String clusterId = Uuid.randomUuid().toString();
        boolean formatted = false;
        if (persistentDir != null) {
            Properties id = readIdentity(persistentDir);
            if (id != null) {
                int recordedBroker = Integer.parseInt(id.getProperty("broker.port"));
                if (fixedBrokerPort != 0 && fixedBrokerPort != recordedBroker) {
                    throw new BrokerStartException("Embedded Kafka: " + persistentDir + " belongs to a broker on port "
                            + recordedBroker + ", not " + fixedBrokerPort + " (use port 0 or " + recordedBroker + ")",
                            null);
                }
                fixedBrokerPort = recordedBroker;
                controllerPort = Integer.parseInt(id.getProperty("controller.port"));
                clusterId = id.getProperty("cluster.id");
                formatted = Files.exists(persistentDir.resolve("data").resolve("meta.properties"));
                ports[0] = controllerPort; // never pick the recorded controller port as anything else
                probePort(controllerPort, true);
            }
        }
        if (fixedBrokerPort != 0) {
            probePort(fixedBrokerPort, persistentDir != null);
            brokerPort = fixedBrokerPort;
            if (persistentDir == null || !Files.exists(persistentDir.resolve(IDENTITY_FILE))) {
                controllerPort = ports[0] != fixedBrokerPort ? ports[0] : ports[1];
            }
        }
        Path dir;
        try {
            dir = persistentDir != null
                    ? Files.createDirectories(persistentDir).toAbsolutePath()
                    : Files.createTempDirectory("engram-kafka-");
        } catch (IOException e) {
            throw new BrokerStartException("Embedded Kafka: cannot create the data directory "
                    + (persistentDir != null ? persistentDir : "(temporary)"), e);
        }

        KafkaRaftServer server = null;
        ExecutorService starter = null;
        try {
            Properties props = brokerProperties(dir, brokerPort, controllerPort, extra, deadline);
            if (!formatted) {
                format(dir, props, clusterId);
                if (persistentDir != null) {
                    writeIdentity(dir, clusterId, brokerPort, controllerPort);
                }
            }

            server = new KafkaRaftServer(KafkaConfig.fromProps(props, false), Time.SYSTEM);
            KafkaRaftServer s = server;
            starter = Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "engram-kafka-startup");
                t.setDaemon(true);
                return t;
            });
            Future<?> started = starter.submit(s::startup);
            started.get(remainingMillis(deadline), TimeUnit.MILLISECONDS);
            waitUntilServing(HOST + ":" + brokerPort, deadline);

            EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(server, dir, persistentDir != null, brokerPort,
                    controllerPort, clusterId);
            LOG.info("Embedded Kafka {} started in {} ms at {} (controller port {}, data {}{})",
                    clusterId, (System.nanoTime() - t0) / 1_000_000, broker.bootstrapServers(), controllerPort, dir,
                    persistentDir == null ? "" : formatted ? ", resumed" : ", persistent");
            return broker;
        } catch (Throwable e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            Throwable cause = (e instanceof ExecutionException && e.getCause() != null) ? e.getCause() : e;
            stopQuietly(server);
            if (persistentDir == null) {
                deleteRecursively(dir);
            }
            String why = (cause instanceof TimeoutException)
                    ? "did not start within " + START_TIMEOUT.toSeconds() + " s"
                    : "failed to start: " + cause;
            throw new BrokerStartException(
                    "Embedded Kafka broker on " + HOST + ":" + brokerPort + " (controller " + controllerPort + ") "
                            + why,
                    cause);
        } finally {
            if (starter != null) {
                starter.shutdownNow();
            }
        }
    }

    private static Properties brokerProperties(
            Path dir, int brokerPort, int controllerPort, Map<String, String> extra, long deadline) {
        Map<String, String> p = new LinkedHashMap<>();
        p.put("process.roles", "broker,controller");
        p.put("node.id", String.valueOf(NODE_ID));
        p.put("controller.quorum.voters", NODE_ID + "@" + HOST + ":" + controllerPort);
        p.put("listeners", "PLAINTEXT://" + HOST + ":" + brokerPort + ",CONTROLLER://" + HOST + ":" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://" + HOST + ":" + brokerPort);
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("controller.listener.names", "CONTROLLER");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("log.dirs", dir.resolve("data").toString());

        // One node: every replication factor and min ISR is 1.
        p.put("default.replication.factor", "1");
        p.put("min.insync.replicas", "1");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "4");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "4");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("transaction.max.timeout.ms", String.valueOf(TRANSACTION_MAX_TIMEOUT_MS));

        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("auto.create.topics.enable", "false");
        p.put("num.partitions", "1");
        p.put("delete.topic.enable", "true");

        // Light footprint inside someone else's JVM (the demo also runs a Flink MiniCluster).
        p.put("num.network.threads", "2");
        p.put("num.io.threads", "4");
        p.put("num.recovery.threads.per.data.dir", "1");
        p.put("log.cleaner.threads", "1");
        p.put("log.cleaner.dedupe.buffer.size", String.valueOf(16L * 1024 * 1024)); // default 128 MiB of heap

        // Kafka's own bound on the blocking startup; ours (START_TIMEOUT) is enforced around it too.
        p.put("server.max.startup.time.ms", String.valueOf(Math.max(1_000L, remainingMillis(deadline))));

        for (Map.Entry<String, String> e : extra.entrySet()) {
            String v = Objects.requireNonNull(e.getValue(), "value of " + e.getKey())
                    .replace(BROKER_PORT_TOKEN, String.valueOf(brokerPort))
                    .replace(CONTROLLER_PORT_TOKEN, String.valueOf(controllerPort));
            p.put(e.getKey(), v);
        }
        Properties props = new Properties();
        props.putAll(p);
        return props;
    }

    /** Fails if {@code port} cannot be bound now; {@code retryable}: as a bind failure (retried by the caller). */
    private static void probePort(int port, boolean retryable) {
        try (ServerSocket probe = new ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new java.net.InetSocketAddress(InetAddress.getByName(HOST), port), 50);
        } catch (IOException e) {
            throw new BrokerStartException("Embedded Kafka broker: port " + port + " on " + HOST
                    + " is not available (" + e.getMessage() + ")", retryable ? new BindException(e.getMessage()) : null);
        }
    }

    private static Properties readIdentity(Path dir) {
        Path f = dir.resolve(IDENTITY_FILE);
        if (!Files.exists(f)) {
            return null;
        }
        Properties p = new Properties();
        try (java.io.Reader r = Files.newBufferedReader(f, StandardCharsets.UTF_8)) {
            p.load(r);
        } catch (IOException e) {
            throw new BrokerStartException("Embedded Kafka: cannot read " + f, e);
        }
        for (String k : List.of("cluster.id", "broker.port", "controller.port")) {
            if (p.getProperty(k) == null) {
                throw new BrokerStartException("Embedded Kafka: " + f + " lacks " + k, null);
            }
        }
        return p;
    }

    private static void writeIdentity(Path dir, String clusterId, int brokerPort, int controllerPort)
            throws IOException {
        Properties p = new Properties();
        p.setProperty("cluster.id", clusterId);
        p.setProperty("broker.port", String.valueOf(brokerPort));
        p.setProperty("controller.port", String.valueOf(controllerPort));
        Path tmp = dir.resolve(IDENTITY_FILE + ".tmp");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            p.store(out, "engram embedded Kafka broker: a restart on this directory reuses these");
        }
        Files.move(tmp, dir.resolve(IDENTITY_FILE), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /** {@code kafka-storage.sh format -t <id> -c server.properties}, in-process. */
    private static void format(Path dir, Properties props, String clusterId) throws IOException {
        Path config = dir.resolve("server.properties");
        try (OutputStream out = Files.newOutputStream(config)) {
            props.store(out, "engram embedded Kafka broker");
        }
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        int rc;
        try (PrintStream ps = new PrintStream(captured, true, StandardCharsets.UTF_8)) {
            rc = StorageTool.execute(
                    new String[] {"format", "--cluster-id", clusterId, "--config", config.toString()}, ps);
        }
        String output = captured.toString(StandardCharsets.UTF_8).trim();
        if (rc != 0) {
            throw new IllegalStateException("kafka-storage format exited with " + rc + ": " + output);
        }
        LOG.debug("Embedded Kafka storage formatted: {}", output);
    }

    private static void waitUntilServing(String bootstrap, long deadline) throws Exception {
        try (Admin admin = Admin.create(adminProperties(bootstrap))) {
            Collection<?> nodes = admin.describeCluster().nodes().get(remainingMillis(deadline), TimeUnit.MILLISECONDS);
            if (nodes.isEmpty()) {
                throw new IllegalStateException("broker reports no nodes");
            }
        }
    }

    /** {@code host:port} of the PLAINTEXT (or overridden) client listener, for {@code bootstrap.servers}. */
    public String bootstrapServers() {
        return HOST + ":" + brokerPort;
    }

    public int brokerPort() {
        return brokerPort;
    }

    public int controllerPort() {
        return controllerPort;
    }

    public String clusterId() {
        return clusterId;
    }

    /** The directory holding the broker's logs and metadata; deleted by {@link #close()} unless persistent. */
    public Path dataDir() {
        return dataDir;
    }

    /**
     * Creates the topics (replication factor 1) and waits until every partition has a leader. A topic that
     * already exists with the same partition count is accepted; with another count it is an error.
     */
    public void createTopics(int partitions, String... names) {
        createTopics(partitions, Map.of(), names);
    }

    /** As {@link #createTopics(int, String...)}, with topic configs (e.g. {@code cleanup.policy=compact}). */
    public void createTopics(int partitions, Map<String, String> topicConfig, String... names) {
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be >= 1: " + partitions);
        }
        if (names.length == 0) {
            return;
        }
        ensureOpen();
        List<String> topics = List.copyOf(Arrays.asList(names));
        long deadline = System.nanoTime() + TOPIC_TIMEOUT.toNanos();
        try (Admin admin = Admin.create(adminProperties(bootstrapServers()))) {
            List<NewTopic> newTopics = new ArrayList<>();
            for (String name : topics) {
                newTopics.add(new NewTopic(name, partitions, (short) 1).configs(topicConfig));
            }
            Map<String, ? extends Future<Void>> results = admin.createTopics(newTopics).values();
            for (String name : topics) {
                try {
                    results.get(name).get(remainingMillis(deadline), TimeUnit.MILLISECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof TopicExistsException)) {
                        throw e;
                    }
                }
            }
            // Wait until the broker's metadata shows every partition with a leader.
            while (true) {
                String missing = null;
                try {
                    Map<String, TopicDescription> d = admin.describeTopics(topics).allTopicNames()
                            .get(remainingMillis(deadline), TimeUnit.MILLISECONDS);
                    for (String name : topics) {
                        TopicDescription td = d.get(name);
                        if (td.partitions().size() != partitions) {
                            throw new IllegalStateException("topic " + name + " already exists with "
                                    + td.partitions().size() + " partitions, not " + partitions);
                        }
                        if (td.partitions().stream().anyMatch(pi -> pi.leader() == null || pi.leader().isEmpty())) {
                            missing = name + " (no leader yet)";
                        }
                    }
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof UnknownTopicOrPartitionException)) {
                        throw e;
                    }
                    missing = e.getCause().getMessage();
                }
                if (missing == null) {
                    return;
                }
                if (remainingMillis(deadline) <= 0) {
                    throw new TimeoutException("not ready: " + missing);
                }
                Thread.sleep(50);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while creating topics " + topics, e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("cannot create topics " + topics + ": " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("topics " + topics + " not ready within "
                    + TOPIC_TIMEOUT.toSeconds() + " s: " + e.getMessage(), e);
        }
    }

    /** Whether the data directory is kept by {@link #close()} (started with {@link #start(int, Path, Map)}). */
    public boolean isPersistent() {
        return persistent;
    }

    /**
     * Stops the broker, waits for it to release its ports and threads, and deletes its data (unless persistent).
     * Idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        long t0 = System.nanoTime();
        stopQuietly(server);
        if (!persistent) {
            deleteRecursively(dataDir);
        }
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException alreadyShuttingDown) {
            // called from the hook itself, or during JVM shutdown
        }
        LOG.info("Embedded Kafka {} stopped in {} ms", clusterId, (System.nanoTime() - t0) / 1_000_000);
    }

    public boolean isClosed() {
        return closed.get();
    }

    @Override
    public String toString() {
        return "EmbeddedKafkaBroker{" + bootstrapServers() + ", controller=" + controllerPort
                + ", clusterId=" + clusterId + (closed.get() ? ", closed" : "") + "}";
    }

    private void closeQuietly() {
        try {
            close();
        } catch (Throwable t) {
            // JVM is exiting; nothing more to do
        }
    }

    private void ensureOpen() {
        if (closed.get()) {
            throw new IllegalStateException("broker is closed: " + this);
        }
    }

    private static void stopQuietly(KafkaRaftServer server) {
        if (server == null) {
            return;
        }
        try {
            server.shutdown();
            server.awaitShutdown();
        } catch (Throwable t) {
            LOG.warn("Embedded Kafka: error while shutting down", t);
        }
    }

    private static Properties adminProperties(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.CLIENT_ID_CONFIG, "engram-embedded-kafka-admin");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        return p;
    }

    /** Distinct free loopback ports; the sockets are held together so the ports cannot coincide. */
    private static int[] freePorts(int n) {
        ServerSocket[] sockets = new ServerSocket[n];
        try {
            int[] ports = new int[n];
            for (int i = 0; i < n; i++) {
                sockets[i] = new ServerSocket(0, 50, InetAddress.getByName(HOST));
                sockets[i].setReuseAddress(true);
                ports[i] = sockets[i].getLocalPort();
            }
            return ports;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find free ports on " + HOST, e);
        } finally {
            for (ServerSocket s : sockets) {
                if (s != null) {
                    try {
                        s.close();
                    } catch (IOException ignored) {
                        // best effort
                    }
                }
            }
        }
    }

    private static boolean isBindFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BindException
                    || (t.getMessage() != null && t.getMessage().contains("failed to bind"))) {
                return true;
            }
        }
        return false;
    }

    private static long remainingMillis(long deadlineNanos) {
        return Math.max(0L, TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime()));
    }

    private static void deleteRecursively(Path root) {
        if (root == null || !Files.exists(root)) {
            return;
        }
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            LOG.warn("Embedded Kafka: could not delete {}: {}", root, e.toString());
        }
    }

    /** The broker did not become ready within {@link #START_TIMEOUT}, or failed while starting. */
    public static final class BrokerStartException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        BrokerStartException(String message, Throwable cause) {
            super(message, cause);
        }
    }
}
