package io.engram.job.state;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The state serializers lower the priority of Flink's checkpoint threads, and of no other thread. */
class SnapshotThreadsTest {

    @AfterEach
    void reset() {
        SnapshotThreads.configure(Thread.NORM_PRIORITY);
    }

    @Test
    void aChunkWrittenOnACheckpointThreadLowersItsPriority() throws Exception {
        SnapshotThreads.configure(Thread.MIN_PRIORITY);
        assertThat(priorityAfterSerializingOn("AsyncOperations-thread-7")).isEqualTo(Thread.MIN_PRIORITY);
        assertThat(priorityAfterSerializingOn("memory spaces (1/2)#0")).as("the operator's own thread")
                .isEqualTo(Thread.NORM_PRIORITY);
    }

    @Test
    void normalPriorityLeavesCheckpointThreadsAlone() throws Exception {
        SnapshotThreads.configure(Thread.NORM_PRIORITY);
        assertThat(priorityAfterSerializingOn("AsyncOperations-thread-8")).isEqualTo(Thread.NORM_PRIORITY);
    }

    @Test
    void onlyJavaPrioritiesAreAccepted() {
        assertThatThrownBy(() -> SnapshotThreads.configure(0)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> SnapshotThreads.configure(11)).isInstanceOf(IllegalArgumentException.class);
    }

    /** Serializes a vector chunk, as a heap-backend snapshot does, on a new thread of that name. */
    private static int priorityAfterSerializingOn(String threadName) throws Exception {
        AtomicInteger after = new AtomicInteger(-1);
        Thread t = new Thread(() -> {
            try {
                DataOutputSerializer out = new DataOutputSerializer(256);
                VectorChunk.Serializer.INSTANCE.serialize(new VectorChunk(4, 8), out);
                assertThat(out.length()).isPositive();
                after.set(Thread.currentThread().getPriority());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, threadName);
        t.setPriority(Thread.NORM_PRIORITY);
        t.start();
        t.join();
        return after.get();
    }
}
