#!/usr/bin/env python3
"""Data and verdicts of deploy/tests/fault_tests.sh. Standard library only.

  events   a memory-event stream with known ids (stores, then directed associations between stored memories,
           interleaved across spaces) plus "ghost" events: a store of a memory that must NEVER exist, sent with an
           event_id that was already applied (the job must drop it by its dedup state, before and after restores)
  pace     copies a JSONL file to stdout at a fixed rate (flushed), so the events arrive during the faults
  census   the census answers (k = seed_k = 1000) per space vs the expected memory set; no ghost anywhere
  stats    min / median / max of a list of milliseconds
  soak-events  an endless steady memory-event stream (stores that upsert a bounded working set, reinforcements,
           associations) at a fixed rate until SIGTERM: the state stays bounded while every kernel keeps running
  nmt      one sample of a JVM: VmRSS from /proc/PID/status and `jcmd PID VM.native_memory summary`, as JSON
  drift    compares the first and last samples (JSON lines): prints a table, writes a results file, fails on drift
"""
import argparse
import json
import random
import signal
import statistics
import sys
import time

sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__file__), "..", "scripts", "lib"))
from drill_data import embedding, read_results, space_names  # noqa: E402


def cmd_events(a):
    rng = random.Random(a.seed)
    per_space = {}
    expected = {}
    edges_total = 0
    for space in space_names(a.rid, a.spaces):
        evs = []
        ids = [f"m{j:03d}" for j in range(a.memories)]
        for m in ids:
            evs.append({"type": "store", "memory_id": m, "embedding": embedding(rng, a.dim),
                        "strength": round(rng.uniform(0.5, 1.0), 4), "stability_s": 86400.0})
        pairs = set()
        while len(pairs) < a.edges:
            f, t = rng.sample(ids, 2)
            pairs.add((f, t))
        for f, t in sorted(pairs, key=lambda p: rng.random()):
            evs.append({"type": "associate", "from_id": f, "to_id": t, "weight": round(rng.uniform(0.2, 0.9), 4),
                        "bidirectional": False})
        per_space[space] = evs
        expected[space] = sorted(ids)
        edges_total += a.edges
    # Interleave the spaces; event ids are per space, in order; ghosts reuse an earlier event id of their space.
    out_lines = []
    seqs = {s: 0 for s in per_space}
    ts = a.t0
    queues = {s: list(v) for s, v in per_space.items()}
    n_ghost = 0
    while any(queues.values()):
        for s in per_space:
            if not queues[s]:
                continue
            seqs[s] += 1
            ts += 1
            out_lines.append({"space": s, "event_id": f"{s}-e{seqs[s]}", "timestamp_ms": ts,
                              "payload": queues[s].pop(0)})
            if seqs[s] % a.ghost_every == 0:
                n_ghost += 1
                ts += 1
                reuse = rng.randint(1, seqs[s])
                out_lines.append({"space": s, "event_id": f"{s}-e{reuse}", "timestamp_ms": ts,
                                  "payload": {"type": "store", "memory_id": f"ghost{n_ghost:03d}",
                                              "embedding": embedding(rng, a.dim), "strength": 1.0,
                                              "stability_s": 86400.0}})
    with open(a.out, "w") as f:
        for e in out_lines:
            f.write(json.dumps(e) + "\n")
    with open(a.expected, "w") as f:
        json.dump({"memories": expected, "memories_total": sum(len(v) for v in expected.values()),
                   "edges_total": edges_total, "ghosts": n_ghost}, f)
    print(f"{len(out_lines)} events: {a.spaces} spaces x ({a.memories} stores + {a.edges} associations) + "
          f"{n_ghost} ghost stores with an already-used event_id (must be dropped by dedup)")


def cmd_pace(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with open(a.file) as f:
        for line in f:
            if stop:
                break
            try:
                sys.stdout.write(line)
                sys.stdout.flush()
            except BrokenPipeError:
                return
            time.sleep(1.0 / a.rate)


def cmd_census(a):
    exp = json.load(open(a.expected))["memories"]
    got = read_results(a.results, a.rid)
    bad = []
    for space, ids in exp.items():
        q = f"{a.rid}-{a.batch}-{space}-census"
        if q not in got:
            bad.append(f"{space}: census unanswered")
            continue
        if got[q][0][1].get("stale"):
            bad.append(f"{space}: census answered stale (its space's last event was not applied in time)")
            continue
        hits = {h["memory_id"] for h in got[q][0][1].get("hits", [])}
        if hits != set(ids):
            bad.append(f"{space}: {len(hits)} memories, expected {len(ids)}; missing {sorted(set(ids) - hits)[:3]}, "
                       f"unexpected {sorted(hits - set(ids))[:3]}")
    if bad:
        print("FAIL " + "; ".join(bad))
        sys.exit(1)
    print(f"census = expected memory set in all {len(exp)} spaces ({sum(len(v) for v in exp.values())} memories, "
          f"no ghost)")


def cmd_soak_events(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    rng = random.Random(a.seed)
    spaces = space_names(a.rid, a.spaces)
    seq = 0
    stored = {s: 0 for s in spaces}
    while not stop:
        space = spaces[seq % len(spaces)]
        n = stored[space]
        k = rng.random()
        if n < a.memories or k < 0.5:
            m = f"m{n:03d}" if n < a.memories else f"m{rng.randrange(a.memories):03d}"
            payload = {"type": "store", "memory_id": m, "embedding": embedding(rng, a.dim),
                       "strength": round(rng.uniform(0.5, 1.0), 4), "stability_s": 86400.0}
            stored[space] = min(a.memories, n + 1)
        elif k < 0.8:
            payload = {"type": "reinforce", "memory_id": f"m{rng.randrange(a.memories):03d}"}
        else:
            f, t = rng.sample(range(a.memories), 2)
            payload = {"type": "associate", "from_id": f"m{f:03d}", "to_id": f"m{t:03d}",
                       "weight": round(rng.uniform(0.2, 0.9), 4), "bidirectional": False}
        seq += 1
        line = json.dumps({"space": space, "event_id": f"{space}-s{seq}", "timestamp_ms": a.t0 + seq,
                           "payload": payload})
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            return
        deadline = time.monotonic() + 1.0 / a.rate
        while not stop and time.monotonic() < deadline:
            time.sleep(0.02)


def nmt_sample(pid, label):
    import re
    import subprocess
    out = {"label": label, "time": int(time.time()), "pid": pid}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_kb"] = int(line.split()[1])
    txt = subprocess.run(["jcmd", str(pid), "VM.native_memory", "summary"], capture_output=True, text=True,
                         timeout=60).stdout
    m = re.search(r"Total: reserved=(\d+)KB, committed=(\d+)KB", txt)
    if not m:
        raise SystemExit(f"no NMT summary from jcmd {pid} (is -XX:NativeMemoryTracking=summary set?): {txt[:300]}")
    out["nmt_total_kb"] = int(m.group(2))
    cats = {}
    for cm in re.finditer(r"^-\s+(.+?) \(reserved=(\d+)KB, committed=(\d+)KB\)", txt, re.M):
        cats[cm.group(1).strip()] = int(cm.group(3))
    out["nmt_kb"] = cats
    return out


def cmd_nmt(a):
    print(json.dumps(nmt_sample(a.pid, a.label)))


def derived(smp):
    c = smp["nmt_kb"]
    heap = c.get("Java Heap", 0)
    return {
        "VmRSS": smp["rss_kb"],
        "NMT committed": smp["nmt_total_kb"],
        "NMT committed - Java Heap": smp["nmt_total_kb"] - heap,
        "NMT non-heap w/o JIT (Code, Arena Chunk)": smp["nmt_total_kb"] - heap - c.get("Code", 0)
        - c.get("Arena Chunk", 0),
        "NMT Internal + Other (JNI, direct, Unsafe)": c.get("Internal", 0) + c.get("Other", 0),
        "NMT Thread": c.get("Thread", 0),
        "NMT Class": c.get("Class", 0),
        "NMT Code": c.get("Code", 0),
        "NMT Arena Chunk": c.get("Arena Chunk", 0),
    }


# Asserted: flat within --max-pct, or (small categories) within --floor-kb in absolute terms.
ASSERTED = ["VmRSS", "NMT non-heap w/o JIT (Code, Arena Chunk)", "NMT Internal + Other (JNI, direct, Unsafe)"]


def cmd_drift(a):
    samples = [json.loads(l) for l in open(a.samples) if l.strip()]
    first, last = samples[0], samples[-1]
    d0, d1 = derived(first), derived(last)
    span = last["time"] - first["time"]
    lines = [f"soak: {len(samples)} samples of TaskManager pid {first['pid']}, {span} s between the first "
             f"(after warm-up) and the last; {a.note}",
             f"{'metric':45s} {'start MiB':>10s} {'end MiB':>10s} {'drift':>8s}  verdict"]
    bad = []
    for k in d0:
        v0, v1 = d0[k], d1[k]
        pct = (v1 - v0) * 100.0 / v0 if v0 else 0.0
        verdict = ""
        if k in ASSERTED:
            ok = abs(pct) <= a.max_pct or abs(v1 - v0) <= a.floor_kb
            verdict = "ok" if ok else f"FAIL (> {a.max_pct:g} % and > {a.floor_kb} KiB)"
            if not ok:
                bad.append(k)
        lines.append(f"{k:45s} {v0 / 1024:10.1f} {v1 / 1024:10.1f} {pct:+7.2f}%  {verdict}")
    text = "\n".join(lines)
    print(text)
    with open(a.out, "w") as f:
        f.write(text + "\n")
        f.write("samples (JSON lines): " + a.samples + "\n")
    if bad:
        print(f"FAIL drift over {a.max_pct:g} %: {', '.join(bad)}")
        sys.exit(1)


def cmd_stats(a):
    v = sorted(int(x) for x in a.ms)
    if not v:
        print("none")
        return
    print(f"min {v[0] / 1000:.1f} s, median {statistics.median(v) / 1000:.1f} s, max {v[-1] / 1000:.1f} s "
          f"(n={len(v)})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("events")
    e.add_argument("--rid", required=True)
    e.add_argument("--spaces", type=int, default=4)
    e.add_argument("--memories", type=int, default=50)
    e.add_argument("--edges", type=int, default=30)
    e.add_argument("--dim", type=int, default=16)
    e.add_argument("--ghost-every", type=int, default=20)
    e.add_argument("--t0", type=int, required=True)
    e.add_argument("--seed", type=int, default=17)
    e.add_argument("--out", required=True)
    e.add_argument("--expected", required=True)
    pc = sub.add_parser("pace")
    pc.add_argument("--file", required=True)
    pc.add_argument("--rate", type=float, default=3.0)
    c = sub.add_parser("census")
    c.add_argument("--rid", required=True)
    c.add_argument("--batch", required=True)
    c.add_argument("--results", required=True)
    c.add_argument("--expected", required=True)
    s = sub.add_parser("stats")
    s.add_argument("ms", nargs="*")
    se = sub.add_parser("soak-events")
    se.add_argument("--rid", required=True)
    se.add_argument("--spaces", type=int, default=4)
    se.add_argument("--memories", type=int, default=60)
    se.add_argument("--dim", type=int, default=16)
    se.add_argument("--rate", type=float, default=10.0)
    se.add_argument("--t0", type=int, required=True)
    se.add_argument("--seed", type=int, default=23)
    n = sub.add_parser("nmt")
    n.add_argument("--pid", type=int, required=True)
    n.add_argument("--label", default="")
    d = sub.add_parser("drift")
    d.add_argument("--samples", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--max-pct", type=float, default=5.0)
    d.add_argument("--floor-kb", type=int, default=1024)
    d.add_argument("--note", default="")
    a = p.parse_args()
    {"events": cmd_events, "pace": cmd_pace, "census": cmd_census, "stats": cmd_stats,
     "soak-events": cmd_soak_events, "nmt": cmd_nmt, "drift": cmd_drift}[a.cmd](a)


if __name__ == "__main__":
    main()
