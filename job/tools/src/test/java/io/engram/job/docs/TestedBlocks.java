package io.engram.job.docs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The command blocks that the documentation marks as tested, and the rules of the markers.
 *
 * <p>A marker is an HTML comment alone on the line right before a fenced code block (GitHub does not render it):
 * <ul>
 *   <li>{@code <!-- tested: exec -->}: the block is a bash script that {@code DocsExecBlocksIT} runs from the
 *       repository root after {@code mvn package}. Keep such blocks cheap (seconds).</li>
 *   <li>{@code <!-- tested: drill -->}: every command line of the block is run by the drill or by CI
 *       ({@code deploy/scripts/rollback_drill.sh} and its libraries, {@code deploy/tests/*.sh}, {@code .ci/run});
 *       {@code DocsTestedBlocksTest} finds each one there.</li>
 *   <li>{@code <!-- output -->}: right after an exec block (nothing but prose in between), the block holds the
 *       output the exec block prints on stdout. Lines are compared one by one after collapsing runs of blanks;
 *       {@code <anything>} in angle brackets matches any text of one or more characters (a number, a path, a
 *       checksum), and a line {@code ...} alone matches any number of lines.</li>
 * </ul>
 * A marker that is not followed by a fence, an unknown kind, and an output marker without an exec block before it
 * are errors: a marker must never point to nothing.
 */
final class TestedBlocks {
    static final Pattern MARKER = Pattern.compile("^\\s*<!--\\s*tested:\\s*([A-Za-z-]+)\\s*-->\\s*$");
    static final Pattern OUTPUT_MARKER = Pattern.compile("^\\s*<!--\\s*output\\s*-->\\s*$");
    /** Anything that looks like a marker, to catch typos ("tested exec", "test: exec"). */
    static final Pattern MARKER_LIKE = Pattern.compile("<!--\\s*(tested|test|output)\\b.*-->");

    enum Kind { EXEC, DRILL }

    /** One marked block: where it is, its body lines, and (exec only) the expected output, or null. */
    record Block(Path file, int line, Kind kind, List<String> body, List<String> output) {
        String where(Path root) {
            return root.relativize(file) + ":" + line;
        }
    }

    /** The marked blocks of all docs and the marker errors found on the way. */
    record Scan(List<Block> blocks, List<String> errors) { }

    private TestedBlocks() { }

    static Scan scan(Path root) throws IOException {
        List<Block> blocks = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        for (Path f : DocsConsistencyTest.markdownFiles(root)) {
            scanFile(root, f, blocks, errors);
        }
        return new Scan(blocks, errors);
    }

    private static void scanFile(Path root, Path file, List<Block> blocks, List<String> errors) {
        List<String> lines;
        try {
            lines = List.of(Files.readString(file, StandardCharsets.UTF_8).replace("\r\n", "\n").split("\n", -1));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String rel = root.relativize(file).toString();
        Block awaitingOutput = null; // the last exec block, while only prose follows it
        int i = 0;
        while (i < lines.size()) {
            String line = lines.get(i);
            String t = line.stripLeading();
            Matcher marker = MARKER.matcher(line);
            boolean output = OUTPUT_MARKER.matcher(line).matches();
            if (marker.matches() || output) {
                int fenceLine = i + 1;
                if (fenceLine >= lines.size() || !isFence(lines.get(fenceLine))) {
                    errors.add(rel + ":" + (i + 1) + ": marker '" + line.strip() + "' is not followed by a fenced block");
                    i++;
                    continue;
                }
                List<String> body = new ArrayList<>();
                int end = readFence(lines, fenceLine, body);
                if (end < 0) {
                    errors.add(rel + ":" + (fenceLine + 1) + ": fenced block is never closed");
                    return;
                }
                if (output) {
                    if (awaitingOutput == null) {
                        errors.add(rel + ":" + (i + 1) + ": output marker without an exec block right before it");
                    } else {
                        Block b = new Block(awaitingOutput.file(), awaitingOutput.line(), Kind.EXEC,
                                awaitingOutput.body(), List.copyOf(body));
                        blocks.set(blocks.size() - 1, b);
                    }
                    awaitingOutput = null;
                } else {
                    Kind kind;
                    try {
                        kind = Kind.valueOf(marker.group(1).toUpperCase(java.util.Locale.ROOT));
                    } catch (IllegalArgumentException e) {
                        errors.add(rel + ":" + (i + 1) + ": unknown marker kind '" + marker.group(1)
                                + "' (exec or drill)");
                        i = end + 1;
                        awaitingOutput = null;
                        continue;
                    }
                    if (body.stream().allMatch(String::isBlank)) {
                        errors.add(rel + ":" + (i + 1) + ": marked block is empty");
                    }
                    Block b = new Block(file, fenceLine + 1, kind, List.copyOf(body), null);
                    blocks.add(b);
                    awaitingOutput = kind == Kind.EXEC ? b : null;
                }
                i = end + 1;
                continue;
            }
            if (MARKER_LIKE.matcher(line.replaceAll("`[^`]*`", "")).find()) { // not when quoted as `code`
                errors.add(rel + ":" + (i + 1) + ": malformed marker '" + line.strip()
                        + "' (use <!-- tested: exec -->, <!-- tested: drill --> or <!-- output --> alone on a line)");
            }
            if (isFence(line)) {
                // An unmarked block ends the chance of an output block for the previous exec block.
                awaitingOutput = null;
                int end = readFence(lines, i, new ArrayList<>());
                i = end < 0 ? lines.size() : end + 1;
                continue;
            }
            if (t.startsWith("#")) {
                awaitingOutput = null; // a new section
            }
            i++;
        }
    }

    private static boolean isFence(String line) {
        String t = line.stripLeading();
        return t.startsWith("```") || t.startsWith("~~~");
    }

    /** Reads the fenced block opening at {@code open} into {@code body}; returns the closing line's index or -1. */
    private static int readFence(List<String> lines, int open, List<String> body) {
        String fence = lines.get(open).stripLeading().substring(0, 3);
        for (int j = open + 1; j < lines.size(); j++) {
            if (lines.get(j).stripLeading().startsWith(fence)) {
                return j;
            }
            body.add(lines.get(j));
        }
        return -1;
    }

    // ----- shell words ------------------------------------------------------------------------------------------

    /**
     * The logical command lines of a shell text: continuation lines joined, comment lines and trailing
     * {@code # comments} dropped, blank lines skipped.
     */
    static List<String> commandLines(List<String> text) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (String raw : text) {
            String line = raw.strip();
            if (cur.length() == 0 && (line.isEmpty() || line.startsWith("#"))) {
                continue;
            }
            line = stripComment(line);
            if (line.endsWith("\\")) {
                cur.append(line, 0, line.length() - 1).append(' ');
                continue;
            }
            cur.append(line);
            if (!cur.toString().isBlank()) {
                out.add(cur.toString().strip());
            }
            cur.setLength(0);
        }
        if (!cur.toString().isBlank()) {
            out.add(cur.toString().strip());
        }
        return out;
    }

    /** Drops a {@code # comment} that starts after a blank, outside quotes. */
    static String stripComment(String line) {
        char quote = 0;
        for (int k = 0; k < line.length(); k++) {
            char c = line.charAt(k);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                }
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '#' && (k == 0 || Character.isWhitespace(line.charAt(k - 1)))) {
                return line.substring(0, k).strip();
            }
        }
        return line;
    }

    /** Shell words of one command line, quotes removed (no expansion: {@code $X} stays as written). */
    static List<String> words(String line) {
        List<String> out = new ArrayList<>();
        StringBuilder w = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (int k = 0; k < line.length(); k++) {
            char c = line.charAt(k);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                } else {
                    w.append(c);
                }
            } else if (c == '"' || c == '\'') {
                quote = c;
                inWord = true;
            } else if (Character.isWhitespace(c)) {
                if (inWord) {
                    out.add(w.toString());
                    w.setLength(0);
                    inWord = false;
                }
            } else {
                w.append(c);
                inWord = true;
            }
        }
        if (inWord) {
            out.add(w.toString());
        }
        return out;
    }

    // ----- output matching --------------------------------------------------------------------------------------

    /** Null when {@code actual} matches the documented {@code expected} lines, else the first difference. */
    static String matchOutput(List<String> expected, List<String> actual) {
        List<String> exp = new ArrayList<>();
        for (String e : expected) {
            exp.add(norm(e));
        }
        while (!exp.isEmpty() && exp.get(exp.size() - 1).isEmpty()) {
            exp.remove(exp.size() - 1);
        }
        List<String> act = new ArrayList<>();
        for (String a : actual) {
            act.add(norm(a));
        }
        while (!act.isEmpty() && act.get(act.size() - 1).isEmpty()) {
            act.remove(act.size() - 1);
        }
        List<Pattern> patterns = new ArrayList<>();
        for (String e : exp) {
            patterns.add(e.equals("...") ? null : linePattern(e));
        }
        int[] best = {0, 0};
        if (match(patterns, 0, act, 0, best)) {
            return null;
        }
        int ei = best[0];
        int ai = best[1];
        return "doc line " + (ei + 1) + " '" + (ei < exp.size() ? exp.get(ei) : "<end of doc output>")
                + "' vs actual line " + (ai + 1) + " '" + (ai < act.size() ? act.get(ai) : "<end of output>") + "'";
    }

    private static boolean match(List<Pattern> p, int pi, List<String> a, int ai, int[] best) {
        if (pi > best[0] || (pi == best[0] && ai > best[1])) {
            best[0] = pi;
            best[1] = ai;
        }
        if (pi == p.size()) {
            return ai == a.size();
        }
        if (p.get(pi) == null) { // "...": zero or more lines
            for (int k = ai; k <= a.size(); k++) {
                if (match(p, pi + 1, a, k, best)) {
                    return true;
                }
            }
            return false;
        }
        return ai < a.size() && p.get(pi).matcher(a.get(ai)).matches() && match(p, pi + 1, a, ai + 1, best);
    }

    static String norm(String s) {
        return s.strip().replaceAll("[ \\t]+", " ");
    }

    /** A documented output line as a regex: literal text, {@code <...>} = one or more characters. */
    static Pattern linePattern(String expectedLine) {
        StringBuilder re = new StringBuilder();
        Matcher m = Pattern.compile("<[^<>]+>").matcher(expectedLine);
        int last = 0;
        while (m.find()) {
            re.append(Pattern.quote(expectedLine.substring(last, m.start()))).append(".+?");
            last = m.end();
        }
        re.append(Pattern.quote(expectedLine.substring(last)));
        return Pattern.compile(re.toString());
    }
}
