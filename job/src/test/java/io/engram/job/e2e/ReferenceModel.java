package io.engram.job.e2e;

import io.engram.schemas.Associate;
import io.engram.schemas.Forget;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * An independent, deliberately naive model of what the job must do: plain maps and lists, plain double loops, no
 * kernel, no {@code SpaceState}, no {@code RecallEngine}. The end-to-end tests apply every produced record to it and
 * compare every job answer with {@link #recall}.
 *
 * <p>Memories are kept in a {@link LinkedHashMap} (insertion order = the job's row order: a replaced memory keeps
 * its place, a forgotten one leaves a gap that later rows close up, a re-stored one goes to the end) and edges in an
 * insertion-ordered list, so the spreading walks nodes and edges in the order the recall contract prescribes.
 * Arithmetic is in double; where float rounding of the job could flip a discrete decision (a seed or top-k
 * boundary, a contribution next to the threshold) the answer is flagged {@link Answer#ambiguities ambiguous}, and the
 * workload generator never asks such a query.
 */
final class ReferenceModel {
    static final Pattern SPACE = Pattern.compile("[a-z0-9_-]{3,64}");

    /** The job settings the model needs; must match the job's configuration. */
    record Settings(float defaultStabilityS, float reinforceFactor, float maxStabilityS, int maxHops, float hopDecay,
                    float threshold, int seedK, int maxK, int maxQueryHops, int maxSeedK, int maxDim,
                    int maxIdLength, long maxFutureSkewMs) {
    }

    static final class Memory {
        final String id;
        float[] embedding;
        float strength;
        float stability;
        long lastAccess;
        /** Null when the last store had none. */
        String content;

        Memory(String id) {
            this.id = id;
        }
    }

    static final class Edge {
        final String from;
        final String to;
        float weight;

        Edge(String from, String to, float weight) {
            this.from = from;
            this.to = to;
            this.weight = weight;
        }
    }

    static final class Space {
        int dim;
        final LinkedHashMap<String, Memory> memories = new LinkedHashMap<>();
        final List<Edge> edges = new ArrayList<>();
        final Set<String> appliedEventIds = new HashSet<>();
        /** The applied events' timestamps by event id: what the job's dedup map holds. */
        final Map<String, Long> appliedEventTimes = new TreeMap<>();

        /** Slot → memory id (null: a free slot), allocated as the job's chunked layout does it. */
        final List<String> slots = new ArrayList<>();

        /** The memories in slot order: the order of the job's dense view and of its spreading frontier. */
        List<Memory> rows() {
            List<Memory> l = new ArrayList<>();
            for (String id : slots) {
                if (id != null) {
                    l.add(memories.get(id));
                }
            }
            return l;
        }

        /** A new memory takes the lowest free slot, else a new one at the end. */
        void allocate(String id) {
            int free = slots.indexOf(null);
            if (free >= 0) {
                slots.set(free, id);
            } else {
                slots.add(id);
            }
        }

        void free(String id) {
            slots.set(slots.indexOf(id), null);
        }

        /** The edges grouped by their source's slot, each source's in insertion order (the job's dense order). */
        List<Edge> edgesBySource() {
            List<Edge> l = new ArrayList<>(edges);
            l.sort(java.util.Comparator.comparingInt(e -> slots.indexOf(e.from)));
            return l;
        }
    }

    /** One expected hit; doubles, compared with tolerances. */
    record RefHit(String memoryId, double score, double similarity, double activation, double retention, int hops) {
    }

    /** The expected answer of a query: its hits, or a dead-letter reason; plus why it could be fragile. */
    record Answer(List<RefHit> hits, String deadLetterReason, List<String> ambiguities) {
        boolean ambiguous() {
            return !ambiguities.isEmpty();
        }
    }

    final Settings settings;
    final Map<String, Space> spaces = new TreeMap<>();

    ReferenceModel(Settings settings) {
        this.settings = settings;
    }

    Space space(String name) {
        return spaces.computeIfAbsent(name, n -> new Space());
    }

    // ----- memory events --------------------------------------------------------------------------------------

    /**
     * Applies an event that arrived with record key {@code keySpace} at wall-clock time {@code wallNow}.
     *
     * @return null if it was applied or ignored as a duplicate, else the dead-letter reason
     */
    String apply(String keySpace, MemoryEvent e, long wallNow) {
        String bad = envelope(keySpace, e.getSpace(), e.getEventId(), e.getTimestampMs(), wallNow);
        if (bad != null) {
            return bad;
        }
        Object p = e.getPayload();
        if (p instanceof StoreMemory m) {
            if (badId(m.getMemoryId())) {
                return "BAD_ID";
            }
            String v = vector(m.getEmbedding());
            if (v != null) {
                return v;
            }
            if (!(m.getStrength() >= 0f) || Float.isInfinite(m.getStrength())) {
                return "BAD_STRENGTH";
            }
            Float st = m.getStabilityS();
            if (st != null && (!(st > 0f) || Float.isInfinite(st))) {
                return "BAD_STABILITY";
            }
        } else if (p instanceof ReinforceMemory r) {
            if (badId(r.getMemoryId())) {
                return "BAD_ID";
            }
        } else if (p instanceof Associate a) {
            if (badId(a.getFromId()) || badId(a.getToId())) {
                return "BAD_ID";
            }
            float w = a.getWeight();
            if (Float.isNaN(w) || Float.isInfinite(w)) {
                return "NON_FINITE";
            }
            if (w < 0f || w > 1f) {
                return "BAD_WEIGHT";
            }
            if (a.getFromId().equals(a.getToId())) {
                return "SELF_EDGE";
            }
        } else if (p instanceof Forget f) {
            if (badId(f.getMemoryId())) {
                return "BAD_ID";
            }
        }
        Space s = space(keySpace);
        if (s.appliedEventIds.contains(e.getEventId())) {
            return null; // a replay changes nothing
        }
        long ts = e.getTimestampMs();
        if (p instanceof StoreMemory m) {
            int dim = m.getEmbedding().size();
            if (s.dim != 0 && dim != s.dim) {
                return "DIM_MISMATCH";
            }
            if (s.dim == 0) {
                s.dim = dim;
            }
            if (!s.memories.containsKey(m.getMemoryId())) {
                s.allocate(m.getMemoryId());
            }
            Memory mem = s.memories.computeIfAbsent(m.getMemoryId(), Memory::new);
            mem.embedding = toArray(m.getEmbedding());
            mem.strength = m.getStrength();
            mem.content = m.getContent() == null ? null : m.getContent().toString();
            // the stability cap applies at store as at reinforce
            mem.stability = Math.min(settings.maxStabilityS,
                    m.getStabilityS() == null ? settings.defaultStabilityS : m.getStabilityS());
            mem.lastAccess = ts;
        } else if (p instanceof ReinforceMemory r) {
            Memory mem = s.memories.get(r.getMemoryId());
            if (mem == null) {
                return "UNKNOWN_MEMORY";
            }
            mem.lastAccess = Math.max(mem.lastAccess, ts);
            mem.stability = Math.min(settings.maxStabilityS, mem.stability * settings.reinforceFactor);
        } else if (p instanceof Associate a) {
            if (!s.memories.containsKey(a.getFromId()) || !s.memories.containsKey(a.getToId())) {
                return "UNKNOWN_MEMORY";
            }
            addOrReplace(s, a.getFromId(), a.getToId(), a.getWeight());
            if (a.getBidirectional()) {
                addOrReplace(s, a.getToId(), a.getFromId(), a.getWeight());
            }
        } else if (p instanceof Forget f) {
            if (s.memories.remove(f.getMemoryId()) == null) {
                return "UNKNOWN_MEMORY";
            }
            s.free(f.getMemoryId());
            s.edges.removeIf(edge -> edge.from.equals(f.getMemoryId()) || edge.to.equals(f.getMemoryId()));
        }
        s.appliedEventIds.add(e.getEventId());
        s.appliedEventTimes.put(e.getEventId(), ts);
        return null;
    }

    private static void addOrReplace(Space s, String from, String to, float w) {
        for (Edge e : s.edges) {
            if (e.from.equals(from) && e.to.equals(to)) {
                e.weight = w;
                return;
            }
        }
        s.edges.add(new Edge(from, to, w));
    }

    private String envelope(String keySpace, String space, String id, long ts, long wallNow) {
        if (space == null || !SPACE.matcher(space).matches()) {
            return "BAD_SPACE";
        }
        if (!space.equals(keySpace)) {
            return "SPACE_MISMATCH";
        }
        if (badId(id)) {
            return "BAD_ID";
        }
        if (ts < 0) {
            return "BAD_TIMESTAMP";
        }
        if (ts - wallNow > settings.maxFutureSkewMs) {
            return "FUTURE_TIMESTAMP";
        }
        return null;
    }

    private boolean badId(String id) {
        return id == null || id.isEmpty() || id.length() > settings.maxIdLength;
    }

    private String vector(List<Float> v) {
        if (v == null || v.isEmpty()) {
            return "EMPTY_EMBEDDING";
        }
        if (v.size() > settings.maxDim) {
            return "DIM_TOO_LARGE";
        }
        for (Float x : v) {
            if (x.isNaN() || x.isInfinite()) {
                return "NON_FINITE";
            }
        }
        return null;
    }

    // ----- recall ---------------------------------------------------------------------------------------------

    /** The expected answer to {@code q} (arriving with record key {@code keySpace}) against the current state. */
    Answer recall(String keySpace, RecallQuery q, long wallNow) {
        List<String> amb = new ArrayList<>();
        String bad = envelope(keySpace, q.getSpace(), q.getQueryId(), q.getTimestampMs(), wallNow);
        if (bad == null) {
            bad = vector(q.getCue());
        }
        int k = q.getK();
        int hops = q.getMaxHops() == null ? settings.maxHops : q.getMaxHops();
        int seedK = q.getSeedK() == null ? settings.seedK : q.getSeedK();
        float decay = q.getHopDecay() == null ? settings.hopDecay : q.getHopDecay();
        float threshold = q.getThreshold() == null ? settings.threshold : q.getThreshold();
        if (bad == null && (k < 1 || k > settings.maxK)) {
            bad = "BAD_K";
        }
        if (bad == null && (hops < 0 || hops > settings.maxQueryHops)) {
            bad = "BAD_HOPS";
        }
        if (bad == null && (seedK < 1 || seedK > settings.maxSeedK)) {
            bad = "BAD_SEED_K";
        }
        if (bad == null && !(decay > 0f && decay <= 1f)) {
            bad = "BAD_HOP_DECAY";
        }
        if (bad == null && (!(threshold >= 0f) || Float.isInfinite(threshold))) {
            bad = "BAD_THRESHOLD";
        }
        if (bad != null) {
            return new Answer(List.of(), bad, amb);
        }
        Space s = spaces.get(keySpace);
        if (s == null || s.memories.isEmpty()) {
            return new Answer(List.of(), null, amb);
        }
        if (q.getCue().size() != s.dim) {
            return new Answer(List.of(), "DIM_MISMATCH", amb);
        }
        List<Memory> rows = s.rows();
        int n = rows.size();
        Map<String, Integer> rowOf = new LinkedHashMap<>();
        for (int i = 0; i < n; i++) {
            rowOf.put(rows.get(i).id, i);
        }
        float[] cue = toArray(q.getCue());
        long at = q.getTimestampMs();

        double[] retention = new double[n];
        double[] similarity = new double[n];
        for (int i = 0; i < n; i++) {
            Memory m = rows.get(i);
            retention[i] = retention(m.lastAccess, m.stability, at);
            similarity[i] = cosine(cue, m.embedding);
        }

        // Seeds: similarity > 0, best seedK by (similarity desc, id asc).
        List<Integer> candidates = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if (similarity[i] > 0) {
                candidates.add(i);
            }
            if (similarity[i] != 0 && Math.abs(similarity[i]) < 1e-5) {
                amb.add("similarity of " + rows.get(i).id + " is next to 0: " + similarity[i]);
            }
        }
        candidates.sort(Comparator.<Integer>comparingDouble(i -> -similarity[i]).thenComparing(i -> rows.get(i).id));
        if (candidates.size() > seedK) {
            double last = similarity[candidates.get(seedK - 1)];
            double first = similarity[candidates.get(seedK)];
            if (last - first < 1e-5) {
                amb.add("seed boundary " + last + " vs " + first);
            }
        }
        List<Integer> seeds = candidates.subList(0, Math.min(seedK, candidates.size()));
        if (seeds.isEmpty()) {
            return new Answer(List.of(), null, amb);
        }

        // Spreading, per SpreadSemantics: frontier ascending by row, snapshot, c = a*w*decay, c < threshold dropped.
        double[] act = new double[n];
        int[] firstHop = new int[n];
        java.util.Arrays.fill(firstHop, -1);
        TreeSet<Integer> frontier = new TreeSet<>();
        for (int r : seeds) {
            act[r] = Math.max(0, Math.min(1, similarity[r]));
            firstHop[r] = 0;
            frontier.add(r);
        }
        for (int h = 1; h <= hops && !frontier.isEmpty(); h++) {
            Map<Integer, Double> snapshot = new TreeMap<>();
            for (int u : frontier) {
                snapshot.put(u, act[u]);
            }
            TreeSet<Integer> next = new TreeSet<>();
            for (int u : frontier) {
                String uid = rows.get(u).id;
                for (Edge e : s.edges) {
                    if (!e.from.equals(uid)) {
                        continue;
                    }
                    double c = snapshot.get(u) * e.weight * decay;
                    if (Math.abs(c - threshold) < 1e-5 && !(c == 0 && threshold == 0)) {
                        amb.add("contribution " + c + " next to threshold " + threshold);
                    }
                    if (c < threshold) {
                        continue;
                    }
                    int v = rowOf.get(e.to);
                    act[v] = Math.min(1, act[v] + c);
                    if (firstHop[v] == -1) {
                        firstHop[v] = h;
                    }
                    next.add(v);
                }
            }
            frontier = next;
        }

        List<RefHit> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            double score = act[i] * retention[i] * rows.get(i).strength;
            if (score > 0) {
                if (score < 1e-30) {
                    amb.add("score " + score + " of " + rows.get(i).id + " may underflow in f32");
                }
                all.add(new RefHit(rows.get(i).id, score, similarity[i], act[i], retention[i], firstHop[i]));
            }
        }
        all.sort(Comparator.comparingDouble((RefHit h) -> -h.score()).thenComparing(RefHit::memoryId));
        if (all.size() > k) {
            double last = all.get(k - 1).score();
            double first = all.get(k).score();
            if (last - first <= 1e-4 * last + 1e-12) {
                amb.add("top-k boundary " + last + " vs " + first);
            }
        }
        return new Answer(List.copyOf(all.subList(0, Math.min(k, all.size()))), null, amb);
    }

    /** DecaySemantics, in double. */
    static double retention(long lastAccess, float stabilitySeconds, long now) {
        long diff = now - lastAccess;
        if (diff <= 0) {
            return 1;
        }
        if (!(stabilitySeconds > 0)) {
            return 0;
        }
        double x = -((double) diff / 1000.0) / stabilitySeconds;
        return x < -87.0 ? 0 : Math.exp(x);
    }

    /** dot / (|a| |b|), 0 when a norm is 0, clamped to [-1, 1]; plain double loops. */
    static double cosine(float[] a, float[] b) {
        double dot = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        if (aa == 0 || bb == 0) {
            return 0;
        }
        return Math.max(-1, Math.min(1, dot / (Math.sqrt(aa) * Math.sqrt(bb))));
    }

    static float[] toArray(List<Float> v) {
        float[] a = new float[v.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = v.get(i);
        }
        return a;
    }
}
