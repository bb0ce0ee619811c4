package io.engram.kernels;

/**
 * The decay kernel's exact definition, shared by both implementations.
 *
 * <pre>
 *   diff  = nowMillis - lastAccessMillis          (64-bit, wrapping)
 *   diff &lt;= 0                      -&gt; 1          (future or present access: fully retained)
 *   !(stability &gt; 0)  (≤ 0, NaN)   -&gt; 0
 *   x = -((double) diff / 1000.0) / (double) stability     (in f64; Zig divides once by 1000·stability, ≤ 1 ulp apart)
 *   x &lt; UNDERFLOW_EXPONENT         -&gt; 0          (below the f32 normal range)
 *   otherwise                       -&gt; (float) exp(x)
 * </pre>
 */
public final class DecaySemantics {
    /** exp(-87) ≈ 1.6e-38 is still a normal f32; below it the result would be denormal, so it is 0. */
    public static final double UNDERFLOW_EXPONENT = -87.0;

    private DecaySemantics() {
    }

    /** The exponent both implementations feed to exp, or NaN for the two early-return cases. */
    public static double exponent(long lastAccessMillis, float stabilitySeconds, long nowMillis) {
        long diff = nowMillis - lastAccessMillis;
        double age = (double) diff / 1000.0;
        return -age / (double) stabilitySeconds;
    }
}
