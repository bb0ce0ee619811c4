package io.engram.job.monitoring;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real {@code promtool} (Prometheus' rule checker and rule unit-test runner). It comes from the Debian
 * package {@code prometheus}; deploy/prometheus/install_promtool.sh installs it. A missing promtool is a test
 * FAILURE, never a skip: CI must not go green without the rules having been checked.
 */
final class Promtool {
    static final String MISSING = "promtool is not on PATH, so the Prometheus alert rules cannot be checked. "
            + "Run deploy/prometheus/install_promtool.sh (installs the Debian package 'prometheus', which ships "
            + "/usr/bin/promtool; needs root) or put a promtool binary on PATH.";

    private Promtool() {
    }

    record Result(int exitCode, String output) {
    }

    /** The promtool binary on PATH; throws AssertionError (a failure, not a skip) when there is none. */
    static Path binary() {
        String path = System.getenv("PATH");
        if (path != null) {
            for (String dir : path.split(File.pathSeparator)) {
                if (dir.isEmpty()) {
                    continue;
                }
                Path p = Paths.get(dir, "promtool");
                if (Files.isRegularFile(p) && Files.isExecutable(p)) {
                    return p;
                }
            }
        }
        throw new AssertionError(MISSING);
    }

    /** Runs {@code promtool args...} in {@code dir} and returns its exit code and combined output. */
    static Result run(Path dir, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(binary().toString());
        cmd.addAll(List.of(args));
        return exec(dir, cmd);
    }

    static Result exec(Path dir, List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not finish in 120 s");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
    }
}
