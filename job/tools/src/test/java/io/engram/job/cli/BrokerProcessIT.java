package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./engram broker} as the deploy scripts use it: a child JVM that prints exactly one bootstrap line, serves
 * the engram topics, and on SIGTERM shuts down cleanly with exit 0.
 */
@Timeout(120)
class BrokerProcessIT {
    @Test
    void printsOneLineServesTopicsAndStopsOnSigterm(@TempDir Path dir) throws Exception {
        Path portFile = dir.resolve("staging.bootstrap");
        try (Launcher broker = Launcher.start("broker-it", null, "broker", "--port-file", portFile.toString())) {
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (broker.stdout.isEmpty() && broker.process.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assertThat(broker.stdout).as(broker.stderr()).hasSize(1);
            String line = broker.stdout.get(0);
            assertThat(line).matches("bootstrap\\.servers=127\\.0\\.0\\.1:\\d+");
            assertThat(Files.readString(portFile, StandardCharsets.UTF_8)).isEqualTo(line + "\n");

            Properties p = new Properties();
            p.put("bootstrap.servers", line.substring(line.indexOf('=') + 1));
            try (Admin admin = Admin.create(p)) {
                assertThat(admin.listTopics().names().get()).containsAll(BrokerCommand.defaultTopics());
            }

            broker.process.destroy(); // SIGTERM
            int code = broker.waitFor(Duration.ofSeconds(60));
            String err = broker.stderr();
            assertThat(code).as(err).isZero();
            assertThat(broker.stdout).as("exactly one line on stdout").hasSize(1);
            assertThat(err).contains("SIGTERM received", "stopped in");
            assertThat(portFile).as("port file removed on shutdown").doesNotExist();
            assertThat(broker.anyAlive()).isFalse();
        }
    }
}
