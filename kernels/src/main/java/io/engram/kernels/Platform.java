package io.engram.kernels;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * The machine the JVM runs on, in the terms the native build uses: {@code <arch>-<os>-<abi>} names a directory of
 * the jar ({@code lib/x86_64-linux-gnu/...}), and {@link #variants()} says which CPU variants of that library this
 * machine can execute, best first.
 *
 * <p>Everything is derived from plain strings by {@link #from}, so tests can describe any machine; only
 * {@link #current()} reads system properties and files.
 *
 * @param os          {@code linux} or {@code macos}; anything else is the lower-cased {@code os.name} without spaces
 * @param arch        {@code x86_64} or {@code aarch64}; anything else is the lower-cased {@code os.arch}
 * @param abi         {@code gnu} (glibc Linux), {@code musl} (musl Linux, not shipped), {@code none} (macOS) or
 *                    {@code unknown}
 * @param cpuFeatures the CPU features this class tracks that the CPU reports (see {@link #TRACKED_FEATURES})
 */
public record Platform(String os, String arch, String abi, Set<String> cpuFeatures) {
    public static final String LINUX = "linux";
    public static final String MACOS = "macos";
    public static final String X86_64 = "x86_64";
    public static final String AARCH64 = "aarch64";
    public static final String GNU = "gnu";
    public static final String MUSL = "musl";
    public static final String NO_ABI = "none";
    public static final String UNKNOWN = "unknown";

    public static final String VARIANT_X86_64_V4 = "x86_64_v4";
    public static final String VARIANT_X86_64_V3 = "x86_64_v3";
    public static final String VARIANT_BASELINE = "baseline";

    /**
     * Everything the x86-64-v3 level guarantees that /proc/cpuinfo shows. Not just avx2+fma: once the target level
     * allows them, the compiler emits BMI1/BMI2/LZCNT/MOVBE/F16C anywhere (shlx, andn, tzcnt...), and a CPU or a
     * hypervisor that masks one of them would die with SIGILL, which takes the whole TaskManager down. A fallback to
     * baseline is cheap; a crash is not.
     */
    static final Set<String> X86_64_V3_FEATURES =
            Set.of("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "lzcnt", "movbe");

    /**
     * The x86-64-v4 level: v3 plus AVX-512 F, BW, CD, DQ and VL. Its build runs the kernels on 512-bit vectors, which
     * measured faster on an AVX-512 Xeon (docs/benchmarks/peers.md); Zen 4 executes them as two 256-bit halves, where
     * they cost the same as v3's.
     */
    static final Set<String> X86_64_V4_FEATURES = union(X86_64_V3_FEATURES,
            Set.of("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"));

    /** The features reported in {@link #cpuFeatures()}: the operator-visible ones plus the v3 and v4 prerequisites. */
    static final Set<String> TRACKED_FEATURES = union(X86_64_V4_FEATURES, Set.of("sse4_2", "neon"));

    private static final Path PROC_CPUINFO = Path.of("/proc/cpuinfo");
    private static final Path PROC_SELF_MAPS = Path.of("/proc/self/maps");

    public Platform {
        Objects.requireNonNull(os, "os");
        Objects.requireNonNull(arch, "arch");
        Objects.requireNonNull(abi, "abi");
        // Sorted and immutable: stable in messages and status output, and the record stays a value.
        cpuFeatures = Collections.unmodifiableSortedSet(new TreeSet<>(Objects.requireNonNull(cpuFeatures)));
    }

    /** The platform of this JVM: os.name, os.arch, and on Linux /proc/cpuinfo and the libc actually mapped. */
    public static Platform current() {
        String osName = System.getProperty("os.name", "");
        String osArch = System.getProperty("os.arch", "");
        boolean linux = LINUX.equals(normalizeOs(osName));
        String cpuinfo = linux ? readCpuFeatureLine() : "";
        boolean musl = linux && runsOnMusl();
        return from(osName, osArch, cpuinfo, musl);
    }

    /**
     * Builds a platform from the raw inputs, without touching the machine.
     *
     * @param osName  the {@code os.name} system property
     * @param osArch  the {@code os.arch} system property
     * @param cpuinfo /proc/cpuinfo text (or just its {@code flags}/{@code Features} line); ignored off Linux
     * @param musl    whether the process runs on musl libc; ignored off Linux
     */
    public static Platform from(String osName, String osArch, String cpuinfo, boolean musl) {
        String os = normalizeOs(osName == null ? "" : osName);
        String arch = normalizeArch(osArch == null ? "" : osArch);
        String abi = switch (os) {
            case LINUX -> musl ? MUSL : GNU;
            case MACOS -> NO_ABI;
            default -> UNKNOWN;
        };
        // Only Linux has a cpuinfo we parse; elsewhere we know nothing, so we only offer baseline code.
        Set<String> features = LINUX.equals(os) ? parseCpuFeatures(cpuinfo == null ? "" : cpuinfo) : Set.of();
        return new Platform(os, arch, abi, features);
    }

    /** {@code arch-os-abi}, the directory name under {@code lib/} in the jar. */
    public String triple() {
        return arch + "-" + os + "-" + abi;
    }

    /** Whether engram builds a native library for this os/arch/abi at all. */
    public boolean supported() {
        return unsupportedReason().isEmpty();
    }

    /** Why no native library is built for this platform, if that is the case. */
    public Optional<String> unsupportedReason() {
        if (!LINUX.equals(os) && !MACOS.equals(os)) {
            return Optional.of("operating system '" + os + "' is not supported (only linux and macos)");
        }
        if (!X86_64.equals(arch) && !AARCH64.equals(arch)) {
            return Optional.of("CPU architecture '" + arch + "' is not supported (only x86_64 and aarch64)");
        }
        if (MUSL.equals(abi)) {
            return Optional.of("musl libc is not supported (the Linux libraries are built against glibc)");
        }
        return Optional.empty();
    }

    /**
     * The library variants this CPU can run, preferred first. The last entry is always {@code baseline} for a known
     * architecture; an unknown architecture gets none.
     */
    public List<String> variants() {
        if (X86_64.equals(arch)) {
            if (cpuFeatures.containsAll(X86_64_V4_FEATURES)) {
                return List.of(VARIANT_X86_64_V4, VARIANT_X86_64_V3, VARIANT_BASELINE);
            }
            return cpuFeatures.containsAll(X86_64_V3_FEATURES)
                    ? List.of(VARIANT_X86_64_V3, VARIANT_BASELINE)
                    : List.of(VARIANT_BASELINE);
        }
        if (AARCH64.equals(arch)) {
            // NEON (ASIMD) is mandatory on AArch64, so the baseline build already uses it.
            return List.of(VARIANT_BASELINE);
        }
        return List.of();
    }

    private static Set<String> union(Set<String> a, Set<String> b) {
        Set<String> all = new TreeSet<>(a);
        all.addAll(b);
        return Set.copyOf(all);
    }

    public boolean hasFeature(String feature) {
        return cpuFeatures.contains(feature);
    }

    static String normalizeOs(String osName) {
        String lower = osName.trim().toLowerCase(Locale.ROOT);
        if (lower.startsWith("linux")) {
            return LINUX;
        }
        if (lower.startsWith("mac") || lower.startsWith("darwin")) {
            return MACOS;
        }
        String cleaned = lower.replaceAll("[^a-z0-9_]", "");
        return cleaned.isEmpty() ? UNKNOWN : cleaned;
    }

    static String normalizeArch(String osArch) {
        String lower = osArch.trim().toLowerCase(Locale.ROOT);
        return switch (lower) {
            case "amd64", "x86_64", "x86-64" -> X86_64;
            case "aarch64", "arm64" -> AARCH64;
            default -> {
                String cleaned = lower.replaceAll("[^a-z0-9_]", "");
                yield cleaned.isEmpty() ? UNKNOWN : cleaned;
            }
        };
    }

    /**
     * Reads the first {@code flags} (x86) or {@code Features} (ARM) line. All cores of one machine report the same
     * set in practice, and stopping early keeps this cheap on machines with hundreds of cores.
     */
    static SortedSet<String> parseCpuFeatures(String cpuinfo) {
        SortedSet<String> features = new TreeSet<>();
        for (String line : cpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                continue;
            }
            String key = line.substring(0, colon).trim();
            if (key.equals("flags") || key.equals("Features")) {
                for (String flag : line.substring(colon + 1).trim().split("\\s+")) {
                    String name = canonicalFeature(flag.toLowerCase(Locale.ROOT));
                    if (TRACKED_FEATURES.contains(name)) {
                        features.add(name);
                    }
                }
                break;
            }
        }
        return features;
    }

    /** Linux names some features differently from the ISA manuals; map them to one name. */
    private static String canonicalFeature(String flag) {
        return switch (flag) {
            case "asimd" -> "neon"; // AArch64 kernels call Advanced SIMD "asimd"; 32-bit ARM says "neon".
            case "abm" -> "lzcnt"; // Linux reports LZCNT as "abm" on both Intel and AMD.
            default -> flag;
        };
    }

    private static String readCpuFeatureLine() {
        try (BufferedReader reader = Files.newBufferedReader(PROC_CPUINFO, StandardCharsets.ISO_8859_1)) {
            String line;
            while ((line = reader.readLine()) != null) {
                if (line.startsWith("flags") || line.startsWith("Features")) {
                    return line;
                }
            }
            return "";
        } catch (IOException | UncheckedIOException e) {
            return ""; // No cpuinfo (sandbox, unusual kernel): assume nothing, which means baseline code only.
        }
    }

    /**
     * Whether this process runs on musl. The libc mapped into the JVM is the truth; the mere presence of
     * /lib/ld-musl-* is not (Debian's musl package installs it next to glibc), so that is only the fallback when
     * /proc/self/maps cannot be read.
     */
    private static boolean runsOnMusl() {
        try (BufferedReader reader = Files.newBufferedReader(PROC_SELF_MAPS, StandardCharsets.ISO_8859_1)) {
            boolean glibc = false;
            String line;
            while ((line = reader.readLine()) != null) {
                if (line.contains("/ld-musl-") || line.contains("/libc.musl-")) {
                    return true;
                }
                glibc |= line.contains("/libc.so.6");
            }
            if (glibc) {
                return false;
            }
        } catch (IOException | UncheckedIOException e) {
            // fall through to the file-system check
        }
        return muslLoaderInstalled();
    }

    private static boolean muslLoaderInstalled() {
        try (DirectoryStream<Path> loaders = Files.newDirectoryStream(Path.of("/lib"), "ld-musl-*")) {
            return loaders.iterator().hasNext();
        } catch (IOException | UncheckedIOException e) {
            return false;
        }
    }
}
