package io.engram.job.e2e;

import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallResult;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Compares job answers with the reference model's, and with each other.
 *
 * <p>Tolerances (reference in double vs the job's f32 kernels): similarity and activation 2e-5 absolute (f32 sums
 * over at most 64 dimensions, and a few f32 spreading steps); retention and score 1e-5 absolute plus 1e-4 relative
 * (products of those, and exp in f32). Hops are exact. Hits must be the same memories; the order must be the
 * reference order, except that two hits whose expected scores are within {@link #TIE} of each other may swap. The
 * job's own order must be strictly by (score desc, memory id asc) on the floats it reports.
 */
final class Answers {
    static final double SIM_ABS = 2e-5;
    static final double ACT_ABS = 2e-5;
    static final double ABS = 1e-5;
    static final double REL = 1e-4;
    /** Relative score difference under which two hits count as tied (the generator avoids such k boundaries). */
    static final double TIE = 1e-4;

    private Answers() {
    }

    /** Every mismatch between a job result and the expectation, as text; empty when it matches. */
    static List<String> mismatches(RecallResult r, ReferenceModel.Answer expected, String expectedMode) {
        List<String> bad = new ArrayList<>();
        if (!expectedMode.equals(r.getKernelMode())) {
            bad.add("kernel_mode " + r.getKernelMode() + ", expected " + expectedMode);
        }
        List<RecallHit> got = r.getHits();
        List<ReferenceModel.RefHit> want = expected.hits();
        Map<String, ReferenceModel.RefHit> wantById = new HashMap<>();
        want.forEach(h -> wantById.put(h.memoryId(), h));
        Set<String> gotIds = new TreeSet<>();
        got.forEach(h -> gotIds.add(h.getMemoryId()));
        if (!gotIds.equals(new TreeSet<>(wantById.keySet())) || got.size() != want.size()) {
            bad.add("hits " + ids(got) + ", expected " + want.stream().map(ReferenceModel.RefHit::memoryId).toList());
            return bad;
        }
        for (int i = 0; i < got.size(); i++) {
            RecallHit g = got.get(i);
            ReferenceModel.RefHit w = wantById.get(g.getMemoryId());
            ReferenceModel.RefHit atPos = want.get(i);
            if (!atPos.memoryId().equals(g.getMemoryId()) && !tied(atPos.score(), w.score())) {
                bad.add("position " + i + " holds " + g.getMemoryId() + " (expected score " + w.score()
                        + "), expected " + atPos.memoryId() + " (score " + atPos.score() + ")");
            }
            check(bad, g.getMemoryId() + ".similarity", g.getSimilarity(), w.similarity(), SIM_ABS, 0);
            check(bad, g.getMemoryId() + ".activation", g.getActivation(), w.activation(), ACT_ABS, 0);
            check(bad, g.getMemoryId() + ".retention", g.getRetention(), w.retention(), ABS, REL);
            check(bad, g.getMemoryId() + ".score", g.getScore(), w.score(), ABS, REL);
            if (g.getHops() != w.hops()) {
                bad.add(g.getMemoryId() + ".hops " + g.getHops() + ", expected " + w.hops());
            }
            if (i > 0) {
                RecallHit p = got.get(i - 1);
                boolean ordered = p.getScore() > g.getScore()
                        || (p.getScore() == g.getScore() && p.getMemoryId().compareTo(g.getMemoryId()) < 0);
                if (!ordered) {
                    bad.add("the job's own order is not (score desc, id asc) at position " + i + ": "
                            + p.getMemoryId() + "=" + p.getScore() + " before " + g.getMemoryId() + "=" + g.getScore());
                }
            }
        }
        return bad;
    }

    /** Mismatches between two job answers to the same query (e.g. before and after a restore). */
    static List<String> sameAnswer(RecallResult a, RecallResult b) {
        List<String> bad = new ArrayList<>();
        List<RecallHit> x = a.getHits();
        List<RecallHit> y = b.getHits();
        if (!new TreeSet<>(ids(x)).equals(new TreeSet<>(ids(y))) || x.size() != y.size()) {
            bad.add("hits " + ids(x) + " vs " + ids(y));
            return bad;
        }
        Map<String, RecallHit> byId = new HashMap<>();
        y.forEach(h -> byId.put(h.getMemoryId(), h));
        for (int i = 0; i < x.size(); i++) {
            RecallHit h = x.get(i);
            RecallHit o = byId.get(h.getMemoryId());
            if (!y.get(i).getMemoryId().equals(h.getMemoryId()) && !tied(h.getScore(), y.get(i).getScore())) {
                bad.add("order differs at " + i + ": " + ids(x) + " vs " + ids(y));
            }
            check(bad, h.getMemoryId() + ".similarity", h.getSimilarity(), o.getSimilarity(), 2 * SIM_ABS, 0);
            check(bad, h.getMemoryId() + ".activation", h.getActivation(), o.getActivation(), 2 * ACT_ABS, 0);
            check(bad, h.getMemoryId() + ".retention", h.getRetention(), o.getRetention(), 2 * ABS, 2 * REL);
            check(bad, h.getMemoryId() + ".score", h.getScore(), o.getScore(), 2 * ABS, 2 * REL);
            if (h.getHops() != o.getHops()) {
                bad.add(h.getMemoryId() + ".hops " + h.getHops() + " vs " + o.getHops());
            }
        }
        return bad;
    }

    static boolean tied(double a, double b) {
        return Math.abs(a - b) <= TIE * Math.max(Math.abs(a), Math.abs(b)) + 1e-12;
    }

    private static void check(List<String> bad, String what, double got, double want, double abs, double rel) {
        if (!(Math.abs(got - want) <= abs + rel * Math.abs(want))) {
            bad.add(what + " " + got + ", expected " + want + " (tolerance " + abs + " + " + rel + " relative)");
        }
    }

    static List<String> ids(List<RecallHit> hits) {
        return hits.stream().map(RecallHit::getMemoryId).toList();
    }
}
