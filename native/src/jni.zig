//! The JNI boundary: the exported Java_io_engram_kernels_ZigNative_* functions
//! of kernels/src/main/java/io/engram/kernels/ZigNative.java, and a
//! hand-written slice of the JNI function table (no C, no jni.h).
//!
//! Each kernel export: checks the arena, takes every array's length from the
//! argument that follows the array (ZigNative's private natives are called only
//! by wrappers that pass `array.length`, or -1 for null: an array's length is
//! immutable, so this is the length GetArrayLength would answer, without its
//! ~12 ns VM transition), pins the arrays with GetPrimitiveArrayCritical, runs
//! the kernel on slices of exactly those lengths, and releases every pinned
//! array (mode 0 for outputs, JNI_ABORT for read-only inputs). It never calls
//! back into the JVM otherwise, never throws, and answers with a status.
const std = @import("std");
const builtin = @import("builtin");
const kernels = @import("kernels.zig");
const arena = @import("arena.zig");
const features = @import("features.zig");

// ------------------------------------------------------------ JNI types ----

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

/// ZigNative.ABI_VERSION.
pub const abi_version: jint = 3;
/// ZigNative.STATUS_ARENA_TOO_SMALL / STATUS_INVALID_ARGUMENTS.
pub const status_arena_too_small: jlong = -1;
pub const status_invalid_arguments: jlong = -2;

/// Release modes of ReleasePrimitiveArrayCritical (jni.h).
const release_copy_back: jint = 0;
const JNI_ABORT: jint = 2;

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

// -------------------------------------------------------------- helpers ----

/// An array's length as passed by ZigNative's wrapper, or null for a null
/// reference (passed as -1) or an impossible length.
fn length(array: jarray, n: jint) ?usize {
    if (array == null or n < 0) return null;
    return @intCast(n);
}

/// A jint that must be >= 0, as usize.
fn index(v: jint) ?usize {
    return if (v < 0) null else @intCast(v);
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
        error.ArenaTooSmall => status_arena_too_small,
        error.InvalidArguments => status_invalid_arguments,
    };
}

/// The arrays pinned by one call, released together in reverse order.
const Pins = struct {
    env: *const Env,
    arrays: [8]jarray = undefined,
    ptrs: [8]*anyopaque = undefined,
    modes: [8]jint = undefined,
    len: usize = 0,
    /// A pin failed (null from the VM, or a misaligned element pointer).
    failed: bool = false,

    fn input(p: *Pins, comptime T: type, array: jarray, n: usize) []const T {
        return p.pin(T, array, n, JNI_ABORT);
    }

    fn output(p: *Pins, comptime T: type, array: jarray, n: usize) []T {
        return p.pin(T, array, n, release_copy_back);
    }

    fn pin(p: *Pins, comptime T: type, array: jarray, n: usize, mode: jint) []T {
        // An empty array has nothing to read or write: not pinning it avoids
        // a null answer being mistaken for a failure.
        if (n == 0 or p.failed) return &.{};
        std.debug.assert(p.len < p.arrays.len);
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

    fn releaseAll(p: *Pins) void {
        while (p.len > 0) {
            p.len -= 1;
            p.env.*.ReleasePrimitiveArrayCritical(p.env, p.arrays[p.len], p.ptrs[p.len], p.modes[p.len]);
        }
    }
};

// -------------------------------------------------------------- exports ----

const prefix = "Java_io_engram_kernels_ZigNative_";

comptime {
    @export(abiVersion, .{ .name = prefix ++ "abiVersion" });
    @export(compiledFeatures, .{ .name = prefix ++ "compiledFeatures" });
    @export(arenaCreate, .{ .name = prefix ++ "arenaCreate" });
    @export(arenaDestroy, .{ .name = prefix ++ "arenaDestroy" });
    @export(cosineSimilarity, .{ .name = prefix ++ "cosineSimilarity" });
    @export(cosineSimilarityBatch, .{ .name = prefix ++ "cosineSimilarityBatch" });
    @export(cosineTopK, .{ .name = prefix ++ "cosineTopK" });
    @export(spreadActivation, .{ .name = prefix ++ "spreadActivation" });
    @export(decayRetention, .{ .name = prefix ++ "decayRetention" });
    @export(memorySweep, .{ .name = prefix ++ "memorySweep" });
}

/// The exported symbol names, for tests and the build's symbol check.
pub const exported_names = [_][]const u8{
    "abiVersion",       "compiledFeatures",      "arenaCreate",      "arenaDestroy",
    "cosineSimilarity", "cosineSimilarityBatch", "cosineTopK",       "spreadActivation",
    "decayRetention",   "memorySweep",
};

pub fn abiVersion(env: *const Env, class: jclass) callconv(.C) jint {
    _ = env;
    _ = class;
    return abi_version;
}

pub fn compiledFeatures(env: *const Env, class: jclass) callconv(.C) jint {
    _ = env;
    _ = class;
    return features.bits;
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

pub fn cosineSimilarity(
    env: *const Env,
    class: jclass,
    arena_address: jlong,
    arena_capacity: jlong,
    query: jarray,
    query_length: jint,
    candidates: jarray,
    candidates_length: jint,
    dim: jint,
    first: jint,
    count: jint,
    scores: jarray,
    scores_length: jint,
) callconv(.C) jlong {
    _ = class;
    const invalid = status_invalid_arguments;
    var bump = bumpOf(arena_address, arena_capacity) orelse return invalid;
    const query_len = length(query, query_length) orelse return invalid;
    const candidates_len = length(candidates, candidates_length) orelse return invalid;
    const scores_len = length(scores, scores_length) orelse return invalid;
    const d = index(dim) orelse return invalid;
    const f = index(first) orelse return invalid;
    const c = index(count) orelse return invalid;

    var pins = Pins{ .env = env };
    defer pins.releaseAll();
    const q = pins.input(f32, query, query_len);
    const cand = pins.input(f32, candidates, candidates_len);
    const out = pins.output(f32, scores, scores_len);
    if (pins.failed) return invalid;
    kernels.cosineSimilarity(&bump, q, cand, d, f, c, out) catch |err| return statusOf(err);
    return @intCast(bump.used);
}

pub fn cosineSimilarityBatch(
    env: *const Env,
    class: jclass,
    arena_address: jlong,
    arena_capacity: jlong,
    queries: jarray,
    queries_length: jint,
    query_count: jint,
    candidates: jarray,
    candidates_length: jint,
    dim: jint,
    first: jint,
    count: jint,
    scores: jarray,
    scores_length: jint,
) callconv(.C) jlong {
    _ = class;
    const invalid = status_invalid_arguments;
    var bump = bumpOf(arena_address, arena_capacity) orelse return invalid;
    const queries_len = length(queries, queries_length) orelse return invalid;
    const candidates_len = length(candidates, candidates_length) orelse return invalid;
    const scores_len = length(scores, scores_length) orelse return invalid;
    const qc = index(query_count) orelse return invalid;
    const d = index(dim) orelse return invalid;
    const f = index(first) orelse return invalid;
    const c = index(count) orelse return invalid;

    var pins = Pins{ .env = env };
    defer pins.releaseAll();
    const q = pins.input(f32, queries, queries_len);
    const cand = pins.input(f32, candidates, candidates_len);
    const out = pins.output(f32, scores, scores_len);
    if (pins.failed) return invalid;
    kernels.cosineSimilarityBatch(&bump, q, qc, cand, d, f, c, out) catch |err| return statusOf(err);
    return @intCast(bump.used);
}

pub fn cosineTopK(
    env: *const Env,
    class: jclass,
    arena_address: jlong,
    arena_capacity: jlong,
    query: jarray,
    query_length: jint,
    candidates: jarray,
    candidates_length: jint,
    dim: jint,
    first: jint,
    count: jint,
    k: jint,
    top_rows: jarray,
    top_rows_length: jint,
    top_scores: jarray,
    top_scores_length: jint,
) callconv(.C) jlong {
    _ = class;
    const invalid = status_invalid_arguments;
    var bump = bumpOf(arena_address, arena_capacity) orelse return invalid;
    const query_len = length(query, query_length) orelse return invalid;
    const candidates_len = length(candidates, candidates_length) orelse return invalid;
    const rows_len = length(top_rows, top_rows_length) orelse return invalid;
    const scores_len = length(top_scores, top_scores_length) orelse return invalid;
    const d = index(dim) orelse return invalid;
    const f = index(first) orelse return invalid;
    const c = index(count) orelse return invalid;
    const kk = index(k) orelse return invalid;

    var pins = Pins{ .env = env };
    defer pins.releaseAll();
    const q = pins.input(f32, query, query_len);
    const cand = pins.input(f32, candidates, candidates_len);
    const rows = pins.output(i32, top_rows, rows_len);
    const out = pins.output(f32, top_scores, scores_len);
    if (pins.failed) return invalid;
    _ = kernels.cosineTopK(&bump, q, cand, d, f, c, kk, rows, out) catch |err| return statusOf(err);
    return @intCast(bump.used);
}

pub fn spreadActivation(
    env: *const Env,
    class: jclass,
    arena_address: jlong,
    arena_capacity: jlong,
    offsets: jarray,
    offsets_length: jint,
    targets: jarray,
    targets_length: jint,
    weights: jarray,
    weights_length: jint,
    node_count: jint,
    seed_nodes: jarray,
    seed_nodes_length: jint,
    seed_activations: jarray,
    seed_activations_length: jint,
    seed_count: jint,
    max_hops: jint,
    hop_decay: jfloat,
    threshold: jfloat,
    activation: jarray,
    activation_length: jint,
    first_hop: jarray,
    first_hop_length: jint,
) callconv(.C) jlong {
    _ = class;
    const invalid = status_invalid_arguments;
    var bump = bumpOf(arena_address, arena_capacity) orelse return invalid;
    const offsets_len = length(offsets, offsets_length) orelse return invalid;
    const targets_len = length(targets, targets_length) orelse return invalid;
    const weights_len = length(weights, weights_length) orelse return invalid;
    const seed_nodes_len = length(seed_nodes, seed_nodes_length) orelse return invalid;
    const seed_activations_len = length(seed_activations, seed_activations_length) orelse return invalid;
    const activation_len = length(activation, activation_length) orelse return invalid;
    const first_hop_len = length(first_hop, first_hop_length) orelse return invalid;
    const n = index(node_count) orelse return invalid;
    const seeds = index(seed_count) orelse return invalid;
    const hops = index(max_hops) orelse return invalid;

    var pins = Pins{ .env = env };
    defer pins.releaseAll();
    const off = pins.input(i32, offsets, offsets_len);
    const tgt = pins.input(i32, targets, targets_len);
    const wgt = pins.input(f32, weights, weights_len);
    const sn = pins.input(i32, seed_nodes, seed_nodes_len);
    const sa = pins.input(f32, seed_activations, seed_activations_len);
    const act = pins.output(f32, activation, activation_len);
    const fh = pins.output(i32, first_hop, first_hop_len);
    if (pins.failed) return invalid;
    kernels.spreadActivation(&bump, off, tgt, wgt, n, sn, sa, seeds, hops, hop_decay, threshold, act, fh) catch |err|
        return statusOf(err);
    return @intCast(bump.used);
}

pub fn decayRetention(
    env: *const Env,
    class: jclass,
    arena_address: jlong,
    arena_capacity: jlong,
    last_access_millis: jarray,
    last_access_millis_length: jint,
    stability_seconds: jarray,
    stability_seconds_length: jint,
    count: jint,
    now_millis: jlong,
    retention: jarray,
    retention_length: jint,
) callconv(.C) jlong {
    _ = class;
    const invalid = status_invalid_arguments;
    var bump = bumpOf(arena_address, arena_capacity) orelse return invalid;
    const last_len = length(last_access_millis, last_access_millis_length) orelse return invalid;
    const stab_len = length(stability_seconds, stability_seconds_length) orelse return invalid;
    const out_len = length(retention, retention_length) orelse return invalid;
    const c = index(count) orelse return invalid;

    var pins = Pins{ .env = env };
    defer pins.releaseAll();
    const last = pins.input(i64, last_access_millis, last_len);
    const stab = pins.input(f32, stability_seconds, stab_len);
    const out = pins.output(f32, retention, out_len);
    if (pins.failed) return invalid;
    kernels.decayRetention(&bump, last, stab, c, now_millis, out) catch |err| return statusOf(err);
    return @intCast(bump.used);
}

/// A read-only pass over every byte of `floats` and then `longs` (either may
/// be null): the bandwidth ceiling for the benchmarks. Returns a non-negative
/// checksum of the bytes (so the reads cannot be optimised away), or
/// status_invalid_arguments if a pin fails. Uses no arena.
pub fn memorySweep(
    env: *const Env,
    class: jclass,
    floats: jarray,
    floats_length: jint,
    longs: jarray,
    longs_length: jint,
) callconv(.C) jlong {
    _ = class;
    const floats_len = length(floats, floats_length) orelse 0;
    const longs_len = length(longs, longs_length) orelse 0;
    var pins = Pins{ .env = env };
    defer pins.releaseAll();
    const f = pins.input(f32, floats, floats_len);
    const l = pins.input(i64, longs, longs_len);
    if (pins.failed) return status_invalid_arguments;
    const sum = kernels.memorySweep(std.mem.sliceAsBytes(f)) +% kernels.memorySweep(std.mem.sliceAsBytes(l));
    return @intCast(sum & std.math.maxInt(i63));
}
