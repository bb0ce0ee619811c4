#!/usr/bin/env python3
"""Data and verdicts of the rollback drill (rollback_drill.sh). Standard library only.

  events     the drill's memory events (JSON Lines for `engram send --type event`) and the expected memory set
  queries    one batch of recall queries; the same seed gives the same cues and timestamps in every batch, so a
             batch asked after a switch must be answered like the batch asked before it
  load       continuous-load queries, one line per query, flushed, at a fixed rate, until stopped
  compare    answers of batch OTHER vs batch BASE (same hits within tolerance) + census = expected memory set
  exactly-once   every query id sent appears exactly once in the read_committed results, and nothing else

Results files are what the drill's background `engram tail` wrote, one "<epoch_ms> <json>" per line.
"""
import argparse
import json
import random
import signal
import sys
import time


def space_names(rid, n):
    return [f"{rid}-s{i}" for i in range(n)]


def embedding(rng, dim):
    # Strictly positive components: every memory has similarity > 0 to every positive cue, so a census query
    # (k = seed_k = 1000) seeds and returns every memory of the space.
    return [round(rng.uniform(0.05, 1.0), 6) for _ in range(dim)]


def cmd_events(a):
    rng = random.Random(a.seed)
    expected = {}
    last_event = {}  # space -> id of its last event, for queries that must see the whole load (after_event_ids)
    n_events = 0
    with open(a.out, "w") as out:
        for space in space_names(a.rid, a.spaces):
            ts = a.t0
            ids = [f"m{j:03d}" for j in range(a.memories)]
            seq = 0

            def emit(payload):
                nonlocal seq, ts, n_events
                seq += 1
                ts += 1
                n_events += 1
                out.write(json.dumps({"space": space, "event_id": f"{space}-e{seq}", "timestamp_ms": ts,
                                      "payload": payload}) + "\n")

            for m in ids:
                emit({"type": "store", "memory_id": m, "embedding": embedding(rng, a.dim),
                      "strength": round(rng.uniform(0.5, 1.0), 4), "stability_s": 86400.0})
            for _ in range(a.edges):
                f, t = rng.sample(ids, 2)
                emit({"type": "associate", "from_id": f, "to_id": t, "weight": round(rng.uniform(0.2, 0.9), 4),
                      "bidirectional": rng.random() < 0.3})
            for m in rng.sample(ids, a.reinforce):
                emit({"type": "reinforce", "memory_id": m})
            forgotten = set(rng.sample(ids, a.forget))
            for m in sorted(forgotten):
                emit({"type": "forget", "memory_id": m})
            expected[space] = sorted(set(ids) - forgotten)
            last_event[space] = f"{space}-e{seq}"
    with open(a.expected, "w") as f:
        json.dump({"memories": expected, "last_event": last_event}, f)
    print(f"{n_events} events for {a.spaces} spaces x {a.memories} memories (dim {a.dim}, {a.edges} associations, "
          f"{a.reinforce} reinforcements, {a.forget} forgets per space)")


def cmd_forget_all(a):
    """Forget events for every memory the drill left (run against a cluster the drill did not start)."""
    expected = json.load(open(a.expected))["memories"]
    n = 0
    with open(a.out, "w") as out:
        for space, ids in expected.items():
            for m in ids:
                n += 1
                out.write(json.dumps({"space": space, "event_id": f"{space}-cleanup-{m}", "timestamp_ms": a.t,
                                      "payload": {"type": "forget", "memory_id": m}}) + "\n")
    print(n)


def cmd_queries(a):
    rng = random.Random(a.seed)  # same seed -> same cues in every batch
    # --after-load EXPECTED: every query names its space's last event (read-your-writes), so a batch sent right after
    # the events cannot overtake them (queries have their own topic).
    after = json.load(open(a.after_load))["last_event"] if a.after_load else {}
    n = 0
    with open(a.out, "w") as out:
        for space in space_names(a.rid, a.spaces):
            wait = {"after_event_ids": [after[space]]} if space in after else {}
            for i in range(a.per_space):
                cue = embedding(rng, a.dim)
                out.write(json.dumps({"query_id": f"{a.rid}-{a.batch}-{space}-q{i}", "space": space,
                                      "timestamp_ms": a.t, "cue": cue, "k": 10, **wait}) + "\n")
                n += 1
            out.write(json.dumps({"query_id": f"{a.rid}-{a.batch}-{space}-census", "space": space,
                                  "timestamp_ms": a.t, "cue": [1.0] * a.dim, "k": 1000, "seed_k": 1000,
                                  **wait}) + "\n")
            n += 1
    print(n)


def cmd_load(a):
    """Writes a.rate queries per second to stdout (flushed), each id first to a.ids, until SIGTERM/SIGINT (it then
    finishes the current line and exits, so every id in a.ids was written) or a.max queries."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    rng = random.Random(a.seed)
    spaces = space_names(a.rid, a.spaces)
    seq = 0
    with open(a.ids, "a") as ids:
        while not stop and (a.max <= 0 or seq < a.max):
            space = spaces[seq % len(spaces)]
            qid = f"{a.rid}-L-{seq:05d}"
            line = json.dumps({"query_id": qid, "space": space, "timestamp_ms": a.t,
                               "cue": embedding(rng, a.dim), "k": 5})
            ids.write(qid + "\n")
            ids.flush()
            try:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                return
            seq += 1
            deadline = time.monotonic() + 1.0 / a.rate
            while not stop and time.monotonic() < deadline:
                time.sleep(0.05)


def read_results(path, prefix):
    """query_id -> list of (arrival_ms, result) for ids starting with prefix."""
    got = {}
    with open(path, errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            ts, _, js = line.partition(" ")
            try:
                r = json.loads(js)
                arrival = int(ts)
            except (ValueError, json.JSONDecodeError):
                continue
            qid = r.get("query_id", "")
            if qid.startswith(prefix):
                got.setdefault(qid, []).append((arrival, r))
    return got


def cmd_wait(a):
    """Exit 0 when every id of the queries file has a result; prints how many are still missing."""
    want = [json.loads(l)["query_id"] for l in open(a.queries) if l.strip()]
    got = read_results(a.results, a.rid)
    missing = [q for q in want if q not in got]
    print(len(missing))
    sys.exit(0 if not missing else 1)


def hits_match(base, other, tol):
    """Same top hits within tol: rank by rank the same id with |score diff| <= tol; a swapped pair of ids is
    accepted only when their scores tie within tol (then the order is not defined by the kernels' precision)."""
    if len(base) != len(other):
        return False, f"{len(base)} vs {len(other)} hits"
    bs = {h["memory_id"]: h["score"] for h in base}
    os_ = {h["memory_id"]: h["score"] for h in other}
    worst = 0.0
    for i, (hb, ho) in enumerate(zip(base, other)):
        if hb["memory_id"] == ho["memory_id"]:
            d = abs(hb["score"] - ho["score"])
        else:
            if hb["memory_id"] not in os_ or ho["memory_id"] not in bs:
                return False, f"rank {i}: {hb['memory_id']} vs {ho['memory_id']} (not in the other answer)"
            d = max(abs(hb["score"] - ho["score"]), abs(bs[hb["memory_id"]] - os_[hb["memory_id"]]))
            if d > tol:
                return False, f"rank {i}: {hb['memory_id']} vs {ho['memory_id']}, scores {hb['score']} / {ho['score']}"
        worst = max(worst, d)
        if d > tol:
            return False, f"rank {i}: {hb['memory_id']} score {hb['score']} vs {ho['score']} (|d| {d:.2e} > {tol})"
    return True, f"max |score diff| {worst:.2e}"


def cmd_compare(a):
    base_q = [json.loads(l) for l in open(a.base_queries) if l.strip()]
    got = read_results(a.results, a.rid)
    expected = json.load(open(a.expected))["memories"]
    failures = []
    modes = {}
    worst = 0.0
    census = {}
    n = 0
    for q in base_q:
        bid = q["query_id"]
        oid = bid.replace(f"{a.rid}-{a.base}-", f"{a.rid}-{a.other}-", 1)
        if bid not in got or oid not in got:
            failures.append(f"{oid if bid in got else bid}: no result")
            continue
        b = got[bid][0][1]
        o = got[oid][0][1]
        modes[o["kernel_mode"]] = modes.get(o["kernel_mode"], 0) + 1
        ok, detail = hits_match(b["hits"], o["hits"], a.tol)
        n += 1
        if not ok:
            failures.append(f"{oid} vs {bid}: {detail}")
        else:
            try:
                worst = max(worst, float(detail.split()[-1]))
            except ValueError:
                pass
        if bid.endswith("-census"):
            space = q["space"]
            ids = sorted(h["memory_id"] for h in o["hits"])
            census[space] = len(ids)
            if ids != expected[space]:
                failures.append(f"census of {space} after the switch: {len(ids)} memories, expected "
                                f"{len(expected[space])} (missing {sorted(set(expected[space]) - set(ids))[:5]}, "
                                f"extra {sorted(set(ids) - set(expected[space]))[:5]})")
    if a.expect_mode and set(modes) != {a.expect_mode}:
        failures.append(f"batch {a.other} answered by {modes}, expected only {a.expect_mode}")
    summary = {"compared": n, "max_score_diff": worst, "modes": modes, "census": census, "failures": failures}
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(summary, f)
    if failures:
        print(f"FAIL {len(failures)} of {n} answers differ: " + "; ".join(failures[:5]))
        sys.exit(1)
    print(f"{n} answers identical within {a.tol} (max |score diff| {worst:.2e}), kernel_mode {modes}, "
          f"memories per space {census}")


def cmd_exactly_once(a):
    want = set()
    for path in a.sent:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                want.add(json.loads(line)["query_id"] if line.startswith("{") else line)
    got = read_results(a.results, a.rid)
    missing = sorted(want - set(got))
    dups = sorted(q for q, v in got.items() if len(v) > 1)
    extra = sorted(set(got) - want)
    counts = {}
    for q in want:
        batch = q[len(a.rid) + 1:].split("-")[0]
        counts[batch] = counts.get(batch, 0) + 1
    if missing or dups or extra:
        print(f"FAIL {len(want)} queries sent: {len(missing)} lost {missing[:5]}, {len(dups)} answered more than "
              f"once {dups[:5]}, {len(extra)} unexpected {extra[:5]}")
        sys.exit(1)
    print(f"{len(want)} queries sent {counts}: each answered exactly once in read_committed results "
          f"(0 lost, 0 duplicates)")


def cmd_load_stats(a):
    """How the continuous load fared: answers per kernel mode, and the longest time between two answers
    (the data-plane gap, which spans each switch)."""
    got = read_results(a.results, f"{a.rid}-L-")
    arrivals = sorted(v[0][0] for v in got.values())
    modes = {}
    for v in got.values():
        m = v[0][1].get("kernel_mode")
        modes[m] = modes.get(m, 0) + 1
    gap = max((b - x for x, b in zip(arrivals, arrivals[1:])), default=0)
    print(f"{len(got)} load queries answered {modes}; longest gap between committed answers {gap / 1000:.1f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("events")
    e.add_argument("--rid", required=True)
    e.add_argument("--spaces", type=int, default=6)
    e.add_argument("--memories", type=int, default=40)
    e.add_argument("--dim", type=int, default=16)
    e.add_argument("--edges", type=int, default=30)
    e.add_argument("--reinforce", type=int, default=5)
    e.add_argument("--forget", type=int, default=3)
    e.add_argument("--t0", type=int, required=True)
    e.add_argument("--seed", type=int, default=7)
    e.add_argument("--out", required=True)
    e.add_argument("--expected", required=True)
    q = sub.add_parser("queries")
    q.add_argument("--rid", required=True)
    q.add_argument("--batch", required=True)
    q.add_argument("--spaces", type=int, default=6)
    q.add_argument("--dim", type=int, default=16)
    q.add_argument("--per-space", type=int, default=8)
    q.add_argument("--t", type=int, required=True)
    q.add_argument("--seed", type=int, default=11)
    q.add_argument("--out", required=True)
    q.add_argument("--after-load", metavar="EXPECTED", help="the events command's --expected file: each query waits "
                   "for its space's last event")
    ld = sub.add_parser("load")
    ld.add_argument("--rid", required=True)
    ld.add_argument("--spaces", type=int, default=6)
    ld.add_argument("--dim", type=int, default=16)
    ld.add_argument("--t", type=int, required=True)
    ld.add_argument("--rate", type=float, default=4.0)
    ld.add_argument("--max", type=int, default=0)
    ld.add_argument("--seed", type=int, default=13)
    ld.add_argument("--ids", required=True)
    w = sub.add_parser("wait")
    w.add_argument("--rid", required=True)
    w.add_argument("--results", required=True)
    w.add_argument("--queries", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--rid", required=True)
    c.add_argument("--results", required=True)
    c.add_argument("--base", required=True)
    c.add_argument("--base-queries", required=True)
    c.add_argument("--other", required=True)
    c.add_argument("--expected", required=True)
    c.add_argument("--expect-mode")
    c.add_argument("--tol", type=float, default=1e-4)
    c.add_argument("--json-out")
    x = sub.add_parser("exactly-once")
    x.add_argument("--rid", required=True)
    x.add_argument("--results", required=True)
    x.add_argument("--sent", nargs="+", required=True)
    fa = sub.add_parser("forget-all")
    fa.add_argument("--expected", required=True)
    fa.add_argument("--t", type=int, required=True)
    fa.add_argument("--out", required=True)
    s = sub.add_parser("load-stats")
    s.add_argument("--rid", required=True)
    s.add_argument("--results", required=True)
    a = p.parse_args()
    {"events": cmd_events, "queries": cmd_queries, "load": cmd_load, "wait": cmd_wait, "compare": cmd_compare,
     "exactly-once": cmd_exactly_once, "load-stats": cmd_load_stats, "forget-all": cmd_forget_all}[a.cmd](a)


if __name__ == "__main__":
    main()
