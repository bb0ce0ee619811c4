package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.recall.RecallEngine;
import io.engram.job.space.Change;
import io.engram.job.space.MemorySpace;
import io.engram.job.space.SpaceEvent;
import io.engram.job.state.FlinkSpaceStore;
import io.engram.job.state.PendingQuery;
import io.engram.job.state.PendingQuerySerializer;
import io.engram.job.state.SnapshotThreads;
import io.engram.job.state.SpaceIndex;
import io.engram.kernels.ArenaOverflowException;
import io.engram.kernels.MemoryKernels;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.KernelControl;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.BroadcastState;
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
 * The memory operator: state per space (the key), bound here to Flink's keyed state, timers and outputs; what
 * events and queries mean lives in {@link MemorySpace}, {@link RecallEngine} and {@link RecallBatch}. Input:
 * memory events and recall queries (keyed), and {@code KernelControl} records (broadcast: the runtime kernel
 * switch). Output: results, and dead letters with a reason for everything it cannot apply.
 *
 * <p>Per record: decode and validate ({@link RecordDecoder}); a memory event that is not a replay (dedup window)
 * first answers the space's waiting queries, then changes the space; a query is answered at once or waits in its
 * space's batch ({@link RecallBatch}). Decay sweeps run on an event-time timer per space. See
 * docs/internal/recall_contract.md.
 */
public class MemorySpaceFunction extends KeyedBroadcastProcessFunction<String, RawRecord, RawRecord, OutRecord>
        implements CheckpointedFunction {
    private static final long serialVersionUID = 2L;
    private static final Logger LOG = LoggerFactory.getLogger(MemorySpaceFunction.class);

    public static final OutputTag<OutRecord> DEAD_LETTERS = new OutputTag<>("dead-letters") {
    };

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

    private final EngramSettings settings;

    private transient FlinkSpaceStore store;
    private transient MemorySpace space;
    private transient MapState<String, Long> dedup;
    private transient ValueState<Long> nextSweep;
    private transient RecordDecoder decoder;
    private transient RecallBatch batch;
    private transient WriteWaits waits;
    private transient EventTimeOrder order;
    private transient KernelRouter kernels;
    private transient EngramMetrics metrics;
    /** Operator state: this subtask's memory and edge totals, so the gauges survive a restore. */
    private transient ListState<long[]> totals;
    private transient long[] restoredTotals;
    /** The broadcast state, reachable before any record arrives, so a restored kernel switch applies at once. */
    private transient BroadcastState<String, byte[]> restoredControl;

    public MemorySpaceFunction(EngramSettings settings) {
        this.settings = settings;
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        SnapshotThreads.configure(settings.snapshotThreadPriority);
        store = new FlinkSpaceStore(FlinkSpaceStore.States.of(getRuntimeContext()), settings.stateCacheBytes,
                settings.chunkSlots);
        space = new MemorySpace(store, settings.spaceRules());
        dedup = getRuntimeContext().getMapState(DEDUP);
        nextSweep = getRuntimeContext().getState(NEXT_SWEEP);
        decoder = new RecordDecoder(settings);
        kernels = KernelRouter.open(settings, getRuntimeContext());
        metrics = new EngramMetrics(getRuntimeContext().getMetricGroup(), kernels);
        metrics.stateStore(store);
        kernels.instrument(metrics);
        batch = new RecallBatch(settings, getRuntimeContext().getListState(PENDING), decoder, space,
                new RecallEngine(), new Answers(settings.maxOutputRecordBytes), metrics, this::unmetWrites);
        waits = new WriteWaits(settings, getRuntimeContext().getListState(WriteWaits.WAITING),
                getRuntimeContext().getMapState(WriteWaits.POSITIONS), dedup, decoder, batch);
        order = new EventTimeOrder(settings, getRuntimeContext().getMapState(EventTimeOrder.HELD),
                getRuntimeContext().getState(EventTimeOrder.RELEASED),
                getRuntimeContext().getState(EventTimeOrder.HELD_COUNT),
                getRuntimeContext().getState(EventTimeOrder.IDLE_CHECK), decoder, batch, waits);
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
        if (store != null) {
            store.beforeSnapshot(); // the keyed state is snapshotted right after this, on this thread
        }
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
        String key = ctx.getCurrentKey();
        store.bind(key);
        Consumer<OutRecord> deadLetters = o -> ctx.output(DEAD_LETTERS, o);
        TimerService timers = ctx.timerService();
        MemoryKernels k = kernels.forSpace(key);
        try {
            if (raw.kind == RawRecord.Kind.CONTROL) {
                throw new IllegalStateException("control records arrive on the broadcast input");
            } else if (settings.eventTimeConsistency) {
                order.arrive(raw, key, timers, k, out, deadLetters);
            } else if (raw.kind == RawRecord.Kind.MEMORY_EVENT) {
                try {
                    apply(decoder.event(raw, System.currentTimeMillis()), key, timers, out, deadLetters);
                } finally {
                    waits.processed(raw);
                }
            } else {
                PendingQuery pq = new PendingQuery(raw, RecallBatch.nowMicros(), timers.currentProcessingTime());
                RecordDecoder.ValidQuery q = decoder.query(raw, System.currentTimeMillis());
                pq.decoded = q.query();
                waits.arrive(pq, q, key, timers, k, out, deadLetters);
            }
        } catch (Rejection r) {
            deadLetters.accept(batch.deadLetter(raw, r.reason(), r.getMessage(), false));
        } catch (ArenaOverflowException e) {
            deadLetters.accept(batch.deadLetter(raw, Reason.ARENA_OVERFLOW, e.getMessage(), false));
        }
        if (raw.kind == RawRecord.Kind.MEMORY_EVENT && !settings.eventTimeConsistency) {
            waits.release(key, timers, k, out, deadLetters); // queries that waited for this event
        }
    }

    /**
     * A valid memory event changes the space, unless it is a replay (dedup window). In arrival mode the queries that
     * arrived before it are answered first, from the state before it.
     */
    private void apply(SpaceEvent e, String key, TimerService timers, Collector<OutRecord> out,
                       Consumer<OutRecord> deadLetters) throws Exception {
        if (dedup.contains(e.eventId())) {
            metrics.duplicate();
            return; // already applied: a replay changes nothing
        }
        batch.flush(key, timers, kernels.forSpace(key), out, deadLetters, RecallBatch.Flush.CHANGE);
        Change change = space.apply(e);
        metrics.memoriesChanged(change.memories(), change.edges());
        dedup.put(e.eventId(), e.timestampMs());
        scheduleSweep(timers, e.timestampMs());
    }

    /**
     * Event-time mode: an answer is stale if a write its query names is not applied by the time the query is released
     * (stamped after it, or rejected). Arrival mode answers only queries whose writes are in (or timed out: those are
     * answered on their own).
     */
    private boolean unmetWrites(io.engram.schemas.RecallQuery q) throws Exception {
        return settings.eventTimeConsistency && WriteWaits.namesWrites(q) && !waits.satisfied(q);
    }

    /** Event-time mode: a memory event the watermark released, in timestamp order. */
    private void applyReleased(RawRecord raw, String key, TimerService timers, Collector<OutRecord> out,
                               Consumer<OutRecord> deadLetters) throws Exception {
        // The queries released before it are answered first, whatever it turns out to be: a replay or a rejected
        // event changes no memory, but it is processed, which can meet a read-your-writes position they name.
        batch.flush(key, timers, kernels.forSpace(key), out, deadLetters, RecallBatch.Flush.CHANGE);
        try {
            apply(decoder.event(raw, raw.timestampMs), key, timers, out, deadLetters);
        } catch (Rejection r) {
            deadLetters.accept(batch.deadLetter(raw, r.reason(), r.getMessage(), true));
        } catch (ArenaOverflowException e) {
            deadLetters.accept(batch.deadLetter(raw, Reason.ARENA_OVERFLOW, e.getMessage(), true));
        } finally {
            waits.processed(raw);
        }
    }

    // ----- decay sweep -------------------------------------------------------------------------------------------

    /**
     * Registers the space's sweep unless one is pending: at most one sweep timer per space. It is due at the first
     * interval boundary after the event or the current watermark, whichever is later, so an old event (or one
     * arriving late) never schedules a sweep in the past: that sweep would fire at once and, chained interval by
     * interval, fire once per interval back to the event's time (a month-old event: 43,200 timers).
     */
    private void scheduleSweep(TimerService timers, long eventTime) throws Exception {
        if (nextSweep.value() != null) {
            return;
        }
        long at = boundaryAfter(Math.max(eventTime, timers.currentWatermark()));
        timers.registerEventTimeTimer(at);
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
        String key = ctx.getCurrentKey();
        store.bind(key);
        Consumer<OutRecord> deadLetters = o -> ctx.output(DEAD_LETTERS, o);
        MemoryKernels k = kernels.forSpace(key);
        TimerService timers = ctx.timerService();
        EventTimeOrder.Applier applier = (raw, t, dl) -> applyReleased(raw, key, t, out, dl);
        if (ctx.timeDomain() == TimeDomain.PROCESSING_TIME) {
            // A batch's max-delay is up (or a stale timer of a batch answered earlier: then it answers a newer batch
            // a little early, or nothing); a read-your-writes wait may be over; in event-time mode, the idleness
            // check may release what the watermark has not.
            batch.flush(key, timers, k, out, deadLetters, RecallBatch.Flush.DELAY);
            waits.expire(timestamp, key, k, out, deadLetters);
            if (settings.eventTimeConsistency) {
                order.expire(timestamp, key, timers, k, out, deadLetters, applier);
            }
            return;
        }
        if (settings.eventTimeConsistency) {
            order.release(timestamp, key, timers, k, out, deadLetters, applier); // what waited for this time
        }
        Long sweepAt = nextSweep.value();
        if (sweepAt == null || sweepAt > timestamp) {
            return; // a release timer, not the space's sweep
        }
        // The sweep may forget memories: answer the waiting queries first, from the state they arrived at.
        batch.flush(key, timers, k, out, deadLetters, RecallBatch.Flush.CHANGE);
        nextSweep.clear();
        long watermark = timers.currentWatermark();
        long at;
        long next;
        if (settings.eventTimeConsistency) {
            // In timestamp order with the events and queries: exactly at its boundary, after everything stamped at or
            // before it. The next one skips the boundaries before the next waiting record (or the watermark), where
            // nothing happens in between: one sweep there leaves what the chain of sweeps would.
            at = timestamp;
            long upTo = Math.min(watermark, order.earliestHeld() - 1);
            next = Math.max(at + settings.sweepIntervalMs, boundaryAfter(upTo) - settings.sweepIntervalMs);
        } else {
            // One sweep at the last interval boundary the watermark has passed: what a chain of sweeps, one per
            // interval, would leave (retention only falls between two of them, and no event comes in between), at
            // the cost of one.
            at = Math.max(timestamp, boundaryAfter(watermark) - settings.sweepIntervalMs);
            next = boundaryAfter(Math.max(at, watermark));
        }
        sweep(at, key, k);
        expireDedup(at);
        boolean dedupEmpty = dedup.isEmpty();
        if (dedupEmpty) {
            // Removing the last entries through the iterator leaves an empty map behind on the heap backend (only
            // MapState.remove/clear drop it), which would keep the key in every checkpoint.
            dedup.clear();
        }
        if (space.size() > 0 || !dedupEmpty) {
            timers.registerEventTimeTimer(next);
            nextSweep.update(next);
        } else {
            space.clear(); // an empty space with no dedup memory leaves no state behind
            waits.forgetPositions();
        }
    }

    private void sweep(long at, String key, MemoryKernels k) {
        SpaceIndex idx = space.index();
        if (idx == null || idx.memories == 0) {
            return;
        }
        Change change;
        try {
            change = space.sweep(at, settings.forgetThreshold, k);
        } catch (ArenaOverflowException e) {
            LOG.warn("decay sweep of space '{}' skipped at {}: {}", key, at, e.getMessage());
            metrics.sweepSkipped();
            return;
        }
        if (change.memories() < 0) {
            LOG.debug("decay forgot {} memories of space '{}' at {}", -change.memories(), key, at);
            metrics.decayForgot(-change.memories());
            metrics.memoriesChanged(change.memories(), change.edges());
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
        // Every subtask must decide alike (broadcast state is the same everywhere): "now" is the time the control
        // source read the record (RawRecordDeserializer), the same for all of them, not each one's clock.
        long now = raw.timestampMs;
        KernelControl control;
        try {
            control = decoder.control(raw, now);
        } catch (Rejection r) {
            if (getRuntimeContext().getTaskInfo().getIndexOfThisSubtask() == 0) {
                // every subtask rejects it; one dead letter (and one count) is enough
                LOG.warn("engram kernel switch rejected ({}): {} (from {})", r.reason(), r.getMessage(), raw);
                ctx.output(DEAD_LETTERS, batch.deadLetter(raw, r.reason(), "control record: " + r.getMessage(),
                        false));
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
            store.bind(key);
            batch.flush(key, null, kernels.forSpace(key), out, o -> ctx.output(DEAD_LETTERS, o),
                    RecallBatch.Flush.CONTROL);
        });
        ctx.getBroadcastState(KernelRouter.CONTROL).put(KernelRouter.CURRENT, AvroCodec.encode(control));
        kernels.observe(ctx.getBroadcastState(KernelRouter.CONTROL));
    }
}
