package io.engram.job.state;

import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Lowers the scheduling priority of the threads that write the heap backend's checkpoints, so that a checkpoint
 * takes the cores the recalls leave idle instead of time from the recalls. The asynchronous part of a heap-backend
 * snapshot serializes every chunk of the state (125 MB for four 10k x 768d spaces, every checkpoint) on a thread of
 * the task's "AsyncOperations" pool; on a machine whose cores the recalls keep busy it competes with the operator's
 * thread for them, and the queries queued during those few hundred milliseconds are the tail of the latency
 * (docs/benchmarks/e2e-sink.md). Our serializers run on that thread, so the first value it serializes sets its
 * Java priority ({@link VersionedSerializer#serialize}); the pool's threads live as long as the task.
 *
 * <p>A Java priority becomes an OS priority only where the JVM maps it: on Linux with
 * {@code -XX:ThreadPriorityPolicy=1 -XX:JavaPriority1_To_OSPriority=10} (deploy/flink/config.yaml gives the
 * TaskManagers these), which makes priority 1 a nice value of 10. Raising a nice value needs no privilege. Without
 * the flags it is a no-op. RocksDB's asynchronous part uploads files and runs none of our code, so it is unchanged.
 */
public final class SnapshotThreads {
    /** The name prefix of Flink's StreamTask thread pool for the asynchronous part of checkpoints. */
    public static final String ASYNC_POOL_PREFIX = "AsyncOperations";

    private static final Logger LOG = LoggerFactory.getLogger(SnapshotThreads.class);
    private static volatile int priority = Thread.NORM_PRIORITY;

    private SnapshotThreads() {
    }

    /** The Java priority (1..10) for snapshot threads from now on; {@link Thread#NORM_PRIORITY} leaves them be. */
    public static void configure(int javaPriority) {
        if (javaPriority < Thread.MIN_PRIORITY || javaPriority > Thread.MAX_PRIORITY) {
            throw new IllegalArgumentException("a Java thread priority is 1..10, got " + javaPriority);
        }
        priority = javaPriority;
    }

    /** Called for every value a state serializer writes: cheap when the thread is not, or no longer, to change. */
    static void onSerialize() {
        Thread t = Thread.currentThread();
        int p = priority;
        if (t.getPriority() != p && t.getName().startsWith(ASYNC_POOL_PREFIX)) {
            t.setPriority(p);
            LOG.info("engram: checkpoint thread '{}' set to Java priority {} (OS nice value now {}; it changes only "
                    + "where the JVM maps priorities, see engram.state.snapshot-thread-priority)", t.getName(), p,
                    osNice());
        }
    }

    /** The calling thread's nice value from /proc (Linux), or "unknown". */
    static String osNice() {
        try {
            String stat = Files.readString(Path.of("/proc/thread-self/stat"));
            // fields after the command name, which is in parentheses and may hold spaces: nice is field 19
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return f[16];
        } catch (Exception e) {
            return "unknown";
        }
    }
}
