package io.engram.kernels.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The benchmark thread's CPU time per iteration, next to JMH's wall-clock time: JMH reports {@code cpuNanos} and
 * {@code ops} as secondary metrics, and cpuNanos / ops is CPU time per operation. The kernels are single-threaded, so
 * on an idle machine the two agree; on a busy shared VM the wall clock also counts the time the thread waited for a
 * CPU, and CPU time does not, which is what keeps the regression gate's ratios steady there.
 *
 * <p>Read once at the start and once at the end of every iteration (outside the measured loop); a benchmark only
 * counts its calls ({@code ops++}).
 */
@State(Scope.Thread)
@AuxCounters(AuxCounters.Type.EVENTS)
public class CpuTime {
    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    /** CPU time of this thread during the iteration, ns. */
    public long cpuNanos;
    /** Benchmark calls in the iteration. */
    public long ops;
    private long start;

    @Setup(Level.Iteration)
    public void begin() {
        if (!THREADS.isCurrentThreadCpuTimeSupported()) {
            throw new IllegalStateException("this JVM cannot measure thread CPU time");
        }
        ops = 0;
        cpuNanos = 0;
        start = THREADS.getCurrentThreadCpuTime();
    }

    @TearDown(Level.Iteration)
    public void end() {
        cpuNanos = THREADS.getCurrentThreadCpuTime() - start;
    }
}
