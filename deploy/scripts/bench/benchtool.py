#!/usr/bin/env python3
"""Kernel benchmark tooling: the A/B regression gate's comparison, the machine fingerprint, and the report.

Reads JMH JSON results (``-rf json``) of the benchmarks in kernels/src/jmh/java.

Subcommands:
  ab           the regression gate: the same short suite measured from two benchmark jars, A (the baseline commit)
               and B (the current tree), interleaved in rounds on this machine in this run; compares each same-run
               ratio of B with A's, round by round; exit 1 on a regression
  fingerprint  what a result depends on: CPU family/model/stepping, caches, instruction sets, THP mode, kernel, JDK
  report       write docs/benchmarks/kernels.md and the SVG charts from a full run

Why A/B: the machines are noisy shared VMs, and two hosts that look alike (same CPU model string) can differ in
cache share, page size and memory bandwidth by far more than a regression. A ratio measured elsewhere says nothing
about this machine; a ratio of A and of B measured back to back here does.

Standard library only (python3 >= 3.8).
"""
import argparse
import glob
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys

PACKAGE = "io.engram.kernels.bench."


# ------------------------------------------------------------------------------------------------ results ----

def load_rounds(paths):
    """Per round: {key: {"median": ns, "score": ns, "error": ns, "samples": [...]}} from JMH JSON files."""
    rounds = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
        rounds.append(parse_jmh(entries))
    return rounds


def parse_jmh(entries):
    out = {}
    for e in entries:
        name = e["benchmark"]
        if name.startswith(PACKAGE):
            name = name[len(PACKAGE):]
        params = e.get("params") or {}
        key = bench_key(name, params)
        metric = e["primaryMetric"]
        unit = metric.get("scoreUnit", "ns/op")
        scale = {"ns/op": 1.0, "us/op": 1e3, "ms/op": 1e6, "s/op": 1e9}.get(unit)
        if scale is None:
            raise ValueError(f"{key}: unsupported unit {unit}")
        wall = [v * scale for fork in metric.get("rawData", []) for v in fork]
        if not wall:
            wall = [metric["score"] * scale]
        cpu = cpu_samples(e.get("secondaryMetrics") or {})
        err = metric.get("scoreError")
        out[key] = {
            # The statistic everything uses: CPU ns/op where the benchmark measured it, else wall-clock ns/op.
            "median": statistics.median(cpu if cpu else wall),
            "metric": "cpu" if cpu else "wall",
            "wall_median": statistics.median(wall),
            "score": metric["score"] * scale,
            "error": (err * scale) if isinstance(err, (int, float)) and not math.isnan(err) else None,
            "samples": cpu if cpu else wall,
            "wall_samples": wall,
        }
    return out


def cpu_samples(secondary):
    """Per-iteration CPU ns/op from the CpuTime aux counters (cpuNanos / ops), or [] if not measured."""
    if "cpuNanos" not in secondary or "ops" not in secondary:
        return []
    nanos = [v for fork in secondary["cpuNanos"].get("rawData", []) for v in fork]
    ops = [v for fork in secondary["ops"].get("rawData", []) for v in fork]
    return [n / o for n, o in zip(nanos, ops) if o > 0]


def bench_key(name, params):
    """'SimilarityBench.zig' + {'dim': '768', 'n': '1000'} -> 'SimilarityBench.zig[dim=768,n=1000]'."""
    if not params:
        return name
    return name + "[" + ",".join(f"{k}={params[k]}" for k in sorted(params)) + "]"


def split_key(key):
    m = re.fullmatch(r"([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)(?:\[(.*)\])?", key)
    if not m:
        raise ValueError(f"bad benchmark key {key}")
    params = {}
    if m.group(3):
        for kv in m.group(3).split(","):
            k, v = kv.split("=", 1)
            params[k] = v
    return m.group(1), m.group(2), params


def merged(rounds):
    """All rounds pooled: per key the median of every sample, and JMH's score/error of the first round."""
    keys = {}
    for r in rounds:
        for k, v in r.items():
            keys.setdefault(k, []).append(v)
    out = {}
    for k, vs in keys.items():
        samples = [s for v in vs for s in v["samples"]]
        wall = [s for v in vs for s in v.get("wall_samples", v["samples"])]
        out[k] = {"median": statistics.median(samples), "metric": vs[0].get("metric", "wall"),
                  "wall_median": statistics.median(wall), "score": statistics.median([v["score"] for v in vs]),
                  "error": vs[0]["error"], "samples": samples}
    return out


# ------------------------------------------------------------------------------------------------- model ----

def case_name(cls, params):
    """The seed's benchmark names: vector_similarity_768d_1000c, spreading_activation_1000n, ..."""
    if cls == "SimilarityBench":
        return f"vector_similarity_{params['dim']}d_{params['n']}c"
    if cls == "BatchBench":
        cold = "_cold" if params.get("residency") == "cold" else ""
        return f"vector_similarity_batch{params['b']}_{params['dim']}d_{params['n']}c{cold}"
    if cls == "SpreadBench":
        return f"spreading_activation_{params['nodes']}n"
    if cls == "DecayBench":
        return f"decay_calculation_{params['m']}m"
    if cls == "JniBench":
        return "jni_overhead"
    return cls


def kernel_of(cls):
    return {"SimilarityBench": "cosineSimilarity", "BatchBench": "cosineSimilarityBatch",
            "SpreadBench": "spreadActivation", "DecayBench": "decayRetention",
            "JniBench": "cosineSimilarity (N=1, dim=8)"}.get(cls, cls)


def bytes_per_op(cls, params):
    """Bytes a kernel call moves (for GB/s), and bytes the matching ceiling sweep reads."""
    if cls in ("SimilarityBench", "BatchBench"):
        b = int(params["n"]) * int(params["dim"]) * 4
        return b, b
    if cls == "DecayBench":
        m = int(params["m"])
        return 16 * m, 12 * m
    return None, None


def cases(results):
    """{case: {"cls", "params", "methods": {method: ns}}} from one round or a merged run."""
    out = {}
    for key, v in results.items():
        cls, method, params = split_key(key)
        name = case_name(cls, params)
        c = out.setdefault(name, {"cls": cls, "params": params, "methods": {}})
        c["methods"][method] = v["median"]
    return out


# Same-run ratios the gate watches; each is "higher is better".
RATIO_DEFS = [
    # (case class, metric name, numerator method, denominator method, description)
    ("SimilarityBench", "zig_vs_java", "java", "zig", "Zig speed-up over Java"),
    ("SimilarityBench", "zig_of_ceiling", "ceiling", "zig", "Zig bandwidth as a fraction of the sweep"),
    ("SimilarityBench", "normed_zig_vs_java", "javaNormed", "zigNormed", "stored-norm kernel: Zig speed-up over Java"),
    ("SimilarityBench", "normed_of_ceiling", "ceiling", "zigNormed",
     "stored-norm Zig kernel's bandwidth as a fraction of the sweep"),
    ("BatchBench", "batch_vs_loop", "zigLoop", "zigBatch", "Zig batch speed-up over one-at-a-time Zig"),
    ("BatchBench", "zig_vs_java", "javaBatch", "zigBatch", "Zig batch speed-up over the Java batch"),
    ("BatchBench", "normed_batch_vs_loop", "zigLoop", "zigNormedBatch",
     "stored-norm Zig kernel, b cues in one call: speed-up over one-at-a-time Zig"),
    ("SpreadBench", "zig_vs_java", "java", "zig", "Zig speed-up over Java"),
    ("DecayBench", "zig_vs_java", "java", "zig", "Zig speed-up over Java"),
    ("DecayBench", "zig_of_ceiling", "ceiling", "zig", "Zig time vs the read sweep of its inputs"),
    ("JniBench", "noop_of_call", "nativeNoop", "zigTinyCosine", "native no-op time / tiny Zig call time"),
    ("JniBench", "noop_of_normed_call", "nativeNoop", "zigTinyNormed",
     "native no-op time / tiny stored-norm Zig call time"),
]


def ratios(rounds):
    """{metric: {"value": median over rounds, "rounds": [...]}} for every ratio all of whose parts were measured."""
    per = {}
    for r in rounds:
        for name, c in cases(r).items():
            for cls, metric, num, den, _ in RATIO_DEFS:
                if c["cls"] != cls or num not in c["methods"] or den not in c["methods"]:
                    continue
                per.setdefault(f"{name}.{metric}", []).append(c["methods"][num] / c["methods"][den])
    return {k: {"value": statistics.median(v), "rounds": v} for k, v in sorted(per.items())}


# ------------------------------------------------------------------------------------------- fingerprint ----

def _read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return ""


# Instruction-set extensions worth naming in a report (what the kernels or the JIT can use).
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "asimd", "sve")


def cpu_caches():
    """{"L1d": "48K", "L2": "2048K", "L3": "..."} from sysfs (cpu0's view: per-core L1/L2, shared L3)."""
    out = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return out
    for e in entries:
        if not e.startswith("index"):
            continue
        level = _read(os.path.join(base, e, "level"))
        kind = _read(os.path.join(base, e, "type"))
        size = _read(os.path.join(base, e, "size"))
        if not level or kind == "Instruction":
            continue
        out[f"L{level}{'d' if level == '1' else ''}"] = size
    return out


def fingerprint(java="java"):
    """What a benchmark result depends on: CPU identity and caches, instruction sets, page size mode, kernel, JDK."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
        first = text.split("\n\n", 1)[0]
        for line in first.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                info[k.strip()] = v.strip()
    except OSError:
        pass
    cpu = info.get("model name") or platform.processor() or "unknown"
    have = set(info.get("flags", info.get("Features", "")).split())
    jdk = "unknown"
    try:
        out = subprocess.run([java, "-XshowSettings:properties", "-version"], capture_output=True, text=True,
                             timeout=60).stderr
        vendor = re.search(r"java\.vm\.vendor = (.*)", out)
        version = re.search(r"java\.runtime\.version = (.*)", out)
        jdk = " ".join(x.group(1).strip() for x in (vendor, version) if x) or "unknown"
    except (OSError, subprocess.SubprocessError):
        pass
    thp = _read("/sys/kernel/mm/transparent_hugepage/enabled")
    m = re.search(r"\[(\w+)\]", thp)
    caches = cpu_caches()
    return {
        "cpu": cpu,
        "cpu_id": "family {} model {} stepping {}".format(info.get("cpu family", "?"), info.get("model", "?"),
                                                           info.get("stepping", "?")),
        "cores": os.cpu_count(),
        "caches": " ".join(f"{k} {v}" for k, v in sorted(caches.items())) or "unknown",
        "cpu_flags": "+".join(x for x in ISA_FLAGS if x in have),
        "thp": m.group(1) if m else (thp or "unknown"),
        "os": f"{platform.system()} {platform.release()}",
        "jdk": jdk,
    }


def fingerprint_lines(fp):
    return [f"| CPU | {fp.get('cpu')} ({fp.get('cpu_id', '?')}, {fp.get('cores')} vCPU) |",
            f"| caches | {fp.get('caches', '?')} |",
            f"| instruction sets | {fp.get('cpu_flags') or '?'} |",
            f"| transparent huge pages | {fp.get('thp', '?')} |",
            f"| kernel | {fp.get('os')} |",
            f"| JDK | {fp.get('jdk')} |"]


# ------------------------------------------------------------------------------------------------ A/B gate ----

def load_side(paths):
    """One side (A or B) of one round: the JMH files of its groups, merged into one {key: result} dict."""
    out = {}
    for r in load_rounds(paths):
        out.update(r)
    return out


# The gate's benchmark groups (one JMH invocation per side and round), by the case-name prefix of their ratios;
# the batch prefix comes before the similarity one, which it extends.
GROUP_OF_CASE_PREFIX = (("vector_similarity_batch", "batch"), ("vector_similarity_", "similarity"),
                        ("spreading_activation_", "spreading"), ("decay_calculation_", "decay"),
                        ("jni_overhead", "jni"))


def group_of_ratio(name):
    """The group that measures ratio `name` ('vector_similarity_768d_2000c.zig_vs_java' -> 'similarity')."""
    for prefix, group in GROUP_OF_CASE_PREFIX:
        if name.startswith(prefix):
            return group
    raise ValueError(f"no benchmark group measures {name}")


def paired_changes(per_a, per_b, k):
    """Per round in which both sides measured ratio k: ratio_B / ratio_A - 1, in percent."""
    return [(pb[k]["value"] / pa[k]["value"] - 1.0) * 100.0 for pa, pb in zip(per_a, per_b) if k in pa and k in pb]


def ab_compare(a_rounds, b_rounds, threshold, a_confirm=(), b_confirm=()):
    """The A/B gate's verdict. a_rounds[i] and b_rounds[i] were measured in the same round, back to back.

    For every same-run ratio (RATIO_DEFS) and round i: change_i = ratio_B,i / ratio_A,i - 1; the ratio's change is
    the median over the rounds. It is flagged when it fell by more than `threshold` percent. A flagged ratio is a
    REGRESSION unless confirmation rounds (a_confirm/b_confirm: fresh rounds of the flagged ratios' groups only,
    measured after the first ones) were run for it and their own median change is within the threshold: then it was
    noise ("ok (not confirmed)"). Both medians must be below the threshold to fail, so a real slowdown, which moves
    every round, fails, and a few unlucky forks do not. A ratio measured in A but not in B is MISSING (a benchmark
    was renamed or failed) and fails; one only in B is NEW and does not.
    Returns (ok, rows, speeds): rows per ratio, and per benchmark B's speed relative to A (informational).
    """
    if len(a_rounds) != len(b_rounds) or not a_rounds:
        raise ValueError("A and B need the same number of rounds, at least one")
    if len(a_confirm) != len(b_confirm):
        raise ValueError("A and B need the same number of confirmation rounds")
    per_a = [ratios([r]) for r in a_rounds]
    per_b = [ratios([r]) for r in b_rounds]
    conf_a = [ratios([r]) for r in a_confirm]
    conf_b = [ratios([r]) for r in b_confirm]
    names_a = set().union(*per_a)
    names_b = set().union(*per_b)
    ok = True
    rows = []
    for k in sorted(names_a | names_b):
        if k not in names_b:
            rows.append({"ratio": k, "verdict": "MISSING"})
            ok = False
            continue
        if k not in names_a:
            b = statistics.median(x[k]["value"] for x in per_b if k in x)
            rows.append({"ratio": k, "b": b, "verdict": "NEW"})
            continue
        pairs = [(pa[k]["value"], pb[k]["value"]) for pa, pb in zip(per_a, per_b) if k in pa and k in pb]
        if not pairs:
            rows.append({"ratio": k, "verdict": "MISSING"})
            ok = False
            continue
        changes = paired_changes(per_a, per_b, k)
        change = statistics.median(changes)
        row = {"ratio": k, "a": statistics.median(a for a, _ in pairs), "b": statistics.median(b for _, b in pairs),
               "change": change, "changes": changes, "allowed": -threshold, "verdict": "ok"}
        if change < -threshold:
            confirm = paired_changes(conf_a, conf_b, k)
            if confirm:
                row["confirm_changes"] = confirm
                row["confirm_change"] = statistics.median(confirm)
            if confirm and row["confirm_change"] >= -threshold:
                row["verdict"] = "ok (not confirmed)"
            else:
                row["verdict"] = "REGRESSION"
                ok = False
        rows.append(row)
    speeds = {}
    ma, mb = merged(a_rounds), merged(b_rounds)
    for key in sorted(set(ma) & set(mb)):
        speeds[key] = ma[key]["median"] / mb[key]["median"]  # > 1: B is faster
    return ok, rows, speeds


def flagged_groups(rows):
    """The groups to re-measure: those of ratios that regressed in the first rounds (MISSING is never re-run)."""
    return sorted({group_of_ratio(r["ratio"]) for r in rows if r["verdict"] == "REGRESSION"})


def ab_lines(rows, speeds, threshold, commits, fp, settings):
    """The gate's report as Markdown (also printed)."""
    lines = ["# Kernel regression gate (A/B, same machine, same run)", "",
             f"- A (baseline): `{commits['a']}` {commits.get('a_subject', '')}".rstrip(),
             f"- B (current):  `{commits['b']}` {commits.get('b_subject', '')}".rstrip(),
             f"- settings: {settings}",
             f"- threshold: a same-run ratio may drop by at most {threshold:g}% from A to B "
             "(median over the rounds of B/A); a ratio that drops further is re-measured in fresh confirmation "
             "rounds and fails only if their median drops further too", "",
             "| machine | |", "|---|---|"] + fingerprint_lines(fp) + [""]
    lines.append(f"| {'ratio':<52} | {'A':>9} | {'B':>9} | {'change':>8} | {'allowed':>8} | verdict | per round |")
    lines.append("|---|---|---|---|---|---|---|")
    for r in rows:
        if r["verdict"] == "MISSING":
            lines.append(f"| {r['ratio']:<52} | | | | | MISSING (measured in A, not in B) | |")
        elif r["verdict"] == "NEW":
            lines.append(f"| {r['ratio']:<52} | | {r['b']:>9.4g} | | | NEW (not in A) | |")
        else:
            per = ", ".join(f"{c:+.1f}%" for c in r["changes"])
            if "confirm_changes" in r:
                per += (f"; confirmation: median {r['confirm_change']:+.1f}% over {len(r['confirm_changes'])} rounds: "
                        + ", ".join(f"{c:+.1f}%" for c in r["confirm_changes"]))
            lines.append(f"| {r['ratio']:<52} | {r['a']:>9.4g} | {r['b']:>9.4g} | {r['change']:>+7.1f}% | "
                         f"{r['allowed']:>+7.1f}% | {r['verdict']} | {per} |")
    lines += ["", "Speed of B relative to A per benchmark (A time / B time, same run; for reading, not judged):", "",
              "| benchmark | B vs A |", "|---|---|"]
    for k, v in speeds.items():
        lines.append(f"| `{k}` | {v:.3f}× |")
    return lines


# -------------------------------------------------------------------------------------------------- report ----

def fmt_ns(ns):
    if ns is None:
        return "–"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.1f} ns"


def fmt_x(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}×"


def gbps(nbytes, ns):
    return None if nbytes is None or ns is None or ns <= 0 else nbytes / ns


GOALS = [
    # (description, case, metric function name, operator, target)
    ("similarity 768d×1k: Zig vs Java", "vector_similarity_768d_1000c", "zig_vs_java", ">=", 8.0),
    ("similarity 768d×100k: Zig GB/s / ceiling", "vector_similarity_768d_100000c", "zig_of_ceiling", ">=", 0.85),
    ("batch B=8, 768d×10k: queries/s vs one-at-a-time Zig", "vector_similarity_batch8_768d_10000c",
     "batch_vs_loop", ">=", 4.0),
    ("batch B=8, 768d×10k, DRAM-resident (many spaces): queries/s vs one-at-a-time Zig",
     "vector_similarity_batch8_768d_10000c_cold", "batch_vs_loop", ">=", 4.0),
    ("decay 1M: Zig vs Java Math.exp", "decay_calculation_1000000m", "zig_vs_java", ">=", 10.0),
    ("decay 1M: Zig GB/s (16 B/memory) / ceiling", "decay_calculation_1000000m", "decay_of_ceiling", ">=", 0.7),
    ("spreading 1k: Zig vs Java", "spreading_activation_1000n", "zig_vs_java", ">=", 1.5),
    ("spreading 100k: Zig vs Java", "spreading_activation_100000n", "zig_vs_java", ">=", 1.5),
    ("JNI: tiny Zig call (cosine N=1, dim 8), ns", "jni_overhead", "tiny_call_ns", "<=", 100.0),
]


def goal_value(c, metric):
    m = c["methods"]
    if metric == "zig_vs_java":
        j = m.get("java", m.get("javaBatch"))
        z = m.get("zig", m.get("zigBatch"))
        return None if j is None or z is None else j / z
    if metric == "zig_of_ceiling":
        return None if "ceiling" not in m or "zig" not in m else m["ceiling"] / m["zig"]
    if metric == "decay_of_ceiling":
        kb, cb = bytes_per_op(c["cls"], c["params"])
        if "ceiling" not in m or "zig" not in m:
            return None
        return gbps(kb, m["zig"]) / gbps(cb, m["ceiling"])
    if metric == "batch_vs_loop":
        return None if "zigLoop" not in m or "zigBatch" not in m else m["zigLoop"] / m["zigBatch"]
    if metric == "tiny_call_ns":
        return m.get("zigTinyCosine")
    return None


def svg_bars(title, groups, series, unit, path, log=False):
    """A grouped bar chart. groups: [label]; series: [(name, colour, [value or None per group])]."""
    width, height = 900, 420
    left, right, top, bottom = 80, 20, 50, 90
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, _, vs in series for v in vs if v is not None and v > 0]
    vmax = max(values) if values else 1.0
    vmin = min(values) if values else 1.0
    if log:
        lo = 10 ** math.floor(math.log10(vmin))
        hi = 10 ** math.ceil(math.log10(vmax))
        if hi <= lo:
            hi = lo * 10

        def y(v):
            return top + plot_h - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * plot_h
        ticks = [10 ** e for e in range(int(math.log10(lo)), int(math.log10(hi)) + 1)]
    else:
        hi = vmax * 1.1

        def y(v):
            return top + plot_h - v / hi * plot_h
        step = 10 ** math.floor(math.log10(hi / 5)) if hi > 0 else 1
        for m in (1, 2, 5, 10):
            if hi / (step * m) <= 6:
                step *= m
                break
        ticks = [i * step for i in range(int(hi / step) + 1)]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16">{esc(title)}</text>']
    for t in ticks:
        ty = y(t)
        out.append(f'<line x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{esc(tick_label(t))}</text>')
    out.append(f'<text x="16" y="{top + plot_h / 2}" transform="rotate(-90 16 {top + plot_h / 2})" '
               f'text-anchor="middle">{esc(unit)}{" (log scale)" if log else ""}</text>')
    n_groups = max(1, len(groups))
    group_w = plot_w / n_groups
    bar_w = group_w * 0.8 / max(1, len(series))
    for gi, g in enumerate(groups):
        gx = left + gi * group_w + group_w * 0.1
        for si, (_, colour, vs) in enumerate(series):
            v = vs[gi]
            if v is None or v <= 0:
                continue
            by = y(v)
            base = top + plot_h
            out.append(f'<rect x="{gx + si * bar_w:.1f}" y="{by:.1f}" width="{bar_w - 2:.1f}" '
                       f'height="{max(0.5, base - by):.1f}" fill="{colour}"><title>{esc(g)}: '
                       f'{v:.4g} {esc(unit)}</title></rect>')
        out.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{top + plot_h + 16}" '
                   f'text-anchor="middle" font-size="11">{esc(g)}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="black"/>')
    lx = left
    for name, colour, _ in series:
        out.append(f'<rect x="{lx}" y="{height - 30}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{lx + 16}" y="{height - 20}">{esc(name)}</text>')
        lx += 30 + 8 * len(name)
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def tick_label(t):
    if t >= 1e6:
        return f"{t / 1e6:g}M"
    if t >= 1e3:
        return f"{t / 1e3:g}k"
    return f"{t:g}"


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


COLOURS = {"zig": "#f7a41d", "java": "#5382a1", "lucene": "#7fb069", "luceneIncubator": "#b5d99c",
           "ceiling": "#888888", "zigBatch": "#c0392b", "zigLoop": "#f7a41d", "javaBatch": "#2e5a88",
           "javaLoop": "#5382a1"}


def report(rounds, fp, meta, out_dir, md_path):
    cur = merged(rounds)
    cs = cases(cur)
    os.makedirs(out_dir, exist_ok=True)
    lines = []
    w = lines.append
    w("# Kernel benchmarks")
    w("")
    w("Generated by `deploy/scripts/benchmark_report.sh` (deploy/scripts/bench/benchtool.py) from one JMH run; "
      "do not edit by hand. Every number below was measured in that run. The machine is a noisy shared VM: compare "
      "only numbers of one run, and read differences under ~15% as noise.")
    w("")
    w("## Machine and versions")
    w("")
    w("| | |")
    w("|---|---|")
    for line in fingerprint_lines(fp):
        w(line)
    for k, v in meta.items():
        if not k.startswith("_"):
            w(f"| {k} | {v} |")
    w("")
    w("Statistic: per benchmark, the median over all measurement iterations of all forks of the benchmark "
      "thread's **CPU time per operation** (the `CpuTime` aux counters; on an idle machine it equals JMH's "
      "wall-clock average time, on a busy shared VM it leaves out the time spent waiting for a CPU). JMH's own "
      "wall-clock scores are in the last table. "
      "GB/s counts the bytes a call must move: candidates n·dim·4 for similarity, 16 B per memory for decay "
      "(8 + 4 read, 4 written). The ceiling is `memorySweep`, a native read-only pass (4 independent 32-byte "
      "accumulators) over exactly the bytes the kernel reads, measured in the same run.")
    w("")

    # Goals.
    w("## Goals")
    w("")
    w("| goal | target | measured | reached |")
    w("|---|---|---|---|")
    for desc, case, metric, op, target in GOALS:
        c = cs.get(case)
        v = goal_value(c, metric) if c else None
        if v is None:
            w(f"| {desc} | {op} {target:g} | not measured | – |")
            continue
        okv = v >= target if op == ">=" else v <= target
        w(f"| {desc} | {op} {target:g} | {v:.2f} | {'yes' if okv else '**no**'} |")
    w("")

    # Similarity table.
    sims = sorted((c for c in cs.values() if c["cls"] == "SimilarityBench"),
                  key=lambda c: (int(c["params"]["dim"]), int(c["params"]["n"])))
    if sims:
        w("## Similarity: one query against n candidates")
        w("")
        w("| benchmark | Zig | Java | Lucene | Lucene +incubator | ceiling | Zig GB/s | ceiling GB/s | Zig/Java | "
          "Zig/ceiling | Zig/Lucene |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for c in sims:
            m = c["methods"]
            nbytes, _ = bytes_per_op(c["cls"], c["params"])
            z, j, l, li, ce = (m.get(k) for k in ("zig", "java", "lucene", "luceneIncubator", "ceiling"))
            zg, cg = gbps(nbytes, z), gbps(nbytes, ce)
            w(f"| {case_name(c['cls'], c['params'])} | {fmt_ns(z)} | {fmt_ns(j)} | {fmt_ns(l)} | {fmt_ns(li)} | "
              f"{fmt_ns(ce)} | {'–' if zg is None else f'{zg:.1f}'} | {'–' if cg is None else f'{cg:.1f}'} | "
              f"{fmt_x(j / z if j and z else None)} | {'–' if not (zg and cg) else f'{zg / cg:.2f}'} | "
              f"{fmt_x(l / z if l and z else None)} |")
        w("")
        groups = [f"{c['params']['dim']}d×{int(c['params']['n']) // 1000}k" for c in sims]
        series = []
        for meth, label in (("zig", "Zig"), ("java", "Java"), ("lucene", "Lucene"), ("ceiling", "ceiling (sweep)")):
            vals = [(c["methods"][meth] / int(c["params"]["n"])) if meth in c["methods"] else None for c in sims]
            if any(v is not None for v in vals):
                series.append((label, COLOURS[meth], vals))
        svg_bars("Cosine similarity: ns per candidate (lower is better)", groups, series, "ns per candidate",
                 os.path.join(out_dir, "kernels-similarity.svg"), log=True)
        series = []
        for meth, label in (("zig", "Zig"), ("java", "Java"), ("lucene", "Lucene"), ("ceiling", "ceiling (sweep)")):
            vals = [gbps(bytes_per_op(c["cls"], c["params"])[0], c["methods"].get(meth)) for c in sims]
            if any(v is not None for v in vals):
                series.append((label, COLOURS[meth], vals))
        svg_bars("Cosine similarity: GB/s of candidate data (higher is better)", groups, series, "GB/s",
                 os.path.join(out_dir, "kernels-similarity-gbps.svg"))
        w("![similarity, ns per candidate](kernels-similarity.svg)")
        w("")
        w("![similarity, GB/s](kernels-similarity-gbps.svg)")
        w("")

    batches = sorted((c for c in cs.values() if c["cls"] == "BatchBench"),
                     key=lambda c: (c["params"].get("residency", "hot") != "hot", int(c["params"]["dim"]),
                                   int(c["params"]["n"]), int(c["params"]["b"])))
    if batches:
        w("## Batched similarity: B queries against the same candidates")
        w("")
        w("`hot`: every call re-reads one candidate block, so a block that fits in L3 is served from cache. "
          "`cold` (`_cold`): the calls rotate over ≥ 128 MiB of blocks, so every block comes from DRAM, as the "
          "spaces of a TaskManager holding more than its cache do; the one-at-a-time loop answers its B queries "
          "from B different blocks (B queries of B spaces), the batch answers B queries from one.")
        w("")
        w("| benchmark | Zig batch | Zig one-at-a-time | Java batch | Java one-at-a-time | Zig queries/s batch | "
          "Zig queries/s loop | batch/loop (Zig) | Zig/Java (batch) |")
        w("|---|---|---|---|---|---|---|---|---|")
        for c in batches:
            m = c["methods"]
            b = int(c["params"]["b"])
            zb, zl, jb, jl = (m.get(k) for k in ("zigBatch", "zigLoop", "javaBatch", "javaLoop"))
            qps = (lambda t: "–" if not t else f"{b / t * 1e9:,.0f}")
            w(f"| {case_name(c['cls'], c['params'])} | {fmt_ns(zb)} | {fmt_ns(zl)} | {fmt_ns(jb)} | {fmt_ns(jl)} | "
              f"{qps(zb)} | {qps(zl)} | {fmt_x(zl / zb if zl and zb else None)} | "
              f"{fmt_x(jb / zb if jb and zb else None)} |")
        w("")
        groups = [f"B={c['params']['b']} {c['params']['dim']}d×{int(c['params']['n']) // 1000}k "
                  f"{c['params'].get('residency', 'hot')}" for c in batches]
        series = []
        for meth, label in (("zigBatch", "Zig batch"), ("zigLoop", "Zig one-at-a-time"),
                            ("javaBatch", "Java batch"), ("javaLoop", "Java one-at-a-time")):
            vals = [(int(c["params"]["b"]) / c["methods"][meth] * 1e9) if meth in c["methods"] else None
                    for c in batches]
            if any(v is not None for v in vals):
                series.append((label, COLOURS[meth], vals))
        svg_bars("Batched similarity: queries per second (higher is better)", groups, series, "queries/s",
                 os.path.join(out_dir, "kernels-batch.svg"), log=True)
        w("![batched similarity](kernels-batch.svg)")
        w("")

    other = sorted((c for c in cs.values() if c["cls"] in ("SpreadBench", "DecayBench", "JniBench")),
                   key=lambda c: (c["cls"], [int(v) for v in c["params"].values()]))
    if other:
        w("## Spreading, decay, JNI overhead")
        w("")
        w("| benchmark | Zig | Java | ceiling | Zig GB/s | ceiling GB/s | Zig/Java | Zig/ceiling |")
        w("|---|---|---|---|---|---|---|---|")
        for c in other:
            m = c["methods"]
            if c["cls"] == "JniBench":
                z, j, ce = m.get("zigTinyCosine"), m.get("javaTinyCosine"), m.get("nativeNoop")
                raw = m.get("rawTinyCosine")
                w(f"| jni_overhead (cosine N=1, dim 8; bare JNI call without the Java-side checks: {fmt_ns(raw)}; "
                  f"ceiling = native no-op) | {fmt_ns(z)} | {fmt_ns(j)} | "
                  f"{fmt_ns(ce)} | – | – | {fmt_x(j / z if j and z else None)} | – |")
                continue
            z, j, ce = m.get("zig"), m.get("java"), m.get("ceiling")
            kb, cb = bytes_per_op(c["cls"], c["params"])
            zg, cg = gbps(kb, z), gbps(cb, ce)
            w(f"| {case_name(c['cls'], c['params'])} | {fmt_ns(z)} | {fmt_ns(j)} | {fmt_ns(ce)} | "
              f"{'–' if zg is None else f'{zg:.1f}'} | {'–' if cg is None else f'{cg:.1f}'} | "
              f"{fmt_x(j / z if j and z else None)} | {'–' if not (zg and cg) else f'{zg / cg:.2f}'} |")
        w("")
        groups, zs, js = [], [], []
        for c in other:
            if c["cls"] == "JniBench":
                continue
            groups.append(case_name(c["cls"], c["params"]).replace("_", " "))
            zs.append(c["methods"].get("zig"))
            js.append(c["methods"].get("java"))
        if groups:
            svg_bars("Spreading and decay: time per call (lower is better)", groups,
                     [("Zig", COLOURS["zig"], zs), ("Java", COLOURS["java"], js)], "ns per call",
                     os.path.join(out_dir, "kernels-spread-decay.svg"), log=True)
            w("![spreading and decay](kernels-spread-decay.svg)")
            w("")
    w("## All scores")
    w("")
    w("| JMH benchmark | CPU ns/op (median) | wall ns/op (median) | JMH wall score ± error (ns/op) | iterations |")
    w("|---|---|---|---|---|")
    for k in sorted(cur):
        v = cur[k]
        err = "" if v["error"] is None else f" ± {v['error']:.4g}"
        cpu = f"{v['median']:.4g}" if v["metric"] == "cpu" else "–"
        w(f"| `{k}` | {cpu} | {v['wall_median']:.4g} | {v['score']:.4g}{err} | {len(v['samples'])} |")
    w("")
    notes = meta.get("_notes")
    if notes:
        w(notes)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write("\n".join(line for line in lines) + "\n")


# ---------------------------------------------------------------------------------------------------- main ----

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("ab", help="the A/B gate: compare B's same-run ratios with A's, round by round")
    g.add_argument("--dir", required=True, help="holds A-r<i>-<group>.json and B-r<i>-<group>.json")
    g.add_argument("--rounds", type=int, required=True)
    g.add_argument("--threshold", type=float, required=True, help="allowed drop of a ratio, in percent")
    g.add_argument("--commit-a", required=True)
    g.add_argument("--commit-b", required=True)
    g.add_argument("--subject-a", default="")
    g.add_argument("--subject-b", default="")
    g.add_argument("--settings", default="")
    g.add_argument("--report", help="also write the report (Markdown) here")
    g.add_argument("--java", default="java")
    g.add_argument("--confirm-rounds", type=int, default=0,
                   help="confirmation rounds A-c<i>-<group>.json / B-c<i>-<group>.json (only the flagged groups)")
    g.add_argument("--flagged-out", help="first rounds only: write the groups to confirm here (one line, "
                                         "space-separated; empty when nothing is flagged) and print no report")
    f = sub.add_parser("fingerprint", help="print the machine fingerprint as JSON")
    f.add_argument("--java", default="java")
    r = sub.add_parser("report")
    r.add_argument("--out-dir", required=True)
    r.add_argument("--md", required=True)
    r.add_argument("--meta", default="{}", help="JSON: extra rows for the machine table")
    r.add_argument("--notes-file", help="Markdown appended to the report")
    r.add_argument("--java", default="java")
    r.add_argument("results", nargs="+")
    args = p.parse_args(argv)

    if args.cmd == "fingerprint":
        print(json.dumps(fingerprint(args.java), indent=2, sort_keys=True))
        return 0
    if args.cmd == "ab":
        sides = {}
        for side in ("A", "B"):
            for kind, count in (("r", args.rounds), ("c", args.confirm_rounds)):
                sides[side + kind] = []
                for i in range(1, count + 1):
                    paths = sorted(glob.glob(os.path.join(args.dir, f"{side}-{kind}{i}-*.json")))
                    if not paths:
                        what = "round" if kind == "r" else "confirmation round"
                        print(f"benchmark gate: ERROR: no results for {side} in {what} {i} under {args.dir}",
                              file=sys.stderr)
                        return 2
                    sides[side + kind].append(load_side(paths))
        ok, rows, speeds = ab_compare(sides["Ar"], sides["Br"], args.threshold, sides["Ac"], sides["Bc"])
        if args.flagged_out:
            groups = flagged_groups(rows)
            with open(args.flagged_out, "w", encoding="utf-8") as fh:
                fh.write(" ".join(groups) + "\n")
            for r in rows:
                if r["verdict"] == "REGRESSION":
                    print(f"benchmark gate: flagged in the first {args.rounds} rounds: {r['ratio']} "
                          f"{r['change']:+.1f}% (allowed {-args.threshold:+g}%)")
            return 0 if ok else 1
        commits = {"a": args.commit_a, "b": args.commit_b, "a_subject": args.subject_a, "b_subject": args.subject_b}
        lines = ab_lines(rows, speeds, args.threshold, commits, fingerprint(args.java), args.settings)
        lines += ["", "benchmark gate: " + ("PASSED" if ok else "FAILED")]
        text = "\n".join(lines) + "\n"
        if args.report:
            with open(args.report, "w", encoding="utf-8") as fh:
                fh.write(text)
        print(text, end="")
        return 0 if ok else 1
    if args.cmd == "report":
        rounds = load_rounds(args.results)
        meta = json.loads(args.meta)
        if args.notes_file:
            with open(args.notes_file, encoding="utf-8") as fh:
                meta["_notes"] = fh.read()
        report(rounds, fingerprint(args.java), meta, args.out_dir, args.md)
        print(f"wrote {args.md}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
