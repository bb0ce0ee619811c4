package io.engram.job.cli;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.kernels.KernelStatus;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.EventPosition;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code engram demo}: everything real, on loopback, with a generated dataset. */
@Command(name = "demo",
        description = {
            "Starts a real Kafka broker (KRaft) and a local Flink cluster (web UI, Prometheus metrics) on 127.0.0.1, "
                    + "runs the real engram job, loads a generated dataset (clustered embeddings of six topics in two "
                    + "spaces, cross-topic associations, decayed memories, two invalid records) and prints recall "
                    + "results read back from engram.recall-results, sending a new query every few seconds.",
            "Stops after --duration or on Ctrl-C: cancels the job, stops Flink and Kafka, deletes its temporary "
                    + "files and exits 0."},
        sortOptions = false,
        mixinStandardHelpOptions = true)
final class DemoCommand extends BaseCommand {
    private static final Logger LOG = LoggerFactory.getLogger(DemoCommand.class);

    static final int PARTITIONS = 2;
    static final int PARALLELISM = 2;
    static final Duration CHECKPOINT_INTERVAL = Duration.ofSeconds(2);
    static final Duration QUERY_EVERY = Duration.ofSeconds(5);

    @Option(names = "--duration", paramLabel = "DURATION", defaultValue = "90s", converter = DurationConverter.class,
            description = "How long to run (default: ${DEFAULT-VALUE}); Ctrl-C stops earlier.")
    Duration duration;

    @Option(names = "--mode", paramLabel = "auto|zig|java", defaultValue = "auto",
            description = "Kernel mode (engram.kernels.mode), default: ${DEFAULT-VALUE}.")
    String mode;

    @Option(names = "--dim", paramLabel = "N", defaultValue = "64", description = "Embedding dimension (default: "
            + "${DEFAULT-VALUE}).")
    int dim;

    @Option(names = "--per-topic", paramLabel = "N", defaultValue = "40",
            description = "Memories per topic, 6 topics (default: ${DEFAULT-VALUE}).")
    int perTopic;

    @Option(names = "--web-ui-port", paramLabel = "PORT", defaultValue = "0",
            description = "Web UI port on 127.0.0.1; 0 = a free port (default).")
    int webUiPort;

    // state of one run, for the summary
    private int answered;
    private int hitsTotal;
    private int spreadHits;
    private final Map<String, Integer> deadLetters = new TreeMap<>();

    @Override
    public Integer call() throws Exception {
        if (webUiPort < 0 || webUiPort > 65535) {
            throw CliException.usage("--web-ui-port must be in [0, 65535]");
        }
        long t0 = System.nanoTime();
        long deadline = t0 + duration.toNanos();
        Configuration conf = new Configuration();
        conf.set(EngramOptions.KERNEL_MODE, mode);
        EngramSettings settings = new EngramSettings(conf); // checks --mode
        DemoDataset data = new DemoDataset(dim, perTopic, System.currentTimeMillis(), 42L);

        try (StopSignal stop = StopSignal.create(err(), cli.ownsProcess)) {
            stop.guardKafkaExit();
            out().println("engram demo: the real engram job on a local Flink cluster and a real Kafka broker, "
                    + "all on 127.0.0.1");
            KernelStatus kernels = LocalRun.kernelStatus(settings.kernelsConfig(), "--mode");
            line("kernel mode", LocalRun.kernelLine(kernels));
            line("log", System.getProperty("log.file", "(test logging)"));

            EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start();
            LocalFlink flink = null;
            String failure = null;
            try {
                List<String> topics = LocalRun.topics(conf);
                broker.createTopics(PARTITIONS, topics.toArray(new String[0]));
                line("kafka", broker.bootstrapServers() + "  (embedded KRaft broker; topics " + String.join(", ",
                        topics) + ", " + PARTITIONS + " partitions each)");

                conf.set(EngramOptions.BOOTSTRAP_SERVERS, broker.bootstrapServers());
                conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, CHECKPOINT_INTERVAL);
                conf.set(RestartStrategyOptions.RESTART_STRATEGY, "none"); // a failure ends the demo, visibly
                Path workDir = LocalFlink.createWorkDir("engram-demo-");
                try {
                    flink = LocalFlink.start(LocalFlink.clusterConfig(conf, PARALLELISM, webUiPort,
                            settings.arenaConfig().capacityBytes(), workDir), workDir);
                } catch (Exception e) {
                    LocalFlink.deleteRecursively(workDir);
                    throw e;
                }
                var jobId = flink.submit(flink.config());
                URI webUi = flink.webUi();
                Optional<String> version = LocalRun.webUiAnswers(webUi);
                line("web UI", webUi + version.map(v -> "  (answered: Apache Flink " + v + ")")
                        .orElse("  (did not answer)"));
                line("job", LocalFlink.JOB_NAME + " " + jobId + ", parallelism " + PARALLELISM + ", checkpoints every "
                        + DurationConverter.format(CHECKPOINT_INTERVAL) + ", exactly-once sinks");
                line("temp dir", workDir + "  (deleted on exit)");
                out().flush();

                failure = flink.awaitRunning(Duration.ofSeconds(60), stop);
                if (failure == null && !stop.isStopped()) {
                    failure = play(data, broker, flink, conf, stop, deadline);
                }
            } finally {
                if (!stop.isStopped()) {
                    stop.stop(failure != null ? "failure" : "done", failure != null);
                }
                out().println();
                out().println("stopping (" + stop.reason() + "): cancelling the job, stopping Flink and Kafka...");
                out().flush();
                long t1 = System.nanoTime();
                if (flink != null) {
                    flink.cancel(Duration.ofSeconds(30));
                    flink.close();
                }
                broker.close();
                out().printf(Locale.ROOT, "stopped cleanly in %.1f s: job cancelled, Flink and Kafka stopped, "
                        + "temporary files deleted%n", (System.nanoTime() - t1) / 1e9);
                out().flush();
            }
            return finish(failure, stop, t0);
        }
    }

    /** The demo proper: load the data, query (after the data: read-your-writes); returns a failure text or null. */
    private String play(DemoDataset data, EmbeddedKafkaBroker broker, LocalFlink flink, Configuration conf,
                        StopSignal stop, long deadline) throws Exception {
        String failure = null;
        try (KafkaProducer<byte[], byte[]> producer =
                     KafkaClients.producer(broker.bootstrapServers(), ConfigArgs.empty(), "engram-demo");
             Reader reader = new Reader(broker.bootstrapServers(), conf)) {
            Optional<Integer> metricsPort = flink.metricsPort(Duration.ofSeconds(10));
            line("metrics", metricsPort.map(p -> "http://127.0.0.1:" + p + "/metrics  (try: curl -s "
                    + "http://127.0.0.1:" + p + "/metrics | grep engram_)").orElse("(no Prometheus reporter "
                    + "answered on " + LocalFlink.promPorts(flink.config()) + ")"));
            out().flush();

            reader.start();

            List<MemoryEvent> events = data.events();
            // Where each space's last event landed: the queries name it (read-your-writes), so they are answered
            // once the job has applied every event before it; nothing polls.
            Map<String, EventPosition> lastOf = new ConcurrentHashMap<>();
            for (MemoryEvent e : events) {
                String space = e.getSpace();
                producer.send(new ProducerRecord<>(conf.get(EngramOptions.TOPIC_MEMORY_EVENTS),
                        space.getBytes(StandardCharsets.UTF_8), AvroCodec.encode(e)), (m, ex) -> {
                            if (ex != null) {
                                LOG.error("demo: sending a memory event failed", ex);
                            } else {
                                lastOf.merge(space, new EventPosition(m.partition(), m.offset()),
                                        (a, b) -> a.getOffset() >= b.getOffset() ? a : b);
                            }
                        });
            }
            producer.flush();
            out().println();
            out().printf(Locale.ROOT, "sent %d memory events to %s: %d memories (%d topics x %d, dim %d) in "
                            + "spaces alice and bob, %d associations, 1 reinforce, 1 forget, and 1 invalid "
                            + "association (to %s, which does not exist)%n", events.size(),
                    conf.get(EngramOptions.TOPIC_MEMORY_EVENTS), data.memoryCount(), data.topics().size(),
                    perTopic, dim, data.links().size(), DemoDataset.BAD_LINK_TO);
            out().println("  cross-topic associations: astronomy-01 -> sailing-03 \"celestial navigation\", "
                    + "cooking-01 <-> gardening-04 \"herb garden\", jazz-01 -> cooking-06 \"New Orleans\"; "
                    + "<topic>-02 memories were stored 3 h ago with 1 h stability (decayed)");
            out().flush();

            out().println("the queries name their space's last event (read-your-writes: after_positions), so each "
                    + "is answered once the job has applied every event before it");
            out().flush();
            long now = System.currentTimeMillis();
            String queries = conf.get(EngramOptions.TOPIC_RECALL_QUERIES);
            int n = 0;
            for (String topic : data.topics()) {
                sendQuery(producer, queries, afterLastEvent(data.query(queryId(++n, topic), topic, now), lastOf));
            }
            // also after its space's last event: a space that has no memories yet has no dimension to mismatch
            sendQuery(producer, queries, afterLastEvent(data.badQuery("bad-dimension", now), lastOf));
            producer.flush();
            out().printf(Locale.ROOT, "sent %d queries to %s (cue near each topic's centroid; k=%d, seed_k=%d, "
                            + "max_hops=%d) and 1 invalid query (cue of dimension %d); a new query every %s%n%n",
                    n, queries, DemoDataset.QUERY_K, DemoDataset.QUERY_SEED_K, DemoDataset.QUERY_MAX_HOPS,
                    dim / 2, DurationConverter.format(QUERY_EVERY));
            out().flush();

            long nextQuery = System.nanoTime() + QUERY_EVERY.toNanos();
            while (!stop.isStopped()) {
                if (System.nanoTime() >= deadline) {
                    stop.stop("--duration " + DurationConverter.format(duration) + " reached", false);
                    break;
                }
                Object item = reader.queue.poll(200, TimeUnit.MILLISECONDS);
                if (item != null) {
                    show(item, data);
                }
                if (System.nanoTime() >= nextQuery) {
                    String topic = data.topics().get(n % data.topics().size());
                    sendQuery(producer, queries, data.query(queryId(++n, topic), topic, System.currentTimeMillis()));
                    producer.flush();
                    nextQuery += QUERY_EVERY.toNanos();
                }
                if (reader.failure != null) {
                    failure = "reading the results failed: " + reader.failure;
                    break;
                }
                if (flink.status().isGloballyTerminalState()) {
                    failure = flink.failureText();
                    break;
                }
            }
            drain(reader, data);
        }
        return failure;
    }

    private int finish(String failure, StopSignal stop, long t0) {
        out().printf(Locale.ROOT, "summary: %d queries answered, %d hits, %d of them reached by spreading "
                        + "(hops >= 1); dead letters: %d%s; ran %.0f s%n", answered, hitsTotal, spreadHits,
                deadLetters.values().stream().mapToInt(Integer::intValue).sum(),
                deadLetters.isEmpty() ? "" : " " + deadLetters, (System.nanoTime() - t0) / 1e9);
        out().flush();
        if (failure != null) {
            throw new CliException(CliException.FAILURE, failure + " (details in "
                    + System.getProperty("log.file", "the log") + ")");
        }
        if (stop.failed()) {
            throw new CliException(CliException.FAILURE, stop.reason());
        }
        return 0;
    }

    private void line(String label, String value) {
        out().printf("  %-12s %s%n", label + ":", value);
        out().flush();
    }

    private static String queryId(int n, String topic) {
        return String.format("q%02d-%s", n, topic);
    }

    /** The query, made to wait until its space's last event is applied. */
    private static RecallQuery afterLastEvent(RecallQuery q, Map<String, EventPosition> lastOf) {
        EventPosition p = lastOf.get(q.getSpace());
        return p == null ? q : RecallQuery.newBuilder(q).setAfterPositions(List.of(p)).build();
    }

    private void sendQuery(KafkaProducer<byte[], byte[]> producer, String topic, RecallQuery q) {
        send(producer, topic, q.getSpace(), AvroCodec.encode(q));
    }

    private static void send(KafkaProducer<byte[], byte[]> producer, String topic, String space, byte[] value) {
        producer.send(new ProducerRecord<>(topic, space.getBytes(StandardCharsets.UTF_8), value), (m, e) -> {
            if (e != null) {
                LOG.error("demo: sending to {} failed", topic, e);
            }
        });
    }

    private void drain(Reader reader, DemoDataset data) {
        Object item;
        while ((item = reader.queue.poll()) != null) {
            show(item, data);
        }
    }

    private void show(Object item, DemoDataset data) {
        if (item instanceof RecallResult r) {
            answered++;
            hitsTotal += r.getHits().size();
            for (RecallHit h : r.getHits()) {
                if (h.getHops() >= 1) {
                    spreadHits++;
                }
            }
            String topic = r.getQueryId().replaceFirst("^q\\d+-", "");
            out().printf(Locale.ROOT, "recall %s: space %s, cue near \"%s\", %d hits, %s kernels, %.2f ms in the "
                            + "job%s%n", r.getQueryId(), r.getSpace(), topic, r.getHits().size(), r.getKernelMode(),
                    r.getLatencyUs() / 1000.0, r.getStale() ? " (stale: its events were not all applied in time)"
                            : "");
            out().print(ResultTable.format(r, data::annotate, "  "));
            out().println();
        } else if (item instanceof DeadLetter d) {
            deadLetters.merge(d.getReason(), 1, Integer::sum);
            out().printf("dead letter: %s from %s[%d]@%d: %s%n%n", d.getReason(), d.getSourceTopic(),
                    d.getSourcePartition(), d.getSourceOffset(), d.getMessage());
        }
        out().flush();
    }

    /** Reads engram.recall-results and engram.dead-letters (read_committed) from the beginning, into a queue. */
    static final class Reader implements AutoCloseable {
        final BlockingQueue<Object> queue = new LinkedBlockingQueue<>();
        private final KafkaConsumer<byte[], byte[]> consumer;
        private final String resultsTopic;
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Thread thread;
        volatile String failure;

        Reader(String bootstrap, Configuration conf) {
            resultsTopic = conf.get(EngramOptions.TOPIC_RECALL_RESULTS);
            String dlTopic = conf.get(EngramOptions.TOPIC_DEAD_LETTERS);
            consumer = KafkaClients.consumer(bootstrap, ConfigArgs.empty(), "engram-demo-reader", null, true);
            List<TopicPartition> parts = new ArrayList<>();
            for (String t : List.of(resultsTopic, dlTopic)) {
                consumer.partitionsFor(t).forEach(p -> parts.add(new TopicPartition(t, p.partition())));
            }
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            thread = new Thread(this::loop, "engram-demo-reader");
            thread.setDaemon(true);
        }

        void start() {
            thread.start();
        }

        private void loop() {
            try {
                while (running.get()) {
                    for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                        try {
                            queue.add(r.topic().equals(resultsTopic) ? AvroCodec.decodeRecallResult(r.value())
                                    : AvroCodec.decodeDeadLetter(r.value()));
                        } catch (RuntimeException e) {
                            LOG.warn("demo: undecodable record {}-{}@{}: {}", r.topic(), r.partition(), r.offset(),
                                    e.getMessage());
                        }
                    }
                }
            } catch (org.apache.kafka.common.errors.WakeupException e) {
                // closing
            } catch (RuntimeException e) {
                if (running.get()) {
                    failure = e.toString();
                    LOG.error("demo: the results reader failed", e);
                }
            } finally {
                consumer.close(Duration.ofSeconds(5));
            }
        }

        @Override
        public void close() {
            running.set(false);
            consumer.wakeup();
            try {
                thread.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
