package io.engram.kernels.bench;

import io.engram.kernels.BenchAccess;
import io.engram.kernels.MemoryKernels;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@code decay_calculation_<m>m}: Ebbinghaus retention of m memories (last access up to 30 days ago, stability
 * 1 minute to 30 days), Zig vs Java {@code Math.exp}. Each memory moves 16 bytes (8 read, 4 read, 4 written); the
 * ceiling is a native read-only sweep over the two input arrays.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(2)
@State(Scope.Thread)
public class DecayBench {
    static final long NOW = 1_800_000_000_000L;

    @Param({"10000", "1000000"})
    public int m;

    long[] lastAccess;
    float[] stability;
    float[] retention;
    MemoryKernels zig;
    MemoryKernels java;
    BenchSupport.Slowdown slow;

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.checkNative();
        SplittableRandom r = new SplittableRandom(7);
        lastAccess = new long[m];
        stability = new float[m];
        retention = new float[m];
        for (int i = 0; i < m; i++) {
            lastAccess[i] = NOW - r.nextLong(30L * 86_400_000L);
            stability[i] = (float) (60.0 * Math.pow(43_200.0, r.nextDouble())); // 1 minute .. 30 days
        }
        zig = BenchSupport.zig();
        java = BenchSupport.java();
        slow = BenchSupport.slowdownOf("decayRetention");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        zig.close();
    }

    @Benchmark
    public float[] zig(CpuTime cpu) {
        cpu.ops++;
        long t0 = slow.start();
        zig.decayRetention(lastAccess, stability, m, NOW, retention);
        slow.stretch(t0);
        return retention;
    }

    @Benchmark
    public float[] java(CpuTime cpu) {
        cpu.ops++;
        java.decayRetention(lastAccess, stability, m, NOW, retention);
        return retention;
    }

    /** Reads both input arrays (12 of the 16 bytes per memory) and nothing else. */
    @Benchmark
    public long ceiling(CpuTime cpu) {
        cpu.ops++;
        return BenchAccess.memorySweep(stability, lastAccess);
    }
}
