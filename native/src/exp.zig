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
//! 2^25 points): the decay tolerance is 1e-6. AVX-512 builds use expTable8
//! below instead (f64 throughout, a 16-entry table, 1e-8).
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

/// exp(x) rounded to f32 for every lane, for x in [min_x, 0]: k is in
/// [-126, 0] there and the result a normal f32. Lanes outside that range (or
/// NaN) give garbage without trapping (every integer step wraps); callers
/// select them away. The reduction is one FMA (ln2 rounded to f64 is off by
/// 2.3e-17, k·ln2 for |k| <= 126 by 3e-15), the polynomial in Estrin's form:
/// the decay kernel is latency-bound.
pub inline fn expVec(comptime n: usize, x: @Vector(n, f64)) @Vector(n, f32) {
    const V = @Vector(n, f64);
    const F = @Vector(n, f32);
    const I = @Vector(n, i64);

    const t = features.mulAdd(V, x, @splat(log2e), @splat(shifter));
    const k = t - @as(V, @splat(shifter));
    const r: F = @floatCast(features.mulAdd(V, -k, @splat(std.math.ln2), x));

    const r2 = r * r;
    const a = features.mulAdd(F, r, @splat(c3), @splat(c2));
    const b = features.mulAdd(F, r2, @splat(c6), features.mulAdd(F, r, @splat(c5), @splat(c4)));
    const q = features.mulAdd(F, r2, b, a);
    const p = features.mulAdd(F, r2, q, r + @as(F, @splat(1.0)));

    // 2^k from its bits; for k in [-126, 0] the biased exponent is a normal
    // one and the multiplication is exact.
    const ki: @Vector(n, i32) = @truncate(@as(I, @bitCast(t)) -% @as(I, @bitCast(@as(V, @splat(shifter)))));
    const scale: F = @bitCast((ki +% @as(@Vector(n, i32), @splat(127))) << @as(@Vector(n, u5), @splat(23)));
    return p * scale;
}

// ---------------------------------------------------------- AVX-512 form ----
// With 32 vector registers and a two-table permute, exp stays in f64: x =
// (k/16)·ln2 + r with |r| <= ln2/32, e^r by a degree-3 polynomial (Taylor
// remainder r^4/24 < 9.3e-9), 2^(k mod 16 / 16) from a 16-entry table in two
// registers (vpermi2pd), 2^floor(k/16) added to the table value's exponent.
// Shorter dependency chains and fewer operations than the wide polynomial.

const V8 = @Vector(8, f64);
const I8 = @Vector(8, i64);

const table_lo: V8 = blk: {
    var t: V8 = undefined;
    for (0..8) |j| t[j] = @exp2(@as(f64, @floatFromInt(j)) / 16.0);
    break :blk t;
};
const table_hi: V8 = blk: {
    var t: V8 = undefined;
    for (0..8) |j| t[j] = @exp2(@as(f64, @floatFromInt(j + 8)) / 16.0);
    break :blk t;
};

/// table[index & 15] per lane, from the low 4 bits of each lane's bits.
inline fn lookup16(index: V8) V8 {
    return asm ("vpermi2pd %[hi], %[lo], %[idx]"
        : [idx] "=v" (-> V8),
        : [lo] "v" (table_lo),
          [hi] "v" (table_hi),
          [in] "0" (index),
    );
}

/// exp(x) for x in [min_x, 0], 8 lanes, AVX-512 builds only. Lanes outside
/// that range (or NaN) give garbage without trapping; callers select them away.
/// Written for a short dependency chain (the kernel is latency-bound): one FMA
/// for the reduction (ln2/16 rounded to f64 is off by 3.5e-18, so k·(ln2/16)
/// for |k| <= 2016 by 7e-15: far below the polynomial's 9e-9), the polynomial
/// as (1 + r) + r^2 (1/2 + r/6).
pub inline fn expTable8(x: V8) V8 {
    const t = features.mulAdd(V8, x, @splat(16.0 * log2e), @splat(shifter));
    const k = t - @as(V8, @splat(shifter));
    const r = features.mulAdd(V8, -k, @splat(std.math.ln2 / 16.0), x);
    const p = features.mulAdd(V8, r * r, features.mulAdd(V8, r, @splat(1.0 / 6.0), @splat(0.5)), r + @as(V8, @splat(1.0)));
    // k as an integer: t's low mantissa bits minus the shifter's.
    const ki: I8 = @as(I8, @bitCast(t)) -% @as(I8, @bitCast(@as(V8, @splat(shifter))));
    const scaled: I8 = @as(I8, @bitCast(lookup16(t))) +% ((ki >> @splat(4)) << @splat(52));
    return p * @as(V8, @bitCast(scaled));
}

/// Scalar convenience for tests.
pub fn exp1(x: f64) f32 {
    return expVec(1, @as(@Vector(1, f64), @splat(x)))[0];
}

test "exp: the AVX-512 table form, exact points and a dense sweep" {
    if (!features.has_avx512) return error.SkipZigTest;
    const steps: usize = 1 << 22;
    var max_rel: f64 = 0;
    var i: usize = 0;
    while (i <= steps) : (i += 8) {
        var xs: V8 = undefined;
        inline for (0..8) |l| xs[l] = min_x * (@as(f64, @floatFromInt(i + l)) / @as(f64, @floatFromInt(steps)));
        const ys = expTable8(xs);
        inline for (0..8) |l| max_rel = @max(max_rel, @abs(ys[l] - std.math.exp(xs[l])) / std.math.exp(xs[l]));
    }
    std.debug.print("\nexp table form over [-87, 0]: max rel error vs exp {e:.3}\n", .{max_rel});
    try std.testing.expect(max_rel < 2e-8);
    try std.testing.expectEqual(@as(f64, 1.0), expTable8(@splat(0.0))[0]);
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
