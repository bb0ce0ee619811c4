package io.engram.job.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.kafka.RawRecordDeserializer;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.job.operator.Operators;
import io.engram.job.operator.MemorySpaceFunction;
import io.engram.job.state.SpaceState;
import io.engram.schemas.Associate;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.DecodeException;
import io.engram.schemas.Forget;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.runtime.state.storage.JobManagerCheckpointStorage;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Fuzzes the whole decoding path of the job, as a Kafka record travels it: {@link RawRecordDeserializer} (which
 * peeks at the payload's timestamp) and then {@link MemorySpaceFunction} in Flink's keyed-broadcast operator
 * harness (decode, validate, apply or answer). The inputs are random bytes and mutated valid single-object
 * records: bit flips, truncation, trailing garbage, corrupted length varints, wrong or foreign fingerprints, and
 * junk record keys. Valid records for a control space are interleaved.
 *
 * <p>Checked for every input: no exception escapes either stage; a memory event is applied, dropped as a
 * duplicate, or dead-lettered once, never answered; a query is answered or dead-lettered exactly once; every dead
 * letter decodes and carries a {@link Reason}; an input the codec refuses ({@link DecodeException}) is
 * dead-lettered with a decoding reason; no other exception comes out of the codec. At the end: every interleaved
 * valid record was applied, the state of every space holds its invariants, and it survives a snapshot/restore.
 *
 * <p>Cases: {@code -Dfuzz.cases=N} (default {@value #DEFAULT_CASES}, the CI size), seed {@code -Dfuzz.seed}
 * (default random, printed).
 */
class DecodePathFuzzTest {
    static final int DEFAULT_CASES = 100_000;
    static final long T0 = 1_700_000_000_000L;
    static final int DIM = 8;
    static final String CONTROL_SPACE = "fuzz-ctl";
    static final List<String> SPACES = List.of("fuzz-a", "fuzz-b", "fuzz-c");
    static final String EVENTS = "engram.memory-events";
    static final String QUERIES = "engram.recall-queries";
    static final Set<Reason> DECODING = EnumSet.of(Reason.EMPTY, Reason.BAD_HEADER, Reason.UNKNOWN_SCHEMA,
            Reason.UNDECODABLE);

    private long offset;

    @Test
    @Timeout(value = 1200, unit = TimeUnit.SECONDS)
    void everyFuzzedRecordIsAppliedAnsweredOrDeadLetteredAndStateHolds() throws Exception {
        int cases = Integer.getInteger("fuzz.cases", DEFAULT_CASES);
        String seedProp = System.getProperty("fuzz.seed");
        long seed = seedProp == null || seedProp.isBlank() ? new Random().nextLong() : Long.parseLong(seedProp.trim());
        long t0 = System.nanoTime();
        Configuration conf = new Configuration();
        conf.set(EngramOptions.KERNEL_MODE, "java");
        conf.set(EngramOptions.ARENA_BUDGET_CHECK, false);
        EngramSettings settings = new EngramSettings(conf);
        MemorySpaceFunction fn = new MemorySpaceFunction(settings);
        KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h = harness(fn);
        h.open();
        RawRecordDeserializer eventsIn = new RawRecordDeserializer(RawRecord.Kind.MEMORY_EVENT);
        RawRecordDeserializer queriesIn = new RawRecordDeserializer(RawRecord.Kind.RECALL_QUERY);
        List<byte[]> foreignFingerprints = new ArrayList<>();
        for (String name : List.of("MemoryEvent", "RecallQuery", "RecallResult", "DeadLetter", "KernelControl")) {
            AvroCodec.history(name).forEach(s -> foreignFingerprints.add(fingerprintBytes(AvroCodec.fingerprint(s))));
        }

        Map<String, Integer> outcomes = new TreeMap<>();
        Map<String, Integer> mutations = new TreeMap<>();
        Set<String> ctlExpected = new LinkedHashSet<>();
        Set<String> touched = new LinkedHashSet<>();
        int ctlEvents = 0;
        try {
            for (int i = 0; i < cases; i++) {
                long caseSeed = seed + i;
                Random r = new Random(caseSeed);
                if (i % 7 == 0) { // a valid record for the control space: must be applied
                    String id = "ctl-" + ctlEvents;
                    MemoryEvent e = event(CONTROL_SPACE, "ctl-ev-" + ctlEvents++, T0 + i, store(r, id));
                    ctlExpected.add(id);
                    List<OutRecord>[] out = feed(h, eventsIn, RawRecord.Kind.MEMORY_EVENT,
                            CONTROL_SPACE.getBytes(StandardCharsets.UTF_8), AvroCodec.encode(e));
                    assertThat(out[0]).as("case %d (seed %d): control event answered", i, caseSeed).isEmpty();
                    assertThat(out[1]).as("case %d (seed %d): valid control event dead-lettered: %s", i, caseSeed,
                            out[1].isEmpty() ? "" : AvroCodec.decodeDeadLetter(out[1].get(0).value)).isEmpty();
                    touched.add(CONTROL_SPACE);
                }
                String space = SPACES.get(r.nextInt(SPACES.size()));
                boolean query = r.nextInt(3) == 0;
                byte[] valid = query ? AvroCodec.encode(query(r, space, "q-" + i))
                        : AvroCodec.encode(event(space, "ev-" + r.nextInt(cases / 4 + 1), T0 + r.nextInt(100_000),
                                payload(r, i)));
                String mutation;
                byte[] value;
                switch (r.nextInt(8)) {
                    case 0 -> {
                        mutation = "random-bytes";
                        value = new byte[r.nextInt(4) == 0 ? r.nextInt(4) : r.nextInt(300)];
                        r.nextBytes(value);
                    }
                    case 1 -> {
                        mutation = "bit-flips";
                        value = valid.clone();
                        for (int f = 1 + r.nextInt(8); f > 0; f--) {
                            int bit = r.nextInt(value.length * 8);
                            value[bit / 8] ^= (byte) (1 << (bit % 8));
                        }
                    }
                    case 2 -> {
                        mutation = "truncated";
                        value = Arrays.copyOf(valid, r.nextInt(valid.length));
                    }
                    case 3 -> {
                        mutation = "trailing-garbage";
                        value = Arrays.copyOf(valid, valid.length + 1 + r.nextInt(64));
                        for (int k = valid.length; k < value.length; k++) {
                            value[k] = (byte) r.nextInt(256);
                        }
                    }
                    case 4 -> {
                        mutation = "length-varint";
                        value = corruptVarint(r, valid);
                    }
                    case 5 -> {
                        mutation = "wrong-fingerprint";
                        value = valid.clone();
                        byte[] fp = r.nextBoolean() ? foreignFingerprints.get(r.nextInt(foreignFingerprints.size()))
                                : fingerprintBytes(r.nextLong());
                        System.arraycopy(fp, 0, value, 2, 8);
                    }
                    case 6 -> {
                        mutation = "random-body";
                        value = Arrays.copyOf(valid, AvroCodec.HEADER_LENGTH + r.nextInt(200));
                        for (int k = AvroCodec.HEADER_LENGTH; k < value.length; k++) {
                            value[k] = (byte) r.nextInt(256);
                        }
                    }
                    default -> {
                        mutation = "byte-overwrites";
                        value = valid.clone();
                        for (int f = 1 + r.nextInt(4); f > 0; f--) {
                            value[AvroCodec.HEADER_LENGTH + r.nextInt(value.length - AvroCodec.HEADER_LENGTH)] =
                                    (byte) (r.nextBoolean() ? 0xFF : r.nextInt(256));
                        }
                    }
                }
                mutations.merge(mutation, 1, Integer::sum);
                // Usually the space as key; sometimes junk (not UTF-8, too long, empty) or another space.
                byte[] key;
                switch (r.nextInt(12)) {
                    case 0 -> {
                        key = new byte[r.nextInt(80)];
                        r.nextBytes(key);
                    }
                    case 1 -> key = SPACES.get(r.nextInt(SPACES.size())).getBytes(StandardCharsets.UTF_8);
                    default -> key = space.getBytes(StandardCharsets.UTF_8);
                }
                // Query bytes sometimes arrive on the events topic and vice versa.
                RawRecord.Kind kind = (query ^ r.nextInt(10) == 0) ? RawRecord.Kind.RECALL_QUERY
                        : RawRecord.Kind.MEMORY_EVENT;
                List<OutRecord>[] out = feed(h, kind == RawRecord.Kind.MEMORY_EVENT ? eventsIn : queriesIn, kind, key,
                        value);
                String keyString = new String(key, StandardCharsets.UTF_8);
                if (SPACES.contains(keyString)) {
                    touched.add(keyString);
                }

                // The codec's own verdict on the bytes: a record, or DecodeException; nothing else.
                Reason codecRefusal = null;
                try {
                    if (kind == RawRecord.Kind.MEMORY_EVENT) {
                        AvroCodec.decodeMemoryEvent(value);
                    } else {
                        AvroCodec.decodeRecallQuery(value);
                    }
                } catch (DecodeException e) {
                    assertThat(e.reason()).isNotNull();
                    codecRefusal = Reason.valueOf(e.reason().name());
                }
                String what = String.format("case %d (seed %d, %s, %s, %d bytes)", i, caseSeed, mutation, kind,
                        value.length);
                List<Reason> reasons = new ArrayList<>();
                for (OutRecord dl : out[1]) {
                    DeadLetter d = AvroCodec.decodeDeadLetter(dl.value);
                    assertThat(d.getValue()).as(what + ": dead letter keeps the exact bytes")
                            .isEqualTo(ByteBuffer.wrap(value));
                    reasons.add(Reason.valueOf(d.getReason().toString()));
                }
                if (kind == RawRecord.Kind.RECALL_QUERY) {
                    assertThat(out[0].size() + out[1].size()).as(what + ": answered or dead-lettered, once")
                            .isEqualTo(1);
                    if (out[0].size() == 1) {
                        RecallResult res = AvroCodec.decodeRecallResult(out[0].get(0).value);
                        assertThat(res.getHits().size()).as(what).isLessThanOrEqualTo(
                                settings.maxK);
                    }
                } else {
                    assertThat(out[0]).as(what + ": a memory event is never answered").isEmpty();
                    assertThat(out[1].size()).as(what + ": at most one dead letter").isLessThanOrEqualTo(1);
                }
                if (codecRefusal != null) {
                    assertThat(reasons).as(what + ": refused by the codec (%s)", codecRefusal)
                            .containsExactly(codecRefusal);
                    assertThat(DECODING).contains(codecRefusal);
                } else {
                    assertThat(reasons).as(what + ": decoded, so no decoding reason")
                            .noneMatch(DECODING::contains);
                }
                outcomes.merge(reasons.isEmpty() ? (kind == RawRecord.Kind.RECALL_QUERY ? "answered" : "applied-or-dup")
                        : "dead-letter " + reasons.get(0), 1, Integer::sum);
            }

            // Every interleaved valid record applied; every space consistent.
            SpaceState ctl = spaceState(h, CONTROL_SPACE);
            assertThat(ids(ctl)).as("interleaved valid stores").containsExactlyInAnyOrderElementsOf(ctlExpected);
            for (String s : touched) {
                SpaceState st = spaceState(h, s);
                if (st != null) {
                    assertInvariants(s, st);
                }
            }
            RecallQuery ask = RecallQuery.newBuilder().setQueryId("final").setSpace(CONTROL_SPACE).setTimestampMs(T0)
                    .setCue(cue(new Random(seed))).setK(5).setMaxHops(null).setHopDecay(null).setThreshold(null)
                    .setSeedK(null).build();
            List<OutRecord>[] ans = feed(h, queriesIn, RawRecord.Kind.RECALL_QUERY,
                    CONTROL_SPACE.getBytes(StandardCharsets.UTF_8), AvroCodec.encode(ask));
            assertThat(ans[0]).hasSize(1);
            assertThat(AvroCodec.decodeRecallResult(ans[0].get(0).value).getHits()).hasSize(5);

            // Snapshot/restore: the state after the fuzz is a state Flink can checkpoint and bring back.
            OperatorSubtaskState snap = h.snapshot(1L, T0);
            MemorySpaceFunction fn2 = new MemorySpaceFunction(settings);
            var h2 = harness(fn2);
            try {
                h2.initializeState(snap);
                h2.open();
                for (String s : touched) {
                    SpaceState a = spaceState(h, s);
                    SpaceState b = spaceState(h2, s);
                    assertThat(a == null ? b == null : b != null && a.sameContentAs(b))
                            .as("space %s restored from the snapshot", s).isTrue();
                }
            } finally {
                h2.close();
            }
        } finally {
            h.close();
        }
        System.out.printf("DecodePathFuzzTest: %d fuzzed records (+%d valid interleaved) from seed %d in %.1f s%n"
                        + "  mutations %s%n  outcomes %s%n", cases, ctlEvents, seed, (System.nanoTime() - t0) / 1e9,
                mutations, outcomes);
    }

    /**
     * An unopened harness; its snapshots go to a memory-backed checkpoint storage without the 5 MiB default limit
     * (a heavy run's dedup and control-space state is larger).
     */
    static KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> harness(MemorySpaceFunction fn)
            throws Exception {
        var h = new KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord>(
                new CoBroadcastWithKeyedOperator<>(fn, List.of(Operators.CONTROL_STATE)), RawRecord::getSpace,
                Types.STRING, 1, 1, 0);
        h.setCheckpointStorage(new JobManagerCheckpointStorage(Integer.MAX_VALUE));
        return h;
    }

    // ----- feeding -------------------------------------------------------------------------------------------------

    /** More than any recall batch max-delay this test configures (it keeps the default, 5 ms). */
    private static final long BATCH_FLUSH_MS = 1_000;

    /** Kafka record -> RawRecordDeserializer -> operator; returns {results, dead letters} of this one input. */
    @SuppressWarnings("unchecked")
    private List<OutRecord>[] feed(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                                   RawRecordDeserializer in, RawRecord.Kind kind, byte[] key, byte[] value)
            throws Exception {
        String topic = kind == RawRecord.Kind.MEMORY_EVENT ? EVENTS : QUERIES;
        ConsumerRecord<byte[], byte[]> cr = new ConsumerRecord<>(topic, (int) (offset % 2), offset++, T0,
                TimestampType.CREATE_TIME, key == null ? -1 : key.length, value.length, key, value,
                new RecordHeaders(), Optional.empty());
        List<RawRecord> raws = new ArrayList<>();
        in.deserialize(cr, new Collector<>() {
            @Override
            public void collect(RawRecord record) {
                raws.add(record);
            }

            @Override
            public void close() {
            }
        });
        assertThat(raws).as("the source keeps every record").hasSize(1);
        RawRecord raw = raws.get(0);
        h.processElement(raw, raw.timestampMs);
        // Recall batching is on (its defaults): a valid query may wait for its batch's max-delay timer. Letting the
        // processing time pass it makes every query's answer part of this input's output, as one-at-a-time would.
        h.setProcessingTime(h.getProcessingTime() + BATCH_FLUSH_MS);
        List<OutRecord> results = new ArrayList<>();
        Object o;
        while ((o = h.getOutput().poll()) != null) {
            if (o instanceof StreamRecord<?> sr) {
                results.add((OutRecord) sr.getValue());
            }
        }
        List<OutRecord> dls = new ArrayList<>();
        var q = h.getSideOutput(MemorySpaceFunction.DEAD_LETTERS);
        if (q != null) {
            StreamRecord<OutRecord> sr;
            while ((sr = q.poll()) != null) {
                dls.add(sr.getValue());
            }
        }
        return new List[] {results, dls};
    }

    // ----- valid records and mutations -----------------------------------------------------------------------------

    static List<Float> cue(Random r) {
        List<Float> l = new ArrayList<>(DIM);
        for (int k = 0; k < DIM; k++) {
            l.add((float) r.nextGaussian());
        }
        return l;
    }

    static StoreMemory store(Random r, String id) {
        return StoreMemory.newBuilder().setMemoryId(id).setEmbedding(cue(r)).setStrength(0.5f + r.nextFloat() / 2)
                .setStabilityS(r.nextBoolean() ? null : 3600f).setContent(r.nextBoolean() ? null : "c" + id).build();
    }

    static Object payload(Random r, int i) {
        String m = "m" + r.nextInt(40);
        return switch (r.nextInt(5)) {
            case 0, 1 -> store(r, m);
            case 2 -> Associate.newBuilder().setFromId(m).setToId("m" + r.nextInt(40)).setWeight(r.nextFloat())
                    .setBidirectional(r.nextBoolean()).build();
            case 3 -> ReinforceMemory.newBuilder().setMemoryId(m).build();
            default -> Forget.newBuilder().setMemoryId(m).build();
        };
    }

    static MemoryEvent event(String space, String eventId, long ts, Object payload) {
        return MemoryEvent.newBuilder().setSpace(space).setEventId(eventId).setTimestampMs(ts).setPayload(payload)
                .build();
    }

    static RecallQuery query(Random r, String space, String id) {
        return RecallQuery.newBuilder().setQueryId(id).setSpace(space).setTimestampMs(T0 + r.nextInt(100_000))
                .setCue(cue(r)).setK(1 + r.nextInt(10)).setMaxHops(r.nextBoolean() ? null : r.nextInt(3))
                .setHopDecay(null).setThreshold(null).setSeedK(null).build();
    }

    static byte[] fingerprintBytes(long fp) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(fp).array();
    }

    /**
     * Replaces the bytes at a random body offset with a zig-zag varint of a hostile length (negative, zero, huge):
     * Avro strings, bytes, arrays and union indexes are all such varints.
     */
    static byte[] corruptVarint(Random r, byte[] valid) {
        long[] hostile = {-1, -2, 0, 1, Integer.MAX_VALUE, Integer.MIN_VALUE, Long.MAX_VALUE, 1L << 40, 4096, 65536};
        long v = hostile[r.nextInt(hostile.length)];
        long zz = (v << 1) ^ (v >> 63);
        byte[] varint = new byte[10];
        int n = 0;
        while ((zz & ~0x7FL) != 0) {
            varint[n++] = (byte) ((zz & 0x7F) | 0x80);
            zz >>>= 7;
        }
        varint[n++] = (byte) zz;
        int at = AvroCodec.HEADER_LENGTH + r.nextInt(valid.length - AvroCodec.HEADER_LENGTH);
        byte[] out = Arrays.copyOf(valid, Math.max(valid.length, at + n));
        System.arraycopy(varint, 0, out, at, n);
        return out;
    }

    // ----- state ---------------------------------------------------------------------------------------------------

    static SpaceState spaceState(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                                 String space) throws Exception {
        h.getOperator().setCurrentKey(space);
        return new io.engram.job.state.FlinkSpaceStore(io.engram.job.state.FlinkSpaceStore.States.of(
                h.getOperator().getKeyedStateStore()), 0, 64).bind(space).denseView();
    }

    static List<String> ids(SpaceState s) {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < s.size(); i++) {
            ids.add(s.id(i));
        }
        return ids;
    }

    static void assertInvariants(String space, SpaceState s) {
        int n = s.size();
        assertThat(n).as(space).isGreaterThanOrEqualTo(0);
        if (n > 0) {
            assertThat(s.dim()).as("%s: dim", space).isEqualTo(DIM);
        }
        Set<String> seen = new LinkedHashSet<>();
        for (int i = 0; i < n; i++) {
            String id = s.id(i);
            assertThat(id).as("%s row %d", space, i).isNotEmpty();
            assertThat(seen.add(id)).as("%s: id %s once", space, id).isTrue();
            assertThat(s.rowOf(id)).as("%s: index of %s", space, id).isEqualTo(i);
            assertThat(Float.isFinite(s.strength()[i]) && s.strength()[i] >= 0).as("%s strength", space).isTrue();
            assertThat(Float.isFinite(s.stability()[i]) && s.stability()[i] > 0).as("%s stability", space).isTrue();
        }
        float[] emb = s.embeddings();
        for (int i = 0; i < n * s.dim(); i++) {
            assertThat(Float.isFinite(emb[i])).as("%s: embedding value %d finite", space, i).isTrue();
        }
        for (int e = 0; e < s.edgeCount(); e++) {
            int from = s.edgeFrom(e);
            int to = s.edgeTo(e);
            assertThat(from).as("%s edge %d from", space, e).isBetween(0, n - 1);
            assertThat(to).as("%s edge %d to", space, e).isBetween(0, n - 1);
            assertThat(from).as("%s edge %d: no self edge", space, e).isNotEqualTo(to);
            assertThat(s.edgeWeight(e)).as("%s edge %d weight", space, e).isBetween(0f, 1f);
        }
        s.graph(); // builds the CSR view of the edges: must not throw
    }
}
