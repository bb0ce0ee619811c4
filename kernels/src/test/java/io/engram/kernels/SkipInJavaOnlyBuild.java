package io.engram.kernels;

import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;

/**
 * Skips a jqwik container in a Java-only build (-Pjava-only), where there is no Zig library to compare against.
 * jqwik does not evaluate JUnit Jupiter's conditions such as {@code @DisabledIfSystemProperty}, so the jqwik test
 * classes carry this hook instead, via
 * {@code @AddLifecycleHook(SkipInJavaOnlyBuild.class)}.
 */
public class SkipInJavaOnlyBuild implements SkipExecutionHook {
    @Override
    public SkipResult shouldBeSkipped(LifecycleContext context) {
        return TestKernels.javaOnlyBuild()
                ? SkipResult.skip("a Java-only build has no Zig kernels; JavaOnlyBuildTest covers that build")
                : SkipResult.doNotSkip();
    }
}
