package io.engram.kernels.bench;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@code fma_peak}: the single-core FMA ceiling the batched benchmarks are read against: {@value #ITERATIONS}
 * iterations of independent FMA chains at the widest vector width of the machine (libengram-bench's best build).
 * The secondary counter {@code flops} counts the floating-point operations done in each iteration; with
 * {@link CpuTime}'s {@code ops}: GFLOP/s = (flops / ops) / (ns per op).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(2)
@State(Scope.Thread)
public class CeilingBench {
    static final long ITERATIONS = 100_000;

    /** The flops of the iteration's calls, next to the time. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.EVENTS)
    public static class Flops {
        public double flops;

        @Setup(Level.Iteration)
        public void reset() {
            flops = 0;
        }
    }

    @Benchmark
    public float fmaPeak(CpuTime cpu, Flops flops) {
        cpu.ops++;
        flops.flops += (double) BenchNative.fmaFlopsPerIteration() * ITERATIONS;
        return BenchNative.fmaPeak(ITERATIONS);
    }
}
