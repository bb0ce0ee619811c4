package io.engram.job.monitoring;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The monitoring material under deploy/ as the tests see it: where the files are, the PromQL expressions in the
 * alert rules and in the Grafana dashboard, and the metric names those expressions use. Shared by
 * {@link MetricsScrapeIT} (names must exist on the running job's Prometheus endpoint), {@link GrafanaDashboardTest}
 * and {@link PrometheusRulesTest}.
 */
final class MonitoringArtifacts {
    /** A metric name in PromQL: every metric this project alerts on or graphs is one of Flink's, so starts flink_. */
    private static final Pattern METRIC = Pattern.compile("(?<![A-Za-z0-9_:\"'])(flink_[A-Za-z0-9_]+)\\b");

    private MonitoringArtifacts() {
    }

    /** The repository root: the first directory upwards from the working directory with deploy/ and job/. */
    static Path repoRoot() {
        Path dir = Paths.get(System.getProperty("user.dir")).toAbsolutePath();
        for (Path d = dir; d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve("deploy")) && Files.isDirectory(d.resolve("job"))) {
                return d;
            }
        }
        throw new IllegalStateException("no repository root (a directory with deploy/ and job/) above " + dir);
    }

    static Path alertRules() {
        return repoRoot().resolve("deploy/prometheus/alerts.yaml");
    }

    static Path alertTests() {
        return repoRoot().resolve("deploy/prometheus/alerts_test.yaml");
    }

    static Path installPromtool() {
        return repoRoot().resolve("deploy/prometheus/install_promtool.sh");
    }

    static Path dashboard() {
        return repoRoot().resolve("deploy/grafana/engram-dashboard.json");
    }

    /** The catalogue of exported metric names (checked against a real scrape by MetricsScrapeIT). */
    static Path metricCatalogue() {
        return repoRoot().resolve("deploy/prometheus/exported-metrics.txt");
    }

    static JsonNode readYaml(Path file) {
        try {
            return new YAMLMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot parse " + file, e);
        }
    }

    static JsonNode readJson(Path file) {
        try {
            return new ObjectMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot parse " + file, e);
        }
    }

    /** Every {@code expr} of every alerting or recording rule in alerts.yaml. */
    static List<String> alertExpressions() {
        List<String> out = new ArrayList<>();
        for (JsonNode group : readYaml(alertRules()).path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                out.add(rule.path("expr").asText());
            }
        }
        return out;
    }

    /** Every panel of the dashboard, with the panels nested in collapsed rows. */
    static List<JsonNode> dashboardPanels() {
        List<JsonNode> out = new ArrayList<>();
        collectPanels(readJson(dashboard()).path("panels"), out);
        return out;
    }

    private static void collectPanels(JsonNode panels, List<JsonNode> out) {
        for (JsonNode p : panels) {
            out.add(p);
            collectPanels(p.path("panels"), out);
        }
    }

    /** Every target expression of every panel, and every query of a query-backed template variable. */
    static List<String> dashboardExpressions() {
        List<String> out = new ArrayList<>();
        for (JsonNode p : dashboardPanels()) {
            for (JsonNode t : p.path("targets")) {
                out.add(t.path("expr").asText());
            }
        }
        for (JsonNode v : readJson(dashboard()).path("templating").path("list")) {
            if ("query".equals(v.path("type").asText())) {
                JsonNode q = v.path("query");
                out.add(q.isObject() ? q.path("query").asText() : q.asText());
            }
        }
        return out;
    }

    static SortedSet<String> metricNames(Collection<String> expressions) {
        SortedSet<String> names = new TreeSet<>();
        for (String e : expressions) {
            Matcher m = METRIC.matcher(e);
            while (m.find()) {
                names.add(m.group(1));
            }
        }
        return names;
    }

    /** The names in the catalogue file: one per line, # comments and blank lines ignored. */
    static SortedSet<String> catalogue() {
        SortedSet<String> names = new TreeSet<>();
        try {
            for (String line : Files.readAllLines(metricCatalogue(), StandardCharsets.UTF_8)) {
                String s = line.strip();
                if (!s.isEmpty() && !s.startsWith("#")) {
                    names.add(s);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return names;
    }
}
