package io.engram.job.operator;

import static io.engram.job.operator.MemorySpaceFunctionTest.MINUTE;
import static io.engram.job.operator.MemorySpaceFunctionTest.T0;
import static io.engram.job.operator.MemorySpaceFunctionTest.bytes;
import static io.engram.job.operator.MemorySpaceFunctionTest.control;
import static io.engram.job.operator.MemorySpaceFunctionTest.drainDeadLetterRecords;
import static io.engram.job.operator.MemorySpaceFunctionTest.drainDeadLetters;
import static io.engram.job.operator.MemorySpaceFunctionTest.drainResults;
import static io.engram.job.operator.MemorySpaceFunctionTest.event;
import static io.engram.job.operator.MemorySpaceFunctionTest.floats;
import static io.engram.job.operator.MemorySpaceFunctionTest.mem;
import static io.engram.job.operator.MemorySpaceFunctionTest.nextSweep;
import static io.engram.job.operator.MemorySpaceFunctionTest.query;
import static io.engram.job.operator.MemorySpaceFunctionTest.settings;
import static io.engram.job.operator.MemorySpaceFunctionTest.spaceState;
import static io.engram.job.operator.MemorySpaceFunctionTest.store;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.state.SpaceState;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * One record must never stall or crash-loop the job (issue 11): each test reproduces one poison pill seen against
 * the real job, in the operator harness, and pins down what it gets now.
 */
class PoisonPillTest {
    private final MemorySpaceFunctionTest t = new MemorySpaceFunctionTest();
    /** Kafka's per-record overhead in a batch of one (61-byte batch header + at most 21 bytes of record framing). */
    private static final int KAFKA_RECORD_OVERHEAD = 82;

    @AfterEach
    void close() throws Exception {
        t.closeHarnesses();
    }

    private static long now() {
        return System.currentTimeMillis();
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    // ----- 1. every output is bounded --------------------------------------------------------------------------

    /** The three records of the issue that crash-looped the dead-letter sink, and the largest key and value. */
    @Test
    void deadLettersStayWithinTheConfiguredSizeWhateverTheInput() throws Exception {
        EngramSettings settings = settings(c -> { });
        long limit = settings.maxOutputRecordBytes;
        assertThat(limit).as("default engram.limits.max-output-record-size").isEqualTo(512 * 1024);
        var h = t.harness(new MemorySpaceFunction(settings));

        List<RawRecord> poison = new ArrayList<>();
        byte[] garbage = new byte[1_048_492];
        Arrays.fill(garbage, (byte) 'G');
        poison.add(t.raw(RawRecord.Kind.MEMORY_EVENT, MemorySpaceFunctionTest.EVENTS, "hostile-a", garbage, now()));
        StoreMemory zeros = store("z", new float[0]);
        zeros.setEmbedding(floats(new float[1_000_000]));
        byte[] giant = AvroCodec.encode(event("hostile-b", "giant", now(), zeros));
        assertThat(giant.length).isGreaterThan(4_000_000);
        poison.add(t.raw(RawRecord.Kind.MEMORY_EVENT, MemorySpaceFunctionTest.EVENTS, "hostile-b", giant, now()));
        String longKey = "k".repeat(600_000);
        poison.add(t.raw(RawRecord.Kind.MEMORY_EVENT, MemorySpaceFunctionTest.EVENTS, longKey,
                AvroCodec.encode(event("hostile-c", "long-key", now(), store("m", 1, 0, 0, 0, 0, 0, 0, 0))), now()));
        byte[] hugeKey = new byte[1_048_000];
        Arrays.fill(hugeKey, (byte) 0xFF); // not UTF-8 either
        RawRecord hugeKeyRecord = new RawRecord(RawRecord.Kind.RECALL_QUERY, MemorySpaceFunctionTest.QUERIES, 1, 7,
                now(), hugeKey, new byte[] {1, 2, 3});
        poison.add(hugeKeyRecord);

        for (RawRecord r : poison) {
            h.processElement(r, r.timestampMs);
            List<OutRecord> out = drainDeadLetterRecords(h);
            assertThat(out).as("one dead letter for %s", r).hasSize(1);
            OutRecord o = out.get(0);
            long size = (o.key == null ? 0 : o.key.length) + o.value.length + KAFKA_RECORD_OVERHEAD;
            assertThat(size).as("dead letter of %s (key %d B, value %d B)", r, r.key.length, r.value.length)
                    .isLessThanOrEqualTo(limit);
            DeadLetter dl = AvroCodec.decodeDeadLetter(o.value);
            assertThat(dl.getSourceTopic()).isEqualTo(r.topic);
            assertThat(dl.getSourcePartition()).isEqualTo(r.partition);
            assertThat(dl.getSourceOffset()).isEqualTo(r.offset);
            assertThat(dl.getKeySize()).isEqualTo(r.key.length);
            assertThat(dl.getValueSize()).isEqualTo(r.value.length);
            assertThat(dl.getKeySha256()).isEqualTo(sha256(r.key));
            assertThat(dl.getValueSha256()).isEqualTo(sha256(r.value));
            byte[] keyPrefix = bytes(dl.getKey());
            byte[] valuePrefix = bytes(dl.getValue());
            assertThat(keyPrefix).isEqualTo(Arrays.copyOf(r.key, keyPrefix.length));
            assertThat(valuePrefix).isEqualTo(Arrays.copyOf(r.value, valuePrefix.length));
            assertThat(keyPrefix.length).isLessThanOrEqualTo(DeadLetters.KEY_PREFIX_BYTES);
            assertThat(o.key).as("the dead letter is keyed by the key's prefix").isEqualTo(keyPrefix);
            boolean whole = keyPrefix.length == r.key.length && valuePrefix.length == r.value.length;
            assertThat(dl.getTruncated()).isEqualTo(!whole);
            assertThat(valuePrefix.length).as("a useful prefix of the value is kept")
                    .isGreaterThanOrEqualTo((int) Math.min(r.value.length, limit / 2));
        }
        assertThat(drainDeadLetters(h)).isEmpty();
        assertThat(drainResults(h)).isEmpty();
    }

    @Test
    void aSmallRecordIsDeadLetteredWhole() throws Exception {
        var h = t.harness(new MemorySpaceFunction(settings(c -> { })));
        RawRecord r = t.eventRecord(event(MemorySpaceFunctionTest.SPACE, "neg", -5, store("m", 1, 0)));
        h.processElement(r, 0);
        DeadLetter dl = drainDeadLetters(h).get(0);
        assertThat(dl.getReason()).isEqualTo("BAD_TIMESTAMP");
        assertThat(bytes(dl.getValue())).isEqualTo(r.value);
        assertThat(bytes(dl.getKey())).isEqualTo(r.key);
        assertThat(dl.getTruncated()).isFalse();
        assertThat(dl.getValueSha256()).isEqualTo(sha256(r.value));
    }

    @Test
    void aResultThatCannotFitIsCutToFitAndSaysSo() throws Exception {
        // 16 KiB outputs; 64 memories with 250-character ids and 2,000 characters of content each
        var h = t.harness(new MemorySpaceFunction(settings(c -> {
            c.set(EngramOptions.MAX_OUTPUT_RECORD_SIZE, MemorySize.parse("16kb"));
            c.set(EngramOptions.BATCH_MAX_SIZE, 1);
        })));
        String space = "wide-space";
        for (int i = 0; i < 64; i++) {
            StoreMemory m = store(String.format("%03d", i) + "x".repeat(247), 1, 0);
            m.setContent("é".repeat(2000)); // 4,000 bytes of UTF-8
            t.send(h, space, "e" + i, T0, m);
        }
        RawRecord all = t.queryRecord(query(space, "q-all", T0, 1, 0).setK(64).setSeedK(64).build());
        h.processElement(all, T0);
        List<OutRecord> out = h.extractOutputValues();
        assertThat(out).hasSize(1);
        assertThat(DeadLetters.kafkaSize(out.get(0).key, out.get(0).value)).isLessThanOrEqualTo(16 * 1024);
        RecallResult cut = AvroCodec.decodeRecallResult(out.get(0).value);
        assertThat(cut.getTruncated()).isTrue();
        assertThat(cut.getHits().size()).as("the lowest-ranked hits left out").isBetween(40, 63);
        h.getOutput().clear();

        RecallResult withContent = t.ask(h, query(space, "q-content", T0, 1, 0).setK(5).setSeedK(64)
                .setIncludeContent(true).build());
        assertThat(withContent.getHits()).as("all 5 ids fit").hasSize(5);
        assertThat(withContent.getTruncated()).as("5 x 4,000 bytes of content do not").isTrue();
        assertThat(withContent.getHits().get(0).getContent().toString()).isEqualTo("é".repeat(2000));
        assertThat(withContent.getHits().get(4).getContent()).as("content that does not fit at all is left out")
                .isNull();

        RecallResult small = t.ask(h, query(space, "q-few", T0, 1, 0).setK(2).setSeedK(64)
                .setIncludeContent(true).build());
        assertThat(small.getTruncated()).isFalse();
        assertThat(small.getHits()).extracting(hit -> hit.getContent().toString())
                .containsOnly("é".repeat(2000));
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    // ----- 2. timers proportional to work ----------------------------------------------------------------------

    /** Counts every timer the function handles. */
    static final class CountingFunction extends MemorySpaceFunction {
        static final AtomicLong TIMERS = new AtomicLong();

        CountingFunction(EngramSettings settings) {
            super(settings);
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<OutRecord> out) throws Exception {
            TIMERS.incrementAndGet();
            super.onTimer(timestamp, ctx, out);
        }
    }

    @Test
    void anOldEventFiresOneSweepNotOnePerIntervalSinceItsTime() throws Exception {
        CountingFunction.TIMERS.set(0);
        var h = t.harness(new CountingFunction(settings(c -> { }))); // sweep every minute
        long now = now();
        long monthAgo = now - 30L * 24 * 60 * MINUTE;
        t.send(h, "old-space", "e1", monthAgo, mem("old", 1f, 1e10f, 1, 0));
        h.watermark(now);
        assertThat(CountingFunction.TIMERS.get()).as("sweep timers fired for one event a month old")
                .isLessThanOrEqualTo(2);
        assertThat(h.numEventTimeTimers()).as("one pending sweep per space").isEqualTo(1);
        assertThat(nextSweep(h, "old-space")).isGreaterThan(now).isLessThanOrEqualTo(now + MINUTE);
        assertThat(spaceState(h, "old-space").size()).isEqualTo(1);

        // an old event arriving after the watermark reached now: its sweep is scheduled from the watermark
        t.send(h, "old-space-2", "e1", monthAgo, mem("old", 1f, 1e10f, 1, 0));
        assertThat(nextSweep(h, "old-space-2")).isGreaterThan(now).isLessThanOrEqualTo(now + MINUTE);
        h.watermark(now + 10 * MINUTE);
        assertThat(CountingFunction.TIMERS.get()).as("one sweep per space for a 10-minute jump")
                .isLessThanOrEqualTo(4);
        assertThat(h.numEventTimeTimers()).isEqualTo(2);
    }

    @Test
    void storeAppliesTheStabilityCapAsReinforceDoes() throws Exception {
        EngramSettings s = settings(c -> { });
        var h = t.harness(new MemorySpaceFunction(s));
        t.send(h, T0, mem("forever", 1f, 1e10f, 1, 0));
        SpaceState state = spaceState(h, MemorySpaceFunctionTest.SPACE);
        assertThat(state.stability()[state.rowOf("forever")]).isEqualTo(s.maxStabilitySeconds)
                .isEqualTo(3650 * 86_400f);
    }

    @Test
    void farPastTimestampsAreDeadLetteredOnEveryInput() throws Exception {
        var h = t.harness(new MemorySpaceFunction(settings(c -> { })));
        // the record: 1970, stability 1e10 s
        h.processElement(t.eventRecord(event("ancient-0001", "a1", 1, mem("old", 1f, 1e10f, 1, 0, 0, 0, 0, 0, 0,
                0))), 1);
        h.processElement(t.queryRecord(query("ancient-0001", "q", 1, 1, 0).build()), 1);
        long elevenYears = now() - 11L * 365 * 24 * 60 * MINUTE;
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(control("java").setTimestampMs(elevenYears)
                .build())), 0);
        assertThat(drainDeadLetters(h)).extracting(DeadLetter::getReason)
                .containsExactly("PAST_TIMESTAMP", "PAST_TIMESTAMP", "PAST_TIMESTAMP");
        assertThat(h.numEventTimeTimers()).isZero();
    }

    // ----- 3. the control topic --------------------------------------------------------------------------------

    private static KernelControl inForce(
            org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h)
            throws Exception {
        byte[] b = h.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT);
        return b == null ? null : AvroCodec.decodeKernelControl(b);
    }

    @Test
    void aFarFutureControlRecordCannotPinTheKernelMode() throws Exception {
        var h = t.harness(new MemorySpaceFunction(settings(c -> { })));
        // the record
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(KernelControl.newBuilder().setMode("java")
                .setReason("x").setIssuedBy("mallory").setTimestampMs(Long.MAX_VALUE).setSpaces(List.of())
                .setFraction(null).build())), 0);
        assertThat(drainDeadLetters(h)).extracting(DeadLetter::getReason).containsExactly("FUTURE_TIMESTAMP");
        assertThat(inForce(h)).as("a rejected control record is never in force").isNull();

        KernelControl operators = control("zig").setReason("roll forward").setIssuedBy("ops")
                .setTimestampMs(now()).build();
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(operators)), 0);
        assertThat(drainDeadLetters(h)).isEmpty();
        assertThat(inForce(h)).isEqualTo(operators);
    }

    @Test
    void controlRecordsWithBadSpacesOrTimestampsAreDeadLetteredWithTheirReason() throws Exception {
        var h = t.harness(new MemorySpaceFunction(settings(c -> { })));
        long now = now();
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(control("java").setTimestampMs(now)
                .setSpaces(List.of("NOT A SPACE")).build())), 0);
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(control("java").setTimestampMs(now)
                .setSpaces(List.of("good-space", "")).build())), 0);
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(control("java").setTimestampMs(-1).build())), 0);
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(control("java").setTimestampMs(now)
                .setIssuedBy("").build())), 0);
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(control("java").setTimestampMs(now)
                .setReason("r".repeat(5000)).build())), 0);
        assertThat(drainDeadLetters(h)).extracting(DeadLetter::getReason)
                .containsExactly("BAD_SPACE", "BAD_SPACE", "BAD_TIMESTAMP", "BAD_CONTROL", "BAD_CONTROL");
        assertThat(inForce(h)).isNull();
    }

    /**
     * A job that ran before this fix may restore a pinned far-future switch from its savepoint: the operators
     * regain control with an ordinary switch, which replaces it.
     */
    @Test
    void aPinnedSwitchRestoredFromBeforeTheFixIsReplacedByTheNextValidOne() throws Exception {
        var h = t.harness(new MemorySpaceFunction(settings(c -> { })));
        KernelControl pinned = control("java").setIssuedBy("mallory").setTimestampMs(Long.MAX_VALUE).build();
        h.getBroadcastState(KernelRouter.CONTROL).put(KernelRouter.CURRENT, AvroCodec.encode(pinned));
        KernelControl ops = control("zig").setIssuedBy("ops").setTimestampMs(now()).build();
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(ops)), 0);
        assertThat(inForce(h)).isEqualTo(ops);
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    @Test
    void aSwitchWithTheSameTimestampAsTheOneInForceWins() throws Exception {
        var h = t.harness(new MemorySpaceFunction(settings(c -> { })));
        long ts = now() + 30 * MINUTE; // within max-future-skew (1 h): accepted, so it is in force for 30 minutes
        KernelControl early = control("java").setIssuedBy("someone").setTimestampMs(ts).build();
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(early)), 0);
        KernelControl ops = control("zig").setIssuedBy("ops").setTimestampMs(ts).build();
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(ops)), 0);
        assertThat(inForce(h)).isEqualTo(ops);
    }

    // ----- 5. vectors with an unrepresentable norm -------------------------------------------------------------

    static boolean zigAvailable() {
        return !Boolean.getBoolean("engram.build.javaOnly");
    }

    private EngramSettings modeSettings(String mode) {
        return settings(c -> {
            c.set(EngramOptions.KERNEL_MODE, mode);
            c.set(EngramOptions.BATCH_MAX_SIZE, 1);
        });
    }

    /**
     * Vectors whose f32 norm would overflow (components near FLT_MAX) or vanish (denormal components) are stored
     * scaled by a power of two, so they are recalled like any other, in both modes.
     */
    @ParameterizedTest
    @ValueSource(strings = {"java", "zig"})
    void vectorsWhoseF32NormWouldOverflowOrUnderflowAreStoredScaledAndRecalled(String mode) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(mode.equals("java") || zigAvailable(), "no Zig in this build");
        var h = t.harness(new MemorySpaceFunction(modeSettings(mode)));
        String space = "norms";
        float big = 3.0e38f;
        float tiny = 1e-45f;
        float[][] vectors = {{big, 0, 0, 0}, {1e20f, 1e20f, 0, 0}, {0, 0, tiny, 0}, {0, 0, 1e-30f, 1e-30f},
            {0, 1, 0, 1}};
        String[] ids = {"big", "big2", "tiny", "tiny2", "plain"};
        for (int i = 0; i < vectors.length; i++) {
            t.send(h, space, "e" + i, T0, store(ids[i], vectors[i]));
        }
        assertThat(drainDeadLetters(h)).isEmpty();
        assertThat(spaceState(h, space).size()).isEqualTo(5);
        for (int i = 0; i < vectors.length; i++) {
            float[] cue = vectors[i].clone();
            if (i % 2 == 0) {
                for (int j = 0; j < cue.length; j++) {
                    cue[j] *= 0.5f; // a same-direction cue of another extreme magnitude (tiny * 0.5 = 0: use sign)
                    if (vectors[i][j] != 0 && cue[j] == 0) {
                        cue[j] = 1;
                    }
                }
            }
            RecallResult r = t.ask(h, query(space, "q" + i, T0, cue).setSeedK(5).setMaxHops(0).build());
            assertThat(r.getHits()).as("%s recalled in mode %s", ids[i], mode).isNotEmpty();
            RecallHit first = r.getHits().get(0);
            assertThat(first.getMemoryId()).isEqualTo(ids[i]);
            assertThat(first.getSimilarity()).isCloseTo(1f, org.assertj.core.data.Offset.offset(1e-5f));
            assertThat(r.getKernelMode()).isEqualTo(mode);
        }
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    /** Large and small but ordinary magnitudes, in both modes: stored as sent, recalled first by a same-direction cue. */
    @ParameterizedTest
    @ValueSource(strings = {"java", "zig"})
    void vectorsJustInsideTheNormBoundsAreRecalled(String mode) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(mode.equals("java") || zigAvailable(), "no Zig in this build");
        var h = t.harness(new MemorySpaceFunction(modeSettings(mode)));
        String space = "edges";
        float[][] vectors = {{1e14f, 1e14f, 1e14f, 1e14f}, {1e-15f, -1e-15f, 1e-15f, -1e-15f}, {0, 0, 1, 0}};
        String[] ids = {"huge", "minute", "plain"};
        for (int i = 0; i < 3; i++) {
            t.send(h, space, "e" + i, T0, store(ids[i], vectors[i]));
        }
        assertThat(drainDeadLetters(h)).isEmpty();
        for (int i = 0; i < 3; i++) {
            float[] cue = vectors[i].clone();
            for (int j = 0; j < cue.length; j++) {
                cue[j] = Math.signum(cue[j]); // the same direction, unit components
            }
            RecallResult r = t.ask(h, query(space, "q" + i, T0, cue).setSeedK(3).setMaxHops(0).build());
            assertThat(r.getHits()).as("%s recalled in mode %s", ids[i], mode).isNotEmpty();
            RecallHit first = r.getHits().get(0);
            assertThat(first.getMemoryId()).isEqualTo(ids[i]);
            assertThat(first.getSimilarity()).isCloseTo(1f, org.assertj.core.data.Offset.offset(1e-5f));
            assertThat(r.getKernelMode()).isEqualTo(mode);
        }
    }

    // ----- helpers ---------------------------------------------------------------------------------------------

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
