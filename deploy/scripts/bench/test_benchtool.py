"""Unit tests of the benchmark gate's comparison and the report writer.

Run: python3 -m unittest discover -s deploy/scripts/bench -v
"""
import json
import os
import tempfile
import unittest

import benchtool

FP = {"cpu": "AMD EPYC", "cores": 2, "jdk": "Debian 17.0.15", "cpu_flags": "avx2+fma", "os": "Linux"}


def entry(cls, method, params, samples, unit="ns/op"):
    return {
        "benchmark": f"io.engram.kernels.bench.{cls}.{method}",
        "params": params,
        "primaryMetric": {"score": sum(samples) / len(samples), "scoreError": 1.0, "scoreUnit": unit,
                          "rawData": [samples]},
    }


def suite(zig_sim=1000.0, java_sim=8000.0, ceiling_sim=900.0, zig_batch=2000.0, zig_loop=8000.0,
          zig_spread=10.0, java_spread=30.0, zig_decay=100.0, java_decay=2000.0, ceiling_decay=50.0,
          noop=8.0, tiny=80.0):
    sim = {"dim": "768", "n": "10000"}
    batch = {"b": "8", "dim": "768", "n": "10000"}
    return [
        entry("SimilarityBench", "zig", sim, [zig_sim, zig_sim * 1.01, zig_sim * 0.99]),
        entry("SimilarityBench", "java", sim, [java_sim] * 3),
        entry("SimilarityBench", "ceiling", sim, [ceiling_sim] * 3),
        entry("BatchBench", "zigBatch", batch, [zig_batch] * 3),
        entry("BatchBench", "zigLoop", batch, [zig_loop] * 3),
        entry("SpreadBench", "zig", {"nodes": "1000"}, [zig_spread] * 3),
        entry("SpreadBench", "java", {"nodes": "1000"}, [java_spread] * 3),
        entry("DecayBench", "zig", {"m": "1000000"}, [zig_decay] * 3),
        entry("DecayBench", "java", {"m": "1000000"}, [java_decay] * 3),
        entry("DecayBench", "ceiling", {"m": "1000000"}, [ceiling_decay] * 3),
        entry("JniBench", "nativeNoop", {}, [noop] * 3),
        entry("JniBench", "zigTinyCosine", {}, [tiny] * 3),
    ]


class BenchToolTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def write(self, name, data):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f)
        return path

    def baseline(self, **kw):
        rounds = benchtool.load_rounds([self.write("base.json", suite(**kw))])
        return benchtool.make_baseline(rounds, FP, {"rounds": 1})

    def rounds(self, *suites):
        return benchtool.load_rounds([self.write(f"r{i}.json", s) for i, s in enumerate(suites)])

    def test_keys_names_and_medians(self):
        r = self.rounds(suite())[0]
        key = "SimilarityBench.zig[dim=768,n=10000]"
        self.assertIn(key, r)
        self.assertAlmostEqual(r[key]["median"], 1000.0)
        self.assertEqual(benchtool.split_key(key), ("SimilarityBench", "zig", {"dim": "768", "n": "10000"}))
        self.assertEqual(benchtool.case_name("SimilarityBench", {"dim": "768", "n": "1000"}),
                         "vector_similarity_768d_1000c")
        self.assertEqual(benchtool.case_name("SpreadBench", {"nodes": "100000"}), "spreading_activation_100000n")
        self.assertEqual(benchtool.case_name("DecayBench", {"m": "10000"}), "decay_calculation_10000m")

    def test_cpu_time_per_op_is_preferred_when_measured(self):
        e = entry("SpreadBench", "zig", {"nodes": "1000"}, [9000.0, 6000.0])
        e["secondaryMetrics"] = {"cpuNanos": {"rawData": [[8.0e8, 4.4e8]]}, "ops": {"rawData": [[2.0e5, 1.0e5]]}}
        r = benchtool.parse_jmh([e])["SpreadBench.zig[nodes=1000]"]
        self.assertEqual("cpu", r["metric"])
        self.assertAlmostEqual(r["median"], 4200.0)  # median of 4000 and 4400 ns/op
        self.assertAlmostEqual(r["wall_median"], 7500.0)

    def test_units_are_normalised_to_ns(self):
        r = benchtool.parse_jmh([entry("DecayBench", "zig", {"m": "10"}, [2.0], unit="us/op")])
        self.assertAlmostEqual(r["DecayBench.zig[m=10]"]["median"], 2000.0)

    def test_ratios_are_higher_is_better(self):
        ratios = benchtool.ratios(self.rounds(suite()))
        self.assertAlmostEqual(ratios["vector_similarity_768d_10000c.zig_vs_java"]["value"], 8.0)
        self.assertAlmostEqual(ratios["vector_similarity_768d_10000c.zig_of_ceiling"]["value"], 0.9)
        self.assertAlmostEqual(ratios["vector_similarity_batch8_768d_10000c.batch_vs_loop"]["value"], 4.0)
        self.assertAlmostEqual(ratios["jni_overhead.noop_of_call"]["value"], 0.1)

    def test_ratio_is_the_median_over_rounds(self):
        ratios = benchtool.ratios(self.rounds(suite(java_sim=8000), suite(java_sim=12000), suite(java_sim=7000)))
        self.assertAlmostEqual(ratios["vector_similarity_768d_10000c.zig_vs_java"]["value"], 8.0)

    def test_unchanged_run_passes(self):
        ok, lines = benchtool.compare(self.baseline(), self.rounds(suite()), FP, 5.0)
        self.assertTrue(ok, "\n".join(lines))

    def test_noise_that_moves_both_sides_passes(self):
        # The whole machine 30% slower: absolute scores moved, ratios did not.
        slow = {k: v * 1.3 for k, v in dict(zig_sim=1000.0, java_sim=8000.0, ceiling_sim=900.0, zig_batch=2000.0,
                                            zig_loop=8000.0, zig_spread=10.0, java_spread=30.0, zig_decay=100.0,
                                            java_decay=2000.0, ceiling_decay=50.0, noop=8.0, tiny=80.0).items()}
        ok, lines = benchtool.compare(self.baseline(), self.rounds(suite(**slow)), FP, 5.0)
        self.assertTrue(ok, "\n".join(lines))

    def test_a_25_percent_slower_kernel_fails(self):
        ok, lines = benchtool.compare(self.baseline(), self.rounds(suite(zig_sim=1250.0)), FP, 5.0)
        self.assertFalse(ok)
        bad = [line for line in lines if "REGRESSION" in line]
        self.assertEqual(2, len(bad), "\n".join(lines))  # zig_vs_java and zig_of_ceiling
        self.assertTrue(all("vector_similarity_768d_10000c" in line for line in bad))

    def test_a_drop_within_the_threshold_passes_and_the_threshold_is_honoured(self):
        base = self.baseline()
        ok, _ = benchtool.compare(base, self.rounds(suite(zig_sim=1040.0)), FP, 5.0)
        self.assertTrue(ok)
        ok, _ = benchtool.compare(base, self.rounds(suite(zig_sim=1040.0)), FP, 3.0)
        self.assertFalse(ok)

    def test_round_to_round_noise_widens_the_allowed_drop_up_to_the_cap(self):
        self.assertEqual(5.0, benchtool.allowed_drop(5.0, [1.0], [1.0]))
        self.assertEqual(5.0, benchtool.allowed_drop(5.0, [1.0, 1.02, 0.99], [1.0, 1.01]))
        self.assertAlmostEqual(10.0, benchtool.allowed_drop(5.0, [0.9, 1.0, 1.1], [1.0]))
        self.assertEqual(15.0, benchtool.allowed_drop(5.0, [0.5, 1.0, 1.5], [1.0]))  # capped
        self.assertEqual(5.0, benchtool.allowed_drop(5.0, [0.5, 1.0, 1.5], [1.0], strict=True))
        self.assertEqual(15.0, benchtool.allowed_drop(15.0, [0.5, 1.0, 1.5], [1.0]))  # --smoke: no widening
        self.assertEqual(20.0, benchtool.allowed_drop(20.0, [0.5, 1.0, 1.5], [1.0]))
        base = self.baseline()
        base["ratios"]["vector_similarity_768d_10000c.zig_of_ceiling"]["rounds"] = [0.8, 0.9, 1.0]
        noisy_drop = self.rounds(suite(zig_sim=1080.0))  # zig_of_ceiling 0.9 -> 0.833 (-7.4%), zig_vs_java -7.4%
        ok, lines = benchtool.compare(base, noisy_drop, FP, 5.0)
        self.assertFalse(ok)  # zig_vs_java has no recorded noise: 5% applies
        verdicts = {line.split()[0]: line.split()[-1] for line in lines if line.startswith("vector_similarity_768d")}
        self.assertEqual("ok", verdicts["vector_similarity_768d_10000c.zig_of_ceiling"])
        self.assertEqual("REGRESSION", verdicts["vector_similarity_768d_10000c.zig_vs_java"])
        ok, lines = benchtool.compare(base, self.rounds(suite(zig_sim=1250.0)), FP, 5.0)
        self.assertFalse(ok, "a 25% slowdown (-20% ratios) exceeds even the widest allowance")

    def test_improvements_pass(self):
        ok, _ = benchtool.compare(self.baseline(), self.rounds(suite(zig_sim=500.0, zig_decay=50.0)), FP, 5.0)
        self.assertTrue(ok)

    def test_a_missing_ratio_fails(self):
        partial = [e for e in suite() if "SpreadBench" not in e["benchmark"]]
        ok, lines = benchtool.compare(self.baseline(), self.rounds(partial), FP, 5.0)
        self.assertFalse(ok)
        self.assertTrue(any(line.startswith("MISSING") and "spreading" in line for line in lines))

    def test_absolute_scores_only_on_the_same_machine(self):
        base = self.baseline()
        slower = self.rounds(suite(zig_sim=1300.0, java_sim=10400.0, ceiling_sim=1170.0))
        ok, lines = benchtool.compare(base, slower, FP, 5.0, absolute=True)
        self.assertFalse(ok, "same machine, every similarity score 30% slower")
        other = dict(FP, cpu="Intel Xeon")
        ok, lines = benchtool.compare(base, slower, other, 5.0, absolute=True)
        self.assertTrue(ok, "\n".join(lines))
        self.assertTrue(any("fingerprint differs" in line for line in lines))

    def test_baseline_round_trips_and_main_exit_codes(self):
        res = self.write("run.json", suite())
        out = os.path.join(self.tmp.name, "baseline.json")
        self.assertEqual(0, benchtool.main(["baseline", "--out", out, "--java", "/nonexistent/java", res]))
        with open(out, encoding="utf-8") as f:
            data = json.load(f)
        self.assertEqual(benchtool.SCHEMA, data["schema"])
        self.assertIn("cpu", data["fingerprint"])
        self.assertIn("SimilarityBench.zig[dim=768,n=10000]", data["scores"])
        self.assertEqual(0, benchtool.main(["compare", "--baseline", out, "--java", "/nonexistent/java", res]))
        slow = self.write("slow.json", suite(zig_decay=125.0))
        self.assertEqual(1, benchtool.main(["compare", "--baseline", out, "--java", "/nonexistent/java", slow]))

    def test_report_writes_markdown_and_svg(self):
        full = suite() + [
            entry("SimilarityBench", "lucene", {"dim": "768", "n": "10000"}, [4000.0]),
            entry("SimilarityBench", "zig", {"dim": "768", "n": "1000"}, [100.0]),
            entry("SimilarityBench", "java", {"dim": "768", "n": "1000"}, [900.0]),
        ]
        rounds = self.rounds(full)
        md = os.path.join(self.tmp.name, "kernels.md")
        benchtool.report(rounds, FP, {"Zig": "0.13.0", "_notes": "## Notes\nabc"}, self.tmp.name, md)
        with open(md, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("vector_similarity_768d_10000c", text)
        self.assertIn("| similarity 768d×1k: Zig vs Java | >= 8 | 9.00 | yes |", text)
        self.assertIn("| JNI: tiny Zig call (cosine N=1, dim 8), ns | <= 100 | 80.00 | yes |", text)
        self.assertIn("## Notes", text)
        self.assertNotIn("_notes", text)
        for svg in ("kernels-similarity.svg", "kernels-similarity-gbps.svg", "kernels-batch.svg",
                    "kernels-spread-decay.svg"):
            with open(os.path.join(self.tmp.name, svg), encoding="utf-8") as f:
                content = f.read()
            self.assertTrue(content.startswith("<svg") and content.rstrip().endswith("</svg>"), svg)
            self.assertIn("<rect", content)


if __name__ == "__main__":
    unittest.main()
