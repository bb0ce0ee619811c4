package io.engram.job.state;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The explicit, versioned serializer of {@link SpaceState}. Every value starts with a format version, so a savepoint
 * stays readable when the class changes: a new format gets a new number and {@link #deserialize} keeps reading every
 * older one. The column layout is written as is (little work, no reflection, no Kryo).
 *
 * <p>Format 1: version:int, dim:int, size:int, then per row id:UTF, then size·dim floats, size strengths,
 * size stabilities, size last-access longs, then edgeCount:int and per edge from:int, to:int, weight:float.
 */
public final class SpaceStateSerializer extends TypeSerializer<SpaceState> {
    public static final SpaceStateSerializer INSTANCE = new SpaceStateSerializer();
    /** The format this serializer writes. */
    public static final int CURRENT_FORMAT = 1;

    private static final long serialVersionUID = 1L;

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public TypeSerializer<SpaceState> duplicate() {
        return this; // stateless
    }

    @Override
    public SpaceState createInstance() {
        return new SpaceState();
    }

    @Override
    public SpaceState copy(SpaceState from) {
        int n = from.size();
        int d = from.dim();
        int m = from.edgeCount();
        int[] f = new int[m];
        int[] t = new int[m];
        float[] w = new float[m];
        for (int e = 0; e < m; e++) {
            f[e] = from.edgeFrom(e);
            t[e] = from.edgeTo(e);
            w[e] = from.edgeWeight(e);
        }
        return new SpaceState(d, n, Arrays.copyOf(from.idsColumn(), n), Arrays.copyOf(from.embeddings(), n * d),
                Arrays.copyOf(from.strength(), n), Arrays.copyOf(from.stability(), n),
                Arrays.copyOf(from.lastAccess(), n), m, f, t, w);
    }

    @Override
    public SpaceState copy(SpaceState from, SpaceState reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(SpaceState s, DataOutputView out) throws IOException {
        int n = s.size();
        int d = s.dim();
        out.writeInt(CURRENT_FORMAT);
        out.writeInt(d);
        out.writeInt(n);
        for (int r = 0; r < n; r++) {
            out.writeUTF(s.id(r));
        }
        ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES);
        writeFloats(s.embeddings(), n * d, chunk, out);
        writeFloats(s.strength(), n, chunk, out);
        writeFloats(s.stability(), n, chunk, out);
        writeLongs(s.lastAccess(), n, chunk, out);
        int m = s.edgeCount();
        out.writeInt(m);
        for (int e = 0; e < m; e++) {
            out.writeInt(s.edgeFrom(e));
            out.writeInt(s.edgeTo(e));
            out.writeFloat(s.edgeWeight(e));
        }
    }

    @Override
    public SpaceState deserialize(DataInputView in) throws IOException {
        int format = in.readInt();
        if (format != 1) {
            throw new IOException("unknown SpaceState format " + format + " (this build reads 1.." + CURRENT_FORMAT
                    + "): the savepoint was written by a newer engram-flink");
        }
        return readFormat1(in);
    }

    private static SpaceState readFormat1(DataInputView in) throws IOException {
        int d = in.readInt();
        int n = in.readInt();
        if (d < 0 || n < 0 || (n > 0 && d == 0)) {
            throw new IOException("corrupt SpaceState: dim " + d + ", size " + n);
        }
        String[] ids = new String[n];
        for (int r = 0; r < n; r++) {
            ids[r] = in.readUTF();
        }
        long floats = (long) n * d;
        if (floats > Integer.MAX_VALUE - 8) {
            throw new IOException("corrupt SpaceState: dim " + d + " x size " + n + " does not fit an array");
        }
        ByteBuffer chunk = ByteBuffer.allocate(CHUNK_BYTES);
        float[] emb = readFloats((int) floats, chunk, in);
        float[] str = readFloats(n, chunk, in);
        float[] stab = readFloats(n, chunk, in);
        long[] last = readLongs(n, chunk, in);
        int m = in.readInt();
        if (m < 0) {
            throw new IOException("corrupt SpaceState: edge count " + m);
        }
        int[] f = new int[m];
        int[] t = new int[m];
        float[] w = new float[m];
        for (int e = 0; e < m; e++) {
            f[e] = in.readInt();
            t[e] = in.readInt();
            w[e] = in.readFloat();
            if (f[e] < 0 || f[e] >= n || t[e] < 0 || t[e] >= n) {
                throw new IOException("corrupt SpaceState: edge " + e + " (" + f[e] + " -> " + t[e] + ") outside "
                        + n + " memories");
            }
        }
        return new SpaceState(d, n, ids, emb, str, stab, last, m, f, t, w);
    }

    // The columns move in chunks: the same big-endian bytes as DataOutput.writeFloat/writeLong per element (so the
    // format is unchanged), but one write of CHUNK_BYTES instead of four single-byte writes per float. A 10k x 768d
    // space is 30 MB of embeddings: per-element writes made every checkpoint of the hashmap backend, and every
    // RocksDB access, cost seconds of CPU.
    private static final int CHUNK_BYTES = 1 << 16;

    private static void writeFloats(float[] values, int count, ByteBuffer chunk, DataOutputView out)
            throws IOException {
        int perChunk = chunk.capacity() / Float.BYTES;
        for (int from = 0; from < count; from += perChunk) {
            int len = Math.min(perChunk, count - from);
            chunk.clear();
            chunk.asFloatBuffer().put(values, from, len);
            out.write(chunk.array(), 0, len * Float.BYTES);
        }
    }

    private static void writeLongs(long[] values, int count, ByteBuffer chunk, DataOutputView out)
            throws IOException {
        int perChunk = chunk.capacity() / Long.BYTES;
        for (int from = 0; from < count; from += perChunk) {
            int len = Math.min(perChunk, count - from);
            chunk.clear();
            chunk.asLongBuffer().put(values, from, len);
            out.write(chunk.array(), 0, len * Long.BYTES);
        }
    }

    private static float[] readFloats(int count, ByteBuffer chunk, DataInputView in) throws IOException {
        float[] values = new float[count];
        int perChunk = chunk.capacity() / Float.BYTES;
        for (int from = 0; from < count; from += perChunk) {
            int len = Math.min(perChunk, count - from);
            in.readFully(chunk.array(), 0, len * Float.BYTES);
            chunk.clear();
            chunk.asFloatBuffer().get(values, from, len);
        }
        return values;
    }

    private static long[] readLongs(int count, ByteBuffer chunk, DataInputView in) throws IOException {
        long[] values = new long[count];
        int perChunk = chunk.capacity() / Long.BYTES;
        for (int from = 0; from < count; from += perChunk) {
            int len = Math.min(perChunk, count - from);
            in.readFully(chunk.array(), 0, len * Long.BYTES);
            chunk.clear();
            chunk.asLongBuffer().get(values, from, len);
        }
        return values;
    }

    @Override
    public SpaceState deserialize(SpaceState reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView in, DataOutputView out) throws IOException {
        serialize(deserialize(in), out);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SpaceStateSerializer;
    }

    @Override
    public int hashCode() {
        return SpaceStateSerializer.class.hashCode();
    }

    /**
     * What a savepoint of this build records for the old one-value state: {@link ChunkedLayoutRequired}, a class
     * engram-flink builds of the one-value layout do not have, so they refuse such a savepoint at restore (naming the
     * class) instead of starting with empty spaces. This build reads both.
     */
    @Override
    public TypeSerializerSnapshot<SpaceState> snapshotConfiguration() {
        return new ChunkedLayoutRequired();
    }

    /**
     * The snapshot engram-flink's one-value layout (state layout 1) wrote: still read, so its savepoints restore and
     * are migrated into chunks.
     */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<SpaceState> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }
}
