package io.engram.kernels;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Drives the loader core with a jar built in memory, a recording "system loader" that never really loads, and a
 * fake ABI probe. Every failure path must say what it tried, and nothing unverified may reach the system loader.
 */
class NativeLoaderTest {
    private static final String TRIPLE = "x86_64-linux-gnu";
    private static final String V3 = "lib/x86_64-linux-gnu/x86_64_v3/libengram.so";
    private static final String BASELINE = "lib/x86_64-linux-gnu/baseline/libengram.so";
    private static final String AARCH64 = "lib/aarch64-linux-gnu/baseline/libengram.so";
    private static final byte[] V3_BYTES = "\u007fELF pretend x86_64_v3 library".getBytes(UTF_8);
    private static final byte[] BASELINE_BYTES = "\u007fELF pretend baseline library".getBytes(UTF_8);
    private static final byte[] AARCH64_BYTES = "\u007fELF pretend aarch64 library".getBytes(UTF_8);

    private static final Platform V3_CPU =
            Platform.from("Linux", "amd64", "flags : sse4_2 avx avx2 bmi1 bmi2 f16c fma abm movbe", false);
    private static final Platform OLD_CPU = Platform.from("Linux", "amd64", "flags : sse4_2", false);

    @TempDir
    Path temp;

    private Path extractRoot;
    /** Resource name to bytes; a missing name is a missing resource. */
    private Map<String, byte[]> jar;
    /** The manifest entries, written to lib/engram-native.properties by {@link #core}. */
    private Map<String, String> manifest;
    private boolean withManifest;
    private final List<Path> systemLoads = new ArrayList<>();
    private Consumer<Path> systemLoader;
    private FakeProbe probe;

    @BeforeEach
    void fullJar() {
        extractRoot = temp.resolve("extract");
        jar = new HashMap<>();
        manifest = new LinkedHashMap<>();
        withManifest = true;
        systemLoader = systemLoads::add;
        probe = new FakeProbe(ZigNative.ABI_VERSION, ZigNative.FEATURE_AVX2 | ZigNative.FEATURE_FMA);
        manifest.put("zig.version", "0.13.0");
        manifest.put("abi.version", Integer.toString(ZigNative.ABI_VERSION));
        manifest.put("libraries", "x86_64-linux-gnu/x86_64_v3,x86_64-linux-gnu/baseline,aarch64-linux-gnu/baseline");
        addLibrary(V3, V3_BYTES);
        addLibrary(BASELINE, BASELINE_BYTES);
        addLibrary(AARCH64, AARCH64_BYTES);
    }

    // ----------------------------------------------------------------------------------------------- happy paths

    @Test
    void loadsTheBestVariantForTheCpuAfterVerifyingIt() throws IOException {
        LoadedLibrary library = core(V3_CPU).load(Optional.empty(), Optional.empty());

        assertThat(library.variant()).isEqualTo("x86_64_v3");
        assertThat(library.triple()).isEqualTo(TRIPLE);
        assertThat(library.source()).isEqualTo("jar");
        assertThat(library.zigVersion()).isEqualTo("0.13.0");
        assertThat(library.abiVersion()).isEqualTo(ZigNative.ABI_VERSION);
        assertThat(library.compiledFeatures()).isEqualTo(ZigNative.FEATURE_AVX2 | ZigNative.FEATURE_FMA);
        assertThat(library.compiledFeatureNames()).containsExactly("avx2", "fma");
        assertThat(library.sha256()).isEqualTo(NativeLibrary.sha256(V3_BYTES));
        assertThat(systemLoads).containsExactly(library.path());
        assertThat(library.path().getFileName().toString()).isEqualTo("libengram.so");
        assertThat(Files.readAllBytes(library.path())).isEqualTo(V3_BYTES);
        assertThat(probe.calls.get()).isEqualTo(1);
    }

    @Test
    void extractsIntoAFreshOwnerOnlyDirectory() throws IOException {
        LoadedLibrary library = core(V3_CPU).load(Optional.empty(), Optional.empty());

        Path dir = library.path().getParent();
        assertThat(dir.getParent()).isEqualTo(extractRoot.toAbsolutePath());
        assertThat(dir.getFileName().toString()).startsWith("engram-native-");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(library.path())))
                .isEqualTo("r-x------");
        try (var entries = Files.list(dir)) {
            assertThat(entries).containsExactly(library.path());
        }

        LoadedLibrary again = core(V3_CPU).load(Optional.empty(), Optional.empty());
        assertThat(again.path().getParent()).as("never reuse a directory someone could have prepared")
                .isNotEqualTo(dir);
    }

    @Test
    void extractsUnderTheTempDirectoryWhenNoRootIsConfigured() throws IOException {
        NativeLibrary core = new NativeLibrary(this::open, V3_CPU, Optional.empty(), systemLoader, probe);
        LoadedLibrary library = core.load(Optional.empty(), Optional.empty());
        Path dir = library.path().getParent();
        try {
            assertThat(dir.getParent()).isEqualTo(Path.of(System.getProperty("java.io.tmpdir")).toAbsolutePath());
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir))).isEqualTo("rwx------");
        } finally {
            Files.deleteIfExists(library.path());
            Files.deleteIfExists(dir);
        }
    }

    @Test
    void cpuWithoutV3OnlyEverTriesBaseline() {
        LoadedLibrary library = core(OLD_CPU).load(Optional.empty(), Optional.empty());
        assertThat(library.variant()).isEqualTo("baseline");
        assertThat(library.sha256()).isEqualTo(NativeLibrary.sha256(BASELINE_BYTES));
        assertThat(systemLoads).hasSize(1);
    }

    @Test
    void aarch64LoadsItsOwnBaseline() throws IOException {
        Platform arm = Platform.from("Linux", "aarch64", "Features : fp asimd", false);
        probe = new FakeProbe(ZigNative.ABI_VERSION, ZigNative.FEATURE_NEON);
        LoadedLibrary library = core(arm).load(Optional.empty(), Optional.empty());
        assertThat(library.triple()).isEqualTo("aarch64-linux-gnu");
        assertThat(library.variant()).isEqualTo("baseline");
        assertThat(Files.readAllBytes(library.path())).isEqualTo(AARCH64_BYTES);
        assertThat(library.compiledFeatureNames()).containsExactly("neon");
    }

    // ------------------------------------------------------------------------------------------------- fallback

    @Test
    void fallsBackFromV3ToBaselineWhenV3IsMissing() {
        jar.remove(V3);
        LoadedLibrary library = core(V3_CPU).load(Optional.empty(), Optional.empty());
        assertThat(library.variant()).isEqualTo("baseline");
        assertThat(systemLoads).containsExactly(library.path());
    }

    @Test
    void fallsBackFromV3ToBaselineWhenTheSystemRefusesV3() {
        systemLoader = path -> {
            systemLoads.add(path);
            if (systemLoads.size() == 1) {
                throw new UnsatisfiedLinkError(path + ": cannot open shared object file");
            }
        };
        LoadedLibrary library = core(V3_CPU).load(Optional.empty(), Optional.empty());
        assertThat(library.variant()).isEqualTo("baseline");
        assertThat(systemLoads).hasSize(2);
        assertThat(systemLoads.get(0)).as("the refused copy is cleaned up").doesNotExist();
        assertThat(systemLoads.get(1)).isEqualTo(library.path()).exists();
    }

    @Test
    void listedButMissingResourcesAreAllNamedInTheError() {
        jar.remove(V3);
        jar.remove(BASELINE);
        NativeLoadException e = loadFails(V3_CPU, Optional.empty(), Optional.empty());

        assertThat(e.getMessage()).contains("no variant", TRIPLE, V3, BASELINE, "not found in the jar");
        assertThat(e.attempts()).hasSize(2);
        assertThat(e.attempts().get(0)).contains(V3);
        assertThat(e.attempts().get(1)).contains(BASELINE);
        assertThat(e.javaOnlyBuild()).isFalse();
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void everySystemLoadFailureIsReportedWithItsReason() {
        systemLoader = path -> {
            throw new UnsatisfiedLinkError(path + ": failed to map segment from shared object");
        };
        NativeLoadException e = loadFails(V3_CPU, Optional.empty(), Optional.empty());
        assertThat(e.attempts()).hasSize(2);
        assertThat(e.getMessage()).contains("failed to map segment", "noexec", NativeLibrary.EXTRACT_DIR_PROPERTY);
    }

    @Test
    void unwritableExtractionRootIsReportedWithTheSettingToChange() throws IOException {
        extractRoot = Files.writeString(temp.resolve("a-file-not-a-directory"), "x");
        NativeLoadException e = loadFails(V3_CPU, Optional.empty(), Optional.empty());
        assertThat(e.getMessage()).contains("could not extract", extractRoot.toString(),
                NativeLibrary.EXTRACT_DIR_PROPERTY);
        assertThat(systemLoads).isEmpty();
    }

    // ------------------------------------------------------------------------------------------- refusals

    @Test
    void checksumMismatchIsRefusedAndNothingIsLoaded() {
        String recorded = manifest.get(TRIPLE + "/x86_64_v3.sha256");
        byte[] tampered = V3_BYTES.clone();
        tampered[tampered.length - 1] ^= 1;
        jar.put(V3, tampered); // the bytes in the jar no longer match what the build recorded

        NativeLoadException e = loadFails(V3_CPU, Optional.empty(), Optional.empty());

        assertThat(e.getMessage()).contains("checksum mismatch", "refusing to load", recorded,
                NativeLibrary.sha256(tampered), V3);
        assertThat(systemLoads).as("a mismatch must stop everything, not quietly fall back to baseline").isEmpty();
        assertThat(probe.calls.get()).isZero();
        try (var leftovers = Files.list(extractRoot)) {
            assertThat(leftovers).as("the refused file is not left behind").isEmpty();
        } catch (IOException io) {
            throw new AssertionError(io);
        }
    }

    @Test
    void uppercaseRecordedChecksumIsAccepted() {
        manifest.put(TRIPLE + "/x86_64_v3.sha256", NativeLibrary.sha256(V3_BYTES).toUpperCase());
        assertThat(core(V3_CPU).load(Optional.empty(), Optional.empty()).variant()).isEqualTo("x86_64_v3");
    }

    @Test
    void malformedRecordedChecksumIsRefused() {
        manifest.put(TRIPLE + "/x86_64_v3.sha256", "abc123");
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.empty(), Optional.empty()))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("not a SHA-256");
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void missingChecksumEntryIsRefused() {
        manifest.remove(TRIPLE + "/x86_64_v3.sha256");
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.empty(), Optional.empty()))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("has no " + TRIPLE + "/x86_64_v3.sha256");
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void manifestFileNameCannotEscapeTheExtractionDirectory() {
        manifest.put(TRIPLE + "/x86_64_v3.file", "../../../../tmp/evil.so");
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.empty(), Optional.empty()))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("not a plain file name");
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void missingPropertiesMeansAJavaOnlyBuild() {
        withManifest = false;
        NativeLoadException e = loadFails(V3_CPU, Optional.empty(), Optional.empty());
        assertThat(e.getMessage()).contains("this is a Java-only build: no native library in the jar");
        assertThat(e.javaOnlyBuild()).isTrue();
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void jarBuiltForAnotherAbiIsRefusedBeforeExtracting() throws IOException {
        manifest.put("abi.version", Integer.toString(ZigNative.ABI_VERSION + 1));
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.empty(), Optional.empty()))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("ABI " + (ZigNative.ABI_VERSION + 1))
                .hasMessageContaining("Java expects " + ZigNative.ABI_VERSION);
        assertThat(systemLoads).isEmpty();
        assertThat(extractRoot).doesNotExist();
    }

    @Test
    void libraryReportingAnotherAbiIsRefused() {
        probe = new FakeProbe(ZigNative.ABI_VERSION + 6, 0);
        NativeLoadException e = loadFails(V3_CPU, Optional.empty(), Optional.empty());
        assertThat(e.getMessage()).contains("library ABI " + (ZigNative.ABI_VERSION + 6),
                "Java expects " + ZigNative.ABI_VERSION);
        assertThat(systemLoads).as("once loaded, another file cannot replace it: no fallback").hasSize(1);
    }

    @Test
    void libraryWithoutTheJniFunctionsIsRefusedWithTheLinkErrorAsCause() {
        UnsatisfiedLinkError missing = new UnsatisfiedLinkError("'int io.engram.kernels.ZigNative.abiVersion()'");
        probe = new FakeProbe(0, 0) {
            @Override
            public int abiVersion() {
                throw missing;
            }
        };
        NativeLoadException e = loadFails(V3_CPU, Optional.empty(), Optional.empty());
        assertThat(e).hasCause(missing);
        assertThat(e.getMessage()).contains("does not provide the engram JNI functions");
    }

    @Test
    void platformNotInTheJarIsReportedWithWhatTheJarHas() {
        Platform musl = Platform.from("Linux", "amd64", "flags : avx2 fma", true);
        NativeLoadException e = loadFails(musl, Optional.empty(), Optional.empty());
        assertThat(e.getMessage()).contains("no native library for x86_64-linux-musl", "musl libc is not supported",
                "x86_64-linux-gnu/baseline");

        Platform mac = Platform.from("Mac OS X", "aarch64", "", false);
        assertThatThrownBy(() -> core(mac).load(Optional.empty(), Optional.empty()))
                .hasMessageContaining("no native library for aarch64-macos-none");
        assertThat(systemLoads).isEmpty();
    }

    // ------------------------------------------------------------------------------------------- forced variant

    @Test
    void forcedBaselineIsUsedEvenWhereV3WouldRun() {
        LoadedLibrary library = core(V3_CPU).load(Optional.empty(), Optional.of("baseline"));
        assertThat(library.variant()).isEqualTo("baseline");
        assertThat(systemLoads).hasSize(1);
    }

    @Test
    void forcedVariantIsNotReplacedByAFallback() {
        jar.remove(BASELINE);
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.empty(), Optional.of("baseline")))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining(BASELINE);
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void unknownForcedVariantListsTheAvailableOnes() {
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.empty(), Optional.of("x86_64_v4")))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("unknown native library variant 'x86_64_v4'")
                .hasMessageContaining("[x86_64_v3, baseline]");
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void forcingAVariantTheCpuCannotRunIsRefused() {
        assertThatThrownBy(() -> core(OLD_CPU).load(Optional.empty(), Optional.of("x86_64_v3")))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("needs CPU features")
                .hasMessageContaining("avx2");
        assertThat(systemLoads).isEmpty();
    }

    // -------------------------------------------------------------------------------------------- explicit path

    @Test
    void missingExplicitPathIsAClearError() {
        Path missing = temp.resolve("nowhere/libengram.so");
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.of(missing), Optional.empty()))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining(missing.toString())
                .hasMessageContaining("no such file")
                .hasMessageContaining(NativeLibrary.LIBRARY_PATH_PROPERTY);
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void explicitPathMustBeARegularFile() {
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.of(temp), Optional.empty()))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("not a regular file");
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void explicitPathWithWrongChecksumSiblingIsRefused() throws IOException {
        Path library = Files.write(temp.resolve("libengram.so"), BASELINE_BYTES);
        String wrong = NativeLibrary.sha256(V3_BYTES);
        Files.writeString(temp.resolve("libengram.so.sha256"), wrong + "  libengram.so\n");

        assertThatThrownBy(() -> core(V3_CPU).load(Optional.of(library), Optional.empty()))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("checksum mismatch")
                .hasMessageContaining(wrong)
                .hasMessageContaining(NativeLibrary.sha256(BASELINE_BYTES))
                .hasMessageContaining("refusing to load");
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void explicitPathWithGarbageChecksumSiblingIsRefused() throws IOException {
        Path library = Files.write(temp.resolve("libengram.so"), BASELINE_BYTES);
        Files.writeString(temp.resolve("libengram.so.sha256"), "not a hash\n");
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.of(library), Optional.empty()))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("does not start with a SHA-256");
        assertThat(systemLoads).isEmpty();
    }

    @Test
    void explicitPathWithMatchingChecksumSiblingIsLoadedInPlace() throws IOException {
        Path library = Files.write(temp.resolve("custom.so"), "\u007fELF operator build".getBytes(UTF_8));
        String sha = NativeLibrary.sha256(Files.readAllBytes(library));
        Files.writeString(temp.resolve("custom.so.sha256"), sha.toUpperCase() + "\n");

        LoadedLibrary loaded = core(V3_CPU).load(Optional.of(library), Optional.empty());

        assertThat(systemLoads).containsExactly(library.toAbsolutePath());
        assertThat(loaded.path()).isEqualTo(library.toAbsolutePath());
        assertThat(loaded.sha256()).isEqualTo(sha);
        assertThat(loaded.source()).isEqualTo("explicit path");
        assertThat(loaded.variant()).isEqualTo(LoadedLibrary.CUSTOM_VARIANT);
        assertThat(loaded.zigVersion()).isEqualTo(LoadedLibrary.UNKNOWN_ZIG_VERSION);
        assertThat(extractRoot).as("nothing is extracted for an explicit path").doesNotExist();
    }

    @Test
    void explicitPathWithoutSiblingIsLoadedAndNamedAfterTheJarLibraryItCopies() throws IOException {
        Path library = Files.write(temp.resolve("libengram.so"), BASELINE_BYTES);
        LoadedLibrary loaded = core(V3_CPU).load(Optional.of(library), Optional.empty());
        assertThat(loaded.sha256()).isEqualTo(NativeLibrary.sha256(BASELINE_BYTES));
        assertThat(loaded.variant()).isEqualTo("baseline");
        assertThat(loaded.zigVersion()).isEqualTo("0.13.0");
        assertThat(systemLoads).containsExactly(library.toAbsolutePath());
    }

    @Test
    void explicitPathWorksInAJavaOnlyJar() throws IOException {
        withManifest = false;
        Path library = Files.write(temp.resolve("libengram.so"), BASELINE_BYTES);
        assertThat(core(V3_CPU).load(Optional.of(library), Optional.empty()).variant()).isEqualTo("custom");
    }

    @Test
    void explicitPathRejectedByTheSystemIsAClearError() throws IOException {
        Path library = Files.write(temp.resolve("libengram.so"), BASELINE_BYTES);
        systemLoader = path -> {
            throw new UnsatisfiedLinkError("invalid ELF header");
        };
        NativeLoadException e = loadFails(V3_CPU, Optional.of(library), Optional.empty());
        assertThat(e.getMessage()).contains(library.toString(), "System.load failed", "invalid ELF header");
        assertThat(e.getCause()).isInstanceOf(UnsatisfiedLinkError.class);
    }

    @Test
    void explicitPathAndForcedVariantTogetherAreAConfigurationError() throws IOException {
        Path library = Files.write(temp.resolve("libengram.so"), BASELINE_BYTES);
        assertThatThrownBy(() -> core(V3_CPU).load(Optional.of(library), Optional.of("baseline")))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining(NativeLibrary.LIBRARY_PATH_PROPERTY)
                .hasMessageContaining(NativeLibrary.VARIANT_PROPERTY);
        assertThat(systemLoads).isEmpty();
    }

    // --------------------------------------------------------------------------------------- once per JVM

    @Test
    void loadOnceCachesSuccess() {
        NativeLibrary.LoadOnce once = new NativeLibrary.LoadOnce();
        AtomicInteger loads = new AtomicInteger();
        LoadedLibrary library = sampleLibrary();
        NativeLibrary.Request request = NativeLibrary.Request.of(Optional.empty(), Optional.empty());

        assertThat(once.loaded()).isEmpty();
        assertThat(once.get(request, r -> count(loads, library))).isSameAs(library);
        assertThat(once.get(NativeLibrary.Request.of(Optional.empty(), Optional.of("  ")), r -> count(loads, null)))
                .as("a blank variant means no variant").isSameAs(library);
        assertThat(loads).hasValue(1);
        assertThat(once.loaded()).containsSame(library);
    }

    @Test
    void loadOnceCachesFailureAndRethrowsTheSameException() {
        NativeLibrary.LoadOnce once = new NativeLibrary.LoadOnce();
        AtomicInteger loads = new AtomicInteger();
        NativeLoadException failure = new NativeLoadException("no", List.of(), null);
        NativeLibrary.Request request = NativeLibrary.Request.of(Optional.empty(), Optional.empty());

        for (int i = 0; i < 3; i++) {
            assertThatThrownBy(() -> once.get(request, r -> {
                loads.incrementAndGet();
                throw failure;
            })).isSameAs(failure);
        }
        assertThat(loads).hasValue(1);
        assertThat(once.loaded()).isEmpty();
    }

    @Test
    void loadOnceRefusesADifferentPathAfterTheFirstRequest() {
        NativeLibrary.LoadOnce once = new NativeLibrary.LoadOnce();
        Path first = temp.resolve("a/libengram.so");
        once.get(NativeLibrary.Request.of(Optional.of(first), Optional.empty()), r -> sampleLibrary());

        // The same file, spelled differently, is the same request.
        Path sameFile = temp.resolve("a/../a/./libengram.so");
        once.get(NativeLibrary.Request.of(Optional.of(sameFile), Optional.empty()), r -> {
            throw new AssertionError("must not load again");
        });

        Path other = temp.resolve("b/libengram.so");
        assertThatThrownBy(() -> once.get(NativeLibrary.Request.of(Optional.of(other), Optional.empty()),
                r -> sampleLibrary()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(first.toString())
                .hasMessageContaining(other.toString())
                .hasMessageContaining("binds JNI methods only once");
        assertThatThrownBy(() -> once.get(NativeLibrary.Request.of(Optional.empty(), Optional.empty()),
                r -> sampleLibrary()))
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void loadOnceKeepsAnErrorAsAFailureForLaterCallers() {
        NativeLibrary.LoadOnce once = new NativeLibrary.LoadOnce();
        NativeLibrary.Request request = NativeLibrary.Request.of(Optional.empty(), Optional.empty());
        assertThatThrownBy(() -> once.get(request, r -> {
            throw new LinkageError("boom");
        })).isInstanceOf(LinkageError.class);
        assertThatThrownBy(() -> once.get(request, r -> sampleLibrary()))
                .isInstanceOf(NativeLoadException.class)
                .hasMessageContaining("boom");
    }

    // ------------------------------------------------------------------------------------------------- helpers

    /** Loads and insists that it fails with a {@link NativeLoadException}, which it returns. */
    private NativeLoadException loadFails(Platform platform, Optional<Path> explicitPath, Optional<String> variant) {
        Throwable thrown = catchThrowable(() -> core(platform).load(explicitPath, variant));
        assertThat(thrown).as("loading must fail").isInstanceOf(NativeLoadException.class);
        return (NativeLoadException) thrown;
    }

    private NativeLibrary core(Platform platform) {
        return new NativeLibrary(this::open, platform, Optional.of(extractRoot), systemLoader, probe);
    }

    private InputStream open(String resource) {
        if (resource.equals(NativeLibrary.PROPERTIES_RESOURCE)) {
            if (!withManifest) {
                return null;
            }
            StringBuilder text = new StringBuilder("# written by the test\n");
            manifest.forEach((key, value) -> text.append(key).append('=').append(value).append('\n'));
            return new ByteArrayInputStream(text.toString().getBytes(UTF_8));
        }
        byte[] bytes = jar.get(resource);
        return bytes == null ? null : new ByteArrayInputStream(bytes);
    }

    private void addLibrary(String resource, byte[] bytes) {
        String entry = resource.substring("lib/".length(), resource.lastIndexOf('/'));
        jar.put(resource, bytes);
        manifest.put(entry + ".file", "libengram.so");
        manifest.put(entry + ".sha256", NativeLibrary.sha256(bytes));
    }

    private LoadedLibrary sampleLibrary() {
        return new LoadedLibrary(temp.resolve("libengram.so"), "0".repeat(64), TRIPLE, "baseline", "0.13.0",
                ZigNative.ABI_VERSION, 0, "jar");
    }

    private static LoadedLibrary count(AtomicInteger counter, LoadedLibrary library) {
        counter.incrementAndGet();
        return library;
    }

    private static class FakeProbe implements NativeLibrary.Probe {
        final AtomicInteger calls = new AtomicInteger();
        private final int abiVersion;
        private final int compiledFeatures;

        FakeProbe(int abiVersion, int compiledFeatures) {
            this.abiVersion = abiVersion;
            this.compiledFeatures = compiledFeatures;
        }

        @Override
        public int abiVersion() {
            calls.incrementAndGet();
            return abiVersion;
        }

        @Override
        public int compiledFeatures() {
            return compiledFeatures;
        }
    }
}
