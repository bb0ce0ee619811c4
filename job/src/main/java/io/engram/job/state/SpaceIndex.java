package io.engram.job.state;

import java.io.IOException;
import java.util.Arrays;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The small per-space header of the chunked layout: dimension, chunk size, how many slots were ever allocated, how
 * many memories and edges there are, which chunks have a free slot, and a version that changes with every change of
 * the association graph (so a cached graph knows when it is stale). Its size is O(chunks / 64) longs, whatever the
 * number of memories; the id → slot map is separate keyed map state.
 */
public final class SpaceIndex {
    /** Embedding dimension, fixed by the space's first memory; kept while the space has state. */
    public int dim;
    /** Slots per chunk, fixed when the space is created. */
    public int chunkSlots;
    /** Slots ever allocated: slots 0 .. slotCount-1 exist; chunks 0 .. chunkCount()-1. */
    public int slotCount;
    public int memories;
    public long edges;
    /** Bumped by every change to the graph or the slot range. */
    public long graphVersion;
    /** Bit c set: chunk c has a free slot below slotCount. */
    long[] freeChunks;

    public SpaceIndex(int dim, int chunkSlots) {
        this(dim, chunkSlots, 0, 0, 0L, 0L, new long[1]);
    }

    private SpaceIndex(int dim, int chunkSlots, int slotCount, int memories, long edges, long graphVersion,
                       long[] freeChunks) {
        this.dim = dim;
        this.chunkSlots = chunkSlots;
        this.slotCount = slotCount;
        this.memories = memories;
        this.edges = edges;
        this.graphVersion = graphVersion;
        this.freeChunks = freeChunks;
    }

    public int chunkCount() {
        return (slotCount + chunkSlots - 1) / chunkSlots;
    }

    public int chunkOf(int slot) {
        return slot / chunkSlots;
    }

    /** Slots of chunk c that are allocated (all but possibly the last chunk's tail). */
    public int slotsIn(int chunk) {
        return Math.min(chunkSlots, slotCount - chunk * chunkSlots);
    }

    /**
     * Room a chunk is given for {@code needed} slots: a power of two, at most {@link #chunkSlots}. Chunks are full
     * size except the last one, which grows by doubling, so a space of one memory costs one slot, not a chunk.
     */
    public int capacityFor(int needed) {
        int cap = Integer.highestOneBit(Math.max(1, needed - 1)) << 1;
        return Math.min(chunkSlots, needed <= 1 ? 1 : cap);
    }

    /** The lowest chunk with a free slot, or -1. */
    public int firstChunkWithFreeSlot() {
        for (int w = 0; w < freeChunks.length; w++) {
            if (freeChunks[w] != 0) {
                return w * 64 + Long.numberOfTrailingZeros(freeChunks[w]);
            }
        }
        return -1;
    }

    public void markFree(int chunk, boolean hasFree) {
        int w = chunk >>> 6;
        if (w >= freeChunks.length) {
            if (!hasFree) {
                return;
            }
            freeChunks = Arrays.copyOf(freeChunks, Math.max(w + 1, freeChunks.length * 2));
        }
        if (hasFree) {
            freeChunks[w] |= 1L << (chunk & 63);
        } else {
            freeChunks[w] &= ~(1L << (chunk & 63));
        }
    }

    public SpaceIndex copy() {
        return new SpaceIndex(dim, chunkSlots, slotCount, memories, edges, graphVersion, freeChunks.clone());
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof SpaceIndex s)) {
            return false;
        }
        return dim == s.dim && chunkSlots == s.chunkSlots && slotCount == s.slotCount && memories == s.memories
                && edges == s.edges && graphVersion == s.graphVersion && Arrays.equals(trim(freeChunks),
                trim(s.freeChunks));
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(new long[] {dim, chunkSlots, slotCount, memories, edges, graphVersion});
    }

    private static long[] trim(long[] bits) {
        int n = bits.length;
        while (n > 0 && bits[n - 1] == 0) {
            n--;
        }
        return Arrays.copyOf(bits, n);
    }

    @Override
    public String toString() {
        return "SpaceIndex{dim=" + dim + ", chunkSlots=" + chunkSlots + ", slots=" + slotCount + ", memories="
                + memories + ", edges=" + edges + ", graphVersion=" + graphVersion + "}";
    }

    /** Format 1: dim, chunkSlots, slotCount, memories (ints), edges, graphVersion (longs), free-chunk words. */
    public static final class Serializer extends VersionedSerializer<SpaceIndex> {
        public static final Serializer INSTANCE = new Serializer();
        private static final long serialVersionUID = 1L;

        @Override
        int currentFormat() {
            return 1;
        }

        @Override
        String what() {
            return "space index";
        }

        @Override
        public SpaceIndex createInstance() {
            return new SpaceIndex(0, 1);
        }

        @Override
        public SpaceIndex copy(SpaceIndex from) {
            return from.copy();
        }

        @Override
        void write(SpaceIndex s, DataOutputView out) throws IOException {
            out.writeInt(s.dim);
            out.writeInt(s.chunkSlots);
            out.writeInt(s.slotCount);
            out.writeInt(s.memories);
            out.writeLong(s.edges);
            out.writeLong(s.graphVersion);
            long[] bits = trim(s.freeChunks);
            out.writeInt(bits.length);
            Columns.writeLongs(bits, 0, bits.length, out);
        }

        @Override
        SpaceIndex read(int format, DataInputView in) throws IOException {
            int dim = Columns.count(in, 1 << 20, "dimension");
            int chunkSlots = Columns.count(in, RowChunk.Serializer.MAX_SLOTS, "chunk slots");
            int slotCount = Columns.count(in, Integer.MAX_VALUE, "slot count");
            int memories = Columns.count(in, slotCount, "memory count");
            long edges = in.readLong();
            long version = in.readLong();
            if (chunkSlots == 0 || edges < 0) {
                throw new IOException("corrupt state: space index with " + chunkSlots + " slots per chunk, " + edges
                        + " edges");
            }
            int words = Columns.count(in, slotCount / chunkSlots / 64 + 1, "free-chunk words");
            long[] bits = new long[Math.max(1, words)];
            Columns.readLongs(bits, 0, words, in);
            return new SpaceIndex(dim, chunkSlots, slotCount, memories, edges, version, bits);
        }

        @Override
        public TypeSerializerSnapshot<SpaceIndex> snapshotConfiguration() {
            return new Snapshot();
        }

        public static final class Snapshot extends SimpleTypeSerializerSnapshot<SpaceIndex> {
            public Snapshot() {
                super(() -> INSTANCE);
            }
        }
    }
}
