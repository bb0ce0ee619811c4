#!/usr/bin/env python3
"""Unit tests of jobconf.py (run by deploy/tests/run_drill_tests.sh: python3 -m unittest test_jobconf)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(HERE, "jobconf.py")


def run(*args):
    p = subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


class JobConfTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump(data, f)
        return path

    def job(self, name, conf):
        return self.write(name, {"jid": "x", "execution-config": {"user-config": conf}})

    def test_resubmits_what_the_job_was_given_beyond_the_cluster(self):
        job = self.job("job.json", {
            "engram.kernels.mode": "zig", "state.backend.type": "rocksdb", "engram.recall.seed-k": "12",
            "taskmanager.numberOfTaskSlots": "2", "pipeline.jars": "['file:/x.jar']", "rest.port": "8081",
            "execution.target": "remote", "$internal.deployment.config-dir": "/c", "parallelism.default": "4",
            "metrics.reporter.prom.port": "9250-9260", "execution.state-recovery.path": "file:/sp"})
        cluster = self.write("cluster.json", [{"key": "taskmanager.numberOfTaskSlots", "value": "2"},
                                              {"key": "state.backend.type", "value": "hashmap"}])
        rc, out, err = run("resubmit", "--job", job, "--cluster", cluster, "--drop", "engram.kernels.mode",
                           "--set", "engram.recall.max-hops=2")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.split("\0")[:-1], ["engram.recall.max-hops=2", "engram.recall.seed-k=12",
                                                "state.backend.type=rocksdb"])

    def test_a_hidden_setting_must_be_given_again(self):
        job = self.job("job.json", {"engram.kafka.properties.sasl.jaas.config": "<hidden>", "a.b": "c"})
        cluster = self.write("cluster.json", [])
        rc, out, err = run("resubmit", "--job", job, "--cluster", cluster)
        self.assertEqual(rc, 3)
        self.assertIn("engram.kafka.properties.sasl.jaas.config", err)
        self.assertEqual(out, "")
        rc, out, err = run("resubmit", "--job", job, "--cluster", cluster,
                           "--set", "engram.kafka.properties.sasl.jaas.config=x=y")
        self.assertEqual(rc, 0, err)
        self.assertIn("engram.kafka.properties.sasl.jaas.config=x=y\0", out)
        # a secret the cluster's own configuration holds (Flink shows it as ******) comes back by itself
        cluster = self.write("cluster2.json", [{"key": "engram.kafka.properties.sasl.jaas.config", "value": "******"}])
        rc, out, err = run("resubmit", "--job", job, "--cluster", cluster)
        self.assertEqual(rc, 0, err)

    def test_a_job_without_published_configuration_is_refused(self):
        rc, out, err = run("resubmit", "--job", self.job("job.json", {}), "--cluster", self.write("c.json", []))
        self.assertEqual(rc, 4)
        self.assertIn("publishes no configuration", err)

    def test_compare_allows_only_the_changed_keys_to_differ(self):
        before = self.job("a.json", {"engram.kernels.mode": "zig", "x": "1", "pipeline.jars": "a"})
        same = self.job("b.json", {"engram.kernels.mode": "java", "x": "1", "pipeline.jars": "b"})
        other = self.job("c.json", {"engram.kernels.mode": "java", "x": "2"})
        self.assertEqual(run("compare", "--before", before, "--after", same, "--changed", "engram.kernels.mode")[0], 0)
        rc, out, _ = run("compare", "--before", before, "--after", other, "--changed", "engram.kernels.mode")
        self.assertEqual(rc, 1)
        self.assertIn("x: 1 -> 2", out)
        self.assertEqual(run("compare", "--before", before, "--after", same)[0], 1)


if __name__ == "__main__":
    unittest.main()
