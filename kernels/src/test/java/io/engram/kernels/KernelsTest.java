package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Mode dispatch: java never loads, zig fails fast, auto falls back with a counted warning. */
class KernelsTest {
    private static final KernelsConfig AUTO = new KernelsConfig(KernelMode.AUTO, ArenaConfig.defaults(),
            Optional.empty(), Optional.empty());

    private static LoadedLibrary missing() {
        throw new NativeLoadException("tried lib/x86_64-linux-gnu/x86_64_v3/libengram.so: not in the jar");
    }

    @Test
    void javaModeNeverLoadsTheLibrary() {
        try (MemoryKernels k = Kernels.open(KernelsConfig.of(KernelMode.JAVA), () -> {
            throw new AssertionError("java mode must not load native code");
        })) {
            assertThat(k.mode()).isEqualTo(KernelMode.JAVA);
            assertThat(k.arenaStats()).isEqualTo(ArenaStats.NONE);
        }
    }

    @Test
    void zigModeFailsFastWithTheLoaderMessage() {
        assertThatThrownBy(() -> Kernels.open(KernelsConfig.of(KernelMode.ZIG), KernelsTest::missing))
                .isInstanceOf(NativeLoadException.class).hasMessageContaining("not in the jar");
    }

    @Test
    void autoFallsBackToJavaAndCountsIt() {
        long before = Kernels.autoFallbackCount();
        try (MemoryKernels k = Kernels.open(AUTO, KernelsTest::missing)) {
            assertThat(k.mode()).isEqualTo(KernelMode.JAVA);
            float[] out = new float[1];
            k.cosineSimilarity(new float[] {1, 0}, new float[] {1, 0}, 2, 0, 1, out);
            assertThat(out[0]).isEqualTo(1f);
        }
        assertThat(Kernels.autoFallbackCount()).isEqualTo(before + 1);
    }
}
