package io.engram.kernels.bench;

import io.engram.kernels.BenchAccess;
import io.engram.kernels.MemoryKernels;
import io.engram.kernels.Norms;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.apache.lucene.util.VectorUtil;
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
 * {@code vector_similarity_<dim>d_<n>c}: one query against n candidate rows (row-major float[]), Zig vs Java vs
 * Lucene's VectorUtil.cosine, and the machine ceiling: a native read-only sweep over the same candidate bytes.
 * {@code zigNormed}/{@code javaNormed}: the stored-norm kernel on the same rows with their norms (computed once in
 * set-up, as the job stores them); {@code zigNormedTop16}: that plus selecting the 16 best in Java, the shape a
 * peer's top-k search has.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 2, jvmArgsAppend = {"-Xms4g", "-Xmx8g"})
@State(Scope.Thread)
public class SimilarityBench {
    @Param({"384", "768", "1536"})
    public int dim;

    @Param({"1000", "10000", "100000"})
    public int n;

    float[] query;
    float[] candidates;
    float[] scores;
    float[] queryNorm;
    float[] norms;
    float[] topScores = new float[16];
    int[] topRows = new int[16];
    MemoryKernels zig;
    MemoryKernels java;
    BenchSupport.Slowdown slow;
    BenchSupport.Slowdown slowNormed;

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.checkNative();
        query = BenchSupport.floats(1, dim);
        candidates = BenchSupport.floats(2, n * dim);
        scores = new float[n];
        zig = BenchSupport.zig();
        java = BenchSupport.java();
        slow = BenchSupport.slowdownOf("cosineSimilarity");
        slowNormed = BenchSupport.slowdownOf("cosineSimilarityNormed");
        queryNorm = new float[] {Norms.of(query)};
        norms = Norms.ofRows(candidates, dim, n);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        zig.close();
    }

    @Benchmark
    public float[] zig(CpuTime cpu) {
        cpu.ops++;
        long t0 = slow.start();
        zig.cosineSimilarity(query, candidates, dim, 0, n, scores);
        slow.stretch(t0);
        return scores;
    }

    @Benchmark
    public float[] java(CpuTime cpu) {
        cpu.ops++;
        java.cosineSimilarity(query, candidates, dim, 0, n, scores);
        return scores;
    }

    @Benchmark
    public float[] zigNormed(CpuTime cpu) {
        cpu.ops++;
        long t0 = slowNormed.start();
        zig.cosineSimilarityNormed(query, queryNorm, 1, candidates, norms, dim, 0, n, scores);
        slowNormed.stretch(t0);
        return scores;
    }

    @Benchmark
    public long zigNormedTop16(CpuTime cpu) {
        cpu.ops++;
        long t0 = slowNormed.start();
        zig.cosineSimilarityNormed(query, queryNorm, 1, candidates, norms, dim, 0, n, scores);
        slowNormed.stretch(t0);
        return BenchSupport.topK(scores, 0, n, 16, topScores, topRows);
    }

    @Benchmark
    public float[] javaNormed(CpuTime cpu) {
        cpu.ops++;
        java.cosineSimilarityNormed(query, queryNorm, 1, candidates, norms, dim, 0, n, scores);
        return scores;
    }

    /** Reads the same bytes as one similarity call and nothing else. */
    @Benchmark
    public long ceiling(CpuTime cpu) {
        cpu.ops++;
        return BenchAccess.memorySweep(candidates, null);
    }

    /** Lucene needs one float[] per vector. */
    @State(Scope.Thread)
    public static class LuceneRows {
        float[][] rows;

        @Setup(Level.Trial)
        public void setUp(SimilarityBench b) {
            rows = new float[b.n][];
            for (int i = 0; i < b.n; i++) {
                rows[i] = Arrays.copyOfRange(b.candidates, i * b.dim, (i + 1) * b.dim);
            }
        }
    }

    /** Lucene 9.12 VectorUtil.cosine, plain JDK 17 (Lucene's scalar implementation). */
    @Benchmark
    public float[] lucene(LuceneRows l, CpuTime cpu) {
        cpu.ops++;
        float[][] rows = l.rows;
        for (int i = 0; i < rows.length; i++) {
            scores[i] = VectorUtil.cosine(query, rows[i]);
        }
        return scores;
    }

    /**
     * The same with {@code --add-modules jdk.incubator.vector}: Lucene 9.12 only uses its Panama implementation on
     * JDK 20 and newer, so on JDK 17 this measures whether the flag alone changes anything.
     */
    @Benchmark
    @Fork(value = 2, jvmArgsAppend = {"-Xms4g", "-Xmx8g", "--add-modules", "jdk.incubator.vector"})
    public float[] luceneIncubator(LuceneRows l, CpuTime cpu) {
        return lucene(l, cpu);
    }
}
