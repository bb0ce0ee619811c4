package io.engram.job.e2e;

import static io.engram.job.e2e.E2eSupport.WAIT;
import static io.engram.job.e2e.E2eSupport.ms;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.e2e.E2eSupport.Produced;
import io.engram.job.e2e.E2eSupport.TopicReader;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.job.operator.MemorySpaceFunction;
import io.engram.job.operator.Operators;
import io.engram.job.state.FlinkSpaceStore;
import io.engram.job.state.SpaceState;
import io.engram.job.state.SpaceStateSerializer;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.RecallResult;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.state.api.OperatorIdentifier;
import org.apache.flink.state.api.SavepointReader;
import org.apache.flink.state.api.functions.KeyedStateReaderFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Savepoints across kernel modes and state backends, with the real job on Kafka:
 *
 * <pre>
 *   job 1: zig,  hashmap  --stop-with-savepoint (canonical)-->  SP1
 *   job 2: java, rocksdb  restored from SP1  --stop-with-savepoint-->  SP2
 *   job 3: zig,  hashmap  restored from SP2  --stop-with-savepoint-->  SP3
 * </pre>
 *
 * Each job answers the same queries (fresh ids); the answers must agree with each other and with the reference
 * model, and their kernel_mode must flip with the job. A batch of queries is produced right before the first stop:
 * across stop and restore, each must be answered exactly once (read_committed). The keyed state of the three
 * savepoints, read back with the State Processor API, must be identical space by space
 * ({@link SpaceState#sameContentAs}, dedup entries, sweep timers) and equal to the reference model; the operator's
 * memory/edge totals must match too.
 *
 * <p>A second test kills the TaskManager while queries stream in: the job restores from its last checkpoint, and
 * every query must still be answered exactly once (an AT_LEAST_ONCE sink fails it with duplicates).
 *
 * <p>In a {@code -Pjava-only} build there is no Zig library: jobs 1 and 3 then run java (the backend switches and
 * the exactly-once checks still apply); RecallEndToEndIT asserts the zig start failure.
 */
@Timeout(600)
class SavepointRoundTripIT {
    private static final Logger LOG = LoggerFactory.getLogger(SavepointRoundTripIT.class);

    private static final long SEED = 4242L;

    @RegisterExtension
    static final MiniClusterExtension FLINK = E2eSupport.miniCluster();

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static EmbeddedKafkaBroker kafka() {
        return KAFKA.broker();
    }

    /** One phase of the chain: kernel mode, state backend, query id prefix. */
    private record Phase(String mode, String backend, String prefix) {
    }

    @Test
    void stateAndAnswersSurviveSavepointsBetweenKernelModes(@TempDir Path dir) throws Exception {
        long t0 = System.nanoTime();
        boolean zig = E2eSupport.zigUnavailable().isEmpty();
        String native1 = zig ? "zig" : "java";
        List<Phase> phases = List.of(new Phase(native1, "hashmap", "p1-"), new Phase("java", "rocksdb", "p2-"),
                new Phase(native1, "hashmap", "p3-"));
        LOG.info("savepoint chain: {}{}", phases, zig ? "" : " (java-only build: no zig)");

        Topics topics = Topics.suffixed("savepoint");
        topics.create(kafka());
        Workload w = new Workload(SEED, System.currentTimeMillis(), E2eSupport.modelSettings());
        w.queries(6);
        List<Produced> events = E2eSupport.produce(kafka(), topics.events(), w.events);
        Set<String> eventLetters = events.stream().filter(p -> p.input().expectedReason() != null)
                .map(E2eSupport::at).collect(Collectors.toSet());

        List<String> savepoints = new ArrayList<>();
        Map<String, String> timings = new LinkedHashMap<>();
        try (TopicReader results = new TopicReader(kafka(), topics.results());
             TopicReader deadLetters = new TopicReader(kafka(), topics.deadLetters())) {
            for (int i = 0; i < phases.size(); i++) {
                Phase phase = phases.get(i);
                int n = i + 1;
                long ts = System.nanoTime();
                Configuration conf = E2eSupport.jobConfig(kafka(), topics, phase.mode(), phase.backend(), "savepoint");
                if (i > 0) {
                    conf.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoints.get(i - 1));
                }
                JobClient job = E2eSupport.start(conf, "engram-e2e-savepoint-" + (i + 1));
                try {
                    if (i == 0) {
                        E2eSupport.waitUntil(() -> {
                            deadLetters.pollOnce();
                            return E2eSupport.deadLettersBySource(deadLetters).keySet().containsAll(eventLetters);
                        }, WAIT, () -> "the events' dead letters", job);
                    }
                    List<String> ids = sendQueries(topics, w, phase.prefix());
                    if (i == 1) {
                        ids.addAll(w.validQueries.stream().map(q -> "mid-" + q.id()).toList());
                    }
                    waitForResults(results, ids, job);
                    String target = dir.resolve("sp" + n).toUri().toString();
                    String sp;
                    if (i == 0) {
                        sp = stopWhileQueriesArrive(topics, w, job, target);
                    } else {
                        sp = job.stopWithSavepoint(false, target, SavepointFormatType.CANONICAL)
                                .get(WAIT.toSeconds(), TimeUnit.SECONDS);
                    }
                    E2eSupport.waitUntil(() -> terminal(job), WAIT, () -> "job " + n + " to stop", null);
                    savepoints.add(sp);
                    timings.put("job " + (i + 1) + " " + phase.mode() + "/" + phase.backend(),
                            ms(ts) + " ms (start, answer, stop-with-savepoint)");
                    LOG.info("job {} ({}/{}) stopped with savepoint {}", i + 1, phase.mode(), phase.backend(), sp);
                } finally {
                    E2eSupport.cancel(job);
                }
            }
            results.drainCommitted();
            deadLetters.drainCommitted();

            // Exactly one answer per query across the three jobs, right for its kernel mode and the reference.
            Map<String, List<RecallResult>> byId = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : results.records) {
                RecallResult res = E2eSupport.result(r);
                byId.computeIfAbsent(res.getQueryId(), k -> new ArrayList<>()).add(res);
            }
            List<String> expectedIds = new ArrayList<>();
            for (String prefix : List.of("p1-", "p2-", "p3-", "mid-")) {
                w.validQueries.forEach(q -> expectedIds.add(prefix + q.id()));
            }
            assertThat(byId.keySet()).as("answered queries").containsExactlyInAnyOrderElementsOf(expectedIds);
            assertThat(byId.entrySet().stream().filter(e -> e.getValue().size() != 1).map(Map.Entry::getKey)
                    .toList()).as("queries answered more than once").isEmpty();
            Map<String, List<String>> wrong = new LinkedHashMap<>();
            Map<String, Integer> midModes = new TreeMap<>();
            for (Workload.QuerySpec q : w.validQueries) {
                for (Phase phase : phases) {
                    RecallResult r = byId.get(phase.prefix() + q.id()).get(0);
                    List<String> bad = Answers.mismatches(r, q.expected(), phase.mode());
                    if (!bad.isEmpty()) {
                        wrong.put(phase.prefix() + q.id(), bad);
                    }
                }
                RecallResult first = byId.get("p1-" + q.id()).get(0);
                for (String other : List.of("p2-", "p3-", "mid-")) {
                    List<String> bad = Answers.sameAnswer(first, byId.get(other + q.id()).get(0));
                    if (!bad.isEmpty()) {
                        wrong.put("p1- vs " + other + q.id(), bad);
                    }
                }
                RecallResult mid = byId.get("mid-" + q.id()).get(0);
                midModes.merge(mid.getKernelMode(), 1, Integer::sum);
                assertThat(mid.getKernelMode()).isIn(native1, "java");
            }
            assertThat(wrong).as("answers that differ across the savepoints or from the reference").isEmpty();
            LOG.info("queries produced around the first stop were answered by: {}", midModes);
            // the last third was produced after the stop had completed: job 2 (java) answered those
            assertThat(midModes.getOrDefault("java", 0)).isGreaterThanOrEqualTo(w.validQueries.size() / 3);

            // Dead letters: every invalid event exactly once, although three jobs ran over the topic.
            RecallEndToEndIT.assertDeadLetters(deadLetters, events, List.of());
        }

        // The keyed state of the three savepoints: identical, and what the reference model holds.
        long tr = System.nanoTime();
        List<Map<String, SpaceRow>> states = new ArrayList<>();
        for (String sp : savepoints) {
            states.add(readSpaces(sp));
        }
        timings.put("reading 3 savepoints (State Processor API)", ms(tr) + " ms");
        for (int i = 1; i < states.size(); i++) {
            assertThat(states.get(i).keySet()).as("spaces in savepoint %d", i + 1)
                    .isEqualTo(states.get(0).keySet());
            for (String space : states.get(0).keySet()) {
                SpaceRow a = states.get(0).get(space);
                SpaceRow b = states.get(i).get(space);
                assertThat(b.state().sameContentAs(a.state())).as("SpaceState of '%s' in savepoint %d vs 1", space,
                        i + 1).isTrue();
                assertThat(b.dedupEntries).as("dedup entries of %s", space).isEqualTo(a.dedupEntries);
                assertThat(b.nextSweep).as("next sweep of %s", space).isEqualTo(a.nextSweep);
                assertThat(b.timers).as("event-time timers of %s", space).isEqualTo(a.timers);
            }
        }
        assertMatchesModel(states.get(0), w.model);
        long[] totals = readTotals(savepoints.get(2));
        long memories = w.model.spaces.values().stream().mapToLong(s -> s.memories.size()).sum();
        long edges = w.model.spaces.values().stream().mapToLong(s -> s.edges.size()).sum();
        assertThat(totals).as("operator state 'totals' (memories, edges) after the chain")
                .containsExactly(memories, edges);
        timings.put("total", ms(t0) + " ms");
        timings.forEach((k, v) -> LOG.info("timing {}: {}", k, v));
    }

    /**
     * Not a savepoint but its automatic sibling: the TaskManager dies while queries stream in, the job restarts from
     * its last checkpoint on a new TaskManager, and replays what followed. Exactly-once sinks must hide the replay:
     * every query answered exactly once in read_committed, still equal to the reference.
     */
    @Test
    void failoverFromACheckpointNeitherLosesNorDuplicatesAnswers(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        long t0 = System.nanoTime();
        String mode = E2eSupport.zigUnavailable().isEmpty() ? "zig" : "java";
        Topics topics = Topics.suffixed("failover");
        topics.create(kafka());
        Workload w = new Workload(SEED + 1, System.currentTimeMillis(), E2eSupport.modelSettings());
        w.queries(6);
        List<Produced> events = E2eSupport.produce(kafka(), topics.events(), w.events);
        Set<String> eventLetters = events.stream().filter(p -> p.input().expectedReason() != null)
                .map(E2eSupport::at).collect(Collectors.toSet());
        Configuration conf = E2eSupport.jobConfig(kafka(), topics, mode, "rocksdb", "failover");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, java.time.Duration.ofMillis(500));
        JobClient job = E2eSupport.start(conf, "engram-e2e-failover");
        try (TopicReader results = new TopicReader(kafka(), topics.results());
             TopicReader deadLetters = new TopicReader(kafka(), topics.deadLetters())) {
            E2eSupport.waitUntil(() -> {
                deadLetters.pollOnce();
                return E2eSupport.deadLettersBySource(deadLetters).keySet().containsAll(eventLetters);
            }, WAIT, () -> "the events' dead letters", job);

            List<Workload.Input> inputs = new ArrayList<>();
            List<String> ids = new ArrayList<>();
            for (Workload.QuerySpec q : w.validQueries) {
                ids.add("f-" + q.id());
                inputs.add(new Workload.Input(Workload.Kind.QUERY, q.space().getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(Workload.withId(q.query(), "f-" + q.id())), null, "f-" + q.id()));
            }
            int third = inputs.size() / 3;
            E2eSupport.produce(kafka(), topics.queries(), inputs.subList(0, third));
            waitForResults(results, ids.subList(0, third), job);
            java.util.concurrent.CompletableFuture<Void> during =
                    java.util.concurrent.CompletableFuture.runAsync(() -> {
                        try {
                            for (Workload.Input in : inputs.subList(third, inputs.size() - third)) {
                                E2eSupport.produce(kafka(), topics.queries(), List.of(in));
                                Thread.sleep(20);
                            }
                        } catch (Exception e) {
                            throw new IllegalStateException(e);
                        }
                    });
            Thread.sleep(300); // let a few of them in (between two checkpoints), then kill the TaskManager
            cluster.terminateTaskManager(0).get(WAIT.toSeconds(), TimeUnit.SECONDS);
            cluster.startTaskManager();
            during.get(WAIT.toSeconds(), TimeUnit.SECONDS);
            E2eSupport.produce(kafka(), topics.queries(), inputs.subList(inputs.size() - third, inputs.size()));
            waitForResults(results, ids, job);
            results.drainCommitted();
            deadLetters.drainCommitted();
            long restored = cluster.getExecutionGraph(job.getJobID()).get(30, TimeUnit.SECONDS)
                    .getCheckpointStatsSnapshot().getCounts().getNumberOfRestoredCheckpoints();
            E2eSupport.cancel(job);
            job = null;
            assertThat(restored).as("the job restarted from a checkpoint").isGreaterThanOrEqualTo(1);

            Map<String, List<RecallResult>> byId = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : results.records) {
                RecallResult res = E2eSupport.result(r);
                byId.computeIfAbsent(res.getQueryId(), k -> new ArrayList<>()).add(res);
            }
            assertThat(byId.keySet()).as("answered queries").containsExactlyInAnyOrderElementsOf(ids);
            assertThat(byId.entrySet().stream().filter(e -> e.getValue().size() != 1).map(Map.Entry::getKey)
                    .toList()).as("queries answered more than once").isEmpty();
            Map<String, List<String>> wrong = new LinkedHashMap<>();
            for (Workload.QuerySpec q : w.validQueries) {
                List<String> bad = Answers.mismatches(byId.get("f-" + q.id()).get(0), q.expected(), mode);
                if (!bad.isEmpty()) {
                    wrong.put(q.id(), bad);
                }
            }
            assertThat(wrong).as("answers after the failover that differ from the reference").isEmpty();
            RecallEndToEndIT.assertDeadLetters(deadLetters, events, List.of());
            LOG.info("failover ({}): {} queries answered exactly once across a TaskManager loss, {} restore(s); "
                    + "{} ms", mode, ids.size(), restored, ms(t0));
        } finally {
            E2eSupport.cancel(job);
        }
    }

    static boolean terminal(JobClient job) {
        try {
            return job.getJobStatus().get(30, TimeUnit.SECONDS).isGloballyTerminalState();
        } catch (Exception e) {
            return true;
        }
    }

    /**
     * Stops the job with a savepoint while the "mid-" queries arrive: the first third is produced before the stop is
     * triggered, the second while it runs (one by one, 20 ms apart), the last after it completed. Each must be
     * answered exactly once: by this job (committed with the savepoint) or by the next one (from the savepoint's
     * source offsets).
     */
    private static String stopWhileQueriesArrive(Topics topics, Workload w, JobClient job, String target)
            throws Exception {
        return stopWhileQueriesArrive(kafka(), topics, w, job, target, "mid-");
    }

    /** {@link #stopWhileQueriesArrive(Topics, Workload, JobClient, String)} with the broker and id prefix given. */
    static String stopWhileQueriesArrive(EmbeddedKafkaBroker kafka, Topics topics, Workload w, JobClient job,
                                         String target, String prefix) throws Exception {
        List<Workload.Input> inputs = new ArrayList<>();
        for (Workload.QuerySpec q : w.validQueries) {
            String id = prefix + q.id();
            inputs.add(new Workload.Input(Workload.Kind.QUERY, q.space().getBytes(StandardCharsets.UTF_8),
                    AvroCodec.encode(Workload.withId(q.query(), id)), null, id));
        }
        int third = inputs.size() / 3;
        E2eSupport.produce(kafka, topics.queries(), inputs.subList(0, third));
        java.util.concurrent.CompletableFuture<Void> during = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                for (Workload.Input in : inputs.subList(third, inputs.size() - third)) {
                    E2eSupport.produce(kafka, topics.queries(), List.of(in));
                    Thread.sleep(20);
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        String sp = job.stopWithSavepoint(false, target, SavepointFormatType.CANONICAL)
                .get(WAIT.toSeconds(), TimeUnit.SECONDS);
        during.get(WAIT.toSeconds(), TimeUnit.SECONDS);
        E2eSupport.produce(kafka, topics.queries(), inputs.subList(inputs.size() - third, inputs.size()));
        return sp;
    }

    private static List<String> sendQueries(Topics topics, Workload w, String prefix) throws Exception {
        return sendQueries(kafka(), topics, w, prefix);
    }

    /** Produces every valid query of the workload under {@code prefix + id}; returns the ids. */
    static List<String> sendQueries(EmbeddedKafkaBroker kafka, Topics topics, Workload w, String prefix)
            throws Exception {
        List<Workload.Input> inputs = new ArrayList<>();
        List<String> ids = new ArrayList<>();
        for (Workload.QuerySpec q : w.validQueries) {
            String id = prefix + q.id();
            ids.add(id);
            inputs.add(new Workload.Input(Workload.Kind.QUERY, q.space().getBytes(StandardCharsets.UTF_8),
                    AvroCodec.encode(Workload.withId(q.query(), id)), null, id));
        }
        E2eSupport.produce(kafka, topics.queries(), inputs);
        return ids;
    }

    static void waitForResults(TopicReader results, List<String> ids, JobClient job) throws Exception {
        Set<String> answered = new java.util.HashSet<>();
        int[] seen = {0};
        E2eSupport.waitUntil(() -> {
            results.pollOnce();
            for (; seen[0] < results.records.size(); seen[0]++) {
                answered.add(E2eSupport.result(results.records.get(seen[0])).getQueryId());
            }
            return answered.containsAll(ids);
        }, WAIT, () -> ids.size() + " answers, " + ids.stream().filter(answered::contains).count() + " there", job);
    }

    // ----- reading savepoints -----------------------------------------------------------------------------------

    /** One space's keyed state as read from a savepoint: a Flink POJO. */
    public static final class SpaceRow {
        public String space;
        public byte[] spaceState;
        public int dedupEntries;
        public Long nextSweep;
        public String timers;

        public SpaceRow() {
        }

        SpaceState state() {
            if (spaceState == null) {
                return null;
            }
            try {
                return SpaceStateSerializer.INSTANCE.deserialize(new DataInputDeserializer(spaceState));
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    /** Reads the memory operator's keyed state: SpaceState (serialized), dedup size, next sweep, timers. */
    public static final class SpaceReader extends KeyedStateReaderFunction<String, SpaceRow> {
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
        public void readKey(String key, Context ctx, Collector<SpaceRow> out) throws Exception {
            SpaceRow row = new SpaceRow();
            row.space = key;
            SpaceState s = space.bind(key).denseView();
            if (s != null) {
                DataOutputSerializer bytes = new DataOutputSerializer(1024);
                SpaceStateSerializer.INSTANCE.serialize(s, bytes);
                row.spaceState = bytes.getCopyOfBuffer();
            }
            for (String ignored : dedup.keys()) {
                row.dedupEntries++;
            }
            row.nextSweep = nextSweep.value();
            row.timers = ctx.registeredEventTimeTimers().stream().sorted().toList().toString();
            out.collect(row);
        }
    }

    private static StreamExecutionEnvironment readerEnv() {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        env.setRuntimeMode(RuntimeExecutionMode.BATCH);
        env.setParallelism(1);
        return env;
    }

    static Map<String, SpaceRow> readSpaces(String savepoint) throws Exception {
        StreamExecutionEnvironment env = readerEnv();
        SavepointReader reader = SavepointReader.read(env, savepoint, new HashMapStateBackend());
        Map<String, SpaceRow> out = new TreeMap<>();
        try (CloseableIterator<SpaceRow> it = reader.readKeyedState(OperatorIdentifier.forUid(Operators.MEMORY_SPACES),
                new SpaceReader(), Types.STRING, TypeInformation.of(SpaceRow.class)).executeAndCollect()) {
            it.forEachRemaining(r -> assertThat(out.put(r.space, r)).as("space %s twice", r.space).isNull());
        }
        LOG.info("savepoint {}: {} keys", savepoint, out.size());
        return out;
    }

    /** The operator-state totals {memories, edges}, summed over the subtasks' entries. */
    static long[] readTotals(String savepoint) throws Exception {
        StreamExecutionEnvironment env = readerEnv();
        SavepointReader reader = SavepointReader.read(env, savepoint, new HashMapStateBackend());
        long[] sum = new long[2];
        try (CloseableIterator<long[]> it = reader.readListState(OperatorIdentifier.forUid(Operators.MEMORY_SPACES),
                "totals", PrimitiveArrayTypeInfo.LONG_PRIMITIVE_ARRAY_TYPE_INFO).executeAndCollect()) {
            it.forEachRemaining(t -> {
                sum[0] += t[0];
                sum[1] += t[1];
            });
        }
        return sum;
    }

    /** Savepoint content vs the reference model: same spaces, rows in order, every column, every edge. */
    static void assertMatchesModel(Map<String, SpaceRow> state, ReferenceModel model) {
        Map<String, ReferenceModel.Space> spaces = new TreeMap<>();
        model.spaces.forEach((k, v) -> spaces.put(k, v));
        assertThat(state.keySet()).as("spaces with keyed state").isEqualTo(spaces.keySet());
        for (Map.Entry<String, ReferenceModel.Space> e : spaces.entrySet()) {
            SpaceRow row = state.get(e.getKey());
            ReferenceModel.Space want = e.getValue();
            assertThat(row.dedupEntries).as("dedup entries of %s", e.getKey())
                    .isEqualTo(want.appliedEventIds.size());
            SpaceState s = row.state();
            assertThat(s).as("SpaceState of %s", e.getKey()).isNotNull();
            List<ReferenceModel.Memory> rows = want.rows();
            assertThat(s.dim()).isEqualTo(want.dim);
            assertThat(s.size()).as("memories of %s", e.getKey()).isEqualTo(rows.size());
            assertThat(s.edgeCount()).as("edges of %s", e.getKey()).isEqualTo(want.edges.size());
            for (int r = 0; r < rows.size(); r++) {
                ReferenceModel.Memory m = rows.get(r);
                assertThat(s.id(r)).as("row %d of %s", r, e.getKey()).isEqualTo(m.id);
                assertThat(Arrays.copyOfRange(s.embeddings(), r * s.dim(), (r + 1) * s.dim()))
                        .as("embedding of %s", m.id).isEqualTo(m.embedding);
                assertThat(s.strength()[r]).as("strength of %s", m.id).isEqualTo(m.strength);
                assertThat(s.stability()[r]).as("stability of %s", m.id).isEqualTo(m.stability);
                assertThat(s.lastAccess()[r]).as("last access of %s", m.id).isEqualTo(m.lastAccess);
            }
            List<ReferenceModel.Edge> edges = want.edgesBySource();
            for (int i = 0; i < edges.size(); i++) {
                ReferenceModel.Edge edge = edges.get(i);
                assertThat(s.id(s.edgeFrom(i)) + "->" + s.id(s.edgeTo(i)) + "@" + s.edgeWeight(i))
                        .as("edge %d of %s", i, e.getKey())
                        .isEqualTo(edge.from + "->" + edge.to + "@" + edge.weight);
            }
        }
    }
}
