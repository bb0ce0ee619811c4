package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;

import io.engram.job.local.EmbeddedKafkaBroker;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code ./engram run} bounds the heap of the JVM the job runs in: from --job-heap, or 2 GiB by default (without a
 * bound the JVM takes a quarter of the machine), and says which in its banner, read from the running JVM.
 */
@Timeout(240)
class RunHeapIT {
    @Test
    void theLauncherSetsTheJobHeapAndRunPrintsIt() throws Exception {
        try (EmbeddedKafkaBroker kafka = EmbeddedKafkaBroker.start()) {
            kafka.createTopics(1, BrokerCommand.defaultTopics().toArray(new String[0]));
            String given = run("run-heap-given", kafka, "--job-heap", "768m");
            assertThat(given).containsPattern("(?m)^\\s+job heap:\\s+768 MiB \\(--job-heap 768m\\)$");
            String byDefault = run("run-heap-default", kafka);
            assertThat(byDefault).containsPattern("(?m)^\\s+job heap:\\s+2 GiB \\(default 2g, set with --job-heap\\)$");
        }
    }

    private static String run(String name, EmbeddedKafkaBroker kafka, String... heap) throws Exception {
        String[] args = new String[] {"run", "--bootstrap-servers", kafka.bootstrapServers(), "--parallelism", "1",
                "--duration", "2s", "-D", "engram.kernels.mode=java"};
        String[] all = new String[args.length + heap.length];
        System.arraycopy(args, 0, all, 0, args.length);
        System.arraycopy(heap, 0, all, args.length, heap.length);
        try (Launcher l = Launcher.startWithJavaOpts(name, null, null, all)) {
            int code = l.waitFor(Duration.ofSeconds(100));
            String out = l.output();
            assertThat(code).as("stdout:\n%s\nstderr:\n%s", out, l.stderr()).isZero();
            return out;
        }
    }
}
