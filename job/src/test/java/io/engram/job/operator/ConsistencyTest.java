package io.engram.job.operator;

import static io.engram.job.operator.MemorySpaceFunctionTest.SPACE;
import static io.engram.job.operator.MemorySpaceFunctionTest.T0;
import static io.engram.job.operator.MemorySpaceFunctionTest.drainDeadLetters;
import static io.engram.job.operator.MemorySpaceFunctionTest.drainResults;
import static io.engram.job.operator.MemorySpaceFunctionTest.event;
import static io.engram.job.operator.MemorySpaceFunctionTest.forget;
import static io.engram.job.operator.MemorySpaceFunctionTest.query;
import static io.engram.job.operator.MemorySpaceFunctionTest.settings;
import static io.engram.job.operator.MemorySpaceFunctionTest.store;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.EventPosition;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Consistency of answers (docs/internal/recall_contract.md, "Consistency"): event-time mode answers a query from
 * exactly the events stamped at or before it, whatever order records arrive in; read-your-writes makes a query wait
 * for the writes it names, bounded in time and number.
 */
class ConsistencyTest {
    private final MemorySpaceFunctionTest t = new MemorySpaceFunctionTest();
    private long offset;

    @AfterEach
    void close() throws Exception {
        t.closeHarnesses();
    }

    private static EngramSettings eventTime(Consumer<Configuration> more) {
        return settings(c -> {
            c.set(EngramOptions.RECALL_CONSISTENCY, "event-time");
            more.accept(c);
        });
    }

    private KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> harness(EngramSettings s)
            throws Exception {
        return t.harness(new MemorySpaceFunction(s));
    }

    /** A memory event at (partition 0, next offset); returns where it was "written". */
    private RawRecord eventAt(MemoryEvent e) {
        return new RawRecord(RawRecord.Kind.MEMORY_EVENT, "engram.memory-events", 0, offset++, e.getTimestampMs(),
                e.getSpace().getBytes(StandardCharsets.UTF_8), AvroCodec.encode(e));
    }

    private RawRecord queryAt(RecallQuery q) {
        return new RawRecord(RawRecord.Kind.RECALL_QUERY, "engram.recall-queries", 0, offset++, q.getTimestampMs(),
                q.getSpace().getBytes(StandardCharsets.UTF_8), AvroCodec.encode(q));
    }

    private static void feed(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h,
                             RawRecord r) throws Exception {
        h.processElement(r, r.timestampMs);
    }

    private static List<RecallResult> results(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord,
            OutRecord> h) {
        return drainResults(h).stream().map(o -> AvroCodec.decodeRecallResult(o.value)).toList();
    }

    private static List<String> ids(RecallResult r) {
        return r.getHits().stream().map(RecallHit::getMemoryId).map(Object::toString).toList();
    }

    // ----- event time ------------------------------------------------------------------------------------------

    @Test
    void eventTimeAnswersFromExactlyTheEventsStampedAtOrBeforeTheQuery() throws Exception {
        var h = harness(eventTime(c -> { }));
        feed(h, eventAt(event(SPACE, "a", T0 + 10, store("a", 1, 0, 0))));
        feed(h, queryAt(query(SPACE, "q", T0 + 20, 1, 1, 0).setK(5).build()));
        feed(h, eventAt(event(SPACE, "c", T0 + 30, store("c", 1, 1, 0))));
        feed(h, eventAt(event(SPACE, "b", T0 + 15, store("b", 0, 1, 0)))); // out of order, but before the query
        feed(h, eventAt(event(SPACE, "at", T0 + 20, store("at", 1, 1, 1)))); // the query's own time: seen
        assertThat(results(h)).as("nothing before the watermark passes").isEmpty();
        h.watermark(T0 + 25);
        List<RecallResult> r = results(h);
        assertThat(r).hasSize(1);
        assertThat(ids(r.get(0))).containsExactlyInAnyOrder("a", "b", "at");
        assertThat(r.get(0).getStale()).isFalse();
        assertThat(drainDeadLetters(h)).isEmpty();
    }

    @Test
    void eventTimeAnswersDoNotDependOnTheInterleavingOfTheTwoTopics() throws Exception {
        Random rnd = new Random(42);
        List<RawRecord> records = new ArrayList<>();
        List<String> live = new ArrayList<>();
        for (int i = 0; i < 60; i++) {
            long ts = T0 + 1_000 + i * 10L;
            int kind = rnd.nextInt(5);
            if (kind < 3 || live.size() < 2) {
                String id = "m" + i;
                records.add(eventAt(event(SPACE, "e" + i, ts, store(id, rnd.nextFloat(), rnd.nextFloat(),
                        rnd.nextFloat()))));
                live.add(id);
            } else if (kind == 3) {
                records.add(eventAt(event(SPACE, "f" + i, ts, forget(live.remove(rnd.nextInt(live.size()))))));
            } else {
                records.add(queryAt(query(SPACE, "q" + i, ts, rnd.nextFloat(), rnd.nextFloat(), rnd.nextFloat())
                        .setK(5).build()));
            }
        }
        Map<String, List<String>> first = null;
        for (int run = 0; run < 12; run++) {
            // events in order (one partition), queries in order, the two interleaved at random; arrival within the
            // out-of-orderness bound (the watermark lags the newest timestamp by 5 s)
            List<RawRecord> events = records.stream().filter(r -> r.kind == RawRecord.Kind.MEMORY_EVENT).toList();
            List<RawRecord> queries = records.stream().filter(r -> r.kind == RawRecord.Kind.RECALL_QUERY).toList();
            List<RawRecord> mixed = new ArrayList<>();
            int e = 0;
            int q = 0;
            Random order = new Random(run);
            while (e < events.size() || q < queries.size()) {
                boolean takeEvent = q >= queries.size() || (e < events.size() && order.nextBoolean());
                mixed.add(takeEvent ? events.get(e++) : queries.get(q++));
            }
            var h = harness(eventTime(c -> { }));
            long wm = Long.MIN_VALUE;
            Map<String, List<String>> answers = new TreeMap<>();
            for (RawRecord r : mixed) {
                feed(h, r);
                if (order.nextInt(4) == 0) {
                    long w = r.timestampMs - 5_000; // a watermark behind everything already sent
                    if (w > wm) {
                        wm = w;
                        h.watermark(wm);
                    }
                }
                results(h).forEach(res -> answers.put(res.getQueryId().toString(), ids(res)));
            }
            h.watermark(Long.MAX_VALUE);
            results(h).forEach(res -> {
                assertThat(res.getStale()).isFalse();
                answers.put(res.getQueryId().toString(), ids(res));
            });
            assertThat(drainDeadLetters(h)).isEmpty();
            assertThat(answers).hasSize((int) records.stream().filter(r -> r.kind == RawRecord.Kind.RECALL_QUERY)
                    .count());
            if (first == null) {
                first = answers;
            } else {
                assertThat(answers).as("run %d", run).isEqualTo(first);
            }
        }
        // and they are the answers of one-at-a-time processing in timestamp order (arrival mode, sorted input)
        var sorted = harness(settings(c -> c.set(EngramOptions.BATCH_MAX_SIZE, 1)));
        Map<String, List<String>> inOrder = new TreeMap<>();
        List<RawRecord> byTime = new ArrayList<>(records);
        byTime.sort(java.util.Comparator.comparingLong(r -> r.timestampMs));
        for (RawRecord r : byTime) {
            feed(sorted, r);
            results(sorted).forEach(res -> inOrder.put(res.getQueryId().toString(), ids(res)));
        }
        assertThat(first).isEqualTo(inOrder);
    }

    @Test
    void aLateEventIsDeadLetteredAndALateQueryAnsweredStale() throws Exception {
        var h = harness(eventTime(c -> { }));
        feed(h, eventAt(event(SPACE, "a", T0, store("a", 1, 0, 0))));
        h.watermark(T0 + 100);
        feed(h, eventAt(event(SPACE, "late", T0 + 50, store("late", 1, 1, 0))));
        List<DeadLetter> dl = drainDeadLetters(h);
        assertThat(dl).extracting(DeadLetter::getReason).containsExactly("LATE_EVENT");
        feed(h, queryAt(query(SPACE, "q-late", T0 + 60, 1, 0, 0).build()));
        List<RecallResult> r = results(h);
        assertThat(r).hasSize(1);
        assertThat(r.get(0).getStale()).as("answered from a state past its time").isTrue();
        assertThat(ids(r.get(0))).containsExactly("a");
    }

    @Test
    void withEveryInputIdleTheWaitTimeoutReleasesWhatWaits() throws Exception {
        var h = harness(eventTime(c -> c.set(EngramOptions.WAIT_TIMEOUT, Duration.ofSeconds(2))));
        h.setProcessingTime(1_000);
        feed(h, eventAt(event(SPACE, "a", T0, store("a", 1, 0, 0))));
        feed(h, queryAt(query(SPACE, "q", T0 + 1, 1, 0, 0).build()));
        h.setProcessingTime(2_999);
        assertThat(results(h)).isEmpty();
        h.setProcessingTime(3_000); // no watermark came: released after the wait timeout
        List<RecallResult> r = results(h);
        assertThat(r).hasSize(1);
        assertThat(ids(r.get(0))).containsExactly("a");
        feed(h, eventAt(event(SPACE, "b", T0 + 1, store("b", 1, 0, 0))));
        assertThat(drainDeadLetters(h)).extracting(DeadLetter::getReason).as("behind the released point: late")
                .containsExactly("LATE_EVENT");
    }

    // ----- read your writes ------------------------------------------------------------------------------------

    @Test
    void aQueryWaitsForTheEventIdsItNames() throws Exception {
        var h = harness(settings(c -> { }));
        feed(h, eventAt(event(SPACE, "e1", T0, store("old", 1, 0, 0))));
        feed(h, queryAt(query(SPACE, "q", T0, 1, 0, 0).setAfterEventIds(List.of("e2")).build()));
        h.setProcessingTime(h.getProcessingTime() + 100);
        assertThat(results(h)).as("e2 not applied yet").isEmpty();
        feed(h, eventAt(event(SPACE, "e2", T0, store("new", 1, 0, 0))));
        h.setProcessingTime(h.getProcessingTime() + 100); // the batch's delay
        List<RecallResult> r = results(h);
        assertThat(r).hasSize(1);
        assertThat(ids(r.get(0))).contains("new", "old");
        assertThat(r.get(0).getStale()).isFalse();
    }

    @Test
    void aQueryWaitsForThePositionsItNames() throws Exception {
        var h = harness(settings(c -> c.set(EngramOptions.BATCH_MAX_SIZE, 1)));
        RawRecord first = eventAt(event(SPACE, "e1", T0, store("first", 1, 0, 0)));
        offset = 41;
        RawRecord second = eventAt(event(SPACE, "e2", T0, store("second", 1, 0, 0)));
        feed(h, first);
        feed(h, queryAt(query(SPACE, "q", T0, 1, 0, 0)
                .setAfterPositions(List.of(new EventPosition(0, second.offset))).build()));
        assertThat(results(h)).isEmpty();
        feed(h, second);
        List<RecallResult> r = results(h);
        assertThat(r).hasSize(1);
        assertThat(ids(r.get(0))).contains("second");
        // a position already behind the space is no wait at all
        feed(h, queryAt(query(SPACE, "q2", T0, 1, 0, 0)
                .setAfterPositions(List.of(new EventPosition(0, first.offset))).build()));
        assertThat(results(h)).hasSize(1);
    }

    @Test
    void aTimedOutWaitIsAnsweredStaleOrDeadLettered() throws Exception {
        var h = harness(settings(c -> {
            c.set(EngramOptions.WAIT_TIMEOUT, Duration.ofSeconds(1));
            c.set(EngramOptions.BATCH_MAX_SIZE, 1);
        }));
        h.setProcessingTime(0);
        feed(h, eventAt(event(SPACE, "e1", T0, store("a", 1, 0, 0))));
        feed(h, queryAt(query(SPACE, "q-stale", T0, 1, 0, 0).setAfterEventIds(List.of("never")).build()));
        feed(h, queryAt(query(SPACE, "q-dl", T0, 1, 0, 0).setAfterEventIds(List.of("never"))
                .setOnTimeout("dead-letter").build()));
        h.setProcessingTime(999);
        assertThat(results(h)).isEmpty();
        h.setProcessingTime(1_000);
        List<RecallResult> r = results(h);
        assertThat(r).hasSize(1);
        assertThat(r.get(0).getQueryId().toString()).isEqualTo("q-stale");
        assertThat(r.get(0).getStale()).isTrue();
        assertThat(ids(r.get(0))).containsExactly("a");
        assertThat(drainDeadLetters(h)).extracting(DeadLetter::getReason).containsExactly("WAIT_TIMEOUT");
    }

    @Test
    void waitingIsBoundedPerSpaceInBothModes() throws Exception {
        var arrival = harness(settings(c -> c.set(EngramOptions.MAX_WAITING_PER_SPACE, 2)));
        for (int i = 0; i < 3; i++) {
            feed(arrival, queryAt(query(SPACE, "q" + i, T0, 1, 0, 0).setAfterEventIds(List.of("x")).build()));
        }
        assertThat(drainDeadLetters(arrival)).extracting(DeadLetter::getReason).containsExactly("TOO_MANY_WAITING");
        var et = harness(eventTime(c -> c.set(EngramOptions.MAX_WAITING_PER_SPACE, 2)));
        for (int i = 0; i < 3; i++) {
            feed(et, eventAt(event(SPACE, "e" + i, T0 + i, store("m" + i, 1, 0, 0))));
        }
        assertThat(drainDeadLetters(et)).extracting(DeadLetter::getReason).containsExactly("TOO_MANY_WAITING");
    }

    @Test
    void whatWaitsSurvivesARestoreAndIsAnsweredOnce() throws Exception {
        for (boolean eventTime : new boolean[] {false, true}) {
            EngramSettings s = eventTime ? eventTime(c -> { }) : settings(c -> { });
            var h1 = harness(s);
            feed(h1, eventAt(event(SPACE, "e1", T0, store("a", 1, 0, 0))));
            feed(h1, queryAt(query(SPACE, "q", T0 + 5, 1, 0, 0).setAfterEventIds(List.of("e2")).build()));
            OperatorSubtaskState snap = h1.snapshot(1, 1);
            var h2 = t.unopenedHarness(new MemorySpaceFunction(s));
            h2.initializeState(snap);
            h2.open();
            feed(h2, eventAt(event(SPACE, "e2", T0 + 1, store("b", 1, 0, 0))));
            h2.watermark(T0 + 10);
            h2.setProcessingTime(h2.getProcessingTime() + 100);
            List<RecallResult> r = results(h2);
            assertThat(r).as("event time: %s", eventTime).hasSize(1);
            assertThat(ids(r.get(0))).containsExactlyInAnyOrder("a", "b");
            assertThat(r.get(0).getStale()).isFalse();
            h2.setProcessingTime(h2.getProcessingTime() + 60_000);
            assertThat(results(h2)).as("answered once").isEmpty();
        }
    }

    @Test
    void badWaitFieldsAreRejected() throws Exception {
        var h = harness(settings(c -> { }));
        List<String> many = new ArrayList<>(Collections.nCopies(65, "e"));
        feed(h, queryAt(query(SPACE, "q1", T0, 1, 0).setAfterEventIds(many).build()));
        feed(h, queryAt(query(SPACE, "q2", T0, 1, 0).setAfterPositions(List.of(new EventPosition(0, -1L))).build()));
        feed(h, queryAt(query(SPACE, "q3", T0, 1, 0).setOnTimeout("shrug").build()));
        feed(h, queryAt(query(SPACE, "q4", T0, 1, 0).setAfterEventIds(List.of("")).build()));
        assertThat(drainDeadLetters(h)).extracting(DeadLetter::getReason).containsOnly("BAD_WAIT").hasSize(4);
    }
}
