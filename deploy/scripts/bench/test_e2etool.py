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


def backend_doc(heap_ingest=4000.0, rocks_ingest=2500.0, heap_qps=800.0, rocks_qps=300.0):
    """One mode on both backends, then the three consistency variants (as the driver writes them)."""
    d = doc()
    heap = run("zig", heap_qps, 40.0)
    heap.update(backend="hashmap", chunk_size=64, consistency="arrival", background_writes=False)
    heap["ingest"]["events_per_s"] = heap_ingest
    rocks = run("zig", rocks_qps, 70.0)
    rocks.update(backend="rocksdb", chunk_size=64, consistency="arrival", background_writes=False)
    rocks["ingest"]["events_per_s"] = rocks_ingest
    variants = []
    for c, p99 in (("arrival", 40.0), ("event-time", 300.0), ("read-your-writes", 60.0)):
        v = run("zig", 800.0, p99)
        del v["saturation"]
        v.update(backend="hashmap", chunk_size=64, consistency=c, background_writes=True)
        v["open_loop"]["stale"] = 0
        v["open_loop"]["background_stores_acked"] = 400
        variants.append(v)
    d["runs"] = [heap, rocks] + variants
    for r in d["runs"]:
        r["open_loop"]["timeline"] = [{"second": 0, "p50": 5.0, "p99": 9.0}]
    d["ratios"] = []
    return d


class BackendAndConsistencyTest(unittest.TestCase):
    def test_rocksdb_over_heap_is_measured_per_pair_and_judged_against_half(self):
        b = e2etool.backend_ratios(backend_doc())
        self.assertEqual(1, len(b))
        self.assertAlmostEqual(0.625, b[0]["ingest_ratio"])
        self.assertAlmostEqual(0.375, b[0]["qps_ratio"])
        g = {x[0]: x[4] for x in e2etool.goals(backend_doc())}
        self.assertTrue(g["RocksDB ≥ 0.5× heap events/s (ingest)"])
        self.assertFalse(g["RocksDB ≥ 0.5× heap queries/s"])
        # the consistency variants have no p99 goal of their own (they run at their main run's rate)
        p99 = [x for x in e2etool.goals(backend_doc()) if x[0].startswith("p99")]
        self.assertEqual(["zig, hashmap", "zig, rocksdb"], [x[2] for x in p99])

    def test_consistency_rows_add_latency_against_arrival(self):
        rows = {r["consistency"]: r for r in e2etool.consistency_rows(backend_doc())}
        self.assertEqual(0.0, rows["arrival"]["added_p99"])
        self.assertEqual(260.0, rows["event-time"]["added_p99"])
        self.assertEqual(5.0, rows["read-your-writes"]["added_p50"])  # p50 = p99 / 4 in run()

    def test_variant_without_saturation_is_sane_but_a_wrong_answer_is_not(self):
        d = backend_doc()
        self.assertEqual([], e2etool.check(d))
        d["runs"][1]["recall_check"] = {"queries": 20, "matched": 19, "ok": False, "problems": ["v3: no answer"]}
        problems = e2etool.check(d)
        self.assertTrue(any("19 of 20" in p and "v3: no answer" in p and "rocksdb" in p for p in problems), problems)

    def test_report_names_runs_by_backend_and_consistency(self):
        with tempfile.TemporaryDirectory() as tmp:
            md = os.path.join(tmp, "e2e.md")
            files = e2etool.report(backend_doc(), md, tmp, "e2e", "e2e-results.json")
            names = sorted(os.path.basename(f) for f in files)
            with open(md, encoding="utf-8") as fh:
                text = fh.read()
        self.assertIn("e2e-consistency.svg", names)
        self.assertIn("e2e-timeline-10000x768-zig-rocksdb.svg", names)
        self.assertIn("e2e-timeline-10000x768-zig-hashmap-event-time.svg", names)
        self.assertIn("| 10k x 768d | zig | 4,000 / 2,500 | 0.62× | 800.0 / 300.0 | 0.38× |", text)
        self.assertIn("| event-time | 640.0 / 632.0 | 75.0 | 150.0 | 300.0 | 65.0 | 260.0 | 0 | 400 |", text)


def page(d):
    """The Markdown page the report writes for results d."""
    with tempfile.TemporaryDirectory() as tmp:
        md = os.path.join(tmp, "e2e.md")
        e2etool.report(copy.deepcopy(d), md, tmp, "e2e", "e2e-results.json")
        with open(md, encoding="utf-8") as fh:
            return fh.read()


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
        self.assertNotIn("| CPUs |", text)
        self.assertNotIn("queries per recall batch", text)  # older results files have no batch counts

    def test_report_shows_batching_and_the_open_loops_cpu(self):
        d = doc()
        for r, (sat, ol) in zip(d["runs"], ((7.5, 2.25), (6.0, None))):
            r["saturation"]["recall_batches"] = {"recalls": 100, "batches": 10, "queries_per_batch": sat}
            r["open_loop"]["recall_batches"] = {"recalls": 100, "batches": 0, "queries_per_batch": ol}
            r["open_loop"]["job_cpu_cores"] = 1.234
        text = page(d)
        self.assertIn("| ↳ queries per recall batch | 7.50 | 6.00 |", text)
        self.assertIn("| ↳ queries per recall batch | 2.25 | – |", text)
        self.assertIn("| ↳ job CPU used, cores | 1.23 | 1.23 |", text)

    def test_report_says_where_the_job_ran_when_pinned(self):
        d = doc()
        d["config"].update({"job_cpus": "1", "driver_cpus_allowed": "0"})
        self.assertIn("| CPUs | the job's JVM on 1 (`--job-cpus`), the driver's and broker's JVM on 0 |", page(d))


if __name__ == "__main__":
    unittest.main()
