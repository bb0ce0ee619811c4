package io.engram.job.state;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The cache's part in the heap backend's copy-on-write: what it serves must not change under a running snapshot. */
class ChunkCacheTest {

    @Test
    void beforeASnapshotEveryCachedChunkBecomesShared() {
        ChunkCache cache = new ChunkCache(1 << 20);
        RowChunk rows = new RowChunk(4);
        VectorChunk vectors = new VectorChunk(4, 8);
        EdgeChunk edges = new EdgeChunk(4);
        cache.put("a", ChunkCache.Kind.ROWS, 0, rows);
        cache.put("a", ChunkCache.Kind.VECTORS, 0, vectors);
        cache.put("b", ChunkCache.Kind.EDGES, 3, edges);
        assertThat(rows.shared() || vectors.shared() || edges.shared()).isFalse();

        cache.markAllShared();

        assertThat(rows.shared()).isTrue();
        assertThat(vectors.shared()).isTrue();
        assertThat(edges.shared()).isTrue();
        // what is written after the snapshot (a clone) is private again until the next one
        RowChunk next = (RowChunk) rows.cloneChunk();
        cache.put("a", ChunkCache.Kind.ROWS, 0, next);
        assertThat(next.shared()).isFalse();
        assertThat((RowChunk) cache.get("a", ChunkCache.Kind.ROWS, 0)).isSameAs(next);
    }
}
