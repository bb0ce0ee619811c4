//! A typed slice of JNI (no C, no jni.h): the primitive types, the two entries
//! of the function table the libraries use, and `Pins`, which pins Java arrays
//! for the duration of one call and releases them all in one place.
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

/// struct JNINativeInterface_ from jni.h, declaring only the entries used.
/// Indices counted in /usr/lib/jvm/java-17-openjdk-amd64/include/jni.h: the
/// struct opens with 4 reserved pointers (reserved0..3 = 0..3), GetVersion is
/// 4, and counting the function pointers in declaration order from there:
///   222 GetPrimitiveArrayCritical     (after GetStringUTFRegion = 221)
///   223 ReleasePrimitiveArrayCritical
/// The table is append-only across JDK versions, so these never move.
pub const FunctionTable = extern struct {
    unused_0_221: [222]Slot,
    GetPrimitiveArrayCritical: *const fn (env: *const Env, array: jarray, is_copy: ?*jboolean) callconv(.C) ?*anyopaque,
    ReleasePrimitiveArrayCritical: *const fn (env: *const Env, array: jarray, carray: ?*anyopaque, mode: jint) callconv(.C) void,
};

comptime {
    const slot = @sizeOf(Slot);
    std.debug.assert(@offsetOf(FunctionTable, "GetPrimitiveArrayCritical") == 222 * slot);
    std.debug.assert(@offsetOf(FunctionTable, "ReleasePrimitiveArrayCritical") == 223 * slot);
}

/// An array's length as passed by the Java side (its own `array.length`, or
/// -1 for null), or null for a null reference or an impossible length.
pub fn length(array: jarray, n: jint) ?usize {
    if (array == null or n < 0) return null;
    return @intCast(n);
}

/// The arrays pinned by one call, released together in reverse order.
pub const Pins = struct {
    env: *const Env,
    arrays: [max]jarray = undefined,
    ptrs: [max]*anyopaque = undefined,
    modes: [max]jint = undefined,
    len: usize = 0,
    /// A pin failed (null from the VM, or a misaligned element pointer).
    failed: bool = false,

    pub const max = 8;

    pub fn input(p: *Pins, comptime T: type, array: jarray, n: usize) []const T {
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
