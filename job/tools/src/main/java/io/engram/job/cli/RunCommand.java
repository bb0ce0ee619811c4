package io.engram.job.cli;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.kernels.KernelStatus;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code engram run}: the real job on a local Flink cluster against any Kafka. */
@Command(name = "run",
        description = {
            "Runs the engram job on a local Flink cluster (MiniCluster: JobManager and TaskManager in this process, "
                    + "web UI and Prometheus metrics on) against the given Kafka, until Ctrl-C, SIGTERM or "
                    + "--duration; then cancels the job, stops the cluster and exits 0. The topics must exist.",
            "Any engram.* option and any Flink option can be given with -D, e.g. -D engram.kernels.mode=java, "
                    + "-D execution.checkpointing.interval=5s, -D restart-strategy.type=none."},
        sortOptions = false,
        mixinStandardHelpOptions = true)
final class RunCommand extends BaseCommand {
    @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT", description = "Kafka bootstrap servers.")
    String bootstrapServers;

    @Option(names = "-D", paramLabel = "key=value",
            description = "engram.* option (engram.kafka.properties.* for Kafka client settings) or Flink option. "
                    + "Repeatable.")
    Map<String, String> properties;

    @Option(names = "--parallelism", paramLabel = "N", defaultValue = "2",
            description = "Job parallelism = task slots (default: ${DEFAULT-VALUE}).")
    int parallelism;

    @Option(names = "--web-ui-port", paramLabel = "PORT", defaultValue = "0",
            description = "Web UI / REST port on 127.0.0.1; 0 = a free port (default).")
    int webUiPort;

    @Option(names = "--job-heap", paramLabel = "SIZE",
            description = "Heap of the JVM the job runs in, as -Xmx takes it (512m, 4g); the ./engram launcher sets "
                    + "-Xmx from it. Default: " + JobHeap.DEFAULT + ".")
    String jobHeap;

    @Option(names = "--duration", paramLabel = "DURATION", converter = DurationConverter.class,
            description = "Stop after this long (e.g. 10min); default: run until Ctrl-C or SIGTERM.")
    Duration duration;

    @Override
    public Integer call() throws Exception {
        if (parallelism < 1 || parallelism > 64) {
            throw CliException.usage("--parallelism must be in [1, 64]");
        }
        if (webUiPort < 0 || webUiPort > 65535) {
            throw CliException.usage("--web-ui-port must be in [0, 65535]");
        }
        JobHeap heap = JobHeap.parse(jobHeap); // a malformed size: exit 2 before anything starts
        ConfigArgs args = ConfigArgs.of(properties, true);
        String bootstrap = KafkaClients.bootstrap(bootstrapServers, args);
        Configuration user = args.configuration();
        user.set(EngramOptions.BOOTSTRAP_SERVERS, bootstrap);
        EngramSettings settings = new EngramSettings(user); // invalid engram.* values: exit 2, naming the key
        long t0 = System.nanoTime();

        try (StopSignal stop = StopSignal.create(err(), cli.ownsProcess)) {
            KernelStatus kernels = LocalRun.kernelStatus(settings.kernelsConfig(), "engram.kernels.mode");
            KafkaClients.describe(bootstrap, args, LocalRun.topics(user)); // topics exist, broker answers
            out().println("engram run: the engram job on a local Flink cluster against Kafka at " + bootstrap);
            if (!args.asMap().isEmpty()) {
                out().println("  settings:    " + args.describeForLog());
            }
            out().println("  kernel mode: " + LocalRun.kernelLine(kernels));
            out().println("  job heap:    " + heap.describe(Runtime.getRuntime().maxMemory()));
            out().println("  log:         " + System.getProperty("log.file", "(test logging)"));
            out().flush();

            Path workDir = LocalFlink.createWorkDir("engram-run-");
            Configuration clusterConf = LocalFlink.clusterConfig(user, parallelism, webUiPort,
                    settings.arenaConfig().capacityBytes(), workDir);
            LocalFlink flink;
            try {
                flink = LocalFlink.start(clusterConf, workDir);
            } catch (Exception e) {
                LocalFlink.deleteRecursively(workDir);
                throw e;
            }
            String failure = null;
            try {
                JobID id = flink.submit(flink.config());
                URI webUi = flink.webUi();
                Optional<String> version = LocalRun.webUiAnswers(webUi);
                out().println("  web UI:      " + webUi + (version.map(v -> "  (Flink " + v + ")").orElse(
                        "  (not answering yet)")));
                out().println("  job:         " + LocalFlink.JOB_NAME + " " + id + ", parallelism " + parallelism);
                out().flush();
                failure = flink.awaitRunning(Duration.ofSeconds(120), stop);
                if (failure == null && !stop.isStopped()) {
                    Optional<Integer> port = flink.metricsPort(Duration.ofSeconds(15));
                    out().println("  metrics:     " + port.map(p -> "http://127.0.0.1:" + p + "/metrics")
                            .orElse("(no Prometheus reporter answered on " + LocalFlink.promPorts(
                                    flink.config()) + ")"));
                    out().printf(Locale.ROOT, "running (started in %.1f s)%s; Ctrl-C to stop%n",
                            (System.nanoTime() - t0) / 1e9,
                            duration == null ? "" : ", stopping after " + DurationConverter.format(duration));
                    out().flush();
                    failure = monitor(flink, stop);
                }
            } finally {
                long t1 = System.nanoTime();
                out().println("stopping" + (stop.reason() != null ? " (" + stop.reason() + ")" : "")
                        + ": cancelling the job, stopping Flink...");
                out().flush();
                flink.cancel(Duration.ofSeconds(30));
                flink.close();
                out().printf(Locale.ROOT, "stopped in %.1f s%n", (System.nanoTime() - t1) / 1e9);
                out().flush();
            }
            if (failure != null) {
                throw new CliException(CliException.FAILURE, failure + " (details in "
                        + System.getProperty("log.file", "the log") + ")");
            }
            return 0;
        }
    }

    /** Prints status changes until stopped, --duration passed, or the job ended; returns a failure text or null. */
    private String monitor(LocalFlink flink, StopSignal stop) throws Exception {
        long deadline = duration == null ? Long.MAX_VALUE : System.nanoTime() + duration.toNanos();
        JobStatus last = JobStatus.RUNNING;
        String lastCause = null;
        int restarts = 0;
        while (!stop.await(Duration.ofSeconds(1))) {
            if (System.nanoTime() >= deadline) {
                stop.stop("--duration " + DurationConverter.format(duration) + " reached", false);
                break;
            }
            JobStatus s = flink.status();
            if (s != last) {
                String cause = s == JobStatus.RESTARTING || s == JobStatus.FAILING ? flink.latestFailure() : null;
                if (s == JobStatus.RESTARTING) {
                    restarts++;
                }
                String text = cause == null ? "" : cause.equals(lastCause) ? " (restart " + restarts + ", same cause)"
                        : " (cause: " + cause + ")";
                out().println("job status: " + s + text);
                out().flush();
                if (cause != null) {
                    lastCause = cause;
                }
                last = s;
            }
            if (s.isGloballyTerminalState()) {
                return flink.failureText();
            }
        }
        return null;
    }
}
