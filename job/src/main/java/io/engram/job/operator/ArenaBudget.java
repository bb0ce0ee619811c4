package io.engram.job.operator;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.kernels.KernelMode;
import java.util.Optional;
import java.util.Set;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.memory.ManagedMemoryUseCase;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessSpec;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessUtils;
import org.apache.flink.runtime.execution.SuppressRestartsException;
import org.apache.flink.runtime.memory.MemoryManager;
import org.apache.flink.runtime.memory.MemoryReservationException;
import org.apache.flink.runtime.util.config.memory.ManagedMemoryUtils;

/**
 * Keeps the native arenas inside Flink's memory model the way the RocksDB backend keeps its caches there: they are
 * taken out of the task slot's <em>managed memory</em>. The memory operator declares an {@code OPERATOR} managed
 * memory use case, so Flink gives it a share of each slot's managed memory (shared with RocksDB by
 * {@code taskmanager.memory.managed.consumer-weights}, 70:70 by default; all of it with the heap backend), and each
 * subtask reserves its arena's bytes from the slot's memory manager before the arena is allocated. Flink's stock
 * configuration gives every slot hundreds of MiB of managed memory, so a job needs no cluster change for the 2 MiB
 * default arena.
 *
 * <p>An arena that cannot fit is a configuration error, never a reason to retry: the submission fails when the
 * cluster configuration visible to it shows it ({@link #checkAtSubmission}), and a subtask that still finds less
 * fails the job without restarts ({@link SuppressRestartsException}) instead of a restart loop.
 *
 * <p>Recall batches need no sizing: similarity is the stored-norm kernel, which takes any number of cues and no arena.
 */
final class ArenaBudget {
    /** The operator's weight among the job's OPERATOR managed memory consumers: it is the only one. */
    static final int OPERATOR_WEIGHT = 1;

    private ArenaBudget() {
    }

    /** Whether the operator takes its arenas out of managed memory: native kernels possible and the check on. */
    static boolean usesManagedMemory(EngramSettings s) {
        return s.kernelMode != KernelMode.JAVA && s.arenaBudgetCheck;
    }

    /** A reservation of managed memory, released by {@link #close()}. */
    interface Reservation extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Reserves {@code arenaBytes} of this slot's managed memory for {@code owner}; {@code fraction} is the operator's
     * share of the slot (from its StreamConfig). Throws {@link SuppressRestartsException} when the arena does not fit
     * the share: the same configuration would fail every restart.
     */
    static Reservation reserve(MemoryManager memory, double fraction, long arenaBytes, Object owner) {
        long share = memory.computeMemorySize(fraction);
        if (arenaBytes > share) {
            throw new SuppressRestartsException(new IllegalStateException(
                    tooSmall(arenaBytes, share, memory.getMemorySize(), fraction)));
        }
        try {
            memory.reserveMemory(owner, arenaBytes);
        } catch (MemoryReservationException e) {
            throw new SuppressRestartsException(new IllegalStateException("engram: could not reserve "
                    + human(arenaBytes) + " of managed memory for the native kernel arena: " + e.getMessage(), e));
        }
        return () -> memory.releaseMemory(owner, arenaBytes);
    }

    /**
     * Fails the submission when the TaskManager memory in {@code conf} (the cluster configuration the submitting
     * client or JobManager sees: {@code flink run} reads the config.yaml of its conf dir) cannot give a slot's memory
     * operator an arena of the configured size. Does nothing when {@code conf} does not describe TaskManager memory
     * (a local MiniCluster, a client without the cluster's config): the subtasks then check it themselves.
     */
    static void checkAtSubmission(EngramSettings settings, Configuration conf) {
        if (!usesManagedMemory(settings)) {
            return;
        }
        TaskExecutorProcessSpec spec;
        try {
            spec = TaskExecutorProcessUtils.processSpecFromConfig(conf);
        } catch (IllegalConfigurationException | IllegalArgumentException e) {
            return; // no TaskManager memory configured here
        }
        int slots = Math.max(1, conf.get(TaskManagerOptions.NUM_TASK_SLOTS));
        long perSlot = spec.getManagedMemorySize().getBytes() / slots;
        double fraction = ManagedMemoryUtils.convertToFractionOfSlot(ManagedMemoryUseCase.OPERATOR, 1.0,
                Set.of(ManagedMemoryUseCase.OPERATOR, ManagedMemoryUseCase.STATE_BACKEND), conf, conf,
                Optional.empty(), ArenaBudget.class.getClassLoader());
        long share = (long) Math.floor(perSlot * fraction);
        long arena = settings.arenaConfig().capacityBytes();
        if (arena > share) {
            throw new IllegalArgumentException(tooSmall(arena, share, perSlot, fraction));
        }
    }

    static String tooSmall(long arenaBytes, long share, long slotManaged, double fraction) {
        return "engram: the native kernel arena (" + EngramOptions.ARENA_SIZE.key() + " " + human(arenaBytes)
                + " per task slot) does not fit the memory operator's share of managed memory: " + human(share)
                + " (" + Math.round(fraction * 100) + " % of the slot's " + human(slotManaged) + "; with RocksDB the "
                + "share follows " + TaskManagerOptions.MANAGED_MEMORY_CONSUMER_WEIGHTS.key() + ", OPERATOR vs "
                + "STATE_BACKEND). Lower " + EngramOptions.ARENA_SIZE.key() + ", raise "
                + TaskManagerOptions.MANAGED_MEMORY_SIZE.key() + " (or " + TaskManagerOptions.MANAGED_MEMORY_FRACTION
                .key() + "), or set " + EngramOptions.KERNEL_MODE.key() + "=java.";
    }

    private static String human(long bytes) {
        return new MemorySize(bytes).toHumanReadableString();
    }
}
