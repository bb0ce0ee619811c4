package io.engram.job.operator;

import net.jqwik.api.lifecycle.LifecycleContext;
import net.jqwik.api.lifecycle.SkipExecutionHook;

/**
 * Skips a jqwik property in a Java-only build (-Pjava-only), where there are no Zig kernels; the same hook as the
 * kernels module's (jqwik does not evaluate JUnit Jupiter's {@code @DisabledIfSystemProperty}).
 */
public class SkipInJavaOnlyBuild implements SkipExecutionHook {
    @Override
    public SkipResult shouldBeSkipped(LifecycleContext context) {
        return Boolean.getBoolean("engram.build.javaOnly")
                ? SkipResult.skip("a Java-only build has no Zig kernels")
                : SkipResult.doNotSkip();
    }
}
