package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.state.PendingQuery;
import io.engram.job.state.PendingQuerySerializer;
import io.engram.kernels.MemoryKernels;
import io.engram.schemas.EventPosition;
import io.engram.schemas.RecallQuery;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.Consumer;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.util.Collector;

/**
 * Read-your-writes: a query that names the writes it must see ({@code after_event_ids}: event ids applied in its
 * space; {@code after_positions}: positions in the memory-events topic up to which the space's events have been
 * processed) waits in keyed state until they are, then is answered as any query (batching included). It waits at most
 * {@code engram.recall.wait.timeout} (a processing-time timer), then is answered from the state at that moment with
 * {@code stale} set, or dead-lettered ({@code WAIT_TIMEOUT}), as the query or {@code engram.recall.wait.on-timeout}
 * says. At most {@code engram.limits.max-waiting-per-space} queries wait per space; a restore answers them once.
 */
final class WriteWaits {
    /** Keyed state: queries waiting for the writes they name, in arrival order. */
    static final ListStateDescriptor<PendingQuery> WAITING =
            new ListStateDescriptor<>("waiting-for-writes", PendingQuerySerializer.INSTANCE);
    /** Keyed state: per partition of the memory-events topic, the highest offset of this space's events processed. */
    static final MapStateDescriptor<Integer, Long> POSITIONS =
            new MapStateDescriptor<>("processed-positions", Types.INT, Types.LONG);

    private final EngramSettings settings;
    private final ListState<PendingQuery> waiting;
    private final MapState<Integer, Long> positions;
    private final MapState<String, Long> dedup;
    private final RecordDecoder decoder;
    private final RecallBatch batch;

    WriteWaits(EngramSettings settings, ListState<PendingQuery> waiting, MapState<Integer, Long> positions,
               MapState<String, Long> dedup, RecordDecoder decoder, RecallBatch batch) {
        this.settings = settings;
        this.waiting = waiting;
        this.positions = positions;
        this.dedup = dedup;
        this.decoder = decoder;
        this.batch = batch;
    }

    /** A memory event of the space was processed (applied, a replay, or rejected): its position is behind us. */
    void processed(RawRecord event) throws Exception {
        Long seen = positions.get(event.partition);
        if (seen == null || seen < event.offset) {
            positions.put(event.partition, event.offset);
        }
    }

    /** The space is gone (emptied and its dedup window over): its processed positions go with it. */
    void forgetPositions() {
        positions.clear();
    }

    /** True when every write the query names has been applied (ids) or processed (positions) in its space. */
    boolean satisfied(RecallQuery q) throws Exception {
        for (CharSequence id : q.getAfterEventIds()) {
            if (!dedup.contains(id.toString())) {
                return false;
            }
        }
        for (EventPosition p : q.getAfterPositions()) {
            Long seen = positions.get(p.getPartition());
            if (seen == null || seen < p.getOffset()) {
                return false;
            }
        }
        return true;
    }

    static boolean namesWrites(RecallQuery q) {
        return !q.getAfterEventIds().isEmpty() || !q.getAfterPositions().isEmpty();
    }

    /** A valid query (arrival mode): answered as usual if it names nothing unseen, else it waits. */
    void arrive(PendingQuery pq, RecordDecoder.ValidQuery q, String key, TimerService timers, MemoryKernels k,
                Collector<OutRecord> out, Consumer<OutRecord> deadLetters) throws Exception {
        if (!namesWrites(q.query()) || satisfied(q.query())) {
            batch.accept(pq, q, key, timers, k, out, deadLetters);
            return;
        }
        int count = 0;
        for (PendingQuery ignored : waiting.get()) {
            count++;
        }
        if (count >= settings.maxWaitingPerSpace) {
            throw new Rejection(Reason.TOO_MANY_WAITING, "space '" + key + "' already has " + count
                    + " queries waiting for their writes (engram.limits.max-waiting-per-space)");
        }
        waiting.add(pq);
        timers.registerProcessingTimeTimer(pq.arrivalProcessingMs + settings.waitTimeoutMs);
    }

    /** After an event of the space: the waiting queries whose writes are now all in are answered, oldest first. */
    void release(String key, TimerService timers, MemoryKernels k, Collector<OutRecord> out,
                 Consumer<OutRecord> deadLetters) throws Exception {
        List<PendingQuery> all = list();
        if (all.isEmpty()) {
            return;
        }
        List<PendingQuery> keep = new ArrayList<>();
        List<PendingQuery> ready = new ArrayList<>();
        for (PendingQuery pq : all) {
            RecordDecoder.ValidQuery q = validOrDeadLetter(pq, deadLetters);
            if (q != null) {
                (satisfied(q.query()) ? ready : keep).add(pq);
            }
        }
        if (ready.isEmpty() && keep.size() == all.size()) {
            return;
        }
        waiting.update(keep);
        ready.sort(BY_TIMESTAMP);
        for (PendingQuery pq : ready) {
            try {
                batch.accept(pq, decoder.waiting(pq), key, timers, k, out, deadLetters);
            } catch (Rejection r) {
                deadLetters.accept(batch.deadLetter(pq.raw, r.reason(), r.getMessage(), true));
            }
        }
    }

    /** Processing time {@code now}: queries whose wait is over are answered stale or dead-lettered. */
    void expire(long now, String key, MemoryKernels k, Collector<OutRecord> out, Consumer<OutRecord> deadLetters)
            throws Exception {
        List<PendingQuery> all = list();
        if (all.isEmpty()) {
            return;
        }
        List<PendingQuery> keep = new ArrayList<>();
        List<PendingQuery> due = new ArrayList<>();
        for (PendingQuery pq : all) {
            (pq.arrivalProcessingMs + settings.waitTimeoutMs <= now ? due : keep).add(pq);
        }
        if (due.isEmpty()) {
            return;
        }
        waiting.update(keep);
        due.sort(BY_TIMESTAMP);
        for (PendingQuery pq : due) {
            RecordDecoder.ValidQuery q = validOrDeadLetter(pq, deadLetters);
            if (q == null) {
                continue;
            }
            CharSequence policy = q.query().getOnTimeout();
            boolean deadLetter = policy == null ? settings.deadLetterOnTimeout : policy.toString().equals("dead-letter");
            if (deadLetter) {
                deadLetters.accept(batch.deadLetter(pq.raw, Reason.WAIT_TIMEOUT, "the writes named by the query were "
                        + "not all applied within engram.recall.wait.timeout (" + settings.waitTimeoutMs + " ms)",
                        true));
                continue;
            }
            try {
                batch.answerNow(pq, q, key, k, out, true);
            } catch (Rejection r) {
                deadLetters.accept(batch.deadLetter(pq.raw, r.reason(), r.getMessage(), true));
            }
        }
    }

    private List<PendingQuery> list() throws Exception {
        List<PendingQuery> all = new ArrayList<>();
        Iterable<PendingQuery> stored = waiting.get();
        if (stored != null) {
            stored.forEach(all::add);
        }
        return all;
    }

    private RecordDecoder.ValidQuery validOrDeadLetter(PendingQuery pq, Consumer<OutRecord> deadLetters) {
        try {
            return decoder.waiting(pq);
        } catch (Rejection r) {
            deadLetters.accept(batch.deadLetter(pq.raw, r.reason(), r.getMessage(), true));
            return null;
        }
    }

    /** Timestamp order, then arrival order (the sort is stable). */
    static final Comparator<PendingQuery> BY_TIMESTAMP = Comparator.comparingLong(pq -> pq.raw.timestampMs);
}
