package io.engram.job.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;

/** {@link EngramKeys} and {@link PublishedConfig}: typos are refused with a suggestion; secrets are never shown. */
class EngramKeysTest {

    @Test
    void aTypoIsRefusedWithTheOptionItMeant() {
        assertThatThrownBy(() -> EngramKeys.requireKnown(List.of("engram.kernels.mod")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unknown option engram.kernels.mod (did you mean engram.kernels.mode?)")
                .hasMessageContaining("docs/operations/configuration.md");
        assertThatThrownBy(() -> new EngramSettings(Configuration.fromMap(Map.of("engram.kernels.mod", "java"))))
                .hasMessageContaining("did you mean engram.kernels.mode?");
        assertThatThrownBy(() -> new EngramSettings(Configuration.fromMap(Map.of("engram.recall.seedk", "4"))))
                .hasMessageContaining("did you mean engram.recall.seed-k?");
    }

    @Test
    void everyUnknownKeyIsNamedAndFarOffKeysGetNoGuess() {
        assertThatThrownBy(() -> EngramKeys.requireKnown(List.of("engram.kernels.arena.sise", "engram.totally.new",
                "taskmanager.numberOfTaskSlots")))
                .hasMessageContaining("unknown options engram.kernels.arena.sise (did you mean "
                        + "engram.kernels.arena.size?), engram.totally.new (all options:");
    }

    @Test
    void optionsFlinkKeysAndKafkaClientPropertiesPass() {
        List<String> keys = new java.util.ArrayList<>(EngramKeys.known());
        keys.addAll(List.of("state.backend.type", "execution.checkpointing.incremental", "pipeline.jars",
                "engram.kafka.properties.security.protocol", "engram.kafka.properties.sasl.jaas.config"));
        assertThatCode(() -> EngramKeys.requireKnown(keys)).doesNotThrowAnyException();
        assertThat(EngramKeys.known()).contains(EngramOptions.KERNEL_MODE.key(), EngramOptions.ARENA_SIZE.key());
        assertThatThrownBy(() -> EngramKeys.requireKnown(List.of(EngramOptions.KAFKA_PROPERTIES_PREFIX)))
                .hasMessageContaining("unknown option engram.kafka.properties.");
    }

    @Test
    void thePublishedConfigurationHidesSecretsAndKeepsEverythingElse() {
        Configuration c = Configuration.fromMap(Map.of(
                "engram.kernels.mode", "zig",
                "state.backend.type", "rocksdb",
                "engram.kafka.properties.security.protocol", "SASL_SSL",
                "engram.kafka.properties.sasl.jaas.config", "ScramLoginModule required password=\"hunter2\";",
                "engram.kafka.properties.ssl.key.password", "hunter3",
                "engram.kafka.properties.ssl.keystore.key", "-----BEGIN PRIVATE KEY-----",
                "pipeline.global-job-parameters", "a:b"));
        Map<String, String> p = PublishedConfig.of(c).toMap();
        assertThat(p).containsEntry("engram.kernels.mode", "zig").containsEntry("state.backend.type", "rocksdb")
                .containsEntry("engram.kafka.properties.security.protocol", "SASL_SSL")
                .containsEntry("engram.kafka.properties.sasl.jaas.config", PublishedConfig.HIDDEN)
                .containsEntry("engram.kafka.properties.ssl.key.password", PublishedConfig.HIDDEN)
                .containsEntry("engram.kafka.properties.ssl.keystore.key", PublishedConfig.HIDDEN)
                .doesNotContainKey("pipeline.global-job-parameters");
        assertThat(p.values()).noneMatch(v -> v.contains("hunter") || v.contains("PRIVATE KEY"));
        // a reference to a file or the environment is no secret: published as it is, so a rollback resubmits it
        Configuration ref = Configuration.fromMap(Map.of("engram.kafka.properties.sasl.jaas.config",
                "${file:/etc/engram/kafka-secrets.properties:sasl.jaas.config}",
                "engram.kafka.properties.ssl.truststore.password", "${env:TRUSTSTORE_PASSWORD}"));
        assertThat(PublishedConfig.of(ref).toMap()).isEqualTo(ref.toMap());
    }
}
