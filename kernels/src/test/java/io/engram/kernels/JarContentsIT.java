package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Enumeration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Checks the kernels jar that {@code package} actually produced (failsafe passes its path): in the native build
 * it carries every required library with the recorded checksum and the JNI entry points; under -Pjava-only it
 * carries no native code at all, not even a JNI symbol name hidden in some resource.
 */
class JarContentsIT {
    private static final String JAVA_ONLY_PROPERTY = "engram.build.javaOnly";
    private static final String MANIFEST = "lib/engram-native.properties";
    private static final String JNI_PREFIX = "Java_io_engram";
    /** The kernels' single JNI entry point (every kernel is an op of it, native/src/abi.zig). */
    private static final String COSINE_SYMBOL = "Java_io_engram_kernels_ZigNative_call";
    /** What only the benchmarks' helper library exports: it must never ship in the kernels jar. */
    private static final String BENCH_SYMBOL = "BenchNative";
    private static final List<String> REQUIRED = List.of("x86_64-linux-gnu/x86_64_v4", "x86_64-linux-gnu/x86_64_v3",
            "x86_64-linux-gnu/baseline", "aarch64-linux-gnu/baseline");

    /** Every file entry of the jar, by name. */
    private static Map<String, byte[]> entries;
    private static Path jarPath;

    @BeforeAll
    static void readTheBuiltJar() throws IOException {
        String jar = System.getProperty("engram.build.jar");
        assertThat(jar).as("engram.build.jar (set by the failsafe configuration in kernels/pom.xml)").isNotBlank();
        jarPath = Path.of(jar);
        assertThat(jarPath).as("the jar built by package").isRegularFile();
        entries = new LinkedHashMap<>();
        try (JarFile file = new JarFile(jarPath.toFile())) {
            for (Enumeration<JarEntry> e = file.entries(); e.hasMoreElements(); ) {
                JarEntry entry = e.nextElement();
                if (!entry.isDirectory()) {
                    try (InputStream in = file.getInputStream(entry)) {
                        entries.put(entry.getName(), in.readAllBytes());
                    }
                }
            }
        }
        // Guard against checking the wrong (or an empty) archive, which would make the Java-only checks vacuous.
        assertThat(entries.keySet()).as("entries of " + jarPath)
                .contains("io/engram/kernels/ZigNative.class", "io/engram/kernels/JavaKernels.class");
    }

    // ---------------------------------------------------------------------------------------- Java-only build

    @Test
    @EnabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void javaOnlyJarHasNoNativeLibrary() {
        List<String> libraries = entries.keySet().stream()
                .filter(name -> {
                    String lower = name.toLowerCase(Locale.ROOT);
                    return lower.endsWith(".so") || lower.endsWith(".dylib") || lower.endsWith(".dll")
                            || lower.endsWith(".jnilib");
                })
                .toList();
        assertThat(libraries).as("native libraries in the Java-only jar " + jarPath).isEmpty();
        assertThat(entries.keySet()).as("entries of " + jarPath).doesNotContain(MANIFEST);
    }

    @Test
    @EnabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void javaOnlyJarContainsNoJniSymbolAnywhere() {
        byte[] needle = JNI_PREFIX.getBytes(StandardCharsets.US_ASCII);
        List<String> offenders = entries.entrySet().stream()
                .filter(entry -> indexOf(entry.getValue(), needle) >= 0)
                .map(Map.Entry::getKey)
                .toList();
        assertThat(offenders).as("entries of " + jarPath + " containing \"" + JNI_PREFIX + "\"").isEmpty();
    }

    // ------------------------------------------------------------------------------------------- native build

    @Test
    @DisabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void manifestMatchesThisBuild() throws IOException {
        Properties manifest = manifest();
        assertThat(manifest.getProperty("abi.version")).isEqualTo(Integer.toString(ZigNative.ABI_VERSION));
        assertThat(manifest.getProperty("zig.version")).matches("\\d+\\.\\d+\\.\\d+");
        assertThat(listed(manifest)).containsAll(REQUIRED);
    }

    @Test
    @DisabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void everyListedLibraryIsPresentUnchangedAndExportsTheKernels() throws IOException {
        Properties manifest = manifest();
        byte[] symbol = COSINE_SYMBOL.getBytes(StandardCharsets.US_ASCII);
        for (String library : listed(manifest)) {
            String file = manifest.getProperty(library + ".file");
            assertThat(file).as(library + ".file").isNotBlank();
            String entry = "lib/" + library + "/" + file;
            assertThat(entries.keySet()).as("entries of " + jarPath).contains(entry);
            byte[] bytes = entries.get(entry);
            assertThat(NativeLibrary.sha256(bytes)).as("SHA-256 of " + entry)
                    .isEqualToIgnoringCase(manifest.getProperty(library + ".sha256"));
            assertThat(indexOf(bytes, symbol)).as(entry + " contains " + COSINE_SYMBOL).isNotNegative();
            assertThat(indexOf(bytes, BENCH_SYMBOL.getBytes(StandardCharsets.US_ASCII)))
                    .as(entry + " contains no benchmark helper").isNegative();
            assertThat(machine(bytes)).as("machine code of " + entry).isEqualTo(expectedMachine(library));
        }
    }

    @Test
    @DisabledIfSystemProperty(named = JAVA_ONLY_PROPERTY, matches = "true")
    void noUnlistedLibraryRidesAlong() throws IOException {
        Properties manifest = manifest();
        List<String> expected = new ArrayList<>();
        for (String library : listed(manifest)) {
            expected.add("lib/" + library + "/" + manifest.getProperty(library + ".file"));
        }
        List<String> actual = entries.keySet().stream()
                .filter(name -> name.endsWith(".so") || name.endsWith(".dylib") || name.endsWith(".dll"))
                .toList();
        assertThat(actual).as("native libraries in the jar (a stale one would be loadable by nobody)")
                .containsExactlyInAnyOrderElementsOf(expected);
    }

    // -------------------------------------------------------------------------------------------------- helpers

    private static Properties manifest() throws IOException {
        assertThat(entries.keySet()).as("the native jar " + jarPath + " must carry " + MANIFEST).contains(MANIFEST);
        Properties properties = new Properties();
        properties.load(new InputStreamReader(new ByteArrayInputStream(entries.get(MANIFEST)), StandardCharsets.UTF_8));
        return properties;
    }

    private static List<String> listed(Properties manifest) {
        return Arrays.stream(manifest.getProperty("libraries", "").split(","))
                .map(String::trim)
                .filter(s -> !s.isEmpty())
                .toList();
    }

    /** "ELF/62" (x86-64), "ELF/183" (AArch64), "Mach-O/16777223" (x86-64), "Mach-O/16777228" (arm64). */
    private static String machine(byte[] bytes) {
        if (bytes.length >= 20 && bytes[0] == 0x7f && bytes[1] == 'E' && bytes[2] == 'L' && bytes[3] == 'F') {
            int type = (bytes[16] & 0xff) | (bytes[17] & 0xff) << 8;
            int machine = (bytes[18] & 0xff) | (bytes[19] & 0xff) << 8;
            return (type == 3 ? "ELF/" : "ELF(not a shared object)/") + machine;
        }
        if (bytes.length >= 8 && (bytes[0] & 0xff) == 0xcf && (bytes[1] & 0xff) == 0xfa
                && (bytes[2] & 0xff) == 0xed && (bytes[3] & 0xff) == 0xfe) {
            int cpu = (bytes[4] & 0xff) | (bytes[5] & 0xff) << 8 | (bytes[6] & 0xff) << 16 | (bytes[7] & 0xff) << 24;
            return "Mach-O/" + cpu;
        }
        return "unknown format";
    }

    private static String expectedMachine(String library) {
        boolean x86 = library.startsWith("x86_64-");
        return library.contains("-macos-")
                ? "Mach-O/" + (x86 ? 0x01000007 : 0x0100000c)
                : "ELF/" + (x86 ? 62 : 183);
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i <= haystack.length - needle.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
