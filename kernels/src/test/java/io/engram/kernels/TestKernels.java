package io.engram.kernels;

import java.util.Map;
import java.util.Optional;

/** Opens real kernel sets for tests. */
final class TestKernels {
    private TestKernels() {
    }

    static boolean javaOnlyBuild() {
        return Boolean.getBoolean("engram.build.javaOnly");
    }

    static MemoryKernels zig() {
        return zig(new ArenaConfig(ArenaConfig.DEFAULT_CAPACITY, OverflowStrategy.FAIL));
    }

    /** A Zig kernel set with its own arena; FAIL by default so a silent fallback cannot hide a Zig bug. */
    static MemoryKernels zig(ArenaConfig arena) {
        MemoryKernels k = Kernels.open(new KernelsConfig(KernelMode.ZIG, arena, Optional.empty(), Optional.empty()));
        assert k.mode() == KernelMode.ZIG;
        return k;
    }

    static ArenaConfig arena(long bytes, OverflowStrategy overflow) {
        return ArenaConfig.resolve(bytes, overflow, Map.of());
    }
}
