package io.engram.job.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.job.config.EngramOptions;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.EventPosition;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the exactly-once sinks can refuse, record by record, must never fail the job (it would restore, write the
 * same record again and fail again, forever); what cannot hold at all is refused at submission.
 */
class SinkSafetyIT {
    private static final Logger LOG = LoggerFactory.getLogger(SinkSafetyIT.class);

    @RegisterExtension
    static final MiniClusterExtension FLINK = Rel.miniCluster();

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * The broker refuses records stamped more than message.timestamp.after.max.ms (1 h by default since Kafka 4.0)
     * ahead of its clock. A job allowed 2 h of skew answers a query 90 minutes ahead with the query's timestamp:
     * that answer used to fail the results sink with InvalidTimestampException on every replay.
     */
    @Test
    void anAnswerTheBrokerWouldRefuseForItsTimestampIsWrittenAtTheWallClock() throws Exception {
        Rel.Topics t = Rel.Topics.suffixed("sink-ts");
        KAFKA.broker().createTopics(1, t.all());
        Configuration conf = Rel.jobConfig(KAFKA.broker().bootstrapServers(), t, "sink-ts");
        conf.set(EngramOptions.MAX_FUTURE_SKEW, Duration.ofHours(2));
        JobClient job = Rel.start(conf, "engram-sink-ts");
        long now = System.currentTimeMillis();
        try (Rel.Reader results = new Rel.Reader(KAFKA.broker().bootstrapServers(), t.results(), Map.of())) {
            Rel.waitUntil(() -> status(job) == JobStatus.RUNNING, Rel.WAIT, () -> "job RUNNING", job);
            try (KafkaProducer<byte[], byte[]> p = Rel.producer(KAFKA.broker().bootstrapServers(), Map.of())) {
                MemoryEvent e = MemoryEvent.newBuilder().setSpace("ahead").setEventId("e1").setTimestampMs(now)
                        .setPayload(StoreMemory.newBuilder().setMemoryId("m1").setEmbedding(List.of(1f, 0f))
                                .setStrength(1f).build()).build();
                // events and queries are separate sources: each query waits for the store (read-your-writes)
                List<EventPosition> stored = positionOf(
                        p.send(new ProducerRecord<>(t.events(), utf8("ahead"), AvroCodec.encode(e))).get());
                for (int i = 0; i < 2; i++) {
                    long ts = i == 0 ? now + 90 * 60_000L : now + 1000;
                    RecallQuery q = RecallQuery.newBuilder().setQueryId("q" + i).setSpace("ahead").setTimestampMs(ts)
                            .setCue(List.of(1f, 0f)).setK(3).setAfterPositions(stored).build();
                    p.send(new ProducerRecord<>(t.queries(), utf8("ahead"), AvroCodec.encode(q))).get();
                }
            }
            Rel.waitUntil(() -> {
                results.pollOnce();
                return results.records.size() >= 2;
            }, Rel.WAIT, () -> "2 answers, have " + results.records.size(), job);
            for (ConsumerRecord<byte[], byte[]> r : results.records) {
                RecallResult res = AvroCodec.decodeRecallResult(r.value());
                LOG.info("answer {} (query timestamp {}) written with record timestamp {}", res.getQueryId(),
                        res.getTimestampMs(), r.timestamp());
                assertThat(res.getHits()).isNotEmpty();
                if (res.getQueryId().equals("q0")) {
                    assertThat(res.getTimestampMs()).isEqualTo(now + 90 * 60_000L);
                    assertThat(r.timestamp()).as("written at the wall clock, not 90 min ahead")
                            .isBetween(now, System.currentTimeMillis());
                } else {
                    assertThat(r.timestamp()).as("an ordinary answer keeps the query's timestamp")
                            .isEqualTo(now + 1000);
                }
            }
            assertThat(status(job)).isEqualTo(JobStatus.RUNNING);
        } finally {
            Rel.cancel(job);
        }
    }

    /**
     * engram.kafka.delivery-guarantee: with no checkpoint in the first 9 minutes, an at-least-once answer is visible
     * to a read_committed reader at once (no transaction holds it); an exactly-once one is not, and appears once the
     * stop-with-savepoint commits its transaction; none, which could lose results, is refused at submission.
     */
    @Test
    void atLeastOnceAnswersAreVisibleBeforeAnyCheckpointAndExactlyOnceOnesAreNot(@TempDir Path dir) throws Exception {
        for (String guarantee : List.of("at-least-once", "exactly-once")) {
            String name = "sink-" + guarantee;
            Rel.Topics t = Rel.Topics.suffixed(name);
            KAFKA.broker().createTopics(1, t.all());
            Configuration conf = Rel.jobConfig(KAFKA.broker().bootstrapServers(), t, name);
            conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMinutes(10));
            // Flink starts the first checkpoint at a random time between the minimum pause and the interval.
            conf.set(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS, Duration.ofMinutes(9));
            conf.setString(EngramOptions.DELIVERY_GUARANTEE.key(), guarantee);
            JobClient job = Rel.start(conf, "engram-" + name);
            try (Rel.Reader results = new Rel.Reader(KAFKA.broker().bootstrapServers(), t.results(), Map.of())) {
                Rel.waitUntil(() -> status(job) == JobStatus.RUNNING, Rel.WAIT, () -> "job RUNNING", job);
                long now = System.currentTimeMillis();
                try (KafkaProducer<byte[], byte[]> p = Rel.producer(KAFKA.broker().bootstrapServers(), Map.of())) {
                    MemoryEvent e = MemoryEvent.newBuilder().setSpace("sink-space").setEventId("e1").setTimestampMs(now)
                            .setPayload(StoreMemory.newBuilder().setMemoryId("m1").setEmbedding(List.of(1f, 0f))
                                    .setStrength(1f).build()).build();
                    // events and queries are separate sources: the query waits for the store (read-your-writes)
                    List<EventPosition> stored = positionOf(
                            p.send(new ProducerRecord<>(t.events(), utf8("sink-space"), AvroCodec.encode(e))).get());
                    RecallQuery q = RecallQuery.newBuilder().setQueryId("q1").setSpace("sink-space")
                            .setTimestampMs(now + 1)
                            .setCue(List.of(1f, 0f)).setK(3).setAfterPositions(stored).build();
                    p.send(new ProducerRecord<>(t.queries(), utf8("sink-space"), AvroCodec.encode(q))).get();
                }
                long sent = System.currentTimeMillis();
                if (guarantee.equals("at-least-once")) {
                    Rel.waitUntil(() -> {
                        results.pollOnce();
                        return !results.records.isEmpty();
                    }, Rel.WAIT, () -> "the answer, before any checkpoint", job);
                    RecallResult res = AvroCodec.decodeRecallResult(results.records.get(0).value());
                    LOG.info("at-least-once: the answer was read {} ms after the query was sent",
                            System.currentTimeMillis() - sent);
                    assertThat(res.getQueryId()).isEqualTo("q1");
                    assertThat(res.getHits()).extracting(h -> h.getMemoryId()).containsExactly("m1");
                } else {
                    // First see the answer written (read_uncommitted), so the empty read_committed read below
                    // cannot pass merely because the job had not answered yet.
                    try (Rel.Reader uncommitted = new Rel.Reader(KAFKA.broker().bootstrapServers(), t.results(),
                            Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted"))) {
                        Rel.waitUntil(() -> {
                            uncommitted.pollOnce();
                            return !uncommitted.records.isEmpty();
                        }, Rel.WAIT, () -> "the answer, written in an open transaction", job);
                    }
                    long until = System.currentTimeMillis() + 2_000;
                    while (System.currentTimeMillis() < until) {
                        results.pollOnce();
                    }
                    assertThat(results.records).as("an exactly-once answer, already written, stays invisible to "
                            + "read_committed until its checkpoint").isEmpty();
                    assertThat(status(job)).isEqualTo(JobStatus.RUNNING);
                    job.stopWithSavepoint(false, dir.resolve("sp-" + name).toUri().toString(),
                            SavepointFormatType.CANONICAL).get(2, TimeUnit.MINUTES);
                    Rel.waitUntil(() -> {
                        results.pollOnce();
                        return !results.records.isEmpty();
                    }, Rel.WAIT, () -> "the answer, committed by the stop-with-savepoint", job);
                    Thread.sleep(500);
                    results.pollOnce();
                    assertThat(results.records).hasSize(1);
                    RecallResult res = AvroCodec.decodeRecallResult(results.records.get(0).value());
                    assertThat(res.getQueryId()).isEqualTo("q1");
                    assertThat(res.getHits()).extracting(h -> h.getMemoryId()).containsExactly("m1");
                    continue;
                }
                assertThat(status(job)).isEqualTo(JobStatus.RUNNING);
            } finally {
                Rel.cancel(job);
            }
        }
        Rel.Topics t = Rel.Topics.suffixed("sink-none");
        KAFKA.broker().createTopics(1, t.all());
        Configuration none = Rel.jobConfig(KAFKA.broker().bootstrapServers(), t, "sink-none");
        none.setString(EngramOptions.DELIVERY_GUARANTEE.key(), "none");
        assertThatThrownBy(() -> startOrCancel(none, "engram-sink-none"))
                .hasMessageContaining("invalid configuration: engram.kafka.delivery-guarantee must be exactly-once "
                        + "or at-least-once");
    }

    /**
     * The delivery guarantee can be switched at a savepoint, both ways: exactly-once, at-least-once, then exactly-once,
     * each leg restored from the previous one's stop-with-savepoint. The memory stored in the first leg answers the
     * queries of the later ones, and each leg's query is answered once.
     */
    @Test
    void theDeliveryGuaranteeSwitchesAtASavepointWithTheStateKept(@TempDir Path dir) throws Exception {
        Rel.Topics t = Rel.Topics.suffixed("sink-switch");
        KAFKA.broker().createTopics(1, t.all());
        List<String> legs = List.of("exactly-once", "at-least-once", "exactly-once");
        String savepoint = null;
        long now = System.currentTimeMillis();
        try (Rel.Reader results = new Rel.Reader(KAFKA.broker().bootstrapServers(), t.results(), Map.of());
             KafkaProducer<byte[], byte[]> p = Rel.producer(KAFKA.broker().bootstrapServers(), Map.of())) {
            for (int leg = 0; leg < legs.size(); leg++) {
                Configuration conf = Rel.jobConfig(KAFKA.broker().bootstrapServers(), t, "sink-switch");
                conf.setString(EngramOptions.DELIVERY_GUARANTEE.key(), legs.get(leg));
                if (savepoint != null) {
                    conf.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint);
                }
                JobClient job = Rel.start(conf, "engram-sink-switch-" + leg);
                try {
                    Rel.waitUntil(() -> status(job) == JobStatus.RUNNING, Rel.WAIT, () -> "job RUNNING", job);
                    List<EventPosition> stored = List.of(); // legs 1 and 2: the store comes with the savepoint
                    if (leg == 0) {
                        MemoryEvent e = MemoryEvent.newBuilder().setSpace("switch").setEventId("e1")
                                .setTimestampMs(now).setPayload(StoreMemory.newBuilder().setMemoryId("m1")
                                        .setEmbedding(List.of(1f, 0f)).setStrength(1f).build()).build();
                        // events and queries are separate sources: the query waits for the store
                        stored = positionOf(
                                p.send(new ProducerRecord<>(t.events(), utf8("switch"), AvroCodec.encode(e))).get());
                    }
                    RecallQuery q = RecallQuery.newBuilder().setQueryId("q" + leg).setSpace("switch")
                            .setTimestampMs(now + 1 + leg).setCue(List.of(1f, 0f)).setK(3).setAfterPositions(stored)
                            .build();
                    p.send(new ProducerRecord<>(t.queries(), utf8("switch"), AvroCodec.encode(q))).get();
                    int expected = leg + 1;
                    Rel.waitUntil(() -> {
                        results.pollOnce();
                        return results.records.size() >= expected;
                    }, Rel.WAIT, () -> "answer of leg " + expected + " (" + legs.get(expected - 1) + ")", job);
                    String target = dir.resolve("sp-" + leg).toUri().toString();
                    savepoint = job.stopWithSavepoint(false, target,
                            SavepointFormatType.CANONICAL).get(2, TimeUnit.MINUTES);
                } catch (Exception | AssertionError e) {
                    Rel.cancel(job);
                    throw e;
                }
            }
            Thread.sleep(1000);
            results.pollOnce();
            assertThat(results.records).hasSize(legs.size());
            for (int i = 0; i < legs.size(); i++) {
                RecallResult res = AvroCodec.decodeRecallResult(results.records.get(i).value());
                assertThat(res.getQueryId()).as("leg %d (%s)", i, legs.get(i)).isEqualTo("q" + i);
                assertThat(res.getHits()).extracting(h -> h.getMemoryId()).as("leg %d (%s)", i, legs.get(i))
                        .containsExactly("m1");
            }
        }
    }

    /** An output bound the topic cannot hold is refused when the job is built, naming both numbers. */
    @Test
    void anOutputBoundTheTopicCannotHoldIsRefusedAtSubmission() throws Exception {
        Rel.Topics t = Rel.Topics.suffixed("sink-small");
        KAFKA.broker().createTopics(1, Map.of("max.message.bytes", "100000"), t.all());
        Configuration conf = Rel.jobConfig(KAFKA.broker().bootstrapServers(), t, "sink-small");
        assertThatThrownBy(() -> startOrCancel(conf, "engram-sink-small"))
                .hasMessageContaining("engram.limits.max-output-record-size")
                .hasMessageContaining("max.message.bytes")
                .hasMessageContaining("100000");
        conf.set(EngramOptions.MAX_OUTPUT_RECORD_SIZE, org.apache.flink.configuration.MemorySize.parse("64kb"));
        JobClient job = Rel.start(conf, "engram-sink-small-ok");
        try {
            Rel.waitUntil(() -> status(job) == JobStatus.RUNNING, Rel.WAIT, () -> "job RUNNING", job);
        } finally {
            Rel.cancel(job);
        }
        Configuration request = Rel.jobConfig(KAFKA.broker().bootstrapServers(), t, "sink-small-request");
        request.set(EngramOptions.MAX_OUTPUT_RECORD_SIZE, org.apache.flink.configuration.MemorySize.parse("64kb"));
        request.setString("engram.kafka.properties.max.request.size", "40000");
        assertThatThrownBy(() -> startOrCancel(request, "engram-sink-small-request"))
                .hasMessageContaining("max.request.size").hasMessageContaining("40000");
    }

    /** Starts the job; if it starts, cancels it at once (it must not hold the slots) and returns normally. */
    private static void startOrCancel(Configuration conf, String name) throws Exception {
        Rel.cancel(Rel.start(conf, name));
    }

    private static JobStatus status(JobClient job) {
        try {
            return job.getJobStatus().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            return null;
        }
    }

    /** Where a sent event landed, for a query's after_positions (read-your-writes). */
    private static List<EventPosition> positionOf(RecordMetadata md) {
        return List.of(new EventPosition(md.partition(), md.offset()));
    }
}
