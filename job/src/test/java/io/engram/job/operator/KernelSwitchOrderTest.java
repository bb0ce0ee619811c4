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

/** The newest kernel switch by timestamp_ms wins, whatever order the control records arrive in. */
class KernelSwitchOrderTest {
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
            h.processBroadcastElement(control("java", 2_000, 1), 0L);
            h.processBroadcastElement(control("zig", 1_000, 2), 0L);
            KernelControl inForce = AvroCodec.decodeKernelControl(
                    h.getBroadcastState(KernelRouter.CONTROL).get(KernelRouter.CURRENT));
            assertThat(inForce.getMode()).isEqualTo("java");
            assertThat(inForce.getTimestampMs()).isEqualTo(2_000);
            h.processBroadcastElement(control("zig", 3_000, 3), 0L);
            assertThat(AvroCodec.decodeKernelControl(h.getBroadcastState(KernelRouter.CONTROL)
                    .get(KernelRouter.CURRENT)).getMode()).isEqualTo("zig");
        }
    }
}
