//! What the compile target offers, decided at comptime. One shared library is
//! built per CPU variant (x86_64_v4 with AVX-512, x86_64_v3 with AVX2+FMA,
//! plain x86_64, aarch64), and
//! the Java loader picks the best one the running CPU supports.
const std = @import("std");
const builtin = @import("builtin");

const arch = builtin.cpu.arch;
const cpu_features = builtin.cpu.features;

pub const has_avx2 = arch == .x86_64 and std.Target.x86.featureSetHas(cpu_features, .avx2);

/// aarch64 always has fused multiply-add; on x86_64 only with the FMA extension.
pub const has_fma = switch (arch) {
    .x86_64 => std.Target.x86.featureSetHas(cpu_features, .fma),
    .aarch64 => true,
    else => false,
};

pub const has_neon = arch == .aarch64 and std.Target.aarch64.featureSetHas(cpu_features, .neon);

/// The x86-64-v4 level: AVX-512 F/BW/CD/DQ/VL. With it the kernels use 512-bit
/// vectors (16 f32 or 8 f64 lanes) and packed i64 -> f64 conversion.
pub const has_avx512 = arch == .x86_64 and
    std.Target.x86.featureSetHasAll(cpu_features, .{ .avx512f, .avx512bw, .avx512cd, .avx512dq, .avx512vl });

/// f32 lanes of one vector register.
pub const f32_lanes: usize = if (has_avx512) 16 else 8;

/// Bits of ZigNative.compiledFeatures(): FEATURE_AVX2 = 1, FEATURE_FMA = 2, FEATURE_NEON = 4, FEATURE_AVX512 = 8.
pub const bit_avx2: i32 = 1;
pub const bit_fma: i32 = 2;
pub const bit_neon: i32 = 4;
pub const bit_avx512: i32 = 8;
pub const bits: i32 = (if (has_avx2) bit_avx2 else 0) | (if (has_fma) bit_fma else 0) |
    (if (has_neon) bit_neon else 0) | (if (has_avx512) bit_avx512 else 0);

/// a * b + c, fused where the hardware fuses. Without FMA hardware @mulAdd
/// lowers to a call to the soft-float fma()/fmaf() (dozens of times slower),
/// so there we round twice instead. Never used by spreadActivation, whose f32
/// operations must round exactly like Java's.
pub inline fn mulAdd(comptime T: type, a: T, b: T, c: T) T {
    if (comptime has_fma) return @mulAdd(T, a, b, c);
    return a * b + c;
}

test "feature bits are consistent" {
    try std.testing.expect(bits >= 0 and bits <= 15);
    if (has_avx512) try std.testing.expect(has_avx2 and has_fma);
    if (arch == .aarch64) try std.testing.expect(has_fma);
}
