package io.engram.job.cli;

import io.engram.job.EngramJob;
import io.engram.job.kafka.KafkaSettings;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.configuration.WebOptions;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.flink.util.ExceptionUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A local Flink cluster (MiniCluster: one JobManager and one TaskManager in this JVM) running the real engram job,
 * with the web UI and the Prometheus reporter, bound to 127.0.0.1 (the reporter binds all interfaces: Flink's
 * Prometheus reporter cannot be restricted). Everything it writes goes to one temporary directory, deleted by
 * {@link #close()}.
 */
final class LocalFlink implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LocalFlink.class);

    static final String JOB_NAME = "engram-flink";
    static final String PROM_FACTORY = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory";
    static final String PROM_PORT_KEY = "metrics.reporter.prom.port";
    static final String DEFAULT_PROM_PORTS = "9250-9260";
    /** Managed memory of the local TaskManager unless the arenas need more (Flink's own local default). */
    static final MemorySize MIN_MANAGED = MemorySize.ofMebiBytes(128);
    /**
     * RocksDB's share of each slot's managed memory when the state backend is RocksDB: half of it goes to the write
     * buffers. With Flink's local default (32 MiB per slot for RocksDB) a 768d store stream (132 KB per store) filled
     * the write buffers several times a second and each forced flush wrote a tiny file of some other column family:
     * 7,084 SST files of median 1.5 KB after 80 s of a 200k-memory ingest, and a 1M-memory ingest died with "Too
     * many open files" at 1.7 GB of state. With this share: 126 files of median 52 KB and 1.49x the ingest rate
     * (docs/operations/sizing.md, "RocksDB's managed memory").
     */
    static final MemorySize ROCKSDB_PER_SLOT = MemorySize.ofMebiBytes(256);

    private final MiniCluster cluster;
    private final Configuration config;
    private final Path workDir;
    private final List<Integer> promCandidates;
    private JobID jobId;
    private boolean closed;

    private LocalFlink(MiniCluster cluster, Configuration config, Path workDir, List<Integer> promCandidates) {
        this.cluster = cluster;
        this.config = config;
        this.workDir = workDir;
        this.promCandidates = promCandidates;
    }

    /**
     * The cluster configuration: loopback everywhere, the web UI on {@code webUiPort} (0 = a free port), the
     * Prometheus reporter, {@code parallelism} slots, managed memory for {@code arenaBytes} per slot (twice over:
     * with RocksDB the memory operator gets half of a slot's managed memory) and, when the user picked RocksDB,
     * {@link #ROCKSDB_PER_SLOT} for RocksDB's half, and temporary files under {@code workDir}. Settings in
     * {@code user} (the -D options) win.
     */
    static Configuration clusterConfig(Configuration user, int parallelism, int webUiPort, long arenaBytes,
                                       Path workDir) {
        Configuration c = new Configuration();
        c.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
        c.set(RestOptions.ADDRESS, "127.0.0.1");
        c.set(RestOptions.BIND_PORT, String.valueOf(webUiPort));
        c.set(JobManagerOptions.ADDRESS, "127.0.0.1");
        c.set(JobManagerOptions.BIND_HOST, "127.0.0.1");
        c.set(TaskManagerOptions.HOST, "127.0.0.1");
        c.set(TaskManagerOptions.BIND_HOST, "127.0.0.1");
        c.set(TaskManagerOptions.NUM_TASK_SLOTS, parallelism);
        c.set(CoreOptions.DEFAULT_PARALLELISM, parallelism);
        long perSlotHalf = arenaBytes;
        if ("rocksdb".equalsIgnoreCase(user.get(StateBackendOptions.STATE_BACKEND))) {
            perSlotHalf = Math.max(perSlotHalf, ROCKSDB_PER_SLOT.getBytes());
        }
        c.set(TaskManagerOptions.MANAGED_MEMORY_SIZE,
                new MemorySize(Math.max(MIN_MANAGED.getBytes(), 2 * perSlotHalf * parallelism + (32L << 20))));
        c.setString("metrics.reporter.prom.factory.class", PROM_FACTORY);
        c.setString(PROM_PORT_KEY, DEFAULT_PROM_PORTS);
        c.set(CoreOptions.TMP_DIRS, workDir.resolve("tmp").toString());
        c.set(WebOptions.TMP_DIR, workDir.resolve("web").toString());
        c.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, workDir.resolve("checkpoints").toUri().toString());
        c.set(PipelineOptions.NAME, JOB_NAME);
        c.addAll(user);
        return c;
    }

    static LocalFlink start(Configuration config, Path workDir) throws Exception {
        Files.createDirectories(workDir.resolve("tmp"));
        Files.createDirectories(workDir.resolve("web"));
        List<Integer> candidates = freePortsIn(promPorts(config));
        int slots = config.get(TaskManagerOptions.NUM_TASK_SLOTS);
        MiniClusterConfiguration mcc = new MiniClusterConfiguration.Builder()
                // Flink shows its cluster configuration on the REST API and web UI and masks only the keys it knows
                // to be secret (password, secret, token, jaas.config, ...): the Kafka client properties, whatever
                // their names, stay out of it. The job gets them directly (submit).
                .setConfiguration(KafkaSettings.withoutClientProperties(config))
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(slots)
                .build();
        MiniCluster cluster = new MiniCluster(mcc);
        try {
            cluster.start();
        } catch (Exception e) {
            closeQuietly(cluster);
            throw e;
        }
        return new LocalFlink(cluster, config, workDir, candidates);
    }

    /** The reporter's port setting, e.g. "9250-9260". */
    static String promPorts(Configuration config) {
        ConfigOption<String> o = ConfigOptions.key(PROM_PORT_KEY).stringType().defaultValue(DEFAULT_PROM_PORTS);
        return config.get(o);
    }

    /** The web UI / REST address, e.g. {@code http://127.0.0.1:39231/}. */
    URI webUi() throws Exception {
        URI u = cluster.getRestAddress().get(30, TimeUnit.SECONDS);
        String s = u.toString();
        return URI.create(s.endsWith("/") ? s : s + "/");
    }

    /**
     * Builds the engram job ({@link EngramJob#build}) with {@code jobConfig} and submits it. The Kafka client
     * properties reach the job's sources and sinks only, never the job's or the cluster's configuration.
     */
    JobID submit(Configuration jobConfig) throws Exception {
        StreamExecutionEnvironment env = new StreamExecutionEnvironment(KafkaSettings.withoutClientProperties(
                jobConfig));
        EngramJob.build(env, jobConfig);
        StreamGraph graph = env.getStreamGraph();
        jobId = cluster.submitJob(graph).get(60, TimeUnit.SECONDS).getJobID();
        LOG.info("submitted {} as job {}", JOB_NAME, jobId);
        return jobId;
    }

    JobStatus status() throws Exception {
        return cluster.getJobStatus(jobId).get(10, TimeUnit.SECONDS);
    }

    /**
     * Waits until the job runs (every task deployed is not checked: RUNNING is enough for the sources to start)
     * and returns null, or returns the failure text if it ended first.
     */
    String awaitRunning(Duration timeout, StopSignal stop) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < deadline && !stop.isStopped()) {
            JobStatus s = status();
            if (s == JobStatus.RUNNING) {
                return null;
            }
            if (s.isGloballyTerminalState()) {
                return failureText();
            }
            Thread.sleep(100);
        }
        return stop.isStopped() ? null : "the job did not reach RUNNING within " + timeout.toSeconds() + " s (status "
                + status() + ")";
    }

    /** The job's failure, root cause first, or its final status when it did not fail. */
    String failureText() {
        try {
            JobResult r = cluster.requestJobResult(jobId).get(30, TimeUnit.SECONDS);
            if (r.getSerializedThrowable().isPresent()) {
                Throwable t = r.getSerializedThrowable().get().deserializeError(getClass().getClassLoader());
                Throwable root = ExceptionUtils.stripExecutionException(t);
                while (root.getCause() != null && root.getCause() != root) {
                    root = root.getCause();
                }
                LOG.info("job {} failed", jobId, t); // the caller prints the root cause; the trace is for the log
                return "the job failed: " + root;
            }
            return "the job ended with status " + r.getApplicationStatus();
        } catch (Exception e) {
            return "the job ended; its result is unavailable: " + e;
        }
    }

    /**
     * The latest failure of the running job (the cause of a restart), root cause first, or null. Restarts are
     * otherwise silent: a job that fails at every start would look like it is running.
     */
    String latestFailure() {
        try {
            var graph = cluster.getExecutionGraph(jobId).get(10, TimeUnit.SECONDS);
            var info = graph.getFailureInfo();
            if (info == null) {
                return null;
            }
            Throwable t = info.getException().deserializeError(getClass().getClassLoader());
            Throwable root = t;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            return root.toString();
        } catch (Exception e) {
            return null;
        }
    }

    /**
     * The port the Prometheus reporter bound: read from the reporter itself, or else (if Flink's internals changed)
     * the port in the configured range, free before the cluster started, whose /metrics mentions this job. Empty if
     * the reporter did not start (every port of the range taken) and none answers within the timeout.
     */
    Optional<Integer> metricsPort(Duration timeout) throws InterruptedException {
        Optional<Integer> bound = reporterPort();
        if (bound.isPresent()) {
            return bound;
        }
        long deadline = System.nanoTime() + timeout.toNanos();
        String jobLabel = "job_id=\"" + jobId + "\"";
        Integer answering = null;
        while (true) {
            for (int port : promCandidates) {
                String body = httpGet(URI.create("http://127.0.0.1:" + port + "/metrics"), 2000);
                if (body != null && body.contains("flink_")) {
                    if (jobId == null || body.contains(jobLabel)) {
                        return Optional.of(port);
                    }
                    answering = port;
                }
            }
            if (System.nanoTime() > deadline) {
                return Optional.ofNullable(answering);
            }
            Thread.sleep(300);
        }
    }

    /** The bound port, from the cluster's metric registry (MiniCluster keeps it private; this is best effort). */
    Optional<Integer> reporterPort() {
        try {
            java.lang.reflect.Field registryField = MiniCluster.class.getDeclaredField("metricRegistry");
            registryField.setAccessible(true);
            Object registry = registryField.get(cluster);
            List<?> reporters = (List<?>) registry.getClass().getMethod("getReporters").invoke(registry);
            for (Object r : reporters) {
                if (r.getClass().getName().equals("org.apache.flink.metrics.prometheus.PrometheusReporter")) {
                    java.lang.reflect.Field port = r.getClass().getDeclaredField("port");
                    port.setAccessible(true);
                    int p = port.getInt(r);
                    if (p > 0) {
                        return Optional.of(p);
                    }
                }
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            LOG.info("cannot read the Prometheus reporter's port from the cluster ({}); probing the range", e.toString());
        }
        return Optional.empty();
    }

    /** Cancels the job and waits until it is gone. */
    void cancel(Duration timeout) {
        if (jobId == null) {
            return;
        }
        try {
            JobStatus s = status();
            if (!s.isGloballyTerminalState()) {
                cluster.cancelJob(jobId).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
                cluster.requestJobResult(jobId).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            }
        } catch (TimeoutException e) {
            LOG.warn("job {} did not cancel within {}", jobId, timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            LOG.warn("cancelling job {}: {}", jobId, e.getCause().toString());
        } catch (Exception e) {
            LOG.warn("cancelling job {}: {}", jobId, e.toString());
        }
    }

    Configuration config() {
        return config;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeQuietly(cluster);
        deleteRecursively(workDir);
    }

    private static void closeQuietly(MiniCluster cluster) {
        try {
            cluster.closeAsync().get(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            LOG.warn("closing the local Flink cluster: {}", e.toString());
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** A GET with short timeouts; the body, or null if nothing (or no 200) answered. */
    static String httpGet(URI uri, int timeoutMs) {
        try {
            HttpURLConnection c = (HttpURLConnection) uri.toURL().openConnection();
            c.setConnectTimeout(timeoutMs);
            c.setReadTimeout(timeoutMs * 3);
            try {
                if (c.getResponseCode() != 200) {
                    return null;
                }
                try (InputStream in = c.getInputStream()) {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
            } finally {
                c.disconnect();
            }
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /** The ports of a reporter port setting ("9250", "9250-9260", "9250,9252") that nothing listens on now. */
    static List<Integer> freePortsIn(String spec) {
        List<Integer> out = new ArrayList<>();
        for (String part : spec.split(",")) {
            String p = part.trim();
            if (p.isEmpty()) {
                continue;
            }
            int from;
            int to;
            try {
                int dash = p.indexOf('-');
                from = Integer.parseInt(dash < 0 ? p : p.substring(0, dash).trim());
                to = dash < 0 ? from : Integer.parseInt(p.substring(dash + 1).trim());
            } catch (NumberFormatException e) {
                throw CliException.usage(PROM_PORT_KEY + " '" + spec + "' is not a port or port range");
            }
            for (int port = from; port <= to; port++) {
                if (isFree(port)) {
                    out.add(port);
                }
            }
        }
        return out;
    }

    private static boolean isFree(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(false);
            s.bind(new java.net.InetSocketAddress((InetAddress) null, port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static Path createWorkDir(String prefix) {
        try {
            return Files.createTempDirectory(prefix);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a temporary directory", e);
        }
    }

    static void deleteRecursively(Path root) {
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
                public FileVisitResult visitFileFailed(Path file, IOException exc) {
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException exc) throws IOException {
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            LOG.warn("could not delete {}: {}", root, e.toString());
        }
    }
}
