#!/usr/bin/env python3
"""The peer benchmark's Python side: numpy (OpenBLAS) and FAISS on the vectors and shapes of the JMH suite.

Subcommands (deploy/scripts/benchmark_peers.sh drives them):
  measure  generate the JMH benchmarks' vectors (BenchSupport.floats, a SplittableRandom stream, reproduced bit for bit
           and checked against the jar's own checksums), normalise them for the peers, and time numpy and FAISS,
           single-threaded, with the same-run ceilings of this process (the read sweep and FMA loop of
           libengram-bench, through ctypes); writes one JSON file per round
  report   combine the JMH JSON of every round with the peers' rounds: a ratio table against the best peer, fractions
           of the read and FMA ceilings, an SVG chart; writes docs/benchmarks/peers.md (or --md)

Fairness, as the issue asks: the kernels under test store each row's norm, so the peers get unit-length rows and cue
(their plain inner product is then the cosine); top-k is counted on both sides (FAISS's search returns it, numpy does
an argpartition, our side selects from the kernel's scores in Java); everything runs on one thread with the page size
recorded. Timings are the thread's CPU time per call, as the JMH side reports (CpuTime), median over iterations.
"""
import argparse
import ctypes
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

# One thread for every BLAS and OpenMP runtime, set before numpy or FAISS load them.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ[_var] = "1"

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchtool  # noqa: E402  (fingerprint and the SVG chart of the kernel report)

GAMMA = 0x9E3779B97F4A7C15
MASK = (1 << 64) - 1
DIM = 768
TOP_K = 16
# Seeds of BenchSupport.floats in the JMH benchmarks: SimilarityBench query 1, candidates 2; BatchBench queries 3,
# candidates 2 (the hot block).
SEED_QUERY, SEED_ROWS, SEED_QUERIES = 1, 2, 3


# --------------------------------------------------------------------------------------------------- the data ----

def java_floats(np, seed, n, chunk=1 << 22):
    """BenchSupport.floats(seed, n): (float) (new SplittableRandom(seed).nextDouble() * 2 - 1), n times."""
    out = np.empty(n, dtype=np.float32)
    gamma = np.uint64(GAMMA)
    for start in range(0, n, chunk):
        count = min(chunk, n - start)
        with np.errstate(over="ignore"):
            i = np.arange(start + 1, start + count + 1, dtype=np.uint64)
            z = np.uint64(seed & MASK) + gamma * i
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            z = z ^ (z >> np.uint64(31))
        d = (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)
        out[start:start + count] = (d * 2 - 1).astype(np.float32)
    return out


def checksum(np, v):
    """PeerData.checksum: sum of bits(v[i]) * (2i + 1) mod 2^64."""
    bits = v.view(np.uint32).astype(np.uint64)
    with np.errstate(over="ignore"):
        weights = np.arange(v.size, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        return int(np.sum(bits * weights, dtype=np.uint64))


def check_same_data(np, jar, java, pairs):
    """Asks the benchmark jar for the checksums of its vectors and compares them with numpy's."""
    args = [java, "-cp", jar, "io.engram.kernels.bench.PeerData"]
    for seed, n in pairs:
        args += [str(seed), str(n)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    for k, (seed, n) in enumerate(pairs):
        want = int(out[3 * k + 2])
        got = checksum(np, java_floats(np, seed, n))
        if got != want:
            raise SystemExit(f"peers: vectors differ from the JMH suite's (seed {seed}, n {n}): "
                             f"java {want}, numpy {got}")
    return len(pairs)


# ----------------------------------------------------------------------------------------------- ceilings ----

def bench_library(root):
    """libengram-bench for this CPU (the same choice BenchNative makes: v4, v3, baseline)."""
    flags = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    v3 = {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe"}
    v4 = v3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}
    order = (["x86_64_v4"] if v4 <= flags else []) + (["x86_64_v3"] if v3 <= flags else []) + ["baseline"]
    for variant in order:
        path = os.path.join(root, "x86_64-linux-gnu", variant, "libengram-bench.so")
        if os.path.exists(path):
            lib = ctypes.CDLL(path)
            lib.engram_bench_sweep.restype = ctypes.c_uint64
            lib.engram_bench_sweep.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
            lib.engram_bench_fma_peak.restype = ctypes.c_float
            lib.engram_bench_fma_peak.argtypes = [ctypes.c_uint64]
            lib.engram_bench_fma_flops_per_iteration.restype = ctypes.c_uint64
            return lib, "x86_64-linux-gnu/" + variant
    raise SystemExit(f"peers: no libengram-bench under {root} (build it: native/build.sh build)")


# ------------------------------------------------------------------------------------------------- timing ----

def measure(fn, seconds, min_calls=3):
    """Median CPU and wall ns per call over iterations of ~seconds/8 each, after a warm-up of the same length."""
    t_end = time.perf_counter() + seconds / 4
    while True:  # warm-up; also sizes an iteration
        c0 = time.perf_counter_ns()
        fn()
        one = max(1, time.perf_counter_ns() - c0)
        if time.perf_counter() > t_end:
            break
    per_iter = max(1, int(seconds / 8 * 1e9 / one))
    cpu, wall = [], []
    deadline = time.perf_counter() + seconds
    while len(cpu) < min_calls or time.perf_counter() < deadline:
        w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        for _ in range(per_iter):
            fn()
        c1, w1 = time.thread_time_ns(), time.perf_counter_ns()
        cpu.append((c1 - c0) / per_iter)
        wall.append((w1 - w0) / per_iter)
    return {"cpu_ns": statistics.median(cpu), "wall_ns": statistics.median(wall), "iterations": len(cpu),
            "calls_per_iteration": per_iter}


def measure_round(args):
    import numpy as np
    import faiss
    faiss.omp_set_num_threads(1)
    lib, variant = bench_library(args.bench_lib)
    sizes = [int(x) for x in args.sizes.split(",")]
    batch_sizes = [int(x) for x in args.batch_sizes.split(",")]
    result = {"round": args.round, "numpy": np.__version__, "faiss": faiss.__version__, "bench_library": variant,
              "blas": blas_info(np), "cases": {}, "ceilings": {}}
    if args.jar and args.round == 1:
        pairs = [(SEED_QUERY, DIM), (SEED_QUERIES, args.b * DIM)] + [(SEED_ROWS, n * DIM)
                                                                      for n in sorted(set(sizes + batch_sizes))]
        result["same_data_checked"] = check_same_data(np, args.jar, args.java, pairs)

    q = java_floats(np, SEED_QUERY, DIM)
    qn = (q / np.linalg.norm(q.astype(np.float64))).astype(np.float32)
    qs = java_floats(np, SEED_QUERIES, args.b * DIM).reshape(args.b, DIM)
    qsn = (qs / np.linalg.norm(qs.astype(np.float64), axis=1, keepdims=True)).astype(np.float32)

    # FMA ceiling of this process (the same loop JMH's CeilingBench runs).
    iters = 100_000
    flops = lib.engram_bench_fma_flops_per_iteration() * iters
    r = measure(lambda: lib.engram_bench_fma_peak(iters), args.seconds)
    result["ceilings"]["fma_gflops"] = flops / r["cpu_ns"]

    for n in sorted(set(sizes + batch_sizes)):
        x = java_floats(np, SEED_ROWS, n * DIM).reshape(n, DIM)
        norms = np.linalg.norm(x.astype(np.float64), axis=1).astype(np.float32)
        xn = np.ascontiguousarray(x / norms[:, None], dtype=np.float32)
        del x
        ptr = xn.ctypes.data
        r = measure(lambda: lib.engram_bench_sweep(ptr, xn.nbytes), args.seconds)
        result["ceilings"][f"sweep_{n}"] = r
        index = faiss.IndexFlatIP(DIM)
        index.add(xn)
        if n in sizes:
            s = np.empty(n, dtype=np.float32)
            cases = {
                "numpy_scores": lambda: np.matmul(xn, qn, out=s),
                "numpy_top16": lambda: top16(np, np.matmul(xn, qn, out=s)),
                "faiss_top16": lambda: index.search(qn[None, :], TOP_K),
            }
            for name, fn in cases.items():
                result["cases"][f"{name}_1x{n}"] = measure(fn, args.seconds)
        if n in batch_sizes:
            sb = np.empty((args.b, n), dtype=np.float32)
            threshold = faiss.cvar.distance_compute_blas_threshold
            cases = {
                "numpy_scores": lambda: np.matmul(qsn, xn.T, out=sb),
                "numpy_top16": lambda: [top16(np, row) for row in np.matmul(qsn, xn.T, out=sb)],
                "faiss_top16": lambda: index.search(qsn, TOP_K),
            }
            for name, fn in cases.items():
                result["cases"][f"{name}_{args.b}x{n}"] = measure(fn, args.seconds)
            # FAISS's BLAS path (sgemm, then the heaps), which it takes from 20 queries on; forced for 8.
            faiss.cvar.distance_compute_blas_threshold = 1
            try:
                result["cases"][f"faissblas_top16_{args.b}x{n}"] = measure(lambda: index.search(qsn, TOP_K),
                                                                           args.seconds)
            finally:
                faiss.cvar.distance_compute_blas_threshold = threshold
        del index, xn
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(f"peers: round {args.round} measured ({len(result['cases'])} cases) -> {args.out}")


def top16(np, s):
    idx = np.argpartition(-s, TOP_K - 1)[:TOP_K]
    return idx[np.argsort(-s[idx], kind="stable")]


def blas_info(np):
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        info = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # noqa: BLE001 - informational only
        info = "unknown"
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            if pool.get("internal_api") == "openblas":
                info += f", core {pool.get('architecture')}, {pool.get('num_threads')} thread(s)"
    except ImportError:
        pass
    return info


# ------------------------------------------------------------------------------------------------- report ----

def load_jmh(paths):
    """Per round: {key: cpu ns} (and the flops of CeilingBench) from the rounds' JMH JSON files."""
    rounds = []
    for path in paths:
        r = benchtool.load_rounds([path])[0]
        with open(path, encoding="utf-8") as f:
            for e in json.load(f):
                if e["benchmark"].endswith("CeilingBench.fmaPeak"):
                    sec = e.get("secondaryMetrics") or {}
                    fl = [v for fork in sec.get("flops", {}).get("rawData", []) for v in fork]
                    ops = [v for fork in sec.get("ops", {}).get("rawData", []) for v in fork]
                    if fl and ops:
                        r["_fma_flops_per_op"] = sum(fl) / sum(ops)
        rounds.append(r)
    return rounds


def ours(r, method, **params):
    cls, meth = method.split(".")
    key = benchtool.bench_key(cls + "." + meth, {k: str(v) for k, v in params.items()})
    v = r.get(key)
    return None if v is None else v["median"]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def round_files(directory, prefix):
    """The round files <prefix>-r<i>.json in round order (not peers-results.json, which the report writes)."""
    found = []
    for path in glob.glob(os.path.join(directory, f"{prefix}-r*.json")):
        m = re.fullmatch(re.escape(prefix) + r"-r(\d+)\.json", os.path.basename(path))
        if m:
            found.append((int(m.group(1)), path))
    return [path for _, path in sorted(found)]


def report(args):
    jmh = load_jmh(round_files(args.dir, "jmh"))
    peers = []
    for path in round_files(args.dir, "peers"):
        with open(path, encoding="utf-8") as f:
            peers.append(json.load(f))
    if not jmh or len(jmh) != len(peers):
        raise SystemExit(f"peers: need as many JMH rounds as peer rounds under {args.dir} "
                         f"({len(jmh)} and {len(peers)})")
    sizes = [int(x) for x in args.sizes.split(",")]
    batch_sizes = [int(x) for x in args.batch_sizes.split(",")]
    b = args.b
    rows = []  # one per shape: ours, peers, ratio, ceilings

    def per_round(fn):
        return [fn(j, p) for j, p in zip(jmh, peers)]

    def peer(p, name):
        c = p["cases"].get(name)
        return None if c is None else c["cpu_ns"]

    for n in sizes:
        sim = {"dim": DIM, "n": n}
        for mode, our_method, peer_names in (
                ("scores", "SimilarityBench.zigNormed", ["numpy_scores"]),
                ("top-16", "SimilarityBench.zigNormedTop16", ["numpy_top16", "faiss_top16"])):
            ratio = per_round(lambda j, p: best_ratio(ours(j, our_method, **sim),
                                                      [peer(p, f"{nm}_1x{n}") for nm in peer_names]))
            ceiling = per_round(lambda j, p: ratio_of(ours(j, "SimilarityBench.ceiling", **sim),
                                                      ours(j, our_method, **sim)))
            rows.append({
                "shape": f"1 × {n // 1000}k × {DIM}", "mode": mode, "queries": 1, "n": n,
                "ours_ns": med(per_round(lambda j, p: ours(j, our_method, **sim))),
                "plain_ns": med(per_round(lambda j, p: ours(j, "SimilarityBench.zig", **sim))) if mode == "scores"
                else None,
                "peers_ns": {nm: med(per_round(lambda j, p, nm=nm: peer(p, f"{nm}_1x{n}"))) for nm in peer_names},
                "ratio": med(ratio), "ratio_rounds": ratio,
                "read_fraction": med(ceiling),
                "jmh_sweep_ns": med(per_round(lambda j, p: ours(j, "SimilarityBench.ceiling", **sim))),
                "py_sweep_ns": med(per_round(lambda j, p: p["ceilings"].get(f"sweep_{n}", {}).get("cpu_ns"))),
            })
    for n in batch_sizes:
        bat = {"b": b, "dim": DIM, "n": n, "residency": "hot"}
        for mode, our_method, peer_names in (
                ("scores", "BatchBench.zigNormedBatch", ["numpy_scores"]),
                ("top-16", "BatchBench.zigNormedBatchTop16", ["numpy_top16", "faiss_top16", "faissblas_top16"])):
            ratio = per_round(lambda j, p: best_ratio(ours(j, our_method, **bat),
                                                      [peer(p, f"{nm}_{b}x{n}") for nm in peer_names]))
            flops = 2.0 * b * n * DIM
            fma = per_round(lambda j, p: fma_fraction(j, flops, ours(j, our_method, **bat)))
            rows.append({
                "shape": f"{b} × {n // 1000}k × {DIM}", "mode": mode, "queries": b, "n": n,
                "ours_ns": med(per_round(lambda j, p: ours(j, our_method, **bat))),
                "plain_ns": med(per_round(lambda j, p: ours(j, "BatchBench.zigBatch", **bat))) if mode == "scores"
                else None,
                "peers_ns": {nm: med(per_round(lambda j, p, nm=nm: peer(p, f"{nm}_{b}x{n}"))) for nm in peer_names},
                "ratio": med(ratio), "ratio_rounds": ratio, "fma_fraction": med(fma),
                "read_fraction": med(per_round(lambda j, p: ratio_of(
                    ours(j, "SimilarityBench.ceiling", dim=DIM, n=n), ours(j, our_method, **bat)))),
            })
    jni = {m: med([ours(j, f"JniBench.{m}") for j in jmh]) for m in ("zigTinyNormed", "zigTinyCosine", "nativeNoop")}
    fma_jmh = med([fma_gflops(j) for j in jmh])
    fma_py = med([p["ceilings"].get("fma_gflops") for p in peers])
    fp = benchtool.fingerprint(args.java)
    meta = {"rounds": len(jmh), "numpy": peers[0]["numpy"], "faiss": peers[0]["faiss"], "blas": peers[0]["blas"],
            "bench_library": peers[0]["bench_library"], "same_data_checked": peers[0].get("same_data_checked"),
            "kernels_variant": args.variant, "jvm_flags": args.jvm_flags, "settings": args.settings,
            "commit": args.commit, "measured": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "smoke": args.smoke}
    data = {"machine": fp, "meta": meta, "rows": rows, "jni_ns": jni, "fma_gflops_jmh": fma_jmh,
            "fma_gflops_python": fma_py}
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "peers-results.json"), "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    write_markdown(data, args)
    write_chart(data, os.path.join(args.out_dir, "peers.svg"))
    print(f"peers: wrote {args.md}, {os.path.join(args.out_dir, 'peers.svg')} and peers-results.json")
    return 0


def ratio_of(numerator, denominator):
    return None if not numerator or not denominator else numerator / denominator


def best_ratio(ours_ns, peer_ns):
    """Our speed over the best (fastest) peer's: > 1 means we are faster."""
    peer_ns = [p for p in peer_ns if p]
    return None if not ours_ns or not peer_ns else min(peer_ns) / ours_ns


def fma_gflops(j):
    ns = ours(j, "CeilingBench.fmaPeak")
    flops = j.get("_fma_flops_per_op")
    return None if not ns or not flops else flops / ns


def fma_fraction(j, flops, ns):
    peak = fma_gflops(j)
    return None if not peak or not ns else (flops / ns) / peak


GOALS = {("1", "scores"): 1.2, ("1", "top-16"): 1.2, ("8", "scores"): 1.5, ("8", "top-16"): 1.5}


def fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def write_markdown(data, args):
    fp, meta, rows = data["machine"], data["meta"], data["rows"]
    lines = ["# Kernels against their peers (numpy, FAISS)", "",
             "Generated by `deploy/scripts/benchmark_peers.sh` (deploy/scripts/bench/peers.py); do not edit by hand. "
             "Every number below was measured in that run, on one thread, on the same vectors (checked by checksum "
             "against the JMH suite's). Ratios are speeds, > 1 means the Zig kernel is faster; each is the median "
             "over the rounds of the ratio within a round. Times are CPU time per call (the benchmark thread's, on "
             "both sides).", ""]
    if meta.get("smoke"):
        lines += ["**Smoke run** (CI size): short measurements, for the pipeline, not for the numbers.", ""]
    lines += ["## Machine, versions, settings", "", "| | |", "|---|---|"] + benchtool.fingerprint_lines(fp)
    page = "2 MiB transparent huge pages where the kernel allows them (THP mode " + fp.get("thp", "?") + \
           "): the JVM with -XX:+UseTransparentHugePages, numpy's large arrays by its own madvise; else 4 KiB"
    lines += [f"| page size | {page} |",
              f"| kernels | Zig 0.13.0 ReleaseFast, `{meta['kernels_variant']}` build; JVM flags `{meta['jvm_flags']}` |",
              f"| peers | numpy {meta['numpy']} ({meta['blas']}), faiss-cpu {meta['faiss']} `IndexFlatIP`, 1 thread |",
              f"| ceilings | libengram-bench `{meta['bench_library']}`: read sweep over the candidates, FMA chains |",
              f"| same vectors | {meta.get('same_data_checked') or 'not checked'} arrays checked against the jar |",
              f"| rounds | {meta['rounds']} ({meta['settings']}) |",
              f"| commit | {meta['commit']} |", f"| measured | {meta['measured']} |", ""]
    lines += ["## Ours against the best peer", "",
              "Ours: `cosineSimilarityNormed` (stored norms) through JNI from Java; top-16 adds the selection in "
              "Java. Peers: unit-length rows and cues; `numpy_scores` is `X @ q` (sgemv) or `Q @ X.T` (sgemm), "
              "`numpy_top16` adds `argpartition`, `faiss_top16` is `IndexFlatIP.search(k=16)` "
              "(`faissblas`: its BLAS path forced for 8 queries).", "",
              "| shape | result | ours | best peer | ours vs best peer | goal | of read ceiling | of FMA peak | "
              "plain cosine (no stored norms) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        best_name = min((k for k, v in r["peers_ns"].items() if v), key=lambda k: r["peers_ns"][k], default=None)
        best = f"{benchtool.fmt_ns(r['peers_ns'][best_name])} ({best_name})" if best_name else "–"
        goal = GOALS.get((str(r["queries"]), r["mode"]))
        met = "–" if r["ratio"] is None or goal is None else ("yes" if r["ratio"] >= goal else "**no**")
        lines.append(f"| {r['shape']} | {r['mode']} | {benchtool.fmt_ns(r['ours_ns'])} | {best} | "
                     f"**{fmt(r['ratio'])}×** ({met}, rounds {', '.join(fmt(x) for x in r['ratio_rounds'])}) | "
                     f"≥ {goal}× | {fmt(r.get('read_fraction'))} | {fmt(r.get('fma_fraction'))} | "
                     f"{benchtool.fmt_ns(r.get('plain_ns'))} |")
    lines += ["", "![ours and the peers](peers.svg)", "", "## Every peer", "",
              "| shape | result | " + " | ".join(["numpy_scores", "numpy_top16", "faiss_top16", "faissblas_top16"])
              + " |", "|---|---|---|---|---|---|"]
    for r in rows:
        cells = [benchtool.fmt_ns(r["peers_ns"].get(k)) if k in r["peers_ns"] else "–"
                 for k in ("numpy_scores", "numpy_top16", "faiss_top16", "faissblas_top16")]
        lines.append(f"| {r['shape']} | {r['mode']} | " + " | ".join(cells) + " |")
    lines += ["", "## Ceilings and the JNI boundary", "",
              f"- FMA peak, one core: {fmt(data['fma_gflops_jmh'], 1)} GFLOP/s from the JVM, "
              f"{fmt(data['fma_gflops_python'], 1)} GFLOP/s from Python (the same loop).",
              "- Read sweep of the candidates: " + ", ".join(
                  f"{r['n'] // 1000}k {fmt(DIM * 4 * r['n'] / r['jmh_sweep_ns'], 1)} GB/s (JVM) / "
                  f"{fmt(DIM * 4 * r['n'] / r['py_sweep_ns'], 1) if r.get('py_sweep_ns') else '–'} GB/s (Python)"
                  for r in rows if r["mode"] == "scores" and r["queries"] == 1 and r.get("jmh_sweep_ns")) + ".",
              f"- A tiny call through JNI (1 row of dim 8): stored-norm kernel {benchtool.fmt_ns(data['jni_ns'].get('zigTinyNormed'))} "
              f"(5 arrays pinned), plain cosine {benchtool.fmt_ns(data['jni_ns'].get('zigTinyCosine'))} (3 arrays), "
              f"a native no-op {benchtool.fmt_ns(data['jni_ns'].get('nativeNoop'))}; the budget is 100 ns.", ""]
    if args.notes_file and os.path.exists(args.notes_file):
        with open(args.notes_file, encoding="utf-8") as f:
            lines += [f.read().rstrip(), ""]
    with open(args.md, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def write_chart(data, path):
    rows = data["rows"]
    groups = [f"{r['shape'].replace(' × 768', '')} {r['mode']}" for r in rows]
    names = [("ours", "#f7a41d"), ("numpy_scores", "#4c72b0"), ("numpy_top16", "#64b5cd"),
             ("faiss_top16", "#55a868"), ("faissblas_top16", "#8fd18f")]
    series = []
    for name, colour in names:
        vals = []
        for r in rows:
            v = r["ours_ns"] if name == "ours" else r["peers_ns"].get(name)
            vals.append(None if not v else v / (r["n"] * r["queries"]))
        if any(v is not None for v in vals):
            series.append((name, colour, vals))
    benchtool.svg_bars("Similarity, 768d: ns per candidate and cue (lower is better), one thread", groups, series,
                       "ns per candidate and cue", path, log=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--bench-lib", required=True, help="native/target/bench-lib (or the jar's bench-lib, extracted)")
    m.add_argument("--out", required=True)
    m.add_argument("--round", type=int, default=1)
    m.add_argument("--sizes", default="1000,10000,100000")
    m.add_argument("--batch-sizes", default="10000,100000")
    m.add_argument("--b", type=int, default=8)
    m.add_argument("--seconds", type=float, default=3.0, help="measurement time per case")
    m.add_argument("--jar", help="the benchmark jar: check that numpy generates the same vectors")
    m.add_argument("--java", default="java")
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True, help="holds jmh-r<i>.json and peers-r<i>.json")
    r.add_argument("--out-dir", required=True)
    r.add_argument("--md", required=True)
    r.add_argument("--sizes", default="1000,10000,100000")
    r.add_argument("--batch-sizes", default="10000,100000")
    r.add_argument("--b", type=int, default=8)
    r.add_argument("--java", default="java")
    r.add_argument("--variant", default="?")
    r.add_argument("--jvm-flags", default="")
    r.add_argument("--settings", default="")
    r.add_argument("--commit", default="?")
    r.add_argument("--smoke", action="store_true")
    r.add_argument("--notes-file")
    args = p.parse_args(argv)
    if args.cmd == "measure":
        measure_round(args)
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
