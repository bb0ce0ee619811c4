package io.engram.job.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.job.config.EngramSettings;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.execution.SuppressRestartsException;
import org.apache.flink.runtime.memory.MemoryManager;
import org.junit.jupiter.api.Test;

/**
 * {@link ArenaBudget}: the arena is reserved out of a real memory manager and given back; one that cannot fit fails
 * without restarts; the submission check reads the TaskManager memory of a configuration as Flink derives it, with
 * the share RocksDB leaves to the memory operator.
 */
class ArenaBudgetTest {
    private static final long MIB = 1L << 20;

    /** Flink 2.2's stock config.yaml: a 1728m TaskManager process with one slot (managed fraction 0.4). */
    static Map<String, String> stock() {
        return Map.of("taskmanager.memory.process.size", "1728m", "taskmanager.numberOfTaskSlots", "1");
    }

    static EngramSettings settings(Map<String, String> conf) {
        return new EngramSettings(Configuration.fromMap(conf));
    }

    static Map<String, String> with(Map<String, String> base, String... kv) {
        Map<String, String> m = new java.util.HashMap<>(base);
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    void theArenaIsReservedOutOfManagedMemoryAndGivenBack() throws Exception {
        MemoryManager memory = MemoryManager.create(64 * MIB, MemoryManager.DEFAULT_PAGE_SIZE);
        Object owner = new Object();
        try (ArenaBudget.Reservation r = ArenaBudget.reserve(memory, 0.5, 2 * MIB, owner)) {
            assertThat(memory.availableMemory()).isEqualTo(62 * MIB);
        }
        assertThat(memory.availableMemory()).isEqualTo(64 * MIB);
        assertThat(memory.verifyEmpty()).isTrue();
    }

    @Test
    void anArenaLargerThanTheShareFailsWithoutRestartsNamingTheNumbers() {
        MemoryManager memory = MemoryManager.create(4 * MIB, MemoryManager.DEFAULT_PAGE_SIZE);
        assertThatThrownBy(() -> ArenaBudget.reserve(memory, 0.5, 3 * MIB, new Object()))
                .isInstanceOf(SuppressRestartsException.class)
                .cause().hasMessageContaining("engram.kernels.arena.size 3.000mb")
                .hasMessageContaining("share of managed memory: 2.000mb")
                .hasMessageContaining("(50 % of the slot's 4.000mb")
                .hasMessageContaining("taskmanager.memory.managed.size")
                .hasMessageContaining("engram.kernels.mode=java");
        assertThat(memory.availableMemory()).isEqualTo(4 * MIB);
    }

    @Test
    void theStockConfigurationHoldsTheDefaultArenaAndRocksDbHalvesTheShare() {
        Configuration stock = Configuration.fromMap(stock());
        assertThatCode(() -> ArenaBudget.checkAtSubmission(settings(Map.of("engram.kernels.mode", "zig")), stock))
                .doesNotThrowAnyException();
        // stock: 0.4 x 1280 MiB of Flink memory = 512 MiB managed per slot; the heap backend leaves all of it
        Map<String, String> big = with(stock(), "engram.kernels.mode", "zig", "engram.kernels.arena.size", "300m");
        assertThatCode(() -> ArenaBudget.checkAtSubmission(settings(big), Configuration.fromMap(big)))
                .doesNotThrowAnyException();
        // RocksDB (STATE_BACKEND 70) and the memory operator (OPERATOR 70) share it: 256 MiB
        Map<String, String> rocks = with(big, "state.backend.type", "rocksdb");
        assertThatThrownBy(() -> ArenaBudget.checkAtSubmission(settings(rocks), Configuration.fromMap(rocks)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("engram.kernels.arena.size 300.000mb")
                .hasMessageContaining("managed memory: 256.000mb")
                .hasMessageContaining("(50 % of the slot's 512.000mb");
        // ... unless the weights give the operator more
        Map<String, String> weighted = with(rocks, "taskmanager.memory.managed.consumer-weights",
                "OPERATOR:90,STATE_BACKEND:10");
        assertThatCode(() -> ArenaBudget.checkAtSubmission(settings(weighted), Configuration.fromMap(weighted)))
                .doesNotThrowAnyException();
    }

    @Test
    void nothingIsCheckedWithoutArenasOrWithoutTaskManagerMemory() {
        Map<String, String> java = with(stock(), "engram.kernels.mode", "java", "engram.kernels.arena.size", "1g");
        assertThatCode(() -> ArenaBudget.checkAtSubmission(settings(java), Configuration.fromMap(java)))
                .doesNotThrowAnyException();
        Map<String, String> off = with(stock(), "engram.kernels.arena.budget-check", "false",
                "engram.kernels.arena.size", "1g");
        assertThatCode(() -> ArenaBudget.checkAtSubmission(settings(off), Configuration.fromMap(off)))
                .doesNotThrowAnyException();
        Map<String, String> local = Map.of("engram.kernels.mode", "zig", "engram.kernels.arena.size", "1g");
        assertThatCode(() -> ArenaBudget.checkAtSubmission(settings(local), Configuration.fromMap(local)))
                .doesNotThrowAnyException();
        assertThat(ArenaBudget.usesManagedMemory(settings(java))).isFalse();
        assertThat(ArenaBudget.usesManagedMemory(settings(Map.of()))).isTrue(); // auto may load Zig
    }
}
