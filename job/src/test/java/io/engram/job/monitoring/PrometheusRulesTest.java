package io.engram.job.monitoring;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SortedSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * deploy/prometheus/alerts.yaml is checked by the real promtool: {@code promtool check rules} (syntax, PromQL,
 * templates) and {@code promtool test rules alerts_test.yaml} (every alert fires on its input series and stays
 * silent on the others). Broken copies must fail both. Fails (does not skip) without promtool: see
 * {@link Promtool#MISSING}.
 */
class PrometheusRulesTest {
    private static final Logger LOG = LoggerFactory.getLogger(PrometheusRulesTest.class);
    private static final String RUNBOOK = "docs/operations/zig_rollback_procedures.md";

    private static Path dir() {
        return MonitoringArtifacts.alertRules().getParent();
    }

    @Test
    void promtoolCheckRulesPasses() throws Exception {
        Promtool.Result r = Promtool.run(dir(), "check", "rules", "alerts.yaml");
        LOG.info("promtool check rules alerts.yaml (exit {}):\n{}", r.exitCode(), r.output());
        assertThat(r.exitCode()).as("promtool check rules alerts.yaml:\n%s", r.output()).isZero();
        assertThat(r.output()).contains("SUCCESS");
    }

    @Test
    void promtoolUnitTestsPass() throws Exception {
        Promtool.Result r = Promtool.run(dir(), "test", "rules", "alerts_test.yaml");
        LOG.info("promtool test rules alerts_test.yaml (exit {}):\n{}", r.exitCode(), r.output());
        assertThat(r.exitCode()).as("promtool test rules alerts_test.yaml:\n%s", r.output()).isZero();
        assertThat(r.output()).contains("SUCCESS");
    }

    @Test
    void brokenRulesFailPromtoolCheck(@TempDir Path tmp) throws Exception {
        String rules = Files.readString(MonitoringArtifacts.alertRules(), StandardCharsets.UTF_8);
        // A PromQL syntax error ...
        Files.writeString(tmp.resolve("alerts.yaml"), replaceOnce(rules, "> 0.01", "> > 0.01"));
        Promtool.Result syntax = Promtool.run(tmp, "check", "rules", "alerts.yaml");
        assertThat(syntax.exitCode()).as(syntax.output()).isNotZero();
        assertThat(syntax.output()).contains("parse error");
        // ... and a broken annotation template.
        Files.writeString(tmp.resolve("alerts.yaml"),
                replaceOnce(rules, "{{ $labels.job_name }})\"", "{{ $labels.job_name )\""));
        Promtool.Result template = Promtool.run(tmp, "check", "rules", "alerts.yaml");
        assertThat(template.exitCode()).as(template.output()).isNotZero();
    }

    @Test
    void changedRuleBehaviourFailsTheUnitTests(@TempDir Path tmp) throws Exception {
        String rules = Files.readString(MonitoringArtifacts.alertRules(), StandardCharsets.UTF_8);
        Files.copy(MonitoringArtifacts.alertTests(), tmp.resolve("alerts_test.yaml"));
        // Overflow threshold 1% -> 0.1%: the 0.5% job of the "must not fire" case now fires.
        Files.writeString(tmp.resolve("alerts.yaml"), replaceOnce(rules, "> 0.01", "> 0.001"));
        Promtool.Result r = Promtool.run(tmp, "test", "rules", "alerts_test.yaml");
        LOG.info("promtool test rules on a deliberately broken copy (exit {}):\n{}", r.exitCode(), r.output());
        assertThat(r.exitCode()).as(r.output()).isNotZero();
        assertThat(r.output()).contains("FAILED").contains("EngramArenaOverflowRateHigh").contains("engram_low");
    }

    @Test
    void everyAlertHasForSeveritySummaryDescriptionAndRunbook() {
        List<JsonNode> alerts = alerts();
        assertThat(alerts).hasSizeGreaterThanOrEqualTo(8);
        for (JsonNode a : alerts) {
            String name = a.path("alert").asText();
            assertThat(name).as("alert name").matches("Engram[A-Za-z0-9]+");
            assertThat(a.has("for")).as("%s has for:", name).isTrue();
            assertThat(a.path("labels").path("severity").asText()).as("%s severity", name)
                    .isIn("critical", "warning", "info");
            JsonNode ann = a.path("annotations");
            assertThat(ann.path("summary").asText()).as("%s summary", name).isNotBlank();
            assertThat(ann.path("description").asText()).as("%s description", name).isNotBlank();
            assertThat(ann.path("runbook_url").asText()).as("%s runbook", name).startsWith(RUNBOOK);
        }
    }

    @Test
    void everyAlertHasAFiringAndASilentUnitTest() {
        Set<String> fired = new LinkedHashSet<>();
        Set<String> silent = new LinkedHashSet<>();
        for (JsonNode test : MonitoringArtifacts.readYaml(MonitoringArtifacts.alertTests()).path("tests")) {
            for (JsonNode t : test.path("alert_rule_test")) {
                String name = t.path("alertname").asText();
                if (t.path("exp_alerts").size() > 0) {
                    fired.add(name);
                } else {
                    silent.add(name);
                }
            }
        }
        for (JsonNode a : alerts()) {
            String name = a.path("alert").asText();
            assertThat(fired).as("a case in alerts_test.yaml where %s fires", name).contains(name);
            assertThat(silent).as("a case in alerts_test.yaml where %s must not fire", name).contains(name);
        }
    }

    @Test
    void rulesUseOnlyExportedMetricNames() {
        SortedSet<String> used = MonitoringArtifacts.metricNames(MonitoringArtifacts.alertExpressions());
        assertThat(used).isNotEmpty();
        assertThat(MonitoringArtifacts.catalogue()).as("deploy/prometheus/exported-metrics.txt (checked against a "
                + "real scrape by MetricsScrapeIT)").containsAll(used);
        // The divergence guard, arena, mode, latency, dead letters and checkpoints are all covered.
        assertThat(used).contains(
                "flink_taskmanager_job_task_operator_engram_arena_overflows",
                "flink_taskmanager_job_task_operator_engram_kernel_mode_calls",
                "flink_taskmanager_job_task_operator_engram_arena_highWaterBytes",
                "flink_taskmanager_job_task_operator_engram_arena_capacityBytes",
                "flink_taskmanager_job_task_operator_engram_kernel_mode_latencyNs",
                "flink_taskmanager_job_task_operator_engram_shadowDivergences",
                "flink_taskmanager_job_task_operator_engram_kernelMode",
                "flink_taskmanager_job_task_operator_engram_reason_deadLetters",
                "flink_jobmanager_job_numberOfFailedCheckpoints");
    }

    @Test
    void installScriptIsIdempotentWhenPromtoolIsPresent() throws Exception {
        Promtool.binary(); // fails with the install hint when missing
        Path script = MonitoringArtifacts.installPromtool();
        assertThat(script).isRegularFile();
        Promtool.Result r = Promtool.exec(dir(), List.of("bash", script.toString()));
        assertThat(r.exitCode()).as(r.output()).isZero();
        assertThat(r.output()).contains("promtool already installed");
    }

    private static List<JsonNode> alerts() {
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode group : MonitoringArtifacts.readYaml(MonitoringArtifacts.alertRules()).path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                if (rule.has("alert")) {
                    out.add(rule);
                }
            }
        }
        return out;
    }

    private static String replaceOnce(String text, String from, String to) {
        int i = text.indexOf(from);
        assertThat(i).as("'%s' in alerts.yaml", from).isNotNegative();
        return text.substring(0, i) + to + text.substring(i + from.length());
    }
}
