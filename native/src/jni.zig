//! A typed slice of JNI (no C, no jni.h): the primitive types, the entries of
//! the function table the libraries use, and `Pins`, which gives a call its
//! Java arrays (small inputs copied, the rest pinned) and releases them all in
//! one place.
//! library.zig (the kernels) and bench.zig (the benchmarks' helpers) export
//! their functions on top of it.
const std = @import("std");

pub const jint = i32;
pub const jlong = i64;
pub const jfloat = f32;
pub const jsize = jint;
pub const jboolean = u8;
const Object = opaque {};
pub const jobject = ?*Object;
pub const jclass = jobject;
pub const jarray = jobject;

/// JNIEnv* in C is a pointer to a pointer to the function table.
pub const Env = *const FunctionTable;

/// Release modes of ReleasePrimitiveArrayCritical (jni.h).
pub const release_copy_back: jint = 0;
pub const JNI_ABORT: jint = 2;

const Slot = ?*const anyopaque;

fn GetRegion(comptime T: type) type {
    return *const fn (env: *const Env, array: jarray, start: jsize, len: jsize, buf: [*]T) callconv(.C) void;
}

/// struct JNINativeInterface_ from jni.h, declaring only the entries used.
/// Indices counted in /usr/lib/jvm/java-17-openjdk-amd64/include/jni.h: the
/// struct opens with 4 reserved pointers (reserved0..3 = 0..3), GetVersion is
/// 4, and counting the function pointers in declaration order from there:
///   203 GetIntArrayRegion, 204 GetLongArrayRegion, 205 GetFloatArrayRegion
///   222 GetPrimitiveArrayCritical     (after GetStringUTFRegion = 221)
///   223 ReleasePrimitiveArrayCritical
/// The table is append-only across JDK versions, so these never move.
pub const FunctionTable = extern struct {
    unused_0_202: [203]Slot,
    GetIntArrayRegion: GetRegion(i32),
    GetLongArrayRegion: GetRegion(i64),
    GetFloatArrayRegion: GetRegion(f32),
    unused_206_221: [16]Slot,
    GetPrimitiveArrayCritical: *const fn (env: *const Env, array: jarray, is_copy: ?*jboolean) callconv(.C) ?*anyopaque,
    ReleasePrimitiveArrayCritical: *const fn (env: *const Env, array: jarray, carray: ?*anyopaque, mode: jint) callconv(.C) void,
};

comptime {
    const slot = @sizeOf(Slot);
    std.debug.assert(@offsetOf(FunctionTable, "GetIntArrayRegion") == 203 * slot);
    std.debug.assert(@offsetOf(FunctionTable, "GetLongArrayRegion") == 204 * slot);
    std.debug.assert(@offsetOf(FunctionTable, "GetFloatArrayRegion") == 205 * slot);
    std.debug.assert(@offsetOf(FunctionTable, "GetPrimitiveArrayCritical") == 222 * slot);
    std.debug.assert(@offsetOf(FunctionTable, "ReleasePrimitiveArrayCritical") == 223 * slot);
}

/// An array's length as passed by the Java side (its own `array.length`, or
/// -1 for null), or null for a null reference or an impossible length.
pub fn length(array: jarray, n: jint) ?usize {
    if (array == null or n < 0) return null;
    return @intCast(n);
}

/// The arrays of one call: small inputs copied into `copies`, everything else
/// pinned, the pins released together in reverse order.
///
/// Why copy: every JNI function is a transition into the VM and back (about
/// 10 ns each on the machines we measured), and a pinned array costs two of
/// them, Get and Release, where a copy costs one, Get<Type>ArrayRegion. Up to
/// a few hundred bytes the copy itself is cheaper than the transition it saves
/// (docs/benchmarks/round-two.md, "The per-call cost"). Outputs are always
/// pinned: a kernel may write only part of one, and copying it back whole
/// would need a copy in first.
pub const Pins = struct {
    env: *const Env,
    arrays: [max]jarray = undefined,
    ptrs: [max]*anyopaque = undefined,
    modes: [max]jint = undefined,
    len: usize = 0,
    /// A pin failed (null from the VM, or a misaligned element pointer).
    failed: bool = false,
    copies: [copy_bytes]u8 align(64) = undefined,
    copied: usize = 0,

    pub const max = 8;
    /// The bytes of input a call copies instead of pinning, over all its
    /// inputs; an input that does not fit in what is left is pinned.
    pub const copy_bytes = 512;

    pub fn input(p: *Pins, comptime T: type, array: jarray, n: usize) []const T {
        if (n == 0 or p.failed) return &.{};
        const at = std.mem.alignForward(usize, p.copied, @alignOf(T));
        if (n <= (copy_bytes - @min(at, copy_bytes)) / @sizeOf(T)) {
            const dst: [*]T = @ptrCast(@alignCast(&p.copies[at]));
            // n is the array's own length (length() above), so the region is
            // in bounds and the VM raises no exception.
            const get = switch (T) {
                f32 => p.env.*.GetFloatArrayRegion,
                i32 => p.env.*.GetIntArrayRegion,
                i64 => p.env.*.GetLongArrayRegion,
                else => @compileError("no region copy for " ++ @typeName(T)),
            };
            get(p.env, array, 0, @intCast(n), dst);
            p.copied = at + n * @sizeOf(T);
            return dst[0..n];
        }
        return p.pin(T, array, n, JNI_ABORT);
    }

    pub fn output(p: *Pins, comptime T: type, array: jarray, n: usize) []T {
        return p.pin(T, array, n, release_copy_back);
    }

    fn pin(p: *Pins, comptime T: type, array: jarray, n: usize, mode: jint) []T {
        // An empty array has nothing to read or write: not pinning it avoids
        // a null answer being mistaken for a failure.
        if (n == 0 or p.failed) return &.{};
        std.debug.assert(p.len < max);
        const ptr = p.env.*.GetPrimitiveArrayCritical(p.env, array, null) orelse {
            p.failed = true;
            return &.{};
        };
        p.arrays[p.len] = array;
        p.ptrs[p.len] = ptr;
        p.modes[p.len] = mode;
        p.len += 1;
        if (@intFromPtr(ptr) % @alignOf(T) != 0) {
            p.failed = true;
            return &.{};
        }
        return @as([*]T, @ptrCast(@alignCast(ptr)))[0..n];
    }

    pub fn releaseAll(p: *Pins) void {
        while (p.len > 0) {
            p.len -= 1;
            p.env.*.ReleasePrimitiveArrayCritical(p.env, p.arrays[p.len], p.ptrs[p.len], p.modes[p.len]);
        }
    }
};
