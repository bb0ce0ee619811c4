package io.engram.job.cli;

import io.engram.schemas.Associate;
import io.engram.schemas.Forget;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.ReinforceMemory;
import io.engram.schemas.StoreMemory;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * The demo's memories: two spaces (two people's memories), three topics each, {@code perTopic} memories per topic.
 * Embeddings are clustered: each topic has a random unit centroid and its memories are the centroid plus noise, so a
 * cue near a centroid recalls that topic. Deterministic for a given seed (the clock aside).
 *
 * <ul>
 *   <li>{@code <topic>-01} is the topic's prototype (little noise), so it always seeds a query about its topic.</li>
 *   <li>{@code <topic>-02} is an old memory (stored 3 h ago, stability 1 h): retention e^-3 ≈ 0.05.</li>
 *   <li>{@code <topic>-05} is fading (stored 45 min ago, stability 1 h): retention ≈ 0.47.</li>
 *   <li>Cross-topic associations ({@code astronomy-01 → sailing-03} "celestial navigation", ...) and one chain
 *       inside a topic ({@code sailing-03 → sailing-08}) make spreading activation visible: hits with hops 1 and 2.
 *       </li>
 *   <li>One reinforce, one forget, and two deliberately invalid records (an association to a memory that does not
 *       exist, a query with the wrong dimension) that end up in the dead-letter topic.</li>
 * </ul>
 */
final class DemoDataset {
    static final String ALICE = "alice";
    static final String BOB = "bob";
    static final Map<String, List<String>> SPACES = new LinkedHashMap<>();

    static {
        SPACES.put(ALICE, List.of("astronomy", "sailing", "chess"));
        SPACES.put(BOB, List.of("cooking", "gardening", "jazz"));
    }

    static final long HOUR_MS = 3_600_000L;

    /** Query parameters: few seeds and two hops, so spreading shows. */
    static final int QUERY_K = 8;
    static final int QUERY_SEED_K = 4;
    static final int QUERY_MAX_HOPS = 2;

    private static final Map<String, String[]> PHRASES = new LinkedHashMap<>();

    static {
        PHRASES.put("astronomy", new String[] {
            "Polaris sits almost exactly above the North Pole",
            "the comet we watched from the roof as kids",
            "Saturn's rings through the club's 8-inch telescope",
            "the Andromeda galaxy as a faint smudge on a dark night",
            "the Perseids peak around August 12",
            "a partial solar eclipse through welding glass",
            "Jupiter's four Galilean moons changing places overnight",
            "the Orion Nebula is a stellar nursery",
            "light pollution map of the valley",
            "red flashlight to keep night vision"});
        PHRASES.put("sailing", new String[] {
            "reefing the main before the squall hit",
            "the first dinghy course on the lake",
            "celestial navigation: a noon sight with the sextant",
            "heaving to for lunch in the bay",
            "a bowline you can tie with your eyes closed",
            "tacking up the narrow channel against the tide",
            "the shipping forecast at 05:20",
            "reducing the sight with the nautical almanac",
            "anchoring with a 5:1 scope",
            "spinnaker run down to the harbour mouth"});
        PHRASES.put("chess", new String[] {
            "the Sicilian Defence, Najdorf variation",
            "losing to grandpa with the Scholar's mate",
            "rook endgames are all drawn, they say",
            "the Queen's Gambit Declined at the club night",
            "blitz: 3 minutes plus 2 seconds",
            "a knight fork on f7",
            "castling queenside to attack on the king's side",
            "the en passant rule surprises every beginner",
            "Zugzwang in a king and pawn ending",
            "the 1972 Fischer-Spassky match"});
        PHRASES.put("cooking", new String[] {
            "basil, thyme and rosemary in the Sunday roast",
            "grandma's apple strudel, stretched thin",
            "a risotto needs patience and warm stock",
            "sourdough starter fed twice a day",
            "searing the steak in a very hot cast-iron pan",
            "a pot of New Orleans gumbo with a dark roux",
            "knife skills: the claw grip",
            "miso soup with silken tofu",
            "brown butter for the pasta",
            "pickled red onions in twenty minutes"});
        PHRASES.put("gardening", new String[] {
            "the tomatoes need staking in June",
            "the apple tree planted by grandpa",
            "compost: two parts brown, one part green",
            "a herb garden on the kitchen windowsill",
            "slugs after the rain ate the lettuce",
            "pruning the roses in late winter",
            "raised beds along the south fence",
            "sowing carrots thinly in sandy soil",
            "rain barrel under the shed gutter",
            "dahlia tubers stored in the cellar"});
        PHRASES.put("jazz", new String[] {
            "Louis Armstrong's Hot Five recordings, New Orleans 1925",
            "the first Coltrane record, on vinyl from a flea market",
            "Kind of Blue, modal jazz at its calmest",
            "walking bass lines on the upright",
            "a late set at the Village Vanguard",
            "trading fours with the drummer",
            "the ii-V-I progression in every key",
            "Ella Fitzgerald scatting How High the Moon",
            "brushes on the snare for a ballad",
            "the Real Book, fifth edition"});
    }

    /** A stored memory of the demo. */
    record Memory(String space, String topic, String id, float[] embedding, long timestampMs, Float stabilityS,
                  String content) {
    }

    /** An association of the demo, with why it exists. */
    record Link(String space, String from, String to, float weight, boolean bidirectional, String why) {
    }

    private final int dim;
    private final int perTopic;
    private final long nowMs;
    private final Random random;
    private final Map<String, float[]> centroids = new LinkedHashMap<>();
    private final Map<String, Memory> memories = new LinkedHashMap<>();
    private final List<Link> links = new ArrayList<>();

    DemoDataset(int dim, int perTopic, long nowMs, long seed) {
        if (dim < 8 || dim > 4096) {
            throw CliException.usage("--dim must be in [8, 4096], got " + dim);
        }
        if (perTopic < 10 || perTopic > 5000) {
            throw CliException.usage("--per-topic must be in [10, 5000], got " + perTopic);
        }
        this.dim = dim;
        this.perTopic = perTopic;
        this.nowMs = nowMs;
        this.random = new Random(seed);
        for (Map.Entry<String, List<String>> s : SPACES.entrySet()) {
            for (String topic : s.getValue()) {
                centroids.put(topic, unit(gaussian(dim)));
            }
        }
        for (Map.Entry<String, List<String>> s : SPACES.entrySet()) {
            for (String topic : s.getValue()) {
                for (int i = 1; i <= perTopic; i++) {
                    String id = id(topic, i);
                    float sigma = (i == 1 || i == 2) ? 0.15f : 0.5f + 0.4f * random.nextFloat();
                    float[] e = noisy(centroids.get(topic), sigma);
                    long ts;
                    Float stability;
                    if (i == 2) {
                        ts = nowMs - 3 * HOUR_MS;
                        stability = 3600f;
                    } else if (i == 5) {
                        ts = nowMs - 45 * 60_000L;
                        stability = 3600f;
                    } else {
                        ts = nowMs - 60_000L - (long) (random.nextDouble() * 29 * 60_000L);
                        stability = null; // the job's default stability (1 day)
                    }
                    memories.put(id, new Memory(s.getKey(), topic, id, e, ts, stability, content(topic, i)));
                }
            }
        }
        links.add(new Link(ALICE, "sailing-03", "sailing-08", 0.85f, false, "reducing the sight"));
        links.add(new Link(ALICE, "astronomy-01", "sailing-03", 0.9f, false, "celestial navigation"));
        links.add(new Link(BOB, "cooking-01", "gardening-04", 0.85f, true, "herb garden"));
        links.add(new Link(BOB, "jazz-01", "cooking-06", 0.8f, false, "New Orleans"));
    }

    static String id(String topic, int i) {
        return String.format("%s-%02d", topic, i);
    }

    private static String content(String topic, int i) {
        String[] p = PHRASES.get(topic);
        String base = p[(i - 1) % p.length];
        return i <= p.length ? base : base + " (note " + i + ")";
    }

    int memoryCount() {
        return memories.size();
    }

    List<Link> links() {
        return links;
    }

    Memory memory(String id) {
        return memories.get(id);
    }

    List<String> topics() {
        List<String> t = new ArrayList<>();
        SPACES.values().forEach(t::addAll);
        return t;
    }

    static String spaceOf(String topic) {
        for (Map.Entry<String, List<String>> s : SPACES.entrySet()) {
            if (s.getValue().contains(topic)) {
                return s.getKey();
            }
        }
        throw new IllegalArgumentException(topic);
    }

    /** The invalid association, sent on purpose: checkers-01 was never stored. */
    static final String BAD_LINK_TO = "checkers-01";

    /**
     * Every memory event, in the order they are sent. Per space (= per partition), stores come first, then the
     * reinforce and forget, the associations, the invalid association, and finally the cross-topic association the
     * readiness probe looks for.
     */
    List<MemoryEvent> events() {
        List<MemoryEvent> out = new ArrayList<>();
        for (Memory m : memories.values()) {
            List<Float> emb = new ArrayList<>(dim);
            for (float f : m.embedding()) {
                emb.add(f);
            }
            StoreMemory store = StoreMemory.newBuilder()
                    .setMemoryId(m.id())
                    .setEmbedding(emb)
                    .setStabilityS(m.stabilityS())
                    .setContent(m.content())
                    .build();
            out.add(event(m.space(), "store-" + m.id(), m.timestampMs(), store));
        }
        out.add(event(ALICE, "reinforce-astronomy-01", nowMs - 30_000L,
                ReinforceMemory.newBuilder().setMemoryId("astronomy-01").build()));
        out.add(event(BOB, "forget-jazz-10", nowMs - 30_000L, Forget.newBuilder().setMemoryId("jazz-10").build()));
        out.add(event(ALICE, "associate-chess-01-" + BAD_LINK_TO, nowMs - 20_000L, Associate.newBuilder()
                .setFromId("chess-01").setToId(BAD_LINK_TO).setWeight(0.5f).build()));
        for (Link l : links) {
            out.add(event(l.space(), "associate-" + l.from() + "-" + l.to(), nowMs - 10_000L, Associate.newBuilder()
                    .setFromId(l.from()).setToId(l.to()).setWeight(l.weight()).setBidirectional(l.bidirectional())
                    .build()));
        }
        return out;
    }

    private static MemoryEvent event(String space, String eventId, long ts, Object payload) {
        return MemoryEvent.newBuilder().setSpace(space).setEventId(eventId).setTimestampMs(ts).setPayload(payload)
                .build();
    }

    /** A query whose cue is near the topic's centroid. */
    RecallQuery query(String queryId, String topic, long ts) {
        return RecallQuery.newBuilder()
                .setQueryId(queryId)
                .setSpace(spaceOf(topic))
                .setTimestampMs(ts)
                .setCue(list(noisy(centroids.get(topic), 0.3f)))
                .setK(QUERY_K)
                .setSeedK(QUERY_SEED_K)
                .setMaxHops(QUERY_MAX_HOPS)
                .build();
    }

    /** The invalid query, sent on purpose: its cue has half the space's dimension. */
    RecallQuery badQuery(String queryId, long ts) {
        return RecallQuery.newBuilder()
                .setQueryId(queryId)
                .setSpace(ALICE)
                .setTimestampMs(ts)
                .setCue(list(unit(gaussian(dim / 2))))
                .build();
    }



    /** What the demo adds to a hit's row: the memory's text, and why it is there if it is an association target. */
    String annotate(RecallHit h) {
        Memory m = memories.get(h.getMemoryId());
        if (m == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder(m.content());
        if (h.getHops() > 0) {
            for (Link l : links) {
                if (l.to().equals(m.id()) || (l.bidirectional() && l.from().equals(m.id()))) {
                    String other = l.to().equals(m.id()) ? l.from() : l.to();
                    sb.append("  [via ").append(other).append(": ").append(l.why()).append(']');
                    break;
                }
            }
        }
        if (m.stabilityS() != null) {
            long ageMin = Math.round((nowMs - m.timestampMs()) / 60_000.0);
            sb.append("  [stored ").append(ageMin >= 120 ? ageMin / 60 + " h" : ageMin + " min")
                    .append(" ago, stability 1 h]");
        }
        return sb.toString();
    }

    // ------------------------------------------------------------------------------------------------ vectors

    private float[] gaussian(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    private float[] noisy(float[] centroid, float sigma) {
        float[] g = gaussian(centroid.length);
        float[] v = new float[centroid.length];
        double scale = sigma / Math.sqrt(centroid.length);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (centroid[i] + scale * g[i]);
        }
        return unit(v);
    }

    private static float[] unit(float[] v) {
        double n = 0;
        for (float x : v) {
            n += (double) x * x;
        }
        n = Math.sqrt(n);
        float[] out = new float[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = (float) (v[i] / n);
        }
        return out;
    }

    private static List<Float> list(float[] v) {
        List<Float> out = new ArrayList<>(v.length);
        for (float f : v) {
            out.add(f);
        }
        return out;
    }
}
