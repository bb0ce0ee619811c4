package io.engram.job.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;

/**
 * The numerical divergence guard in the operator: with the test-only injector skewing Zig cosine scores, the
 * sampled comparison catches it and the subtask serves the next query with Java.
 */
@DisabledIfSystemProperty(named = "engram.build.javaOnly", matches = "true",
        disabledReason = "the guard compares Zig with Java; a -Pjava-only build has no Zig to compare")
class DivergenceGuardTest {
    private static final String SPACE = "guard-space";

    private static RawRecord event(long offset, String memoryId, List<Float> embedding) {
        MemoryEvent e = MemoryEvent.newBuilder().setSpace(SPACE).setEventId("e" + offset)
                .setTimestampMs(System.currentTimeMillis())
                .setPayload(StoreMemory.newBuilder().setMemoryId(memoryId).setEmbedding(embedding).build()).build();
        return new RawRecord(RawRecord.Kind.MEMORY_EVENT, "engram.memory-events", 0, offset, e.getTimestampMs(),
                SPACE.getBytes(StandardCharsets.UTF_8), AvroCodec.encode(e));
    }

    private static RawRecord query(long offset) {
        RecallQuery q = RecallQuery.newBuilder().setQueryId("q" + offset).setSpace(SPACE)
                .setTimestampMs(System.currentTimeMillis()).setCue(List.of(1f, 0f, 0f)).setK(2).build();
        return new RawRecord(RawRecord.Kind.RECALL_QUERY, "engram.recall-queries", 0, offset, q.getTimestampMs(),
                SPACE.getBytes(StandardCharsets.UTF_8), AvroCodec.encode(q));
    }

    private static KeyedBroadcastOperatorTestHarness<String, RawRecord, RawRecord, OutRecord> harness(
            Configuration c) throws Exception {
        c.setString("engram.kernels.arena.budget-check", "false");
        return ProcessFunctionTestHarnesses.forKeyedBroadcastProcessFunction(
                new MemorySpaceFunction(new EngramSettings(c)), RawRecord::getSpace, Types.STRING,
                KernelRouter.CONTROL);
    }

    private static List<String> modesOfAnswers(Configuration c) throws Exception {
        try (var h = harness(c)) {
            h.processElement(event(1, "a", List.of(1f, 0f, 0f)), 0L);
            h.processElement(event(2, "b", List.of(0.6f, 0.8f, 0f)), 0L);
            // Each query its own batch (its max-delay passes before the next arrives): the guard's switch takes
            // effect on the next kernel call, so the next batch.
            h.processElement(query(3), 0L);
            h.setProcessingTime(h.getProcessingTime() + 5);
            h.processElement(query(4), 0L);
            h.setProcessingTime(h.getProcessingTime() + 5);
            return h.extractOutputValues().stream()
                    .map(o -> AvroCodec.decodeRecallResult(o.value).getKernelMode()).toList();
        }
    }

    @Test
    void injectedDivergenceSwitchesTheSubtaskToJava() throws Exception {
        Configuration c = new Configuration();
        c.setString("engram.kernels.mode", "zig");
        c.setString("engram.kernels.shadow.sample-rate", "1.0");
        c.setString("engram.kernels.shadow.test-inject-divergence", "0.01");
        assertThat(modesOfAnswers(c)).containsExactly("zig", "java");
    }

    @Test
    void withoutInjectionZigKeepsServing() throws Exception {
        Configuration c = new Configuration();
        c.setString("engram.kernels.mode", "zig");
        c.setString("engram.kernels.shadow.sample-rate", "1.0");
        assertThat(modesOfAnswers(c)).containsExactly("zig", "zig");
    }

    @Test
    void autoFallbackOffKeepsZigButTheGuardStillRuns() throws Exception {
        Configuration c = new Configuration();
        c.setString("engram.kernels.mode", "zig");
        c.setString("engram.kernels.shadow.sample-rate", "1.0");
        c.setString("engram.kernels.shadow.auto-fallback", "false");
        c.setString("engram.kernels.shadow.test-inject-divergence", "0.01");
        assertThat(modesOfAnswers(c)).containsExactly("zig", "zig");
    }
}
