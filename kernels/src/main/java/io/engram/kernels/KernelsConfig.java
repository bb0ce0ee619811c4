package io.engram.kernels;

import java.nio.file.Path;
import java.util.Optional;

/**
 * How a subtask's kernels are opened.
 *
 * @param mode        zig, java or auto
 * @param arena       capacity and overflow strategy of the per-subtask arena
 * @param libraryPath an explicit native library to load instead of the one inside the jar
 * @param cpuVariant  force a build variant (e.g. {@code baseline}) instead of the CPU-detected one
 */
public record KernelsConfig(KernelMode mode, ArenaConfig arena, Optional<Path> libraryPath,
                            Optional<String> cpuVariant) {
    public KernelsConfig {
        if (mode == null || arena == null || libraryPath == null || cpuVariant == null) {
            throw new IllegalArgumentException("kernel configuration fields must not be null");
        }
    }

    public static KernelsConfig of(KernelMode mode) {
        return new KernelsConfig(mode, ArenaConfig.defaults(), Optional.empty(), Optional.empty());
    }

    public KernelsConfig withArena(ArenaConfig newArena) {
        return new KernelsConfig(mode, newArena, libraryPath, cpuVariant);
    }
}
