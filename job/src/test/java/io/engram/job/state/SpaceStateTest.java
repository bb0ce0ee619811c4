package io.engram.job.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.kernels.CsrGraph;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * {@link SpaceState} against a plain model (memories by id, edges by id pair in insertion order): after every
 * mutation, every column, the id index, the edge index and the derived CSR graph must agree with the model.
 */
class SpaceStateTest {

    // ----- the model -------------------------------------------------------------------------------------------

    record Mem(float[] emb, float strength, float stability, long lastAccess) {
    }

    /** Memories by id and edges keyed "from->to" in insertion order (a replaced weight keeps its position). */
    static final class Model {
        final Map<String, Mem> mems = new HashMap<>();
        final LinkedHashMap<List<String>, Float> edges = new LinkedHashMap<>();

        void upsert(String id, float[] emb, float strength, float stability, long last) {
            mems.put(id, new Mem(emb.clone(), strength, stability, last));
        }

        void associate(String from, String to, float w) {
            edges.put(List.of(from, to), w); // put on an existing key keeps its insertion position
        }

        void forget(String id) {
            mems.remove(id);
            edges.keySet().removeIf(k -> k.get(0).equals(id) || k.get(1).equals(id));
        }
    }

    /** Checks every observable part of the state against the model. */
    static void assertMatches(SpaceState s, Model m) {
        assertThat(s.size()).as("size").isEqualTo(m.mems.size());
        int dim = s.dim();
        Map<String, Integer> seen = new HashMap<>();
        for (int r = 0; r < s.size(); r++) {
            String id = s.id(r);
            assertThat(seen.put(id, r)).as("row %d id %s appears once", r, id).isNull();
            Mem mem = m.mems.get(id);
            assertThat(mem).as("row %d holds a memory of the model: %s", r, id).isNotNull();
            assertThat(s.rowOf(id)).as("rowOf(%s)", id).isEqualTo(r);
            assertThat(Arrays.copyOfRange(s.embeddings(), r * dim, (r + 1) * dim)).as("embedding of %s", id)
                    .containsExactly(mem.emb());
            assertThat(s.strength()[r]).as("strength of %s", id).isEqualTo(mem.strength());
            assertThat(s.stability()[r]).as("stability of %s", id).isEqualTo(mem.stability());
            assertThat(s.lastAccess()[r]).as("lastAccess of %s", id).isEqualTo(mem.lastAccess());
        }
        // The edges, as id pairs, in order; their rows must be in range.
        List<List<String>> edgeIds = new ArrayList<>();
        Map<List<String>, Float> weights = new HashMap<>();
        for (int e = 0; e < s.edgeCount(); e++) {
            assertThat(s.edgeFrom(e)).isBetween(0, s.size() - 1);
            assertThat(s.edgeTo(e)).isBetween(0, s.size() - 1);
            List<String> pair = List.of(s.id(s.edgeFrom(e)), s.id(s.edgeTo(e)));
            edgeIds.add(pair);
            weights.put(pair, s.edgeWeight(e));
        }
        assertThat(edgeIds).as("edges (as id pairs, in order)").containsExactlyElementsOf(m.edges.keySet());
        assertThat(weights).as("edge weights").isEqualTo(m.edges);
        assertGraphMatchesEdges(s);
    }

    /** The CSR graph holds, for every row, exactly its out-edges in edge-list order. */
    static void assertGraphMatchesEdges(SpaceState s) {
        CsrGraph g = s.graph();
        assertThat(g.nodeCount()).isEqualTo(s.size());
        assertThat(g.edgeCount()).isEqualTo(s.edgeCount());
        int[] offsets = g.offsetsCopy();
        int[] targets = g.targetsCopy();
        float[] weights = g.weightsCopy();
        for (int u = 0; u < s.size(); u++) {
            List<String> expected = new ArrayList<>();
            for (int e = 0; e < s.edgeCount(); e++) {
                if (s.edgeFrom(e) == u) {
                    expected.add(s.edgeTo(e) + ":" + s.edgeWeight(e));
                }
            }
            List<String> actual = new ArrayList<>();
            for (int e = offsets[u]; e < offsets[u + 1]; e++) {
                actual.add(targets[e] + ":" + weights[e]);
            }
            assertThat(actual).as("CSR out-edges of row %d", u).containsExactlyElementsOf(expected);
        }
    }

    private static float[] vec(float... v) {
        return v;
    }

    // ----- upsert ----------------------------------------------------------------------------------------------

    @Test
    void newSpaceIsEmptyWithoutDimension() {
        SpaceState s = new SpaceState();
        assertThat(s.size()).isZero();
        assertThat(s.dim()).isZero();
        assertThat(s.edgeCount()).isZero();
        assertThat(s.rowOf("x")).isEqualTo(-1);
        assertThat(s.graph().nodeCount()).isZero();
    }

    @Test
    void upsertInsertsThenReplacesInPlace() {
        SpaceState s = new SpaceState();
        Model m = new Model();
        s.upsert("a", vec(1, 2, 3), 1f, 10f, 100L);
        m.upsert("a", vec(1, 2, 3), 1f, 10f, 100L);
        s.upsert("b", vec(4, 5, 6), 0.5f, 20f, 200L);
        m.upsert("b", vec(4, 5, 6), 0.5f, 20f, 200L);
        assertThat(s.dim()).isEqualTo(3);
        assertMatches(s, m);
        int rowA = s.rowOf("a");

        s.upsert("a", vec(7, 8, 9), 2f, 30f, 50L); // replace: every column, even an older last access
        m.upsert("a", vec(7, 8, 9), 2f, 30f, 50L);
        assertThat(s.size()).isEqualTo(2);
        assertThat(s.rowOf("a")).as("a replaced memory keeps its row").isEqualTo(rowA);
        assertMatches(s, m);
    }

    @Test
    void upsertCopiesTheEmbedding() {
        SpaceState s = new SpaceState();
        float[] e = vec(1, 2);
        s.upsert("a", e, 1f, 1f, 0L);
        e[0] = 99f;
        assertThat(Arrays.copyOf(s.embeddings(), 2)).containsExactly(1f, 2f);
    }

    @Test
    void upsertRejectsAnotherDimension() {
        SpaceState s = new SpaceState();
        s.upsert("a", vec(1, 2, 3), 1f, 1f, 0L);
        assertThatThrownBy(() -> s.upsert("b", vec(1, 2), 1f, 1f, 0L))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("dimension 2")
                .hasMessageContaining("3");
        assertThat(s.size()).isEqualTo(1);
        assertThat(s.rowOf("b")).isEqualTo(-1);
    }

    @Test
    void growsPastItsInitialCapacity() {
        SpaceState s = new SpaceState();
        Model m = new Model();
        for (int i = 0; i < 200; i++) {
            float[] e = vec(i, -i, i * 0.5f, 1);
            s.upsert("m" + i, e, i, i + 1, i * 1000L);
            m.upsert("m" + i, e, i, i + 1, i * 1000L);
        }
        for (int i = 0; i < 199; i++) {
            s.associate(s.rowOf("m" + i), s.rowOf("m" + (i + 1)), (i % 10) / 10f);
            m.associate("m" + i, "m" + (i + 1), (i % 10) / 10f);
        }
        assertMatches(s, m);
    }

    // ----- reinforce -------------------------------------------------------------------------------------------

    @Test
    void reinforceMultipliesStabilityUpToTheCapAndKeepsTheLatestAccess() {
        SpaceState s = new SpaceState();
        s.upsert("a", vec(1, 0), 1f, 100f, 5_000L);
        s.upsert("b", vec(0, 1), 1f, 7f, 5_000L);

        assertThat(s.reinforce("a", 6_000L, 2f, 1000f)).isTrue();
        int a = s.rowOf("a");
        assertThat(s.stability()[a]).isEqualTo(200f);
        assertThat(s.lastAccess()[a]).isEqualTo(6_000L);

        assertThat(s.reinforce("a", 4_000L, 3f, 1000f)).isTrue(); // late, out-of-order reinforcement
        assertThat(s.stability()[a]).isEqualTo(600f);
        assertThat(s.lastAccess()[a]).as("last access never moves back").isEqualTo(6_000L);

        assertThat(s.reinforce("a", 7_000L, 3f, 1000f)).isTrue();
        assertThat(s.stability()[a]).as("capped").isEqualTo(1000f);
        assertThat(s.lastAccess()[a]).isEqualTo(7_000L);

        int b = s.rowOf("b");
        assertThat(s.stability()[b]).as("other memories untouched").isEqualTo(7f);
        assertThat(s.lastAccess()[b]).isEqualTo(5_000L);
    }

    @Test
    void reinforceOfUnknownMemoryIsRefusedAndChangesNothing() {
        SpaceState s = new SpaceState();
        s.upsert("a", vec(1, 0), 1f, 100f, 5_000L);
        SpaceState before = SpaceStateSerializer.INSTANCE.copy(s);
        assertThat(s.reinforce("nope", 9_000L, 2f, 1000f)).isFalse();
        assertThat(s.sameContentAs(before)).isTrue();
    }

    // ----- associate -------------------------------------------------------------------------------------------

    @Test
    void associateAddsReplacesAndKeepsDirectionsApart() {
        SpaceState s = new SpaceState();
        Model m = new Model();
        for (String id : List.of("a", "b", "c")) {
            s.upsert(id, vec(1, 1), 1f, 1f, 0L);
            m.upsert(id, vec(1, 1), 1f, 1f, 0L);
        }
        int a = s.rowOf("a");
        int b = s.rowOf("b");
        int c = s.rowOf("c");
        s.associate(a, b, 0.5f);
        m.associate("a", "b", 0.5f);
        s.associate(b, a, 0.25f); // the reverse direction is another edge
        m.associate("b", "a", 0.25f);
        s.associate(a, c, 1f);
        m.associate("a", "c", 1f);
        assertThat(s.edgeCount()).isEqualTo(3);
        assertMatches(s, m);

        s.graph(); // cached ...
        s.associate(a, b, 0.75f); // ... and invalidated by a replaced weight
        m.associate("a", "b", 0.75f);
        assertThat(s.edgeCount()).as("a replaced weight adds no edge").isEqualTo(3);
        assertMatches(s, m);
    }

    @Test
    void graphIsRebuiltAfterEveryKindOfMutation() {
        SpaceState s = new SpaceState();
        s.upsert("a", vec(1), 1f, 1f, 0L);
        s.upsert("b", vec(1), 1f, 1f, 0L);
        assertThat(s.graph().nodeCount()).isEqualTo(2);
        s.upsert("c", vec(1), 1f, 1f, 0L);
        assertThat(s.graph().nodeCount()).as("a new memory is a new node").isEqualTo(3);
        s.associate(0, 2, 0.5f);
        assertThat(s.graph().edgeCount()).isEqualTo(1);
        s.forget("b");
        assertThat(s.graph().nodeCount()).isEqualTo(2);
        assertGraphMatchesEdges(s);
    }

    // ----- forget and removeRows -------------------------------------------------------------------------------

    /** a..f with distinct columns and a web of edges. */
    private static SpaceState web(Model m) {
        SpaceState s = new SpaceState();
        String[] ids = {"a", "b", "c", "d", "e", "f"};
        for (int i = 0; i < ids.length; i++) {
            float[] emb = vec(i, i + 0.5f, -i);
            s.upsert(ids[i], emb, i + 1f, 10f * (i + 1), 1000L * i);
            m.upsert(ids[i], emb, i + 1f, 10f * (i + 1), 1000L * i);
        }
        String[][] edges = {{"a", "b"}, {"b", "c"}, {"c", "a"}, {"d", "e"}, {"e", "f"}, {"f", "a"}, {"a", "f"},
            {"b", "e"}, {"c", "d"}, {"f", "c"}};
        for (int i = 0; i < edges.length; i++) {
            float w = (i + 1) / 10f;
            s.associate(s.rowOf(edges[i][0]), s.rowOf(edges[i][1]), w);
            m.associate(edges[i][0], edges[i][1], w);
        }
        return s;
    }

    @Test
    void forgetRemovesTheMemoryAndEveryEdgeTouchingIt() {
        for (String victim : List.of("a", "b", "c", "d", "e", "f")) {
            Model m = new Model();
            SpaceState s = web(m);
            assertMatches(s, m);
            assertThat(s.forget(victim)).isTrue();
            m.forget(victim);
            assertThat(s.rowOf(victim)).isEqualTo(-1);
            assertMatches(s, m);
            assertThat(s.forget(victim)).as("second forget of %s", victim).isFalse();
            assertMatches(s, m);
        }
    }

    @Test
    void forgetOfUnknownMemoryChangesNothing() {
        Model m = new Model();
        SpaceState s = web(m);
        assertThat(s.forget("zzz")).isFalse();
        assertMatches(s, m);
    }

    @Test
    void indexesStayRightAfterRemoval() {
        Model m = new Model();
        SpaceState s = web(m);
        s.forget("b");
        m.forget("b");
        // re-associating an existing pair whose rows moved must replace, not duplicate
        s.associate(s.rowOf("d"), s.rowOf("e"), 0.9f);
        m.associate("d", "e", 0.9f);
        // a forgotten id comes back as a new memory without its old edges
        s.upsert("b", vec(9, 9, 9), 3f, 3f, 3L);
        m.upsert("b", vec(9, 9, 9), 3f, 3f, 3L);
        s.associate(s.rowOf("b"), s.rowOf("a"), 0.1f);
        m.associate("b", "a", 0.1f);
        assertMatches(s, m);
    }

    @Test
    void removeRowsRemovesSeveralRowsAndTheirEdgesInOnePass() {
        Model m = new Model();
        SpaceState s = web(m);
        boolean[] doomed = new boolean[s.size() + 3]; // may be longer than size
        for (String id : List.of("a", "d", "f")) {
            doomed[s.rowOf(id)] = true;
            m.forget(id);
        }
        assertThat(s.removeRows(doomed)).isEqualTo(3);
        assertMatches(s, m);
        assertThat(s.removeRows(new boolean[s.size()])).as("nothing marked").isZero();
        assertMatches(s, m);
    }

    @Test
    void removeRowsCanEmptyTheSpaceWhichKeepsItsDimension() {
        Model m = new Model();
        SpaceState s = web(m);
        boolean[] all = new boolean[s.size()];
        Arrays.fill(all, true);
        assertThat(s.removeRows(all)).isEqualTo(6);
        assertThat(s.size()).isZero();
        assertThat(s.edgeCount()).isZero();
        assertThat(s.dim()).isEqualTo(3);
        assertThat(s.graph().nodeCount()).isZero();
        s.upsert("z", vec(1, 2, 3), 1f, 1f, 0L);
        assertThat(s.rowOf("z")).isZero();
    }

    /** Random operations against the model: the state must agree after every one of them. */
    @Test
    void randomOperationsAgreeWithTheModel() {
        Random rnd = new Random(20261124L);
        for (int run = 0; run < 40; run++) {
            int dim = 1 + rnd.nextInt(6);
            SpaceState s = new SpaceState();
            Model m = new Model();
            for (int step = 0; step < 150; step++) {
                int op = rnd.nextInt(10);
                String id = "m" + rnd.nextInt(25);
                if (op < 4) {
                    float[] emb = new float[dim];
                    for (int j = 0; j < dim; j++) {
                        emb[j] = (float) rnd.nextGaussian();
                    }
                    float str = rnd.nextFloat();
                    float stab = 1 + rnd.nextFloat() * 100;
                    long last = rnd.nextInt(1_000_000);
                    s.upsert(id, emb, str, stab, last);
                    m.upsert(id, emb, str, stab, last);
                } else if (op < 7) {
                    String to = "m" + rnd.nextInt(25);
                    if (m.mems.containsKey(id) && m.mems.containsKey(to) && !id.equals(to)) {
                        float w = rnd.nextInt(11) / 10f;
                        s.associate(s.rowOf(id), s.rowOf(to), w);
                        m.associate(id, to, w);
                    }
                } else if (op < 8) {
                    long at = rnd.nextInt(2_000_000);
                    boolean known = m.mems.containsKey(id);
                    assertThat(s.reinforce(id, at, 1.5f, 500f)).isEqualTo(known);
                    if (known) {
                        Mem old = m.mems.get(id);
                        m.mems.put(id, new Mem(old.emb(), old.strength(), Math.min(500f, old.stability() * 1.5f),
                                Math.max(old.lastAccess(), at)));
                    }
                } else if (op < 9) {
                    assertThat(s.forget(id)).isEqualTo(m.mems.containsKey(id));
                    m.forget(id);
                } else {
                    boolean[] doomed = new boolean[s.size()];
                    for (int r = 0; r < doomed.length; r++) {
                        if (rnd.nextInt(5) == 0) {
                            doomed[r] = true;
                            m.forget(s.id(r));
                        }
                    }
                    s.removeRows(doomed);
                }
                assertMatches(s, m);
            }
        }
    }

    // ----- sameContentAs ---------------------------------------------------------------------------------------

    @Test
    void sameContentAsComparesContentNotCapacity() {
        Model m = new Model();
        SpaceState a = web(m);
        a.upsert("spare", vec(1, 2, 3), 1f, 1f, 0L); // grows the columns past the content
        a.forget("spare");
        SpaceState b = SpaceStateSerializer.INSTANCE.copy(a); // exact-length arrays
        assertThat(a.embeddings().length).isNotEqualTo(b.embeddings().length);
        assertThat(a.sameContentAs(b)).isTrue();
        assertThat(b.sameContentAs(a)).isTrue();
    }

    @Test
    void sameContentAsSeesEveryColumn() {
        Model m = new Model();
        SpaceState base = web(m);
        List<java.util.function.Consumer<SpaceState>> changes = List.of(
                s -> s.upsert("a", vec(0, 0.5f, 0.25f), 1f, 10f, 0L), // embedding only
                s -> s.upsert("a", vec(0, 0.5f, 0f), 1.5f, 10f, 0L), // strength only
                s -> s.upsert("a", vec(0, 0.5f, 0f), 1f, 11f, 0L), // stability only
                s -> s.upsert("a", vec(0, 0.5f, 0f), 1f, 10f, 1L), // last access only
                s -> s.associate(s.rowOf("a"), s.rowOf("b"), 0.55f), // an edge weight
                s -> s.associate(s.rowOf("e"), s.rowOf("a"), 0.5f), // a new edge
                s -> s.upsert("g", vec(1, 1, 1), 1f, 1f, 1L), // a new memory
                s -> s.forget("f"));
        for (int i = 0; i < changes.size(); i++) {
            SpaceState changed = SpaceStateSerializer.INSTANCE.copy(base);
            assertThat(changed.sameContentAs(base)).isTrue();
            changes.get(i).accept(changed);
            assertThat(changed.sameContentAs(base)).as("change %d is seen", i).isFalse();
            assertThat(base.sameContentAs(changed)).as("change %d is seen (other way)", i).isFalse();
        }
        SpaceState other = new SpaceState();
        other.upsert("a", vec(0, 0.5f, 0f), 1f, 10f, 0L);
        assertThat(other.sameContentAs(base)).isFalse();
        SpaceState otherDim = new SpaceState();
        otherDim.upsert("a", vec(0, 0.5f), 1f, 10f, 0L);
        SpaceState same = new SpaceState();
        same.upsert("a", vec(0, 0.5f, 0f), 1f, 10f, 0L);
        assertThat(otherDim.sameContentAs(same)).isFalse();
    }
}
