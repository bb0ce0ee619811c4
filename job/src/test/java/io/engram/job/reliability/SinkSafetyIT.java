package io.engram.job.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.job.config.EngramOptions;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What the exactly-once sinks can refuse, record by record, must never fail the job (it would restore, write the
 * same record again and fail again, forever); what cannot hold at all is refused at submission.
 */
class SinkSafetyIT {
    private static final Logger LOG = LoggerFactory.getLogger(SinkSafetyIT.class);

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(Rel.PARALLELISM)
                    .build());

    private static EmbeddedKafkaBroker kafka;

    @BeforeAll
    static void start() {
        kafka = EmbeddedKafkaBroker.start();
    }

    @AfterAll
    static void stop() {
        if (kafka != null) {
            kafka.close();
        }
    }

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
        kafka.createTopics(1, t.all());
        Configuration conf = Rel.jobConfig(kafka.bootstrapServers(), t, "sink-ts");
        conf.set(EngramOptions.MAX_FUTURE_SKEW, Duration.ofHours(2));
        JobClient job = Rel.start(conf, "engram-sink-ts");
        long now = System.currentTimeMillis();
        try (Rel.Reader results = new Rel.Reader(kafka.bootstrapServers(), t.results(), Map.of())) {
            Rel.waitUntil(() -> status(job) == JobStatus.RUNNING, Rel.WAIT, () -> "job RUNNING", job);
            try (KafkaProducer<byte[], byte[]> p = Rel.producer(kafka.bootstrapServers(), Map.of())) {
                MemoryEvent e = MemoryEvent.newBuilder().setSpace("ahead").setEventId("e1").setTimestampMs(now)
                        .setPayload(StoreMemory.newBuilder().setMemoryId("m1").setEmbedding(List.of(1f, 0f))
                                .setStrength(1f).build()).build();
                p.send(new ProducerRecord<>(t.events(), utf8("ahead"), AvroCodec.encode(e))).get();
                Thread.sleep(1000); // events and queries are separate sources
                for (int i = 0; i < 2; i++) {
                    long ts = i == 0 ? now + 90 * 60_000L : now + 1000;
                    RecallQuery q = RecallQuery.newBuilder().setQueryId("q" + i).setSpace("ahead").setTimestampMs(ts)
                            .setCue(List.of(1f, 0f)).setK(3).build();
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

    /** An output bound the topic cannot hold is refused when the job is built, naming both numbers. */
    @Test
    void anOutputBoundTheTopicCannotHoldIsRefusedAtSubmission() throws Exception {
        Rel.Topics t = Rel.Topics.suffixed("sink-small");
        kafka.createTopics(1, Map.of("max.message.bytes", "100000"), t.all());
        Configuration conf = Rel.jobConfig(kafka.bootstrapServers(), t, "sink-small");
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
        Configuration request = Rel.jobConfig(kafka.bootstrapServers(), t, "sink-small-request");
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
}
