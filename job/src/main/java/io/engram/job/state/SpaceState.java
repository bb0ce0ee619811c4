package io.engram.job.state;

import io.engram.kernels.CsrGraph;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * A memory space in one dense value, column by column: row i of every column is memory i, and row i of
 * {@link #embeddings()} is floats [i·dim, (i+1)·dim). This was the state layout of engram-flink's state format 1
 * (one {@code ValueState} per space); it is now read only to migrate such savepoints into chunks
 * ({@link LegacyLayout}), and it is the dense form tests and tools compare spaces in ({@link #denseCopyOf}).
 *
 * <p>Edges are parallel arrays in insertion order; the CSR the spreading kernel needs is derived from them and
 * cached until the next mutation. The id index and edge index are derived too, rebuilt lazily after a restore.
 * Removing memories compacts the columns in one pass, keeping the other rows in their order.
 *
 * <p>Not thread-safe: a space is only touched by the keyed operator's task thread.
 */
public final class SpaceState {
    private int dim;
    private int size;
    private String[] ids;
    private float[] embeddings;
    private float[] strength;
    private float[] stability;
    private long[] lastAccess;

    private int edgeCount;
    private int[] edgeFrom;
    private int[] edgeTo;
    private float[] edgeWeight;

    private transient Map<String, Integer> rowById;
    private transient Map<Long, Integer> edgeByPair;
    private transient CsrGraph csr;

    public SpaceState() {
        this(0, 0, new String[0], new float[0], new float[0], new float[0], new long[0], 0, new int[0], new int[0],
                new float[0]);
    }

    /** For the serializer: takes ownership of the arrays (which may be longer than the counts). */
    SpaceState(int dim, int size, String[] ids, float[] embeddings, float[] strength, float[] stability,
               long[] lastAccess, int edgeCount, int[] edgeFrom, int[] edgeTo, float[] edgeWeight) {
        assert size <= ids.length && (long) size * dim <= embeddings.length;
        assert edgeCount <= edgeFrom.length && edgeCount <= edgeTo.length && edgeCount <= edgeWeight.length;
        this.dim = dim;
        this.size = size;
        this.ids = ids;
        this.embeddings = embeddings;
        this.strength = strength;
        this.stability = stability;
        this.lastAccess = lastAccess;
        this.edgeCount = edgeCount;
        this.edgeFrom = edgeFrom;
        this.edgeTo = edgeTo;
        this.edgeWeight = edgeWeight;
    }

    /**
     * The dense form of a chunked space: its live memories in slot order (embeddings as stored), and
     * its edges by source in slot order, each source's in insertion order (the order spreading follows). Null when
     * the store holds nothing for the space.
     */
    public static SpaceState denseCopyOf(io.engram.job.space.SpaceStore store) {
        SpaceIndex idx = store.index();
        if (idx == null) {
            return null;
        }
        SpaceState s = new SpaceState();
        s.dim = idx.dim;
        int[] rowOfSlot = new int[idx.slotCount];
        Arrays.fill(rowOfSlot, -1);
        for (int c = 0; c < idx.chunkCount(); c++) {
            RowChunk rows = store.rows(c);
            VectorChunk vec = store.vectors(c);
            for (int i = 0; rows != null && i < idx.slotsIn(c); i++) {
                if (rows.ids[i] == null) {
                    continue;
                }
                float[] e = Arrays.copyOfRange(vec.data, i * idx.dim, (i + 1) * idx.dim);
                rowOfSlot[c * idx.chunkSlots + i] = s.size;
                s.upsert(rows.ids[i], e, rows.strength[i], rows.stability[i], rows.lastAccess[i]);
            }
        }
        for (int c = 0; c < idx.chunkCount(); c++) {
            EdgeChunk ec = store.edges(c);
            for (int i = 0; ec != null && i < idx.slotsIn(c); i++) {
                EdgeList out = ec.out(i);
                for (int j = 0; out != null && j < out.extent(); j++) {
                    if (out.slot(j) >= 0) {
                        s.associate(rowOfSlot[c * idx.chunkSlots + i], rowOfSlot[out.slot(j)], out.weight(j));
                    }
                }
            }
        }
        return s;
    }

    /**
     * This space as the chunked layout holds it after migration ({@link LegacyLayout}), in dense form: embeddings as
     * it stores them ({@code MemorySpace.scaled}), edges grouped by source row (each source's in insertion order),
     * the order {@link #denseCopyOf} lists them in.
     */
    public SpaceState withStoredEmbeddings() {
        SpaceState c = new SpaceState();
        c.dim = dim; // an emptied space keeps its dimension
        float[] row = new float[dim];
        for (int r = 0; r < size; r++) {
            System.arraycopy(embeddings, r * dim, row, 0, dim);
            c.upsert(ids[r], io.engram.job.space.MemorySpace.scaled(row), strength[r], stability[r], lastAccess[r]);
        }
        Integer[] order = new Integer[edgeCount];
        for (int e = 0; e < edgeCount; e++) {
            order[e] = e;
        }
        Arrays.sort(order, java.util.Comparator.comparingInt(e -> edgeFrom[e])); // stable
        for (int e : order) {
            c.associate(edgeFrom[e], edgeTo[e], edgeWeight[e]);
        }
        return c;
    }

    // ----- reads -------------------------------------------------------------------------------------------------

    /** The space's embedding dimension, fixed by its first stored memory; 0 while it has never held one. */
    public int dim() {
        return dim;
    }

    public int size() {
        return size;
    }

    public int edgeCount() {
        return edgeCount;
    }

    public String id(int row) {
        return ids[row];
    }

    /** Row of the memory, or -1. */
    public int rowOf(String memoryId) {
        Integer row = index().get(memoryId);
        return row == null ? -1 : row;
    }

    /** The embedding matrix; only the first size·dim floats are meaningful. */
    public float[] embeddings() {
        return embeddings;
    }

    public float[] strength() {
        return strength;
    }

    public float[] stability() {
        return stability;
    }

    public long[] lastAccess() {
        return lastAccess;
    }

    public int edgeFrom(int e) {
        return edgeFrom[e];
    }

    public int edgeTo(int e) {
        return edgeTo[e];
    }

    public float edgeWeight(int e) {
        return edgeWeight[e];
    }

    /** The association graph over rows, in CSR form; cached until the next mutation. */
    public CsrGraph graph() {
        if (csr == null) {
            csr = CsrGraph.fromEdges(size, edgeFrom, edgeTo, edgeWeight, edgeCount);
        }
        return csr;
    }

    // ----- writes ------------------------------------------------------------------------------------------------

    /** Inserts or replaces a memory. The caller has checked the embedding's dimension against {@link #dim()}. */
    public void upsert(String memoryId, float[] embedding, float strengthValue, float stabilitySeconds,
                       long lastAccessMillis) {
        if (dim == 0) {
            dim = embedding.length;
        }
        if (embedding.length != dim) {
            throw new IllegalArgumentException("embedding has dimension " + embedding.length + ", space has " + dim);
        }
        int row = rowOf(memoryId);
        if (row < 0) {
            row = size;
            grow(size + 1);
            ids[row] = memoryId;
            index().put(memoryId, row);
            size++;
            csr = null;
        }
        System.arraycopy(embedding, 0, embeddings, row * dim, dim);
        strength[row] = strengthValue;
        stability[row] = stabilitySeconds;
        lastAccess[row] = lastAccessMillis;
    }

    /** Sets last access and multiplies stability (capped): the spacing effect. False if the memory is unknown. */
    public boolean reinforce(String memoryId, long atMillis, float factor, float maxStabilitySeconds) {
        int row = rowOf(memoryId);
        if (row < 0) {
            return false;
        }
        lastAccess[row] = Math.max(lastAccess[row], atMillis);
        stability[row] = Math.min(maxStabilitySeconds, stability[row] * factor);
        return true;
    }

    /** Adds the edge or replaces its weight. Both rows must exist. */
    public void associate(int fromRow, int toRow, float weight) {
        assert fromRow >= 0 && fromRow < size && toRow >= 0 && toRow < size;
        long pair = pair(fromRow, toRow);
        Integer e = edges().get(pair);
        if (e != null) {
            edgeWeight[e] = weight;
        } else {
            growEdges(edgeCount + 1);
            edgeFrom[edgeCount] = fromRow;
            edgeTo[edgeCount] = toRow;
            edgeWeight[edgeCount] = weight;
            edgeByPair.put(pair, edgeCount);
            edgeCount++;
        }
        csr = null;
    }

    /** Removes a memory and every edge that touches it. False if it was unknown. */
    public boolean forget(String memoryId) {
        int row = rowOf(memoryId);
        if (row < 0) {
            return false;
        }
        removeRows(singleRow(row));
        return true;
    }

    private boolean[] singleRow(int row) {
        boolean[] doomed = new boolean[size];
        doomed[row] = true;
        return doomed;
    }

    /**
     * Removes every row marked in {@code doomed} (length ≥ size) together with their edges, in one pass.
     *
     * @return how many memories were removed
     */
    public int removeRows(boolean[] doomed) {
        int removed = 0;
        int[] newRow = new int[size];
        int w = 0;
        for (int r = 0; r < size; r++) {
            if (doomed[r]) {
                newRow[r] = -1;
                removed++;
                continue;
            }
            newRow[r] = w;
            if (w != r) {
                ids[w] = ids[r];
                System.arraycopy(embeddings, r * dim, embeddings, w * dim, dim);
                strength[w] = strength[r];
                stability[w] = stability[r];
                lastAccess[w] = lastAccess[r];
            }
            w++;
        }
        if (removed == 0) {
            return 0;
        }
        Arrays.fill(ids, w, size, null);
        size = w;
        int we = 0;
        for (int e = 0; e < edgeCount; e++) {
            int f = newRow[edgeFrom[e]];
            int t = newRow[edgeTo[e]];
            if (f < 0 || t < 0) {
                continue;
            }
            edgeFrom[we] = f;
            edgeTo[we] = t;
            edgeWeight[we] = edgeWeight[e];
            we++;
        }
        edgeCount = we;
        rowById = null;
        edgeByPair = null;
        csr = null;
        return removed;
    }

    // ----- internals ---------------------------------------------------------------------------------------------

    private Map<String, Integer> index() {
        if (rowById == null) {
            rowById = new HashMap<>(Math.max(16, size * 2));
            for (int r = 0; r < size; r++) {
                rowById.put(ids[r], r);
            }
        }
        return rowById;
    }

    private Map<Long, Integer> edges() {
        if (edgeByPair == null) {
            edgeByPair = new HashMap<>(Math.max(16, edgeCount * 2));
            for (int e = 0; e < edgeCount; e++) {
                edgeByPair.put(pair(edgeFrom[e], edgeTo[e]), e);
            }
        }
        return edgeByPair;
    }

    private static long pair(int from, int to) {
        return ((long) from << 32) | (to & 0xffffffffL);
    }

    private void grow(int rows) {
        if (rows <= ids.length) {
            return;
        }
        // No minimum capacity: most spaces hold few memories, and room for 8 rows of a 768-dim embedding made a
        // one-memory space cost 26 KB instead of 4 KB (a flood of small spaces). 1.5x growth from there.
        int cap = Math.max(rows, ids.length + (ids.length >> 1));
        ids = Arrays.copyOf(ids, cap);
        embeddings = Arrays.copyOf(embeddings, cap * dim);
        strength = Arrays.copyOf(strength, cap);
        stability = Arrays.copyOf(stability, cap);
        lastAccess = Arrays.copyOf(lastAccess, cap);
    }

    private void growEdges(int edges) {
        if (edges <= edgeFrom.length) {
            return;
        }
        int cap = Math.max(edges, Math.max(8, edgeFrom.length + (edgeFrom.length >> 1)));
        edgeFrom = Arrays.copyOf(edgeFrom, cap);
        edgeTo = Arrays.copyOf(edgeTo, cap);
        edgeWeight = Arrays.copyOf(edgeWeight, cap);
    }

    /** Raw columns for the serializer. */
    String[] idsColumn() {
        return ids;
    }

    /** Equal content (not capacity): what the savepoint round-trip tests compare. */
    public boolean sameContentAs(SpaceState o) {
        if (dim != o.dim || size != o.size || edgeCount != o.edgeCount) {
            return false;
        }
        return Arrays.equals(ids, 0, size, o.ids, 0, size)
                && Arrays.equals(embeddings, 0, size * dim, o.embeddings, 0, size * dim)
                && Arrays.equals(strength, 0, size, o.strength, 0, size)
                && Arrays.equals(stability, 0, size, o.stability, 0, size)
                && Arrays.equals(lastAccess, 0, size, o.lastAccess, 0, size)
                && Arrays.equals(edgeFrom, 0, edgeCount, o.edgeFrom, 0, edgeCount)
                && Arrays.equals(edgeTo, 0, edgeCount, o.edgeTo, 0, edgeCount)
                && Arrays.equals(edgeWeight, 0, edgeCount, o.edgeWeight, 0, edgeCount);
    }
}
