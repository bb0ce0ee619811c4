package io.engram.kernels.bench;

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
 * bookkeeping, the JNI transition, the native argument checks, 3 pins and releases) against a pure native no-op call
 * and the same work in Java. {@code zigTinyNormed}: the stored-norm kernel's tiny call (5 arrays pinned: cue, cue
 * norm, rows, norms, scores), the per-call cost of the job's per-chunk calls.
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
    float[] queryNorm;
    float[] norms;
    MemoryKernels zig;
    MemoryKernels java;
    BenchAccess.RawArena raw;
    BenchSupport.Slowdown slow;
    BenchSupport.Slowdown slowNormed;

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.checkNative();
        query = BenchSupport.floats(1, 8);
        candidates = BenchSupport.floats(2, 8);
        scores = new float[1];
        zig = BenchSupport.zig();
        java = BenchSupport.java();
        raw = BenchAccess.rawArena();
        queryNorm = new float[] {io.engram.kernels.Norms.of(query)};
        norms = new float[] {io.engram.kernels.Norms.of(candidates)};
        slow = BenchSupport.slowdownOf("cosineSimilarity");
        slowNormed = BenchSupport.slowdownOf("cosineSimilarityNormed");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        zig.close();
        raw.close();
    }

    @Benchmark
    public float[] zigTinyCosine(CpuTime cpu) {
        cpu.ops++;
        long t0 = slow.start();
        zig.cosineSimilarity(query, candidates, 8, 0, 1, scores);
        slow.stretch(t0);
        return scores;
    }

    @Benchmark
    public float[] zigTinyNormed(CpuTime cpu) {
        cpu.ops++;
        long t0 = slowNormed.start();
        zig.cosineSimilarityNormed(query, queryNorm, 1, candidates, norms, 8, 0, 1, scores);
        slowNormed.stretch(t0);
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
    public long nativeNoop(CpuTime cpu) {
        cpu.ops++;
        return BenchAccess.nativeNoop();
    }
}
