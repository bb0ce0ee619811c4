package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.engram.job.cli.CliTest.Run;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.KernelControl;
import io.engram.schemas.EventPosition;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code engram send}, {@code tail} and {@code broker} against a real (in-process) Kafka broker. */
@Timeout(180)
class SendTailIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static EmbeddedKafkaBroker kafka() {
        return KAFKA.broker();
    }

    private static String topic(String name) {
        String t = name + "-" + UUID.randomUUID().toString().substring(0, 8);
        kafka().createTopics(2, t);
        return t;
    }

    // ------------------------------------------------------------------------------------------------ send

    @Test
    void sendsEveryEventTypeFromAFileKeyedBySpace(@TempDir Path dir) throws Exception {
        String t = topic("events");
        Path f = dir.resolve("events.jsonl");
        List<String> lines = List.of(
                "{\"space\":\"alice\",\"event_id\":\"e1\",\"timestamp_ms\":1765000000000,\"payload\":{\"type\":\"store\","
                        + "\"memory_id\":\"m1\",\"embedding\":[0.1,0.2],\"strength\":1.0,\"stability_s\":3600.0,"
                        + "\"content\":\"first\"}}",
                "{\"space\":\"alice\",\"event_id\":\"e2\",\"payload\":{\"type\":\"store\",\"memory_id\":\"m2\","
                        + "\"embedding\":[0.3,0.4]}}",
                "",
                "{\"space\":\"alice\",\"event_id\":\"e3\",\"timestamp_ms\":1765000000002,\"payload\":{\"type\":\"associate\","
                        + "\"from_id\":\"m1\",\"to_id\":\"m2\",\"weight\":0.5,\"bidirectional\":true}}",
                "{\"space\":\"bob\",\"event_id\":\"e4\",\"timestamp_ms\":1765000000003,\"payload\":{\"type\":\"reinforce\","
                        + "\"memory_id\":\"m1\"}}",
                "{\"space\":\"bob\",\"event_id\":\"e5\",\"timestamp_ms\":1765000000004,\"payload\":{\"type\":\"forget\","
                        + "\"memory_id\":\"m1\"}}");
        Files.write(f, lines, StandardCharsets.UTF_8);
        long before = System.currentTimeMillis();

        Run r = CliTest.run("send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "event", "--topic", t,
                "--file", f.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEqualTo("sent 5 records to " + t + System.lineSeparator());

        List<ConsumerRecord<byte[], byte[]>> got = readAll(t, 5);
        assertThat(got).hasSize(5);
        List<MemoryEvent> events = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> rec : got) {
            MemoryEvent e = AvroCodec.decodeMemoryEvent(rec.value());
            assertThat(new String(rec.key(), StandardCharsets.UTF_8)).isEqualTo(e.getSpace());
            events.add(e);
        }
        events.sort((a, b) -> a.getEventId().compareTo(b.getEventId()));
        assertThat(events.get(0)).isEqualTo(JsonCodec.event(lines.get(0), 0));
        StoreMemory m2 = (StoreMemory) events.get(1).getPayload();
        assertThat(m2.getStrength()).isEqualTo(1.0f);
        assertThat(events.get(1).getTimestampMs()).as("omitted timestamp: now").isBetween(before,
                System.currentTimeMillis());
        assertThat(events.get(2)).isEqualTo(JsonCodec.event(lines.get(3), 0));
        assertThat(events.get(3)).isEqualTo(JsonCodec.event(lines.get(4), 0));
        assertThat(events.get(4)).isEqualTo(JsonCodec.event(lines.get(5), 0));
        // the same space always lands in the same partition (the job relies on it for ordering)
        assertThat(got.stream().filter(x -> new String(x.key(), StandardCharsets.UTF_8).equals("alice"))
                .map(ConsumerRecord::partition).distinct().count()).isEqualTo(1);
    }

    @Test
    void sendPrintsWhereEventsLandedAndQueriesCanWaitForThem(@TempDir Path dir) throws Exception {
        String events = topic("rw-events");
        String queries = topic("rw-queries");
        long now = System.currentTimeMillis();
        Path f = dir.resolve("e.jsonl");
        Files.write(f, List.of(
                "{\"space\":\"alice\",\"event_id\":\"w1\",\"timestamp_ms\":" + now + ",\"payload\":{\"type\":"
                        + "\"store\",\"memory_id\":\"m1\",\"embedding\":[0.1,0.2]}}",
                "{\"space\":\"alice\",\"event_id\":\"w2\",\"timestamp_ms\":" + now + ",\"payload\":{\"type\":"
                        + "\"store\",\"memory_id\":\"m2\",\"embedding\":[0.3,0.4]}}"), StandardCharsets.UTF_8);
        Run r = CliTest.run("send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "event", "--topic",
                events, "--file", f.toString(), "--positions");
        assertThat(r.code()).as(r.err()).isZero();
        List<String> out = r.out().lines().toList();
        List<ConsumerRecord<byte[], byte[]>> landed = readAll(events, 2);
        ConsumerRecord<byte[], byte[]> second = landed.stream()
                .filter(x -> AvroCodec.decodeMemoryEvent(x.value()).getEventId().equals("w2")).findFirst().orElseThrow();
        assertThat(out).contains("position 2 " + second.partition() + ":" + second.offset());
        String afterLine = out.stream().filter(l -> l.startsWith("after-positions ")).findFirst().orElseThrow();
        assertThat(afterLine).isEqualTo("after-positions " + second.partition() + ":" + second.offset());

        String after = afterLine.substring("after-positions ".length());
        Run q = CliTest.runWithInput(new java.io.ByteArrayInputStream(
                "{\"query_id\":\"rw-q\",\"space\":\"alice\",\"cue\":[0.3,0.4]}\n".getBytes(StandardCharsets.UTF_8)),
                "send",
                "--bootstrap-servers", kafka().bootstrapServers(), "--type", "query", "--topic", queries,
                "--after", after, "--after-events", "w1");
        assertThat(q.code()).as(q.err()).isZero();
        RecallQuery sent = AvroCodec.decodeRecallQuery(readAll(queries, 1).get(0).value());
        assertThat(sent.getAfterPositions()).containsExactly(new EventPosition(second.partition(), second.offset()));
        assertThat(sent.getAfterEventIds()).extracting(Object::toString).containsExactly("w1");

        Run bad = CliTest.run("send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "query", "--topic",
                queries, "--after", "x:1", "--file", f.toString());
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("--after: 'x:1' is not PARTITION:OFFSET");
    }

    /**
     * The job checks a query's after_positions against its own space's events only, so with several spaces in one
     * file each query must wait for its own space's position: --positions lists them, --after-from applies them.
     */
    @Test
    void eachQueryWaitsForItsOwnSpacesPositionWithAfterFrom(@TempDir Path dir) throws Exception {
        String events = topic("rw2-events");
        String queries = topic("rw2-queries");
        long now = System.currentTimeMillis();
        List<String> lines = new java.util.ArrayList<>();
        for (int i = 0; i < 6; i++) {
            lines.add("{\"space\":\"" + (i % 3 == 0 ? "bob" : "alice") + "\",\"event_id\":\"w" + i
                    + "\",\"timestamp_ms\":" + now + ",\"payload\":{\"type\":\"store\",\"memory_id\":\"m" + i
                    + "\",\"embedding\":[0.1,0.2]}}");
        }
        Path f = dir.resolve("e.jsonl");
        Files.write(f, lines, StandardCharsets.UTF_8);
        Run r = CliTest.run("send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "event", "--topic",
                events, "--file", f.toString(), "--positions");
        assertThat(r.code()).as(r.err()).isZero();
        Map<String, String> lastOf = new java.util.HashMap<>();
        for (ConsumerRecord<byte[], byte[]> x : readAll(events, 6)) {
            lastOf.merge(new String(x.key(), StandardCharsets.UTF_8), x.partition() + ":" + x.offset(),
                    (a, b) -> Long.parseLong(a.split(":")[1]) > Long.parseLong(b.split(":")[1]) ? a : b);
        }
        assertThat(r.out().lines().filter(l -> l.startsWith("space-positions ")))
                .containsExactly("space-positions alice " + lastOf.get("alice"),
                        "space-positions bob " + lastOf.get("bob"));
        Path pos = dir.resolve("positions.txt");
        Files.writeString(pos, r.out());

        Run q = CliTest.runWithInput(new java.io.ByteArrayInputStream(("{\"query_id\":\"qa\",\"space\":\"alice\","
                + "\"cue\":[0.3,0.4]}\n{\"query_id\":\"qb\",\"space\":\"bob\",\"cue\":[0.3,0.4]}\n"
                + "{\"query_id\":\"qc\",\"space\":\"carol\",\"cue\":[0.3,0.4]}\n").getBytes(StandardCharsets.UTF_8)),
                "send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "query", "--topic", queries,
                "--after-from", pos.toString());
        assertThat(q.code()).as(q.err()).isZero();
        Map<String, List<EventPosition>> waits = new java.util.HashMap<>();
        for (ConsumerRecord<byte[], byte[]> x : readAll(queries, 3)) {
            RecallQuery sent = AvroCodec.decodeRecallQuery(x.value());
            waits.put(sent.getQueryId(), sent.getAfterPositions());
        }
        assertThat(waits.get("qa")).containsExactly(position(lastOf.get("alice")));
        assertThat(waits.get("qb")).containsExactly(position(lastOf.get("bob")));
        assertThat(waits.get("qc")).as("a space the file does not list does not wait").isEmpty();

        Files.writeString(dir.resolve("none.txt"), "sent 6 records\n");
        Run bad = CliTest.run("send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "query", "--topic",
                queries, "--after-from", dir.resolve("none.txt").toString(), "--file", f.toString());
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("has no 'space-positions' line");
    }

    private static EventPosition position(String po) {
        String[] x = po.split(":");
        return new EventPosition(Integer.parseInt(x[0]), Long.parseLong(x[1]));
    }

    @Test
    void sendsQueriesFromStdinToTheDefaultTopicOverride() throws Exception {
        String t = topic("queries");
        String input = "{\"query_id\":\"q1\",\"space\":\"alice\",\"timestamp_ms\":1765000000005,\"cue\":[1,0],\"k\":3}\n"
                + "{\"query_id\":\"q2\",\"space\":\"bob\",\"cue\":[0,1],\"max_hops\":2,\"hop_decay\":0.5,"
                + "\"threshold\":0.1,\"seed_k\":4}\n";
        Run r = CliTest.runWithInput(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)),
                "send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "query", "--file", "-",
                "-D", "engram.topics.recall-queries=" + t);
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("sent 2 records to " + t);
        List<ConsumerRecord<byte[], byte[]>> got = readAll(t, 2);
        List<RecallQuery> qs = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> rec : got) {
            RecallQuery q = AvroCodec.decodeRecallQuery(rec.value());
            assertThat(new String(rec.key(), StandardCharsets.UTF_8)).isEqualTo(q.getSpace());
            qs.add(q);
        }
        qs.sort((a, b) -> a.getQueryId().compareTo(b.getQueryId()));
        assertThat(qs.get(0).getK()).isEqualTo(3);
        assertThat(qs.get(0).getTimestampMs()).isEqualTo(1765000000005L);
        assertThat(qs.get(1).getSeedK()).isEqualTo(4);
        assertThat(qs.get(1).getHopDecay()).isEqualTo(0.5f);
    }

    @Test
    void sendsControlRecordsWithoutKeyAndReportsProgress() throws Exception {
        String t = topic("control");
        StringBuilder input = new StringBuilder();
        for (int i = 0; i < 2500; i++) {
            input.append("{\"mode\":\"java\",\"reason\":\"drill ").append(i).append("\",\"issued_by\":\"ops\","
                    + "\"spaces\":[\"alice\"]}\n");
        }
        Run r = CliTest.runWithInput(new ByteArrayInputStream(input.toString().getBytes(StandardCharsets.UTF_8)),
                "send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "control", "--topic", t,
                "--positions");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("sent 2500 records to " + t);
        assertThat(r.out().lines().filter(l -> l.startsWith("position "))).as("--positions without keys").hasSize(2500);
        assertThat(r.out().lines().filter(l -> l.startsWith("space-positions "))).as("no space").isEmpty();
        assertThat(r.err()).contains("1000 records sent...", "2000 records sent...", "2500 records acknowledged");
        List<ConsumerRecord<byte[], byte[]>> got = readAll(t, 2500);
        assertThat(got).hasSize(2500).allSatisfy(x -> assertThat(x.key()).isNull());
        KernelControl c = AvroCodec.decodeKernelControl(got.get(0).value());
        assertThat(c.getMode()).isEqualTo("java");
        assertThat(c.getSpaces()).containsExactly("alice");
    }

    @Test
    void aBadLineOnStdinStopsWithItsLineNumberAndSaysWhatWasSent() throws Exception {
        String t = topic("bad");
        String input = "{\"query_id\":\"q1\",\"space\":\"alice\",\"cue\":[1]}\n"
                + "{\"query_id\":\"q2\",\"space\":\"alice\",\"cue\":[\"one\"]}\n"
                + "{\"query_id\":\"q3\",\"space\":\"alice\",\"cue\":[1]}\n";
        Run r = CliTest.runWithInput(new ByteArrayInputStream(input.getBytes(StandardCharsets.UTF_8)),
                "send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "query", "--topic", t);
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("stdin line 2: field 'cue[0]': expected a number, got a string \"one\"",
                "the record before it was sent to " + t);
        assertThat(readAll(t, 1)).hasSize(1);
    }

    @Test
    void aMissingTopicIsAClearError() {
        Run r = CliTest.runWithInput(new ByteArrayInputStream("{}".getBytes(StandardCharsets.UTF_8)),
                "send", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "control",
                "--topic", "no-such-topic", "--file", "-");
        // stdin is streamed: the topic is checked first
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("topic no-such-topic does not exist on " + kafka().bootstrapServers());
    }

    // ------------------------------------------------------------------------------------------------ tail

    @Test
    void tailPrintsCommittedResultsAsJsonAndSkipsAbortedTransactions() throws Exception {
        String t = topic("results");
        RecallResult r1 = new RecallResult("q1", "alice", 10L,
                List.of(new RecallHit("m1", 0.9f, 0.95f, 0.95f, 0.99f, 0, null), new RecallHit("m2", 0.5f, -0.1f, 0.5f,
                        1.0f, 1, null)), "java", 120L, false, false);
        RecallResult r2 = new RecallResult("q2", "bob", 11L, List.of(), "zig", 80L, false, false);
        RecallResult aborted = new RecallResult("q-aborted", "bob", 12L, List.of(), "zig", 1L, false, false);
        produceTransactionally(t, List.of(r1, r2), List.of(aborted));

        Run r = CliTest.run("tail", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "results",
                "--topic", t, "--from-beginning", "--idle-timeout", "3s");
        assertThat(r.code()).as(r.err()).isZero();
        List<JsonNode> lines = jsonLines(r.out());
        assertThat(lines).hasSize(2);
        JsonNode q1 = lines.stream().filter(n -> n.get("query_id").asText().equals("q1")).findFirst().orElseThrow();
        assertThat(q1.fieldNames()).toIterable().containsExactly("query_id", "space", "timestamp_ms", "kernel_mode",
                "latency_us", "stale", "truncated", "hits");
        assertThat(q1.get("hits")).hasSize(2);
        assertThat(q1.get("hits").get(1).get("hops").asInt()).isEqualTo(1);
        assertThat(q1.get("hits").get(0).get("score").floatValue()).isEqualTo(0.9f);
        assertThat(JsonCodec.result(q1.toString())).isEqualTo(r1);
        assertThat(r.out()).doesNotContain("q-aborted");
        assertThat(r.err()).contains("2 records from " + t, "no record for 3s");

        Run one = CliTest.run("tail", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "results",
                "--topic", t, "--from-beginning", "--max-records", "1", "--idle-timeout", "20s");
        assertThat(one.code()).as(one.err()).isZero();
        assertThat(jsonLines(one.out())).hasSize(1);
        assertThat(one.err()).contains("--max-records 1 reached");
    }

    @Test
    void tailPrintsDeadLetters() throws Exception {
        String t = topic("dead-letters");
        DeadLetter utf8 = new DeadLetter("engram.memory-events", 1, 42L,
                ByteBuffer.wrap("alice".getBytes(StandardCharsets.UTF_8)), ByteBuffer.wrap(new byte[] {1, 2, 3}),
                "UNKNOWN_MEMORY", "memory 'x' is not in space 'alice'", 99L, 5, 3, "c".repeat(64), "d".repeat(64), false);
        DeadLetter binary = new DeadLetter("engram.recall-queries", 0, 7L, ByteBuffer.wrap(new byte[] {(byte) 0xff}),
                null, "EMPTY", "the record has no value", 100L, 1, null, "e".repeat(64), null, false);
        produceTransactionally(t, List.of(utf8, binary), List.of());

        Run r = CliTest.run("tail", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "dead-letters",
                "--topic", t, "--from-beginning", "--idle-timeout", "3s");
        assertThat(r.code()).as(r.err()).isZero();
        List<JsonNode> lines = jsonLines(r.out());
        assertThat(lines).hasSize(2);
        JsonNode a = lines.stream().filter(n -> n.get("source_offset").asLong() == 42).findFirst().orElseThrow();
        assertThat(a.fieldNames()).toIterable().containsExactly("source_topic", "source_partition", "source_offset",
                "reason", "message", "timestamp_ms", "key_size", "value_size", "key_sha256", "value_sha256",
                "truncated", "key", "value_base64");
        assertThat(a.get("key").asText()).isEqualTo("alice");
        assertThat(a.get("value_base64").asText()).isEqualTo("AQID");
        assertThat(a.get("reason").asText()).isEqualTo("UNKNOWN_MEMORY");
        JsonNode b = lines.stream().filter(n -> n.get("source_offset").asLong() == 7).findFirst().orElseThrow();
        assertThat(b.get("key").isNull()).isTrue();
        assertThat(b.get("key_base64").asText()).isEqualTo("/w==");
        assertThat(b.get("value_base64").isNull()).isTrue();
    }

    @Test
    void tailWithAGroupCommitsWhatItPrinted() throws Exception {
        String t = topic("grouped");
        List<RecallResult> rs = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            rs.add(new RecallResult("q" + i, "alice", (long) i, List.of(), "java", 1L, false, false));
        }
        produceTransactionally(t, rs, List.of());
        String group = "tail-" + UUID.randomUUID();
        Run first = CliTest.run("tail", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "results",
                "--topic", t, "--group", group, "--from-beginning", "--idle-timeout", "5s");
        assertThat(first.code()).as(first.err()).isZero();
        assertThat(jsonLines(first.out())).hasSize(3);
        Run second = CliTest.run("tail", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "results",
                "--topic", t, "--group", group, "--from-beginning", "--idle-timeout", "3s");
        assertThat(second.code()).as(second.err()).isZero();
        assertThat(second.out()).as("offsets were committed").isEmpty();
    }

    @Test
    void tailWithoutFromBeginningStartsAtTheEnd() throws Exception {
        String t = topic("tail-end");
        produceTransactionally(t, List.of(new RecallResult("old", "alice", 1L, List.of(), "java", 1L, false, false)), List.of());
        Run r = CliTest.run("tail", "--bootstrap-servers", kafka().bootstrapServers(), "--type", "results",
                "--topic", t, "--idle-timeout", "2s");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).isEmpty();
        assertThat(r.err()).contains("0 records from " + t);
    }

    // ------------------------------------------------------------------------------------------------ broker

    @Test
    void brokerPrintsOneBootstrapLineServesTheTopicsAndStopsWhenInterrupted(@TempDir Path dir) throws Exception {
        ByteArrayOutputStream stdout = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Path portFile = dir.resolve("kafka.port");
        AtomicInteger code = new AtomicInteger(-1);
        Thread t = new Thread(() -> code.set(EngramCli.execute(new ByteArrayInputStream(new byte[0]),
                new PrintStream(stdout, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8),
                "broker", "--partitions", "3", "--port-file", portFile.toString())), "broker-command");
        t.start();
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (!stdout.toString(StandardCharsets.UTF_8).contains("\n") && t.isAlive()
                && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        String line = stdout.toString(StandardCharsets.UTF_8).trim();
        assertThat(line).as(err.toString(StandardCharsets.UTF_8)).matches("bootstrap\\.servers=127\\.0\\.0\\.1:\\d+");
        String bootstrap = line.substring("bootstrap.servers=".length());
        assertThat(Files.readString(portFile)).isEqualTo(line + "\n");

        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(p)) {
            var topics = admin.describeTopics(BrokerCommand.defaultTopics()).allTopicNames().get();
            assertThat(topics).hasSize(5);
            for (TopicDescription d : topics.values()) {
                assertThat(d.partitions()).hasSize(3);
            }
        }
        // a CLI round trip against it
        Run sent = CliTest.runWithInput(new ByteArrayInputStream(("{\"space\":\"alice\",\"event_id\":\"e\","
                + "\"payload\":{\"type\":\"forget\",\"memory_id\":\"m\"}}").getBytes(StandardCharsets.UTF_8)),
                "send", "--bootstrap-servers", bootstrap, "--type", "event");
        assertThat(sent.code()).as(sent.err()).isZero();
        assertThat(sent.out()).contains("sent 1 records to engram.memory-events");

        t.interrupt();
        t.join(60_000);
        assertThat(t.isAlive()).isFalse();
        assertThat(code.get()).as(err.toString(StandardCharsets.UTF_8)).isZero();
        assertThat(stdout.toString(StandardCharsets.UTF_8)).as("exactly one line on stdout").isEqualTo(line + "\n");
        assertThat(portFile).doesNotExist();
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("stopped in");
        int port = Integer.parseInt(bootstrap.substring(bootstrap.lastIndexOf(':') + 1));
        assertThat(isListening(port)).as("port %d closed", port).isFalse();
    }

    @Test
    void brokerOnAFixedPortThatIsTakenFailsClearly() {
        int taken = kafka().brokerPort();
        Run r = CliTest.run("broker", "--port", String.valueOf(taken));
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains("port " + taken + " on 127.0.0.1 is not available");
        assertThat(r.out()).isEmpty();
    }

    // ------------------------------------------------------------------------------------------------ helpers

    private static boolean isListening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static List<JsonNode> jsonLines(String out) throws IOException {
        List<JsonNode> nodes = new ArrayList<>();
        for (String l : out.split("\\R")) {
            if (!l.isBlank()) {
                nodes.add(JSON.readTree(l));
            }
        }
        return nodes;
    }

    private static void produceTransactionally(String topic, List<? extends org.apache.avro.specific.SpecificRecord>
            committed, List<? extends org.apache.avro.specific.SpecificRecord> aborted) {
        Properties p = new Properties();
        p.put("bootstrap.servers", kafka().bootstrapServers());
        p.put("transactional.id", "test-" + UUID.randomUUID());
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            producer.initTransactions();
            producer.beginTransaction();
            for (var r : committed) {
                producer.send(new ProducerRecord<>(topic, key(r), AvroCodec.encode(r)));
            }
            producer.commitTransaction();
            if (!aborted.isEmpty()) {
                producer.beginTransaction();
                for (var r : aborted) {
                    producer.send(new ProducerRecord<>(topic, key(r), AvroCodec.encode(r)));
                }
                producer.flush();
                producer.abortTransaction();
            }
        }
    }

    private static byte[] key(org.apache.avro.specific.SpecificRecord r) {
        String space = r instanceof RecallResult rr ? rr.getSpace() : "dl";
        return space.getBytes(StandardCharsets.UTF_8);
    }

    /** Every record of the topic (read_committed), waiting up to 30 s for {@code expected} of them. */
    private static List<ConsumerRecord<byte[], byte[]>> readAll(String topic, int expected) {
        List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c =
                     EmbeddedKafkaExtension.consumerFromStart(kafka(), topic, "read_committed")) {
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (out.size() < expected && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(out::add);
            }
            // anything beyond what was expected would show up within a short extra poll
            c.poll(Duration.ofMillis(500)).forEach(out::add);
        }
        return out;
    }
}
