//! Arena bytes a kernel call needs, from the scratch blocks declared in
//! abi.zig's kernel table: the only place the formulas exist. ZigNative.java's
//! `<kernel>Scratch` methods are generated from the same table, so Java sizes
//! a call exactly as the kernel below carves it.
const std = @import("std");
const abi = @import("abi.zig");

pub const alignment = abi.alignment;
pub const alignUp = abi.alignUp;

/// Scratch bytes of kernel `name` for its scalar parameters in Java order
/// (ints as usize, longs as i64, floats ignored); saturates, never wraps.
pub fn of(comptime name: []const u8, scalars: anytype) u64 {
    var s = [_]i64{0} ** abi.max_scalars;
    inline for (scalars, 0..) |v, i| {
        s[i] = switch (@TypeOf(v)) {
            usize => @intCast(@min(v, @as(usize, std.math.maxInt(i64)))),
            i64 => v,
            comptime_int => v,
            f32 => 0,
            else => @compileError("scalar of unexpected type"),
        };
    }
    return abi.scratchBytes(abi.byName(name), &s) orelse abi.saturated;
}

test "scratch of a kernel call" {
    try std.testing.expectEqual(@as(u64, 64), of("cosineSimilarity", .{ @as(usize, 3), @as(usize, 0), @as(usize, 1) }));
    try std.testing.expectEqual(@as(u64, 8 * 3072 + 64), of("cosineSimilarityBatch", .{ @as(usize, 8), @as(usize, 768), @as(usize, 0), @as(usize, 5) }));
    try std.testing.expectEqual(@as(u64, 3 * 448 + 128), of("spreadActivation", .{ @as(usize, 100), @as(usize, 1), @as(usize, 3), @as(f32, 0.5), @as(f32, 0) }));
    try std.testing.expectEqual(@as(u64, 0), of("decayRetention", .{ @as(usize, 9), @as(i64, -5) }));
}
