package io.engram.job.state;

import java.io.IOException;
import java.util.Arrays;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The association edges of one chunk of slots: per slot its out-edges (target slot and weight, in insertion order:
 * the order spreading sends along them) and its in-edges (source slots, so a forget finds every edge that points at
 * the memory without scanning the space). An associate touches the chunks of its two ends; a forget the chunks of
 * the memory's neighbours.
 */
public final class EdgeChunk extends Chunk {
    private final EdgeList[] out;
    private final EdgeList[] in;

    public EdgeChunk(int slots) {
        this(new EdgeList[slots], new EdgeList[slots]);
    }

    private EdgeChunk(EdgeList[] out, EdgeList[] in) {
        this.out = out;
        this.in = in;
    }

    public int slots() {
        return out.length;
    }

    /** Out-edges of chunk slot {@code i}, or null if it has none (or the chunk has no room for it yet). */
    public EdgeList out(int i) {
        return i < out.length ? out[i] : null;
    }

    /** In-edges of chunk slot {@code i}, or null if it has none (or the chunk has no room for it yet). */
    public EdgeList in(int i) {
        return i < in.length ? in[i] : null;
    }

    /** Adds or re-weights the out-edge i → target. True if it is new. */
    public boolean putOut(int i, int target, float weight) {
        assert !shared() : "a shared chunk must be cloned before it changes";
        if (out[i] == null) {
            out[i] = new EdgeList(true, 2);
        }
        return out[i].put(target, weight);
    }

    public boolean removeOut(int i, int target) {
        assert !shared() : "a shared chunk must be cloned before it changes";
        boolean removed = out(i) != null && out[i].remove(target);
        if (removed && out[i].count() == 0) {
            out[i] = null;
        }
        return removed;
    }

    public void putIn(int i, int source) {
        assert !shared() : "a shared chunk must be cloned before it changes";
        if (in[i] == null) {
            in[i] = new EdgeList(false, 2);
        }
        in[i].put(source, 0f);
    }

    public void removeIn(int i, int source) {
        assert !shared() : "a shared chunk must be cloned before it changes";
        if (in(i) != null && in[i].remove(source) && in[i].count() == 0) {
            in[i] = null;
        }
    }

    /** Drops both lists of slot i (the caller has removed the other ends). */
    public void clear(int i) {
        assert !shared() : "a shared chunk must be cloned before it changes";
        if (i < out.length) {
            out[i] = null;
            in[i] = null;
        }
    }

    /** True when no slot has an edge in either direction: the chunk need not be kept. */
    public boolean isEmpty() {
        for (int i = 0; i < out.length; i++) {
            if (out[i] != null || in[i] != null) {
                return false;
            }
        }
        return true;
    }

    /** A private copy with room for {@code slots} slots (at least as many as now). */
    public EdgeChunk grownTo(int slots) {
        EdgeChunk c = cloneChunk();
        return new EdgeChunk(Arrays.copyOf(c.out, slots), Arrays.copyOf(c.in, slots));
    }

    @Override
    public EdgeChunk cloneChunk() {
        EdgeList[] o = new EdgeList[out.length];
        EdgeList[] n = new EdgeList[in.length];
        for (int i = 0; i < o.length; i++) {
            o[i] = out[i] == null ? null : out[i].copy();
            n[i] = in[i] == null ? null : in[i].copy();
        }
        return new EdgeChunk(o, n);
    }

    @Override
    public long bytes() {
        long b = 16L + out.length * 8L;
        for (int i = 0; i < out.length; i++) {
            b += out[i] == null ? 0 : 8L * out[i].count();
            b += in[i] == null ? 0 : 4L * in[i].count();
        }
        return b;
    }

    public boolean sameContentAs(EdgeChunk o) {
        if (o.out.length != out.length) {
            return false;
        }
        for (int i = 0; i < out.length; i++) {
            if (!sameList(out[i], o.out[i]) || !sameList(in[i], o.in[i])) {
                return false;
            }
        }
        return true;
    }

    private static boolean sameList(EdgeList a, EdgeList b) {
        if (a == null || b == null) {
            return a == b;
        }
        return Arrays.equals(a.liveSlots(), b.liveSlots()) && Arrays.equals(a.liveWeights(), b.liveWeights());
    }

    /**
     * Format 1: slots:int, then per slot: out count, targets, weights, in count, sources (live edges only, in
     * order).
     */
    public static final class Serializer extends VersionedSerializer<EdgeChunk> {
        public static final Serializer INSTANCE = new Serializer();
        private static final long serialVersionUID = 1L;

        @Override
        int currentFormat() {
            return 1;
        }

        @Override
        String what() {
            return "edge chunk";
        }

        @Override
        public EdgeChunk createInstance() {
            return new EdgeChunk(0);
        }

        @Override
        public EdgeChunk copy(EdgeChunk from) {
            from.markShared();
            return from;
        }

        @Override
        void write(EdgeChunk c, DataOutputView o) throws IOException {
            o.writeInt(c.out.length);
            for (int i = 0; i < c.out.length; i++) {
                int[] targets = c.out[i] == null ? new int[0] : c.out[i].liveSlots();
                o.writeInt(targets.length);
                Columns.writeInts(targets, 0, targets.length, o);
                if (targets.length > 0) {
                    float[] w = c.out[i].liveWeights();
                    Columns.writeFloats(w, 0, w.length, o);
                }
                int[] sources = c.in[i] == null ? new int[0] : c.in[i].liveSlots();
                o.writeInt(sources.length);
                Columns.writeInts(sources, 0, sources.length, o);
            }
        }

        @Override
        EdgeChunk read(int format, DataInputView in) throws IOException {
            int n = Columns.count(in, RowChunk.Serializer.MAX_SLOTS, "edge chunk slots");
            EdgeChunk c = new EdgeChunk(n);
            for (int i = 0; i < n; i++) {
                int m = Columns.count(in, Integer.MAX_VALUE - 8, "out-edges");
                if (m > 0) {
                    int[] t = new int[m];
                    float[] w = new float[m];
                    Columns.readInts(t, 0, m, in);
                    Columns.readFloats(w, 0, m, in);
                    c.out[i] = EdgeList.of(t, w, true);
                }
                int k = Columns.count(in, Integer.MAX_VALUE - 8, "in-edges");
                if (k > 0) {
                    int[] s = new int[k];
                    Columns.readInts(s, 0, k, in);
                    c.in[i] = EdgeList.of(s, null, false);
                }
            }
            return c;
        }

        @Override
        public TypeSerializerSnapshot<EdgeChunk> snapshotConfiguration() {
            return new Snapshot();
        }

        public static final class Snapshot extends SimpleTypeSerializerSnapshot<EdgeChunk> {
            public Snapshot() {
                super(() -> INSTANCE);
            }
        }
    }
}
