package io.engram.job.operator;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.RawRecord;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.KernelControl;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.util.ProcessFunctionTestHarnesses;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;

/** The newest kernel switch by timestamp_ms wins, whatever order the control records arrive in. */
class KernelSwitchOrderTest {
    /** Control timestamps are bounded like event timestamps (engram.limits.max-past-age): recent ones. */
    private static final long NOW = System.currentTimeMillis();

    private static RawRecord control(String mode, long ts, long offset) {
        KernelControl c = KernelControl.newBuilder().setMode(mode).setReason("order test").setIssuedBy("test")
                .setTimestampMs(ts).build();
        return new RawRecord(RawRecord.Kind.CONTROL, "engram.control", 0, offset, ts, null, AvroCodec.encode(c));
    }

    @Test
    void anOlderSwitchArrivingLateDoesNotOverrideANewerOne() throws Exception {
        Configuration c = new Configuration();
        c.setString("engram.kernels.mode", "java");
        try (var h = ProcessFunctionTestHarnesses.forKeyedBroadcastProcessFunction(
                new MemorySpaceFunction(new EngramSettings(c)), RawRecord::getSpace, Types.STRING,
                KernelRouter.CONTROL)) {
            h.processBroadcastElement(control("java", NOW - 1_000, 1), 0L);
            h.processBroadcastElement(control("zig", NOW - 2_000, 2), 0L);
            KernelControl inForce = AvroCodec.decodeKernelControl(
                    h.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT));
            assertThat(inForce.getMode()).isEqualTo("java");
            assertThat(inForce.getTimestampMs()).isEqualTo(NOW - 1_000);
            h.processBroadcastElement(control("zig", NOW, 3), 0L);
            assertThat(AvroCodec.decodeKernelControl(h.getBroadcastState(KernelRouter.CONTROL)
                    .get(KernelRouter.CURRENT)).getMode()).isEqualTo("zig");
        }
    }

    @Test
    @DisabledIfSystemProperty(named = "engram.build.javaOnly", matches = "true",
            disabledReason = "needs Zig as the configured mode to see a restored java switch take over")
    void aRestoredSwitchIsInForceBeforeTheFirstRecord() throws Exception {
        Configuration c = new Configuration();
        c.setString("engram.kernels.mode", "zig");
        c.setString("engram.kernels.arena.budget-check", "false");
        org.apache.flink.runtime.checkpoint.OperatorSubtaskState snapshot;
        try (var h = ProcessFunctionTestHarnesses.forKeyedBroadcastProcessFunction(
                new MemorySpaceFunction(new EngramSettings(c)), RawRecord::getSpace, Types.STRING,
                KernelRouter.CONTROL)) {
            assertThat(router(h).defaultModeIsZig()).isEqualTo(1);
            h.processBroadcastElement(control("java", NOW, 1), 0L);
            assertThat(router(h).defaultModeIsZig()).isZero();
            snapshot = h.snapshot(1, 1);
        }
        var h = new org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness<>(
                new org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator<>(
                        new MemorySpaceFunction(new EngramSettings(c)), java.util.List.of(KernelRouter.CONTROL)),
                RawRecord::getSpace, Types.STRING, 1, 1, 0);
        try (h) {
            h.setup();
            h.initializeState(snapshot);
            h.open();
            assertThat(router(h).defaultModeIsZig()).as("no record processed yet").isZero();
        }
    }

    /** The function's router, for the gauge value (the harness has no metric registry to read it from). */
    private static KernelRouter router(org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness<?, ?, ?, ?> h)
            throws Exception {
        var op = (org.apache.flink.streaming.api.operators.AbstractUdfStreamOperator<?, ?>) h.getOperator();
        var f = MemorySpaceFunction.class.getDeclaredField("kernels");
        f.setAccessible(true);
        return (KernelRouter) f.get(op.getUserFunction());
    }
}
