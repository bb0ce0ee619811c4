package io.engram.job.state;

import io.engram.job.model.RawRecord;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The explicit, versioned serializer of {@link PendingQuery}, like {@link SpaceStateSerializer}: every value starts
 * with its format version, and {@link #deserialize} keeps reading every older format.
 *
 * <p>Format 1: version:int, kind:byte (RawRecord.Kind ordinal), topic:UTF ("" for null), partition:int, offset:long,
 * timestampMs:long, key (length:int, -1 for null, then bytes), value (same), arrivalMicros:long,
 * arrivalProcessingMs:long. {@code space} is not written: it is derived from the key.
 */
public final class PendingQuerySerializer extends TypeSerializer<PendingQuery> {
    public static final PendingQuerySerializer INSTANCE = new PendingQuerySerializer();
    public static final int CURRENT_FORMAT = 1;

    private static final long serialVersionUID = 1L;
    private static final RawRecord.Kind[] KINDS = RawRecord.Kind.values();

    @Override
    public boolean isImmutableType() {
        return true; // never mutated after construction (its byte arrays included)
    }

    @Override
    public TypeSerializer<PendingQuery> duplicate() {
        return this;
    }

    @Override
    public PendingQuery createInstance() {
        return null;
    }

    @Override
    public PendingQuery copy(PendingQuery from) {
        return from;
    }

    @Override
    public PendingQuery copy(PendingQuery from, PendingQuery reuse) {
        return from;
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(PendingQuery p, DataOutputView out) throws IOException {
        RawRecord r = p.raw;
        out.writeInt(CURRENT_FORMAT);
        out.writeByte(r.kind == null ? RawRecord.Kind.RECALL_QUERY.ordinal() : r.kind.ordinal());
        out.writeUTF(r.topic == null ? "" : r.topic);
        out.writeInt(r.partition);
        out.writeLong(r.offset);
        out.writeLong(r.timestampMs);
        writeBytes(r.key, out);
        writeBytes(r.value, out);
        out.writeLong(p.arrivalMicros);
        out.writeLong(p.arrivalProcessingMs);
    }

    private static void writeBytes(byte[] b, DataOutputView out) throws IOException {
        if (b == null) {
            out.writeInt(-1);
        } else {
            out.writeInt(b.length);
            out.write(b);
        }
    }

    @Override
    public PendingQuery deserialize(DataInputView in) throws IOException {
        int format = in.readInt();
        if (format != 1) {
            throw new IOException("unknown PendingQuery format " + format + " (this build reads 1.." + CURRENT_FORMAT
                    + "): the savepoint was written by a newer engram-flink");
        }
        int kind = in.readByte();
        if (kind < 0 || kind >= KINDS.length) {
            throw new IOException("corrupt PendingQuery: record kind " + kind);
        }
        String topic = in.readUTF();
        int partition = in.readInt();
        long offset = in.readLong();
        long timestampMs = in.readLong();
        byte[] key = readBytes(in);
        byte[] value = readBytes(in);
        RawRecord r = new RawRecord(KINDS[kind], topic, partition, offset, timestampMs, key, value);
        return new PendingQuery(r, in.readLong(), in.readLong());
    }

    private static byte[] readBytes(DataInputView in) throws IOException {
        int n = in.readInt();
        if (n < -1) {
            throw new IOException("corrupt PendingQuery: byte length " + n);
        }
        if (n == -1) {
            return null;
        }
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    @Override
    public PendingQuery deserialize(PendingQuery reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        serialize(deserialize(in), out);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PendingQuerySerializer;
    }

    @Override
    public int hashCode() {
        return PendingQuerySerializer.class.hashCode();
    }

    @Override
    public TypeSerializerSnapshot<PendingQuery> snapshotConfiguration() {
        return new Snapshot();
    }

    /** No configuration; the data carries its own format version. */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<PendingQuery> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
