package io.engram.job.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The configuration reference must be what {@link ConfigDocs} generates from {@link EngramOptions}, and no document
 * may mention an {@code engram.*} option that does not exist.
 *
 * <p>Regenerate the reference with {@value ConfigDocs#REGENERATE_COMMAND} (the system property
 * {@code updateConfigDocs=true} makes {@link #referenceIsUpToDate()} write the file instead of comparing).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ConfigDocsTest {
    /**
     * An {@code engram.<group>.<name>...} option key in running text: at least two segments after "engram", so the
     * topic names (engram.memory-events) do not count; not part of a Java package (io.engram.job), a path or a
     * Maven property (${engram.x}), except right after -D.
     */
    static final Pattern KEY = Pattern.compile(
            "(?:(?<=-D)|(?<![A-Za-z0-9_.{$/-]))(engram(?:\\.[a-z0-9*][a-z0-9*_-]*){2,}\\.?)");

    static Path repoRoot() {
        Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path d = p; d != null; d = d.getParent()) {
            if (Files.exists(d.resolve("job/pom.xml")) && Files.exists(d.resolve("pom.xml"))) {
                return d;
            }
        }
        throw new IllegalStateException("cannot find the repository root above " + p);
    }

    @Test
    @Order(1) // first: in update mode, the other tests then check the file just written
    void referenceIsUpToDate() throws IOException {
        Path doc = repoRoot().resolve(ConfigDocs.DOC_PATH);
        String expected = ConfigDocs.generate();
        if (Boolean.getBoolean("updateConfigDocs")) {
            ConfigDocs.write(doc);
            System.out.println("ConfigDocsTest: wrote " + doc);
            return;
        }
        String how = "\nRegenerate it from the repository root with:\n\n    " + ConfigDocs.REGENERATE_COMMAND + "\n";
        if (!Files.exists(doc)) {
            fail(ConfigDocs.DOC_PATH + " is missing." + how);
        }
        String actual = Files.readString(doc, StandardCharsets.UTF_8);
        if (!actual.equals(expected)) {
            fail(ConfigDocs.DOC_PATH + " is stale: it differs from what io.engram.job.config.ConfigDocs generates "
                    + "from EngramOptions (" + firstDifference(actual, expected) + ")." + how);
        }
    }

    @Test
    void everyOptionIsInTheReference() {
        String doc = ConfigDocs.generate();
        List<ConfigDocs.Entry> options = ConfigDocs.options();
        assertThat(options).hasSizeGreaterThan(20);
        for (ConfigDocs.Entry e : options) {
            assertThat(doc).contains("| `" + e.key() + "` |");
            assertThat(e.option().description().getBlocks()).as("description of %s", e.key()).isNotEmpty();
        }
        assertThat(doc).contains("ENGRAM_ARENA_SIZE", "ENGRAM_ARENA_OVERFLOW", EngramOptions.KAFKA_PROPERTIES_PREFIX);
        assertThat(doc).contains("| `engram.kernels.mode` | String | `auto` |");
        assertThat(doc).contains("| `engram.kafka.transaction-timeout` | Duration | `10 min` |");
        assertThat(doc).contains("| `engram.kernels.arena.size` | MemorySize | (none) |");
    }

    @Test
    void everyEngramKeyMentionedInTheDocsExists() throws IOException {
        Path root = repoRoot();
        List<Path> files = new ArrayList<>();
        files.add(root.resolve("README.md"));
        Path docs = root.resolve("docs");
        if (Files.isDirectory(docs)) {
            try (Stream<Path> s = Files.walk(docs)) {
                s.filter(p -> p.toString().endsWith(".md")).sorted().forEach(files::add);
            }
        }
        Set<String> keys = ConfigDocs.byKey().keySet();
        List<String> unknown = new ArrayList<>();
        int mentions = 0;
        for (Path f : files) {
            if (!Files.exists(f)) {
                continue;
            }
            List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
            for (int i = 0; i < lines.size(); i++) {
                for (String key : keysIn(lines.get(i))) {
                    mentions++;
                    if (!exists(key, keys)) {
                        unknown.add(root.relativize(f) + ":" + (i + 1) + ": " + key);
                    }
                }
            }
        }
        assertThat(mentions).as("README.md mentions engram.kernels.mode at least").isPositive();
        if (!unknown.isEmpty()) {
            fail("these engram.* keys are mentioned in the docs but are not options of EngramOptions (typo, renamed "
                    + "or removed option?):\n  " + String.join("\n  ", unknown) + "\nKnown options:\n  "
                    + String.join("\n  ", new TreeSet<>(keys)));
        }
    }

    @Test
    void keyScannerFindsOptionsAndIgnoresTopicsPackagesAndProperties() {
        assertThat(keysIn("set `engram.kernels.mode` = `zig`.")).containsExactly("engram.kernels.mode");
        assertThat(keysIn("flink run -Dengram.kafka.bootstrap-servers=k:9092 ...")).containsExactly(
                "engram.kafka.bootstrap-servers");
        assertThat(keysIn("ends a sentence with engram.recall.seed-k.")).containsExactly("engram.recall.seed-k");
        assertThat(keysIn("all of engram.kernels.arena.* and engram.kafka.properties.<client-prop>"))
                .containsExactly("engram.kernels.arena.*", "engram.kafka.properties");
        assertThat(keysIn("topics engram.memory-events and engram.recall-results")).isEmpty();
        assertThat(keysIn("class io.engram.job.config.EngramOptions, path io/engram/job, ${engram.test.jvm}"))
                .isEmpty();

        Set<String> keys = ConfigDocs.byKey().keySet();
        assertThat(exists("engram.kernels.arena.*", keys)).isTrue();
        assertThat(exists("engram.kafka.properties", keys)).isTrue();
        assertThat(exists("engram.kafka.properties.sasl.mechanism", keys)).isTrue();
        assertThat(exists("engram.kernel.mode", keys)).isFalse();
        assertThat(exists("engram.nothing.*", keys)).isFalse();
        assertThat(exists("engram.bench.inject-slowdown", keys)).as("benchmark system property").isTrue();
    }

    static List<String> keysIn(String line) {
        List<String> out = new ArrayList<>();
        Matcher m = KEY.matcher(line);
        while (m.find()) {
            String k = m.group(1);
            while (k.endsWith(".")) {
                k = k.substring(0, k.length() - 1);
            }
            out.add(k);
        }
        return out;
    }

    /**
     * engram.* names that are deliberately not Flink options, each with its owner. Keep this list short: anything a
     * job user sets belongs in EngramOptions.
     */
    static final List<String> NOT_OPTIONS = List.of(
            "engram.bench.", // JVM system properties of the JMH benchmarks (kernels/src/jmh, BenchSupport)
            // The loader's JVM system property behind engram.kernels.cpu-variant; its error messages name it.
            io.engram.kernels.NativeLibrary.VARIANT_PROPERTY
    );

    static boolean exists(String key, Set<String> keys) {
        String prefix = EngramOptions.KAFKA_PROPERTIES_PREFIX;
        if (key.equals(prefix.substring(0, prefix.length() - 1)) || key.startsWith(prefix)) {
            return true; // the Kafka client passthrough
        }
        if (NOT_OPTIONS.stream().anyMatch(key::startsWith)) {
            return true;
        }
        int star = key.indexOf('*');
        if (star >= 0) {
            String p = key.substring(0, star);
            return keys.stream().anyMatch(k -> k.startsWith(p));
        }
        return keys.contains(key);
    }

    private static String firstDifference(String actual, String expected) {
        String[] a = actual.split("\n", -1);
        String[] e = expected.split("\n", -1);
        for (int i = 0; i < Math.max(a.length, e.length); i++) {
            String x = i < a.length ? a[i] : "<end of file>";
            String y = i < e.length ? e[i] : "<end of file>";
            if (!x.equals(y)) {
                return "first difference at line " + (i + 1) + ": the file has\n    " + x + "\n  generated:\n    " + y;
            }
        }
        return "they differ in line endings";
    }
}
