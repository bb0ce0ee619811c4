package io.engram.kernels.bench;

import io.engram.kernels.Platform;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The benchmarks' native helpers (native/src/bench.zig, libengram-bench): the ceilings every kernel result is
 * compared with. Packed only into the benchmark jar ({@code bench-lib/<triple>/<variant>/}); the best build this CPU
 * can run is loaded, so the FMA ceiling uses the widest vectors the machine has.
 */
public final class BenchNative {
    private static final String LIBRARY = "libengram-bench.so";
    private static final String LOADED;

    static {
        LOADED = load();
    }

    private BenchNative() {
    }

    /** Which build of the helper library is loaded, e.g. "x86_64-linux-gnu/x86_64_v4". */
    public static String loaded() {
        return LOADED;
    }

    private static String load() {
        Platform platform = Platform.current();
        List<String> tried = new ArrayList<>();
        for (String variant : platform.variants()) {
            String id = platform.triple() + "/" + variant;
            String resource = "bench-lib/" + id + "/" + LIBRARY;
            try (InputStream in = BenchNative.class.getClassLoader().getResourceAsStream(resource)) {
                if (in == null) {
                    tried.add(resource + " (not in the jar)");
                    continue;
                }
                Path dir = Files.createTempDirectory("engram-bench-");
                Path file = dir.resolve(LIBRARY);
                Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
                file.toFile().deleteOnExit();
                dir.toFile().deleteOnExit();
                System.load(file.toString());
                return id;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot extract " + resource, e);
            }
        }
        throw new IllegalStateException("no benchmark helper library for this machine: tried " + tried);
    }

    /** Reads every byte of both arrays once (either may be null); returns a non-negative checksum. */
    public static long memorySweep(float[] floats, long[] longs) {
        return memorySweep(floats, floats == null ? -1 : floats.length, longs, longs == null ? -1 : longs.length);
    }

    private static native long memorySweep(float[] floats, int floatsLength, long[] longs, int longsLength);

    /** {@code iterations} steps of independent FMA chains at the build's widest vector width; returns their sum. */
    public static native float fmaPeak(long iterations);

    /** Floating-point operations of one {@link #fmaPeak} iteration (2 per lane per FMA). */
    public static native long fmaFlopsPerIteration();
}
