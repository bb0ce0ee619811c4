package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/** In the Java-only build (-Pjava-only): zig mode fails with a clear message, auto runs Java. */
@EnabledIfSystemProperty(named = "engram.build.javaOnly", matches = "true",
        disabledReason = "only meaningful in the Java-only build; the native build runs the differential tests")
class JavaOnlyBuildTest {
    @Test
    void zigModeSaysThisIsAJavaOnlyBuild() {
        assertThatThrownBy(() -> Kernels.open(KernelsConfig.of(KernelMode.ZIG)))
                .isInstanceOf(NativeLoadException.class).hasMessageContaining("Java-only build");
    }

    @Test
    void autoModeRunsJava() {
        try (MemoryKernels k = Kernels.open(new KernelsConfig(KernelMode.AUTO, ArenaConfig.defaults(),
                Optional.empty(), Optional.empty()))) {
            assertThat(k.mode()).isEqualTo(KernelMode.JAVA);
        }
    }
}
