package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.cli.CliTest.Run;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code engram send} checks every record as the job does and refuses what the job would dead-letter, with the job's
 * reason code, before anything reaches Kafka (a file is checked before the broker is even contacted: these tests
 * point at a port where nothing listens). {@code --no-validate} skips the job's checks, not the JSON ones.
 */
class SendValidationTest {
    private static final String NOWHERE = "127.0.0.1:9";

    static Run send(Path dir, String type, String jsonl, String... extra) throws IOException {
        Path f = Files.writeString(dir.resolve(type + ".jsonl"), jsonl, StandardCharsets.UTF_8);
        String[] base = {"send", "--bootstrap-servers", NOWHERE, "--type", type, "--file", f.toString()};
        String[] args = new String[base.length + extra.length];
        System.arraycopy(base, 0, args, 0, base.length);
        System.arraycopy(extra, 0, args, base.length, extra.length);
        return CliTest.run(args);
    }

    static void refused(Run r, String reason, String detail) {
        assertThat(r.code()).as(r.err()).isEqualTo(2);
        assertThat(r.err()).contains(reason + ": ").contains(detail).contains("the job would dead-letter it");
        assertThat(r.out()).doesNotContain("sent ");
    }

    @Test
    void recordsTheJobWouldDeadLetterAreRefusedWithItsReasonCode(@TempDir Path dir) throws IOException {
        String ok = "{\"space\":\"space-1\",\"event_id\":\"e1\",\"payload\":{\"type\":\"store\",\"memory_id\":\"m1\","
                + "\"embedding\":[0.1,0.2]}}\n";
        refused(send(dir, "event", ok + "{\"space\":\"s1\",\"event_id\":\"e2\",\"payload\":{\"type\":\"forget\","
                + "\"memory_id\":\"m1\"}}\n"), "line 2: BAD_SPACE", "space 's1' does not match [a-z0-9_-]{3,64}");
        refused(send(dir, "event", "{\"space\":\"space-1\",\"event_id\":\"e1\",\"payload\":{\"type\":\"store\","
                + "\"memory_id\":\"m1\",\"embedding\":[]}}\n"), "EMPTY_EMBEDDING", "embedding has dimension 0");
        refused(send(dir, "event", "{\"space\":\"space-1\",\"event_id\":\"e1\",\"payload\":{\"type\":\"associate\","
                + "\"from_id\":\"m1\",\"to_id\":\"m1\",\"weight\":0.5}}\n"), "SELF_EDGE", "to itself");
        refused(send(dir, "event", "{\"space\":\"space-1\",\"event_id\":\"e1\",\"timestamp_ms\":" + (System
                .currentTimeMillis() + 7_200_000L) + ",\"payload\":{\"type\":\"forget\",\"memory_id\":\"m1\"}}\n"),
                "FUTURE_TIMESTAMP", "ahead of the wall clock");
        refused(send(dir, "query", "{\"query_id\":\"q1\",\"space\":\"space-1\",\"cue\":[0.1,0.2],\"k\":0}\n"),
                "BAD_K", "k 0 is outside [1, 1000]");
        refused(send(dir, "control", "{\"mode\":\"java\",\"reason\":\"drill\",\"issued_by\":\"ops\","
                + "\"spaces\":[\"space-1\"],\"fraction\":0.05}\n"), "BAD_CONTROL", "give either spaces or fraction, not both");
        // the job's limits, as given with -D (the job's configuration)
        refused(send(dir, "event", ok, "-D", "engram.limits.max-dim=1"), "DIM_TOO_LARGE",
                "embedding has dimension 2, limit 1");
    }

    @Test
    void validRecordsAndNoValidateGoOnToTheBroker(@TempDir Path dir) throws IOException {
        String bad = "{\"space\":\"s1\",\"event_id\":\"e1\",\"payload\":{\"type\":\"forget\",\"memory_id\":\"m1\"}}\n";
        String good = bad.replace("\"s1\"", "\"space-1\"");
        String[] fast = {"-D", "engram.kafka.properties.default.api.timeout.ms=1000",
            "-D", "engram.kafka.properties.request.timeout.ms=1000"};
        String[] noValidate = {fast[0], fast[1], fast[2], fast[3], "--no-validate"};
        for (Run r : new Run[] {send(dir, "event", good, fast), send(dir, "event", bad, noValidate)}) {
            // past every check: the command now needs the broker, and there is none
            assertThat(r.code()).as(r.err()).isNotZero();
            assertThat(r.err()).doesNotContain("dead-letter").contains(NOWHERE);
        }
        // --no-validate does not turn off the JSON checks
        Run json = send(dir, "event", "{\"space\":\"s1\",\"event_id\":\"e1\"}\n", "--no-validate");
        assertThat(json.code()).isEqualTo(2);
        assertThat(json.err()).contains("line 1").contains("payload");
    }
}
