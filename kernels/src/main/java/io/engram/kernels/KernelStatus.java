package io.engram.kernels;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The answer to "are the Zig kernels active, and which build?": requested and active mode, the library (path,
 * checksum, variant, Zig version), the CPU's features and the arena configuration.
 */
public record KernelStatus(KernelMode requestedMode, KernelMode activeMode, String reason, LoadedLibrary library,
                           Platform platform, ArenaConfig arena) {

    /** Flat key/value view, in a stable order, for logs, the CLI and JSON. */
    public Map<String, String> toMap() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("mode.requested", requestedMode.label());
        m.put("mode.active", activeMode.label());
        m.put("reason", reason);
        m.put("platform", platform.triple());
        m.put("cpu.features", String.join(",", platform.cpuFeatures()));
        if (library != null) {
            m.put("library.path", library.path().toString());
            m.put("library.sha256", library.sha256());
            m.put("library.source", library.source());
            m.put("library.variant", library.variant());
            m.put("library.zig-version", library.zigVersion());
            m.put("library.abi-version", Integer.toString(library.abiVersion()));
            m.put("library.compiled-features", compiledFeatures(library.compiledFeatures()));
        }
        m.put("arena.size", Long.toString(arena.capacityBytes()));
        m.put("arena.overflow", arena.overflow().label());
        return m;
    }

    static String compiledFeatures(int bits) {
        List<String> names = LoadedLibrary.featureNames(bits);
        return names.isEmpty() ? "none" : String.join(",", names);
    }

    /** Human-readable, one key per line. */
    public String describe() {
        StringBuilder sb = new StringBuilder();
        toMap().forEach((k, v) -> sb.append(String.format("%-26s %s%n", k, v)));
        return sb.toString();
    }
}
