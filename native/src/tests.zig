//! Unit tests of the kernels (against the scalar Java ports in reference.zig)
//! and of the JNI layer (through a fake JNI function table).
const std = @import("std");
const kernels = @import("kernels.zig");
const reference = @import("reference.zig");
const scratch = @import("scratch.zig");
const arena = @import("arena.zig");
const abi = @import("abi.zig");
const jni = @import("jni.zig");
const library = @import("library.zig");

const testing = std.testing;
const gpa = testing.allocator;

test {
    // The modules' own tests (ABI table and scratch formulas, arena, exp sweep,
    // features, the benchmark helpers).
    _ = @import("abi.zig");
    _ = @import("scratch.zig");
    _ = @import("bench.zig");
    _ = @import("arena.zig");
    _ = @import("exp.zig");
    _ = @import("features.zig");
}

/// A 64-byte-aligned test arena of the given capacity.
const TestArena = struct {
    block: []align(64) u8,

    fn init(capacity: usize) !TestArena {
        return .{ .block = try gpa.alignedAlloc(u8, 64, @max(capacity, 64)) };
    }
    fn deinit(a: TestArena) void {
        gpa.free(a.block);
    }
    fn bump(a: TestArena, capacity: usize) arena.Bump {
        return arena.Bump.init(a.block.ptr, capacity);
    }
};

fn randomVector(r: std.Random, v: []f32) void {
    for (v) |*x| x.* = r.float(f32) * 2 - 1;
}

// ---------------------------------------------------------------- cosine ----

test "cosineSimilarity matches the Java port for dims 1..70 and row ranges" {
    var prng = std.Random.DefaultPrng.init(1);
    const r = prng.random();
    const ta = try TestArena.init(4096);
    defer ta.deinit();
    var dim: usize = 1;
    while (dim <= 70) : (dim += 1) {
        const rows = 9;
        const q = try gpa.alloc(f32, dim);
        defer gpa.free(q);
        const c = try gpa.alloc(f32, rows * dim);
        defer gpa.free(c);
        randomVector(r, q);
        randomVector(r, c);
        var got: [rows]f32 = undefined;
        var want: [rows]f32 = undefined;
        for ([_][2]usize{ .{ 0, rows }, .{ 2, 5 }, .{ rows, 0 }, .{ 8, 1 } }) |fc| {
            var b = ta.bump(4096);
            try kernels.cosineSimilarity(&b, q, c, dim, fc[0], fc[1], &got);
            try testing.expectEqual(scratch.of("cosineSimilarity", .{ dim, fc[0], fc[1] }), b.used);
            reference.cosineSimilarity(q, c, fc[0], fc[1], &want);
            for (got[0..fc[1]], want[0..fc[1]]) |g, w| try testing.expectApproxEqAbs(w, g, 1e-5);
        }
    }
}

test "cosine special cases: zero, NaN, Inf, denormal, overflow, parallel, opposite" {
    const ta = try TestArena.init(1024);
    defer ta.deinit();
    const dim = 11; // not a multiple of 8
    const q = [_]f32{ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
    var c: [8 * dim]f32 = undefined;
    for (0..dim) |j| {
        c[0 * dim + j] = 0; // zero vector
        c[1 * dim + j] = q[j]; // parallel
        c[2 * dim + j] = -2 * q[j]; // opposite
        c[3 * dim + j] = if (j == 5) std.math.nan(f32) else q[j];
        c[4 * dim + j] = if (j == 10) std.math.inf(f32) else q[j];
        c[5 * dim + j] = 1e-40; // denormal: squares flush to 0
        c[6 * dim + j] = 1e20; // squares overflow to Inf
        c[7 * dim + j] = if (j == 0) -1 else 0;
    }
    var got: [8]f32 = undefined;
    var want: [8]f32 = undefined;
    var b = ta.bump(1024);
    try kernels.cosineSimilarity(&b, &q, &c, dim, 0, 8, &got);
    reference.cosineSimilarity(&q, &c, 0, 8, &want);
    try testing.expectEqual(@as(f32, 0), got[0]);
    try testing.expectApproxEqAbs(@as(f32, 1), got[1], 1e-6);
    try testing.expect(got[1] <= 1);
    try testing.expectApproxEqAbs(@as(f32, -1), got[2], 1e-6);
    try testing.expect(got[2] >= -1);
    try testing.expectEqual(@as(f32, 0), got[3]);
    try testing.expectEqual(@as(f32, 0), got[4]);
    try testing.expectEqual(@as(f32, 0), got[5]);
    try testing.expectEqual(@as(f32, 0), got[6]);
    for (got, want) |g, w| try testing.expectApproxEqAbs(w, g, 1e-5);

    // A NaN / zero query gives 0 everywhere.
    var qn = q;
    qn[3] = std.math.nan(f32);
    b = ta.bump(1024);
    try kernels.cosineSimilarity(&b, &qn, &c, dim, 0, 8, &got);
    for (got) |g| try testing.expectEqual(@as(f32, 0), g);
    const qz = [_]f32{0} ** dim;
    b = ta.bump(1024);
    try kernels.cosineSimilarity(&b, &qz, &c, dim, 0, 8, &got);
    for (got) |g| try testing.expectEqual(@as(f32, 0), g);
}

test "cosine argument checks and a too-small arena write nothing" {
    const ta = try TestArena.init(1024);
    defer ta.deinit();
    const q = [_]f32{ 1, 2, 3 };
    const c = [_]f32{ 1, 2, 3, 4, 5, 6 };
    var s = [_]f32{ 42, 42 };
    const E = kernels.Error;
    var b = ta.bump(1024);
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarity(&b, &q, &c, 0, 0, 1, &s));
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarity(&b, &q, &c, 2, 0, 1, &s));
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarity(&b, &q, c[0..5], 3, 0, 1, &s));
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarity(&b, &q, &c, 3, 1, 2, &s));
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarity(&b, &q, &c, 3, 3, 0, &s));
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarity(&b, &q, &c, 3, 0, 2, s[0..1]));
    b = ta.bump(63);
    try testing.expectError(E.ArenaTooSmall, kernels.cosineSimilarity(&b, &q, &c, 3, 0, 2, &s));
    try testing.expectEqual(@as(usize, 0), b.used);
    try testing.expectEqual([_]f32{ 42, 42 }, s);
}

test "cosineSimilarityBatch equals cosineSimilarity per query: dims, query counts, row ranges, specials" {
    var prng = std.Random.DefaultPrng.init(7);
    const r = prng.random();
    const ta = try TestArena.init(1 << 20);
    defer ta.deinit();
    const dims = [_]usize{ 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 384, 769 };
    for (dims) |dim| {
        for ([_]usize{ 0, 1, 2, 3, 4, 5, 7, 8, 9, 13 }) |qc| {
            const rows = 7;
            const qs = try gpa.alloc(f32, qc * dim + 5); // a longer buffer is fine
            defer gpa.free(qs);
            const c = try gpa.alloc(f32, rows * dim);
            defer gpa.free(c);
            randomVector(r, qs);
            randomVector(r, c);
            if (dim > 2 and qc > 1) qs[dim + 1] = std.math.nan(f32); // query 1 scores 0 everywhere
            if (dim > 2) c[2 * dim + 1] = std.math.inf(f32); // row 2 scores 0 for every query
            if (qc > 2) @memset(qs[2 * dim ..][0..dim], 0); // a zero query
            for ([_][2]usize{ .{ 0, rows }, .{ 1, 5 }, .{ 3, 1 }, .{ rows, 0 }, .{ 2, 2 } }) |fc| {
                const got = try gpa.alloc(f32, qc * fc[1]);
                defer gpa.free(got);
                @memset(got, 42);
                var b = ta.bump(1 << 20);
                try kernels.cosineSimilarityBatch(&b, qs, qc, c, dim, fc[0], fc[1], got);
                try testing.expectEqual(scratch.of("cosineSimilarityBatch", .{ qc, dim, fc[0], fc[1] }), b.used);
                var want: [rows]f32 = undefined;
                for (0..qc) |qi| {
                    var b1 = ta.bump(1 << 20);
                    try kernels.cosineSimilarity(&b1, qs[qi * dim ..][0..dim], c, dim, fc[0], fc[1], &want);
                    for (got[qi * fc[1] ..][0..fc[1]], want[0..fc[1]]) |g, w| try testing.expectApproxEqAbs(w, g, 1e-5);
                }
            }
        }
    }
}

test "cosineSimilarityBatch argument checks and a too-small arena write nothing" {
    const ta = try TestArena.init(1024);
    defer ta.deinit();
    const q = [_]f32{ 1, 2, 3, 4, 5, 6 };
    const c = [_]f32{ 1, 2, 3, 4, 5, 6 };
    var s = [_]f32{ 42, 42, 42, 42 };
    const E = kernels.Error;
    var b = ta.bump(1024);
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarityBatch(&b, &q, 2, &c, 0, 0, 2, &s));
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarityBatch(&b, &q, 3, &c, 3, 0, 2, &s));
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarityBatch(&b, &q, 2, c[0..5], 3, 0, 1, &s));
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarityBatch(&b, &q, 2, &c, 3, 1, 2, &s));
    try testing.expectError(E.InvalidArguments, kernels.cosineSimilarityBatch(&b, &q, 2, &c, 3, 0, 2, s[0..3]));
    b = ta.bump(64 + 64 + 63);
    try testing.expectError(E.ArenaTooSmall, kernels.cosineSimilarityBatch(&b, &q, 2, &c, 3, 0, 2, &s));
    try testing.expectEqual(@as(usize, 0), b.used);
    try testing.expectEqual([_]f32{ 42, 42, 42, 42 }, s);
    b = ta.bump(64 + 64 + 64);
    try kernels.cosineSimilarityBatch(&b, &q, 2, &c, 3, 0, 2, &s);
    try testing.expectApproxEqAbs(@as(f32, 1), s[0], 1e-6);
    try testing.expectApproxEqAbs(@as(f32, 1), s[3], 1e-6);
}

// ---------------------------------------------------------- stored norms ----

/// Norms as the job stores them (f64, rounded to f32), one per row.
fn rowNorms(c: []const f32, dim: usize) ![]f32 {
    const n = try gpa.alloc(f32, c.len / dim);
    for (n, 0..) |*x, i| x.* = reference.norm(c[i * dim ..][0..dim]);
    return n;
}

/// The normed kernel against the Java port per cue, and against the plain
/// cosine (the semantics it stands in for) on ordinary data.
fn expectNormedAgrees(cues: []const f32, cue_count: usize, c: []const f32, dim: usize, first: usize, count: usize) !void {
    const norms = try rowNorms(c, dim);
    defer gpa.free(norms);
    const cue_norms = try gpa.alloc(f32, cue_count);
    defer gpa.free(cue_norms);
    for (cue_norms, 0..) |*x, q| x.* = reference.norm(cues[q * dim ..][0..dim]);
    const got = try gpa.alloc(f32, cue_count * count + 1);
    defer gpa.free(got);
    @memset(got, 42);
    var b = arena.Bump.init(undefined, 0); // needs no arena at all
    try kernels.cosineSimilarityNormed(&b, cues, cue_norms, cue_count, c, norms, dim, first, count, got);
    try testing.expectEqual(@as(usize, 0), b.used);
    try testing.expectEqual(@as(f32, 42), got[cue_count * count]); // nothing past the scores
    const want = try gpa.alloc(f32, count);
    defer gpa.free(want);
    const plain = try gpa.alloc(f32, count);
    defer gpa.free(plain);
    for (0..cue_count) |q| {
        const cue = cues[q * dim ..][0..dim];
        reference.cosineSimilarityNormed(cue, cue_norms[q], c, norms, first, count, want);
        reference.cosineSimilarity(cue, c, first, count, plain);
        for (got[q * count ..][0..count], want, plain) |g, w, pl| {
            try testing.expectApproxEqAbs(w, g, 1e-5);
            try testing.expectApproxEqAbs(pl, g, 1e-5);
            try testing.expect(g >= -1 and g <= 1);
        }
    }
}

test "cosineSimilarityNormed matches the Java port and the plain cosine: dims, cue counts, row ranges" {
    var prng = std.Random.DefaultPrng.init(11);
    const r = prng.random();
    const dims = [_]usize{ 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 64, 100, 384, 768, 769 };
    for (dims) |dim| {
        for ([_]usize{ 0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 17 }) |qc| {
            const rows = 11;
            const cues = try gpa.alloc(f32, qc * dim + 3); // a longer buffer is fine
            defer gpa.free(cues);
            const c = try gpa.alloc(f32, rows * dim);
            defer gpa.free(c);
            randomVector(r, cues);
            randomVector(r, c);
            for ([_][2]usize{ .{ 0, rows }, .{ 1, 9 }, .{ 3, 1 }, .{ rows, 0 }, .{ 2, 4 }, .{ 4, 7 } }) |fc| {
                try expectNormedAgrees(cues, qc, c, dim, fc[0], fc[1]);
            }
        }
    }
}

test "cosineSimilarityNormed: a block bigger than the shared-cue limit streams row by row" {
    var prng = std.Random.DefaultPrng.init(12);
    const r = prng.random();
    const dim = 768;
    const rows = 1500; // 4.6 MB of candidates
    const cue = try gpa.alloc(f32, dim);
    defer gpa.free(cue);
    const c = try gpa.alloc(f32, rows * dim);
    defer gpa.free(c);
    randomVector(r, cue);
    randomVector(r, c);
    try expectNormedAgrees(cue, 1, c, dim, 0, rows);
    try expectNormedAgrees(cue, 1, c, dim, 3, rows - 5);
    try expectNormedAgrees(c[0 .. 3 * dim], 3, c, dim, 0, 40);
}

test "cosineSimilarityNormed special cases: norms that are not positive and finite, NaN, the clamp" {
    const dim = 11;
    const q = [_]f32{ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
    const qn = reference.norm(&q);
    var c: [6 * dim]f32 = undefined;
    for (0..dim) |j| {
        c[0 * dim + j] = q[j]; // parallel
        c[1 * dim + j] = -3 * q[j]; // opposite
        c[2 * dim + j] = if (j == 4) std.math.nan(f32) else q[j];
        c[3 * dim + j] = if (j == 2) std.math.inf(f32) else q[j];
        c[4 * dim + j] = q[j];
        c[5 * dim + j] = q[j];
    }
    const nan = std.math.nan(f32);
    const inf = std.math.inf(f32);
    // Row 4's norm is stored 1% too small: the ratio exceeds 1 and is clamped.
    // Row 5's is negative: not a norm, 0.
    const norms = [_]f32{ qn, 3 * qn, nan, inf, qn * 0.99, -qn };
    var got: [6]f32 = undefined;
    var b = arena.Bump.init(undefined, 0);
    for ([_]usize{ 1, 2 }) |qc| {
        // Two identical cues take the tiled path; one takes the one-cue path.
        var cues: [2 * dim]f32 = undefined;
        @memcpy(cues[0..dim], &q);
        @memcpy(cues[dim..], &q);
        var out: [12]f32 = undefined;
        try kernels.cosineSimilarityNormed(&b, cues[0 .. qc * dim], &.{ qn, qn }, qc, &c, &norms, dim, 0, 6, out[0 .. qc * 6]);
        @memcpy(&got, out[0..6]);
        try testing.expectApproxEqAbs(@as(f32, 1), got[0], 1e-6);
        try testing.expectApproxEqAbs(@as(f32, -1), got[1], 1e-6);
        try testing.expectEqual(@as(f32, 0), got[2]);
        try testing.expectEqual(@as(f32, 0), got[3]);
        try testing.expectEqual(@as(f32, 1), got[4]);
        try testing.expectEqual(@as(f32, 0), got[5]);
        if (qc == 2) try testing.expectEqualSlices(f32, out[0..6], out[6..12]);
    }
    // A cue norm of zero, NaN, Inf or below zero scores 0 everywhere.
    for ([_]f32{ 0, nan, inf, -1 }) |bad| {
        try kernels.cosineSimilarityNormed(&b, &q, &.{bad}, 1, &c, &norms, dim, 0, 6, &got);
        for (got) |g| try testing.expectEqual(@as(f32, 0), g);
    }
}

test "cosineSimilarityNormed argument checks write nothing" {
    const q = [_]f32{ 1, 2, 3, 4, 5, 6 };
    const c = [_]f32{ 1, 2, 3, 4, 5, 6 };
    const n = [_]f32{ 1, 1 };
    var s = [_]f32{ 42, 42, 42, 42 };
    const E = kernels.Error;
    var b = arena.Bump.init(undefined, 0);
    const f = kernels.cosineSimilarityNormed;
    try testing.expectError(E.InvalidArguments, f(&b, &q, &n, 2, &c, &n, 0, 0, 2, &s)); // dim 0
    try testing.expectError(E.InvalidArguments, f(&b, &q, &n, 3, &c, &n, 3, 0, 2, &s)); // cues too short
    try testing.expectError(E.InvalidArguments, f(&b, &q, n[0..1], 2, &c, &n, 3, 0, 2, &s)); // cue norms too short
    try testing.expectError(E.InvalidArguments, f(&b, &q, &n, 2, c[0..5], &n, 3, 0, 1, &s)); // not a multiple of dim
    try testing.expectError(E.InvalidArguments, f(&b, &q, &n, 2, &c, &n, 3, 1, 2, &s)); // rows out of range
    try testing.expectError(E.InvalidArguments, f(&b, &q, &n, 2, &c, n[0..1], 3, 0, 2, &s)); // norms too short
    try testing.expectError(E.InvalidArguments, f(&b, &q, &n, 2, &c, &n, 3, 0, 2, s[0..3])); // scores too short
    try testing.expectEqual([_]f32{ 42, 42, 42, 42 }, s);
    try f(&b, &q, &n, 2, &c, &n, 3, 1, 1, &s);
    try testing.expectEqual(@as(f32, 42), s[2]);
}

// ------------------------------------------------------------ spreading ----

const Graph = struct {
    offsets: []i32,
    targets: []i32,
    weights: []f32,

    fn deinit(g: Graph) void {
        gpa.free(g.offsets);
        gpa.free(g.targets);
        gpa.free(g.weights);
    }

    /// CSR from an edge list, keeping each source's edges in list order (CsrGraph.fromEdges).
    fn fromEdges(n: usize, edges: []const struct { i32, i32, f32 }) !Graph {
        const offsets = try gpa.alloc(i32, n + 1);
        @memset(offsets, 0);
        for (edges) |e| offsets[@intCast(e[0] + 1)] += 1;
        for (0..n) |u| offsets[u + 1] += offsets[u];
        const fill = try gpa.dupe(i32, offsets[0..n]);
        defer gpa.free(fill);
        const targets = try gpa.alloc(i32, edges.len);
        const weights = try gpa.alloc(f32, edges.len);
        for (edges) |e| {
            const slot: usize = @intCast(fill[@intCast(e[0])]);
            fill[@intCast(e[0])] += 1;
            targets[slot] = e[1];
            weights[slot] = e[2];
        }
        return .{ .offsets = offsets, .targets = targets, .weights = weights };
    }

    fn random(r: std.Random, n: usize, m: usize) !Graph {
        const edges = try gpa.alloc(struct { i32, i32, f32 }, m);
        defer gpa.free(edges);
        for (edges) |*e| e.* = .{
            r.intRangeLessThan(i32, 0, @intCast(n)),
            r.intRangeLessThan(i32, 0, @intCast(n)),
            // Some exact 0 and 1 weights, the rest uniform.
            switch (r.uintLessThan(u8, 10)) {
                0 => 0,
                1 => 1,
                else => r.float(f32),
            },
        };
        return fromEdges(n, edges);
    }
};

fn spreadScratch(n: usize) u64 {
    return scratch.of("spreadActivation", .{ n, @as(usize, 0), @as(usize, 0), @as(f32, 0), @as(f32, 0) });
}

/// Runs both implementations and requires bit-identical outputs.
fn expectSpreadIdentical(
    g: Graph,
    seeds: []const i32,
    seed_acts: []const f32,
    max_hops: usize,
    hop_decay: f32,
    threshold: f32,
) !void {
    const n = g.offsets.len - 1;
    const act = try gpa.alloc(f32, n + 3);
    defer gpa.free(act);
    const hops = try gpa.alloc(i32, n + 3);
    defer gpa.free(hops);
    const want_act = try gpa.alloc(f32, n);
    defer gpa.free(want_act);
    const want_hops = try gpa.alloc(i32, n);
    defer gpa.free(want_hops);
    @memset(act, 99);
    @memset(hops, 99);
    const ta = try TestArena.init(spreadScratch(n));
    defer ta.deinit();
    var b = ta.bump(@intCast(spreadScratch(n)));
    try kernels.spreadActivation(&b, g.offsets, g.targets, g.weights, n, seeds, seed_acts, seeds.len, max_hops, hop_decay, threshold, act, hops);
    try testing.expectEqual(spreadScratch(n), b.used);
    try reference.spreadActivation(gpa, g.offsets, g.targets, g.weights, seeds, seed_acts, max_hops, hop_decay, threshold, want_act, want_hops);
    for (act[0..n], want_act) |x, y| try testing.expectEqual(@as(u32, @bitCast(y)), @as(u32, @bitCast(x)));
    try testing.expectEqualSlices(i32, want_hops, hops[0..n]);
    // Nothing past n is touched.
    for (act[n..]) |x| try testing.expectEqual(@as(f32, 99), x);
    for (hops[n..]) |x| try testing.expectEqual(@as(i32, 99), x);
}

test "spread: empty graphs, maxHops 0, threshold 0" {
    const empty = try Graph.fromEdges(0, &.{});
    defer empty.deinit();
    try expectSpreadIdentical(empty, &.{}, &.{}, 3, 0.5, 0.1);
    const no_edges = try Graph.fromEdges(5, &.{});
    defer no_edges.deinit();
    try expectSpreadIdentical(no_edges, &.{ 3, 1 }, &.{ 0.5, 2 }, 3, 0.5, 0.1);
    const chain = try Graph.fromEdges(4, &.{ .{ 0, 1, 1 }, .{ 1, 2, 1 }, .{ 2, 3, 0 } });
    defer chain.deinit();
    try expectSpreadIdentical(chain, &.{0}, &.{1}, 0, 0.5, 0.1);
    try expectSpreadIdentical(chain, &.{0}, &.{1}, 10, 0.5, 0); // a 0-weight edge still counts at threshold 0
    try expectSpreadIdentical(chain, &.{0}, &.{1}, 10, 0.5, 0.3);
}

test "spread: cycles, self-loops, multi-edges, duplicate and clamped seeds" {
    const g = try Graph.fromEdges(6, &.{
        .{ 0, 1, 0.9 }, .{ 1, 2, 0.8 }, .{ 2, 0, 0.7 }, // cycle
        .{ 3, 3, 0.9 }, // self-loop
        .{ 4, 5, 0.5 }, .{ 4, 5, 0.5 }, .{ 4, 5, 0.25 }, // multi-edge
        .{ 5, 4, 1.0 }, .{ 2, 4, 0.3 }, .{ 0, 3, 1.0 },
    });
    defer g.deinit();
    for ([_]f32{ 0, 0.01, 0.2 }) |threshold| {
        for ([_]usize{ 1, 2, 5, 50 }) |hops| {
            try expectSpreadIdentical(g, &.{ 4, 0, 3, 4 }, &.{ 0.3, 1.5, -0.0, 0.9 }, hops, 0.8, threshold);
            try expectSpreadIdentical(g, &.{ 5, 5 }, &.{ -2, 0.7 }, hops, 1.0, threshold);
        }
    }
}

test "spread: random graphs, sparse and dense hops, bit-identical to Java" {
    var prng = std.Random.DefaultPrng.init(3);
    const r = prng.random();
    for ([_][2]usize{ .{ 1, 3 }, .{ 10, 30 }, .{ 100, 150 }, .{ 1000, 5000 }, .{ 5000, 4000 }, .{ 20000, 100000 } }) |nm| {
        const g = try Graph.random(r, nm[0], nm[1]);
        defer g.deinit();
        for (0..4) |_| {
            var seeds: [16]i32 = undefined;
            var acts: [16]f32 = undefined;
            const k = r.intRangeAtMost(usize, 0, 16);
            for (seeds[0..k], acts[0..k]) |*s, *a| {
                s.* = r.intRangeLessThan(i32, 0, @intCast(nm[0]));
                a.* = r.float(f32) * 1.4 - 0.2;
            }
            const thresholds = [_]f32{ 0, 1e-4, 0.01, 0.05 };
            const decays = [_]f32{ 1, 0.9, 0.5 };
            const threshold = thresholds[r.uintLessThan(usize, thresholds.len)];
            const decay = decays[r.uintLessThan(usize, decays.len)];
            try expectSpreadIdentical(g, seeds[0..k], acts[0..k], r.intRangeAtMost(usize, 0, 8), decay, threshold);
        }
    }
}

test "spread: invalid arguments and a too-small arena" {
    const g = try Graph.fromEdges(3, &.{ .{ 0, 1, 0.5 }, .{ 1, 2, 0.5 } });
    defer g.deinit();
    const ta = try TestArena.init(1024);
    defer ta.deinit();
    var act = [_]f32{ 9, 9, 9 };
    var hops = [_]i32{ 9, 9, 9 };
    const E = kernels.Error;
    const S = struct {
        fn call(b: *arena.Bump, gr: Graph, n: usize, seeds: []const i32, sa: []const f32, mh: usize, d: f32, t: f32, a: []f32, h: []i32) E!void {
            return kernels.spreadActivation(b, gr.offsets, gr.targets, gr.weights, n, seeds, sa, seeds.len, mh, d, t, a, h);
        }
    };
    var b = ta.bump(1024);
    try testing.expectError(E.InvalidArguments, S.call(&b, g, 4, &.{0}, &.{1}, 2, 0.5, 0, &act, &hops)); // n vs offsets
    try testing.expectError(E.InvalidArguments, S.call(&b, g, 3, &.{3}, &.{1}, 2, 0.5, 0, &act, &hops)); // seed >= n
    try testing.expectError(E.InvalidArguments, S.call(&b, g, 3, &.{-1}, &.{1}, 2, 0.5, 0, &act, &hops));
    try testing.expectError(E.InvalidArguments, S.call(&b, g, 3, &.{0}, &.{std.math.nan(f32)}, 2, 0.5, 0, &act, &hops));
    try testing.expectError(E.InvalidArguments, S.call(&b, g, 3, &.{0}, &.{1}, 1025, 0.5, 0, &act, &hops));
    try testing.expectError(E.InvalidArguments, S.call(&b, g, 3, &.{0}, &.{1}, 2, 0, 0, &act, &hops));
    try testing.expectError(E.InvalidArguments, S.call(&b, g, 3, &.{0}, &.{1}, 2, 0.5, -1, &act, &hops));
    try testing.expectError(E.InvalidArguments, S.call(&b, g, 3, &.{0}, &.{1}, 2, 0.5, std.math.inf(f32), &act, &hops));
    try testing.expectError(E.InvalidArguments, S.call(&b, g, 3, &.{0}, &.{1}, 2, 0.5, 0, act[0..2], &hops));
    try testing.expectError(E.InvalidArguments, kernels.spreadActivation(&b, g.offsets, g.targets, g.weights, 3, &.{0}, &.{1}, 2, 2, 0.5, 0, &act, &hops)); // seed count
    try testing.expectEqual([_]f32{ 9, 9, 9 }, act);
    try testing.expectEqual([_]i32{ 9, 9, 9 }, hops);
    b = ta.bump(@intCast(spreadScratch(3) - 1));
    try testing.expectError(E.ArenaTooSmall, S.call(&b, g, 3, &.{0}, &.{1}, 2, 0.5, 0, &act, &hops));
    try testing.expectEqual([_]f32{ 9, 9, 9 }, act);
    try testing.expectEqual([_]i32{ 9, 9, 9 }, hops);

    // A corrupt graph (target out of range, offsets past the edges) is
    // reported, never followed.
    const bad = try Graph.fromEdges(3, &.{ .{ 0, 1, 0.5 }, .{ 1, 2, 0.5 } });
    defer bad.deinit();
    bad.targets[1] = 3;
    b = ta.bump(1024);
    try testing.expectError(E.InvalidArguments, S.call(&b, bad, 3, &.{0}, &.{1}, 5, 1, 0, &act, &hops));
    bad.targets[1] = 2;
    bad.offsets[2] = 7;
    b = ta.bump(1024);
    try testing.expectError(E.InvalidArguments, S.call(&b, bad, 3, &.{1}, &.{1}, 5, 1, 0, &act, &hops));
    bad.offsets[2] = -1;
    b = ta.bump(1024);
    try testing.expectError(E.InvalidArguments, S.call(&b, bad, 3, &.{1}, &.{1}, 5, 1, 0, &act, &hops));
}

// ---------------------------------------------------------------- decay ----

test "decay: the -87 cutoff falls exactly where Java's two divisions put it" {
    const ta = try TestArena.init(64);
    defer ta.deinit();
    var prng = std.Random.DefaultPrng.init(87);
    const r = prng.random();
    const now: i64 = 1_700_000_000_000;
    const n = 4096;
    var last: [n]i64 = undefined;
    var stab: [n]f32 = undefined;
    var got: [n]f32 = undefined;
    for (&last, &stab, 0..) |*l, *s, i| {
        // Stabilities whose cutoff age 87000 * s ms is not an integer, ages 1 ms around it.
        s.* = @floatCast(1.0 + r.float(f64) * 1e6);
        const edge: i64 = @intFromFloat(@round(87_000.0 * @as(f64, s.*)));
        l.* = now - (edge + @as(i64, @intCast(i % 3)) - 1);
    }
    var b = ta.bump(0);
    try kernels.decayRetention(&b, &last, &stab, n, now, &got);
    for (last, stab, got) |l, s, g| {
        const want = reference.retention(l, s, now);
        try testing.expectEqual(want == 0, g == 0);
        try testing.expectApproxEqRel(want, g, 1e-6);
    }
}

test "decay: special cases per DecaySemantics" {
    const ta = try TestArena.init(64);
    defer ta.deinit();
    const now: i64 = 1_700_000_000_000;
    const inf = std.math.inf(f32);
    const nan = std.math.nan(f32);
    const min = std.math.minInt(i64);
    const max = std.math.maxInt(i64);
    const last = [_]i64{ now, now + 5, now - 1000, now - 1000, now - 1000, now - 1000, now - 1000, now - 87_000, now - 87_001, now - 1000, max, now - 3_600_000 };
    const stab = [_]f32{ 1, 1, 0, -1, nan, inf, 1, 1, 1, -inf, 1, 86400 };
    var got: [last.len]f32 = undefined;
    var b = ta.bump(0);
    try kernels.decayRetention(&b, &last, &stab, last.len, now, &got);
    try testing.expectEqual(@as(usize, 0), b.used);
    try testing.expectEqual(@as(f32, 1), got[0]); // diff 0
    try testing.expectEqual(@as(f32, 1), got[1]); // future access
    try testing.expectEqual(@as(f32, 0), got[2]); // stability 0
    try testing.expectEqual(@as(f32, 0), got[3]); // negative
    try testing.expectEqual(@as(f32, 0), got[4]); // NaN
    try testing.expectEqual(@as(f32, 1), got[5]); // Inf -> x = -0 -> 1
    try testing.expectApproxEqRel(@as(f32, @floatCast(std.math.exp(@as(f64, -1)))), got[6], 2e-7);
    try testing.expect(got[7] > 0); // x = -87 exactly is still computed
    try testing.expectEqual(@as(f32, 0), got[8]); // x < -87
    try testing.expectEqual(@as(f32, 0), got[9]);
    // now - max wraps to a large positive diff... -> tiny x, 0.
    try testing.expectEqual(reference.retention(max, 1, now) == 0, got[10] == 0);
    // The rest within the decay tolerance of Java's (float) Math.exp (the f32
    // polynomial is within 1.2e-7 of it, ~1 ulp).
    for (last, stab, got) |l, s, g| try testing.expectApproxEqRel(reference.retention(l, s, now), g, 2e-7);

    // Wrapping: now = MIN, last = MAX gives diff = 1 ms.
    var one: [1]f32 = undefined;
    try kernels.decayRetention(&b, &.{max}, &.{1}, 1, min, &one);
    try testing.expectApproxEqRel(reference.retention(max, 1, min), one[0], 2e-7);
    try testing.expect(one[0] > 0.99 and one[0] < 1);
}

test "decay: random inputs and every tail length within 1e-6 relative" {
    var prng = std.Random.DefaultPrng.init(4);
    const r = prng.random();
    const ta = try TestArena.init(64);
    defer ta.deinit();
    const now: i64 = 1_700_000_000_000;
    var max_rel: f64 = 0;
    for (0..2000) |round| {
        const count = round % 13;
        var last: [16]i64 = undefined;
        var stab: [16]f32 = undefined;
        var got = [_]f32{-5} ** 16;
        for (0..count) |i| {
            last[i] = now - r.intRangeAtMost(i64, -1000, 30 * 86_400_000);
            stab[i] = r.float(f32) * 10 * 86_400;
        }
        var b = ta.bump(0);
        try kernels.decayRetention(&b, last[0..count], stab[0..count], count, now, got[0..]);
        for (0..count) |i| {
            const want = reference.retention(last[i], stab[i], now);
            if (want == 0) {
                try testing.expectEqual(want, got[i]);
            } else {
                max_rel = @max(max_rel, @abs(@as(f64, got[i]) - want) / want);
            }
        }
        for (got[count..]) |g| try testing.expectEqual(@as(f32, -5), g);
    }
    try testing.expect(max_rel <= 1e-6);
    var b = ta.bump(0);
    var out: [1]f32 = undefined;
    try testing.expectError(kernels.Error.InvalidArguments, kernels.decayRetention(&b, &.{ 1, 2 }, &.{1}, 2, now, &out));
}

// ------------------------------------------------------------------ JNI ----

/// A fake JVM: arrays are FakeArray structs, and the table counts pins and copies.
const FakeArray = struct {
    bytes: []u8,
    len: i32,
    pinned: i32 = 0,
    last_mode: i32 = -1,
    fail_pin: bool = false,
    copies: i32 = 0,

    fn of(comptime T: type, items: []T) FakeArray {
        return .{ .bytes = std.mem.sliceAsBytes(items), .len = @intCast(items.len) };
    }
    fn ref(a: *FakeArray) jni.jarray {
        return @ptrCast(a);
    }
};

const fake = struct {
    fn arr(array: jni.jarray) *FakeArray {
        return @ptrCast(@alignCast(array.?));
    }
    fn getCritical(_: *const jni.Env, array: jni.jarray, _: ?*jni.jboolean) callconv(.C) ?*anyopaque {
        const a = arr(array);
        if (a.fail_pin) return null;
        a.pinned += 1;
        return @ptrCast(a.bytes.ptr);
    }
    fn releaseCritical(_: *const jni.Env, array: jni.jarray, ptr: ?*anyopaque, mode: jni.jint) callconv(.C) void {
        const a = arr(array);
        std.debug.assert(ptr == @as(?*anyopaque, @ptrCast(a.bytes.ptr)));
        a.pinned -= 1;
        a.last_mode = mode;
    }
    fn getRegion(comptime T: type) fn (*const jni.Env, jni.jarray, jni.jsize, jni.jsize, [*]T) callconv(.C) void {
        return struct {
            fn get(_: *const jni.Env, array: jni.jarray, start: jni.jsize, len: jni.jsize, buf: [*]T) callconv(.C) void {
                const a = arr(array);
                // The VM would throw for a region out of bounds; the library must never ask for one.
                std.debug.assert(start == 0 and len >= 0 and len <= a.len);
                const n: usize = @intCast(len);
                @memcpy(std.mem.sliceAsBytes(buf[0..n]), a.bytes[0 .. n * @sizeOf(T)]);
                a.copies += 1;
            }
        }.get;
    }
    const table = blk: {
        var t: jni.FunctionTable = undefined;
        t.unused_0_202 = [_]?*const anyopaque{null} ** 203;
        t.unused_206_221 = [_]?*const anyopaque{null} ** 16;
        t.GetIntArrayRegion = getRegion(i32);
        t.GetLongArrayRegion = getRegion(i64);
        t.GetFloatArrayRegion = getRegion(f32);
        t.GetPrimitiveArrayCritical = getCritical;
        t.ReleasePrimitiveArrayCritical = releaseCritical;
        break :blk t;
    };
    const env_value: jni.Env = &table;
    const env: *const jni.Env = &env_value;
};

/// `call` with explicit array references, lengths and scalar slots.
fn callRaw(opcode: i32, base: jni.jlong, cap: jni.jlong, a: [7]jni.jarray, n: [7]jni.jint, s: [6]i64) jni.jlong {
    return library.call(fake.env, null, opcode, base, cap, a[0], n[0], a[1], n[1], a[2], n[2], a[3], n[3], a[4], n[4], a[5], n[5], a[6], n[6], s[0], s[1], s[2], s[3], s[4], s[5]);
}

/// `call` as ZigNative's wrappers make it: each array with its own length.
fn callOp(opcode: i32, base: jni.jlong, cap: jni.jlong, arrays: []const *FakeArray, scalars: []const i64) jni.jlong {
    var a = [_]jni.jarray{null} ** 7;
    var n = [_]jni.jint{-1} ** 7;
    for (arrays, 0..) |x, i| {
        a[i] = x.ref();
        n[i] = x.len;
    }
    var s = [_]i64{0} ** 6;
    @memcpy(s[0..scalars.len], scalars);
    return callRaw(opcode, base, cap, a, n, s);
}

fn op(comptime name: []const u8) i32 {
    return abi.byName(name).op;
}

fn bits(x: f32) i64 {
    return @as(u32, @bitCast(x));
}

test "JNI: four exports; info answers the ABI version and the compiled features" {
    try testing.expectEqual(@as(usize, 4), library.exported_names.len);
    try testing.expectEqual(@as(jni.jlong, abi.version), library.info(fake.env, null, abi.info_abi_version));
    const f = library.info(fake.env, null, abi.info_compiled_features);
    try testing.expect(f >= 0 and f <= 15);
    try testing.expectEqual(abi.status_invalid_arguments, library.info(fake.env, null, 7));
}

test "JNI: arena create/destroy" {
    const addr = library.arenaCreate(fake.env, null, 100_000);
    try testing.expect(addr != 0 and @mod(addr, 64) == 0);
    const p: [*]u8 = @ptrFromInt(@as(usize, @bitCast(addr)));
    @memset(p[0..100_000], 1);
    library.arenaDestroy(fake.env, null, addr, 100_000);
    try testing.expectEqual(@as(jni.jlong, 0), library.arenaCreate(fake.env, null, 0));
    try testing.expectEqual(@as(jni.jlong, 0), library.arenaCreate(fake.env, null, -5));
    library.arenaDestroy(fake.env, null, 0, 100); // ignored
}

test "JNI: every kernel runs through call; small inputs are copied, outputs pinned and copied back" {
    const ta = try TestArena.init(4096);
    defer ta.deinit();
    const base: jni.jlong = @bitCast(@intFromPtr(ta.block.ptr));
    var q_items = [_]f32{ 1, 0, 0 };
    var c_items = [_]f32{ 1, 0, 0, 0, 1, 0, -1, 0, 0 };
    var s_items = [_]f32{ 5, 5, 5 };
    var q = FakeArray.of(f32, &q_items);
    var c = FakeArray.of(f32, &c_items);
    var s = FakeArray.of(f32, &s_items);
    try testing.expectEqual(@as(jni.jlong, 64), callOp(op("cosineSimilarity"), base, 4096, &.{ &q, &c, &s }, &.{ 3, 0, 3 }));
    try testing.expectEqual([_]f32{ 1, 0, -1 }, s_items);
    for ([_]*FakeArray{ &q, &c, &s }) |a| try testing.expectEqual(@as(i32, 0), a.pinned);
    try testing.expectEqual(@as(i32, 1), q.copies); // a small input: one region copy, never pinned
    try testing.expectEqual(@as(i32, -1), q.last_mode);
    try testing.expectEqual(@as(i32, 0), s.copies);
    try testing.expectEqual(@as(i32, 0), s.last_mode); // outputs are pinned and copied back

    var qs_items = [_]f32{ 1, 0, 0, 0, 1, 0 };
    var bs_items = [_]f32{ 5, 5, 5, 5, 5, 5 };
    var qs = FakeArray.of(f32, &qs_items);
    var bs = FakeArray.of(f32, &bs_items);
    try testing.expectEqual(@as(jni.jlong, 3 * 64), callOp(op("cosineSimilarityBatch"), base, 4096, &.{ &qs, &c, &bs }, &.{ 2, 3, 0, 3 }));
    try testing.expectEqual([_]f32{ 1, 0, -1, 0, 1, 0 }, bs_items);

    var qn_items = [_]f32{ 1, 1 };
    var rn_items = [_]f32{ 1, 1, 1 };
    var qn = FakeArray.of(f32, &qn_items);
    var rn = FakeArray.of(f32, &rn_items);
    @memset(&bs_items, 5);
    try testing.expectEqual(@as(jni.jlong, 0), callOp(op("cosineSimilarityNormed"), base, 4096, &.{ &qs, &qn, &c, &rn, &bs }, &.{ 2, 3, 0, 3 }));
    try testing.expectEqual([_]f32{ 1, 0, -1, 0, 1, 0 }, bs_items);
    for ([_]*FakeArray{ &qs, &qn, &c, &rn, &bs }) |a| try testing.expectEqual(@as(i32, 0), a.pinned);
    try testing.expectEqual(@as(i32, 0), bs.last_mode);
    try testing.expectEqual(@as(i32, 1), rn.copies);
    // The normed kernel needs no arena: capacity 0 is fine.
    try testing.expectEqual(@as(jni.jlong, 0), callOp(op("cosineSimilarityNormed"), base, 0, &.{ &qs, &qn, &c, &rn, &bs }, &.{ 1, 3, 0, 3 }));

    var off_items = [_]i32{ 0, 1, 2, 2 };
    var tgt_items = [_]i32{ 1, 2 };
    var w_items = [_]f32{ 0.5, 0.5 };
    var sn_items = [_]i32{0};
    var sa_items = [_]f32{1};
    var act_items = [_]f32{ 9, 9, 9 };
    var fh_items = [_]i32{ 9, 9, 9 };
    var off = FakeArray.of(i32, &off_items);
    var tgt = FakeArray.of(i32, &tgt_items);
    var w = FakeArray.of(f32, &w_items);
    var sn = FakeArray.of(i32, &sn_items);
    var sa = FakeArray.of(f32, &sa_items);
    var act = FakeArray.of(f32, &act_items);
    var fh = FakeArray.of(i32, &fh_items);
    const spread = op("spreadActivation");
    const graph = [_]*FakeArray{ &off, &tgt, &w, &sn, &sa, &act, &fh };
    // Floats travel as their raw bits: hop decay 1, threshold 0.
    try testing.expectEqual(@as(jni.jlong, @intCast(spreadScratch(3))), callOp(spread, base, 4096, &graph, &.{ 3, 1, 5, bits(1), bits(0) }));
    try testing.expectEqual([_]f32{ 1, 0.5, 0.25 }, act_items);
    try testing.expectEqual([_]i32{ 0, 1, 2 }, fh_items);
    // Hop decay 0.5 and threshold 0.2 arrive intact: 0.25 passes, 0.0625 does not.
    _ = callOp(spread, base, 4096, &graph, &.{ 3, 1, 5, bits(0.5), bits(0.2) });
    try testing.expectEqual([_]f32{ 1, 0.25, 0 }, act_items);
    // A target out of range is refused; every pin is still released.
    tgt_items[1] = 3;
    try testing.expectEqual(abi.status_invalid_arguments, callOp(spread, base, 4096, &graph, &.{ 3, 1, 5, bits(1), bits(0) }));
    for (graph) |a| try testing.expectEqual(@as(i32, 0), a.pinned);

    var last_items = [_]i64{ 0, 1000 };
    var stab_items = [_]f32{ 1, 1 };
    var ret_items = [_]f32{ 0, 0 };
    var last = FakeArray.of(i64, &last_items);
    var stab = FakeArray.of(f32, &stab_items);
    var ret = FakeArray.of(f32, &ret_items);
    try testing.expectEqual(@as(jni.jlong, 0), callOp(op("decayRetention"), base, 0, &.{ &last, &stab, &ret }, &.{ 2, 1000 }));
    try testing.expectApproxEqRel(@as(f32, @floatCast(std.math.exp(@as(f64, -1)))), ret_items[0], 2e-7);
    try testing.expectEqual(@as(f32, 1), ret_items[1]);
}

test "JNI: a dry run answers the scratch formula and touches nothing" {
    inline for (abi.table) |k| {
        const scalars = [_]i64{ 7, 768, 3, 2, 1, 0 };
        const want = abi.scratchBytes(k, &scalars) orelse unreachable;
        try testing.expectEqual(@as(jni.jlong, @intCast(want)), callRaw(k.op + abi.dry_run, 0, 0, .{null} ** 7, .{-1} ** 7, scalars));
    }
    try testing.expectEqual(@as(jni.jlong, 8 * 3072 + 64), callRaw(op("cosineSimilarityBatch") + abi.dry_run, 0, 0, .{null} ** 7, .{-1} ** 7, .{ 8, 768, 0, 0, 0, 0 }));
    try testing.expectEqual(abi.status_invalid_arguments, callRaw(op("cosineSimilarity") + abi.dry_run, 0, 0, .{null} ** 7, .{-1} ** 7, .{ -1, 0, 0, 0, 0, 0 }));
    try testing.expectEqual(abi.status_invalid_arguments, callRaw(0, 0, 0, .{null} ** 7, .{-1} ** 7, .{0} ** 6));
    try testing.expectEqual(abi.status_invalid_arguments, callRaw(99, 0, 0, .{null} ** 7, .{-1} ** 7, .{0} ** 6));
}

test "JNI: defence in depth returns -2 or -1, releases everything, writes nothing" {
    const ta = try TestArena.init(4096);
    defer ta.deinit();
    const base: jni.jlong = @bitCast(@intFromPtr(ta.block.ptr));
    var q_items = [_]f32{ 1, 0, 0 };
    var c_items = [_]f32{ 1, 0, 0, 0, 1, 0 };
    var s_items = [_]f32{ 5, 5 };
    var q = FakeArray.of(f32, &q_items);
    var c = FakeArray.of(f32, &c_items);
    var s = FakeArray.of(f32, &s_items);
    const inv = abi.status_invalid_arguments;
    const cos = op("cosineSimilarity");
    const arrays = .{ q.ref(), c.ref(), s.ref(), null, null, null, null };
    const lens = [7]jni.jint{ q.len, c.len, s.len, -1, -1, -1, -1 };
    const ok = [6]i64{ 3, 0, 2, 0, 0, 0 };
    try testing.expectEqual(@as(jni.jlong, 64), callRaw(cos, base, 4096, arrays, lens, ok));
    try testing.expectEqual([_]f32{ 1, 0 }, s_items);
    s_items = .{ 5, 5 };
    try testing.expectEqual(inv, callRaw(cos, 0, 4096, arrays, lens, ok)); // no arena
    try testing.expectEqual(inv, callRaw(cos, base + 8, 4096, arrays, lens, ok)); // misaligned
    try testing.expectEqual(inv, callRaw(cos, base, -1, arrays, lens, ok));
    try testing.expectEqual(inv, callRaw(cos, base, 4096, .{ null, c.ref(), s.ref(), null, null, null, null }, lens, ok));
    // A length that says null for a non-null array, or a null array with a length, is refused.
    try testing.expectEqual(inv, callRaw(cos, base, 4096, arrays, .{ -1, c.len, s.len, -1, -1, -1, -1 }, ok));
    // The kernel bounds its reads by the lengths passed: a row past a (shorter) length is refused.
    try testing.expectEqual(inv, callRaw(cos, base, 4096, arrays, .{ q.len, 3, s.len, -1, -1, -1, -1 }, ok));
    // An int that is negative or does not fit a Java int is refused before anything is pinned.
    try testing.expectEqual(inv, callRaw(cos, base, 4096, arrays, lens, .{ 3, -1, 2, 0, 0, 0 }));
    try testing.expectEqual(inv, callRaw(cos, base, 4096, arrays, lens, .{ 3, 0, 1 << 32, 0, 0, 0 }));
    try testing.expectEqual(inv, callRaw(cos, base, 4096, arrays, lens, .{ 3, 1, 2, 0, 0, 0 }));
    try testing.expectEqual(inv, callRaw(cos, base, 4096, arrays, lens, .{ 3, 0, 3, 0, 0, 0 }));
    try testing.expectEqual(abi.status_arena_too_small, callRaw(cos, base, 63, arrays, lens, ok));
    // The VM could not pin: release what was pinned, answer -2. The candidates are big enough to be pinned.
    var big_items = [_]f32{0} ** 300;
    big_items[0] = 1;
    var big = FakeArray.of(f32, &big_items);
    const big_arrays = .{ q.ref(), big.ref(), s.ref(), null, null, null, null };
    const big_lens = [7]jni.jint{ q.len, big.len, s.len, -1, -1, -1, -1 };
    s.fail_pin = true;
    try testing.expectEqual(inv, callRaw(cos, base, 4096, big_arrays, big_lens, ok));
    try testing.expectEqual(@as(i32, 2), big.last_mode); // it was pinned, and released as an input
    big.fail_pin = true;
    s.fail_pin = false;
    try testing.expectEqual(inv, callRaw(cos, base, 4096, big_arrays, big_lens, ok));
    try testing.expectEqual([_]f32{ 5, 5 }, s_items);
    for ([_]*FakeArray{ &q, &big, &s }) |a| try testing.expectEqual(@as(i32, 0), a.pinned);
    big.fail_pin = false;
    try testing.expectEqual(@as(jni.jlong, 64), callRaw(cos, base, 4096, big_arrays, big_lens, ok));
    try testing.expectEqual([_]f32{ 1, 0 }, s_items);
    s_items = .{ 5, 5 };
    // Zero-length arrays are never pinned, so a null pin of one cannot fail the call.
    c.fail_pin = false;
    var none = FakeArray.of(f32, &.{});
    none.fail_pin = true;
    try testing.expectEqual(@as(jni.jlong, 64), callOp(cos, base, 4096, &.{ &q, &c, &none }, &.{ 3, 2, 0 }));
}

test "JNI: inputs share a copy budget of jni.Pins.copy_bytes; what does not fit is pinned" {
    const ta = try TestArena.init(8192);
    defer ta.deinit();
    const base: jni.jlong = @bitCast(@intFromPtr(ta.block.ptr));
    const budget = jni.Pins.copy_bytes / @sizeOf(f32);
    // dim = budget / 2: the query (half the budget) is copied, the two candidate rows (the whole budget) do not fit
    // in what is left and are pinned; the scores are an output, always pinned.
    const dim = budget / 2;
    var q_items = [_]f32{1} ** dim;
    var c_items = [_]f32{1} ** (2 * dim);
    c_items[dim] = -1;
    var s_items = [_]f32{ 5, 5 };
    var q = FakeArray.of(f32, &q_items);
    var c = FakeArray.of(f32, &c_items);
    var s = FakeArray.of(f32, &s_items);
    _ = callOp(op("cosineSimilarity"), base, 8192, &.{ &q, &c, &s }, &.{ dim, 0, 2 });
    try testing.expectEqual(@as(i32, 1), q.copies);
    try testing.expectEqual(@as(i32, 0), c.copies);
    try testing.expectEqual(@as(i32, 2), c.last_mode);
    try testing.expectEqual(@as(f32, 1), s_items[0]);
    try testing.expect(s_items[1] < 1 and s_items[1] > 0.9); // one of dim components flipped
    // A query of exactly the budget is copied; one float more is pinned.
    var exact_items = [_]f32{1} ** budget;
    var over_items = [_]f32{1} ** (budget + 1);
    var exact = FakeArray.of(f32, &exact_items);
    var over = FakeArray.of(f32, &over_items);
    var row_items = [_]f32{1} ** budget;
    var row = FakeArray.of(f32, &row_items);
    var one_items = [_]f32{1} ** (budget + 1);
    var one = FakeArray.of(f32, &one_items);
    try testing.expectEqual(@as(jni.jlong, 4 * budget), callOp(op("cosineSimilarity"), base, 8192, &.{ &exact, &row, &s }, &.{ budget, 0, 1 }));
    try testing.expectEqual(@as(i32, 1), exact.copies);
    try testing.expectEqual(@as(i32, 2), row.last_mode); // the budget is spent: pinned
    _ = callOp(op("cosineSimilarity"), base, 8192, &.{ &over, &one, &s }, &.{ budget + 1, 0, 1 });
    try testing.expectEqual(@as(i32, 0), over.copies);
    try testing.expectEqual(@as(i32, 2), over.last_mode);
    try testing.expectEqual(@as(f32, 1), s_items[0]);
}
