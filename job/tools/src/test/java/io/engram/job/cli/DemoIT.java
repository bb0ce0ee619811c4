package io.engram.job.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@code ./engram demo --duration 40s} as a user runs it: a child JVM on the local distribution, with a real Kafka
 * broker, the real job on a MiniCluster with web UI and Prometheus reporter. While it runs, this test calls the web
 * UI and the metrics URL it printed; afterwards it checks the results table (with a hit reached by spreading), the
 * dead letters, the exit code, and that nothing is left behind.
 */
@Timeout(180)
class DemoIT {
    private static final Pattern WEB_UI = Pattern.compile("^\\s+web UI:\\s+(http://127\\.0\\.0\\.1:\\d+/)");
    private static final Pattern METRICS = Pattern.compile("^\\s+metrics:\\s+(http://127\\.0\\.0\\.1:\\d+/metrics)");
    private static final Pattern TEMP_DIR = Pattern.compile("^\\s+temp dir:\\s+(\\S+)");
    /** A result row: QUERY RANK MEMORY SCORE SIMILARITY ACTIVATION RETENTION HOPS MODE CONTENT. */
    private static final Pattern ROW = Pattern.compile(
            "^\\s+(q\\d+-\\w+)\\s+(\\d+)\\s+(\\S+)\\s+(-?\\d\\.\\d{4})\\s+(-?\\d\\.\\d{4})\\s+(-?\\d\\.\\d{4})\\s+"
                    + "(\\d\\.\\d{4})\\s+(\\d+)\\s+(zig|java)\\b.*");

    @Test
    void demoRunsTheRealJobPrintsResultsAndCleansUp() throws Exception {
        Map<String, String> answered = new ConcurrentHashMap<>();
        long t0 = System.nanoTime();
        try (Launcher demo = Launcher.start("demo-it", line -> {
            Matcher w = WEB_UI.matcher(line);
            if (w.find()) {
                String page = LocalFlink.httpGet(URI.create(w.group(1)), 5000);
                String config = LocalFlink.httpGet(URI.create(w.group(1) + "config"), 5000);
                answered.put("web", String.valueOf(page) + "\n" + config);
            }
            Matcher m = METRICS.matcher(line);
            if (m.find()) {
                answered.put("metrics", String.valueOf(LocalFlink.httpGet(URI.create(m.group(1)), 5000)));
            }
        }, "demo", "--duration", "40s")) {
            int code = demo.waitFor(Duration.ofSeconds(110));
            double seconds = (System.nanoTime() - t0) / 1e9;
            String out = demo.output();
            String err = demo.stderr();
            String context = "stdout:\n" + out + "\nstderr:\n" + err;

            assertThat(code).as(context).isZero();
            assertThat(seconds).as("wall time").isLessThan(100);
            assertThat(out).as(context).containsPattern("(?m)^\\s+kernel mode:\\s+(zig|java)\\b");
            assertThat(out).containsPattern("(?m)^\\s+web UI:\\s+http://127\\.0\\.0\\.1:\\d+/\\s+\\(answered: Apache "
                    + "Flink 2\\.2\\.1\\)");
            assertThat(answered.get("web")).as("the web UI answered this test").isNotNull()
                    .contains("Apache Flink Web Dashboard").contains("\"flink-version\":\"2.2.1\"");
            assertThat(out).containsPattern("(?m)^\\s+metrics:\\s+http://127\\.0\\.0\\.1:\\d+/metrics");
            assertThat(answered.get("metrics")).as("the metrics URL answered this test").isNotNull()
                    .contains("flink_jobmanager_").contains("job_name=\"engram_flink\"");

            List<String[]> rows = new ArrayList<>();
            for (String line : out.split("\n")) {
                Matcher r = ROW.matcher(line);
                if (r.matches()) {
                    rows.add(new String[] {r.group(1), r.group(3), r.group(8), r.group(9), r.group(7)});
                }
            }
            assertThat(out).contains("QUERY", "RANK", "MEMORY", "SCORE", "SIMILARITY", "ACTIVATION", "RETENTION",
                    "HOPS", "MODE");
            assertThat(rows).as("result rows\n" + context).isNotEmpty();
            assertThat(rows).as("a hit reached by spreading (hops >= 1)")
                    .anySatisfy(r -> assertThat(Integer.parseInt(r[2])).isGreaterThanOrEqualTo(1));
            assertThat(rows).as("celestial navigation: astronomy-01 -> sailing-03")
                    .anySatisfy(r -> {
                        assertThat(r[0]).endsWith("astronomy");
                        assertThat(r[1]).isEqualTo("sailing-03");
                        assertThat(r[2]).isEqualTo("1");
                    });
            assertThat(rows).as("a decayed memory (stored 3 h ago, stability 1 h)")
                    .anySatisfy(r -> assertThat(Double.parseDouble(r[4])).isLessThan(0.1));
            assertThat(out).contains("dead letter: UNKNOWN_MEMORY", "dead letter: DIM_MISMATCH");
            assertThat(out).containsPattern("dead letters: 2 \\{DIM_MISMATCH=1, UNKNOWN_MEMORY=1\\}");
            assertThat(out).contains("stopping (--duration 40s reached)", "stopped cleanly");

            Matcher tmp = TEMP_DIR.matcher(out.lines().filter(l -> l.contains("temp dir:")).findFirst().orElse(""));
            assertThat(tmp.find()).as("temp dir line").isTrue();
            assertThat(Path.of(tmp.group(1))).as("temporary files deleted").doesNotExist();
            assertThat(demo.anyAlive()).as("no process left").isFalse();
            assertThat(err).doesNotContain("Exception");
        }
    }
}
