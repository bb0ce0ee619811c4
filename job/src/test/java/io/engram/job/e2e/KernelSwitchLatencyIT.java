package io.engram.job.e2e;

import static io.engram.job.e2e.E2eSupport.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.e2e.E2eSupport.Produced;
import io.engram.job.e2e.E2eSupport.TopicReader;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.KernelControl;
import io.engram.schemas.RecallResult;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The runtime kernel switch, measured on a live job (MiniCluster, parallelism 2, real embedded broker): queries flow
 * continuously into every space (one every {@value #QUERY_EVERY_MS} ms, round robin), and a {@code KernelControl}
 * record (what {@code deploy/scripts/set_kernel_mode.sh} produces) flips all spaces zig → java → zig ... The switch
 * latency of a round is the time from just before the control record is produced to the receipt of the first result
 * that the new mode served ({@code RecallResult.kernel_mode}), for the first space and for the last space to switch
 * (every space, so both subtasks). Results are read with read_uncommitted, i.e. when the job writes them; a
 * read_committed consumer sees them at the next checkpoint (engram's exactly-once sink), which is the same with or
 * without a switch and is not part of the switch. The job must never restart: the same attempt of every task from the
 * first query to the last. A space must never go back to the old mode once it served the new one, and every answer
 * must equal the reference in the mode that served it.
 *
 * <p>Needs the Zig kernels: skipped in a {@code -Pjava-only} build (where a switch to zig stays on java by design).
 */
@Timeout(300)
class KernelSwitchLatencyIT {
    private static final Logger LOG = LoggerFactory.getLogger(KernelSwitchLatencyIT.class);

    static final int QUERY_EVERY_MS = 5;
    static final int ROUNDS = 8;
    static final long LIMIT_MS = 1000;

    @RegisterExtension
    static final MiniClusterExtension FLINK = E2eSupport.miniCluster();

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static EmbeddedKafkaBroker kafka() {
        return KAFKA.broker();
    }

    /** A result as received: when (nanoTime), for which query, space and mode. */
    private record Seen(long atNanos, String queryId, String space, String mode, RecallResult result) {
    }

    @Test
    void aLiveSwitchServesTheNewModeWithinOneSecondWithoutARestart(@InjectMiniCluster MiniCluster cluster)
            throws Exception {
        Assumptions.assumeTrue(E2eSupport.zigUnavailable().isEmpty(), "a -Pjava-only build has no zig to switch to");
        Topics topics = Topics.suffixed("switch");
        topics.create(kafka());
        Workload w = new Workload(99L, System.currentTimeMillis(), E2eSupport.modelSettings());
        w.queries(2);
        Map<String, Workload.QuerySpec> specs = new HashMap<>();
        w.validQueries.forEach(q -> specs.put(q.id(), q));
        Set<String> spaces = w.validQueries.stream().map(Workload.QuerySpec::space)
                .collect(Collectors.toCollection(TreeSet::new));
        List<Produced> events = E2eSupport.produce(kafka(), topics.events(), w.events);
        Set<String> letters = events.stream().filter(p -> p.input().expectedReason() != null).map(E2eSupport::at)
                .collect(Collectors.toSet());
        Configuration conf = E2eSupport.jobConfig(kafka(), topics, "zig", "hashmap", "switch");
        JobClient job = E2eSupport.start(conf, "engram-e2e-switch-latency");
        ConcurrentLinkedQueue<Seen> seen = new ConcurrentLinkedQueue<>();
        AtomicBoolean running = new AtomicBoolean(true);
        List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
        Thread reader = null;
        Thread load = null;
        try (TopicReader deadLetters = new TopicReader(kafka(), topics.deadLetters());
             KafkaProducer<byte[], byte[]> control = E2eSupport.producer(kafka())) {
            E2eSupport.waitUntil(() -> {
                deadLetters.pollOnce();
                return E2eSupport.deadLettersBySource(deadLetters).keySet().containsAll(letters);
            }, WAIT, () -> "the events' dead letters (all events applied)", job);

            reader = new Thread(() -> readResults(topics.results(), running, seen, failures), "switch-results");
            reader.start();
            load = new Thread(() -> produceQueries(topics.queries(), w.validQueries, running, failures),
                    "switch-load");
            load.start();
            E2eSupport.waitUntil(() -> spaces.stream().allMatch(s -> seen.stream()
                    .anyMatch(x -> x.space().equals(s) && x.mode().equals("zig"))), WAIT,
                    () -> "zig answers from every space", job);
            long attemptsBefore = attempts(cluster, job);

            List<Long> firstMs = new ArrayList<>();
            List<Long> allMs = new ArrayList<>();
            Map<String, List<Long>> byDirection = new LinkedHashMap<>();
            int reverted = 0;
            Map<String, List<String>> wrong = new LinkedHashMap<>();
            int checked = 0;
            String current = "zig";
            for (int round = 1; round <= ROUNDS; round++) {
                String next = current.equals("zig") ? "java" : "zig";
                Thread.sleep(500); // steady flow in the current mode before each switch
                KernelControl c = KernelControl.newBuilder().setMode(next)
                        .setReason("KernelSwitchLatencyIT round " + round).setIssuedBy("KernelSwitchLatencyIT")
                        .setTimestampMs(System.currentTimeMillis()).setSpaces(List.of()).setFraction(null).build();
                long t = System.nanoTime();
                control.send(new ProducerRecord<>(topics.control(), 0, "control".getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(c))).get(30, TimeUnit.SECONDS);
                Map<String, Long> switchedAt = new HashMap<>();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
                while (switchedAt.size() < spaces.size() && System.nanoTime() < deadline) {
                    for (Seen s : seen) {
                        if (s.atNanos() >= t && s.mode().equals(next)) {
                            switchedAt.merge(s.space(), s.atNanos(), Math::min);
                        }
                    }
                    Thread.sleep(5);
                }
                assertThat(switchedAt.keySet()).as("spaces served by %s within 30 s of round %d", next, round)
                        .isEqualTo(spaces);
                long first = (switchedAt.values().stream().mapToLong(Long::longValue).min().orElseThrow() - t)
                        / 1_000_000;
                long all = (switchedAt.values().stream().mapToLong(Long::longValue).max().orElseThrow() - t)
                        / 1_000_000;
                Thread.sleep(200); // a few more results in the new mode
                for (Seen s : seen) {
                    Long at = switchedAt.get(s.space());
                    if (s.atNanos() > at && !s.mode().equals(next)) {
                        reverted++; // an old-mode answer after the space had served the new mode
                    }
                }
                firstMs.add(first);
                allMs.add(all);
                byDirection.computeIfAbsent(current + "->" + next, k -> new ArrayList<>()).add(all);
                LOG.info("switch round {} {} -> {}: first result in the new mode after {} ms, every space ({}) "
                        + "after {} ms", round, current, next, first, spaces.size(), all);
                current = next;
                // keep the queue short: results older than this round are checked against the reference and dropped
                List<Seen> old = seen.stream().filter(s -> s.atNanos() < t).toList();
                checked += check(old, specs, wrong);
                seen.removeAll(old);
            }
            running.set(false);
            load.join(10_000);
            reader.join(10_000);
            assertThat(failures).as("load/reader failures").isEmpty();
            assertThat(job.getJobStatus().get(30, TimeUnit.SECONDS)).isEqualTo(JobStatus.RUNNING);
            assertThat(attempts(cluster, job)).as("task attempts (a restart would start new ones)")
                    .isEqualTo(attemptsBefore).isZero();
            assertThat(reverted).as("answers in the old mode after a space had switched").isZero();

            // every answer seen: the reference's, in the mode that served it
            checked += check(new ArrayList<>(seen), specs, wrong);
            assertThat(wrong).as("answers that differ from the reference").isEmpty();

            LOG.info("runtime switch latency over {} rounds (queries every {} ms, parallelism {}): first result in "
                    + "the new mode {}; every space switched {}; by direction {}; {} answers checked",
                    ROUNDS, QUERY_EVERY_MS, E2eSupport.PARALLELISM, stats(firstMs), stats(allMs),
                    byDirection.entrySet().stream().map(e -> e.getKey() + " " + stats(e.getValue())).toList(),
                    checked);
            System.out.printf("runtime switch latency (every space switched): %s; first result: %s%n",
                    stats(allMs), stats(firstMs));
            assertThat(allMs.stream().mapToLong(Long::longValue).max().orElseThrow())
                    .as("max switch latency (ms), every space").isLessThan(LIMIT_MS);
        } finally {
            running.set(false);
            if (load != null) {
                load.join(10_000);
            }
            if (reader != null) {
                reader.join(10_000);
            }
            E2eSupport.cancel(job);
        }
    }

    /** Compares each answer with the reference in the mode that served it; returns how many were compared. */
    private static int check(List<Seen> results, Map<String, Workload.QuerySpec> specs,
                             Map<String, List<String>> wrong) {
        for (Seen s : results) {
            String orig = s.queryId().substring(s.queryId().indexOf('-', 3) + 1);
            List<String> bad = Answers.mismatches(s.result(), specs.get(orig).expected(), s.mode());
            if (!bad.isEmpty() && wrong.size() < 20) {
                wrong.put(s.queryId(), bad);
            }
        }
        return results.size();
    }

    static String stats(List<Long> ms) {
        List<Long> s = new ArrayList<>(ms);
        Collections.sort(s);
        long median = s.size() % 2 == 1 ? s.get(s.size() / 2) : (s.get(s.size() / 2 - 1) + s.get(s.size() / 2)) / 2;
        return "min " + s.get(0) + " ms / median " + median + " ms / max " + s.get(s.size() - 1) + " ms";
    }

    /** The sum of the attempt numbers of every task: 0 as long as nothing restarted. */
    private static long attempts(MiniCluster cluster, JobClient job) throws Exception {
        AccessExecutionGraph g = cluster.getExecutionGraph(job.getJobID()).get(30, TimeUnit.SECONDS);
        long sum = 0;
        for (AccessExecutionVertex v : g.getAllExecutionVertices()) {
            sum += v.getCurrentExecutionAttempt().getAttemptNumber();
        }
        return sum;
    }

    private static void produceQueries(String topic, List<Workload.QuerySpec> queries, AtomicBoolean running,
                                       List<Throwable> failures) {
        try (KafkaProducer<byte[], byte[]> producer = E2eSupport.producer(kafka())) {
            long seq = 0;
            long next = System.nanoTime();
            while (running.get()) {
                Workload.QuerySpec q = queries.get((int) (seq % queries.size()));
                String id = "ld-" + seq + "-" + q.id();
                producer.send(new ProducerRecord<>(topic, q.space().getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(Workload.withId(q.query(), id))));
                seq++;
                next += TimeUnit.MILLISECONDS.toNanos(QUERY_EVERY_MS);
                long sleep = next - System.nanoTime();
                if (sleep > 0) {
                    Thread.sleep(sleep / 1_000_000, (int) (sleep % 1_000_000));
                }
            }
        } catch (Throwable t) {
            failures.add(t);
        }
    }

    /** Reads results as the job writes them (read_uncommitted) and stamps each with its receipt time. */
    private static void readResults(String topic, AtomicBoolean running, ConcurrentLinkedQueue<Seen> seen,
                                    List<Throwable> failures) {
        try (KafkaConsumer<byte[], byte[]> consumer =
                     EmbeddedKafkaExtension.consumerFromStart(kafka(), topic, "read_uncommitted")) {
            while (running.get()) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(20))) {
                    long at = System.nanoTime();
                    RecallResult res = E2eSupport.result(r);
                    seen.add(new Seen(at, res.getQueryId(), res.getSpace(), res.getKernelMode(), res));
                }
            }
        } catch (Throwable t) {
            failures.add(t);
        }
    }
}
