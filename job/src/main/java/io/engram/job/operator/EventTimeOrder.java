package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.state.PendingQuery;
import io.engram.job.state.PendingQuerySerializer;
import io.engram.kernels.ArenaOverflowException;
import io.engram.kernels.MemoryKernels;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.typeutils.base.ListSerializer;
import org.apache.flink.api.common.typeutils.base.LongSerializer;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.util.Collector;

/**
 * {@code engram.recall.consistency = event-time}: a space's memory events and queries wait in keyed state until the
 * watermark (of both input topics: the operator's input watermark) passes their timestamp, then are released in
 * timestamp order, events before queries at the same timestamp, each kind in arrival (= partition offset) order. So a
 * query stamped t is answered from exactly the events of its space stamped at or before t, and answers are a function
 * of the input alone. One event-time timer per distinct waiting timestamp releases it, reading only that timestamp's
 * entry; the queries released by one advance of the watermark are answered together, in batches
 * ({@link RecallBatch}: up to {@code engram.recall.batch.max-size}, each answered before the next event is applied).
 *
 * <p>A record stamped at or behind the point its space has been answered up to (the watermark, or a release forced
 * by idleness) is late: an event is dead-lettered ({@code LATE_EVENT}: applying it would change answers already
 * given); a query is answered at once from the state as it is, with {@code stale} set. A record that has waited
 * {@code engram.recall.wait.timeout} (processing time) forces the release of its space up to its timestamp: the
 * watermark does not advance while every input partition is idle. At most
 * {@code engram.limits.max-waiting-per-space} records wait per space ({@code TOO_MANY_WAITING}).
 */
final class EventTimeOrder {
    /** Keyed state: records waiting for the watermark, by timestamp; each list in arrival order. */
    static final MapStateDescriptor<Long, List<PendingQuery>> HELD = new MapStateDescriptor<>("held-for-watermark",
            LongSerializer.INSTANCE, new ListSerializer<>(PendingQuerySerializer.INSTANCE));
    /** Keyed state: the space has been released (answered) up to this timestamp. */
    static final ValueStateDescriptor<Long> RELEASED = new ValueStateDescriptor<>("released-up-to", Types.LONG);
    /** Keyed state: how many records wait (the sum of the HELD lists' sizes). */
    static final ValueStateDescriptor<Integer> HELD_COUNT = new ValueStateDescriptor<>("held-count", Types.INT);
    /** Keyed state: the processing time of the space's pending idleness check (at most one per space). */
    static final ValueStateDescriptor<Long> IDLE_CHECK = new ValueStateDescriptor<>("idle-check-at", Types.LONG);

    /** What to do with a released memory event: decode, dedup, apply, as on arrival in arrival mode. */
    interface Applier {
        void apply(RawRecord event, TimerService timers, Consumer<OutRecord> deadLetters) throws Exception;
    }

    private final EngramSettings settings;
    private final MapState<Long, List<PendingQuery>> held;
    private final ValueState<Long> released;
    private final ValueState<Integer> heldCount;
    private final ValueState<Long> idleCheck;
    private final RecordDecoder decoder;
    private final RecallBatch batch;
    private final WriteWaits waits;

    EventTimeOrder(EngramSettings settings, MapState<Long, List<PendingQuery>> held, ValueState<Long> released,
                   ValueState<Integer> heldCount, ValueState<Long> idleCheck, RecordDecoder decoder, RecallBatch batch,
                   WriteWaits waits) {
        this.settings = settings;
        this.held = held;
        this.released = released;
        this.heldCount = heldCount;
        this.idleCheck = idleCheck;
        this.decoder = decoder;
        this.batch = batch;
        this.waits = waits;
    }

    /** Everything up to here is answered: the watermark, or a forced release beyond it. */
    long frontier(TimerService timers) throws Exception {
        Long r = released.value();
        return Math.max(timers.currentWatermark(), r == null ? Long.MIN_VALUE : r);
    }

    /**
     * A record arrives: validated now (a bad one is dead-lettered at once by the caller); a late one is handled at
     * once; the rest waits for the watermark.
     */
    void arrive(RawRecord raw, String key, TimerService timers, MemoryKernels k, Collector<OutRecord> out,
                Consumer<OutRecord> deadLetters) throws Exception {
        long arrivalMicros = RecallBatch.nowMicros();
        long now = timers.currentProcessingTime();
        PendingQuery pq = new PendingQuery(raw, arrivalMicros, now);
        long frontier = frontier(timers);
        if (raw.kind == RawRecord.Kind.MEMORY_EVENT) {
            pq.decoded = decoder.event(raw, System.currentTimeMillis());
            if (raw.timestampMs <= frontier) {
                throw new Rejection(Reason.LATE_EVENT, "timestamp_ms " + raw.timestampMs + " is not after "
                        + frontier + ", the point space '" + key + "' has been answered up to");
            }
        } else {
            RecordDecoder.ValidQuery q = decoder.query(raw, System.currentTimeMillis());
            pq.decoded = q.query();
            if (raw.timestampMs <= frontier) {
                // late: the state already holds later events. Queries released before it are answered first (a
                // release answers its batch before it returns, so this finds one only after an interrupted release).
                batch.flush(key, timers, k, out, deadLetters, RecallBatch.Flush.RELEASE);
                batch.answerNow(pq, q, key, k, out, true);
                return;
            }
        }
        Integer c = heldCount.value();
        int count = c == null ? 0 : c;
        if (count >= settings.maxWaitingPerSpace) {
            throw new Rejection(Reason.TOO_MANY_WAITING, "space '" + key + "' already has " + count
                    + " records waiting for the watermark (engram.limits.max-waiting-per-space)");
        }
        List<PendingQuery> at = held.get(raw.timestampMs);
        List<PendingQuery> list = at == null ? new ArrayList<>() : new ArrayList<>(at);
        list.add(pq);
        held.put(raw.timestampMs, list);
        heldCount.update(count + 1);
        timers.registerEventTimeTimer(raw.timestampMs);
        if (idleCheck.value() == null) {
            idleCheck.update(now + settings.waitTimeoutMs);
            timers.registerProcessingTimeTimer(now + settings.waitTimeoutMs);
        }
    }

    /**
     * The event-time timer at {@code t}: releases what waits at t. It reads only t's entry: everything stamped earlier
     * had its own timer, which fired before this one (a space's timers fire in timestamp order), or was released by
     * an idleness check. The released queries join the space's batch, which is answered once the watermark's timers
     * of the space are done: at once if t is the watermark, else by a timer at the watermark, which fires in the same
     * advance after the space's earlier timers (at most one per space and watermark).
     */
    void release(long t, String key, TimerService timers, MemoryKernels k, Collector<OutRecord> out,
                 Consumer<OutRecord> deadLetters, Applier applier) throws Exception {
        TreeMap<Long, List<PendingQuery>> due = new TreeMap<>();
        List<PendingQuery> at = held.get(t);
        if (at != null) {
            due.put(t, new ArrayList<>(at));
        }
        int joined = releaseUpTo(t, due, key, timers, k, out, deadLetters, applier);
        long watermark = timers.currentWatermark();
        if (t >= watermark) {
            batch.flush(key, timers, k, out, deadLetters, RecallBatch.Flush.RELEASE);
        } else if (joined > 0) {
            timers.registerEventTimeTimer(watermark);
        }
    }

    /**
     * Processing time {@code now}: if a record has waited engram.recall.wait.timeout, the watermark is stuck (idle
     * inputs); the space is released up to the newest such record's timestamp. One such check is pending per space
     * while anything waits; it reads the space's waiting records once.
     */
    void expire(long now, String key, TimerService timers, MemoryKernels k, Collector<OutRecord> out,
                Consumer<OutRecord> deadLetters, Applier applier) throws Exception {
        Long due = idleCheck.value();
        if (due == null || due > now) {
            return; // another timer of the space (a batch, a read-your-writes wait), or not yet
        }
        idleCheck.clear();
        TreeMap<Long, List<PendingQuery>> all = new TreeMap<>();
        long upTo = Long.MIN_VALUE;
        for (Map.Entry<Long, List<PendingQuery>> e : held.entries()) {
            all.put(e.getKey(), new ArrayList<>(e.getValue()));
            for (PendingQuery pq : e.getValue()) {
                if (pq.arrivalProcessingMs + settings.waitTimeoutMs <= now) {
                    upTo = Math.max(upTo, e.getKey());
                }
            }
        }
        SortedMap<Long, List<PendingQuery>> left = all;
        if (upTo != Long.MIN_VALUE) {
            left = all.tailMap(upTo, false);
            releaseUpTo(upTo, new TreeMap<>(all.headMap(upTo, true)), key, timers, k, out, deadLetters, applier);
            batch.flush(key, timers, k, out, deadLetters, RecallBatch.Flush.RELEASE);
        }
        long oldest = Long.MAX_VALUE;
        for (List<PendingQuery> l : left.values()) {
            for (PendingQuery pq : l) {
                oldest = Math.min(oldest, pq.arrivalProcessingMs);
            }
        }
        if (oldest != Long.MAX_VALUE) {
            long at = Math.max(now + 1, oldest + settings.waitTimeoutMs);
            idleCheck.update(at);
            timers.registerProcessingTimeTimer(at);
        }
    }

    /** The smallest timestamp still waiting, or Long.MAX_VALUE. */
    long earliestHeld() throws Exception {
        long min = Long.MAX_VALUE;
        Iterator<Long> it = held.keys().iterator();
        while (it.hasNext()) {
            min = Math.min(min, it.next());
        }
        return min;
    }

    /**
     * Releases the space up to {@code t}: {@code due} holds what waits at or before t, by timestamp. In timestamp
     * order, each timestamp's events are applied, then its queries join the space's batch (every event answers the
     * batch before it is applied). Returns how many queries joined; the caller answers the batch.
     */
    private int releaseUpTo(long t, SortedMap<Long, List<PendingQuery>> due, String key, TimerService timers,
                            MemoryKernels k, Collector<OutRecord> out, Consumer<OutRecord> deadLetters,
                            Applier applier) throws Exception {
        int releasedCount = 0;
        for (Map.Entry<Long, List<PendingQuery>> e : due.entrySet()) {
            held.remove(e.getKey());
            releasedCount += e.getValue().size();
        }
        if (releasedCount > 0) {
            Integer c = heldCount.value();
            int left = (c == null ? 0 : c) - releasedCount;
            if (left > 0) {
                heldCount.update(left);
            } else {
                heldCount.clear();
            }
        }
        Long r = released.value();
        if (r == null || r < t) {
            released.update(t);
        }
        int joined = 0;
        for (Map.Entry<Long, List<PendingQuery>> e : due.entrySet()) {
            List<PendingQuery> queries = new ArrayList<>();
            for (PendingQuery pq : e.getValue()) {
                if (pq.raw.kind == RawRecord.Kind.MEMORY_EVENT) {
                    applier.apply(pq.raw, timers, deadLetters);
                } else {
                    queries.add(pq);
                }
            }
            for (PendingQuery pq : queries) {
                // Answered from the state after every event stamped at or before it. Whether a read-your-writes
                // condition is met is checked when it is answered (RecallBatch's stale check): nothing it reads
                // changes while it waits in the batch, as every released event answers the batch first.
                try {
                    batch.accept(pq, decoder.waiting(pq), key, timers, k, out, deadLetters);
                } catch (Rejection rej) {
                    deadLetters.accept(batch.deadLetter(pq.raw, rej.reason(), rej.getMessage(), true));
                } catch (ArenaOverflowException ex) {
                    deadLetters.accept(batch.deadLetter(pq.raw, Reason.ARENA_OVERFLOW, ex.getMessage(), true));
                }
                joined++;
            }
        }
        return joined;
    }
}
