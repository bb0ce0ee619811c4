package io.engram.job.space;

import io.engram.job.state.Chunk;
import io.engram.job.state.EdgeChunk;
import io.engram.job.state.LegacyLayout;
import io.engram.job.state.RowChunk;
import io.engram.job.state.SpaceIndex;
import io.engram.job.state.SpaceState;
import io.engram.job.state.VectorChunk;
import io.engram.kernels.CsrGraph;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * {@link SpaceStore} on plain maps, for one space. {@code serializing = true} behaves like RocksDB: every write is
 * serialized and every read deserializes a fresh copy, so a test catches code that changes a chunk it read without
 * writing it back, or relies on two reads returning the same object.
 */
public final class InMemorySpaceStore implements SpaceStore {
    private final boolean serializing;
    private SpaceIndex index;
    private final Map<String, Integer> slots = new HashMap<>();
    private final Map<Integer, Object> rows = new HashMap<>();
    private final Map<Integer, Object> vectors = new HashMap<>();
    private final Map<Integer, Object> edges = new HashMap<>();
    private final Map<Integer, String> content = new HashMap<>();
    private long graphVersion = -1;
    private CsrGraph graph;
    private long chunkWrites;
    private long bytesWritten;

    public InMemorySpaceStore(boolean serializing) {
        this.serializing = serializing;
    }

    /** A chunked space holding the dense space {@code s} (as a restore of a state-format-1 savepoint would). */
    public static MemorySpace chunked(SpaceState s, int chunkSlots, boolean serializing, SpaceRules rules) {
        InMemorySpaceStore store = new InMemorySpaceStore(serializing);
        LegacyLayout.migrate(s, chunkSlots, store);
        return new MemorySpace(store, rules);
    }

    public static SpaceRules rules(int chunkSlots) {
        return new SpaceRules(chunkSlots, 1_000_000, 86_400f, 3650f * 86_400f, 2f);
    }

    @Override
    public SpaceIndex index() {
        return index == null ? null : serializing ? index.copy() : index;
    }

    @Override
    public void putIndex(SpaceIndex idx) {
        index = serializing ? idx.copy() : idx;
    }

    @Override
    public int slotOf(String memoryId) {
        Integer s = slots.get(memoryId);
        return s == null ? -1 : s;
    }

    @Override
    public void putSlot(String memoryId, int slot) {
        slots.put(memoryId, slot);
    }

    @Override
    public void removeSlot(String memoryId) {
        slots.remove(memoryId);
    }

    @Override
    public RowChunk rows(int chunk) {
        return read(rows, chunk, RowChunk.Serializer.INSTANCE);
    }

    @Override
    public VectorChunk vectors(int chunk) {
        return read(vectors, chunk, VectorChunk.Serializer.INSTANCE);
    }

    @Override
    public EdgeChunk edges(int chunk) {
        return read(edges, chunk, EdgeChunk.Serializer.INSTANCE);
    }

    @Override
    public void putRows(int chunk, RowChunk c) {
        write(rows, chunk, c, RowChunk.Serializer.INSTANCE);
    }

    @Override
    public void putVectors(int chunk, VectorChunk c) {
        write(vectors, chunk, c, VectorChunk.Serializer.INSTANCE);
    }

    @Override
    public void putEdges(int chunk, EdgeChunk c) {
        write(edges, chunk, c, EdgeChunk.Serializer.INSTANCE);
    }

    @Override
    public String content(int slot) {
        return content.get(slot);
    }

    @Override
    public void putContent(int slot, String text) {
        if (text == null) {
            content.remove(slot);
        } else {
            content.put(slot, text);
        }
    }

    @Override
    public void clear() {
        index = null;
        slots.clear();
        rows.clear();
        vectors.clear();
        edges.clear();
        content.clear();
        graph = null;
    }

    @Override
    public CsrGraph cachedGraph(long version) {
        return version == graphVersion ? graph : null;
    }

    @Override
    public void cacheGraph(long version, CsrGraph g) {
        graphVersion = version;
        graph = g;
    }

    /** Chunk writes and their bytes since the store was made (or {@link #resetCounters}). */
    public long chunkWrites() {
        return chunkWrites;
    }

    public long bytesWritten() {
        return bytesWritten;
    }

    public void resetCounters() {
        chunkWrites = 0;
        bytesWritten = 0;
    }

    /** Chunks stored: rows + vectors + edge chunks. */
    public int chunkEntries() {
        return rows.size() + vectors.size() + edges.size();
    }

    @SuppressWarnings("unchecked")
    private <C extends Chunk> C read(Map<Integer, Object> m, int chunk, TypeSerializer<C> ser) {
        Object v = m.get(chunk);
        if (v == null) {
            return null;
        }
        if (!serializing) {
            return (C) v;
        }
        try {
            return ser.deserialize(new DataInputDeserializer((byte[]) v));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private <C extends Chunk> void write(Map<Integer, Object> m, int chunk, C c, TypeSerializer<C> ser) {
        if (c == null) {
            m.remove(chunk);
            return;
        }
        chunkWrites++;
        if (!serializing) {
            bytesWritten += c.bytes();
            m.put(chunk, c);
            return;
        }
        try {
            DataOutputSerializer out = new DataOutputSerializer(1024);
            ser.serialize(c, out);
            byte[] bytes = out.getCopyOfBuffer();
            bytesWritten += bytes.length;
            m.put(chunk, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
