package io.engram.job.e2e;

import io.engram.schemas.Associate;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.Forget;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A deterministic (seeded) workload: memory events for several spaces, with valid records of every kind (stores with
 * and without stability, replacements, associations incl. bidirectional and replaced edges, reinforcements up to the
 * stability cap, forgets, re-stores, exact and payload-changing replays) interleaved with invalid ones whose
 * dead-letter reason is known; then recall queries with varied overrides, each with the answer the
 * {@link ReferenceModel} expects. Every record is applied to the model as it is generated, so the expectations are
 * those of the produced order.
 */
final class Workload {
    /** One record to produce: topic kind, key, value, and the dead-letter reason it must get (null: none). */
    record Input(Kind kind, byte[] key, byte[] value, String expectedReason, String what) {
    }

    enum Kind { EVENT, QUERY }

    /** A valid query's content, reissued under several ids by the savepoint test; with its expected answer. */
    record QuerySpec(String id, String space, RecallQuery query, ReferenceModel.Answer expected) {
    }

    /** Spaces: name, dimension, memories. "never-stored" gets queries only. */
    static final String[][] SPACES = {
        {"alpha-8", "8", "36"},
        {"beta_33", "33", "40"},
        {"gamma-5", "5", "22"},
        {"delta-64", "64", "26"},
        {"emptied-4", "4", "5"},
    };
    static final String NEVER_STORED = "never-stored";

    final long t0;
    final ReferenceModel model;
    final List<Input> events = new ArrayList<>();
    final List<QuerySpec> validQueries = new ArrayList<>();
    final List<Input> invalidQueries = new ArrayList<>();
    private final Random rnd;
    private long seq;

    Workload(long seed, long t0, ReferenceModel.Settings settings) {
        this.t0 = t0;
        this.model = new ReferenceModel(settings);
        this.rnd = new Random(seed);
        for (String[] sp : SPACES) {
            events(sp[0], Integer.parseInt(sp[1]), Integer.parseInt(sp[2]));
        }
        crossSpaceInvalidEvents();
    }

    // ----- events ---------------------------------------------------------------------------------------------

    private void events(String space, int dim, int count) {
        long ts = t0 - 2 * 3600_000L + rnd.nextInt(60_000);
        int clusters = Math.max(2, count / 9);
        float[][] centers = new float[clusters][];
        for (int c = 0; c < clusters; c++) {
            centers[c] = gaussian(dim, 1f);
        }
        List<String> ids = new ArrayList<>();
        List<byte[]> appliedEvents = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String id = space + "-m" + i;
            float[] emb = i == 3 && space.startsWith("alpha") ? new float[dim] // a zero vector: similarity 0
                    : noisy(centers[i % clusters], 0.35f);
            float strength = i == 5 ? 0f : 0.2f + rnd.nextFloat() * 1.8f; // strength 0: never a hit
            Float stability = switch (i % 5) {
                case 0 -> null; // the configured default
                case 1 -> 600f;
                case 2 -> 1800f;
                case 3 -> 3600f;
                default -> 5400f;
            };
            ts += 1000 + rnd.nextInt(30_000);
            byte[] v = event(space, ts, store(id, emb, strength, stability, i % 7 == 0 ? "content " + i : null));
            appliedEvents.add(v);
            ids.add(id);
            if (i == 2) {
                invalidStores(space, dim, ts);
            }
        }
        // twins: equal embedding, strength, stability and access time, so equal scores; stored in the opposite of
        // their id order, so only the (score desc, memory id asc) rule puts "-t0" first
        ts += 1000;
        float[] twin = noisy(centers[0], 0.3f);
        event(space, ts, store(space + "-t1", twin, 1.3f, 3000f, null));
        event(space, ts, store(space + "-t0", twin, 1.3f, 3000f, null));
        if (space.startsWith("emptied")) {
            event(space, ts, forget(space + "-t1"));
            event(space, ts, forget(space + "-t0"));
            // every memory forgotten again: the space is empty but keeps its dimension
            for (String id : ids) {
                ts += 500;
                event(space, ts, forget(id));
            }
            ts += 500;
            event(space, ts, store("late-dim-mismatch", gaussian(dim + 1, 1f), 1f, null, null)); // DIM_MISMATCH
            sentinel(space, ts + 1);
            return;
        }
        // associations: 0..3 out-edges per memory, a quarter bidirectional, weights incl. exactly 0 and 1
        for (int i = 0; i < count; i++) {
            int out = rnd.nextInt(4);
            for (int j = 0; j < out; j++) {
                int t = rnd.nextInt(count);
                if (t == i) {
                    continue;
                }
                float w = switch (rnd.nextInt(10)) {
                    case 0 -> 1f;
                    case 1 -> 0f;
                    default -> 0.05f + rnd.nextFloat() * 0.95f;
                };
                ts += 200 + rnd.nextInt(5000);
                event(space, ts, associate(ids.get(i), ids.get(t), w, rnd.nextInt(4) == 0));
            }
        }
        ts += 100;
        event(space, ts, associate(ids.get(0), ids.get(0), 0.5f, false)); // SELF_EDGE
        event(space, ts, associate(ids.get(0), ids.get(1), 1.5f, false)); // BAD_WEIGHT
        event(space, ts, associate(ids.get(0), ids.get(1), -0.1f, true)); // BAD_WEIGHT
        event(space, ts, associate(ids.get(0), ids.get(1), Float.NaN, false)); // NON_FINITE
        event(space, ts, associate(ids.get(0), space + "-nope", 0.5f, false)); // UNKNOWN_MEMORY
        // replace a few edges' weights (and one pair in both directions)
        for (int r = 0; r < 4; r++) {
            ts += 1000;
            int a = rnd.nextInt(count);
            int b = (a + 1 + rnd.nextInt(count - 1)) % count;
            event(space, ts, associate(ids.get(a), ids.get(b), 0.3f + 0.7f * rnd.nextFloat(), r == 0));
            event(space, ts + 1, associate(ids.get(a), ids.get(b), 0.1f + 0.9f * rnd.nextFloat(), r == 1));
        }
        // reinforcements; memory 8 (stability 3600 s) four times, past the 3 h stability cap
        for (int r = 0; r < 8; r++) {
            ts += 2000 + rnd.nextInt(60_000);
            event(space, ts, reinforce(ids.get(rnd.nextInt(count))));
        }
        for (int r = 0; r < 4; r++) {
            ts += 1000;
            event(space, ts, reinforce(ids.get(8)));
        }
        // out of order: a reinforce stamped before the memory was even stored keeps the later access time
        event(space, t0 - 2 * 3600_000L - 300_000, reinforce(ids.get(2)));
        event(space, ts, reinforce(space + "-nope")); // UNKNOWN_MEMORY
        // replace two memories (new embedding, strength, stability, access time); edges stay
        for (int r = 0; r < 2; r++) {
            ts += 5000;
            int i = 6 + r;
            event(space, ts, store(ids.get(i), noisy(centers[(i + 1) % clusters], 0.3f), 1.1f, 900f, null));
        }
        // forget three memories with their edges, then store one of them again (it comes back without edges)
        for (int r = 0; r < 3; r++) {
            ts += 3000;
            event(space, ts, forget(ids.get(10 + 3 * r)));
        }
        event(space, ts, forget(ids.get(10))); // UNKNOWN_MEMORY: already forgotten
        ts += 3000;
        event(space, ts, store(ids.get(13), noisy(centers[0], 0.2f), 1.5f, 2400f, null));
        ts += 1000;
        event(space, ts, associate(ids.get(13), ids.get(0), 0.9f, false));
        // replays: exact ones, and one with the same event id but another payload; all ignored
        for (int r = 0; r < 3; r++) {
            produceRaw(Kind.EVENT, space, appliedEvents.get(r * 4 + 1), null, "exact replay");
        }
        MemoryEvent firstStore;
        try {
            firstStore = AvroCodec.decodeMemoryEvent(appliedEvents.get(0));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
        MemoryEvent changed = MemoryEvent.newBuilder(firstStore)
                .setPayload(store(ids.get(0), gaussian(dim, 1f), 9f, 1f, null)).build();
        add(space, changed, "replay with another payload");
        sentinel(space, ts + 1);
    }

    /** Invalid stores, produced early in a space (after its dimension is set). */
    private void invalidStores(String space, int dim, long ts) {
        event(space, ts, store(space + "-wrongdim", gaussian(dim + 3, 1f), 1f, null, null)); // DIM_MISMATCH
        float[] nan = gaussian(dim, 1f);
        nan[dim / 2] = Float.POSITIVE_INFINITY;
        event(space, ts, store(space + "-inf", nan, 1f, null, null)); // NON_FINITE
        event(space, ts, store(space + "-neg", gaussian(dim, 1f), -0.5f, null, null)); // BAD_STRENGTH
        event(space, ts, store(space + "-stab0", gaussian(dim, 1f), 1f, 0f, null)); // BAD_STABILITY
        event(space, ts, store("", gaussian(dim, 1f), 1f, null, null)); // BAD_ID
        event(space, ts, store(space + "-empty", new float[0], 1f, null, null)); // EMPTY_EMBEDDING
        event(space, t0 + 5 * 3600_000L, store(space + "-future", gaussian(dim, 1f), 1f, null, null)); // FUTURE
        byte[] key = space.getBytes(StandardCharsets.UTF_8);
        produceRaw(Kind.EVENT, space, "not avro at all".getBytes(StandardCharsets.UTF_8), "BAD_HEADER", "garbage");
        byte[] good = AvroCodec.encode(MemoryEvent.newBuilder().setSpace(space).setEventId(nextEventId(space))
                .setTimestampMs(ts).setPayload(store(space + "-cut", gaussian(dim, 1f), 1f, null, null)).build());
        produceRaw(Kind.EVENT, space, Arrays.copyOf(good, 16), "UNDECODABLE", "truncated");
        events.add(new Input(Kind.EVENT, key, null, "EMPTY", "null value"));
    }

    /** Records whose key and payload disagree, or whose key is missing or invalid. */
    private void crossSpaceInvalidEvents() {
        long ts = t0 - 60_000;
        MemoryEvent e = MemoryEvent.newBuilder().setSpace("beta_33").setEventId("x-1").setTimestampMs(ts)
                .setPayload(store("x", gaussian(33, 1f), 1f, null, null)).build();
        addWithKey("alpha-8", e, "payload space differs from key"); // SPACE_MISMATCH
        addWithKey(null, MemoryEvent.newBuilder(e).setEventId("x-2").build(), "no key"); // SPACE_MISMATCH
        MemoryEvent bad = MemoryEvent.newBuilder(e).setSpace("Bad Space!").setEventId("x-3").build();
        addWithKey("Bad Space!", bad, "invalid space"); // BAD_SPACE
    }

    private void sentinel(String space, long ts) {
        event(space, ts, forget("zz-sentinel")); // UNKNOWN_MEMORY, the last event of the space
    }

    // ----- queries --------------------------------------------------------------------------------------------

    /** Generates the queries; call after all events. Ambiguous candidates are replaced by fresh ones. */
    void queries(int perSpace) {
        List<String> names = new ArrayList<>();
        for (String[] sp : SPACES) {
            names.add(sp[0]);
        }
        names.add(NEVER_STORED);
        for (String space : names) {
            ReferenceModel.Space s = model.spaces.get(space);
            int dim = s == null || s.dim == 0 ? 7 : s.dim;
            int made = 0;
            for (int attempt = 0; made < perSpace && attempt < perSpace * 20; attempt++) {
                RecallQuery q = randomQuery(space, dim, s, made);
                ReferenceModel.Answer a = model.recall(space, q, t0);
                if (a.deadLetterReason() != null) {
                    throw new IllegalStateException("generated an invalid query by accident: " + a + " " + q);
                }
                if (a.ambiguous()) {
                    continue;
                }
                validQueries.add(new QuerySpec(q.getQueryId(), space, q, a));
                made++;
            }
            if (made < perSpace) {
                throw new IllegalStateException("could not generate unambiguous queries for " + space);
            }
            // probes of the reinforced memories (m8 past the stability cap, m2 reinforced out of order) and of the
            // twins: their exact embedding as cue, the memory as the only seed
            if (s != null && s.memories.containsKey(space + "-m8")) {
                for (String probe : List.of("-m8", "-m2", "-t0")) {
                    RecallQuery q = RecallQuery.newBuilder().setQueryId(space + "-probe" + probe).setSpace(space)
                            .setTimestampMs(t0 - 60_000).setCue(toList(s.memories.get(space + probe).embedding))
                            .setK(3).setSeedK(probe.equals("-t0") ? 2 : 1).setMaxHops(0).build();
                    ReferenceModel.Answer a = model.recall(space, q, t0);
                    if (!a.ambiguous()) {
                        validQueries.add(new QuerySpec(q.getQueryId(), space, q, a));
                    }
                }
            }
        }
        // invalid queries, each with its reason
        RecallQuery base = validQueries.get(0).query();
        invalidQuery(RecallQuery.newBuilder(base).setK(0), "BAD_K");
        invalidQuery(RecallQuery.newBuilder(base).setMaxHops(17), "BAD_HOPS");
        invalidQuery(RecallQuery.newBuilder(base).setSeedK(0), "BAD_SEED_K");
        invalidQuery(RecallQuery.newBuilder(base).setHopDecay(0f), "BAD_HOP_DECAY");
        invalidQuery(RecallQuery.newBuilder(base).setThreshold(Float.NaN), "BAD_THRESHOLD");
        invalidQuery(RecallQuery.newBuilder(base).setCue(List.of(1f, 2f)), "DIM_MISMATCH");
        List<Float> nanCue = new ArrayList<>(base.getCue());
        nanCue.set(0, Float.NaN);
        invalidQuery(RecallQuery.newBuilder(base).setCue(nanCue), "NON_FINITE");
        invalidQuery(RecallQuery.newBuilder(base).setTimestampMs(t0 + 5 * 3600_000L), "FUTURE_TIMESTAMP");
        invalidQuery(RecallQuery.newBuilder(base).setQueryId(""), "BAD_ID");
        invalidQueries.add(new Input(Kind.QUERY, base.getSpace().getBytes(StandardCharsets.UTF_8),
                "garbage".getBytes(StandardCharsets.UTF_8), "BAD_HEADER", "garbage query"));
    }

    private void invalidQuery(RecallQuery.Builder b, String reason) {
        RecallQuery q = b.setQueryId(b.getQueryId().isEmpty() ? "" : "bad-" + reason.toLowerCase()).build();
        ReferenceModel.Answer a = model.recall(q.getSpace(), q, t0);
        if (!reason.equals(a.deadLetterReason())) {
            throw new IllegalStateException("model says " + a.deadLetterReason() + " for the " + reason + " query");
        }
        invalidQueries.add(new Input(Kind.QUERY, q.getSpace().getBytes(StandardCharsets.UTF_8), AvroCodec.encode(q),
                reason, "query " + reason));
    }

    private RecallQuery randomQuery(String space, int dim, ReferenceModel.Space s, int n) {
        List<ReferenceModel.Memory> rows = s == null ? List.of() : s.rows();
        float[] cue;
        int kind = n % 6;
        if (rows.isEmpty() || kind == 5) {
            cue = gaussian(dim, 1f);
        } else if (kind == 0) {
            cue = rows.get(rnd.nextInt(rows.size())).embedding.clone(); // similarity 1 with that memory
        } else if (kind == 4 && n == 4) {
            cue = new float[dim]; // zero cue: no seeds, no hits
        } else {
            cue = noisy(rows.get(rnd.nextInt(rows.size())).embedding, 0.5f);
            if (kind == 3) {
                for (int i = 0; i < dim; i++) {
                    cue[i] = -cue[i]; // the far side of the space
                }
            }
        }
        int[] ks = {1, 3, 5, 10, 25, 200};
        RecallQuery.Builder b = RecallQuery.newBuilder()
                .setQueryId(space + "-q" + n + "-" + Long.toHexString(rnd.nextLong() & 0xffffff))
                .setSpace(space)
                // mostly the last 40 minutes; sometimes before most accesses (retention 1 for those)
                .setTimestampMs(n % 7 == 6 ? t0 - 110 * 60_000L : t0 - rnd.nextInt(40 * 60_000))
                .setCue(toList(cue))
                .setK(ks[rnd.nextInt(ks.length)]);
        Integer[] seedKs = {null, 1, 3, 8, 50};
        Integer[] hops = {null, 0, 1, 2, 4};
        Float[] decays = {null, 0.5f, 1f, 0.9f};
        Float[] thresholds = {null, 0f, 0.05f, 0.3f};
        b.setSeedK(seedKs[rnd.nextInt(seedKs.length)]);
        b.setMaxHops(hops[rnd.nextInt(hops.length)]);
        b.setHopDecay(decays[rnd.nextInt(decays.length)]);
        b.setThreshold(thresholds[rnd.nextInt(thresholds.length)]);
        return b.build();
    }

    /** The same query content under another id (for reissuing a query after a restore). */
    static RecallQuery withId(RecallQuery q, String id) {
        return RecallQuery.newBuilder(q).setQueryId(id).build();
    }

    // ----- record building ------------------------------------------------------------------------------------

    private String nextEventId(String space) {
        return space + "-e" + (seq++);
    }

    private byte[] event(String space, long ts, Object payload) {
        return add(space, MemoryEvent.newBuilder().setSpace(space).setEventId(nextEventId(space)).setTimestampMs(ts)
                .setPayload(payload).build(), null);
    }

    private byte[] add(String space, MemoryEvent e, String what) {
        return addWithKey(space, e, what);
    }

    private byte[] addWithKey(String key, MemoryEvent e, String what) {
        String reason = model.apply(key == null ? "" : key, e, t0);
        byte[] value = AvroCodec.encode(e);
        events.add(new Input(Kind.EVENT, key == null ? null : key.getBytes(StandardCharsets.UTF_8), value, reason,
                what == null ? describe(e) : what));
        return value;
    }

    private void produceRaw(Kind kind, String space, byte[] value, String reason, String what) {
        if (reason == null) {
            // a valid record's bytes replayed: apply to the model too
            try {
                String r = model.apply(space, AvroCodec.decodeMemoryEvent(value), t0);
                if (r != null) {
                    throw new IllegalStateException("replay rejected by the model: " + r);
                }
            } catch (io.engram.schemas.DecodeException e) {
                throw new IllegalStateException(e);
            }
        }
        events.add(new Input(kind, space.getBytes(StandardCharsets.UTF_8), value, reason, what));
    }

    private static String describe(MemoryEvent e) {
        return e.getPayload().getClass().getSimpleName() + " " + e.getEventId();
    }

    private static StoreMemory store(String id, float[] emb, float strength, Float stability, String content) {
        return StoreMemory.newBuilder().setMemoryId(id).setEmbedding(toList(emb)).setStrength(strength)
                .setStabilityS(stability).setContent(content).build();
    }

    private static ReinforceMemory reinforce(String id) {
        return ReinforceMemory.newBuilder().setMemoryId(id).build();
    }

    private static Associate associate(String from, String to, float w, boolean bidirectional) {
        return Associate.newBuilder().setFromId(from).setToId(to).setWeight(w).setBidirectional(bidirectional).build();
    }

    private static Forget forget(String id) {
        return Forget.newBuilder().setMemoryId(id).build();
    }

    private float[] gaussian(int dim, float scale) {
        float[] v = new float[dim];
        for (int i = 0; i < dim; i++) {
            v[i] = (float) (rnd.nextGaussian() * scale);
        }
        return v;
    }

    private float[] noisy(float[] center, float noise) {
        float[] v = new float[center.length];
        for (int i = 0; i < v.length; i++) {
            v[i] = center[i] + (float) (rnd.nextGaussian() * noise);
        }
        return v;
    }

    static List<Float> toList(float[] v) {
        List<Float> l = new ArrayList<>(v.length);
        for (float x : v) {
            l.add(x);
        }
        return l;
    }
}
