package io.engram.job.cli;

import io.engram.schemas.RecallHit;
import io.engram.schemas.RecallResult;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/** Recall results as an aligned text table: one row per hit. */
final class ResultTable {
    static final String[] HEADER = {"QUERY", "RANK", "MEMORY", "SCORE", "SIMILARITY", "ACTIVATION", "RETENTION", "HOPS",
        "MODE"};

    private ResultTable() {
    }

    /**
     * The rows of one result, header first; {@code extra} adds a free-text last column per hit (or null for none).
     * A result without hits gets one row saying so.
     */
    static String format(RecallResult r, Function<RecallHit, String> extra, String indent) {
        List<String[]> rows = new ArrayList<>();
        rows.add(HEADER);
        int rank = 0;
        for (RecallHit h : r.getHits()) {
            rank++;
            rows.add(new String[] {r.getQueryId(), String.valueOf(rank), h.getMemoryId(), num(h.getScore()),
                num(h.getSimilarity()), num(h.getActivation()), num(h.getRetention()), String.valueOf(h.getHops()),
                r.getKernelMode()});
        }
        int[] width = new int[HEADER.length];
        for (String[] row : rows) {
            for (int i = 0; i < row.length; i++) {
                width[i] = Math.max(width[i], row[i].length());
            }
        }
        StringBuilder sb = new StringBuilder();
        for (int n = 0; n < rows.size(); n++) {
            String[] row = rows.get(n);
            StringBuilder line = new StringBuilder(indent);
            for (int i = 0; i < row.length; i++) {
                boolean numeric = i == 1 || (i >= 3 && i <= 7);
                String cell = numeric && n > 0 ? pad(row[i], width[i], true) : pad(row[i], width[i], false);
                line.append(cell).append("  ");
            }
            if (extra != null && n > 0) {
                String text = extra.apply(r.getHits().get(n - 1));
                line.append(text == null ? "" : text);
            } else if (extra != null) {
                line.append("CONTENT");
            }
            sb.append(stripTrailing(line)).append('\n');
        }
        if (r.getHits().isEmpty()) {
            sb.append(indent).append("(no hits)\n");
        }
        return sb.toString();
    }

    static String num(float f) {
        return String.format(Locale.ROOT, "%.4f", f);
    }

    private static String pad(String s, int width, boolean right) {
        if (s.length() >= width) {
            return s;
        }
        String spaces = " ".repeat(width - s.length());
        return right ? spaces + s : s + spaces;
    }

    private static String stripTrailing(StringBuilder sb) {
        int end = sb.length();
        while (end > 0 && sb.charAt(end - 1) == ' ') {
            end--;
        }
        return sb.substring(0, end);
    }
}
