package io.engram.kernels;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * The native library this JVM loaded, as reported in status output and logs.
 *
 * @param path             the file handed to {@link System#load}: the extracted copy, or the explicit path
 * @param sha256           SHA-256 of that file as read from disk, 64 lower-case hex digits
 * @param triple           {@code arch-os-abi} of the library
 * @param variant          {@code x86_64_v4}, {@code x86_64_v3} or {@code baseline} from the jar; for an explicit path the jar's variant
 *                         with the same checksum if there is one, else {@code custom}
 * @param zigVersion       the Zig version recorded in the jar, or {@code unknown} for a custom explicit library
 * @param abiVersion       what the library's {@code abiVersion()} returned (always {@link ZigNative#ABI_VERSION})
 * @param compiledFeatures the library's {@code compiledFeatures()} bits ({@code ZigNative.FEATURE_*})
 * @param source           {@link #SOURCE_JAR} or {@link #SOURCE_EXPLICIT_PATH}
 */
public record LoadedLibrary(Path path, String sha256, String triple, String variant, String zigVersion,
                            int abiVersion, int compiledFeatures, String source) {
    public static final String SOURCE_JAR = "jar";
    public static final String SOURCE_EXPLICIT_PATH = "explicit path";
    public static final String CUSTOM_VARIANT = "custom";
    public static final String UNKNOWN_ZIG_VERSION = "unknown";

    public LoadedLibrary {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(triple, "triple");
        Objects.requireNonNull(variant, "variant");
        Objects.requireNonNull(zigVersion, "zigVersion");
        if (sha256 == null || !sha256.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("sha256 must be 64 lower-case hex digits, got " + sha256);
        }
        if (!SOURCE_JAR.equals(source) && !SOURCE_EXPLICIT_PATH.equals(source)) {
            throw new IllegalArgumentException("source must be '" + SOURCE_JAR + "' or '" + SOURCE_EXPLICIT_PATH
                    + "', got " + source);
        }
    }

    /** The {@link #compiledFeatures()} bits by name, e.g. {@code [avx2, fma]}. */
    public List<String> compiledFeatureNames() {
        return featureNames(compiledFeatures);
    }

    static List<String> featureNames(int bits) {
        List<String> names = new ArrayList<>();
        if ((bits & ZigNative.FEATURE_AVX2) != 0) {
            names.add("avx2");
        }
        if ((bits & ZigNative.FEATURE_FMA) != 0) {
            names.add("fma");
        }
        if ((bits & ZigNative.FEATURE_NEON) != 0) {
            names.add("neon");
        }
        if ((bits & ZigNative.FEATURE_AVX512) != 0) {
            names.add("avx512");
        }
        return List.copyOf(names);
    }

    /** One line for logs and status: what was loaded, from where, and its checksum. */
    public String describe() {
        return "engram native library " + triple + "/" + variant + " (zig " + zigVersion + ", ABI " + abiVersion
                + ", features " + compiledFeatureNames() + ", sha256 " + sha256 + ") from " + source + " " + path;
    }
}
