"""Unit tests of peers.py: the vectors it regenerates, and its report on synthetic rounds.

Run with `python3 -m unittest discover -s deploy/scripts/bench -p 'test_*.py'` (the deploy module's build does). The
data tests need numpy (the peer benchmark's venv has it) and are skipped without it.
"""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peers  # noqa: E402

try:
    import numpy
except ImportError:  # the system Python of the build has no numpy
    numpy = None


@unittest.skipIf(numpy is None, "numpy is not installed (the peer benchmark's venv has it)")
class SameVectorsTest(unittest.TestCase):
    # java.util.SplittableRandom(seed), (float) (nextDouble() * 2 - 1), as raw float bits (JDK 17).
    EXPECTED = {1: ["3e08516f", "3efbae37", "3f712746", "bde3e797", "bde44ab2"],
                -7: ["be1f0f3d", "bd2f0165", "3f506280", "bf2e6292", "3e06fbdf"]}

    def test_benchSupportFloatsAreReproducedBitForBit(self):
        for seed, bits in self.EXPECTED.items():
            v = peers.java_floats(numpy, seed, 5)
            self.assertEqual([f"{x:08x}" for x in v.view(numpy.uint32)], bits, f"seed {seed}")

    def test_chunkingDoesNotChangeTheStream(self):
        whole = peers.java_floats(numpy, 2, 1000)
        chunked = peers.java_floats(numpy, 2, 1000, chunk=7)
        self.assertTrue(numpy.array_equal(whole, chunked))

    def test_checksumWeighsEveryElementByItsPosition(self):
        v = numpy.array([1.0, 2.0], dtype=numpy.float32)
        want = (0x3F800000 * 1 + 0x40000000 * 3) % (1 << 64)
        self.assertEqual(peers.checksum(numpy, v), want)
        self.assertNotEqual(peers.checksum(numpy, v[::-1].copy()), want)


def jmh_entry(name, ns, **params):
    return {"benchmark": "io.engram.kernels.bench." + name, "params": {k: str(v) for k, v in params.items()},
            "primaryMetric": {"score": ns, "scoreError": 0.0, "scoreUnit": "ns/op", "rawData": [[ns, ns]]},
            "secondaryMetrics": {"cpuNanos": {"rawData": [[ns * 10, ns * 10]]}, "ops": {"rawData": [[10, 10]]}}}


class ReportTest(unittest.TestCase):
    def test_ratiosAgainstTheBestPeerAndTheCeilings(self):
        with tempfile.TemporaryDirectory() as d:
            n = 1000
            sim = {"dim": 768, "n": n}
            bat = {"b": 8, "dim": 768, "n": n, "residency": "hot"}
            fma = jmh_entry("CeilingBench.fmaPeak", 1000.0)
            fma["secondaryMetrics"]["flops"] = {"rawData": [[1e6, 1e6]]}  # 1e5 flops per op: 100 GFLOP/s
            entries = [jmh_entry("SimilarityBench.zigNormed", 40_000.0, **sim),
                       jmh_entry("SimilarityBench.zigNormedTop16", 50_000.0, **sim),
                       jmh_entry("SimilarityBench.zig", 80_000.0, **sim),
                       jmh_entry("SimilarityBench.ceiling", 30_000.0, **sim),
                       jmh_entry("BatchBench.zigNormedBatch", 200_000.0, **bat),
                       jmh_entry("BatchBench.zigNormedBatchTop16", 250_000.0, **bat),
                       jmh_entry("BatchBench.zigBatch", 400_000.0, **bat),
                       jmh_entry("JniBench.zigTinyNormed", 90.0), jmh_entry("JniBench.zigTinyCosine", 80.0),
                       jmh_entry("JniBench.nativeNoop", 8.0), fma]
            with open(os.path.join(d, "jmh-r1.json"), "w") as f:
                json.dump(entries, f)
            cases = {f"numpy_scores_1x{n}": 60_000.0, f"numpy_top16_1x{n}": 90_000.0,
                     f"faiss_top16_1x{n}": 75_000.0, f"numpy_scores_8x{n}": 300_000.0,
                     f"numpy_top16_8x{n}": 500_000.0, f"faiss_top16_8x{n}": 600_000.0,
                     f"faissblas_top16_8x{n}": 350_000.0}
            with open(os.path.join(d, "peers-r1.json"), "w") as f:
                json.dump({"round": 1, "numpy": "x", "faiss": "y", "bench_library": "z", "blas": "b",
                           "same_data_checked": 5,
                           "cases": {k: {"cpu_ns": v} for k, v in cases.items()},
                           "ceilings": {"fma_gflops": 99.0, f"sweep_{n}": {"cpu_ns": 31_000.0}}}, f)
            md = os.path.join(d, "peers.md")
            peers.main(["report", "--dir", d, "--out-dir", d, "--md", md, "--sizes", str(n),
                        "--batch-sizes", str(n), "--commit", "abc"])
            with open(os.path.join(d, "peers-results.json")) as f:
                data = json.load(f)
            rows = {(r["queries"], r["mode"]): r for r in data["rows"]}
            self.assertAlmostEqual(rows[(1, "scores")]["ratio"], 60_000 / 40_000)
            self.assertAlmostEqual(rows[(1, "top-16")]["ratio"], 75_000 / 50_000)  # FAISS was the best peer
            self.assertAlmostEqual(rows[(1, "scores")]["read_fraction"], 30_000 / 40_000)
            self.assertAlmostEqual(rows[(8, "scores")]["ratio"], 300_000 / 200_000)
            self.assertAlmostEqual(rows[(8, "top-16")]["ratio"], 350_000 / 250_000)  # FAISS's BLAS path
            # 2 · 8 · 1000 · 768 flops in 200 µs = 61.44 GFLOP/s of a 100 GFLOP/s peak.
            self.assertAlmostEqual(rows[(8, "scores")]["fma_fraction"], 0.6144)
            self.assertAlmostEqual(data["fma_gflops_jmh"], 100.0)
            with open(md, encoding="utf-8") as f:
                text = f.read()
            self.assertIn("**1.50×** (yes", text)
            self.assertIn("**1.40×** (**no**", text)
            self.assertTrue(os.path.exists(os.path.join(d, "peers.svg")))
            # benchmark_peers.sh reports twice from the same directory (into it, then into docs/): the first report's
            # peers-results.json is no round; a value starting with '-' passes in the --option=value form.
            docs = os.path.join(d, "docs")
            peers.main(["report", "--dir", d, "--out-dir", docs, "--md", os.path.join(docs, "peers.md"),
                        "--sizes", str(n), "--batch-sizes", str(n), "--jvm-flags=-XX:+UseTransparentHugePages"])
            with open(os.path.join(docs, "peers.md"), encoding="utf-8") as f:
                again = f.read()
            self.assertIn("**1.50×** (yes", again)
            self.assertIn("JVM flags `-XX:+UseTransparentHugePages`", again)

    def test_aMissingPeerRoundIsAnError(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "jmh-r1.json"), "w") as f:
                json.dump([], f)
            with self.assertRaises(SystemExit):
                peers.main(["report", "--dir", d, "--out-dir", d, "--md", os.path.join(d, "x.md")])


if __name__ == "__main__":
    unittest.main()
