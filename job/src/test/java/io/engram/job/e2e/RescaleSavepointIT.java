package io.engram.job.e2e;

import static io.engram.job.e2e.E2eSupport.WAIT;
import static io.engram.job.e2e.E2eSupport.ms;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.e2e.E2eSupport.Produced;
import io.engram.job.e2e.E2eSupport.TopicReader;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.schemas.RecallResult;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rescaling through savepoints while changing kernel mode, with the real job on Kafka:
 *
 * <pre>
 *   job 1: zig,  parallelism 2  --stop-with-savepoint (queries arriving)-->  SP1
 *   job 2: java, parallelism 1  restored from SP1  --stop-with-savepoint (queries arriving)-->  SP2
 *   job 3: zig,  parallelism 2  restored from SP2  --stop-with-savepoint-->  SP3
 * </pre>
 *
 * Every space's keyed state moves between key groups of one and two subtasks. The three savepoints, read with the
 * State Processor API, must hold the same spaces with equal content (memories, edges, dedup entries, timers) and the
 * reference model's; the operator totals (summed over subtasks) must stay exact. Each job answers the workload's
 * queries: equal to the reference and to each other within tolerance, with the kernel mode of the job. The queries
 * produced while a job stops are answered exactly once, by the stopping job or the next one (read_committed).
 *
 * <p>In a {@code -Pjava-only} build jobs 1 and 3 run java too (the rescale checks still apply).
 */
@Timeout(300)
class RescaleSavepointIT {
    private static final Logger LOG = LoggerFactory.getLogger(RescaleSavepointIT.class);

    private static final long SEED = 515L;

    @RegisterExtension
    static final MiniClusterExtension FLINK = E2eSupport.miniCluster();

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    private static EmbeddedKafkaBroker kafka() {
        return KAFKA.broker();
    }

    private record Phase(String mode, int parallelism, String prefix) {
    }

    @Test
    void rescaleTwoToOneToTwoAcrossKernelModes(@TempDir Path dir) throws Exception {
        long t0 = System.nanoTime();
        String zig = E2eSupport.zigUnavailable().isEmpty() ? "zig" : "java";
        List<Phase> phases = List.of(new Phase(zig, 2, "r1-"), new Phase("java", 1, "r2-"), new Phase(zig, 2, "r3-"));
        Topics topics = Topics.suffixed("rescale");
        topics.create(kafka());
        Workload w = new Workload(SEED, System.currentTimeMillis(), E2eSupport.modelSettings());
        w.queries(4);
        List<Produced> events = E2eSupport.produce(kafka(), topics.events(), w.events);
        Set<String> eventLetters = events.stream().filter(p -> p.input().expectedReason() != null)
                .map(E2eSupport::at).collect(Collectors.toSet());

        List<String> savepoints = new ArrayList<>();
        Map<String, String> timings = new LinkedHashMap<>();
        Map<String, List<RecallResult>> byId = new HashMap<>();
        try (TopicReader results = new TopicReader(kafka(), topics.results());
             TopicReader deadLetters = new TopicReader(kafka(), topics.deadLetters())) {
            for (int i = 0; i < phases.size(); i++) {
                Phase phase = phases.get(i);
                int n = i + 1;
                long ts = System.nanoTime();
                Configuration conf = E2eSupport.jobConfig(kafka(), topics, phase.mode(), "hashmap", "rescale");
                if (i > 0) {
                    conf.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoints.get(i - 1));
                }
                JobClient job = E2eSupport.start(conf, "engram-e2e-rescale-" + n, phase.parallelism());
                try {
                    if (i == 0) {
                        E2eSupport.waitUntil(() -> {
                            deadLetters.pollOnce();
                            return E2eSupport.deadLettersBySource(deadLetters).keySet().containsAll(eventLetters);
                        }, WAIT, () -> "the events' dead letters", job);
                    }
                    List<String> ids = SavepointRoundTripIT.sendQueries(kafka(), topics, w, phase.prefix());
                    if (i > 0) { // the queries produced while the previous job stopped
                        String mid = "mid" + i + "-";
                        ids.addAll(w.validQueries.stream().map(q -> mid + q.id()).toList());
                    }
                    SavepointRoundTripIT.waitForResults(results, ids, job);
                    String target = dir.resolve("sp" + n).toUri().toString();
                    String sp = i < phases.size() - 1
                            ? SavepointRoundTripIT.stopWhileQueriesArrive(kafka(), topics, w, job, target,
                                    "mid" + n + "-")
                            : job.stopWithSavepoint(false, target, SavepointFormatType.CANONICAL)
                                    .get(WAIT.toSeconds(), TimeUnit.SECONDS);
                    E2eSupport.waitUntil(() -> SavepointRoundTripIT.terminal(job), WAIT, () -> "job " + n
                            + " to stop", null);
                    savepoints.add(sp);
                    timings.put("job " + n + " " + phase.mode() + " p=" + phase.parallelism(),
                            ms(ts) + " ms (start, answer, stop-with-savepoint)");
                } finally {
                    E2eSupport.cancel(job);
                }
            }
            results.drainCommitted();
            deadLetters.drainCommitted();
            for (ConsumerRecord<byte[], byte[]> r : results.records) {
                RecallResult res = E2eSupport.result(r);
                byId.computeIfAbsent(res.getQueryId(), k -> new ArrayList<>()).add(res);
            }
            RecallEndToEndIT.assertDeadLetters(deadLetters, events, List.of());
        }

        // exactly once: every query of every phase, and those produced around the two stops
        List<String> prefixes = List.of("r1-", "r2-", "r3-", "mid1-", "mid2-");
        List<String> expectedIds = new ArrayList<>();
        for (String prefix : prefixes) {
            w.validQueries.forEach(q -> expectedIds.add(prefix + q.id()));
        }
        assertThat(byId.keySet()).as("answered queries").containsExactlyInAnyOrderElementsOf(expectedIds);
        assertThat(byId.entrySet().stream().filter(e -> e.getValue().size() != 1).map(Map.Entry::getKey).toList())
                .as("queries answered more than once").isEmpty();

        // answers: right for the job's kernel mode, equal to the reference and across the rescales
        Map<String, List<String>> wrong = new LinkedHashMap<>();
        Map<String, Integer> midModes = new TreeMap<>();
        for (Workload.QuerySpec q : w.validQueries) {
            RecallResult first = byId.get("r1-" + q.id()).get(0);
            for (int i = 0; i < phases.size(); i++) {
                RecallResult r = byId.get(phases.get(i).prefix() + q.id()).get(0);
                List<String> bad = Answers.mismatches(r, q.expected(), phases.get(i).mode());
                bad.addAll(Answers.sameAnswer(first, r));
                if (!bad.isEmpty()) {
                    wrong.put(phases.get(i).prefix() + q.id(), bad);
                }
            }
            for (int m = 1; m <= 2; m++) {
                RecallResult r = byId.get("mid" + m + "-" + q.id()).get(0);
                // answered by the stopping job or the next one: either mode is right, the hits are not negotiable
                List<String> bad = Answers.mismatches(r, q.expected(), r.getKernelMode());
                if (!bad.isEmpty()) {
                    wrong.put("mid" + m + "-" + q.id(), bad);
                }
                assertThat(r.getKernelMode()).isIn(phases.get(m - 1).mode(), phases.get(m).mode());
                midModes.merge("stop " + m + ": " + r.getKernelMode(), 1, Integer::sum);
            }
        }
        assertThat(wrong).as("answers that differ from the reference or across the rescales").isEmpty();
        LOG.info("queries produced around the stops were answered by: {}", midModes);

        // state: the same spaces with the same content at parallelism 2, 1 and 2, and the reference model's
        long tr = System.nanoTime();
        List<Map<String, SavepointRoundTripIT.SpaceRow>> states = new ArrayList<>();
        for (String sp : savepoints) {
            states.add(SavepointRoundTripIT.readSpaces(sp));
        }
        SavepointRoundTripIT.assertMatchesModel(states.get(0), w.model);
        for (int i = 1; i < states.size(); i++) {
            assertThat(states.get(i).keySet()).as("spaces in savepoint %d", i + 1).isEqualTo(states.get(0).keySet());
            for (String space : states.get(0).keySet()) {
                SavepointRoundTripIT.SpaceRow a = states.get(0).get(space);
                SavepointRoundTripIT.SpaceRow b = states.get(i).get(space);
                assertThat(b.state().size()).as("memories of %s in savepoint %d", space, i + 1)
                        .isEqualTo(a.state().size());
                assertThat(b.state().edgeCount()).as("edges of %s in savepoint %d", space, i + 1)
                        .isEqualTo(a.state().edgeCount());
                assertThat(b.state().sameContentAs(a.state())).as("SpaceState of '%s' in savepoint %d vs 1", space,
                        i + 1).isTrue();
                assertThat(b.dedupEntries).as("dedup entries of %s", space).isEqualTo(a.dedupEntries);
                assertThat(b.nextSweep).as("next sweep of %s", space).isEqualTo(a.nextSweep);
                assertThat(b.timers).as("event-time timers of %s", space).isEqualTo(a.timers);
            }
        }
        long memories = w.model.spaces.values().stream().mapToLong(s -> s.memories.size()).sum();
        long edges = w.model.spaces.values().stream().mapToLong(s -> s.edges.size()).sum();
        for (int i = 0; i < savepoints.size(); i++) {
            assertThat(SavepointRoundTripIT.readTotals(savepoints.get(i)))
                    .as("operator totals (memories, edges) in savepoint %d (parallelism %d)", i + 1,
                            phases.get(i).parallelism())
                    .containsExactly(memories, edges);
        }
        timings.put("reading 3 savepoints (State Processor API)", ms(tr) + " ms");
        timings.put("total", ms(t0) + " ms");
        timings.forEach((k, v) -> LOG.info("rescale timing {}: {}", k, v));
    }
}
