package io.engram.job.bench;

import io.engram.schemas.RecallHit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Random;

/**
 * The brute-force reference for recall answers of the benchmark's spaces: it regenerates every stored embedding from
 * the ingest seed (so it needs no memory for them, even at 1M × 768d) and ranks by exact cosine in f64. The spaces
 * have no edges and every memory has the same strength, stability and last access, so the recall contract's ranking
 * (score = activation · retention · strength, activation of a seed = its similarity) is the ranking by similarity:
 * a correct answer is the reference's top k, up to the kernels' cosine tolerance (a swap of two hits is allowed only
 * where their similarities differ by less than it).
 */
final class RecallReference {
    /** The recall contract's cosine tolerance between kernel modes (docs/internal/recall_contract.md). */
    static final double TOLERANCE = 1e-5;

    record Query(String id, String space, float[] cue) {
    }

    record RefHit(String memoryId, double similarity) {
    }

    /** Receives every stored embedding in the order the benchmark produces them. */
    interface Visitor {
        void stored(int memory, int spaceIndex, float[] embedding);
    }

    private RecallReference() {
    }

    /**
     * The stored embeddings, in produce order: for memory i = 0.., for each space, a random unit vector (memory id
     * {@code "m" + i}). The ingest producer and the reference both use this, so they see the same vectors.
     */
    static void forEachStored(long seed, int memories, int dim, int spaces, Visitor v) {
        Random rnd = new Random(seed);
        for (int i = 0; i < memories; i++) {
            for (int s = 0; s < spaces; s++) {
                v.stored(i, s, EndToEndBenchmark.unitVector(rnd, dim));
            }
        }
    }

    /** The reference top {@code k + extra} of each query (best first), from one pass over the regenerated vectors. */
    static Map<String, List<RefHit>> topK(long seed, int memories, int dim, List<String> spaces, List<Query> queries,
                                          int k, int extra) {
        int keep = k + extra;
        Map<Integer, List<Integer>> bySpace = new HashMap<>();
        double[] cueNorm = new double[queries.size()];
        List<PriorityQueue<RefHit>> heaps = new ArrayList<>();
        Comparator<RefHit> worstFirst = Comparator.comparingDouble(RefHit::similarity)
                .thenComparing(RefHit::memoryId, Comparator.reverseOrder());
        for (int q = 0; q < queries.size(); q++) {
            int s = spaces.indexOf(queries.get(q).space());
            if (s < 0) {
                throw new IllegalArgumentException("query " + queries.get(q).id() + " names an unknown space");
            }
            bySpace.computeIfAbsent(s, x -> new ArrayList<>()).add(q);
            cueNorm[q] = norm(queries.get(q).cue());
            heaps.add(new PriorityQueue<>(worstFirst));
        }
        forEachStored(seed, memories, dim, spaces.size(), (i, s, v) -> {
            List<Integer> qs = bySpace.get(s);
            if (qs == null) {
                return;
            }
            double vn = norm(v);
            for (int q : qs) {
                float[] c = queries.get(q).cue();
                double dot = 0;
                for (int d = 0; d < dim; d++) {
                    dot += (double) c[d] * v[d];
                }
                double sim = vn == 0 || cueNorm[q] == 0 ? 0 : dot / (vn * cueNorm[q]);
                PriorityQueue<RefHit> h = heaps.get(q);
                RefHit hit = new RefHit("m" + i, sim);
                if (h.size() < keep) {
                    h.add(hit);
                } else if (worstFirst.compare(hit, h.peek()) > 0) {
                    h.poll();
                    h.add(hit);
                }
            }
        });
        Map<String, List<RefHit>> out = new LinkedHashMap<>();
        for (int q = 0; q < queries.size(); q++) {
            List<RefHit> best = new ArrayList<>(heaps.get(q));
            best.sort(worstFirst.reversed());
            out.put(queries.get(q).id(), best);
        }
        return out;
    }

    /**
     * Compares the job's answers with the reference: per query, hit j must be a memory whose reference similarity
     * equals the reference's j-th best within {@link #TOLERANCE} (the same ranking up to near-ties), and the
     * similarity the job reports must equal that memory's reference similarity within it; there must be exactly
     * {@code min(k, memories)} hits.
     */
    static Map<String, Object> compare(Map<String, List<RefHit>> reference, Map<String, List<RecallHit>> answers,
                                       int expectedHits) {
        long checked = 0;
        long matched = 0;
        long identical = 0;
        double maxError = 0;
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, List<RefHit>> e : reference.entrySet()) {
            checked++;
            List<RecallHit> got = answers.get(e.getKey());
            String problem = null;
            if (got == null) {
                problem = "no answer";
            } else if (got.size() != expectedHits) {
                problem = got.size() + " hits, expected " + expectedHits;
            } else {
                Map<String, Double> refSim = new HashMap<>();
                e.getValue().forEach(h -> refSim.put(h.memoryId(), h.similarity()));
                boolean same = true;
                for (int j = 0; j < got.size() && problem == null; j++) {
                    RecallHit h = got.get(j);
                    Double sim = refSim.get(h.getMemoryId());
                    double rank = e.getValue().get(j).similarity();
                    if (sim == null) {
                        problem = "hit " + j + " " + h.getMemoryId() + " is not among the reference's best";
                    } else if (Math.abs(sim - rank) > TOLERANCE) {
                        problem = "hit " + j + " " + h.getMemoryId() + " has similarity " + sim + ", the reference's "
                                + j + "-th best " + rank;
                    } else {
                        double err = Math.abs(h.getSimilarity() - sim);
                        maxError = Math.max(maxError, err);
                        if (err > TOLERANCE) {
                            problem = "hit " + j + " " + h.getMemoryId() + ": similarity " + h.getSimilarity()
                                    + ", reference " + sim;
                        }
                    }
                    same &= h.getMemoryId().equals(e.getValue().get(j).memoryId());
                }
                identical += problem == null && same ? 1 : 0;
            }
            if (problem == null) {
                matched++;
            } else if (problems.size() < 5) {
                problems.add(e.getKey() + ": " + problem);
            }
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("queries", checked);
        m.put("matched", matched);
        m.put("identical_order", identical);
        m.put("max_similarity_error", maxError);
        m.put("tolerance", TOLERANCE);
        m.put("problems", problems);
        m.put("ok", checked > 0 && matched == checked);
        return m;
    }

    private static double norm(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }
}
