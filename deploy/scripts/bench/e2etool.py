#!/usr/bin/env python3
"""End-to-end benchmark tooling: checks and reports the JSON written by io.engram.job.bench.EndToEndBenchmark.

Subcommands:
  check    sanity of a run (every query answered exactly once under read_committed, no dead letters, no unknown
           result, the requested kernel mode, every rate and latency positive); exit 1 if not
  report   write the Markdown page (docs/benchmarks/e2e.md) and the SVG charts (drawn by benchtool.svg_bars)

Standard library only (python3 >= 3.8).
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchtool  # noqa: E402  (same directory)

GOAL_RATIO = 3.0  # Zig >= 3x Java queries/s on 10k x 768d
GOAL_P99_MS = 50.0  # p99 recall latency at 80% of the measured maximum
GOAL_RATIO_SHAPE = "10000x768"
GOAL_P99_SHAPES = ("10000x768", "1000x384")  # the shapes the latency goal was set for (not smoke, not big spaces)
GOAL_BACKEND_RATIO = 0.5  # RocksDB >= 0.5x the heap backend's events/s and queries/s (issue 15)
PALETTE = ["#f7a41d", "#5382a1", "#c0392b", "#7fb069", "#8e44ad", "#888888", "#2e5a88", "#b5d99c"]


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("schema") != "engram-e2e-bench/1":
        raise SystemExit(f"{path}: not an engram-e2e-bench/1 result (schema {doc.get('schema')!r})")
    return doc


def shape_key(run):
    s = run["shape"]
    return f"{s['memories']}x{s['dim']}"


def is_main(run):
    """A main run (saturation, then the open loop) as opposed to a consistency variant (background stores)."""
    return not run.get("background_writes")


def varies(doc, key, default=None):
    """Whether the doc's runs differ in this field (it is then part of a run's name)."""
    return len({r.get(key, default) for r in doc.get("runs", [])}) > 1


def run_name(doc, r):
    """mode, plus the backend and chunk size where the doc's runs differ in them, plus the consistency variant."""
    parts = [r.get("mode", "?")]
    if varies(doc, "backend", "hashmap"):
        parts.append(r.get("backend", "hashmap"))
    if varies(doc, "chunk_size"):
        parts.append(f"chunk {r.get('chunk_size')}")
    if not is_main(r):
        parts.append(r.get("consistency", "?"))
    return ", ".join(parts)


def run_id(doc, r):
    """run_name for file names: 10000x768-zig[-rocksdb][-c64][-event-time]."""
    return "-".join([shape_key(r)] + [p.replace("chunk ", "c") for p in run_name(doc, r).split(", ")])


def check(doc):
    """Problems of a run, as text lines; empty when the run is sane."""
    problems = []
    runs = doc.get("runs", [])
    if not runs:
        problems.append("no runs")
    for r in runs:
        name = f"{r.get('shape', {}).get('label', '?')} {run_name(doc, r)}"
        if r.get("error"):
            problems.append(f"{name}: failed: {r['error']}")
            continue
        v = r.get("verification", {})
        if v.get("queries", 0) <= 0:
            problems.append(f"{name}: no queries")
        for key in ("committed_missing", "committed_duplicates", "unknown_results", "dead_letters",
                    "wrong_kernel_mode"):
            if v.get(key, 1) != 0:
                problems.append(f"{name}: {key} = {v.get(key)}")
        if v.get("committed_exactly_once") != v.get("queries"):
            problems.append(f"{name}: {v.get('committed_exactly_once')} of {v.get('queries')} queries have exactly "
                            "one committed result")
        numbers = {
            "ingest events/s": r.get("ingest", {}).get("events_per_s"),
            "open-loop queries/s": r.get("open_loop", {}).get("achieved_qps"),
        }
        if is_main(r):  # a consistency variant runs at the rate of its main run, without a saturation phase
            numbers["saturation queries/s"] = r.get("saturation", {}).get("qps")
        rc = r.get("recall_check")
        if rc is not None and not rc.get("ok"):
            problems.append(f"{name}: {rc.get('matched')} of {rc.get('queries')} answers equal the brute-force "
                            f"reference: {'; '.join(rc.get('problems', []))}")
        for pct in ("p50", "p95", "p99"):
            numbers[f"open-loop latency {pct}"] = r.get("open_loop", {}).get("latency_ms", {}).get(pct)
            numbers[f"read_committed latency {pct}"] = (r.get("open_loop", {}).get("committed_latency_ms", {})
                                                        .get(pct))
        for what, val in numbers.items():
            if not isinstance(val, (int, float)) or not val > 0:
                problems.append(f"{name}: {what} is {val!r}, expected a positive number")
        lat = r.get("open_loop", {}).get("latency_ms", {})
        if all(isinstance(lat.get(p), (int, float)) for p in ("p50", "p95", "p99")):
            if not lat["p50"] <= lat["p95"] <= lat["p99"]:
                problems.append(f"{name}: percentiles out of order: {lat}")
    return problems


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return f"{v:,}"


def goals(doc):
    """[(goal, shape, mode, measured text, met: bool|None)]."""
    out = []
    for ratio in doc.get("ratios", []):
        if ratio["shape"] == GOAL_RATIO_SHAPE:
            r = ratio["zig_over_java"]
            backend = f", {ratio['backend']}" if varies(doc, "backend", "hashmap") else ""
            out.append((f"Zig ≥ {GOAL_RATIO:g}× Java queries/s", "10k × 768d", "zig / java" + backend, f"{r:.2f}×",
                        r >= GOAL_RATIO))
    for b in backend_ratios(doc):
        if b["shape"] == GOAL_RATIO_SHAPE:
            for what, key in (("events/s (ingest)", "ingest_ratio"), ("queries/s", "qps_ratio")):
                if b[key] is not None:
                    out.append((f"RocksDB ≥ {GOAL_BACKEND_RATIO:g}× heap {what}", b["label"], b["name"] + " rocksdb / "
                                "hashmap", f"{b[key]:.2f}×", b[key] >= GOAL_BACKEND_RATIO))
    for r in doc.get("runs", []):
        p99 = r.get("open_loop", {}).get("latency_ms", {}).get("p99")
        if p99 is None or not is_main(r) or shape_key(r) not in GOAL_P99_SHAPES:
            continue
        out.append((f"p99 < {GOAL_P99_MS:g} ms at {doc['config']['load'] * 100:g}% of max", r["shape"]["label"],
                    run_name(doc, r), f"{p99:.1f} ms", p99 < GOAL_P99_MS))
    return out


def _get(r, *path):
    for p in path:
        if not isinstance(r, dict) or p not in r:
            return None
        r = r[p]
    return r


def _ratio(a, b):
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0 else None


def backend_ratios(doc):
    """RocksDB / heap per shape, mode and chunk size, from main runs of the same doc (same run, same machine)."""
    out = []
    main = [r for r in doc.get("runs", []) if is_main(r) and not r.get("error")]
    for h in main:
        if h.get("backend", "hashmap") != "hashmap":
            continue
        for k in main:
            if (k.get("backend") == "rocksdb" and shape_key(k) == shape_key(h) and k.get("mode") == h.get("mode")
                    and k.get("chunk_size") == h.get("chunk_size")):
                name = h["mode"] + (f", chunk {h.get('chunk_size')}" if varies(doc, "chunk_size") else "")
                out.append({
                    "shape": shape_key(h), "label": h["shape"]["label"], "name": name,
                    "heap_ingest": _get(h, "ingest", "events_per_s"), "rocksdb_ingest": _get(k, "ingest", "events_per_s"),
                    "ingest_ratio": _ratio(_get(k, "ingest", "events_per_s"), _get(h, "ingest", "events_per_s")),
                    "heap_qps": _get(h, "saturation", "qps"), "rocksdb_qps": _get(k, "saturation", "qps"),
                    "qps_ratio": _ratio(_get(k, "saturation", "qps"), _get(h, "saturation", "qps")),
                    "heap_cpu_qps": _get(h, "saturation", "queries_per_job_cpu_s"),
                    "rocksdb_cpu_qps": _get(k, "saturation", "queries_per_job_cpu_s"),
                    "heap_p50": _get(h, "open_loop", "latency_ms", "p50"),
                    "rocksdb_p50": _get(k, "open_loop", "latency_ms", "p50"),
                    "heap_p99": _get(h, "open_loop", "latency_ms", "p99"),
                    "rocksdb_p99": _get(k, "open_loop", "latency_ms", "p99"),
                })
    return out


def consistency_rows(doc):
    """The consistency variants, each with its added latency against the arrival variant of the same run."""
    runs = [r for r in doc.get("runs", []) if not is_main(r) and not r.get("error")]
    base = next((r for r in runs if r.get("consistency") == "arrival"), None)
    out = []
    for r in runs:
        row = {"consistency": r.get("consistency"), "run": r}
        for p in ("p50", "p95", "p99"):
            v = _get(r, "open_loop", "latency_ms", p)
            row[p] = v
            b = _get(base, "open_loop", "latency_ms", p) if base else None
            row[f"added_{p}"] = v - b if isinstance(v, (int, float)) and isinstance(b, (int, float)) else None
        out.append(row)
    return out


def charts(doc, out_dir, prefix):
    runs = [r for r in doc.get("runs", []) if "saturation" in r and is_main(r)]
    shapes = []
    for r in runs:
        if r["shape"]["label"] not in shapes:
            shapes.append(r["shape"]["label"])
    names = []  # one bar series per mode (x backend x chunk size where those vary)
    for r in runs:
        if run_name(doc, r) not in names:
            names.append(run_name(doc, r))

    def colour(i, name):
        return benchtool.COLOURS.get(name, PALETTE[i % len(PALETTE)])

    def val(shape, name, f):
        for r in runs:
            if r["shape"]["label"] == shape and run_name(doc, r) == name:
                try:
                    return f(r)
                except (KeyError, TypeError):
                    return None
        return None
    files = []
    tp = os.path.join(out_dir, f"{prefix}-throughput.svg")
    benchtool.svg_bars("Recall throughput, queries/s (closed-loop saturation; higher is better)", shapes,
                       [(n, colour(i, n), [val(s, n, lambda r: r["saturation"]["qps"]) for s in shapes])
                        for i, n in enumerate(names)], "queries/s", tp)
    files.append(tp)
    groups, series = [], {n: [] for n in names}
    for s in shapes:
        for p in ("p50", "p95", "p99"):
            groups.append(f"{s} {p}")
            for n in names:
                series[n].append(val(s, n, lambda r, p=p: r.get("open_loop", {}).get("latency_ms", {}).get(p)))
    lat = os.path.join(out_dir, f"{prefix}-latency.svg")
    benchtool.svg_bars(f"Recall latency at {doc['config']['load'] * 100:g}% of max throughput, ms "
                       "(open loop, read_uncommitted; lower is better)", groups,
                       [(n, colour(i, n), series[n]) for i, n in enumerate(names)], "ms", lat, log=True)
    files.append(lat)
    ing = os.path.join(out_dir, f"{prefix}-ingest.svg")
    benchtool.svg_bars("Ingest, memory events/s applied by the job (higher is better)", shapes,
                       [(n, colour(i, n), [val(s, n, lambda r: r["ingest"]["events_per_s"]) for s in shapes])
                        for i, n in enumerate(names)], "events/s", ing)
    files.append(ing)
    rows = consistency_rows(doc)
    if rows:
        path = os.path.join(out_dir, f"{prefix}-consistency.svg")
        r0 = rows[0]["run"]
        benchtool.svg_bars(f"{r0['shape']['label']}, {r0['mode']}, {r0.get('backend', 'hashmap')}: recall latency by "
                           "consistency, ms (open loop, background stores; lower is better)",
                           [x["consistency"] for x in rows],
                           [(p, c, [x[p] for x in rows]) for p, c in (("p50", "#7fb069"), ("p95", "#f7a41d"),
                                                                      ("p99", "#c0392b"))], "ms", path, log=True)
        files.append(path)
    for r in doc.get("runs", []):
        tl = r.get("open_loop", {}).get("timeline")
        if not tl:
            continue
        marks = {int(c["trigger_s"]) for c in r["open_loop"].get("checkpoints", []) if c.get("trigger_s", -1) >= 0}
        groups = [f"{b['second']}{'*' if b['second'] in marks else ''}" for b in tl]
        path = os.path.join(out_dir, f"{prefix}-timeline-{run_id(doc, r)}.svg")
        benchtool.svg_bars(f"{r['shape']['label']}, {run_name(doc, r)}: open-loop latency per second, ms "
                           "(* = a checkpoint started in that second)", groups,
                           [("p50", "#7fb069", [b.get("p50") for b in tl]),
                            ("p99", "#c0392b", [b.get("p99") for b in tl])], "ms", path, log=True)
        files.append(path)
    return files


def report(doc, md_path, out_dir, prefix, results_name, notes=None):
    os.makedirs(out_dir, exist_ok=True)
    files = charts(doc, out_dir, prefix)
    m, v, c = doc["machine"], doc["versions"], doc["config"]
    lines = []
    w = lines.append
    w("# End-to-end benchmark")
    w("")
    w("Generated by `deploy/scripts/benchmark_e2e.sh` (deploy/scripts/bench/e2etool.py) from "
      f"`{results_name}`; do not edit by hand. Every number below was measured in that one run.")
    w("")
    if doc.get("note"):
        w(f"> **{doc['note']}**")
        w("")
    w("## Machine, versions, command")
    w("")
    w("| | |")
    w("|---|---|")
    w(f"| measured | {doc['date']} |")
    w(f"| CPU | {m['cpu']} ({m['cores']} vCPU, {m['cpu_flags']}), {m.get('memory_gib')} GiB RAM |")
    c = doc.get("config", {})
    if c.get("job_cpus", "all") != "all":
        w(f"| CPUs | the job's JVM on {c['job_cpus']} (`--job-cpus`), the driver's and broker's JVM on "
          f"{c.get('driver_cpus_allowed', 'unknown')} |")
    w(f"| load average (1/5/15 min) | {m.get('load_average_start')} at the start, {m.get('load_average_end')} "
      "at the end |")
    w(f"| OS | {m['os']} |")
    w(f"| JDK | {m['jdk']} |")
    w(f"| Flink | {v['flink']} (MiniCluster in a child JVM: `engram run`) |")
    w(f"| Kafka | {v['kafka']} (broker: KRaft, single node, in the driver's JVM) |")
    w(f"| command | `{doc.get('command') or 'deploy/scripts/benchmark_e2e.sh'}` (preset {doc['preset']}) |")
    w("")
    w("## Setup")
    w("")
    w("Everything runs on this one machine: the Kafka broker and the load driver in one JVM, the job in another "
      "(`engram run`: a MiniCluster with one TaskManager running the real `EngramJob.build` graph with its "
      f"exactly-once Kafka sinks), parallelism {c['parallelism']}. Each shape and kernel mode gets fresh topics "
      f"({c['parallelism']} partitions each) and a fresh job. The job JVM's heap is {c['job_heap']} (`-Xms`=`-Xmx`; "
      "in a MiniCluster the TaskManager heap is the JVM heap); the native scratch arenas are task off-heap memory, "
      "which `engram run` sizes as arena size × slots + 32 MiB. Space names are chosen so that the spaces spread "
      "evenly over the Kafka partitions and over the operator's subtasks.")
    w("")
    backends = sorted({r.get("backend", "hashmap") for r in doc["runs"]})
    if backends == ["hashmap"]:
        w("State backend: **hashmap** (heap). The spaces fit the heap easily (4 × 10k × 768d is 123 MB of "
          "embeddings).")
    else:
        w(f"State backends: **{', '.join(backends)}**, each run on its own fresh job; RocksDB with incremental "
          "checkpoints (`execution.checkpointing.incremental=true`, what `deploy/flink/config.yaml` and the k8s "
          "manifests run). Both keep a space as chunks of `engram.state.chunk-size` memories in keyed map state; "
          "on RocksDB a per-subtask cache of decoded chunks (`engram.state.cache-size`) serves recalls.")
    w("")
    w("Job configuration (`-D` options of `engram run`; `MODE` and `PREFIX` vary per run):")
    w("")
    w("```")
    for k, val in c["job_conf"].items():
        w(f"{k}={val}")
    w("```")
    w("")
    w("- `execution.buffer-timeout.interval=5ms`: Flink flushes network buffers every 100 ms by default, which "
      "alone would dominate recall latency; 5 ms is the usual low-latency setting.")
    w("- Checkpoint interval: the job's default (10 s) unless `execution.checkpointing.interval` is above. "
      "**read_committed consumers see a result only when the checkpoint that commits its transaction completes, "
      "i.e. up to one checkpoint interval (plus the checkpoint's own duration) later** than the latencies below, "
      "which are read with `isolation.level=read_uncommitted`. The read_committed latency is reported too.")
    w("")
    w("## Method")
    w("")
    w("Per shape and mode, on the running job:")
    w("")
    w("1. **Ingest**: every StoreMemory event (random unit vectors, seeded) is produced as fast as the producer "
      "goes; the time runs until the job has applied all of them, detected by a probe recall per space whose cue is "
      "the space's last stored embedding (a space's events are in order on one partition, so when that memory is "
      "the top hit, all before it are applied). Rate = events / that time.")
    w(f"2. **Maximum throughput** (closed-loop saturation): {c['in_flight']} queries are kept in flight (a new one "
      f"as soon as one is answered), {c['warmup_s']:g} s warm-up, then the answers arriving in a {c['saturation_s']:g} s "
      "window are counted. With that many queued the job never waits for the driver, so the answer rate is the "
      "most the job sustains; the latency in that phase is mostly queueing and is not the goal's latency.")
    w(f"3. **Latency** (open loop): queries at a fixed rate of {c['load'] * 100:g}% of that maximum for "
      f"{c['open_loop_s']:g} s, on a schedule that does not wait for answers (no coordinated omission). Latency = "
      "time the result appears to a read_uncommitted consumer − the query's scheduled produce time. "
      f"The driver's query producer lingers {c.get('query_linger_ms', 0)} ms (`--query-linger-ms`; 0 = one produce "
      "request per query when the broker keeps up, Kafka 4's own default is 5). "
      "Each query: a random unit cue against a random space, k = "
      f"{c['k']}, the job's default seed-k and hops (the spaces have no association edges).")
    w("4. **Verification**: a read_committed consumer must see exactly one result for every query sent (probes "
      "included), no result of an unknown query, no dead letter, and every result computed by the requested kernel "
      "mode (the result's `kernel_mode`).")
    if doc["config"].get("verify_recall"):
        w(f"5. **Answers**: {doc['config']['verify_recall']} more queries per run whose hits must equal a brute-force "
          "reference (exact cosine in f64 over the regenerated stored vectors: same ids in the same order up to "
          f"near-ties, similarities within the contract's tolerance).")
    if any(not is_main(r) for r in doc["runs"]):
        w(f"6. **Consistency variants**: fresh jobs with the settings of the first main run, a background stream of "
          f"{doc['config'].get('background_writes_per_space_s', '?')} stores per second per space (stamped with the "
          "wall clock), and an open loop at the rate of that main run's open loop, without a saturation phase: "
          "`arrival` (the job answers from the state it has), `event-time` (`engram.recall.consistency=event-time`: "
          "a query waits until the memory-event watermark passes its timestamp, at the default watermark settings), "
          "and `read-your-writes` (arrival mode, every query names its space's latest store the producer got "
          "acknowledged in `after_positions` and waits until that is applied). The added latency is each variant's "
          "minus the arrival variant's, in the same run.")
    w("")
    w("## Goals")
    w("")
    gs = goals(doc)
    if gs:
        w("| goal | shape | mode | measured | met |")
        w("|---|---|---|---|---|")
        for g, shape, mode, measured, met in gs:
            w(f"| {g} | {shape} | {mode} | {measured} | {'yes' if met else '**no**'} |")
    else:
        w(f"The throughput and latency goals are set for {', '.join(GOAL_P99_SHAPES)}; none applies to this run's "
          "shapes.")
    w("")
    brs = backend_ratios(doc)
    if brs:
        w("## RocksDB / heap, same run")
        w("")
        w("| shape | mode | ingest events/s: heap / RocksDB | RocksDB / heap | queries/s: heap / RocksDB | RocksDB / heap "
          "| queries per job CPU-second: heap / RocksDB | open-loop p50 ms: heap / RocksDB | p99 ms: heap / RocksDB |")
        w("|---|---|---|---|---|---|---|---|---|")
        for b in brs:
            w(f"| {b['label']} | {b['name']} | {fmt(b['heap_ingest'], 0)} / {fmt(b['rocksdb_ingest'], 0)} | "
              f"{fmt(b['ingest_ratio'], 2)}× | {fmt(b['heap_qps'])} / {fmt(b['rocksdb_qps'])} | {fmt(b['qps_ratio'], 2)}× | "
              f"{fmt(b['heap_cpu_qps'])} / {fmt(b['rocksdb_cpu_qps'])} | {fmt(b['heap_p50'])} / {fmt(b['rocksdb_p50'])} | "
              f"{fmt(b['heap_p99'])} / {fmt(b['rocksdb_p99'])} |")
        w("")
        w("Each pair ran back to back on fresh jobs with the same shape, data and query mix; only "
          "`state.backend.type` (and incremental checkpoints for RocksDB) differ.")
        w("")
    crs = consistency_rows(doc)
    if crs:
        r0 = crs[0]["run"]
        w(f"## Consistency: latency cost, same run ({r0['shape']['label']}, {r0['mode']}, "
          f"{r0.get('backend', 'hashmap')})")
        w("")
        w("| consistency | open loop queries/s: target / achieved | p50 ms | p95 ms | p99 ms | added p50 ms | added p99 ms "
          "| stale answers | background stores acknowledged |")
        w("|---|---|---|---|---|---|---|---|---|")
        for x in crs:
            o = x["run"].get("open_loop", {})
            w(f"| {x['consistency']} | {fmt(o.get('target_qps'))} / {fmt(o.get('achieved_qps'))} | {fmt(x['p50'])} | "
              f"{fmt(x['p95'])} | {fmt(x['p99'])} | {fmt(x['added_p50'])} | {fmt(x['added_p99'])} | "
              f"{fmt(o.get('stale'))} | {fmt(o.get('background_stores_acked'))} |")
        w("")
    if varies(doc, "chunk_size"):
        w("## Chunk size, same run")
        w("")
        w("| shape | run | state bytes written per store | ingest events/s | queries/s | recall compute p50 ms | "
          "open-loop p50 / p99 ms | last checkpoint: full / uploaded MB |")
        w("|---|---|---|---|---|---|---|---|")
        for r in doc["runs"]:
            if not is_main(r) or r.get("error"):
                continue
            cps = [c for c in _get(r, "open_loop", "checkpoints") or [] if c.get("status") == "COMPLETED"]
            last = cps[-1] if cps else None
            w(f"| {r['shape']['label']} | {run_name(doc, r)} | {fmt(_get(r, 'ingest', 'state_bytes_written_per_event'), 0)} | "
              f"{fmt(_get(r, 'ingest', 'events_per_s'), 0)} | {fmt(_get(r, 'saturation', 'qps'))} | "
              f"{fmt(_get(r, 'saturation', 'job_compute_ms', 'p50'), 3)} | {fmt(_get(r, 'open_loop', 'latency_ms', 'p50'))} / "
              f"{fmt(_get(r, 'open_loop', 'latency_ms', 'p99'))} | "
              f"{fmt(last['state_mb']) if last else '–'} / {fmt(last.get('checkpointed_mb')) if last else '–'} |")
        w("")
    if doc.get("ratios"):
        w("## Zig / Java, same run")
        w("")
        w("| shape | Zig queries/s | Java queries/s | Zig / Java | queries per job CPU-second: Zig / Java | Zig / Java "
          "per CPU-second | recall compute in the operator, p50 ms: Zig / Java | Java / Zig compute |")
        w("|---|---|---|---|---|---|---|---|")
        for r in doc["ratios"]:
            label = next((x["shape"]["label"] for x in doc["runs"] if shape_key(x) == r["shape"]), r["shape"])
            if varies(doc, "backend", "hashmap") or varies(doc, "chunk_size"):
                label += f" ({r.get('backend', 'hashmap')}, chunk {r.get('chunk_size')})"
            comp = {x["mode"]: x.get("saturation", {}).get("job_compute_ms", {}).get("p50")
                    for x in doc["runs"] if shape_key(x) == r["shape"] and is_main(x)
                    and x.get("backend", "hashmap") == r.get("backend", "hashmap")
                    and x.get("chunk_size") == r.get("chunk_size")}
            z, j = comp.get("zig"), comp.get("java")
            zc, jc = r.get("zig_queries_per_job_cpu_s"), r.get("java_queries_per_job_cpu_s")
            w(f"| {label} | {fmt(r['zig_qps'])} | {fmt(r['java_qps'])} | {r['zig_over_java']:.2f}× | "
              f"{fmt(zc)} / {fmt(jc)} | {f'{zc / jc:.2f}×' if zc and jc else '–'} | "
              f"{fmt(z, 3)} / {fmt(j, 3)} | {f'{j / z:.2f}×' if z and j else '–'} |")
        w("")
        w("Queries/s is what the whole pipeline sustains (Kafka, Avro, Flink network, the recall, the exactly-once "
          "sink) with the driver and the broker on the same cores (unless the CPUs row above says otherwise), in the share of the machine the job got. Queries "
          "per job CPU-second divides the answers of the saturation window by the CPU time the job's JVM used in it "
          "(user + system, from the OS): it does not depend on how much of the machine other processes took. The "
          "compute columns are the `latency_us` the operator reports for the recall alone (wall time, so a busy "
          "machine inflates them too).")
        w("")
    shapes = []
    for r in doc["runs"]:
        if r["shape"]["label"] not in shapes:
            shapes.append(r["shape"]["label"])
    for s in shapes:
        runs = [r for r in doc["runs"] if r["shape"]["label"] == s]
        sh = runs[0]["shape"]
        w(f"## {s}: {sh['spaces']} spaces of {sh['memories']:,} memories × {sh['dim']}d")
        w("")
        w("| | " + " | ".join(run_name(doc, r) for r in runs) + " |")
        w("|---|" + "---|" * len(runs))

        def row(label, f, runs=runs):
            vals = []
            for r in runs:
                try:
                    vals.append(f(r))
                except (KeyError, TypeError):
                    vals.append("–")
            if any(v != "–" for v in vals):  # a row no run has (e.g. an older results file) is left out
                w(f"| {label} | " + " | ".join(vals) + " |")
        row("ingest: memory events/s", lambda r: fmt(r["ingest"]["events_per_s"], 0))
        row("ingest: events (MB of embeddings)", lambda r: f"{r['ingest']['events']:,} ({r['ingest']['mb']:.0f} MB)")
        row("ingest: state bytes written per event", lambda r: fmt(r["ingest"]["state_bytes_written_per_event"], 0))
        row("max throughput: queries/s (closed loop)", lambda r: fmt(r["saturation"]["qps"]))
        row("↳ job CPU used, cores (driver + broker JVM)", lambda r: f"{r['saturation']['job_cpu_cores']:.2f} "
            f"({r['saturation']['driver_cpu_cores']:.2f})")
        row("↳ queries per job CPU-second", lambda r: fmt(r["saturation"]["queries_per_job_cpu_s"]))
        row("↳ queries per recall batch", lambda r: fmt(r["saturation"]["recall_batches"]["queries_per_batch"], 2))
        row("↳ latency at saturation p50 / p99, ms", lambda r: f"{fmt(r['saturation']['latency_ms']['p50'])} / "
            f"{fmt(r['saturation']['latency_ms']['p99'])}")
        row("open loop: target / achieved queries/s", lambda r: f"{fmt(r['open_loop']['target_qps'])} / "
            f"{fmt(r['open_loop']['achieved_qps'])}")
        row("↳ job CPU used, cores", lambda r: f"{r['open_loop']['job_cpu_cores']:.2f}")
        row("↳ queries per recall batch", lambda r: fmt(r["open_loop"]["recall_batches"]["queries_per_batch"], 2))
        for p in ("p50", "p95", "p99", "max"):
            row(f"↳ latency {p}, ms (read_uncommitted)",
                lambda r, p=p: fmt(r["open_loop"]["latency_ms"][p]))
        row("↳ latency p50 / p99, ms (read_committed)", lambda r: f"{fmt(r['open_loop']['committed_latency_ms']['p50'], 0)}"
            f" / {fmt(r['open_loop']['committed_latency_ms']['p99'], 0)}")
        row("↳ recall compute in the operator p50 / p99, ms", lambda r: f"{fmt(r['open_loop']['job_compute_ms']['p50'], 2)}"
            f" / {fmt(r['open_loop']['job_compute_ms']['p99'], 2)}")
        row("↳ driver send lag max, ms", lambda r: fmt(r["open_loop"]["max_send_lag_ms"]))
        row("↳ stale answers (read-your-writes timeout)", lambda r: fmt(r["open_loop"]["stale"]))
        row("↳ checkpoints started in the open loop: duration / state size (uploaded)",
            lambda r: ", ".join(f"{c['duration_ms']} ms / {c['state_mb']:.0f} MB"
                                + (f" ({c['checkpointed_mb']:.1f})" if "checkpointed_mb" in c else "")
                                for c in r["open_loop"]["checkpoints"]
                                if 0 <= c["trigger_s"] <= doc["config"]["open_loop_s"]) or "none")
        row("queries verified (read_committed, exactly once)", lambda r: f"{r['verification']['committed_exactly_once']:,}"
            f" of {r['verification']['queries']:,}")
        row("dead letters / unknown results / wrong mode", lambda r: f"{r['verification']['dead_letters']} / "
            f"{r['verification']['unknown_results']} / {r['verification']['wrong_kernel_mode']}")
        row("answers equal to the brute-force reference", lambda r: f"{r['recall_check']['matched']} of "
            f"{r['recall_check']['queries']} (max similarity error {r['recall_check']['max_similarity_error']:.1e}, "
            f"reference {r['recall_check']['reference_s']:.1f} s)")
        row("job JVM peak RSS, MB", lambda r: fmt(r["job_peak_rss_mb"], 0))
        for r in runs:
            if r.get("error"):
                w("")
                w(f"{run_name(doc, r)}: **failed**: `{r['error']}`")
        w("")
    w("## Charts")
    w("")
    for f in files:
        w(f"![{os.path.basename(f)}]({os.path.relpath(f, os.path.dirname(os.path.abspath(md_path)))})")
        w("")
    problems = check(doc)
    w("## Sanity checks")
    w("")
    w("All passed." if not problems else "\n".join(f"- {p}" for p in problems))
    w("")
    if notes:
        w(notes.rstrip())
        w("")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return files


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("results")
    r = sub.add_parser("report")
    r.add_argument("--md", required=True)
    r.add_argument("--out-dir", required=True, help="where the SVG charts go")
    r.add_argument("--prefix", default="e2e", help="chart file name prefix")
    r.add_argument("--results-name", help="how the page names the results file (default: its path)")
    r.add_argument("--notes-file", help="hand-written Markdown appended to the page")
    r.add_argument("results")
    args = p.parse_args(argv)
    doc = load(args.results)
    if args.cmd == "check":
        problems = check(doc)
        for line in problems:
            print("benchmark_e2e: CHECK FAILED: " + line)
        if not problems:
            n = sum(r.get("verification", {}).get("queries", 0) for r in doc["runs"])
            print(f"benchmark_e2e: sanity checks passed ({len(doc['runs'])} runs, {n} queries answered exactly once)")
        return 1 if problems else 0
    notes = None
    if args.notes_file:
        with open(args.notes_file, encoding="utf-8") as f:
            notes = f.read()
    files = report(doc, args.md, args.out_dir, args.prefix, args.results_name or args.results, notes)
    print(f"wrote {args.md} and {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
