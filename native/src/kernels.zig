//! The kernels on plain slices, named like MemoryKernels in Java. jni.zig pins
//! the Java arrays and calls these; the Zig tests call them directly.
//!
//! Every kernel re-checks its arguments against the slice lengths before it
//! writes anything (Java's Validation already did; this is defence in depth, so
//! a bug on the Java side yields error.InvalidArguments instead of a JVM crash),
//! then checks its scratch against the arena (error.ArenaTooSmall), and only
//! then starts. The scratch it takes is exactly the Scratch.java formula.
const std = @import("std");
const features = @import("features.zig");
const scratch = @import("scratch.zig");
const exp = @import("exp.zig");
const Bump = @import("arena.zig").Bump;

const assert = std.debug.assert;

pub const Error = error{ ArenaTooSmall, InvalidArguments };

// ---------------------------------------------------------------- cosine ----

const lanes = 8;
const F32x8 = @Vector(lanes, f32);
const zero8: F32x8 = @splat(0);

/// Rows [first, first + count) of a row-major candidates matrix with `dim` columns.
fn checkRows(query: []const f32, candidates: []const f32, dim: usize, first: usize, count: usize) Error!void {
    if (dim < 1 or query.len != dim or candidates.len % dim != 0) return error.InvalidArguments;
    const rows = candidates.len / dim;
    if (first > rows or count > rows - first) return error.InvalidArguments;
}

/// Copies the query to an aligned arena block, zero-padded to the block's end.
/// The block is align64(4 * dim) bytes, a multiple of 16 floats, so every
/// 8-wide load of the query, including the tail's, stays inside it.
fn copyQuery(bump: *Bump, query: []const f32) []align(64) const f32 {
    const padded: usize = @intCast(scratch.cosineSimilarity(query.len) / @sizeOf(f32));
    const q = bump.alloc(f32, padded);
    @memcpy(q[0..query.len], query);
    @memset(q[query.len..], 0);
    assert(q.len % lanes == 0);
    return q;
}

/// Pairwise horizontal sum of the 8 lanes.
inline fn hsum(v: F32x8) f32 {
    const lo = @shuffle(f32, v, undefined, [4]i32{ 0, 1, 2, 3 });
    const hi = @shuffle(f32, v, undefined, [4]i32{ 4, 5, 6, 7 });
    const s4 = lo + hi;
    const s2 = @shuffle(f32, s4, undefined, [2]i32{ 0, 1 }) + @shuffle(f32, s4, undefined, [2]i32{ 2, 3 });
    return s2[0] + s2[1];
}

/// Sum of squares of a padded query copy (length a multiple of 8).
fn sumOfSquares(q: []align(64) const f32) f32 {
    var s = [4]F32x8{ zero8, zero8, zero8, zero8 };
    var j: usize = 0;
    while (j + 4 * lanes <= q.len) : (j += 4 * lanes) {
        inline for (0..4) |a| {
            const v: F32x8 = q[j + a * lanes ..][0..lanes].*;
            s[a] = features.mulAdd(F32x8, v, v, s[a]);
        }
    }
    while (j < q.len) : (j += lanes) {
        const v: F32x8 = q[j..][0..lanes].*;
        s[0] = features.mulAdd(F32x8, v, v, s[0]);
    }
    return hsum((s[0] + s[1]) + (s[2] + s[3]));
}

/// CosineSemantics.finish: f64 division of the f32 sums, clamped; degenerate → 0.
pub fn finish(dot: f32, qq: f32, cc: f32) f32 {
    if (!(qq > 0) or !(cc > 0) or std.math.isInf(qq) or std.math.isInf(cc) or
        std.math.isNan(dot) or std.math.isInf(dot)) return 0;
    const s = @as(f64, dot) / (@sqrt(@as(f64, qq)) * @sqrt(@as(f64, cc)));
    return @floatCast(if (s > 1.0) 1.0 else if (s < -1.0) -1.0 else s);
}

/// How far ahead of its reads cosineRow prefetches the candidate stream: 12 KiB
/// (4 rows at dim 768). Measured on Zen: the hardware prefetcher alone leaves
/// the 10k × 768 case ~1.5× slower; much further ahead the prefetched lines
/// start evicting the query copy from the 32 KiB L1.
const prefetch_bytes = 12 * 1024;

/// One candidate row against the padded query q whose sum of squares is qq.
/// Four independent accumulators per sum hide the add (or FMA) latency.
fn cosineRow(q: []align(64) const f32, qq: f32, c: []const f32) f32 {
    const dim = c.len;
    var d = [4]F32x8{ zero8, zero8, zero8, zero8 };
    var s = [4]F32x8{ zero8, zero8, zero8, zero8 };
    var j: usize = 0;
    while (j + 4 * lanes <= dim) : (j += 4 * lanes) {
        // Rows are consecutive, so the stream continues past this row; a
        // prefetch never faults, so the address may lie past the candidates.
        inline for (0..2) |h| {
            const ahead = @intFromPtr(c.ptr + j + h * 2 * lanes) + prefetch_bytes;
            @prefetch(@as([*]const u8, @ptrFromInt(ahead)), .{ .rw = .read, .locality = 3, .cache = .data });
        }
        inline for (0..4) |a| {
            const cv: F32x8 = c[j + a * lanes ..][0..lanes].*;
            const qv: F32x8 = q[j + a * lanes ..][0..lanes].*;
            d[a] = features.mulAdd(F32x8, qv, cv, d[a]);
            s[a] = features.mulAdd(F32x8, cv, cv, s[a]);
        }
    }
    while (j + lanes <= dim) : (j += lanes) {
        const cv: F32x8 = c[j..][0..lanes].*;
        const qv: F32x8 = q[j..][0..lanes].*;
        d[0] = features.mulAdd(F32x8, qv, cv, d[0]);
        s[0] = features.mulAdd(F32x8, cv, cv, s[0]);
    }
    if (j < dim) {
        // Tail: the candidate row has no padding, so go through a zeroed buffer;
        // the query copy is zero beyond dim already.
        var buf = [_]f32{0} ** lanes;
        @memcpy(buf[0 .. dim - j], c[j..dim]);
        const cv: F32x8 = buf;
        const qv: F32x8 = q[j..][0..lanes].*;
        d[1] = features.mulAdd(F32x8, qv, cv, d[1]);
        s[1] = features.mulAdd(F32x8, cv, cv, s[1]);
    }
    return finish(hsum((d[0] + d[1]) + (d[2] + d[3])), qq, hsum((s[0] + s[1]) + (s[2] + s[3])));
}

/// scores[i] = cos(query, row first + i) for i in [0, count).
pub fn cosineSimilarity(
    bump: *Bump,
    query: []const f32,
    candidates: []const f32,
    dim: usize,
    first: usize,
    count: usize,
    scores: []f32,
) Error!void {
    try checkRows(query, candidates, dim, first, count);
    if (scores.len < count) return error.InvalidArguments;
    if (!bump.fits(scratch.cosineSimilarity(dim))) return error.ArenaTooSmall;

    const q = copyQuery(bump, query);
    const qq = sumOfSquares(q);
    for (scores[0..count], first..) |*score, row| {
        score.* = cosineRow(q, qq, candidates[row * dim ..][0..dim]);
    }
}

// ---------------------------------------------------------- cosine batch ----

/// Register tile of the batched cosine: batch_tile_q queries × batch_tile_r
/// candidate rows share every load. 4 × 2 keeps 8 dot accumulators plus 2 norm
/// accumulators and the 2 candidate vectors in registers (12 of 16 ymm), and
/// does 10 FMAs per 6 loads: FMA-bound, not load- or bandwidth-bound.
const batch_tile_q = 4;
const batch_tile_r = 2;

/// One register tile: dots[i][r] = dot(query q0 + i, row r) and, when
/// `with_norms`, norms[r] = |row r|^2, for nq queries and nr rows (both
/// comptime). Queries are the padded copies (stride floats apart, zero beyond
/// dim); rows are unpadded, so their tail goes through a zeroed buffer.
inline fn batchTile(
    comptime nq: usize,
    comptime nr: usize,
    comptime with_norms: bool,
    qs: []align(64) const f32,
    stride: usize,
    q0: usize,
    rows: [nr][*]const f32,
    dim: usize,
    dots: *[nq][nr]f32,
    norms: *[nr]f32,
) void {
    @setEvalBranchQuota(10_000); // the inline loops below unroll nq × nr × 2 steps
    var acc: [nq][nr]F32x8 = .{.{zero8} ** nr} ** nq;
    var ss: [nr]F32x8 = .{zero8} ** nr;
    const qp: [*]const f32 = qs.ptr + q0 * stride;
    var j: usize = 0;
    // Two vectors (one cache line of each row) per step. The pass that reads
    // the rows first (with_norms) also prefetches the same line of the next
    // group of rows, nr * dim floats further on: the group's remaining query
    // tiles give the prefetch time to land. A prefetch never faults, so the
    // address may lie past the candidates; it is formed as an integer.
    while (j + 2 * lanes <= dim) : (j += 2 * lanes) {
        if (with_norms) inline for (0..nr) |r| {
            const ahead = @intFromPtr(rows[r] + j) + nr * dim * @sizeOf(f32);
            @prefetch(@as([*]const u8, @ptrFromInt(ahead)), .{ .rw = .read, .locality = 3, .cache = .data });
        };
        inline for (0..2) |h| {
            var cv: [nr]F32x8 = undefined;
            inline for (0..nr) |r| cv[r] = rows[r][j + h * lanes ..][0..lanes].*;
            inline for (0..nq) |i| {
                const qv: F32x8 = qp[i * stride + j + h * lanes ..][0..lanes].*;
                inline for (0..nr) |r| acc[i][r] = features.mulAdd(F32x8, qv, cv[r], acc[i][r]);
            }
            if (with_norms) inline for (0..nr) |r| {
                ss[r] = features.mulAdd(F32x8, cv[r], cv[r], ss[r]);
            };
        }
    }
    while (j + lanes <= dim) : (j += lanes) {
        var cv: [nr]F32x8 = undefined;
        inline for (0..nr) |r| cv[r] = rows[r][j..][0..lanes].*;
        inline for (0..nq) |i| {
            const qv: F32x8 = qp[i * stride + j ..][0..lanes].*;
            inline for (0..nr) |r| acc[i][r] = features.mulAdd(F32x8, qv, cv[r], acc[i][r]);
        }
        if (with_norms) inline for (0..nr) |r| {
            ss[r] = features.mulAdd(F32x8, cv[r], cv[r], ss[r]);
        };
    }
    if (j < dim) {
        var cv: [nr]F32x8 = undefined;
        inline for (0..nr) |r| {
            var buf = [_]f32{0} ** lanes;
            @memcpy(buf[0 .. dim - j], rows[r][j..dim]);
            cv[r] = buf;
        }
        inline for (0..nq) |i| {
            const qv: F32x8 = qp[i * stride + j ..][0..lanes].*;
            inline for (0..nr) |r| acc[i][r] = features.mulAdd(F32x8, qv, cv[r], acc[i][r]);
        }
        if (with_norms) inline for (0..nr) |r| {
            ss[r] = features.mulAdd(F32x8, cv[r], cv[r], ss[r]);
        };
    }
    inline for (0..nq) |i| inline for (0..nr) |r| {
        dots[i][r] = hsum(acc[i][r]);
    };
    if (with_norms) inline for (0..nr) |r| {
        norms[r] = hsum(ss[r]);
    };
}

/// All queries against nr (comptime) rows starting at absolute row `row`;
/// writes scores[q * count + (row - first) + r].
inline fn batchRows(
    comptime nr: usize,
    qs: []align(64) const f32,
    qq: []const f32,
    stride: usize,
    query_count: usize,
    candidates: []const f32,
    dim: usize,
    first: usize,
    count: usize,
    row: usize,
    scores: []f32,
) void {
    var rows: [nr][*]const f32 = undefined;
    inline for (0..nr) |r| rows[r] = candidates[(row + r) * dim ..].ptr;
    var norms: [nr]f32 = undefined;
    const col = row - first;
    // The first tile also computes the rows' norms; the rest reuse them.
    var q0: usize = 0;
    var first_tile = true;
    while (q0 + batch_tile_q <= query_count) : (q0 += batch_tile_q) {
        var dots: [batch_tile_q][nr]f32 = undefined;
        if (first_tile) {
            batchTile(batch_tile_q, nr, true, qs, stride, q0, rows, dim, &dots, &norms);
            first_tile = false;
        } else {
            batchTile(batch_tile_q, nr, false, qs, stride, q0, rows, dim, &dots, &norms);
        }
        inline for (0..batch_tile_q) |i| inline for (0..nr) |r| {
            scores[(q0 + i) * count + col + r] = finish(dots[i][r], qq[q0 + i], norms[r]);
        };
    }
    // 1..3 queries left: one tile of exactly that many.
    switch (query_count - q0) {
        inline 1...batch_tile_q - 1 => |left| {
            var dots: [left][nr]f32 = undefined;
            if (first_tile) {
                batchTile(left, nr, true, qs, stride, q0, rows, dim, &dots, &norms);
            } else {
                batchTile(left, nr, false, qs, stride, q0, rows, dim, &dots, &norms);
            }
            inline for (0..left) |i| inline for (0..nr) |r| {
                scores[(q0 + i) * count + col + r] = finish(dots[i][r], qq[q0 + i], norms[r]);
            };
        },
        else => {},
    }
}

/// scores[q * count + i] = cos(query q, row first + i) for q in [0, query_count),
/// i in [0, count): the same as cosineSimilarity once per query (queries are
/// rows of `queries`, dim floats each), in one pass over the candidates.
pub fn cosineSimilarityBatch(
    bump: *Bump,
    queries: []const f32,
    query_count: usize,
    candidates: []const f32,
    dim: usize,
    first: usize,
    count: usize,
    scores: []f32,
) Error!void {
    if (dim < 1 or candidates.len % dim != 0) return error.InvalidArguments;
    if (query_count > queries.len / dim) return error.InvalidArguments;
    const rows_total = candidates.len / dim;
    if (first > rows_total or count > rows_total - first) return error.InvalidArguments;
    const cells = std.math.mul(usize, query_count, count) catch return error.InvalidArguments;
    if (scores.len < cells) return error.InvalidArguments;
    if (!bump.fits(scratch.cosineSimilarityBatch(dim, query_count))) return error.ArenaTooSmall;
    if (query_count == 0) return;

    // Padded query copies (as copyQuery does for one) and their norms.
    const stride: usize = @intCast(scratch.cosineSimilarity(dim) / @sizeOf(f32));
    const qs = bump.alloc(f32, query_count * stride);
    for (0..query_count) |i| {
        const dst = qs[i * stride ..][0..stride];
        @memcpy(dst[0..dim], queries[i * dim ..][0..dim]);
        @memset(dst[dim..], 0);
    }
    const qq = bump.alloc(f32, query_count);
    for (qq, 0..) |*n, i| n.* = sumOfSquares(@alignCast(qs[i * stride ..][0..stride]));
    if (count == 0) return;

    var row = first;
    const end = first + count;
    while (row + batch_tile_r <= end) : (row += batch_tile_r) {
        batchRows(batch_tile_r, qs, qq, stride, query_count, candidates, dim, first, count, row, scores);
    }
    if (row < end) batchRows(1, qs, qq, stride, query_count, candidates, dim, first, count, row, scores);
}

// -------------------------------------------------------- memory sweep ----

/// Reads every byte once and folds them into a checksum: the read-only
/// bandwidth ceiling that the benchmarks compare the kernels against. Four
/// independent 32-byte accumulators keep enough loads in flight.
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

/// A heap entry; 8 bytes, as Scratch.cosineTopK counts.
const Entry = extern struct { score: f32, row: i32 };

comptime {
    assert(@sizeOf(Entry) == 8);
}

/// TopK.worse: true when a ranks below b (score desc, then row asc).
inline fn worse(a: Entry, b: Entry) bool {
    return a.score < b.score or (a.score == b.score and a.row > b.row);
}

/// TopK.java's bounded min-heap: the root is the worst kept entry.
const Heap = struct {
    items: []Entry,
    size: usize = 0,

    fn offer(h: *Heap, e: Entry) void {
        if (h.size < h.items.len) {
            h.items[h.size] = e;
            h.size += 1;
            h.siftUp(h.size - 1);
        } else if (worse(h.items[0], e)) {
            h.items[0] = e;
            h.siftDown(0);
        }
    }

    fn siftUp(h: *Heap, start: usize) void {
        var i = start;
        while (i > 0) {
            const parent = (i - 1) / 2;
            if (!worse(h.items[i], h.items[parent])) return;
            std.mem.swap(Entry, &h.items[i], &h.items[parent]);
            i = parent;
        }
    }

    fn siftDown(h: *Heap, start: usize) void {
        var i = start;
        while (true) {
            const l = 2 * i + 1;
            const r = l + 1;
            var w = i;
            if (l < h.size and worse(h.items[l], h.items[w])) w = l;
            if (r < h.size and worse(h.items[r], h.items[w])) w = r;
            if (w == i) return;
            std.mem.swap(Entry, &h.items[i], &h.items[w]);
            i = w;
        }
    }

    /// TopK.drainSorted: writes the kept entries best-first and empties the heap.
    fn drainSorted(h: *Heap, rows: []i32, scores: []f32) usize {
        const n = h.size;
        var i = n;
        while (i > 0) {
            i -= 1;
            rows[i] = h.items[0].row;
            scores[i] = h.items[0].score;
            h.size -= 1;
            h.items[0] = h.items[h.size];
            h.siftDown(0);
        }
        return n;
    }
};

/// The min(k, count) best rows of [first, first + count), best first; returns
/// how many were written. Rows are absolute (first + i).
pub fn cosineTopK(
    bump: *Bump,
    query: []const f32,
    candidates: []const f32,
    dim: usize,
    first: usize,
    count: usize,
    k: usize,
    top_rows: []i32,
    top_scores: []f32,
) Error!usize {
    try checkRows(query, candidates, dim, first, count);
    const capacity = @min(k, count);
    if (top_rows.len < capacity or top_scores.len < capacity) return error.InvalidArguments;
    // Rows are reported as i32 (Java int); a Java array cannot hold more.
    if (first + count > std.math.maxInt(i32)) return error.InvalidArguments;
    if (!bump.fits(scratch.cosineTopK(dim, k, count))) return error.ArenaTooSmall;
    if (capacity == 0) return 0;

    const q = copyQuery(bump, query);
    var heap = Heap{ .items = bump.alloc(Entry, capacity) };
    const qq = sumOfSquares(q);
    for (first..first + count) |row| {
        heap.offer(.{ .score = cosineRow(q, qq, candidates[row * dim ..][0..dim]), .row = @intCast(row) });
    }
    return heap.drainSorted(top_rows[0..capacity], top_scores[0..capacity]);
}

// ------------------------------------------------------------ spreading ----

/// SpreadSemantics.MAX_HOPS.
pub const max_hops_limit = 1024;

/// A hop whose frontier has at least n / dense_divisor out-edges is "dense":
/// it only marks reached nodes and collects the next frontier by scanning the
/// marks (O(n / 32) vector steps, already sorted). Sparser hops push reached
/// nodes to a list and sort it (O(k log k)). Also guarantees sparse hops see
/// fewer than n edges, which the branch-free push relies on.
const dense_divisor = 128;

/// Java's Math.max(0f, Math.min(1f, a)) for a non-NaN a (NaN is rejected before).
inline fn clamp01(a: f32) f32 {
    return if (a > 1) 1 else if (a > 0) a else 0;
}

/// [lo, hi) of node u's out-edges, checked against the edge arrays.
inline fn edgeRange(offsets: []const i32, u: u32, edge_cap: usize) Error!struct { usize, usize } {
    const lo = offsets[u];
    const hi = offsets[u + 1];
    if (lo < 0 or hi < lo or @as(usize, @intCast(hi)) > edge_cap) return error.InvalidArguments;
    return .{ @intCast(lo), @intCast(hi) };
}

/// Sorts list (distinct nodes, all marked) ascending and clears their marks,
/// by sorting a short list or scanning the marks for a long one.
fn orderAndUnmark(list: []u32, size: usize, marks: []u8) usize {
    if (size * dense_divisor < marks.len) {
        std.sort.pdq(u32, list[0..size], {}, std.sort.asc(u32));
        for (list[0..size]) |v| marks[v] = 0;
        return size;
    }
    const got = collectMarked(list, marks);
    assert(got == size);
    return got;
}

/// Writes the marked nodes to list in ascending order and clears the marks.
fn collectMarked(list: []u32, marks: []u8) usize {
    const chunk = 32;
    const Bytes = @Vector(chunk, u8);
    var size: usize = 0;
    var base: usize = 0;
    while (base < marks.len) : (base += chunk) {
        const end = @min(base + chunk, marks.len);
        if (end - base == chunk) {
            const v: Bytes = marks[base..][0..chunk].*;
            if (@reduce(.Or, v) == 0) continue;
        }
        // Branch-free append: marks are 0/1 and size counts the marked nodes
        // below i, so size <= i < list.len and the slot is always in bounds.
        for (base..end) |i| {
            list[size] = @intCast(i);
            size += marks[i];
            marks[i] = 0;
        }
    }
    return size;
}

/// Spreading activation over a CSR graph, exactly as SpreadSemantics states
/// and JavaKernels does it: the same f32 operations in the same order, so the
/// results are bit-identical to Java's. No @mulAdd here, and the default
/// (strict) float mode keeps LLVM from contracting (a * w) * decay + act.
pub fn spreadActivation(
    bump: *Bump,
    offsets: []const i32,
    targets: []const i32,
    weights: []const f32,
    node_count: usize,
    seed_nodes: []const i32,
    seed_activations: []const f32,
    seed_count: usize,
    max_hops: usize,
    hop_decay: f32,
    threshold: f32,
    activation: []f32,
    first_hop: []i32,
) Error!void {
    @setFloatMode(.strict);
    const n = node_count;
    // Validation.spread, plus the CSR shape the Java graph guarantees.
    if (n > std.math.maxInt(i32) or offsets.len != n + 1) return error.InvalidArguments;
    if (seed_count > seed_nodes.len or seed_count > seed_activations.len) return error.InvalidArguments;
    if (max_hops > max_hops_limit) return error.InvalidArguments;
    if (!(hop_decay > 0 and hop_decay <= 1)) return error.InvalidArguments;
    if (!(threshold >= 0) or std.math.isInf(threshold)) return error.InvalidArguments;
    if (activation.len < n or first_hop.len < n) return error.InvalidArguments;
    for (seed_nodes[0..seed_count], seed_activations[0..seed_count]) |s, a| {
        if (s < 0 or s >= n or std.math.isNan(a)) return error.InvalidArguments;
    }
    if (!bump.fits(scratch.spreadActivation(n))) return error.ArenaTooSmall;

    // Scratch in Scratch.java's order: frontier, next, snapshot, marks.
    var frontier = bump.alloc(u32, n);
    var next = bump.alloc(u32, n);
    const snapshot = bump.alloc(f32, n);
    const marks = bump.alloc(u8, n);
    @memset(marks, 0);
    const edge_cap = @min(targets.len, weights.len);
    const act = activation[0..n];
    const hops = first_hop[0..n];
    @memset(act, 0);
    @memset(hops, -1);

    // Seeds: the first occurrence joins the frontier; repeats keep the max.
    var size: usize = 0;
    for (seed_nodes[0..seed_count], seed_activations[0..seed_count]) |s_raw, a_raw| {
        const s: u32 = @intCast(s_raw);
        const a = clamp01(a_raw);
        if (hops[s] == -1) {
            hops[s] = 0;
            act[s] = a;
            marks[s] = 1;
            frontier[size] = s;
            size += 1;
        } else if (a > act[s]) {
            act[s] = a;
        }
    }
    size = orderAndUnmark(frontier, size, marks);

    var hop: i32 = 1;
    while (hop <= max_hops and size > 0) : (hop += 1) {
        // Snapshot the frontier's activations (this hop's edges read these, not
        // values updated during the hop) and count its out-edges.
        var edges: usize = 0;
        for (frontier[0..size], snapshot[0..size]) |u, *snap| {
            snap.* = act[u];
            const lo, const hi = try edgeRange(offsets, u, edge_cap);
            edges += hi - lo;
        }
        // edges * dense_divisor >= n, without the multiplication.
        const dense = edges >= (n + dense_divisor - 1) / dense_divisor;
        const next_size = if (dense)
            try relax(true, frontier[0..size], snapshot, offsets, targets, weights, edge_cap, edges, hop_decay, threshold, hop, act, hops, marks, next)
        else
            try relax(false, frontier[0..size], snapshot, offsets, targets, weights, edge_cap, edges, hop_decay, threshold, hop, act, hops, marks, next);
        std.mem.swap([]align(64) u32, &frontier, &next);
        size = next_size;
    }
    assert(bump.used == scratch.spreadActivation(n));
}

/// One hop: for each frontier node in ascending order, each out-edge in CSR
/// order. Returns the next frontier's size; the next frontier is in `next`,
/// ascending, and all marks are clear again.
inline fn relax(
    comptime dense: bool,
    frontier: []const u32,
    snapshot: []const f32,
    offsets: []const i32,
    targets: []const i32,
    weights: []const f32,
    edge_cap: usize,
    edges: usize,
    hop_decay: f32,
    threshold: f32,
    hop: i32,
    act: []f32,
    hops: []i32,
    marks: []u8,
    next: []u32,
) Error!usize {
    const n = act.len;
    var size: usize = 0;
    // The edges counted in the snapshot pass: a sparse hop's branch-free push
    // relies on there being fewer than n, so offsets that changed since (only
    // possible through a data race on the Java side) are refused, not followed.
    var budget = edges;
    for (frontier, snapshot[0..frontier.len]) |u, a| {
        const lo, const hi = try edgeRange(offsets, u, edge_cap);
        if (hi - lo > budget) return error.InvalidArguments;
        budget -= hi - lo;
        for (targets[lo..hi], weights[lo..hi]) |v_raw, w| {
            const v: u32 = @bitCast(v_raw);
            if (v >= n) return error.InvalidArguments;
            // Java: c = a * w * hopDecay; if (c < threshold) continue; act = min(1, act + c).
            // Written branch-free: a dropped contribution stores the old values back.
            const c = (a * w) * hop_decay;
            const keep = !(c < threshold);
            const old = act[v];
            const sum = old + c;
            act[v] = if (keep) (if (sum > 1) 1 else sum) else old;
            const h = hops[v];
            hops[v] = if (keep and h == -1) hop else h;
            if (!dense) {
                // Branch-free push: a sparse hop has fewer than n edges, so
                // size < n here and the slot is in bounds; it only counts if new.
                assert(size < n);
                next[size] = v;
                size += @intFromBool(keep and marks[v] == 0);
            }
            marks[v] |= @intFromBool(keep);
        }
    }
    if (dense) return collectMarked(next, marks);
    std.sort.pdq(u32, next[0..size], {}, std.sort.asc(u32));
    for (next[0..size]) |v| marks[v] = 0;
    return size;
}

// ---------------------------------------------------------------- decay ----

/// f64 lanes per step: four AVX2 registers (eight SSE2 / NEON). Four
/// independent chains per step keep the out-of-order core busy, and the two
/// per-step range checks (toF64, the -87 band) run once per 16 memories;
/// measured 1.35 ns per memory with 4 lanes, 1.2 with 8, 1.0 with 16.
const decay_lanes = 16;

/// @floatFromInt for i64 lanes. x86_64 before AVX-512 has no packed i64 ->
/// f64 conversion, so LLVM converts lane by lane. Every |v| <= 2^51 (±71,000
/// years of milliseconds) converts exactly with the magic-number trick:
/// v + 1.5 * 2^52 as integer bits is that double; subtracting 1.5 * 2^52 in
/// f64 leaves v. Larger differences (only from absurd timestamps) take the
/// exact lane-by-lane conversion.
inline fn toF64(v: @Vector(decay_lanes, i64)) @Vector(decay_lanes, f64) {
    const V = @Vector(decay_lanes, f64);
    const I = @Vector(decay_lanes, i64);
    const limit: I = @splat(1 << 51);
    const small = @reduce(.And, v <= limit) and @reduce(.And, v >= -limit);
    if (!small) return @floatFromInt(v);
    const magic: f64 = 0x1.8p52;
    const bits: I = v +% @as(I, @splat(@as(i64, @bitCast(magic))));
    return @as(V, @bitCast(bits)) - @as(V, @splat(magic));
}

/// DecaySemantics for decay_lanes memories at once.
inline fn retentionVec(
    last: @Vector(decay_lanes, i64),
    stability: @Vector(decay_lanes, f32),
    now: i64,
) @Vector(decay_lanes, f32) {
    const V = @Vector(decay_lanes, f64);
    const B = @Vector(decay_lanes, bool);
    const zero: V = @splat(0.0);
    const diff = @as(@Vector(decay_lanes, i64), @splat(now)) -% last; // Java long subtraction wraps
    const stab: V = @floatCast(stability);
    // DecaySemantics.exponent computes -(diff / 1000) / stab with two f64
    // divisions; one division by the exact product 1000 * stab (an f32 times
    // 1000 fits the f64 mantissa) differs from it by at most 1 ulp of f64,
    // ~1e-16 relative, and halves the cost of the kernel's slowest operation.
    const age_ms = toF64(diff);
    var x = -age_ms / (stab * @as(V, @splat(1000.0)));
    // That 1 ulp matters only where it could move x across the -87 cutoff
    // (result 0 vs exp(-87)): there, take Java's two divisions exactly.
    if (@reduce(.Or, @abs(x - @as(V, @splat(exp.min_x))) < @as(V, @splat(1e-9)))) {
        x = -(age_ms / @as(V, @splat(1000.0))) / stab;
    }
    // exp only ever sees [-87, 0]: other lanes (and NaN, which @max/@min
    // drop) are clamped into it, and their results replaced below.
    const e = exp.expVec(decay_lanes, @min(@max(x, @as(V, @splat(exp.min_x))), zero));
    // Java's order: diff <= 0 -> 1, then !(stab > 0) -> 0, then x < -87 -> 0.
    // (With diff > 0 and stab > 0, x is finite and <= 0.) Selected in f64, so
    // the masks need no narrowing, and rounded to f32 once.
    const keep = @select(bool, x >= @as(V, @splat(exp.min_x)), stab > zero, @as(B, @splat(false)));
    const r = @select(f64, keep, e, zero);
    const one: V = @splat(1.0);
    return @floatCast(@select(f64, diff <= @as(@Vector(decay_lanes, i64), @splat(0)), one, r));
}

/// retention[i] = exp(-(now - last[i]) / 1000 / stability[i]) per DecaySemantics.
pub fn decayRetention(
    bump: *Bump,
    last_access_millis: []const i64,
    stability_seconds: []const f32,
    count: usize,
    now_millis: i64,
    retention: []f32,
) Error!void {
    if (last_access_millis.len < count or stability_seconds.len < count or retention.len < count)
        return error.InvalidArguments;
    if (!bump.fits(scratch.decayRetention(count))) return error.ArenaTooSmall;

    var i: usize = 0;
    while (i + decay_lanes <= count) : (i += decay_lanes) {
        retention[i..][0..decay_lanes].* = retentionVec(
            last_access_millis[i..][0..decay_lanes].*,
            stability_seconds[i..][0..decay_lanes].*,
            now_millis,
        );
    }
    if (i < count) {
        // Tail through padded registers: padding lanes (last = now) give 1 and are dropped.
        const tail = count - i;
        var last = [_]i64{now_millis} ** decay_lanes;
        var stab = [_]f32{1} ** decay_lanes;
        @memcpy(last[0..tail], last_access_millis[i..count]);
        @memcpy(stab[0..tail], stability_seconds[i..count]);
        const r: [decay_lanes]f32 = retentionVec(last, stab, now_millis);
        @memcpy(retention[i..count], r[0..tail]);
    }
}
