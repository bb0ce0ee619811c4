package io.engram.job.e2e;

import static io.engram.job.e2e.E2eSupport.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.e2e.E2eSupport.TopicReader;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.config.EngramOptions;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.ReinforceMemory;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.checkpoint.AbstractCheckpointStats;
import org.apache.flink.runtime.checkpoint.CheckpointStatsStatus;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checkpoints grow with change, not with size: the real job on RocksDB with incremental checkpoints holds one space of
 * 100,000 memories; after 1,000 more stores, the next checkpoint uploads at most 5% of the full state. With the
 * one-value layout every store rewrote the whole space's value, so every checkpoint carried the whole space again.
 * Then 1,000 reinforces of memories spread over the whole space (each rewrites its row chunk) and the checkpoint after
 * them: how chunk size trades bytes per event (docs/operations/sizing.md). The chunk size is the job's default unless
 * {@code -Dit.chunk-sizes=16,64,256} asks for a measurement series (one job per size).
 */
@Timeout(900)
class IncrementalCheckpointIT {
    private static final Logger LOG = LoggerFactory.getLogger(IncrementalCheckpointIT.class);
    static final int MEMORIES = 100_000;
    static final int MORE = 1_000;
    static final int DIM = 64;
    static final String SPACE = "big-space";

    @RegisterExtension
    static final MiniClusterExtension FLINK = E2eSupport.miniCluster();

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    static Stream<Integer> chunkSizes() {
        String sizes = System.getProperty("it.chunk-sizes", "");
        return sizes.isBlank() ? Stream.of(EngramOptions.STATE_CHUNK_SIZE.defaultValue())
                : Arrays.stream(sizes.split(",")).map(String::trim).map(Integer::valueOf);
    }

    @ParameterizedTest(name = "chunk size {0}")
    @MethodSource("chunkSizes")
    void afterAThousandStoresIntoAHundredThousandTheIncrementalCheckpointIsSmall(
            int chunkSize, @InjectMiniCluster MiniCluster cluster) throws Exception {
        EmbeddedKafkaBroker kafka = KAFKA.broker();
        Topics topics = Topics.suffixed("incremental-c" + chunkSize);
        topics.create(kafka);
        Configuration conf = E2eSupport.jobConfig(kafka, topics, "java", "rocksdb", "incremental-c" + chunkSize);
        conf.set(EngramOptions.STATE_CHUNK_SIZE, chunkSize);
        conf.setString("execution.checkpointing.incremental", "true");
        conf.set(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTING_INTERVAL,
                java.time.Duration.ofSeconds(2));
        JobClient job = E2eSupport.start(conf, "engram-incremental-checkpoints", 1);
        long t0 = System.currentTimeMillis();
        try (TopicReader results = new TopicReader(kafka, topics.results())) {
            load(kafka, topics, 0, MEMORIES, t0);
            awaitStored(kafka, topics, results, job, 0, MEMORIES - 1, t0);
            AbstractCheckpointStats full = nextCompleted(cluster, job, latestCompleted(cluster, job));
            LOG.info("after {} stores: checkpoint {} full {} B, uploaded {} B", MEMORIES, full.getCheckpointId(),
                    full.getStateSize(), full.getCheckpointedSize());
            // one more, so the load's last flush is behind us and the next one sees only the new stores
            AbstractCheckpointStats settled = nextCompleted(cluster, job, full.getCheckpointId());

            load(kafka, topics, MEMORIES, MORE, t0);
            awaitStored(kafka, topics, results, job, MEMORIES, MEMORIES + MORE - 1, t0);
            AbstractCheckpointStats after = nextCompleted(cluster, job, latestCompleted(cluster, job));
            double share = (double) after.getCheckpointedSize() / after.getStateSize();
            String line = String.format(Locale.ROOT, "chunk size %d: incremental checkpoint after %d stores into %d "
                            + "memories (dim %d): %d B uploaded of %d B full (%.2f%%); the full state after the load: "
                            + "%d B", chunkSize, MORE, MEMORIES, DIM, after.getCheckpointedSize(),
                    after.getStateSize(), 100 * share, full.getStateSize());
            LOG.info(line);
            System.out.println("IncrementalCheckpointIT: " + line);

            // 1,000 reinforces spread over the space, then one more store to know they are applied (same key, same
            // partition: in order). Measured, not asserted: RocksDB may compact into the same upload.
            nextCompleted(cluster, job, after.getCheckpointId());
            reinforce(kafka, topics, MORE, t0);
            load(kafka, topics, MEMORIES + MORE, 1, t0);
            awaitStored(kafka, topics, results, job, MEMORIES + MORE, MEMORIES + MORE, t0);
            AbstractCheckpointStats reinforced = nextCompleted(cluster, job, latestCompleted(cluster, job));
            String line2 = String.format(Locale.ROOT, "chunk size %d: incremental checkpoint after %d reinforces "
                            + "spread over %d memories: %d B uploaded of %d B full (%.2f%%)", chunkSize, MORE,
                    MEMORIES + MORE, reinforced.getCheckpointedSize(), reinforced.getStateSize(),
                    100.0 * reinforced.getCheckpointedSize() / reinforced.getStateSize());
            LOG.info(line2);
            System.out.println("IncrementalCheckpointIT: " + line2);
            assertThat(after.getStateSize()).as("full state holds 100k memories").isGreaterThan(
                    (long) MEMORIES * DIM * 4);
            assertThat(share).as(line).isLessThanOrEqualTo(0.05);
        } finally {
            E2eSupport.cancel(job);
        }
    }

    private static void load(EmbeddedKafkaBroker kafka, Topics topics, int from, int count, long t0)
            throws Exception {
        SplittableRandom r = new SplittableRandom(from);
        List<Workload.Input> in = new ArrayList<>(count);
        for (int i = from; i < from + count; i++) {
            float[] v = new float[DIM];
            for (int j = 0; j < DIM; j++) {
                v[j] = (float) (r.nextDouble() * 2 - 1);
            }
            in.add(E2eSupport.eventInput(SPACE, "e" + i, t0, E2eSupport.store(id(i), v, 1e6f)));
        }
        E2eSupport.produce(kafka, topics.events(), in);
    }

    /** {@code count} reinforces of memories evenly spread over the first {@link #MEMORIES}. */
    private static void reinforce(EmbeddedKafkaBroker kafka, Topics topics, int count, long t0) throws Exception {
        List<Workload.Input> in = new ArrayList<>(count);
        for (int j = 0; j < count; j++) {
            in.add(E2eSupport.eventInput(SPACE, "r" + j, t0, ReinforceMemory.newBuilder()
                    .setMemoryId(id((int) ((long) j * MEMORIES / count))).build()));
        }
        E2eSupport.produce(kafka, topics.events(), in);
    }

    static String id(int i) {
        return String.format(Locale.ROOT, "m-%06d", i);
    }

    /**
     * Waits until a cue equal to memory {@code last}'s embedding (of the load that started at {@code from}) recalls it
     * first: every store before it applied.
     */
    private static void awaitStored(EmbeddedKafkaBroker kafka, Topics topics, TopicReader results, JobClient job,
                                    int from, int last, long t0) throws Exception {
        SplittableRandom r = new SplittableRandom(from);
        float[] v = null;
        for (int i = from; i <= last; i++) {
            v = new float[DIM];
            for (int j = 0; j < DIM; j++) {
                v[j] = (float) (r.nextDouble() * 2 - 1);
            }
        }
        int[] attempt = {0};
        float[] cue = v;
        E2eSupport.waitUntil(() -> {
            try {
                RecallQuery q = RecallQuery.newBuilder().setQueryId("probe-" + last + "-" + attempt[0]++)
                        .setSpace(SPACE).setTimestampMs(t0).setCue(Workload.toList(cue)).setK(1).setMaxHops(0)
                        .build();
                RecallResult res = E2eSupport.ask(kafka, topics, results, job, q);
                return !res.getHits().isEmpty() && res.getHits().get(0).getMemoryId().toString().equals(id(last));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, java.time.Duration.ofMinutes(10), () -> "store " + id(last) + " applied", job);
    }

    /** The id of the newest completed checkpoint, or -1. */
    private static long latestCompleted(MiniCluster cluster, JobClient job) throws Exception {
        long id = -1;
        for (AbstractCheckpointStats s : cluster.getExecutionGraph(job.getJobID()).get().getCheckpointStatsSnapshot()
                .getHistory().getCheckpoints()) {
            if (s.getStatus() == CheckpointStatsStatus.COMPLETED) {
                id = Math.max(id, s.getCheckpointId());
            }
        }
        return id;
    }

    /** The first checkpoint completed after checkpoint {@code after}. */
    private static AbstractCheckpointStats nextCompleted(MiniCluster cluster, JobClient job, long after)
            throws Exception {
        AbstractCheckpointStats[] found = {null};
        E2eSupport.waitUntil(() -> {
            try {
                var history = cluster.getExecutionGraph(job.getJobID()).get()
                        .getCheckpointStatsSnapshot().getHistory().getCheckpoints();
                for (AbstractCheckpointStats s : history) {
                    if (s.getStatus() == CheckpointStatsStatus.COMPLETED && s.getCheckpointId() > after
                            && (found[0] == null || s.getCheckpointId() < found[0].getCheckpointId())) {
                        found[0] = s;
                    }
                }
                return found[0] != null;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, WAIT, () -> "a checkpoint after " + after, job);
        return found[0];
    }
}
