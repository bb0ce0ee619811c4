//! zig build                -> every shared-library variant into <prefix>/<triple>/<variant>/
//! zig build -Dset=bench    -> the benchmarks' helper library (libengram-bench) instead
//! zig build test           -> the Zig unit tests on the host
//! -Dvariant=<triple>/<variant> builds just one (build.sh builds all in one go).
const std = @import("std");

const Variant = struct {
    triple: []const u8,
    name: []const u8,
    /// -mcpu value; "baseline" is Zig's conservative default for the arch.
    cpu: []const u8,
};

/// One library per (target, CPU variant). The Java loader picks the best one
/// the running CPU supports, so x86_64 Linux ships an AVX-512 build, an
/// AVX2+FMA build and a plain one.
pub const variants = [_]Variant{
    .{ .triple = "x86_64-linux-gnu", .name = "x86_64_v4", .cpu = "x86_64_v4" },
    .{ .triple = "x86_64-linux-gnu", .name = "x86_64_v3", .cpu = "x86_64_v3" },
    .{ .triple = "x86_64-linux-gnu", .name = "baseline", .cpu = "x86_64" },
    .{ .triple = "aarch64-linux-gnu", .name = "baseline", .cpu = "baseline" },
    .{ .triple = "x86_64-macos-none", .name = "x86_64_v3", .cpu = "x86_64_v3" },
    .{ .triple = "x86_64-macos-none", .name = "baseline", .cpu = "x86_64" },
    .{ .triple = "aarch64-macos-none", .name = "baseline", .cpu = "baseline" },
};

/// The benchmarks run on Linux machines of the CI class (x86_64, AVX2 or AVX-512).
pub const bench_variants = [_]Variant{
    .{ .triple = "x86_64-linux-gnu", .name = "x86_64_v4", .cpu = "x86_64_v4" },
    .{ .triple = "x86_64-linux-gnu", .name = "x86_64_v3", .cpu = "x86_64_v3" },
    .{ .triple = "x86_64-linux-gnu", .name = "baseline", .cpu = "x86_64" },
};

pub fn build(b: *std.Build) void {
    const only = b.option([]const u8, "variant", "Build only this <triple>/<variant>");
    const set = b.option([]const u8, "set", "kernels (default) or bench") orelse "kernels";
    const test_optimize = b.option(std.builtin.OptimizeMode, "test-optimize", "Optimize mode of the tests (default ReleaseSafe: fast, with safety checks)") orelse .ReleaseSafe;
    const bench = std.mem.eql(u8, set, "bench");
    if (!bench and !std.mem.eql(u8, set, "kernels")) @panic("-Dset must be kernels or bench");

    for (if (bench) &bench_variants else &variants) |v| {
        const id = b.fmt("{s}/{s}", .{ v.triple, v.name });
        if (only) |o| if (!std.mem.eql(u8, o, id)) continue;
        const query = std.Target.Query.parse(.{ .arch_os_abi = v.triple, .cpu_features = v.cpu }) catch
            @panic("bad target in build.zig");
        const target = b.resolveTargetQuery(query);
        const lib = b.addSharedLibrary(.{
            .name = if (bench) "engram-bench" else "engram",
            .root_source_file = b.path(if (bench) "src/bench.zig" else "src/library.zig"),
            .target = target,
            .optimize = .ReleaseFast,
            // No libc: the kernels need none, and page_allocator maps memory
            // with raw syscalls on Linux, so the .so has no glibc version floor.
            .link_libc = false,
            .strip = false, // keep .symtab so build.sh can prove no fma/fmaf is called
        });
        if (target.result.ofmt == .elf) lib.setVersionScript(b.path(if (bench) "src/bench_exports.map" else "src/exports.map"));
        const install = b.addInstallArtifact(lib, .{
            .dest_dir = .{ .override = .{ .custom = id } },
            .pdb_dir = .disabled,
            .h_dir = .disabled,
            .implib_dir = .disabled,
            .dylib_symlinks = false,
        });
        b.getInstallStep().dependOn(&install.step);
    }

    // The tests run on this machine, once per x86_64 CPU variant it can
    // execute (the exact targets the libraries are built for, so every code
    // path of every shipped build is tested here), or natively elsewhere.
    // Not "native" on x86_64: Zig 0.13 detects some AVX-512 VMs as the generic
    // model with AVX-512 but without evex512, where LLVM cannot place a 512-bit
    // inline-asm operand and crashes.
    const test_step = b.step("test", "Run the Zig unit tests");
    const host = b.host.result;
    const x86 = host.cpu.arch == .x86_64;
    const has = struct {
        fn all(cpu: std.Target.Cpu, comptime fs: []const std.Target.x86.Feature) bool {
            inline for (fs) |f| if (!std.Target.x86.featureSetHas(cpu.features, f)) return false;
            return true;
        }
    };
    const v3 = x86 and has.all(host.cpu, &.{ .avx, .avx2, .bmi, .bmi2, .f16c, .fma, .lzcnt, .movbe });
    const v4 = v3 and has.all(host.cpu, &.{ .avx512f, .avx512bw, .avx512cd, .avx512dq, .avx512vl });
    const test_cpus: []const []const u8 = if (!x86)
        &.{"native"}
    else if (v4)
        &.{ "x86_64_v4", "x86_64_v3", "x86_64" }
    else if (v3)
        &.{ "x86_64_v3", "x86_64" }
    else
        &.{"x86_64"};
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
