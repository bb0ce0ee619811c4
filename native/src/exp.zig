//! A vectorised exp for the decay kernel: no libm call per lane. The input is
//! already an f64 (the decay exponent is computed in f64 exactly as Java does),
//! so the whole evaluation stays in f64 and is rounded to f32 once at the end.
//! That makes the result the correctly rounded f32 of exp(x) except within
//! ~2e-10 relative of an f32 rounding boundary, i.e. it almost always equals
//! Java's (float) Math.exp(x).
const std = @import("std");
const features = @import("features.zig");

/// Lowest exponent the decay kernel feeds in (DecaySemantics.UNDERFLOW_EXPONENT).
pub const min_x: f64 = -87.0;

const log2e: f64 = 1.44269504088896338700e+00;
// ln 2 split so that n * ln2_hi is exact for |n| < 2^20 (ln2_hi has its low
// 32 mantissa bits clear; values from fdlibm's e_exp.c).
const ln2_hi: f64 = 6.93147180369123816490e-01;
const ln2_lo: f64 = 1.90821492927058770002e-10;
// 1.5 * 2^52: adding it rounds to an integer (nearest-even, as SSE2 addition
// does) and leaves that integer in the low mantissa bits. No roundpd needed,
// which plain x86_64 (SSE2) does not have.
const shifter: f64 = 0x1.8p52;

// Taylor coefficients 1/k!, k = 0..8. On |r| <= ln2/2 the truncation error is
// r^9/9! < 2e-10 relative: the f64 result is within ~2e-10 of exp(x), so
// rounded to f32 (half an ulp is 3e-8) it is the correctly rounded f32 except
// within 2e-10 of a rounding boundary, and never more than 1 ulp off. Degree 8
// instead of 11 saves a quarter of the decay kernel's FMAs.
const coeffs = [_]f64{
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
};

/// exp(x) for every lane, for x in [min_x, 0]. Callers clamp first (and select
/// their special cases afterwards), so no lane can under- or overflow here.
pub inline fn expVec(comptime n: usize, x: @Vector(n, f64)) @Vector(n, f64) {
    const V = @Vector(n, f64);
    const I = @Vector(n, i64);

    // x = k ln2 + r, k = round(x log2e), |r| <= ln2/2 (+ rounding).
    const t = features.mulAdd(V, x, @splat(log2e), @splat(shifter));
    const k = t - @as(V, @splat(shifter));
    const r = features.mulAdd(V, -k, @splat(ln2_lo), features.mulAdd(V, -k, @splat(ln2_hi), x));

    var p: V = @splat(coeffs[coeffs.len - 1]);
    inline for (1..coeffs.len) |i| {
        p = features.mulAdd(V, p, r, @splat(coeffs[coeffs.len - 1 - i]));
    }

    // 2^k built from its bits: k is in [-126, 0], so the biased exponent is a
    // normal one and the scaling is exact.
    const ki: I = @as(I, @bitCast(t)) - @as(I, @bitCast(@as(V, @splat(shifter))));
    const scale: V = @bitCast((ki + @as(I, @splat(1023))) << @as(@Vector(n, u6), @splat(52)));
    return p * scale;
}

/// Scalar convenience for tests.
pub fn exp1(x: f64) f64 {
    return expVec(1, @as(@Vector(1, f64), @splat(x)))[0];
}

test "exp: exact points" {
    try std.testing.expectEqual(@as(f64, 1.0), exp1(0.0));
    try std.testing.expectEqual(@as(f64, 1.0), exp1(-0.0));
    try std.testing.expectApproxEqRel(@as(f64, 0.36787944117144233), exp1(-1.0), 1e-9);
    try std.testing.expectApproxEqRel(std.math.exp(@as(f64, -87.0)), exp1(-87.0), 1e-9);
    try std.testing.expect(@as(f32, @floatCast(exp1(-87.0))) >= std.math.floatMin(f32));
}

test "exp: dense sweep of [-87, 0] against f64 exp and (float) exp" {
    // 2^24 + 1 evenly spaced points plus the same number of pseudo-random ones.
    const steps: usize = 1 << 24;
    const lanes = 4;
    var max_rel_f64: f64 = 0; // polynomial result vs libm-quality f64 exp, before rounding
    var max_rel_f32: f64 = 0; // f32 result vs (float) exp(x) in f64, like Java's (float) Math.exp
    var max_rel_true: f64 = 0; // f32 result vs the f64 exp itself
    var mismatches: usize = 0; // f32 results that differ from (float) exp(x)
    var rng = std.Random.DefaultPrng.init(0x5eed);
    const random = rng.random();
    var i: usize = 0;
    while (i <= 2 * steps) : (i += lanes) {
        var xs: @Vector(lanes, f64) = undefined;
        inline for (0..lanes) |l| {
            const j = i + l;
            xs[l] = if (j <= steps)
                min_x * (@as(f64, @floatFromInt(j)) / @as(f64, @floatFromInt(steps)))
            else
                min_x * random.float(f64);
        }
        const ys = expVec(lanes, xs);
        inline for (0..lanes) |l| {
            const ref = std.math.exp(xs[l]);
            const ref32: f32 = @floatCast(ref);
            const y32: f32 = @floatCast(ys[l]);
            max_rel_f64 = @max(max_rel_f64, @abs(ys[l] - ref) / ref);
            max_rel_f32 = @max(max_rel_f32, @abs(@as(f64, y32) - ref32) / ref32);
            max_rel_true = @max(max_rel_true, @abs(@as(f64, y32) - ref) / ref);
            if (y32 != ref32) mismatches += 1;
        }
    }
    std.debug.print(
        "\nexp sweep over [-87, 0], {d} points: max rel error f64 poly vs exp {e:.3}, " ++
            "f32 vs (float)exp {e:.3} ({d} results differ by 1 ulp), f32 vs exp {e:.3}\n",
        .{ 2 * steps + 1, max_rel_f64, max_rel_f32, mismatches, max_rel_true },
    );
    try std.testing.expect(max_rel_f64 < 1e-9);
    try std.testing.expect(max_rel_f32 <= 1e-6);
    try std.testing.expect(max_rel_true <= 1e-6);
}
