package io.engram.job.cli;

import io.engram.job.config.EngramOptions;
import io.engram.job.local.EmbeddedKafkaBroker;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.utils.AppInfoParser;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code engram broker}: a real Kafka broker (KRaft, one node) in the foreground, for staging and local tests. */
@Command(name = "broker",
        description = {
            "Runs a single-node Apache Kafka broker (KRaft, broker + controller) on 127.0.0.1 in the foreground, "
                    + "creates the engram topics, prints one line 'bootstrap.servers=127.0.0.1:PORT' on stdout and "
                    + "runs until SIGINT/SIGTERM; then it shuts down cleanly, deletes its data and exits 0.",
            "Data lives in a temporary directory: it is not kept across runs, unless --data-dir is given."},
        sortOptions = false,
        mixinStandardHelpOptions = true)
final class BrokerCommand extends BaseCommand {
    enum Topics { defaults, none }

    @Option(names = "--port", paramLabel = "PORT", defaultValue = "0",
            description = "Client port on 127.0.0.1; 0 = a free port (default).")
    int port;

    @Option(names = "--topics", paramLabel = "default|none", defaultValue = "default",
            converter = TopicsConverter.class,
            description = "Create the five engram topics (default) or none.")
    Topics topics;

    @Option(names = "--partitions", paramLabel = "N", defaultValue = "2",
            description = "Partitions of each created topic (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--port-file", paramLabel = "FILE",
            description = "Also write 'bootstrap.servers=127.0.0.1:PORT' to this file (atomically, once the broker "
                    + "is ready; deleted on shutdown).")
    Path portFile;

    @Option(names = "--data-dir", paramLabel = "DIR",
            description = "Keep the broker's data in DIR (created if missing) instead of a temporary directory: it "
                    + "survives a stop (SIGTERM) or a crash (SIGKILL), and a later run with the same --data-dir "
                    + "resumes it on the same port (--port 0 = the recorded port) with every topic, committed "
                    + "record, consumer offset and transaction.")
    Path dataDir;

    static final class TopicsConverter implements picocli.CommandLine.ITypeConverter<Topics> {
        @Override
        public Topics convert(String value) {
            switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
                case "default":
                    return Topics.defaults;
                case "none":
                    return Topics.none;
                default:
                    throw new picocli.CommandLine.TypeConversionException("'" + value + "' is not default or none");
            }
        }
    }

    /** The topics the job reads and writes, with their default names. */
    static List<String> defaultTopics() {
        return List.of(
                EngramOptions.TOPIC_MEMORY_EVENTS.defaultValue(),
                EngramOptions.TOPIC_RECALL_QUERIES.defaultValue(),
                EngramOptions.TOPIC_RECALL_RESULTS.defaultValue(),
                EngramOptions.TOPIC_DEAD_LETTERS.defaultValue(),
                EngramOptions.TOPIC_CONTROL.defaultValue());
    }

    @Override
    public Integer call() throws Exception {
        if (port < 0 || port > 65535) {
            throw CliException.usage("--port must be in [0, 65535]");
        }
        if (partitions < 1 || partitions > 1000) {
            throw CliException.usage("--partitions must be in [1, 1000]");
        }
        try (StopSignal stop = StopSignal.create(err(), cli.ownsProcess)) {
            stop.guardKafkaExit();
            long t0 = System.nanoTime();
            EmbeddedKafkaBroker broker;
            try {
                broker = dataDir == null
                        ? EmbeddedKafkaBroker.start(port, Map.of())
                        : EmbeddedKafkaBroker.start(port, dataDir, Map.of());
            } catch (EmbeddedKafkaBroker.BrokerStartException e) {
                throw CliException.failure(e.getMessage(), e);
            }
            boolean wrotePortFile = false;
            try {
                if (topics == Topics.defaults) {
                    broker.createTopics(partitions, defaultTopics().toArray(new String[0]));
                }
                String line = "bootstrap.servers=" + broker.bootstrapServers();
                if (portFile != null) {
                    writeAtomically(portFile, line + "\n");
                    wrotePortFile = true;
                }
                out().println(line);
                out().flush();
                note(String.format(java.util.Locale.ROOT, "Kafka %s (KRaft, cluster %s) ready on %s in %.1f s; %s; "
                                + "log %s; stop with Ctrl-C or SIGTERM", AppInfoParser.getVersion(),
                        broker.clusterId(), broker.bootstrapServers(), (System.nanoTime() - t0) / 1e9,
                        topics == Topics.defaults ? "topics " + String.join(", ", defaultTopics()) + " ("
                                + partitions + " partitions each)" : "no topics created",
                        System.getProperty("log.file", "(test logging)")));
                stop.await(null);
                note("stopping (" + stop.reason() + ")");
            } finally {
                long t1 = System.nanoTime();
                broker.close();
                if (wrotePortFile) {
                    Files.deleteIfExists(portFile);
                }
                note(String.format(java.util.Locale.ROOT, "stopped in %.1f s; %s", (System.nanoTime() - t1) / 1e9,
                        broker.isPersistent() ? "data kept in " + broker.dataDir() : "data deleted"));
            }
            if (stop.failed()) {
                throw new CliException(CliException.FAILURE, stop.reason());
            }
            return 0;
        }
    }

    static void writeAtomically(Path file, String content) throws IOException {
        Path abs = file.toAbsolutePath();
        if (abs.getParent() != null) {
            Files.createDirectories(abs.getParent());
        }
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        Files.writeString(tmp, content, StandardCharsets.UTF_8);
        try {
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (java.nio.file.AtomicMoveNotSupportedException e) {
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}
