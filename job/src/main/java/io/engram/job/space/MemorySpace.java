package io.engram.job.space;

import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.state.EdgeChunk;
import io.engram.job.state.EdgeList;
import io.engram.job.state.RowChunk;
import io.engram.job.state.SpaceIndex;
import io.engram.job.state.VectorChunk;
import io.engram.kernels.CsrGraph;
import io.engram.kernels.MemoryKernels;
import java.util.HashMap;
import java.util.Map;

/**
 * One memory space: what its events do (docs/internal/recall_contract.md, "State"), on top of a {@link SpaceStore}.
 * Memories live in stable slots grouped into fixed-size chunks; every event reads and writes the chunks of the slots
 * it touches and the small index, never the whole space. A forget frees its slot for a later store; nothing is ever
 * compacted.
 *
 * <p>Stateless apart from the store: the operator keeps one instance per subtask and the store follows the current
 * key.
 */
public final class MemorySpace {
    private final SpaceStore store;
    private final SpaceRules rules;

    public MemorySpace(SpaceStore store, SpaceRules rules) {
        this.store = store;
        this.rules = rules;
    }

    public Change apply(SpaceEvent e) throws Rejection {
        return e.applyTo(this);
    }

    // ----- reads -------------------------------------------------------------------------------------------------

    /** The index, or null when the space holds nothing. */
    public SpaceIndex index() {
        return store.index();
    }

    public int size() {
        SpaceIndex i = store.index();
        return i == null ? 0 : i.memories;
    }

    public RowChunk rows(int chunk) {
        return store.rows(chunk);
    }

    public VectorChunk vectors(int chunk) {
        return store.vectors(chunk);
    }

    public String content(int slot) {
        return store.content(slot);
    }

    public int slotOf(String memoryId) {
        return store.slotOf(memoryId);
    }

    /** The association graph over slots ({@code index.slotCount} nodes), cached per graph version. */
    public CsrGraph graph() {
        SpaceIndex idx = store.index();
        if (idx == null) {
            return CsrGraph.empty(0);
        }
        CsrGraph g = store.cachedGraph(idx.graphVersion);
        if (g != null && g.nodeCount() == idx.slotCount) {
            return g;
        }
        int n = idx.slotCount;
        int[] offsets = new int[n + 1];
        long m = idx.edges;
        if (m > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("space has " + m + " edges: more than one graph array holds");
        }
        int[] targets = new int[(int) m];
        float[] weights = new float[(int) m];
        int e = 0;
        for (int c = 0; c < idx.chunkCount(); c++) {
            EdgeChunk ec = store.edges(c);
            int base = c * idx.chunkSlots;
            for (int i = 0; i < idx.slotsIn(c); i++) {
                EdgeList out = ec == null ? null : ec.out(i);
                if (out != null) {
                    for (int j = 0; j < out.extent(); j++) {
                        int t = out.slot(j);
                        if (t >= 0) {
                            if (e == targets.length) {
                                throw inconsistent(idx, "more than " + m + " edges");
                            }
                            targets[e] = t;
                            weights[e] = out.weight(j);
                            e++;
                        }
                    }
                }
                offsets[base + i + 1] = e;
            }
        }
        if (e != m) {
            throw inconsistent(idx, e + " edges");
        }
        g = CsrGraph.adopt(offsets, targets, weights);
        store.cacheGraph(idx.graphVersion, g);
        return g;
    }

    /**
     * The space's index and its edge chunks disagree: the state itself is damaged (not the record's fault), so the
     * task fails with a message an operator can act on rather than with an index out of bounds.
     */
    private static IllegalStateException inconsistent(SpaceIndex idx, String chunksHold) {
        return new IllegalStateException("space state is inconsistent: its index counts " + idx.edges
                + " edges (graph version " + idx.graphVersion + "), its edge chunks hold " + chunksHold
                + "; restore from an earlier checkpoint or savepoint (docs/operations/reliability.md)");
    }

    // ----- events ------------------------------------------------------------------------------------------------

    Change store(SpaceEvent.Store e) throws Rejection {
        SpaceIndex idx = store.index();
        float[] emb = e.embedding();
        if (idx == null) {
            idx = new SpaceIndex(emb.length, rules.chunkSlots());
        } else if (emb.length != idx.dim) {
            throw new Rejection(Reason.DIM_MISMATCH, "embedding has dimension " + emb.length + ", the space has "
                    + idx.dim);
        }
        int slot = store.slotOf(e.memoryId());
        boolean isNew = slot < 0;
        if (isNew) {
            if (idx.memories >= rules.maxMemories()) {
                throw new Rejection(Reason.SPACE_FULL, "space holds " + idx.memories + " memories, limit "
                        + rules.maxMemories());
            }
            slot = allocate(idx);
        }
        int c = idx.chunkOf(slot);
        int i = slot - c * idx.chunkSlots;
        float stability = e.stabilitySeconds() == null ? rules.defaultStability() : e.stabilitySeconds();
        stability = Math.min(stability, rules.maxStability());
        RowChunk rows = rowsForWrite(idx, c, i);
        rows.set(i, e.memoryId(), e.strength(), stability, e.timestampMs());
        idx.markFree(c, rows.live() < idx.slotsIn(c));
        VectorChunk vec = vectorsForWrite(idx, c, i);
        vec.set(i, scaled(emb));
        store.putRows(c, rows);
        store.putVectors(c, vec);
        if (isNew || store.content(slot) != null || e.content() != null) {
            store.putContent(slot, e.content());
        }
        if (isNew) {
            store.putSlot(e.memoryId(), slot);
            idx.memories++;
        }
        store.putIndex(idx);
        return isNew ? new Change(1, 0) : Change.NONE;
    }

    Change reinforce(SpaceEvent.Reinforce e) throws Rejection {
        SpaceIndex idx = store.index();
        int slot = slotOrReject(e.memoryId());
        int c = idx.chunkOf(slot);
        int i = slot - c * idx.chunkSlots;
        RowChunk rows = store.forWrite(store.rows(c));
        rows.lastAccess[i] = Math.max(rows.lastAccess[i], e.timestampMs());
        rows.stability[i] = Math.min(rules.maxStability(), rows.stability[i] * rules.reinforceFactor());
        store.putRows(c, rows);
        return Change.NONE;
    }

    Change associate(SpaceEvent.Associate e) throws Rejection {
        int from = slotOrReject(e.fromId());
        int to = slotOrReject(e.toId());
        SpaceIndex idx = store.index();
        Map<Integer, EdgeChunk> touched = new HashMap<>(4);
        long added = link(idx, touched, from, to, e.weight());
        if (e.bidirectional()) {
            added += link(idx, touched, to, from, e.weight());
        }
        touched.forEach(store::putEdges);
        idx.edges += added;
        idx.graphVersion++;
        store.putIndex(idx);
        return new Change(0, added);
    }

    Change forget(SpaceEvent.Forget e) throws Rejection {
        return forgetSlot(store.index(), slotOrReject(e.memoryId()), e.memoryId());
    }

    /**
     * Forgets the memory in {@code slot} (id {@code memoryId}): its edges in both directions (touching the chunks of
     * its neighbours), its row, vector and content; the slot becomes free.
     */
    Change forgetSlot(SpaceIndex idx, int slot, String memoryId) {
        int c = idx.chunkOf(slot);
        int i = slot - c * idx.chunkSlots;
        long removed = 0;
        EdgeChunk own = store.edges(c);
        if (own != null && (own.out(i) != null || own.in(i) != null)) {
            Map<Integer, EdgeChunk> touched = new HashMap<>(8);
            touched.put(c, store.forWrite(own));
            EdgeChunk mine = touched.get(c);
            EdgeList out = mine.out(i);
            if (out != null) {
                for (int j = 0; j < out.extent(); j++) {
                    int t = out.slot(j);
                    if (t >= 0) {
                        edgesOf(idx, touched, t).removeIn(t % idx.chunkSlots, slot);
                        removed++;
                    }
                }
            }
            EdgeList in = mine.in(i);
            if (in != null) {
                for (int j = 0; j < in.extent(); j++) {
                    int s = in.slot(j);
                    if (s >= 0) {
                        edgesOf(idx, touched, s).removeOut(s % idx.chunkSlots, slot);
                        removed++;
                    }
                }
            }
            mine.clear(i);
            touched.forEach((chunk, ec) -> store.putEdges(chunk, ec.isEmpty() ? null : ec));
            idx.edges -= removed;
        }
        RowChunk rows = store.forWrite(store.rows(c));
        rows.free(i);
        store.putRows(c, rows);
        VectorChunk vec = store.forWrite(store.vectors(c));
        vec.clear(i);
        store.putVectors(c, vec);
        store.putContent(slot, null);
        store.removeSlot(memoryId);
        idx.memories--;
        idx.markFree(c, true);
        idx.graphVersion++;
        store.putIndex(idx);
        return new Change(-1, -removed);
    }

    /**
     * The decay sweep: forgets every memory whose retention at {@code atMillis} is below {@code forgetThreshold}
     * (each as a forget would: edges, row, vector, content), reading the row chunks only. An arena overflow of the
     * decay kernel propagates before anything changed.
     *
     * @return the change; {@code -memories()} of it is how many memories were forgotten
     */
    public Change sweep(long atMillis, float forgetThreshold, MemoryKernels kernels) {
        SpaceIndex idx = store.index();
        if (idx == null || idx.memories == 0) {
            return Change.NONE;
        }
        float[] retention = new float[idx.chunkSlots];
        java.util.List<int[]> doomedSlots = new java.util.ArrayList<>();
        java.util.List<String> doomedIds = new java.util.ArrayList<>();
        for (int c = 0; c < idx.chunkCount(); c++) {
            RowChunk rows = store.rows(c);
            if (rows == null || rows.live() == 0) {
                continue;
            }
            int len = idx.slotsIn(c);
            kernels.decayRetention(rows.lastAccess, rows.stability, len, atMillis, retention);
            for (int i = 0; i < len; i++) {
                if (rows.ids[i] != null && retention[i] < forgetThreshold) {
                    doomedSlots.add(new int[] {c * idx.chunkSlots + i});
                    doomedIds.add(rows.ids[i]);
                }
            }
        }
        Change total = Change.NONE;
        for (int d = 0; d < doomedIds.size(); d++) {
            total = total.plus(forgetSlot(store.index(), doomedSlots.get(d)[0], doomedIds.get(d)));
        }
        return total;
    }

    /** Removes everything: what a decay sweep does with a space that is empty and has nothing left to remember. */
    public void clear() {
        store.clear();
    }

    // ----- internals ---------------------------------------------------------------------------------------------

    private int slotOrReject(String memoryId) throws Rejection {
        int slot = store.slotOf(memoryId);
        if (slot < 0) {
            throw new Rejection(Reason.UNKNOWN_MEMORY, "memory '" + abbreviate(memoryId) + "' is not in the space");
        }
        return slot;
    }

    /** The lowest free slot of the lowest chunk that has one, else a new slot at the end. */
    private int allocate(SpaceIndex idx) {
        int c = idx.firstChunkWithFreeSlot();
        if (c >= 0) {
            RowChunk rows = store.rows(c);
            int i = rows == null ? 0 : rows.firstFree();
            if (i >= 0 && i < idx.slotsIn(c)) {
                return c * idx.chunkSlots + i;
            }
            idx.markFree(c, false); // stale bit: repair it and append instead
        }
        if (idx.slotCount == Integer.MAX_VALUE) {
            throw new IllegalStateException("space has no slot left");
        }
        idx.graphVersion++; // the graph's node range grows
        return idx.slotCount++;
    }

    /** Chunk c's rows, writable, with room for chunk slot {@code i}. */
    private RowChunk rowsForWrite(SpaceIndex idx, int c, int i) {
        RowChunk rows = store.rows(c);
        if (rows == null) {
            return new RowChunk(idx.capacityFor(i + 1));
        }
        return rows.slots() > i ? store.forWrite(rows) : rows.grownTo(idx.capacityFor(i + 1));
    }

    /** Chunk c's vectors, writable, with room for chunk slot {@code i}. */
    private VectorChunk vectorsForWrite(SpaceIndex idx, int c, int i) {
        VectorChunk vec = store.vectors(c);
        if (vec == null) {
            return new VectorChunk(idx.capacityFor(i + 1), idx.dim);
        }
        return vec.slots() > i ? store.forWrite(vec) : vec.grownTo(idx.capacityFor(i + 1));
    }

    /** Adds or re-weights from → to in the chunks collected in {@code touched}; 1 if the edge is new. */
    private long link(SpaceIndex idx, Map<Integer, EdgeChunk> touched, int from, int to, float weight) {
        if (!edgesOf(idx, touched, from).putOut(from % idx.chunkSlots, to, weight)) {
            return 0;
        }
        edgesOf(idx, touched, to).putIn(to % idx.chunkSlots, from);
        return 1;
    }

    /** The writable edge chunk of {@code slot}, loaded (or created) once per event, with room for the slot. */
    private EdgeChunk edgesOf(SpaceIndex idx, Map<Integer, EdgeChunk> touched, int slot) {
        int c = idx.chunkOf(slot);
        int i = slot % idx.chunkSlots;
        EdgeChunk ec = touched.get(c);
        if (ec == null) {
            ec = store.edges(c);
            ec = ec == null ? new EdgeChunk(idx.capacityFor(idx.slotsIn(c))) : store.forWrite(ec);
        }
        if (ec.slots() <= i) {
            ec = ec.grownTo(idx.capacityFor(idx.slotsIn(c)));
        }
        touched.put(c, ec);
        return ec;
    }

    /** Vectors whose largest component lies in [2^-50, 2^50] are stored as given. */
    private static final int SAFE_EXPONENT = 50;

    /**
     * The vector as the space stores it (and as a cue is compared): unchanged when its largest component lies in
     * [2^-50, 2^50], which every ordinary embedding does; otherwise multiplied by the power of two that brings its
     * largest component into [1, 2). Scaling by a power of two is exact and cosine ignores scale, so similarities are
     * those of the vector as sent, while the f32 dot products and norms of the kernels can neither overflow
     * (components near FLT_MAX) nor underflow to zero (denormal components): every finite non-zero vector can be
     * recalled. A zero vector stays zero (similar to nothing).
     */
    public static float[] scaled(float[] v) {
        float max = 0f;
        for (float x : v) {
            max = Math.max(max, Math.abs(x));
        }
        if (max == 0f || Float.isNaN(max) || Float.isInfinite(max)) {
            return v.clone();
        }
        int e = Math.getExponent(max);
        if (e >= -SAFE_EXPONENT && e <= SAFE_EXPONENT) {
            return v.clone();
        }
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = Math.scalb(v[i], -e);
        }
        return out;
    }

    /** The Euclidean norm of a (scaled) vector, computed in f64. */
    public static float norm(float[] v, int from, int dim) {
        double sum = 0;
        for (int i = from; i < from + dim; i++) {
            sum += (double) v[i] * v[i];
        }
        return (float) Math.sqrt(sum);
    }

    static String abbreviate(String s) {
        return s.length() <= 70 ? s : s.substring(0, 67) + "...";
    }
}
