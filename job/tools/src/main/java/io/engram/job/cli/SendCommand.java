package io.engram.job.cli;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.model.Rejection;
import io.engram.job.operator.InputChecks;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.EventPosition;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.configuration.Configuration;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code engram send}: JSON Lines → Avro single-object records on a Kafka topic. */
@Command(name = "send",
        description = {
            "Reads JSON Lines (one record per line) from a file or stdin, converts each line to its Avro record and "
                    + "sends it with an idempotent producer (acks=all). Key: the record's space (control: none).",
            "Every record is checked as the job checks it (space name, ids, timestamps, dimensions, limits; kernel "
                    + "switches): a record the job would dead-letter is refused with the job's reason code, unless "
                    + "--no-validate. What needs the space's state (its dimension, existing memories) only the job "
                    + "checks.",
            "A file is checked completely before anything is sent; from stdin, records are sent as they are read. "
                    + "A bad line stops the command with its line number (exit 2).",
            "Formats: docs/operations/cli.md."},
        sortOptions = false,
        mixinStandardHelpOptions = true)
final class SendCommand extends BaseCommand {
    enum RecordType { event, query, control }

    static final int PROGRESS_EVERY = 1000;

    @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT", description = "Kafka bootstrap servers.")
    String bootstrapServers;

    @Option(names = "--type", required = true, paramLabel = "event|query|control",
            description = "Record type of every line: ${COMPLETION-CANDIDATES}.")
    RecordType type;

    @Option(names = "--topic", paramLabel = "TOPIC",
            description = "Topic (default: engram.memory-events, engram.recall-queries or engram.control, or the "
                    + "engram.topics.* option given with -D).")
    String topic;

    @Option(names = "--file", paramLabel = "FILE|-", description = "JSON Lines file; '-' or omitted: stdin.")
    String file;

    @Option(names = "-D", paramLabel = "key=value",
            description = "engram.kafka.properties.<client-property>=<value> (e.g. SASL/SSL), or another engram.* "
                    + "option (the job's engram.limits.* are checked with the values given here). Repeatable.")
    Map<String, String> properties;

    @Option(names = "--positions",
            description = "Print where every record landed ('position LINE PARTITION:OFFSET', in line order), each "
                    + "space's last position ('space-positions SPACE P:O', for --after-from), then 'after-positions "
                    + "P:O,...' (the last offset per partition, for --after when every query is of the one space "
                    + "sent): what a query can wait for (read-your-writes).")
    boolean positions;

    @Option(names = "--after-from", paramLabel = "FILE",
            description = "--type query: each query waits for its own space's last position as listed in FILE (the "
                    + "output of 'engram send --type event --positions'); a query of a space the file does not list "
                    + "does not wait.")
    Path afterFrom;

    @Option(names = "--after", paramLabel = "P:O[,P:O...]", split = ",",
            description = "--type query: every query waits until the job has processed the memory events up to these "
                    + "positions of the memory-events topic (RecallQuery.after_positions), e.g. the after-positions "
                    + "line of 'engram send --type event --positions'.")
    List<String> after;

    @Option(names = "--after-events", paramLabel = "ID[,ID...]", split = ",",
            description = "--type query: every query waits until these event ids are applied in its space "
                    + "(RecallQuery.after_event_ids).")
    List<String> afterEvents;

    @Option(names = "--no-validate",
            description = "Send records the job would dead-letter (to test the dead-letter path); JSON errors still "
                    + "stop the command.")
    boolean noValidate;

    private InputChecks checks;
    private List<EventPosition> afterPositions = List.of();
    /** --after-from: per space, the positions its queries wait for. */
    private Map<String, List<EventPosition>> afterBySpace = Map.of();
    /** Per record sent: where it landed, once acknowledged (with --positions). */
    private final List<Landed> landed = java.util.Collections.synchronizedList(new ArrayList<>());

    private record Landed(int line, String key, int partition, long offset) {
    }

    /** One converted line. */
    private record Encoded(int line, byte[] key, byte[] value) {
    }

    @Override
    public Integer call() throws Exception {
        if ((after != null || afterEvents != null || afterFrom != null) && type != RecordType.query) {
            throw CliException.usage("--after, --after-from and --after-events apply to --type query only");
        }
        afterPositions = parsePositions(after);
        afterBySpace = afterFrom == null ? Map.of() : readSpacePositions(afterFrom);
        ConfigArgs args = ConfigArgs.of(properties, false);
        checks = noValidate ? null : new InputChecks(new EngramSettings(args.configuration()));
        String bootstrap = KafkaClients.bootstrap(bootstrapServers, args);
        String target = topic != null ? topic : defaultTopic(type, args.configuration());
        boolean fromStdin = file == null || file.equals("-");
        String source = fromStdin ? "stdin" : file;

        List<Encoded> checked = null;
        if (!fromStdin) {
            checked = new ArrayList<>();
            try (BufferedReader r = open()) {
                int n = 0;
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    n++;
                    Encoded e = encode(line, n, source);
                    if (e != null) {
                        checked.add(e);
                    }
                }
            }
        }

        KafkaClients.describe(bootstrap, args, List.of(target)); // the topic exists and the broker answers
        long t0 = System.nanoTime();
        AtomicLong acked = new AtomicLong();
        AtomicReference<Exception> failed = new AtomicReference<>();
        long sent = 0;
        try (KafkaProducer<byte[], byte[]> producer = KafkaClients.producer(bootstrap, args, "engram-cli-send")) {
            if (checked != null) {
                for (Encoded e : checked) {
                    send(producer, target, e, acked, failed);
                    sent = progress(++sent);
                }
            } else {
                try (BufferedReader r = open()) {
                    int n = 0;
                    for (String line = r.readLine(); line != null; line = r.readLine()) {
                        n++;
                        Encoded e;
                        try {
                            e = encode(line, n, source);
                        } catch (CliException bad) {
                            producer.flush();
                            long n0 = acked.get();
                            throw CliException.usage(bad.getMessage() + " (" + (n0 == 1 ? "the record" : "the " + n0
                                    + " records") + " before it " + (n0 == 1 ? "was" : "were") + " sent to " + target
                                    + ")");
                        }
                        if (e != null) {
                            send(producer, target, e, acked, failed);
                            sent = progress(++sent);
                        }
                        if (failed.get() != null) {
                            break;
                        }
                    }
                }
            }
            producer.flush();
        }
        if (failed.get() != null) {
            throw CliException.failure("sending to " + target + " failed after " + acked.get() + " acknowledged "
                    + "records: " + failed.get(), failed.get());
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        if (sent >= PROGRESS_EVERY) {
            note(String.format(java.util.Locale.ROOT, "%d records acknowledged by %s in %.1f s (%.0f records/s)",
                    acked.get(), bootstrap, secs, acked.get() / Math.max(secs, 1e-3)));
        }
        if (positions) {
            List<Landed> byLine = new ArrayList<>(landed);
            byLine.sort(java.util.Comparator.comparingInt(Landed::line));
            java.util.TreeMap<Integer, Long> last = new java.util.TreeMap<>();
            // A query's after_positions are checked against its own space's events: each space's last position
            java.util.TreeMap<String, java.util.TreeMap<Integer, Long>> bySpace = new java.util.TreeMap<>();
            for (Landed x : byLine) {
                out().println("position " + x.line() + " " + x.partition() + ":" + x.offset());
                last.merge(x.partition(), x.offset(), Math::max);
                bySpace.computeIfAbsent(x.key(), k -> new java.util.TreeMap<>())
                        .merge(x.partition(), x.offset(), Math::max);
            }
            if (type == RecordType.event) {
                bySpace.forEach((space, ps) -> {
                    StringBuilder line = new StringBuilder("space-positions ").append(space).append(' ');
                    ps.forEach((part, off) -> line.append(line.charAt(line.length() - 1) == ' ' ? "" : ",")
                            .append(part).append(':').append(off));
                    out().println(line);
                });
            }
            StringBuilder sb = new StringBuilder();
            last.forEach((part, off) -> sb.append(sb.length() == 0 ? "" : ",").append(part).append(':').append(off));
            out().println("after-positions " + sb);
        }
        out().println("sent " + acked.get() + " records to " + target);
        out().flush();
        return 0;
    }

    /** The 'space-positions SPACE P:O,...' lines of a --positions output (other lines are skipped). */
    static Map<String, List<EventPosition>> readSpacePositions(Path f) {
        List<String> lines;
        try {
            lines = Files.readAllLines(f, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw CliException.usage("--after-from: file not found: " + f);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + f, e);
        }
        Map<String, List<EventPosition>> out = new java.util.HashMap<>();
        String prefix = "space-positions ";
        for (String line : lines) {
            if (!line.startsWith(prefix)) {
                continue;
            }
            int cut = line.lastIndexOf(' ');
            if (cut < prefix.length()) {
                throw CliException.usage("--after-from: '" + line + "' is not 'space-positions SPACE P:O,...'");
            }
            List<EventPosition> ps;
            try {
                ps = parsePositions(List.of(line.substring(cut + 1).split(",")));
            } catch (CliException bad) {
                throw CliException.usage("--after-from: '" + line + "': " + bad.getMessage());
            }
            out.computeIfAbsent(line.substring(prefix.length(), cut), k -> new ArrayList<>()).addAll(ps);
        }
        if (out.isEmpty()) {
            throw CliException.usage("--after-from: " + f + " has no 'space-positions' line (it is the output of "
                    + "'engram send --type event --positions')");
        }
        return out;
    }

    /** "P:O" entries, both parts non-negative integers. */
    static List<EventPosition> parsePositions(List<String> entries) {
        List<EventPosition> out = new ArrayList<>();
        for (String e : entries == null ? List.<String>of() : entries) {
            String[] po = e.trim().split(":");
            try {
                if (po.length != 2) {
                    throw new NumberFormatException();
                }
                int part = Integer.parseInt(po[0].trim());
                long off = Long.parseLong(po[1].trim());
                if (part < 0 || off < 0) {
                    throw new NumberFormatException();
                }
                out.add(new EventPosition(part, off));
            } catch (NumberFormatException bad) {
                throw CliException.usage("--after: '" + e + "' is not PARTITION:OFFSET (non-negative integers)");
            }
        }
        return out;
    }

    private long progress(long sent) {
        if (sent % PROGRESS_EVERY == 0) {
            note(sent + " records sent...");
        }
        return sent;
    }

    private void send(KafkaProducer<byte[], byte[]> producer, String topic, Encoded e, AtomicLong acked,
                      AtomicReference<Exception> failed) {
        producer.send(new ProducerRecord<>(topic, e.key(), e.value()), (meta, ex) -> {
            if (ex != null) {
                failed.compareAndSet(null, ex);
            } else {
                acked.incrementAndGet();
                if (positions) {
                    // control records have no key (and no space)
                    landed.add(new Landed(e.line(), e.key() == null ? "" : new String(e.key(), StandardCharsets.UTF_8),
                            meta.partition(), meta.offset()));
                }
            }
        });
    }

    private BufferedReader open() {
        if (file == null || file.equals("-")) {
            return new BufferedReader(new InputStreamReader(cli.in, StandardCharsets.UTF_8));
        }
        try {
            return Files.newBufferedReader(Path.of(file), StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw CliException.usage("file not found: " + file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /** The line as key + Avro bytes; null for a blank line. */
    private Encoded encode(String line, int n, String source) {
        String text = n == 1 && line.startsWith("\uFEFF") ? line.substring(1) : line;
        if (text.isBlank()) {
            return null;
        }
        SpecificRecord record;
        try {
            record = switch (type) {
                case event -> JsonCodec.event(text, System.currentTimeMillis());
                case query -> withWaits(JsonCodec.query(text, System.currentTimeMillis()));
                case control -> JsonCodec.control(text, System.currentTimeMillis());
            };
            byte[] value = AvroCodec.encode(record);
            Rejection r = rejection(record);
            if (r != null) {
                throw CliException.usage(source + " line " + n + ": " + r.reason() + ": " + r.getMessage()
                        + " (the job would dead-letter it; --no-validate sends it anyway)");
            }
            return new Encoded(n, key(record), value);
        } catch (IllegalArgumentException e) {
            throw CliException.usage(source + " line " + n + ": " + e.getMessage());
        }
    }

    /** The query with the --after / --after-from / --after-events conditions added to its own. */
    private RecallQuery withWaits(RecallQuery q) {
        List<EventPosition> ofSpace = afterBySpace.getOrDefault(q.getSpace(), List.of());
        if (afterPositions.isEmpty() && ofSpace.isEmpty() && (afterEvents == null || afterEvents.isEmpty())) {
            return q;
        }
        List<EventPosition> ps = new ArrayList<>(q.getAfterPositions());
        ps.addAll(afterPositions);
        ps.addAll(ofSpace);
        List<String> ids = new ArrayList<>();
        q.getAfterEventIds().forEach(x -> ids.add(x.toString()));
        if (afterEvents != null) {
            afterEvents.forEach(x -> ids.add(x.trim()));
        }
        return RecallQuery.newBuilder(q).setAfterPositions(ps).setAfterEventIds(ids).build();
    }

    /** What the job's own checks say about the record (null: accepted, or --no-validate). */
    private Rejection rejection(SpecificRecord record) {
        if (checks == null) {
            return null;
        }
        long now = System.currentTimeMillis();
        if (record instanceof MemoryEvent e) {
            return checks.event(e, now);
        }
        if (record instanceof RecallQuery q) {
            return checks.query(q, now);
        }
        return record instanceof KernelControl c ? checks.control(c) : null;
    }

    /** Key = the space (UTF-8), which is also what the job partitions by; control records have none. */
    static byte[] key(SpecificRecord r) {
        if (r instanceof MemoryEvent e) {
            return e.getSpace().getBytes(StandardCharsets.UTF_8);
        }
        if (r instanceof RecallQuery q) {
            return q.getSpace().getBytes(StandardCharsets.UTF_8);
        }
        if (r instanceof KernelControl) {
            return null;
        }
        throw new IllegalArgumentException("cannot send a " + r.getSchema().getName());
    }

    static String defaultTopic(RecordType type, Configuration conf) {
        return switch (type) {
            case event -> conf.get(EngramOptions.TOPIC_MEMORY_EVENTS);
            case query -> conf.get(EngramOptions.TOPIC_RECALL_QUERIES);
            case control -> conf.get(EngramOptions.TOPIC_CONTROL);
        };
    }
}
