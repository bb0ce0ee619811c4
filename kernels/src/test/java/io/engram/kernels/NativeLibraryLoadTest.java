package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The real thing: loads the library from the kernels resources on the test classpath into this JVM. A JVM binds
 * JNI methods once, so every real-load assertion lives here, behind one {@link NativeLibrary#loadDefault} call with
 * the production arguments (the same ones {@link Kernels} uses, so other test classes in this JVM agree with it).
 */
class NativeLibraryLoadTest {
    private static final String JAVA_ONLY_PROPERTY = "engram.build.javaOnly";

    private static LoadedLibrary library;
    private static RuntimeException failure;

    @BeforeAll
    static void loadOnceForThisJvm() {
        try {
            library = NativeLibrary.loadDefault(Optional.empty(), Optional.empty());
        } catch (RuntimeException e) {
            failure = e;
        }
    }

    // ---------------------------------------------------------------------------------------- Java-only build

    @Test
    @EnabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void javaOnlyBuildHasNoLibraryAndSaysSo() {
        assertThat(failure).isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("this is a Java-only build: no native library in the jar");
        assertThat(((NativeLoadException) failure).javaOnlyBuild()).isTrue();
        assertThat(NativeLibrary.class.getClassLoader().getResource(NativeLibrary.PROPERTIES_RESOURCE)).isNull();
        assertThat(NativeLibrary.loaded()).isEmpty();
    }

    @Test
    @EnabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void javaOnlyFailureIsCachedNotRetried() {
        assertThatThrownBy(() -> NativeLibrary.loadDefault(Optional.empty(), Optional.empty())).isSameAs(failure);
    }

    // ------------------------------------------------------------------------------------------- native build

    @Test
    @DisabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void loadsFromTheJarResourcesOnThisMachine() {
        assertLoaded();
        assertThat(library.source()).isEqualTo(LoadedLibrary.SOURCE_JAR);
        assertThat(library.triple()).isEqualTo(Platform.current().triple());
        assertThat(NativeLibrary.loaded()).containsSame(library);
    }

    @Test
    @DisabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void picksTheBestVariantThisCpuCanRun() throws IOException {
        assertLoaded();
        assertThat(library.variant()).isEqualTo(Platform.current().variants().get(0));
        Set<String> flags = rawCpuFlags();
        if (Platform.current().arch().equals(Platform.X86_64) && flags.contains("avx2") && flags.contains("fma")) {
            // Read /proc/cpuinfo independently of Platform: with AVX2+FMA (and, as on every such real CPU, the rest
            // of x86-64-v3) the v3 build must be the one that runs.
            boolean fullV3 = flags.containsAll(Set.of("avx", "bmi1", "bmi2", "f16c", "abm", "movbe"));
            boolean fullV4 = fullV3 && flags.containsAll(Set.of("avx512f", "avx512bw", "avx512cd", "avx512dq",
                    "avx512vl"));
            assertThat(library.variant()).isEqualTo(fullV4 ? "x86_64_v4" : fullV3 ? "x86_64_v3" : "baseline");
        }
    }

    @Test
    @DisabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void abiVersionAndCompiledFeaturesMatchTheVariant() {
        assertLoaded();
        assertThat(library.abiVersion()).isEqualTo(ZigNative.ABI_VERSION);
        assertThat(ZigNative.abiVersion()).as("the JNI functions are bound").isEqualTo(ZigNative.ABI_VERSION);
        assertThat(ZigNative.compiledFeatures()).isEqualTo(library.compiledFeatures());
        int avx2AndFma = ZigNative.FEATURE_AVX2 | ZigNative.FEATURE_FMA;
        switch (library.variant()) {
            case "x86_64_v4" -> assertThat(library.compiledFeatures())
                    .isEqualTo(avx2AndFma | ZigNative.FEATURE_AVX512);
            case "x86_64_v3" -> assertThat(library.compiledFeatures()).isEqualTo(avx2AndFma);
            case "baseline" -> {
                if (library.triple().startsWith("x86_64-")) {
                    assertThat(library.compiledFeatures() & avx2AndFma).as("baseline x86-64 has no AVX2/FMA")
                            .isZero();
                } else {
                    assertThat(library.compiledFeatures() & ZigNative.FEATURE_NEON).isNotZero();
                }
            }
            default -> throw new AssertionError("unexpected variant " + library.variant());
        }
    }

    @Test
    @DisabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void checksumIsTheFilesAndTheRecordedOne() throws IOException {
        assertLoaded();
        assertThat(library.sha256()).matches("[0-9a-f]{64}");
        assertThat(NativeLibrary.sha256(library.path())).isEqualTo(library.sha256());
        Properties manifest = manifest();
        String entry = library.triple() + "/" + library.variant();
        assertThat(manifest.getProperty(entry + ".sha256")).isEqualToIgnoringCase(library.sha256());
        assertThat(library.zigVersion()).isEqualTo(manifest.getProperty("zig.version"));
        String resource = "lib/" + entry + "/" + manifest.getProperty(entry + ".file");
        try (InputStream in = NativeLibrary.class.getClassLoader().getResourceAsStream(resource)) {
            assertThat(in).as(resource).isNotNull();
            assertThat(NativeLibrary.sha256(in.readAllBytes())).isEqualTo(library.sha256());
        }
    }

    @Test
    @DisabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void extractedCopyLivesInAnOwnerOnlyDirectory() throws IOException {
        assertLoaded();
        Path file = library.path();
        assertThat(file).isAbsolute().isRegularFile();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file.getParent())))
                .isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("r-x------");
    }

    @Test
    @DisabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void laterCallsGetTheSameLibraryAndCannotAskForAnother() {
        assertLoaded();
        assertThat(NativeLibrary.loadDefault(Optional.empty(), Optional.empty())).isSameAs(library);
        assertThatThrownBy(() -> NativeLibrary.loadDefault(Optional.of(Path.of("/elsewhere/libengram.so")),
                Optional.empty()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("binds JNI methods only once");
        assertThatThrownBy(() -> NativeLibrary.loadDefault(Optional.empty(), Optional.of("baseline")))
                .isInstanceOf(IllegalStateException.class);
        assertThat(NativeLibrary.loaded()).containsSame(library);
    }

    // -------------------------------------------------------------------------------------------------- helpers

    private static void assertLoaded() {
        if (failure != null) {
            throw new AssertionError("the native library did not load although " + JAVA_ONLY_PROPERTY + " is not"
                    + " true; the kernels test classpath needs the native module's output (run mvn verify from the"
                    + " repository root, not only this module): " + failure.getMessage(), failure);
        }
        assertThat(library).isNotNull();
    }

    private static Properties manifest() throws IOException {
        Properties properties = new Properties();
        try (InputStream in = NativeLibrary.class.getClassLoader()
                .getResourceAsStream(NativeLibrary.PROPERTIES_RESOURCE)) {
            assertThat(in).isNotNull();
            properties.load(new InputStreamReader(in, StandardCharsets.UTF_8));
        }
        return properties;
    }

    /** The first flags line of /proc/cpuinfo, parsed without {@link Platform}; empty off Linux. */
    private static Set<String> rawCpuFlags() throws IOException {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(cpuinfo)) {
            return Set.of();
        }
        try (var lines = Files.lines(cpuinfo)) {
            return lines.filter(line -> line.startsWith("flags"))
                    .findFirst()
                    .map(line -> new HashSet<>(Arrays.asList(line.substring(line.indexOf(':') + 1).trim().split(" +"))))
                    .map(Set::copyOf)
                    .orElse(Set.of());
        }
    }
}
