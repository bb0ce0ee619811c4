//! A vectorised exp for the decay kernel: no libm call per lane. The exponent
//! arrives in f64 (computed as DecaySemantics says, to ~1e-15 relative), and
//! the error of exp(x) relative to its result is the absolute error of x, so
//! x must stay accurate to far better than f32 allows (|x| is up to 87, where
//! an f32 ulp is 7.6e-6). The split is therefore:
//!   - range reduction x = k·ln2 + r in f64, exact for |x| <= 87;
//!   - r (|r| <= ln2/2) narrowed to f32: an absolute error of 1.5e-8 at most;
//!   - e^r by a degree-6 polynomial in f32, twice the lanes per register;
//!   - 2^k from its exponent bits, an exact scaling in f32.
//! The result is within 2e-7 relative of exp(x) (the sweep test below checks
//! 2^25 points): the decay tolerance is 1e-6.
const std = @import("std");
const features = @import("features.zig");

/// Lowest exponent the decay kernel feeds in (DecaySemantics.UNDERFLOW_EXPONENT).
pub const min_x: f64 = -87.0;

const log2e: f64 = 1.44269504088896338700e+00;
// ln 2 split so that k * ln2_hi is exact for |k| < 2^20 (ln2_hi has its low
// 32 mantissa bits clear).
const ln2_hi: f64 = 6.93147180369123816490e-01;
const ln2_lo: f64 = 1.90821492927058770002e-10;
// 1.5 * 2^52: adding it rounds to an integer (nearest-even) and leaves that
// integer in the low mantissa bits. No roundpd needed (plain SSE2 has none).
const shifter: f64 = 0x1.8p52;

// e^r = 1 + r + r^2 (c2 + c3 r + c4 r^2 + c5 r^3 + c6 r^4) on |r| <= ln2/2:
// coefficients fitted for the least maximum relative error (3.1e-9 before f32
// rounding); the f32 evaluation adds at most a few ulps.
const c2: f32 = 0.49999994;
const c3: f32 = 0.16666520;
const c4: f32 = 0.041668393;
const c5: f32 = 0.0083687808;
const c6: f32 = 0.0013814465;

/// exp(x) rounded to f32 for every lane, for x in [min_x, 0]. Callers clamp
/// first (and select their special cases afterwards), so no lane can under-
/// or overflow here: k is in [-126, 0] and the result is a normal f32.
pub inline fn expVec(comptime n: usize, x: @Vector(n, f64)) @Vector(n, f32) {
    const V = @Vector(n, f64);
    const F = @Vector(n, f32);
    const I = @Vector(n, i64);

    const t = features.mulAdd(V, x, @splat(log2e), @splat(shifter));
    const k = t - @as(V, @splat(shifter));
    const r: F = @floatCast(features.mulAdd(V, -k, @splat(ln2_lo), features.mulAdd(V, -k, @splat(ln2_hi), x)));

    var p: F = @splat(c6);
    p = features.mulAdd(F, p, r, @splat(c5));
    p = features.mulAdd(F, p, r, @splat(c4));
    p = features.mulAdd(F, p, r, @splat(c3));
    p = features.mulAdd(F, p, r, @splat(c2));
    p = features.mulAdd(F, p, r * r, r + @as(F, @splat(1.0)));

    // 2^k from its bits; k is an integer in [-126, 0], so the biased exponent
    // is a normal one and the multiplication is exact.
    const ki: @Vector(n, i32) = @truncate(@as(I, @bitCast(t)) - @as(I, @bitCast(@as(V, @splat(shifter)))));
    const scale: F = @bitCast((ki + @as(@Vector(n, i32), @splat(127))) << @as(@Vector(n, u5), @splat(23)));
    return p * scale;
}

/// Scalar convenience for tests.
pub fn exp1(x: f64) f32 {
    return expVec(1, @as(@Vector(1, f64), @splat(x)))[0];
}

test "exp: exact points" {
    try std.testing.expectEqual(@as(f32, 1.0), exp1(0.0));
    try std.testing.expectEqual(@as(f32, 1.0), exp1(-0.0));
    try std.testing.expectApproxEqRel(@as(f32, 0.36787944117144233), exp1(-1.0), 2e-7);
    try std.testing.expectApproxEqRel(@as(f32, @floatCast(std.math.exp(@as(f64, -87.0)))), exp1(-87.0), 2e-7);
    try std.testing.expect(exp1(-87.0) >= std.math.floatMin(f32));
}

test "exp: dense sweep of [-87, 0] against (float) exp" {
    // 2^24 + 1 evenly spaced points plus the same number of pseudo-random ones.
    const steps: usize = 1 << 24;
    const lanes = 8;
    var max_rel: f64 = 0; // f32 result vs exp(x) in f64
    var max_rel_f32: f64 = 0; // f32 result vs (float) exp(x), like Java's (float) Math.exp
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
            max_rel = @max(max_rel, @abs(@as(f64, ys[l]) - ref) / ref);
            max_rel_f32 = @max(max_rel_f32, @abs(@as(f64, ys[l]) - ref32) / ref32);
            if (ys[l] != ref32) mismatches += 1;
        }
    }
    std.debug.print(
        "\nexp sweep over [-87, 0], {d} points: max rel error vs exp {e:.3}, vs (float)exp {e:.3} ({d} results differ from it)\n",
        .{ 2 * steps + 1, max_rel, max_rel_f32, mismatches },
    );
    try std.testing.expect(max_rel <= 2e-7);
    try std.testing.expect(max_rel_f32 <= 3e-7);
}
