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
        Map<String, String> conf = new EndToEndBenchmark(s).jobConf("java", "p");
        assertThat(conf).containsEntry("engram.kernels.mode", "java")
                .containsEntry("engram.recall.seed-k", "8")
                .containsEntry("execution.checkpointing.interval", "5s")
                .containsEntry("state.backend.type", "hashmap")
                .containsEntry("engram.topics.recall-results", "p.recall-results");
        assertThat(s.shapes).containsExactly(new EndToEndBenchmark.Shape(1000, 64, 2));
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--conf", "engram.kernels.mode=zig"}))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--modes");
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--modes", "zig,rust"}))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> EndToEndBenchmark.parse(new String[] {"--shapes", "10x768"}))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
