package io.engram.kernels;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PlatformTest {
    /** A real Zen 3 / Ice Lake class line: all of x86-64-v3 plus AVX-512F. */
    private static final String X86_V3_CPUINFO = String.join("\n",
            "processor\t: 0",
            "vendor_id\t: GenuineIntel",
            "model name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
            "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse"
                    + " sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid"
                    + " aperfmperf pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt"
                    + " tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch"
                    + " invpcid_single ssbd ibrs ibpb stibp ibrs_enhanced fsgsbase tsc_adjust bmi1 avx2 smep bmi2"
                    + " erms invpcid avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni",
            "bugs\t\t: spectre_v1 spectre_v2",
            "",
            "processor\t: 1",
            "flags\t\t: fpu sse sse2",
            "");

    /** A Westmere-class line: SSE4.2 but no AVX at all. */
    private static final String X86_OLD_CPUINFO =
            "processor : 0\nflags : fpu vme de pse tsc msr sse sse2 ssse3 cx16 sse4_1 sse4_2 popcnt aes lahf_lm\n";

    private static final String AARCH64_CPUINFO = String.join("\n",
            "processor\t: 0",
            "BogoMIPS\t: 243.75",
            "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop"
                    + " asimddp ssbs",
            "CPU implementer\t: 0x41",
            "");

    @Test
    void mapsOsAndArchNames() {
        assertThat(Platform.from("Linux", "amd64", "", false).triple()).isEqualTo("x86_64-linux-gnu");
        assertThat(Platform.from("Linux", "x86_64", "", false).triple()).isEqualTo("x86_64-linux-gnu");
        assertThat(Platform.from("Linux", "aarch64", "", false).triple()).isEqualTo("aarch64-linux-gnu");
        assertThat(Platform.from("Linux", "arm64", "", false).triple()).isEqualTo("aarch64-linux-gnu");
        assertThat(Platform.from("Mac OS X", "x86_64", "", false).triple()).isEqualTo("x86_64-macos-none");
        assertThat(Platform.from("Mac OS X", "aarch64", "", false).triple()).isEqualTo("aarch64-macos-none");
        assertThat(Platform.from("Darwin", "arm64", "", false).triple()).isEqualTo("aarch64-macos-none");
    }

    @Test
    void recordComponentsAreTheNormalisedNames() {
        Platform platform = Platform.from("Linux", "amd64", X86_V3_CPUINFO, false);
        assertThat(platform.os()).isEqualTo("linux");
        assertThat(platform.arch()).isEqualTo("x86_64");
        assertThat(platform.abi()).isEqualTo("gnu");
        assertThat(platform.supported()).isTrue();
        assertThat(platform.unsupportedReason()).isEmpty();
    }

    @Test
    void parsesX86FlagsWithAvx2AndFma() {
        Platform platform = Platform.from("Linux", "amd64", X86_V3_CPUINFO, false);
        assertThat(platform.cpuFeatures()).contains("avx2", "fma", "avx512f", "sse4_2").doesNotContain("neon");
        assertThat(platform.cpuFeatures()).containsAll(Platform.X86_64_V3_FEATURES);
        // Only tracked features are reported, not the 100+ raw flags.
        assertThat(platform.cpuFeatures()).doesNotContain("fpu", "sha_ni", "avx512ifma");
        // AVX-512 F, DQ and CD but (in this line) no BW and VL: not the full v4 level.
        assertThat(platform.variants()).containsExactly("x86_64_v3", "baseline");
    }

    @Test
    void theFullAvx512LevelPrefersTheV4Build() {
        String v4 = X86_V3_CPUINFO.replace(" sha_ni", " sha_ni avx512bw avx512vl");
        Platform platform = Platform.from("Linux", "amd64", v4, false);
        assertThat(platform.cpuFeatures()).containsAll(Platform.X86_64_V4_FEATURES);
        assertThat(platform.variants()).containsExactly("x86_64_v4", "x86_64_v3", "baseline");
        // Each AVX-512 part is required: without VL it is v3 again.
        String noVl = X86_V3_CPUINFO.replace(" sha_ni", " sha_ni avx512bw");
        assertThat(Platform.from("Linux", "amd64", noVl, false).variants()).containsExactly("x86_64_v3", "baseline");
    }

    @Test
    void onlyTheFirstFlagsLineCounts() {
        // The second processor in X86_V3_CPUINFO lists only SSE; the first line decides.
        assertThat(Platform.from("Linux", "amd64", X86_V3_CPUINFO, false).hasFeature("avx2")).isTrue();
    }

    @Test
    void x86WithoutAvx2OrFmaGetsBaselineOnly() {
        Platform old = Platform.from("Linux", "amd64", X86_OLD_CPUINFO, false);
        assertThat(old.cpuFeatures()).containsExactly("sse4_2");
        assertThat(old.variants()).containsExactly("baseline");

        Platform noFma = Platform.from("Linux", "amd64", X86_V3_CPUINFO.replace(" fma ", " "), false);
        assertThat(noFma.hasFeature("fma")).isFalse();
        assertThat(noFma.hasFeature("avx2")).isTrue();
        assertThat(noFma.variants()).containsExactly("baseline");

        Platform noAvx2 = Platform.from("Linux", "amd64", X86_V3_CPUINFO.replace(" avx2 ", " "), false);
        assertThat(noAvx2.hasFeature("avx2")).isFalse();
        assertThat(noAvx2.variants()).containsExactly("baseline");
    }

    @Test
    void everyX86_64V3PrerequisiteIsRequiredNotJustAvx2AndFma() {
        // A hypervisor may hide BMI2 while passing AVX2 and FMA through; v3 code would then die with SIGILL.
        for (String feature : Platform.X86_64_V3_FEATURES) {
            String raw = feature.equals("lzcnt") ? "abm" : feature;
            String cpuinfo = X86_V3_CPUINFO.replace(" " + raw + " ", " ");
            Platform platform = Platform.from("Linux", "amd64", cpuinfo, false);
            assertThat(platform.hasFeature(feature)).as(feature).isFalse();
            assertThat(platform.variants()).as("without " + feature).containsExactly("baseline");
        }
    }

    @Test
    void minimalV3FlagSetIsEnough() {
        Platform platform = Platform.from("Linux", "x86_64",
                "flags : avx avx2 bmi1 bmi2 f16c fma abm movbe", false);
        assertThat(platform.hasFeature("lzcnt")).as("abm is Linux's name for LZCNT").isTrue();
        assertThat(platform.variants()).containsExactly("x86_64_v3", "baseline");
    }

    @Test
    void parsesAarch64FeaturesAsimdAsNeon() {
        Platform platform = Platform.from("Linux", "aarch64", AARCH64_CPUINFO, false);
        assertThat(platform.cpuFeatures()).containsExactly("neon");
        assertThat(platform.variants()).containsExactly("baseline");
        assertThat(platform.triple()).isEqualTo("aarch64-linux-gnu");
    }

    @Test
    void aarch64WithoutCpuinfoStillGetsBaseline() {
        assertThat(Platform.from("Linux", "aarch64", "", false).variants()).containsExactly("baseline");
    }

    @Test
    void macosHasNoCpuinfoSoOnlyBaseline() {
        // Even if someone passes x86 flags, they are not read off Linux: we only trust what we can detect.
        Platform mac = Platform.from("Mac OS X", "x86_64", X86_V3_CPUINFO, false);
        assertThat(mac.cpuFeatures()).isEmpty();
        assertThat(mac.abi()).isEqualTo("none");
        assertThat(mac.variants()).containsExactly("baseline");
        assertThat(mac.supported()).isTrue();
    }

    @Test
    void muslIsReportedAndUnsupported() {
        Platform musl = Platform.from("Linux", "amd64", X86_V3_CPUINFO, true);
        assertThat(musl.abi()).isEqualTo("musl");
        assertThat(musl.triple()).isEqualTo("x86_64-linux-musl");
        assertThat(musl.supported()).isFalse();
        assertThat(musl.unsupportedReason()).get().asString().contains("musl");
    }

    @Test
    void muslFlagIsIgnoredOffLinux() {
        assertThat(Platform.from("Mac OS X", "aarch64", "", true).abi()).isEqualTo("none");
    }

    @Test
    void unknownOsIsReportedAndUnsupported() {
        Platform windows = Platform.from("Windows 11", "amd64", "", false);
        assertThat(windows.os()).isEqualTo("windows11");
        assertThat(windows.abi()).isEqualTo("unknown");
        assertThat(windows.triple()).isEqualTo("x86_64-windows11-unknown");
        assertThat(windows.supported()).isFalse();
        assertThat(windows.unsupportedReason()).get().asString().contains("windows11").contains("linux and macos");
        assertThat(windows.cpuFeatures()).isEmpty();
    }

    @Test
    void unknownArchIsReportedAndUnsupportedWithNoVariants() {
        Platform power = Platform.from("Linux", "ppc64le", "", false);
        assertThat(power.arch()).isEqualTo("ppc64le");
        assertThat(power.triple()).isEqualTo("ppc64le-linux-gnu");
        assertThat(power.supported()).isFalse();
        assertThat(power.unsupportedReason()).get().asString().contains("ppc64le");
        assertThat(power.variants()).isEmpty();
    }

    @Test
    void emptyOrNullNamesBecomeUnknown() {
        Platform nothing = Platform.from("", null, null, false);
        assertThat(nothing.triple()).isEqualTo("unknown-unknown-unknown");
        assertThat(nothing.supported()).isFalse();
    }

    @Test
    void cpuFeaturesAreImmutableAndSorted() {
        Set<String> input = new HashSet<>(Set.of("fma", "avx2"));
        Platform platform = new Platform("linux", "x86_64", "gnu", input);
        input.add("neon");
        assertThat(platform.cpuFeatures()).containsExactly("avx2", "fma");
        assertThatThrownBy(() -> platform.cpuFeatures().add("x")).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void currentPlatformIsConsistentWithTheJvm() throws Exception {
        Platform current = Platform.current();
        assertThat(current.triple()).isEqualTo(current.arch() + "-" + current.os() + "-" + current.abi());
        if (current.supported()) {
            assertThat(current.variants()).isNotEmpty().endsWith("baseline");
        }
        if (System.getProperty("os.name").startsWith("Linux")) {
            String maps = Files.readString(Path.of("/proc/self/maps"));
            assertThat(current.abi()).isEqualTo(maps.contains("ld-musl-") ? "musl" : "gnu");
            String arch = System.getProperty("os.arch");
            assertThat(current.arch()).isEqualTo(arch.equals("amd64") ? "x86_64" : arch);
        }
    }
}
