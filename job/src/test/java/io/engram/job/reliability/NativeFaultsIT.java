package io.engram.job.reliability;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.engram.job.config.EngramOptions;
import io.engram.job.config.EngramSettings;
import io.engram.kernels.ArenaConfig;
import io.engram.kernels.ArenaOverflowError;
import io.engram.kernels.ArenaOverflowException;
import io.engram.kernels.KernelMode;
import io.engram.kernels.KernelStatus;
import io.engram.kernels.Kernels;
import io.engram.kernels.KernelsConfig;
import io.engram.kernels.MemoryKernels;
import io.engram.kernels.NativeLoadException;
import io.engram.kernels.OverflowStrategy;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Native-library faults. Loader faults run in a child JVM each (the loader caches its outcome per JVM): a corrupt
 * library (one byte flipped, sidecar .sha256 of the original) and a missing one, given as engram.kernels.library-path,
 * under mode auto (must run Java and say why) and mode zig (must fail fast, naming the cause). The arena overflow
 * storm runs in this JVM on the library in the jar.
 */
class NativeFaultsIT {
    private static final Logger LOG = LoggerFactory.getLogger(NativeFaultsIT.class);
    private static final long CHILD_TIMEOUT_S = 180;

    /** Whether the jar's Zig library loads here; empty means it does. In a -Pjava-only build: the reason. */
    private static Optional<NativeLoadException> zigMissing;

    @BeforeAll
    static void probe() {
        Configuration c = new Configuration();
        c.set(EngramOptions.KERNEL_MODE, "zig");
        try {
            Kernels.status(new EngramSettings(c).kernelsConfig());
            zigMissing = Optional.empty();
        } catch (NativeLoadException e) {
            assertThat(e.javaOnlyBuild()).as("the Zig library must load unless this is a -Pjava-only build: %s",
                    e.getMessage()).isTrue();
            zigMissing = Optional.of(e);
        }
        LOG.info("zig kernels in this build: {}", zigMissing.map(e -> "UNAVAILABLE (" + e.problem() + ")")
                .orElse("available"));
    }

    // ----- child JVM -----------------------------------------------------------------------------------------------

    /** Entry point of the child JVM: args = mode, library path. Prints one RESULT line. */
    public static final class Child {
        public static void main(String[] args) {
            Configuration c = new Configuration();
            c.set(EngramOptions.KERNEL_MODE, args[0]);
            c.setString(EngramOptions.LIBRARY_PATH.key(), args[1]);
            long t = System.nanoTime();
            try {
                KernelsConfig kc = new EngramSettings(c).kernelsConfig();
                KernelStatus st = Kernels.status(kc);
                MemoryKernels k = Kernels.open(kc);
                float[] s = new float[1];
                k.cosineSimilarity(new float[] {1, 0}, new float[] {1, 0}, 2, 0, 1, s);
                k.close();
                System.out.println("RESULT ok active=" + st.activeMode().label() + " kernels=" + k.mode().label()
                        + " score=" + s[0] + " ms=" + (System.nanoTime() - t) / 1_000_000 + " reason="
                        + st.reason().replace('\n', ' '));
            } catch (NativeLoadException e) {
                System.out.println("RESULT failed ms=" + (System.nanoTime() - t) / 1_000_000 + " message="
                        + e.getMessage().replace('\n', ' ').replace('\r', ' '));
            }
            System.out.flush();
        }
    }

    record ChildRun(String resultLine, String output, long wallMs) {
    }

    private static ChildRun child(String mode, Path library) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx128m", "-XX:TieredStopAtLevel=1",
                "-cp", System.getProperty("java.class.path"), Child.class.getName(), mode, library.toString()));
        long t = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out;
        try {
            if (!p.waitFor(CHILD_TIMEOUT_S, TimeUnit.SECONDS)) {
                throw new AssertionError("child JVM (" + mode + ", " + library + ") did not end in " + CHILD_TIMEOUT_S
                        + " s");
            }
            out = p.getInputStream().readAllBytes();
        } finally {
            p.destroyForcibly();
        }
        String text = new String(out, StandardCharsets.UTF_8);
        long wall = (System.nanoTime() - t) / 1_000_000;
        assertThat(p.exitValue()).as("child exit code; output:\n%s", text).isZero();
        String line = text.lines().filter(l -> l.startsWith("RESULT ")).findFirst()
                .orElseThrow(() -> new AssertionError("no RESULT line from the child:\n" + text));
        LOG.info("child mode={} lib={}: {} (wall {} ms)", mode, library.getFileName(), line, wall);
        return new ChildRun(line, text, wall);
    }

    /** The real library of this platform from the native build, or empty (e.g. -Pjava-only without a native build). */
    private static Optional<Path> realLibrary() throws IOException {
        Path root = Path.of(System.getProperty("user.dir")).resolve("../native/target/lib").normalize();
        if (!Files.isDirectory(root)) {
            return Optional.empty();
        }
        String arch = System.getProperty("os.arch").equals("aarch64") ? "aarch64" : "x86_64";
        try (Stream<Path> s = Files.walk(root)) {
            return s.filter(f -> f.getFileName().toString().equals("libengram.so"))
                    .filter(f -> f.toString().contains(arch + "-linux") && f.toString().contains("baseline"))
                    .findFirst();
        }
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    @Test
    void corruptLibraryAutoRunsJavaAndSaysWhyZigFailsFastNamingTheChecksum(@TempDir Path dir) throws Exception {
        Optional<Path> real = realLibrary();
        byte[] original;
        if (real.isPresent()) {
            original = Files.readAllBytes(real.get());
        } else {
            // no native build here (java-only): the checksum check runs before any load, a stand-in file will do
            original = new byte[64 * 1024];
            new Random(7).nextBytes(original);
        }
        LOG.info("corrupting {} ({} bytes)", real.map(Path::toString).orElse("a stand-in file"), original.length);
        byte[] corrupt = original.clone();
        corrupt[corrupt.length / 2] ^= 0x01;
        Path lib = dir.resolve("libengram.so");
        Files.write(lib, corrupt);
        Files.writeString(lib.resolveSibling("libengram.so.sha256"), sha256(original) + "  libengram.so\n");

        ChildRun auto = child("auto", lib);
        assertThat(auto.resultLine()).startsWith("RESULT ok active=java kernels=java score=1.0")
                .contains("auto fell back to Java").contains("checksum mismatch").contains(sha256(original));
        ChildRun zig = child("zig", lib);
        assertThat(zig.resultLine()).startsWith("RESULT failed").contains("checksum mismatch")
                .contains(lib.toString()).contains(sha256(original)).contains(sha256(corrupt));
        LOG.info("corrupt library: auto child wall {} ms, zig child wall {} ms", auto.wallMs(), zig.wallMs());
    }

    @Test
    void missingLibraryAutoRunsJavaAndSaysWhyZigFailsFast(@TempDir Path dir) throws Exception {
        Path lib = dir.resolve("nowhere/libengram.so");
        ChildRun auto = child("auto", lib);
        assertThat(auto.resultLine()).startsWith("RESULT ok active=java kernels=java score=1.0")
                .contains("auto fell back to Java").contains(lib.toString()).contains("no such file");
        ChildRun zig = child("zig", lib);
        assertThat(zig.resultLine()).startsWith("RESULT failed").contains(lib.toString()).contains("no such file");
        LOG.info("missing library: auto child wall {} ms, zig child wall {} ms", auto.wallMs(), zig.wallMs());
    }

    // ----- arena overflow storm (in this JVM) ------------------------------------------------------------------------

    private static final int CALLS = 2000;
    /** 4 KiB arena: a dim-16 cosine (64 B scratch) fits, a dim-2048 one (8 KiB scratch) does not. */
    private static final int SMALL_DIM = 16;
    private static final int BIG_DIM = 2048;

    @ParameterizedTest(name = "overflow={0}")
    @EnumSource(OverflowStrategy.class)
    void arenaOverflowStorm(OverflowStrategy strategy) {
        KernelsConfig kc = new KernelsConfig(KernelMode.ZIG, new ArenaConfig(ArenaConfig.MIN_CAPACITY, strategy),
                Optional.empty(), Optional.empty());
        if (zigMissing.isPresent()) {
            // Java-only build: mode zig must refuse at once, and say so
            assertThatThrownBy(() -> Kernels.open(kc)).isInstanceOf(NativeLoadException.class)
                    .hasMessageContaining("Java-only build")
                    .matches(e -> ((NativeLoadException) e).javaOnlyBuild());
            LOG.info("arena storm {}: java-only build, mode zig refused as expected", strategy.label());
            return;
        }
        Random rnd = new Random(42);
        MemoryKernels java = Kernels.open(KernelsConfig.of(KernelMode.JAVA));
        long t = System.nanoTime();
        int overflowing = 0;
        int thrown = 0;
        int exactJava = 0;
        float maxFitDiff = 0f;
        MemoryKernels zig = Kernels.open(kc);
        try {
            assertThat(zig.mode()).isEqualTo(KernelMode.ZIG);
            for (int i = 0; i < CALLS; i++) {
                boolean big = i % 3 != 0; // two of three calls overflow
                int dim = big ? BIG_DIM : SMALL_DIM;
                int count = 4;
                float[] q = randomVec(rnd, dim);
                float[] cands = randomVec(rnd, dim * count);
                float[] z = new float[count];
                float[] j = new float[count];
                java.cosineSimilarity(q, cands, dim, 0, count, j);
                if (big) {
                    overflowing++;
                }
                try {
                    zig.cosineSimilarity(q, cands, dim, 0, count, z);
                } catch (ArenaOverflowException e) {
                    assertThat(strategy).isEqualTo(OverflowStrategy.FAIL);
                    assertThat(big).isTrue();
                    assertThat(e.neededBytes()).isGreaterThan(e.capacityBytes());
                    thrown++;
                    continue;
                } catch (ArenaOverflowError e) {
                    assertThat(strategy).isEqualTo(OverflowStrategy.FAIL_TASK);
                    assertThat(big).isTrue();
                    thrown++;
                    continue;
                }
                assertThat(big && strategy != OverflowStrategy.FALLBACK).as("call %d returned normally", i).isFalse();
                if (big) {
                    assertThat(z).as("fallback result of call %d equals Java", i).containsExactly(j);
                    exactJava++;
                } else {
                    for (int x = 0; x < count; x++) {
                        maxFitDiff = Math.max(maxFitDiff, Math.abs(z[x] - j[x]));
                    }
                }
            }
            long overflows = zig.arenaStats().overflows();
            long fallbacks = zig.arenaStats().fallbacks();
            assertThat(overflows).as("overflow count").isEqualTo(overflowing);
            switch (strategy) {
                case FALLBACK -> {
                    assertThat(thrown).isZero();
                    assertThat(exactJava).isEqualTo(overflowing);
                    assertThat(fallbacks).as("fallback count").isEqualTo(overflowing);
                }
                case FAIL, FAIL_TASK -> assertThat(thrown).isEqualTo(overflowing);
                default -> throw new AssertionError(strategy);
            }
            assertThat(maxFitDiff).as("in-arena native results vs Java").isLessThan(1e-5f);
            LOG.info("arena storm {}: {} calls, {} overflows counted (expected {}), {} thrown, {} fallbacks equal "
                            + "to Java, max |zig-java| of fitting calls {}, {} ms", strategy.label(), CALLS, overflows,
                    overflowing, thrown, exactJava, maxFitDiff, (System.nanoTime() - t) / 1_000_000);
        } finally {
            zig.close();
        }
    }

    private static float[] randomVec(Random r, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) r.nextGaussian();
        }
        return v;
    }
}
