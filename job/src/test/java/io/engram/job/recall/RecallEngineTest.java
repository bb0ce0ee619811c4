package io.engram.job.recall;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.engram.job.state.SpaceState;
import io.engram.job.state.SpaceStateSerializer;
import io.engram.job.space.InMemorySpaceStore;
import io.engram.job.space.MemorySpace;
import io.engram.kernels.JavaKernels;
import io.engram.kernels.MemoryKernels;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * {@link RecallEngine} with the Java kernels against a brute-force reference written here from the recall contract
 * and {@code SpreadSemantics}: plain loops in double precision, nothing shared with the engine or the kernels.
 */
class RecallEngineTest {
    private static final long NOW = 1_700_000_000_000L;

    // ----- the reference ---------------------------------------------------------------------------------------

    /** What the contract says about one memory. */
    record Ref(String id, double similarity, double retention, double activation, int hops, double score) {
    }

    /** Per memory, by id (every memory, hit or not). */
    static Map<String, Ref> referenceAll(SpaceState s, float[] cue, long at, int seedK, int maxHops, double hopDecay,
                                         double threshold) {
        int n = s.size();
        int dim = s.dim();
        double[] sim = new double[n];
        double[] ret = new double[n];
        double qq = 0;
        for (float x : cue) {
            qq += (double) x * x;
        }
        for (int i = 0; i < n; i++) {
            double dot = 0;
            double cc = 0;
            for (int j = 0; j < dim; j++) {
                double c = s.embeddings()[i * dim + j];
                dot += cue[j] * c;
                cc += c * c;
            }
            sim[i] = qq == 0 || cc == 0 ? 0 : Math.max(-1, Math.min(1, dot / Math.sqrt(qq * cc)));
            long age = at - s.lastAccess()[i];
            double stab = s.stability()[i];
            if (age <= 0) {
                ret[i] = 1;
            } else if (!(stab > 0)) {
                ret[i] = 0;
            } else {
                double x = -(age / 1000.0) / stab;
                ret[i] = x < -87 ? 0 : Math.exp(x);
            }
        }
        // seeds: similarity > 0, best seedK by (similarity desc, id asc)
        List<Integer> candidates = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (sim[i] > 0) {
                candidates.add(i);
            }
        }
        candidates.sort(Comparator.<Integer>comparingDouble(i -> -sim[i]).thenComparing(i -> s.id(i)));
        List<Integer> seeds = candidates.subList(0, Math.min(seedK, candidates.size()));

        // spreading, per SpreadSemantics
        double[] act = new double[n];
        int[] hop = new int[n];
        java.util.Arrays.fill(hop, -1);
        TreeSet<Integer> frontier = new TreeSet<>();
        for (int sd : seeds) {
            act[sd] = Math.max(0, Math.min(1, sim[sd]));
            hop[sd] = 0;
            frontier.add(sd);
        }
        List<List<int[]>> out = new ArrayList<>();
        List<List<Double>> outW = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new ArrayList<>());
            outW.add(new ArrayList<>());
        }
        for (int e = 0; e < s.edgeCount(); e++) {
            out.get(s.edgeFrom(e)).add(new int[] {s.edgeTo(e)});
            outW.get(s.edgeFrom(e)).add((double) s.edgeWeight(e));
        }
        for (int h = 1; h <= maxHops && !frontier.isEmpty(); h++) {
            Map<Integer, Double> snapshot = new HashMap<>();
            for (int u : frontier) {
                snapshot.put(u, act[u]);
            }
            TreeSet<Integer> next = new TreeSet<>();
            for (int u : frontier) {
                for (int x = 0; x < out.get(u).size(); x++) {
                    int v = out.get(u).get(x)[0];
                    double c = snapshot.get(u) * outW.get(u).get(x) * hopDecay;
                    if (c < threshold) {
                        continue;
                    }
                    act[v] = Math.min(1, act[v] + c);
                    if (hop[v] == -1) {
                        hop[v] = h;
                    }
                    next.add(v);
                }
            }
            frontier = next;
        }
        Map<String, Ref> all = new HashMap<>();
        for (int i = 0; i < n; i++) {
            double score = act[i] * ret[i] * s.strength()[i];
            all.put(s.id(i), new Ref(s.id(i), sim[i], ret[i], act[i], hop[i], score));
        }
        return all;
    }

    /** The top k of the reference with score > 0, by (score desc, id asc). */
    static List<Ref> referenceTop(Map<String, Ref> all, int k) {
        List<Ref> hits = new ArrayList<>();
        for (Ref r : all.values()) {
            if (r.score() > 0) {
                hits.add(r);
            }
        }
        hits.sort(Comparator.comparingDouble((Ref r) -> -r.score()).thenComparing(Ref::id));
        return hits.subList(0, Math.min(k, hits.size()));
    }

    /**
     * The engine's hits agree with the reference: same length; at each rank the same memory, or one whose reference
     * score is within float noise of the reference's (a near-tie the two precisions may order differently); every
     * component of every hit close to the reference; and the hits strictly ordered by (score desc, id asc).
     */
    static void assertAgrees(List<Hit> hits, Map<String, Ref> all, int k, String what) {
        List<Ref> ref = referenceTop(all, k);
        assertThat(hits).as("%s: number of hits", what).hasSize(ref.size());
        for (int i = 0; i < hits.size(); i++) {
            Hit h = hits.get(i);
            Ref expected = all.get(h.memoryId());
            assertThat(expected).as("%s: hit %s exists", what, h.memoryId()).isNotNull();
            if (!h.memoryId().equals(ref.get(i).id())) {
                assertThat(expected.score()).as("%s: rank %d is %s, reference has %s (near-tie only)", what, i,
                        h.memoryId(), ref.get(i).id()).isCloseTo(ref.get(i).score(), within(2e-6));
            }
            assertThat((double) h.similarity()).as("%s: similarity of %s", what, h.memoryId())
                    .isCloseTo(expected.similarity(), within(1e-6));
            assertThat((double) h.retention()).as("%s: retention of %s", what, h.memoryId())
                    .isCloseTo(expected.retention(), within(1e-6));
            assertThat((double) h.activation()).as("%s: activation of %s", what, h.memoryId())
                    .isCloseTo(expected.activation(), within(1e-5));
            assertThat((double) h.score()).as("%s: score of %s", what, h.memoryId())
                    .isCloseTo(expected.score(), within(1e-5));
            assertThat(h.hops()).as("%s: hops of %s", what, h.memoryId()).isEqualTo(expected.hops());
            assertThat(h.score()).as("%s: score is the product", what)
                    .isEqualTo(h.activation() * h.retention() * strengthOf(h, all));
            if (i > 0) {
                Hit prev = hits.get(i - 1);
                boolean ordered = prev.score() > h.score()
                        || (prev.score() == h.score() && prev.memoryId().compareTo(h.memoryId()) < 0);
                assertThat(ordered).as("%s: %s before %s", what, prev, h).isTrue();
            }
        }
    }

    private static final ThreadLocal<SpaceState> CURRENT = new ThreadLocal<>();

    private static float strengthOf(Hit h, Map<String, Ref> all) {
        SpaceState s = CURRENT.get();
        return s.strength()[s.rowOf(h.memoryId())];
    }

    private static List<Hit> recall(RecallEngine engine, SpaceState s, float[] cue, int k, int seedK, int maxHops,
                                    float hopDecay, float threshold) {
        CURRENT.set(s);
        return recallOn(engine, s, cue, NOW, k, seedK, maxHops, hopDecay, threshold, new JavaKernels());
    }

    private static int chunkRound;

    /**
     * Recall over the dense space {@code s} stored in chunks, as a restore of its savepoint would store it; the chunk
     * size cycles through 1, 3, 8 and 64 slots and every other call stores through serialization (as RocksDB does),
     * so chunk boundaries and fresh copies are part of every test.
     */
    static List<Hit> recallOn(RecallEngine engine, SpaceState s, float[] cue, long at, int k, int seedK,
                              int maxHops, float hopDecay, float threshold, MemoryKernels kernels) {
        int[] sizes = {1, 3, 8, 64};
        int round = chunkRound++;
        int chunkSlots = sizes[round % sizes.length];
        MemorySpace space = InMemorySpaceStore.chunked(s, chunkSlots, round % 2 == 0,
                InMemorySpaceStore.rules(chunkSlots));
        return engine.recall(space, cue, at, new RecallParams(k, maxHops, hopDecay, threshold, seedK), kernels);
    }

    // ----- random spaces ---------------------------------------------------------------------------------------

    private static float[] randomVector(Random rnd, int dim) {
        float[] v = new float[dim];
        boolean integral = rnd.nextInt(3) == 0; // small integers: exact ties between equal/proportional rows
        for (int j = 0; j < dim; j++) {
            v[j] = integral ? rnd.nextInt(5) - 2 : (float) rnd.nextGaussian();
        }
        return v;
    }

    static SpaceState randomSpace(Random rnd, int n, int dim) {
        SpaceState s = new SpaceState();
        List<float[]> made = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            float[] emb;
            int kind = rnd.nextInt(10);
            if (kind == 0 && !made.isEmpty()) {
                emb = made.get(rnd.nextInt(made.size())).clone(); // a duplicate: an exact tie
            } else if (kind == 1) {
                emb = new float[dim]; // zero vector: similarity 0
            } else {
                emb = randomVector(rnd, dim);
            }
            made.add(emb);
            float strength = rnd.nextInt(8) == 0 ? 0f : rnd.nextFloat() * 2;
            float stability = 10f + rnd.nextFloat() * 100_000f;
            long age = switch (rnd.nextInt(6)) {
                case 0 -> -rnd.nextInt(100_000); // accessed "after" the query: retention 1
                case 1 -> (long) (stability * 1000L * 200); // far beyond underflow: retention 0
                default -> (long) (rnd.nextDouble() * stability * 3000);
            };
            s.upsert("m" + rnd.nextInt(1000) + "-" + i, emb, strength, stability, NOW - age);
        }
        int edges = n < 2 ? 0 : rnd.nextInt(3 * n);
        for (int e = 0; e < edges; e++) {
            int f = rnd.nextInt(n);
            int t = rnd.nextInt(n);
            if (f != t) {
                s.associate(f, t, rnd.nextInt(11) / 10f);
            }
        }
        return s;
    }

    @Test
    void randomSpacesAgreeWithTheReference() {
        Random rnd = new Random(1234L);
        RecallEngine engine = new RecallEngine(); // one engine: scratch reuse across sizes is part of the test
        float[] decays = {1f, 0.8f, 0.5f, 0.3f};
        // never a product of the weight grid and a decay: no exact threshold ties whose side depends on precision
        float[] thresholds = {0f, 0.013f, 0.123f, 0.271f};
        int withHops = 0;
        int withHits = 0;
        for (int run = 0; run < 400; run++) {
            int n = rnd.nextInt(60);
            // dim >= 2: in one dimension every row is collinear with the cue, so similarities are all +-1 up to
            // float rounding, and which of them round to exactly 1 is not something a double reference can predict
            int dim = 2 + rnd.nextInt(11);
            SpaceState s = randomSpace(rnd, n, dim);
            SpaceState before = SpaceStateSerializer.INSTANCE.copy(s);
            for (int q = 0; q < 3; q++) {
                float[] cue = q == 0 && n > 0 ? slice(s, rnd.nextInt(n)) : randomVector(rnd, dim);
                int k = 1 + rnd.nextInt(20);
                int seedK = 1 + rnd.nextInt(10);
                int maxHops = rnd.nextInt(5);
                float hopDecay = decays[rnd.nextInt(decays.length)];
                float threshold = thresholds[rnd.nextInt(thresholds.length)];
                List<Hit> hits = recall(engine, s, cue, k, seedK, maxHops, hopDecay, threshold);
                Map<String, Ref> all = referenceAll(s, cue, NOW, seedK, maxHops, hopDecay, threshold);
                assertAgrees(hits, all, k, "run " + run + " query " + q);
                withHits += hits.isEmpty() ? 0 : 1;
                withHops += hits.stream().anyMatch(h -> h.hops() > 0) ? 1 : 0;
            }
            assertThat(s.sameContentAs(before)).as("recall never mutates the space").isTrue();
        }
        assertThat(withHits).as("the random cases do produce hits").isGreaterThan(300);
        assertThat(withHops).as("the random cases do exercise spreading").isGreaterThan(100);
    }

    private static float[] slice(SpaceState s, int row) {
        int d = s.dim();
        return java.util.Arrays.copyOfRange(s.embeddings(), row * d, row * d + d);
    }

    @Test
    void theSweepForgetsExactlyTheMemoriesBelowTheThreshold() throws Exception {
        Random rnd = new Random(99L);
        int forgotten = 0;
        for (int run = 0; run < 50; run++) {
            SpaceState s = randomSpace(rnd, 1 + rnd.nextInt(40), 3);
            long at = NOW + rnd.nextInt(10_000_000);
            double threshold = rnd.nextDouble() * 0.5;
            Map<String, Ref> all = referenceAll(s, new float[3], at, 1, 0, 1, 0);
            int chunkSlots = 1 + rnd.nextInt(8);
            InMemorySpaceStore store = new InMemorySpaceStore(run % 2 == 0);
            io.engram.job.state.LegacyLayout.migrate(s, chunkSlots, store);
            MemorySpace space = new MemorySpace(store, InMemorySpaceStore.rules(chunkSlots));
            List<String> keep = new ArrayList<>();
            List<String> near = new ArrayList<>();
            for (Ref r : all.values()) {
                if (Math.abs(r.retention() - threshold) < 1e-6) {
                    near.add(r.id()); // float and double may disagree on which side it lies
                } else if (r.retention() >= threshold) {
                    keep.add(r.id());
                }
            }
            io.engram.job.space.Change c = space.sweep(at, (float) threshold, new JavaKernels());
            SpaceState after = SpaceState.denseCopyOf(store);
            List<String> left = new ArrayList<>();
            for (int r = 0; r < after.size(); r++) {
                left.add(after.id(r));
            }
            left.removeAll(near);
            assertThat(left).as("run %d: survivors", run).containsExactlyInAnyOrderElementsOf(keep);
            assertThat(-c.memories()).as("run %d: forgotten count", run).isEqualTo(s.size() - after.size());
            assertThat(space.size()).isEqualTo(after.size());
            forgotten += s.size() - after.size();
        }
        assertThat(forgotten).as("the random cases do forget memories").isGreaterThan(50);
    }

    // ----- specific cases --------------------------------------------------------------------------------------

    @Test
    void emptySpaceHasNoHits() {
        assertThat(recallOn(new RecallEngine(), new SpaceState(), new float[] {1f, 0f}, NOW, 10, 5, 3, 0.8f, 0f,
                new JavaKernels())).isEmpty();
        SpaceState emptied = new SpaceState();
        emptied.upsert("a", new float[] {1f, 0f}, 1f, 10f, NOW);
        emptied.forget("a");
        assertThat(recallOn(new RecallEngine(), emptied, new float[] {1f, 0f}, NOW, 10, 5, 3, 0.8f, 0f,
                new JavaKernels())).isEmpty();
    }

    @Test
    void noPositiveSimilarityMeansNoHitsEvenWithEdges() {
        SpaceState s = new SpaceState();
        s.upsert("opposite", new float[] {-1f, 0f}, 1f, 1e6f, NOW);
        s.upsert("orthogonal", new float[] {0f, 1f}, 1f, 1e6f, NOW);
        s.upsert("zero", new float[] {0f, 0f}, 1f, 1e6f, NOW);
        s.associate(0, 1, 1f);
        s.associate(1, 2, 1f);
        s.associate(2, 0, 1f);
        RecallEngine engine = new RecallEngine();
        assertThat(recallOn(engine, s, new float[] {1f, 0f}, NOW, 10, 10, 5, 1f, 0f, new JavaKernels())).isEmpty();
        assertThat(recallOn(engine, s, new float[] {0f, 0f}, NOW, 10, 10, 5, 1f, 0f, new JavaKernels()))
                .as("a zero cue is similar to nothing").isEmpty();
    }

    @Test
    void tiesAreBrokenByMemoryIdNotByRow() {
        SpaceState s = new SpaceState();
        for (String id : new String[] {"c", "a", "d", "b"}) { // rows in non-id order
            s.upsert(id, new float[] {1f, 1f}, 1f, 1e6f, NOW);
        }
        RecallEngine engine = new RecallEngine();
        List<Hit> hits = recallOn(engine, s, new float[] {2f, 2f}, NOW, 4, 4, 0, 1f, 0f, new JavaKernels());
        assertThat(hits).extracting(Hit::memoryId).containsExactly("a", "b", "c", "d");
        assertThat(hits).extracting(Hit::score).containsOnly(hits.get(0).score());
        List<Hit> top2 = recallOn(engine, s, new float[] {2f, 2f}, NOW, 2, 4, 0, 1f, 0f, new JavaKernels());
        assertThat(top2).extracting(Hit::memoryId).as("the cut at k keeps the smaller ids").containsExactly("a", "b");
    }

    @Test
    void seedTiesAtSeedKAreBrokenByMemoryId() {
        SpaceState s = new SpaceState();
        s.upsert("z-seed", new float[] {1f, 0f}, 1f, 1e6f, NOW);
        s.upsert("a-seed", new float[] {1f, 0f}, 1f, 1e6f, NOW);
        s.upsert("via-z", new float[] {0f, 1f}, 1f, 1e6f, NOW);
        s.upsert("via-a", new float[] {0f, 1f}, 1f, 1e6f, NOW);
        s.associate(s.rowOf("z-seed"), s.rowOf("via-z"), 1f);
        s.associate(s.rowOf("a-seed"), s.rowOf("via-a"), 1f);
        List<Hit> hits = recallOn(new RecallEngine(), s, new float[] {1f, 0f}, NOW, 10, 1, 2, 0.5f, 0f,
                new JavaKernels());
        assertThat(hits).extracting(Hit::memoryId).containsExactly("a-seed", "via-a");
        assertThat(hits.get(1).hops()).isEqualTo(1);
        assertThat(hits.get(1).activation()).isEqualTo(0.5f);
    }

    @Test
    void associationCarriesActivationToADissimilarMemory() {
        SpaceState s = new SpaceState();
        s.upsert("cue-like", new float[] {1f, 0f, 0f}, 1f, 1e6f, NOW);
        s.upsert("one-hop", new float[] {0f, 1f, 0f}, 1f, 1e6f, NOW);
        s.upsert("two-hops", new float[] {0f, 0f, 1f}, 2f, 1e6f, NOW);
        s.upsert("unlinked", new float[] {0f, -1f, 0f}, 1f, 1e6f, NOW);
        s.associate(0, 1, 0.5f);
        s.associate(1, 2, 0.5f);
        List<Hit> hits = recallOn(new RecallEngine(), s, new float[] {1f, 0f, 0f}, NOW, 10, 4, 3, 0.8f, 0f,
                new JavaKernels());
        assertThat(hits).extracting(Hit::memoryId).containsExactly("cue-like", "one-hop", "two-hops");
        assertThat(hits).extracting(Hit::hops).containsExactly(0, 1, 2);
        assertThat(hits.get(1).similarity()).isZero();
        assertThat(hits.get(1).activation()).isCloseTo(0.4f, within(1e-7f));
        assertThat(hits.get(2).activation()).isCloseTo(0.16f, within(1e-7f));
        assertThat(hits.get(2).score()).as("strength 2").isCloseTo(0.32f, within(1e-6f));

        List<Hit> oneHop = recallOn(new RecallEngine(), s, new float[] {1f, 0f, 0f}, NOW, 10, 4, 1, 0.8f, 0f,
                new JavaKernels());
        assertThat(oneHop).extracting(Hit::memoryId).as("max_hops 1").containsExactly("cue-like", "one-hop");
        List<Hit> thresholded = recallOn(new RecallEngine(), s, new float[] {1f, 0f, 0f}, NOW, 10, 4, 3, 0.8f, 0.2f,
                new JavaKernels());
        assertThat(thresholded).extracting(Hit::memoryId).as("0.16 < threshold 0.2 does not spread")
                .containsExactly("cue-like", "one-hop");
    }

    @Test
    void zeroStrengthAndForgottenRetentionAreNotHits() {
        SpaceState s = new SpaceState();
        s.upsert("weak", new float[] {1f, 0f}, 0f, 1e6f, NOW);
        s.upsert("ancient", new float[] {1f, 0f}, 1f, 1f, NOW - 1_000_000_000L);
        s.upsert("fine", new float[] {1f, 0.1f}, 1f, 100f, NOW - 100_000L);
        List<Hit> hits = recallOn(new RecallEngine(), s, new float[] {1f, 0f}, NOW, 10, 10, 0, 1f, 0f,
                new JavaKernels());
        assertThat(hits).extracting(Hit::memoryId).containsExactly("fine");
        assertThat((double) hits.get(0).retention()).isCloseTo(Math.exp(-1), within(1e-6));
    }
}
