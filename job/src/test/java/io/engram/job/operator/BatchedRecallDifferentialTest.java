package io.engram.job.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.schemas.Associate;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.Forget;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AddLifecycleHook;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * Batched recall against one-at-a-time recall, through the real operator: random interleavings of memory events
 * (store, reinforce, associate, forget, replays, invalid ones), recall queries (valid and invalid), processing-time
 * steps (batch timers) and watermarks (decay sweeps) over two spaces are fed to two harnesses, one with
 * {@code engram.recall.batch.max-size} 1 and one with a random max-size 2..8 and max-delay 1..20 ms, and their outputs
 * must agree: per space the same answers in the same order, and the same dead letters. Java kernels: bit-identical
 * answers (the Java batch kernel computes the same sums in the same order). Zig kernels: the same hits in the same
 * order with values within the cosine tolerance (the Zig batch kernel accumulates in a different order).
 */
class BatchedRecallDifferentialTest {
    static final long T0 = 1_700_000_000_000L;
    static final String[] SPACES = {"space-x", "space-y"};
    static final AtomicLong QUERIES = new AtomicLong();
    static final AtomicLong BATCHES = new AtomicLong();
    static final AtomicLong BATCHED_QUERIES = new AtomicLong();
    static final AtomicLong ZIG_RESULTS = new AtomicLong();
    static final AtomicLong ZIG_BIT_IDENTICAL = new AtomicLong();

    @Property(tries = 200)
    void javaBatchedAnswersAreBitIdenticalToOneAtATime(@ForAll long seed) throws Exception {
        run(seed, "java");
    }

    @Property(tries = 200)
    @AddLifecycleHook(SkipInJavaOnlyBuild.class)
    void zigBatchedAnswersMatchOneAtATimeWithinTolerance(@ForAll long seed) throws Exception {
        run(seed, "zig");
    }

    @AfterContainer
    static void report() {
        System.out.printf("BatchedRecallDifferentialTest: %d queries answered per side, %d batched answers in %d "
                        + "batches (%.2f per batch); zig: %d of %d answers bit-identical to one-at-a-time%n",
                QUERIES.get(), BATCHED_QUERIES.get(), BATCHES.get(),
                BATCHES.get() == 0 ? 0.0 : (double) BATCHED_QUERIES.get() / BATCHES.get(), ZIG_BIT_IDENTICAL.get(),
                ZIG_RESULTS.get());
    }

    private void run(long seed, String mode) throws Exception {
        Random r = new Random(seed);
        int maxSize = 2 + r.nextInt(7);
        long delay = 1 + r.nextInt(20);
        List<Step> steps = workload(r);
        try (var one = harness(mode, 1, delay); var batched = harness(mode, maxSize, delay)) {
            for (var h : List.of(one, batched)) {
                h.setProcessingTime(0);
                for (Step s : steps) {
                    s.apply(h);
                }
                h.setProcessingTime(h.getProcessingTime() + 1_000); // every batch is due
            }
            Map<String, List<RecallResult>> expected = results(one);
            Map<String, List<RecallResult>> got = results(batched);
            String what = "seed " + seed + ", " + mode + ", max-size " + maxSize + ", max-delay " + delay + " ms";
            assertThat(got.keySet()).as(what).isEqualTo(expected.keySet());
            for (String space : expected.keySet()) {
                List<RecallResult> e = expected.get(space);
                List<RecallResult> g = got.get(space);
                if ("java".equals(mode)) {
                    assertThat(g).as("%s, space %s", what, space).isEqualTo(e);
                } else {
                    RecallBatchingTest.assertSameWithinTolerance(g, e);
                    for (int i = 0; i < e.size(); i++) {
                        ZIG_RESULTS.incrementAndGet();
                        if (g.get(i).equals(e.get(i))) {
                            ZIG_BIT_IDENTICAL.incrementAndGet();
                        }
                    }
                }
                QUERIES.addAndGet(e.size());
            }
            assertThat(deadLetters(batched)).as(what).isEqualTo(deadLetters(one));
            MemorySpaceFunction f = (MemorySpaceFunction) MemorySpaceFunctionTest.field(batched.getOperator(),
                    "userFunction");
            var size = (org.apache.flink.metrics.Histogram) MemorySpaceFunctionTest.field(
                    MemorySpaceFunctionTest.metrics(f), "recallBatchSize");
            BATCHES.addAndGet(size.getCount());
            BATCHED_QUERIES.addAndGet(((org.apache.flink.metrics.Histogram) MemorySpaceFunctionTest.field(
                    MemorySpaceFunctionTest.metrics(f), "recallBatchWaitUs")).getCount());
        }
    }

    // ----- the workload --------------------------------------------------------------------------------------------

    interface Step {
        void apply(KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h) throws Exception;
    }

    private static List<Step> workload(Random r) {
        int dim = new int[] {3, 8, 17, 64}[r.nextInt(4)];
        int ops = 20 + r.nextInt(80);
        List<Step> steps = new ArrayList<>();
        List<RawRecord> applied = new ArrayList<>();
        Map<String, List<float[]>> stored = new TreeMap<>();
        long[] offset = {0};
        long ts = T0;
        long watermark = Long.MIN_VALUE;
        for (int i = 0; i < ops; i++) {
            ts += r.nextInt(20_000);
            String space = SPACES[r.nextInt(r.nextInt(4) == 0 ? 1 : SPACES.length)];
            int p = r.nextInt(100);
            RawRecord rec = null;
            if (p < 30) {
                float[] e = vector(r, dim);
                stored.computeIfAbsent(space, s -> new ArrayList<>()).add(e);
                float[] stabilities = {5f, 60f, 3600f, 1e6f};
                rec = event(offset, space, ts, StoreMemory.newBuilder().setMemoryId("m" + r.nextInt(12))
                        .setEmbedding(floats(e)).setStrength(0.25f + r.nextInt(8) * 0.25f)
                        .setStabilityS(r.nextBoolean() ? null : stabilities[r.nextInt(4)]).setContent(null).build());
            } else if (p < 37) {
                rec = event(offset, space, ts, ReinforceMemory.newBuilder().setMemoryId("m" + r.nextInt(12)).build());
            } else if (p < 47) {
                rec = event(offset, space, ts, Associate.newBuilder().setFromId("m" + r.nextInt(12))
                        .setToId("m" + r.nextInt(12)).setWeight(r.nextInt(11) / 10f).setBidirectional(r.nextBoolean())
                        .build());
            } else if (p < 51) {
                rec = event(offset, space, ts, Forget.newBuilder().setMemoryId("m" + r.nextInt(12)).build());
            } else if (p < 54 && !applied.isEmpty()) {
                RawRecord old = applied.get(r.nextInt(applied.size())); // a replay: same event id
                rec = new RawRecord(old.kind, old.topic, old.partition, offset[0]++, old.timestampMs, old.key,
                        old.value);
            } else if (p < 88) {
                // queries come alone or in bursts (up to 8 in a row), so batches fill up and flush by size too
                int burst = r.nextInt(3) == 0 ? 1 + r.nextInt(8) : 1;
                for (int b = 0; b < burst; b++) {
                    RawRecord x = queryRecord(r, offset, space, ts, "q" + i + "-" + b, dim,
                            stored.getOrDefault(space, List.of()));
                    steps.add(h -> h.processElement(x, x.timestampMs));
                }
            } else if (p < 96) {
                long step = r.nextInt(30);
                steps.add(h -> h.setProcessingTime(h.getProcessingTime() + step));
            } else {
                long wm = ts - r.nextInt(120_000);
                if (wm > watermark) {
                    watermark = wm;
                    steps.add(h -> h.watermark(wm));
                }
            }
            if (rec != null) {
                RawRecord x = rec;
                if (x.kind == RawRecord.Kind.MEMORY_EVENT) {
                    applied.add(x);
                }
                steps.add(h -> h.processElement(x, x.timestampMs));
            }
        }
        return steps;
    }

    private static RawRecord queryRecord(Random r, long[] offset, String space, long ts, String id, int dim,
                                         List<float[]> known) {
        float[] cue = !known.isEmpty() && r.nextInt(4) == 0 ? known.get(r.nextInt(known.size())) : vector(r, dim);
        RecallQuery q = RecallQuery.newBuilder().setQueryId(id).setSpace(space)
                .setTimestampMs(ts - r.nextInt(5_000)).setCue(floats(cue)).setK(1 + r.nextInt(10))
                .setMaxHops(r.nextBoolean() ? null : r.nextInt(4))
                .setHopDecay(r.nextBoolean() ? null : 0.5f + r.nextInt(6) * 0.1f)
                .setThreshold(r.nextBoolean() ? null : 0f)
                .setSeedK(r.nextBoolean() ? null : 1 + r.nextInt(5)).build();
        if (r.nextInt(30) == 0) {
            q.setK(0); // dead-lettered on arrival: BAD_K
        }
        if (r.nextInt(30) == 0) {
            q.setCue(floats(vector(r, dim + 1))); // DIM_MISMATCH once the space has memories
        }
        return new RawRecord(RawRecord.Kind.RECALL_QUERY, "engram.recall-queries", 0, offset[0]++,
                q.getTimestampMs(), space.getBytes(StandardCharsets.UTF_8), AvroCodec.encode(q));
    }

    private static RawRecord event(long[] offset, String space, long ts, Object payload) {
        MemoryEvent e = MemoryEvent.newBuilder().setSpace(space).setEventId("e" + offset[0]).setTimestampMs(ts)
                .setPayload(payload).build();
        return new RawRecord(RawRecord.Kind.MEMORY_EVENT, "engram.memory-events", 0, offset[0]++, ts,
                space.getBytes(StandardCharsets.UTF_8), AvroCodec.encode(e));
    }

    private static float[] vector(Random r, int dim) {
        float[] v = new float[dim];
        for (int i = 0; i < dim; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }

    private static List<Float> floats(float[] v) {
        List<Float> l = new ArrayList<>(v.length);
        for (float x : v) {
            l.add(x);
        }
        return l;
    }

    // ----- harness and outputs -------------------------------------------------------------------------------------

    private static KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> harness(String mode,
            int maxSize, long delayMs) throws Exception {
        Configuration c = new Configuration();
        c.set(EngramOptions.KERNEL_MODE, mode);
        c.set(EngramOptions.ARENA_BUDGET_CHECK, false);
        c.set(EngramOptions.SHADOW_SAMPLE_RATE, 0.0);
        c.set(EngramOptions.BATCH_MAX_SIZE, maxSize);
        c.set(EngramOptions.BATCH_MAX_DELAY, Duration.ofMillis(delayMs));
        return ProcessFunctionTestHarnesses.forKeyedBroadcastProcessFunction(
                new MemorySpaceFunction(new EngramSettings(c)), RawRecord::getSpace, Types.STRING,
                KernelRouter.CONTROL);
    }

    /** Per space, the answers in output order, latency_us zeroed. */
    @SuppressWarnings("unchecked")
    private static Map<String, List<RecallResult>> results(
            KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h) {
        Map<String, List<RecallResult>> m = new TreeMap<>();
        for (Object o : h.getOutput()) {
            if (o instanceof StreamRecord<?> sr) {
                RecallResult res = AvroCodec.decodeRecallResult(((StreamRecord<OutRecord>) sr).getValue().value);
                m.computeIfAbsent(res.getSpace().toString(), s -> new ArrayList<>())
                        .add(RecallResult.newBuilder(res).setLatencyUs(0L).build());
            }
        }
        return m;
    }

    /** "offset reason" of every dead letter, sorted. */
    private static List<String> deadLetters(
            KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> h) {
        List<String> l = new ArrayList<>();
        var queue = h.getSideOutput(MemorySpaceFunction.DEAD_LETTERS);
        if (queue != null) {
            for (StreamRecord<OutRecord> sr : queue) {
                DeadLetter d = AvroCodec.decodeDeadLetter(sr.getValue().value);
                l.add(d.getSourceOffset() + " " + d.getReason());
            }
        }
        l.sort(null);
        return l;
    }

    static List<String> hitIds(RecallResult r) {
        return r.getHits().stream().map(RecallHit::getMemoryId).map(Object::toString).toList();
    }
}
