"""Unit tests of the end-to-end benchmark's checks and report writer.

Run: python3 -m unittest discover -s deploy/scripts/bench -v
"""
import copy
import os
import tempfile
import unittest

import e2etool


def run(mode, qps, p99, shape=(10000, 768, 4)):
    m, d, s = shape
    return {
        "shape": {"memories": m, "dim": d, "spaces": s, "label": f"{m // 1000}k x {d}d"},
        "mode": mode,
        "ingest": {"events": m * s, "produce_s": 3.0, "applied_s": 5.0, "events_per_s": m * s / 5.0,
                   "mb": m * s * d * 4 / 1e6},
        "saturation": {"qps": qps, "latency_ms": {"p50": 40.0, "p99": 90.0}, "job_cpu_cores": 1.5,
                       "driver_cpu_cores": 0.4, "queries_per_job_cpu_s": qps / 1.5,
                       "job_compute_ms": {"p50": 600.0 / qps}},
        "open_loop": {"target_qps": qps * 0.8, "achieved_qps": qps * 0.79, "max_send_lag_ms": 1.0,
                      "latency_ms": {"p50": p99 / 4, "p95": p99 / 2, "p99": p99, "max": p99 * 2},
                      "committed_latency_ms": {"p50": 5000.0, "p95": 9000.0, "p99": 9900.0},
                      "job_compute_ms": {"p50": 2.0, "p99": 4.0}},
        "verification": {"queries": 1000, "committed_exactly_once": 1000, "committed_missing": 0,
                         "committed_duplicates": 0, "uncommitted_missing": 0, "uncommitted_duplicates": 0,
                         "unknown_results": 0, "dead_letters": 0, "wrong_kernel_mode": 0, "ok": True},
        "ok": True,
    }


def doc(zig_qps=600.0, java_qps=150.0, zig_p99=30.0, java_p99=80.0):
    return {
        "schema": "engram-e2e-bench/1", "date": "2026-11-24T23:00:00Z", "preset": "full", "command": "x",
        "note": "machine loaded",
        "machine": {"cpu": "AMD EPYC", "cores": 2, "cpu_flags": "avx2+fma", "memory_gib": 23.4, "os": "Linux",
                    "jdk": "17", "load_average_start": "1 1 1", "load_average_end": "2 2 2"},
        "versions": {"flink": "2.2.1", "kafka": "4.2.2", "java": "17"},
        "config": {"parallelism": 2, "job_heap": "2g", "warmup_s": 10, "saturation_s": 20, "open_loop_s": 30,
                   "in_flight": 128, "load": 0.8, "k": 10, "seed": 42, "job_conf": {"engram.kernels.mode": "MODE"}},
        "runs": [run("zig", zig_qps, zig_p99), run("java", java_qps, java_p99)],
        "ratios": [{"shape": "10000x768", "zig_qps": zig_qps, "java_qps": java_qps,
                    "zig_over_java": zig_qps / java_qps, "zig_queries_per_job_cpu_s": zig_qps / 1.5,
                    "java_queries_per_job_cpu_s": java_qps / 1.5}],
        "ok": True,
    }


class CheckTest(unittest.TestCase):
    def test_sane_run_passes(self):
        self.assertEqual([], e2etool.check(doc()))

    def test_missing_duplicate_and_dead_letters_fail(self):
        for key in ("committed_missing", "committed_duplicates", "dead_letters", "unknown_results",
                    "wrong_kernel_mode"):
            d = doc()
            d["runs"][1]["verification"][key] = 2
            problems = e2etool.check(d)
            self.assertTrue(any(key in p for p in problems), (key, problems))

    def test_not_every_query_exactly_once_fails(self):
        d = doc()
        d["runs"][0]["verification"]["committed_exactly_once"] = 999
        self.assertTrue(any("999 of 1000" in p for p in e2etool.check(d)))

    def test_zero_or_missing_numbers_fail(self):
        d = doc()
        d["runs"][0]["saturation"]["qps"] = 0.0
        self.assertTrue(any("saturation queries/s" in p for p in e2etool.check(d)))
        d = doc()
        del d["runs"][1]["open_loop"]["committed_latency_ms"]["p99"]
        self.assertTrue(any("read_committed latency p99" in p for p in e2etool.check(d)))

    def test_failed_run_and_no_runs_fail(self):
        d = doc()
        d["runs"][1] = {"shape": d["runs"][1]["shape"], "mode": "java", "error": "boom", "ok": False}
        self.assertTrue(any("boom" in p for p in e2etool.check(d)))
        d["runs"] = []
        self.assertEqual(["no runs"], e2etool.check(d))


class GoalsTest(unittest.TestCase):
    def test_goals_met_and_missed(self):
        g = e2etool.goals(doc(zig_qps=600, java_qps=150, zig_p99=30, java_p99=80))
        ratio = [x for x in g if "Java queries/s" in x[0]]
        self.assertEqual(1, len(ratio))
        self.assertTrue(ratio[0][4])  # 4.0x >= 3x
        p99 = {x[2]: x[4] for x in g if x[0].startswith("p99")}
        self.assertEqual({"zig": True, "java": False}, p99)
        g = e2etool.goals(doc(zig_qps=400, java_qps=150))
        self.assertFalse([x for x in g if "Java queries/s" in x[0]][0][4])  # 2.67x < 3x


class ReportTest(unittest.TestCase):
    def test_report_writes_page_and_charts(self):
        d = doc()
        d["runs"] += [run("zig", 3000.0, 10.0, (1000, 384, 16)), run("java", 2000.0, 12.0, (1000, 384, 16))]
        with tempfile.TemporaryDirectory() as tmp:
            md = os.path.join(tmp, "e2e.md")
            files = e2etool.report(copy.deepcopy(d), md, tmp, "e2e", "e2e-results.json")
            self.assertEqual(3, len(files))
            for f in files:
                with open(f, encoding="utf-8") as fh:
                    svg = fh.read()
                self.assertTrue(svg.startswith("<svg"), f)
                self.assertIn("zig", svg)
            with open(md, encoding="utf-8") as fh:
                text = fh.read()
        self.assertIn("machine loaded", text)
        self.assertIn("| 10k x 768d | 600.0 | 150.0 | 4.00× | 400.0 / 100.0 | 4.00× | 1.000 / 4.000 | 4.00× |", text)
        self.assertIn("| ↳ queries per job CPU-second | 400.0 | 100.0 |", text)
        self.assertIn("1k x 384d: 16 spaces", text)
        self.assertIn("read_committed", text)
        self.assertIn("All passed.", text)


if __name__ == "__main__":
    unittest.main()
