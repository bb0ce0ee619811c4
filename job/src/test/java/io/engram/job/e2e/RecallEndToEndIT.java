package io.engram.job.e2e;

import static io.engram.job.e2e.E2eSupport.WAIT;
import static io.engram.job.e2e.E2eSupport.at;
import static io.engram.job.e2e.E2eSupport.ms;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.EngramJob;
import io.engram.job.e2e.E2eSupport.Produced;
import io.engram.job.e2e.E2eSupport.TopicReader;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.state.SnapshotThreads;
import io.engram.kernels.NativeLoadException;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.DeadLetter;
import io.engram.schemas.RecallResult;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.execution.SuppressRestartsException;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.util.TestStreamEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The real job ({@link EngramJob#build}) on a MiniCluster against a real in-process Kafka broker, for every kernel
 * mode × state backend. Memory events for several spaces (valid ones of every kind and invalid ones) go in first;
 * once the job has applied them (every expected dead letter, the last event of each space among them, is visible),
 * recall queries follow. Every answer read back with read_committed is compared with the independent
 * {@link ReferenceModel}; every query must be answered exactly once and every invalid record dead-lettered with its
 * reason, nothing else.
 *
 * <p>In a {@code -Pjava-only} build the Zig library is absent: the zig combinations then assert that the job fails at
 * start with a clear {@link NativeLoadException} instead.
 */
@Timeout(600)
class RecallEndToEndIT {
    private static final Logger LOG = LoggerFactory.getLogger(RecallEndToEndIT.class);

    private static final long SEED = 20261107L;
    private static final int QUERIES_PER_SPACE = 10;
    /** Managed memory of the shared MiniCluster's TaskManager: 32 MiB per slot, room for the default 2 MiB arena. */
    private static final MemorySize MANAGED = MemorySize.parse("64m");

    @RegisterExtension
    static final MiniClusterExtension FLINK = new MiniClusterExtension(
            new MiniClusterResourceConfiguration.Builder()
                    .setNumberTaskManagers(1)
                    .setNumberSlotsPerTaskManager(E2eSupport.PARALLELISM)
                    .setConfiguration(clusterConfig(MANAGED))
                    .build());

    private static EmbeddedKafkaBroker kafka;
    private static Optional<NativeLoadException> zigMissing;
    private static final Map<String, String> TIMINGS = new TreeMap<>();

    static Configuration clusterConfig(MemorySize managed) {
        Configuration c = new Configuration();
        c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
        c.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, managed);
        return c;
    }

    @BeforeAll
    static void start() {
        long t = System.nanoTime();
        kafka = EmbeddedKafkaBroker.start();
        zigMissing = E2eSupport.zigUnavailable();
        LOG.info("broker up in {} ms; zig kernels {}", ms(t),
                zigMissing.map(e -> "UNAVAILABLE (" + e.problem() + ")").orElse("available"));
    }

    @AfterAll
    static void stop() {
        if (kafka != null) {
            kafka.close();
        }
        TIMINGS.forEach((k, v) -> LOG.info("timing {}: {}", k, v));
    }

    static Stream<Arguments> combinations() {
        return Stream.of(Arguments.of("zig", "hashmap"), Arguments.of("zig", "rocksdb"),
                Arguments.of("java", "hashmap"), Arguments.of("java", "rocksdb"));
    }

    @ParameterizedTest(name = "{0} kernels, {1} state backend")
    @MethodSource("combinations")
    void answersMatchTheReferenceExactlyOnce(String mode, String backend) throws Exception {
        long t0 = System.nanoTime();
        String name = mode + "-" + backend;
        // One combination runs on the default topic names, the others on their own suffixed set.
        Topics topics = name.equals("java-hashmap") ? Topics.defaults() : Topics.suffixed(name);
        topics.create(kafka);
        if (mode.equals("zig") && zigMissing.isPresent()) {
            zigFailsAtStart(topics, backend);
            TIMINGS.put(name, "zig unavailable (java-only build): failed at start as expected in " + ms(t0) + " ms");
            return;
        }

        Workload w = new Workload(SEED, System.currentTimeMillis(), E2eSupport.modelSettings());
        w.queries(QUERIES_PER_SPACE);
        List<Produced> events = E2eSupport.produce(kafka, topics.events(), w.events);
        long produced = System.nanoTime();

        Configuration conf = E2eSupport.jobConfig(kafka, topics, mode, backend, name);
        Set<Long> loweredBefore = loweredCheckpointThreads();
        JobClient job = E2eSupport.start(conf, "engram-e2e-" + name);
        try (TopicReader results = new TopicReader(kafka, topics.results());
             TopicReader deadLetters = new TopicReader(kafka, topics.deadLetters())) {
            // 1. Wait until every event was applied: the last event of each space is one that is dead-lettered.
            Set<String> eventLetters = events.stream().filter(p -> p.input().expectedReason() != null)
                    .map(E2eSupport::at).collect(Collectors.toSet());
            E2eSupport.waitUntil(() -> {
                deadLetters.pollOnce();
                return E2eSupport.deadLettersBySource(deadLetters).keySet().containsAll(eventLetters);
            }, WAIT, () -> eventLetters.size() + " dead letters of the events, have "
                    + deadLetters.records.size(), job);
            long applied = System.nanoTime();

            // 2. The queries, valid and invalid.
            List<Workload.Input> queryInputs = new ArrayList<>();
            for (Workload.QuerySpec q : w.validQueries) {
                queryInputs.add(new Workload.Input(Workload.Kind.QUERY, q.space().getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(q.query()), null, "query " + q.id()));
            }
            queryInputs.addAll(w.invalidQueries);
            List<Produced> queries = E2eSupport.produce(kafka, topics.queries(), queryInputs);
            Set<String> queryLetters = queries.stream().filter(p -> p.input().expectedReason() != null)
                    .map(E2eSupport::at).collect(Collectors.toSet());
            Set<String> wanted = w.validQueries.stream().map(Workload.QuerySpec::id).collect(Collectors.toSet());
            E2eSupport.waitUntil(() -> {
                results.pollOnce();
                deadLetters.pollOnce();
                return results.records.stream().map(r -> E2eSupport.result(r).getQueryId())
                        .collect(Collectors.toSet()).containsAll(wanted)
                        && E2eSupport.deadLettersBySource(deadLetters).keySet().containsAll(queryLetters);
            }, WAIT, () -> wanted.size() + " results and " + queryLetters.size() + " query dead letters, have "
                    + results.records.size() + " results", job);
            long answered = System.nanoTime();
            // Everything committed so far, so that a duplicate would be seen too.
            results.drainCommitted();
            deadLetters.drainCommitted();
            if (backend.equals("hashmap")) {
                // The checkpoints that committed these results wrote the chunks on Flink's own checkpoint threads,
                // which our serializers lowered (engram.state.snapshot-thread-priority, default 1).
                Set<Long> lowered = loweredCheckpointThreads();
                lowered.removeAll(loweredBefore);
                assertThat(lowered).as("checkpoint threads (%s*) of this job at Java priority 1",
                        SnapshotThreads.ASYNC_POOL_PREFIX).isNotEmpty();
            }
            E2eSupport.cancel(job);
            job = null;

            // 3. Every result: exactly one per valid query, equal to the reference.
            Map<String, List<RecallResult>> byId = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : results.records) {
                RecallResult res = E2eSupport.result(r);
                byId.computeIfAbsent(res.getQueryId(), k -> new ArrayList<>()).add(res);
                assertThat(new String(r.key(), StandardCharsets.UTF_8)).as("key of result %s", res.getQueryId())
                        .isEqualTo(res.getSpace());
            }
            assertThat(byId.keySet()).as("answered queries").containsExactlyInAnyOrderElementsOf(wanted);
            Map<String, List<String>> wrong = new LinkedHashMap<>();
            int hits = 0;
            int empty = 0;
            for (Workload.QuerySpec q : w.validQueries) {
                List<RecallResult> got = byId.get(q.id());
                assertThat(got).as("results of query %s", q.id()).hasSize(1);
                RecallResult r = got.get(0);
                assertThat(r.getSpace()).isEqualTo(q.space());
                assertThat(r.getTimestampMs()).isEqualTo(q.query().getTimestampMs());
                List<String> bad = Answers.mismatches(r, q.expected(), mode);
                if (!bad.isEmpty()) {
                    wrong.put(q.id() + " " + describe(q), bad);
                }
                hits += r.getHits().size();
                empty += r.getHits().isEmpty() ? 1 : 0;
            }
            assertThat(wrong).as("answers that differ from the reference model").isEmpty();
            // The workload must be worth something: many hits, some spreading, some empty answers.
            long spread = w.validQueries.stream().flatMap(q -> q.expected().hits().stream())
                    .filter(h -> h.hops() >= 1).count();
            long spread2 = w.validQueries.stream().flatMap(q -> q.expected().hits().stream())
                    .filter(h -> h.hops() >= 2).count();
            LOG.info("{}: {} hits in {} answers ({} empty), {} reached over 1+ hops, {} over 2+ hops", name, hits,
                    w.validQueries.size(), empty, spread, spread2);
            assertThat(hits).isGreaterThan(w.validQueries.size() * 2);
            assertThat(empty).isBetween(3, w.validQueries.size() / 2);
            assertThat(spread2).as("hits reached over 2+ hops").isGreaterThan(5);

            // 4. Dead letters: exactly the invalid records, each with its reason, key and bytes.
            assertDeadLetters(deadLetters, events, queries);
            TIMINGS.put(name, String.format("%d events + %d queries: produce %d ms, start+apply %d ms, "
                            + "queries answered %d ms, total %d ms", events.size(), queries.size(),
                    (produced - t0) / 1_000_000, (applied - produced) / 1_000_000,
                    (answered - applied) / 1_000_000, ms(t0)));
            LOG.info("{}: {} queries ({} hits, {} empty) matched the reference; {}", name, wanted.size(), hits,
                    empty, TIMINGS.get(name));
        } finally {
            E2eSupport.cancel(job);
        }
    }

    /** Ids of the live threads of Flink's checkpoint pool in this JVM that run at Java priority 1. */
    private static Set<Long> loweredCheckpointThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.getName().startsWith(SnapshotThreads.ASYNC_POOL_PREFIX))
                .filter(t -> t.getPriority() == Thread.MIN_PRIORITY).map(Thread::getId)
                .collect(Collectors.toCollection(java.util.HashSet::new));
    }

    private static String describe(Workload.QuerySpec q) {
        return "(k=" + q.query().getK() + ", seed_k=" + q.query().getSeedK() + ", max_hops=" + q.query().getMaxHops()
                + ", hop_decay=" + q.query().getHopDecay() + ", threshold=" + q.query().getThreshold() + ")";
    }

    static void assertDeadLetters(TopicReader deadLetters, List<Produced> events, List<Produced> queries) {
        Map<String, DeadLetter> got = E2eSupport.deadLettersBySource(deadLetters);
        Map<String, Produced> expected = new HashMap<>();
        Stream.concat(events.stream(), queries.stream()).filter(p -> p.input().expectedReason() != null)
                .forEach(p -> expected.put(at(p), p));
        assertThat(got.keySet()).as("dead-lettered records (topic/partition/offset)")
                .containsExactlyInAnyOrderElementsOf(expected.keySet());
        Map<String, String> reasons = new TreeMap<>();
        for (Map.Entry<String, Produced> e : expected.entrySet()) {
            DeadLetter dl = got.get(e.getKey());
            Workload.Input in = e.getValue().input();
            reasons.merge(dl.getReason(), "1", (a, b) -> Integer.toString(Integer.parseInt(a) + 1));
            assertThat(dl.getReason()).as("reason for %s at %s (%s)", in.what(), e.getKey(), dl.getMessage())
                    .isEqualTo(in.expectedReason());
            assertThat(dl.getMessage()).as("message for %s", in.what()).isNotBlank();
            assertThat(bytes(dl.getKey())).as("key of %s", in.what()).isEqualTo(in.key());
            assertThat(bytes(dl.getValue())).as("value of %s", in.what()).isEqualTo(in.value());
        }
        LOG.info("dead letters by reason: {}", reasons);
    }

    private static byte[] bytes(ByteBuffer b) {
        if (b == null) {
            return null;
        }
        byte[] out = new byte[b.remaining()];
        b.duplicate().get(out);
        return out;
    }

    /** Java-only build: engram.kernels.mode=zig must fail the job at start, with the loader's explanation. */
    private static void zigFailsAtStart(Topics topics, String backend) throws Exception {
        Configuration conf = E2eSupport.jobConfig(kafka, topics, "zig", backend, "zig-" + backend + "-missing");
        JobClient job = E2eSupport.start(conf, "engram-e2e-zig-missing-" + backend);
        try {
            Throwable failure = E2eSupport.failureOf(job, WAIT);
            LOG.info("zig in a java-only build failed as expected:\n{}", E2eSupport.messages(failure));
            assertThat(E2eSupport.causeOf(failure, NativeLoadException.class))
                    .as("cause chain of the failure: %s", E2eSupport.messages(failure))
                    .hasValueSatisfying(e -> assertThat(e.getMessage()).contains("Java-only build"));
        } finally {
            E2eSupport.cancel(job);
        }
        try (TopicReader results = new TopicReader(kafka, topics.results())) {
            results.drainCommitted();
            assertThat(results.records).isEmpty();
        }
    }

    /**
     * The native arenas come out of the slots' managed memory: a TaskManager whose managed memory cannot hold one
     * arena per slot must fail a zig job at start, with a message naming the keys and the numbers, and without a
     * restart loop although the job asks for restarts (the same configuration would fail every attempt). The same
     * TaskManager runs a java job, which needs no arena.
     */
    @Test
    void arenaBudgetCheckFailsZigClearlyAndSparesJava() throws Exception {
        Topics topics = Topics.suffixed("budget");
        topics.create(kafka);
        MiniCluster small = new MiniCluster(new MiniClusterConfiguration.Builder()
                .setConfiguration(clusterConfig(MemorySize.parse("2m"))) // 1 MiB per slot < the 2 MiB arena
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(E2eSupport.PARALLELISM)
                .build());
        small.start();
        JobClient job = null;
        try {
            Configuration zig = E2eSupport.jobConfig(kafka, topics, "zig", "hashmap", "budget-zig");
            zig.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            zig.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 1000);
            job = startOn(small, zig, "engram-e2e-budget-zig");
            Throwable failure = E2eSupport.failureOf(job, WAIT);
            String messages = E2eSupport.messages(failure);
            LOG.info("zig with 1 MiB of managed memory per slot failed with:\n{}", messages);
            if (zigMissing.isPresent()) {
                assertThat(E2eSupport.causeOf(failure, NativeLoadException.class)).as(messages).isPresent();
            } else {
                assertThat(E2eSupport.causeOf(failure, SuppressRestartsException.class)).as("no restarts: " + messages)
                        .isPresent();
                assertThat(E2eSupport.causeOf(failure, IllegalStateException.class)).as(messages)
                        .hasValueSatisfying(e -> assertThat(e.getMessage())
                                .contains("engram.kernels.arena.size 2.000mb")
                                .contains("managed memory: 1024.000kb (1048576 bytes)")
                                .contains("taskmanager.memory.managed.size")
                                .contains("engram.kernels.mode=java"));
            }
            E2eSupport.cancel(job);

            // java needs no arena: the same TaskManager runs it (it dead-letters a garbage event)
            Configuration java = E2eSupport.jobConfig(kafka, topics, "java", "hashmap", "budget-java");
            List<Produced> garbage = E2eSupport.produce(kafka, topics.events(), List.of(new Workload.Input(
                    Workload.Kind.EVENT, "probe".getBytes(StandardCharsets.UTF_8),
                    "garbage".getBytes(StandardCharsets.UTF_8), "BAD_HEADER", "garbage")));
            job = startOn(small, java, "engram-e2e-budget-java");
            try (TopicReader deadLetters = new TopicReader(kafka, topics.deadLetters())) {
                JobClient running = job;
                E2eSupport.waitUntil(() -> {
                    deadLetters.pollOnce();
                    return !deadLetters.records.isEmpty();
                }, WAIT, () -> "the probe's dead letter", running);
                assertDeadLetters(deadLetters, garbage, List.of());
            }
        } finally {
            E2eSupport.cancel(job);
            small.close();
        }
    }

    private static JobClient startOn(MiniCluster cluster, Configuration conf, String name) throws Exception {
        TestStreamEnvironment env = new TestStreamEnvironment(cluster, conf, E2eSupport.PARALLELISM, List.of(),
                List.of());
        EngramJob.build(env, conf);
        return env.executeAsync(name);
    }
}
