package io.engram.job.space;

import io.engram.job.state.Chunk;
import io.engram.job.state.EdgeChunk;
import io.engram.job.state.RowChunk;
import io.engram.job.state.SpaceIndex;
import io.engram.job.state.VectorChunk;
import io.engram.kernels.CsrGraph;

/**
 * The storage seam: where one space's chunked state lives. {@link MemorySpace} holds the logic and talks only to
 * this; the Flink operator binds it to keyed state ({@code FlinkSpaceStore}, one space at a time: the current key),
 * tests bind it to plain maps. Every read returns what the last write put (or null); a chunk returned by a read may
 * be shared with a running snapshot, so it is changed only through {@link #forWrite}.
 */
public interface SpaceStore {
    /** The space's index, or null when the space holds nothing. */
    SpaceIndex index();

    void putIndex(SpaceIndex index);

    /** The memory's slot, or -1. */
    int slotOf(String memoryId);

    void putSlot(String memoryId, int slot);

    void removeSlot(String memoryId);

    RowChunk rows(int chunk);

    VectorChunk vectors(int chunk);

    /** Null when no slot of the chunk has an edge. */
    EdgeChunk edges(int chunk);

    void putRows(int chunk, RowChunk rows);

    void putVectors(int chunk, VectorChunk vectors);

    /** {@code null} removes the chunk's edges. */
    void putEdges(int chunk, EdgeChunk edges);

    /** The memory's content, or null. */
    String content(int slot);

    /** {@code null} removes it. */
    void putContent(int slot, String content);

    /** Removes everything the space holds. */
    void clear();

    /** The space's graph if one was cached for {@code graphVersion}, else null. */
    CsrGraph cachedGraph(long graphVersion);

    void cacheGraph(long graphVersion, CsrGraph graph);

    /** A chunk that may be changed: {@code c} itself, or a private copy when a snapshot may still read {@code c}. */
    @SuppressWarnings("unchecked")
    default <C extends Chunk> C forWrite(C c) {
        return c.shared() ? (C) c.cloneChunk() : c;
    }
}
