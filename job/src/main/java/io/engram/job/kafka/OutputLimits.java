package io.engram.job.kafka;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.config.TopicConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the job's two output topics and its producers accept, read once when the job is built, and the check that
 * engram.limits.max-output-record-size fits in all of it. The operator bounds every record it emits by that size,
 * so a configuration that passes here cannot make the sinks refuse a record for its size; one that cannot hold is
 * refused at submission, naming the numbers, rather than crash-looping on the first large record.
 *
 * <p>The sinks also use it ({@link BoundedRecordSerializer}) to keep record timestamps inside the window the topic
 * accepts (message.timestamp.before/after.max.ms).
 */
public final class OutputLimits implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(OutputLimits.class);

    /** How long the submission waits for the broker to describe the topics. */
    static final Duration DESCRIBE_TIMEOUT = Duration.ofSeconds(20);
    /** Kafka's broker-side default max.message.bytes, assumed when the topics cannot be described. */
    static final int DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;
    /** Kafka's default message.timestamp.after.max.ms since 4.0 (1 hour), assumed when unknown. */
    static final long DEFAULT_AFTER_MAX_MS = 3_600_000L;

    /** One output topic as the broker describes it. */
    public record Topic(String name, int maxMessageBytes, boolean createTime, long beforeMaxMs, long afterMaxMs,
                        String cleanupPolicy, String compressionType, boolean described) implements Serializable {
        /** The broker's defaults, for a topic that could not be described. */
        static Topic assumed(String name) {
            return new Topic(name, DEFAULT_MAX_MESSAGE_BYTES, true, Long.MAX_VALUE, DEFAULT_AFTER_MAX_MS, "delete",
                    "producer", false);
        }
    }

    /** The producer settings that bound one record. */
    public record Producer(int maxRequestSize, long bufferMemory, int batchSize, String compressionType)
            implements Serializable {
        static Producer of(Properties client) {
            Map<String, Object> d = ProducerConfig.configDef().defaultValues();
            return new Producer(
                    intValue(client, ProducerConfig.MAX_REQUEST_SIZE_CONFIG, (Integer) d.get(
                            ProducerConfig.MAX_REQUEST_SIZE_CONFIG)),
                    longValue(client, ProducerConfig.BUFFER_MEMORY_CONFIG, (Long) d.get(
                            ProducerConfig.BUFFER_MEMORY_CONFIG)),
                    intValue(client, ProducerConfig.BATCH_SIZE_CONFIG, (Integer) d.get(
                            ProducerConfig.BATCH_SIZE_CONFIG)),
                    client.getProperty(ProducerConfig.COMPRESSION_TYPE_CONFIG,
                            String.valueOf(d.get(ProducerConfig.COMPRESSION_TYPE_CONFIG))).trim()
                            .toLowerCase(Locale.ROOT));
        }
    }

    private final int maxRecordBytes;
    private final String deadLetterTopic;
    private final Map<String, Topic> topics;

    OutputLimits(int maxRecordBytes, String deadLetterTopic, Map<String, Topic> topics) {
        this.maxRecordBytes = maxRecordBytes;
        this.deadLetterTopic = deadLetterTopic;
        this.topics = topics;
    }

    /**
     * Describes the results and dead-letter topics and checks engram.limits.max-output-record-size against them
     * and the producers' settings. When the broker cannot be asked (unreachable, no DESCRIBE_CONFIGS permission),
     * the check uses Kafka's defaults for the topics and says so in a warning.
     *
     * @throws IllegalArgumentException naming the settings, when a record of the configured size could not be
     *                                  written
     */
    public static OutputLimits check(KafkaSettings kafka, EngramSettings settings, String resultsTopic,
                                     String deadLetterTopic) {
        Properties client = kafka.clientPropertiesForChecks();
        Map<String, Topic> topics = describe(kafka.bootstrapServers(), client, List.of(resultsTopic,
                deadLetterTopic));
        OutputLimits limits = new OutputLimits(settings.maxOutputRecordBytes, deadLetterTopic, topics);
        verify(settings.maxOutputRecordBytes, Producer.of(client), List.copyOf(topics.values()));
        return limits;
    }

    /** The check itself. */
    static void verify(int maxRecordBytes, Producer producer, List<Topic> topics) {
        String option = EngramOptions.MAX_OUTPUT_RECORD_SIZE.key() + " (" + maxRecordBytes + " bytes)";
        List<String> problems = new ArrayList<>();
        if (maxRecordBytes > producer.maxRequestSize()) {
            problems.add(option + " is larger than the sinks' max.request.size (" + producer.maxRequestSize()
                    + " bytes): lower it, or raise " + EngramOptions.KAFKA_PROPERTIES_PREFIX + "max.request.size");
        }
        if (maxRecordBytes > producer.bufferMemory()) {
            problems.add(option + " is larger than the sinks' buffer.memory (" + producer.bufferMemory() + " bytes)");
        }
        for (Topic t : topics) {
            boolean compressed = isCompressed(producer.compressionType()) || isTopicCompressed(t.compressionType());
            long needed = compressed ? withCompressionHeadroom(maxRecordBytes) : maxRecordBytes;
            if (needed > t.maxMessageBytes()) {
                problems.add(option + (compressed ? ", compressed (" + needed + " bytes with headroom)" : "")
                        + " is larger than max.message.bytes of topic " + t.name() + " (" + t.maxMessageBytes()
                        + " bytes" + (t.described() ? "" : ", Kafka's default: the topic could not be described")
                        + "): lower it, or raise the topic's max.message.bytes");
            }
            if (producer.batchSize() > t.maxMessageBytes()) {
                problems.add(EngramOptions.KAFKA_PROPERTIES_PREFIX + "batch.size (" + producer.batchSize()
                        + " bytes) is larger than max.message.bytes of topic " + t.name() + " ("
                        + t.maxMessageBytes() + " bytes): a full batch of small records would be refused");
            }
            if (t.cleanupPolicy() != null && t.cleanupPolicy().toLowerCase(Locale.ROOT).contains("compact")) {
                problems.add("topic " + t.name() + " has cleanup.policy=" + t.cleanupPolicy() + ": compaction keeps "
                        + "one record per key and refuses records without a key; use cleanup.policy=delete");
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("invalid configuration: " + String.join("; ", problems));
        }
    }

    /**
     * Compressed, an incompressible record can grow: by at most 1/6 plus a few bytes with Snappy, less with gzip,
     * lz4 and zstd. The broker checks the compressed batch against max.message.bytes.
     */
    static long withCompressionHeadroom(long bytes) {
        return bytes + bytes / 6 + 64;
    }

    private static boolean isCompressed(String producerCodec) {
        return producerCodec != null && !producerCodec.equals("none");
    }

    private static boolean isTopicCompressed(String topicCodec) {
        return topicCodec != null && !topicCodec.equals("producer") && !topicCodec.equals("uncompressed");
    }

    private static Map<String, Topic> describe(String bootstrap, Properties client, List<String> names) {
        Map<String, Topic> out = new LinkedHashMap<>();
        Properties p = new Properties();
        p.putAll(client);
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(DESCRIBE_TIMEOUT.toMillis()));
        List<ConfigResource> resources = names.stream()
                .map(n -> new ConfigResource(ConfigResource.Type.TOPIC, n)).toList();
        try (Admin admin = Admin.create(p)) {
            Map<ConfigResource, Config> configs = admin.describeConfigs(resources).all()
                    .get(DESCRIBE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            for (ConfigResource r : resources) {
                out.put(r.name(), topic(r.name(), configs.get(r)));
            }
        } catch (Exception e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            LOG.warn("engram: could not describe topics {} on {} ({}): checking {} against Kafka's defaults "
                            + "(max.message.bytes {}, message.timestamp.after.max.ms {}); grant DESCRIBE_CONFIGS on "
                            + "the output topics to check their real limits", names, bootstrap, cause.toString(),
                    EngramOptions.MAX_OUTPUT_RECORD_SIZE.key(), DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_AFTER_MAX_MS);
            for (String n : names) {
                out.put(n, Topic.assumed(n));
            }
        }
        return out;
    }

    private static Topic topic(String name, Config c) {
        Topic d = Topic.assumed(name);
        return new Topic(name,
                (int) number(c, TopicConfig.MAX_MESSAGE_BYTES_CONFIG, d.maxMessageBytes()),
                !"LogAppendTime".equalsIgnoreCase(text(c, TopicConfig.MESSAGE_TIMESTAMP_TYPE_CONFIG, "CreateTime")),
                number(c, TopicConfig.MESSAGE_TIMESTAMP_BEFORE_MAX_MS_CONFIG, d.beforeMaxMs()),
                number(c, TopicConfig.MESSAGE_TIMESTAMP_AFTER_MAX_MS_CONFIG, d.afterMaxMs()),
                text(c, TopicConfig.CLEANUP_POLICY_CONFIG, d.cleanupPolicy()),
                text(c, TopicConfig.COMPRESSION_TYPE_CONFIG, d.compressionType()).toLowerCase(Locale.ROOT),
                true);
    }

    private static String text(Config c, String key, String fallback) {
        ConfigEntry e = c == null ? null : c.get(key);
        return e == null || e.value() == null ? fallback : e.value();
    }

    private static long number(Config c, String key, long fallback) {
        try {
            return Long.parseLong(text(c, key, Long.toString(fallback)).trim());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }

    private static int intValue(Properties p, String key, int fallback) {
        return (int) longValue(p, key, fallback);
    }

    private static long longValue(Properties p, String key, long fallback) {
        String v = p.getProperty(key);
        if (v == null || v.contains("${")) {
            return fallback; // unset, or resolved only inside the client (a config provider)
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("invalid configuration: " + EngramOptions.KAFKA_PROPERTIES_PREFIX + key
                    + " '" + v + "' is not a number");
        }
    }

    // ----- used by the sinks -----------------------------------------------------------------------------------

    public int maxRecordBytes() {
        return maxRecordBytes;
    }

    public String deadLetterTopic() {
        return deadLetterTopic;
    }

    /**
     * The timestamp to write a record with: its own, unless the topic would refuse it (CreateTime topics accept
     * message.timestamp.before.max.ms behind and after.max.ms ahead of the broker's clock, minus a minute for
     * clock differences, and nothing negative); then the wall clock's. A refused record would fail the
     * sink on every replay.
     */
    public long writeTimestamp(String topic, long timestamp, long now) {
        Topic t = topics.getOrDefault(topic, Topic.assumed(topic));
        if (timestamp < 0) {
            return now;
        }
        if (!t.createTime()) {
            return timestamp;
        }
        long latest = t.afterMaxMs() >= Long.MAX_VALUE / 2 ? Long.MAX_VALUE : now + t.afterMaxMs() - margin(t
                .afterMaxMs());
        long earliest = t.beforeMaxMs() >= Long.MAX_VALUE / 2 ? Long.MIN_VALUE : now - t.beforeMaxMs() + margin(t
                .beforeMaxMs());
        return timestamp > latest || timestamp < earliest ? now : timestamp;
    }

    private static long margin(long window) {
        return Math.min(60_000L, window / 2);
    }

    Map<String, Topic> topics() {
        return topics;
    }
}
