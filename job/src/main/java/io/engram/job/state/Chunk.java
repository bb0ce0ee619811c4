package io.engram.job.state;

/**
 * A block of a space's state kept as one MapState entry. Chunks are copied on write, at chunk granularity: while a
 * heap-backend snapshot may still read a chunk, its serializer's {@code copy} marks it {@link #shared} instead of
 * copying it (and so does the chunk cache for every chunk it holds when a snapshot starts), and the state layer clones a shared chunk before changing it ({@code SpaceStore.forWrite}). So a
 * checkpoint of the heap backend copies the chunks that change while it runs, not the whole space, and RocksDB (which
 * hands out fresh objects and never calls {@code copy}) is unaffected.
 */
public abstract class Chunk {
    private transient volatile boolean shared;

    /** True once a state snapshot may hold this object: it must not change any more. */
    public final boolean shared() {
        return shared;
    }

    final void markShared() {
        shared = true;
    }

    /** A private deep copy, not shared. */
    public abstract Chunk cloneChunk();

    /** Bytes this chunk takes in state (its serialized size, near enough), for the write metrics and the cache. */
    public abstract long bytes();
}
