package io.engram.job.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.engram.job.config.EngramOptions;
import io.engram.kernels.KernelMode;
import io.engram.kernels.KernelStatus;
import io.engram.kernels.Kernels;
import io.engram.kernels.KernelsConfig;
import io.engram.kernels.NativeLoadException;
import java.net.URI;
import java.util.Map;
import java.util.Optional;

/** What {@code demo} and {@code run} share: the kernel line, the web UI check. */
final class LocalRun {
    private LocalRun() {
    }

    /** The kernels the job's subtasks will open here; mode zig without a loadable library is a clear error. */
    static KernelStatus kernelStatus(KernelsConfig config, String modeOption) {
        try {
            return Kernels.status(config);
        } catch (NativeLoadException e) {
            throw new CliException(CliException.FAILURE, modeOption + " zig: the Zig kernels cannot load on this "
                    + "machine: " + e.getMessage() + ". A -Pjava-only build has no native library; use mode auto or "
                    + "java, or rebuild without -Pjava-only.", e);
        }
    }

    /** {@code java (requested auto: auto fell back to Java: ...)} or {@code zig (x86_64_v3, Zig 0.13.0, ...)}. */
    static String kernelLine(KernelStatus s) {
        Map<String, String> m = s.toMap();
        StringBuilder sb = new StringBuilder(s.activeMode().label());
        if (s.activeMode() == KernelMode.ZIG) {
            sb.append(" (native library variant ").append(m.get("library.variant"))
                    .append(", Zig ").append(m.get("library.zig-version"))
                    .append(", compiled features ").append(m.get("library.compiled-features"))
                    .append(", sha256 ").append(abbreviate(m.get("library.sha256"), 12)).append(')');
        } else if (s.requestedMode() != KernelMode.JAVA) {
            sb.append(" (requested ").append(s.requestedMode().label()).append(": ").append(s.reason()).append(')');
        } else {
            sb.append(" (requested java)");
        }
        return sb.toString();
    }

    private static String abbreviate(String s, int n) {
        return s == null || s.length() <= n ? String.valueOf(s) : s.substring(0, n) + "…";
    }

    /** The Flink version the web UI's REST API reports, if it answers. */
    static Optional<String> webUiAnswers(URI webUi) {
        String body = LocalFlink.httpGet(webUi.resolve("config"), 2000);
        if (body == null) {
            return Optional.empty();
        }
        try {
            JsonNode n = new ObjectMapper().readTree(body);
            JsonNode v = n.get("flink-version");
            return Optional.of(v == null ? "unknown version" : v.asText());
        } catch (Exception e) {
            return Optional.empty();
        }
    }

    /** The five topic names the job uses with this configuration. */
    static java.util.List<String> topics(org.apache.flink.configuration.Configuration c) {
        return java.util.List.of(
                c.get(EngramOptions.TOPIC_MEMORY_EVENTS),
                c.get(EngramOptions.TOPIC_RECALL_QUERIES),
                c.get(EngramOptions.TOPIC_RECALL_RESULTS),
                c.get(EngramOptions.TOPIC_DEAD_LETTERS),
                c.get(EngramOptions.TOPIC_CONTROL));
    }
}
