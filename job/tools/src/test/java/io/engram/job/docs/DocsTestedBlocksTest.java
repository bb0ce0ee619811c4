package io.engram.job.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command blocks the docs mark as tested ({@link TestedBlocks}): the markers are well formed, and every command
 * of a {@code drill} block is one the drill or CI really runs. The {@code exec} blocks are run by
 * {@code DocsExecBlocksIT}, after the jars are built.
 */
class DocsTestedBlocksTest {

    /** What the drill and CI run: the drill, its libraries, the script tests, the CI entry point. */
    static List<Path> drillSources(Path root) throws IOException {
        List<Path> files = new ArrayList<>();
        files.add(root.resolve("deploy/scripts/rollback_drill.sh"));
        files.add(root.resolve(".ci/run"));
        for (String dir : new String[] {"deploy/scripts/lib", "deploy/tests"}) {
            try (Stream<Path> s = Files.list(root.resolve(dir))) {
                s.filter(p -> p.toString().endsWith(".sh")).sorted().forEach(files::add);
            }
        }
        return files;
    }

    /** Every command line of the drill sources, as shell words (comments dropped, continuations joined). */
    static List<List<String>> drillCommands(Path root) throws IOException {
        List<List<String>> commands = new ArrayList<>();
        for (Path f : drillSources(root)) {
            for (String line : TestedBlocks.commandLines(Files.readAllLines(f))) {
                commands.add(TestedBlocks.words(line));
            }
        }
        return commands;
    }

    /**
     * Whether the documented command (shell words) is run by one of the drill's command lines: the same program
     * (a {@code deploy/scripts} script by its file name, anything else by its exact name), followed, in order and
     * possibly with other arguments in between, by every documented argument. A drill argument holding a variable
     * ({@code "$JAR"}) stands for the documented value of the same flag ({@code --jar x.jar}).
     */
    static boolean runByDrill(List<String> doc, List<List<String>> drill) {
        String program = doc.get(0);
        boolean script = program.endsWith(".sh");
        String name = script ? program.substring(program.lastIndexOf('/') + 1) : program;
        for (List<String> cmd : drill) {
            for (int i = 0; i < cmd.size(); i++) {
                String w = cmd.get(i);
                boolean same = script ? w.equals(name) || w.endsWith("/" + name) : w.equals(name);
                if (same && argsInOrder(doc.subList(1, doc.size()), cmd.subList(i + 1, cmd.size()))) {
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean argsInOrder(List<String> docArgs, List<String> drillArgs) {
        int j = 0;
        for (int k = 0; k < docArgs.size(); k++) {
            String a = docArgs.get(k);
            // A value the drill computes ($VAR) stands for the documented value of the same flag, nothing else.
            String flag = k > 0 && docArgs.get(k - 1).startsWith("-") && !a.startsWith("-") ? docArgs.get(k - 1) : null;
            boolean found = false;
            while (j < drillArgs.size()) {
                String d = drillArgs.get(j++);
                if (d.equals(a) || (flag != null && d.contains("$") && j >= 2 && drillArgs.get(j - 2).equals(flag))) {
                    found = true;
                    break;
                }
            }
            if (!found) {
                return false;
            }
        }
        return true;
    }

    @Test
    void markersAreWellFormedAndPointToBlocks() throws IOException {
        TestedBlocks.Scan scan = TestedBlocks.scan(DocsConsistencyTest.repoRoot());
        assertThat(scan.errors()).as("marker errors").isEmpty();
        assertThat(scan.blocks()).as("exec blocks").anyMatch(b -> b.kind() == TestedBlocks.Kind.EXEC);
        assertThat(scan.blocks()).as("drill blocks").anyMatch(b -> b.kind() == TestedBlocks.Kind.DRILL);
    }

    @Test
    void everyDrillBlockCommandIsRunByTheDrillOrCi() throws IOException {
        Path root = DocsConsistencyTest.repoRoot();
        List<List<String>> drill = drillCommands(root);
        assertThat(drill).as("command lines of the drill sources").hasSizeGreaterThan(100);
        List<String> notRun = new ArrayList<>();
        int commands = 0;
        for (TestedBlocks.Block b : TestedBlocks.scan(root).blocks()) {
            if (b.kind() != TestedBlocks.Kind.DRILL) {
                continue;
            }
            for (String line : TestedBlocks.commandLines(b.body())) {
                commands++;
                if (!runByDrill(TestedBlocks.words(line), drill)) {
                    notRun.add(b.where(root) + ": " + line);
                }
            }
        }
        assertThat(commands).as("commands in drill blocks").isPositive();
        assertThat(notRun).as("documented as run by the drill/CI, but not found in " + drillSources(root)).isEmpty();
    }

    @Test
    void drillMatchingIsStrictAboutProgramAndFlags() {
        List<List<String>> drill = List.of(
                TestedBlocks.words("run x \"$S/rollback_to_java.sh\" --job-id \"$JOB\" --java-only-jar \"$J\""),
                TestedBlocks.words("\"$S/set_kernel_mode.sh\" java --reason \"drill $RID\" --verify"),
                TestedBlocks.words("mvn -B verify"));
        assertThat(runByDrill(List.of("deploy/scripts/rollback_to_java.sh"), drill)).isTrue();
        assertThat(runByDrill(List.of("deploy/scripts/rollback_to_java.sh", "--java-only-jar"), drill)).isTrue();
        assertThat(runByDrill(List.of("deploy/scripts/rollback_to_java.sh", "--jar", "x.jar"), drill)).isFalse();
        assertThat(runByDrill(TestedBlocks.words("deploy/scripts/set_kernel_mode.sh java --reason \"INC-1\" --verify"),
                drill)).isTrue();
        assertThat(runByDrill(TestedBlocks.words("deploy/scripts/set_kernel_mode.sh zig --verify"), drill)).isFalse();
        assertThat(runByDrill(TestedBlocks.words("deploy/scripts/smoke_test.sh"), drill)).isFalse();
        assertThat(runByDrill(TestedBlocks.words("mvn -B verify"), drill)).isTrue();
        assertThat(runByDrill(TestedBlocks.words("mvn -B -DskipTests package"), drill)).isFalse();
    }

    @Test
    void shellWordsAndCommandLines() {
        assertThat(TestedBlocks.commandLines(List.of("# comment", "a.sh --x \\", "   --y   # why", "", "b \"c # d\"")))
                .containsExactly("a.sh --x  --y", "b \"c # d\"");
        assertThat(TestedBlocks.words("x --reason \"INC-1: p99\" 'a b' c")).containsExactly("x", "--reason", "INC-1: p99",
                "a b", "c");
    }

    @Test
    void outputMatchingWildcardsAndEllipsis() {
        List<String> doc = List.of("mode.active   zig", "library.sha256   <sha256>", "...", "arena.size 2097152");
        assertThat(TestedBlocks.matchOutput(doc, List.of("mode.active zig", "library.sha256 ab12", "x", "y",
                "arena.size        2097152"))).isNull();
        assertThat(TestedBlocks.matchOutput(doc, List.of("mode.active zig", "library.sha256 ab12", "arena.size 2097152")))
                .isNull();
        assertThat(TestedBlocks.matchOutput(doc, List.of("mode.active java", "library.sha256 ab12", "arena.size 2097152")))
                .contains("doc line 1");
        assertThat(TestedBlocks.matchOutput(doc, List.of("mode.active zig", "library.sha256 ", "arena.size 2097152")))
                .isNotNull();
        assertThat(TestedBlocks.matchOutput(List.of("a", "b"), List.of("a", "b", "c"))).contains("actual line 3");
        assertThat(TestedBlocks.matchOutput(List.of("a", "b"), List.of("a"))).contains("doc line 2");
    }

    @Test
    void markerErrorsAreReported(@TempDir Path root) throws IOException {
        Files.writeString(root.resolve("README.md"), String.join("\n",
                "<!-- tested: exec -->",
                "prose, not a fence",
                "",
                "<!-- tested: bogus -->",
                "```",
                "x",
                "```",
                "<!-- output -->",
                "```",
                "orphan output",
                "```",
                "<!-- tested exec -->",
                "<!-- tested: exec -->",
                "```",
                "echo hi",
                "```",
                "said:",
                "<!-- output -->",
                "```",
                "hi",
                "```",
                ""));
        TestedBlocks.Scan scan = TestedBlocks.scan(root);
        assertThat(scan.errors()).hasSize(4);
        assertThat(scan.errors().get(0)).contains("README.md:1").contains("not followed by a fenced block");
        assertThat(scan.errors().get(1)).contains("README.md:4").contains("unknown marker kind 'bogus'");
        assertThat(scan.errors().get(2)).contains("README.md:8").contains("output marker without an exec block");
        assertThat(scan.errors().get(3)).contains("README.md:12").contains("malformed marker");
        assertThat(scan.blocks()).singleElement().satisfies(b -> {
            assertThat(b.kind()).isEqualTo(TestedBlocks.Kind.EXEC);
            assertThat(b.body()).containsExactly("echo hi");
            assertThat(b.output()).containsExactly("hi");
        });
    }
}
