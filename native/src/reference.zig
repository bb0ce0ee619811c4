//! Straight scalar ports of JavaKernels (the reference semantics), used only by
//! the tests to check the SIMD kernels. Written to mirror the Java line by line,
//! not to be fast.
const std = @import("std");
const kernels = @import("kernels.zig");

fn sumOfSquares(v: []const f32) f32 {
    var s = [4]f32{ 0, 0, 0, 0 };
    var j: usize = 0;
    while (j + 3 < v.len) : (j += 4) {
        inline for (0..4) |a| s[a] += v[j + a] * v[j + a];
    }
    while (j < v.len) : (j += 1) s[0] += v[j] * v[j];
    return (s[0] + s[1]) + (s[2] + s[3]);
}

fn cosineRow(q: []const f32, qq: f32, c: []const f32) f32 {
    var d = [4]f32{ 0, 0, 0, 0 };
    var s = [4]f32{ 0, 0, 0, 0 };
    var j: usize = 0;
    while (j + 3 < q.len) : (j += 4) {
        inline for (0..4) |a| {
            d[a] += q[j + a] * c[j + a];
            s[a] += c[j + a] * c[j + a];
        }
    }
    while (j < q.len) : (j += 1) {
        d[0] += q[j] * c[j];
        s[0] += c[j] * c[j];
    }
    return kernels.finish((d[0] + d[1]) + (d[2] + d[3]), qq, (s[0] + s[1]) + (s[2] + s[3]));
}

pub fn cosineSimilarity(query: []const f32, candidates: []const f32, first: usize, count: usize, scores: []f32) void {
    const dim = query.len;
    const qq = sumOfSquares(query);
    for (0..count) |i| scores[i] = cosineRow(query, qq, candidates[(first + i) * dim ..][0..dim]);
}

/// JavaKernels.cosineSimilarityNormed for one cue: the dot product with the
/// same four accumulators as Java, finished with the stored norms.
pub fn cosineSimilarityNormed(cue: []const f32, cue_norm: f32, candidates: []const f32, norms: []const f32, first: usize, count: usize, scores: []f32) void {
    const dim = cue.len;
    for (0..count) |i| {
        const c = candidates[(first + i) * dim ..][0..dim];
        var d = [4]f32{ 0, 0, 0, 0 };
        var j: usize = 0;
        while (j + 3 < dim) : (j += 4) {
            inline for (0..4) |a| d[a] += cue[j + a] * c[j + a];
        }
        while (j < dim) : (j += 1) d[0] += cue[j] * c[j];
        scores[i] = kernels.finishNormed((d[0] + d[1]) + (d[2] + d[3]), cue_norm, norms[first + i]);
    }
}

/// The norm the job stores with a vector: computed in f64, rounded to f32.
pub fn norm(v: []const f32) f32 {
    var s: f64 = 0;
    for (v) |x| s += @as(f64, x) * @as(f64, x);
    return @floatCast(@sqrt(s));
}

/// JavaKernels.spreadActivation, statement by statement.
pub fn spreadActivation(
    gpa: std.mem.Allocator,
    offsets: []const i32,
    targets: []const i32,
    weights: []const f32,
    seeds: []const i32,
    seed_acts: []const f32,
    max_hops: usize,
    hop_decay: f32,
    threshold: f32,
    activation: []f32,
    first_hop: []i32,
) !void {
    const n = offsets.len - 1;
    var frontier = try gpa.alloc(i32, n);
    defer gpa.free(frontier);
    var next = try gpa.alloc(i32, n);
    defer gpa.free(next);
    const snapshot = try gpa.alloc(f32, n);
    defer gpa.free(snapshot);
    const marked = try gpa.alloc(bool, n);
    defer gpa.free(marked);
    @memset(marked, false);
    @memset(activation[0..n], 0);
    @memset(first_hop[0..n], -1);

    var fsize: usize = 0;
    for (seeds, seed_acts) |s_i, sa| {
        const s: usize = @intCast(s_i);
        const a = javaMax(0, javaMin(1, sa));
        if (first_hop[s] == -1) {
            first_hop[s] = 0;
            activation[s] = a;
            frontier[fsize] = s_i;
            fsize += 1;
        } else {
            activation[s] = javaMax(activation[s], a);
        }
    }
    std.sort.pdq(i32, frontier[0..fsize], {}, std.sort.asc(i32));
    var hop: i32 = 1;
    while (hop <= max_hops and fsize > 0) : (hop += 1) {
        for (0..fsize) |i| snapshot[i] = activation[@intCast(frontier[i])];
        var nsize: usize = 0;
        for (0..fsize) |i| {
            const u: usize = @intCast(frontier[i]);
            const a = snapshot[i];
            var e: usize = @intCast(offsets[u]);
            while (e < offsets[u + 1]) : (e += 1) {
                const c = a * weights[e] * hop_decay;
                if (c < threshold) continue;
                const v: usize = @intCast(targets[e]);
                activation[v] = javaMin(1, activation[v] + c);
                if (first_hop[v] == -1) first_hop[v] = hop;
                if (!marked[v]) {
                    marked[v] = true;
                    next[nsize] = @intCast(v);
                    nsize += 1;
                }
            }
        }
        std.sort.pdq(i32, next[0..nsize], {}, std.sort.asc(i32));
        for (next[0..nsize]) |v| marked[@intCast(v)] = false;
        std.mem.swap([]i32, &frontier, &next);
        fsize = nsize;
    }
}

/// java.lang.Math.min(float, float).
fn javaMin(a: f32, b: f32) f32 {
    if (a != a) return a;
    if (a == 0 and b == 0 and std.math.signbit(b)) return b;
    return if (a <= b) a else b;
}

/// java.lang.Math.max(float, float).
fn javaMax(a: f32, b: f32) f32 {
    if (a != a) return a;
    if (a == 0 and b == 0 and std.math.signbit(a)) return b;
    return if (a >= b) a else b;
}

/// JavaKernels.retention with a libm-quality f64 exp standing in for Math.exp.
pub fn retention(last: i64, stability: f32, now: i64) f32 {
    if (now -% last <= 0) return 1;
    if (!(stability > 0)) return 0;
    const age = @as(f64, @floatFromInt(now -% last)) / 1000.0;
    const x = -age / @as(f64, stability);
    if (x < -87.0) return 0;
    return @floatCast(std.math.exp(x));
}
