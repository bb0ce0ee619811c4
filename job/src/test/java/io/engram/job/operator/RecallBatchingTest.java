package io.engram.job.operator;

import static io.engram.job.operator.MemorySpaceFunctionTest.MINUTE;
import static io.engram.job.operator.MemorySpaceFunctionTest.OTHER;
import static io.engram.job.operator.MemorySpaceFunctionTest.SPACE;
import static io.engram.job.operator.MemorySpaceFunctionTest.T0;
import static io.engram.job.operator.MemorySpaceFunctionTest.associate;
import static io.engram.job.operator.MemorySpaceFunctionTest.control;
import static io.engram.job.operator.MemorySpaceFunctionTest.drainDeadLetters;
import static io.engram.job.operator.MemorySpaceFunctionTest.drainResults;
import static io.engram.job.operator.MemorySpaceFunctionTest.field;
import static io.engram.job.operator.MemorySpaceFunctionTest.forget;
import static io.engram.job.operator.MemorySpaceFunctionTest.keysWithState;
import static io.engram.job.operator.MemorySpaceFunctionTest.mem;
import static io.engram.job.operator.MemorySpaceFunctionTest.metrics;
import static io.engram.job.operator.MemorySpaceFunctionTest.op;
import static io.engram.job.operator.MemorySpaceFunctionTest.query;
import static io.engram.job.operator.MemorySpaceFunctionTest.reinforce;
import static io.engram.job.operator.MemorySpaceFunctionTest.settings;
import static io.engram.job.operator.MemorySpaceFunctionTest.store;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.state.PendingQuery;
import io.engram.kernels.KernelMode;
import io.engram.kernels.Kernels;
import io.engram.kernels.NativeLoadException;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Recall batching in the operator harness: a batch is answered when it is full, when its max-delay timer fires
 * (processing time advanced by the harness), before any change to its space or kernels, and across a snapshot and
 * restore; every answer equals the one the same input gets with batching off (max-size 1).
 */
class RecallBatchingTest {
    private final MemorySpaceFunctionTest t = new MemorySpaceFunctionTest();

    @AfterEach
    void close() throws Exception {
        t.closeHarnesses();
    }

    private static EngramSettings batching(int size, long delayMs) {
        return settings(batchingConf(size, delayMs));
    }

    static Consumer<Configuration> batchingConf(int size, long delayMs) {
        return c -> {
            c.set(EngramOptions.BATCH_MAX_SIZE, size);
            c.set(EngramOptions.BATCH_MAX_DELAY, Duration.ofMillis(delayMs));
        };
    }

    private static final EngramSettings OFF = batching(1, 5);

    private KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> harness(EngramSettings s)
            throws Exception {
        var h = t.harness(new MemorySpaceFunction(s));
        h.setProcessingTime(1_000);
        return h;
    }

    static MemorySpaceFunction fn(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h)
            throws Exception {
        return (MemorySpaceFunction) field(op(h), "userFunction");
    }

    /** The answers, in output order, with latency_us zeroed (the one field that may differ). */
    static List<RecallResult> answers(List<OutRecord> out) {
        List<RecallResult> l = new ArrayList<>();
        for (OutRecord o : out) {
            l.add(RecallResult.newBuilder(AvroCodec.decodeRecallResult(o.value)).setLatencyUs(0L).build());
        }
        return l;
    }

    static List<String> ids(List<RecallResult> results) {
        return results.stream().map(r -> r.getQueryId().toString()).toList();
    }

    private static int pending(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                               String space) throws Exception {
        op(h).setCurrentKey(space);
        int n = 0;
        Iterable<PendingQuery> l = op(h).getKeyedStateStore().getListState(MemorySpaceFunction.PENDING).get();
        if (l != null) {
            for (PendingQuery ignored : l) {
                n++;
            }
        }
        return n;
    }

    @SuppressWarnings("unchecked")
    static long kernelCalls(MemorySpaceFunction f, KernelMode mode, String kernel) throws Exception {
        var calls = (Map<KernelMode, Map<String, Counter>>) field(metrics(f), "calls");
        return calls.get(mode).get(kernel).getCount();
    }

    @SuppressWarnings("unchecked")
    static long batches(MemorySpaceFunction f, String flush) throws Exception {
        return ((Map<String, Counter>) field(metrics(f), "recallBatches")).get(flush).getCount();
    }

    static Histogram histogram(MemorySpaceFunction f, String name) throws Exception {
        return (Histogram) field(metrics(f), name);
    }

    private void submit(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h, String space,
                       String id, long ts, float... cue) throws Exception {
        RawRecord r = t.queryRecord(query(space, id, ts, cue).setThreshold(0f).build());
        h.processElement(r, r.timestampMs);
    }

    /** Four memories and two edges in SPACE, one memory in OTHER. */
    private void seed(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h) throws Exception {
        t.send(h, SPACE, "s1", T0, mem("a", 1f, 1e6f, 1, 0, 0));
        t.send(h, SPACE, "s2", T0, mem("b", 0.5f, 1e6f, 0.6f, 0.8f, 0));
        t.send(h, SPACE, "s3", T0, mem("c", 2f, 1e6f, 0, 0, 1));
        t.send(h, SPACE, "s4", T0, mem("d", 1f, 50f, 0.3f, 0.3f, 0.9f));
        t.send(h, SPACE, "s5", T0, associate("b", "c", 0.6f, true));
        t.send(h, SPACE, "s6", T0, associate("a", "d", 0.9f, false));
        t.send(h, OTHER, "o1", T0, store("z", 1, 1, 0));
    }

    @Test
    void aFullBatchIsAnsweredAtOnceWithOneBatchedKernelCall() throws Exception {
        var h = harness(batching(3, 1_000));
        seed(h);
        submit(h, SPACE, "q1", T0 + 10, 1, 0.5f, 0);
        submit(h, SPACE, "q2", T0 + 20, 0, 0.2f, 1);
        assertThat(drainResults(h)).as("two of three: waiting").isEmpty();
        assertThat(pending(h, SPACE)).isEqualTo(2);
        assertThat(h.numProcessingTimeTimers()).as("one flush timer per waiting batch").isEqualTo(1);
        submit(h, SPACE, "q3", T0 + 30, 0.6f, 0.8f, 0);
        List<RecallResult> got = answers(drainResults(h));
        assertThat(ids(got)).containsExactly("q1", "q2", "q3");
        assertThat(pending(h, SPACE)).isZero();
        assertThat(h.numProcessingTimeTimers()).as("the full batch's timer is deleted").isZero();

        MemorySpaceFunction f = fn(h);
        assertThat(kernelCalls(f, KernelMode.JAVA, "cosineSimilarityNormed")).as("one call for the batch").isEqualTo(1);
        assertThat(kernelCalls(f, KernelMode.JAVA, "cosineSimilarity")).isZero();
        assertThat(kernelCalls(f, KernelMode.JAVA, "cosineSimilarityBatch")).isZero();
        assertThat(kernelCalls(f, KernelMode.JAVA, "spreadActivation")).as("spreading stays per query").isEqualTo(3);
        assertThat(kernelCalls(f, KernelMode.JAVA, "decayRetention")).isEqualTo(3);
        assertThat(batches(f, "size")).isEqualTo(1);
        assertThat(histogram(f, "recallBatchSize").getStatistics().getMax()).isEqualTo(3);
        assertThat(histogram(f, "recallBatchWaitUs").getCount()).isEqualTo(3);
        assertThat(histogram(f, "recallLatencyUs").getCount()).isEqualTo(3);

        // the same input with batching off: the same answers, bit for bit (Java kernels)
        var off = harness(OFF);
        seed(off);
        submit(off, SPACE, "q1", T0 + 10, 1, 0.5f, 0);
        submit(off, SPACE, "q2", T0 + 20, 0, 0.2f, 1);
        submit(off, SPACE, "q3", T0 + 30, 0.6f, 0.8f, 0);
        List<RecallResult> expected = answers(drainResults(off));
        assertThat(got).isEqualTo(expected);
        assertThat(got.get(0).getHits()).extracting(RecallHit::getMemoryId).contains("a", "d");
        assertThat(kernelCalls(fn(off), KernelMode.JAVA, "cosineSimilarityNormed")).as("one call per query")
                .isEqualTo(3);
        assertThat(h.numProcessingTimeTimers()).isZero();
        assertThat(keysWithState(h)).noneMatch(k -> k.startsWith(MemorySpaceFunction.PENDING.getName()));
    }

    @Test
    void aBatchIsAnsweredWhenItsFirstQueryHasWaitedMaxDelay() throws Exception {
        var h = harness(batching(8, 5));
        seed(h);
        h.setProcessingTime(2_000);
        submit(h, SPACE, "q1", T0 + 10, 1, 0, 0);
        h.setProcessingTime(2_003);
        submit(h, SPACE, "q2", T0 + 10, 0, 1, 0);
        submit(h, OTHER, "q3", T0 + 10, 1, 1, 0);
        h.setProcessingTime(2_004);
        assertThat(drainResults(h)).isEmpty();
        assertThat(h.numProcessingTimeTimers()).as("one per space").isEqualTo(2);
        h.setProcessingTime(2_005); // first arrival + max-delay
        assertThat(ids(answers(drainResults(h)))).containsExactly("q1", "q2");
        assertThat(pending(h, SPACE)).isZero();
        assertThat(pending(h, OTHER)).isEqualTo(1);
        h.setProcessingTime(2_008);
        List<RecallResult> other = answers(drainResults(h));
        assertThat(ids(other)).containsExactly("q3");
        assertThat(other.get(0).getHits()).extracting(RecallHit::getMemoryId).containsExactly("z");
        assertThat(batches(fn(h), "delay")).isEqualTo(2);
        assertThat(keysWithState(h)).noneMatch(k -> k.startsWith(MemorySpaceFunction.PENDING.getName()));
    }

    @Test
    void everyChangeToTheSpaceFirstAnswersTheQueriesThatArrivedBeforeIt() throws Exception {
        // The same interleaving with batching on (a batch could hold all 5 queries) and off.
        List<List<RecallResult>> runs = new ArrayList<>();
        List<Long> changeFlushes = new ArrayList<>();
        for (EngramSettings s : List.of(batching(8, 60_000), OFF)) {
            var h = harness(s);
            seed(h);
            float[] cue = {0.3f, 0.3f, 0.9f};
            List<RecallResult> got = new ArrayList<>();
            submit(h, SPACE, "before-store", T0 + 100, cue);
            t.send(h, SPACE, "x1", T0 + 100, mem("e", 3f, 1e6f, 0.3f, 0.3f, 0.9f)); // the best match from now on
            got.addAll(answers(drainResults(h)));
            submit(h, SPACE, "before-reinforce", T0 + 200, cue);
            t.send(h, SPACE, "x2", T0 + 200, reinforce("d"));
            submit(h, SPACE, "before-duplicate", T0 + 300, cue);
            t.send(h, SPACE, "x2", T0 + 300, reinforce("d")); // a replay changes nothing and answers nothing
            got.addAll(answers(drainResults(h)));
            submit(h, SPACE, "before-associate", T0 + 400, cue);
            t.send(h, SPACE, "x3", T0 + 400, associate("e", "a", 1f, false));
            submit(h, SPACE, "before-forget", T0 + 500, cue);
            t.send(h, SPACE, "x4", T0 + 500, forget("e"));
            got.addAll(answers(drainResults(h)));
            // the decay sweep (event time) forgets d (stability 50 s) at the second sweep
            submit(h, SPACE, "before-sweep", T0 + 3 * MINUTE, cue);
            // d (stability 100 s after the reinforce) falls below the forget threshold at the sweep of T0 + 520 s
            h.watermark(MemorySpaceFunctionTest.firstSweep(T0, MINUTE) + 10 * MINUTE);
            got.addAll(answers(drainResults(h)));
            submit(h, SPACE, "after-sweep", T0 + 3 * MINUTE, cue);
            h.setProcessingTime(h.getProcessingTime() + 60_000);
            got.addAll(answers(drainResults(h)));
            assertThat(drainDeadLetters(h)).isEmpty();
            runs.add(got);
            changeFlushes.add(batches(fn(h), "change"));
        }
        List<RecallResult> batched = runs.get(0);
        assertThat(ids(batched)).containsExactly("before-store", "before-reinforce", "before-duplicate",
                "before-associate", "before-forget", "before-sweep", "after-sweep");
        assertThat(batched).isEqualTo(runs.get(1));
        assertThat(batched.get(0).getHits()).extracting(RecallHit::getMemoryId).doesNotContain("e");
        assertThat(batched.get(3).getHits().get(0).getMemoryId()).isEqualTo("e");
        assertThat(batched.get(5).getHits()).extracting(RecallHit::getMemoryId).contains("d");
        assertThat(batched.get(6).getHits()).extracting(RecallHit::getMemoryId).doesNotContain("d");
        // store, reinforce, associate, forget, sweep (the replay did not flush); none with batching off
        assertThat(changeFlushes).containsExactly(5L, 0L);
    }

    @Test
    void aBadQueryIsDeadLetteredOnArrivalWhileTheBatchWaits() throws Exception {
        var h = harness(batching(4, 5));
        seed(h);
        submit(h, SPACE, "good-1", T0, 1, 0, 0);
        RawRecord bad = t.queryRecord(query(SPACE, "bad-k", T0, 1, 0, 0).setK(0).build());
        h.processElement(bad, T0);
        RawRecord dim = t.queryRecord(query(SPACE, "bad-dim", T0, 1, 0).build());
        h.processElement(dim, T0);
        assertThat(drainDeadLetters(h)).extracting(d -> d.getReason().toString())
                .containsExactly("BAD_K", "DIM_MISMATCH");
        assertThat(drainResults(h)).isEmpty();
        assertThat(pending(h, SPACE)).isEqualTo(1);
        h.setProcessingTime(h.getProcessingTime() + 5);
        assertThat(ids(answers(drainResults(h)))).containsExactly("good-1");
    }

    @Test
    void aKernelSwitchFirstAnswersEverySpacesWaitingQueriesWithTheKernelsTheyArrivedUnder() throws Exception {
        EngramSettings zig = zigOrNull(batchingConf(8, 60_000));
        var h = harness(zig != null ? zig : batching(8, 60_000));
        String before = zig != null ? "zig" : "java";
        String after = zig != null ? "java" : "zig"; // a Java-only subtask stays on Java
        seed(h);
        submit(h, SPACE, "q-space", T0, 1, 0, 0);
        submit(h, OTHER, "q-other", T0, 1, 1, 0);
        assertThat(drainResults(h)).isEmpty();
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(control(after).build())), T0);
        List<RecallResult> got = answers(drainResults(h));
        assertThat(got).extracting(r -> r.getQueryId().toString()).containsExactlyInAnyOrder("q-space", "q-other");
        assertThat(got).allSatisfy(r -> assertThat(r.getKernelMode().toString()).isEqualTo(before));
        assertThat(batches(fn(h), "control")).isEqualTo(2);
        submit(h, SPACE, "q-next", T0, 1, 0, 0);
        h.setProcessingTime(h.getProcessingTime() + 60_000);
        List<RecallResult> next = answers(drainResults(h));
        assertThat(next.get(0).getKernelMode().toString()).as("the switch serves the next batch").isEqualTo("java");
    }

    @Test
    void waitingQueriesSurviveSnapshotAndRestoreExactlyOnce() throws Exception {
        EngramSettings s = batching(8, 5);
        var h1 = harness(s);
        seed(h1);
        h1.setProcessingTime(5_000);
        submit(h1, SPACE, "q1", T0 + 10, 1, 0.5f, 0);
        submit(h1, SPACE, "q2", T0 + 20, 0, 0, 1);
        submit(h1, OTHER, "q3", T0 + 20, 1, 0, 0);
        assertThat(drainResults(h1)).isEmpty();
        OperatorSubtaskState snapshot = h1.snapshot(1L, T0 + 30);

        // the original answers after the snapshot: a restore must neither lose nor repeat these
        h1.setProcessingTime(5_005);
        List<RecallResult> original = answers(drainResults(h1));
        assertThat(ids(original)).containsExactlyInAnyOrder("q1", "q2", "q3");

        var h2 = t.unopenedHarness(new MemorySpaceFunction(s));
        h2.setProcessingTime(5_001);
        h2.initializeState(snapshot);
        h2.open();
        assertThat(pending(h2, SPACE)).isEqualTo(2);
        assertThat(pending(h2, OTHER)).isEqualTo(1);
        assertThat(h2.numProcessingTimeTimers()).as("the flush timers are restored").isEqualTo(2);
        assertThat(drainResults(h2)).isEmpty();
        h2.setProcessingTime(5_005);
        List<RecallResult> restored = answers(drainResults(h2));
        assertThat(restored).containsExactlyInAnyOrderElementsOf(original);
        assertThat(restored.stream().filter(r -> r.getSpace().toString().equals(SPACE)).map(r -> r.getQueryId()
                .toString()).toList()).as("a space's answers in arrival order").containsExactly("q1", "q2");
        h2.setProcessingTime(6_000);
        assertThat(drainResults(h2)).as("nothing answered twice").isEmpty();
        assertThat(keysWithState(h2)).noneMatch(k -> k.startsWith(MemorySpaceFunction.PENDING.getName()));

        // restored into a job with batching off: the waiting queries are answered before the next one, in order
        var h3 = t.unopenedHarness(new MemorySpaceFunction(OFF));
        h3.setProcessingTime(5_001);
        h3.initializeState(snapshot);
        h3.open();
        submit(h3, SPACE, "q4", T0 + 40, 1, 0, 0);
        assertThat(ids(answers(drainResults(h3)))).containsExactly("q1", "q2", "q4");
        h3.setProcessingTime(5_005);
        assertThat(ids(answers(drainResults(h3)))).containsExactly("q3");
    }

    @Test
    void aWaitingQueryThatRestoredLimitsRefuseIsDeadLetteredNotFatal() throws Exception {
        var h1 = harness(batching(8, 5));
        seed(h1);
        h1.setProcessingTime(5_000);
        RawRecord big = t.queryRecord(query(SPACE, "k-50", T0, 1, 0, 0).setK(50).build());
        h1.processElement(big, T0);
        submit(h1, SPACE, "k-10", T0, 1, 0, 0);
        OperatorSubtaskState snapshot = h1.snapshot(1L, T0);

        var h2 = t.unopenedHarness(new MemorySpaceFunction(settings(batchingConf(8, 5).andThen(
                c -> c.set(EngramOptions.MAX_K, 20)))));
        h2.setProcessingTime(5_001);
        h2.initializeState(snapshot);
        h2.open();
        h2.setProcessingTime(5_005);
        assertThat(ids(answers(drainResults(h2)))).containsExactly("k-10");
        var dl = drainDeadLetters(h2);
        assertThat(dl).extracting(d -> d.getReason().toString()).containsExactly("BAD_K");
        assertThat(dl.get(0).getSourceOffset()).isEqualTo(big.offset);
    }

    @Test
    void aSnapshotWithoutWaitingQueriesRestoresWithAnEmptyBatch() throws Exception {
        // What a savepoint of the job before batching holds: no pending-queries state at all.
        var h1 = harness(OFF);
        seed(h1);
        RecallResult answer = t.ask(h1, query(SPACE, "q", T0 + 10, 1, 0, 0).build());
        OperatorSubtaskState snapshot = h1.snapshot(1L, T0 + 30);
        var h2 = t.unopenedHarness(new MemorySpaceFunction(batching(8, 5)));
        h2.initializeState(snapshot);
        h2.open();
        assertThat(pending(h2, SPACE)).isZero();
        assertThat(h2.numProcessingTimeTimers()).isZero();
        RecallResult again = t.ask(h2, query(SPACE, "q", T0 + 10, 1, 0, 0).build());
        assertThat(RecallResult.newBuilder(again).setLatencyUs(0L).build())
                .isEqualTo(RecallResult.newBuilder(answer).setLatencyUs(0L).build());
    }

    @Test
    void onRocksDbAKernelSwitchAnswersEverySpaceAndWaitingQueriesRestore() throws Exception {
        // The broadcast side clears each space's pending-queries state while iterating that state's keys.
        EngramSettings s = batching(8, 60_000);
        var h = t.unopenedHarness(new MemorySpaceFunction(s));
        h.setStateBackend(new org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend());
        h.open();
        h.setProcessingTime(1_000);
        seed(h);
        for (int i = 0; i < 3; i++) {
            submit(h, SPACE, "s-" + i, T0, 1, i, 0);
            submit(h, OTHER, "o-" + i, T0, 1, i, 0);
        }
        assertThat(pending(h, SPACE)).isEqualTo(3);
        OperatorSubtaskState snapshot = h.snapshot(1L, T0);
        h.processBroadcastElement(t.controlRecord(AvroCodec.encode(control("java").build())), T0);
        List<RecallResult> got = answers(drainResults(h));
        assertThat(ids(got)).containsExactlyInAnyOrder("s-0", "s-1", "s-2", "o-0", "o-1", "o-2");
        assertThat(pending(h, SPACE)).isZero();
        assertThat(pending(h, OTHER)).isZero();

        var h2 = t.unopenedHarness(new MemorySpaceFunction(s));
        h2.setStateBackend(new org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend());
        h2.setProcessingTime(1_000);
        h2.initializeState(snapshot);
        h2.open();
        assertThat(pending(h2, SPACE)).isEqualTo(3);
        h2.setProcessingTime(61_000);
        assertThat(answers(drainResults(h2))).containsExactlyInAnyOrderElementsOf(got);
    }

    /**
     * The keyed state of the job before batching: space, dedup and next-sweep only. No pending-queries state, no
     * operator or broadcast state at all, as in a savepoint of that version.
     */
    static final class PreBatchingShape
            extends org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction<String, RawRecord,
            RawRecord, OutRecord> {
        @Override
        public void processElement(RawRecord raw, ReadOnlyContext ctx,
                                   org.apache.flink.util.Collector<OutRecord> out) throws Exception {
            io.engram.job.state.SpaceState s = new io.engram.job.state.SpaceState();
            s.upsert("old", new float[] {1f, 0f, 0f}, 1f, 1e6f, T0);
            getRuntimeContext().getState(io.engram.job.state.FlinkSpaceStore.LEGACY).update(s);
            getRuntimeContext().getMapState(MemorySpaceFunction.DEDUP).put("old-event", T0);
            getRuntimeContext().getState(MemorySpaceFunction.NEXT_SWEEP).update(T0 + MINUTE);
        }

        @Override
        public void processBroadcastElement(RawRecord raw, Context ctx,
                                            org.apache.flink.util.Collector<OutRecord> out) {
        }
    }

    @Test
    void aSnapshotOfTheStateShapeBeforeBatchingRestoresWithNoWaitingQuery() throws Exception {
        var old = new KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord>(
                new org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator<>(new PreBatchingShape(),
                        List.of(KernelRouter.CONTROL)), RawRecord::getSpace,
                org.apache.flink.api.common.typeinfo.Types.STRING, 1, 1, 0);
        old.open();
        old.processElement(t.eventRecord(MemorySpaceFunctionTest.event(SPACE, "x", T0, store("x", 1, 0, 0))), T0);
        OperatorSubtaskState snapshot = old.snapshot(1L, T0);
        old.close();

        var h = t.unopenedHarness(new MemorySpaceFunction(batching(2, 5)));
        h.initializeState(snapshot);
        h.open();
        assertThat(pending(h, SPACE)).isZero();
        assertThat(h.numProcessingTimeTimers()).isZero();
        submit(h, SPACE, "q1", T0 + 10, 1, 0, 0);
        assertThat(pending(h, SPACE)).isEqualTo(1);
        submit(h, SPACE, "q2", T0 + 10, 1, 0.1f, 0);
        List<RecallResult> got = answers(drainResults(h));
        assertThat(ids(got)).containsExactly("q1", "q2");
        assertThat(got.get(0).getHits()).extracting(RecallHit::getMemoryId).containsExactly("old");
    }

    @Test
    void aBatchWhoseCuesAloneExceedTheArenaIsAnsweredInOneCallWithoutOverflow() throws Exception {
        // 5 cues of dim 512 are 10 KiB, more than the 8 KiB arena: the stored-norm kernel reads them where they are
        // and takes no arena space, so the batch is one call per chunk and nothing overflows.
        EngramSettings zig = zigOrNull(c -> {
            c.set(EngramOptions.BATCH_MAX_SIZE, 5);
            c.set(EngramOptions.BATCH_MAX_DELAY, Duration.ofSeconds(60));
            c.set(EngramOptions.ARENA_SIZE, new MemorySize(8192));
            c.set(EngramOptions.ARENA_OVERFLOW, "fail");
        });
        if (zig == null) {
            return; // no Zig arena in this build
        }
        var h = harness(zig);
        var off = harness(zigOrNull(c -> {
            c.set(EngramOptions.BATCH_MAX_SIZE, 1);
            c.set(EngramOptions.ARENA_SIZE, new MemorySize(8192));
            c.set(EngramOptions.ARENA_OVERFLOW, "fail");
        }));
        Random r = new Random(7);
        for (var x : List.of(h, off)) {
            Random rr = new Random(11);
            for (int i = 0; i < 6; i++) {
                t.send(x, SPACE, "m" + i, T0, store("m" + i, gaussian(rr, 512)));
            }
        }
        List<float[]> cues = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            cues.add(gaussian(r, 512));
        }
        for (var x : List.of(h, off)) {
            for (int i = 0; i < 5; i++) {
                submit(x, SPACE, "q" + i, T0, cues.get(i));
            }
        }
        List<RecallResult> got = answers(drainResults(h));
        assertThat(ids(got)).containsExactly("q0", "q1", "q2", "q3", "q4");
        assertThat(drainDeadLetters(h)).isEmpty();
        assertThat(kernelCalls(fn(h), KernelMode.ZIG, "cosineSimilarityNormed")).isEqualTo(1);
        assertThat(kernelCalls(fn(off), KernelMode.ZIG, "cosineSimilarityNormed")).isEqualTo(5);
        KernelRouter router = (KernelRouter) field(fn(h), "kernels");
        assertThat(router.configured().arenaStats().overflows()).isZero();
        assertSameWithinTolerance(got, answers(drainResults(off)));
    }

    static float[] gaussian(Random r, int dim) {
        float[] v = new float[dim];
        for (int i = 0; i < dim; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Zig batched vs Zig one at a time: the same hits in the same order, values within the cosine tolerance. */
    static void assertSameWithinTolerance(List<RecallResult> got, List<RecallResult> expected) {
        assertThat(got).hasSameSizeAs(expected);
        for (int i = 0; i < got.size(); i++) {
            RecallResult g = got.get(i);
            RecallResult e = expected.get(i);
            assertThat(g.getQueryId()).isEqualTo(e.getQueryId());
            assertThat(g.getKernelMode()).isEqualTo(e.getKernelMode());
            assertThat(g.getHits()).extracting(RecallHit::getMemoryId)
                    .as("hits of %s", g.getQueryId()).isEqualTo(e.getHits().stream().map(RecallHit::getMemoryId)
                            .toList());
            for (int j = 0; j < g.getHits().size(); j++) {
                RecallHit a = g.getHits().get(j);
                RecallHit b = e.getHits().get(j);
                assertThat(a.getSimilarity()).isCloseTo(b.getSimilarity(), org.assertj.core.data.Offset.offset(1e-5f));
                assertThat(a.getScore()).isCloseTo(b.getScore(),
                        org.assertj.core.data.Offset.offset(1e-5f * Math.max(1f, Math.abs(b.getScore()))));
                assertThat(a.getHops()).isEqualTo(b.getHops());
            }
        }
    }

    /** The settings with {@code tweak} in Zig mode if this build has Zig kernels, else null. */
    static EngramSettings zigOrNull(Consumer<Configuration> tweak) {
        EngramSettings z = settings(c -> {
            tweak.accept(c);
            c.set(EngramOptions.KERNEL_MODE, "zig");
        });
        try {
            return Kernels.status(z.kernelsConfig()).activeMode() == KernelMode.ZIG ? z : null;
        } catch (NativeLoadException | IllegalStateException e) {
            return null;
        }
    }
}
