package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ArenaConfigTest {
    @Test
    void defaultsAreTwoMebibytesAndFallback() {
        ArenaConfig c = ArenaConfig.resolve(null, null, Map.of());
        assertThat(c.capacityBytes()).isEqualTo(2 * 1024 * 1024);
        assertThat(c.overflow()).isEqualTo(OverflowStrategy.FALLBACK);
    }

    @Test
    void environmentGivesDefaults() {
        ArenaConfig c = ArenaConfig.resolve(null, null,
                Map.of("ENGRAM_ARENA_SIZE", "8388608", "ENGRAM_ARENA_OVERFLOW", "fail-task"));
        assertThat(c).isEqualTo(new ArenaConfig(8 << 20, OverflowStrategy.FAIL_TASK));
    }

    @Test
    void explicitConfigurationWins() {
        ArenaConfig c = ArenaConfig.resolve(65536L, OverflowStrategy.FAIL,
                Map.of("ENGRAM_ARENA_SIZE", "8388608", "ENGRAM_ARENA_OVERFLOW", "fail-task"));
        assertThat(c).isEqualTo(new ArenaConfig(65536, OverflowStrategy.FAIL));
    }

    @Test
    void invalidEnvironmentValuesAreStartupErrorsThatNameTheVariable() {
        assertThatThrownBy(() -> ArenaConfig.resolve(null, null, Map.of("ENGRAM_ARENA_SIZE", "2MB")))
                .hasMessageContaining("ENGRAM_ARENA_SIZE='2MB' is invalid");
        assertThatThrownBy(() -> ArenaConfig.resolve(null, null, Map.of("ENGRAM_ARENA_SIZE", "100")))
                .hasMessageContaining("ENGRAM_ARENA_SIZE='100' is invalid");
        assertThatThrownBy(() -> ArenaConfig.resolve(null, null, Map.of("ENGRAM_ARENA_SIZE", "99999999999")))
                .hasMessageContaining("ENGRAM_ARENA_SIZE");
        assertThatThrownBy(() -> ArenaConfig.resolve(null, null, Map.of("ENGRAM_ARENA_OVERFLOW", "error")))
                .hasMessageContaining("ENGRAM_ARENA_OVERFLOW='error' is invalid")
                .hasMessageContaining("fallback, fail, fail-task");
        // Never silently ignored: a bad variable fails startup even when explicit configuration overrides it.
        assertThatThrownBy(() -> ArenaConfig.resolve(65536L, OverflowStrategy.FAIL,
                Map.of("ENGRAM_ARENA_OVERFLOW", "error"))).hasMessageContaining("ENGRAM_ARENA_OVERFLOW");
    }

    @Test
    void explicitOutOfRangeSizeIsRejected() {
        assertThatThrownBy(() -> new ArenaConfig(1024, OverflowStrategy.FAIL)).hasMessageContaining("outside");
        assertThatThrownBy(() -> new ArenaConfig((1L << 30) + 1, OverflowStrategy.FAIL))
                .hasMessageContaining("outside");
    }

    @Test
    void strategiesAndModesParse() {
        assertThat(OverflowStrategy.parse(" Fail-Task ")).isEqualTo(OverflowStrategy.FAIL_TASK);
        assertThat(KernelMode.parse("ZIG")).isEqualTo(KernelMode.ZIG);
        assertThatThrownBy(() -> KernelMode.parse("native")).hasMessageContaining("zig, java, auto");
        assertThatThrownBy(() -> OverflowStrategy.parse(null)).hasMessageContaining("fallback, fail, fail-task");
    }
}
