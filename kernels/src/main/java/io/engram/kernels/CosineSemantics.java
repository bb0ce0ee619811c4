package io.engram.kernels;

/** The last step of every cosine, shared so both implementations agree on the special cases. */
final class CosineSemantics {
    private CosineSemantics() {
    }

    /**
     * dot / (sqrt(qq) · sqrt(cc)) computed in f64, clamped to [-1, 1]. Zero or non-finite sums (a NaN/Inf element, or
     * an overflowed square) give 0. The Zig kernel does exactly this after its SIMD sums.
     */
    static float finish(float dot, float qq, float cc) {
        if (!(qq > 0f) || !(cc > 0f) || Float.isInfinite(qq) || Float.isInfinite(cc)
                || Float.isNaN(dot) || Float.isInfinite(dot)) {
            return 0f;
        }
        double s = (double) dot / (Math.sqrt((double) qq) * Math.sqrt((double) cc));
        return (float) Math.max(-1.0, Math.min(1.0, s));
    }

    /**
     * The stored-norm variant: dot / (qn · cn) computed in f64, clamped to [-1, 1]. A norm that is not a positive
     * finite number, or a non-finite dot product, gives 0. The Zig kernel does exactly this (finishNormed).
     */
    static float finishNormed(float dot, float qn, float cn) {
        if (!(qn > 0f) || !(cn > 0f) || Float.isInfinite(qn) || Float.isInfinite(cn)
                || Float.isNaN(dot) || Float.isInfinite(dot)) {
            return 0f;
        }
        double s = (double) dot / ((double) qn * (double) cn);
        return (float) Math.max(-1.0, Math.min(1.0, s));
    }
}
