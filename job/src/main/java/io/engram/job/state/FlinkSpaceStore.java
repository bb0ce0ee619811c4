package io.engram.job.state;

import io.engram.job.space.SpaceStore;
import io.engram.kernels.CsrGraph;
import java.util.Objects;
import org.apache.flink.api.common.functions.RuntimeContext;
import org.apache.flink.api.common.state.KeyedStateStore;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.typeutils.base.IntSerializer;

/**
 * {@link SpaceStore} on Flink keyed state, for the space that is the current key ({@link #bind}). Each kind of
 * chunk is its own {@code MapState}, keyed by chunk number, so RocksDB reads and writes one chunk per access
 * instead of the whole space; the id → slot map and the content are map state too, one entry per memory. Reads go
 * through the subtask's {@link ChunkCache}; every write goes to the state and the cache.
 *
 * <p>A space saved by the previous layout (one {@code ValueState<SpaceState>} named {@value #LEGACY_NAME}) is moved
 * into chunks the first time it is touched after the restore ({@link LegacyLayout}).
 */
public final class FlinkSpaceStore implements SpaceStore {
    public static final ValueStateDescriptor<SpaceIndex> INDEX =
            new ValueStateDescriptor<>("space-index", SpaceIndex.Serializer.INSTANCE);
    public static final MapStateDescriptor<String, Integer> SLOTS =
            new MapStateDescriptor<>("space-slots", Types.STRING, Types.INT);
    public static final MapStateDescriptor<Integer, RowChunk> ROWS =
            new MapStateDescriptor<>("space-rows", IntSerializer.INSTANCE, RowChunk.Serializer.INSTANCE);
    public static final MapStateDescriptor<Integer, VectorChunk> VECTORS =
            new MapStateDescriptor<>("space-vectors", IntSerializer.INSTANCE, VectorChunk.Serializer.INSTANCE);
    public static final MapStateDescriptor<Integer, EdgeChunk> EDGES =
            new MapStateDescriptor<>("space-edges", IntSerializer.INSTANCE, EdgeChunk.Serializer.INSTANCE);
    public static final MapStateDescriptor<Integer, String> CONTENT =
            new MapStateDescriptor<>("space-content", Types.INT, Types.STRING);
    /** The previous layout's state name: read to migrate, never written. */
    public static final String LEGACY_NAME = "space";
    public static final ValueStateDescriptor<SpaceState> LEGACY =
            new ValueStateDescriptor<>(LEGACY_NAME, SpaceStateSerializer.INSTANCE);

    private final ValueState<SpaceIndex> index;
    private final MapState<String, Integer> slots;
    private final MapState<Integer, RowChunk> rows;
    private final MapState<Integer, VectorChunk> vectors;
    private final MapState<Integer, EdgeChunk> edges;
    private final MapState<Integer, String> content;
    private final ValueState<SpaceState> legacy;
    private final ChunkCache cache;
    private final int chunkSlotsForMigration;
    private String space;
    private long bytesWritten;

    /** Where the states come from: an operator's runtime context, or any keyed state store (tests, tools). */
    public interface States {
        <T> ValueState<T> value(ValueStateDescriptor<T> d);

        <K, V> MapState<K, V> map(MapStateDescriptor<K, V> d);

        static States of(RuntimeContext ctx) {
            return new States() {
                @Override
                public <T> ValueState<T> value(ValueStateDescriptor<T> d) {
                    return ctx.getState(d);
                }

                @Override
                public <K, V> MapState<K, V> map(MapStateDescriptor<K, V> d) {
                    return ctx.getMapState(d);
                }
            };
        }

        static States of(KeyedStateStore store) {
            return new States() {
                @Override
                public <T> ValueState<T> value(ValueStateDescriptor<T> d) {
                    return store.getState(d);
                }

                @Override
                public <K, V> MapState<K, V> map(MapStateDescriptor<K, V> d) {
                    return store.getMapState(d);
                }
            };
        }
    }

    /**
     * @param cacheBytes             size of the chunk cache ({@code engram.state.cache-size}); 0 for none
     * @param chunkSlotsForMigration chunk size given to spaces migrated from the one-value layout
     */
    public FlinkSpaceStore(States states, long cacheBytes, int chunkSlotsForMigration) {
        index = states.value(INDEX);
        slots = states.map(SLOTS);
        rows = states.map(ROWS);
        vectors = states.map(VECTORS);
        edges = states.map(EDGES);
        content = states.map(CONTENT);
        legacy = states.value(LEGACY);
        cache = new ChunkCache(cacheBytes);
        this.chunkSlotsForMigration = chunkSlotsForMigration;
    }

    /** Makes the store serve {@code key}, which must be the operator's current key. */
    public FlinkSpaceStore bind(String key) {
        space = Objects.requireNonNull(key, "key");
        return this;
    }

    @Override
    public SpaceIndex index() {
        try {
            SpaceIndex idx = index.value();
            if (idx == null) {
                SpaceState old = legacy.value();
                if (old != null) {
                    LegacyLayout.migrate(old, chunkSlotsForMigration, this);
                    legacy.clear();
                    idx = index.value();
                }
            }
            return idx;
        } catch (Exception e) {
            throw new StateAccessException("space-index", e);
        }
    }

    @Override
    public void putIndex(SpaceIndex idx) {
        try {
            index.update(idx);
            bytesWritten += 48;
        } catch (Exception e) {
            throw new StateAccessException("space-index", e);
        }
    }

    @Override
    public int slotOf(String memoryId) {
        try {
            Integer s = slots.get(memoryId);
            return s == null ? -1 : s;
        } catch (Exception e) {
            throw new StateAccessException("space-slots", e);
        }
    }

    @Override
    public void putSlot(String memoryId, int slot) {
        try {
            slots.put(memoryId, slot);
            bytesWritten += 8 + memoryId.length();
        } catch (Exception e) {
            throw new StateAccessException("space-slots", e);
        }
    }

    @Override
    public void removeSlot(String memoryId) {
        try {
            slots.remove(memoryId);
        } catch (Exception e) {
            throw new StateAccessException("space-slots", e);
        }
    }

    @Override
    public RowChunk rows(int chunk) {
        return read(rows, ChunkCache.Kind.ROWS, chunk);
    }

    @Override
    public VectorChunk vectors(int chunk) {
        return read(vectors, ChunkCache.Kind.VECTORS, chunk);
    }

    @Override
    public EdgeChunk edges(int chunk) {
        return read(edges, ChunkCache.Kind.EDGES, chunk);
    }

    @Override
    public void putRows(int chunk, RowChunk c) {
        write(rows, ChunkCache.Kind.ROWS, chunk, c);
    }

    @Override
    public void putVectors(int chunk, VectorChunk c) {
        write(vectors, ChunkCache.Kind.VECTORS, chunk, c);
    }

    @Override
    public void putEdges(int chunk, EdgeChunk c) {
        write(edges, ChunkCache.Kind.EDGES, chunk, c);
    }

    @Override
    public String content(int slot) {
        try {
            return content.get(slot);
        } catch (Exception e) {
            throw new StateAccessException("space-content", e);
        }
    }

    @Override
    public void putContent(int slot, String text) {
        try {
            if (text == null) {
                content.remove(slot);
            } else {
                content.put(slot, text);
                bytesWritten += 8 + 2L * text.length();
            }
        } catch (Exception e) {
            throw new StateAccessException("space-content", e);
        }
    }

    @Override
    public void clear() {
        SpaceIndex idx = index();
        if (idx != null) {
            for (int c = 0; c < idx.chunkCount(); c++) {
                cache.remove(space, ChunkCache.Kind.ROWS, c);
                cache.remove(space, ChunkCache.Kind.VECTORS, c);
                cache.remove(space, ChunkCache.Kind.EDGES, c);
            }
        }
        cache.remove(space, ChunkCache.Kind.GRAPH, 0);
        index.clear();
        slots.clear();
        rows.clear();
        vectors.clear();
        edges.clear();
        content.clear();
        legacy.clear();
    }

    @Override
    public CsrGraph cachedGraph(long graphVersion) {
        return cache.graph(space, graphVersion);
    }

    @Override
    public void cacheGraph(long graphVersion, CsrGraph graph) {
        cache.putGraph(space, graphVersion, graph);
    }

    /**
     * The space in dense form without changing anything (for readers of a savepoint, which may not write): the
     * chunks, or a not yet migrated one-value space as migration would store it (embeddings as it stores them). Null when
     * the space holds nothing.
     */
    public SpaceState denseView() {
        try {
            if (index.value() != null) {
                return SpaceState.denseCopyOf(this);
            }
            SpaceState old = legacy.value();
            return old == null ? null : old.withStoredEmbeddings();
        } catch (Exception e) {
            throw new StateAccessException("space", e);
        }
    }

    /**
     * Called when a checkpoint's synchronous part starts, before the keyed state is snapshotted: no chunk the
     * snapshot may hold changes in place afterwards ({@link ChunkCache#markAllShared}).
     */
    public void beforeSnapshot() {
        cache.markAllShared();
    }

    /** Bytes of state this store has written (chunk sizes; what RocksDB has to serialize), since it was opened. */
    public long bytesWritten() {
        return bytesWritten;
    }

    public long cacheHits() {
        return cache.hits();
    }

    public long cacheMisses() {
        return cache.misses();
    }

    public long cacheBytes() {
        return cache.bytes();
    }

    private <C extends Chunk> C read(MapState<Integer, C> state, ChunkCache.Kind kind, int chunk) {
        C c = cache.get(space, kind, chunk);
        if (c != null) {
            return c;
        }
        try {
            c = state.get(chunk);
        } catch (Exception e) {
            throw new StateAccessException(kind.name(), e);
        }
        if (c != null) {
            cache.put(space, kind, chunk, c);
        }
        return c;
    }

    private <C extends Chunk> void write(MapState<Integer, C> state, ChunkCache.Kind kind, int chunk, C c) {
        try {
            if (c == null) {
                state.remove(chunk);
            } else {
                state.put(chunk, c);
                bytesWritten += c.bytes();
            }
        } catch (Exception e) {
            throw new StateAccessException(kind.name(), e);
        }
        cache.put(space, kind, chunk, c);
    }

    /** A state backend failure (RocksDB I/O): not the record's fault, so it fails the task. */
    public static final class StateAccessException extends RuntimeException {
        StateAccessException(String state, Exception cause) {
            super("state '" + state + "' could not be accessed: " + cause.getMessage(), cause);
        }
    }
}
