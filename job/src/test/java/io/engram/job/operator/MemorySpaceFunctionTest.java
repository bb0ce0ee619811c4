package io.engram.job.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.job.recall.Hit;
import io.engram.job.recall.RecallEngine;
import io.engram.job.recall.RecallParams;
import io.engram.job.space.MemorySpace;
import io.engram.job.state.FlinkSpaceStore;
import io.engram.job.state.SpaceState;
import io.engram.job.state.SpaceStateSerializer;
import io.engram.kernels.ArenaOverflowException;
import io.engram.kernels.JavaKernels;
import io.engram.kernels.KernelCall;
import io.engram.kernels.KernelDecorator;
import io.engram.kernels.KernelMode;
import io.engram.kernels.Kernels;
import io.engram.kernels.MemoryKernels;
import io.engram.kernels.NativeLoadException;
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
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.checkpoint.CheckpointOptions;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.KeyedStateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.memory.MemCheckpointStreamFactory;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OperatorSnapshotFinalizer;
import org.apache.flink.streaming.api.operators.OperatorSnapshotFutures;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link MemorySpaceFunction} in Flink's keyed-broadcast operator harness (heap state backend, event-time timers,
 * side outputs, snapshot/restore), fed with real Avro single-object-encoded records as they come off Kafka.
 */
class MemorySpaceFunctionTest {
    static final String SPACE = "space-a";
    static final String OTHER = "space-b";
    static final String EVENTS = "engram.memory-events";
    static final String QUERIES = "engram.recall-queries";
    static final String CONTROL = "engram.control";
    /** Event time of the tests: a fixed instant well in the past (2023-11-14). */
    static final long T0 = 1_700_000_000_000L;
    static final long MINUTE = 60_000L;

    private long offset = 1000;
    private final List<KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord>> open =
            new ArrayList<>();

    @AfterEach
    void closeHarnesses() throws Exception {
        for (var h : open) {
            h.close();
        }
    }

    // ----- settings and harness --------------------------------------------------------------------------------

    static Configuration conf() {
        Configuration c = new Configuration();
        c.set(EngramOptions.KERNEL_MODE, "java");
        c.set(EngramOptions.ARENA_BUDGET_CHECK, false);
        return c;
    }

    static EngramSettings settings(Consumer<Configuration> tweak) {
        Configuration c = conf();
        tweak.accept(c);
        return new EngramSettings(c);
    }

    /** An opened harness around {@code fn}. */
    KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> harness(MemorySpaceFunction fn)
            throws Exception {
        var h = ProcessFunctionTestHarnesses.forKeyedBroadcastProcessFunction(fn, RawRecord::getSpace, Types.STRING,
                KernelRouter.CONTROL);
        open.add(h);
        return h;
    }

    /** A harness that is not yet initialized, for restoring a snapshot into. */
    KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> unopenedHarness(
            MemorySpaceFunction fn) throws Exception {
        var h = new KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord>(
                new CoBroadcastWithKeyedOperator<>(fn, List.of(KernelRouter.CONTROL)), RawRecord::getSpace,
                Types.STRING, 1, 1, 0);
        open.add(h);
        return h;
    }

    // ----- records ---------------------------------------------------------------------------------------------

    static List<Float> floats(float... v) {
        List<Float> l = new ArrayList<>(v.length);
        for (float x : v) {
            l.add(x);
        }
        return l;
    }

    static StoreMemory store(String memoryId, float... embedding) {
        return StoreMemory.newBuilder().setMemoryId(memoryId).setEmbedding(floats(embedding)).setStrength(1f)
                .setStabilityS(null).setContent(null).build();
    }

    static StoreMemory mem(String memoryId, float strength, Float stability, float... embedding) {
        return StoreMemory.newBuilder().setMemoryId(memoryId).setEmbedding(floats(embedding)).setStrength(strength)
                .setStabilityS(stability).setContent(null).build();
    }

    static ReinforceMemory reinforce(String memoryId) {
        return ReinforceMemory.newBuilder().setMemoryId(memoryId).build();
    }

    static Associate associate(String from, String to, float weight, boolean bidirectional) {
        return Associate.newBuilder().setFromId(from).setToId(to).setWeight(weight).setBidirectional(bidirectional)
                .build();
    }

    static Forget forget(String memoryId) {
        return Forget.newBuilder().setMemoryId(memoryId).build();
    }

    static MemoryEvent event(String space, String eventId, long ts, Object payload) {
        return MemoryEvent.newBuilder().setSpace(space).setEventId(eventId).setTimestampMs(ts).setPayload(payload)
                .build();
    }

    static RecallQuery.Builder query(String space, String queryId, long ts, float... cue) {
        return RecallQuery.newBuilder().setQueryId(queryId).setSpace(space).setTimestampMs(ts).setCue(floats(cue))
                .setK(10).setMaxHops(null).setHopDecay(null).setThreshold(null).setSeedK(null);
    }

    static KernelControl.Builder control(String mode) {
        return KernelControl.newBuilder().setMode(mode).setReason("test switch").setIssuedBy("MemorySpaceFunctionTest")
                .setTimestampMs(T0).setSpaces(List.of()).setFraction(null);
    }

    RawRecord raw(RawRecord.Kind kind, String topic, String key, byte[] value, long ts) {
        return new RawRecord(kind, topic, (int) (offset % 3), offset++, ts,
                key == null ? null : key.getBytes(StandardCharsets.UTF_8), value);
    }

    RawRecord eventRecord(MemoryEvent e) {
        return raw(RawRecord.Kind.MEMORY_EVENT, EVENTS, e.getSpace(), AvroCodec.encode(e), e.getTimestampMs());
    }

    RawRecord queryRecord(RecallQuery q) {
        return raw(RawRecord.Kind.RECALL_QUERY, QUERIES, q.getSpace(), AvroCodec.encode(q), q.getTimestampMs());
    }

    /** A control record as the control source delivers it: stamped with the time it was read. */
    RawRecord controlRecord(byte[] value) {
        return raw(RawRecord.Kind.CONTROL, CONTROL, null, value, System.currentTimeMillis());
    }

    /** Sends a memory event; the event id is derived from a counter unless given. */
    void send(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h, String space,
              String eventId, long ts, Object payload) throws Exception {
        RawRecord r = eventRecord(event(space, eventId, ts, payload));
        h.processElement(r, r.timestampMs);
    }

    int eventCounter;

    void send(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h, long ts, Object payload)
            throws Exception {
        send(h, SPACE, "ev-" + (eventCounter++), ts, payload);
    }

    RecallResult ask(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h, RecallQuery q)
            throws Exception {
        RawRecord r = queryRecord(q);
        h.processElement(r, r.timestampMs);
        List<OutRecord> out = drainResults(h);
        if (out.isEmpty()) {
            // With batching on (the default), a lone query is answered when its batch's max-delay is up.
            h.setProcessingTime(h.getProcessingTime() + EngramOptions.BATCH_MAX_DELAY.defaultValue().toMillis());
            out = drainResults(h);
        }
        assertThat(out).as("one answer to query %s", q.getQueryId()).hasSize(1);
        assertThat(out.get(0).key).as("answer keyed by the query's key").isEqualTo(r.key);
        return AvroCodec.decodeRecallResult(out.get(0).value);
    }

    // ----- outputs and state -----------------------------------------------------------------------------------

    @SuppressWarnings("unchecked")
    static List<OutRecord> drainResults(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h) {
        List<OutRecord> out = new ArrayList<>();
        Object o;
        while ((o = h.getOutput().poll()) != null) {
            if (o instanceof StreamRecord<?> sr) {
                out.add(((StreamRecord<OutRecord>) sr).getValue());
            }
        }
        return out;
    }

    static List<OutRecord> drainDeadLetterRecords(
            KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h) {
        List<OutRecord> out = new ArrayList<>();
        var queue = h.getSideOutput(MemorySpaceFunction.DEAD_LETTERS);
        if (queue != null) {
            StreamRecord<OutRecord> r;
            while ((r = queue.poll()) != null) {
                out.add(r.getValue());
            }
        }
        return out;
    }

    static List<DeadLetter> drainDeadLetters(
            KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h) {
        return drainDeadLetterRecords(h).stream().map(o -> AvroCodec.decodeDeadLetter(o.value))
                .collect(Collectors.toList());
    }

    static AbstractStreamOperator<OutRecord> op(
            KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h) {
        return h.getOperator();
    }

    /** The space in dense form (live memories in slot order), read from the harness's keyed state; null if none. */
    static SpaceState spaceState(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                                 String space) throws Exception {
        return store(h, space).denseView();
    }

    /** A store over the harness's keyed state, bound to {@code space} (no cache: every read sees the state). */
    static FlinkSpaceStore store(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                                 String space) {
        op(h).setCurrentKey(space);
        return new FlinkSpaceStore(FlinkSpaceStore.States.of(op(h).getKeyedStateStore()), 0, 64).bind(space);
    }

    static Map<String, Long> dedup(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                                   String space) throws Exception {
        op(h).setCurrentKey(space);
        MapState<String, Long> m = op(h).getKeyedStateStore().getMapState(MemorySpaceFunction.DEDUP);
        Map<String, Long> copy = new HashMap<>();
        for (Map.Entry<String, Long> e : m.entries()) {
            copy.put(e.getKey(), e.getValue());
        }
        return copy;
    }

    static Long nextSweep(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                          String space) throws Exception {
        op(h).setCurrentKey(space);
        return op(h).getKeyedStateStore().getState(MemorySpaceFunction.NEXT_SWEEP).value();
    }

    /** The keys that hold any entry in any of the operator's keyed states. */
    static Set<String> keysWithState(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h) {
        KeyedStateBackend<String> backend = op(h).getKeyedStateBackend();
        Set<String> keys = new java.util.TreeSet<>();
        for (String state : List.of(FlinkSpaceStore.INDEX.getName(), FlinkSpaceStore.SLOTS.getName(),
                FlinkSpaceStore.ROWS.getName(), FlinkSpaceStore.VECTORS.getName(), FlinkSpaceStore.EDGES.getName(),
                FlinkSpaceStore.CONTENT.getName(), FlinkSpaceStore.LEGACY_NAME, MemorySpaceFunction.DEDUP.getName(),
                MemorySpaceFunction.NEXT_SWEEP.getName(), MemorySpaceFunction.PENDING.getName(),
                WriteWaits.WAITING.getName(), WriteWaits.POSITIONS.getName(), EventTimeOrder.HELD.getName(),
                EventTimeOrder.RELEASED.getName(), EventTimeOrder.HELD_COUNT.getName(),
                EventTimeOrder.IDLE_CHECK.getName())) {
            try (var stream = backend.getKeys(state, VoidNamespace.INSTANCE)) {
                stream.forEach(k -> keys.add(state + ":" + k));
            }
        }
        return keys;
    }

    /**
     * The keyed-state keys "state:space" a chunked space holds: index, slots, rows, vectors (and edges), and the
     * positions of its processed events (read-your-writes).
     */
    static List<String> spaceKeys(String space, boolean edges) {
        List<String> l = new ArrayList<>();
        for (String st : List.of("space-index", "space-slots", "space-rows", "space-vectors",
                "processed-positions")) {
            l.add(st + ":" + space);
        }
        if (edges) {
            l.add("space-edges:" + space);
        }
        return l;
    }

    static List<String> with(List<String> l, String... more) {
        List<String> out = new ArrayList<>(l);
        out.addAll(List.of(more));
        return out;
    }

    static float[] embedding(SpaceState s, String id) {
        int r = s.rowOf(id);
        assertThat(r).as("memory %s is in the space", id).isGreaterThanOrEqualTo(0);
        return Arrays.copyOfRange(s.embeddings(), r * s.dim(), (r + 1) * s.dim());
    }

    /** Edges as "from->to:weight", sorted. */
    static List<String> edges(SpaceState s) {
        List<String> l = new ArrayList<>();
        for (int e = 0; e < s.edgeCount(); e++) {
            l.add(s.id(s.edgeFrom(e)) + "->" + s.id(s.edgeTo(e)) + ":" + s.edgeWeight(e));
        }
        l.sort(null);
        return l;
    }

    static List<String> ids(SpaceState s) {
        List<String> l = new ArrayList<>();
        for (int r = 0; r < s.size(); r++) {
            l.add(s.id(r));
        }
        l.sort(null);
        return l;
    }

    // ----- metrics (private to the function; read reflectively) -----------------------------------------------

    static Object field(Object o, String name) throws Exception {
        for (Class<?> c = o.getClass(); c != null; c = c.getSuperclass()) {
            try {
                Field f = c.getDeclaredField(name);
                f.setAccessible(true);
                return f.get(o);
            } catch (NoSuchFieldException e) {
                // look further up
            }
        }
        throw new NoSuchFieldException(name + " in " + o.getClass());
    }

    static void setField(Object o, String name, Object value) throws Exception {
        Field f = o.getClass().getDeclaredField(name);
        f.setAccessible(true);
        f.set(o, value);
    }

    static EngramMetrics metrics(MemorySpaceFunction fn) throws Exception {
        return (EngramMetrics) field(fn, "metrics");
    }

    static long counter(MemorySpaceFunction fn, String name) throws Exception {
        return ((Counter) field(metrics(fn), name)).getCount();
    }

    @SuppressWarnings("unchecked")
    static long deadLetterCount(MemorySpaceFunction fn, Reason reason) throws Exception {
        return ((Map<Reason, Counter>) field(metrics(fn), "deadLetters")).get(reason).getCount();
    }

    static byte[] bytes(ByteBuffer b) {
        if (b == null) {
            return null;
        }
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    // =============================================================================================================
    // memory events
    // =============================================================================================================

    @Test
    void everyEventTypeIsAppliedToTheSpace() throws Exception {
        EngramSettings settings = settings(c -> { });
        MemorySpaceFunction fn = new MemorySpaceFunction(settings);
        var h = harness(fn);

        send(h, T0, mem("a", 1f, 100f, 1, 0, 0));
        send(h, T0 + 1, mem("b", 0.5f, null, 0, 1, 0)); // default stability
        send(h, T0 + 2, mem("c", 2f, 50f, 0, 0, 1));
        SpaceState s = spaceState(h, SPACE);
        assertThat(ids(s)).containsExactly("a", "b", "c");
        assertThat(s.dim()).isEqualTo(3);
        assertThat(embedding(s, "b")).containsExactly(0f, 1f, 0f);
        assertThat(s.strength()[s.rowOf("b")]).isEqualTo(0.5f);
        assertThat(s.stability()[s.rowOf("b")]).as("engram.memory.default-stability, 1 day")
                .isEqualTo(settings.defaultStabilitySeconds).isEqualTo(86_400f);
        assertThat(s.stability()[s.rowOf("a")]).isEqualTo(100f);
        assertThat(s.lastAccess()[s.rowOf("c")]).isEqualTo(T0 + 2);

        send(h, T0 + 1_000, reinforce("a"));
        s = spaceState(h, SPACE);
        assertThat(s.stability()[s.rowOf("a")]).as("x engram.memory.reinforce-factor 2").isEqualTo(200f);
        assertThat(s.lastAccess()[s.rowOf("a")]).isEqualTo(T0 + 1_000);
        send(h, T0 + 500, reinforce("a")); // late: stability grows, last access stays
        s = spaceState(h, SPACE);
        assertThat(s.stability()[s.rowOf("a")]).isEqualTo(400f);
        assertThat(s.lastAccess()[s.rowOf("a")]).isEqualTo(T0 + 1_000);

        send(h, T0 + 2_000, associate("a", "b", 0.5f, false));
        send(h, T0 + 2_001, associate("b", "c", 0.25f, true));
        s = spaceState(h, SPACE);
        assertThat(edges(s)).containsExactly("a->b:0.5", "b->c:0.25", "c->b:0.25");
        send(h, T0 + 2_002, associate("a", "b", 0.75f, false)); // replace the weight
        send(h, T0 + 2_003, associate("c", "b", 1f, false)); // replace one direction only
        s = spaceState(h, SPACE);
        assertThat(edges(s)).containsExactly("a->b:0.75", "b->c:0.25", "c->b:1.0");

        send(h, T0 + 3_000, mem("a", 3f, 10f, 0.5f, 0.5f, 0)); // replace a memory: edges stay
        s = spaceState(h, SPACE);
        assertThat(ids(s)).containsExactly("a", "b", "c");
        assertThat(embedding(s, "a")).containsExactly(0.5f, 0.5f, 0f);
        assertThat(s.strength()[s.rowOf("a")]).isEqualTo(3f);
        assertThat(s.stability()[s.rowOf("a")]).isEqualTo(10f);
        assertThat(edges(s)).hasSize(3);

        send(h, T0 + 4_000, forget("b"));
        s = spaceState(h, SPACE);
        assertThat(ids(s)).containsExactly("a", "c");
        assertThat(edges(s)).as("every edge touching b is gone").isEmpty();
        assertThat(embedding(s, "c")).containsExactly(0f, 0f, 1f);

        send(h, T0 + 5_000, associate("c", "a", 0.1f, true));
        assertThat(edges(spaceState(h, SPACE))).containsExactly("a->c:0.1", "c->a:0.1");

        assertThat(drainDeadLetters(h)).isEmpty();
        assertThat(drainResults(h)).as("events produce no output").isEmpty();
        assertThat(metrics(fn).memories()).isEqualTo(2);
        assertThat(metrics(fn).edges()).isEqualTo(2);
        assertThat(dedup(h, SPACE)).hasSize(eventCounter);
    }

    @Test
    void spacesAreIsolated() throws Exception {
        var h = harness(new MemorySpaceFunction(settings(c -> { })));
        send(h, SPACE, "e1", T0, store("x", 1, 0));
        send(h, OTHER, "e1", T0, store("y", 1, 0, 0)); // same event id, other space: applied
        send(h, OTHER, "e2", T0, store("x", 0, 0, 1)); // same memory id, other space, other dim
        assertThat(ids(spaceState(h, SPACE))).containsExactly("x");
        assertThat(ids(spaceState(h, OTHER))).containsExactly("x", "y");
        assertThat(spaceState(h, OTHER).dim()).isEqualTo(3);
        RecallResult r = ask(h, query(SPACE, "q", T0, 1, 0).build());
        assertThat(r.getHits()).extracting(RecallHit::getMemoryId).containsExactly("x");
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    @Test
    void duplicateEventIdIsAppliedOnceAndCounted() throws Exception {
        MemorySpaceFunction fn = new MemorySpaceFunction(settings(c -> { }));
        var h = harness(fn);
        send(h, SPACE, "store-1", T0, mem("a", 1f, 100f, 1, 0));
        send(h, SPACE, "reinforce-1", T0 + 10, reinforce("a"));
        SpaceState before = SpaceStateSerializer.INSTANCE.copy(spaceState(h, SPACE));
        assertThat(before.stability()[0]).isEqualTo(200f);

        send(h, SPACE, "reinforce-1", T0 + 20, reinforce("a")); // a replay
        send(h, SPACE, "store-1", T0 + 30, mem("a", 9f, 9f, 0, 1)); // same id, other content: still a replay
        send(h, SPACE, "reinforce-1", T0 + 40, forget("a"));
        assertThat(spaceState(h, SPACE).sameContentAs(before)).isTrue();
        assertThat(counter(fn, "duplicates")).isEqualTo(3);
        assertThat(dedup(h, SPACE)).containsOnly(Map.entry("store-1", T0), Map.entry("reinforce-1", T0 + 10));

        send(h, SPACE, "reinforce-2", T0 + 50, reinforce("a"));
        assertThat(spaceState(h, SPACE).stability()[0]).isEqualTo(400f);
        assertThat(counter(fn, "duplicates")).isEqualTo(3);
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    @Test
    void aRejectedEventIsNotRememberedAsApplied() throws Exception {
        var h = harness(new MemorySpaceFunction(settings(c -> { })));
        send(h, SPACE, "e1", T0, reinforce("later")); // UNKNOWN_MEMORY
        assertThat(drainDeadLetters(h)).extracting(DeadLetter::getReason).containsExactly("UNKNOWN_MEMORY");
        send(h, SPACE, "e0", T0, mem("later", 1f, 10f, 1, 0));
        send(h, SPACE, "e1", T0 + 1, reinforce("later")); // the same id, now valid: applied
        assertThat(spaceState(h, SPACE).stability()[0]).isEqualTo(20f);
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    // =============================================================================================================
    // recall
    // =============================================================================================================

    @Test
    void recallAnswersWithSimilarAndAssociatedMemories() throws Exception {
        var h = harness(new MemorySpaceFunction(settings(c -> { })));
        send(h, T0, mem("cat", 1f, 1000f, 1, 0, 0));
        send(h, T0, mem("kitten", 0.5f, 1000f, 0.8f, 0.6f, 0));
        send(h, T0, mem("bone", 2f, 1000f, 0, 0, 1)); // orthogonal to the cue
        send(h, T0, mem("car", 1f, 1000f, -1, 0, 0)); // opposite
        send(h, T0, mem("island", 1f, 1000f, 0, 1, 0)); // orthogonal, unlinked
        send(h, T0, associate("kitten", "bone", 0.5f, false));
        long at = T0 + 100_000;
        RecallQuery q = query(SPACE, "q-1", at, 1, 0, 0).setK(10).setMaxHops(2).setHopDecay(0.8f).setThreshold(0f)
                .setSeedK(16).build();
        RecallResult r = ask(h, q);

        assertThat(r.getQueryId()).isEqualTo("q-1");
        assertThat(r.getSpace()).isEqualTo(SPACE);
        assertThat(r.getTimestampMs()).isEqualTo(at);
        assertThat(r.getKernelMode()).isEqualTo("java");
        assertThat(r.getLatencyUs()).isGreaterThanOrEqualTo(0L);
        double retention = Math.exp(-100.0 / 1000.0);
        List<RecallHit> hits = r.getHits();
        assertThat(hits).extracting(RecallHit::getMemoryId).containsExactly("cat", "bone", "kitten");

        RecallHit cat = hits.get(0);
        assertThat(cat.getHops()).isZero();
        assertThat(cat.getSimilarity()).isEqualTo(1f);
        assertThat(cat.getActivation()).isEqualTo(1f);
        assertThat((double) cat.getRetention()).isCloseTo(retention, within(1e-6));
        assertThat((double) cat.getScore()).isCloseTo(retention, within(1e-6));

        RecallHit bone = hits.get(1);
        assertThat(bone.getHops()).as("reached only through kitten -> bone").isEqualTo(1);
        assertThat(bone.getSimilarity()).isZero();
        assertThat((double) bone.getActivation()).isCloseTo(0.8 * 0.5 * 0.8, within(1e-6));
        assertThat((double) bone.getScore()).isCloseTo(0.32 * retention * 2, within(1e-6));

        RecallHit kitten = hits.get(2);
        assertThat(kitten.getHops()).isZero();
        assertThat((double) kitten.getSimilarity()).isCloseTo(0.8, within(1e-6));
        assertThat((double) kitten.getScore()).isCloseTo(0.8 * retention * 0.5, within(1e-6));

        // k cuts the ranking; max_hops 0 switches spreading off
        RecallResult top1 = ask(h, query(SPACE, "q-2", at, 1, 0, 0).setK(1).build());
        assertThat(top1.getHits()).extracting(RecallHit::getMemoryId).containsExactly("cat");
        RecallResult noHops = ask(h, query(SPACE, "q-3", at, 1, 0, 0).setMaxHops(0).build());
        assertThat(noHops.getHits()).extracting(RecallHit::getMemoryId).containsExactly("cat", "kitten");

        // the operator's answer is exactly the engine's on the stored state with the configured defaults
        EngramSettings d = settings(c -> { });
        MemorySpace s = new MemorySpace(store(h, SPACE), d.spaceRules());
        List<Hit> expected = new RecallEngine().recall(s, new float[] {0.6f, 0.8f, 0f}, at,
                new RecallParams(10, d.maxHops, d.hopDecay, d.threshold, d.seedK), new JavaKernels());
        RecallResult defaults = ask(h, query(SPACE, "q-4", at, 0.6f, 0.8f, 0f).build());
        assertThat(defaults.getHits()).extracting(RecallHit::getMemoryId)
                .containsExactlyElementsOf(expected.stream().map(Hit::memoryId).toList());
        assertThat(defaults.getHits()).extracting(RecallHit::getScore)
                .containsExactlyElementsOf(expected.stream().map(Hit::score).toList());
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    @Test
    void queryOfAnEmptyOrUnknownSpaceHasNoHits() throws Exception {
        var h = harness(new MemorySpaceFunction(settings(c -> { })));
        RecallResult r = ask(h, query(SPACE, "q-empty", T0, 1, 2, 3, 4, 5).build());
        assertThat(r.getHits()).isEmpty();
        assertThat(r.getKernelMode()).isEqualTo("java");
        send(h, T0, store("gone", 1, 0));
        send(h, T0, forget("gone"));
        assertThat(ask(h, query(SPACE, "q-forgotten", T0, 1, 0).build()).getHits()).isEmpty();
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    @Test
    void aQueryNeverMutatesState() throws Exception {
        var h = harness(new MemorySpaceFunction(settings(c -> { })));
        send(h, T0, mem("a", 1f, 10f, 1, 0));
        send(h, T0, mem("b", 1f, 10f, 0.7f, 0.7f));
        send(h, T0, mem("c", 1f, 10f, 0, 1));
        send(h, T0, associate("a", "c", 0.9f, true));
        SpaceState before = SpaceStateSerializer.INSTANCE.copy(spaceState(h, SPACE));
        Map<String, Long> dedupBefore = dedup(h, SPACE);
        Long sweepBefore = nextSweep(h, SPACE);
        int timersBefore = h.numEventTimeTimers();
        for (int i = 0; i < 5; i++) {
            ask(h, query(SPACE, "q" + i, T0 + i * 3_600_000L, 1, i).setMaxHops(3).setThreshold(0f).build());
        }
        ask(h, query(OTHER, "q-other", T0, 1, 0).build());
        assertThat(spaceState(h, SPACE).sameContentAs(before)).isTrue();
        assertThat(dedup(h, SPACE)).isEqualTo(dedupBefore);
        assertThat(nextSweep(h, SPACE)).isEqualTo(sweepBefore);
        assertThat(h.numEventTimeTimers()).isEqualTo(timersBefore);
        assertThat(keysWithState(h)).as("a query to an unknown space creates no state")
                .noneMatch(k -> k.endsWith(":" + OTHER));
    }

    // =============================================================================================================
    // decay sweep and dedup expiry
    // =============================================================================================================

    static long firstSweep(long eventTime, long interval) {
        return Math.floorDiv(eventTime, interval) * interval + interval;
    }

    @Test
    void decaySweepForgetsFadedMemoriesWithTheirEdgesAndReschedules() throws Exception {
        MemorySpaceFunction fn = new MemorySpaceFunction(settings(c -> {
            c.set(EngramOptions.SWEEP_INTERVAL, java.time.Duration.ofMinutes(1));
            c.set(EngramOptions.FORGET_THRESHOLD, 0.5);
        }));
        var h = harness(fn);
        send(h, T0, mem("fresh", 1f, 1e6f, 1, 0));
        send(h, T0, mem("faded", 1f, 10f, 0, 1));
        send(h, T0, mem("fresh-too", 1f, 1e6f, 1, 1));
        send(h, T0, mem("faded-too", 1f, 5f, -1, 1));
        send(h, T0, associate("fresh", "faded", 0.5f, true));
        send(h, T0, associate("faded-too", "fresh-too", 0.5f, false));
        send(h, T0, associate("fresh", "fresh-too", 0.7f, false));
        long s1 = firstSweep(T0, MINUTE);
        assertThat(nextSweep(h, SPACE)).isEqualTo(s1);
        assertThat(h.numEventTimeTimers()).as("one sweep per space, registered once").isEqualTo(1);

        h.watermark(s1 - 1);
        assertThat(ids(spaceState(h, SPACE))).hasSize(4);

        h.watermark(s1); // (s1 - T0) = 40 s: faded e^-4, faded-too e^-8 < 0.5; fresh ~ 1
        SpaceState s = spaceState(h, SPACE);
        assertThat(ids(s)).containsExactly("fresh", "fresh-too");
        assertThat(edges(s)).containsExactly("fresh->fresh-too:0.7");
        assertThat(embedding(s, "fresh-too")).containsExactly(1f, 1f);
        assertThat(nextSweep(h, SPACE)).as("the next sweep is registered").isEqualTo(s1 + MINUTE);
        assertThat(h.numEventTimeTimers()).isEqualTo(1);
        assertThat(counter(fn, "decayForgotten")).isEqualTo(2);
        assertThat(metrics(fn).memories()).isEqualTo(2);
        assertThat(metrics(fn).edges()).isEqualTo(1);

        // a recall after the sweep does not see them either
        RecallResult r = ask(h, query(SPACE, "q", s1, 1, 0.5f).setThreshold(0f).build());
        assertThat(r.getHits()).extracting(RecallHit::getMemoryId).containsExactly("fresh-too", "fresh");

        h.watermark(s1 + 3 * MINUTE); // more sweeps: nothing left to forget
        assertThat(ids(spaceState(h, SPACE))).containsExactly("fresh", "fresh-too");
        assertThat(nextSweep(h, SPACE)).isEqualTo(s1 + 4 * MINUTE);
        assertThat(counter(fn, "decayForgotten")).isEqualTo(2);
        assertThat(drainResults(h)).isEmpty();
    }

    @Test
    void aReinforcedMemorySurvivesTheSweepThatForgetsAnUnreinforcedTwin() throws Exception {
        var h = harness(new MemorySpaceFunction(settings(c -> c.set(EngramOptions.FORGET_THRESHOLD, 0.3))));
        send(h, T0, mem("plain", 1f, 30f, 1, 0));
        send(h, T0, mem("rehearsed", 1f, 30f, 1, 0));
        send(h, T0 + 30_000, reinforce("rehearsed"));
        // at s1 = T0 + 40 s: plain e^(-40/30) = 0.26 < 0.3; rehearsed e^(-10/60) = 0.85
        h.watermark(firstSweep(T0, MINUTE));
        assertThat(ids(spaceState(h, SPACE))).containsExactly("rehearsed");
    }

    @Test
    void sweepWaitsForTheWatermarkOfBothInputs() throws Exception {
        // The operator has two inputs; event time is the minimum of both. The control (broadcast) input must carry
        // watermarks too (or be idle), else no sweep ever fires. This pins that down for the job's wiring.
        var h = harness(new MemorySpaceFunction(settings(c -> c.set(EngramOptions.FORGET_THRESHOLD, 0.5))));
        send(h, T0, mem("faded", 1f, 1f, 1, 0));
        h.processWatermark(T0 + 60 * MINUTE); // keyed input only
        assertThat(ids(spaceState(h, SPACE))).as("no sweep while the broadcast input holds event time back")
                .containsExactly("faded");
        h.processBroadcastWatermark(T0 + 60 * MINUTE);
        assertThat(spaceState(h, SPACE)).satisfiesAnyOf(
                s -> assertThat(s).isNull(), s -> assertThat(s.size()).isZero());
    }

    @Test
    void dedupEntriesExpireAfterTheWindow() throws Exception {
        MemorySpaceFunction fn = new MemorySpaceFunction(settings(c -> {
            c.set(EngramOptions.DEDUP_WINDOW, java.time.Duration.ofMinutes(5));
            c.set(EngramOptions.SWEEP_INTERVAL, java.time.Duration.ofMinutes(1));
        }));
        var h = harness(fn);
        send(h, SPACE, "store", T0, mem("m", 1f, 1e6f, 1, 0));
        send(h, SPACE, "again", T0, reinforce("m"));
        send(h, SPACE, "late", T0 + 2 * MINUTE, reinforce("m"));
        assertThat(spaceState(h, SPACE).stability()[0]).isEqualTo(4e6f);
        long s1 = firstSweep(T0, MINUTE); // T0 + 40 s

        h.watermark(s1 + 4 * MINUTE); // sweep at T0 + 4:40: horizon T0 - 0:20, nothing expires
        assertThat(dedup(h, SPACE)).containsOnlyKeys("store", "again", "late");
        send(h, SPACE, "again", T0 + 5 * MINUTE, reinforce("m"));
        assertThat(spaceState(h, SPACE).stability()[0]).as("still a duplicate").isEqualTo(4e6f);
        assertThat(counter(fn, "duplicates")).isEqualTo(1);

        h.watermark(s1 + 5 * MINUTE); // sweep at T0 + 5:40: horizon T0 + 0:40, the T0 entries expire
        assertThat(dedup(h, SPACE)).containsOnlyKeys("late");
        send(h, SPACE, "again", T0 + 6 * MINUTE, reinforce("m"));
        assertThat(spaceState(h, SPACE).stability()[0]).as("applied again after the window").isEqualTo(8e6f);
        assertThat(counter(fn, "duplicates")).isEqualTo(1);
        assertThat(dedup(h, SPACE)).containsOnly(Map.entry("late", T0 + 2 * MINUTE),
                Map.entry("again", T0 + 6 * MINUTE));

        h.watermark(s1 + 7 * MINUTE); // horizon T0 + 2:40 > "late"
        assertThat(dedup(h, SPACE)).containsOnlyKeys("again");
    }

    @Test
    void aSpaceThatDecayedToNothingLeavesNoKeyedStateBehind() throws Exception {
        var h = harness(new MemorySpaceFunction(settings(c -> {
            c.set(EngramOptions.DEDUP_WINDOW, java.time.Duration.ofMinutes(2));
            c.set(EngramOptions.FORGET_THRESHOLD, 0.5);
        })));
        send(h, SPACE, "e1", T0, mem("brief", 1f, 1f, 1, 0));
        send(h, SPACE, "e2", T0, mem("brief-too", 1f, 2f, 0, 1));
        send(h, SPACE, "e3", T0, associate("brief", "brief-too", 1f, true));
        send(h, OTHER, "e1", T0, mem("lasting", 1f, 1e7f, 1, 0));
        List<String> keys = new ArrayList<>(spaceKeys(SPACE, true));
        keys.addAll(List.of("dedup:" + SPACE, "next-sweep:" + SPACE, "dedup:" + OTHER, "next-sweep:" + OTHER));
        keys.addAll(spaceKeys(OTHER, false));
        assertThat(keysWithState(h)).containsExactlyInAnyOrderElementsOf(keys);

        long s1 = firstSweep(T0, MINUTE);
        h.watermark(s1); // memories gone, dedup entries still inside the window: the sweep goes on
        assertThat(spaceState(h, SPACE).size()).isZero();
        assertThat(nextSweep(h, SPACE)).isEqualTo(s1 + MINUTE);

        h.watermark(s1 + 3 * MINUTE); // dedup window over: nothing is left of the space
        assertThat(keysWithState(h)).as("keyed state left after the last sweep (the other space keeps its "
                        + "memory and sweep; its expired dedup entries leave no empty map behind either)")
                .containsExactlyInAnyOrderElementsOf(with(spaceKeys(OTHER, false), "next-sweep:" + OTHER));
        assertThat(spaceState(h, SPACE)).isNull();
        assertThat(nextSweep(h, SPACE)).isNull();
        assertThat(dedup(h, SPACE)).isEmpty();
        assertThat(h.numEventTimeTimers()).as("only the other space's sweep is pending").isEqualTo(1);

        // the space starts again from scratch, with any dimension
        send(h, SPACE, "e1", s1 + 4 * MINUTE, mem("new", 1f, 10f, 1, 2, 3));
        assertThat(ids(spaceState(h, SPACE))).containsExactly("new");
        assertThat(spaceState(h, SPACE).dim()).isEqualTo(3);
        assertThat(nextSweep(h, SPACE)).isEqualTo(firstSweep(s1 + 4 * MINUTE, MINUTE));
    }

    @Test
    void aForgottenSpaceAlsoLeavesNoKeyedStateBehind() throws Exception {
        var h = harness(new MemorySpaceFunction(settings(c ->
                c.set(EngramOptions.DEDUP_WINDOW, java.time.Duration.ofMinutes(1)))));
        send(h, T0, mem("x", 1f, 1e7f, 1, 0));
        send(h, T0, forget("x"));
        h.watermark(T0 + 10 * MINUTE);
        assertThat(keysWithState(h)).isEmpty();
        assertThat(h.numEventTimeTimers()).isZero();
    }

    // =============================================================================================================
    // dead letters
    // =============================================================================================================

    /** One bad input and the reason it must be dead-lettered with. */
    record Bad(Reason reason, String what, RawRecord record, boolean broadcast) {
    }

    private static MemoryEvent mutate(MemoryEvent e, Consumer<MemoryEvent> change) {
        MemoryEvent copy = MemoryEvent.newBuilder(e).build();
        change.accept(copy);
        return copy;
    }

    @Test
    void everyRejectionIsDeadLetteredWithItsReasonAndTheOriginalRecord() throws Exception {
        MemorySpaceFunction fn = new MemorySpaceFunction(settings(c -> {
            c.set(EngramOptions.MAX_DIM, 8);
            c.set(EngramOptions.MAX_CONTENT_LENGTH, 16);
            c.set(EngramOptions.MAX_K, 50);
            c.set(EngramOptions.MAX_QUERY_HOPS, 4);
            c.set(EngramOptions.MAX_HOPS, 2);
            c.set(EngramOptions.MAX_SEED_K, 20);
            c.set(EngramOptions.MAX_ID_LENGTH, 32);
            c.set(EngramOptions.MAX_MEMORIES_PER_SPACE, 3);
        }));
        var h = harness(fn);
        long now = System.currentTimeMillis();
        String space = SPACE;

        // the space: dimension 3, memories a and b (one free slot left)
        send(h, space, "setup-1", T0, store("a", 1, 0, 0));
        send(h, space, "setup-2", T0, store("b", 0, 1, 0));

        MemoryEvent good = event(space, "ok", T0, store("c", 0, 0, 1));
        RecallQuery goodQuery = query(space, "q", T0, 1, 0, 0).build();
        byte[] goodBytes = AvroCodec.encode(good);
        List<Bad> bad = new ArrayList<>();
        java.util.function.BiFunction<String, MemoryEvent, RawRecord> ev = (key, e) ->
                raw(RawRecord.Kind.MEMORY_EVENT, EVENTS, key, AvroCodec.encode(e), e.getTimestampMs());
        java.util.function.Function<RecallQuery, RawRecord> qr = this::queryRecord;
        java.util.function.Function<Consumer<RecallQuery.Builder>, RecallQuery> q = change -> {
            RecallQuery.Builder b = RecallQuery.newBuilder(goodQuery);
            change.accept(b);
            return b.build();
        };
        java.util.function.Function<Object, MemoryEvent> withPayload = p -> event(space, "bad", T0, p);

        // decoding
        bad.add(new Bad(Reason.EMPTY, "null value (tombstone)",
                raw(RawRecord.Kind.MEMORY_EVENT, EVENTS, space, null, T0), false));
        bad.add(new Bad(Reason.EMPTY, "zero bytes", raw(RawRecord.Kind.MEMORY_EVENT, EVENTS, space, new byte[0], T0),
                false));
        bad.add(new Bad(Reason.EMPTY, "empty query", raw(RawRecord.Kind.RECALL_QUERY, QUERIES, space, new byte[0], T0),
                false));
        bad.add(new Bad(Reason.BAD_HEADER, "text",
                raw(RawRecord.Kind.MEMORY_EVENT, EVENTS, space, "{\"json\":true}".getBytes(StandardCharsets.UTF_8),
                        T0), false));
        bad.add(new Bad(Reason.BAD_HEADER, "marker only",
                raw(RawRecord.Kind.RECALL_QUERY, QUERIES, space, new byte[] {(byte) 0xC3, 0x01, 0, 0}, T0), false));
        bad.add(new Bad(Reason.UNKNOWN_SCHEMA, "a query on the events topic",
                raw(RawRecord.Kind.MEMORY_EVENT, EVENTS, space, AvroCodec.encode(goodQuery), T0), false));
        bad.add(new Bad(Reason.UNKNOWN_SCHEMA, "an event on the queries topic",
                raw(RawRecord.Kind.RECALL_QUERY, QUERIES, space, goodBytes, T0), false));
        bad.add(new Bad(Reason.UNDECODABLE, "truncated",
                raw(RawRecord.Kind.MEMORY_EVENT, EVENTS, space, Arrays.copyOf(goodBytes, goodBytes.length - 5), T0),
                false));
        byte[] trailing = Arrays.copyOf(goodBytes, goodBytes.length + 3);
        bad.add(new Bad(Reason.UNDECODABLE, "trailing bytes",
                raw(RawRecord.Kind.MEMORY_EVENT, EVENTS, space, trailing, T0), false));
        // envelope
        bad.add(new Bad(Reason.BAD_SPACE, "upper case", ev.apply("Space-A", mutate(good, e -> e.setSpace("Space-A"))),
                false));
        bad.add(new Bad(Reason.BAD_SPACE, "too short", ev.apply("ab", mutate(good, e -> e.setSpace("ab"))), false));
        bad.add(new Bad(Reason.BAD_SPACE, "query space", qr.apply(q.apply(b -> b.setSpace("a b c"))), false));
        bad.add(new Bad(Reason.SPACE_MISMATCH, "key differs", ev.apply(space, mutate(good, e -> e.setSpace(OTHER))),
                false));
        bad.add(new Bad(Reason.SPACE_MISMATCH, "no key", ev.apply(null, good), false));
        bad.add(new Bad(Reason.BAD_ID, "empty event id", ev.apply(space, mutate(good, e -> e.setEventId(""))), false));
        bad.add(new Bad(Reason.BAD_ID, "long event id",
                ev.apply(space, mutate(good, e -> e.setEventId("e".repeat(33)))), false));
        bad.add(new Bad(Reason.BAD_ID, "empty memory id", ev.apply(space, withPayload.apply(store("", 1, 0, 0))),
                false));
        bad.add(new Bad(Reason.BAD_ID, "long memory id",
                ev.apply(space, withPayload.apply(reinforce("m".repeat(33)))), false));
        bad.add(new Bad(Reason.BAD_ID, "empty from id",
                ev.apply(space, withPayload.apply(associate("", "a", 0.5f, false))), false));
        bad.add(new Bad(Reason.BAD_ID, "empty to id",
                ev.apply(space, withPayload.apply(associate("a", "", 0.5f, false))), false));
        bad.add(new Bad(Reason.BAD_ID, "empty forget id", ev.apply(space, withPayload.apply(forget(""))), false));
        bad.add(new Bad(Reason.BAD_ID, "empty query id", qr.apply(q.apply(b -> b.setQueryId(""))), false));
        bad.add(new Bad(Reason.BAD_TIMESTAMP, "negative", ev.apply(space, mutate(good, e -> e.setTimestampMs(-1L))),
                false));
        bad.add(new Bad(Reason.BAD_TIMESTAMP, "negative query", qr.apply(q.apply(b -> b.setTimestampMs(-5L))), false));
        bad.add(new Bad(Reason.FUTURE_TIMESTAMP, "two hours ahead",
                ev.apply(space, mutate(good, e -> e.setTimestampMs(now + 2 * 3_600_000L))), false));
        bad.add(new Bad(Reason.FUTURE_TIMESTAMP, "query from the future",
                qr.apply(q.apply(b -> b.setTimestampMs(now + 2 * 3_600_000L))), false));
        bad.add(new Bad(Reason.PAST_TIMESTAMP, "1970", ev.apply(space, mutate(good, e -> e.setTimestampMs(1L))),
                false));
        bad.add(new Bad(Reason.PAST_TIMESTAMP, "query in seconds, not ms",
                qr.apply(q.apply(b -> b.setTimestampMs(now / 1000))), false));
        // vectors
        bad.add(new Bad(Reason.EMPTY_EMBEDDING, "store", ev.apply(space, withPayload.apply(store("d"))), false));
        bad.add(new Bad(Reason.EMPTY_EMBEDDING, "cue", qr.apply(q.apply(b -> b.setCue(List.of()))), false));
        bad.add(new Bad(Reason.DIM_TOO_LARGE, "store",
                ev.apply(space, withPayload.apply(store("d", new float[9]))), false));
        bad.add(new Bad(Reason.DIM_TOO_LARGE, "cue", qr.apply(q.apply(b -> b.setCue(floats(new float[9])))), false));
        bad.add(new Bad(Reason.DIM_MISMATCH, "store", ev.apply(space, withPayload.apply(store("d", 1, 0))), false));
        bad.add(new Bad(Reason.DIM_MISMATCH, "replacing store",
                ev.apply(space, withPayload.apply(store("a", 1, 0, 0, 0))), false));
        bad.add(new Bad(Reason.DIM_MISMATCH, "cue", qr.apply(q.apply(b -> b.setCue(floats(1, 0, 0, 0)))), false));
        bad.add(new Bad(Reason.NON_FINITE, "NaN in embedding",
                ev.apply(space, withPayload.apply(store("d", 1, Float.NaN, 0))), false));
        bad.add(new Bad(Reason.NON_FINITE, "Inf in embedding",
                ev.apply(space, withPayload.apply(store("d", Float.POSITIVE_INFINITY, 0, 0))), false));
        bad.add(new Bad(Reason.NON_FINITE, "-Inf in cue",
                qr.apply(q.apply(b -> b.setCue(floats(0, 0, Float.NEGATIVE_INFINITY)))), false));
        bad.add(new Bad(Reason.NON_FINITE, "NaN in cue", qr.apply(q.apply(b -> b.setCue(floats(Float.NaN, 0, 0)))),
                false));
        bad.add(new Bad(Reason.NON_FINITE, "NaN weight",
                ev.apply(space, withPayload.apply(associate("a", "b", Float.NaN, false))), false));
        bad.add(new Bad(Reason.NON_FINITE, "Inf weight",
                ev.apply(space, withPayload.apply(associate("a", "b", Float.POSITIVE_INFINITY, true))), false));
        // store fields
        bad.add(new Bad(Reason.BAD_STRENGTH, "negative",
                ev.apply(space, withPayload.apply(mem("d", -0.1f, null, 1, 0, 0))), false));
        bad.add(new Bad(Reason.BAD_STRENGTH, "NaN",
                ev.apply(space, withPayload.apply(mem("d", Float.NaN, null, 1, 0, 0))), false));
        bad.add(new Bad(Reason.BAD_STRENGTH, "Inf",
                ev.apply(space, withPayload.apply(mem("d", Float.POSITIVE_INFINITY, null, 1, 0, 0))), false));
        bad.add(new Bad(Reason.BAD_STABILITY, "zero",
                ev.apply(space, withPayload.apply(mem("d", 1f, 0f, 1, 0, 0))), false));
        bad.add(new Bad(Reason.BAD_STABILITY, "negative",
                ev.apply(space, withPayload.apply(mem("d", 1f, -3f, 1, 0, 0))), false));
        bad.add(new Bad(Reason.BAD_STABILITY, "NaN",
                ev.apply(space, withPayload.apply(mem("d", 1f, Float.NaN, 1, 0, 0))), false));
        bad.add(new Bad(Reason.BAD_STABILITY, "Inf",
                ev.apply(space, withPayload.apply(mem("d", 1f, Float.POSITIVE_INFINITY, 1, 0, 0))), false));
        StoreMemory wordy = store("d", 1, 0, 0);
        wordy.setContent("x".repeat(17));
        bad.add(new Bad(Reason.CONTENT_TOO_LONG, "17 > 16", ev.apply(space, withPayload.apply(wordy)), false));
        // associations
        bad.add(new Bad(Reason.BAD_WEIGHT, "above 1",
                ev.apply(space, withPayload.apply(associate("a", "b", 1.5f, false))), false));
        bad.add(new Bad(Reason.BAD_WEIGHT, "below 0",
                ev.apply(space, withPayload.apply(associate("a", "b", -0.1f, false))), false));
        bad.add(new Bad(Reason.SELF_EDGE, "a -> a", ev.apply(space, withPayload.apply(associate("a", "a", 1f, true))),
                false));
        bad.add(new Bad(Reason.UNKNOWN_MEMORY, "reinforce",
                ev.apply(space, withPayload.apply(reinforce("ghost"))), false));
        bad.add(new Bad(Reason.UNKNOWN_MEMORY, "associate from",
                ev.apply(space, withPayload.apply(associate("ghost", "a", 0.5f, false))), false));
        bad.add(new Bad(Reason.UNKNOWN_MEMORY, "associate to",
                ev.apply(space, withPayload.apply(associate("a", "ghost", 0.5f, true))), false));
        bad.add(new Bad(Reason.UNKNOWN_MEMORY, "forget", ev.apply(space, withPayload.apply(forget("ghost"))), false));
        bad.add(new Bad(Reason.UNKNOWN_MEMORY, "in an unknown space",
                ev.apply("space-never", event("space-never", "x", T0, reinforce("a"))), false));
        // query parameters
        bad.add(new Bad(Reason.BAD_K, "0", qr.apply(q.apply(b -> b.setK(0))), false));
        bad.add(new Bad(Reason.BAD_K, "above max-k", qr.apply(q.apply(b -> b.setK(51))), false));
        bad.add(new Bad(Reason.BAD_HOPS, "negative", qr.apply(q.apply(b -> b.setMaxHops(-1))), false));
        bad.add(new Bad(Reason.BAD_HOPS, "above limit", qr.apply(q.apply(b -> b.setMaxHops(5))), false));
        bad.add(new Bad(Reason.BAD_SEED_K, "0", qr.apply(q.apply(b -> b.setSeedK(0))), false));
        bad.add(new Bad(Reason.BAD_SEED_K, "above limit", qr.apply(q.apply(b -> b.setSeedK(21))), false));
        bad.add(new Bad(Reason.BAD_HOP_DECAY, "0", qr.apply(q.apply(b -> b.setHopDecay(0f))), false));
        bad.add(new Bad(Reason.BAD_HOP_DECAY, "above 1", qr.apply(q.apply(b -> b.setHopDecay(1.01f))), false));
        bad.add(new Bad(Reason.BAD_HOP_DECAY, "NaN", qr.apply(q.apply(b -> b.setHopDecay(Float.NaN))), false));
        bad.add(new Bad(Reason.BAD_THRESHOLD, "negative", qr.apply(q.apply(b -> b.setThreshold(-0.5f))), false));
        bad.add(new Bad(Reason.BAD_THRESHOLD, "NaN", qr.apply(q.apply(b -> b.setThreshold(Float.NaN))), false));
        bad.add(new Bad(Reason.BAD_THRESHOLD, "Inf",
                qr.apply(q.apply(b -> b.setThreshold(Float.POSITIVE_INFINITY))), false));
        // kernel control (broadcast input)
        bad.add(new Bad(Reason.BAD_CONTROL, "garbage", controlRecord("zig please".getBytes(StandardCharsets.UTF_8)),
                true));
        bad.add(new Bad(Reason.BAD_CONTROL, "empty", controlRecord(new byte[0]), true));
        bad.add(new Bad(Reason.BAD_CONTROL, "a memory event", controlRecord(goodBytes), true));
        bad.add(new Bad(Reason.BAD_CONTROL, "mode gpu", controlRecord(AvroCodec.encode(control("gpu").build())),
                true));
        bad.add(new Bad(Reason.BAD_CONTROL, "upper-case mode",
                controlRecord(AvroCodec.encode(control("ZIG").build())), true));
        bad.add(new Bad(Reason.BAD_CONTROL, "fraction 0",
                controlRecord(AvroCodec.encode(control("java").setFraction(0.0).build())), true));
        bad.add(new Bad(Reason.BAD_CONTROL, "fraction above 1",
                controlRecord(AvroCodec.encode(control("java").setFraction(1.5).build())), true));
        bad.add(new Bad(Reason.BAD_CONTROL, "fraction NaN",
                controlRecord(AvroCodec.encode(control("java").setFraction(Double.NaN).build())), true));
        bad.add(new Bad(Reason.BAD_CONTROL, "spaces and fraction",
                controlRecord(AvroCodec.encode(control("java").setSpaces(List.of(space)).setFraction(0.5).build())),
                true));
        bad.add(new Bad(Reason.BAD_CONTROL, "blank reason",
                controlRecord(AvroCodec.encode(control("java").setReason("  ").build())), true));
        bad.add(new Bad(Reason.FUTURE_TIMESTAMP, "control pinned at Long.MAX_VALUE",
                controlRecord(AvroCodec.encode(control("java").setTimestampMs(Long.MAX_VALUE).build())), true));
        bad.add(new Bad(Reason.BAD_TIMESTAMP, "control with a negative timestamp",
                controlRecord(AvroCodec.encode(control("java").setTimestampMs(-1L).build())), true));
        bad.add(new Bad(Reason.PAST_TIMESTAMP, "control from 1970",
                controlRecord(AvroCodec.encode(control("java").setTimestampMs(1000L).build())), true));
        bad.add(new Bad(Reason.BAD_SPACE, "control naming an invalid space",
                controlRecord(AvroCodec.encode(control("java").setSpaces(List.of("NOT A SPACE")).build())), true));

        // Interleave: every bad record is followed by a good one, all of which must be applied.
        List<String> applied = new ArrayList<>();
        EnumSet<Reason> covered = EnumSet.noneOf(Reason.class);
        Map<Reason, Integer> perReason = new HashMap<>();
        int n = 0;
        for (Bad b : bad) {
            SpaceState before = SpaceStateSerializer.INSTANCE.copy(spaceState(h, space));
            Map<String, Long> dedupBefore = dedup(h, space);
            byte[] controlBefore = h.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT);
            if (b.broadcast()) {
                h.processBroadcastElement(b.record(), T0);
            } else {
                h.processElement(b.record(), T0);
            }
            List<OutRecord> dlRecords = drainDeadLetterRecords(h);
            assertThat(dlRecords).as("%s (%s): one dead letter", b.reason(), b.what()).hasSize(1);
            assertThat(drainResults(h)).as("%s (%s): no answer", b.reason(), b.what()).isEmpty();
            assertThat(dlRecords.get(0).key).as("dead letter keyed like the input").isEqualTo(b.record().key);
            DeadLetter dl = AvroCodec.decodeDeadLetter(dlRecords.get(0).value);
            assertThat(dl.getReason()).as("reason of %s", b.what()).isEqualTo(b.reason().name());
            assertThat(dl.getSourceTopic()).isEqualTo(b.record().topic);
            assertThat(dl.getSourcePartition()).isEqualTo(b.record().partition);
            assertThat(dl.getSourceOffset()).isEqualTo(b.record().offset);
            assertThat(bytes(dl.getKey())).as("original key of %s", b.what()).isEqualTo(b.record().key);
            assertThat(bytes(dl.getValue())).as("original value of %s", b.what()).isEqualTo(b.record().value);
            assertThat(dl.getMessage()).as("message of %s", b.what()).isNotBlank();
            assertThat(dl.getTimestampMs()).isBetween(now - 60_000, System.currentTimeMillis() + 1);
            assertThat(spaceState(h, space).sameContentAs(before)).as("%s leaves the space alone", b.what()).isTrue();
            assertThat(dedup(h, space)).as("%s is not remembered as applied", b.what()).isEqualTo(dedupBefore);
            assertThat(h.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT))
                    .as("%s leaves the kernel switch alone", b.what()).isEqualTo(controlBefore);
            covered.add(b.reason());
            perReason.merge(b.reason(), 1, Integer::sum);

            // a good record right after it
            if (n % 2 == 0) {
                send(h, space, "good-" + n, T0 + n, reinforce("a"));
                applied.add("good-" + n);
            } else {
                RecallResult r = ask(h, query(space, "good-q-" + n, T0, 1, 0, 0).build());
                assertThat(r.getHits()).extracting(RecallHit::getMemoryId).contains("a");
            }
            assertThat(drainDeadLetters(h)).as("the good record after %s", b.what()).isEmpty();
            n++;
        }

        // the memory-full space: 3 memories allowed
        send(h, space, "fill", T0, store("c", 0, 0, 1));
        RawRecord full = ev.apply(space, event(space, "overfull", T0, store("d", 1, 1, 1)));
        h.processElement(full, T0);
        List<DeadLetter> fullDl = drainDeadLetters(h);
        assertThat(fullDl).extracting(DeadLetter::getReason).containsExactly("SPACE_FULL");
        assertThat(fullDl.get(0).getSourceOffset()).isEqualTo(full.offset);
        assertThat(bytes(fullDl.get(0).getValue())).isEqualTo(full.value);
        covered.add(Reason.SPACE_FULL);
        perReason.merge(Reason.SPACE_FULL, 1, Integer::sum);
        send(h, space, "replace-in-full", T0, store("c", 0, 1, 1)); // replacing is fine when full
        assertThat(drainDeadLetters(h)).isEmpty();
        assertThat(embedding(spaceState(h, space), "c")).containsExactly(0f, 1f, 1f);

        // everything valid was applied: a reinforced (x2 per good event), c stored
        SpaceState s = spaceState(h, space);
        assertThat(ids(s)).containsExactly("a", "b", "c");
        float expectedStability = 86_400f;
        for (int i = 0; i < applied.size(); i++) {
            expectedStability = Math.min(3650 * 86_400f, expectedStability * 2f); // engram.memory.max-stability
        }
        assertThat(applied).hasSizeGreaterThan(12); // enough to reach the cap
        assertThat(s.stability()[s.rowOf("a")]).isEqualTo(expectedStability).isEqualTo(3650 * 86_400f);
        assertThat(dedup(h, space).keySet()).containsAll(applied);

        assertThat(covered).as("every reason the operator emits (ARENA_OVERFLOW and the consistency reasons have their "
                        + "own tests; the sink writes OUTPUT_TOO_LARGE)")
                .isEqualTo(EnumSet.complementOf(EnumSet.of(Reason.ARENA_OVERFLOW, Reason.OUTPUT_TOO_LARGE,
                        Reason.BAD_WAIT, Reason.WAIT_TIMEOUT, Reason.TOO_MANY_WAITING, Reason.LATE_EVENT)));
        for (Reason r : Reason.values()) {
            assertThat(deadLetterCount(fn, r)).as("deadLetters counter of %s", r)
                    .isEqualTo((long) perReason.getOrDefault(r, 0));
        }
    }

    // =============================================================================================================
    // kernel control
    // =============================================================================================================

    @Test
    void kernelControlIsKeptInBroadcastState() throws Exception {
        var h = harness(new MemorySpaceFunction(settings(c -> { })));
        send(h, T0, store("a", 1, 0));
        assertThat(h.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT)).isNull();

        KernelControl toJava = control("java").setReason("rollback: zig p99 regression").setSpaces(List.of(SPACE))
                .build();
        h.processBroadcastElement(controlRecord(AvroCodec.encode(toJava)), T0);
        byte[] stored = h.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT);
        assertThat(AvroCodec.decodeKernelControl(stored)).isEqualTo(toJava);
        assertThat(ask(h, query(SPACE, "q1", T0, 1, 0).build()).getKernelMode()).isEqualTo("java");

        // a later switch replaces it; this subtask has no Zig kernels (mode java), so it keeps serving with Java
        KernelControl toZig = control("zig").setReason("roll forward").setFraction(1.0).build();
        h.processBroadcastElement(controlRecord(AvroCodec.encode(toZig)), T0 + 1);
        assertThat(AvroCodec.decodeKernelControl(h.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT)))
                .isEqualTo(toZig);
        assertThat(ask(h, query(SPACE, "q2", T0, 1, 0).build()).getKernelMode()).isEqualTo("java");

        // an invalid switch changes nothing
        h.processBroadcastElement(controlRecord(AvroCodec.encode(control("tpu").build())), T0 + 2);
        assertThat(AvroCodec.decodeKernelControl(h.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT)))
                .isEqualTo(toZig);
        assertThat(drainDeadLetters(h)).extracting(DeadLetter::getReason).containsExactly("BAD_CONTROL");
        assertThat(ask(h, query(SPACE, "q3", T0, 1, 0).build()).getHits()).hasSize(1);
    }

    @Test
    void controlScopeBySpacesAndStableFraction() {
        KernelControl bySpaces = control("java").setSpaces(List.of("alpha", "beta")).build();
        Set<String> spaces = Set.copyOf(bySpaces.getSpaces());
        assertThat(KernelRouter.covers(bySpaces, spaces, "alpha")).isTrue();
        assertThat(KernelRouter.covers(bySpaces, spaces, "gamma")).isFalse();
        KernelControl all = control("java").build();
        assertThat(KernelRouter.covers(all, Set.of(), "anything")).isTrue();

        // FNV-1a 64 over UTF-8, MurmurHash3 fmix64, top 53 bits: recomputed here independently
        for (String s : List.of("space-a", "space-b", "tenant_42", "x".repeat(64), "")) {
            long h = 0xcbf29ce484222325L;
            for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
                h = (h ^ (b & 0xff)) * 0x100000001b3L;
            }
            h = (h ^ (h >>> 33)) * 0xff51afd7ed558ccdL;
            h = (h ^ (h >>> 33)) * 0xc4ceb9fe1a85ec53L;
            h ^= h >>> 33;
            double expected = (double) (h >>> 11) / (double) (1L << 53);
            assertThat(KernelRouter.stableFraction(s)).isEqualTo(expected).isBetween(0.0, 1.0).isLessThan(1.0);
        }
        int covered = 0;
        KernelControl quarter = control("java").setFraction(0.25).build();
        KernelControl half = control("java").setFraction(0.5).build();
        for (int i = 0; i < 20_000; i++) {
            String s = "space-" + i;
            boolean c = KernelRouter.covers(half, Set.of(), s);
            assertThat(c).isEqualTo(KernelRouter.stableFraction(s) < 0.5);
            if (KernelRouter.covers(quarter, Set.of(), s)) {
                assertThat(c).as("a larger fraction covers every space a smaller one does: %s", s).isTrue();
            }
            covered += c ? 1 : 0;
        }
        // The finalizer spreads sequential names: 20000 draws, binomial sd ~71, so +-350 is 5 sd.
        assertThat(covered).as("about half of 20000 spaces").isBetween(9_650, 10_350);
        int smallSet = 0;
        for (int i = 0; i < 2000; i++) {
            smallSet += KernelRouter.stableFraction("space-" + i) < 0.5 ? 1 : 0;
        }
        assertThat(smallSet).as("sequential names are not skewed (plain FNV-1a gave 64.5%)").isBetween(900, 1100);
        assertThat(KernelRouter.covers(control("java").setFraction(1.0).build(), Set.of(), "any")).isTrue();
    }

    // =============================================================================================================
    // arena overflow
    // =============================================================================================================

    /**
     * Zig settings with a one-page arena that fails on overflow, or null if the jar's native library does not load
     * (a -Pjava-only build). Only the jar's own library is tried, never an explicit path: the library is loaded
     * once per JVM, and a different first request would make every later {@code auto} request in this test JVM
     * fail with IllegalStateException instead of falling back to Java.
     */
    static EngramSettings zigSettingsOrNull() {
        EngramSettings s = settings(c -> {
            c.set(EngramOptions.KERNEL_MODE, "zig");
            c.set(EngramOptions.ARENA_SIZE, new MemorySize(4096));
            c.set(EngramOptions.ARENA_OVERFLOW, "fail");
        });
        try {
            return Kernels.status(s.kernelsConfig()).activeMode() == KernelMode.ZIG ? s : null;
        } catch (NativeLoadException | IllegalStateException e) {
            System.err.println("MemorySpaceFunctionTest: no Zig kernels in this build (" + e.getMessage()
                    + "); ARENA_OVERFLOW is tested through the operator's mapping of ArenaOverflowException only");
            return null;
        }
    }

    @Test
    void arenaOverflowOfTheZigKernelsIsDeadLettered() throws Exception {
        // Real Zig kernels with a 4 KiB arena when the build has them; else the same checks on the mapping.
        arenaOverflowIsDeadLettered(zigSettingsOrNull());
    }

    @Test
    void arenaOverflowExceptionIsMappedToAnArenaOverflowDeadLetter() throws Exception {
        arenaOverflowIsDeadLettered(null);
    }

    /**
     * With {@code zig} null, Java kernels that overflow like a 4 KiB arena under 'fail' are injected. Similarity reads
     * the norms each chunk stores and needs no arena; spreading over a space's slots does: 3 × align64(4n) +
     * align64(n) bytes for n slots, 5,248 bytes for 400 slots against a 4,096-byte arena.
     */
    private void arenaOverflowIsDeadLettered(EngramSettings zig) throws Exception {
        MemorySpaceFunction fn = new MemorySpaceFunction(zig != null ? zig : settings(c -> { }));
        var h = harness(fn);
        int memories = 400;
        for (int i = 0; i < memories; i++) {
            send(h, SPACE, "m" + i, T0, store("m" + i, 1f, i / (float) memories));
        }
        send(h, OTHER, "small", T0, store("small", 1f, 0f));

        if (zig == null) {
            KernelRouter router = (KernelRouter) field(fn, "kernels");
            MemoryKernels real = (MemoryKernels) field(router, "meteredJava");
            setField(router, "meteredJava", new OverflowingKernels(real, 4096));
        }
        RecallResult fits = ask(h, query(OTHER, "fits", T0, 1f, 0f).build());
        assertThat(fits.getKernelMode()).isEqualTo(zig != null ? "zig" : "java");
        assertThat(fits.getHits()).extracting(RecallHit::getMemoryId).containsExactly("small");

        RawRecord q = queryRecord(query(SPACE, "too-big", T0, 1f, 0f).build());
        h.processElement(q, T0);
        // the overflow happens when the query is answered: with batching on, when its batch's max-delay is up
        h.setProcessingTime(h.getProcessingTime() + EngramOptions.BATCH_MAX_DELAY.defaultValue().toMillis());
        assertThat(drainResults(h)).isEmpty();
        List<DeadLetter> dl = drainDeadLetters(h);
        assertThat(dl).hasSize(1);
        assertThat(dl.get(0).getReason()).isEqualTo("ARENA_OVERFLOW");
        assertThat(dl.get(0).getMessage()).contains("arena overflow in spreadActivation").contains("4096");
        assertThat(dl.get(0).getSourceTopic()).isEqualTo(QUERIES);
        assertThat(dl.get(0).getSourcePartition()).isEqualTo(q.partition);
        assertThat(dl.get(0).getSourceOffset()).isEqualTo(q.offset);
        assertThat(bytes(dl.get(0).getValue())).isEqualTo(q.value);
        assertThat(bytes(dl.get(0).getKey())).isEqualTo(q.key);
        assertThat(deadLetterCount(fn, Reason.ARENA_OVERFLOW)).isEqualTo(1);
        assertThat(ids(spaceState(h, SPACE))).hasSize(memories);

        // the decay sweep needs no scratch and still runs for the space
        h.watermark(firstSweep(T0, MINUTE));
        assertThat(nextSweep(h, SPACE)).isEqualTo(firstSweep(T0, MINUTE) + MINUTE);

        if (zig != null) {
            // the runtime switch to Java serves the space that overflowed; the others stay on Zig
            h.processBroadcastElement(controlRecord(AvroCodec.encode(control("java").setSpaces(List.of(SPACE))
                    .build())), T0);
            RecallResult r = ask(h, query(SPACE, "too-big-2", T0, 1f, 0f).build());
            assertThat(r.getKernelMode()).isEqualTo("java");
            assertThat(r.getHits()).extracting(RecallHit::getMemoryId).first().isEqualTo("m0");
            assertThat(ask(h, query(OTHER, "fits-2", T0, 1f, 0f).build()).getKernelMode()).isEqualTo("zig");
        }
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    /** Kernels whose spreading needs the scratch the Zig kernel carves, from an arena of the given size ('fail'). */
    static final class OverflowingKernels extends KernelDecorator {
        private final long capacity;

        OverflowingKernels(MemoryKernels delegate, long capacity) {
            super(delegate);
            this.capacity = capacity;
        }

        @Override
        protected void intercept(KernelCall call) {
            if (call instanceof KernelCall.SpreadActivation s) {
                long n = s.graph().nodeCount();
                long need = 3 * align64(4 * n) + align64(n);
                if (need > capacity) {
                    throw new ArenaOverflowException("spreadActivation", need, capacity);
                }
            }
            call.runOn(next);
        }

        private static long align64(long bytes) {
            return (bytes + 63) & -64L;
        }

        @Override
        public void close() {
        }
    }

    // =============================================================================================================
    // snapshot and restore
    // =============================================================================================================

    /**
     * The heap backend writes a checkpoint asynchronously, from the objects its copy-on-write kept, while the operator
     * goes on processing. Events that change the chunks it holds (through the chunk cache, without touching the
     * state) must not reach the checkpoint: found by the TaskManager-kill fault test, where a restored space whose
     * edge chunks were newer than its index crash-looped in {@code MemorySpace.graph}.
     */
    @Test
    void eventsDuringTheAsynchronousPartOfAHeapSnapshotStayOutOfIt() throws Exception {
        EngramSettings settings = settings(c -> { });
        var h1 = harness(new MemorySpaceFunction(settings));
        send(h1, SPACE, "e1", T0, mem("a", 1f, 1e6f, 1, 0, 0));
        send(h1, SPACE, "e2", T0, mem("b", 1f, 1e6f, 0.6f, 0.8f, 0));
        send(h1, SPACE, "e3", T0, associate("a", "b", 0.5f, false));
        RecallQuery q = query(SPACE, "q", T0 + 20, 1, 0, 0).setMaxHops(2).setThreshold(0f).build();
        RecallResult before = ask(h1, q);
        SpaceState stateBefore = SpaceStateSerializer.INSTANCE.copy(spaceState(h1, SPACE));

        // the synchronous part only: the keyed state's future is not run yet, as in a task between the two parts
        OperatorSnapshotFutures running = op(h1).snapshotState(2L, T0 + 30,
                CheckpointOptions.forCheckpointWithDefaultLocation(), new MemCheckpointStreamFactory(64 << 20));
        // first the changes in place of chunks the snapshot holds (a row, a vector, an edge list), then a new slot
        send(h1, SPACE, "e4", T0 + 40, reinforce("a"));
        send(h1, SPACE, "e5", T0 + 40, mem("b", 2f, 1e6f, 0, 1, 0)); // a re-store: new vector, same slot
        send(h1, SPACE, "e6", T0 + 40, associate("a", "b", 0.9f, true)); // re-weights a->b, adds b->a
        send(h1, SPACE, "e7", T0 + 40, mem("c", 1f, 1e6f, 0, 0, 1));
        send(h1, SPACE, "e8", T0 + 40, associate("b", "c", 0.7f, true));
        assertThat(spaceState(h1, SPACE).sameContentAs(stateBefore)).as("the events changed the live state").isFalse();
        OperatorSubtaskState snapshot = OperatorSnapshotFinalizer.create(running).getJobManagerOwnedState();

        var h2 = unopenedHarness(new MemorySpaceFunction(settings));
        h2.initializeState(snapshot);
        h2.open();
        assertThat(spaceState(h2, SPACE).sameContentAs(stateBefore)).as("the checkpoint holds the state of its time")
                .isTrue();
        assertThat(ask(h2, q).getHits()).isEqualTo(before.getHits());
        assertThat(drainDeadLetters(h2)).isEmpty();
    }

    @Test
    void snapshotAndRestoreKeepStateTimersDedupControlAndAnswers() throws Exception {
        EngramSettings settings = settings(c -> c.set(EngramOptions.FORGET_THRESHOLD, 0.5));
        MemorySpaceFunction fn1 = new MemorySpaceFunction(settings);
        var h1 = harness(fn1);
        send(h1, SPACE, "e1", T0, mem("a", 1f, 1e6f, 1, 0, 0));
        send(h1, SPACE, "e2", T0, mem("b", 0.5f, 1e6f, 0.6f, 0.8f, 0));
        send(h1, SPACE, "e3", T0, mem("c", 2f, 1e6f, 0, 0, 1));
        send(h1, SPACE, "e4", T0, mem("short-lived", 1f, 1f, 0, 0, 1));
        send(h1, SPACE, "e5", T0, associate("b", "c", 0.6f, true));
        send(h1, SPACE, "e6", T0 + 10, reinforce("a"));
        send(h1, OTHER, "e1", T0, store("z", 1, 1));
        KernelControl ctl = control("java").setSpaces(List.of(OTHER)).build();
        h1.processBroadcastElement(controlRecord(AvroCodec.encode(ctl)), T0);
        RecallQuery q = query(SPACE, "q", T0 + 20, 1, 0.5f, 0).setMaxHops(2).setThreshold(0f).build();
        RecallResult before = ask(h1, q);
        assertThat(before.getHits()).hasSizeGreaterThan(2);
        SpaceState stateBefore = SpaceStateSerializer.INSTANCE.copy(spaceState(h1, SPACE));
        Map<String, Long> dedupBefore = dedup(h1, SPACE);
        long memoriesBefore = metrics(fn1).memories();
        long edgesBefore = metrics(fn1).edges();

        OperatorSubtaskState snapshot = h1.snapshot(1L, T0 + 30);

        // the original goes on after the snapshot: none of this may leak into the restored copy
        send(h1, SPACE, "after", T0 + 40, forget("a"));

        MemorySpaceFunction fn2 = new MemorySpaceFunction(settings);
        var h2 = unopenedHarness(fn2);
        h2.initializeState(snapshot);
        h2.open();

        assertThat(spaceState(h2, SPACE).sameContentAs(stateBefore)).isTrue();
        assertThat(ids(spaceState(h2, OTHER))).containsExactly("z");
        assertThat(dedup(h2, SPACE)).isEqualTo(dedupBefore);
        assertThat(nextSweep(h2, SPACE)).isEqualTo(firstSweep(T0, MINUTE));
        assertThat(h2.numEventTimeTimers()).isEqualTo(2);
        assertThat(AvroCodec.decodeKernelControl(h2.getBroadcastState(KernelRouter.CONTROL)
                .get(KernelRouter.CURRENT))).isEqualTo(ctl);
        assertThat(metrics(fn2).memories()).as("operator-state totals restored").isEqualTo(memoriesBefore);
        assertThat(metrics(fn2).edges()).isEqualTo(edgesBefore);

        RecallResult after = ask(h2, q);
        assertThat(after.getHits()).isEqualTo(before.getHits());
        assertThat(after.getKernelMode()).isEqualTo(before.getKernelMode());

        // dedup still works after the restore; new events apply
        send(h2, SPACE, "e6", T0 + 50, reinforce("a"));
        assertThat(spaceState(h2, SPACE).sameContentAs(stateBefore)).isTrue();
        assertThat(counter(fn2, "duplicates")).isEqualTo(1);
        send(h2, SPACE, "e7", T0 + 60, reinforce("a"));
        assertThat(spaceState(h2, SPACE).stability()[spaceState(h2, SPACE).rowOf("a")]).isEqualTo(4e6f);

        // restored timers fire: the short-lived memory goes at the first sweep
        h2.watermark(firstSweep(T0, MINUTE));
        assertThat(ids(spaceState(h2, SPACE))).containsExactly("a", "b", "c");
        assertThat(drainDeadLetters(h2)).isEmpty();
    }
}
