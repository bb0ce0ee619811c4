package io.engram.job;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.job.local.EmbeddedKafkaExtension;
import io.engram.job.operator.MemorySpacesOperator;
import io.engram.job.operator.Operators;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.memory.ManagedMemoryUseCase;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobgraph.JobVertex;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.flink.streaming.api.graph.StreamNode;
import org.apache.flink.streaming.runtime.partitioner.BroadcastPartitioner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The job graph as {@code flink run} submits it: the memory operator (our keyed broadcast operator, same uid)
 * declares managed memory for its arenas only when native kernels can run, the job publishes its configuration for
 * the operator scripts, and what would make the job unrunnable fails here, at submission.
 */
class EngramJobTest {
    /** A real broker: building the job describes its output topics (OutputLimits), which needs one to answer. */
    @RegisterExtension
    static final EmbeddedKafkaExtension KAFKA = new EmbeddedKafkaExtension();

    static StreamGraph build(Map<String, String> conf) {
        Configuration c = Configuration.fromMap(conf);
        c.setString("engram.kafka.bootstrap-servers", KAFKA.broker().bootstrapServers());
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
        EngramJob.build(env, c);
        return env.getStreamGraph();
    }

    static StreamNode memorySpaces(StreamGraph g) {
        return g.getStreamNodes().stream().filter(n -> Operators.MEMORY_SPACES.equals(n.getTransformationUID()))
                .findFirst().orElseThrow();
    }

    @Test
    void theMemoryOperatorTakesManagedMemoryOnlyWhenNativeKernelsCanRun() {
        StreamNode zig = memorySpaces(build(Map.of("engram.kernels.mode", "zig")));
        assertThat(zig.getOperatorName()).isEqualTo("memory-spaces");
        assertThat(zig.getOperatorFactory().getStreamOperatorClass(getClass().getClassLoader()))
                .isEqualTo(MemorySpacesOperator.class);
        assertThat(zig.getManagedMemoryOperatorScopeUseCaseWeights()).containsKey(ManagedMemoryUseCase.OPERATOR);
        assertThat(zig.getInEdges()).anyMatch(e -> e.getPartitioner() instanceof BroadcastPartitioner);
        assertThat(zig.getStatePartitioners()[0]).as("keyed by space").isNotNull();

        StreamNode java = memorySpaces(build(Map.of("engram.kernels.mode", "java")));
        assertThat(java.getManagedMemoryOperatorScopeUseCaseWeights()).isEmpty();
        StreamNode unchecked = memorySpaces(build(Map.of("engram.kernels.mode", "zig",
                "engram.kernels.arena.budget-check", "false")));
        assertThat(unchecked.getManagedMemoryOperatorScopeUseCaseWeights()).isEmpty();
    }

    /** The names of the job graph's vertex that runs the memory operator: the operators chained to it. */
    static String chainOfMemorySpaces(Map<String, String> conf) {
        JobGraph g = build(conf).getJobGraph();
        return java.util.stream.StreamSupport.stream(g.getVertices().spliterator(), false).map(JobVertex::getName)
                .filter(n -> n.contains("memory-spaces")).findFirst().orElseThrow();
    }

    @Test
    void theSinksRunInTheMemoryOperatorsThreadUnlessUnchained() {
        assertThat(chainOfMemorySpaces(Map.of("engram.kernels.mode", "java")))
                .contains("recall-results").contains("dead-letters");
        String unchained = chainOfMemorySpaces(Map.of("engram.kernels.mode", "java",
                "engram.kafka.sink-chaining", "false"));
        assertThat(unchained).contains("memory-spaces").doesNotContain("recall-results").doesNotContain("dead-letters");
    }

    /** What each operator's output waits at most before a partly filled network buffer is sent. */
    static java.util.Set<Long> bufferTimeouts(Map<String, String> conf) {
        return build(conf).getStreamNodes().stream().map(StreamNode::getBufferTimeout)
                .collect(java.util.stream.Collectors.toSet());
    }

    @Test
    void networkBuffersAreFlushedAfter5MsUnlessTheUserConfiguresIt() {
        assertThat(bufferTimeouts(Map.of("engram.kernels.mode", "java")))
                .as("Flink's default is 100 ms: a recall would wait for it at the keyBy").containsExactly(5L);
        assertThat(bufferTimeouts(Map.of("engram.kernels.mode", "java", "execution.buffer-timeout.interval", "20ms")))
                .containsExactly(20L);
        assertThat(bufferTimeouts(Map.of("engram.kernels.mode", "java", "execution.buffer-timeout.enabled", "false")))
                .as("flush only when full, as configured").containsExactly(-1L);
    }

    @Test
    void checkpointsRunEvery10SecondsUnlessTheUserConfiguresIt() {
        assertThat(build(Map.of("engram.kernels.mode", "java")).getCheckpointConfig().getCheckpointInterval())
                .as("the exactly-once sinks commit only at checkpoints").isEqualTo(10_000L);
        assertThat(build(Map.of("engram.kernels.mode", "java", "execution.checkpointing.interval", "3s"))
                .getCheckpointConfig().getCheckpointInterval()).isEqualTo(3_000L);
    }

    @Test
    void theJobPublishesItsConfigurationWithSecretsHidden() {
        StreamGraph g = build(Map.of("engram.kernels.mode", "java", "engram.recall.seed-k", "12",
                "state.backend.type", "rocksdb",
                "engram.kafka.properties.sasl.jaas.config", "PlainLoginModule required password=\"hunter2\";"));
        Map<String, String> published = g.getExecutionConfig().getGlobalJobParameters().toMap();
        assertThat(published).containsEntry("engram.recall.seed-k", "12").containsEntry("state.backend.type", "rocksdb")
                .containsEntry("engram.kafka.properties.sasl.jaas.config", "<hidden>");
    }

    @Test
    void whatCannotRunFailsTheSubmission() {
        assertThatThrownBy(() -> build(Map.of("engram.kernels.mod", "java")))
                .hasMessageContaining("unknown option engram.kernels.mod (did you mean engram.kernels.mode?)");
        assertThatThrownBy(() -> build(Map.of("engram.kernels.mode", "zig", "engram.kernels.arena.size", "600m",
                "taskmanager.memory.process.size", "1728m", "taskmanager.numberOfTaskSlots", "1")))
                .hasMessageContaining("does not fit the memory operator's share of managed memory");
    }
}
