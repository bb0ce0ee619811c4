package io.engram.job.operator;

import io.engram.job.config.EngramSettings;
import io.engram.job.model.OutRecord;
import io.engram.job.model.RawRecord;
import java.util.List;
import org.apache.flink.api.dag.Transformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.memory.ManagedMemoryUseCase;
import org.apache.flink.runtime.execution.Environment;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;

/**
 * The memory-spaces operator: {@link MemorySpaceFunction} on the keyed events and queries and the broadcast kernel
 * switch (exactly what {@code connect(broadcast).process(function)} builds), plus the one thing a function cannot
 * reach: the slot's managed memory, out of which each subtask's native arena is reserved before the function opens
 * and released after it closes ({@link ArenaBudget}).
 */
public final class MemorySpacesOperator
        extends CoBroadcastWithKeyedOperator<String, RawRecord, RawRecord, OutRecord> {
    private static final long serialVersionUID = 1L;

    private final EngramSettings settings;
    private transient ArenaBudget.Reservation reservation;

    private MemorySpacesOperator(MemorySpaceFunction function, EngramSettings settings) {
        super(function, List.of(Operators.CONTROL_STATE));
        this.settings = settings;
    }

    /**
     * The operator for a job with these settings. Fails (the submission) when {@code clusterConfig} shows that a
     * slot's managed memory cannot hold the arena.
     */
    public static MemorySpacesOperator create(EngramSettings settings, Configuration clusterConfig) {
        ArenaBudget.checkAtSubmission(settings, clusterConfig);
        return new MemorySpacesOperator(new MemorySpaceFunction(settings), settings);
    }

    /** Declares the managed memory the arenas need on the operator's transformation (nothing in mode java). */
    public void declareManagedMemory(Transformation<?> transformation) {
        if (ArenaBudget.usesManagedMemory(settings)) {
            transformation.declareManagedMemoryUseCaseAtOperatorScope(ManagedMemoryUseCase.OPERATOR,
                    ArenaBudget.OPERATOR_WEIGHT);
        }
    }

    @Override
    public void open() throws Exception {
        if (ArenaBudget.usesManagedMemory(settings)) {
            Environment env = getContainingTask().getEnvironment();
            double fraction = getOperatorConfig().getManagedMemoryFractionOperatorUseCaseOfSlot(
                    ManagedMemoryUseCase.OPERATOR, env.getTaskManagerInfo().getConfiguration(),
                    env.getJobConfiguration(), getUserCodeClassloader());
            // The arena size as the TaskManager resolves it (ENGRAM_ARENA_SIZE is read from its environment).
            reservation = ArenaBudget.reserve(env.getMemoryManager(), fraction,
                    settings.arenaConfig().capacityBytes(), this);
        }
        super.open();
    }

    @Override
    public void close() throws Exception {
        try {
            super.close();
        } finally {
            if (reservation != null) {
                reservation.close();
                reservation = null;
            }
        }
    }
}
