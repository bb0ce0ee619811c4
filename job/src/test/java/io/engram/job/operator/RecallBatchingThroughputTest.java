package io.engram.job.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * MANUAL measurement, off by default: recall queries per second through the operator (harness, one space of
 * 10,000 memories x 768d, the same 512 queries), batching off vs max-size 8, for each kernel mode of this build.
 * Run: {@code mvn -B -o -pl job -am test -Dtest=RecallBatchingThroughputTest -Dsurefire.failIfNoSpecifiedTests=false
 * -Dengram.measureBatching=true}. Wall-clock on a shared machine: read the ratio, not the absolute numbers.
 */
@EnabledIfSystemProperty(named = "engram.measureBatching", matches = "true")
class RecallBatchingThroughputTest {
    static final int MEMORIES = 10_000;
    static final int DIM = 768;
    static final int QUERIES = 512;
    static final long T0 = 1_700_000_000_000L;

    @Test
    void queriesPerSecondBatchedVsOneAtATime() throws Exception {
        Random r = new Random(1);
        List<RawRecord> stores = new ArrayList<>();
        for (int i = 0; i < MEMORIES; i++) {
            MemoryEvent e = MemoryEvent.newBuilder().setSpace("space").setEventId("e" + i).setTimestampMs(T0)
                    .setPayload(StoreMemory.newBuilder().setMemoryId("m" + i).setEmbedding(vector(r))
                            .setStrength(1f).setStabilityS(1e6f).setContent(null).build()).build();
            stores.add(new RawRecord(RawRecord.Kind.MEMORY_EVENT, "ev", 0, i, T0, bytes("space"), AvroCodec.encode(e)));
        }
        List<RawRecord> queries = new ArrayList<>();
        for (int i = 0; i < QUERIES; i++) {
            RecallQuery q = RecallQuery.newBuilder().setQueryId("q" + i).setSpace("space").setTimestampMs(T0 + 1000)
                    .setCue(vector(r)).setK(10).build();
            queries.add(new RawRecord(RawRecord.Kind.RECALL_QUERY, "q", 0, i, T0 + 1000, bytes("space"),
                    AvroCodec.encode(q)));
        }
        for (String mode : new String[] {"java", "zig"}) {
            if ("zig".equals(mode) && Boolean.getBoolean("engram.build.javaOnly")) {
                continue;
            }
            double[] qps = new double[2];
            int[] sizes = {1, 8};
            for (int round = 0; round < 3; round++) { // the first round warms up; the last one is reported
                for (int v = 0; v < 2; v++) {
                    try (var h = harness(mode, sizes[v])) {
                        for (RawRecord s : stores) {
                            h.processElement(s, T0);
                        }
                        long t = System.nanoTime();
                        for (RawRecord q : queries) {
                            h.processElement(q, T0 + 1000);
                        }
                        h.setProcessingTime(h.getProcessingTime() + 10); // a last partial batch, if any
                        double secs = (System.nanoTime() - t) / 1e9;
                        var dl = h.getSideOutput(MemorySpaceFunction.DEAD_LETTERS);
                        assertThat(dl == null ? List.of() : dl.stream().map(x -> AvroCodec.decodeDeadLetter(
                                x.getValue().value).getMessage().toString()).distinct().toList()).isEmpty();
                        assertThat(h.extractOutputValues()).hasSize(QUERIES);
                        qps[v] = QUERIES / secs;
                    }
                }
            }
            System.out.printf("RecallBatchingThroughputTest %s, %d x %dd: one at a time %.0f queries/s, "
                    + "max-size 8 %.0f queries/s, ratio %.2f%n", mode, MEMORIES, DIM, qps[0], qps[1], qps[1] / qps[0]);
        }
    }

    private static KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> harness(String mode,
            int size) throws Exception {
        Configuration c = new Configuration();
        c.set(EngramOptions.KERNEL_MODE, mode);
        c.set(EngramOptions.ARENA_BUDGET_CHECK, false);
        c.set(EngramOptions.BATCH_MAX_SIZE, size);
        c.set(EngramOptions.BATCH_MAX_DELAY, Duration.ofMillis(5));
        var h = ProcessFunctionTestHarnesses.forKeyedBroadcastProcessFunction(
                new MemorySpaceFunction(new EngramSettings(c)), RawRecord::getSpace, Types.STRING,
                KernelRouter.CONTROL);
        h.setProcessingTime(0);
        return h;
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static List<Float> vector(Random r) {
        List<Float> v = new ArrayList<>(DIM);
        for (int i = 0; i < DIM; i++) {
            v.add((float) r.nextGaussian());
        }
        return v;
    }
}
