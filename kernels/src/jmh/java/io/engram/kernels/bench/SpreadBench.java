package io.engram.kernels.bench;

import io.engram.kernels.CsrGraph;
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
 * {@code spreading_activation_<n>n}: a random CSR graph (1k nodes with out-degree 8, or 100k nodes with out-degree
 * 16; uniform targets, weights uniform in [0, 1)), 4 seeds at activation 1, 3 hops, hop decay 0.8, threshold 0.01.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(2)
@State(Scope.Thread)
public class SpreadBench {
    static final int SEEDS = 4;
    static final int HOPS = 3;
    static final float HOP_DECAY = 0.8f;
    static final float THRESHOLD = 0.01f;

    @Param({"1000", "100000"})
    public int nodes;

    CsrGraph graph;
    int[] seedNodes;
    float[] seedActivations;
    float[] activation;
    int[] firstHop;
    MemoryKernels zig;
    MemoryKernels java;
    BenchSupport.Slowdown slow;

    static int degree(int nodes) {
        return nodes <= 1000 ? 8 : 16;
    }

    @Setup(Level.Trial)
    public void setUp() {
        BenchSupport.checkNative();
        int d = degree(nodes);
        int m = nodes * d;
        SplittableRandom r = new SplittableRandom(5);
        int[] src = new int[m];
        int[] dst = new int[m];
        float[] w = new float[m];
        for (int e = 0; e < m; e++) {
            src[e] = e / d;
            dst[e] = r.nextInt(nodes);
            w[e] = (float) r.nextDouble();
        }
        graph = CsrGraph.fromEdges(nodes, src, dst, w, m);
        seedNodes = new int[SEEDS];
        seedActivations = new float[SEEDS];
        for (int i = 0; i < SEEDS; i++) {
            seedNodes[i] = r.nextInt(nodes);
            seedActivations[i] = 1f;
        }
        activation = new float[nodes];
        firstHop = new int[nodes];
        zig = BenchSupport.zig();
        java = BenchSupport.java();
        slow = BenchSupport.slowdownOf("spreadActivation");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        zig.close();
    }

    @Benchmark
    public float[] zig(CpuTime cpu) {
        cpu.ops++;
        long t0 = slow.start();
        zig.spreadActivation(graph, seedNodes, seedActivations, SEEDS, HOPS, HOP_DECAY, THRESHOLD, activation,
                firstHop);
        slow.stretch(t0);
        return activation;
    }

    @Benchmark
    public float[] java(CpuTime cpu) {
        cpu.ops++;
        java.spreadActivation(graph, seedNodes, seedActivations, SEEDS, HOPS, HOP_DECAY, THRESHOLD, activation,
                firstHop);
        return activation;
    }
}
