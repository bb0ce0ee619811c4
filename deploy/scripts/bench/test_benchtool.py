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
          noop=8.0, tiny=80.0, normed=None):
    """The gate's suite; with normed={"zig": .., "java": .., "batch": .., "tiny": ..} also the stored-norm kernel's."""
    sim = {"dim": "768", "n": "10000"}
    batch = {"b": "8", "dim": "768", "n": "10000"}
    extra = [] if normed is None else [
        entry("SimilarityBench", "zigNormed", sim, [normed["zig"]] * 3),
        entry("SimilarityBench", "javaNormed", sim, [normed["java"]] * 3),
        entry("BatchBench", "zigNormedBatch", batch, [normed["batch"]] * 3),
        entry("JniBench", "zigTinyNormed", {}, [normed["tiny"]] * 3),
    ]
    return extra + [
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

    def ab(self, a_suites, b_suites, threshold=10.0):
        return benchtool.ab_compare(self.rounds(*a_suites), self.rounds(*b_suites), threshold)

    def verdicts(self, rows):
        return {r["ratio"]: r["verdict"] for r in rows}

    def test_a_a_passes(self):
        ok, rows, speeds = self.ab([suite()] * 3, [suite()] * 3)
        self.assertTrue(ok, rows)
        self.assertEqual({"ok"}, set(self.verdicts(rows).values()))
        self.assertAlmostEqual(1.0, speeds["SimilarityBench.zig[dim=768,n=10000]"])

    def test_a_machine_drift_that_moves_a_whole_round_passes(self):
        # Round 2 ran while the machine was 30% slower: both sides of every ratio moved, the ratios did not.
        slow = dict(zig_sim=1300.0, java_sim=10400.0, ceiling_sim=1170.0, zig_batch=2600.0, zig_loop=10400.0,
                    zig_spread=13.0, java_spread=39.0, zig_decay=130.0, java_decay=2600.0, ceiling_decay=65.0,
                    noop=10.4, tiny=104.0)
        ok, rows, _ = self.ab([suite(), suite(**slow), suite()], [suite(), suite(**slow), suite()])
        self.assertTrue(ok, rows)

    def test_a_25_percent_slower_kernel_in_b_fails_on_that_kernel_only(self):
        ok, rows, speeds = self.ab([suite()] * 3, [suite(zig_sim=1250.0)] * 3)
        self.assertFalse(ok)
        bad = sorted(k for k, v in self.verdicts(rows).items() if v == "REGRESSION")
        self.assertEqual(["vector_similarity_768d_10000c.zig_of_ceiling",
                          "vector_similarity_768d_10000c.zig_vs_java"], bad)
        self.assertAlmostEqual(0.8, speeds["SimilarityBench.zig[dim=768,n=10000]"])

    def test_the_change_is_the_median_of_the_paired_rounds(self):
        # One round of B is 30% slow (a noise spike), the other two are equal to A: the median ignores the spike.
        ok, rows, _ = self.ab([suite()] * 3, [suite(), suite(zig_decay=143.0), suite()])
        self.assertTrue(ok, rows)
        row = next(r for r in rows if r["ratio"] == "decay_calculation_1000000m.zig_vs_java")
        self.assertAlmostEqual(0.0, row["change"])
        self.assertEqual(3, len(row["changes"]))
        self.assertLess(row["changes"][1], -29.0)

    def test_rounds_are_paired_not_pooled(self):
        # A's Java was slow in round 1 only and B's in round 2 only: pooled medians would agree, but each pair
        # (measured back to back) shows the truth, which here is no change.
        ok, rows, _ = self.ab([suite(java_sim=16000.0), suite()], [suite(java_sim=16000.0), suite()])
        self.assertTrue(ok, rows)
        row = next(r for r in rows if r["ratio"] == "vector_similarity_768d_10000c.zig_vs_java")
        self.assertEqual([0.0, 0.0], [round(c, 9) for c in row["changes"]])

    def test_the_threshold_is_honoured(self):
        ok, _, _ = self.ab([suite()], [suite(zig_sim=1060.0)], threshold=7.0)  # ratios -5.7%
        self.assertTrue(ok)
        ok, _, _ = self.ab([suite()], [suite(zig_sim=1060.0)], threshold=5.0)
        self.assertFalse(ok)

    def test_improvements_pass(self):
        ok, rows, _ = self.ab([suite()] * 2, [suite(zig_sim=500.0, zig_decay=50.0)] * 2)
        self.assertTrue(ok, rows)

    def test_a_ratio_missing_in_b_fails_and_a_new_one_does_not(self):
        no_spread = [e for e in suite() if "SpreadBench" not in e["benchmark"]]
        ok, rows, _ = self.ab([suite()], [no_spread])
        self.assertFalse(ok)
        self.assertEqual("MISSING", self.verdicts(rows)["spreading_activation_1000n.zig_vs_java"])
        ok, rows, _ = self.ab([no_spread], [suite()])
        self.assertTrue(ok, rows)
        self.assertEqual("NEW", self.verdicts(rows)["spreading_activation_1000n.zig_vs_java"])

    def test_the_stored_norm_kernel_is_gated_and_new_against_a_baseline_without_it(self):
        normed = {"zig": 700.0, "java": 6000.0, "batch": 1500.0, "tiny": 90.0}
        ok, rows, _ = self.ab([suite(normed=normed)] * 3, [suite(normed=dict(normed, zig=875.0))] * 3)
        self.assertFalse(ok)
        bad = sorted(k for k, v in self.verdicts(rows).items() if v == "REGRESSION")
        self.assertEqual(["vector_similarity_768d_10000c.normed_of_ceiling",
                          "vector_similarity_768d_10000c.normed_zig_vs_java"], bad)
        ok, rows, _ = self.ab([suite(normed=normed)] * 3, [suite(normed=dict(normed, batch=1875.0, tiny=112.5))] * 3)
        self.assertFalse(ok)
        bad = sorted(k for k, v in self.verdicts(rows).items() if v == "REGRESSION")
        self.assertEqual(["jni_overhead.noop_of_normed_call",
                          "vector_similarity_batch8_768d_10000c.normed_batch_vs_loop"], bad)
        # The baseline commit predates the stored-norm benchmarks: their ratios are NEW, which does not fail.
        ok, rows, _ = self.ab([suite()], [suite(normed=normed)])
        self.assertTrue(ok, rows)
        self.assertEqual("NEW", self.verdicts(rows)["vector_similarity_768d_10000c.normed_zig_vs_java"])
        self.assertEqual("NEW", self.verdicts(rows)["vector_similarity_batch8_768d_10000c.normed_batch_vs_loop"])

    def test_unequal_rounds_are_refused(self):
        with self.assertRaises(ValueError):
            self.ab([suite()] * 2, [suite()])

    def test_main_reads_the_round_files_names_both_commits_and_exits_by_verdict(self):
        d = self.tmp.name
        for r in (1, 2):
            by_group = {"similarity": [e for e in suite() if "SimilarityBench" in e["benchmark"]],
                        "rest": [e for e in suite() if "SimilarityBench" not in e["benchmark"]]}
            for g, entries in by_group.items():
                self.write(f"A-r{r}-{g}.json", entries)
                slow = [dict(e) for e in entries]
                if g == "similarity":
                    slow = suite(zig_sim=1300.0)[:3]
                self.write(f"B-r{r}-{g}.json", slow)
        report = os.path.join(d, "report.md")
        args = ["ab", "--dir", d, "--rounds", "2", "--threshold", "10", "--commit-a", "aaaa111",
                "--commit-b", "bbbb222+uncommitted changes", "--java", "/nonexistent/java", "--report", report]
        self.assertEqual(1, benchtool.main(args))
        with open(report, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("A (baseline): `aaaa111`", text)
        self.assertIn("B (current):  `bbbb222+uncommitted changes`", text)
        self.assertIn("transparent huge pages", text)
        self.assertIn("benchmark gate: FAILED", text)
        self.assertEqual(2, benchtool.main(args[:4] + ["3"] + args[5:]))  # round 3 has no files

    def ab_confirmed(self, a_suites, b_suites, a_confirm, b_confirm, threshold=10.0):
        return benchtool.ab_compare(self.rounds(*a_suites), self.rounds(*b_suites), threshold,
                                    self.rounds(*a_confirm), self.rounds(*b_confirm))

    def test_a_flagged_ratio_that_confirmation_rounds_do_not_repeat_was_noise(self):
        # Two of three first rounds were unlucky for B's Zig similarity (median -20%); three fresh rounds of that
        # group alone show no change: not a regression, and the report keeps both medians.
        unlucky = suite(zig_sim=1250.0)
        ok, rows, _ = self.ab_confirmed([suite()] * 3, [unlucky, unlucky, suite()], [suite()] * 3, [suite()] * 3)
        self.assertTrue(ok, rows)
        row = next(r for r in rows if r["ratio"] == "vector_similarity_768d_10000c.zig_vs_java")
        self.assertEqual("ok (not confirmed)", row["verdict"])
        self.assertAlmostEqual(-20.0, row["change"])
        self.assertAlmostEqual(0.0, row["confirm_change"])
        self.assertEqual(3, len(row["confirm_changes"]))

    def test_a_real_slowdown_fails_the_confirmation_too(self):
        slow = suite(zig_sim=1250.0)
        ok, rows, _ = self.ab_confirmed([suite()] * 3, [slow] * 3, [suite()] * 5, [slow, suite(), slow, slow, slow])
        self.assertFalse(ok)
        row = next(r for r in rows if r["ratio"] == "vector_similarity_768d_10000c.zig_vs_java")
        self.assertEqual("REGRESSION", row["verdict"])
        self.assertAlmostEqual(-20.0, row["confirm_change"])

    def test_a_flagged_ratio_without_confirmation_rounds_of_its_group_fails(self):
        # The confirmation re-ran only the decay group: the similarity drop stands unconfirmed either way.
        decay_only = [e for e in suite() if "DecayBench" in e["benchmark"]]
        ok, rows, _ = self.ab_confirmed([suite()] * 3, [suite(zig_sim=1250.0)] * 3, [decay_only] * 2,
                                        [decay_only] * 2)
        self.assertFalse(ok)
        self.assertEqual("REGRESSION", self.verdicts(rows)["vector_similarity_768d_10000c.zig_vs_java"])
        self.assertNotIn("confirm_change", next(r for r in rows if r["ratio"].endswith("10000c.zig_vs_java")))

    def test_every_gated_ratio_belongs_to_one_benchmark_group(self):
        normed = {"zig": 700.0, "java": 6000.0, "batch": 1500.0, "tiny": 90.0}
        names = benchtool.ratios(self.rounds(suite(normed=normed)))
        groups = {name: benchtool.group_of_ratio(name) for name in names}
        self.assertEqual("batch", groups["vector_similarity_batch8_768d_10000c.batch_vs_loop"])
        self.assertEqual("similarity", groups["vector_similarity_768d_10000c.normed_zig_vs_java"])
        self.assertEqual("spreading", groups["spreading_activation_1000n.zig_vs_java"])
        self.assertEqual("decay", groups["decay_calculation_1000000m.zig_of_ceiling"])
        self.assertEqual("jni", groups["jni_overhead.noop_of_normed_call"])
        # The shell script's group names: every one is a group the script runs.
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmark_regression.sh")
        with open(script, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("groups=(similarity batch spreading decay jni)", text)
        self.assertEqual({"similarity", "batch", "spreading", "decay", "jni"}, set(groups.values()))
        with self.assertRaises(ValueError):
            benchtool.group_of_ratio("something_else.zig_vs_java")

    def test_main_names_the_groups_to_confirm_then_judges_with_the_confirmation_rounds(self):
        d = self.tmp.name

        def write_round(label, b_similarity):
            for side, sim in (("A", suite()), ("B", b_similarity)):
                self.write(f"{side}-{label}-similarity.json", [e for e in sim if "SimilarityBench" in e["benchmark"]])
                if label.startswith("r"):
                    self.write(f"{side}-{label}-rest.json", [e for e in suite() if "SimilarityBench" not in
                                                             e["benchmark"]])

        for r in (1, 2, 3):
            write_round(f"r{r}", suite(zig_sim=1300.0) if r < 3 else suite())
        flagged = os.path.join(d, "flagged.txt")
        base = ["ab", "--dir", d, "--rounds", "3", "--threshold", "10", "--commit-a", "a", "--commit-b", "b",
                "--java", "/nonexistent/java"]
        self.assertEqual(1, benchtool.main(base + ["--flagged-out", flagged]))
        with open(flagged, encoding="utf-8") as f:
            self.assertEqual("similarity", f.read().strip())
        self.assertFalse(os.path.exists(os.path.join(d, "report.md")))
        for c in (1, 2, 3, 4):
            write_round(f"c{c}", suite())
        report = os.path.join(d, "report.md")
        self.assertEqual(0, benchtool.main(base + ["--confirm-rounds", "4", "--report", report]))
        with open(report, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("ok (not confirmed)", text)
        self.assertIn("confirmation: median +0.0% over 4 rounds", text)
        self.assertIn("benchmark gate: PASSED", text)
        self.assertEqual(2, benchtool.main(base + ["--confirm-rounds", "5"]))  # confirmation round 5 has no files
        # Nothing flagged: an empty line, exit 0.
        lenient = ["ab", "--dir", d, "--rounds", "3", "--threshold", "40", "--commit-a", "a", "--commit-b", "b",
                   "--java", "/nonexistent/java", "--flagged-out", flagged]
        self.assertEqual(0, benchtool.main(lenient))
        with open(flagged, encoding="utf-8") as f:
            self.assertEqual("", f.read().strip())

    def test_fingerprint_names_the_machine(self):
        fp = benchtool.fingerprint("/nonexistent/java")
        for k in ("cpu", "cpu_id", "cores", "caches", "cpu_flags", "thp", "os", "jdk"):
            self.assertIn(k, fp)

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
