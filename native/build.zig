//! zig build          -> every shared-library variant into <prefix>/<triple>/<variant>/
//! zig build test     -> the Zig unit tests on the host
//! -Dvariant=<triple>/<variant> builds just one (build.sh builds all in one go).
const std = @import("std");

const Variant = struct {
    triple: []const u8,
    name: []const u8,
    /// -mcpu value; "baseline" is Zig's conservative default for the arch.
    cpu: []const u8,
};

/// One library per (target, CPU variant). The Java loader picks the best one
/// the running CPU supports, so x86_64 ships an AVX2+FMA build and a plain one.
pub const variants = [_]Variant{
    .{ .triple = "x86_64-linux-gnu", .name = "x86_64_v3", .cpu = "x86_64_v3" },
    .{ .triple = "x86_64-linux-gnu", .name = "baseline", .cpu = "x86_64" },
    .{ .triple = "aarch64-linux-gnu", .name = "baseline", .cpu = "baseline" },
    .{ .triple = "x86_64-macos-none", .name = "x86_64_v3", .cpu = "x86_64_v3" },
    .{ .triple = "x86_64-macos-none", .name = "baseline", .cpu = "x86_64" },
    .{ .triple = "aarch64-macos-none", .name = "baseline", .cpu = "baseline" },
};

pub fn build(b: *std.Build) void {
    const only = b.option([]const u8, "variant", "Build only this <triple>/<variant>");
    const test_optimize = b.option(std.builtin.OptimizeMode, "test-optimize", "Optimize mode of the tests (default ReleaseSafe: fast, with safety checks)") orelse .ReleaseSafe;

    for (variants) |v| {
        const id = b.fmt("{s}/{s}", .{ v.triple, v.name });
        if (only) |o| if (!std.mem.eql(u8, o, id)) continue;
        const query = std.Target.Query.parse(.{ .arch_os_abi = v.triple, .cpu_features = v.cpu }) catch
            @panic("bad target in build.zig");
        const target = b.resolveTargetQuery(query);
        const lib = b.addSharedLibrary(.{
            .name = "engram",
            .root_source_file = b.path("src/jni.zig"),
            .target = target,
            .optimize = .ReleaseFast,
            // No libc: the kernels need none, and page_allocator maps memory
            // with raw syscalls on Linux, so the .so has no glibc version floor.
            .link_libc = false,
            .strip = false, // keep .symtab so build.sh can prove no fma/fmaf is called
        });
        if (target.result.ofmt == .elf) lib.setVersionScript(b.path("src/exports.map"));
        const install = b.addInstallArtifact(lib, .{
            .dest_dir = .{ .override = .{ .custom = id } },
            .pdb_dir = .disabled,
            .h_dir = .disabled,
            .implib_dir = .disabled,
            .dylib_symlinks = false,
        });
        b.getInstallStep().dependOn(&install.step);
    }

    // The tests run on this machine, compiled for its CPU and, on x86_64, also
    // for plain x86_64 (no AVX2/FMA), so both code paths of mulAdd are tested.
    const test_step = b.step("test", "Run the Zig unit tests");
    const host_arch = b.host.result.cpu.arch;
    const test_cpus: []const []const u8 = if (host_arch == .x86_64) &.{ "native", "x86_64" } else &.{"native"};
    for (test_cpus) |cpu| {
        const query = std.Target.Query.parse(.{ .cpu_features = cpu }) catch @panic("bad test cpu");
        const tests = b.addTest(.{
            .name = b.fmt("test-{s}", .{cpu}),
            .root_source_file = b.path("src/tests.zig"),
            .target = b.resolveTargetQuery(query),
            .optimize = test_optimize,
        });
        const run = b.addRunArtifact(tests);
        run.has_side_effects = true; // always run, and show the exp sweep's numbers
        test_step.dependOn(&run.step);
    }
}
