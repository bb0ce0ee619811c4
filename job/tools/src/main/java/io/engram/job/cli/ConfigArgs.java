package io.engram.job.cli;

import io.engram.job.config.ConfigDocs;
import io.engram.job.config.EngramKeys;
import io.engram.job.config.EngramOptions;
import io.engram.job.kafka.KafkaSettings;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;

/**
 * The {@code -D key=value} settings of a command. {@code engram.*} keys must be real options (a typo is an error,
 * not a silently ignored setting); {@code engram.kafka.properties.*} passes client properties through. Values
 * under that prefix are treated as secrets: {@link #describeForLog()} shows their keys only.
 */
public final class ConfigArgs {
    private static final String ENGRAM = "engram.";

    private final Map<String, String> values;

    private ConfigArgs(Map<String, String> values) {
        this.values = values;
    }

    /**
     * @param raw             the -D map from picocli (may be null)
     * @param allowNonEngram  true where Flink settings make sense too ({@code run}, {@code demo}); false for the
     *                        Kafka-only commands, where a non-engram key is almost certainly a mistake
     */
    public static ConfigArgs of(Map<String, String> raw, boolean allowNonEngram) {
        Map<String, String> v = new LinkedHashMap<>();
        Map<String, ConfigOption<?>> known = ConfigDocs.byKey();
        if (raw != null) {
            for (Map.Entry<String, String> e : raw.entrySet()) {
                String key = e.getKey() == null ? "" : e.getKey().trim();
                if (key.isEmpty()) {
                    throw CliException.usage("-D needs key=value, got '=" + e.getValue() + "'");
                }
                if (e.getValue() == null) {
                    throw CliException.usage("-D " + key + " needs a value: -D " + key + "=VALUE");
                }
                if (key.startsWith(EngramOptions.KAFKA_PROPERTIES_PREFIX)) {
                    if (key.length() == EngramOptions.KAFKA_PROPERTIES_PREFIX.length()) {
                        throw CliException.usage("-D " + key + " names no Kafka client property");
                    }
                } else if (key.startsWith(ENGRAM)) {
                    if (!known.containsKey(key)) {
                        throw CliException.usage("unknown option " + key + EngramKeys.suggestion(key, known.keySet())
                                + " (all options: docs/operations/configuration.md)");
                    }
                } else if (!allowNonEngram) {
                    throw CliException.usage("-D " + key + ": this command takes engram.* options only; Kafka client "
                            + "settings go under " + EngramOptions.KAFKA_PROPERTIES_PREFIX + key);
                }
                v.put(key, e.getValue());
            }
        }
        return new ConfigArgs(v);
    }

    public static ConfigArgs empty() {
        return new ConfigArgs(new LinkedHashMap<>());
    }

    /** All settings as a Flink configuration (values are checked when the options are read). */
    public Configuration configuration() {
        return Configuration.fromMap(values);
    }

    public Map<String, String> asMap() {
        return values;
    }

    /** The Kafka client properties given under engram.kafka.properties.*, prefix removed. */
    public Properties kafkaClientProperties() {
        return KafkaSettings.clientProperties(values);
    }

    public String get(String key) {
        return values.get(key);
    }

    /** The settings for a log line or banner: Kafka client property values are hidden. */
    public String describeForLog() {
        List<String> parts = new ArrayList<>();
        values.forEach((k, val) -> parts.add(isSecretCandidate(k) ? k + "=<hidden>" : k + "=" + val));
        return String.join(", ", parts);
    }

    /** Keys whose values may hold credentials: every Kafka client property (SASL JAAS configs, SSL passwords). */
    public static boolean isSecretCandidate(String key) {
        String k = key.toLowerCase(java.util.Locale.ROOT);
        return k.startsWith(EngramOptions.KAFKA_PROPERTIES_PREFIX) || k.contains("password") || k.contains("secret")
                || k.contains("jaas") || k.contains("token") || k.contains("credential");
    }
}
