package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.engram.job.cli.CliTest.Run;
import io.engram.job.local.EmbeddedKafkaBroker;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The JSON examples of docs/operations/cli.md, run as they are against a real job ({@code engram run}, in-process)
 * and a real broker: the events are applied and the query answered without one dead letter, the kernel switch is
 * taken, and the documented result and dead-letter examples have exactly the fields {@code engram tail} prints. A
 * record the job's validator refuses is refused by {@code engram send} with the same reason code the job gives it
 * when it is sent anyway ({@code --no-validate}).
 */
@Timeout(300)
class CliDocExamplesIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Path CLI_MD = Launcher.repoRoot().resolve("docs/operations/cli.md");

    /** The ```json blocks of the "JSON formats" section, in order: events, query, control, result, dead letter. */
    static List<List<String>> jsonBlocks() throws IOException {
        List<String> lines = Files.readAllLines(CLI_MD, StandardCharsets.UTF_8);
        int from = lines.indexOf("## JSON formats");
        assertThat(from).as("'## JSON formats' in " + CLI_MD).isNotNegative();
        List<List<String>> blocks = new ArrayList<>();
        for (int i = from; i < lines.size(); i++) {
            if (lines.get(i).strip().equals("```json")) {
                List<String> b = new ArrayList<>();
                for (i++; !lines.get(i).strip().startsWith("```"); i++) {
                    b.add(lines.get(i));
                }
                blocks.add(b);
            }
        }
        assertThat(blocks).as("json blocks of " + CLI_MD).hasSize(5);
        return blocks;
    }

    static Set<String> fields(JsonNode n) {
        Set<String> s = new TreeSet<>();
        n.fieldNames().forEachRemaining(s::add);
        return s;
    }

    static List<JsonNode> tail(String bs, String type) throws IOException {
        Run r = CliTest.run("tail", "--bootstrap-servers", bs, "--type", type, "--from-beginning",
                "--idle-timeout", "3s");
        assertThat(r.code()).as(r.err()).isZero();
        List<JsonNode> out = new ArrayList<>();
        for (String line : r.out().split("\\R")) {
            if (!line.isBlank()) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }

    static Run send(String bs, String type, Path file, String... extra) {
        List<String> args = new ArrayList<>(List.of("send", "--bootstrap-servers", bs, "--type", type,
                "--file", file.toString()));
        args.addAll(List.of(extra));
        return CliTest.run(args.toArray(new String[0]));
    }

    @Test
    void theDocumentedExamplesRunAgainstARealJob(@TempDir Path dir) throws Exception {
        List<List<String>> blocks = jsonBlocks();
        Path events = Files.write(dir.resolve("events.jsonl"), blocks.get(0), StandardCharsets.UTF_8);
        Path query = Files.write(dir.resolve("query.jsonl"), blocks.get(1), StandardCharsets.UTF_8);
        Path control = Files.write(dir.resolve("control.jsonl"), blocks.get(2), StandardCharsets.UTF_8);
        JsonNode docResult = JSON.readTree(blocks.get(3).get(0));
        JsonNode docDeadLetter = JSON.readTree(blocks.get(4).get(0));
        String queryId = JSON.readTree(blocks.get(1).get(0)).get("query_id").asText();

        try (EmbeddedKafkaBroker kafka = EmbeddedKafkaBroker.start()) {
            kafka.createTopics(2, BrokerCommand.defaultTopics().toArray(new String[0]));
            String bs = kafka.bootstrapServers();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            AtomicInteger code = new AtomicInteger(-1);
            Thread run = new Thread(() -> code.set(EngramCli.execute(new ByteArrayInputStream(new byte[0]),
                    new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                    "run", "--bootstrap-servers", bs, "--parallelism", "2", "--duration", "4min",
                    "-D", "engram.kernels.mode=java",
                    "-D", "execution.checkpointing.interval=1s",
                    "-D", "restart-strategy.type=none")), "engram-run");
            run.start();
            try {
                long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
                while (!out.toString(StandardCharsets.UTF_8).contains("running (started in") && run.isAlive()
                        && System.nanoTime() < deadline) {
                    Thread.sleep(100);
                }
                assertThat(out.toString(StandardCharsets.UTF_8)).as(err.toString(StandardCharsets.UTF_8))
                        .contains("running (started in");

                // the examples, as they are: all accepted by send's own checks
                for (Run r : List.of(send(bs, "event", events), send(bs, "control", control))) {
                    assertThat(r.code()).as(r.err()).isZero();
                }
                // the query, until the events are applied (events and queries travel on different topics)
                JsonNode answer = null;
                for (int i = 0; i < 30 && answer == null; i++) {
                    Run q = send(bs, "query", query);
                    assertThat(q.code()).as(q.err()).isZero();
                    for (JsonNode r : tail(bs, "results")) {
                        Iterator<JsonNode> hits = r.get("hits").elements();
                        while (r.get("query_id").asText().equals(queryId) && hits.hasNext()) {
                            if (hits.next().get("memory_id").asText().equals("m1")) {
                                answer = r;
                            }
                        }
                    }
                }
                assertThat(answer).as("the documented query answered with m1").isNotNull();
                assertThat(fields(answer)).as("result fields").isEqualTo(fields(docResult));
                assertThat(fields(answer.get("hits").get(0))).as("hit fields")
                        .isEqualTo(fields(docResult.get("hits").get(0)));
                assertThat(tail(bs, "dead-letters")).as("dead letters of the documented examples").isEmpty();

                // a record the job refuses: send names the reason; sent anyway, the job dead-letters it with it
                Path bad = Files.writeString(dir.resolve("bad.jsonl"), blocks.get(0).get(4)
                        .replace("\"demo-space\"", "\"s1\"") + "\n", StandardCharsets.UTF_8);
                Run refused = send(bs, "event", bad);
                assertThat(refused.code()).isEqualTo(2);
                assertThat(refused.err()).contains("BAD_SPACE: space 's1' does not match");
                assertThat(send(bs, "event", bad, "--no-validate").code()).isZero();
                List<JsonNode> dl = List.of();
                for (int i = 0; i < 20 && dl.isEmpty(); i++) {
                    dl = tail(bs, "dead-letters");
                }
                assertThat(dl).hasSize(1);
                assertThat(dl.get(0).get("reason").asText()).isEqualTo("BAD_SPACE");
                assertThat(fields(dl.get(0))).as("dead-letter fields").isEqualTo(fields(docDeadLetter));
            } finally {
                run.interrupt();
                run.join(60_000);
            }
            assertThat(code.get()).as(err.toString(StandardCharsets.UTF_8)).isZero();
        }
    }
}
