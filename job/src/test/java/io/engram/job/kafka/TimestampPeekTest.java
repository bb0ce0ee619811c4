package io.engram.job.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.model.RawRecord;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.Forget;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;

/** {@link TimestampPeek} on real encoded records, and on everything that is not one. */
class TimestampPeekTest {
    private static final long FALLBACK = 42_424_242L;

    static byte[] memoryEvent(String space, String eventId, long ts) {
        return AvroCodec.encode(MemoryEvent.newBuilder().setSpace(space).setEventId(eventId).setTimestampMs(ts)
                .setPayload(StoreMemory.newBuilder().setMemoryId("m").setEmbedding(List.of(1f, 2f)).setStrength(1f)
                        .setStabilityS(null).setContent("some text").build())
                .build());
    }

    static byte[] recallQuery(String queryId, String space, long ts) {
        return AvroCodec.encode(RecallQuery.newBuilder().setQueryId(queryId).setSpace(space).setTimestampMs(ts)
                .setCue(List.of(1f, 0f)).setK(3).setMaxHops(null).setHopDecay(null).setThreshold(null)
                .setSeedK(null).build());
    }

    static final long[] TIMESTAMPS = {0L, 1L, 63L, 64L, 127L, 128L, 1_700_000_000_000L, 4_102_444_800_000L,
        Integer.MAX_VALUE, 1L << 40, Long.MAX_VALUE - 1, Long.MAX_VALUE};

    @Test
    void readsTheTimestampOfMemoryEvents() {
        String[] ids = {"", "e", "e".repeat(63), "e".repeat(64), "e".repeat(200), "ünïcødé-\u4e2d\ud83d\ude00",
            "x".repeat(20_000)};
        for (long ts : TIMESTAMPS) {
            for (String id : ids) {
                byte[] v = memoryEvent("space-a", id, ts);
                assertThat(TimestampPeek.eventTime(v, FALLBACK)).as("ts %d, id of %d chars", ts, id.length())
                        .isEqualTo(ts);
            }
        }
        Random rnd = new Random(1L);
        for (int i = 0; i < 1000; i++) {
            long ts = rnd.nextLong() & Long.MAX_VALUE;
            String space = "s".repeat(3 + rnd.nextInt(62));
            assertThat(TimestampPeek.eventTime(memoryEvent(space, "e" + i, ts), FALLBACK)).isEqualTo(ts);
        }
    }

    @Test
    void readsTheTimestampOfRecallQueries() {
        for (long ts : TIMESTAMPS) {
            assertThat(TimestampPeek.eventTime(recallQuery("q-" + ts, "space-a", ts), FALLBACK)).isEqualTo(ts);
            assertThat(TimestampPeek.eventTime(recallQuery("q".repeat(300), "é".repeat(100), ts), FALLBACK))
                    .isEqualTo(ts);
        }
    }

    @Test
    void everyOtherPayloadTypeOfMemoryEventsWorksToo() {
        byte[] forget = AvroCodec.encode(MemoryEvent.newBuilder().setSpace("space-a").setEventId("f")
                .setTimestampMs(123_456L).setPayload(Forget.newBuilder().setMemoryId("m").build()).build());
        assertThat(TimestampPeek.eventTime(forget, FALLBACK)).isEqualTo(123_456L);
    }

    @Test
    void negativeTimestampsFallBack() {
        // the operator dead-letters them (BAD_TIMESTAMP); as event time they must not drag the watermark
        for (long ts : new long[] {-1L, -1_000L, Long.MIN_VALUE}) {
            assertThat(TimestampPeek.eventTime(memoryEvent("space-a", "e", ts), FALLBACK)).isEqualTo(FALLBACK);
            assertThat(TimestampPeek.eventTime(recallQuery("q", "space-a", ts), FALLBACK)).isEqualTo(FALLBACK);
        }
    }

    @Test
    void garbageTruncatedAndEmptyFallBack() {
        assertThat(TimestampPeek.eventTime(null, FALLBACK)).isEqualTo(FALLBACK);
        assertThat(TimestampPeek.eventTime(new byte[0], FALLBACK)).isEqualTo(FALLBACK);
        assertThat(TimestampPeek.eventTime(new byte[] {(byte) 0xC3}, FALLBACK)).isEqualTo(FALLBACK);
        assertThat(TimestampPeek.eventTime("{\"timestamp_ms\": 5}".getBytes(StandardCharsets.UTF_8), FALLBACK))
                .isEqualTo(FALLBACK);

        byte[] good = memoryEvent("space-a", "event-1", 1_700_000_000_000L);
        // every truncation that cuts into the space, the id or the timestamp
        int timestampEnd = 10 + 1 + "space-a".length() + 1 + "event-1".length() + 6; // 1.7e12 zig-zag: 6 bytes
        for (int len = 0; len < timestampEnd; len++) {
            assertThat(TimestampPeek.eventTime(Arrays.copyOf(good, len), FALLBACK)).as("first %d bytes", len)
                    .isEqualTo(FALLBACK);
        }
        assertThat(TimestampPeek.eventTime(Arrays.copyOf(good, timestampEnd), FALLBACK))
                .as("the body after the timestamp is not needed").isEqualTo(1_700_000_000_000L);

        byte[] badMarker = good.clone();
        badMarker[0] = 0x00;
        assertThat(TimestampPeek.eventTime(badMarker, FALLBACK)).isEqualTo(FALLBACK);
        byte[] badVersion = good.clone();
        badVersion[1] = 0x02;
        assertThat(TimestampPeek.eventTime(badVersion, FALLBACK)).isEqualTo(FALLBACK);

        byte[] hugeLength = good.clone();
        hugeLength[10] = (byte) 0xfe; // zig-zag varint far beyond the end
        hugeLength[11] = (byte) 0xff;
        hugeLength[12] = (byte) 0xff;
        hugeLength[13] = (byte) 0x0f;
        assertThat(TimestampPeek.eventTime(hugeLength, FALLBACK)).isEqualTo(FALLBACK);

        byte[] negativeLength = good.clone();
        negativeLength[10] = 0x01; // zig-zag -1
        assertThat(TimestampPeek.eventTime(negativeLength, FALLBACK)).isEqualTo(FALLBACK);

        byte[] endless = new byte[40];
        endless[0] = (byte) 0xC3;
        endless[1] = 0x01;
        endless[10] = 0;
        endless[11] = 0;
        Arrays.fill(endless, 12, 40, (byte) 0xff); // a varint that never ends
        assertThat(TimestampPeek.eventTime(endless, FALLBACK)).isEqualTo(FALLBACK);

        Random rnd = new Random(5L);
        for (int i = 0; i < 2000; i++) {
            byte[] noise = new byte[rnd.nextInt(64)];
            rnd.nextBytes(noise);
            long t = TimestampPeek.eventTime(noise, FALLBACK);
            if (noise.length < 2 || noise[0] != (byte) 0xC3 || noise[1] != 0x01) {
                assertThat(t).isEqualTo(FALLBACK);
            } else {
                assertThat(t).isGreaterThanOrEqualTo(0L); // never throws, never negative
            }
            byte[] corrupted = good.clone();
            corrupted[10 + rnd.nextInt(corrupted.length - 10)] = (byte) rnd.nextInt(256);
            assertThat(TimestampPeek.eventTime(corrupted, FALLBACK)).isGreaterThanOrEqualTo(0L);
        }
    }

    @Test
    void otherRecordTypesDoNotCrashIt() {
        byte[] dl = AvroCodec.encode(DeadLetter.newBuilder().setSourceTopic("t").setSourcePartition(0)
                .setSourceOffset(1).setKey(null).setValue(null).setReason("EMPTY").setMessage("m")
                .setTimestampMs(5).build());
        assertThat(TimestampPeek.eventTime(dl, FALLBACK)).isGreaterThanOrEqualTo(0L);
    }

    // ----- the deserializer that uses it -----------------------------------------------------------------------

    static List<RawRecord> deserialize(RawRecord.Kind kind, ConsumerRecord<byte[], byte[]> r) {
        return deserialize(new RawRecordDeserializer(kind), r);
    }

    static List<RawRecord> deserialize(RawRecordDeserializer d, ConsumerRecord<byte[], byte[]> r) {
        List<RawRecord> out = new ArrayList<>();
        d.deserialize(r, new Collector<>() {
            @Override
            public void collect(RawRecord record) {
                out.add(record);
            }

            @Override
            public void close() {
            }
        });
        return out;
    }

    @Test
    void rawRecordsCarryCoordinatesBytesAndPayloadEventTime() {
        byte[] key = "space-a".getBytes(StandardCharsets.UTF_8);
        byte[] value = memoryEvent("space-a", "e", 1_000L);
        ConsumerRecord<byte[], byte[]> cr = new ConsumerRecord<>("engram.memory-events", 3, 77L, key, value);
        List<RawRecord> out = deserialize(RawRecord.Kind.MEMORY_EVENT, cr);
        assertThat(out).hasSize(1);
        RawRecord r = out.get(0);
        assertThat(r.kind).isEqualTo(RawRecord.Kind.MEMORY_EVENT);
        assertThat(r.topic).isEqualTo("engram.memory-events");
        assertThat(r.partition).isEqualTo(3);
        assertThat(r.offset).isEqualTo(77L);
        assertThat(r.key).isEqualTo(key);
        assertThat(r.value).isEqualTo(value);
        assertThat(r.space).isEqualTo("space-a");
        assertThat(r.timestampMs).as("event time from the payload, not the Kafka timestamp").isEqualTo(1_000L);

        ConsumerRecord<byte[], byte[]> garbage = new ConsumerRecord<>("engram.recall-queries", 0, 1L, null,
                new byte[] {1, 2, 3});
        RawRecord g = deserialize(RawRecord.Kind.RECALL_QUERY, garbage).get(0);
        assertThat(g.timestampMs).as("the Kafka timestamp as fallback").isEqualTo(garbage.timestamp());
        assertThat(g.space).as("no key").isEmpty();
        assertThat(g.value).containsExactly(1, 2, 3);

        // a payload stamped beyond engram.limits.max-future-skew is dead-lettered by the operator; its time must not
        // become event time, or the watermark would jump ahead and run every decay sweep up to it
        long now = System.currentTimeMillis();
        ConsumerRecord<byte[], byte[]> future = new ConsumerRecord<>("engram.memory-events", 0, 3L, key,
                memoryEvent("space-a", "f", now + 3 * 3_600_000L));
        long before = System.currentTimeMillis();
        RawRecord f = deserialize(RawRecord.Kind.MEMORY_EVENT, future).get(0);
        assertThat(f.timestampMs).as("wall clock instead").isBetween(before, System.currentTimeMillis());
        RawRecord f2 = deserialize(new RawRecordDeserializer(RawRecord.Kind.MEMORY_EVENT, 4 * 3_600_000L), future)
                .get(0);
        assertThat(f2.timestampMs).as("within a larger skew it is kept").isEqualTo(now + 3 * 3_600_000L);
        ConsumerRecord<byte[], byte[]> slightlyAhead = new ConsumerRecord<>("engram.memory-events", 0, 4L, key,
                memoryEvent("space-a", "g", now + 60_000L));
        assertThat(deserialize(RawRecord.Kind.MEMORY_EVENT, slightlyAhead).get(0).timestampMs)
                .as("within the default skew of 1 h").isEqualTo(now + 60_000L);

        byte[] ctl = AvroCodec.encode(KernelControl.newBuilder().setMode("java").setReason("r").setIssuedBy("me")
                .setTimestampMs(5L).setSpaces(List.of()).setFraction(null).build());
        ConsumerRecord<byte[], byte[]> control = new ConsumerRecord<>("engram.control", 0, 2L, null, ctl);
        long readFrom = System.currentTimeMillis();
        assertThat(deserialize(RawRecord.Kind.CONTROL, control).get(0).timestampMs)
                .as("control records carry the time they were read: every subtask checks them against it")
                .isBetween(readFrom, System.currentTimeMillis());
    }
}
