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

        TopRows seeds = new TopRows(Math.min(seedK, n));
        for (int i = 0; i < n; i++) {
            if (similarity[i] > 0f) {
                seeds.offer(i, similarity[i], space.id(i));
            }
        }
        int[] seedRows = seeds.sortedRows();
        if (seedRows.length == 0) {
            return List.of();
        }
        float[] seedActivations = new float[seedRows.length];
        for (int i = 0; i < seedRows.length; i++) {
            seedActivations[i] = similarity[seedRows[i]];
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
            hits.add(new Hit(space.id(r), activation[r] * retention[r] * strength[r], similarity[r], activation[r],
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
