package io.engram.job.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.schemas.AvroCodec;
import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallResult;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;

/** The benchmark driver's pure parts; the whole driver runs in {@code deploy/scripts/benchmark_e2e.sh --smoke}. */
class EndToEndBenchmarkTest {

    @Test
    void theJobRunsWithTheTaskManagersJvmFlags() throws Exception {
        java.nio.file.Path yaml = java.nio.file.Path.of("../../deploy/flink/config.yaml");
        List<String> lines = java.nio.file.Files.readAllLines(yaml).stream()
                .filter(l -> l.matches("^ {6}taskmanager: .*")).toList();
        assertThat(lines).as("env.java.opts.taskmanager in %s", yaml).hasSize(1);
        assertThat(List.of(lines.get(0).trim().substring("taskmanager: ".length()).split(" ")))
                .containsExactlyElementsOf(EndToEndBenchmark.TASKMANAGER_JAVA_OPTS);
    }

    @Test
    void theQueryProducersLingerIsAnOptionThatDefaultsToSendingAtOnce() {
        assertThat(EndToEndBenchmark.parse(new String[0]).queryLingerMs).isZero();
        assertThat(EndToEndBenchmark.parse(new String[] {"--query-linger-ms", "5"}).queryLingerMs).isEqualTo(5);
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--query-linger-ms", "-1"}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--query-linger-ms");
    }

    @Test
    void theJobRunsOnTheCpusGivenAndTheResultsSayWhereItRan() throws Exception {
        java.nio.file.Path log = java.nio.file.Path.of("job.log");
        List<String> all = EndToEndBenchmark.JobProcess.command(EndToEndBenchmark.parse(new String[0]), "b", Map.of(),
                log, "n");
        assertThat(all.get(0)).endsWith("/bin/java");
        assertThat(all).doesNotContain("taskset");
        List<String> pinned = EndToEndBenchmark.JobProcess.command(EndToEndBenchmark.parse(
                new String[] {"--job-cpus", "0"}), "b", Map.of(), log, "n");
        assertThat(pinned.subList(0, 3)).containsExactly("taskset", "-c", "0");
        assertThat(pinned.subList(3, pinned.size())).isEqualTo(all);
        for (String bad : List.of("", "one", "1,", "-1", "0;rm", "1 2")) {
            assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--job-cpus", bad}))
                    .as(bad).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--job-cpus");
        }
        assertThat(EndToEndBenchmark.parse(new String[] {"--job-cpus", "0-1,3"}).jobCpus).isEqualTo("0-1,3");

        // what the results record is what the kernel says: a process started as the job is, under taskset -c 0
        Process p = new ProcessBuilder("taskset", "-c", "0", "sleep", "30").start();
        try {
            String allowed = "unknown";
            for (int i = 0; i < 50 && !allowed.equals("0"); i++) { // taskset execs sleep once it has set the mask
                Thread.sleep(20);
                allowed = EndToEndBenchmark.cpusAllowed(p.pid());
            }
            assertThat(allowed).isEqualTo("0");
        } finally {
            p.destroyForcibly();
        }
        assertThat(EndToEndBenchmark.cpusAllowed(ProcessHandle.current().pid())).matches("[0-9,-]+");
        assertThat(EndToEndBenchmark.cpusAllowed(Long.MAX_VALUE)).isEqualTo("unknown");
    }

    @Test
    void recallBatchingIsReadFromTheOperatorsCounters() {
        String op = "flink_taskmanager_job_task_operator_engram_";
        String labels = "{job_name=\"engram\",operator_name=\"memory_spaces\",subtask_index=\"1\",";
        assertThat(EndToEndBenchmark.metricKey(op + "state_cacheHits" + labels.replace(",", "}") + " 7.0"))
                .isEqualTo("cacheHits");
        assertThat(EndToEndBenchmark.metricKey(op + "mode_recalls" + labels + "mode=\"zig\",} 12.0"))
                .isEqualTo("recalls");
        assertThat(EndToEndBenchmark.metricKey(op + "flush_recallBatches" + labels + "flush=\"delay\",} 3.0"))
                .isEqualTo("recallBatches.delay");
        assertThat(EndToEndBenchmark.metricKey(op + "flush_recallBatches 3.0")).as("no flush label").isNull();
        assertThat(EndToEndBenchmark.metricKey(op + "recallBatchSize" + labels + "quantile=\"0.5\",} 8.0")).isNull();
        assertThat(EndToEndBenchmark.metricKey("flink_taskmanager_job_task_operator_numRecordsIn 5.0")).isNull();
        assertThat(EndToEndBenchmark.metricKey("flink_jobmanager_numRunningJobs 1.0")).isNull();

        Map<String, Double> before = Map.of("recalls", 100.0, "recallBatches.size", 10.0, "recallBatches.delay", 5.0,
                "cacheHits", 7.0);
        Map<String, Double> after = Map.of("recalls", 1100.0, "recallBatches.size", 110.0, "recallBatches.delay",
                305.0, "recallBatches.change", 1.0, "cacheHits", 9.0);
        Map<String, Object> b = EndToEndBenchmark.batching(before, after);
        assertThat(b).containsEntry("recalls", 1000L).containsEntry("batches", 401L)
                .containsEntry("batches_by_flush", Map.of("size", 100L, "delay", 300L, "change", 1L));
        assertThat((Double) b.get("queries_per_batch")).isCloseTo(1000.0 / 401, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(EndToEndBenchmark.batching(Map.of(), after)).as("no reading at the start").isEmpty();
        assertThat(EndToEndBenchmark.batching(Map.of("recalls", 5.0), Map.of("recalls", 5.0)))
                .containsEntry("batches", 0L).containsEntry("queries_per_batch", null);
    }

    @Test
    void readsTheQueryIdWithoutDecodingTheHits() throws Exception {
        for (String id : List.of("c1", "o123456", "probe-b768-10000-3-17", "ü-ñ-" + "x".repeat(300))) {
            RecallResult r = RecallResult.newBuilder().setQueryId(id).setSpace("space-a").setTimestampMs(1L)
                    .setHits(List.of(new RecallHit("m1", 0.9f, 0.9f, 0f, 1f, 0, null))).setKernelMode("zig")
                    .setLatencyUs(12L).build();
            byte[] bytes = AvroCodec.encode(r);
            assertThat(EndToEndBenchmark.queryIdOf(bytes)).isEqualTo(id)
                    .isEqualTo(AvroCodec.decodeRecallResult(bytes).getQueryId());
        }
    }

    @Test
    void spacesAreSpreadEvenlyOverPartitionsAndSubtasks() {
        EndToEndBenchmark.Shape shape = new EndToEndBenchmark.Shape(10_000, 768, 4);
        List<String> spaces = EndToEndBenchmark.balancedSpaces(shape, 2, -1, 2);
        assertThat(spaces).hasSize(4).doesNotHaveDuplicates().allMatch(s -> s.matches("[a-z0-9_-]{3,64}"));
        int[] partitions = new int[2];
        int[] subtasks = new int[2];
        for (String s : spaces) {
            partitions[Utils.toPositive(Utils.murmur2(EndToEndBenchmark.key(s))) % 2]++;
            subtasks[KeyGroupRangeAssignment.assignKeyToParallelOperator(s, 128, 2)]++;
        }
        assertThat(partitions).containsExactly(2, 2);
        assertThat(subtasks).containsExactly(2, 2);
    }

    @Test
    void percentilesAreNearestRank() {
        List<Double> v = new ArrayList<>();
        for (int i = 100; i >= 1; i--) {
            v.add((double) i);
        }
        Map<String, Object> p = EndToEndBenchmark.percentiles(v);
        assertThat(p).containsEntry("count", 100).containsEntry("p50", 50.0).containsEntry("p95", 95.0)
                .containsEntry("p99", 99.0).containsEntry("max", 100.0);
        assertThat(EndToEndBenchmark.percentiles(List.of())).containsOnlyKeys("count");
    }

    @Test
    void verificationNeedsExactlyOneCommittedResultPerQuery() {
        ConcurrentHashMap<String, EndToEndBenchmark.Sent> sent = new ConcurrentHashMap<>();
        EndToEndBenchmark.Sent a = new EndToEndBenchmark.Sent(EndToEndBenchmark.Phase.OPEN_LOOP, 0, null);
        a.committed.set(1);
        a.uncommitted.set(1);
        a.mode = "zig";
        sent.put("a", a);
        assertThat(EndToEndBenchmark.verify(sent, 0, "zig", 0)).containsEntry("ok", true)
                .containsEntry("committed_exactly_once", 1L);
        a.committed.set(2);
        assertThat(EndToEndBenchmark.verify(sent, 0, "zig", 0)).containsEntry("ok", false)
                .containsEntry("committed_duplicates", 1L);
        a.committed.set(1);
        assertThat(EndToEndBenchmark.verify(sent, 0, "java", 0)).containsEntry("ok", false)
                .containsEntry("wrong_kernel_mode", 1L);
        assertThat(EndToEndBenchmark.verify(sent, 1, "zig", 0)).containsEntry("ok", false);
        assertThat(EndToEndBenchmark.verify(sent, 0, "zig", 3)).containsEntry("ok", false);
        a.committed.set(0);
        assertThat(EndToEndBenchmark.verify(sent, 0, "zig", 0)).containsEntry("ok", false)
                .containsEntry("committed_missing", 1L);
    }

    @Test
    void confPassesThroughButTheBenchmarkOwnsModeAndTopics() {
        EndToEndBenchmark.Settings s = EndToEndBenchmark.parse(new String[] {"--preset", "smoke", "--conf",
            "execution.checkpointing.interval=5s", "--conf", "engram.recall.seed-k=8"});
        EndToEndBenchmark.Shape shape = new EndToEndBenchmark.Shape(1000, 64, 2);
        Map<String, String> conf = new EndToEndBenchmark(s).jobConf(
                new EndToEndBenchmark.Variant(shape, "java", "hashmap", null, "arrival", false), "p");
        assertThat(conf).containsEntry("engram.kernels.mode", "java")
                .containsEntry("engram.recall.seed-k", "8")
                .containsEntry("execution.checkpointing.interval", "5s")
                .containsEntry("state.backend.type", "hashmap")
                .containsEntry("engram.recall.consistency", "arrival")
                .containsEntry("engram.topics.recall-results", "p.recall-results")
                .doesNotContainKeys("execution.checkpointing.incremental", "engram.state.chunk-size");
        Map<String, String> rocks = new EndToEndBenchmark(s).jobConf(
                new EndToEndBenchmark.Variant(shape, "zig", "rocksdb", 16, "event-time", true), "p");
        assertThat(rocks).containsEntry("state.backend.type", "rocksdb")
                .containsEntry("execution.checkpointing.incremental", "true")
                .containsEntry("engram.state.chunk-size", "16")
                .containsEntry("engram.recall.consistency", "event-time")
                .containsEntry("engram.limits.max-waiting-per-space", "11000");
        assertThat(conf).as("the main runs keep the job's waiting limit")
                .doesNotContainKey("engram.limits.max-waiting-per-space");
        // read-your-writes is what the queries ask for; the job runs in arrival
        assertThat(new EndToEndBenchmark(s).jobConf(
                new EndToEndBenchmark.Variant(shape, "zig", "hashmap", null, "read-your-writes", true), "p"))
                .containsEntry("engram.recall.consistency", "arrival");
        assertThat(s.shapes).containsExactly(shape);
        for (String owned : List.of("engram.kernels.mode=zig", "state.backend.type=rocksdb",
                "engram.recall.consistency=event-time", "engram.topics.memory-events=x")) {
            assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--conf", owned}))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("is set by");
        }
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--backends", "hashmap,leveldb"}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--backends");
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--consistency", "strong"}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--consistency");
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--chunk-sizes", "0"}))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--chunk-sizes", "16",
            "--conf", "engram.state.chunk-size=32"})).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--modes", "zig,rust"}))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--shapes", "10x768"}))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void runsCrossShapesChunksModesAndBackendsThenTheConsistencyVariants() {
        EndToEndBenchmark.Settings s = EndToEndBenchmark.parse(new String[] {"--preset", "quick", "--shapes",
            "100x8x2", "--modes", "zig,java", "--backends", "hashmap,rocksdb", "--chunk-sizes", "16,64",
            "--consistency", "arrival,event-time,read-your-writes"});
        List<EndToEndBenchmark.Variant> runs = s.variants();
        assertThat(runs).hasSize(2 * 2 * 2 + 3);
        assertThat(runs.subList(0, 4)).extracting(v -> v.mode() + "/" + v.backend() + "/" + v.chunkSize())
                .containsExactly("zig/hashmap/16", "zig/rocksdb/16", "java/hashmap/16", "java/rocksdb/16");
        List<EndToEndBenchmark.Variant> consistency = runs.subList(8, 11);
        assertThat(consistency).allMatch(EndToEndBenchmark.Variant::writes)
                .extracting(EndToEndBenchmark.Variant::consistency)
                .containsExactly("arrival", "event-time", "read-your-writes");
        // each consistency variant takes its rate from the main run of the same job settings
        assertThat(consistency.get(1).main()).isEqualTo(runs.get(0));
        assertThat(runs.stream().map(EndToEndBenchmark.Variant::id).distinct()).hasSize(runs.size());
    }

    @Test
    void theSmokeRunsRocksdbOnceAndTheFullRunEverything() {
        List<EndToEndBenchmark.Variant> smoke = EndToEndBenchmark.parse(new String[] {"--preset", "smoke"}).variants();
        assertThat(smoke).extracting(v -> v.mode() + "/" + v.backend())
                .containsExactly("zig/hashmap", "zig/rocksdb", "java/hashmap");
        List<EndToEndBenchmark.Variant> full = EndToEndBenchmark.parse(new String[] {}).variants();
        assertThat(full).hasSize(2 * 2 * 2 + 3);
        assertThat(full).filteredOn(EndToEndBenchmark.Variant::writes).allMatch(v -> v.mode().equals("zig")
                && v.backend().equals("hashmap") && v.shape().equals(new EndToEndBenchmark.Shape(10_000, 768, 4)));
        assertThat(EndToEndBenchmark.parse(new String[] {"--preset", "smoke", "--backends", "rocksdb"}).variants())
                .extracting(EndToEndBenchmark.Variant::backend).containsExactly("rocksdb", "rocksdb");
    }

    @Test
    void ratiosAreZigOverJavaPerShapeAndBackend() {
        List<Map<String, Object>> runs = new ArrayList<>();
        runs.add(run("zig", "hashmap", 400.0, false));
        runs.add(run("java", "hashmap", 100.0, false));
        runs.add(run("zig", "rocksdb", 300.0, false));
        runs.add(run("java", "rocksdb", 150.0, false));
        runs.add(run("zig", "hashmap", 999.0, true)); // a consistency variant: not a main run
        List<Map<String, Object>> r = EndToEndBenchmark.ratios(runs);
        assertThat(r).hasSize(2);
        assertThat(r.get(0)).containsEntry("backend", "hashmap").containsEntry("zig_over_java", 4.0);
        assertThat(r.get(1)).containsEntry("backend", "rocksdb").containsEntry("zig_over_java", 2.0);
    }

    private static Map<String, Object> run(String mode, String backend, double qps, boolean writes) {
        Map<String, Object> r = new java.util.LinkedHashMap<>();
        r.put("shape", Map.of("memories", 10_000, "dim", 768));
        r.put("mode", mode);
        r.put("backend", backend);
        r.put("chunk_size", 64);
        r.put("background_writes", writes);
        r.put("saturation", Map.of("qps", qps));
        return r;
    }
}
