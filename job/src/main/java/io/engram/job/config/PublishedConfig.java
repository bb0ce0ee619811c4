package io.engram.job.config;

import io.engram.job.kafka.KafkaSettings;
import java.util.Locale;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.PipelineOptions;

/**
 * The configuration a job was built with, as its global job parameters: the Flink web UI shows them (Job
 * Configuration), and {@code GET /jobs/{id}/config} returns them as {@code execution-config.user-config}. Flink has no
 * other REST view of a job's own settings ({@code /jobs/{id}/jobmanager/config} is the cluster's), and the rollback
 * and roll-forward scripts need exactly this: they resubmit a running job with every setting it was given, changing
 * only what the operator asks for. Values of keys that may hold credentials are published as {@link #HIDDEN}.
 */
public final class PublishedConfig {
    /** The published value of a secret. */
    public static final String HIDDEN = "<hidden>";

    private PublishedConfig() {
    }

    /** {@code conf} minus the global job parameters themselves, secrets hidden. */
    public static Configuration of(Configuration conf) {
        Configuration p = new Configuration();
        for (Map.Entry<String, String> e : conf.toMap().entrySet()) {
            String key = e.getKey();
            if (key.equals(PipelineOptions.GLOBAL_JOB_PARAMETERS.key())) {
                continue;
            }
            p.setString(key, hidden(key, e.getValue()) ? HIDDEN : e.getValue());
        }
        return p;
    }

    /**
     * Whether the value is published as {@link #HIDDEN}: a secret key holding the secret itself. A reference to a
     * file or the environment ({@code ${file:...}}, {@code ${env:...}}, resolved by the Kafka clients) is no secret
     * and is published as it is, so a rollback resubmits it unchanged.
     */
    static boolean hidden(String key, String value) {
        return isSecret(key) && (value == null || !value.contains("${"));
    }

    /**
     * Flink's sensitive keys (password, secret, token, jaas.config, ...), the Kafka clients' password properties,
     * credentials and private keys.
     */
    public static boolean isSecret(String key) {
        String k = key.toLowerCase(Locale.ROOT);
        return GlobalConfiguration.isSensitive(key) || KafkaSettings.isClientPassword(key) || k.contains("credential")
                || k.contains("private")
                || k.contains("jaas") || k.endsWith(".key");
    }
}
