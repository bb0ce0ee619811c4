package io.engram.job.state;

import io.engram.job.space.MemorySpace;
import io.engram.job.space.SpaceStore;
import java.util.HashMap;
import java.util.Map;

/**
 * Moves a space saved by the one-value layout ({@link SpaceState}, state format 1, engram-flink 0.1 savepoints) into
 * chunks: row r becomes slot r (so slot order, the order spreading visits memories in, is the old row order), every
 * embedding is stored normalized, and every edge keeps its place in its source's insertion order. Content did not
 * exist in that layout.
 */
public final class LegacyLayout {
    private LegacyLayout() {
    }

    public static void migrate(SpaceState old, int chunkSlots, SpaceStore target) {
        int n = old.size();
        int dim = old.dim();
        SpaceIndex idx = new SpaceIndex(dim, chunkSlots);
        idx.slotCount = n;
        idx.memories = n;
        float[] emb = old.embeddings();
        float[] row = new float[dim];
        for (int c = 0; c < idx.chunkCount(); c++) {
            RowChunk rows = new RowChunk(idx.capacityFor(idx.slotsIn(c)));
            VectorChunk vec = new VectorChunk(idx.capacityFor(idx.slotsIn(c)), dim);
            for (int i = 0; i < idx.slotsIn(c); i++) {
                int r = c * chunkSlots + i;
                rows.set(i, old.id(r), old.strength()[r], old.stability()[r], old.lastAccess()[r]);
                System.arraycopy(emb, r * dim, row, 0, dim);
                vec.set(i, MemorySpace.scaled(row));
                target.putSlot(old.id(r), r);
            }
            target.putRows(c, rows);
            target.putVectors(c, vec);
        }
        Map<Integer, EdgeChunk> chunks = new HashMap<>();
        for (int e = 0; e < old.edgeCount(); e++) {
            int from = old.edgeFrom(e);
            int to = old.edgeTo(e);
            chunks.computeIfAbsent(from / chunkSlots, k -> new EdgeChunk(idx.capacityFor(idx.slotsIn(k))))
                    .putOut(from % chunkSlots, to, old.edgeWeight(e));
            chunks.computeIfAbsent(to / chunkSlots, k -> new EdgeChunk(idx.capacityFor(idx.slotsIn(k))))
                    .putIn(to % chunkSlots, from);
        }
        chunks.forEach(target::putEdges);
        idx.edges = old.edgeCount();
        idx.graphVersion = 1;
        target.putIndex(idx);
    }
}
