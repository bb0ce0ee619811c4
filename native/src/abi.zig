//! The native ABI, stated once. Everything that Java and Zig must agree on
//! lives here as data: the ABI version, the status codes, the feature bits,
//! and the table of kernels (op code, parameters in Java order, scratch
//! blocks). jni.zig dispatches the single `call` entry point through this
//! table; gen_java.zig writes ZigNative.java (constants, typed wrappers,
//! scratch formulas) from it, and native/build.sh fails the build when the
//! committed ZigNative.java differs. A new kernel is one row here plus its
//! function in kernels.zig, named like the Java method: no new JNI export.
const std = @import("std");
const features = @import("features.zig");

/// ZigNative.ABI_VERSION: bumped whenever anything in this file changes shape.
pub const version: i32 = 4;

/// What a kernel call answers: >= 0 is success (arena bytes used).
pub const status_arena_too_small: i64 = -1;
pub const status_invalid_arguments: i64 = -2;

/// Added to an op code: report the call's scratch bytes, touch nothing.
pub const dry_run: i32 = 0x100;

/// Selectors of the `info` entry point.
pub const info_abi_version: i32 = 0;
pub const info_compiled_features: i32 = 1;

/// How one kernel parameter crosses: an array (input: released without
/// copy-back; output: copied back) or a scalar in a jlong slot.
pub const Kind = enum {
    in_f32,
    in_i32,
    in_i64,
    out_f32,
    out_i32,
    /// A Java int that must be >= 0; the kernel gets a usize.
    int,
    /// A Java long; the kernel gets an i64.
    long,
    /// A Java float, passed as its raw bits; the kernel gets an f32.
    float,

    pub fn isArray(k: Kind) bool {
        return switch (k) {
            .in_f32, .in_i32, .in_i64, .out_f32, .out_i32 => true,
            .int, .long, .float => false,
        };
    }

    pub fn isOutput(k: Kind) bool {
        return k == .out_f32 or k == .out_i32;
    }

    /// The element type of an array kind.
    pub fn Elem(comptime k: Kind) type {
        return switch (k) {
            .in_f32, .out_f32 => f32,
            .in_i32, .out_i32 => i32,
            .in_i64 => i64,
            else => @compileError("not an array kind"),
        };
    }

    pub fn javaType(k: Kind) []const u8 {
        return switch (k) {
            .in_f32, .out_f32 => "float[]",
            .in_i32, .out_i32 => "int[]",
            .in_i64 => "long[]",
            .int => "int",
            .long => "long",
            .float => "float",
        };
    }
};

pub const Param = struct {
    /// The Java parameter name (MemoryKernels).
    name: []const u8,
    kind: Kind,
};

/// One block of a call's arena scratch: times × align64(elem_bytes × Π count),
/// where `count` and `times` name int parameters. The kernel carves exactly
/// these blocks, in this order (the tests check bump.used against them).
pub const Block = struct {
    elem_bytes: u64,
    count: []const []const u8,
    times: ?[]const u8 = null,
    /// For the generated Javadoc.
    what: []const u8,
};

pub const Kernel = struct {
    /// Stable op code of `call`.
    op: i32,
    /// The name everywhere: MemoryKernels method, kernels.zig function, metric label.
    name: []const u8,
    params: []const Param,
    scratch: []const Block,
};

pub const max_arrays = 7;
pub const max_scalars = 6;

fn p(name: []const u8, kind: Kind) Param {
    return .{ .name = name, .kind = kind };
}

pub const table = [_]Kernel{
    .{
        .op = 1,
        .name = "cosineSimilarity",
        .params = &.{
            p("query", .in_f32),   p("candidates", .in_f32), p("dim", .int), p("first", .int),
            p("count", .int),      p("scores", .out_f32),
        },
        .scratch = &.{.{ .elem_bytes = 4, .count = &.{"dim"}, .what = "the query, padded" }},
    },
    .{
        .op = 2,
        .name = "cosineSimilarityBatch",
        .params = &.{
            p("queries", .in_f32), p("queryCount", .int), p("candidates", .in_f32), p("dim", .int),
            p("first", .int),      p("count", .int),      p("scores", .out_f32),
        },
        .scratch = &.{
            .{ .elem_bytes = 4, .count = &.{"dim"}, .times = "queryCount", .what = "each query, padded" },
            .{ .elem_bytes = 4, .count = &.{"queryCount"}, .what = "their sums of squares" },
        },
    },
    .{
        .op = 3,
        .name = "cosineSimilarityNormed",
        .params = &.{
            p("cues", .in_f32),   p("cueNorms", .in_f32), p("cueCount", .int), p("candidates", .in_f32),
            p("norms", .in_f32),  p("dim", .int),         p("first", .int),    p("count", .int),
            p("scores", .out_f32),
        },
        .scratch = &.{},
    },
    .{
        .op = 4,
        .name = "spreadActivation",
        .params = &.{
            p("offsets", .in_i32),        p("targets", .in_i32),     p("weights", .in_f32),
            p("nodeCount", .int),         p("seedNodes", .in_i32),   p("seedActivations", .in_f32),
            p("seedCount", .int),         p("maxHops", .int),        p("hopDecay", .float),
            p("threshold", .float),       p("activation", .out_f32), p("firstHop", .out_i32),
        },
        .scratch = &.{
            .{ .elem_bytes = 4, .count = &.{"nodeCount"}, .what = "the frontier" },
            .{ .elem_bytes = 4, .count = &.{"nodeCount"}, .what = "the next frontier" },
            .{ .elem_bytes = 4, .count = &.{"nodeCount"}, .what = "the frontier's activations" },
            .{ .elem_bytes = 1, .count = &.{"nodeCount"}, .what = "a visit mark per node" },
        },
    },
    .{
        .op = 5,
        .name = "decayRetention",
        .params = &.{
            p("lastAccessMillis", .in_i64), p("stabilitySeconds", .in_f32), p("count", .int),
            p("nowMillis", .long),          p("retention", .out_f32),
        },
        .scratch = &.{},
    },
};

comptime {
    for (table, 0..) |k, i| {
        var arrays = 0;
        var scalars = 0;
        for (k.params) |prm| {
            if (prm.kind.isArray()) arrays += 1 else scalars += 1;
        }
        if (arrays > max_arrays or scalars > max_scalars) @compileError(k.name ++ ": too many parameters for `call`");
        if (k.op <= 0 or k.op >= dry_run) @compileError(k.name ++ ": op out of range");
        for (table[0..i]) |other| {
            if (other.op == k.op or std.mem.eql(u8, other.name, k.name)) @compileError(k.name ++ ": duplicate op or name");
        }
        for (k.scratch) |b| {
            for (b.count) |n| _ = intSlot(k, n);
            if (b.times) |t| _ = intSlot(k, t);
        }
    }
}

/// The scalar slot of the int parameter `name` of kernel k (compile error if none).
pub fn intSlot(comptime k: Kernel, comptime name: []const u8) usize {
    comptime {
        var slot = 0;
        for (k.params) |prm| {
            if (prm.kind.isArray()) continue;
            if (std.mem.eql(u8, prm.name, name)) {
                if (prm.kind != .int) @compileError(k.name ++ "." ++ name ++ " is not an int");
                return slot;
            }
            slot += 1;
        }
        @compileError(k.name ++ " has no parameter " ++ name);
    }
}

pub const alignment: u64 = 64;

/// Every formula saturates at the largest Java long: such a call fits no
/// arena, and Java's generated formulas saturate at exactly the same value.
pub const saturated: u64 = std.math.maxInt(i64);

/// bytes rounded up to a cache line, saturating.
pub fn alignUp(bytes: u64) u64 {
    if (bytes > saturated - (alignment - 1)) return saturated & ~(alignment - 1);
    return (bytes + alignment - 1) & ~(alignment - 1);
}

fn mulSat(a: u64, b: u64) u64 {
    const product = std.math.mul(u64, a, b) catch return saturated;
    return @min(product, saturated);
}

fn addSat(a: u64, b: u64) u64 {
    return @min(a +| b, saturated);
}

/// Arena bytes of one call of k with these scalar slots, or null if an int
/// parameter the formula uses is negative (the call itself is invalid then).
/// Saturates instead of wrapping, so an absurd call never "fits".
pub fn scratchBytes(comptime k: Kernel, scalars: []const i64) ?u64 {
    var total: u64 = 0;
    inline for (k.scratch) |b| {
        var n: u64 = b.elem_bytes;
        inline for (b.count) |name| {
            const v = scalars[comptime intSlot(k, name)];
            if (v < 0) return null;
            n = mulSat(n, @intCast(v));
        }
        var bytes = alignUp(n);
        if (b.times) |t| {
            const v = scalars[comptime intSlot(k, t)];
            if (v < 0) return null;
            bytes = mulSat(bytes, @intCast(v));
        }
        total = addSat(total, bytes);
    }
    return total;
}

/// The kernel of this name.
pub fn byName(comptime name: []const u8) Kernel {
    inline for (table) |k| {
        if (comptime std.mem.eql(u8, k.name, name)) return k;
    }
    @compileError("no kernel " ++ name);
}

test "scratch formulas" {
    const cos = comptime byName("cosineSimilarity");
    try std.testing.expectEqual(@as(?u64, 64), scratchBytes(cos, &.{ 3, 0, 0 }));
    try std.testing.expectEqual(@as(?u64, 1536), scratchBytes(cos, &.{ 384, 0, 0 }));
    try std.testing.expectEqual(@as(?u64, null), scratchBytes(cos, &.{ -1, 0, 0 }));
    const batch = comptime byName("cosineSimilarityBatch");
    try std.testing.expectEqual(@as(?u64, 0), scratchBytes(batch, &.{ 0, 3, 0, 0 }));
    try std.testing.expectEqual(@as(?u64, 64 + 64), scratchBytes(batch, &.{ 1, 3, 0, 0 }));
    try std.testing.expectEqual(@as(?u64, 8 * 3072 + 64), scratchBytes(batch, &.{ 8, 768, 0, 0 }));
    try std.testing.expectEqual(@as(?u64, 17 * 1536 + 128), scratchBytes(batch, &.{ 17, 384, 0, 0 }));
    try std.testing.expectEqual(@as(?u64, 0), scratchBytes(comptime byName("cosineSimilarityNormed"), &.{ 9, 768, 0, 5 }));
    const spread = comptime byName("spreadActivation");
    try std.testing.expectEqual(@as(?u64, 0), scratchBytes(spread, &.{ 0, 0, 0, 0, 0 }));
    try std.testing.expectEqual(@as(?u64, 3 * 64 + 64), scratchBytes(spread, &.{ 1, 0, 0, 0, 0 }));
    try std.testing.expectEqual(@as(?u64, 3 * 448 + 128), scratchBytes(spread, &.{ 100, 0, 0, 0, 0 }));
    try std.testing.expectEqual(@as(?u64, 0), scratchBytes(comptime byName("decayRetention"), &.{ 1000, 5 }));
    // Saturation: never wraps into something that fits.
    try std.testing.expectEqual(@as(?u64, saturated), scratchBytes(batch, &.{ std.math.maxInt(i32), std.math.maxInt(i32), 0, 0 }));
    try std.testing.expectEqual(saturated & ~(alignment - 1), alignUp(saturated));
    try std.testing.expectEqual(@as(u64, 0), alignUp(0));
    try std.testing.expectEqual(@as(u64, 64), alignUp(1));
    try std.testing.expectEqual(@as(u64, 128), alignUp(65));
}
