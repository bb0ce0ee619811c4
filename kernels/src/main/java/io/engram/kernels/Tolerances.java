package io.engram.kernels;

/**
 * How far the Zig and Java kernels may disagree. Both follow the same formulas in the same order where order
 * matters; the remaining differences are float rounding from SIMD lane order, FMA contraction and the polynomial
 * exp. The differential tests and the shadow-compare guard use these numbers.
 */
public final class Tolerances {
    /**
     * Cosine: both sum in f32 but in different lane orders, with and without FMA. Each lane sums at most
     * dim/8 = 512 products at dim 4096, so the relative error of dot/(|q||c|) is bounded by a few hundred ulps of
     * 2^-24 in the worst case and is far smaller for ordinary data; 1e-5 absolute on a value in [-1, 1].
     */
    public static final double COSINE_ABS = 1e-5;
    /**
     * Decay: the exponent is computed in f64 by both (Zig divides once by the exact product 1000·stability where
     * Java divides twice, at most 1 ulp of f64 apart), so practically only the exp itself differs. The Zig
     * polynomial (degree 8, in f64) stays within ~3e-10 relative of the double reference, so after rounding to f32
     * it is at most 1 ulp (~1.2e-7) from Java's; 1e-6 relative gives room for the final f32 rounding of both sides.
     */
    public static final double DECAY_REL = 1e-6;
    /**
     * Spreading: both apply the same f32 operations in the same order (frontier ascending, CSR edge order, no FMA
     * contraction), so results should be bit-identical; 1e-5 absolute is the stated contract.
     */
    public static final double SPREAD_ABS = 1e-5;

    private Tolerances() {
    }
}
