package io.engram.job.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which {@code engram.*} keys exist. Flink accepts any key in a configuration, so a typo ({@code -D
 * engram.kernels.mod=java}) would otherwise be ignored without a word and the job run with the default: during a
 * rollback, a rollback that did not happen. Every path that builds the job ({@code flink run}, the REST API,
 * {@code engram run}) refuses such keys through {@link EngramSettings}, with a "did you mean" for near misses.
 */
public final class EngramKeys {
    private static final String ENGRAM = "engram.";

    private EngramKeys() {
    }

    /** Every option key of {@link EngramOptions}. */
    public static Set<String> known() {
        return ConfigDocs.byKey().keySet();
    }

    /** True for keys this job reads: its options and the Kafka client pass-through prefix. */
    public static boolean isKnown(String key) {
        return known().contains(key) || (key.startsWith(EngramOptions.KAFKA_PROPERTIES_PREFIX)
                && key.length() > EngramOptions.KAFKA_PROPERTIES_PREFIX.length());
    }

    /**
     * Throws {@link IllegalArgumentException} naming every {@code engram.*} key of {@code keys} that is not an
     * option, each with its nearest option when that one is close. Other keys (Flink's) are not checked here.
     */
    public static void requireKnown(Iterable<String> keys) {
        Set<String> known = known();
        List<String> problems = new ArrayList<>();
        for (String key : new TreeSet<>(toList(keys))) {
            if (key.startsWith(ENGRAM) && !isKnown(key)) {
                problems.add(key + suggestion(key, known));
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("invalid configuration: unknown option"
                    + (problems.size() > 1 ? "s " : " ") + String.join(", ", problems)
                    + " (all options: docs/operations/configuration.md)");
        }
    }

    private static List<String> toList(Iterable<String> keys) {
        List<String> l = new ArrayList<>();
        keys.forEach(l::add);
        return l;
    }

    /** " (did you mean K?)" for the nearest known key K, if it is a near miss; else "". */
    public static String suggestion(String key, Set<String> known) {
        String best = null;
        int bestDistance = Integer.MAX_VALUE;
        for (String k : new TreeSet<>(known)) {
            int d = distance(key, k);
            if (d < bestDistance) {
                bestDistance = d;
                best = k;
            }
        }
        return best != null && bestDistance <= Math.max(2, key.length() / 5) ? " (did you mean " + best + "?)" : "";
    }

    /** Levenshtein distance. */
    static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
