//! The benchmarks' native helpers, in a library of their own
//! (libengram-bench), which only the benchmark jar and the peer benchmark
//! carry: the production library exports kernels and nothing else.
//!
//!   memorySweep    a read-only pass over a float[] and a long[]: the read
//!                  bandwidth ceiling next to every kernel benchmark
//!   fmaPeak        independent f32 FMA chains at the widest vector width of
//!                  the build: the FMA ceiling of the batched benchmarks
//!
//! Exported twice: for JNI (io.engram.kernels.bench.BenchNative) and with a C
//! ABI (engram_bench_*) for the peer benchmark's Python side (ctypes), so both
//! processes measure their ceilings with the same code.
const std = @import("std");
const features = @import("features.zig");
const jni = @import("jni.zig");

const prefix = "Java_io_engram_kernels_bench_BenchNative_";

comptime {
    @export(jniMemorySweep, .{ .name = prefix ++ "memorySweep" });
    @export(jniFmaPeak, .{ .name = prefix ++ "fmaPeak" });
    @export(jniFmaFlopsPerIteration, .{ .name = prefix ++ "fmaFlopsPerIteration" });
    @export(sweep, .{ .name = "engram_bench_sweep" });
    @export(fmaPeak, .{ .name = "engram_bench_fma_peak" });
    @export(fmaFlopsPerIteration, .{ .name = "engram_bench_fma_flops_per_iteration" });
}

/// Reads every byte once and folds them into a checksum. Four independent
/// 32-byte accumulators keep enough loads in flight. (The same loop the
/// production library exported up to ABI 3, so the regression gate's
/// kernel-vs-ceiling ratios stay comparable across that change.)
pub fn memorySweep(bytes: []const u8) u64 {
    const V = @Vector(4, u64);
    const zero: V = @splat(0);
    var acc = [4]V{ zero, zero, zero, zero };
    var i: usize = 0;
    while (i + 128 <= bytes.len) : (i += 128) {
        inline for (0..4) |a| {
            const v: V = @bitCast(bytes[i + 32 * a ..][0..32].*);
            acc[a] +%= v;
        }
    }
    var sum: u64 = @reduce(.Add, (acc[0] +% acc[1]) +% (acc[2] +% acc[3]));
    while (i < bytes.len) : (i += 1) sum +%= bytes[i];
    return sum;
}

fn sweep(ptr: [*]const u8, len: usize) callconv(.C) u64 {
    return memorySweep(ptr[0..len]);
}

/// Independent accumulators of the FMA loop: enough to cover the FMA latency
/// (4 cycles) times the FMA ports (2) with room to spare; 12 fit AVX2's 16
/// registers next to the two constants, 24 fit AVX-512's 32.
const fma_chains = if (features.has_avx512) 24 else 12;
const F = @Vector(features.f32_lanes, f32);

fn fmaFlopsPerIteration() callconv(.C) u64 {
    return 2 * fma_chains * features.f32_lanes;
}

/// `iterations` steps of fma_chains independent vector FMAs (2 flops per lane
/// each). The chains converge to 1, so no value ever overflows or becomes
/// denormal. Returns their sum, so the loop cannot be dropped.
fn fmaPeak(iterations: u64) callconv(.C) f32 {
    const a: F = @splat(0.999999);
    const b: F = @splat(0.000001);
    var acc: [fma_chains]F = undefined;
    for (&acc, 0..) |*x, i| x.* = @splat(@as(f32, @floatFromInt(i)) * 0.01);
    var n: u64 = 0;
    while (n < iterations) : (n += 1) {
        // Strict float semantics: LLVM may not reassociate or fold the
        // recurrence, so every FMA is executed.
        inline for (&acc) |*x| x.* = features.mulAdd(F, x.*, a, b);
    }
    var sum: F = @splat(0);
    for (acc) |x| sum += x;
    return @reduce(.Add, sum);
}

fn jniMemorySweep(env: *const jni.Env, class: jni.jclass, floats: jni.jarray, floats_length: jni.jint, longs: jni.jarray, longs_length: jni.jint) callconv(.C) jni.jlong {
    _ = class;
    const floats_len = jni.length(floats, floats_length) orelse 0;
    const longs_len = jni.length(longs, longs_length) orelse 0;
    var pins = jni.Pins{ .env = env };
    defer pins.releaseAll();
    const f = pins.input(f32, floats, floats_len);
    const l = pins.input(i64, longs, longs_len);
    if (pins.failed) return -2;
    const sum = memorySweep(std.mem.sliceAsBytes(f)) +% memorySweep(std.mem.sliceAsBytes(l));
    return @intCast(sum & std.math.maxInt(i63));
}

fn jniFmaPeak(env: *const jni.Env, class: jni.jclass, iterations: jni.jlong) callconv(.C) jni.jfloat {
    _ = env;
    _ = class;
    return fmaPeak(if (iterations < 0) 0 else @intCast(iterations));
}

fn jniFmaFlopsPerIteration(env: *const jni.Env, class: jni.jclass) callconv(.C) jni.jlong {
    _ = env;
    _ = class;
    return @intCast(fmaFlopsPerIteration());
}

test "memorySweep folds every byte, for every length and offset" {
    var buf: [1000]u8 = undefined;
    for (&buf, 0..) |*x, i| x.* = @truncate(i *% 7 +% 3);
    for (0..260) |len| {
        for ([_]usize{ 0, 1, 5 }) |off| {
            const bytes = buf[off..][0..len];
            // Lanes of 8 bytes summed as little-endian u64 words, plus the byte tail.
            var want: u64 = 0;
            const words = len / 128 * 16;
            for (0..words) |w| want +%= std.mem.readInt(u64, bytes[w * 8 ..][0..8], .little);
            for (bytes[words * 8 ..]) |x| want +%= x;
            try std.testing.expectEqual(want, memorySweep(bytes));
        }
    }
}

test "fmaPeak converges and counts its flops" {
    const s = fmaPeak(100_000);
    try std.testing.expect(std.math.isFinite(s) and s > 0);
    try std.testing.expectEqual(@as(u64, 2 * fma_chains * features.f32_lanes), fmaFlopsPerIteration());
}
