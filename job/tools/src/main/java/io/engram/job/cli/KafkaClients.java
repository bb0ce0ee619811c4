package io.engram.job.cli;

import io.engram.job.config.EngramOptions;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Kafka clients for the CLI commands, from {@code --bootstrap-servers} and the {@code engram.kafka.properties.*}
 * passthrough (SASL, SSL, tuning). A few settings are fixed because the commands' guarantees depend on them:
 * producers are idempotent with {@code acks=all}, consumers read with {@code isolation.level=read_committed}.
 */
final class KafkaClients {
    /** How long a command waits for the broker before it reports it unreachable (overridable per client). */
    static final int API_TIMEOUT_MS = 30_000;

    private KafkaClients() {
    }

    /** {@code --bootstrap-servers}, else {@code -D engram.kafka.bootstrap-servers}, else a usage error. */
    static String bootstrap(String option, ConfigArgs args) {
        if (option != null && !option.isBlank()) {
            return option.trim();
        }
        String fromD = args.get(EngramOptions.BOOTSTRAP_SERVERS.key());
        if (fromD != null && !fromD.isBlank()) {
            return fromD.trim();
        }
        throw CliException.usage("missing --bootstrap-servers HOST:PORT");
    }

    private static Properties base(String bootstrap, ConfigArgs args, String clientId) {
        Properties p = new Properties();
        p.put("client.id", clientId);
        p.put("request.timeout.ms", "15000");
        p.put("default.api.timeout.ms", String.valueOf(API_TIMEOUT_MS));
        p.putAll(args.kafkaClientProperties());
        p.put("bootstrap.servers", bootstrap);
        return p;
    }

    static KafkaProducer<byte[], byte[]> producer(String bootstrap, ConfigArgs args, String clientId) {
        Properties p = base(bootstrap, args, clientId);
        p.remove("default.api.timeout.ms"); // not a producer setting
        p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(API_TIMEOUT_MS));
        p.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.putIfAbsent(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        p.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    /** A read_committed consumer; with a group id it commits offsets, without one it is assigned partitions. */
    static KafkaConsumer<byte[], byte[]> consumer(String bootstrap, ConfigArgs args, String clientId, String group,
                                                  boolean fromBeginning) {
        Properties p = base(bootstrap, args, clientId);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        if (group != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, fromBeginning ? "earliest" : "latest");
            p.putIfAbsent(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        } else {
            p.remove(ConsumerConfig.GROUP_ID_CONFIG);
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        }
        return new KafkaConsumer<>(p);
    }

    static Admin admin(String bootstrap, ConfigArgs args, String clientId) {
        Properties p = base(bootstrap, args, clientId);
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        return Admin.create(p);
    }

    /**
     * The partitions of the topics, checked to exist. Throws a {@link CliException} naming the missing topics, or
     * saying that the broker cannot be reached, instead of letting a client block or fail obscurely.
     */
    static Map<String, List<TopicPartition>> describe(String bootstrap, ConfigArgs args, Collection<String> topics) {
        try (Admin admin = admin(bootstrap, args, "engram-cli-admin")) {
            Map<String, List<TopicPartition>> out = new TreeMap<>();
            List<String> missing = new ArrayList<>();
            Map<String, org.apache.kafka.common.KafkaFuture<TopicDescription>> futures =
                    admin.describeTopics(topics).topicNameValues();
            for (String t : topics) {
                try {
                    TopicDescription d = futures.get(t).get(apiTimeoutMs(args) + 5_000L, TimeUnit.MILLISECONDS);
                    List<TopicPartition> parts = new ArrayList<>();
                    d.partitions().forEach(pi -> parts.add(new TopicPartition(t, pi.partition())));
                    out.put(t, parts);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UnknownTopicOrPartitionException) {
                        missing.add(t);
                    } else {
                        throw unreachable(bootstrap, e.getCause(), args);
                    }
                }
            }
            if (!missing.isEmpty()) {
                throw new CliException(CliException.FAILURE, (missing.size() == 1 ? "topic " : "topics ")
                        + String.join(", ", missing) + (missing.size() == 1 ? " does" : " do")
                        + " not exist on " + bootstrap + " (create " + (missing.size() == 1 ? "it" : "them")
                        + " first; `engram broker` creates the default topics)");
            }
            return out;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CliException(CliException.FAILURE, "interrupted");
        } catch (TimeoutException e) {
            throw unreachable(bootstrap, e, args);
        } catch (KafkaException e) {
            throw unreachable(bootstrap, e, args);
        }
    }

    /** default.api.timeout.ms of the admin client: ours, or the one given under engram.kafka.properties. */
    static long apiTimeoutMs(ConfigArgs args) {
        String v = args.kafkaClientProperties().getProperty("default.api.timeout.ms");
        try {
            return v == null ? API_TIMEOUT_MS : Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return API_TIMEOUT_MS;
        }
    }

    static CliException unreachable(String bootstrap, Throwable cause, ConfigArgs args) {
        if (cause instanceof AuthenticationException || cause instanceof AuthorizationException) {
            return CliException.failure("Kafka at " + bootstrap + " refused access: " + cause.getMessage()
                    + " (check the " + EngramOptions.KAFKA_PROPERTIES_PREFIX + "* security settings)", cause);
        }
        if (cause instanceof org.apache.kafka.common.errors.TimeoutException || cause instanceof TimeoutException) {
            return CliException.failure("cannot reach Kafka at " + bootstrap + " within "
                    + DurationConverter.format(java.time.Duration.ofMillis(apiTimeoutMs(args))) + " (is the broker running and reachable? secured clusters need -D "
                    + EngramOptions.KAFKA_PROPERTIES_PREFIX + "security.protocol=... and friends)", cause);
        }
        return CliException.failure("Kafka at " + bootstrap + ": " + cause, cause);
    }
}
