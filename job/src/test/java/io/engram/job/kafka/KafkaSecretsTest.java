package io.engram.job.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.configuration.Configuration;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Kafka client secrets: referenced from a file or the environment, kept out of what Flink shows. */
class KafkaSecretsTest {

    @Test
    void aValueReferencingAFileIsResolvedByTheKafkaClientItself(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("secrets.properties");
        Files.writeString(file, "jaas=org.apache.kafka.common.security.plain.PlainLoginModule required;\n");
        Properties p = KafkaSettings.clientProperties(Map.of(
                "engram.kafka.properties.sasl.jaas.config", "${file:" + file + ":jaas}",
                "engram.kafka.properties.client.id", "engram",
                "engram.other", "x"));
        assertThat(p.getProperty("config.providers")).isEqualTo("file");
        assertThat(p.getProperty("config.providers.file.class"))
                .isEqualTo("org.apache.kafka.common.config.provider.FileConfigProvider");
        assertThat(p).doesNotContainKey("other");
        // what a producer of the job would see
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, "127.0.0.1:9");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        ProducerConfig resolved = new ProducerConfig(p);
        assertThat(resolved.getPassword("sasl.jaas.config").value())
                .isEqualTo("org.apache.kafka.common.security.plain.PlainLoginModule required;");
    }

    @Test
    void providersAreDeclaredOnlyWhenUsedAndNeverOverTheUsersOwn() {
        assertThat(KafkaSettings.clientProperties(Map.of("engram.kafka.properties.acks", "all")))
                .doesNotContainKey("config.providers");
        Properties both = KafkaSettings.clientProperties(Map.of(
                "engram.kafka.properties.ssl.key.password", "${env:ENGRAM_KEY_PASSWORD}",
                "engram.kafka.properties.ssl.keystore.location", "${dir:/run/secrets:keystore}"));
        assertThat(both.getProperty("config.providers")).isEqualTo("dir,env");
        Properties own = KafkaSettings.clientProperties(Map.of(
                "engram.kafka.properties.config.providers", "vault",
                "engram.kafka.properties.sasl.jaas.config", "${vault:kafka:jaas}"));
        assertThat(own.getProperty("config.providers")).isEqualTo("vault");
        assertThat(own).doesNotContainKey("config.providers.file.class");
    }

    @Test
    void secretsFlinkWouldShowInClearAreNamed() {
        Map<String, String> conf = Map.of(
                "engram.kafka.properties.ssl.keystore.key", "-----BEGIN PRIVATE KEY-----...",
                "engram.kafka.properties.ssl.truststore.certificates", "-----BEGIN CERTIFICATE-----...",
                "engram.kafka.properties.ssl.keystore.password", "masked by Flink: contains password",
                "engram.kafka.properties.sasl.jaas.config", "masked by Flink: contains jaas.config",
                "engram.kafka.properties.ssl.key.password", "${env:KEY_PASSWORD}",
                "engram.kafka.properties.client.id", "not a secret");
        assertThat(KafkaSettings.unmaskedSecrets(conf)).containsExactly(
                "engram.kafka.properties.ssl.keystore.key", "engram.kafka.properties.ssl.truststore.certificates");
    }

    @Test
    void withoutClientPropertiesDropsEveryKafkaClientSetting() {
        Configuration c = new Configuration();
        c.setString("engram.kafka.properties.ssl.keystore.key", "secret");
        c.setString("engram.kafka.bootstrap-servers", "h:1");
        c.setString("rest.port", "0");
        assertThat(KafkaSettings.withoutClientProperties(c).toMap())
                .containsOnlyKeys("engram.kafka.bootstrap-servers", "rest.port");
    }
}
