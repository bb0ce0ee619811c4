package io.engram.job.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.engram.job.config.EngramSettings;
import io.engram.kernels.KernelStatus;
import io.engram.kernels.Kernels;
import io.engram.kernels.KernelsConfig;
import io.engram.kernels.NativeLoadException;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code engram status}: which kernels this machine would run, and why. */
@Command(name = "status",
        description = {
            "Shows which kernel implementation the given engram.kernels.* settings select on this machine (mode "
                    + "default: auto): requested and active mode, the native library (path, SHA-256, CPU variant, Zig "
                    + "version), the CPU's features and the arena. Exit 1 when mode zig is requested and the native "
                    + "library cannot load.",
            "Never prints Kafka client properties (credentials)."},
        sortOptions = false,
        mixinStandardHelpOptions = true)
final class StatusCommand extends BaseCommand {
    @Option(names = "-D", paramLabel = "key=value",
            description = "engram.kernels.* settings, e.g. -D engram.kernels.mode=zig. Repeatable.")
    Map<String, String> properties;

    @Option(names = "--json", description = "One JSON object instead of aligned key/value lines.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ConfigArgs args = ConfigArgs.of(properties, false);
        KernelsConfig config = new EngramSettings(args.configuration()).kernelsConfig();
        Map<String, String> status;
        int code = 0;
        try {
            KernelStatus s = Kernels.status(config);
            status = s.toMap();
        } catch (NativeLoadException e) {
            status = new LinkedHashMap<>();
            status.put("mode.requested", config.mode().label());
            status.put("mode.active", "none");
            status.put("reason", "the Zig kernels cannot load: " + e.getMessage());
            status.put("arena.size", Long.toString(config.arena().capacityBytes()));
            status.put("arena.overflow", config.arena().overflow().label());
            code = 1;
        }
        if (json) {
            ObjectNode node = new ObjectMapper().createObjectNode();
            status.forEach(node::put);
            out().println(new ObjectMapper().writeValueAsString(node));
        } else {
            int width = status.keySet().stream().mapToInt(String::length).max().orElse(0);
            status.forEach((k, v) -> out().println(k + " ".repeat(width - k.length() + 2) + v));
        }
        out().flush();
        return code;
    }
}
