package io.engram.job.kafka;

import io.engram.job.model.RawRecord;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;

/**
 * Watermarks for the kernel-control input: none, and the input is always marked idle. The memory operator takes the
 * minimum of its two inputs' watermarks over the inputs that are not idle, so a control input without watermarks that
 * stayed active would hold event time at its start forever and no decay sweep would ever fire. Control records are
 * not event-time data; they must never hold anything back, and never push anything forward either: an "end of time"
 * watermark here becomes the operator's event time whenever the data inputs go idle (engram.watermark.idleness), and
 * then every decay sweep runs to the end of time and forgets every memory (e2e EventTimeAndControlEndToEndIT).
 */
public final class ControlWatermarks implements WatermarkGenerator<RawRecord> {
    public static WatermarkStrategy<RawRecord> strategy() {
        return WatermarkStrategy.forGenerator(ctx -> new ControlWatermarks());
    }

    @Override
    public void onEvent(RawRecord event, long eventTimestamp, WatermarkOutput output) {
        // Nothing: control records carry no event time.
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
        output.markIdle(); // never part of the operator's minimum; the data inputs alone drive event time
    }
}
