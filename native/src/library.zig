//! The production library's JNI boundary: four exports of
//! kernels/src/main/java/io/engram/kernels/ZigNative.java (generated from
//! abi.zig), in the shape of TigerBeetle's Java client: a new kernel needs a
//! row in abi.zig's table, not a new entry point.
//!
//!   info(what)                    ABI version or compiled features
//!   arenaCreate(capacity)         a 64-byte-aligned native block, 0 on failure
//!   arenaDestroy(address, capacity)
//!   call(op, arena, capacity, 7 × (array, length), 6 × scalar)
//!
//! `call` finds the kernel by op code, takes every array's length from the
//! argument after it (ZigNative's generated wrappers pass `array.length`, or -1
//! for null: an array's length is immutable, so this is what GetArrayLength
//! would answer, without its VM transition), converts the scalars, copies the
//! small inputs and pins the other arrays with GetPrimitiveArrayCritical
//! (jni.Pins says why), runs the kernel on slices of exactly those lengths and
//! releases every pin (JNI_ABORT for inputs). Every failure
//! leaves through one path: a negative status, nothing written. It never
//! throws and never calls back into the JVM otherwise.
const std = @import("std");
const abi = @import("abi.zig");
const kernels = @import("kernels.zig");
const arena = @import("arena.zig");
const features = @import("features.zig");
const jni = @import("jni.zig");

const jint = jni.jint;
const jlong = jni.jlong;
const jarray = jni.jarray;
const jclass = jni.jclass;
const Env = jni.Env;

const prefix = "Java_io_engram_kernels_ZigNative_";

comptime {
    @export(info, .{ .name = prefix ++ "info" });
    @export(arenaCreate, .{ .name = prefix ++ "arenaCreate" });
    @export(arenaDestroy, .{ .name = prefix ++ "arenaDestroy" });
    @export(call, .{ .name = prefix ++ "call" });
}

/// The exported method names, for tests.
pub const exported_names = [_][]const u8{ "info", "arenaCreate", "arenaDestroy", "call" };

pub fn info(env: *const Env, class: jclass, what: jint) callconv(.C) jlong {
    _ = env;
    _ = class;
    return switch (what) {
        abi.info_abi_version => abi.version,
        abi.info_compiled_features => features.bits,
        else => abi.status_invalid_arguments,
    };
}

pub fn arenaCreate(env: *const Env, class: jclass, capacity: jlong) callconv(.C) jlong {
    _ = env;
    _ = class;
    if (capacity <= 0 or capacity > std.math.maxInt(isize)) return 0;
    const block = arena.create(@intCast(capacity)) orelse return 0;
    return @bitCast(@intFromPtr(block.ptr));
}

pub fn arenaDestroy(env: *const Env, class: jclass, address: jlong, capacity: jlong) callconv(.C) void {
    _ = env;
    _ = class;
    if (address == 0 or capacity <= 0 or capacity > std.math.maxInt(isize)) return;
    const addr: usize = @bitCast(address);
    if (addr % arena.alignment != 0) return;
    const base: [*]align(arena.alignment) u8 = @ptrFromInt(addr);
    arena.destroy(base[0..@intCast(capacity)]);
}

pub fn call(
    env: *const Env,
    class: jclass,
    op: jint,
    arena_address: jlong,
    arena_capacity: jlong,
    a0: jarray,
    n0: jint,
    a1: jarray,
    n1: jint,
    a2: jarray,
    n2: jint,
    a3: jarray,
    n3: jint,
    a4: jarray,
    n4: jint,
    a5: jarray,
    n5: jint,
    a6: jarray,
    n6: jint,
    s0: jlong,
    s1: jlong,
    s2: jlong,
    s3: jlong,
    s4: jlong,
    s5: jlong,
) callconv(.C) jlong {
    _ = class;
    const arrays = [abi.max_arrays]jarray{ a0, a1, a2, a3, a4, a5, a6 };
    const lengths = [abi.max_arrays]jint{ n0, n1, n2, n3, n4, n5, n6 };
    const scalars = [abi.max_scalars]jlong{ s0, s1, s2, s3, s4, s5 };
    inline for (abi.table) |k| {
        if (op == k.op) return run(k, env, arena_address, arena_capacity, &arrays, &lengths, &scalars);
        if (op == k.op + abi.dry_run) {
            const need = abi.scratchBytes(k, &scalars) orelse return abi.status_invalid_arguments;
            return @intCast(need); // saturated at the largest i64
        }
    }
    return abi.status_invalid_arguments;
}

/// The arena block of a call, or null if the address or capacity is unusable.
fn bumpOf(address: jlong, capacity: jlong) ?arena.Bump {
    if (address == 0 or capacity < 0) return null;
    const addr: usize = @bitCast(address);
    if (addr % arena.alignment != 0) return null;
    return arena.Bump.init(@ptrFromInt(addr), @intCast(capacity));
}

fn statusOf(err: kernels.Error) jlong {
    return switch (err) {
        error.ArenaTooSmall => abi.status_arena_too_small,
        error.InvalidArguments => abi.status_invalid_arguments,
    };
}

/// One kernel call: arguments converted and arrays pinned as k's row in
/// abi.zig says, in its parameter order, then the kernels.zig function of the
/// same name. A row whose kinds do not match the function's parameter types
/// does not compile.
fn run(
    comptime k: abi.Kernel,
    env: *const Env,
    arena_address: jlong,
    arena_capacity: jlong,
    arrays: *const [abi.max_arrays]jarray,
    lengths: *const [abi.max_arrays]jint,
    scalars: *const [abi.max_scalars]jlong,
) jlong {
    const invalid = abi.status_invalid_arguments;
    const func = @field(kernels, k.name);
    var bump = bumpOf(arena_address, arena_capacity) orelse return invalid;
    var args: std.meta.ArgsTuple(@TypeOf(func)) = undefined;
    args[0] = &bump;

    // Scalars first: nothing is pinned while an argument can still be refused.
    comptime var slot = 0;
    inline for (k.params, 1..) |p, i| {
        if (comptime p.kind.isArray()) continue;
        const s = scalars[slot];
        slot += 1;
        args[i] = switch (p.kind) {
            .int => if (s < 0 or s > std.math.maxInt(jint)) return invalid else @as(usize, @intCast(s)),
            .long => s,
            .float => @as(f32, @bitCast(@as(u32, @truncate(@as(u64, @bitCast(s)))))),
            else => unreachable,
        };
    }
    var lens: [abi.max_arrays]usize = undefined;
    comptime var ai = 0;
    inline for (k.params) |p| {
        if (comptime !p.kind.isArray()) continue;
        lens[ai] = jni.length(arrays[ai], lengths[ai]) orelse return invalid;
        ai += 1;
    }

    var pins = jni.Pins{ .env = env };
    defer pins.releaseAll();
    ai = 0;
    inline for (k.params, 1..) |p, i| {
        if (comptime !p.kind.isArray()) continue;
        const T = comptime p.kind.Elem();
        args[i] = if (comptime p.kind.isOutput())
            pins.output(T, arrays[ai], lens[ai])
        else
            pins.input(T, arrays[ai], lens[ai]);
        ai += 1;
    }
    if (pins.failed) return invalid;
    _ = @call(.auto, func, args) catch |err| return statusOf(err);
    return @intCast(bump.used);
}
