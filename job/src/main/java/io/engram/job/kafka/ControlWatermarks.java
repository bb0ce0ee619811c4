package io.engram.job.kafka;

import io.engram.job.model.RawRecord;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;

/**
 * Watermarks for the kernel-control input: always "end of time". The memory operator takes the minimum of its two
 * inputs' watermarks, so a control input without watermarks would hold event time at its start forever and no decay
 * sweep would ever fire. Control records are not event-time data; they must never hold anything back.
 */
public final class ControlWatermarks implements WatermarkGenerator<RawRecord> {
    public static WatermarkStrategy<RawRecord> strategy() {
        return WatermarkStrategy.forGenerator(ctx -> new ControlWatermarks());
    }

    @Override
    public void onEvent(RawRecord event, long eventTimestamp, WatermarkOutput output) {
        // Nothing: the periodic "end of time" watermark covers every control record.
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
        output.emitWatermark(new Watermark(Long.MAX_VALUE));
    }
}
