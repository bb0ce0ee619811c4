package io.engram.job.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.schemas.Associate;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.Forget;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A corpus of malformed and hostile records, interleaved with valid ones, produced with a real KafkaProducer into a
 * running job. Each bad record must be dead-lettered exactly once with its reason; duplicates are applied once and
 * not dead-lettered; the valid records are applied; the job keeps RUNNING (restart strategy none: any task failure
 * would end it).
 */
class BadInputCorpusIT {
    private static final Logger LOG = LoggerFactory.getLogger(BadInputCorpusIT.class);

    private static final String SPACE = "corpus";
    /** Same valid events as SPACE but each applied once: the yardstick for "duplicates are applied once". */
    private static final String CONTROL = "control";
    private static final int DIM = 4;
    private static final int MAX_DIM = 64;
    private static final int MAX_CONTENT = 100;

    @RegisterExtension
    static final MiniClusterExtension FLINK = Rel.miniCluster();

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    /**
     * One record of the corpus: where it goes, its bytes, the reason it must get (null: valid), and the settings
     * of the producer that sends it (an attacker's: larger requests, compression).
     */
    record In(String topic, byte[] key, byte[] value, String reason, String what, Map<String, String> producer) {
        In(String topic, byte[] key, byte[] value, String reason, String what) {
            this(topic, key, value, reason, what, Map.of());
        }
    }

    /** A producer that sends what the broker accepts, up to its max.message.bytes, uncompressed. */
    private static final Map<String, String> BIG = Map.of("max.request.size", "33554432", "buffer.memory",
            "67108864");
    /** The same, zstd-compressed: a few KB on the wire, megabytes once the job's consumer decompresses them. */
    private static final Map<String, String> ZSTD = Map.of("max.request.size", "33554432", "buffer.memory",
            "67108864", "compression.type", "zstd");
    /** Kafka's default max.message.bytes (the embedded broker's too) and a batch's framing of one record. */
    private static final int BROKER_MAX = 1_048_588;
    private static final int FRAMING = 61 + 21;

    private final List<In> corpus = new ArrayList<>();
    private final long now = System.currentTimeMillis() - 60_000;
    private long tick;

    private long ts() {
        return now + (tick++);
    }

    private static byte[] utf8(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    private static List<Float> vec(float... v) {
        List<Float> l = new ArrayList<>();
        for (float x : v) {
            l.add(x);
        }
        return l;
    }

    private static List<Float> dims(int n) {
        List<Float> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            l.add(1f / (i + 1));
        }
        return l;
    }

    private static MemoryEvent ev(String space, String id, long ts, Object payload) {
        return MemoryEvent.newBuilder().setSpace(space).setEventId(id).setTimestampMs(ts).setPayload(payload).build();
    }

    private static StoreMemory store(String id, List<Float> emb, float strength, Float stab, String content) {
        return StoreMemory.newBuilder().setMemoryId(id).setEmbedding(emb).setStrength(strength).setStabilityS(stab)
                .setContent(content).build();
    }

    private void event(String what, String reason, MemoryEvent e) {
        event(what, reason, SPACE, AvroCodec.encode(e));
    }

    private void event(String what, String reason, String key, byte[] value) {
        corpus.add(new In(t.events(), utf8(key), value, reason, what));
    }

    /** A valid event applied to both SPACE and CONTROL with the same ids. */
    private void valid(String id, Object payload) {
        long ts = ts();
        event("valid " + id, null, ev(SPACE, id, ts, payload));
        event("valid " + id + " (control)", null, CONTROL, AvroCodec.encode(ev(CONTROL, id, ts, payload)));
    }

    private RecallQuery.Builder query(String id) {
        return RecallQuery.newBuilder().setQueryId(id).setSpace(SPACE).setTimestampMs(now + 10_000)
                .setCue(vec(1, 0, 0, 0)).setK(10);
    }

    private void badQuery(String what, String reason, RecallQuery q) {
        corpus.add(new In(t.queries(), utf8(q.getSpace()), AvroCodec.encode(q), reason, what));
    }

    private Rel.Topics t;

    /** MemoryEvent's schema with one more field: a writer "from the future". */
    private static byte[] futureEvent() throws Exception {
        Schema cur = MemoryEvent.getClassSchema();
        String json = cur.toString().replaceFirst("\"fields\"\\s*:\\s*\\[",
                "\"fields\":[{\"name\":\"tenant_tier\",\"type\":\"int\",\"default\":0},");
        Schema future = new Schema.Parser().parse(json);
        assertThat(future.getFields()).hasSize(cur.getFields().size() + 1);
        GenericRecord r = new GenericData.Record(future);
        MemoryEvent base = ev(SPACE, "future-1", System.currentTimeMillis(),
                store("future-m", vec(1, 1, 1, 1), 1f, null, null));
        // copy the current fields generically through a round trip of the payload's generic form
        GenericRecord baseGeneric = (GenericRecord) GenericData.get().deepCopy(cur, base);
        for (Schema.Field f : cur.getFields()) {
            r.put(f.name(), baseGeneric.get(f.name()));
        }
        r.put("tenant_tier", 7);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        new BinaryMessageEncoder<GenericRecord>(GenericData.get(), future).encode(r, out);
        return out.toByteArray();
    }

    private void buildCorpus() throws Exception {
        byte[] goodEvent = AvroCodec.encode(ev(SPACE, "template", ts(), store("template", vec(1, 0, 0, 0), 1f, null,
                null)));
        // valid base
        valid("e-m1", store("m1", vec(1, 0, 0, 0), 1f, null, "first"));
        valid("e-m2", store("m2", vec(0, 1, 0, 0), 1f, null, null));
        // ---- decoding
        event("truncated bytes", "UNDECODABLE", SPACE, Arrays.copyOf(goodEvent, 14));
        event("garbage", "BAD_HEADER", SPACE, utf8("{\"not\":\"avro\"}"));
        byte[] wrongFp = goodEvent.clone();
        wrongFp[2] ^= 0x5A; // first fingerprint byte
        event("wrong fingerprint", "UNKNOWN_SCHEMA", SPACE, wrongFp);
        event("schema from the future (extra field)", "UNKNOWN_SCHEMA", SPACE, futureEvent());
        event("a RecallQuery on the events topic", "UNKNOWN_SCHEMA", SPACE,
                AvroCodec.encode(query("wrong-topic").build()));
        event("tombstone (null value)", "EMPTY", SPACE, null);
        event("empty value (0 bytes)", "EMPTY", SPACE, new byte[0]);
        valid("e-m3", store("m3", vec(0, 0, 1, 0), 1f, null, null));
        // ---- envelope
        event("empty event id", "BAD_ID", ev(SPACE, "", ts(), store("x1", vec(1, 0, 0, 0), 1f, null, null)));
        event("oversize event id", "BAD_ID", ev(SPACE, "e".repeat(257), ts(),
                store("x2", vec(1, 0, 0, 0), 1f, null, null)));
        event("empty memory id", "BAD_ID", ev(SPACE, "bad-empty-mid", ts(), store("", vec(1, 0, 0, 0), 1f, null,
                null)));
        event("oversize memory id", "BAD_ID", ev(SPACE, "bad-long-mid", ts(),
                store("m".repeat(300), vec(1, 0, 0, 0), 1f, null, null)));
        event("bad space id", "BAD_SPACE", "Bad Space!", AvroCodec.encode(ev("Bad Space!", "bad-space", ts(),
                store("x3", vec(1, 0, 0, 0), 1f, null, null))));
        event("key/payload space mismatch", "SPACE_MISMATCH", "other-space", AvroCodec.encode(ev(SPACE,
                "bad-mismatch", ts(), store("x4", vec(1, 0, 0, 0), 1f, null, null))));
        event("negative timestamp", "BAD_TIMESTAMP", ev(SPACE, "bad-neg-ts", -5L,
                store("x5", vec(1, 0, 0, 0), 1f, null, null)));
        event("timestamp a year ahead (watermark abuse)", "FUTURE_TIMESTAMP", ev(SPACE, "bad-future-ts",
                System.currentTimeMillis() + 365L * 86_400_000L, store("x6", vec(1, 0, 0, 0), 1f, null, null)));
        event("timestamp Long.MAX_VALUE", "FUTURE_TIMESTAMP", ev(SPACE, "bad-max-ts", Long.MAX_VALUE,
                store("x7", vec(1, 0, 0, 0), 1f, null, null)));
        // ---- payload
        event("dim 0", "EMPTY_EMBEDDING", ev(SPACE, "bad-dim0", ts(), store("x8", vec(), 1f, null, null)));
        event("dim over max-dim", "DIM_TOO_LARGE", ev(SPACE, "bad-dim-big", ts(),
                store("x9", dims(MAX_DIM + 1), 1f, null, null)));
        event("dimension mismatch", "DIM_MISMATCH", ev(SPACE, "bad-dim-mm", ts(),
                store("x10", dims(DIM + 1), 1f, null, null)));
        event("NaN in embedding", "NON_FINITE", ev(SPACE, "bad-nan", ts(),
                store("x11", vec(1, Float.NaN, 0, 0), 1f, null, null)));
        event("+Inf in embedding", "NON_FINITE", ev(SPACE, "bad-inf", ts(),
                store("x12", vec(1, 0, Float.POSITIVE_INFINITY, 0), 1f, null, null)));
        event("negative stability", "BAD_STABILITY", ev(SPACE, "bad-stab-neg", ts(),
                store("x13", vec(1, 0, 0, 0), 1f, -10f, null)));
        event("zero stability", "BAD_STABILITY", ev(SPACE, "bad-stab-0", ts(),
                store("x14", vec(1, 0, 0, 0), 1f, 0f, null)));
        event("negative strength", "BAD_STRENGTH", ev(SPACE, "bad-strength", ts(),
                store("x15", vec(1, 0, 0, 0), -1f, null, null)));
        event("oversize content", "CONTENT_TOO_LONG", ev(SPACE, "bad-content", ts(),
                store("x16", vec(1, 0, 0, 0), 1f, null, "c".repeat(MAX_CONTENT + 1))));
        valid("e-m4", store("m4", vec(0, 0, 0, 1), 1f, null, null));
        valid("e-a12", Associate.newBuilder().setFromId("m1").setToId("m2").setWeight(0.9f).setBidirectional(false)
                .build());
        valid("e-a13", Associate.newBuilder().setFromId("m1").setToId("m3").setWeight(0.5f).setBidirectional(false)
                .build());
        valid("e-forget-m4", Forget.newBuilder().setMemoryId("m4").build());
        event("NaN weight", "NON_FINITE", ev(SPACE, "bad-w-nan", ts(), Associate.newBuilder().setFromId("m1")
                .setToId("m2").setWeight(Float.NaN).setBidirectional(false).build()));
        event("weight 1.5", "BAD_WEIGHT", ev(SPACE, "bad-w-big", ts(), Associate.newBuilder().setFromId("m1")
                .setToId("m2").setWeight(1.5f).setBidirectional(false).build()));
        event("edge to an unknown id", "UNKNOWN_MEMORY", ev(SPACE, "bad-edge-unknown", ts(),
                Associate.newBuilder().setFromId("m1").setToId("never-stored").setWeight(0.5f)
                        .setBidirectional(false).build()));
        event("edge to a forgotten id", "UNKNOWN_MEMORY", ev(SPACE, "bad-edge-forgotten", ts(),
                Associate.newBuilder().setFromId("m1").setToId("m4").setWeight(0.5f).setBidirectional(false)
                        .build()));
        event("self-edge", "SELF_EDGE", ev(SPACE, "bad-self", ts(), Associate.newBuilder().setFromId("m2")
                .setToId("m2").setWeight(0.5f).setBidirectional(false).build()));
        event("reinforce a forgotten id", "UNKNOWN_MEMORY", ev(SPACE, "bad-reinforce", ts(),
                ReinforceMemory.newBuilder().setMemoryId("m4").build()));
        // ---- duplicates: handled (ignored), never dead-lettered
        long rts = ts();
        MemoryEvent reinforce = ev(SPACE, "e-r1", rts, ReinforceMemory.newBuilder().setMemoryId("m1").build());
        event("valid reinforce m1", null, reinforce);
        event("valid reinforce m1 (control)", null, CONTROL, AvroCodec.encode(ev(CONTROL, "e-r1", rts,
                ReinforceMemory.newBuilder().setMemoryId("m1").build())));
        event("duplicate: exact replay of reinforce e-r1", null, reinforce);
        event("duplicate: exact replay of reinforce e-r1 again", null, reinforce);
        event("duplicate: event id e-m2 reused with another payload", null, ev(SPACE, "e-m2", ts(),
                store("dupx", vec(1, 0, 0, 0), 1f, null, null)));
        // ---- a dead-lettered record last in each space: once its dead letter is out, all before it was applied
        event("trailing: reinforce of a never-stored id", "UNKNOWN_MEMORY", ev(SPACE, "bad-trailing", ts(),
                ReinforceMemory.newBuilder().setMemoryId("never-stored").build()));
        event("trailing (control space): dimension mismatch", "DIM_MISMATCH", CONTROL, AvroCodec.encode(ev(CONTROL,
                "bad-trailing-control", ts(), store("x21", dims(DIM + 2), 1f, null, null))));
        // ---- queries
        badQuery("k 0", "BAD_K", query("q-k0").setK(0).build());
        badQuery("k negative", "BAD_K", query("q-kneg").setK(-3).build());
        badQuery("k huge", "BAD_K", query("q-khuge").setK(Integer.MAX_VALUE).build());
        badQuery("max_hops negative", "BAD_HOPS", query("q-hneg").setMaxHops(-1).build());
        badQuery("max_hops huge", "BAD_HOPS", query("q-hhuge").setMaxHops(1_000_000).build());
        badQuery("seed_k 0", "BAD_SEED_K", query("q-s0").setSeedK(0).build());
        badQuery("seed_k negative", "BAD_SEED_K", query("q-sneg").setSeedK(-1).build());
        badQuery("seed_k huge", "BAD_SEED_K", query("q-shuge").setSeedK(Integer.MAX_VALUE).build());
        badQuery("hop_decay 0", "BAD_HOP_DECAY", query("q-d0").setHopDecay(0f).build());
        badQuery("hop_decay > 1", "BAD_HOP_DECAY", query("q-d2").setHopDecay(1.5f).build());
        badQuery("negative threshold", "BAD_THRESHOLD", query("q-tneg").setThreshold(-0.1f).build());
        badQuery("NaN in cue", "NON_FINITE", query("q-nan").setCue(vec(Float.NaN, 0, 0, 0)).build());
        badQuery("-Inf in cue", "NON_FINITE", query("q-inf").setCue(vec(Float.NEGATIVE_INFINITY, 0, 0, 0))
                .build());
        badQuery("cue dim 0", "EMPTY_EMBEDDING", query("q-dim0").setCue(vec()).build());
        badQuery("cue dim mismatch", "DIM_MISMATCH", query("q-dimmm").setCue(vec(1, 0)).build());
        badQuery("cue over max-dim", "DIM_TOO_LARGE", query("q-dimbig").setCue(dims(MAX_DIM + 1)).build());
        badQuery("query timestamp far in the future", "FUTURE_TIMESTAMP", query("q-future")
                .setTimestampMs(System.currentTimeMillis() + 30L * 86_400_000L).build());
        badQuery("query negative timestamp", "BAD_TIMESTAMP", query("q-negts").setTimestampMs(-1).build());
        badQuery("empty query id", "BAD_ID", query("").build());
        corpus.add(new In(t.queries(), utf8(SPACE), AvroCodec.encode(ev(SPACE, "ev-on-q", ts(),
                store("x20", vec(1, 0, 0, 0), 1f, null, null))), "UNKNOWN_SCHEMA", "a MemoryEvent on the queries topic"));
        corpus.add(new In(t.queries(), utf8(SPACE), new byte[] {(byte) 0xC3, 0x01, 1, 2}, "BAD_HEADER",
                "query: 4 bytes, the single-object header cut short"));
        corpus.add(new In(t.queries(), utf8(SPACE), null, "EMPTY", "query tombstone"));
        hostileRecords();
    }

    /**
     * Issue 11's records, each of which once stalled or crash-looped the job, and their kin: oversized values and
     * keys (the largest the broker takes), compressed giants, missing and non-UTF-8 keys, far-past and far-future
     * timestamps with long stability, vectors whose f32 norm overflows or underflows, and the control topic (a
     * switch pinned at Long.MAX_VALUE, invalid spaces, a negative timestamp). Each gets exactly one dead letter.
     */
    private void hostileRecords() throws Exception {
        long now = System.currentTimeMillis();
        // ---- outputs: the dead letter of each is bounded (engram.limits.max-output-record-size)
        byte[] garbage = new byte[1_048_492];
        Arrays.fill(garbage, (byte) 'G');
        corpus.add(new In(t.events(), utf8("hostile-a"), garbage, "BAD_HEADER",
                "1 MiB of 'G' (the issue's record: key hostile-a)", BIG));
        byte[] largest = new byte[BROKER_MAX - FRAMING - 4 - 16];
        Arrays.fill(largest, (byte) 'L');
        corpus.add(new In(t.events(), utf8(SPACE), largest, "BAD_HEADER",
                "the largest value the broker takes (" + largest.length + " bytes), uncompressed", BIG));
        StoreMemory zeros = store("zeros", new ArrayList<>(java.util.Collections.nCopies(1_000_000, 0f)), 1f, null,
                null);
        corpus.add(new In(t.events(), utf8(SPACE), AvroCodec.encode(ev(SPACE, "giant-zero", ts(), zeros)),
                "DIM_TOO_LARGE", "a store with a 1,000,000-dim zero embedding, zstd (4 MB decompressed)", ZSTD));
        byte[] eightMiB = new byte[8 << 20];
        Arrays.fill(eightMiB, (byte) 'Z');
        corpus.add(new In(t.events(), utf8(SPACE), eightMiB, "BAD_HEADER", "8 MiB of 'Z', zstd", ZSTD));
        corpus.add(new In(t.events(), utf8("k".repeat(600_000)), AvroCodec.encode(ev(SPACE, "long-key", ts(),
                store("x22", dims(8), 1f, null, null))), "SPACE_MISMATCH",
                "a 600,000-byte key with a valid 8-dim store (the issue's record)", BIG));
        byte[] hugeKey = new byte[BROKER_MAX - FRAMING - 3 - 16];
        Arrays.fill(hugeKey, (byte) 'K');
        corpus.add(new In(t.events(), hugeKey, new byte[] {1, 2, 3}, "BAD_HEADER",
                "the largest key the broker takes (" + hugeKey.length + " bytes)", BIG));
        // ---- keys
        corpus.add(new In(t.events(), null, AvroCodec.encode(ev(SPACE, "no-key", ts(), store("x23", vec(1, 0, 0, 0),
                1f, null, null))), "SPACE_MISMATCH", "a valid store without a key"));
        corpus.add(new In(t.events(), new byte[] {(byte) 0xFF, (byte) 0xFE, 'c'}, AvroCodec.encode(ev(SPACE,
                "bin-key", ts(), store("x24", vec(1, 0, 0, 0), 1f, null, null))), "SPACE_MISMATCH",
                "a valid store with a non-UTF-8 key"));
        corpus.add(new In(t.queries(), null, AvroCodec.encode(query("q-nokey").build()), "SPACE_MISMATCH",
                "a query without a key"));
        // ---- timestamps with long stability
        MemoryEvent ancient = ev("ancient-0001", "a1", 1, store("old", dims(8), 1f, 1e10f, null));
        corpus.add(new In(t.events(), utf8("ancient-0001"), AvroCodec.encode(ancient), "PAST_TIMESTAMP",
                "timestamp_ms 1 with stability 1e10 s (the issue's timer storm)"));
        corpus.add(new In(t.events(), utf8(SPACE), AvroCodec.encode(ev(SPACE, "future-long", now + 2L * 86_400_000L,
                store("x25", vec(1, 0, 0, 0), 1f, 1e10f, null))), "FUTURE_TIMESTAMP",
                "two days ahead with stability 1e10 s"));
        corpus.add(new In(t.events(), utf8(SPACE), AvroCodec.encode(ev(SPACE, "seconds-ts", now / 1000,
                store("x26", vec(1, 0, 0, 0), 1f, null, null))), "PAST_TIMESTAMP",
                "timestamp in seconds instead of milliseconds"));
        // (vectors whose f32 norm would overflow or underflow are valid: the hostile-load test recalls them)
        // ---- the control topic
        control("a switch pinned at timestamp Long.MAX_VALUE (the issue's record)", "FUTURE_TIMESTAMP",
                KernelControl.newBuilder().setMode("java").setReason("x").setIssuedBy("mallory")
                        .setTimestampMs(Long.MAX_VALUE).setSpaces(List.of()).setFraction(null).build());
        control("a switch for space 'NOT A SPACE'", "BAD_SPACE", ops().setSpaces(List.of("NOT A SPACE")).build());
        control("a switch for space ''", "BAD_SPACE", ops().setSpaces(List.of("")).build());
        control("a switch with a negative timestamp", "BAD_TIMESTAMP", ops().setTimestampMs(-1).build());
        control("a switch without issued_by", "BAD_CONTROL", ops().setIssuedBy(" ").build());
        // the operators regain control with an ordinary switch: applied, no dead letter
        corpus.add(new In(t.control(), null, AvroCodec.encode(ops().build()), null,
                "the operators' switch after the pin"));
    }

    private static KernelControl.Builder ops() {
        return KernelControl.newBuilder().setMode("java").setReason("corpus: operators regain control")
                .setIssuedBy("ops").setTimestampMs(System.currentTimeMillis()).setSpaces(List.of()).setFraction(null);
    }

    private void control(String what, String reason, KernelControl c) {
        corpus.add(new In(t.control(), null, AvroCodec.encode(c), reason, what));
    }

    @Test
    void everyBadRecordIsDeadLetteredOnceWithItsReasonAndTheJobKeepsRunning() throws Exception {
        long t0 = System.nanoTime();
        t = Rel.Topics.suffixed("corpus");
        KAFKA.broker().createTopics(2, t.all());
        buildCorpus();
        Configuration conf = Rel.jobConfig(KAFKA.broker().bootstrapServers(), t, "corpus");
        conf.set(EngramOptions.MAX_DIM, MAX_DIM);
        conf.set(EngramOptions.MAX_CONTENT_LENGTH, MAX_CONTENT);
        JobClient job = Rel.start(conf, "engram-bad-input-corpus");
        try (Rel.Reader dl = new Rel.Reader(KAFKA.broker().bootstrapServers(), t.deadLetters(), Map.of());
             Rel.Reader results = new Rel.Reader(KAFKA.broker().bootstrapServers(), t.results(), Map.of())) {
            Rel.waitUntil(() -> statusIs(job, JobStatus.RUNNING), Rel.WAIT, () -> "job RUNNING", job);
            // produce the corpus, in order, into the running job
            Map<String, In> bySource = new LinkedHashMap<>();
            List<String> goodSources = new ArrayList<>();
            // Events first, queries once the events are applied: the two topics are two sources with no order
            // between them, and a query's DIM_MISMATCH needs the space's dimension.
            List<In> events = corpus.stream().filter(c -> c.topic().equals(t.events())).toList();
            List<In> queries = corpus.stream().filter(c -> !c.topic().equals(t.events())).toList();
            produce(events, bySource, goodSources);
            long badEvents = events.stream().filter(c -> c.reason() != null).count();
            Rel.waitUntil(() -> {
                dl.pollOnce();
                return dl.records.size() >= badEvents;
            }, Rel.WAIT, () -> badEvents + " dead letters of events, have " + dl.records.size(), job);
            // the valid events interleaved with the bad ones are in the same partition, before the last bad one
            produce(queries, bySource, goodSources);
            long produced = System.nanoTime();
            long distinctBad = corpus.stream().filter(c -> c.reason() != null).map(In::what).distinct().count();
            LOG.info("corpus: {} records, {} distinct bad, {} valid/duplicate", corpus.size(), distinctBad,
                    goodSources.size());
            assertThat(distinctBad).isGreaterThanOrEqualTo(30);

            // until every bad record has its dead letter, or none arrived for 30 s (then the table below says which
            // record is missing)
            long[] lastGrowth = {System.nanoTime(), 0};
            Rel.waitUntil(() -> {
                dl.pollOnce();
                if (dl.records.size() != lastGrowth[1]) {
                    lastGrowth[0] = System.nanoTime();
                    lastGrowth[1] = dl.records.size();
                }
                return dl.records.size() >= bySource.size()
                        || (dl.records.size() > 0 && System.nanoTime() - lastGrowth[0] > 30_000_000_000L);
            }, Rel.WAIT, () -> bySource.size() + " dead letters, have " + dl.records.size(), job);
            long allDead = System.nanoTime();

            // valid records applied: queries answer as expected
            RecallQuery probe = query("q-probe").build();
            RecallQuery probeControl = RecallQuery.newBuilder(probe).setQueryId("q-probe-control").setSpace(CONTROL)
                    .build();
            RecallQuery forgotten = query("q-forgotten").setCue(vec(0, 0, 0, 1)).build();
            try (KafkaProducer<byte[], byte[]> p = Rel.producer(KAFKA.broker().bootstrapServers(), Map.of())) {
                for (RecallQuery q : List.of(probe, probeControl, forgotten)) {
                    p.send(new ProducerRecord<>(t.queries(), utf8(q.getSpace()), AvroCodec.encode(q))).get();
                }
            }
            Map<String, RecallResult> answers = new HashMap<>();
            Rel.waitUntil(() -> {
                results.pollOnce();
                for (ConsumerRecord<byte[], byte[]> r : results.records) {
                    RecallResult res = AvroCodec.decodeRecallResult(r.value());
                    answers.put(res.getQueryId(), res);
                }
                return answers.size() >= 3;
            }, Rel.WAIT, () -> "3 answers, have " + answers.keySet(), job);
            long answered = System.nanoTime();
            assertThat((answered - allDead) / 1_000_000).as("ms until the probes were answered after the corpus")
                    .isLessThan(30_000);
            dl.drainCommitted();
            results.drainCommitted();

            // the job is still RUNNING: no task failed (restart strategy none would have ended it)
            assertThat(job.getJobStatus().get(30, TimeUnit.SECONDS)).isEqualTo(JobStatus.RUNNING);

            // each bad record: exactly one dead letter, with its reason; nothing else dead-lettered
            Map<String, DeadLetter> got = new HashMap<>();
            Map<String, Integer> byReason = new TreeMap<>();
            long largestDeadLetter = 0;
            for (ConsumerRecord<byte[], byte[]> r : dl.records) {
                DeadLetter d = AvroCodec.decodeDeadLetter(r.value());
                String at = d.getSourceTopic() + "/" + d.getSourcePartition() + "/" + d.getSourceOffset();
                assertThat(got.put(at, d)).as("second dead letter for %s", at).isNull();
                byReason.merge(d.getReason(), 1, Integer::sum);
                long size = FRAMING + (r.key() == null ? 0 : r.key().length) + r.value().length;
                largestDeadLetter = Math.max(largestDeadLetter, size);
                assertThat(size).as("dead letter of %s", at).isLessThanOrEqualTo(512 * 1024);
                In in = bySource.get(at);
                if (in != null) {
                    assertThat(d.getValueSize()).as("value size in the dead letter of %s", in.what())
                            .isEqualTo(in.value() == null ? null : in.value().length);
                    assertThat(d.getKeySize()).isEqualTo(in.key() == null ? null : in.key().length);
                    if (in.value() != null) {
                        byte[] prefix = bytes(d.getValue());
                        assertThat(prefix).isEqualTo(Arrays.copyOf(in.value(), prefix.length));
                        assertThat(d.getValueSha256()).isEqualTo(sha256(in.value()));
                        assertThat(d.getTruncated()).isEqualTo(prefix.length < in.value().length
                                || (in.key() != null && in.key().length > 1024));
                    }
                }
            }
            LOG.info("largest dead letter: {} bytes (limit {})", largestDeadLetter, 512 * 1024);
            Map<String, String> wrong = new TreeMap<>();
            for (Map.Entry<String, In> e : bySource.entrySet()) {
                DeadLetter d = got.get(e.getKey());
                String actual = d == null ? "(none)" : d.getReason() + " (" + d.getMessage() + ")";
                if (d == null || !d.getReason().equals(e.getValue().reason())) {
                    wrong.put(e.getValue().what(), "expected " + e.getValue().reason() + ", got " + actual);
                }
            }
            assertThat(wrong).as("records with a wrong or missing dead letter").isEmpty();
            assertThat(got.keySet()).as("dead-lettered records").containsExactlyInAnyOrderElementsOf(
                    bySource.keySet());
            assertThat(goodSources).as("valid and duplicate records must not be dead-lettered")
                    .doesNotContainAnyElementsOf(got.keySet());

            // exactly one answer per query
            Map<String, Long> answerCount = results.records.stream().map(r -> AvroCodec.decodeRecallResult(
                    r.value()).getQueryId()).collect(Collectors.groupingBy(x -> x, Collectors.counting()));
            assertThat(answerCount).containsOnly(Map.entry("q-probe", 1L), Map.entry("q-probe-control", 1L),
                    Map.entry("q-forgotten", 1L));

            RecallResult a = answers.get("q-probe");
            List<String> ids = a.getHits().stream().map(RecallHit::getMemoryId).collect(Collectors.toList());
            LOG.info("probe answer: {}", a.getHits());
            assertThat(ids).as("hits of the probe").isNotEmpty().first().isEqualTo("m1");
            assertThat(ids).as("applied edges m1->m2, m1->m3 spread").contains("m2", "m3");
            Set<String> never = new HashSet<>(List.of("m4", "dupx", "future-m", "template"));
            for (int i = 1; i <= 28; i++) {
                never.add("x" + i);
            }
            assertThat(ids).doesNotContainAnyElementsOf(never);
            assertThat(answers.get("q-forgotten").getHits().stream().map(RecallHit::getMemoryId))
                    .doesNotContainAnyElementsOf(never);
            // duplicates applied once: the corpus space (reinforce e-r1 x3, e-m2 reused) answers exactly as the
            // control space that got each valid event once
            RecallResult c = answers.get("q-probe-control");
            assertThat(hitsSansLatency(a)).as("corpus space vs control space").isEqualTo(hitsSansLatency(c));

            LOG.info("dead letters by reason: {}", byReason);
            LOG.info("bad-input corpus: {} records ({} bad, {} distinct), produce {} ms, all dead letters {} ms after"
                            + " produce, 3 queries answered {} ms later, total {} ms; job {}", corpus.size(),
                    bySource.size(), distinctBad, (produced - t0) / 1_000_000, (allDead - produced) / 1_000_000,
                    (answered - allDead) / 1_000_000, (System.nanoTime() - t0) / 1_000_000,
                    job.getJobStatus().get());
            System.out.println("dead letters by reason: " + byReason);
        } finally {
            Rel.cancel(job);
        }
    }

    // =============================================================================================================
    // hostile load: correct answers, no restart
    // =============================================================================================================

    /** The hostile-load test's topics, readers and producer. */
    private Rel.Topics ht;
    private Rel.Reader hostileDl;
    private Rel.Reader hostileResults;
    private KafkaProducer<byte[], byte[]> hp;
    private final Set<String> markers = new HashSet<>();
    private final Map<String, Integer> asked = new HashMap<>();

    private static MemoryEvent at(String space, String id, long ts, Object payload) {
        return ev(space, id, ts, payload);
    }

    private RecordMetadata send(String topic, String key, byte[] value) throws Exception {
        return hp.send(new ProducerRecord<>(topic, utf8(key), value)).get(60, TimeUnit.SECONDS);
    }

    private java.util.concurrent.Future<RecordMetadata> sendAsync(MemoryEvent e) {
        return hp.send(new ProducerRecord<>(ht.events(), utf8(e.getSpace()), AvroCodec.encode(e)));
    }

    /**
     * Sends a reinforce of a never-stored memory into {@code space} and waits for its dead letter: everything sent
     * to the space before it has been applied (one key, one partition, in order). Returns the wait in ms.
     */
    private long awaitApplied(String space, JobClient job) throws Exception {
        hp.flush();
        long t0 = System.nanoTime();
        RecordMetadata md = send(ht.events(), space, AvroCodec.encode(at(space, "marker-" + markers.size(),
                System.currentTimeMillis(), ReinforceMemory.newBuilder().setMemoryId("never-stored").build())));
        String at = md.topic() + "/" + md.partition() + "/" + md.offset();
        markers.add(at);
        Rel.waitUntil(() -> {
            hostileDl.pollOnce();
            return hostileDl.records.stream().map(r -> AvroCodec.decodeDeadLetter(r.value())).anyMatch(d ->
                    (d.getSourceTopic() + "/" + d.getSourcePartition() + "/" + d.getSourceOffset()).equals(at));
        }, Rel.WAIT, () -> "the marker of " + space + " at " + at, job);
        return (System.nanoTime() - t0) / 1_000_000;
    }

    /** Sends the query and returns its one answer. */
    private RecallResult ask(RecallQuery q, JobClient job) throws Exception {
        asked.merge(q.getQueryId(), 1, Integer::sum);
        send(ht.queries(), q.getSpace(), AvroCodec.encode(q));
        RecallResult[] answer = new RecallResult[1];
        Rel.waitUntil(() -> {
            hostileResults.pollOnce();
            for (ConsumerRecord<byte[], byte[]> r : hostileResults.records) {
                RecallResult res = AvroCodec.decodeRecallResult(r.value());
                if (res.getQueryId().equals(q.getQueryId())) {
                    answer[0] = res;
                }
            }
            return answer[0] != null;
        }, Rel.WAIT, () -> "the answer to " + q.getQueryId(), job);
        return answer[0];
    }

    private static RecallQuery.Builder cue(String space, String id, float... v) {
        return RecallQuery.newBuilder().setQueryId(id).setSpace(space).setTimestampMs(System.currentTimeMillis())
                .setCue(vec(v)).setK(10);
    }

    private static List<String> ids(RecallResult r) {
        return r.getHits().stream().map(RecallHit::getMemoryId).collect(Collectors.toList());
    }

    /**
     * What must get a correct answer, not a dead letter, from a job with live decay sweeps (every minute, the
     * default): a memory stored five years back with stability 1e10 s (capped; it used to fire a sweep timer per
     * minute since its time), huge and denormal strength, denormal stability, vectors just inside the norm bounds,
     * a flood of 20,000 distinct spaces, a hub memory with 100,000 edges, and a storm of 1,000 forgets in that
     * 100,001-memory space. The job stays RUNNING (restart strategy none: any failure would end it) and answers a
     * probe in time afterwards.
     */
    @Test
    void hostileLoadGetsCorrectAnswersAndTheJobStaysUp(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        ht = Rel.Topics.suffixed("hostile");
        KAFKA.broker().createTopics(2, ht.all());
        Configuration conf = Rel.jobConfig(KAFKA.broker().bootstrapServers(), ht, "hostile");
        conf.set(EngramOptions.SWEEP_INTERVAL, java.time.Duration.ofMinutes(1));
        conf.set(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTS_DIRECTORY, dir.toUri().toString());
        conf.set(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTING_INTERVAL,
                java.time.Duration.ofSeconds(1));
        JobClient job = Rel.start(conf, "engram-hostile-load");
        Map<String, Object> measured = new LinkedHashMap<>();
        try (Rel.Reader dlReader = new Rel.Reader(KAFKA.broker().bootstrapServers(), ht.deadLetters(), Map.of());
             Rel.Reader resReader = new Rel.Reader(KAFKA.broker().bootstrapServers(), ht.results(), Map.of());
             KafkaProducer<byte[], byte[]> producer = Rel.producer(KAFKA.broker().bootstrapServers(),
                     Map.of("linger.ms", "20", "batch.size", "262144"))) {
            hostileDl = dlReader;
            hostileResults = resReader;
            hp = producer;
            Rel.waitUntil(() -> statusIs(job, JobStatus.RUNNING), Rel.WAIT, () -> "job RUNNING", job);
            long now = System.currentTimeMillis();

            // ---- a memory from five years back, stability 1e10 s (capped at 3650 days on store)
            long fiveYears = 5L * 365 * 86_400_000L;
            sendAsync(at("old-space", "old", now - fiveYears, store("old", vec(1, 0, 0, 0), 1f, 1e10f, null)));
            measured.put("old event applied (ms)", awaitApplied("old-space", job));
            RecallQuery oldQ = cue("old-space", "q-old", 1, 0, 0, 0).build();
            RecallResult old = ask(oldQ, job);
            assertThat(ids(old)).containsExactly("old");
            double expected = Math.exp(-((oldQ.getTimestampMs() - (now - fiveYears)) / 1000.0) / (3650 * 86_400.0));
            assertThat((double) old.getHits().get(0).getRetention()).as("retention with the capped stability")
                    .isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-4));

            // ---- numeric extremes that are valid
            sendAsync(at("strong", "s1", now, store("m-normal", vec(1, 0, 0, 0), 1f, null, null)));
            sendAsync(at("strong", "s2", now, store("m-huge", vec(1, 0, 0, 0), Float.MAX_VALUE, null, null)));
            sendAsync(at("strong", "s3", now, store("m-denormal-strength", vec(1, 0, 0, 0), Float.MIN_VALUE, null,
                    null)));
            sendAsync(at("strong", "s4", now, store("m-denormal-stability", vec(1, 0, 0, 0), 1f, Float.MIN_VALUE,
                    null)));
            // f32 norms that would overflow (near FLT_MAX) or vanish (denormals): stored scaled, recalled as sent
            float[][] inside = {{3.4e38f, 0, 0, 3.4e38f}, {Float.MIN_VALUE, -Float.MIN_VALUE, 0, 0},
                {1e-15f, 0, 1e-15f, 0}, {0, 0, 1, -1}};
            String[] insideIds = {"norm-huge", "norm-denormal", "norm-minute", "norm-plain"};
            for (int i = 0; i < inside.length; i++) {
                sendAsync(at("edge-norms", "n" + i, now, store(insideIds[i], vec(inside[i]), 1f, null, null)));
            }
            awaitApplied("strong", job);
            awaitApplied("edge-norms", job);
            RecallResult strong = ask(cue("strong", "q-strong", 1, 0, 0, 0).build(), job);
            assertThat(ids(strong)).as("score = activation x retention x strength, finite; denormal stability: "
                    + "retention 0").containsExactly("m-huge", "m-normal", "m-denormal-strength");
            assertThat(strong.getHits()).allSatisfy(h -> assertThat(Float.isFinite(h.getScore())).isTrue());
            assertThat(strong.getHits().get(0).getScore()).isGreaterThan(1e38f);
            for (int i = 0; i < inside.length; i++) {
                float[] c = new float[4];
                for (int j = 0; j < 4; j++) {
                    c[j] = i == 0 ? inside[i][j] : Math.signum(inside[i][j]); // a near-FLT_MAX cue too
                }
                RecallResult r = ask(cue("edge-norms", "q-norm-" + i, c).build(), job);
                assertThat(ids(r)).as("a vector with an extreme f32 norm is recalled").first()
                        .isEqualTo(insideIds[i]);
                assertThat(r.getHits().get(0).getSimilarity()).isCloseTo(1f, org.assertj.core.data.Offset.offset(
                        1e-5f));
            }

            // ---- a flood of distinct spaces
            int spaces = 20_000;
            long t0 = System.nanoTime();
            Map<Integer, String> lastPerPartition = new TreeMap<>();
            List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>(spaces);
            for (int i = 0; i < spaces; i++) {
                String space = String.format("flood-%05d", i);
                float[] v = new float[4];
                v[i % 4] = 1;
                sent.add(sendAsync(at(space, "f", now, store("only-" + i, vec(v), 1f, null, null))));
            }
            for (int i = 0; i < spaces; i++) {
                lastPerPartition.put(sent.get(i).get(60, TimeUnit.SECONDS).partition(), String.format("flood-%05d", i));
            }
            for (String space : lastPerPartition.values()) {
                awaitApplied(space, job);
            }
            measured.put("20,000 spaces produced and applied (ms)", (System.nanoTime() - t0) / 1_000_000);
            for (int i : new int[] {0, 12_345, spaces - 1}) {
                float[] v = new float[4];
                v[i % 4] = 1;
                RecallResult r = ask(cue(String.format("flood-%05d", i), "q-flood-" + i, v).build(), job);
                assertThat(ids(r)).containsExactly("only-" + i);
            }

            // ---- a hub memory with 100,000 edges, all stored at one instant (equal retention)
            int leaves = 100_000;
            Set<String> special = Set.of("leaf-050000", "leaf-070000", "leaf-090000");
            t0 = System.nanoTime();
            long hubTs = System.currentTimeMillis();
            sendAsync(at("hub-space", "hub", hubTs, store("hub", vec(1, 0, 0, 0), 1f, null, null)));
            for (int i = 0; i < leaves; i++) {
                sendAsync(at("hub-space", "s" + i, hubTs, store(String.format("leaf-%06d", i), vec(0, 1, 0, 0), 1f,
                        null, null)));
            }
            for (int i = 0; i < leaves; i++) {
                String leaf = String.format("leaf-%06d", i);
                sendAsync(at("hub-space", "a" + i, hubTs, Associate.newBuilder().setFromId("hub").setToId(leaf)
                        .setWeight(special.contains(leaf) ? 0.9f : 0.5f).setBidirectional(false).build()));
            }
            awaitApplied("hub-space", job);
            measured.put("hub: 100,001 stores + 100,000 edges produced and applied (ms)",
                    (System.nanoTime() - t0) / 1_000_000);
            t0 = System.nanoTime();
            RecallResult hub = ask(cue("hub-space", "q-hub", 1, 0, 0, 0).setK(5).setSeedK(1).setMaxHops(1)
                    .setThreshold(0f).build(), job);
            measured.put("hub query answered (ms)", (System.nanoTime() - t0) / 1_000_000);
            assertThat(ids(hub)).containsExactly("hub", "leaf-050000", "leaf-070000", "leaf-090000", "leaf-000000");
            float hopDecay = EngramOptions.HOP_DECAY.defaultValue().floatValue();
            float strongEdge = (1f * 0.9f) * hopDecay; // the spreading kernel's contribution, in f32
            float weakEdge = (1f * 0.5f) * hopDecay;
            assertThat(hub.getHits().stream().map(RecallHit::getActivation).toList())
                    .containsExactly(1f, strongEdge, strongEdge, strongEdge, weakEdge);
            assertThat(hub.getHits().stream().map(RecallHit::getHops).toList()).containsExactly(0, 1, 1, 1, 1);

            // ---- a forget storm in that space (each forget touches its memory's chunks and its neighbours')
            t0 = System.nanoTime();
            for (int i = 0; i < 1_000; i++) {
                sendAsync(at("hub-space", "forget-" + i, System.currentTimeMillis(),
                        Forget.newBuilder().setMemoryId(String.format("leaf-%06d", i)).build()));
            }
            awaitApplied("hub-space", job);
            measured.put("1,000 forgets in the 100,001-memory space produced and applied (ms)",
                    (System.nanoTime() - t0) / 1_000_000);
            RecallResult afterStorm = ask(cue("hub-space", "q-hub-after", 1, 0, 0, 0).setK(5).setSeedK(1)
                    .setMaxHops(1).setThreshold(0f).build(), job);
            assertThat(ids(afterStorm)).containsExactly("hub", "leaf-050000", "leaf-070000", "leaf-090000",
                    "leaf-001000");

            // ---- afterwards: a probe answered in time, nothing dead-lettered but the markers, no restart
            t0 = System.nanoTime();
            RecallResult probe = ask(cue("strong", "q-probe-after", 1, 0, 0, 0).build(), job);
            long probeMs = (System.nanoTime() - t0) / 1_000_000;
            measured.put("probe after everything answered (ms)", probeMs);
            assertThat(ids(probe)).containsExactly("m-huge", "m-normal", "m-denormal-strength");
            assertThat(probeMs).isLessThan(30_000);
            hostileDl.drainCommitted();
            hostileResults.drainCommitted();
            assertThat(hostileDl.records.stream().map(r -> AvroCodec.decodeDeadLetter(r.value())).map(d ->
                    d.getSourceTopic() + "/" + d.getSourcePartition() + "/" + d.getSourceOffset() + " " + d.getReason())
                    .collect(Collectors.toSet())).as("dead letters: the markers only")
                    .isEqualTo(markers.stream().map(m -> m + " UNKNOWN_MEMORY").collect(Collectors.toSet()));
            Map<String, Long> answers = hostileResults.records.stream().map(r -> AvroCodec.decodeRecallResult(
                    r.value()).getQueryId()).collect(Collectors.groupingBy(x -> x, Collectors.counting()));
            assertThat(answers).as("one answer per query").isEqualTo(asked.entrySet().stream().collect(
                    Collectors.toMap(Map.Entry::getKey, e -> (long) e.getValue())));
            assertThat(job.getJobStatus().get(30, TimeUnit.SECONDS)).isEqualTo(JobStatus.RUNNING);
            LOG.info("hostile load: {}", measured);
            System.out.println("hostile load: " + measured);
        } finally {
            Rel.cancel(job);
        }
    }

    /** Sends the records in order, each acknowledged before the next, each with its own producer settings. */
    private static void produce(List<In> batch, Map<String, In> bySource, List<String> goodSources)
            throws Exception {
        Map<Map<String, String>, KafkaProducer<byte[], byte[]>> producers = new HashMap<>();
        try {
            for (In in : batch) {
                KafkaProducer<byte[], byte[]> p = producers.computeIfAbsent(in.producer(),
                        settings -> Rel.producer(KAFKA.broker().bootstrapServers(), settings));
                RecordMetadata md = p.send(new ProducerRecord<>(in.topic(), in.key(), in.value()))
                        .get(60, TimeUnit.SECONDS);
                String at = md.topic() + "/" + md.partition() + "/" + md.offset();
                if (in.reason() != null) {
                    bySource.put(at, in);
                } else {
                    goodSources.add(at);
                }
            }
        } finally {
            producers.values().forEach(KafkaProducer::close);
        }
    }

    static byte[] bytes(java.nio.ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    static String sha256(byte[] b) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(b));
    }

    private static List<String> hitsSansLatency(RecallResult r) {
        return r.getHits().stream().map(h -> h.getMemoryId() + ":" + h.getScore() + ":" + h.getSimilarity() + ":"
                + h.getActivation() + ":" + h.getRetention() + ":" + h.getHops()).collect(Collectors.toList());
    }

    private static boolean statusIs(JobClient job, JobStatus s) {
        try {
            return job.getJobStatus().get(30, TimeUnit.SECONDS) == s;
        } catch (Exception e) {
            return false;
        }
    }
}
