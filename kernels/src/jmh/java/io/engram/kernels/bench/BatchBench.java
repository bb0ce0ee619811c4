package io.engram.kernels.bench;

import io.engram.kernels.MemoryKernels;
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
 * {@code vector_similarity_batch<b>_<dim>d_<n>c}: b queries against the same n candidates, as one
 * cosineSimilarityBatch call or as b cosineSimilarity calls (the one-at-a-time baseline), Zig and Java.
 * Every method does the same work (b × n scores), so queries/s = b / time.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 2, jvmArgsAppend = {"-Xms2g", "-Xmx4g"})
@State(Scope.Thread)
public class BatchBench {
    @Param({"768"})
    public int dim;

    @Param({"1000", "10000", "100000"})
    public int n;

    @Param({"8"})
    public int b;

    float[] queries;
    float[] query;
    float[] candidates;
    float[] scores;
    MemoryKernels zig;
    MemoryKernels java;
    int extraRowsBatch;
    int extraRowsSingle;

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.checkNative();
        queries = BenchSupport.floats(3, b * dim);
        query = new float[dim];
        candidates = BenchSupport.floats(2, n * dim);
        scores = new float[b * n];
        zig = BenchSupport.zig();
        java = BenchSupport.java();
        extraRowsBatch = (int) Math.round(n * BenchSupport.slowdown("cosineSimilarityBatch"));
        extraRowsSingle = (int) Math.round(n * BenchSupport.slowdown("cosineSimilarity"));
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        zig.close();
    }

    @Benchmark
    public float[] zigBatch(CpuTime cpu) {
        cpu.ops++;
        zig.cosineSimilarityBatch(queries, b, candidates, dim, 0, n, scores);
        if (extraRowsBatch > 0) {
            zig.cosineSimilarityBatch(queries, b, candidates, dim, 0, extraRowsBatch, scores);
        }
        return scores;
    }

    /** The same b × n scores through b single-query calls. */
    @Benchmark
    public float[] zigLoop(CpuTime cpu) {
        cpu.ops++;
        for (int q = 0; q < b; q++) {
            System.arraycopy(queries, q * dim, query, 0, dim);
            zig.cosineSimilarity(query, candidates, dim, 0, n, scores);
            if (extraRowsSingle > 0) {
                zig.cosineSimilarity(query, candidates, dim, 0, extraRowsSingle, scores);
            }
        }
        return scores;
    }

    @Benchmark
    public float[] javaBatch(CpuTime cpu) {
        cpu.ops++;
        java.cosineSimilarityBatch(queries, b, candidates, dim, 0, n, scores);
        return scores;
    }

    @Benchmark
    public float[] javaLoop(CpuTime cpu) {
        cpu.ops++;
        for (int q = 0; q < b; q++) {
            System.arraycopy(queries, q * dim, query, 0, dim);
            java.cosineSimilarity(query, candidates, dim, 0, n, scores);
        }
        return scores;
    }
}
