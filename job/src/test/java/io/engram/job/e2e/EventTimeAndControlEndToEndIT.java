package io.engram.job.e2e;

import static io.engram.job.e2e.E2eSupport.WAIT;
import static io.engram.job.e2e.E2eSupport.eventInput;
import static io.engram.job.e2e.E2eSupport.ms;
import static io.engram.job.e2e.E2eSupport.store;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.e2e.E2eSupport.Produced;
import io.engram.job.e2e.E2eSupport.TopicReader;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.schemas.EventPosition;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.ReinforceMemory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Event time and the control topic in the real job. The decay sweep is an event-time timer of the memory operator, so
 * it only runs if watermarks reach that operator through both of its inputs (the keyed events + queries, and the
 * broadcast control stream); idle inputs and a rejected future-dated record must not move event time; and the runtime
 * kernel switch arrives through that same control stream.
 */
@Timeout(300)
class EventTimeAndControlEndToEndIT {
    private static final Logger LOG = LoggerFactory.getLogger(EventTimeAndControlEndToEndIT.class);

    @RegisterExtension
    static final MiniClusterExtension FLINK = E2eSupport.miniCluster();

    private static final String RAN_AHEAD = "'kept' (1 h stability, reinforced now) and 'recent' (30 min, stored "
            + "1 min ago) must stay: if they are gone, sweeps ran far ahead of the data's event time (an input's "
            + "watermark jumped, e.g. to the end of time while the data inputs were idle)";

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static EmbeddedKafkaBroker kafka() {
        return KAFKA.broker();
    }

    /**
     * A memory stored ten minutes ago with a 60 s stability (retention e^-10, far below the 0.01 forget threshold)
     * must disappear from the answers soon after newer events move the watermark past its space's sweep time, while
     * its 1 h neighbour stays. Then a record stamped five hours ahead is dead-lettered as FUTURE_TIMESTAMP; it must
     * not move event time: a memory with 30 min stability (retention e^-10 five hours from now) has to survive.
     */
    @Test
    void decaySweepRunsOnTheWatermarkAndIgnoresFutureRecords() throws Exception {
        Topics topics = Topics.suffixed("sweep");
        topics.create(kafka());
        String space = "fading";
        long now = System.currentTimeMillis();
        float[] faded = {1f, 0f, 0f, 0f};
        float[] kept = {0.9f, 0.1f, 0f, 0f};
        float[] recent = {0.8f, 0.2f, 0.1f, 0f};
        List<Workload.Input> inputs = new ArrayList<>();
        inputs.add(eventInput(space, "e1", now - 600_000, store("faded", faded, 60f)));
        inputs.add(eventInput(space, "e2", now - 600_000, store("kept", kept, 3600f)));
        inputs.add(eventInput(space, "e3", now - 60_000, store("recent", recent, 1800f)));
        inputs.add(eventInput(space, "e4", now, ReinforceMemory.newBuilder().setMemoryId("kept").build()));
        // Queries come through their own topic, so a first probe could overtake the stores: every probe names the
        // last store's position (read-your-writes) and is answered only once all four events are applied.
        List<Produced> stored = E2eSupport.produce(kafka(), topics.events(), inputs);
        Produced last4 = stored.get(stored.size() - 1);
        EventPosition applied = new EventPosition(last4.partition(), last4.offset());

        Configuration conf = E2eSupport.jobConfig(kafka(), topics, "java", "hashmap", "sweep");
        conf.set(EngramOptions.SWEEP_INTERVAL, Duration.ofSeconds(10));
        conf.set(EngramOptions.IDLENESS, Duration.ofMillis(500));
        JobClient job = E2eSupport.start(conf, "engram-e2e-sweep");
        try (TopicReader results = new TopicReader(kafka(), topics.results());
             TopicReader deadLetters = new TopicReader(kafka(), topics.deadLetters())) {
            int[] asked = {0};
            List<String> last = new ArrayList<>();
            long t = System.nanoTime();
            E2eSupport.waitUntil(() -> {
                List<String> ids = hits(topics, results, job, space, faded, now, applied, asked[0]++);
                last.clear();
                last.addAll(ids);
                assertThat(ids).as(RAN_AHEAD).contains("kept", "recent");
                return !ids.contains("faded");
            }, Duration.ofSeconds(90), () -> "the decay sweep to forget 'faded' (stability 60 s, stored 10 min ago;"
                    + " sweep interval 10 s); after " + asked[0] + " queries the hits are still " + last
                    + ": the memory operator's event time does not advance", job);
            LOG.info("decay sweep forgot 'faded' after {} ms ({} queries); hits {}", ms(t), asked[0], last);

            // Quiet inputs: once every source is idle (idleness 500 ms, watermarks every 200 ms) event time must
            // stand still, not run ahead. The memory operator's watermark is read from Flink's REST API for 3 s:
            // the sweep above proves it is there, and no accepted record is stamped after the wall clock.
            // (The watch is bounded: it can only miss a bug on a very slow machine; it cannot fail a correct job.)
            watermarksStayBehindTheWallClock(job, Duration.ofSeconds(3));
            assertThat(hits(topics, results, job, space, faded, now, applied, asked[0]++))
                    .as("hits after 3 s without input: " + RAN_AHEAD).contains("kept", "recent");

            // A record from five hours ahead: dead-lettered, and it must not drag event time along.
            Produced future = E2eSupport.produce(kafka(), topics.events(), List.of(eventInput(space, "e5",
                    now + 5 * 3600_000L, store("future", recent, 1800f)))).get(0);
            E2eSupport.waitUntil(() -> {
                deadLetters.pollOnce();
                return !deadLetters.records.isEmpty();
            }, WAIT, () -> "the FUTURE_TIMESTAMP dead letter", job);
            assertThat(E2eSupport.deadLetter(deadLetters.records.get(0)).getReason()).isEqualTo("FUTURE_TIMESTAMP");
            assertThat(E2eSupport.deadLetter(deadLetters.records.get(0)).getSourceOffset())
                    .isEqualTo(future.offset());
            // Let every input go idle again: a watermark dragged to the future record's time would now run the
            // sweeps up to five hours ahead. Watch the watermark while that would happen, then ask again.
            watermarksStayBehindTheWallClock(job, Duration.ofSeconds(3));
            assertThat(hits(topics, results, job, space, faded, now, applied, asked[0]++))
                    .as("hits after a FUTURE_TIMESTAMP record was rejected: it must not advance event time, which "
                            + "would run the decay sweeps 5 h ahead and forget 'recent' (30 min stability)")
                    .contains("kept", "recent");
        } finally {
            E2eSupport.cancel(job);
        }
    }

    /**
     * The runtime kernel switch through the control topic (whose input is marked idle for watermarks, see
     * ControlWatermarks): a zig job switches a space to java without a restart, and a stale switch (older
     * timestamp_ms, delivered later, e.g. from the other control partition) must not undo a newer one: the schema's
     * contract is "the newest command (by timestamp_ms) wins". In a java-only build the job runs java and a switch to
     * zig leaves it on java.
     */
    @Test
    void kernelSwitchOnTheControlTopic() throws Exception {
        boolean zig = E2eSupport.zigUnavailable().isEmpty();
        Topics topics = Topics.suffixed("control");
        topics.create(kafka());
        long now = System.currentTimeMillis();
        float[] cue = {1f, 0.5f, 0f};
        List<Workload.Input> inputs = new ArrayList<>();
        for (String space : List.of("switched", "untouched")) {
            inputs.add(eventInput(space, space + "-e1", now - 1000, store("m", cue, 3600f)));
        }
        E2eSupport.produce(kafka(), topics.events(), inputs);
        String configured = zig ? "zig" : "java";
        JobClient job = E2eSupport.start(E2eSupport.jobConfig(kafka(), topics, configured, "hashmap", "control"),
                "engram-e2e-control");
        try (TopicReader results = new TopicReader(kafka(), topics.results());
             TopicReader deadLetters = new TopicReader(kafka(), topics.deadLetters())) {
            int[] n = {0};
            assertThat(mode(topics, results, job, "switched", cue, n[0]++)).isEqualTo(configured);
            String other = zig ? "java" : "zig";
            control(topics, other, now, List.of("switched"), 0, "EventTimeAndControlEndToEndIT");
            String expected = "java"; // zig: switched to java; java-only: stays java (no zig kernels to switch to)
            String[] last = {null};
            E2eSupport.waitUntil(() -> {
                last[0] = mode(topics, results, job, "switched", cue, n[0]++);
                return zig ? last[0].equals(expected) : n[0] > 5;
            }, WAIT, () -> "the switch of 'switched' to " + other + " (kernel_mode still " + last[0] + ")", job);
            assertThat(last[0]).isEqualTo(expected);
            assertThat(mode(topics, results, job, "untouched", cue, n[0]++)).as("a space the switch does not name")
                    .isEqualTo(configured);
            // a stale command, older than the one in force, delivered later through the other partition
            control(topics, configured, now - 60_000, List.of(), 1, "EventTimeAndControlEndToEndIT");
            // Behind it on the same partition, a marker that is invalid on purpose (blank issued_by): once its dead
            // letter is out, every subtask has processed the stale command too, so the check below cannot pass
            // merely because the stale command had not arrived yet.
            long marker = control(topics, configured, now, List.of(), 1, " ");
            E2eSupport.waitUntil(() -> {
                deadLetters.pollOnce();
                return !deadLetters.records.isEmpty();
            }, WAIT, () -> "the marker control record's dead letter", job);
            assertThat(mode(topics, results, job, "switched", cue, n[0]++))
                    .as("kernel_mode of 'switched' after a stale control record (timestamp_ms older than the one in "
                            + "force): the newest command by timestamp_ms must win")
                    .isEqualTo(expected);
            deadLetters.drainCommitted();
            assertThat(deadLetters.records).as("the only dead-lettered control record is the invalid marker")
                    .hasSize(1);
            assertThat(E2eSupport.deadLetter(deadLetters.records.get(0)).getReason()).isEqualTo("BAD_CONTROL");
            assertThat(E2eSupport.deadLetter(deadLetters.records.get(0)).getSourceOffset()).isEqualTo(marker);
        } finally {
            E2eSupport.cancel(job);
        }
    }

    /**
     * Reads the memory operator's event time every 100 ms for {@code watch}: the watermark each subtask emits
     * ({@code currentOutputWatermark}: the one its event-time timers, the sweeps, fire on; its input gauge stays at
     * Long.MIN_VALUE because the idle control input never has one). Every subtask must have one (the caller has seen
     * a sweep run) and none may be ahead of the wall clock, where a watermark dragged along by a rejected future
     * record, or jumping to the end of time when the inputs go idle, would be.
     */
    private static void watermarksStayBehindTheWallClock(JobClient job, Duration watch) throws Exception {
        long end = System.nanoTime() + watch.toNanos();
        int reads = 0;
        Map<String, String> w = Map.of();
        while (System.nanoTime() < end) {
            w = E2eSupport.vertexMetrics(FLINK, job, "memory-spaces", ".memory-spaces.currentOutputWatermark");
            long wall = System.currentTimeMillis();
            assertThat(w).as("the memory operator's watermark per subtask").hasSize(E2eSupport.PARALLELISM);
            for (Map.Entry<String, String> e : w.entrySet()) {
                assertThat(Long.parseLong(e.getValue())).as("%s (wall clock %d)", e.getKey(), wall)
                        .isGreaterThan(Long.MIN_VALUE).isLessThanOrEqualTo(wall);
            }
            reads++;
            Thread.sleep(100);
        }
        LOG.info("the memory operator's watermarks stayed behind the wall clock in {} reads over {}: {}", reads, watch,
                w);
    }

    /** Sends a kernel switch to one partition of the control topic; returns its offset. */
    private static long control(Topics topics, String mode, long ts, List<String> spaces, int partition,
                                String issuedBy) throws Exception {
        io.engram.schemas.KernelControl c = io.engram.schemas.KernelControl.newBuilder().setMode(mode)
                .setReason("e2e test").setIssuedBy(issuedBy).setTimestampMs(ts).setSpaces(spaces)
                .setFraction(null).build();
        try (org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> p = E2eSupport.producer(kafka())) {
            return p.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topics.control(), partition,
                    "control".getBytes(java.nio.charset.StandardCharsets.UTF_8),
                    io.engram.schemas.AvroCodec.encode(c))).get().offset();
        }
    }

    private static String mode(Topics topics, TopicReader results, JobClient job, String space, float[] cue, int n) {
        RecallQuery q = RecallQuery.newBuilder().setQueryId(space + "-mode-" + n).setSpace(space)
                .setTimestampMs(System.currentTimeMillis()).setCue(Workload.toList(cue)).setK(1).build();
        try {
            return E2eSupport.ask(kafka(), topics, results, job, q).getKernelMode();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<String> hits(Topics topics, TopicReader results, JobClient job, String space, float[] cue,
                                     long at, EventPosition after, int n) {
        RecallQuery q = RecallQuery.newBuilder().setQueryId("probe-" + n).setSpace(space).setTimestampMs(at)
                .setCue(Workload.toList(cue)).setK(10).setSeedK(10).setMaxHops(0).setAfterPositions(List.of(after))
                .build();
        try {
            RecallResult res = E2eSupport.ask(kafka(), topics, results, job, q);
            assertThat(res.getStale()).as("probe " + n + " answered stale: the job did not apply the four stores "
                    + "within engram.recall.wait.timeout").isFalse();
            return Answers.ids(res.getHits());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
