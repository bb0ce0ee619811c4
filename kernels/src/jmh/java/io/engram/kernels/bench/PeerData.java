package io.engram.kernels.bench;

/**
 * {@code PeerData variant}: loads the Zig kernels as the benchmarks do and prints the build the loader picked.
 *
 * <p>Otherwise prints a checksum of the benchmark vectors ({@link BenchSupport#floats}) so the peer benchmark
 * (deploy/scripts/bench/peers.py), which regenerates them in numpy, can prove it measures the same data:
 * {@code java -cp engram-kernels-bench.jar io.engram.kernels.bench.PeerData SEED COUNT [SEED COUNT ...]} prints one
 * line {@code SEED COUNT CHECKSUM} per pair. The checksum is the sum over i of bits(v[i]) * (2i + 1), mod 2^64.
 */
public final class PeerData {
    private PeerData() {
    }

    public static void main(String[] args) {
        if (args.length == 1 && args[0].equals("variant")) {
            io.engram.kernels.BenchAccess.loadNative();
            System.out.println(io.engram.kernels.BenchAccess.loadedVariant());
            return;
        }
        if (args.length == 0 || args.length % 2 != 0) {
            System.err.println("usage: PeerData SEED COUNT [SEED COUNT ...]");
            System.exit(2);
        }
        for (int a = 0; a < args.length; a += 2) {
            long seed = Long.parseLong(args[a]);
            int n = Integer.parseInt(args[a + 1]);
            System.out.println(seed + " " + n + " " + Long.toUnsignedString(checksum(BenchSupport.floats(seed, n))));
        }
    }

    static long checksum(float[] v) {
        long sum = 0;
        for (int i = 0; i < v.length; i++) {
            sum += (Float.floatToRawIntBits(v[i]) & 0xffffffffL) * (2L * i + 1);
        }
        return sum;
    }
}
