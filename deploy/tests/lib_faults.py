#!/usr/bin/env python3
"""Data and verdicts of deploy/tests/fault_tests.sh. Standard library only.

  events   a memory-event stream with known ids (stores, then directed associations between stored memories,
           interleaved across spaces) plus "ghost" events: a store of a memory that must NEVER exist, sent with an
           event_id that was already applied (the job must drop it by its dedup state, before and after restores)
  pace     copies a JSONL file to stdout at a fixed rate (flushed), so the events arrive during the faults
  census   the census answers (k = seed_k = 1000) per space vs the expected memory set; no ghost anywhere
  stats    min / median / max of a list of milliseconds
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
        hits = {h["memory_id"] for h in got[q][0][1].get("hits", [])}
        if hits != set(ids):
            bad.append(f"{space}: {len(hits)} memories, expected {len(ids)}; missing {sorted(set(ids) - hits)[:3]}, "
                       f"unexpected {sorted(hits - set(ids))[:3]}")
    if bad:
        print("FAIL " + "; ".join(bad))
        sys.exit(1)
    print(f"census = expected memory set in all {len(exp)} spaces ({sum(len(v) for v in exp.values())} memories, "
          f"no ghost)")


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
    a = p.parse_args()
    {"events": cmd_events, "pace": cmd_pace, "census": cmd_census, "stats": cmd_stats}[a.cmd](a)


if __name__ == "__main__":
    main()
