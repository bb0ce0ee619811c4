package io.engram.job.e2e;

import static io.engram.job.e2e.E2eSupport.WAIT;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.engram.job.config.EngramOptions;
import io.engram.job.e2e.E2eSupport.Produced;
import io.engram.job.e2e.E2eSupport.TopicReader;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.KernelControl;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes a savepoint fixture ({@link SavepointFixture}): NOT a test, never run by CI (its name matches neither the
 * surefire nor the failsafe pattern, and it only runs when {@code savepointFixture.out} is set). Run it by hand,
 * from the repository root, when a released state version needs its fixture:
 *
 * <pre>
 *   mvn -B -q -o verify -pl job -am -DskipTests=false -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false \
 *       -Dfailsafe.failIfNoSpecifiedTests=false -Dit.test=SavepointFixtureGenerator \
 *       -DsavepointFixture.out=/tmp/fixture
 * </pre>
 *
 * It runs the real job (hashmap backend, parallelism 2) on an embedded broker over the e2e {@link Workload} (fixed
 * seed): five spaces with stores, replacements, edges, reinforcements, forgotten memories, a fully emptied space,
 * replays (dedup entries) and invalid records; plus one scoped {@code KernelControl} record (Java for
 * {@value SavepointFixture#JAVA_SPACE}). No query is sent, so the query source's offsets stay at 0 and a restore on a
 * fresh broker reads every query it is given. Once every dead letter is committed it waits for a few more
 * checkpoints (no transaction left open) and stops with a CANONICAL savepoint, which restores into either backend. It
 * checks the savepoint against the reference model, then writes {@code <out>/savepoint/} and
 * {@code <out>/expected-state.json} (from the model, with the queries and their expected answers). Copy both into
 * {@code job/src/test/resources/savepoints/<new name>/}, next to a README saying which commit and state version made it.
 */
@EnabledIfSystemProperty(named = "savepointFixture.out", matches = ".+")
@Timeout(300)
class SavepointFixtureGenerator {
    private static final Logger LOG = LoggerFactory.getLogger(SavepointFixtureGenerator.class);

    @RegisterExtension
    static final MiniClusterExtension FLINK = E2eSupport.miniCluster();

    @Test
    void generate(@TempDir Path tmp) throws Exception {
        Path out = Path.of(System.getProperty("savepointFixture.out")).toAbsolutePath();
        if (Files.exists(out.resolve(SavepointFixture.SAVEPOINT))) {
            throw new IllegalStateException(out + " already holds a fixture; give an empty directory");
        }
        String mode = E2eSupport.zigUnavailable().isEmpty() ? "zig" : "java";
        try (EmbeddedKafkaBroker kafka = EmbeddedKafkaBroker.start()) {
            Topics topics = SavepointFixture.topics();
            topics.create(kafka);
            long t0 = System.currentTimeMillis();
            Workload w = new Workload(SavepointFixture.SEED, t0, E2eSupport.modelSettings());
            w.queries(SavepointFixture.QUERIES_PER_SPACE);
            KernelControl control = SavepointFixture.control(t0);
            Configuration conf = E2eSupport.jobConfig(kafka, topics, mode, "hashmap", SavepointFixture.JOB);
            JobClient job = E2eSupport.start(conf, "engram-savepoint-fixture");
            try (TopicReader deadLetters = new TopicReader(kafka, topics.deadLetters());
                 KafkaProducer<byte[], byte[]> p = E2eSupport.producer(kafka)) {
                p.send(new ProducerRecord<>(topics.control(), 0, "control".getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(control))).get(60, TimeUnit.SECONDS);
                List<Produced> events = E2eSupport.produce(kafka, topics.events(), w.events);
                Set<String> letters = events.stream().filter(x -> x.input().expectedReason() != null)
                        .map(E2eSupport::at).collect(Collectors.toSet());
                E2eSupport.waitUntil(() -> {
                    deadLetters.pollOnce();
                    return E2eSupport.deadLettersBySource(deadLetters).keySet().containsAll(letters);
                }, WAIT, () -> "the events' dead letters", job);
                // everything is committed; a few more checkpoints so the savepoint holds no pending transaction
                Thread.sleep(4 * conf.get(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTING_INTERVAL)
                        .toMillis());
                String sp = job.stopWithSavepoint(false, tmp.resolve("sp").toUri().toString(),
                        SavepointFormatType.CANONICAL).get(WAIT.toSeconds(), TimeUnit.SECONDS);
                E2eSupport.waitUntil(() -> SavepointRoundTripIT.terminal(job), WAIT, () -> "the job to stop", null);
                ObjectNode expected = SavepointFixture.expected(w, control, topics,
                        conf.get(EngramOptions.SWEEP_INTERVAL).toMillis(),
                        "SavepointFixtureGenerator (" + mode + " kernels, hashmap backend, parallelism "
                                + E2eSupport.PARALLELISM + ", CANONICAL savepoint)");
                SavepointFixture.assertMatches(expected, SavepointFixture.read(sp), "generated savepoint");
                Path spDir = Path.of(java.net.URI.create(sp));
                Files.createDirectories(out);
                SavepointFixture.copyTree(spDir, out.resolve(SavepointFixture.SAVEPOINT));
                SavepointFixture.write(expected, out.resolve(SavepointFixture.EXPECTED));
                LOG.info("fixture written to {}: savepoint {} bytes, expected-state.json {} bytes; {} spaces, {} "
                                + "memories, {} edges, {} queries", out,
                        SavepointFixture.sizeOf(out.resolve(SavepointFixture.SAVEPOINT)),
                        Files.size(out.resolve(SavepointFixture.EXPECTED)), expected.get("spaces").size(),
                        expected.get("totals").get(0), expected.get("totals").get(1), w.validQueries.size());
            } finally {
                E2eSupport.cancel(job);
            }
        }
    }
}
