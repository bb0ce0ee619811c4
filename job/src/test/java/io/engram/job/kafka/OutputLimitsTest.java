package io.engram.job.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.job.model.OutRecord;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

/** The submission-time check of the output bound, and the sinks' last guard. */
class OutputLimitsTest {
    private static final int KIB = 1024;
    private static final OutputLimits.Producer DEFAULT_PRODUCER = OutputLimits.Producer.of(new Properties());

    private static OutputLimits.Topic topic(String name, int maxMessageBytes) {
        return new OutputLimits.Topic(name, maxMessageBytes, true, Long.MAX_VALUE, 3_600_000L, "delete", "producer",
                true);
    }

    @Test
    void kafkasDefaultsHoldTheDefaultBound() {
        assertThat(DEFAULT_PRODUCER).isEqualTo(new OutputLimits.Producer(1_048_576, 33_554_432L, 16_384, "none"));
        assertThatCode(() -> OutputLimits.verify(512 * KIB, DEFAULT_PRODUCER,
                List.of(topic("r", 1_048_588), topic("d", 1_048_588)))).doesNotThrowAnyException();
        // exactly max.request.size is still fine: the bound counts Kafka's framing already
        assertThatCode(() -> OutputLimits.verify(1_048_576, DEFAULT_PRODUCER, List.of(topic("r", 1_048_588))))
                .doesNotThrowAnyException();
    }

    @Test
    void aBoundTheProducerOrATopicCannotHoldIsRefusedNamingBoth() {
        assertThatThrownBy(() -> OutputLimits.verify(2048 * KIB, DEFAULT_PRODUCER, List.of(topic("r", 4_000_000))))
                .hasMessageContaining("engram.limits.max-output-record-size (2097152 bytes)")
                .hasMessageContaining("max.request.size (1048576 bytes)");
        assertThatThrownBy(() -> OutputLimits.verify(512 * KIB, DEFAULT_PRODUCER,
                List.of(topic("results", 1_048_588), topic("dlq", 100_000))))
                .hasMessageContaining("max.message.bytes of topic dlq (100000 bytes)")
                .hasMessageNotContaining("topic results");
        Properties small = new Properties();
        small.setProperty("buffer.memory", "100000");
        assertThatThrownBy(() -> OutputLimits.verify(512 * KIB, OutputLimits.Producer.of(small),
                List.of(topic("r", 1_048_588)))).hasMessageContaining("buffer.memory (100000 bytes)");
        Properties bigBatch = new Properties();
        bigBatch.setProperty("batch.size", "2000000");
        assertThatThrownBy(() -> OutputLimits.verify(64 * KIB, OutputLimits.Producer.of(bigBatch),
                List.of(topic("r", 1_048_588)))).hasMessageContaining("batch.size (2000000 bytes)");
    }

    @Test
    void compressionGetsHeadroomAndCompactedTopicsAreRefused() {
        Properties zstd = new Properties();
        zstd.setProperty("compression.type", "zstd");
        int limit = 600_000;
        assertThatCode(() -> OutputLimits.verify(limit, DEFAULT_PRODUCER, List.of(topic("r", limit))))
                .doesNotThrowAnyException();
        assertThatThrownBy(() -> OutputLimits.verify(limit, OutputLimits.Producer.of(zstd),
                List.of(topic("r", limit)))).hasMessageContaining("compressed (700064 bytes with headroom)");
        OutputLimits.Topic lz4Topic = new OutputLimits.Topic("t", limit, true, Long.MAX_VALUE, 1, "delete", "lz4",
                true);
        assertThatThrownBy(() -> OutputLimits.verify(limit, DEFAULT_PRODUCER, List.of(lz4Topic)))
                .hasMessageContaining("compressed");
        OutputLimits.Topic compacted = new OutputLimits.Topic("dlq", 1_048_588, true, Long.MAX_VALUE, 1,
                "compact,delete", "producer", true);
        assertThatThrownBy(() -> OutputLimits.verify(512 * KIB, DEFAULT_PRODUCER, List.of(compacted)))
                .hasMessageContaining("cleanup.policy=compact,delete");
    }

    @Test
    void timestampsTheTopicWouldRefuseAreWrittenAtTheWallClock() {
        long now = 1_800_000_000_000L;
        OutputLimits l = new OutputLimits(512 * KIB, "dlq", Map.of(
                "r", new OutputLimits.Topic("r", 1_048_588, true, 86_400_000L, 3_600_000L, "delete", "producer", true),
                "append", new OutputLimits.Topic("append", 1_048_588, false, 1, 1, "delete", "producer", true)));
        assertThat(l.writeTimestamp("r", now + 30 * 60_000L, now)).as("30 min ahead: fine").isEqualTo(now + 30
                * 60_000L);
        assertThat(l.writeTimestamp("r", now + 59 * 60_000L + 30_000, now)).as("within a minute of the limit")
                .isEqualTo(now);
        assertThat(l.writeTimestamp("r", now + 2 * 3_600_000L, now)).isEqualTo(now);
        assertThat(l.writeTimestamp("r", now - 3_600_000L, now)).isEqualTo(now - 3_600_000L);
        assertThat(l.writeTimestamp("r", now - 2 * 86_400_000L, now)).as("older than before.max.ms").isEqualTo(now);
        assertThat(l.writeTimestamp("r", -5, now)).as("the producer refuses negative timestamps").isEqualTo(now);
        assertThat(l.writeTimestamp("append", now + 86_400_000L, now)).as("LogAppendTime: the broker stamps it")
                .isEqualTo(now + 86_400_000L);
        assertThat(l.writeTimestamp("unknown", now + 2 * 3_600_000L, now)).as("Kafka's default: 1 h ahead")
                .isEqualTo(now);
    }

    @Test
    void theGuardTurnsAnOversizeRecordIntoABoundedDeadLetterOnTheDeadLetterTopic() throws Exception {
        int limit = 16 * KIB;
        OutputLimits l = new OutputLimits(limit, "engram.dead-letters", Map.of());
        BoundedRecordSerializer s = new BoundedRecordSerializer("engram.recall-results", l);
        OutRecord big = new OutRecord("space-1".getBytes(), new byte[limit]);
        big.timestampMs = 5L;
        ProducerRecord<byte[], byte[]> r = s.serialize(big, null, null);
        assertThat(r.topic()).isEqualTo("engram.dead-letters");
        assertThat(r.key().length + r.value().length + 82).isLessThanOrEqualTo(limit);
        DeadLetter dl = AvroCodec.decodeDeadLetter(r.value());
        assertThat(dl.getReason()).isEqualTo("OUTPUT_TOO_LARGE");
        assertThat(dl.getSourceTopic()).isEqualTo("engram.recall-results");
        assertThat(dl.getValueSize()).isEqualTo(limit);
        assertThat(dl.getTruncated()).isTrue();

        OutRecord ok = new OutRecord("space-1".getBytes(), new byte[100]);
        ok.timestampMs = System.currentTimeMillis() - 1000;
        ProducerRecord<byte[], byte[]> same = s.serialize(ok, null, 7L);
        assertThat(same.topic()).isEqualTo("engram.recall-results");
        assertThat(same.timestamp()).isEqualTo(ok.timestampMs);
        assertThat(same.value()).isSameAs(ok.value);
    }
}
