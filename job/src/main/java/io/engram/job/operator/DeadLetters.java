package io.engram.job.operator;

import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.model.Reason;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import java.nio.ByteBuffer;

/** Builds the dead-letter record for an input: its exact bytes, where it came from, and why. */
final class DeadLetters {
    private DeadLetters() {
    }

    static OutRecord of(RawRecord raw, Reason reason, String message, long nowMs) {
        DeadLetter dl = DeadLetter.newBuilder()
                .setSourceTopic(raw.topic == null ? "" : raw.topic)
                .setSourcePartition(raw.partition)
                .setSourceOffset(raw.offset)
                .setKey(raw.key == null ? null : ByteBuffer.wrap(raw.key))
                .setValue(raw.value == null ? null : ByteBuffer.wrap(raw.value))
                .setReason(reason.name())
                .setMessage(message)
                .setTimestampMs(nowMs)
                .build();
        return new OutRecord(raw.key, AvroCodec.encode(dl));
    }
}
