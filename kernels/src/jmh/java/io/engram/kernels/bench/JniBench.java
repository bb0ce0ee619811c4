package io.engram.kernels.bench;

import io.engram.kernels.Arena;
import io.engram.kernels.BenchAccess;
import io.engram.kernels.MemoryKernels;
import java.util.concurrent.TimeUnit;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@code jni_overhead}: the full cost of a tiny Zig call (cosine, 1 candidate of dim 8: Java validation, arena
 * bookkeeping, the JNI transition, 3 length reads, 3 pins and releases) against a pure native no-op call and the same
 * work in Java.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(2)
@State(Scope.Thread)
public class JniBench {
    float[] query;
    float[] candidates;
    float[] scores;
    MemoryKernels zig;
    MemoryKernels java;
    Arena raw;

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.checkNative();
        query = BenchSupport.floats(1, 8);
        candidates = BenchSupport.floats(2, 8);
        scores = new float[1];
        zig = BenchSupport.zig();
        java = BenchSupport.java();
        raw = BenchAccess.rawArena();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        zig.close();
        raw.close();
    }

    @Benchmark
    public float[] zigTinyCosine(CpuTime cpu) {
        cpu.ops++;
        zig.cosineSimilarity(query, candidates, 8, 0, 1, scores);
        return scores;
    }

    @Benchmark
    public float[] javaTinyCosine(CpuTime cpu) {
        cpu.ops++;
        java.cosineSimilarity(query, candidates, 8, 0, 1, scores);
        return scores;
    }

    /** The same call straight into JNI: the difference to zigTinyCosine is the Java-side validation and arena. */
    @Benchmark
    public long rawTinyCosine(CpuTime cpu) {
        cpu.ops++;
        return BenchAccess.rawCosine(raw, query, candidates, 8, 1, scores);
    }

    @Benchmark
    public int nativeNoop(CpuTime cpu) {
        cpu.ops++;
        return BenchAccess.nativeNoop();
    }
}
