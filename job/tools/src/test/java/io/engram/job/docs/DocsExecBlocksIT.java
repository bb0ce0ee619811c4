package io.engram.job.docs;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Runs every {@code <!-- tested: exec -->} block of the docs (see {@link TestedBlocks}) as an operator would: with
 * bash, from the repository root, on the artifacts {@code mvn package} just built, and compares its stdout with the
 * {@code <!-- output -->} block shown after it. A block without an output block must exit 0.
 *
 * <p>The environment is the operator's minus every {@code ENGRAM_*} variable, so a setting of the test machine
 * cannot change what {@code ./engram status} prints. Skipped in {@code -Pjava-only} builds: the blocks show the
 * full build. A block that uses {@code nm}, {@code unzip} or {@code sha256sum} is skipped, with a printed line, on a
 * machine without that tool (the build installs promtool and Zig itself, but not binutils).
 */
class DocsExecBlocksIT {
    private static final long BLOCK_TIMEOUT_S = 90;

    @Test
    @Timeout(600)
    void execBlocksPrintWhatTheDocsShow() throws Exception {
        assumeThat(Boolean.getBoolean("engram.build.javaOnly")).as("a -Pjava-only build has no native library")
                .isFalse();
        Path root = DocsConsistencyTest.repoRoot();
        assertThat(root.resolve("job/tools/target/engram-tools/lib")).as("built by mvn package").isDirectory();
        TestedBlocks.Scan scan = TestedBlocks.scan(root);
        assertThat(scan.errors()).as("marker errors").isEmpty();
        List<String> failures = new ArrayList<>();
        int run = 0;
        long t0 = System.nanoTime();
        for (TestedBlocks.Block b : scan.blocks()) {
            if (b.kind() != TestedBlocks.Kind.EXEC) {
                continue;
            }
            String missing = missingTool(root, b.body());
            if (missing != null) {
                System.out.printf("exec block %s: SKIPPED, %s is not installed on this machine%n", b.where(root), missing);
                continue;
            }
            run++;
            long t = System.nanoTime();
            Result r = exec(root, String.join("\n", b.body()));
            String where = b.where(root);
            System.out.printf("exec block %s: exit %d in %.1f s%n", where, r.exit, (System.nanoTime() - t) / 1e9);
            String context = "\n--- script:\n" + String.join("\n", b.body()) + "\n--- stdout:\n" + r.stdout
                    + "\n--- stderr:\n" + r.stderr;
            if (r.timedOut) {
                failures.add(where + ": timed out after " + BLOCK_TIMEOUT_S + " s" + context);
            } else if (b.output() == null) {
                if (r.exit != 0) {
                    failures.add(where + ": exit " + r.exit + " (a block without an output block must exit 0)" + context);
                }
            } else {
                String diff = TestedBlocks.matchOutput(b.output(), List.of(r.stdout.split("\n", -1)));
                if (diff != null) {
                    failures.add(where + ": output differs from the doc: " + diff + context);
                }
            }
        }
        System.out.printf("%d exec blocks in %.1f s%n", run, (System.nanoTime() - t0) / 1e9);
        assertThat(run).as("exec blocks").isPositive();
        assertThat(failures).isEmpty();
    }

    /** Operator tools that the build does not install itself; a block using one that is missing is skipped. */
    static final List<String> OPTIONAL_TOOLS = List.of("nm", "unzip", "sha256sum");

    static String missingTool(Path root, List<String> body) throws IOException, InterruptedException {
        for (String tool : OPTIONAL_TOOLS) {
            if (body.stream().anyMatch(l -> java.util.regex.Pattern.compile("(^|[\\s|;&(])" + tool + "\\b")
                    .matcher(l).find()) && exec(root, "command -v " + tool).exit != 0) {
                return tool;
            }
        }
        return null;
    }

    record Result(int exit, String stdout, String stderr, boolean timedOut) { }

    static Result exec(Path root, String script) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder("bash", "-c", script);
        pb.directory(root.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("ENGRAM_"));
        Path out = Files.createTempFile("docs-exec", ".out");
        Path err = Files.createTempFile("docs-exec", ".err");
        pb.redirectOutput(out.toFile());
        pb.redirectError(err.toFile());
        Process p = pb.start();
        try {
            boolean done = p.waitFor(BLOCK_TIMEOUT_S, TimeUnit.SECONDS);
            if (!done) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
            return new Result(done ? p.exitValue() : -1, Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8), !done);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }
}
