package io.engram.job.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.kernels.ArenaConfig;
import io.engram.kernels.KernelMode;
import io.engram.kernels.OverflowStrategy;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateChangelogOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.util.InstantiationUtil;
import org.junit.jupiter.api.Test;

/** {@link EngramSettings}: every default resolves, and every invalid value fails naming its key. */
class EngramSettingsTest {

    @Test
    void defaultsResolve() {
        EngramSettings s = new EngramSettings(new Configuration());
        assertThat(s.kernelMode).isEqualTo(KernelMode.AUTO);
        assertThat(s.arenaSize).isNull();
        assertThat(s.arenaOverflow).isNull();
        assertThat(s.libraryPath).isNull();
        assertThat(s.cpuVariant).isNull();
        assertThat(s.arenaBudgetCheck).isTrue();
        assertThat(s.defaultStabilitySeconds).isEqualTo(86_400f);
        assertThat(s.reinforceFactor).isEqualTo(2f);
        assertThat(s.maxStabilitySeconds).isEqualTo(3650 * 86_400f);
        assertThat(s.dedupWindowMs).isEqualTo(24 * 3_600_000L);
        assertThat(s.sweepIntervalMs).isEqualTo(60_000L);
        assertThat(s.forgetThreshold).isEqualTo(0.01f);
        assertThat(s.maxHops).isEqualTo(3);
        assertThat(s.hopDecay).isEqualTo(0.8f);
        assertThat(s.threshold).isEqualTo(0.01f);
        assertThat(s.seedK).isEqualTo(16);
        assertThat(s.maxDim).isEqualTo(4096);
        assertThat(s.maxK).isEqualTo(1000);
        assertThat(s.maxQueryHops).isEqualTo(16);
        assertThat(s.maxSeedK).isEqualTo(1000);
        assertThat(s.maxMemoriesPerSpace).isEqualTo(1_000_000);
        assertThat(s.maxIdLength).isEqualTo(256);
        assertThat(s.maxContentLength).isEqualTo(65_536);
        assertThat(s.maxFutureSkewMs).isEqualTo(3_600_000L);
        ArenaConfig arena = s.arenaConfig(Map.of());
        assertThat(arena.capacityBytes()).isEqualTo(2L << 20);
        assertThat(arena.overflow()).isEqualTo(OverflowStrategy.FALLBACK);
        assertThat(s.kernelsConfig().mode()).isEqualTo(KernelMode.AUTO);
        assertThat(s.kernelsConfig().libraryPath()).isEmpty();
        assertThat(s.kernelsConfig().cpuVariant()).isEmpty();
    }

    @Test
    void explicitValuesAreTaken() {
        Configuration c = new Configuration();
        c.set(EngramOptions.KERNEL_MODE, "ZIG");
        c.set(EngramOptions.ARENA_SIZE, MemorySize.parse("8m"));
        c.set(EngramOptions.ARENA_OVERFLOW, "fail-task");
        c.set(EngramOptions.LIBRARY_PATH, "/opt/engram/libengram.so");
        c.set(EngramOptions.ARENA_BUDGET_CHECK, false);
        c.set(EngramOptions.DEFAULT_STABILITY, Duration.ofMillis(1500));
        c.set(EngramOptions.REINFORCE_FACTOR, 1.0);
        c.set(EngramOptions.MAX_STABILITY, Duration.ofDays(7));
        c.set(EngramOptions.DEDUP_WINDOW, Duration.ZERO);
        c.set(EngramOptions.SWEEP_INTERVAL, Duration.ofMillis(1));
        c.set(EngramOptions.FORGET_THRESHOLD, 0.0);
        c.set(EngramOptions.MAX_QUERY_HOPS, 0);
        c.set(EngramOptions.MAX_HOPS, 0);
        c.set(EngramOptions.HOP_DECAY, 1.0);
        c.set(EngramOptions.THRESHOLD, 0.0);
        c.set(EngramOptions.MAX_SEED_K, 1);
        c.set(EngramOptions.SEED_K, 1);
        c.set(EngramOptions.MAX_CONTENT_LENGTH, 0);
        c.set(EngramOptions.MAX_FUTURE_SKEW, Duration.ZERO);
        c.setString("engram.limits.max-dim", "12"); // as it arrives from -D or config.yaml
        EngramSettings s = new EngramSettings(c);
        assertThat(s.kernelMode).isEqualTo(KernelMode.ZIG);
        assertThat(s.arenaSize).isEqualTo(8L << 20);
        assertThat(s.arenaOverflow).isEqualTo(OverflowStrategy.FAIL_TASK);
        assertThat(s.arenaConfig(Map.of()).capacityBytes()).isEqualTo(8L << 20);
        assertThat(s.arenaConfig(Map.of(ArenaConfig.ENV_SIZE, "65536")).capacityBytes())
                .as("explicit configuration wins over the environment").isEqualTo(8L << 20);
        assertThat(s.kernelsConfig().libraryPath()).hasValueSatisfying(
                p -> assertThat(p.toString()).isEqualTo("/opt/engram/libengram.so"));
        assertThat(s.defaultStabilitySeconds).isEqualTo(1.5f);
        assertThat(s.reinforceFactor).isEqualTo(1f);
        assertThat(s.maxStabilitySeconds).isEqualTo(7 * 86_400f);
        assertThat(s.dedupWindowMs).isZero();
        assertThat(s.sweepIntervalMs).isEqualTo(1L);
        assertThat(s.forgetThreshold).isZero();
        assertThat(s.maxQueryHops).isZero();
        assertThat(s.maxHops).isZero();
        assertThat(s.hopDecay).isEqualTo(1f);
        assertThat(s.maxDim).isEqualTo(12);
        assertThat(s.maxContentLength).isZero();
        assertThat(s.maxFutureSkewMs).isZero();
    }

    @Test
    void settingsSurviveJavaSerialization() throws Exception {
        Configuration c = new Configuration();
        c.set(EngramOptions.KERNEL_MODE, "java");
        c.set(EngramOptions.MAX_K, 7);
        EngramSettings s = InstantiationUtil.clone(new EngramSettings(c));
        assertThat(s.kernelMode).isEqualTo(KernelMode.JAVA);
        assertThat(s.maxK).isEqualTo(7);
    }

    // ----- invalid values --------------------------------------------------------------------------------------

    record Invalid(String key, Consumer<Configuration> set) {
    }

    static <T> Invalid invalid(ConfigOption<T> option, T value) {
        return new Invalid(option.key(), c -> c.set(option, value));
    }

    static Invalid invalidText(ConfigOption<?> option, String value) {
        return new Invalid(option.key(), c -> c.setString(option.key(), value));
    }

    static List<Invalid> invalidValues() {
        List<Invalid> l = new ArrayList<>();
        l.add(invalid(EngramOptions.KERNEL_MODE, "gpu"));
        l.add(invalid(EngramOptions.KERNEL_MODE, ""));
        l.add(invalid(EngramOptions.ARENA_SIZE, new MemorySize(1024)));
        l.add(invalid(EngramOptions.ARENA_SIZE, MemorySize.parse("2g")));
        l.add(invalid(EngramOptions.ARENA_OVERFLOW, "crash"));
        l.add(invalidText(EngramOptions.ARENA_BUDGET_CHECK, "maybe"));
        l.add(invalid(EngramOptions.SHADOW_SAMPLE_RATE, -0.1));
        l.add(invalid(EngramOptions.SHADOW_SAMPLE_RATE, 1.5));
        l.add(invalid(EngramOptions.SHADOW_SAMPLE_RATE, Double.NaN));
        l.add(invalidText(EngramOptions.SHADOW_AUTO_FALLBACK, "perhaps"));
        l.add(invalid(EngramOptions.SHADOW_TEST_INJECT, Double.POSITIVE_INFINITY));
        l.add(invalid(EngramOptions.SHADOW_TEST_INJECT, Double.NaN));
        l.add(invalid(EngramOptions.DEFAULT_STABILITY, Duration.ZERO));
        l.add(invalid(EngramOptions.DEFAULT_STABILITY, Duration.ofSeconds(-5)));
        l.add(invalidText(EngramOptions.DEFAULT_STABILITY, "one day"));
        l.add(invalid(EngramOptions.REINFORCE_FACTOR, 0.5));
        l.add(invalid(EngramOptions.REINFORCE_FACTOR, Double.NaN));
        l.add(invalid(EngramOptions.REINFORCE_FACTOR, Double.POSITIVE_INFINITY));
        l.add(invalid(EngramOptions.MAX_STABILITY, Duration.ZERO));
        l.add(invalid(EngramOptions.DEDUP_WINDOW, Duration.ofMillis(-1)));
        l.add(invalid(EngramOptions.SWEEP_INTERVAL, Duration.ZERO));
        l.add(invalid(EngramOptions.SWEEP_INTERVAL, Duration.ofMinutes(-1)));
        l.add(invalid(EngramOptions.FORGET_THRESHOLD, 1.0));
        l.add(invalid(EngramOptions.FORGET_THRESHOLD, -0.01));
        l.add(invalid(EngramOptions.FORGET_THRESHOLD, Double.NaN));
        l.add(invalid(EngramOptions.MAX_QUERY_HOPS, -1));
        l.add(invalid(EngramOptions.MAX_QUERY_HOPS, 5000)); // more than the spreading kernel accepts
        l.add(invalid(EngramOptions.BATCH_MAX_SIZE, 0));
        l.add(invalid(EngramOptions.BATCH_MAX_SIZE, -8));
        l.add(invalid(EngramOptions.BATCH_MAX_DELAY, Duration.ofMillis(-1)));
        l.add(invalidText(EngramOptions.BATCH_MAX_DELAY, "soon"));
        l.add(invalidText(EngramOptions.BATCH_MAX_SIZE, "eight"));
        l.add(invalid(EngramOptions.MAX_HOPS, -1));
        l.add(invalid(EngramOptions.MAX_HOPS, 17)); // above engram.limits.max-hops (16)
        l.add(invalid(EngramOptions.HOP_DECAY, 0.0));
        l.add(invalid(EngramOptions.HOP_DECAY, 1.5));
        l.add(invalid(EngramOptions.HOP_DECAY, Double.NaN));
        l.add(invalid(EngramOptions.THRESHOLD, -0.1));
        l.add(invalid(EngramOptions.THRESHOLD, Double.NaN));
        l.add(invalid(EngramOptions.THRESHOLD, 1e300)); // infinite as a float
        l.add(invalid(EngramOptions.SEED_K, 0));
        l.add(invalid(EngramOptions.SEED_K, 1001)); // above engram.limits.max-seed-k (1000)
        l.add(invalid(EngramOptions.MAX_SEED_K, 0));
        l.add(invalid(EngramOptions.MAX_DIM, 0));
        l.add(invalidText(EngramOptions.MAX_DIM, "lots"));
        l.add(invalid(EngramOptions.MAX_K, 0));
        l.add(invalid(EngramOptions.MAX_MEMORIES_PER_SPACE, 0));
        l.add(invalid(EngramOptions.MAX_ID_LENGTH, 0));
        l.add(invalid(EngramOptions.MAX_CONTENT_LENGTH, -1));
        l.add(invalid(EngramOptions.MAX_FUTURE_SKEW, Duration.ofSeconds(-1)));
        l.add(invalid(EngramOptions.MAX_PAST_AGE, Duration.ZERO));
        l.add(invalid(EngramOptions.MAX_OUTPUT_RECORD_SIZE, MemorySize.parse("8kb"))); // no room for a dead letter
        l.add(invalid(EngramOptions.MAX_OUTPUT_RECORD_SIZE, MemorySize.parse("2gb")));
        l.add(invalid(EngramOptions.RECALL_CONSISTENCY, "eventual"));
        l.add(invalid(EngramOptions.WAIT_TIMEOUT, Duration.ZERO));
        l.add(invalid(EngramOptions.WAIT_ON_TIMEOUT, "shrug"));
        l.add(invalid(EngramOptions.MAX_WAITING_PER_SPACE, 0));
        l.add(invalid(EngramOptions.STATE_CHUNK_SIZE, 0));
        l.add(invalid(EngramOptions.STATE_CHUNK_SIZE, 65_537));
        l.add(invalid(EngramOptions.STATE_SNAPSHOT_THREAD_PRIORITY, 0));
        l.add(invalid(EngramOptions.STATE_SNAPSHOT_THREAD_PRIORITY, 11));
        l.add(invalidText(EngramOptions.DELIVERY_GUARANTEE, "none")); // may lose results
        l.add(invalidText(EngramOptions.DELIVERY_GUARANTEE, "twice"));
        return l;
    }

    @Test
    void everyInvalidValueFailsNamingItsKey() {
        for (Invalid inv : invalidValues()) {
            Configuration c = new Configuration();
            inv.set().accept(c);
            assertThatThrownBy(() -> new EngramSettings(c)).as("invalid %s (%s)", inv.key(), c)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining(inv.key());
        }
    }

    @Test
    void everyCheckedOptionHasAnInvalidCase() throws Exception {
        // options that accept any value of their type
        List<String> free = List.of(EngramOptions.LIBRARY_PATH.key(), EngramOptions.CPU_VARIANT.key(),
                EngramOptions.STATE_CACHE_SIZE.key()); // any size: 0 turns the cache off
        List<String> covered = invalidValues().stream().map(Invalid::key).toList();
        for (Field f : EngramOptions.class.getFields()) {
            if (Modifier.isStatic(f.getModifiers()) && f.get(null) instanceof ConfigOption<?> o
                    && o.key().startsWith("engram.")
                    && !o.key().startsWith("engram.kafka.") && !o.key().startsWith("engram.topics.")
                    && !o.key().startsWith("engram.watermark.") && !free.contains(o.key())) {
                assertThat(covered).as("an invalid-value case for %s", o.key()).contains(o.key());
            }
        }
    }

    @Test
    void badArenaEnvironmentFailsNamingTheVariable() {
        EngramSettings s = new EngramSettings(new Configuration());
        assertThatThrownBy(() -> s.arenaConfig(Map.of(ArenaConfig.ENV_SIZE, "tiny")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(ArenaConfig.ENV_SIZE);
        assertThatThrownBy(() -> s.arenaConfig(Map.of(ArenaConfig.ENV_OVERFLOW, "explode")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(ArenaConfig.ENV_OVERFLOW);
        assertThat(s.arenaConfig(Map.of(ArenaConfig.ENV_SIZE, "65536", ArenaConfig.ENV_OVERFLOW, "fail")))
                .isEqualTo(new ArenaConfig(65536, OverflowStrategy.FAIL));
    }

    @Test
    void recallBatchingDefaultsAndItsOffSwitches() {
        EngramSettings d = new EngramSettings(new Configuration());
        assertThat(d.batchMaxSize).isEqualTo(8);
        assertThat(d.batchMaxDelayMs).isEqualTo(5);
        Configuration one = new Configuration();
        one.set(EngramOptions.BATCH_MAX_SIZE, 1);
        assertThat(new EngramSettings(one).batchMaxSize).isEqualTo(1);
        Configuration noDelay = new Configuration();
        noDelay.set(EngramOptions.BATCH_MAX_DELAY, Duration.ZERO);
        assertThat(new EngramSettings(noDelay).batchMaxSize).as("max-delay 0 answers on arrival").isEqualTo(1);
        Configuration bad = new Configuration();
        bad.set(EngramOptions.BATCH_MAX_SIZE, 0);
        assertThatThrownBy(() -> new EngramSettings(bad)).hasMessage(
                "invalid configuration: engram.recall.batch.max-size must be >= 1 (1 turns batching off), got 0");
    }

    @Test
    void theChangelogStateBackendIsRefusedWithTheReason() {
        Configuration c = new Configuration();
        c.set(StateChangelogOptions.ENABLE_STATE_CHANGE_LOG, true);
        assertThatThrownBy(() -> new EngramSettings(c)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("invalid configuration: state.changelog.enabled is not supported: its "
                        + "materialization bypasses the copy-on-write marking of cached state chunks");
        c.set(StateChangelogOptions.ENABLE_STATE_CHANGE_LOG, false);
        assertThat(new EngramSettings(c).batchMaxSize).isEqualTo(8);
    }
}
