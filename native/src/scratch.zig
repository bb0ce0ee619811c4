//! Arena bytes each kernel needs for one call. These are the formulas of
//! kernels/src/main/java/io/engram/kernels/Scratch.java, kept identical on
//! purpose: Java sizes the arena and checks first, and the native side refuses
//! (STATUS_ARENA_TOO_SMALL) any call whose scratch would not fit.
const std = @import("std");

/// Every block in the arena starts on a cache line.
pub const alignment: u64 = 64;

pub fn alignUp(bytes: u64) u64 {
    return (bytes + alignment - 1) & ~(alignment - 1);
}

/// An aligned copy of the query.
pub fn cosineSimilarity(dim: u64) u64 {
    return alignUp(4 * dim);
}

/// The padded copy of every query (as cosineSimilarity makes of one) plus
/// their sums of squares.
pub fn cosineSimilarityBatch(dim: u64, query_count: u64) u64 {
    return query_count * alignUp(4 * dim) + alignUp(4 * query_count);
}

/// The query copy plus a heap of min(k, count) (score, row) pairs, 8 bytes each.
pub fn cosineTopK(dim: u64, k: u64, count: u64) u64 {
    return alignUp(4 * dim) + alignUp(8 * @min(k, count));
}

/// Frontier, next frontier (i32 each), frontier snapshot (f32), visit mark (u8) per node.
pub fn spreadActivation(node_count: u64) u64 {
    return 3 * alignUp(4 * node_count) + alignUp(node_count);
}

/// Decay runs in registers.
pub fn decayRetention(count: u64) u64 {
    _ = count;
    return 0;
}

test "scratch formulas match Scratch.java" {
    try std.testing.expectEqual(@as(u64, 0), alignUp(0));
    try std.testing.expectEqual(@as(u64, 64), alignUp(1));
    try std.testing.expectEqual(@as(u64, 64), alignUp(64));
    try std.testing.expectEqual(@as(u64, 128), alignUp(65));
    try std.testing.expectEqual(@as(u64, 64), cosineSimilarity(3));
    try std.testing.expectEqual(@as(u64, 1536), cosineSimilarity(384));
    try std.testing.expectEqual(@as(u64, 0), cosineSimilarityBatch(3, 0));
    try std.testing.expectEqual(@as(u64, 64 + 64), cosineSimilarityBatch(3, 1));
    try std.testing.expectEqual(@as(u64, 8 * 3072 + 64), cosineSimilarityBatch(768, 8));
    try std.testing.expectEqual(@as(u64, 17 * 1536 + 128), cosineSimilarityBatch(384, 17));
    try std.testing.expectEqual(@as(u64, 64 + 64), cosineTopK(3, 10, 5));
    try std.testing.expectEqual(@as(u64, 64), cosineTopK(3, 0, 5));
    try std.testing.expectEqual(@as(u64, 64 + 128), cosineTopK(16, 9, 100));
    try std.testing.expectEqual(@as(u64, 0), spreadActivation(0));
    try std.testing.expectEqual(@as(u64, 3 * 64 + 64), spreadActivation(1));
    try std.testing.expectEqual(@as(u64, 3 * 448 + 128), spreadActivation(100));
    try std.testing.expectEqual(@as(u64, 0), decayRetention(1000));
}
