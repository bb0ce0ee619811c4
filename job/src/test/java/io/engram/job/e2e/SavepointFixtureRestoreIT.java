package io.engram.job.e2e;

import static io.engram.job.e2e.E2eSupport.WAIT;
import static io.engram.job.e2e.E2eSupport.ms;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.engram.job.e2e.E2eSupport.TopicReader;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.RecallResult;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A savepoint taken before a state-schema change restores after it: the committed fixture
 * ({@link SavepointFixture#NAMES}, each written with {@link SavepointFixtureGenerator}) is restored by
 * the current code, in zig and java mode, into the hashmap and the RocksDB backend. Each restored job must
 *
 * <ul>
 *   <li>answer the fixture's queries as the reference model answered them when the fixture was made (the expected
 *       hits are in the committed {@code expected-state.json}), with the kernel mode of the job, except in the space
 *       that the restored {@code KernelControl} record pins to Java;</li>
 *   <li>answer each query exactly once (read_committed);</li>
 *   <li>stop with a new savepoint whose keyed, operator and broadcast state, read with the State Processor API, is
 *       exactly the expected file: every memory (id, embedding, strength, stability, last access), edge, dedup entry,
 *       sweep timer, the totals and the control record.</li>
 * </ul>
 *
 * The fixture itself is read and compared too. Nothing here reads the expectation from a savepoint: when new state is
 * added to the operator, this test keeps passing only if the old savepoint still restores with all of its content.
 */
@Timeout(600)
class SavepointFixtureRestoreIT {
    private static final Logger LOG = LoggerFactory.getLogger(SavepointFixtureRestoreIT.class);

    @RegisterExtension
    static final MiniClusterExtension FLINK = E2eSupport.miniCluster();

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static EmbeddedKafkaBroker kafka() {
        return KAFKA.broker();
    }

    private static final Map<String, JsonNode> EXPECTED = new HashMap<>();
    private static final Map<String, Path> FIXTURES = new HashMap<>();

    @BeforeAll
    static void start(@TempDir Path tmp) throws Exception {
        for (String name : SavepointFixture.NAMES) {
            Path dir = SavepointFixture.directory(name);
            EXPECTED.put(name, SavepointFixture.loadExpected(dir));
            // restore from a copy: a restore never writes into a savepoint, but the committed files stay untouched
            FIXTURES.put(name, tmp.resolve(name));
            SavepointFixture.copyTree(dir.resolve(SavepointFixture.SAVEPOINT), tmp.resolve(name));
        }
    }

    static Stream<String> fixtures() {
        return SavepointFixture.NAMES.stream();
    }

    static Stream<Arguments> restores() {
        return SavepointFixture.NAMES.stream().flatMap(name -> Stream.of(Arguments.of(name, "zig", "hashmap"),
                Arguments.of(name, "zig", "rocksdb"), Arguments.of(name, "java", "hashmap"),
                Arguments.of(name, "java", "rocksdb")));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void theCommittedFixtureHoldsWhatItsGeneratorRecorded(String name) throws Exception {
        JsonNode expected = EXPECTED.get(name);
        Path fixture = FIXTURES.get(name);
        assertThat(expected.get("fixture").asText()).isEqualTo(name);
        assertThat(Files.exists(fixture.resolve("_metadata"))).as("savepoint _metadata").isTrue();
        SavepointFixture.assertMatches(expected, SavepointFixture.read(fixture.toUri().toString()), name);
    }

    @ParameterizedTest(name = "{0}: {1} kernels, {2} backend")
    @MethodSource("restores")
    void restoresWithEveryEntryIntact(String name, String requestedMode, String backend, @TempDir Path dir)
            throws Exception {
        JsonNode expected = EXPECTED.get(name);
        Path fixture = FIXTURES.get(name);
        long t0 = System.nanoTime();
        boolean zig = E2eSupport.zigUnavailable().isEmpty();
        String mode = zig ? requestedMode : "java"; // a -Pjava-only build has no Zig library: java restores only
        Topics topics = SavepointFixture.topics(expected);
        recreate(topics);
        List<SavepointFixture.Query> queries = SavepointFixture.queries(expected);
        String prefix = name + "-" + mode + "-" + backend + "-";
        Configuration conf = E2eSupport.jobConfig(kafka(), topics, mode, backend, SavepointFixture.JOB);
        SavepointFixture.pinJobSettings(conf);
        conf.set(StateRecoveryOptions.SAVEPOINT_PATH, fixture.toUri().toString());
        JobClient job = E2eSupport.start(conf, "engram-fixture-restore-" + mode + "-" + backend);
        String sp;
        Map<String, List<RecallResult>> byId = new HashMap<>();
        try (TopicReader results = new TopicReader(kafka(), topics.results())) {
            List<Workload.Input> inputs = new ArrayList<>();
            List<String> ids = new ArrayList<>();
            for (SavepointFixture.Query q : queries) {
                String id = prefix + q.query().getQueryId();
                ids.add(id);
                inputs.add(new Workload.Input(Workload.Kind.QUERY, q.space().getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(Workload.withId(q.query(), id)), null, id));
            }
            E2eSupport.produce(kafka(), topics.queries(), inputs);
            SavepointRoundTripIT.waitForResults(results, ids, job);
            sp = job.stopWithSavepoint(false, dir.resolve("sp").toUri().toString(), SavepointFormatType.CANONICAL)
                    .get(WAIT.toSeconds(), TimeUnit.SECONDS);
            E2eSupport.waitUntil(() -> SavepointRoundTripIT.terminal(job), WAIT, () -> "the job to stop", null);
            results.drainCommitted();
            for (ConsumerRecord<byte[], byte[]> r : results.records) {
                RecallResult res = E2eSupport.result(r);
                byId.computeIfAbsent(res.getQueryId(), k -> new ArrayList<>()).add(res);
            }
            assertThat(byId.keySet()).as("answered queries").containsExactlyInAnyOrderElementsOf(ids);
        } finally {
            E2eSupport.cancel(job);
        }
        assertThat(byId.entrySet().stream().filter(e -> e.getValue().size() != 1).map(Map.Entry::getKey).toList())
                .as("queries answered more than once").isEmpty();
        Map<String, List<String>> wrong = new LinkedHashMap<>();
        Set<String> javaSpaces = Set.of(SavepointFixture.JAVA_SPACE);
        int pinned = 0;
        for (SavepointFixture.Query q : queries) {
            String expectedMode = javaSpaces.contains(q.space()) ? "java" : mode;
            pinned += javaSpaces.contains(q.space()) ? 1 : 0;
            List<String> bad = Answers.mismatches(byId.get(prefix + q.query().getQueryId()).get(0), q.answer(),
                    expectedMode);
            if (!bad.isEmpty()) {
                wrong.put(q.query().getQueryId(), bad);
            }
        }
        assertThat(pinned).as("queries in the space the restored switch pins to java").isPositive();
        assertThat(wrong).as("answers of the restored job that differ from the fixture's expectation").isEmpty();

        long tr = System.nanoTime();
        SavepointFixture.assertMatches(expected, SavepointFixture.read(sp), "savepoint after restore (" + mode + ", "
                + backend + ")");
        LOG.info("fixture {} restored ({} kernels, {} backend): {} queries answered as recorded, state equal; "
                + "{} ms ({} ms reading the new savepoint)", name, mode, backend, queries.size(),
                ms(t0), ms(tr));
    }

    /**
     * Deletes and recreates the fixture's topics: every restore starts at the fixture's source offsets, and must not
     * see the queries of the restore before it (the topic names are fixed by the savepoint's source state).
     */
    private static void recreate(Topics topics) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka().bootstrapServers());
        try (Admin admin = Admin.create(p)) {
            Set<String> existing = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<String> mine = List.of(topics.all()).stream().filter(existing::contains).toList();
            if (!mine.isEmpty()) {
                admin.deleteTopics(mine).all().get(30, TimeUnit.SECONDS);
                E2eSupport.waitUntil(() -> {
                    try {
                        Set<String> now = admin.listTopics().names().get(30, TimeUnit.SECONDS);
                        return mine.stream().noneMatch(now::contains);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, WAIT, () -> "topics " + mine + " to be deleted", null);
            }
        }
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (true) {
            try {
                topics.create(kafka());
                return;
            } catch (RuntimeException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(200); // deletion still settling
            }
        }
    }
}
