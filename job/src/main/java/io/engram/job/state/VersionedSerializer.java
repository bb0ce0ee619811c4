package io.engram.job.state;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The shape every engram state serializer shares: stateless, no configuration, and every value starts with its
 * format number, so a savepoint stays readable when a class changes (a new format gets a new number and
 * {@link #read} keeps reading the older ones). Subclasses say how to write the current format, read every format,
 * and copy.
 */
abstract class VersionedSerializer<T> extends TypeSerializer<T> {
    private static final long serialVersionUID = 1L;

    /** The format this serializer writes. */
    abstract int currentFormat();

    /** What the values are, for error messages. */
    abstract String what();

    abstract void write(T value, DataOutputView out) throws IOException;

    /** Reads a value of {@code format} (1 .. {@link #currentFormat()}). */
    abstract T read(int format, DataInputView in) throws IOException;

    @Override
    public final void serialize(T value, DataOutputView out) throws IOException {
        SnapshotThreads.onSerialize(); // a heap-backend checkpoint writes the state through here
        out.writeInt(currentFormat());
        write(value, out);
    }

    @Override
    public final T deserialize(DataInputView in) throws IOException {
        int format = in.readInt();
        if (format < 1 || format > currentFormat()) {
            throw new IOException("unknown " + what() + " format " + format + " (this build reads 1.." + currentFormat()
                    + "): the state was written by a newer engram-flink");
        }
        return read(format, in);
    }

    @Override
    public final T deserialize(T reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public final T copy(T from, T reuse) {
        return copy(from);
    }

    @Override
    public final void copy(DataInputView in, DataOutputView out) throws IOException {
        serialize(deserialize(in), out);
    }

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public final TypeSerializer<T> duplicate() {
        return this; // stateless
    }

    @Override
    public final int getLength() {
        return -1;
    }

    @Override
    public final boolean equals(Object o) {
        return o != null && o.getClass() == getClass();
    }

    @Override
    public final int hashCode() {
        return getClass().hashCode();
    }

    @Override
    public abstract TypeSerializerSnapshot<T> snapshotConfiguration();
}
