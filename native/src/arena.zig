//! The native arena: one 64-byte-aligned block per operator subtask, created
//! and freed through JNI, and a bump allocator that a kernel call uses to carve
//! its scratch from the start of the block. Nothing is ever freed piecewise:
//! the Java side resets the arena when the call returns.
const std = @import("std");
const abi = @import("abi.zig");

pub const alignment = abi.alignment;

/// Allocates a block of `capacity` bytes aligned to 64 (page_allocator maps
/// whole pages, so the block is page-aligned). Null for capacity 0 or if the
/// mapping fails: the caller reports that as address 0.
pub fn create(capacity: usize) ?[]align(alignment) u8 {
    if (capacity == 0) return null;
    return std.heap.page_allocator.alignedAlloc(u8, alignment, capacity) catch null;
}

/// Frees a block from `create`; `capacity` must be the one it was created with.
pub fn destroy(block: []align(alignment) u8) void {
    if (block.len == 0) return;
    std.heap.page_allocator.free(block);
}

/// Bump allocator over a caller-owned block. The kernels check their whole
/// scratch size against the capacity before the first `alloc`, so `alloc`
/// itself only asserts.
pub const Bump = struct {
    base: [*]align(alignment) u8,
    capacity: usize,
    used: usize = 0,

    pub fn init(base: [*]align(alignment) u8, capacity: usize) Bump {
        return .{ .base = base, .capacity = capacity };
    }

    pub fn fits(self: Bump, bytes: u64) bool {
        return bytes <= self.capacity - self.used;
    }

    /// `n` items of T on the next 64-byte boundary. Advances by alignUp(n * size),
    /// which is what a scratch block of abi.zig counts.
    pub fn alloc(self: *Bump, comptime T: type, n: usize) []align(alignment) T {
        comptime std.debug.assert(alignment % @alignOf(T) == 0);
        const bytes: usize = @intCast(abi.alignUp(@as(u64, n) * @sizeOf(T)));
        std.debug.assert(bytes <= self.capacity - self.used);
        const p: [*]align(alignment) T = @ptrCast(@alignCast(self.base + self.used));
        self.used += bytes;
        std.debug.assert(self.used % alignment == 0);
        return p[0..n];
    }
};

test "create aligns, bump lays blocks out like abi.zig counts them" {
    const block = create(4096 + 7) orelse return error.OutOfMemory;
    defer destroy(block);
    try std.testing.expect(@intFromPtr(block.ptr) % alignment == 0);
    try std.testing.expectEqual(@as(usize, 4096 + 7), block.len);
    var bump = Bump.init(block.ptr, block.len);
    const a = bump.alloc(i32, 3);
    const b = bump.alloc(u8, 65);
    try std.testing.expectEqual(@as(usize, 3), a.len);
    try std.testing.expectEqual(@intFromPtr(block.ptr) + 64, @intFromPtr(b.ptr));
    try std.testing.expectEqual(@as(usize, 64 + 128), bump.used);
    try std.testing.expect(bump.fits(4096 + 7 - 192));
    try std.testing.expect(!bump.fits(4096 + 8 - 192));
    try std.testing.expect(create(0) == null);
}
