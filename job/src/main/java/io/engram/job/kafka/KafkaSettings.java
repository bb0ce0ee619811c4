package io.engram.job.kafka;

import io.engram.job.config.EngramOptions;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.provider.DirectoryConfigProvider;
import org.apache.kafka.common.config.provider.EnvVarConfigProvider;
import org.apache.kafka.common.config.provider.FileConfigProvider;

/** Builds the job's Kafka sources and sinks from the engram options. */
public final class KafkaSettings {
    private final Configuration conf;

    public KafkaSettings(Configuration conf) {
        this.conf = conf;
    }

    /** Kafka's config providers that a value may name as {@code ${file:path:key}}, {@code ${env:NAME}}, ... */
    static final Map<String, String> CONFIG_PROVIDERS = new TreeMap<>(Map.of(
            "file", FileConfigProvider.class.getName(),
            "dir", DirectoryConfigProvider.class.getName(),
            "env", EnvVarConfigProvider.class.getName()));

    /**
     * Everything under engram.kafka.properties.* (SASL, SSL, ...), for every client. A value may reference a secret
     * instead of holding it, {@code ${file:/etc/engram/kafka.properties:sasl.jaas.config}} or
     * {@code ${env:ENGRAM_KAFKA_JAAS}} (or {@code ${dir:/run/secrets:name}}): Kafka's own config providers resolve
     * it inside each client, where it runs, so the secret is in no configuration Flink shows, logs or ships. The
     * providers used are declared here unless config.providers is given.
     */
    public static Properties clientProperties(Map<String, String> conf) {
        Properties p = new Properties();
        conf.forEach((k, v) -> {
            if (k.startsWith(EngramOptions.KAFKA_PROPERTIES_PREFIX)) {
                p.setProperty(k.substring(EngramOptions.KAFKA_PROPERTIES_PREFIX.length()), v);
            }
        });
        if (!p.containsKey("config.providers")) {
            Set<String> used = new TreeSet<>();
            for (String v : p.stringPropertyNames().stream().map(p::getProperty).toList()) {
                CONFIG_PROVIDERS.keySet().stream().filter(n -> v.contains("${" + n + ":")).forEach(used::add);
            }
            if (!used.isEmpty()) {
                p.setProperty("config.providers", String.join(",", used));
                used.forEach(n -> p.setProperty("config.providers." + n + ".class", CONFIG_PROVIDERS.get(n)));
            }
        }
        return p;
    }

    /**
     * The engram.kafka.properties.* keys holding a secret in clear (a Kafka PASSWORD-type setting with a literal
     * value) that Flink would show as typed wherever it shows the configuration holding it: Flink masks only keys
     * containing password, secret, token, jaas.config and a few more.
     */
    public static List<String> unmaskedSecrets(Map<String, String> conf) {
        List<String> out = new ArrayList<>();
        conf.forEach((k, v) -> {
            if (v != null && !v.contains("${") && isClientPassword(k) && !GlobalConfiguration.isSensitive(k)) {
                out.add(k);
            }
        });
        out.sort(null);
        return out;
    }

    /** The Kafka clients' own PASSWORD-typed properties (producer, consumer, admin). */
    private static final Set<String> CLIENT_PASSWORDS = clientPasswords();

    private static Set<String> clientPasswords() {
        Set<String> passwords = new TreeSet<>();
        for (ConfigDef def : List.of(ProducerConfig.configDef(), ConsumerConfig.configDef(),
                AdminClientConfig.configDef())) {
            def.configKeys().forEach((k, key) -> {
                if (key.type == ConfigDef.Type.PASSWORD) {
                    passwords.add(k);
                }
            });
        }
        return passwords;
    }

    /** True for an engram.kafka.properties.* key that Kafka types as a password (sasl.jaas.config, ssl.*.password...). */
    public static boolean isClientPassword(String key) {
        return key.startsWith(EngramOptions.KAFKA_PROPERTIES_PREFIX)
                && CLIENT_PASSWORDS.contains(key.substring(EngramOptions.KAFKA_PROPERTIES_PREFIX.length()));
    }

    /** {@code conf} without engram.kafka.properties.*: what may be shown where Flink shows configuration. */
    public static Configuration withoutClientProperties(Configuration conf) {
        Configuration c = new Configuration();
        conf.toMap().forEach((k, v) -> {
            if (!k.startsWith(EngramOptions.KAFKA_PROPERTIES_PREFIX)) {
                c.setString(k, v);
            }
        });
        return c;
    }

    public String bootstrapServers() {
        return conf.get(EngramOptions.BOOTSTRAP_SERVERS);
    }

    public KafkaSource<RawRecord> source(String topic, RawRecord.Kind kind) {
        Properties props = clientProperties(conf.toMap());
        props.setProperty("isolation.level", "read_committed");
        return KafkaSource.<RawRecord>builder()
                .setBootstrapServers(bootstrapServers())
                .setTopics(topic)
                .setGroupId(conf.get(EngramOptions.GROUP_ID) + (kind == RawRecord.Kind.CONTROL ? "-control" : ""))
                .setStartingOffsets(startingOffsets(conf.get(EngramOptions.STARTING_OFFSETS)))
                .setDeserializer(new RawRecordDeserializer(kind, conf.get(EngramOptions.MAX_FUTURE_SKEW).toMillis()))
                .setProperties(props)
                .build();
    }

    static OffsetsInitializer startingOffsets(String text) {
        switch (text.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "earliest":
                return OffsetsInitializer.earliest();
            case "latest":
                return OffsetsInitializer.latest();
            case "committed":
                return OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
            default:
                throw new IllegalArgumentException("invalid configuration: " + EngramOptions.STARTING_OFFSETS.key()
                        + " '" + text + "' must be earliest, latest or committed");
        }
    }

    /** The client properties, for the checks made when the job is built. */
    Properties clientPropertiesForChecks() {
        return clientProperties(conf.toMap());
    }

    /**
     * A sink of the configured delivery guarantee ({@code engram.kafka.delivery-guarantee}): exactly once (Kafka
     * transactions committed by each checkpoint; readers use isolation.level=read_committed) or at least once
     * (flushed at each checkpoint, visible at once, written again after a restore). Records pass
     * {@link BoundedRecordSerializer}, so none is refused by the topic for its size or timestamp.
     */
    public KafkaSink<OutRecord> sink(String topic, String transactionalSuffix, OutputLimits limits) {
        KafkaRecordSerializationSchema<OutRecord> schema = new BoundedRecordSerializer(topic, limits);
        DeliveryGuarantee guarantee = deliveryGuarantee();
        var builder = KafkaSink.<OutRecord>builder()
                .setBootstrapServers(bootstrapServers())
                .setRecordSerializer(schema)
                .setDeliveryGuarantee(guarantee);
        if (guarantee == DeliveryGuarantee.EXACTLY_ONCE) {
            builder.setTransactionalIdPrefix(
                    conf.get(EngramOptions.TRANSACTIONAL_ID_PREFIX) + "-" + transactionalSuffix);
        }
        return builder.setKafkaProducerConfig(sinkProperties(guarantee))
                .build();
    }

    /** The sinks' retry backoff unless {@code engram.kafka.properties.retry.backoff.ms} sets one (Kafka's is 100). */
    static final String SINK_RETRY_BACKOFF_MS = "10";

    /** The sinks' producer properties: the client properties, plus what the sinks need. */
    Properties sinkProperties(DeliveryGuarantee guarantee) {
        Properties props = clientProperties(conf.toMap());
        // A producer retries a request it could not send at once (to the coordinator of a transactional id it was just
        // given, over a connection still opening) after retry.backoff.ms: 100 ms by Kafka's default, waited inside
        // initTransactions on the operator's thread at a checkpoint. Sooner here. Transaction requests retry at this
        // fixed interval while a coordinator loads or moves (about 100 small requests/s per sink subtask); a broker
        // that is down is paced by reconnect.backoff.ms instead (docs/operations/sizing.md#latency-and-the-sink).
        props.putIfAbsent(ProducerConfig.RETRY_BACKOFF_MS_CONFIG, SINK_RETRY_BACKOFF_MS);
        if (guarantee == DeliveryGuarantee.EXACTLY_ONCE) {
            props.setProperty("transaction.timeout.ms",
                    Long.toString(conf.get(EngramOptions.TRANSACTION_TIMEOUT).toMillis()));
        }
        return props;
    }

    /** The sinks' delivery guarantee; NONE is refused (EngramSettings refuses it first, when the job is built). */
    public DeliveryGuarantee deliveryGuarantee() {
        DeliveryGuarantee g = conf.get(EngramOptions.DELIVERY_GUARANTEE);
        if (g == DeliveryGuarantee.NONE) {
            throw new IllegalArgumentException("invalid configuration: " + EngramOptions.DELIVERY_GUARANTEE.key()
                    + " must be exactly-once or at-least-once: with none a sink does not flush at checkpoints and may "
                    + "lose results");
        }
        return g;
    }
}
