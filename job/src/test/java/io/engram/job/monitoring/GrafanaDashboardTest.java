package io.engram.job.monitoring;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * deploy/grafana/engram-dashboard.json: valid dashboard JSON, a sane layout, every panel's PromQL parsed by the real
 * promtool, and every metric name it uses in the exported-metrics catalogue (which MetricsScrapeIT checks against a
 * scrape of the running job; the IT also checks the dashboard's names against that scrape directly).
 */
class GrafanaDashboardTest {
    private static final String DATASOURCE = "${datasource}";

    @Test
    void dashboardIsWellFormed() {
        JsonNode d = MonitoringArtifacts.readJson(MonitoringArtifacts.dashboard());
        assertThat(d.path("schemaVersion").asInt()).isBetween(36, 41);
        assertThat(d.path("uid").asText()).isNotBlank();
        assertThat(d.path("title").asText()).isNotBlank();
        List<String> variables = new ArrayList<>();
        d.path("templating").path("list").forEach(v -> variables.add(v.path("name").asText()));
        assertThat(variables).contains("datasource", "deployment", "job_name");

        Set<Integer> ids = new HashSet<>();
        boolean[][] grid = new boolean[200][24];
        for (JsonNode p : MonitoringArtifacts.dashboardPanels()) {
            String title = p.path("title").asText();
            assertThat(title).as("panel title").isNotBlank();
            assertThat(ids.add(p.path("id").asInt())).as("unique id of panel '%s'", title).isTrue();
            JsonNode g = p.path("gridPos");
            int x = g.path("x").asInt(-1);
            int y = g.path("y").asInt(-1);
            int w = g.path("w").asInt(0);
            int h = g.path("h").asInt(0);
            assertThat(x).as("gridPos.x of '%s'", title).isNotNegative();
            assertThat(y).as("gridPos.y of '%s'", title).isNotNegative();
            assertThat(w).as("gridPos.w of '%s'", title).isPositive();
            assertThat(h).as("gridPos.h of '%s'", title).isPositive();
            assertThat(x + w).as("right edge of '%s'", title).isLessThanOrEqualTo(24);
            for (int r = y; r < y + h; r++) {
                for (int c = x; c < x + w; c++) {
                    assertThat(grid[r][c]).as("panel '%s' overlaps another at row %d col %d", title, r, c).isFalse();
                    grid[r][c] = true;
                }
            }
            if ("row".equals(p.path("type").asText())) {
                continue;
            }
            assertThat(p.path("datasource").path("uid").asText()).as("datasource of '%s'", title)
                    .isEqualTo(DATASOURCE);
            assertThat(p.path("targets").size()).as("targets of '%s'", title).isPositive();
            Set<String> refIds = new HashSet<>();
            for (JsonNode t : p.path("targets")) {
                assertThat(refIds.add(t.path("refId").asText())).as("unique refId in '%s'", title).isTrue();
                String expr = t.path("expr").asText();
                assertThat(expr).as("expr in '%s'", title).isNotBlank();
                assertThat(MonitoringArtifacts.metricNames(List.of(expr))).as("metrics in '%s': %s", title, expr)
                        .isNotEmpty();
                assertThat(expr).as("'%s' filters by the job and deployment variables", title)
                        .contains("job_name=~\"$job_name\"").contains("deployment=~\"$deployment\"");
            }
        }
    }

    @Test
    void everyPanelUsesExportedMetricNames() {
        SortedSet<String> used = MonitoringArtifacts.metricNames(MonitoringArtifacts.dashboardExpressions());
        assertThat(MonitoringArtifacts.catalogue()).as("deploy/prometheus/exported-metrics.txt (checked against a "
                + "real scrape by MetricsScrapeIT)").containsAll(used);
        String p = "flink_taskmanager_job_task_operator_engram_";
        // What the dashboard is for: kernel mode, latency, calls per mode, arenas, divergences, dead letters,
        // memories/edges, recall latency, checkpoints.
        assertThat(used).contains(p + "kernelMode", p + "kernel_mode_latencyNs", p + "kernel_mode_calls",
                p + "mode_recalls", p + "arena_highWaterBytes", p + "arena_capacityBytes", p + "arena_overflows",
                p + "arena_fallbacks", p + "shadowDivergences", p + "shadowComparisons", p + "reason_deadLetters",
                p + "memories", p + "edges", p + "recallLatencyUs",
                "flink_jobmanager_job_numberOfFailedCheckpoints", "flink_jobmanager_job_numberOfCompletedCheckpoints",
                "flink_jobmanager_job_lastCheckpointDuration");
    }

    /** Every expression goes through Prometheus' own parser: promtool check rules on a generated rule file. */
    @Test
    void everyPanelExpressionParses(@TempDir Path tmp) throws Exception {
        List<String> exprs = MonitoringArtifacts.dashboardExpressions();
        ObjectMapper json = new ObjectMapper();
        StringBuilder rules = new StringBuilder("groups:\n  - name: dashboard\n    rules:\n");
        int i = 0;
        for (String e : exprs) {
            if (e.startsWith("label_values(")) {
                continue; // a Grafana variable query, not PromQL
            }
            String promql = e.replace("$__rate_interval", "5m").replace("$job_name", ".*")
                    .replace("$deployment", ".*");
            rules.append("      - record: dashboard:expr_").append(i++).append('\n')
                    .append("        expr: ").append(json.writeValueAsString(promql)).append('\n');
        }
        assertThat(i).isGreaterThanOrEqualTo(20);
        Files.writeString(tmp.resolve("dashboard_rules.yaml"), rules.toString(), StandardCharsets.UTF_8);
        Promtool.Result r = Promtool.run(tmp, "check", "rules", "dashboard_rules.yaml");
        assertThat(r.exitCode()).as("promtool check rules on the dashboard's expressions:\n%s\n%s", r.output(), rules)
                .isZero();
        assertThat(r.output()).contains("SUCCESS: " + i + " rules found");
    }
}
