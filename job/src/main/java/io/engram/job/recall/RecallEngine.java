package io.engram.job.recall;

import io.engram.job.space.MemorySpace;
import io.engram.job.state.RowChunk;
import io.engram.job.state.SpaceIndex;
import io.engram.job.state.VectorChunk;
import io.engram.kernels.MemoryKernels;
import io.engram.kernels.Norms;
import java.util.ArrayList;
import java.util.List;

/**
 * The recall contract (docs/internal/recall_contract.md) over a chunked space, on top of the three kernels:
 *
 * <ol>
 *   <li>retention at the query's time (decay kernel), of the memories that can score: those step 4 reaches;</li>
 *   <li>similarity of the cue to every stored embedding (the stored-norm cosine kernel, one pass per chunk for all
 *       cues, against the norms each chunk keeps), chunk by chunk into one array over the space's slots; cue and
 *       embeddings as {@link MemorySpace#scaled} keeps them;</li>
 *   <li>seeds: the {@code seedK} memories with similarity &gt; 0 ranked by (similarity desc, memory id asc);</li>
 *   <li>activation = spreading over the association graph of slots;</li>
 *   <li>score = activation · retention · strength; the top {@code k} with score &gt; 0, ranked by (score desc, memory id
 *       asc).</li>
 * </ol>
 *
 * Free slots (forgotten memories) are skipped. Queries never change the space. Scratch arrays are reused across
 * queries (one engine per subtask).
 */
public final class RecallEngine {
    private float[] activation = new float[0];
    private int[] firstHop = new int[0];
    /** The memories the spreading reached, in slot order, with the inputs and outputs of their decay. */
    private int[] reachedSlots = new int[0];
    private long[] reachedLastAccess = new long[0];
    private float[] reachedStability = new float[0];
    private float[] reachedRetention = new float[0];
    private float[] chunkScratch = new float[0];
    /** Similarities, cues × slots, row-major; grown on demand. */
    private float[] similarity = new float[0];

    /** One query, answered on its own. */
    public List<Hit> recall(MemorySpace space, float[] cue, long atMillis, RecallParams p, MemoryKernels kernels) {
        SpaceIndex idx = space.index();
        if (idx == null || idx.memories == 0) {
            return List.of();
        }
        float[] sims = similarities(space, cue, 1, kernels);
        return recallWithSimilarity(space, sims, 0, atMillis, p, kernels);
    }

    /**
     * Step 2 for {@code count} cues at once ({@code cues[q·dim ..]} is cue q, as sent: it is scaled here like stored
     * vectors), in one pass
     * over the space's vector chunks. Returns the similarities, {@code [q·slots + s]} for cue q and slot s; valid until
     * the next call of this engine. Hand each cue's part to {@link #recallWithSimilarity}.
     */
    public float[] similarities(MemorySpace space, float[] cues, int count, MemoryKernels kernels) {
        SpaceIndex idx = space.index();
        int slots = idx.slotCount;
        int dim = idx.dim;
        assert cues.length >= count * dim : "the operator checks every cue's dimension";
        long cells = (long) count * slots;
        if (cells > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(count + " cues x " + slots + " slots do not fit one score array");
        }
        if (similarity.length < cells) {
            similarity = new float[(int) Math.max(cells, Math.min(Integer.MAX_VALUE - 8L, 2L * similarity.length))];
        }
        float[] scaledCues = new float[count * dim];
        float[] cueNorms = new float[count];
        float[] cue = new float[dim];
        for (int q = 0; q < count; q++) {
            System.arraycopy(cues, q * dim, cue, 0, dim);
            float[] scaled = MemorySpace.scaled(cue);
            System.arraycopy(scaled, 0, scaledCues, q * dim, dim);
            cueNorms[q] = Norms.of(scaled);
        }
        ensureChunkScratch(count * idx.chunkSlots);
        for (int c = 0; c < idx.chunkCount(); c++) {
            VectorChunk vec = space.vectors(c);
            int len = idx.slotsIn(c);
            int base = c * idx.chunkSlots;
            if (vec == null) {
                for (int q = 0; q < count; q++) {
                    java.util.Arrays.fill(similarity, q * slots + base, q * slots + base + len, 0f);
                }
                continue;
            }
            // The chunk keeps each row's norm (computed at insert, as Norms.of does), so only the dot products are
            // computed here, for all cues in one pass over the chunk.
            kernels.cosineSimilarityNormed(scaledCues, cueNorms, count, vec.data, vec.norms, dim, 0, len,
                    chunkScratch);
            for (int q = 0; q < count; q++) {
                System.arraycopy(chunkScratch, q * len, similarity, q * slots + base, len);
            }
        }
        return similarity;
    }

    /**
     * {@link #recall} with step 2 done: {@code sims[offset .. offset + slots - 1]} are the cue's similarities (from
     * {@link #similarities}). Computes retention at {@code atMillis} and steps 3 to 5.
     */
    public List<Hit> recallWithSimilarity(MemorySpace space, float[] sims, int offset, long atMillis, RecallParams p,
                                          MemoryKernels kernels) {
        SpaceIndex idx = space.index();
        if (idx == null || idx.memories == 0) {
            return List.of();
        }
        int slots = idx.slotCount;
        ensure(slots);
        RowChunk[] rows = new RowChunk[idx.chunkCount()];
        TopRows seeds = new TopRows(Math.min(p.seedK(), idx.memories));
        for (int c = 0; c < rows.length; c++) {
            RowChunk r = space.rows(c);
            rows[c] = r;
            if (r == null) {
                continue;
            }
            int len = idx.slotsIn(c);
            int base = c * idx.chunkSlots;
            for (int i = 0; i < len; i++) {
                float s = sims[offset + base + i];
                // Once the seeds are full, almost every similarity is below the worst kept one: this test fails
                // predictably, where "s > 0" alone is a coin toss for the branch predictor. Equal ones still go
                // in: their ids decide.
                if (s >= seeds.floor() && s > 0f && r.ids[i] != null) {
                    seeds.offer(base + i, s, r.ids[i]);
                }
            }
        }
        int[] seedSlots = seeds.sortedRows();
        if (seedSlots.length == 0) {
            return List.of();
        }
        float[] seedActivations = new float[seedSlots.length];
        for (int i = 0; i < seedSlots.length; i++) {
            seedActivations[i] = sims[offset + seedSlots[i]];
        }
        kernels.spreadActivation(space.graph(), seedSlots, seedActivations, seedSlots.length, p.maxHops(),
                p.hopDecay(), p.threshold(), activation, firstHop);

        // Only a memory the spreading reached can score above 0 (activation 0 gives 0, or NaN with an infinite
        // factor, neither of which ranks), so retention, elementwise in both kernels, is computed for those alone:
        // one decay call over the reached memories instead of one per chunk over all of them.
        int reached = 0;
        for (int c = 0; c < rows.length; c++) {
            RowChunk r = rows[c];
            if (r == null) {
                continue;
            }
            int base = c * idx.chunkSlots;
            int len = idx.slotsIn(c);
            for (int i = 0; i < len; i++) {
                if (activation[base + i] != 0f && r.ids[i] != null) {
                    reachedSlots[reached] = base + i;
                    reachedLastAccess[reached] = r.lastAccess[i];
                    reachedStability[reached] = r.stability[i];
                    reached++;
                }
            }
        }
        if (reached > 0) {
            kernels.decayRetention(reachedLastAccess, reachedStability, reached, atMillis, reachedRetention);
        }
        // The heap holds j, the memory's place among the reached ones (ties are decided by id, not by what it holds).
        TopRows best = new TopRows(Math.min(p.k(), idx.memories));
        for (int j = 0; j < reached; j++) {
            int s = reachedSlots[j];
            RowChunk r = rows[s / idx.chunkSlots];
            int i = s % idx.chunkSlots;
            float score = activation[s] * reachedRetention[j] * r.strength[i];
            if (score > 0f) {
                best.offer(j, score, r.ids[i]);
            }
        }
        int[] top = best.sortedRows();
        List<Hit> hits = new ArrayList<>(top.length);
        for (int j : top) {
            int s = reachedSlots[j];
            RowChunk r = rows[s / idx.chunkSlots];
            int i = s % idx.chunkSlots;
            float retention = reachedRetention[j];
            hits.add(new Hit(r.ids[i], s, activation[s] * retention * r.strength[i], sims[offset + s],
                    activation[s], retention, firstHop[s]));
        }
        return hits;
    }

    private void ensure(int n) {
        if (activation.length < n) {
            int cap = Math.max(n, activation.length * 2);
            activation = new float[cap];
            firstHop = new int[cap];
            reachedSlots = new int[cap];
            reachedLastAccess = new long[cap];
            reachedStability = new float[cap];
            reachedRetention = new float[cap];
        }
    }

    private void ensureChunkScratch(int n) {
        if (chunkScratch.length < n) {
            chunkScratch = new float[n];
        }
    }
}
