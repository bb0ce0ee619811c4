#!/usr/bin/env python3
"""Which threads of a JVM took CPU, and when: a sampler of /proc/PID/task/*/stat, for the end-to-end benchmark.

A job pinned to one vCPU at 90% of it turns every few milliseconds of CPU taken from the operator's thread into a
backlog that takes ten times as long to drain. A profiler samples stacks at a rate that changes the job; this reads
each thread's /proc/PID/task/TID/schedstat every --interval seconds: the nanoseconds it ran on a CPU and the
nanoseconds it was runnable but waited for one (the scheduler's own accounting, exact, not ticks). That costs the
job nothing (the reads are the sampler's own CPU: run it with taskset on another CPU), and the deltas are kept by OS
thread name (the first 15 characters of the Java name). Then `report` lines them up with the benchmark's
per-second latency: which threads ran in the bad seconds, and how long the busiest thread waited for its CPU.

  threadcpu.py sample --match 'io.engram.job.cli.EngramCli run' --out FILE [--interval 0.1] [--wait 600]
      waits for a process whose command line contains the text, samples it until it exits, writes JSON lines:
      {"t": epoch seconds, "run": {"thread name": ns, ...}, "wait": {...}} (threads that ran or waited)
  threadcpu.py report --samples FILE --results RESULTS.json [--top 8]
      per second of the open loop: p99 latency, the checkpoint that started in it, and CPU ms per thread group
"""
import argparse
import json
import os
import re
import sys
import time
from collections import defaultdict


def find_pid(match, wait_s):
    deadline = time.time() + wait_s
    me = os.getpid()
    while time.time() < deadline:
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == me:
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if match in cmd and "threadcpu.py" not in cmd:
                return int(d)
        time.sleep(0.2)
    return None


def read_threads(pid):
    """{tid: (name, run ns, wait ns)} of every thread of pid now; None once the process is gone."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().rstrip("\n")
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run_ns, wait_ns = f.read().split()[:2]
        except OSError:
            continue  # the thread ended between the listing and the read
        out[tid] = (name, int(run_ns), int(wait_ns))
    return out


def sample(args):
    pid = find_pid(args.match, args.wait)
    if pid is None:
        sys.exit(f"threadcpu: no process matching {args.match!r} within {args.wait} s")
    prev = read_threads(pid) or {}
    with open(args.out, "w") as out:
        out.write(json.dumps({"pid": pid, "interval_s": args.interval}) + "\n")
        while True:
            time.sleep(args.interval)
            now = read_threads(pid)
            t = time.time()
            if now is None:
                break
            run, wait = defaultdict(int), defaultdict(int)
            for tid, (name, run_ns, wait_ns) in now.items():
                _, run0, wait0 = prev.get(tid, (name, 0, 0))
                if run_ns > run0:
                    run[name] += run_ns - run0
                if wait_ns > wait0:
                    wait[name] += wait_ns - wait0
            prev = now
            if run or wait:
                out.write(json.dumps({"t": round(t, 3), "run": run, "wait": wait}) + "\n")
                out.flush()


def group(name):
    """Thread names into the groups a reader asks about (the rest keep their name, digits folded)."""
    rules = [
        (r"^C[12] CompilerThre", "JIT compiler"),
        (r"^(GC Thread|G1 |VM Thread|VM Periodic)", "GC and VM"),
        (r"^AsyncOperation", "checkpoint (AsyncOperations)"),
        (r"^kafka-producer", "Kafka producer I/O"),
        (r"^(Source Data Fet|Source Data)", "Kafka source fetcher"),
        (r"^(Flink Netty|flink-pekko|flink-metrics|pekko|jobmanager|Checkpoint Time)", "Flink runtime"),
    ]
    for pattern, g in rules:
        if re.match(pattern, name):
            return g
    return re.sub(r"\d+", "#", name)


def report(args):
    with open(args.results) as f:
        results = json.load(f)
    ol = results["runs"][0]["open_loop"]
    if ol.get("start_wall_ms") is None:
        sys.exit("threadcpu: the results have no open_loop.start_wall_ms (a benchmark older than this tool)")
    start = ol["start_wall_ms"] / 1000.0
    seconds = len(ol["timeline"])
    run = defaultdict(lambda: defaultdict(float))   # second -> group -> ms on a CPU
    wait = defaultdict(lambda: defaultdict(float))  # second -> group -> ms runnable, waiting for a CPU
    with open(args.samples) as f:
        next(f)
        for line in f:
            s = json.loads(line)
            sec = int(s["t"] - start) if s["t"] >= start else -1
            if 0 <= sec < seconds:
                for name, ns in s["run"].items():
                    run[sec][group(name)] += ns / 1e6
                for name, ns in s["wait"].items():
                    wait[sec][group(name)] += ns / 1e6
    totals = defaultdict(float)
    for per_group in run.values():
        for g, ms in per_group.items():
            totals[g] += ms
    top = [g for g, _ in sorted(totals.items(), key=lambda kv: -kv[1])[:args.top]]
    busiest = top[0] if top else ""
    ckpt = {int(c["trigger_s"]): c["duration_ms"] for c in ol.get("checkpoints", []) if c["trigger_s"] >= 0}
    print(f"CPU ms per second of the open loop by thread group; '{busiest} waited' = ms it was runnable but "
          "not on a CPU")
    print()
    print("| second | p99 ms | checkpoint started (ms) | " + " | ".join(top) + f" | other | {busiest} waited |")
    print("|---" * (len(top) + 5) + "|")
    for row in ol["timeline"]:
        sec = row["second"]
        cpu = run.get(sec, {})
        other = sum(ms for g, ms in cpu.items() if g not in top)
        print(f"| {sec} | {row['p99']:.0f} | {ckpt.get(sec, '')} | "
              + " | ".join(f"{cpu.get(g, 0):.0f}" for g in top)
              + f" | {other:.0f} | {wait.get(sec, {}).get(busiest, 0):.0f} |")
    print()
    print("mean ms per second: " + ", ".join(f"{g} {totals[g] / max(1, seconds):.0f}" for g in top))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--match", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--interval", type=float, default=0.1)
    s.add_argument("--wait", type=float, default=600)
    r = sub.add_parser("report")
    r.add_argument("--samples", required=True)
    r.add_argument("--results", required=True)
    r.add_argument("--top", type=int, default=8)
    args = p.parse_args()
    sample(args) if args.cmd == "sample" else report(args)


if __name__ == "__main__":
    main()
