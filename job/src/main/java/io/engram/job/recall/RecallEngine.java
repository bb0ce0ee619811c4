package io.engram.job.recall;

import io.engram.job.state.SpaceState;
import io.engram.kernels.MemoryKernels;
import java.util.ArrayList;
import java.util.List;

/**
 * The recall contract (docs/internal/recall_contract.md), on top of the three kernels:
 *
 * <ol>
 *   <li>retention[i] = decay(lastAccess[i], stability[i], at) and similarity[i] = cosine(cue, embedding[i]);</li>
 *   <li>seeds: the {@code seedK} memories with similarity &gt; 0 ranked by (similarity desc, memory id asc), each
 *       seeded with its similarity;</li>
 *   <li>activation = spreading over the association graph with the query's maxHops, hopDecay, threshold;</li>
 *   <li>score[i] = activation[i] · retention[i] · strength[i]; the top {@code k} with score &gt; 0, ranked by
 *       (score desc, memory id asc).</li>
 * </ol>
 *
 * Queries never mutate the space. Scratch arrays are reused across queries (one engine per subtask).
 */
public final class RecallEngine {
    private float[] retention = new float[0];
    private float[] similarity = new float[0];
    private float[] activation = new float[0];
    private int[] firstHop = new int[0];
    /** Batch similarities, queries × memories, row-major; grown on demand. */
    private float[] batchSimilarity = new float[0];

    public List<Hit> recall(SpaceState space, float[] cue, long atMillis, int k, int seedK, int maxHops,
                            float hopDecay, float threshold, MemoryKernels kernels) {
        int n = space.size();
        if (n == 0) {
            return List.of();
        }
        ensure(n);
        int dim = space.dim();
        assert cue.length == dim : "the operator checks the cue's dimension";
        kernels.decayRetention(space.lastAccess(), space.stability(), n, atMillis, retention);
        kernels.cosineSimilarity(cue, space.embeddings(), dim, 0, n, similarity);
        return rank(space, similarity, 0, k, seedK, maxHops, hopDecay, threshold, kernels);
    }

    /**
     * Step 2 of the contract for {@code count} cues at once, in one pass of the batched similarity kernel over the
     * space's embeddings: cue {@code q} is {@code cues[q·dim .. q·dim + dim - 1]}. Returns the similarities,
     * {@code [q·n + i]} for cue q and memory row i; valid until the next call of this engine. Hand each cue's slice
     * to {@link #recallWithSimilarity}.
     */
    public float[] similarities(SpaceState space, float[] cues, int count, MemoryKernels kernels) {
        int n = space.size();
        int dim = space.dim();
        assert cues.length >= count * dim : "the operator checks every cue's dimension";
        long cells = (long) count * n;
        if (cells > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException(count + " cues x " + n + " memories do not fit one score array");
        }
        if (batchSimilarity.length < cells) {
            batchSimilarity = new float[(int) Math.max(cells, Math.min(Integer.MAX_VALUE - 8L,
                    2L * batchSimilarity.length))];
        }
        if (count == 1) {
            // One cue is the single-query kernel's job: same call (and answer) as unbatched recall.
            float[] cue = cues.length == dim ? cues : java.util.Arrays.copyOf(cues, dim);
            kernels.cosineSimilarity(cue, space.embeddings(), dim, 0, n, batchSimilarity);
        } else {
            kernels.cosineSimilarityBatch(cues, count, space.embeddings(), dim, 0, n, batchSimilarity);
        }
        return batchSimilarity;
    }

    /**
     * {@link #recall} with step 2 already done: {@code similarity[offset .. offset + n - 1]} are the cue's
     * similarities (from {@link #similarities}). Computes retention at {@code atMillis} and steps 3 to 6.
     */
    public List<Hit> recallWithSimilarity(SpaceState space, float[] similarity, int offset, long atMillis, int k,
                                          int seedK, int maxHops, float hopDecay, float threshold,
                                          MemoryKernels kernels) {
        int n = space.size();
        if (n == 0) {
            return List.of();
        }
        ensure(n);
        kernels.decayRetention(space.lastAccess(), space.stability(), n, atMillis, retention);
        return rank(space, similarity, offset, k, seedK, maxHops, hopDecay, threshold, kernels);
    }

    /** Steps 3 to 6, with {@code retention} filled and the similarities at {@code sim[off ..]}. */
    private List<Hit> rank(SpaceState space, float[] sim, int off, int k, int seedK, int maxHops, float hopDecay,
                           float threshold, MemoryKernels kernels) {
        int n = space.size();
        TopRows seeds = new TopRows(Math.min(seedK, n));
        for (int i = 0; i < n; i++) {
            if (sim[off + i] > 0f) {
                seeds.offer(i, sim[off + i], space.id(i));
            }
        }
        int[] seedRows = seeds.sortedRows();
        if (seedRows.length == 0) {
            return List.of();
        }
        float[] seedActivations = new float[seedRows.length];
        for (int i = 0; i < seedRows.length; i++) {
            seedActivations[i] = sim[off + seedRows[i]];
        }
        kernels.spreadActivation(space.graph(), seedRows, seedActivations, seedRows.length, maxHops, hopDecay,
                threshold, activation, firstHop);

        float[] strength = space.strength();
        TopRows best = new TopRows(Math.min(k, n));
        for (int i = 0; i < n; i++) {
            float score = activation[i] * retention[i] * strength[i];
            if (score > 0f) {
                best.offer(i, score, space.id(i));
            }
        }
        int[] rows = best.sortedRows();
        List<Hit> hits = new ArrayList<>(rows.length);
        for (int r : rows) {
            hits.add(new Hit(space.id(r), activation[r] * retention[r] * strength[r], sim[off + r], activation[r],
                    retention[r], firstHop[r]));
        }
        return hits;
    }

    /** Retention of every memory at {@code atMillis}, for the decay sweep; valid up to {@code space.size()}. */
    public float[] retention(SpaceState space, long atMillis, MemoryKernels kernels) {
        int n = space.size();
        ensure(n);
        kernels.decayRetention(space.lastAccess(), space.stability(), n, atMillis, retention);
        return retention;
    }

    private void ensure(int n) {
        if (retention.length < n) {
            int cap = Math.max(n, retention.length * 2);
            retention = new float[cap];
            similarity = new float[cap];
            activation = new float[cap];
            firstHop = new int[cap];
        }
    }
}
