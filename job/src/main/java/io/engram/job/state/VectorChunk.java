package io.engram.job.state;

import io.engram.kernels.Norms;
import java.io.IOException;
import java.util.Arrays;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The embeddings of one chunk of slots, row-major ({@code slots × dim}), as {@code MemorySpace.scaled} stores them,
 * with each row's Euclidean norm computed once at insert ({@link Norms#of}: f64, stored as f32), so that similarity
 * (the stored-norm kernel) need not recompute it per candidate and call. A free slot's row and norm are zero.
 */
public final class VectorChunk extends Chunk {
    public final int dim;
    public final float[] data;
    public final float[] norms;

    public VectorChunk(int slots, int dim) {
        this(dim, new float[Math.multiplyExact(slots, dim)], new float[slots]);
    }

    private VectorChunk(int dim, float[] data, float[] norms) {
        this.dim = dim;
        this.data = data;
        this.norms = norms;
    }

    public int slots() {
        return norms.length;
    }

    /** Stores a vector (already as the space stores it) in slot i, and its norm. */
    public void set(int i, float[] vector) {
        assert !shared() : "a shared chunk must be cloned before it changes";
        System.arraycopy(vector, 0, data, i * dim, dim);
        norms[i] = Norms.of(vector, 0, dim);
    }

    public void clear(int i) {
        assert !shared() : "a shared chunk must be cloned before it changes";
        Arrays.fill(data, i * dim, (i + 1) * dim, 0f);
        norms[i] = 0f;
    }

    /** A private copy with room for {@code slots} slots (at least as many as now). */
    public VectorChunk grownTo(int slots) {
        return new VectorChunk(dim, Arrays.copyOf(data, Math.multiplyExact(slots, dim)), Arrays.copyOf(norms, slots));
    }

    @Override
    public VectorChunk cloneChunk() {
        return new VectorChunk(dim, data.clone(), norms.clone());
    }

    @Override
    public long bytes() {
        return 16L + data.length * 4L + norms.length * 4L;
    }

    /** Format 1: dim:int, slots:int, then slots × dim floats, then slots norms. */
    public static final class Serializer extends VersionedSerializer<VectorChunk> {
        public static final Serializer INSTANCE = new Serializer();
        private static final long serialVersionUID = 1L;

        @Override
        int currentFormat() {
            return 1;
        }

        @Override
        String what() {
            return "vector chunk";
        }

        @Override
        public VectorChunk createInstance() {
            return new VectorChunk(0, 1);
        }

        @Override
        public VectorChunk copy(VectorChunk from) {
            from.markShared();
            return from;
        }

        @Override
        void write(VectorChunk c, DataOutputView out) throws IOException {
            out.writeInt(c.dim);
            out.writeInt(c.slots());
            Columns.writeFloats(c.data, 0, c.data.length, out);
            Columns.writeFloats(c.norms, 0, c.norms.length, out);
        }

        @Override
        VectorChunk read(int format, DataInputView in) throws IOException {
            int dim = Columns.count(in, 1 << 20, "vector chunk dimension");
            int slots = Columns.count(in, RowChunk.Serializer.MAX_SLOTS, "vector chunk slots");
            if ((long) dim * slots > Integer.MAX_VALUE - 8) {
                throw new IOException("corrupt state: vector chunk " + slots + " x " + dim + " does not fit an array");
            }
            VectorChunk c = new VectorChunk(slots, dim);
            Columns.readFloats(c.data, 0, c.data.length, in);
            Columns.readFloats(c.norms, 0, c.norms.length, in);
            return c;
        }

        @Override
        public TypeSerializerSnapshot<VectorChunk> snapshotConfiguration() {
            return new Snapshot();
        }

        public static final class Snapshot extends SimpleTypeSerializerSnapshot<VectorChunk> {
            public Snapshot() {
                super(() -> INSTANCE);
            }
        }
    }
}
