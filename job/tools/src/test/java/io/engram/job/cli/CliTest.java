package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** The CLI without Kafka: argument handling, exit codes, status, input checking before anything is sent. */
class CliTest {

    /** One in-process run: exit code, stdout, stderr. */
    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        return runWithInput(new ByteArrayInputStream(new byte[0]), args);
    }

    static Run runWithInput(InputStream in, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = EngramCli.execute(in, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8), args);
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void helpListsEveryCommand() {
        Run r = run("--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("demo", "run", "broker", "send", "tail", "status");
        for (String c : new String[] {"demo", "run", "broker", "send", "tail", "status"}) {
            assertThat(run(c, "--help").code()).as(c + " --help").isZero();
        }
    }

    @Test
    void noCommandIsAUsageError() {
        Run r = run();
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("missing command");
    }

    @Test
    void versionNamesTheStack() {
        Run r = run("--version");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("Apache Flink 2.2.1", "Kafka clients 4.2.2");
    }

    @Test
    void statusJavaModeAsAlignedLines() {
        Run r = run("status", "-D", "engram.kernels.mode=java");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(?m)^mode\\.requested +java$");
        assertThat(r.out()).containsPattern("(?m)^mode\\.active +java$");
        assertThat(r.out()).containsPattern("(?m)^arena\\.size +2097152$");
        // aligned: every value starts in the same column
        java.util.Set<Integer> columns = new java.util.HashSet<>();
        for (String line : r.out().split("\n")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\S+)( +)\\S").matcher(line);
            assertThat(m.find()).as(line).isTrue();
            columns.add(m.group(1).length() + m.group(2).length());
        }
        assertThat(columns).hasSize(1);
    }

    @Test
    void statusJsonNeverPrintsKafkaCredentials() throws Exception {
        Run r = run("status", "--json", "-Dengram.kernels.mode=java", "-Dengram.kernels.arena.size=1mb",
                "-Dengram.kafka.properties.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
                        + "required username=\"u\" password=\"hunter2\";");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode n = new ObjectMapper().readTree(r.out());
        assertThat(n.get("mode.active").asText()).isEqualTo("java");
        assertThat(n.get("arena.size").asText()).isEqualTo("1048576");
        assertThat(r.out() + r.err()).doesNotContain("hunter2").doesNotContain("jaas");
    }

    @Test
    void statusAutoAlwaysAnswers() {
        Run r = run("status");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).containsPattern("(?m)^mode\\.requested +auto$").containsPattern("(?m)^mode\\.active +"
                + "(zig|java)$");
    }

    @Test
    void unknownEngramOptionIsAUsageErrorWithASuggestion() {
        Run r = run("status", "-D", "engram.kernel.mode=java");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("unknown option engram.kernel.mode", "did you mean engram.kernels.mode?");
    }

    @Test
    void invalidOptionValueIsAUsageErrorNamingTheKey() {
        Run r = run("status", "-D", "engram.kernels.mode=fast");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("invalid kernel mode 'fast'");
    }

    @Test
    void kafkaCommandsRejectNonEngramKeys() {
        Run r = run("send", "--bootstrap-servers", "127.0.0.1:1", "--type", "event", "-D", "sasl.mechanism=PLAIN");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("engram.kafka.properties.sasl.mechanism");
    }

    @Test
    void sendChecksTheWholeFileBeforeContactingKafka(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("events.jsonl");
        Files.writeString(f, "{\"space\":\"space-1\",\"event_id\":\"e1\",\"payload\":{\"type\":\"forget\",\"memory_id\":"
                + "\"m\"}}\n\n{\"space\":\"space-1\",\"event_id\":\"e2\",\"payload\":{\"type\":\"forget\"}}\n");
        // port 1: nothing listens there; the error must come from line 3, not from Kafka
        Run r = run("send", "--bootstrap-servers", "127.0.0.1:1", "--type", "event", "--file", f.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains(f + " line 3: missing required field 'payload.memory_id' (forget)");
        assertThat(r.out()).isEmpty();
    }

    @Test
    void sendMissingFileAndTypeAreUsageErrors() {
        assertThat(run("send", "--bootstrap-servers", "127.0.0.1:1", "--type", "event", "--file", "/nonexistent.jsonl")
                .err()).contains("file not found: /nonexistent.jsonl");
        Run noType = run("send", "--bootstrap-servers", "127.0.0.1:1");
        assertThat(noType.code()).isEqualTo(2);
        assertThat(noType.err()).contains("--type");
        Run badType = run("send", "--bootstrap-servers", "127.0.0.1:1", "--type", "result");
        assertThat(badType.code()).isEqualTo(2);
        Run noBootstrap = run("tail", "--type", "results");
        assertThat(noBootstrap.code()).isEqualTo(2);
        assertThat(noBootstrap.err()).contains("missing --bootstrap-servers");
    }

    @Test
    void unreachableBrokerIsAClearFailure() {
        Run r = run("tail", "--bootstrap-servers", "127.0.0.1:1", "--type", "results",
                "-D", "engram.kafka.properties.default.api.timeout.ms=1500",
                "-D", "engram.kafka.properties.request.timeout.ms=1000");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("cannot reach Kafka at 127.0.0.1:1 within 1500ms");
    }

    @Test
    void durationsNeedAUnit() {
        assertThat(DurationConverter.parse("90s")).isEqualTo(Duration.ofSeconds(90));
        assertThat(DurationConverter.parse("2min")).isEqualTo(Duration.ofMinutes(2));
        assertThat(DurationConverter.parse("500ms")).isEqualTo(Duration.ofMillis(500));
        assertThatThrownBy(() -> DurationConverter.parse("90")).isInstanceOf(CommandLine.TypeConversionException.class)
                .hasMessageContaining("needs a unit");
        assertThatThrownBy(() -> DurationConverter.parse("soon")).isInstanceOf(
                CommandLine.TypeConversionException.class);
        assertThatThrownBy(() -> DurationConverter.parse("0s")).hasMessageContaining("positive");
        Run r = run("demo", "--duration", "40");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("needs a unit");
    }

    @Test
    void demoRejectsBadSizesBeforeStartingAnything() {
        Run r = run("demo", "--per-topic", "3");
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("--per-topic must be in [10, 5000]");
        Run m = run("demo", "--mode", "gpu");
        assertThat(m.code()).isEqualTo(2);
        assertThat(m.err()).contains("invalid kernel mode 'gpu'");
    }

    @Test
    void configArgsHideKafkaClientValues() {
        ConfigArgs a = ConfigArgs.of(Map.of("engram.kafka.properties.sasl.jaas.config", "secret",
                "engram.kernels.mode", "java"), true);
        assertThat(a.describeForLog()).contains("engram.kernels.mode=java")
                .contains("engram.kafka.properties.sasl.jaas.config=<hidden>").doesNotContain("secret");
        assertThat(a.kafkaClientProperties()).containsEntry("sasl.jaas.config", "secret");
        assertThatThrownBy(() -> ConfigArgs.of(Map.of("engram.kafka.properties.", "x"), true))
                .hasMessageContaining("names no Kafka client property");
        assertThat(ConfigArgs.of(Map.of("taskmanager.memory.task.off-heap.size", "64m"), true).asMap())
                .containsKey("taskmanager.memory.task.off-heap.size");
    }

    @Test
    void localClusterConfigurationLeavesRoomForTheArenas(@TempDir Path dir) {
        var c = LocalFlink.clusterConfig(new org.apache.flink.configuration.Configuration(), 2, 0, 2L << 20, dir);
        assertThat(c.get(org.apache.flink.configuration.TaskManagerOptions.MANAGED_MEMORY_SIZE).getBytes())
                .isEqualTo(128L << 20);
        // big arenas: each slot's memory operator gets at least its arena even when RocksDB takes half
        var big = LocalFlink.clusterConfig(new org.apache.flink.configuration.Configuration(), 4, 0, 64L << 20, dir);
        assertThat(big.get(org.apache.flink.configuration.TaskManagerOptions.MANAGED_MEMORY_SIZE).getBytes() / 4 / 2)
                .isGreaterThanOrEqualTo(64L << 20);
        // RocksDB: its half of each slot is at least ROCKSDB_PER_SLOT (its write buffers), unless -D sets the size
        var rocks = new org.apache.flink.configuration.Configuration();
        rocks.setString("state.backend.type", "rocksdb");
        long rocksManaged = LocalFlink.clusterConfig(rocks, 2, 0, 2L << 20, dir)
                .get(org.apache.flink.configuration.TaskManagerOptions.MANAGED_MEMORY_SIZE).getBytes();
        assertThat(rocksManaged / 2 / 2).isGreaterThanOrEqualTo(LocalFlink.ROCKSDB_PER_SLOT.getBytes());
        rocks.setString("taskmanager.memory.managed.size", "300m");
        assertThat(LocalFlink.clusterConfig(rocks, 2, 0, 2L << 20, dir)
                .get(org.apache.flink.configuration.TaskManagerOptions.MANAGED_MEMORY_SIZE).getBytes())
                .isEqualTo(300L << 20);
        assertThat(c.get(org.apache.flink.configuration.RestOptions.BIND_ADDRESS)).isEqualTo("127.0.0.1");
        assertThat(c.toMap()).containsEntry("metrics.reporter.prom.factory.class",
                "org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
        // -D wins
        var user = new org.apache.flink.configuration.Configuration();
        user.setString("metrics.reporter.prom.port", "9300-9301");
        assertThat(LocalFlink.clusterConfig(user, 2, 0, 4096, dir).toMap())
                .containsEntry("metrics.reporter.prom.port", "9300-9301");
    }

    @Test
    void errorSummaryKeepsTheCauseChainShort() {
        Exception e = new RuntimeException("outer: inner", new IllegalStateException("inner"));
        assertThat(EngramCli.summary(e)).isEqualTo("RuntimeException: outer: inner");
        Exception f = new RuntimeException("wrapping", new IllegalStateException("root cause"));
        assertThat(EngramCli.summary(f)).isEqualTo("RuntimeException: wrapping <- IllegalStateException: root cause");
    }
}
