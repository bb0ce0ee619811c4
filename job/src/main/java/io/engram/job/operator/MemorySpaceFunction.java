package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.recall.Hit;
import io.engram.job.recall.RecallEngine;
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

    private final EngramSettings settings;

    private transient ValueState<SpaceState> space;
    private transient MapState<String, Long> dedup;
    private transient ValueState<Long> nextSweep;
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
                applyEvent(raw, ctx);
            } else if (raw.kind == RawRecord.Kind.RECALL_QUERY) {
                answer(raw, out);
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
        metrics.deadLetter(reason);
        LOG.debug("dead letter {} from {}: {}", reason, raw, message);
        ctx.output(DEAD_LETTERS, DeadLetters.of(raw, reason, message, System.currentTimeMillis()));
    }

    // ----- memory events -----------------------------------------------------------------------------------------

    private void applyEvent(RawRecord raw, ReadOnlyContext ctx) throws Exception {
        MemoryEvent e = decode(() -> AvroCodec.decodeMemoryEvent(raw.value));
        validator.envelope(raw.space, e.getSpace(), e.getEventId(), e.getTimestampMs(), System.currentTimeMillis());
        validator.event(e);
        if (dedup.contains(e.getEventId())) {
            metrics.duplicate();
            return; // already applied: a replay changes nothing
        }
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
        float stability = m.getStabilityS() == null ? settings.defaultStabilitySeconds : m.getStabilityS();
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

    private void answer(RawRecord raw, Collector<OutRecord> out) throws Exception {
        long started = System.nanoTime();
        RecallQuery q = decode(() -> AvroCodec.decodeRecallQuery(raw.value));
        validator.envelope(raw.space, q.getSpace(), q.getQueryId(), q.getTimestampMs(), System.currentTimeMillis());
        QueryParams p = validator.query(q);
        SpaceState s = space.value();
        List<Hit> hits = List.of();
        MemoryKernels k = kernels.forSpace(raw.space);
        if (s != null && s.size() > 0) {
            if (q.getCue().size() != s.dim()) {
                throw new Rejection(Reason.DIM_MISMATCH, "cue has dimension " + q.getCue().size() + ", space '"
                        + raw.space + "' has " + s.dim());
            }
            hits = engine.recall(s, toArray(q.getCue()), q.getTimestampMs(), p.k(), p.seedK(), p.maxHops(),
                    p.hopDecay(), p.threshold(), k);
        }
        List<RecallHit> out2 = new ArrayList<>(hits.size());
        for (Hit h : hits) {
            out2.add(new RecallHit(h.memoryId(), h.score(), h.similarity(), h.activation(), h.retention(), h.hops()));
        }
        long latencyUs = (System.nanoTime() - started) / 1000;
        RecallResult result = RecallResult.newBuilder()
                .setQueryId(q.getQueryId())
                .setSpace(q.getSpace())
                .setTimestampMs(q.getTimestampMs())
                .setHits(out2)
                .setKernelMode(k.mode().label())
                .setLatencyUs(latencyUs)
                .build();
        metrics.recalled(k.mode(), latencyUs);
        out.collect(new OutRecord(raw.key, AvroCodec.encode(result)));
    }

    // ----- decay sweep -------------------------------------------------------------------------------------------

    private void scheduleSweep(ReadOnlyContext ctx, long eventTime) throws Exception {
        if (nextSweep.value() != null) {
            return;
        }
        long interval = settings.sweepIntervalMs;
        long at = Math.floorDiv(eventTime, interval) * interval + interval;
        ctx.timerService().registerEventTimeTimer(at);
        nextSweep.update(at);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<OutRecord> out) throws Exception {
        kernels.observe(ctx.getBroadcastState(KernelRouter.CONTROL));
        nextSweep.clear();
        SpaceState s = space.value();
        if (s != null && s.size() > 0) {
            sweep(s, timestamp, ctx.getCurrentKey());
        }
        expireDedup(timestamp);
        boolean dedupEmpty = dedup.isEmpty();
        if (dedupEmpty) {
            // Removing the last entries through the iterator leaves an empty map behind on the heap backend (only
            // MapState.remove/clear drop it), which would keep the key in every checkpoint.
            dedup.clear();
        }
        boolean more = (s != null && s.size() > 0) || !dedupEmpty;
        if (more) {
            long at = timestamp + settings.sweepIntervalMs;
            ctx.timerService().registerEventTimeTimer(at);
            nextSweep.update(at);
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
        try {
            control = decode(() -> AvroCodec.decodeKernelControl(raw.value));
            KernelRouter.validate(control);
        } catch (Rejection r) {
            metrics.deadLetter(Reason.BAD_CONTROL);
            ctx.output(DEAD_LETTERS, DeadLetters.of(raw, Reason.BAD_CONTROL, r.getMessage(),
                    System.currentTimeMillis()));
            return;
        }
        byte[] current = ctx.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT);
        if (current != null && AvroCodec.decodeKernelControl(current).getTimestampMs() > control.getTimestampMs()) {
            LOG.info("engram kernel switch ignored: a newer one is in force ({} is older)", raw);
            return; // the newest command by timestamp_ms wins, whatever order they arrive in
        }
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
