package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.recall.Hit;
import io.engram.job.recall.RecallEngine;
import io.engram.job.space.MemorySpace;
import io.engram.job.state.PendingQuery;
import io.engram.job.state.SpaceIndex;
import io.engram.kernels.ArenaOverflowException;
import io.engram.kernels.MemoryKernels;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import io.engram.schemas.RecallQuery;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.util.Collector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Recall queries of one subtask's spaces, answered one at a time or in batches ({@code engram.recall.batch.*}): a
 * valid query of a non-empty space waits in keyed list state and the space's waiting queries are answered
 * together, their similarities in one pass of the batched kernel over the space's chunks. A batch is answered when
 * it holds max-size queries, when the processing-time timer of its first query (arrival + max-delay) fires, and
 * before anything that changes the space (a memory event about to be applied, a decay sweep) or the kernels that
 * serve it (a kernel switch): every query is therefore answered from the state it arrived at, as one-at-a-time
 * recall would. In event-time mode the queries the watermark releases join the batch the same way ({@link
 * EventTimeOrder}), and the release answers it when it is done. The caller binds the space's store to the current key
 * first.
 */
final class RecallBatch {
    private static final Logger LOG = LoggerFactory.getLogger(RecallBatch.class);

    /** Why a batch was answered: the {@code flush} label of the batch counter. */
    enum Flush {
        SIZE("size"), DELAY("delay"), CHANGE("change"), CONTROL("control"),
        /** Event-time mode: the watermark (or an idleness release) has released everything it will release now. */
        RELEASE("release");

        final String label;

        Flush(String label) {
            this.label = label;
        }
    }

    private final EngramSettings settings;
    private final ListState<PendingQuery> pending;
    private final RecordDecoder decoder;
    private final MemorySpace space;
    private final RecallEngine engine;
    private final Answers answers;
    private final EngramMetrics metrics;
    private final StaleCheck stale;

    /** Whether the answer to a query answered from the batch (or joining it) does not have the consistency asked. */
    interface StaleCheck {
        boolean stale(RecallQuery q) throws Exception;
    }

    /**
     * @param stale checked when a query joining the batch is answered at once and at the flush: the caller keeps
     *              what it reads unchanged while queries wait (event-time mode: the writes a query names)
     */
    RecallBatch(EngramSettings settings, ListState<PendingQuery> pending, RecordDecoder decoder, MemorySpace space,
                RecallEngine engine, Answers answers, EngramMetrics metrics, StaleCheck stale) {
        this.settings = settings;
        this.pending = pending;
        this.decoder = decoder;
        this.space = space;
        this.engine = engine;
        this.answers = answers;
        this.metrics = metrics;
        this.stale = stale;
    }

    /**
     * A query arrives: validated now (a bad one is dead-lettered at once by the caller), then {@link #accept}ed.
     */
    void arrive(RawRecord raw, String key, TimerService timers, MemoryKernels k, Collector<OutRecord> out,
                Consumer<OutRecord> deadLetters) throws Exception {
        long arrivalMicros = nowMicros();
        RecordDecoder.ValidQuery q = decoder.query(raw, System.currentTimeMillis());
        PendingQuery pq = new PendingQuery(raw, arrivalMicros, timers.currentProcessingTime());
        pq.decoded = q.query();
        accept(pq, q, key, timers, k, out, deadLetters);
    }

    /**
     * A valid query to answer from the space as it is now: at once when batching is off or the space is empty,
     * otherwise it joins the space's batch.
     */
    void accept(PendingQuery pq, RecordDecoder.ValidQuery q, String key, TimerService timers, MemoryKernels k,
                Collector<OutRecord> out, Consumer<OutRecord> deadLetters) throws Exception {
        SpaceIndex idx = space.index();
        checkDim(q, idx, key);
        if (settings.batchMaxSize <= 1 || idx == null || idx.memories == 0) {
            // Nothing to batch: batching is off, or there are no memories to compare with (and then no query waits:
            // a waiting query implies a non-empty space, which only a flushed change could have emptied).
            if (settings.batchMaxSize <= 1) {
                // Queries restored from a savepoint taken with batching on go first, in order.
                flush(key, timers, k, out, deadLetters, Flush.SIZE);
            }
            answerNow(pq, q, key, k, out, stale.stale(q.query()));
            return;
        }
        long nowProcessing = timers.currentProcessingTime();
        PendingQuery waiting = new PendingQuery(pq.raw, pq.arrivalMicros, nowProcessing);
        waiting.decoded = q.query();
        pending.add(waiting);
        int count = 0;
        for (PendingQuery ignored : pending.get()) {
            count++;
        }
        if (count >= settings.batchMaxSize) {
            flush(key, timers, k, out, deadLetters, Flush.SIZE);
        } else if (count == 1) {
            timers.registerProcessingTimeTimer(nowProcessing + settings.batchMaxDelayMs);
        }
    }

    /** Answers one valid query from the space as it is now, on its own; {@code stale} goes into the result. */
    void answerNow(PendingQuery pq, RecordDecoder.ValidQuery q, String key, MemoryKernels k, Collector<OutRecord> out,
                   boolean stale) throws Rejection {
        long started = System.nanoTime();
        SpaceIndex idx = space.index();
        checkDim(q, idx, key);
        List<Hit> hits = idx == null || idx.memories == 0 ? List.of()
                : engine.recall(space, q.cue(), q.query().getTimestampMs(), q.params(), k);
        long latencyUs = Math.max(0, nowMicros() - pq.arrivalMicros) + (System.nanoTime() - started) / 1000;
        OutRecord o = answers.result(pq.raw, q.query(), hits, space, k.mode(), latencyUs, stale);
        o.timestampMs = pq.raw.timestampMs;
        out.collect(o);
        metrics.recalled(k.mode(), latencyUs);
    }

    /**
     * Answers the space's waiting queries, if any, in arrival order (see {@link #answerAll}).
     *
     * @param timers the key's timer service, to delete the batch's flush timer; null where there is none (the
     *               broadcast side): the timer then fires later and finds nothing, or a newer batch, to answer
     */
    void flush(String key, TimerService timers, MemoryKernels k, Collector<OutRecord> out,
               Consumer<OutRecord> deadLetters, Flush cause) throws Exception {
        Iterable<PendingQuery> stored = pending.get();
        if (stored == null) {
            return;
        }
        List<PendingQuery> batch = new ArrayList<>();
        stored.forEach(batch::add);
        if (batch.isEmpty()) {
            return;
        }
        pending.clear();
        if (timers != null && cause != Flush.DELAY) {
            timers.deleteProcessingTimeTimer(batch.get(0).arrivalProcessingMs + settings.batchMaxDelayMs);
        }
        metrics.batchFlushed(cause.label, batch.size());
        answerAll(batch, key, k, out, deadLetters);
    }

    /**
     * Answers the given queries of the space, in the given order: similarities of all cues in one pass of the
     * stored-norm kernel per chunk, then retention, spreading and ranking per query, exactly as
     * {@link RecallEngine#recall} does for one. Each query is checked again against limits a restore may have changed;
     * the stale check marks the answers that do not have the consistency asked for.
     */
    private void answerAll(List<PendingQuery> batch, String key, MemoryKernels k, Collector<OutRecord> out,
                           Consumer<OutRecord> deadLetters) throws Exception {
        long flushMicros = nowMicros();
        long flushNanos = System.nanoTime();
        SpaceIndex idx = space.index();
        List<PendingQuery> valid = new ArrayList<>(batch.size());
        List<RecordDecoder.ValidQuery> queries = new ArrayList<>(batch.size());
        for (PendingQuery pq : batch) {
            metrics.batchWaited(Math.max(0, flushMicros - pq.arrivalMicros));
            try {
                RecordDecoder.ValidQuery q = decoder.waiting(pq);
                checkDim(q, idx, key);
                valid.add(pq);
                queries.add(q);
            } catch (Rejection r) {
                deadLetters.accept(deadLetter(pq.raw, r.reason(), r.getMessage(), true));
            }
        }
        int b = valid.size();
        if (idx == null || idx.memories == 0) {
            for (int i = 0; i < b; i++) {
                respond(valid.get(i), queries.get(i), List.of(), k, flushMicros, flushNanos, out);
            }
            return;
        }
        int dim = idx.dim;
        int slots = idx.slotCount;
        // Event time promises answers that are a function of the input alone, yet which released queries share a
        // batch depends on how the watermark advanced. The stored-norm kernel may sum a lone cue in another order
        // than one of several (the Zig kernel's one-cue path), whose sums do not depend on the other cues: so there a
        // lone query is computed as two equal cues.
        int cueCount = b == 1 && settings.eventTimeConsistency ? 2 : b;
        // One pass for the whole batch: the stored-norm kernel takes any number of cues and needs no arena.
        float[] cues = new float[cueCount * dim];
        for (int i = 0; i < cueCount; i++) {
            System.arraycopy(queries.get(Math.min(i, b - 1)).cue(), 0, cues, i * dim, dim);
        }
        float[] sims;
        try {
            sims = engine.similarities(space, cues, cueCount, k);
        } catch (ArenaOverflowException e) {
            for (int i = 0; i < b; i++) {
                deadLetters.accept(deadLetter(valid.get(i).raw, Reason.ARENA_OVERFLOW, e.getMessage(), true));
            }
            return;
        }
        for (int i = 0; i < b; i++) {
            RecordDecoder.ValidQuery q = queries.get(i);
            List<Hit> hits;
            try {
                hits = engine.recallWithSimilarity(space, sims, i * slots, q.query().getTimestampMs(), q.params(), k);
            } catch (ArenaOverflowException e) {
                deadLetters.accept(deadLetter(valid.get(i).raw, Reason.ARENA_OVERFLOW, e.getMessage(), true));
                continue;
            }
            respond(valid.get(i), q, hits, k, flushMicros, flushNanos, out);
        }
    }

    /**
     * A dead letter for {@code raw}; {@code atQueryTime}: the record gets the input's timestamp (one written by a
     * batch flush, so it sorts where the query's immediate dead letter would have).
     */
    OutRecord deadLetter(RawRecord raw, Reason reason, String message, boolean atQueryTime) {
        metrics.deadLetter(reason);
        LOG.debug("dead letter {} from {}: {}", reason, raw, message);
        OutRecord o = DeadLetters.of(raw, reason, message, System.currentTimeMillis(), settings.maxOutputRecordBytes);
        if (atQueryTime) {
            o.timestampMs = raw.timestampMs;
        }
        return o;
    }

    /** Emits one batched answer; its latency is the wait in the batch plus the batch's time until this answer. */
    private void respond(PendingQuery pq, RecordDecoder.ValidQuery q, List<Hit> hits, MemoryKernels k,
                         long flushMicros, long flushNanos, Collector<OutRecord> out) throws Exception {
        long latencyUs = Math.max(0, flushMicros - pq.arrivalMicros) + (System.nanoTime() - flushNanos) / 1000;
        OutRecord o = answers.result(pq.raw, q.query(), hits, space, k.mode(), latencyUs, stale.stale(q.query()));
        o.timestampMs = pq.raw.timestampMs; // the query's timestamp, as if answered on arrival
        out.collect(o);
        metrics.recalled(k.mode(), latencyUs);
    }

    static void checkDim(RecordDecoder.ValidQuery q, SpaceIndex idx, String key) throws Rejection {
        if (idx != null && idx.memories > 0 && q.query().getCue().size() != idx.dim) {
            throw new Rejection(Reason.DIM_MISMATCH, "cue has dimension " + q.query().getCue().size() + ", space '"
                    + key + "' has " + idx.dim);
        }
    }

    /** Wall-clock microseconds: comparable across a restore in another process, unlike {@link System#nanoTime}. */
    static long nowMicros() {
        java.time.Instant t = java.time.Instant.now();
        return t.getEpochSecond() * 1_000_000L + t.getNano() / 1000;
    }
}
