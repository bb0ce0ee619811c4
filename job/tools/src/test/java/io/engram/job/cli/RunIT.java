package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.engram.job.cli.CliTest.Run;
import io.engram.job.local.EmbeddedKafkaBroker;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The operator's loop, in-process: {@code engram run} against a broker, {@code engram send} of events and a query,
 * {@code engram tail} of the result, then a clean stop.
 */
@Timeout(240)
class RunIT {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void runSendTailAndStop() throws Exception {
        try (EmbeddedKafkaBroker kafka = EmbeddedKafkaBroker.start()) {
            kafka.createTopics(2, BrokerCommand.defaultTopics().toArray(new String[0]));
            String bs = kafka.bootstrapServers();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            AtomicInteger code = new AtomicInteger(-1);
            Thread run = new Thread(() -> code.set(EngramCli.execute(new ByteArrayInputStream(new byte[0]),
                    new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                    "run", "--bootstrap-servers", bs, "--parallelism", "2", "--duration", "3min",
                    "-D", "engram.kernels.mode=java",
                    "-D", "execution.checkpointing.interval=1s",
                    "-D", "restart-strategy.type=none",
                    "-D", "engram.kafka.properties.client.dns.lookup=use_all_dns_ips")), "engram-run");
            run.start();
            long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
            while (!out.toString(StandardCharsets.UTF_8).contains("running (started in") && run.isAlive()
                    && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            String banner = out.toString(StandardCharsets.UTF_8);
            assertThat(banner).as(err.toString(StandardCharsets.UTF_8)).contains("running (started in");
            assertThat(banner).containsPattern("web UI: +http://127\\.0\\.0\\.1:\\d+/")
                    .contains("kernel mode: java")
                    .contains("engram.kafka.properties.client.dns.lookup=<hidden>");

            Run sent = CliTest.runWithInput(new ByteArrayInputStream((
                    "{\"space\":\"ops-test\",\"event_id\":\"e1\",\"payload\":{\"type\":\"store\",\"memory_id\":\"a\","
                            + "\"embedding\":[1,0,0]}}\n"
                            + "{\"space\":\"ops-test\",\"event_id\":\"e2\",\"payload\":{\"type\":\"store\",\"memory_id\":"
                            + "\"b\",\"embedding\":[0,0,1]}}\n"
                            + "{\"space\":\"ops-test\",\"event_id\":\"e3\",\"payload\":{\"type\":\"associate\",\"from_id\":"
                            + "\"a\",\"to_id\":\"b\",\"weight\":0.9}}\n").getBytes(StandardCharsets.UTF_8)),
                    "send", "--bootstrap-servers", bs, "--type", "event");
            assertThat(sent.code()).as(sent.err()).isZero();

            // queries and events travel on different topics: repeat the query until it sees the association
            JsonNode spread = null;
            for (int i = 0; i < 30 && spread == null; i++) {
                Run q = CliTest.runWithInput(new ByteArrayInputStream(("{\"query_id\":\"q" + i + "\",\"space\":"
                        + "\"ops-test\",\"cue\":[1,0,0],\"k\":5,\"seed_k\":1}").getBytes(StandardCharsets.UTF_8)),
                        "send", "--bootstrap-servers", bs, "--type", "query");
                assertThat(q.code()).as(q.err()).isZero();
                Run tail = CliTest.run("tail", "--bootstrap-servers", bs, "--type", "results", "--from-beginning",
                        "--idle-timeout", "3s");
                assertThat(tail.code()).as(tail.err()).isZero();
                for (String line : tail.out().split("\\R")) {
                    if (line.isBlank()) {
                        continue;
                    }
                    JsonNode r = JSON.readTree(line);
                    for (JsonNode h : r.get("hits")) {
                        if (h.get("memory_id").asText().equals("b") && h.get("hops").asInt() == 1) {
                            spread = r;
                        }
                    }
                }
            }
            assertThat(spread).as("a result with b reached by spreading\n" + out).isNotNull();
            assertThat(spread.get("kernel_mode").asText()).isEqualTo("java");

            run.interrupt(); // what Ctrl-C does, in-process
            run.join(60_000);
            assertThat(run.isAlive()).isFalse();
            assertThat(code.get()).as(err.toString(StandardCharsets.UTF_8)).isZero();
            assertThat(out.toString(StandardCharsets.UTF_8)).contains("stopping (interrupted)", "stopped in");
        }
    }

    @Test
    void runRefusesMissingTopics() {
        try (EmbeddedKafkaBroker kafka = EmbeddedKafkaBroker.start()) {
            kafka.createTopics(1, "engram.memory-events", "engram.recall-queries");
            Run r = CliTest.run("run", "--bootstrap-servers", kafka.bootstrapServers(), "--duration", "10s");
            assertThat(r.code()).isEqualTo(1);
            assertThat(r.err()).contains("topics engram.recall-results, engram.dead-letters, engram.control do not "
                    + "exist on " + kafka.bootstrapServers());
        }
    }
}
