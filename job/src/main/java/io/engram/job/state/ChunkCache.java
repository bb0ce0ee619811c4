package io.engram.job.state;

import io.engram.kernels.CsrGraph;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A subtask's cache of decoded chunks (and each space's graph), least recently used first out, bounded in bytes.
 * RocksDB hands out a freshly deserialized copy on every read, so without it a recall would deserialize the whole
 * space; with it, the chunks a subtask reads again are served as the heap backend serves them. It is a write-through
 * cache of values only this subtask writes (every write goes through {@link FlinkSpaceStore}), so it can never be
 * stale; it holds no state of its own (a restore starts it empty). On the heap backend it holds the very objects the
 * state holds, so it costs only its map; and it marks them shared before every snapshot ({@link #markAllShared}),
 * since reads it serves never reach the backend's copy-on-write.
 */
final class ChunkCache {
    enum Kind { ROWS, VECTORS, EDGES, GRAPH }

    /**
     * Written out, not the record's generated methods: a recall looks up every chunk of its space, and the generated
     * {@code equals} went through method-handle guards that showed in profiles (5.5% of the operator's samples).
     */
    private record Key(String space, Kind kind, int chunk) {
        @Override
        public int hashCode() {
            return (space.hashCode() * 31 + kind.ordinal()) * 31 + chunk;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && chunk == k.chunk && kind == k.kind && space.equals(k.space);
        }
    }

    private record Entry(Object value, long version, long bytes) {
    }

    private final long maxBytes;
    private final LinkedHashMap<Key, Entry> entries = new LinkedHashMap<>(256, 0.75f, true);
    private long bytes;
    private long hits;
    private long misses;

    ChunkCache(long maxBytes) {
        this.maxBytes = maxBytes;
    }

    @SuppressWarnings("unchecked")
    <C extends Chunk> C get(String space, Kind kind, int chunk) {
        if (maxBytes <= 0) {
            return null;
        }
        Entry e = entries.get(new Key(space, kind, chunk));
        if (e == null) {
            misses++;
            return null;
        }
        hits++;
        return (C) e.value;
    }

    void put(String space, Kind kind, int chunk, Chunk value) {
        if (value == null) {
            remove(space, kind, chunk);
        } else {
            store(new Key(space, kind, chunk), new Entry(value, 0, value.bytes()));
        }
    }

    void remove(String space, Kind kind, int chunk) {
        Entry old = entries.remove(new Key(space, kind, chunk));
        if (old != null) {
            bytes -= old.bytes;
        }
    }

    CsrGraph graph(String space, long version) {
        if (maxBytes <= 0) {
            return null;
        }
        Entry e = entries.get(new Key(space, Kind.GRAPH, 0));
        return e == null || e.version != version ? null : (CsrGraph) e.value;
    }

    void putGraph(String space, long version, CsrGraph g) {
        store(new Key(space, Kind.GRAPH, 0), new Entry(g, version, 64L + 4L * g.nodeCount() + 8L * g.edgeCount()));
    }

    private void store(Key k, Entry e) {
        if (maxBytes <= 0 || e.bytes > maxBytes) {
            remove(k.space, k.kind, k.chunk);
            return;
        }
        Entry old = entries.put(k, e);
        bytes += e.bytes - (old == null ? 0 : old.bytes);
        Iterator<Map.Entry<Key, Entry>> it = entries.entrySet().iterator();
        while (bytes > maxBytes && it.hasNext()) {
            Map.Entry<Key, Entry> oldest = it.next();
            if (oldest.getKey().equals(k)) {
                continue;
            }
            bytes -= oldest.getValue().bytes;
            it.remove();
        }
    }

    /**
     * Marks every cached chunk {@link Chunk#shared shared}, for a snapshot that is about to start. The heap backend
     * marks a chunk shared only when the snapshot's copy-on-write reaches it through the state ({@code copy}); a chunk
     * served from here never goes through the state, so without this a store would change it in place while the
     * snapshot is still writing it, and the checkpoint would hold chunks newer than its index. On RocksDB nothing
     * refers to these objects, so it costs one clone of each chunk changed after a checkpoint, and nothing else.
     */
    void markAllShared() {
        for (Entry e : entries.values()) {
            if (e.value instanceof Chunk c) {
                c.markShared();
            }
        }
    }

    long bytes() {
        return bytes;
    }

    long hits() {
        return hits;
    }

    long misses() {
        return misses;
    }
}
