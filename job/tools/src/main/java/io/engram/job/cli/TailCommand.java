package io.engram.job.cli;

import io.engram.job.config.EngramOptions;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DecodeException;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.apache.flink.configuration.Configuration;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code engram tail}: engram records from a topic as JSON Lines on stdout. */
@Command(name = "tail",
        description = {
            "Reads a topic with a read_committed consumer and prints each record as one JSON object per line.",
            "Stops (exit 0) after --max-records, or when no record arrived for --idle-timeout.",
            "Without --group no offsets are committed; with --group, offsets of the printed records are committed and "
                    + "--from-beginning only applies when the group has none yet."},
        sortOptions = false,
        mixinStandardHelpOptions = true)
final class TailCommand extends BaseCommand {
    /** results and dead-letters are the outputs; events, queries and control are for debugging producers. */
    enum RecordType { results, dead_letters, events, queries, control }

    @Option(names = "--bootstrap-servers", paramLabel = "HOST:PORT", description = "Kafka bootstrap servers.")
    String bootstrapServers;

    @Option(names = "--type", required = true, paramLabel = "results|dead-letters",
            converter = TypeConverter.class,
            description = "What to read: results, dead-letters (also: events, queries, control).")
    RecordType type;

    @Option(names = "--topic", paramLabel = "TOPIC",
            description = "Topic (default: engram.recall-results or engram.dead-letters, or the engram.topics.* "
                    + "option given with -D).")
    String topic;

    @Option(names = "--from-beginning", description = "Start at the beginning of the topic (default: the end).")
    boolean fromBeginning;

    @Option(names = "--max-records", paramLabel = "N", description = "Stop after N records.")
    Long maxRecords;

    @Option(names = "--idle-timeout", paramLabel = "DURATION", defaultValue = "10s",
            converter = DurationConverter.class,
            description = "Stop when no record arrived for this long (default: ${DEFAULT-VALUE}).")
    Duration idleTimeout;

    @Option(names = "--group", paramLabel = "GROUP", description = "Consumer group (commits offsets).")
    String group;

    @Option(names = "-D", paramLabel = "key=value",
            description = "engram.kafka.properties.<client-property>=<value> (e.g. SASL/SSL), or another engram.* "
                    + "option. Repeatable.")
    Map<String, String> properties;

    static final class TypeConverter implements picocli.CommandLine.ITypeConverter<RecordType> {
        @Override
        public RecordType convert(String value) {
            String v = value.trim().toLowerCase(java.util.Locale.ROOT).replace('-', '_');
            try {
                return RecordType.valueOf(v);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.TypeConversionException("'" + value + "' is not one of results, "
                        + "dead-letters, events, queries, control");
            }
        }
    }

    @Override
    public Integer call() {
        if (maxRecords != null && maxRecords < 1) {
            throw CliException.usage("--max-records must be at least 1");
        }
        ConfigArgs args = ConfigArgs.of(properties, false);
        String bootstrap = KafkaClients.bootstrap(bootstrapServers, args);
        String target = topic != null ? topic : defaultTopic(type, args.configuration());
        List<TopicPartition> partitions = KafkaClients.describe(bootstrap, args, List.of(target)).get(target);

        long printed = 0;
        long skipped = 0;
        String why;
        Map<TopicPartition, OffsetAndMetadata> toCommit = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> consumer =
                     KafkaClients.consumer(bootstrap, args, "engram-cli-tail", group, fromBeginning)) {
            if (group != null) {
                consumer.subscribe(List.of(target));
            } else {
                consumer.assign(partitions);
                if (fromBeginning) {
                    consumer.seekToBeginning(partitions);
                } else {
                    consumer.seekToEnd(partitions);
                }
                partitions.forEach(consumer::position); // fix the start now, not at the first poll
            }
            long lastRecord = System.nanoTime();
            outer:
            while (true) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    lastRecord = System.nanoTime();
                    try {
                        out().println(JsonCodec.toJson(decode(type, r.value())));
                        printed++;
                    } catch (DecodeException e) {
                        skipped++;
                        note("skipped undecodable record " + r.topic() + "-" + r.partition() + "@" + r.offset() + ": "
                                + e.getMessage());
                    }
                    toCommit.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                    if (maxRecords != null && printed >= maxRecords) {
                        why = "--max-records " + maxRecords + " reached";
                        break outer;
                    }
                }
                out().flush();
                if (out().checkError()) {
                    why = "stdout closed";
                    break;
                }
                if (System.nanoTime() - lastRecord >= idleTimeout.toNanos()) {
                    why = "no record for " + DurationConverter.format(idleTimeout);
                    break;
                }
                if (Thread.currentThread().isInterrupted()) {
                    why = "interrupted";
                    break;
                }
            }
            out().flush();
            if (group != null && !toCommit.isEmpty()) {
                consumer.commitSync(toCommit);
            }
        }
        note(printed + " record" + (printed == 1 ? "" : "s") + " from " + target
                + (skipped > 0 ? ", " + skipped + " undecodable skipped" : "") + " (" + why + ")");
        return 0;
    }

    static SpecificRecord decode(RecordType type, byte[] value) {
        return switch (type) {
            case results -> AvroCodec.decodeRecallResult(value);
            case dead_letters -> AvroCodec.decodeDeadLetter(value);
            case events -> AvroCodec.decodeMemoryEvent(value);
            case queries -> AvroCodec.decodeRecallQuery(value);
            case control -> AvroCodec.decodeKernelControl(value);
        };
    }

    static String defaultTopic(RecordType type, Configuration conf) {
        return switch (type) {
            case results -> conf.get(EngramOptions.TOPIC_RECALL_RESULTS);
            case dead_letters -> conf.get(EngramOptions.TOPIC_DEAD_LETTERS);
            case events -> conf.get(EngramOptions.TOPIC_MEMORY_EVENTS);
            case queries -> conf.get(EngramOptions.TOPIC_RECALL_QUERIES);
            case control -> conf.get(EngramOptions.TOPIC_CONTROL);
        };
    }
}
