package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.recall.Hit;
import io.engram.job.recall.RecallEngine;
import io.engram.job.state.PendingQuery;
import io.engram.job.state.PendingQuerySerializer;
import io.engram.job.state.SpaceState;
import io.engram.job.state.SpaceStateSerializer;
import io.engram.kernels.ArenaOverflowException;
import io.engram.kernels.MemoryKernels;
import io.engram.schemas.Associate;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DecodeException;
import io.engram.schemas.Forget;
import io.engram.schemas.KernelControl;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.TimeDomain;
import org.apache.flink.streaming.api.TimerService;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memory operator: one instance per subtask, state per space (the key). It decodes each record, validates it,
 * applies memory events to the space's columnar state, answers recall queries with the kernels, runs the decay
 * sweep on an event-time timer, and sends everything it cannot apply to the dead-letter side output with a reason.
 * Broadcast input: {@code KernelControl} records, the runtime kernel switch.
 *
 * <p>Recall batching ({@code engram.recall.batch.*}): a valid query of a non-empty space waits in keyed list state
 * ({@link #PENDING}) and the space's waiting queries are answered together, their similarities in one pass of the
 * batched kernel. A batch is answered when it holds max-size queries, when the processing-time timer of its first
 * query (arrival + max-delay) fires, and before anything that changes the space (a memory event about to be
 * applied, a decay sweep) or the kernels that serve it (a kernel switch): every query is therefore answered from the
 * state it arrived at, as one-at-a-time recall would. See docs/internal/recall_contract.md.
 */
public class MemorySpaceFunction extends KeyedBroadcastProcessFunction<String, RawRecord, RawRecord, OutRecord>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(MemorySpaceFunction.class);

    public static final OutputTag<OutRecord> DEAD_LETTERS = new OutputTag<>("dead-letters") {
    };

    /** Keyed state: the space's memories and edges. */
    public static final ValueStateDescriptor<SpaceState> SPACE =
            new ValueStateDescriptor<>("space", SpaceStateSerializer.INSTANCE);
    /** Keyed state: applied event ids with their event time, for the dedup window. */
    public static final MapStateDescriptor<String, Long> DEDUP =
            new MapStateDescriptor<>("dedup", Types.STRING, Types.LONG);
    /** Keyed state: the event time of the space's pending decay sweep, so it is registered once. */
    public static final ValueStateDescriptor<Long> NEXT_SWEEP = new ValueStateDescriptor<>("next-sweep", Types.LONG);
    /**
     * Keyed state: validated recall queries waiting for their space's batch, in arrival order. Empty (absent) in a
     * savepoint taken before batching existed, and whenever the space has no waiting query.
     */
    public static final ListStateDescriptor<PendingQuery> PENDING =
            new ListStateDescriptor<>("pending-queries", PendingQuerySerializer.INSTANCE);

    /** Why a batch was answered: the {@code flush} label of the batch counter. */
    enum Flush {
        SIZE("size"), DELAY("delay"), CHANGE("change"), CONTROL("control");

        final String label;

        Flush(String label) {
            this.label = label;
        }
    }

    private final EngramSettings settings;

    private transient ValueState<SpaceState> space;
    private transient MapState<String, Long> dedup;
    private transient ValueState<Long> nextSweep;
    private transient ListState<PendingQuery> pending;
    private transient InputValidator validator;
    private transient RecallEngine engine;
    private transient KernelRouter kernels;
    private transient EngramMetrics metrics;
    /** Operator state: this subtask's memory and edge totals, so the gauges survive a restore. */
    private transient ListState<long[]> totals;
    private transient long[] restoredTotals;
    /** The broadcast state, reachable before any record arrives, so a restored kernel switch applies at once. */
    private transient org.apache.flink.api.common.state.BroadcastState<String, byte[]> restoredControl;

    public MemorySpaceFunction(EngramSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(org.apache.flink.api.common.functions.OpenContext openContext) throws Exception {
        space = getRuntimeContext().getState(SPACE);
        dedup = getRuntimeContext().getMapState(DEDUP);
        nextSweep = getRuntimeContext().getState(NEXT_SWEEP);
        pending = getRuntimeContext().getListState(PENDING);
        validator = new InputValidator(settings);
        engine = new RecallEngine();
        kernels = KernelRouter.open(settings, getRuntimeContext());
        metrics = new EngramMetrics(getRuntimeContext().getMetricGroup(), kernels);
        kernels.instrument(metrics);
        if (restoredTotals != null) {
            metrics.restoreTotals(restoredTotals[0], restoredTotals[1]);
        }
        if (restoredControl != null) {
            // A switch kept in a savepoint is in force from the first moment, gauge included, not from the first record.
            kernels.observe(restoredControl);
        }
    }

    @Override
    public void initializeState(FunctionInitializationContext context) throws Exception {
        totals = context.getOperatorStateStore().getListState(
                new ListStateDescriptor<>("totals", PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO));
        long m = 0;
        long e = 0;
        for (long[] t : totals.get()) {
            m += t[0];
            e += t[1];
        }
        // After a rescale the per-subtask split is approximate; the job-wide sum stays exact.
        restoredTotals = new long[] {m, e};
        restoredControl = context.getOperatorStateStore().getBroadcastState(KernelRouter.CONTROL);
    }

    @Override
    public void snapshotState(FunctionSnapshotContext context) throws Exception {
        totals.update(List.of(new long[] {metrics.memories(), metrics.edges()}));
    }

    @Override
    public void close() throws Exception {
        if (kernels != null) {
            kernels.close();
        }
    }

    @Override
    public void processElement(RawRecord raw, ReadOnlyContext ctx, Collector<OutRecord> out) throws Exception {
        kernels.observe(ctx.getBroadcastState(KernelRouter.CONTROL));
        currentKey = ctx.getCurrentKey();
        try {
            if (raw.kind == RawRecord.Kind.MEMORY_EVENT) {
                applyEvent(raw, ctx, out);
            } else if (raw.kind == RawRecord.Kind.RECALL_QUERY) {
                arrive(raw, ctx, out);
            } else {
                throw new IllegalStateException("control records arrive on the broadcast input, not " + raw);
            }
        } catch (Rejection r) {
            deadLetter(ctx, raw, r.reason(), r.getMessage());
        } catch (ArenaOverflowException e) {
            deadLetter(ctx, raw, Reason.ARENA_OVERFLOW, e.getMessage());
        }
    }

    private void deadLetter(ReadOnlyContext ctx, RawRecord raw, Reason reason, String message) {
        deadLetter(o -> ctx.output(DEAD_LETTERS, o), raw, reason, message, false);
    }

    /** {@code atQueryTime}: give the record the input's timestamp (a dead letter written by a batch flush). */
    private void deadLetter(Consumer<OutRecord> sink, RawRecord raw, Reason reason, String message,
                            boolean atQueryTime) {
        metrics.deadLetter(reason);
        LOG.debug("dead letter {} from {}: {}", reason, raw, message);
        OutRecord o = DeadLetters.of(raw, reason, message, System.currentTimeMillis(), settings.maxOutputRecordBytes);
        if (atQueryTime) {
            o.timestampMs = raw.timestampMs;
        }
        sink.accept(o);
    }

    // ----- memory events -----------------------------------------------------------------------------------------

    private void applyEvent(RawRecord raw, ReadOnlyContext ctx, Collector<OutRecord> out) throws Exception {
        MemoryEvent e = decode(() -> AvroCodec.decodeMemoryEvent(raw.value));
        validator.envelope(raw.space, e.getSpace(), e.getEventId(), e.getTimestampMs(), System.currentTimeMillis());
        validator.event(e);
        if (dedup.contains(e.getEventId())) {
            metrics.duplicate();
            return; // already applied: a replay changes nothing
        }
        // The event may change the space: the queries that arrived before it are answered from the state before it.
        flush(ctx.getCurrentKey(), ctx.timerService(), out, o -> ctx.output(DEAD_LETTERS, o), Flush.CHANGE);
        SpaceState s = space.value();
        if (s == null) {
            s = new SpaceState();
        }
        long ts = e.getTimestampMs();
        Object p = e.getPayload();
        if (p instanceof StoreMemory m) {
            store(s, m, ts);
        } else if (p instanceof ReinforceMemory r) {
            if (!s.reinforce(r.getMemoryId(), ts, settings.reinforceFactor, settings.maxStabilitySeconds)) {
                throw unknown(r.getMemoryId());
            }
        } else if (p instanceof Associate a) {
            associate(s, a);
        } else if (p instanceof Forget f) {
            int edgesBefore = s.edgeCount();
            if (!s.forget(f.getMemoryId())) {
                throw unknown(f.getMemoryId());
            }
            metrics.memoriesChanged(-1, s.edgeCount() - edgesBefore);
        }
        space.update(s);
        dedup.put(e.getEventId(), ts);
        scheduleSweep(ctx, ts);
    }

    private void store(SpaceState s, StoreMemory m, long ts) throws Rejection {
        List<Float> emb = m.getEmbedding();
        if (s.dim() != 0 && emb.size() != s.dim()) {
            throw new Rejection(Reason.DIM_MISMATCH, "embedding has dimension " + emb.size() + ", space '"
                    + getCurrentKeyForLog() + "' has " + s.dim());
        }
        boolean isNew = s.rowOf(m.getMemoryId()) < 0;
        if (isNew && s.size() >= settings.maxMemoriesPerSpace) {
            throw new Rejection(Reason.SPACE_FULL, "space holds " + s.size() + " memories, limit "
                    + settings.maxMemoriesPerSpace);
        }
        // the cap of engram.memory.max-stability applies on store as on reinforce
        float stability = Math.min(settings.maxStabilitySeconds,
                m.getStabilityS() == null ? settings.defaultStabilitySeconds : m.getStabilityS());
        s.upsert(m.getMemoryId(), toArray(emb), m.getStrength(), stability, ts);
        if (isNew) {
            metrics.memoriesChanged(1, 0);
        }
    }

    private void associate(SpaceState s, Associate a) throws Rejection {
        int from = s.rowOf(a.getFromId());
        if (from < 0) {
            throw unknown(a.getFromId());
        }
        int to = s.rowOf(a.getToId());
        if (to < 0) {
            throw unknown(a.getToId());
        }
        int before = s.edgeCount();
        s.associate(from, to, a.getWeight());
        if (a.getBidirectional()) {
            s.associate(to, from, a.getWeight());
        }
        metrics.memoriesChanged(0, s.edgeCount() - before);
    }

    private Rejection unknown(String memoryId) {
        return new Rejection(Reason.UNKNOWN_MEMORY, "memory '" + InputValidator.abbreviate(memoryId)
                + "' is not in space '" + getCurrentKeyForLog() + "'");
    }

    /** The space being processed, for messages. */
    private transient String currentKey;

    private String getCurrentKeyForLog() {
        return currentKey;
    }

    // ----- recall ------------------------------------------------------------------------------------------------

    /**
     * A query arrives: decoded and validated now (a bad one is dead-lettered at once), then answered at once when
     * batching is off or the space is empty, otherwise added to the space's batch.
     */
    private void arrive(RawRecord raw, ReadOnlyContext ctx, Collector<OutRecord> out) throws Exception {
        long started = System.nanoTime();
        long arrivalMicros = nowMicros();
        RecallQuery q = decode(() -> AvroCodec.decodeRecallQuery(raw.value));
        validator.envelope(raw.space, q.getSpace(), q.getQueryId(), q.getTimestampMs(), System.currentTimeMillis());
        QueryParams p = validator.query(q);
        SpaceState s = space.value();
        if (s != null && s.size() > 0 && q.getCue().size() != s.dim()) {
            throw new Rejection(Reason.DIM_MISMATCH, "cue has dimension " + q.getCue().size() + ", space '"
                    + raw.space + "' has " + s.dim());
        }
        if (settings.batchMaxSize <= 1 || s == null || s.size() == 0) {
            // Nothing to batch: batching is off, or there are no memories to compare with (and then no query waits:
            // a waiting query implies a non-empty space, which only a flushed change could have emptied).
            if (settings.batchMaxSize <= 1) {
                // Queries restored from a savepoint taken with batching on go first, in order.
                flush(ctx.getCurrentKey(), ctx.timerService(), out, o -> ctx.output(DEAD_LETTERS, o), Flush.SIZE);
            }
            MemoryKernels k = kernels.forSpace(raw.space);
            List<Hit> hits = s == null || s.size() == 0 ? List.of()
                    : engine.recall(s, toArray(q.getCue()), q.getTimestampMs(), p.k(), p.seedK(), p.maxHops(),
                            p.hopDecay(), p.threshold(), k);
            long latencyUs = (System.nanoTime() - started) / 1000;
            OutRecord answer = result(raw, q, hits, k, latencyUs);
            if (fits(answer, raw, hits, o -> ctx.output(DEAD_LETTERS, o), false)) {
                out.collect(answer);
                metrics.recalled(k.mode(), latencyUs);
            }
            return;
        }
        long nowProcessing = ctx.timerService().currentProcessingTime();
        PendingQuery waitingQuery = new PendingQuery(raw, arrivalMicros, nowProcessing);
        waitingQuery.decoded = q;
        pending.add(waitingQuery);
        int waiting = 0;
        for (PendingQuery ignored : pending.get()) {
            waiting++;
        }
        if (waiting >= settings.batchMaxSize) {
            flush(ctx.getCurrentKey(), ctx.timerService(), out, o -> ctx.output(DEAD_LETTERS, o), Flush.SIZE);
        } else if (waiting == 1) {
            ctx.timerService().registerProcessingTimeTimer(nowProcessing + settings.batchMaxDelayMs);
        }
    }

    /**
     * Answers the space's waiting queries, if any, in arrival order: similarities of all cues in one batched kernel
     * call (split only where the arena could not hold the whole batch's scratch), then retention, spreading and
     * ranking per query, exactly as {@link RecallEngine#recall} does for one. The current key must be {@code key}.
     *
     * @param timers the key's timer service, to delete the batch's flush timer; null where there is none (the
     *               broadcast side): the timer then fires later and finds nothing, or a newer batch, to answer
     */
    private void flush(String key, TimerService timers, Collector<OutRecord> out, Consumer<OutRecord> deadLetters,
                       Flush cause) throws Exception {
        Iterable<PendingQuery> stored = pending.get();
        if (stored == null) {
            return;
        }
        List<PendingQuery> batch = new ArrayList<>();
        for (PendingQuery pq : stored) {
            batch.add(pq);
        }
        if (batch.isEmpty()) {
            return;
        }
        pending.clear();
        if (timers != null && cause != Flush.DELAY) {
            timers.deleteProcessingTimeTimer(batch.get(0).arrivalProcessingMs + settings.batchMaxDelayMs);
        }
        long flushMicros = nowMicros();
        long flushNanos = System.nanoTime();
        metrics.batchFlushed(cause.label, batch.size());

        SpaceState s = space.value();
        MemoryKernels k = kernels.forSpace(key);
        // Validated at arrival; checked again only because a restore may bring other limits (engram.limits.*): a
        // query they now refuse is dead-lettered, as it would be on arrival, instead of failing the task.
        List<PendingQuery> valid = new ArrayList<>(batch.size());
        List<RecallQuery> queries = new ArrayList<>(batch.size());
        List<QueryParams> params = new ArrayList<>(batch.size());
        for (PendingQuery pq : batch) {
            metrics.batchWaited(Math.max(0, flushMicros - pq.arrivalMicros));
            try {
                RecallQuery q = pq.decoded instanceof RecallQuery rq ? rq
                        : decode(() -> AvroCodec.decodeRecallQuery(pq.raw.value));
                QueryParams p = validator.query(q);
                if (s != null && s.size() > 0 && q.getCue().size() != s.dim()) {
                    throw new Rejection(Reason.DIM_MISMATCH, "cue has dimension " + q.getCue().size()
                            + ", space '" + key + "' has " + s.dim());
                }
                valid.add(pq);
                queries.add(q);
                params.add(p);
            } catch (Rejection r) {
                deadLetter(deadLetters, pq.raw, r.reason(), r.getMessage(), true);
            }
        }
        int b = valid.size();
        if (s == null || s.size() == 0) {
            // Cannot happen (see arrive), but if it did, the answer is the empty space's.
            for (int i = 0; i < b; i++) {
                respond(valid.get(i), queries.get(i), List.of(), k, flushMicros, flushNanos, out, deadLetters);
            }
            return;
        }
        int n = s.size();
        int dim = s.dim();
        int perCall = ArenaBudget.batchQueriesThatFit(k.arenaStats().capacityBytes(), dim, b);
        for (int from = 0; from < b; from += perCall) {
            int to = Math.min(b, from + perCall);
            float[] cues = new float[(to - from) * dim];
            for (int i = from; i < to; i++) {
                List<Float> cue = queries.get(i).getCue();
                int base = (i - from) * dim;
                for (int j = 0; j < dim; j++) {
                    cues[base + j] = cue.get(j);
                }
            }
            float[] sims;
            try {
                sims = engine.similarities(s, cues, to - from, k);
            } catch (ArenaOverflowException e) {
                for (int i = from; i < to; i++) {
                    deadLetter(deadLetters, valid.get(i).raw, Reason.ARENA_OVERFLOW, e.getMessage(), true);
                }
                continue;
            }
            for (int i = from; i < to; i++) {
                QueryParams p = params.get(i);
                List<Hit> hits;
                try {
                    hits = engine.recallWithSimilarity(s, sims, (i - from) * n, queries.get(i).getTimestampMs(),
                            p.k(), p.seedK(), p.maxHops(), p.hopDecay(), p.threshold(), k);
                } catch (ArenaOverflowException e) {
                    deadLetter(deadLetters, valid.get(i).raw, Reason.ARENA_OVERFLOW, e.getMessage(), true);
                    continue;
                }
                respond(valid.get(i), queries.get(i), hits, k, flushMicros, flushNanos, out, deadLetters);
            }
        }
    }

    /** Emits one batched answer; its latency is the wait in the batch plus the batch's time until this answer. */
    private void respond(PendingQuery pq, RecallQuery q, List<Hit> hits, MemoryKernels k, long flushMicros,
                         long flushNanos, Collector<OutRecord> out, Consumer<OutRecord> deadLetters) {
        long latencyUs = Math.max(0, flushMicros - pq.arrivalMicros) + (System.nanoTime() - flushNanos) / 1000;
        OutRecord o = result(pq.raw, q, hits, k, latencyUs);
        o.timestampMs = pq.raw.timestampMs; // the query's timestamp, as if answered on arrival
        if (fits(o, pq.raw, hits, deadLetters, true)) {
            out.collect(o);
            metrics.recalled(k.mode(), latencyUs);
        }
    }

    /**
     * True if the answer fits engram.limits.max-output-record-size; else the query is dead-lettered: a result the
     * sink cannot write would fail it on every replay of the query.
     */
    private boolean fits(OutRecord answer, RawRecord query, List<Hit> hits, Consumer<OutRecord> deadLetters,
                         boolean atQueryTime) {
        long size = DeadLetters.kafkaSize(answer.key, answer.value);
        if (size <= settings.maxOutputRecordBytes) {
            return true;
        }
        deadLetter(deadLetters, query, Reason.RESULT_TOO_LARGE, "the answer has " + hits.size() + " hits and "
                + size + " bytes, more than engram.limits.max-output-record-size (" + settings.maxOutputRecordBytes
                + " bytes): ask for a smaller k", atQueryTime);
        return false;
    }

    private static OutRecord result(RawRecord raw, RecallQuery q, List<Hit> hits, MemoryKernels k, long latencyUs) {
        List<RecallHit> out2 = new ArrayList<>(hits.size());
        for (Hit h : hits) {
            out2.add(new RecallHit(h.memoryId(), h.score(), h.similarity(), h.activation(), h.retention(), h.hops()));
        }
        RecallResult result = RecallResult.newBuilder()
                .setQueryId(q.getQueryId())
                .setSpace(q.getSpace())
                .setTimestampMs(q.getTimestampMs())
                .setHits(out2)
                .setKernelMode(k.mode().label())
                .setLatencyUs(latencyUs)
                .build();
        return new OutRecord(raw.key, AvroCodec.encode(result));
    }

    /** Wall-clock microseconds: comparable across a restore in another process, unlike {@link System#nanoTime}. */
    private static long nowMicros() {
        java.time.Instant t = java.time.Instant.now();
        return t.getEpochSecond() * 1_000_000L + t.getNano() / 1000;
    }

    // ----- decay sweep -------------------------------------------------------------------------------------------

    /**
     * Registers the space's sweep unless one is pending: at most one sweep timer per space. It is due at the first
     * interval boundary after the event or the current watermark, whichever is later, so an old event (or one
     * arriving late) never schedules a sweep in the past: that sweep would fire at once and, chained interval by
     * interval, fire once per interval back to the event's time (a month-old event: 43,200 timers).
     */
    private void scheduleSweep(ReadOnlyContext ctx, long eventTime) throws Exception {
        if (nextSweep.value() != null) {
            return;
        }
        long at = boundaryAfter(Math.max(eventTime, ctx.timerService().currentWatermark()));
        ctx.timerService().registerEventTimeTimer(at);
        nextSweep.update(at);
    }

    /** The first multiple of the sweep interval after {@code t}. */
    private long boundaryAfter(long t) {
        long interval = settings.sweepIntervalMs;
        return Math.floorDiv(t, interval) * interval + interval;
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<OutRecord> out) throws Exception {
        kernels.observe(ctx.getBroadcastState(KernelRouter.CONTROL));
        currentKey = ctx.getCurrentKey();
        if (ctx.timeDomain() == TimeDomain.PROCESSING_TIME) {
            // The batch's max-delay is up (or a stale timer of a batch answered earlier: then it answers a newer
            // batch a little early, or nothing).
            flush(ctx.getCurrentKey(), ctx.timerService(), out, o -> ctx.output(DEAD_LETTERS, o), Flush.DELAY);
            return;
        }
        // The sweep may forget memories: answer the waiting queries first, from the state they arrived at.
        flush(ctx.getCurrentKey(), ctx.timerService(), out, o -> ctx.output(DEAD_LETTERS, o), Flush.CHANGE);
        nextSweep.clear();
        // One sweep at the last interval boundary the watermark has passed: what a chain of sweeps, one per
        // interval, would leave (retention only falls between two of them, and no event comes in between), at the
        // cost of one.
        long watermark = ctx.timerService().currentWatermark();
        long at = Math.max(timestamp, boundaryAfter(watermark) - settings.sweepIntervalMs);
        SpaceState s = space.value();
        if (s != null && s.size() > 0) {
            sweep(s, at, ctx.getCurrentKey());
        }
        expireDedup(at);
        boolean dedupEmpty = dedup.isEmpty();
        if (dedupEmpty) {
            // Removing the last entries through the iterator leaves an empty map behind on the heap backend (only
            // MapState.remove/clear drop it), which would keep the key in every checkpoint.
            dedup.clear();
        }
        boolean more = (s != null && s.size() > 0) || !dedupEmpty;
        if (more) {
            long next = boundaryAfter(Math.max(at, watermark));
            ctx.timerService().registerEventTimeTimer(next);
            nextSweep.update(next);
        } else {
            space.clear(); // an empty space with no dedup memory leaves no state behind
        }
    }

    private void sweep(SpaceState s, long at, String key) throws Exception {
        MemoryKernels k = kernels.forSpace(key);
        float[] retention;
        try {
            retention = engine.retention(s, at, k);
        } catch (ArenaOverflowException e) {
            LOG.warn("decay sweep of space '{}' skipped at {}: {}", key, at, e.getMessage());
            metrics.sweepSkipped();
            return;
        }
        int n = s.size();
        boolean[] doomed = new boolean[n];
        int count = 0;
        for (int i = 0; i < n; i++) {
            if (retention[i] < settings.forgetThreshold) {
                doomed[i] = true;
                count++;
                if (LOG.isDebugEnabled()) {
                    LOG.debug("decay forgets '{}' in space '{}' at {} (retention {})", s.id(i), key, at, retention[i]);
                }
            }
        }
        if (count > 0) {
            int edgesBefore = s.edgeCount();
            s.removeRows(doomed);
            space.update(s);
            metrics.decayForgot(count);
            metrics.memoriesChanged(-count, s.edgeCount() - edgesBefore);
        }
    }

    private void expireDedup(long at) throws Exception {
        long horizon = at - settings.dedupWindowMs;
        Iterator<Map.Entry<String, Long>> it = dedup.iterator();
        while (it.hasNext()) {
            if (it.next().getValue() < horizon) {
                it.remove();
            }
        }
    }

    // ----- broadcast: kernel control -----------------------------------------------------------------------------

    @Override
    public void processBroadcastElement(RawRecord raw, Context ctx, Collector<OutRecord> out) throws Exception {
        KernelControl control;
        // Every subtask must decide alike (broadcast state is the same everywhere): "now" is the time the control
        // source read the record (RawRecordDeserializer), the same for all of them, not each one's clock.
        long now = raw.timestampMs;
        try {
            try {
                control = decode(() -> AvroCodec.decodeKernelControl(raw.value));
            } catch (Rejection r) {
                throw new Rejection(Reason.BAD_CONTROL, r.getMessage()); // not a KernelControl at all
            }
            validator.control(control, now);
        } catch (Rejection r) {
            if (getRuntimeContext().getTaskInfo().getIndexOfThisSubtask() == 0) {
                // every subtask rejects it; one dead letter (and one count) is enough
                LOG.warn("engram kernel switch rejected ({}): {} (from {})", r.reason(), r.getMessage(), raw);
                metrics.deadLetter(r.reason());
                ctx.output(DEAD_LETTERS, DeadLetters.of(raw, r.reason(), "control record: " + r.getMessage(),
                        System.currentTimeMillis(), settings.maxOutputRecordBytes));
            }
            return;
        }
        byte[] current = ctx.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT);
        long inForce = current == null ? Long.MIN_VALUE : AvroCodec.decodeKernelControl(current).getTimestampMs();
        if (inForce - now > settings.maxFutureSkewMs) {
            // Kept from a job that accepted any timestamp: it would win forever. A valid switch replaces it.
            LOG.warn("engram kernel switch in force has timestamp_ms {}, beyond engram.limits.max-future-skew: "
                    + "replaced by {}", inForce, raw);
        } else if (inForce > control.getTimestampMs()) {
            LOG.info("engram kernel switch ignored: a newer one is in force ({} is older)", raw);
            return; // the newest command by timestamp_ms wins, whatever order they arrive in; a tie goes to the later
        }
        // Waiting queries are answered by the kernels that were in force when they arrived.
        ctx.applyToKeyedState(PENDING, (key, state) -> {
            currentKey = key;
            flush(key, null, out, o -> ctx.output(DEAD_LETTERS, o), Flush.CONTROL);
        });
        ctx.getBroadcastState(KernelRouter.CONTROL).put(KernelRouter.CURRENT, AvroCodec.encode(control));
        kernels.observe(ctx.getBroadcastState(KernelRouter.CONTROL));
    }

    // ----- helpers -----------------------------------------------------------------------------------------------

    interface Decoder<T> {
        T decode();
    }

    private static <T> T decode(Decoder<T> d) throws Rejection {
        try {
            return d.decode();
        } catch (DecodeException e) {
            throw new Rejection(Reason.valueOf(e.reason().name()), e.getMessage());
        }
    }

    static float[] toArray(List<Float> v) {
        float[] a = new float[v.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = v.get(i);
        }
        return a;
    }
}
