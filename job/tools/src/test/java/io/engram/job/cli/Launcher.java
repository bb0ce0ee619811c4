package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The {@code ./engram} launcher as a child process, for the integration tests: it runs the local distribution
 * (job/tools/target/engram-tools, built by {@code package} before failsafe runs), exactly as a user does.
 */
final class Launcher implements AutoCloseable {
    final Process process;
    final List<String> stdout = Collections.synchronizedList(new ArrayList<>());
    final Path stderrFile;
    private final Set<ProcessHandle> seen = ConcurrentHashMap.newKeySet();
    private final Thread reader;

    private Launcher(Process process, Path stderrFile, Consumer<String> onLine) {
        this.process = process;
        this.stderrFile = stderrFile;
        seen.add(process.toHandle());
        reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line = r.readLine(); line != null; line = r.readLine()) {
                    stdout.add(line);
                    process.toHandle().descendants().forEach(seen::add);
                    if (onLine != null) {
                        onLine.accept(line);
                    }
                }
            } catch (IOException e) {
                // process gone
            }
        }, "launcher-stdout");
        reader.setDaemon(true);
        reader.start();
    }

    static Path repoRoot() {
        Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path d = p; d != null; d = d.getParent()) {
            if (Files.exists(d.resolve("engram")) && Files.exists(d.resolve("job/pom.xml"))) {
                return d;
            }
        }
        throw new IllegalStateException("cannot find the repository root (with ./engram) above " + p);
    }

    /** Starts {@code ./engram args...}; stderr goes to job/tools/target/it-logs/NAME.stderr, the log to NAME.log. */
    static Launcher start(String name, Consumer<String> onLine, String... args) throws IOException {
        return startWithJavaOpts(name, onLine, "-Xmx1g", args);
    }

    /** The same with {@code javaOpts} as ENGRAM_JAVA_OPTS (null: unset). */
    static Launcher startWithJavaOpts(String name, Consumer<String> onLine, String javaOpts, String... args)
            throws IOException {
        Path root = repoRoot();
        Path local = root.resolve("job/tools/target/engram-tools");
        assertThat(local.resolve("lib")).as("the local distribution (built by mvn package)").isDirectory();
        Path logs = root.resolve("job/tools/target/it-logs");
        Files.createDirectories(logs);
        List<String> cmd = new ArrayList<>();
        cmd.add("bash");
        cmd.add(root.resolve("engram").toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.directory(logs.toFile()); // any working directory works
        pb.environment().remove("ENGRAM_REBUILD");
        pb.environment().put("ENGRAM_LOG_FILE", logs.resolve(name + ".log").toString());
        if (javaOpts == null) {
            pb.environment().remove("ENGRAM_JAVA_OPTS");
        } else {
            pb.environment().put("ENGRAM_JAVA_OPTS", javaOpts);
        }
        Path stderr = logs.resolve(name + ".stderr");
        pb.redirectError(stderr.toFile());
        return new Launcher(pb.start(), stderr, onLine);
    }

    /** Waits for the exit; kills the process (and fails) if it takes longer. */
    int waitFor(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            close();
            throw new AssertionError("engram did not exit within " + timeout + "; stdout so far:\n"
                    + String.join("\n", stdout));
        }
        reader.join(5_000);
        return process.exitValue();
    }

    String stderr() throws IOException {
        return Files.exists(stderrFile) ? Files.readString(stderrFile, StandardCharsets.UTF_8) : "";
    }

    String output() {
        synchronized (stdout) {
            return String.join("\n", stdout);
        }
    }

    /** True if the launcher or any process it started is still alive. */
    boolean anyAlive() {
        return seen.stream().anyMatch(ProcessHandle::isAlive);
    }

    @Override
    public void close() {
        for (ProcessHandle h : seen) {
            h.destroyForcibly();
        }
        process.destroyForcibly();
    }
}
