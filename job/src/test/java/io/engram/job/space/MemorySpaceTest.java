package io.engram.job.space;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.job.model.Reason;
import io.engram.job.model.Rejection;
import io.engram.job.recall.Hit;
import io.engram.job.recall.RecallEngine;
import io.engram.job.recall.RecallParams;
import io.engram.job.state.SpaceIndex;
import io.engram.job.state.SpaceState;
import io.engram.kernels.JavaKernels;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

/**
 * The chunked space against the one-value layout it replaces ({@link SpaceState}, the reference here): random
 * sequences of stores, re-stores, reinforces, associates (new and re-weighted, one-way and both ways) and forgets,
 * applied to both, must leave the same memories (id, embedding, strength, stability, last access), the same edges
 * with the same order per source (the order spreading follows) and the same recall answers, whatever the chunk
 * size, and whether the store hands out shared objects (heap backend) or fresh copies (RocksDB). Plus what only the
 * chunked layout promises: a forget frees its slot for the next store, and an event writes O(chunk) bytes.
 */
class MemorySpaceTest {
    static final long T0 = 1_700_000_000_000L;
    static final int DIM = 4;

    @Property(tries = 300)
    void randomEventSequencesMatchTheOneValueLayout(@ForAll long seed) throws Exception {
        Random r = new Random(seed);
        int chunkSlots = new int[] {1, 2, 3, 8, 64}[r.nextInt(5)];
        InMemorySpaceStore store = new InMemorySpaceStore(r.nextBoolean());
        MemorySpace space = new MemorySpace(store, InMemorySpaceStore.rules(chunkSlots));
        SpaceState ref = new SpaceState();
        List<String> known = new ArrayList<>();
        long t = T0;
        int events = 1 + r.nextInt(120);
        for (int e = 0; e < events; e++) {
            t += r.nextInt(1000);
            int kind = r.nextInt(10);
            boolean isStore = kind < 4 || known.size() < 2;
            String id = isStore && (known.isEmpty() || r.nextInt(4) != 0) ? "m" + r.nextInt(40)
                    : known.get(r.nextInt(known.size()));
            if (isStore) {
                float[] v = vector(r);
                float strength = r.nextFloat() * 2;
                float stability = 1 + r.nextFloat() * 1e5f;
                Change c = space.apply(new SpaceEvent.Store("e" + e, t, id, v, strength, stability, null));
                boolean isNew = ref.rowOf(id) < 0;
                ref.upsert(id, v, strength, stability, t);
                assertThat(c.memories()).isEqualTo(isNew ? 1 : 0);
                if (isNew) {
                    known.add(id);
                }
            } else if (kind < 6) {
                space.apply(new SpaceEvent.Reinforce("e" + e, t, id));
                assertThat(ref.reinforce(id, t, 2f, 3650f * 86_400f)).isTrue();
            } else if (kind < 9) {
                String to = known.get(r.nextInt(known.size()));
                if (to.equals(id)) {
                    continue;
                }
                float w = r.nextInt(11) / 10f;
                boolean both = r.nextBoolean();
                long before = ref.edgeCount();
                Change c = space.apply(new SpaceEvent.Associate("e" + e, t, id, to, w, both));
                ref.associate(ref.rowOf(id), ref.rowOf(to), w);
                if (both) {
                    ref.associate(ref.rowOf(to), ref.rowOf(id), w);
                }
                assertThat(c.edges()).isEqualTo(ref.edgeCount() - before);
            } else {
                long before = ref.edgeCount();
                Change c = space.apply(new SpaceEvent.Forget("e" + e, t, id));
                assertThat(ref.forget(id)).isTrue();
                known.remove(id);
                assertThat(c).isEqualTo(new Change(-1, ref.edgeCount() - before));
            }
        }
        assertSameSpace(SpaceState.denseCopyOf(store), ref);
        SpaceIndex idx = store.index();
        assertThat(idx.memories).isEqualTo(ref.size());
        assertThat(idx.edges).isEqualTo(ref.edgeCount());
        assertThat(idx.slotCount).as("slots are reused: never more than the most memories held at once")
                .isLessThanOrEqualTo(40);

        // recall over the chunks equals recall over the reference's dense form (itself chunked in one chunk)
        if (ref.size() > 0) {
            for (int q = 0; q < 3; q++) {
                float[] cue = vector(r);
                RecallParams p = new RecallParams(1 + r.nextInt(10), r.nextInt(4), 0.8f, 0.01f, 1 + r.nextInt(8));
                List<Hit> got = new RecallEngine().recall(space, cue, t, p, new JavaKernels());
                MemorySpace dense = InMemorySpaceStore.chunked(ref, 1 << 16, false,
                        InMemorySpaceStore.rules(1 << 16));
                List<Hit> want = new RecallEngine().recall(dense, cue, t, p, new JavaKernels());
                assertThat(got.stream().map(Hit::memoryId).toList()).as("seed %d query %d", seed, q)
                        .isEqualTo(want.stream().map(Hit::memoryId).toList());
                for (int i = 0; i < got.size(); i++) {
                    // The chunked frontier visits slots, the dense one rows; with reused slots the order differs, so
                    // activations may differ in the last bits of their sums.
                    assertThat(got.get(i).score()).isCloseTo(want.get(i).score(),
                            org.assertj.core.data.Offset.offset(1e-6f));
                    assertThat(got.get(i).similarity()).isEqualTo(want.get(i).similarity());
                    assertThat(got.get(i).retention()).isEqualTo(want.get(i).retention());
                }
            }
        }
    }

    /** Stores m0 .. m(n-1) at T0, memory i with the embedding {1, i, 0, 0}. */
    private static void storeNumbered(MemorySpace space, int n, float stabilityS) throws Rejection {
        for (int i = 0; i < n; i++) {
            space.apply(new SpaceEvent.Store("e" + i, T0, "m" + i, new float[] {1, i, 0, 0}, 1f, stabilityS, null));
        }
    }

    private static float[] vector(Random r) {
        float[] v = new float[DIM];
        for (int j = 0; j < DIM; j++) {
            v[j] = r.nextInt(6) == 0 ? 0f : (float) r.nextGaussian();
        }
        return v;
    }

    /** Same memories by id, same edges per source in the same order. */
    static void assertSameSpace(SpaceState got, SpaceState want) {
        if (want.size() == 0) {
            assertThat(got == null || got.size() == 0).isTrue();
            return;
        }
        assertThat(got.dim()).isEqualTo(want.dim());
        assertThat(memories(got)).isEqualTo(memories(want));
        assertThat(edgesBySource(got)).isEqualTo(edgesBySource(want));
    }

    static Map<String, String> memories(SpaceState s) {
        Map<String, String> m = new TreeMap<>();
        for (int r = 0; r < s.size(); r++) {
            float[] e = java.util.Arrays.copyOfRange(s.embeddings(), r * s.dim(), (r + 1) * s.dim());
            m.put(s.id(r), java.util.Arrays.toString(e) + " s=" + s.strength()[r] + " st=" + s.stability()[r]
                    + " t=" + s.lastAccess()[r]);
        }
        return m;
    }

    static Map<String, List<String>> edgesBySource(SpaceState s) {
        Map<String, List<String>> m = new TreeMap<>();
        for (int e = 0; e < s.edgeCount(); e++) {
            m.computeIfAbsent(s.id(s.edgeFrom(e)), k -> new ArrayList<>())
                    .add(s.id(s.edgeTo(e)) + "@" + s.edgeWeight(e));
        }
        return m;
    }

    // ----- what the chunked layout promises --------------------------------------------------------------------

    @Test
    void aForgottenSlotIsReusedByTheNextStoreAndNothingIsCompacted() throws Rejection {
        InMemorySpaceStore store = new InMemorySpaceStore(true);
        MemorySpace space = new MemorySpace(store, InMemorySpaceStore.rules(4));
        storeNumbered(space, 10, 100f);
        space.apply(new SpaceEvent.Forget("f", T0, "m5"));
        space.apply(new SpaceEvent.Forget("g", T0, "m2"));
        assertThat(store.slotOf("m9")).as("no compaction: other memories keep their slots").isEqualTo(9);
        space.apply(new SpaceEvent.Store("n", T0, "new", new float[] {0, 0, 1, 0}, 1f, 100f, null));
        assertThat(store.slotOf("new")).as("the lowest free slot of the lowest chunk with one").isEqualTo(2);
        space.apply(new SpaceEvent.Store("n2", T0, "new2", new float[] {0, 0, 1, 0}, 1f, 100f, null));
        assertThat(store.slotOf("new2")).isEqualTo(5);
        space.apply(new SpaceEvent.Store("n3", T0, "new3", new float[] {0, 0, 1, 0}, 1f, 100f, null));
        assertThat(store.slotOf("new3")).as("no free slot left: append").isEqualTo(10);
        assertThat(store.index().slotCount).isEqualTo(11);
    }

    @Test
    void storeReinforceAssociateAndForgetWriteChunksNotTheSpace() throws Rejection {
        int dim = 16;
        int chunk = 64;
        Map<Integer, Long> perStore = new LinkedHashMap<>();
        Map<Integer, Long> perForget = new HashMap<>();
        for (int n : new int[] {1_000, 100_000}) {
            InMemorySpaceStore store = new InMemorySpaceStore(true);
            MemorySpace space = new MemorySpace(store, InMemorySpaceStore.rules(chunk));
            Random r = new Random(7);
            for (int i = 0; i < n; i++) {
                float[] v = new float[dim];
                v[r.nextInt(dim)] = 1;
                space.apply(new SpaceEvent.Store("e" + i, T0, "m" + i, v, 1f, 100f, null));
            }
            for (int i = 0; i + 1 < n; i += 97) {
                space.apply(new SpaceEvent.Associate("a" + i, T0, "m" + i, "m" + (i + 1), 0.5f, true));
            }
            store.resetCounters();
            space.apply(new SpaceEvent.Store("x", T0, "extra", new float[dim], 1f, 100f, null));
            perStore.put(n, store.bytesWritten());
            long chunkBytes = 4L * chunk * dim;
            assertThat(store.bytesWritten()).as("a store into %d memories writes its row and vector chunks", n)
                    .isBetween(chunkBytes, 3 * chunkBytes);
            store.resetCounters();
            space.apply(new SpaceEvent.Reinforce("y", T0 + 1, "m" + (n / 2)));
            assertThat(store.bytesWritten()).as("a reinforce writes one row chunk, no vectors")
                    .isLessThan(chunkBytes / 2);
            store.resetCounters();
            space.apply(new SpaceEvent.Associate("z", T0, "m3", "m" + (n - 3), 1f, false));
            assertThat(store.chunkWrites()).as("an associate writes the edge chunks of its two ends").isEqualTo(2);
            store.resetCounters();
            space.apply(new SpaceEvent.Forget("w", T0, "m" + (97 * 3)));
            perForget.put(n, store.bytesWritten());
            assertThat(store.chunkWrites()).as("a forget: own row, vector, edge chunk, and the neighbours' chunk")
                    .isLessThanOrEqualTo(5);
        }
        // equal up to the ids' lengths in the row chunk ("m99999" is longer than "m999")
        assertThat(perStore.get(100_000)).as("bytes per store do not grow with the space")
                .isLessThanOrEqualTo(perStore.get(1_000) + 64L * 3);
        assertThat(perForget.get(100_000)).isLessThanOrEqualTo(perForget.get(1_000) + 64);
    }

    @Test
    void anIndexThatDisagreesWithItsEdgeChunksIsReportedAsDamagedState() throws Rejection {
        InMemorySpaceStore store = new InMemorySpaceStore(false);
        MemorySpace space = new MemorySpace(store, InMemorySpaceStore.rules(8));
        storeNumbered(space, 3, 1e5f);
        space.apply(new SpaceEvent.Associate("a0", T0, "m0", "m1", 0.5f, true));
        space.apply(new SpaceEvent.Associate("a1", T0, "m1", "m2", 0.5f, false));
        assertThat(space.graph().edgeCount()).isEqualTo(3);
        for (long counted : new long[] {1, 5}) { // chunks hold more (the fault test's crash loop), or fewer
            SpaceIndex damaged = store.index().copy();
            damaged.edges = counted;
            damaged.graphVersion++;
            store.putIndex(damaged);
            assertThatThrownBy(space::graph).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("space state is inconsistent: its index counts " + counted + " edges")
                    .hasMessageContaining("restore from an earlier checkpoint");
        }
    }

    @Test
    void aHubWithManyEdgesIsForgottenByVisitingItsNeighboursOnly() throws Rejection {
        InMemorySpaceStore store = new InMemorySpaceStore(false);
        MemorySpace space = new MemorySpace(store, InMemorySpaceStore.rules(64));
        int n = 20_000;
        for (int i = 0; i < n; i++) {
            space.apply(new SpaceEvent.Store("e" + i, T0, "m" + i, new float[] {1, 0, 0, i}, 1f, 100f, null));
        }
        for (int i = 1; i < n; i++) {
            space.apply(new SpaceEvent.Associate("a" + i, T0, "m0", "m" + i, 0.5f, i % 2 == 0));
        }
        assertThat(store.index().edges).isEqualTo((n - 1) + (n - 1) / 2);
        // forgetting neighbours one by one is O(1) each on the hub's lists (tombstones, a position index)
        for (int i = 1; i < n; i += 2) {
            space.apply(new SpaceEvent.Forget("f" + i, T0, "m" + i));
        }
        assertThat(store.index().edges).isEqualTo(2L * ((n - 1) / 2));
        Change c = space.apply(new SpaceEvent.Forget("hub", T0, "m0"));
        assertThat(c.edges()).isEqualTo(-2L * ((n - 1) / 2));
        assertThat(store.index().edges).isZero();
        assertThat(space.graph().edgeCount()).isZero();
    }

    @Test
    void dimensionMismatchFullSpaceAndUnknownIdsAreRejectedWithoutChange() throws Rejection {
        InMemorySpaceStore store = new InMemorySpaceStore(true);
        MemorySpace space = new MemorySpace(store, new SpaceRules(4, 2, 100f, 1000f, 2f));
        space.apply(new SpaceEvent.Store("a", T0, "a", new float[] {1, 0}, 1f, 100f, null));
        space.apply(new SpaceEvent.Store("b", T0, "b", new float[] {0, 1}, 1f, 100f, null));
        SpaceState before = SpaceState.denseCopyOf(store);
        assertThatThrownBy(() -> space.apply(new SpaceEvent.Store("c", T0, "c", new float[] {1, 0, 0}, 1, 1f, null)))
                .isInstanceOf(Rejection.class).extracting(x -> ((Rejection) x).reason()).isEqualTo(Reason.DIM_MISMATCH);
        assertThatThrownBy(() -> space.apply(new SpaceEvent.Store("c", T0, "c", new float[] {1, 1}, 1, 1f, null)))
                .extracting(x -> ((Rejection) x).reason()).isEqualTo(Reason.SPACE_FULL);
        assertThatThrownBy(() -> space.apply(new SpaceEvent.Associate("d", T0, "a", "nope", 1f, true)))
                .extracting(x -> ((Rejection) x).reason()).isEqualTo(Reason.UNKNOWN_MEMORY);
        assertThatThrownBy(() -> space.apply(new SpaceEvent.Forget("d", T0, "nope")))
                .extracting(x -> ((Rejection) x).reason()).isEqualTo(Reason.UNKNOWN_MEMORY);
        assertThatThrownBy(() -> space.apply(new SpaceEvent.Reinforce("d", T0, "nope")))
                .extracting(x -> ((Rejection) x).reason()).isEqualTo(Reason.UNKNOWN_MEMORY);
        assertThat(memories(SpaceState.denseCopyOf(store))).isEqualTo(memories(before));
        space.apply(new SpaceEvent.Store("b2", T0, "b", new float[] {1, 1}, 1f, 100f, null));
        assertThat(store.index().memories).as("a re-store is allowed when full").isEqualTo(2);
    }

    @Test
    void stabilityIsCappedAtStoreAsAtReinforce() throws Rejection {
        InMemorySpaceStore store = new InMemorySpaceStore(false);
        MemorySpace space = new MemorySpace(store, new SpaceRules(4, 10, 100f, 1000f, 2f));
        space.apply(new SpaceEvent.Store("a", T0, "a", new float[] {1, 0}, 1f, 1e10f, null));
        space.apply(new SpaceEvent.Store("b", T0, "b", new float[] {1, 0}, 1f, null, null));
        SpaceState s = SpaceState.denseCopyOf(store);
        assertThat(s.stability()[s.rowOf("a")]).isEqualTo(1000f);
        assertThat(s.stability()[s.rowOf("b")]).as("the default").isEqualTo(100f);
    }

    @Test
    void contentIsKeptPerSlotReplacedByARestoreAndDroppedByAForget() throws Rejection {
        InMemorySpaceStore store = new InMemorySpaceStore(true);
        MemorySpace space = new MemorySpace(store, InMemorySpaceStore.rules(4));
        space.apply(new SpaceEvent.Store("a", T0, "a", new float[] {1, 0}, 1f, 100f, "the cat sat"));
        int slot = store.slotOf("a");
        assertThat(space.content(slot)).isEqualTo("the cat sat");
        space.apply(new SpaceEvent.Store("a2", T0, "a", new float[] {1, 0}, 1f, 100f, "on the mat"));
        assertThat(space.content(slot)).isEqualTo("on the mat");
        space.apply(new SpaceEvent.Store("a3", T0, "a", new float[] {1, 0}, 1f, 100f, null));
        assertThat(space.content(slot)).as("a re-store without content has none").isNull();
        space.apply(new SpaceEvent.Store("a4", T0, "a", new float[] {1, 0}, 1f, 100f, "x"));
        space.apply(new SpaceEvent.Forget("f", T0, "a"));
        assertThat(space.content(slot)).isNull();
        space.apply(new SpaceEvent.Store("b", T0, "b", new float[] {1, 0}, 1f, 100f, null));
        assertThat(store.slotOf("b")).isEqualTo(slot);
        assertThat(space.content(slot)).as("the reused slot does not inherit content").isNull();
    }

    @Test
    void extremeButFiniteVectorsAreStoredScaledAndRecalled() throws Rejection {
        InMemorySpaceStore store = new InMemorySpaceStore(true);
        MemorySpace space = new MemorySpace(store, InMemorySpaceStore.rules(4));
        float big = 3.0e38f;
        float tiny = Float.MIN_VALUE; // 1.4e-45, a denormal
        space.apply(new SpaceEvent.Store("a", T0, "huge", new float[] {big, big, 0}, 1f, 100f, null));
        space.apply(new SpaceEvent.Store("b", T0, "denormal", new float[] {0, tiny, tiny}, 1f, 100f, null));
        space.apply(new SpaceEvent.Store("c", T0, "plain", new float[] {0.5f, 0, 0}, 1f, 100f, null));
        SpaceState s = SpaceState.denseCopyOf(store);
        assertThat(java.util.Arrays.copyOfRange(s.embeddings(), s.rowOf("plain") * 3, s.rowOf("plain") * 3 + 3))
                .as("ordinary vectors are stored as sent").containsExactly(0.5f, 0f, 0f);
        RecallParams p = new RecallParams(3, 0, 1f, 0f, 3);
        List<Hit> hits = new RecallEngine().recall(space, new float[] {1, 1, 0}, T0, p, new JavaKernels());
        assertThat(hits.get(0).memoryId()).isEqualTo("huge");
        assertThat((double) hits.get(0).similarity()).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-6));
        hits = new RecallEngine().recall(space, new float[] {0, tiny, tiny}, T0, p, new JavaKernels());
        assertThat(hits.get(0).memoryId()).isEqualTo("denormal");
        assertThat((double) hits.get(0).similarity()).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-6));
        hits = new RecallEngine().recall(space, new float[] {big, 0, 0}, T0, p, new JavaKernels());
        assertThat(hits).extracting(Hit::memoryId).as("a near-FLT_MAX cue too").containsExactly("plain", "huge");
    }
}
