package io.engram.job.operator;

import static io.engram.job.operator.MemorySpaceFunctionTest.SPACE;
import static io.engram.job.operator.MemorySpaceFunctionTest.T0;
import static io.engram.job.operator.MemorySpaceFunctionTest.associate;
import static io.engram.job.operator.MemorySpaceFunctionTest.drainDeadLetters;
import static io.engram.job.operator.MemorySpaceFunctionTest.drainResults;
import static io.engram.job.operator.MemorySpaceFunctionTest.event;
import static io.engram.job.operator.MemorySpaceFunctionTest.field;
import static io.engram.job.operator.MemorySpaceFunctionTest.mem;
import static io.engram.job.operator.MemorySpaceFunctionTest.query;
import static io.engram.job.operator.MemorySpaceFunctionTest.setField;
import static io.engram.job.operator.MemorySpaceFunctionTest.settings;
import static io.engram.job.operator.MemorySpaceFunctionTest.store;
import static io.engram.job.operator.RecallBatchingTest.answers;
import static io.engram.job.operator.RecallBatchingTest.batches;
import static io.engram.job.operator.RecallBatchingTest.fn;
import static io.engram.job.operator.RecallBatchingTest.gaussian;
import static io.engram.job.operator.RecallBatchingTest.histogram;
import static io.engram.job.operator.RecallBatchingTest.ids;
import static io.engram.job.operator.RecallBatchingTest.kernelCalls;
import static io.engram.job.operator.RecallBatchingTest.zigOrNull;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.kernels.KernelMode;
import io.engram.schemas.EventPosition;
import io.engram.schemas.RecallResult;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Event-time mode answers the queries one advance of the watermark releases in batches, as arrival mode batches the
 * queries that arrive together: one pass of the batched similarity kernel per batch, the batch answered before the
 * next event is applied, so every answer is the one its query gets in timestamp order one at a time. A release reads
 * only the waiting records of its own timestamp.
 */
class EventTimeBatchingTest {
    private final MemorySpaceFunctionTest t = new MemorySpaceFunctionTest();

    @AfterEach
    void close() throws Exception {
        t.closeHarnesses();
    }

    private static Consumer<Configuration> eventTime(int batchSize) {
        return c -> {
            c.set(EngramOptions.RECALL_CONSISTENCY, "event-time");
            c.set(EngramOptions.BATCH_MAX_SIZE, batchSize);
            c.set(EngramOptions.BATCH_MAX_DELAY, Duration.ofSeconds(60)); // only the release answers the batch
        };
    }

    /** Arrival mode with batching off: every query answered alone, from the state as the records come. */
    private static final EngramSettings ONE_AT_A_TIME = settings(c -> c.set(EngramOptions.BATCH_MAX_SIZE, 1));

    private KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> harness(EngramSettings s)
            throws Exception {
        var h = t.harness(new MemorySpaceFunction(s));
        h.setProcessingTime(1_000);
        return h;
    }

    private static void feed(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                             RawRecord r) throws Exception {
        h.processElement(r, r.timestampMs);
    }

    /** Four memories and two edges, stamped T0 + 1 .. T0 + 6. */
    private List<RawRecord> seed() {
        return List.of(
                t.eventRecord(event(SPACE, "s1", T0 + 1, mem("a", 1f, 1e6f, 1, 0, 0))),
                t.eventRecord(event(SPACE, "s2", T0 + 2, mem("b", 0.5f, 1e6f, 0.6f, 0.8f, 0))),
                t.eventRecord(event(SPACE, "s3", T0 + 3, mem("c", 2f, 1e6f, 0, 0, 1))),
                t.eventRecord(event(SPACE, "s4", T0 + 4, mem("d", 1f, 50f, 0.3f, 0.3f, 0.9f))),
                t.eventRecord(event(SPACE, "s5", T0 + 5, associate("b", "c", 0.6f, true))),
                t.eventRecord(event(SPACE, "s6", T0 + 6, associate("a", "d", 0.9f, false))));
    }

    private RawRecord queryAt(String id, long ts, float... cue) {
        return t.queryRecord(query(SPACE, id, ts, cue).setThreshold(0f).build());
    }

    /** The answers the records get one at a time in timestamp order (arrival mode, batching off). */
    private List<RecallResult> oneAtATime(List<RawRecord> records) throws Exception {
        var ref = harness(ONE_AT_A_TIME);
        List<RawRecord> byTime = new ArrayList<>(records);
        byTime.sort(Comparator.comparingLong(r -> r.timestampMs)); // stable: events first where they come first
        for (RawRecord r : byTime) {
            feed(ref, r);
        }
        assertThat(drainDeadLetters(ref)).isEmpty();
        return answers(drainResults(ref));
    }

    @Test
    void theQueriesOneWatermarkReleasesAreAnsweredByOneBatchedKernelCall() throws Exception {
        var h = harness(settings(eventTime(8)));
        List<RawRecord> all = new ArrayList<>(seed());
        all.forEach(r -> feedUnchecked(h, r));
        h.watermark(T0 + 9);
        Random rnd = new Random(3);
        List<RawRecord> queries = new ArrayList<>();
        for (int i = 1; i <= 6; i++) {
            queries.add(queryAt("q" + i, T0 + 10L * i, rnd.nextFloat(), rnd.nextFloat(), rnd.nextFloat()));
        }
        all.addAll(queries);
        for (int i = queries.size() - 1; i >= 0; i--) {
            feed(h, queries.get(i)); // arriving newest first: released in timestamp order all the same
        }
        assertThat(drainResults(h)).as("nothing before the watermark passes").isEmpty();
        MemorySpaceFunction f = fn(h);
        assertThat(kernelCalls(f, KernelMode.JAVA, "cosineSimilarityNormed")).isZero();

        h.watermark(T0 + 100);
        List<RecallResult> got = answers(drainResults(h));
        assertThat(ids(got)).containsExactly("q1", "q2", "q3", "q4", "q5", "q6");
        assertThat(kernelCalls(f, KernelMode.JAVA, "cosineSimilarityNormed")).as("one call for the six queries")
                .isEqualTo(1);
        assertThat(kernelCalls(f, KernelMode.JAVA, "spreadActivation")).as("spreading stays per query").isEqualTo(6);
        assertThat(batches(f, "release")).isEqualTo(1);
        assertThat(histogram(f, "recallBatchSize").getStatistics().getMax()).isEqualTo(6);
        assertThat(h.numEventTimeTimers()).as("only the space's sweep is left: no release or flush timer")
                .isEqualTo(1);
        assertThat(drainDeadLetters(h)).isEmpty();
        assertThat(got).allSatisfy(r -> assertThat(r.getStale()).isFalse());
        assertThat(got.get(0).getHits()).isNotEmpty();
        // the answers arrival mode gives the same records one at a time in timestamp order, bit for bit (Java)
        assertThat(got).isEqualTo(oneAtATime(all));
    }

    @Test
    void aBatchIsAnsweredBeforeTheNextEventAndWhenFull() throws Exception {
        var h = harness(settings(eventTime(8)));
        List<RawRecord> all = new ArrayList<>(seed());
        Random rnd = new Random(5);
        for (int i = 1; i <= 20; i++) {
            all.add(queryAt("q" + i, T0 + 10L * i, rnd.nextFloat(), rnd.nextFloat(), rnd.nextFloat()));
        }
        // a new best match for most cues, stamped between q10 and q11
        all.add(t.eventRecord(event(SPACE, "s7", T0 + 105, mem("e", 3f, 1e6f, 0.5f, 0.5f, 0.5f))));
        List<RawRecord> arrival = new ArrayList<>(all);
        java.util.Collections.shuffle(arrival, new Random(9));
        for (RawRecord r : arrival) {
            feed(h, r);
        }
        h.watermark(T0 + 1_000);
        List<RecallResult> got = answers(drainResults(h));
        assertThat(got).hasSize(20);
        MemorySpaceFunction f = fn(h);
        // q1..q10: 8 by size, 2 before the event; q11..q20: 8 by size, 2 at the end of the release
        assertThat(batches(f, "size")).isEqualTo(2);
        assertThat(batches(f, "change")).isEqualTo(1);
        assertThat(batches(f, "release")).isEqualTo(1);
        assertThat(kernelCalls(f, KernelMode.JAVA, "cosineSimilarityNormed")).isEqualTo(4);
        assertThat(got.get(9).getHits()).extracting(h2 -> h2.getMemoryId().toString()).doesNotContain("e");
        assertThat(got.get(10).getHits()).extracting(h2 -> h2.getMemoryId().toString()).contains("e");
        assertThat(got).isEqualTo(oneAtATime(all));
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    @Test
    void aNamedWriteMetOnlyAfterTheQueryIsReleasedLeavesItsAnswerStale() throws Exception {
        // q names the position of a replay of s1 stamped after it; a replay changes no memory (it does not have to
        // answer the batch first to keep the state as q saw it) but it is processed: q's answer must stay stale.
        var h = harness(settings(eventTime(8)));
        seed().forEach(r -> feedUnchecked(h, r));
        RawRecord replay = t.eventRecord(event(SPACE, "s1", T0 + 30, mem("a", 1f, 1e6f, 1, 0, 0)));
        feed(h, t.queryRecord(query(SPACE, "q-after", T0 + 20, 1, 0, 0)
                .setAfterPositions(List.of(new EventPosition(replay.partition, replay.offset))).build()));
        feed(h, t.queryRecord(query(SPACE, "q-met", T0 + 21, 1, 0, 0)
                .setAfterEventIds(List.of("s6")).build()));
        feed(h, replay);
        h.watermark(T0 + 100);
        List<RecallResult> got = answers(drainResults(h));
        assertThat(ids(got)).containsExactly("q-after", "q-met");
        assertThat(got.get(0).getStale()).as("its write is stamped after it").isTrue();
        assertThat(got.get(1).getStale()).as("s6 is applied before it").isFalse();
        assertThat(got.get(0).getHits()).extracting(x -> x.getMemoryId().toString())
                .as("both from the space as of their time").containsExactly("c", "a", "d", "b");
    }

    @Test
    void aReleaseTimerReadsOnlyItsOwnTimestampsWaitingRecords() throws Exception {
        var h = harness(settings(eventTime(8)));
        seed().forEach(r -> feedUnchecked(h, r));
        h.watermark(T0 + 9);
        Random rnd = new Random(8);
        for (int i = 1; i <= 50; i++) {
            feed(h, queryAt("q" + i, T0 + 10L * i, rnd.nextFloat(), rnd.nextFloat(), rnd.nextFloat()));
        }
        EventTimeOrder order = (EventTimeOrder) field(fn(h), "order");
        Counting<MapState<Long, ?>> held = new Counting<>((MapState<Long, ?>) field(order, "held"));
        setField(order, "held", held.proxy(MapState.class));

        h.watermark(T0 + 255); // releases q1 .. q25: 25 release timers and one at the watermark
        assertThat(drainResults(h)).hasSize(25);
        assertThat(held.scans()).as("no timer iterates the waiting records: %s", held.calls).isZero();
        assertThat(held.calls.get("get")).as("one point read per release timer, none for the flush timer")
                .isEqualTo(26);
        assertThat(held.calls.get("remove")).isEqualTo(25);

        held.calls.clear();
        h.watermark(T0 + 500); // the other 25, the last at the watermark itself
        assertThat(drainResults(h)).hasSize(25);
        assertThat(held.scans()).isZero();
        assertThat(held.calls.get("get")).isEqualTo(25);
        assertThat(h.numEventTimeTimers()).as("the sweep").isEqualTo(1);
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    @Test
    void aZigAnswerDoesNotDependOnWhichQueriesShareItsBatch() throws Exception {
        // The Zig stored-norm kernel sums a lone cue in another order than one of several: q1 released alone must
        // get bit for bit the answer it gets released with q2 and q3, or event time would depend on the watermark.
        EngramSettings zig = zigOrNull(eventTime(8));
        if (zig == null) {
            return; // no Zig kernels in this build
        }
        Map<String, List<RecallResult>> runs = new TreeMap<>();
        for (String cadence : List.of("q1-alone", "all-together")) {
            var h = harness(zig);
            Random rnd = new Random(21);
            for (int i = 0; i < 40; i++) {
                feed(h, t.eventRecord(event(SPACE, "m" + i, T0 + 1 + i, store("m" + i, gaussian(rnd, 96)))));
            }
            for (int i = 1; i <= 3; i++) {
                feed(h, queryAt("q" + i, T0 + 100 + i, gaussian(rnd, 96)));
            }
            if (cadence.equals("q1-alone")) {
                h.watermark(T0 + 101);
            }
            h.watermark(T0 + 1_000);
            List<RecallResult> got = answers(drainResults(h));
            assertThat(ids(got)).containsExactly("q1", "q2", "q3");
            assertThat(kernelCalls(fn(h), KernelMode.ZIG, "cosineSimilarityNormed"))
                    .isEqualTo(cadence.equals("q1-alone") ? 2 : 1);
            runs.put(cadence, got);
        }
        assertThat(runs.get("q1-alone")).isEqualTo(runs.get("all-together"));
    }

    private static void feedUnchecked(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                                      RawRecord r) {
        try {
            feed(h, r);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** Counts the calls of an interface's methods on {@code target}, by method name. */
    static final class Counting<T> implements InvocationHandler {
        final T target;
        final Map<String, Integer> calls = new TreeMap<>();

        Counting(T target) {
            this.target = target;
        }

        @SuppressWarnings("unchecked")
        <I> I proxy(Class<?> type) {
            return (I) Proxy.newProxyInstance(type.getClassLoader(), new Class<?>[] {type}, this);
        }

        /** Calls that read more than one entry. */
        int scans() {
            int n = 0;
            for (String m : List.of("entries", "keys", "values", "iterator", "isEmpty")) {
                n += calls.getOrDefault(m, 0);
            }
            return n;
        }

        @Override
        public Object invoke(Object proxy, java.lang.reflect.Method method, Object[] args) throws Throwable {
            calls.merge(method.getName(), 1, Integer::sum);
            try {
                return method.invoke(target, args);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            }
        }
    }
}
