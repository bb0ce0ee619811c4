//! The kernels on plain slices, named like MemoryKernels in Java and like the
//! rows of abi.zig's table. jni.zig pins the Java arrays and calls these; the
//! Zig tests call them directly.
//!
//! Every kernel re-checks its arguments against the slice lengths before it
//! writes anything (Java's Validation already did; this is defence in depth, so
//! a bug on the Java side yields error.InvalidArguments instead of a JVM crash),
//! then checks its scratch against the arena (error.ArenaTooSmall), and only
//! then starts. The scratch it takes is exactly the blocks abi.zig declares.
//!
//! Vector width follows the build: 8 f32 lanes (AVX2, NEON as two halves, or
//! SSE2 as two halves) or 16 with AVX-512 (the x86_64_v4 build).
const std = @import("std");
const features = @import("features.zig");
const scratch = @import("scratch.zig");
const exp = @import("exp.zig");
const Bump = @import("arena.zig").Bump;

const assert = std.debug.assert;

pub const Error = error{ ArenaTooSmall, InvalidArguments };

// ---------------------------------------------------------------- cosine ----

const lanes = features.f32_lanes;
const V = @Vector(lanes, f32);
const zero: V = @splat(0);
/// Cache lines per vector register.
const lines_per_vector = lanes * @sizeOf(f32) / 64;

fn iota(comptime n: usize, comptime start: i32) [n]i32 {
    var a: [n]i32 = undefined;
    for (&a, 0..) |*x, i| x.* = start + @as(i32, @intCast(i));
    return a;
}

/// Pairwise horizontal sum: halves added until one lane is left.
inline fn hsumN(comptime n: usize, v: @Vector(n, f32)) f32 {
    if (n == 1) return v[0];
    const h = n / 2;
    const lo = @shuffle(f32, v, undefined, iota(h, 0));
    const hi = @shuffle(f32, v, undefined, iota(h, h));
    return hsumN(h, lo + hi);
}

inline fn hsum(v: V) f32 {
    return hsumN(lanes, v);
}

inline fn prefetch(address: usize) void {
    @prefetch(@as([*]const u8, @ptrFromInt(address)), .{ .rw = .read, .locality = 3, .cache = .data });
}

/// Rows [first, first + count) of a row-major candidates matrix with `dim` columns.
fn checkRows(query: []const f32, candidates: []const f32, dim: usize, first: usize, count: usize) Error!void {
    if (dim < 1 or query.len != dim or candidates.len % dim != 0) return error.InvalidArguments;
    const rows = candidates.len / dim;
    if (first > rows or count > rows - first) return error.InvalidArguments;
}

/// Floats of a padded query copy: align64(4 * dim) bytes, a multiple of 16 floats.
fn paddedLength(dim: usize) usize {
    return @intCast(scratch.alignUp(@as(u64, dim) * @sizeOf(f32)) / @sizeOf(f32));
}

/// Copies the query to an aligned arena block, zero-padded to the block's end,
/// so every vector load of the query, including the tail's, stays inside it.
/// dst[0..src.len] = src for a short src (under 16 items) in fixed-size moves.
/// Why not @memcpy: with a length known only at run time it becomes a call to
/// compiler_rt's memcpy, whose byte loop for the last bytes cost a tiny call
/// (dim 8 on AVX-512, all tail) more than the kernel's arithmetic.
inline fn copyShort(comptime T: type, dst: []T, src: []const T) void {
    assert(src.len < 16 and dst.len >= src.len);
    var i: usize = 0;
    inline for ([_]usize{ 8, 4, 2, 1 }) |w| {
        if (src.len - i >= w) {
            dst[i..][0..w].* = src[i..][0..w].*;
            i += w;
        }
    }
}

/// dst = src followed by zeros (dst.len is src.len padded to whole vectors).
fn copyPadded(dst: []align(64) f32, src: []const f32) void {
    assert(dst.len % lanes == 0 and dst.len >= src.len);
    var j: usize = 0;
    while (j + lanes <= src.len) : (j += lanes) dst[j..][0..lanes].* = src[j..][0..lanes].*;
    var k = j;
    while (k < dst.len) : (k += lanes) dst[k..][0..lanes].* = @as([lanes]f32, zero);
    copyShort(f32, dst[j..], src[j..]);
}

fn copyQuery(bump: *Bump, query: []const f32) []align(64) const f32 {
    const q = bump.alloc(f32, paddedLength(query.len));
    copyPadded(q, query);
    return q;
}

/// Sum of squares of a padded query copy (length a multiple of the lanes).
fn sumOfSquares(q: []align(64) const f32) f32 {
    var s = [4]V{ zero, zero, zero, zero };
    var j: usize = 0;
    while (j + 4 * lanes <= q.len) : (j += 4 * lanes) {
        inline for (0..4) |a| {
            const v: V = q[j + a * lanes ..][0..lanes].*;
            s[a] = features.mulAdd(V, v, v, s[a]);
        }
    }
    while (j < q.len) : (j += lanes) {
        const v: V = q[j..][0..lanes].*;
        s[0] = features.mulAdd(V, v, v, s[0]);
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

/// How far ahead of its reads a candidate stream is prefetched: 12 KiB (4 rows
/// at dim 768). Measured on Zen: the hardware prefetcher alone leaves the
/// 10k × 768 case ~1.5× slower; much further ahead the prefetched lines start
/// evicting the query from the 32 KiB L1.
const prefetch_bytes = 12 * 1024;

/// One candidate row against the padded query q whose sum of squares is qq.
/// Four independent accumulators per sum hide the FMA latency.
fn cosineRow(q: []align(64) const f32, qq: f32, c: []const f32) f32 {
    const dim = c.len;
    var d = [4]V{ zero, zero, zero, zero };
    var s = [4]V{ zero, zero, zero, zero };
    var j: usize = 0;
    while (j + 4 * lanes <= dim) : (j += 4 * lanes) {
        // Rows are consecutive, so the stream continues past this row; a
        // prefetch never faults, so the address may lie past the candidates.
        inline for (0..4 * lines_per_vector) |h| prefetch(@intFromPtr(c.ptr + j + h * 16) + prefetch_bytes);
        inline for (0..4) |a| {
            const cv: V = c[j + a * lanes ..][0..lanes].*;
            const qv: V = q[j + a * lanes ..][0..lanes].*;
            d[a] = features.mulAdd(V, qv, cv, d[a]);
            s[a] = features.mulAdd(V, cv, cv, s[a]);
        }
    }
    while (j + lanes <= dim) : (j += lanes) {
        const cv: V = c[j..][0..lanes].*;
        const qv: V = q[j..][0..lanes].*;
        d[0] = features.mulAdd(V, qv, cv, d[0]);
        s[0] = features.mulAdd(V, cv, cv, s[0]);
    }
    // The tail (dim not a multiple of the lanes) in scalar, as dotRows does:
    // the row cannot be read past its end, and a zero-padded copy costs more.
    var dot = hsum((d[0] + d[1]) + (d[2] + d[3]));
    var cc = hsum((s[0] + s[1]) + (s[2] + s[3]));
    for (j..dim) |t| {
        dot = features.mulAdd(f32, q[t], c[t], dot);
        cc = features.mulAdd(f32, c[t], c[t], cc);
    }
    return finish(dot, qq, cc);
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
    if (!bump.fits(scratch.of("cosineSimilarity", .{ dim, first, count }))) return error.ArenaTooSmall;

    const q = copyQuery(bump, query);
    const qq = sumOfSquares(q);
    for (scores[0..count], first..) |*score, row| {
        score.* = cosineRow(q, qq, candidates[row * dim ..][0..dim]);
    }
}

// ---------------------------------------------------------- cosine batch ----

/// Register tile of the batched cosine: batch_tile_q queries × batch_tile_r
/// candidate rows share every load. With 16 registers (AVX2) 4 × 2 keeps 8 dot
/// accumulators plus 2 norm accumulators and the 2 candidate vectors in
/// registers; with 32 (AVX-512) 4 × 4 does 20 FMAs per 8 loads.
const batch_tile_q = 4;
const batch_tile_r = if (features.has_avx512) 4 else 2;

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
    var acc: [nq][nr]V = .{.{zero} ** nr} ** nq;
    var ss: [nr]V = .{zero} ** nr;
    const qp: [*]const f32 = qs.ptr + q0 * stride;
    var j: usize = 0;
    // Two vectors of each row per step. The pass that reads the rows first
    // (with_norms) also prefetches the same lines of the next group of rows,
    // nr * dim floats further on: the group's remaining query tiles give the
    // prefetch time to land. A prefetch never faults, so the address may lie
    // past the candidates; it is formed as an integer.
    while (j + 2 * lanes <= dim) : (j += 2 * lanes) {
        if (with_norms) inline for (0..nr) |r| {
            inline for (0..2 * lines_per_vector) |h| {
                prefetch(@intFromPtr(rows[r] + j + h * 16) + nr * dim * @sizeOf(f32));
            }
        };
        inline for (0..2) |h| {
            var cv: [nr]V = undefined;
            inline for (0..nr) |r| cv[r] = rows[r][j + h * lanes ..][0..lanes].*;
            inline for (0..nq) |i| {
                const qv: V = qp[i * stride + j + h * lanes ..][0..lanes].*;
                inline for (0..nr) |r| acc[i][r] = features.mulAdd(V, qv, cv[r], acc[i][r]);
            }
            if (with_norms) inline for (0..nr) |r| {
                ss[r] = features.mulAdd(V, cv[r], cv[r], ss[r]);
            };
        }
    }
    while (j + lanes <= dim) : (j += lanes) {
        var cv: [nr]V = undefined;
        inline for (0..nr) |r| cv[r] = rows[r][j..][0..lanes].*;
        inline for (0..nq) |i| {
            const qv: V = qp[i * stride + j ..][0..lanes].*;
            inline for (0..nr) |r| acc[i][r] = features.mulAdd(V, qv, cv[r], acc[i][r]);
        }
        if (with_norms) inline for (0..nr) |r| {
            ss[r] = features.mulAdd(V, cv[r], cv[r], ss[r]);
        };
    }
    // The tail in scalar (see cosineRow).
    inline for (0..nq) |i| inline for (0..nr) |r| {
        var dot = hsum(acc[i][r]);
        for (j..dim) |t| dot = features.mulAdd(f32, qp[i * stride + t], rows[r][t], dot);
        dots[i][r] = dot;
    };
    if (with_norms) inline for (0..nr) |r| {
        var cc = hsum(ss[r]);
        for (j..dim) |t| cc = features.mulAdd(f32, rows[r][t], rows[r][t], cc);
        norms[r] = cc;
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
    // 1..tile-1 queries left: one tile of exactly that many.
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
    if (!bump.fits(scratch.of("cosineSimilarityBatch", .{ query_count, dim, first, count }))) return error.ArenaTooSmall;
    if (query_count == 0) return;

    // Padded query copies (as copyQuery does for one) and their norms.
    const stride = paddedLength(dim);
    const qs = bump.alloc(f32, query_count * stride);
    for (0..query_count) |i| {
        copyPadded(@alignCast(qs[i * stride ..][0..stride]), queries[i * dim ..][0..dim]);
    }
    const qq = bump.alloc(f32, query_count);
    for (qq, 0..) |*n, i| n.* = sumOfSquares(@alignCast(qs[i * stride ..][0..stride]));
    if (count == 0) return;

    var row = first;
    const end = first + count;
    while (row + batch_tile_r <= end) : (row += batch_tile_r) {
        batchRows(batch_tile_r, qs, qq, stride, query_count, candidates, dim, first, count, row, scores);
    }
    while (row < end) : (row += 1) {
        batchRows(1, qs, qq, stride, query_count, candidates, dim, first, count, row, scores);
    }
}

// -------------------------------------------------------- stored norms ----

/// CosineSemantics.finishNormed: dot / (|q| · |c|) in f64, clamped to [-1, 1];
/// a norm that is not a positive finite number, or a non-finite dot, gives 0.
pub fn finishNormed(dot: f32, qn: f32, cn: f32) f32 {
    if (!(qn > 0) or !(cn > 0) or std.math.isInf(qn) or std.math.isInf(cn) or
        std.math.isNan(dot) or std.math.isInf(dot)) return 0;
    const s = @as(f64, dot) / (@as(f64, qn) * @as(f64, cn));
    return @floatCast(if (s > 1.0) 1.0 else if (s < -1.0) -1.0 else s);
}

/// Dot products of one cue with nr consecutive rows, `unroll` vectors of each
/// row per step (nr × unroll independent accumulators hide the FMA latency).
/// With nr > 1 every cue load serves nr rows: fewer loads per FMA. Reads the
/// cue and the rows unaligned, in place: no copy, no scratch. The tail (dim not
/// a multiple of the lanes) is summed in scalar. No software prefetch: the rows
/// are one sequential stream, which the hardware prefetchers follow; at 100k ×
/// 768d a prefetch 12 KiB ahead made the scan slower (round-two.md, "One cue
/// over 100k rows").
inline fn dotRows(
    comptime nr: usize,
    comptime unroll: usize,
    cue: [*]const f32,
    rows: [*]const f32,
    dim: usize,
) [nr]f32 {
    var acc: [nr][unroll]V = .{.{zero} ** unroll} ** nr;
    var j: usize = 0;
    while (j + unroll * lanes <= dim) : (j += unroll * lanes) {
        inline for (0..unroll) |u| {
            const qv: V = cue[j + u * lanes ..][0..lanes].*;
            inline for (0..nr) |r| {
                const cv: V = rows[r * dim + j + u * lanes ..][0..lanes].*;
                acc[r][u] = features.mulAdd(V, qv, cv, acc[r][u]);
            }
        }
    }
    while (j + lanes <= dim) : (j += lanes) {
        const qv: V = cue[j..][0..lanes].*;
        inline for (0..nr) |r| {
            const cv: V = rows[r * dim + j ..][0..lanes].*;
            acc[r][0] = features.mulAdd(V, qv, cv, acc[r][0]);
        }
    }
    var out: [nr]f32 = undefined;
    inline for (0..nr) |r| {
        var sum = acc[r][0];
        inline for (1..unroll) |u| sum += acc[r][u];
        out[r] = hsum(sum);
        for (j..dim) |t| out[r] = features.mulAdd(f32, cue[t], rows[r * dim + t], out[r]);
    }
    return out;
}

fn normedOneCue(
    cue: []const f32,
    cue_norm: f32,
    candidates: []const f32,
    norms: []const f32,
    dim: usize,
    first: usize,
    count: usize,
    scores: []f32,
) void {
    // Four rows per group at every size: every cue load serves 4 rows. (One
    // row at a time with prefetch, for blocks past 4 MiB, measured 5-10%
    // slower at 100k rows with 2 MiB pages and with 4 KiB pages.)
    var i: usize = 0;
    while (i + 4 <= count) : (i += 4) {
        const row = first + i;
        const dots = dotRows(4, 2, cue.ptr, candidates[row * dim ..].ptr, dim);
        inline for (0..4) |r| scores[i + r] = finishNormed(dots[r], cue_norm, norms[row + r]);
    }
    while (i < count) : (i += 1) {
        const row = first + i;
        const dots = dotRows(1, 4, cue.ptr, candidates[row * dim ..].ptr, dim);
        scores[i] = finishNormed(dots[0], cue_norm, norms[row]);
    }
}

/// Register tile of the several-cue kernel: normed_tile_q cues × normed_tile_r
/// rows share every load. 16 registers (AVX2): 4 × 2, 8 accumulators. 32
/// registers (AVX-512): 8 × 3, 24 accumulators, so 8 cues read each row once.
const normed_tile_q = if (features.has_avx512) 8 else 4;
const normed_tile_r = if (features.has_avx512) 3 else 2;

/// dots[i][r] = dot(cue q0 + i, row r), nq cues × nr rows (comptime). Cues are
/// `dim` floats apart, unpadded and unaligned, like the rows; the first cue
/// tile of a row group prefetches the next group.
inline fn normedTile(
    comptime nq: usize,
    comptime nr: usize,
    comptime prefetch_next: bool,
    cues: [*]const f32,
    rows: [*]const f32,
    dim: usize,
) [nq][nr]f32 {
    @setEvalBranchQuota(20_000);
    var acc: [nq][nr]V = .{.{zero} ** nr} ** nq;
    var j: usize = 0;
    while (j + lanes <= dim) : (j += lanes) {
        if (prefetch_next) inline for (0..nr) |r| inline for (0..lines_per_vector) |h| {
            prefetch(@intFromPtr(rows + r * dim + j + h * 16) + nr * dim * @sizeOf(f32));
        };
        var cv: [nr]V = undefined;
        inline for (0..nr) |r| cv[r] = rows[r * dim + j ..][0..lanes].*;
        inline for (0..nq) |i| {
            const qv: V = cues[i * dim + j ..][0..lanes].*;
            inline for (0..nr) |r| acc[i][r] = features.mulAdd(V, qv, cv[r], acc[i][r]);
        }
    }
    var out: [nq][nr]f32 = undefined;
    inline for (0..nq) |i| inline for (0..nr) |r| {
        out[i][r] = hsum(acc[i][r]);
        for (j..dim) |t| out[i][r] = features.mulAdd(f32, cues[i * dim + t], rows[r * dim + t], out[i][r]);
    };
    return out;
}

/// Every cue against nr (comptime) rows from absolute row `row`.
inline fn normedRows(
    comptime nr: usize,
    cues: []const f32,
    cue_norms: []const f32,
    cue_count: usize,
    candidates: []const f32,
    norms: []const f32,
    dim: usize,
    first: usize,
    count: usize,
    row: usize,
    scores: []f32,
) void {
    const rows = candidates[row * dim ..].ptr;
    const col = row - first;
    var q0: usize = 0;
    while (q0 + normed_tile_q <= cue_count) : (q0 += normed_tile_q) {
        const dots = if (q0 == 0)
            normedTile(normed_tile_q, nr, true, cues[q0 * dim ..].ptr, rows, dim)
        else
            normedTile(normed_tile_q, nr, false, cues[q0 * dim ..].ptr, rows, dim);
        inline for (0..normed_tile_q) |i| inline for (0..nr) |r| {
            scores[(q0 + i) * count + col + r] = finishNormed(dots[i][r], cue_norms[q0 + i], norms[row + r]);
        };
    }
    switch (cue_count - q0) {
        inline 1...normed_tile_q - 1 => |left| {
            const dots = if (q0 == 0)
                normedTile(left, nr, true, cues[q0 * dim ..].ptr, rows, dim)
            else
                normedTile(left, nr, false, cues[q0 * dim ..].ptr, rows, dim);
            inline for (0..left) |i| inline for (0..nr) |r| {
                scores[(q0 + i) * count + col + r] = finishNormed(dots[i][r], cue_norms[q0 + i], norms[row + r]);
            };
        },
        else => {},
    }
}

/// scores[q * count + i] = dot(cue q, row first + i) / (cueNorms[q] · norms[first + i]),
/// clamped to [-1, 1] (finishNormed), for q in [0, cue_count), i in [0, count).
/// The norms are the ones stored with the vectors, so nothing but the dot
/// products is computed: one FMA per candidate element and cue. Uses no arena.
pub fn cosineSimilarityNormed(
    bump: *Bump,
    cues: []const f32,
    cue_norms: []const f32,
    cue_count: usize,
    candidates: []const f32,
    norms: []const f32,
    dim: usize,
    first: usize,
    count: usize,
    scores: []f32,
) Error!void {
    if (dim < 1 or candidates.len % dim != 0) return error.InvalidArguments;
    if (cue_count > cues.len / dim or cue_count > cue_norms.len) return error.InvalidArguments;
    const rows_total = candidates.len / dim;
    if (first > rows_total or count > rows_total - first) return error.InvalidArguments;
    if (norms.len < first + count) return error.InvalidArguments;
    const cells = std.math.mul(usize, cue_count, count) catch return error.InvalidArguments;
    if (scores.len < cells) return error.InvalidArguments;
    if (!bump.fits(scratch.of("cosineSimilarityNormed", .{ cue_count, dim, first, count }))) return error.ArenaTooSmall;
    if (cue_count == 0 or count == 0) return;

    if (cue_count == 1) {
        normedOneCue(cues[0..dim], cue_norms[0], candidates, norms, dim, first, count, scores);
        return;
    }
    var row = first;
    const end = first + count;
    while (row + normed_tile_r <= end) : (row += normed_tile_r) {
        normedRows(normed_tile_r, cues, cue_norms, cue_count, candidates, norms, dim, first, count, row, scores);
    }
    while (row < end) : (row += 1) {
        normedRows(1, cues, cue_norms, cue_count, candidates, norms, dim, first, count, row, scores);
    }
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
    if (!bump.fits(scratch.of("spreadActivation", .{ n, seed_count, max_hops, hop_decay, threshold }))) return error.ArenaTooSmall;

    // Scratch in the order of abi.zig: frontier, next, snapshot, marks.
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
    assert(bump.used == scratch.of("spreadActivation", .{ n, seed_count, max_hops, hop_decay, threshold }));
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

/// Memories per step: 16 f64 lanes (two AVX-512 or four AVX2 registers) for
/// the exponent, 16 f32 lanes (one or two registers) for the polynomial.
const decay_lanes = 16;
const DF = @Vector(decay_lanes, f64);
const DI = @Vector(decay_lanes, i64);
const DS = @Vector(decay_lanes, f32);

/// @floatFromInt for i64 lanes. AVX-512DQ converts packed i64 -> f64 in one
/// instruction; before it, LLVM converts lane by lane, so there every
/// v in [-2^51, 2^51) (±71,000 years of milliseconds) converts exactly with the
/// magic-number trick: v + 1.5 * 2^52 as integer bits is that double;
/// subtracting 1.5 * 2^52 in f64 leaves v. Larger differences (only from
/// absurd timestamps) take the exact lane-by-lane conversion.
inline fn toF64(v: DI) DF {
    if (comptime features.has_avx512) return @floatFromInt(v);
    // All lanes in [-2^51, 2^51) iff no lane of v + 2^51 has a bit at 52 or above.
    const biased = v +% @as(DI, @splat(1 << 51));
    if (@reduce(.Or, biased) >> 52 != 0) return @floatFromInt(v);
    const magic: f64 = 0x1.8p52;
    const bits: DI = v +% @as(DI, @splat(@as(i64, @bitCast(magic))));
    return @as(DF, @bitCast(bits)) - @as(DF, @splat(magic));
}

/// DecaySemantics for decay_lanes memories at once.
inline fn retentionVec(last: DI, stability: DS, now: i64) DS {
    if (comptime features.has_avx512) {
        const lo: [8]f32 = retention8(@as([16]i64, last)[0..8].*, @as([16]f32, stability)[0..8].*, now);
        const hi: [8]f32 = retention8(@as([16]i64, last)[8..16].*, @as([16]f32, stability)[8..16].*, now);
        return lo ++ hi;
    }
    return retentionGeneric(last, stability, now);
}

const V8 = @Vector(8, f64);
const I8 = @Vector(8, i64);
const B8 = @Vector(8, bool);

/// 1/b to 2^-14 relative (vrcp14pd), AVX-512 builds only.
inline fn rcp14(b: V8) V8 {
    return asm ("vrcp14pd %[b], %[r]"
        : [r] "=v" (-> V8),
        : [b] "v" (b),
    );
}

/// The AVX-512 form, 8 memories per register. The exponent as DecaySemantics
/// computes it (-(diff / 1000) / stab, two f64 divisions) is here
/// (diff · -0.001) · (1 / stab), the reciprocal from vrcp14pd's 14 bits and
/// one Newton step folded into the product: 2^-28 relative, so
/// |x - x_java| <= 87 · 2^-28 = 3.3e-7; with exp's 1e-8 and the f32
/// roundings, the result is within 5e-7 of Java's (the tolerance is 1e-6). Only
/// lanes within that distance of the -87 cutoff could land on the wrong side
/// of it: a register that has one takes Java's two divisions. No clamping:
/// lanes outside [-87, 0] (and NaN) compute garbage that the masks replace.
/// The kernel is latency-bound, so the chain from a stability to its result
/// is kept short (no scaling of the stability, a folded Newton step).
inline fn retention8(last: I8, stability: @Vector(8, f32), now: i64) @Vector(8, f32) {
    const diff = @as(I8, @splat(now)) -% last; // Java long subtraction wraps
    const age: V8 = @floatFromInt(diff); // one vcvtqq2pd
    const scaled_age = age * @as(V8, @splat(-0.001));
    const stab: V8 = @floatCast(stability);
    const r0 = rcp14(stab);
    const e = features.mulAdd(V8, -stab, r0, @splat(1.0)); // 1 - stab·r0, |e| < 2^-14
    const x0 = scaled_age * r0;
    var x = features.mulAdd(V8, x0, e, x0); // x0 (1 + e): the Newton step on the product
    const near = @select(bool, x > @as(V8, @splat(exp.min_x - 1e-6)), x < @as(V8, @splat(exp.min_x + 1e-6)), @as(B8, @splat(false)));
    if (@reduce(.Or, near)) {
        x = -(age / @as(V8, @splat(1000.0))) / stab;
    }
    const y = exp.expTable8(x);
    // Java's order: diff <= 0 -> 1, then !(stab > 0) -> 0, then x < -87 -> 0.
    // An infinite stability gives x = -0 and 1 in Java; here 1/inf = 0 meets
    // inf in the Newton step (NaN), so it is selected directly.
    const s32 = stability;
    const keep = @select(bool, x >= @as(V8, @splat(exp.min_x)), s32 > @as(@Vector(8, f32), @splat(0.0)), @as(B8, @splat(false)));
    const one = @select(bool, diff <= @as(I8, @splat(0)), @as(B8, @splat(true)), s32 == @as(@Vector(8, f32), @splat(std.math.inf(f32))));
    const r = @select(f64, keep, y, @as(V8, @splat(0.0)));
    return @floatCast(@select(f64, one, @as(V8, @splat(1.0)), r));
}

/// 1/s per lane, a seed for the refinement below: vrcpps (12 bits) on AVX2
/// builds, where it has a third of an f32 division's latency; the correctly
/// rounded f32 division elsewhere.
inline fn reciprocalSeed(s: DS) DS {
    if (comptime features.has_avx2) {
        const V8s = @Vector(8, f32);
        const halves: [2]V8s = .{ @as([16]f32, s)[0..8].*, @as([16]f32, s)[8..16].* };
        var out: [2][8]f32 = undefined;
        inline for (0..2) |h| {
            out[h] = asm ("vrcpps %[s], %[r]"
                : [r] "=x" (-> V8s),
                : [s] "x" (halves[h]),
            );
        }
        return out[0] ++ out[1];
    }
    return @as(DS, @splat(1.0)) / s;
}

/// The form for every other build (AVX2, SSE2, NEON), 16 memories at once. The
/// exponent -(diff / 1000) / stab is (diff · -0.001) · (1 / stab), the
/// reciprocal from a seed with relative error e (|e| <= 1.5 · 2^-12) refined
/// by 1 + e + e^2 in one step: error e^3 < 2^-34, so |x - x_java| < 1e-8. The
/// polynomial is in f32 (exp.expVec). No clamping: lanes outside [-87, 0]
/// (and NaN) compute garbage that the masks replace.
inline fn retentionGeneric(last: DI, stability: DS, now: i64) DS {
    const diff = @as(DI, @splat(now)) -% last; // Java long subtraction wraps
    const age = toF64(diff);
    const scaled_age = age * @as(DF, @splat(-0.001));
    const stab: DF = @floatCast(stability);
    const r0: DF = @floatCast(reciprocalSeed(stability));
    const e = features.mulAdd(DF, -stab, r0, @splat(1.0));
    const q = features.mulAdd(DF, e, e, e);
    const x0 = scaled_age * r0;
    var x = features.mulAdd(DF, x0, q, x0);
    // The few ulps between x and Java's matter only where they could move x
    // across the -87 cutoff (result 0 vs exp(-87)): there, Java's divisions.
    const near = @select(bool, x > @as(DF, @splat(exp.min_x - 1e-6)), x < @as(DF, @splat(exp.min_x + 1e-6)), @as(@Vector(decay_lanes, bool), @splat(false)));
    if (@reduce(.Or, near)) {
        x = -(age / @as(DF, @splat(1000.0))) / stab;
    }
    const y = exp.expVec(decay_lanes, x);
    // Java's order: diff <= 0 -> 1, then !(stab > 0) -> 0, then x < -87 -> 0.
    // An infinite stability gives x = -0 and 1 in Java; here 1/inf = 0 meets
    // inf in the refinement (NaN), so it is selected directly.
    const B = @Vector(decay_lanes, bool);
    const keep = @select(bool, x >= @as(DF, @splat(exp.min_x)), stability > @as(DS, @splat(0.0)), @as(B, @splat(false)));
    const one = @select(bool, diff <= @as(DI, @splat(0)), @as(B, @splat(true)), stability == @as(DS, @splat(std.math.inf(f32))));
    const r = @select(f32, keep, y, @as(DS, @splat(0.0)));
    return @select(f32, one, @as(DS, @splat(1.0)), r);
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
    if (!bump.fits(scratch.of("decayRetention", .{ count, now_millis }))) return error.ArenaTooSmall;

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
        copyShort(i64, &last, last_access_millis[i..count]);
        copyShort(f32, &stab, stability_seconds[i..count]);
        const r: [decay_lanes]f32 = retentionVec(last, stab, now_millis);
        copyShort(f32, retention[i..count], r[0..tail]);
    }
}
