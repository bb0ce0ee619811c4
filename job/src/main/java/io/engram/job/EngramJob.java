package io.engram.job;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.job.config.PublishedConfig;
import io.engram.job.kafka.ControlWatermarks;
import io.engram.job.kafka.KafkaSettings;
import io.engram.job.kafka.OutputLimits;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import io.engram.job.operator.MemorySpaceFunction;
import io.engram.job.operator.MemorySpacesOperator;
import io.engram.job.operator.Operators;
import io.engram.kernels.KernelMode;
import java.time.Duration;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamSink;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The engram-flink streaming job: memory events and recall queries from Kafka, keyed by space into one memory
 * operator, results and dead letters back to Kafka (exactly once by default, engram.kafka.delivery-guarantee). Every
 * operator has a stable uid, so savepoints restore across kernel modes, jars and releases.
 *
 * <p>Run on a cluster with {@code flink run -Dengram.kafka.bootstrap-servers=... engram-job.jar}; any engram.*
 * option may also be given as a program argument {@code --engram.x.y value}. Everything that would make the job
 * unrunnable fails here, at submission: an unknown {@code engram.*} key, an invalid value, mode zig with a jar that
 * has no native library, an arena that the cluster's managed memory cannot hold.
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
        requireNativeLibraryFor(settings);
        MemorySpacesOperator memorySpaces = MemorySpacesOperator.create(settings, conf);
        env.getConfig().setGlobalJobParameters(PublishedConfig.of(conf));
        if (!conf.contains(CheckpointingOptions.CHECKPOINTING_INTERVAL)
                && !env.getConfiguration().getOptional(CheckpointingOptions.CHECKPOINTING_INTERVAL).isPresent()) {
            // The exactly-once sinks only commit on checkpoints (at-least-once ones flush there): never without them.
            env.enableCheckpointing(Duration.ofSeconds(10).toMillis());
        }
        if (!configured(env, conf, ExecutionOptions.BUFFER_TIMEOUT)
                && !configured(env, conf, ExecutionOptions.BUFFER_TIMEOUT_ENABLED)) {
            // A recall crosses one network exchange (the keyBy) on its way in: Flink flushes a partly filled buffer
            // after 100 ms by default, which alone would be most of a recall's latency at a moderate query rate.
            env.setBufferTimeout(DEFAULT_BUFFER_TIMEOUT.toMillis());
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
        DataStream<RawRecord> control = env
                .fromSource(kafka.source(conf.get(EngramOptions.TOPIC_CONTROL), RawRecord.Kind.CONTROL),
                        ControlWatermarks.strategy(), "kernel-control")
                .uid(Operators.SOURCE_CONTROL)
                .setParallelism(1);

        // connect(broadcast).process(function) without BroadcastConnectedStream: the same keyed broadcast operator,
        // state and uid, but our subclass, which reserves the native arena out of the slot's managed memory.
        SingleOutputStreamOperator<OutRecord> results = events.union(queries)
                .keyBy(RawRecord::getSpace)
                .connect(control.broadcast())
                .transform("memory-spaces", TypeInformation.of(OutRecord.class), memorySpaces)
                .uid(Operators.MEMORY_SPACES);
        memorySpaces.declareManagedMemory(results.getTransformation());

        DataStreamSink<OutRecord> resultsSink = results.sinkTo(kafka.sink(resultsTopic, "results", limits))
                .uid(Operators.SINK_RECALL_RESULTS).name("recall-results");
        DataStreamSink<OutRecord> deadLetterSink = results.getSideOutput(MemorySpaceFunction.DEAD_LETTERS)
                .sinkTo(kafka.sink(deadLetterTopic, "dead-letters", limits))
                .uid(Operators.SINK_DEAD_LETTERS).name("dead-letters");
        if (!conf.get(EngramOptions.SINK_CHAINING)) {
            // Their own threads: a sink waiting for the broker at a checkpoint no longer holds up the recalls.
            resultsSink.disableChaining();
            deadLetterSink.disableChaining();
        }
    }

    /** The network buffer timeout the job runs with unless execution.buffer-timeout.* is configured. */
    static final Duration DEFAULT_BUFFER_TIMEOUT = Duration.ofMillis(5);

    private static boolean configured(StreamExecutionEnvironment env, Configuration conf, ConfigOption<?> option) {
        return conf.contains(option) || env.getConfiguration().getOptional(option).isPresent();
    }

    /**
     * Mode zig needs the native library: a job jar without one (the Java-only build) would fail in every subtask, so
     * it fails the submission instead. An explicit library path (engram.kernels.library-path) is the TaskManagers'
     * business and is not checked here.
     */
    static void requireNativeLibraryFor(EngramSettings settings) {
        if (settings.kernelMode == KernelMode.ZIG && settings.libraryPath == null
                && EngramJob.class.getClassLoader().getResource("lib/engram-native.properties") == null) {
            throw new IllegalArgumentException("invalid configuration: " + EngramOptions.KERNEL_MODE.key()
                    + "=zig, but this job jar has no native library (a Java-only build): submit the full job jar, "
                    + "or set " + EngramOptions.KERNEL_MODE.key() + "=java");
        }
    }
}
