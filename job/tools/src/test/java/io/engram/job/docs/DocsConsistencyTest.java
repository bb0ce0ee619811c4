package io.engram.job.docs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The documentation must not point at things that do not exist: relative Markdown links (and their #anchors, by
 * GitHub's heading slug rules), operator script paths, Prometheus metric names, and the alert rules' runbook URLs.
 */
class DocsConsistencyTest {
    private static final Pattern LINK = Pattern.compile("!?\\[[^\\]]*\\]\\(\\s*<?([^)\\s>]+)>?(?:\\s+\"[^\"]*\")?\\s*\\)");
    private static final Pattern HEADING = Pattern.compile("^ {0,3}(#{1,6})\\s+(.*?)\\s*#*\\s*$");
    private static final Pattern HTML_ANCHOR = Pattern.compile("<a\\s+(?:name|id)=\"([^\"]+)\"");
    private static final Pattern SCRIPT = Pattern.compile("deploy/scripts/[A-Za-z0-9_]+\\.sh");
    private static final Pattern METRIC = Pattern.compile("flink_[a-z_]+engram_[A-Za-z_]+");
    private static final Pattern RUNBOOK = Pattern.compile("runbook_url:\\s*\"?([^\"\\s]+)\"?");

    /** Same discovery as ConfigDocsTest: the first directory above user.dir with pom.xml and job/pom.xml. */
    static Path repoRoot() {
        Path p = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        for (Path d = p; d != null; d = d.getParent()) {
            if (Files.exists(d.resolve("job/pom.xml")) && Files.exists(d.resolve("pom.xml"))) {
                return d;
            }
        }
        throw new IllegalStateException("cannot find the repository root above " + p);
    }

    /** README.md, docs/**&#47;*.md and deploy/**&#47;*.md (build output excluded). */
    static List<Path> markdownFiles(Path root) throws IOException {
        List<Path> files = new ArrayList<>();
        files.add(root.resolve("README.md"));
        for (String dir : new String[] {"docs", "deploy"}) {
            Path d = root.resolve(dir);
            if (!Files.isDirectory(d)) {
                continue;
            }
            try (Stream<Path> s = Files.walk(d)) {
                s.filter(p -> p.toString().endsWith(".md"))
                        .filter(p -> !root.relativize(p).toString().contains("target/"))
                        .sorted().forEach(files::add);
            }
        }
        return files;
    }

    /** The file's lines outside fenced code blocks, with inline code spans removed. */
    static List<String> proseLines(Path file) {
        List<String> out = new ArrayList<>();
        boolean fenced = false;
        String fence = null;
        for (String line : read(file).split("\n", -1)) {
            String t = line.stripLeading();
            if (!fenced && (t.startsWith("```") || t.startsWith("~~~"))) {
                fenced = true;
                fence = t.substring(0, 3);
                continue;
            }
            if (fenced) {
                if (t.startsWith(fence)) {
                    fenced = false;
                }
                continue;
            }
            out.add(line.replaceAll("`[^`]*`", ""));
        }
        return out;
    }

    /** GitHub's anchors for a Markdown file: heading slugs (with -1, -2 for repeats) and explicit HTML anchors. */
    static Set<String> anchors(Path file) {
        Set<String> result = new HashSet<>();
        Map<String, Integer> seen = new HashMap<>();
        boolean fenced = false;
        for (String line : read(file).split("\n", -1)) {
            String t = line.stripLeading();
            if (t.startsWith("```") || t.startsWith("~~~")) {
                fenced = !fenced;
                continue;
            }
            if (fenced) {
                continue;
            }
            Matcher h = HEADING.matcher(line);
            if (h.matches()) {
                String base = slug(h.group(2));
                int n = seen.merge(base, 1, Integer::sum) - 1;
                result.add(n == 0 ? base : base + "-" + n);
            }
            Matcher a = HTML_ANCHOR.matcher(line);
            while (a.find()) {
                result.add(a.group(1));
            }
        }
        return result;
    }

    /** GitHub's slug: rendered text, lower case, punctuation dropped (not - and _), each space a hyphen. */
    static String slug(String heading) {
        String text = heading
                .replaceAll("!?\\[([^\\]]*)\\]\\([^)]*\\)", "$1") // links and images: their text
                .replaceAll("<[^>]+>", "")                         // inline HTML tags
                .replace("`", "").replace("*", "");
        text = text.replaceAll("(^|\\s)_+|_+($|\\s)", "$1$2"); // _emphasis_ markers, not snake_case
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            i += Character.charCount(cp);
            if (Character.isLetterOrDigit(cp) || cp == '-' || cp == '_') {
                sb.appendCodePoint(Character.toLowerCase(cp));
            } else if (cp == ' ') {
                sb.append('-');
            }
        }
        return sb.toString().toLowerCase(Locale.ROOT);
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8).replace("\r\n", "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Null when the target (file and anchor) exists, else what is wrong. */
    static String checkTarget(Path root, Path from, String target) {
        String path = target;
        String anchor = null;
        int hash = target.indexOf('#');
        if (hash >= 0) {
            path = target.substring(0, hash);
            anchor = target.substring(hash + 1);
        }
        int query = path.indexOf('?');
        if (query >= 0) {
            path = path.substring(0, query);
        }
        Path file;
        if (path.isEmpty()) {
            file = from;
        } else if (path.startsWith("/")) {
            file = root.resolve(path.substring(1)).normalize();
        } else {
            file = from.getParent().resolve(path).normalize();
        }
        if (!Files.exists(file)) {
            return "missing file " + root.relativize(file);
        }
        if (anchor != null && !anchor.isEmpty() && file.toString().endsWith(".md")) {
            Set<String> known = anchors(file);
            if (!known.contains(anchor)) {
                return "no heading #" + anchor + " in " + root.relativize(file) + " (has " + new TreeSet<>(known) + ")";
            }
        }
        return null;
    }

    private static boolean external(String target) {
        return target.matches("^[a-zA-Z][a-zA-Z0-9+.-]*:.*");
    }

    @Test
    void relativeLinksResolve() throws IOException {
        Path root = repoRoot();
        List<String> broken = new ArrayList<>();
        int checked = 0;
        for (Path f : markdownFiles(root)) {
            List<String> lines = proseLines(f);
            for (int i = 0; i < lines.size(); i++) {
                Matcher m = LINK.matcher(lines.get(i));
                while (m.find()) {
                    String target = m.group(1);
                    if (external(target)) {
                        continue;
                    }
                    checked++;
                    String problem = checkTarget(root, f, target);
                    if (problem != null) {
                        broken.add(root.relativize(f) + ":" + (i + 1) + ": (" + target + ") " + problem);
                    }
                }
            }
        }
        assertThat(checked).as("relative links checked").isPositive();
        assertThat(broken).as("broken relative links").isEmpty();
    }

    @Test
    void mentionedScriptsExistAndAreExecutable() throws IOException {
        Path root = repoRoot();
        Set<String> problems = new TreeSet<>();
        int mentions = 0;
        for (Path f : markdownFiles(root)) {
            Matcher m = SCRIPT.matcher(read(f));
            while (m.find()) {
                mentions++;
                Path script = root.resolve(m.group());
                if (!Files.isRegularFile(script)) {
                    problems.add(root.relativize(f) + ": " + m.group() + " does not exist");
                } else if (!Files.isExecutable(script)) {
                    problems.add(root.relativize(f) + ": " + m.group() + " is not executable");
                }
            }
        }
        assertThat(mentions).as("deploy/scripts/*.sh mentions").isPositive();
        assertThat(problems).isEmpty();
    }

    @Test
    void mentionedMetricsAreExported() throws IOException {
        Path root = repoRoot();
        Set<String> exported = new HashSet<>();
        for (String line : Files.readAllLines(root.resolve("deploy/prometheus/exported-metrics.txt"))) {
            String t = line.strip();
            if (!t.isEmpty() && !t.startsWith("#")) {
                exported.add(t);
            }
        }
        Set<String> unknown = new TreeSet<>();
        int mentions = 0;
        for (Path f : markdownFiles(root)) {
            Matcher m = METRIC.matcher(read(f));
            while (m.find()) {
                mentions++;
                if (!exported.contains(m.group())) {
                    unknown.add(root.relativize(f) + ": " + m.group());
                }
            }
        }
        assertThat(mentions).as("metric names mentioned in the docs").isPositive();
        assertThat(unknown).as("metric names not in exported-metrics.txt").isEmpty();
    }

    @Test
    void alertRunbookUrlsResolve() throws IOException {
        Path root = repoRoot();
        Path alerts = root.resolve("deploy/prometheus/alerts.yaml");
        List<String> broken = new ArrayList<>();
        int urls = 0;
        Matcher m = RUNBOOK.matcher(read(alerts));
        while (m.find()) {
            urls++;
            String url = m.group(1);
            assertThat(external(url)).as("runbook_url %s is a repository path", url).isFalse();
            String problem = checkTarget(root, root.resolve("README.md"), url);
            if (problem != null) {
                broken.add(url + ": " + problem);
            }
        }
        assertThat(urls).as("runbook_url entries").isPositive();
        assertThat(broken).isEmpty();
    }

    @Test
    void slugFollowsGitHubRules() {
        assertThat(slug("Arena overflows")).isEqualTo("arena-overflows");
        assertThat(slug("Dead-letter reasons")).isEqualTo("dead-letter-reasons");
        assertThat(slug("`engram.kernels.*` (Zig) & more!")).isEqualTo("engramkernels-zig--more");
        assertThat(slug("At 3 AM: roll back to Java")).isEqualTo("at-3-am-roll-back-to-java");
        assertThat(slug("kernel_mode_calls")).isEqualTo("kernel_mode_calls");
    }
}
