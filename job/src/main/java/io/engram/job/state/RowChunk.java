package io.engram.job.state;

import java.io.IOException;
import java.util.Arrays;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The per-memory scalars of one chunk of slots: id (null = free slot), strength, stability and last access. Kept
 * apart from the embeddings ({@link VectorChunk}) so that a reinforce or a decay sweep reads and writes a few KB,
 * not the vectors.
 */
public final class RowChunk extends Chunk {
    public final String[] ids;
    public final float[] strength;
    public final float[] stability;
    public final long[] lastAccess;
    private int live;

    public RowChunk(int slots) {
        this(new String[slots], new float[slots], new float[slots], new long[slots], 0);
    }

    private RowChunk(String[] ids, float[] strength, float[] stability, long[] lastAccess, int live) {
        this.ids = ids;
        this.strength = strength;
        this.stability = stability;
        this.lastAccess = lastAccess;
        this.live = live;
    }

    public int slots() {
        return ids.length;
    }

    /** Memories in this chunk. */
    public int live() {
        return live;
    }

    /** The first free slot (chunk-relative), or -1. */
    public int firstFree() {
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] == null) {
                return i;
            }
        }
        return -1;
    }

    public void set(int i, String id, float strengthValue, float stabilitySeconds, long lastAccessMillis) {
        assert !shared() : "a shared chunk must be cloned before it changes";
        if (ids[i] == null) {
            live++;
        }
        ids[i] = id;
        strength[i] = strengthValue;
        stability[i] = stabilitySeconds;
        lastAccess[i] = lastAccessMillis;
    }

    public void free(int i) {
        assert !shared() : "a shared chunk must be cloned before it changes";
        if (ids[i] != null) {
            live--;
        }
        ids[i] = null;
        strength[i] = 0f;
        stability[i] = 0f;
        lastAccess[i] = 0L;
    }

    /** A private copy with room for {@code slots} slots (at least as many as now). */
    public RowChunk grownTo(int slots) {
        RowChunk c = new RowChunk(java.util.Arrays.copyOf(ids, slots), java.util.Arrays.copyOf(strength, slots),
                java.util.Arrays.copyOf(stability, slots), java.util.Arrays.copyOf(lastAccess, slots), live);
        return c;
    }

    @Override
    public RowChunk cloneChunk() {
        return new RowChunk(ids.clone(), strength.clone(), stability.clone(), lastAccess.clone(), live);
    }

    @Override
    public long bytes() {
        long b = 16L + ids.length * 16L;
        for (String id : ids) {
            b += id == null ? 0 : id.length();
        }
        return b;
    }

    public boolean sameContentAs(RowChunk o) {
        return live == o.live && Arrays.equals(ids, o.ids) && Arrays.equals(strength, o.strength)
                && Arrays.equals(stability, o.stability) && Arrays.equals(lastAccess, o.lastAccess);
    }

    /**
     * Format 1: slots:int, then per slot a UTF id or the empty string for a free slot (ids are never empty), then
     * the strength, stability and last-access columns.
     */
    public static final class Serializer extends VersionedSerializer<RowChunk> {
        public static final Serializer INSTANCE = new Serializer();
        private static final long serialVersionUID = 1L;
        static final int MAX_SLOTS = 1 << 16;

        @Override
        int currentFormat() {
            return 1;
        }

        @Override
        String what() {
            return "row chunk";
        }

        @Override
        public RowChunk createInstance() {
            return new RowChunk(0);
        }

        @Override
        public RowChunk copy(RowChunk from) {
            from.markShared();
            return from;
        }

        @Override
        void write(RowChunk c, DataOutputView out) throws IOException {
            int n = c.ids.length;
            out.writeInt(n);
            for (String id : c.ids) {
                out.writeUTF(id == null ? "" : id);
            }
            Columns.writeFloats(c.strength, 0, n, out);
            Columns.writeFloats(c.stability, 0, n, out);
            Columns.writeLongs(c.lastAccess, 0, n, out);
        }

        @Override
        RowChunk read(int format, DataInputView in) throws IOException {
            int n = Columns.count(in, MAX_SLOTS, "row chunk slots");
            RowChunk c = new RowChunk(n);
            for (int i = 0; i < n; i++) {
                String id = in.readUTF();
                if (!id.isEmpty()) {
                    c.ids[i] = id;
                    c.live++;
                }
            }
            Columns.readFloats(c.strength, 0, n, in);
            Columns.readFloats(c.stability, 0, n, in);
            Columns.readLongs(c.lastAccess, 0, n, in);
            return c;
        }

        @Override
        public TypeSerializerSnapshot<RowChunk> snapshotConfiguration() {
            return new Snapshot();
        }

        public static final class Snapshot extends SimpleTypeSerializerSnapshot<RowChunk> {
            public Snapshot() {
                super(() -> INSTANCE);
            }
        }
    }
}
