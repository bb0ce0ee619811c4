package io.engram.job.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;

/**
 * Pins down where Flink 2.2's operator test harnesses live (flink-runtime test-jar) and that keyed state,
 * timers and snapshot/restore work with them, so job operators can be unit-tested without a MiniCluster.
 */
class FlinkTestHarnessSmokeTest {

    /** Counts per key; emits "key=count"; a processing-time timer emits "key:timer". */
    static final class CountPerKey extends KeyedProcessFunction<String, String, String> {
        private static final long serialVersionUID = 1L;
        private transient ValueState<Long> count;

        @Override
        public void open(OpenContext ctx) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public void processElement(String value, Context ctx, Collector<String> out) throws Exception {
            long n = count.value() == null ? 1 : count.value() + 1;
            count.update(n);
            out.collect(ctx.getCurrentKey() + "=" + n);
            ctx.timerService().registerProcessingTimeTimer(ctx.timerService().currentProcessingTime() + 10);
        }

        @Override
        public void onTimer(long timestamp, OnTimerContext ctx, Collector<String> out) {
            out.collect(ctx.getCurrentKey() + ":timer");
        }
    }

    private static final KeySelector<String, String> KEY = v -> v.substring(0, 1);

    private static KeyedOneInputStreamOperatorTestHarness<String, String, String> harness() throws Exception {
        return new KeyedOneInputStreamOperatorTestHarness<>(
                new KeyedProcessOperator<>(new CountPerKey()), KEY, Types.STRING);
    }

    @Test
    void keyedHarnessWithStateTimersAndSnapshotRestore() throws Exception {
        OperatorSubtaskState snapshot;
        try (var h = harness()) {
            h.open();
            h.processElement("a1", 1L);
            h.processElement("a2", 2L);
            h.processElement("b1", 3L);
            assertThat(h.extractOutputValues()).containsExactly("a=1", "a=2", "b=1");
            snapshot = h.snapshot(1L, 100L);
        }
        try (var h = harness()) {
            h.initializeState(snapshot);
            h.open();
            h.setProcessingTime(0);
            h.processElement("a3", 4L);
            h.setProcessingTime(50);
            List<String> out = h.extractOutputValues();
            // Timers are part of the snapshot: b's timer (registered before the snapshot) fires after restore;
            // a's restored timer and its new one share timestamp 10, so they fire once.
            assertThat(out).containsExactlyInAnyOrder("a=3", "a:timer", "b:timer");
        }
    }

    @Test
    void processFunctionTestHarnessesShortcut() throws Exception {
        try (var h = ProcessFunctionTestHarnesses.forKeyedProcessFunction(new CountPerKey(), KEY, Types.STRING)) {
            h.processElement("x1", 1L);
            h.processElement("x2", 2L);
            assertThat(h.extractOutputValues()).containsExactly("x=1", "x=2");
        }
    }
}
