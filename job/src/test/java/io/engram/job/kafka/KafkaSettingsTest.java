package io.engram.job.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import java.util.Properties;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.junit.jupiter.api.Test;

/** What the sinks' producers are given on top of the user's client properties. */
class KafkaSettingsTest {

    static Properties sink(DeliveryGuarantee g, Map<String, String> conf) {
        return new KafkaSettings(Configuration.fromMap(conf)).sinkProperties(g);
    }

    @Test
    void theSinksRetryAfterTenMillisecondsUnlessTheUserSetsABackoff() {
        for (DeliveryGuarantee g : new DeliveryGuarantee[] {DeliveryGuarantee.EXACTLY_ONCE,
                DeliveryGuarantee.AT_LEAST_ONCE}) {
            assertThat(sink(g, Map.of()).getProperty("retry.backoff.ms")).isEqualTo("10");
            assertThat(sink(g, Map.of("engram.kafka.properties.retry.backoff.ms", "250"))
                    .getProperty("retry.backoff.ms")).as("the user's value wins").isEqualTo("250");
        }
        // the sources keep Kafka's default: only the sinks wait for a transaction at a checkpoint
        assertThat(KafkaSettings.clientProperties(Map.of())).doesNotContainKey("retry.backoff.ms");
    }

    @Test
    void onlyExactlyOnceSinksGetATransactionTimeout() {
        Properties eo = sink(DeliveryGuarantee.EXACTLY_ONCE, Map.of("engram.kafka.transaction-timeout", "7 min",
                "engram.kafka.properties.security.protocol", "SASL_SSL"));
        assertThat(eo).containsEntry("transaction.timeout.ms", "420000").containsEntry("security.protocol", "SASL_SSL");
        assertThat(sink(DeliveryGuarantee.AT_LEAST_ONCE, Map.of())).doesNotContainKey("transaction.timeout.ms");
    }
}
