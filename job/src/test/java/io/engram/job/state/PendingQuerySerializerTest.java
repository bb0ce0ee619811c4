package io.engram.job.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.job.model.RawRecord;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

class PendingQuerySerializerTest {
    private static PendingQuery roundTrip(PendingQuery p) throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(64);
        PendingQuerySerializer.INSTANCE.serialize(p, out);
        return PendingQuerySerializer.INSTANCE.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
    }

    @Test
    void everyFieldRoundTripsIncludingNullKeyAndEmptyValue() throws IOException {
        PendingQuery p = new PendingQuery(new RawRecord(RawRecord.Kind.RECALL_QUERY, "engram.recall-queries", 3,
                Long.MAX_VALUE, 1_700_000_000_123L, "späce".getBytes(StandardCharsets.UTF_8), new byte[] {1, 2, 3}),
                1_700_000_000_123_456L, 42L);
        PendingQuery back = roundTrip(p);
        assertThat(back).isEqualTo(p);
        assertThat(back.raw.space).isEqualTo("späce");
        PendingQuery nulls = new PendingQuery(new RawRecord(RawRecord.Kind.RECALL_QUERY, null, 0, 0, 0, null,
                new byte[0]), -1, Long.MIN_VALUE);
        PendingQuery back2 = roundTrip(nulls);
        assertThat(back2.raw.key).isNull();
        assertThat(back2.raw.space).isEmpty();
        assertThat(back2.raw.value).isEmpty();
        assertThat(back2.raw.topic).isEmpty();
        assertThat(back2.arrivalProcessingMs).isEqualTo(Long.MIN_VALUE);
    }

    @Test
    void aNewerFormatOrCorruptBytesAreRefusedWithAReason() {
        DataOutputSerializer out = new DataOutputSerializer(16);
        assertThatThrownBy(() -> {
            out.writeInt(2);
            PendingQuerySerializer.INSTANCE.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()));
        }).isInstanceOf(IOException.class).hasMessageContaining("unknown PendingQuery format 2");
        DataOutputSerializer bad = new DataOutputSerializer(16);
        assertThatThrownBy(() -> {
            bad.writeInt(1);
            bad.writeByte(9);
            PendingQuerySerializer.INSTANCE.deserialize(new DataInputDeserializer(bad.getCopyOfBuffer()));
        }).isInstanceOf(IOException.class).hasMessageContaining("record kind 9");
    }

    @Test
    void theSnapshotRestoresTheSameSerializer() {
        var snapshot = PendingQuerySerializer.INSTANCE.snapshotConfiguration();
        assertThat(snapshot.restoreSerializer()).isSameAs(PendingQuerySerializer.INSTANCE);
        assertThat(snapshot.resolveSchemaCompatibility(PendingQuerySerializer.INSTANCE.snapshotConfiguration())
                .isCompatibleAsIs()).isTrue();
    }
}
