"""Unit tests of the thread CPU sampler (threadcpu.py): /proc reading, grouping, and the per-second report.

Run: python3 -m unittest discover -s deploy/scripts/bench -v
"""
import contextlib
import io
import json
import os
import tempfile
import threading
import time
import unittest

import threadcpu


class ReadThreadsTest(unittest.TestCase):
    def test_reads_this_process_and_sees_a_busy_thread_run(self):
        stop = time.time() + 0.6

        def spin():
            while time.time() < stop:
                pass

        before = threadcpu.read_threads(os.getpid())
        t = threading.Thread(target=spin, name="spinner")
        t.start()
        time.sleep(0.4)
        after = threadcpu.read_threads(os.getpid())  # while the spinner still runs: a finished thread leaves /proc
        t.join()
        self.assertIn(str(os.getpid()), after, "the main thread is a task of its own process")
        ran = sum(a[1] - before.get(tid, (None, 0, 0))[1] for tid, a in after.items())
        self.assertGreater(ran, 100_000_000, "0.4 s of spinning shows as at least 0.1 s of run time")

    def test_gone_process_reads_none(self):
        self.assertIsNone(threadcpu.read_threads(2 ** 22 + 12345))


class GroupTest(unittest.TestCase):
    def test_groups(self):
        self.assertEqual(threadcpu.group("C2 CompilerThre"), "JIT compiler")
        self.assertEqual(threadcpu.group("GC Thread#0"), "GC and VM")
        self.assertEqual(threadcpu.group("VM Thread"), "GC and VM")
        self.assertEqual(threadcpu.group("AsyncOperation"), "checkpoint (AsyncOperations)")
        self.assertEqual(threadcpu.group("kafka-producer-"), "Kafka producer I/O")
        self.assertEqual(threadcpu.group("Memory (2/2)#0"), "Memory (#/#)##", "digits fold, the rest stays")


class ReportTest(unittest.TestCase):
    def test_per_second_cpu_lines_up_with_the_timeline(self):
        start_ms = 1_000_000_000_000
        results = {"runs": [{"open_loop": {
            "start_wall_ms": start_ms,
            "timeline": [{"second": 0, "p99": 40.0}, {"second": 1, "p99": 180.0}],
            "checkpoints": [{"trigger_s": 1.2, "duration_ms": 900}, {"trigger_s": -8.8, "duration_ms": 800}],
        }}]}
        t0 = start_ms / 1000
        samples = [
            {"pid": 1, "interval_s": 0.5},
            {"t": t0 - 0.5, "run": {"Memory (1/2)#0": 999_000_000}, "wait": {}},  # before the open loop: not counted
            {"t": t0 + 0.5, "run": {"Memory (1/2)#0": 400_000_000}, "wait": {"Memory (1/2)#0": 1_000_000}},
            {"t": t0 + 0.9, "run": {"Memory (1/2)#0": 400_000_000}, "wait": {}},
            {"t": t0 + 1.5, "run": {"Memory (1/2)#0": 300_000_000, "AsyncOperations": 120_000_000,
                                    "C2 CompilerThre": 50_000_000}, "wait": {"Memory (1/2)#0": 90_000_000}},
        ]
        with tempfile.TemporaryDirectory() as d:
            rf, sf = os.path.join(d, "r.json"), os.path.join(d, "s.jsonl")
            with open(rf, "w") as f:
                json.dump(results, f)
            with open(sf, "w") as f:
                f.write("\n".join(json.dumps(s) for s in samples) + "\n")
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                threadcpu.report(type("A", (), {"results": rf, "samples": sf, "top": 3})())
        rows = [line for line in out.getvalue().splitlines() if line.startswith("| 0 ") or line.startswith("| 1 ")]
        self.assertEqual(rows[0], "| 0 | 40 |  | 800 | 0 | 0 | 0 | 1 |")
        self.assertEqual(rows[1], "| 1 | 180 | 900 | 300 | 120 | 50 | 0 | 90 |")
        self.assertIn("Memory (#/#)##", out.getvalue().splitlines()[2], "the busiest group comes first")


if __name__ == "__main__":
    unittest.main()
