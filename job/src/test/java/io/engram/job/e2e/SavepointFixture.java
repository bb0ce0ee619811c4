package io.engram.job.e2e;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.operator.MemorySpaceFunction;
import io.engram.job.operator.Operators;
import io.engram.job.space.MemorySpace;
import io.engram.job.state.FlinkSpaceStore;
import io.engram.job.state.SpaceState;
import io.engram.job.state.SpaceStateSerializer;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.KernelControl;
import io.engram.schemas.RecallQuery;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.api.OperatorIdentifier;
import org.apache.flink.state.api.SavepointReader;
import org.apache.flink.state.api.functions.KeyedStateReaderFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;

/**
 * The committed savepoint fixture of an earlier state version ({@code src/test/resources/savepoints/<NAME>/}): what
 * {@link SavepointFixtureGenerator} writes and {@link SavepointFixtureRestoreIT} restores. The expected content is a
 * JSON file written by the generator from the {@link ReferenceModel} (never read back from a savepoint): every space's
 * rows (id, embedding, strength, stability, last access), edges, dedup entries and sweep timer, the operator totals,
 * the broadcast {@code KernelControl} record, and recall queries with their expected answers.
 *
 * <p>Keep one fixture per released state version: add a new directory (and a constant here) instead of overwriting an
 * old one, so a savepoint from every earlier version keeps being restored by the current code.
 */
final class SavepointFixture {
    /**
     * The fixture directories under {@code savepoints/}, oldest first: one per released state version. The last is
     * what {@link SavepointFixtureGenerator} writes (the current state version).
     */
    static final List<String> NAMES = List.of("state-v1-43f8e1c", "state-v2-chunked");
    static final String CURRENT = NAMES.get(NAMES.size() - 1);
    static final String SAVEPOINT = "savepoint";
    static final String EXPECTED = "expected-state.json";
    /** Job name for {@link E2eSupport#jobConfig}: consumer group and transactional id prefix of the fixture job. */
    static final String JOB = "fixture";
    static final long SEED = 20261124L;
    static final int QUERIES_PER_SPACE = 2;
    /** The space that the fixture's KernelControl record pins to Java. */
    static final String JAVA_SPACE = "gamma-5";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private SavepointFixture() {
    }

    /**
     * Pins the recall defaults and the sweep interval that the fixture's expected answers were computed with (those of
     * {@link E2eSupport#modelSettings} / {@link E2eSupport#jobConfig} when it was written: max hops 2, hop decay 0.8,
     * threshold 0.02, seed k 4, sweep interval 3650 days), so a later change of the e2e defaults cannot shift them.
     */
    static void pinJobSettings(org.apache.flink.configuration.Configuration c) {
        c.set(io.engram.job.config.EngramOptions.MAX_HOPS, 2);
        c.set(io.engram.job.config.EngramOptions.HOP_DECAY, (double) 0.8f);
        c.set(io.engram.job.config.EngramOptions.THRESHOLD, (double) 0.02f);
        c.set(io.engram.job.config.EngramOptions.SEED_K, 4);
        c.set(io.engram.job.config.EngramOptions.SWEEP_INTERVAL, java.time.Duration.ofDays(3650));
    }

    /** The fixture job's topics; a restore must read the same topic names (the sources' split state names them). */
    static Topics topics() {
        return Topics.suffixed("fixture");
    }

    /** The runtime switch kept in the fixture's broadcast state: Java for one space, newer than the job start. */
    static KernelControl control(long t0) {
        return KernelControl.newBuilder().setMode("java").setReason("savepoint fixture: scoped switch")
                .setIssuedBy("SavepointFixtureGenerator").setTimestampMs(t0).setSpaces(List.of(JAVA_SPACE))
                .setFraction(null).build();
    }

    /** A committed fixture directory (on the test classpath). */
    static Path directory(String name) {
        URL url = SavepointFixture.class.getResource("/savepoints/" + name + "/" + EXPECTED);
        assertThat(url).as("fixture savepoints/%s on the test classpath", name).isNotNull();
        try {
            return Path.of(url.toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static JsonNode loadExpected(Path dir) throws IOException {
        return JSON.readTree(dir.resolve(EXPECTED).toFile());
    }

    // ----- what the generator writes ------------------------------------------------------------------------

    /** The expected content, from the reference model of the workload the fixture job ran. */
    static ObjectNode expected(Workload w, KernelControl control, Topics topics, long sweepIntervalMs,
                               String generatedBy) {
        ObjectNode root = JSON.createObjectNode();
        root.put("fixture", CURRENT);
        root.put("generatedBy", generatedBy);
        root.put("seed", SEED);
        root.put("t0", w.t0);
        ObjectNode t = root.putObject("topics");
        t.put("events", topics.events());
        t.put("queries", topics.queries());
        t.put("results", topics.results());
        t.put("deadLetters", topics.deadLetters());
        t.put("control", topics.control());
        ObjectNode spaces = root.putObject("spaces");
        long memories = 0;
        long edges = 0;
        for (Map.Entry<String, ReferenceModel.Space> e : w.model.spaces.entrySet()) {
            ReferenceModel.Space s = e.getValue();
            ObjectNode sp = spaces.putObject(e.getKey());
            sp.put("dim", s.dim);
            ArrayNode rows = sp.putArray("memories");
            for (ReferenceModel.Memory m : s.rows()) {
                ObjectNode r = rows.addObject();
                r.put("id", m.id);
                ArrayNode emb = r.putArray("embedding");
                for (float f : m.embedding) {
                    emb.add(f);
                }
                r.put("strength", m.strength);
                r.put("stability", m.stability);
                r.put("lastAccess", m.lastAccess);
                if (m.content != null) {
                    r.put("content", m.content);
                }
            }
            ArrayNode es = sp.putArray("edges");
            for (ReferenceModel.Edge edge : s.edgesBySource()) {
                es.addObject().put("from", edge.from).put("to", edge.to).put("weight", edge.weight);
            }
            ObjectNode dedup = sp.putObject("dedup");
            s.appliedEventTimes.forEach(dedup::put);
            long first = s.appliedEventTimes.values().stream().mapToLong(Long::longValue).min().orElseThrow();
            long at = Math.floorDiv(first, sweepIntervalMs) * sweepIntervalMs + sweepIntervalMs;
            sp.put("nextSweep", at);
            memories += s.memories.size();
            edges += s.edges.size();
        }
        root.putArray("totals").add(memories).add(edges);
        ObjectNode c = root.putObject("control");
        c.put("mode", control.getMode());
        c.put("reason", control.getReason());
        c.put("issuedBy", control.getIssuedBy());
        c.put("timestampMs", control.getTimestampMs());
        ArrayNode cs = c.putArray("spaces");
        control.getSpaces().forEach(cs::add);
        if (control.getFraction() == null) {
            c.putNull("fraction");
        } else {
            c.put("fraction", control.getFraction());
        }
        ArrayNode qs = root.putArray("queries");
        for (Workload.QuerySpec spec : w.validQueries) {
            RecallQuery q = spec.query();
            ObjectNode o = qs.addObject();
            o.put("id", q.getQueryId());
            o.put("space", q.getSpace());
            o.put("timestampMs", q.getTimestampMs());
            ArrayNode cue = o.putArray("cue");
            q.getCue().forEach(cue::add);
            o.put("k", q.getK());
            putNullable(o, "seedK", q.getSeedK());
            putNullable(o, "maxHops", q.getMaxHops());
            putNullable(o, "hopDecay", q.getHopDecay());
            putNullable(o, "threshold", q.getThreshold());
            ArrayNode hits = o.putArray("hits");
            for (ReferenceModel.RefHit h : spec.expected().hits()) {
                hits.addObject().put("memoryId", h.memoryId()).put("score", h.score())
                        .put("similarity", h.similarity()).put("activation", h.activation())
                        .put("retention", h.retention()).put("hops", h.hops());
            }
        }
        return root;
    }

    private static void putNullable(ObjectNode o, String field, Number v) {
        if (v == null) {
            o.putNull(field);
        } else if (v instanceof Float f) {
            o.put(field, f);
        } else {
            o.put(field, v.intValue());
        }
    }

    static void write(ObjectNode expected, Path file) throws IOException {
        JSON.writeValue(file.toFile(), expected);
    }

    // ----- the queries of the expected file -----------------------------------------------------------------

    /** A stored query with its expected answer. */
    record Query(RecallQuery query, ReferenceModel.Answer answer) {
        String space() {
            return query.getSpace();
        }
    }

    static List<Query> queries(JsonNode expected) {
        List<Query> out = new ArrayList<>();
        for (JsonNode o : expected.get("queries")) {
            List<Float> cue = new ArrayList<>();
            o.get("cue").forEach(x -> cue.add(x.floatValue()));
            RecallQuery q = RecallQuery.newBuilder().setQueryId(o.get("id").asText()).setSpace(o.get("space").asText())
                    .setTimestampMs(o.get("timestampMs").asLong()).setCue(cue).setK(o.get("k").asInt())
                    .setSeedK(o.get("seedK").isNull() ? null : o.get("seedK").asInt())
                    .setMaxHops(o.get("maxHops").isNull() ? null : o.get("maxHops").asInt())
                    .setHopDecay(o.get("hopDecay").isNull() ? null : o.get("hopDecay").floatValue())
                    .setThreshold(o.get("threshold").isNull() ? null : o.get("threshold").floatValue())
                    .build();
            List<ReferenceModel.RefHit> hits = new ArrayList<>();
            for (JsonNode h : o.get("hits")) {
                hits.add(new ReferenceModel.RefHit(h.get("memoryId").asText(), h.get("score").asDouble(),
                        h.get("similarity").asDouble(), h.get("activation").asDouble(),
                        h.get("retention").asDouble(), h.get("hops").asInt()));
            }
            out.add(new Query(q, new ReferenceModel.Answer(hits, null, List.of())));
        }
        return out;
    }

    static Topics topics(JsonNode expected) {
        JsonNode t = expected.get("topics");
        return new Topics(t.get("events").asText(), t.get("queries").asText(), t.get("results").asText(),
                t.get("deadLetters").asText(), t.get("control").asText());
    }

    // ----- reading a savepoint (State Processor API) -----------------------------------------------------------

    /** One space's keyed state, read in full: a Flink POJO. */
    public static final class Row {
        public String space;
        public byte[] spaceState;
        /** The dedup map as "eventId=timestamp" lines, sorted. */
        public String dedup;
        /** Every memory's content as "memoryId=content" lines, sorted; memories without content are not listed. */
        public String contents;
        public Long nextSweep;
        public String timers;

        public Row() {
        }

        SpaceState state() {
            if (spaceState == null) {
                return null;
            }
            try {
                return SpaceStateSerializer.INSTANCE.deserialize(
                        new org.apache.flink.core.memory.DataInputDeserializer(spaceState));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Reads every keyed state of the memory operator that the fixture's state version has. */
    public static final class RowReader extends KeyedStateReaderFunction<String, Row> {
        private static final long serialVersionUID = 1L;
        private transient FlinkSpaceStore space;
        private transient MapState<String, Long> dedup;
        private transient ValueState<Long> nextSweep;

        @Override
        public void open(OpenContext openContext) {
            space = new FlinkSpaceStore(FlinkSpaceStore.States.of(getRuntimeContext()), 0, 64);
            dedup = getRuntimeContext().getMapState(MemorySpaceFunction.DEDUP);
            nextSweep = getRuntimeContext().getState(MemorySpaceFunction.NEXT_SWEEP);
        }

        @Override
        public void readKey(String key, Context ctx, Collector<Row> out) throws Exception {
            Row row = new Row();
            row.space = key;
            SpaceState s = space.bind(key).denseView();
            TreeMap<String, String> contents = new TreeMap<>();
            if (s != null) {
                DataOutputSerializer bytes = new DataOutputSerializer(1024);
                SpaceStateSerializer.INSTANCE.serialize(s, bytes);
                row.spaceState = bytes.getCopyOfBuffer();
                for (int r = 0; r < s.size(); r++) {
                    int slot = space.slotOf(s.id(r));
                    String c = slot < 0 ? null : space.content(slot); // not yet migrated: no content
                    if (c != null) {
                        contents.put(s.id(r), c);
                    }
                }
            }
            StringBuilder cs = new StringBuilder();
            contents.forEach((k, v) -> cs.append(k).append('=').append(v).append('\n'));
            row.contents = cs.toString();
            TreeMap<String, Long> d = new TreeMap<>();
            for (Map.Entry<String, Long> e : dedup.entries()) {
                d.put(e.getKey(), e.getValue());
            }
            StringBuilder sb = new StringBuilder();
            d.forEach((k, v) -> sb.append(k).append('=').append(v).append('\n'));
            row.dedup = sb.toString();
            row.nextSweep = nextSweep.value();
            row.timers = ctx.registeredEventTimeTimers().stream().sorted().toList().toString();
            out.collect(row);
        }
    }

    /** A savepoint's memory-operator content: keyed rows, operator totals, broadcast control state. */
    record Content(Map<String, Row> spaces, long[] totals, Map<String, byte[]> control) {
    }

    private static StreamExecutionEnvironment readerEnv() {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        env.setRuntimeMode(RuntimeExecutionMode.BATCH);
        env.setParallelism(1);
        return env;
    }

    static Content read(String savepoint) throws Exception {
        OperatorIdentifier op = OperatorIdentifier.forUid(Operators.MEMORY_SPACES);
        Map<String, Row> rows = new TreeMap<>();
        SavepointReader reader = SavepointReader.read(readerEnv(), savepoint, new HashMapStateBackend());
        try (CloseableIterator<Row> it = reader.readKeyedState(op, new RowReader(), Types.STRING,
                TypeInformation.of(Row.class)).executeAndCollect()) {
            it.forEachRemaining(r -> assertThat(rows.put(r.space, r)).as("space %s twice", r.space).isNull());
        }
        long[] totals = new long[2];
        reader = SavepointReader.read(readerEnv(), savepoint, new HashMapStateBackend());
        try (CloseableIterator<long[]> it = reader.readListState(op, "totals",
                PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO).executeAndCollect()) {
            it.forEachRemaining(t -> {
                totals[0] += t[0];
                totals[1] += t[1];
            });
        }
        Map<String, byte[]> control = new TreeMap<>();
        reader = SavepointReader.read(readerEnv(), savepoint, new HashMapStateBackend());
        try (CloseableIterator<Tuple2<String, byte[]>> it = reader.readBroadcastState(op,
                Operators.CONTROL_STATE.getName(), Types.STRING,
                PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO).executeAndCollect()) {
            it.forEachRemaining(e -> control.put(e.f0, e.f1));
        }
        return new Content(rows, totals, control);
    }

    // ----- the comparison ------------------------------------------------------------------------------------

    /** Asserts that a savepoint holds exactly the expected content: every row, column, edge, dedup entry, timer. */
    static void assertMatches(JsonNode expected, Content got, String what) throws Exception {
        JsonNode spaces = expected.get("spaces");
        List<String> names = new ArrayList<>();
        spaces.fieldNames().forEachRemaining(names::add);
        assertThat(got.spaces().keySet()).as("%s: spaces with keyed state", what).containsExactlyInAnyOrderElementsOf(
                names);
        for (String name : names) {
            JsonNode want = spaces.get(name);
            Row row = got.spaces().get(name);
            SpaceState s = row.state();
            assertThat(s).as("%s: SpaceState of %s", what, name).isNotNull();
            assertThat(s.dim()).as("%s: dim of %s", what, name).isEqualTo(want.get("dim").asInt());
            JsonNode rows = want.get("memories");
            assertThat(s.size()).as("%s: memories of %s", what, name).isEqualTo(rows.size());
            TreeMap<String, String> wantContents = new TreeMap<>();
            for (int r = 0; r < rows.size(); r++) {
                JsonNode m = rows.get(r);
                String id = m.get("id").asText();
                assertThat(s.id(r)).as("%s: row %d of %s", what, r, name).isEqualTo(id);
                float[] emb = new float[m.get("embedding").size()];
                for (int i = 0; i < emb.length; i++) {
                    emb[i] = m.get("embedding").get(i).floatValue();
                }
                assertThat(Arrays.copyOfRange(s.embeddings(), r * s.dim(), (r + 1) * s.dim()))
                        .as("%s: embedding of %s", what, id).isEqualTo(MemorySpace.scaled(emb));
                assertThat(s.strength()[r]).as("%s: strength of %s", what, id)
                        .isEqualTo(m.get("strength").floatValue());
                assertThat(s.stability()[r]).as("%s: stability of %s", what, id)
                        .isEqualTo(m.get("stability").floatValue());
                assertThat(s.lastAccess()[r]).as("%s: last access of %s", what, id)
                        .isEqualTo(m.get("lastAccess").asLong());
                if (m.has("content")) {
                    wantContents.put(id, m.get("content").asText());
                }
            }
            StringBuilder contents = new StringBuilder();
            wantContents.forEach((k, v) -> contents.append(k).append('=').append(v).append('\n'));
            assertThat(row.contents).as("%s: contents of %s", what, name).isEqualTo(contents.toString());
            // Per source, edges keep their insertion order (the order spreading follows); the dense form lists the
            // sources in slot order, so the expected list is stably sorted by its source's row.
            List<JsonNode> edges = new ArrayList<>();
            want.get("edges").forEach(edges::add);
            List<String> rowIds = new ArrayList<>();
            rows.forEach(m -> rowIds.add(m.get("id").asText()));
            edges.sort(java.util.Comparator.comparingInt(e -> rowIds.indexOf(e.get("from").asText())));
            assertThat(s.edgeCount()).as("%s: edges of %s", what, name).isEqualTo(edges.size());
            for (int i = 0; i < edges.size(); i++) {
                JsonNode e = edges.get(i);
                assertThat(s.id(s.edgeFrom(i)) + "->" + s.id(s.edgeTo(i)) + "@" + s.edgeWeight(i))
                        .as("%s: edge %d of %s", what, i, name)
                        .isEqualTo(e.get("from").asText() + "->" + e.get("to").asText() + "@"
                                + e.get("weight").floatValue());
            }
            StringBuilder dedup = new StringBuilder();
            TreeMap<String, Long> d = new TreeMap<>();
            want.get("dedup").fields().forEachRemaining(f -> d.put(f.getKey(), f.getValue().asLong()));
            d.forEach((k, v) -> dedup.append(k).append('=').append(v).append('\n'));
            assertThat(row.dedup).as("%s: dedup entries of %s", what, name).isEqualTo(dedup.toString());
            long sweep = want.get("nextSweep").asLong();
            assertThat(row.nextSweep).as("%s: next sweep of %s", what, name).isEqualTo(sweep);
            assertThat(row.timers).as("%s: event-time timers of %s", what, name).isEqualTo(List.of(sweep).toString());
        }
        assertThat(got.totals()).as("%s: operator state 'totals' (memories, edges)", what)
                .containsExactly(expected.get("totals").get(0).asLong(), expected.get("totals").get(1).asLong());
        assertThat(got.control().keySet()).as("%s: broadcast state keys", what).containsExactly("current");
        KernelControl c = AvroCodec.decodeKernelControl(got.control().get("current"));
        JsonNode wc = expected.get("control");
        assertThat(c.getMode()).as("%s: control mode", what).isEqualTo(wc.get("mode").asText());
        assertThat(c.getReason()).as("%s: control reason", what).isEqualTo(wc.get("reason").asText());
        assertThat(c.getIssuedBy()).as("%s: control issued_by", what).isEqualTo(wc.get("issuedBy").asText());
        assertThat(c.getTimestampMs()).as("%s: control timestamp", what).isEqualTo(wc.get("timestampMs").asLong());
        List<String> cs = new ArrayList<>();
        wc.get("spaces").forEach(x -> cs.add(x.asText()));
        assertThat(c.getSpaces()).as("%s: control spaces", what).containsExactlyElementsOf(cs);
        assertThat(c.getFraction()).as("%s: control fraction", what)
                .isEqualTo(wc.get("fraction").isNull() ? null : wc.get("fraction").asDouble());
    }

    /** Copies a directory tree (a savepoint). */
    static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : files.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }

    static long sizeOf(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).sum();
        }
    }
}
