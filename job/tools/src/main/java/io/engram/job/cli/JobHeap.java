package io.engram.job.cli;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The heap of {@code engram run}, which runs the job in its own JVM: given with {@code --job-heap} (or the default)
 * and set as -Xmx by the ./engram launcher, since a running JVM cannot change its heap. Without a bound the JVM
 * takes a quarter of the machine's memory (6.3 GB of 23 GB was seen), and one busy job can starve its neighbours.
 */
record JobHeap(long bytes, String text, boolean given) {
    /** The default: also DEFAULT_JOB_HEAP in ./engram. */
    static final String DEFAULT = "2g";
    private static final Pattern SIZE = Pattern.compile("([0-9]+)([kKmMgG]?)");

    static JobHeap parse(String text) {
        String t = text == null ? DEFAULT : text.trim();
        Matcher m = SIZE.matcher(t);
        if (!m.matches()) {
            throw CliException.usage("--job-heap '" + text + "' is not a heap size like 512m or 4g");
        }
        long n;
        try {
            n = Long.parseLong(m.group(1));
        } catch (NumberFormatException e) {
            throw CliException.usage("--job-heap '" + text + "' is too large");
        }
        int shift = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            default -> 0;
        };
        long bytes = n << shift;
        if (bytes < (256L << 20) || (bytes >>> shift) != n) {
            throw CliException.usage("--job-heap " + t + " must be at least 256m");
        }
        return new JobHeap(bytes, t, text != null);
    }

    /**
     * The banner line: the heap and where it came from, or a warning when this JVM's maximum heap is not it (the
     * command was not started through ./engram, or ENGRAM_JAVA_OPTS set another -Xmx, which wins).
     */
    String describe(long jvmMaxHeap) {
        String source = given ? "--job-heap " + text : "default " + text + ", set with --job-heap";
        // G1 reports -Xmx exactly; other collectors a little less (one survivor space)
        if (jvmMaxHeap <= bytes && jvmMaxHeap >= bytes - bytes / 10) {
            return human(bytes) + " (" + source + ")";
        }
        return human(jvmMaxHeap) + " -- NOT the requested " + human(bytes) + " (" + source + "): start engram run "
                + "through ./engram, which sets -Xmx from --job-heap, and leave -Xmx out of ENGRAM_JAVA_OPTS";
    }

    static String human(long bytes) {
        if (bytes % (1L << 30) == 0) {
            return (bytes >> 30) + " GiB";
        }
        if (bytes >= (1L << 30)) {
            return String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
        }
        return (bytes >> 20) + " MiB";
    }
}
