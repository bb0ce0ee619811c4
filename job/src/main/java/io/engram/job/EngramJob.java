package io.engram.job;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.kafka.ControlWatermarks;
import io.engram.job.kafka.KafkaSettings;
import io.engram.job.kafka.OutputLimits;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.operator.MemorySpaceFunction;
import io.engram.job.operator.Operators;
import java.time.Duration;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.streaming.api.datastream.BroadcastStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The engram-flink streaming job: memory events and recall queries from Kafka, keyed by space into one memory
 * operator, results and dead letters back to Kafka exactly once. Every operator has a stable uid, so savepoints
 * restore across kernel modes, jars and releases.
 *
 * <p>Run on a cluster with {@code flink run -Dengram.kafka.bootstrap-servers=... engram-job.jar}; any engram.*
 * option may also be given as a program argument {@code --engram.x.y value}.
 */
public final class EngramJob {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(EngramJob.class);

    private EngramJob() {
    }

    public static void main(String[] args) throws Exception {
        Configuration overrides = JobArgs.parse(args);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(overrides);
        Configuration conf = Configuration.fromMap(env.getConfiguration().toMap());
        conf.addAll(overrides);
        for (String key : KafkaSettings.unmaskedSecrets(conf.toMap())) {
            LOG.warn("engram: {} holds a secret in clear that Flink does not mask: if it is in the cluster's "
                    + "configuration (config.yaml, an application-mode deployment) the REST API and web UI show it. Pass "
                    + "it from a file or the environment instead: {}=${file:/path/secrets.properties:key} or "
                    + "${env:NAME} (docs/operations/reliability.md#secret-handling)", key, key);
        }
        build(env, conf);
        // pipeline.name lets a canary and production run side by side under different job names (and metric labels).
        env.execute(conf.getOptional(PipelineOptions.NAME).orElse("engram-flink"));
    }

    /** Adds the job's graph to {@code env}; {@code conf} holds the engram.* options. */
    public static void build(StreamExecutionEnvironment env, Configuration conf) {
        EngramSettings settings = new EngramSettings(conf);
        if (!conf.contains(CheckpointingOptions.CHECKPOINTING_INTERVAL)
                && !env.getConfiguration().getOptional(CheckpointingOptions.CHECKPOINTING_INTERVAL).isPresent()) {
            // The exactly-once sinks only commit on checkpoints: a job without them would never publish.
            env.enableCheckpointing(Duration.ofSeconds(10).toMillis());
        }
        KafkaSettings kafka = new KafkaSettings(conf);
        String resultsTopic = conf.get(EngramOptions.TOPIC_RECALL_RESULTS);
        String deadLetterTopic = conf.get(EngramOptions.TOPIC_DEAD_LETTERS);
        // Refuse at submission an output bound the sinks or topics cannot hold, instead of crash-looping later.
        OutputLimits limits = OutputLimits.check(kafka, settings, resultsTopic, deadLetterTopic);
        WatermarkStrategy<RawRecord> watermarks = WatermarkStrategy
                .<RawRecord>forBoundedOutOfOrderness(conf.get(EngramOptions.MAX_OUT_OF_ORDERNESS))
                .withTimestampAssigner((r, kafkaTs) -> r.timestampMs)
                .withIdleness(conf.get(EngramOptions.IDLENESS));

        DataStream<RawRecord> events = env
                .fromSource(kafka.source(conf.get(EngramOptions.TOPIC_MEMORY_EVENTS), RawRecord.Kind.MEMORY_EVENT),
                        watermarks, "memory-events")
                .uid(Operators.SOURCE_MEMORY_EVENTS);
        DataStream<RawRecord> queries = env
                .fromSource(kafka.source(conf.get(EngramOptions.TOPIC_RECALL_QUERIES), RawRecord.Kind.RECALL_QUERY),
                        watermarks, "recall-queries")
                .uid(Operators.SOURCE_RECALL_QUERIES);
        BroadcastStream<RawRecord> control = env
                .fromSource(kafka.source(conf.get(EngramOptions.TOPIC_CONTROL), RawRecord.Kind.CONTROL),
                        ControlWatermarks.strategy(), "kernel-control")
                .uid(Operators.SOURCE_CONTROL)
                .setParallelism(1)
                .broadcast(io.engram.job.operator.Operators.CONTROL_STATE);

        SingleOutputStreamOperator<OutRecord> results = events.union(queries)
                .keyBy(RawRecord::getSpace)
                .connect(control)
                .process(new MemorySpaceFunction(settings))
                .uid(Operators.MEMORY_SPACES)
                .name("memory-spaces");

        results.sinkTo(kafka.sink(resultsTopic, "results", limits))
                .uid(Operators.SINK_RECALL_RESULTS).name("recall-results");
        results.getSideOutput(MemorySpaceFunction.DEAD_LETTERS)
                .sinkTo(kafka.sink(deadLetterTopic, "dead-letters", limits))
                .uid(Operators.SINK_DEAD_LETTERS).name("dead-letters");
    }
}
