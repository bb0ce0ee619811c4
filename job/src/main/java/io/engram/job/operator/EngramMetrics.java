package io.engram.job.operator;

import io.engram.job.model.Reason;
import io.engram.kernels.ArenaStats;
import io.engram.kernels.Kernel;
import io.engram.kernels.KernelMode;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;

/**
 * The operator's metrics, all under the {@code engram} group. With the Prometheus reporter they appear as
 * {@code flink_taskmanager_job_task_operator_engram_*}; key/value groups (kernel, mode, reason) become labels.
 * The full list with meanings is in docs/operations/metrics.md.
 */
final class EngramMetrics {
    /**
     * The {@code kernel} label values: every {@link Kernel} (from the enum, so a new kernel is metered without a change
     * here), and {@code cosineTopK}, kept for dashboards that name it; it is not a kernel of its own and is counted
     * as the {@code cosineSimilarity} call it makes.
     */
    static final String[] KERNELS = Stream.concat(Arrays.stream(Kernel.values()).map(Kernel::label),
            Stream.of("cosineTopK")).toArray(String[]::new);
    private static final int WINDOW = 1024;

    private final MetricGroup engram;
    private final Map<KernelMode, Map<String, Counter>> calls = new EnumMap<>(KernelMode.class);
    private final Map<KernelMode, Map<String, Histogram>> latency = new EnumMap<>(KernelMode.class);
    private final Map<KernelMode, Counter> recalls = new EnumMap<>(KernelMode.class);
    private final Map<Reason, Counter> deadLetters = new EnumMap<>(Reason.class);
    private final Histogram recallLatencyUs;
    private final Histogram recallBatchSize;
    private final Histogram recallBatchWaitUs;
    private final Map<String, Counter> recallBatches = new java.util.HashMap<>();
    private final Counter duplicates;
    private final Counter decayForgotten;
    private final Counter sweepsSkipped;
    private final Counter shadowComparisons;
    private final Counter shadowDivergences;
    private long memories;
    private long edges;

    EngramMetrics(MetricGroup operator, KernelRouter router) {
        engram = operator.addGroup("engram");
        for (KernelMode mode : new KernelMode[] {KernelMode.ZIG, KernelMode.JAVA}) {
            Map<String, Counter> c = new java.util.HashMap<>();
            Map<String, Histogram> h = new java.util.HashMap<>();
            for (String kernel : KERNELS) {
                MetricGroup g = engram.addGroup("kernel", kernel).addGroup("mode", mode.label());
                c.put(kernel, g.counter("calls"));
                h.put(kernel, g.histogram("latencyNs", new DescriptiveStatisticsHistogram(WINDOW)));
            }
            calls.put(mode, c);
            latency.put(mode, h);
            recalls.put(mode, engram.addGroup("mode", mode.label()).counter("recalls"));
        }
        for (Reason r : Reason.values()) {
            deadLetters.put(r, engram.addGroup("reason", r.name()).counter("deadLetters"));
        }
        recallLatencyUs = engram.histogram("recallLatencyUs", new DescriptiveStatisticsHistogram(WINDOW));
        recallBatchSize = engram.histogram("recallBatchSize", new DescriptiveStatisticsHistogram(WINDOW));
        recallBatchWaitUs = engram.histogram("recallBatchWaitUs", new DescriptiveStatisticsHistogram(WINDOW));
        for (RecallBatch.Flush f : RecallBatch.Flush.values()) {
            recallBatches.put(f.label, engram.addGroup("flush", f.label).counter("recallBatches"));
        }
        duplicates = engram.counter("duplicateEvents");
        decayForgotten = engram.counter("decayForgotten");
        sweepsSkipped = engram.counter("sweepsSkipped");
        shadowComparisons = engram.counter("shadowComparisons");
        shadowDivergences = engram.counter("shadowDivergences");
        engram.gauge("kernelMode", router::defaultModeIsZig);
        engram.gauge("memories", () -> memories);
        engram.gauge("edges", () -> edges);
        MetricGroup arena = engram.addGroup("arena");
        arena.gauge("capacityBytes", () -> stats(router).capacityBytes());
        arena.gauge("highWaterBytes", () -> stats(router).highWaterBytes());
        arena.gauge("inUseBytes", () -> stats(router).inUseBytes());
        arena.gauge("overflows", () -> stats(router).overflows());
        arena.gauge("resets", () -> stats(router).resets());
        arena.gauge("fallbacks", () -> stats(router).fallbacks());
    }

    /**
     * The state layer's gauges: bytes of chunks written (what RocksDB has to serialize: per event it is the size of
     * the chunks the event touched, never of the space), and the chunk cache's hits, misses and size.
     */
    void stateStore(io.engram.job.state.FlinkSpaceStore store) {
        MetricGroup state = engram.addGroup("state");
        state.gauge("bytesWritten", store::bytesWritten);
        state.gauge("cacheHits", store::cacheHits);
        state.gauge("cacheMisses", store::cacheMisses);
        state.gauge("cacheBytes", store::cacheBytes);
    }

    private static ArenaStats stats(KernelRouter router) {
        return router.configured().arenaStats();
    }

    void kernelCall(KernelMode mode, String kernel, long nanos) {
        calls.get(mode).get(kernel).inc();
        latency.get(mode).get(kernel).update(nanos);
    }

    void recalled(KernelMode mode, long latencyUs) {
        recalls.get(mode).inc();
        recallLatencyUs.update(latencyUs);
    }

    /** A batch of {@code size} waiting queries was answered, for the reason {@code flush}. */
    void batchFlushed(String flush, int size) {
        recallBatches.get(flush).inc();
        recallBatchSize.update(size);
    }

    /** A batched query waited this long between its arrival and its batch's answer. */
    void batchWaited(long micros) {
        recallBatchWaitUs.update(micros);
    }

    void deadLetter(Reason reason) {
        deadLetters.get(reason).inc();
    }

    void duplicate() {
        duplicates.inc();
    }

    void decayForgot(int count) {
        decayForgotten.inc(count);
    }

    void shadowCompared() {
        shadowComparisons.inc();
    }

    void shadowDiverged() {
        shadowDivergences.inc();
    }

    long shadowDivergences() {
        return shadowDivergences.getCount();
    }

    void sweepSkipped() {
        sweepsSkipped.inc();
    }

    /** Per-subtask totals: kept as deltas on the task thread, read by the reporter. */
    void memoriesChanged(long memoriesDelta, long edgesDelta) {
        memories += memoriesDelta;
        edges += edgesDelta;
    }

    long memories() {
        return memories;
    }

    long edges() {
        return edges;
    }

    void restoreTotals(long m, long e) {
        memories = m;
        edges = e;
    }
}
