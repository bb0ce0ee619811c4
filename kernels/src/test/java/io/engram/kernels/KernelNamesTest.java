package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * One name per kernel, everywhere, and nothing that can forget one: {@link Kernel} lists exactly the kernel methods of
 * {@link MemoryKernels}, the native ops generated from native/src/abi.zig ({@link ZigNative#KERNELS}), the
 * {@link KernelCall} records and the final methods of {@link KernelDecorator}; and every kernel is named by the alert
 * thresholds and their unit tests, the metrics documentation, the exported-metrics list and the Grafana dashboard. A
 * new kernel fails here until each of those places knows it.
 */
class KernelNamesTest {
    /** MemoryKernels methods that are not kernels. */
    private static final Set<String> NOT_KERNELS = Set.of("mode", "arenaStats", "close", "cosineTopK");

    private static Set<String> labels() {
        return Arrays.stream(Kernel.values()).map(Kernel::label).collect(Collectors.toCollection(TreeSet::new));
    }

    @Test
    void theEnumNamesEveryKernelMethodOfTheApi() {
        Set<String> methods = Arrays.stream(MemoryKernels.class.getDeclaredMethods())
                .filter(m -> Modifier.isPublic(m.getModifiers()) && !m.isSynthetic())
                .map(Method::getName).filter(n -> !NOT_KERNELS.contains(n))
                .collect(Collectors.toCollection(TreeSet::new));
        assertThat(methods).isEqualTo(labels());
    }

    @Test
    void theNativeLibraryImplementsExactlyTheseKernelsInEnumOrder() {
        assertThat(ZigNative.KERNELS).containsExactlyElementsOf(
                Arrays.stream(Kernel.values()).map(Kernel::label).toList());
    }

    @Test
    void theDecoratorInterceptsEveryKernelAndNothingCanOverrideThat() throws Exception {
        for (Kernel k : Kernel.values()) {
            Method m = Arrays.stream(KernelDecorator.class.getDeclaredMethods())
                    .filter(x -> x.getName().equals(k.label())).findFirst()
                    .orElseThrow(() -> new AssertionError("KernelDecorator does not route " + k.label()));
            assertThat(Modifier.isFinal(m.getModifiers())).as("%s is final in KernelDecorator", k.label()).isTrue();
        }
        Set<String> callKernels = new TreeSet<>();
        for (Class<?> c : KernelCall.class.getPermittedSubclasses()) {
            String name = c.getSimpleName();
            callKernels.add(Character.toLowerCase(name.charAt(0)) + name.substring(1));
        }
        assertThat(callKernels).as("one KernelCall record per kernel").isEqualTo(labels());
    }

    // ------------------------------------------------------------------------------------ operations files ----

    private static Path repo() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("deploy/prometheus"))) {
            dir = dir.getParent();
        }
        assertThat(dir).as("the repository root (with deploy/prometheus) above " + Path.of("").toAbsolutePath())
                .isNotNull();
        return dir;
    }

    private static String read(String relative) throws IOException {
        return Files.readString(repo().resolve(relative), StandardCharsets.UTF_8);
    }

    private static Set<String> matches(String text, String regex) {
        Set<String> found = new TreeSet<>();
        Matcher m = Pattern.compile(regex).matcher(text);
        while (m.find()) {
            found.add(m.group(1));
        }
        return found;
    }

    @Test
    void everyKernelHasAnAlertThresholdAndItsUnitTest() throws IOException {
        String rules = read("deploy/prometheus/alerts.yaml");
        assertThat(matches(rules, "label_replace\\(vector\\([0-9.]+\\), \"kernel\", \"([A-Za-z]+)\"")).as(
                "kernels in the threshold table of alerts.yaml (a kernel missing there is never alerted on)")
                .containsAll(labels());
        String tests = read("deploy/prometheus/alerts_test.yaml");
        assertThat(matches(tests, "engram:kernel_latency_p99_threshold_seconds\\{kernel=\"([A-Za-z]+)\"\\}"))
                .as("kernels whose threshold alerts_test.yaml checks").containsAll(labels());
    }

    @Test
    void everyKernelIsInTheMetricsDocsTheExportedListAndTheDashboard() throws IOException {
        String metrics = read("docs/operations/metrics.md");
        String labelLine = metrics.lines().filter(l -> l.contains("engram labels: `kernel`")).findFirst().orElse("")
                + metrics.lines().dropWhile(l -> !l.contains("engram labels: `kernel`")).skip(1).findFirst().orElse("");
        List<String> text = List.of(
                "docs/operations/metrics.md (the kernel label list)", labelLine,
                "docs/operations/metrics.md (the latency thresholds)", metrics.lines()
                        .filter(l -> l.contains("engram_kernel_mode_latencyNs`")).findFirst().orElse(""),
                "deploy/prometheus/exported-metrics.txt", read("deploy/prometheus/exported-metrics.txt"),
                "deploy/grafana/engram-dashboard.json", read("deploy/grafana/engram-dashboard.json"));
        for (int i = 0; i < text.size(); i += 2) {
            for (String label : labels()) {
                assertThat(text.get(i + 1)).as("%s names kernel %s", text.get(i), label)
                        .containsPattern("\\b" + label + "\\b");
            }
        }
    }
}
