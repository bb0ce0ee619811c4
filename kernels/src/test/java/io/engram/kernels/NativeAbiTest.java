package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * ZigNative.java is generated from native/src/abi.zig (the build fails when the committed file differs); this holds
 * the generated Java against the loaded library itself: the ABI version, the kernel list, and every scratch formula
 * against the native side's own evaluation of it, for random arguments up to the saturation point.
 */
@AddLifecycleHook(SkipInJavaOnlyBuild.class)
class NativeAbiTest {
    @Example
    void theLoadedLibraryHasTheGeneratedAbiAndFourEntryPoints() {
        TestKernels.zig().close();
        assertThat(ZigNative.abiVersion()).isEqualTo(ZigNative.ABI_VERSION);
        assertThat(ZigNative.info(99)).isEqualTo(ZigNative.STATUS_INVALID_ARGUMENTS);
        long natives = java.util.Arrays.stream(ZigNative.class.getDeclaredMethods())
                .filter(m -> java.lang.reflect.Modifier.isNative(m.getModifiers())).count();
        assertThat(natives).isEqualTo(4);
    }

    private static int arg(Random r) {
        return switch (r.nextInt(6)) {
            case 0 -> r.nextInt(3);
            case 1 -> Integer.MAX_VALUE - r.nextInt(3);
            case 2 -> r.nextInt(70_000);
            default -> r.nextInt(5000);
        };
    }

    @Property(tries = 3000)
    void everyGeneratedScratchFormulaEqualsTheNativeOne(@ForAll long seed) {
        TestKernels.zig().close();
        Random r = new Random(seed);
        int a = arg(r);
        int b = arg(r);
        int c = arg(r);
        int d = arg(r);
        long now = r.nextLong();
        assertThat(ZigNative.cosineSimilarityScratch(a, b, c)).isEqualTo(ZigNative.cosineSimilarityScratchNative(a, b, c));
        assertThat(ZigNative.cosineSimilarityBatchScratch(a, b, c, d))
                .isEqualTo(ZigNative.cosineSimilarityBatchScratchNative(a, b, c, d));
        assertThat(ZigNative.cosineSimilarityNormedScratch(a, b, c, d))
                .isEqualTo(ZigNative.cosineSimilarityNormedScratchNative(a, b, c, d));
        assertThat(ZigNative.spreadActivationScratch(a, b, c)).isEqualTo(ZigNative.spreadActivationScratchNative(a, b, c));
        assertThat(ZigNative.decayRetentionScratch(a, now)).isEqualTo(ZigNative.decayRetentionScratchNative(a, now));
    }

    @Example
    void formulasSaturateInsteadOfWrapping() {
        TestKernels.zig().close();
        long batch = ZigNative.cosineSimilarityBatchScratch(Integer.MAX_VALUE, Integer.MAX_VALUE, 0, 0);
        assertThat(batch).isEqualTo(Long.MAX_VALUE)
                .isEqualTo(ZigNative.cosineSimilarityBatchScratchNative(Integer.MAX_VALUE, Integer.MAX_VALUE, 0, 0));
        assertThat(ZigNative.cosineSimilarityScratchNative(-1, 0, 0)).isEqualTo(ZigNative.STATUS_INVALID_ARGUMENTS);
    }
}
