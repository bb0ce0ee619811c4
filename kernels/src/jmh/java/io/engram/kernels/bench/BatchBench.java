package io.engram.kernels.bench;

import io.engram.kernels.MemoryKernels;
import io.engram.kernels.Norms;
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
 *
 * <p>{@code residency} says where the candidates live. {@code hot}: one block, re-read by every call, so a block
 * that fits in L3 (32 MiB here) is served from cache, which flatters the one-at-a-time baseline. {@code cold}: the
 * job's case when a TaskManager holds more spaces than the cache does: the calls rotate over enough blocks
 * (at least {@value #COLD_BYTES} bytes together) that every block comes from DRAM. The batch reads one block for
 * its b queries; the loop answers each of its b queries from the next block, as b queries of b different spaces
 * would be. Both compute b × n scores over the same block shape.
 *
 * <p>{@code zigNormedBatch}: the b cues through the stored-norm kernel (one call, the rows' norms stored with them).
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

    @Param({"hot", "cold"})
    public String residency;

    /** Four times this machine class's L3, so a rotated block has always been evicted before its next use. */
    static final long COLD_BYTES = 128L << 20;

    float[] queries;
    float[] query;
    float[][] blocks;
    float[][] blockNorms;
    float[] queryNorms;
    float[] topScores = new float[16];
    int[] topRows = new int[16];
    int next;
    float[] scores;
    MemoryKernels zig;
    MemoryKernels java;
    BenchSupport.Slowdown slowBatch;
    BenchSupport.Slowdown slowSingle;
    BenchSupport.Slowdown slowNormed;

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.checkNative();
        queries = BenchSupport.floats(3, b * dim);
        query = new float[dim];
        if (!residency.equals("hot") && !residency.equals("cold")) {
            throw new IllegalArgumentException("residency must be hot or cold: " + residency);
        }
        long blockBytes = 4L * n * dim;
        int count = residency.equals("hot") ? 1 : (int) Math.max(2, (COLD_BYTES + blockBytes - 1) / blockBytes);
        blocks = new float[count][];
        blockNorms = new float[count][];
        for (int i = 0; i < count; i++) {
            blocks[i] = BenchSupport.floats(2 + i, n * dim);
            blockNorms[i] = Norms.ofRows(blocks[i], dim, n);
        }
        queryNorms = Norms.ofRows(queries, dim, b);
        scores = new float[b * n];
        zig = BenchSupport.zig();
        java = BenchSupport.java();
        slowBatch = BenchSupport.slowdownOf("cosineSimilarityBatch");
        slowSingle = BenchSupport.slowdownOf("cosineSimilarity");
        slowNormed = BenchSupport.slowdownOf("cosineSimilarityNormed");
    }

    /** The next candidate block: always the same one when hot, the least recently used one when cold. */
    private float[] nextBlock() {
        float[] block = blocks[next];
        next = next + 1 == blocks.length ? 0 : next + 1;
        return block;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        zig.close();
    }

    @Benchmark
    public float[] zigBatch(CpuTime cpu) {
        cpu.ops++;
        float[] candidates = nextBlock();
        long t0 = slowBatch.start();
        zig.cosineSimilarityBatch(queries, b, candidates, dim, 0, n, scores);
        slowBatch.stretch(t0);
        return scores;
    }

    /** The b cues against the next block through the stored-norm kernel, in one call. */
    @Benchmark
    public float[] zigNormedBatch(CpuTime cpu) {
        cpu.ops++;
        int i = next;
        float[] candidates = nextBlock();
        long t0 = slowNormed.start();
        zig.cosineSimilarityNormed(queries, queryNorms, b, candidates, blockNorms[i], dim, 0, n, scores);
        slowNormed.stretch(t0);
        return scores;
    }

    /** {@link #zigNormedBatch} plus the 16 best rows of each cue, selected in Java: a peer's batched top-k search. */
    @Benchmark
    public long zigNormedBatchTop16(CpuTime cpu) {
        zigNormedBatch(cpu);
        long sum = 0;
        for (int q = 0; q < b; q++) {
            sum += BenchSupport.topK(scores, q * n, n, 16, topScores, topRows);
        }
        return sum;
    }

    /** The same b × n scores through b single-query calls. */
    @Benchmark
    public float[] zigLoop(CpuTime cpu) {
        cpu.ops++;
        for (int q = 0; q < b; q++) {
            System.arraycopy(queries, q * dim, query, 0, dim);
            float[] candidates = nextBlock();
            long t0 = slowSingle.start();
            zig.cosineSimilarity(query, candidates, dim, 0, n, scores);
            slowSingle.stretch(t0);
        }
        return scores;
    }

    @Benchmark
    public float[] javaBatch(CpuTime cpu) {
        cpu.ops++;
        java.cosineSimilarityBatch(queries, b, nextBlock(), dim, 0, n, scores);
        return scores;
    }

    @Benchmark
    public float[] javaLoop(CpuTime cpu) {
        cpu.ops++;
        for (int q = 0; q < b; q++) {
            System.arraycopy(queries, q * dim, query, 0, dim);
            java.cosineSimilarity(query, nextBlock(), dim, 0, n, scores);
        }
        return scores;
    }
}
