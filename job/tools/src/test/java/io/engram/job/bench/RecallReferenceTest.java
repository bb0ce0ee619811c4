package io.engram.job.bench;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.schemas.RecallHit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The benchmark's brute-force recall reference and its comparison with the job's answers. */
class RecallReferenceTest {
    private static final List<String> SPACES = List.of("a", "b", "c");

    @Test
    void topKIsTheExactRankingOverTheRegeneratedVectors() {
        for (long seed = 1; seed <= 5; seed++) {
            int memories = 200 + (int) seed * 37;
            int dim = 3 + (int) seed * 5;
            Map<String, List<float[]>> stored = new HashMap<>();
            RecallReference.forEachStored(seed, memories, dim, SPACES.size(),
                    (i, s, v) -> stored.computeIfAbsent(SPACES.get(s), x -> new ArrayList<>()).add(v));
            Random rnd = new Random(seed * 7);
            List<RecallReference.Query> queries = new ArrayList<>();
            for (int q = 0; q < 9; q++) {
                queries.add(new RecallReference.Query("q" + q, SPACES.get(q % 3), EndToEndBenchmark.unitVector(rnd,
                        dim)));
            }
            Map<String, List<RecallReference.RefHit>> ref = RecallReference.topK(seed, memories, dim, SPACES, queries,
                    10, 4);
            for (RecallReference.Query q : queries) {
                List<RecallReference.RefHit> all = new ArrayList<>();
                List<float[]> vs = stored.get(q.space());
                for (int i = 0; i < vs.size(); i++) {
                    all.add(new RecallReference.RefHit("m" + i, cosine(q.cue(), vs.get(i))));
                }
                all.sort(Comparator.comparingDouble(RecallReference.RefHit::similarity).reversed()
                        .thenComparing(RecallReference.RefHit::memoryId));
                List<RecallReference.RefHit> got = ref.get(q.id());
                assertThat(got).extracting(RecallReference.RefHit::memoryId)
                        .containsExactlyElementsOf(all.subList(0, 14).stream().map(RecallReference.RefHit::memoryId)
                                .toList());
                for (int j = 0; j < got.size(); j++) {
                    assertThat(got.get(j).similarity()).isCloseTo(all.get(j).similarity(),
                            org.assertj.core.data.Offset.offset(1e-12));
                }
            }
        }
    }

    @Test
    void answersEqualToTheReferencePassAndDeviationsFail() {
        Random rnd = new Random(3);
        List<RecallReference.Query> queries = new ArrayList<>();
        for (int q = 0; q < 6; q++) {
            queries.add(new RecallReference.Query("q" + q, SPACES.get(q % 3), EndToEndBenchmark.unitVector(rnd, 16)));
        }
        Map<String, List<RecallReference.RefHit>> ref = RecallReference.topK(11, 500, 16, SPACES, queries, 5, 8);
        Map<String, List<RecallHit>> good = answers(ref, 5);
        assertThat(RecallReference.compare(ref, good, 5)).containsEntry("ok", true).containsEntry("matched", 6L)
                .containsEntry("identical_order", 6L);

        // a similarity off by more than the tolerance
        Map<String, List<RecallHit>> bad = answers(ref, 5);
        RecallHit h = bad.get("q2").get(1);
        h.setSimilarity(h.getSimilarity() + 1e-3f);
        assertThat(RecallReference.compare(ref, bad, 5)).containsEntry("ok", false).containsEntry("matched", 5L);

        // two hits whose similarities differ by more than the tolerance, swapped
        bad = answers(ref, 5);
        List<RecallHit> q3 = new ArrayList<>(bad.get("q3"));
        RecallHit first = q3.get(0);
        q3.set(0, q3.get(1));
        q3.set(1, first);
        bad.put("q3", q3);
        assertThat(ref.get("q3").get(0).similarity() - ref.get("q3").get(1).similarity()).isGreaterThan(1e-5);
        assertThat(RecallReference.compare(ref, bad, 5)).containsEntry("ok", false);

        // a hit that is not among the best, a missing answer, a short answer
        bad = answers(ref, 5);
        bad.get("q4").set(4, hit("m-unknown", 0.9));
        assertThat(RecallReference.compare(ref, bad, 5)).containsEntry("ok", false);
        bad = answers(ref, 5);
        bad.remove("q5");
        assertThat(RecallReference.compare(ref, bad, 5)).containsEntry("ok", false);
        bad = answers(ref, 5);
        bad.put("q0", bad.get("q0").subList(0, 4));
        assertThat(RecallReference.compare(ref, bad, 5)).containsEntry("ok", false);
        assertThat(RecallReference.compare(Map.of(), Map.of(), 5)).containsEntry("ok", false);
    }

    @Test
    void nearTiesMaySwap() {
        List<RecallReference.RefHit> r = List.of(new RecallReference.RefHit("m1", 0.5),
                new RecallReference.RefHit("m2", 0.5 - 1e-7), new RecallReference.RefHit("m3", 0.4));
        Map<String, List<RecallReference.RefHit>> ref = Map.of("q", r);
        Map<String, List<RecallHit>> got = Map.of("q", List.of(hit("m2", 0.5 - 1e-7), hit("m1", 0.5)));
        assertThat(RecallReference.compare(ref, got, 2)).containsEntry("ok", true)
                .containsEntry("identical_order", 0L);
    }

    private static Map<String, List<RecallHit>> answers(Map<String, List<RecallReference.RefHit>> ref, int k) {
        Map<String, List<RecallHit>> out = new LinkedHashMap<>();
        ref.forEach((id, hits) -> {
            List<RecallHit> l = new ArrayList<>();
            for (RecallReference.RefHit r : hits.subList(0, k)) {
                l.add(hit(r.memoryId(), r.similarity()));
            }
            out.put(id, l);
        });
        return out;
    }

    private static RecallHit hit(String id, double sim) {
        return new RecallHit(id, (float) sim, (float) sim, (float) sim, 1f, 0, null);
    }

    private static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }
}
