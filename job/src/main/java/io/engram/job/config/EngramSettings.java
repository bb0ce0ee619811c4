package io.engram.job.config;

import io.engram.kernels.ArenaConfig;
import io.engram.kernels.KernelMode;
import io.engram.kernels.KernelsConfig;
import io.engram.kernels.OverflowStrategy;
import io.engram.kernels.SpreadSemantics;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.Map;
import java.util.Optional;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateChangelogOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.connector.base.DeliveryGuarantee;

/**
 * The engram options resolved and checked once, at job build time, into plain values the operators carry. Invalid
 * values, and {@code engram.*} keys that are no option ({@link EngramKeys}), fail the submission with a message that
 * names the key.
 */
public final class EngramSettings implements Serializable {
    private static final long serialVersionUID = 1L;

    public final KernelMode kernelMode;
    public final Long arenaSize;
    public final OverflowStrategy arenaOverflow;
    public final String libraryPath;
    public final String cpuVariant;
    public final boolean arenaBudgetCheck;
    public final double shadowSampleRate;
    public final boolean shadowAutoFallback;
    public final float shadowTestInject;

    public final float defaultStabilitySeconds;
    public final float reinforceFactor;
    public final float maxStabilitySeconds;
    public final long dedupWindowMs;
    public final long sweepIntervalMs;
    public final float forgetThreshold;

    public final int maxHops;
    public final float hopDecay;
    public final float threshold;
    public final int seedK;
    /** Queries per batch; 1 = no batching. */
    public final int batchMaxSize;
    /** Longest wait of a batch's first query, ms of processing time; 0 = no batching. */
    public final long batchMaxDelayMs;

    public final int maxDim;
    public final int maxK;
    public final int maxQueryHops;
    public final int maxSeedK;
    public final int maxMemoriesPerSpace;
    public final int maxIdLength;
    public final int maxContentLength;
    public final long maxFutureSkewMs;
    public final long maxPastAgeMs;
    /** engram.limits.max-output-record-size in bytes. */
    public final int maxOutputRecordBytes;

    /** The smallest engram.limits.max-output-record-size: room for a dead letter's fixed fields and key prefix. */
    public static final long MIN_OUTPUT_RECORD_BYTES = 16 * 1024;

    public final int chunkSlots;
    public final long stateCacheBytes;
    public final int snapshotThreadPriority;

    /** engram.recall.consistency is event-time. */
    public final boolean eventTimeConsistency;
    public final long waitTimeoutMs;
    /** engram.recall.wait.on-timeout is dead-letter. */
    public final boolean deadLetterOnTimeout;
    public final int maxWaitingPerSpace;

    public EngramSettings(Configuration c) {
        EngramKeys.requireKnown(c.keySet());
        try {
            kernelMode = KernelMode.parse(c.get(EngramOptions.KERNEL_MODE));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid configuration: " + EngramOptions.KERNEL_MODE.key() + ": "
                    + e.getMessage(), e);
        }
        MemorySize size = c.get(EngramOptions.ARENA_SIZE);
        arenaSize = size == null ? null : size.getBytes();
        require(arenaSize == null || (arenaSize >= ArenaConfig.MIN_CAPACITY && arenaSize <= ArenaConfig.MAX_CAPACITY),
                EngramOptions.ARENA_SIZE.key(), "must be between " + ArenaConfig.MIN_CAPACITY + " bytes and 1 GiB");
        String overflow = c.get(EngramOptions.ARENA_OVERFLOW);
        try {
            arenaOverflow = overflow == null ? null : OverflowStrategy.parse(overflow);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("invalid configuration: " + EngramOptions.ARENA_OVERFLOW.key() + ": "
                    + e.getMessage(), e);
        }
        require(c.get(EngramOptions.DELIVERY_GUARANTEE) != DeliveryGuarantee.NONE,
                EngramOptions.DELIVERY_GUARANTEE.key(), "must be exactly-once or at-least-once: with none a sink "
                        + "does not flush at checkpoints and may lose results");
        // The changelog backend's materialization snapshots the state without the operator's snapshotState, which is
        // where the chunk cache marks the chunks a heap snapshot holds: a materialized checkpoint could hold chunks
        // newer than their index. Not supported until that path marks them too.
        require(!c.get(StateChangelogOptions.ENABLE_STATE_CHANGE_LOG), StateChangelogOptions.ENABLE_STATE_CHANGE_LOG.key(),
                "is not supported: its materialization bypasses the copy-on-write marking of cached state chunks "
                        + "(docs/operations/sizing.md#which-backend-for-which-size); use hashmap or rocksdb without it");
        libraryPath = c.get(EngramOptions.LIBRARY_PATH);
        cpuVariant = c.get(EngramOptions.CPU_VARIANT);
        arenaBudgetCheck = c.get(EngramOptions.ARENA_BUDGET_CHECK);
        shadowSampleRate = c.get(EngramOptions.SHADOW_SAMPLE_RATE);
        require(shadowSampleRate >= 0 && shadowSampleRate <= 1, EngramOptions.SHADOW_SAMPLE_RATE.key(),
                "must be in [0, 1]");
        shadowAutoFallback = c.get(EngramOptions.SHADOW_AUTO_FALLBACK);
        shadowTestInject = (float) (double) c.get(EngramOptions.SHADOW_TEST_INJECT);
        require(Float.isFinite(shadowTestInject), EngramOptions.SHADOW_TEST_INJECT.key(), "must be finite");
        arenaConfig(); // fail at submission, not in every subtask, when the arena settings are invalid

        defaultStabilitySeconds = seconds(c.get(EngramOptions.DEFAULT_STABILITY).toMillis(),
                EngramOptions.DEFAULT_STABILITY.key());
        reinforceFactor = (float) (double) c.get(EngramOptions.REINFORCE_FACTOR);
        require(reinforceFactor >= 1f && Float.isFinite(reinforceFactor), EngramOptions.REINFORCE_FACTOR.key(),
                "must be a finite number >= 1");
        maxStabilitySeconds = seconds(c.get(EngramOptions.MAX_STABILITY).toMillis(), EngramOptions.MAX_STABILITY.key());
        dedupWindowMs = c.get(EngramOptions.DEDUP_WINDOW).toMillis();
        require(dedupWindowMs >= 0, EngramOptions.DEDUP_WINDOW.key(), "must be >= 0");
        sweepIntervalMs = c.get(EngramOptions.SWEEP_INTERVAL).toMillis();
        require(sweepIntervalMs >= 1, EngramOptions.SWEEP_INTERVAL.key(), "must be at least 1 ms");
        forgetThreshold = (float) (double) c.get(EngramOptions.FORGET_THRESHOLD);
        require(forgetThreshold >= 0f && forgetThreshold < 1f, EngramOptions.FORGET_THRESHOLD.key(),
                "must be in [0, 1)");

        maxQueryHops = positive(c, EngramOptions.MAX_QUERY_HOPS.key(), c.get(EngramOptions.MAX_QUERY_HOPS), 0);
        // The spreading kernel refuses more hops with an IllegalArgumentException, which would fail the task on
        // every replay of such a query instead of dead-lettering it.
        require(maxQueryHops <= SpreadSemantics.MAX_HOPS, EngramOptions.MAX_QUERY_HOPS.key(),
                "must be at most " + SpreadSemantics.MAX_HOPS);
        maxHops = c.get(EngramOptions.MAX_HOPS);
        require(maxHops >= 0 && maxHops <= maxQueryHops, EngramOptions.MAX_HOPS.key(),
                "must be in [0, engram.limits.max-hops]");
        hopDecay = (float) (double) c.get(EngramOptions.HOP_DECAY);
        require(hopDecay > 0f && hopDecay <= 1f, EngramOptions.HOP_DECAY.key(), "must be in (0, 1]");
        threshold = (float) (double) c.get(EngramOptions.THRESHOLD);
        require(threshold >= 0f && Float.isFinite(threshold), EngramOptions.THRESHOLD.key(), "must be finite, >= 0");
        maxSeedK = positive(c, EngramOptions.MAX_SEED_K.key(), c.get(EngramOptions.MAX_SEED_K), 1);
        seedK = c.get(EngramOptions.SEED_K);
        require(seedK >= 1 && seedK <= maxSeedK, EngramOptions.SEED_K.key(), "must be in [1, engram.limits.max-seed-k]");

        int batchSize = c.get(EngramOptions.BATCH_MAX_SIZE);
        require(batchSize >= 1, EngramOptions.BATCH_MAX_SIZE.key(), "must be >= 1 (1 turns batching off), got "
                + batchSize);
        java.time.Duration delay = c.get(EngramOptions.BATCH_MAX_DELAY);
        require(!delay.isNegative(), EngramOptions.BATCH_MAX_DELAY.key(),
                "must be >= 0 (0 turns batching off), got " + delay.toMillis() + " ms");
        batchMaxDelayMs = delay.toMillis();
        // Either knob at its "off" value turns batching off: nothing would be gained by waiting.
        batchMaxSize = batchMaxDelayMs == 0 ? 1 : batchSize;

        maxDim = positive(c, EngramOptions.MAX_DIM.key(), c.get(EngramOptions.MAX_DIM), 1);
        maxK = positive(c, EngramOptions.MAX_K.key(), c.get(EngramOptions.MAX_K), 1);
        maxMemoriesPerSpace = positive(c, EngramOptions.MAX_MEMORIES_PER_SPACE.key(),
                c.get(EngramOptions.MAX_MEMORIES_PER_SPACE), 1);
        maxIdLength = positive(c, EngramOptions.MAX_ID_LENGTH.key(), c.get(EngramOptions.MAX_ID_LENGTH), 1);
        maxContentLength = positive(c, EngramOptions.MAX_CONTENT_LENGTH.key(),
                c.get(EngramOptions.MAX_CONTENT_LENGTH), 0);
        maxFutureSkewMs = c.get(EngramOptions.MAX_FUTURE_SKEW).toMillis();
        require(maxFutureSkewMs >= 0, EngramOptions.MAX_FUTURE_SKEW.key(), "must be >= 0");
        maxPastAgeMs = c.get(EngramOptions.MAX_PAST_AGE).toMillis();
        require(maxPastAgeMs >= 1, EngramOptions.MAX_PAST_AGE.key(), "must be positive");
        long output = c.get(EngramOptions.MAX_OUTPUT_RECORD_SIZE).getBytes();
        require(output >= MIN_OUTPUT_RECORD_BYTES && output <= Integer.MAX_VALUE / 2,
                EngramOptions.MAX_OUTPUT_RECORD_SIZE.key(), "must be between 16 kb and 1 gb, got " + output + " bytes");
        maxOutputRecordBytes = (int) output;

        chunkSlots = c.get(EngramOptions.STATE_CHUNK_SIZE);
        require(chunkSlots >= 1 && chunkSlots <= 65536, EngramOptions.STATE_CHUNK_SIZE.key(), "must be in [1, 65536]");
        stateCacheBytes = c.get(EngramOptions.STATE_CACHE_SIZE).getBytes();
        snapshotThreadPriority = c.get(EngramOptions.STATE_SNAPSHOT_THREAD_PRIORITY);
        require(snapshotThreadPriority >= Thread.MIN_PRIORITY && snapshotThreadPriority <= Thread.MAX_PRIORITY,
                EngramOptions.STATE_SNAPSHOT_THREAD_PRIORITY.key(), "must be in [1, 10]");

        String consistency = c.get(EngramOptions.RECALL_CONSISTENCY);
        require(consistency.equals("arrival") || consistency.equals("event-time"),
                EngramOptions.RECALL_CONSISTENCY.key(), "must be 'arrival' or 'event-time', got '" + consistency + "'");
        eventTimeConsistency = consistency.equals("event-time");
        waitTimeoutMs = c.get(EngramOptions.WAIT_TIMEOUT).toMillis();
        require(waitTimeoutMs >= 1, EngramOptions.WAIT_TIMEOUT.key(), "must be positive");
        String onTimeout = c.get(EngramOptions.WAIT_ON_TIMEOUT);
        require(onTimeout.equals("answer-stale") || onTimeout.equals("dead-letter"), EngramOptions.WAIT_ON_TIMEOUT.key(),
                "must be 'answer-stale' or 'dead-letter', got '" + onTimeout + "'");
        deadLetterOnTimeout = onTimeout.equals("dead-letter");
        maxWaitingPerSpace = positive(c, EngramOptions.MAX_WAITING_PER_SPACE.key(),
                c.get(EngramOptions.MAX_WAITING_PER_SPACE), 1);
    }

    /** The rules a space applies its events by. */
    public io.engram.job.space.SpaceRules spaceRules() {
        return new io.engram.job.space.SpaceRules(chunkSlots, maxMemoriesPerSpace, defaultStabilitySeconds,
                maxStabilitySeconds, reinforceFactor);
    }

    /** The kernels' configuration for one subtask: explicit options win over ENGRAM_ARENA_* variables. */
    public KernelsConfig kernelsConfig() {
        return new KernelsConfig(kernelMode, arenaConfig(), Optional.ofNullable(libraryPath).map(Path::of),
                Optional.ofNullable(cpuVariant));
    }

    public ArenaConfig arenaConfig() {
        return arenaConfig(System.getenv());
    }

    ArenaConfig arenaConfig(Map<String, String> env) {
        try {
            return ArenaConfig.resolve(arenaSize, arenaOverflow, env);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("engram.kernels.arena.*: " + e.getMessage(), e);
        }
    }

    private static float seconds(long millis, String key) {
        require(millis > 0, key, "must be positive");
        return millis / 1000f;
    }

    private static int positive(Configuration c, String key, int value, int min) {
        require(value >= min, key, "must be >= " + min);
        return value;
    }

    private static void require(boolean ok, String key, String what) {
        if (!ok) {
            throw new IllegalArgumentException("invalid configuration: " + key + " " + what);
        }
    }
}
