package io.engram.job.e2e;

import static io.engram.job.e2e.E2eSupport.WAIT;
import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.config.EngramOptions;
import io.engram.job.e2e.E2eSupport.TopicReader;
import io.engram.job.e2e.E2eSupport.Topics;
import io.engram.job.local.EmbeddedKafkaBroker;
import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.schemas.Associate;
import io.engram.schemas.AvroCodec;
import io.engram.schemas.EventPosition;
import io.engram.schemas.Forget;
import io.engram.schemas.MemoryEvent;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallQuery;
import io.engram.schemas.RecallResult;
import io.engram.schemas.ReinforceMemory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The consistency guarantees against the real job and a real broker (docs/internal/recall_contract.md,
 * "Consistency"). Event time: the same memory events and queries, produced in different interleavings across the two
 * topics, at parallelism 1 and 2 and across a TaskManager failover, get identical answers, and those are the reference
 * model's answers "as of" each query's timestamp. Read-your-writes: a store followed at once by a query that names its
 * position is always seen, under a concurrent load.
 */
@Timeout(900)
class ConsistencyEndToEndIT {
    private static final Logger LOG = LoggerFactory.getLogger(ConsistencyEndToEndIT.class);
    static final int DIM = 8;
    static final String[] SPACES = {"ord-alpha", "ord-beta", "ord-gamma"};

    @RegisterExtension
    static final MiniClusterExtension FLINK = E2eSupport.miniCluster();

    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    /** One record of the workload: where it goes, what it is, its event time. */
    record Rec(boolean event, String space, String id, long ts, byte[] value) {
    }

    private static float[] vec(Random r) {
        float[] v = new float[DIM];
        for (int j = 0; j < DIM; j++) {
            v[j] = (float) r.nextGaussian();
        }
        return v;
    }

    /** Events and queries over three spaces, stamped out of order within 3 s (the job allows 5 s). */
    static List<Rec> workload(long t0, int seed) {
        Random r = new Random(seed);
        List<Rec> out = new ArrayList<>();
        Map<String, List<String>> live = new HashMap<>();
        for (String s : SPACES) {
            live.put(s, new ArrayList<>());
        }
        for (int i = 0; i < 240; i++) {
            String s = SPACES[r.nextInt(SPACES.length)];
            long ts = t0 + i * 40L - r.nextInt(3_000);
            List<String> ids = live.get(s);
            if (r.nextInt(5) == 0) {
                RecallQuery q = RecallQuery.newBuilder().setQueryId("q" + i).setSpace(s).setTimestampMs(ts)
                        .setCue(Workload.toList(vec(r))).setK(5).setMaxHops(2).build();
                out.add(new Rec(false, s, "q" + i, ts, AvroCodec.encode(q)));
                continue;
            }
            Object payload;
            int kind = r.nextInt(10);
            if (kind < 6 || ids.size() < 3) {
                String id = s + "-m" + i;
                payload = E2eSupport.store(id, vec(r), 600f + r.nextInt(3_000));
                ids.add(id);
            } else if (kind < 8) {
                payload = Associate.newBuilder().setFromId(ids.get(r.nextInt(ids.size())))
                        .setToId(ids.get(r.nextInt(ids.size()))).setWeight(0.1f + r.nextInt(9) / 10f)
                        .setBidirectional(r.nextBoolean()).build();
            } else if (kind < 9) {
                payload = ReinforceMemory.newBuilder().setMemoryId(ids.get(r.nextInt(ids.size()))).build();
            } else {
                payload = Forget.newBuilder().setMemoryId(ids.remove(r.nextInt(ids.size()))).build();
            }
            MemoryEvent e = MemoryEvent.newBuilder().setSpace(s).setEventId("e" + i).setTimestampMs(ts)
                    .setPayload(payload).build();
            out.add(new Rec(true, s, "e" + i, ts, AvroCodec.encode(e)));
        }
        return out;
    }

    /** The reference: per space, events in timestamp order (stable), each query after the events at or before it. */
    static Map<String, ReferenceModel.Answer> expected(List<Rec> recs) {
        List<Rec> byTime = new ArrayList<>(recs);
        byTime.sort(Comparator.comparingLong(Rec::ts).thenComparing(rec -> rec.event() ? 0 : 1));
        ReferenceModel model = new ReferenceModel(E2eSupport.modelSettings());
        Map<String, ReferenceModel.Answer> out = new TreeMap<>();
        for (Rec rec : byTime) {
            if (rec.event()) {
                model.apply(rec.space(), AvroCodec.decodeMemoryEvent(rec.value()), rec.ts());
            } else {
                out.put(rec.id(), model.recall(rec.space(), AvroCodec.decodeRecallQuery(rec.value()), rec.ts()));
            }
        }
        return out;
    }

    private Configuration conf(EmbeddedKafkaBroker kafka, Topics topics, String name) {
        Configuration c = E2eSupport.jobConfig(kafka, topics, "java", "hashmap", name);
        c.set(EngramOptions.RECALL_CONSISTENCY, "event-time");
        // no partition may be declared idle while the test produces (a lagging topic would make records late)
        c.set(EngramOptions.IDLENESS, Duration.ofMinutes(10));
        c.set(EngramOptions.WAIT_TIMEOUT, Duration.ofMinutes(10));
        c.set(EngramOptions.MAX_OUT_OF_ORDERNESS, Duration.ofSeconds(5));
        return c;
    }

    /** Runs the workload in one interleaving; returns each query's answer (read_committed, exactly once). */
    private Map<String, RecallResult> run(String name, List<Rec> order, int parallelism, MiniCluster failover)
            throws Exception {
        EmbeddedKafkaBroker kafka = KAFKA.broker();
        Topics topics = Topics.suffixed(name);
        topics.create(kafka);
        Configuration c = conf(kafka, topics, name);
        if (failover != null) {
            c.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            c.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
            c.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(500));
        }
        JobClient job = E2eSupport.start(c, "engram-consistency-" + name, parallelism);
        List<String> queryIds = order.stream().filter(x -> !x.event()).map(Rec::id).toList();
        long maxTs = order.stream().mapToLong(Rec::ts).max().orElseThrow();
        try (TopicReader results = new TopicReader(kafka, topics.results());
             KafkaProducer<byte[], byte[]> p = E2eSupport.producer(kafka)) {
            Random pause = new Random(name.hashCode());
            for (int i = 0; i < order.size(); i++) {
                Rec rec = order.get(i);
                p.send(new ProducerRecord<>(rec.event() ? topics.events() : topics.queries(),
                        rec.space().getBytes(StandardCharsets.UTF_8), rec.value()));
                if (pause.nextInt(20) == 0) {
                    p.flush();
                    Thread.sleep(pause.nextInt(30));
                }
                if (failover != null && i == order.size() / 2) {
                    p.flush();
                    Thread.sleep(1_500); // a checkpoint or two in between
                    failover.terminateTaskManager(0).get(WAIT.toSeconds(), TimeUnit.SECONDS);
                    failover.startTaskManager();
                }
            }
            // markers far ahead in every partition of both topics: the watermark passes every record
            for (int part = 0; part < E2eSupport.PARTITIONS; part++) {
                long ts = maxTs + 60_000;
                MemoryEvent m = MemoryEvent.newBuilder().setSpace("ord-marker").setEventId("marker-" + part)
                        .setTimestampMs(ts).setPayload(E2eSupport.store("marker", new float[DIM], 10f)).build();
                p.send(new ProducerRecord<>(topics.events(), part, "ord-marker".getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(m)));
                RecallQuery q = RecallQuery.newBuilder().setQueryId("marker-q" + part).setSpace("ord-marker")
                        .setTimestampMs(ts).setCue(Workload.toList(new float[DIM])).build();
                p.send(new ProducerRecord<>(topics.queries(), part, "ord-marker".getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(q)));
            }
            p.flush();
            SavepointRoundTripIT.waitForResults(results, queryIds, job);
            results.drainCommitted();
            Map<String, List<RecallResult>> byId = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : results.records) {
                RecallResult res = E2eSupport.result(r);
                byId.computeIfAbsent(res.getQueryId(), k -> new ArrayList<>()).add(res);
            }
            Map<String, RecallResult> once = new TreeMap<>();
            for (String id : queryIds) {
                assertThat(byId.get(id)).as("%s: answers to %s", name, id).hasSize(1);
                once.put(id, byId.get(id).get(0));
            }
            return once;
        } finally {
            E2eSupport.cancel(job);
        }
    }

    private static Map<String, List<String>> ids(Map<String, RecallResult> answers) {
        Map<String, List<String>> out = new TreeMap<>();
        answers.forEach((k, v) -> out.put(k, v.getHits().stream().map(RecallHit::getMemoryId).map(Object::toString)
                .toList()));
        return out;
    }

    @Test
    void eventTimeAnswersAreAFunctionOfTheInputAlone(@InjectMiniCluster MiniCluster cluster) throws Exception {
        long t0 = System.currentTimeMillis();
        List<Rec> recs = workload(t0, 7);
        Map<String, ReferenceModel.Answer> want = expected(recs);
        List<Rec> events = recs.stream().filter(Rec::event).toList();
        List<Rec> queries = recs.stream().filter(x -> !x.event()).toList();

        List<Rec> eventsFirst = new ArrayList<>(events);
        eventsFirst.addAll(queries);
        List<Rec> queriesFirst = new ArrayList<>(queries);
        queriesFirst.addAll(events);
        List<Rec> mixed = interleave(events, queries, new Random(3));
        List<Rec> mixed2 = interleave(events, queries, new Random(11));

        Map<String, Map<String, RecallResult>> runs = new TreeMap<>();
        runs.put("1-events-first-p1", run("ord-a", eventsFirst, 1, null));
        runs.put("2-queries-first-p2", run("ord-b", queriesFirst, 2, null));
        runs.put("3-mixed-p2", run("ord-c", mixed, 2, null));
        runs.put("4-mixed-p2-failover", run("ord-d", mixed2, 2, cluster));

        Map<String, List<String>> first = ids(runs.values().iterator().next());
        for (Map.Entry<String, Map<String, RecallResult>> e : runs.entrySet()) {
            assertThat(ids(e.getValue())).as("%s: the same answers as every other run", e.getKey()).isEqualTo(first);
            Map<String, List<String>> wrong = new TreeMap<>();
            for (Map.Entry<String, RecallResult> a : e.getValue().entrySet()) {
                assertThat(a.getValue().getStale()).as("%s: %s stale", e.getKey(), a.getKey()).isFalse();
                List<String> bad = Answers.mismatches(a.getValue(), want.get(a.getKey()), "java");
                if (!bad.isEmpty()) {
                    wrong.put(a.getKey(), bad);
                }
            }
            assertThat(wrong).as("%s: answers that differ from the reference as of each query's time", e.getKey())
                    .isEmpty();
        }
        long withHits = first.values().stream().filter(l -> !l.isEmpty()).count();
        LOG.info("event time: {} queries answered identically in {} runs (p1, p2, interleavings, a failover); {} with"
                + " hits", first.size(), runs.size(), withHits);
        assertThat(withHits).as("the workload's queries do find memories").isGreaterThan(first.size() / 2);
    }

    private static List<Rec> interleave(List<Rec> a, List<Rec> b, Random r) {
        List<Rec> out = new ArrayList<>();
        int i = 0;
        int j = 0;
        while (i < a.size() || j < b.size()) {
            out.add(j >= b.size() || (i < a.size() && r.nextBoolean()) ? a.get(i++) : b.get(j++));
        }
        return out;
    }

    @Test
    void aQueryNamingTheStoreItFollowsAlwaysSeesItUnderLoad() throws Exception {
        EmbeddedKafkaBroker kafka = KAFKA.broker();
        Topics topics = Topics.suffixed("ryw");
        topics.create(kafka);
        Configuration c = E2eSupport.jobConfig(kafka, topics, "java", "hashmap", "ryw");
        JobClient job = E2eSupport.start(c, "engram-read-your-writes");
        String space = "ryw-space";
        AtomicBoolean stop = new AtomicBoolean();
        CompletableFuture<Integer> load = CompletableFuture.supplyAsync(() -> {
            // background load on the same space: other stores and queries, about 2,000 pairs a second
            Random r = new Random(5);
            int n = 0;
            try (KafkaProducer<byte[], byte[]> p = E2eSupport.producer(kafka)) {
                while (!stop.get() && n < 100_000) {
                    if (n % 20 == 19) {
                        try {
                            Thread.sleep(10);
                        } catch (InterruptedException ie) {
                            Thread.currentThread().interrupt();
                            return n;
                        }
                    }
                    long now = System.currentTimeMillis();
                    MemoryEvent e = MemoryEvent.newBuilder().setSpace(space).setEventId("bg-" + n).setTimestampMs(now)
                            .setPayload(E2eSupport.store("bg-" + n, vec(r), 3_600f)).build();
                    p.send(new ProducerRecord<>(topics.events(), space.getBytes(StandardCharsets.UTF_8),
                            AvroCodec.encode(e)));
                    RecallQuery q = RecallQuery.newBuilder().setQueryId("bgq-" + n).setSpace(space)
                            .setTimestampMs(now).setCue(Workload.toList(vec(r))).build();
                    p.send(new ProducerRecord<>(topics.queries(), space.getBytes(StandardCharsets.UTF_8),
                            AvroCodec.encode(q)));
                    n++;
                }
            }
            return n;
        });
        int rounds = 40;
        List<Long> latencies = new ArrayList<>();
        try (TopicReader results = new TopicReader(kafka, topics.results());
             KafkaProducer<byte[], byte[]> p = E2eSupport.producer(kafka)) {
            Random r = new Random(9);
            List<String> ids = new ArrayList<>();
            Map<String, String> expectTop = new HashMap<>();
            for (int i = 0; i < rounds; i++) {
                long now = System.currentTimeMillis();
                float[] v = vec(r);
                String memory = "mine-" + i;
                MemoryEvent e = MemoryEvent.newBuilder().setSpace(space).setEventId("mine-" + i).setTimestampMs(now)
                        .setPayload(E2eSupport.store(memory, v, 3_600f)).build();
                RecordMetadata md = p.send(new ProducerRecord<>(topics.events(),
                        space.getBytes(StandardCharsets.UTF_8), AvroCodec.encode(e))).get(30, TimeUnit.SECONDS);
                RecallQuery.Builder q = RecallQuery.newBuilder().setQueryId("ryw-" + i).setSpace(space)
                        .setTimestampMs(now).setCue(Workload.toList(v)).setK(3).setMaxHops(0);
                if (i % 2 == 0) {
                    q.setAfterPositions(List.of(new EventPosition(md.partition(), md.offset())));
                } else {
                    q.setAfterEventIds(List.of("mine-" + i));
                }
                p.send(new ProducerRecord<>(topics.queries(), space.getBytes(StandardCharsets.UTF_8),
                        AvroCodec.encode(q.build())));
                ids.add("ryw-" + i);
                expectTop.put("ryw-" + i, memory);
            }
            p.flush();
            long t = System.nanoTime();
            Map<String, RecallResult> got = new HashMap<>();
            E2eSupport.waitUntil(() -> {
                results.pollOnce();
                for (ConsumerRecord<byte[], byte[]> rec : results.records) {
                    RecallResult res = E2eSupport.result(rec);
                    if (expectTop.containsKey(res.getQueryId())) {
                        got.putIfAbsent(res.getQueryId(), res);
                    }
                }
                return got.keySet().containsAll(ids);
            }, WAIT, () -> "the read-your-writes answers", job);
            latencies.add((System.nanoTime() - t) / 1_000_000);
            stop.set(true);
            int background = load.get(60, TimeUnit.SECONDS);
            for (String id : ids) {
                RecallResult res = got.get(id);
                assertThat(res.getStale()).as("%s stale", id).isFalse();
                assertThat(res.getHits()).as("%s hits", id).isNotEmpty();
                assertThat(res.getHits().get(0).getMemoryId().toString()).as("%s: the store it named comes first", id)
                        .isEqualTo(expectTop.get(id));
            }
            LOG.info("read-your-writes: {} of {} queries saw the store they named, under {} background store+query "
                    + "pairs; all answered {} ms after the last was produced", rounds, rounds, background,
                    latencies.get(0));
        } finally {
            stop.set(true);
            E2eSupport.cancel(job);
        }
        Collections.sort(latencies);
    }
}
