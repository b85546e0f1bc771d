"""Turn a pytest-benchmark JSON into a markdown table and one PNG plot per precision.

Usage::

    python bench/report.py RESULTS.json [--out DIR]

``RESULTS.json`` is what ``pytest bench --benchmark-only --benchmark-json=RESULTS.json``
writes, optionally with a top-level ``blasfast_env`` dict (GPU name, driver, CUDA and CuPy
versions, commit, date; ``scripts/gpu_check.py`` adds it). The figures come from
each entry's ``extra_info`` as the benchmarks record them (``bench/_timing.py``); an entry
without them falls back to pytest-benchmark's wall-clock median.

Writes, into ``--out`` (default: the JSON's folder), ``<stem>.md`` -- a header with the
environment and one table row per entry: group, shape, dtype, impl, median ms, GFLOP/s,
GB/s, % of the roofline, speedup over the baseline, relative error -- and, for every
precision with square-size cases, ``<stem>-<precision>.png``: size n on a log x axis,
TFLOP/s and GB/s on y, one line per implementation, the roofline dashed. Needs no GPU;
the plots need matplotlib (skipped with a message without it).
"""

import argparse
import collections
import json
import pathlib
import re
import sys

COLUMNS = ["group", "shape", "dtype", "impl", "median ms", "GFLOP/s", "GB/s", "% roofline",
           "speedup", "rel. error"]
_DASH = "—"


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------

def load(path):
    """The parsed JSON of a pytest-benchmark results file."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError(f"{path}: not a pytest-benchmark JSON (no 'benchmarks' list)")
    return data


def rows(data):
    """One dict per benchmark entry with the table's fields (None where unknown)."""
    out = []
    for b in data["benchmarks"]:
        ei = b.get("extra_info") or {}
        stats = b.get("stats") or {}
        ms = ei.get("median_ms")
        if ms is None and stats.get("median") is not None:
            ms = stats["median"] * 1e3
        dtype = ei.get("precision") or ei.get("dtype") or ""
        out.append({
            "group": b.get("group") or "",
            "shape": ei.get("shape") or _shape(ei),
            "dtype": dtype,
            "impl": ei.get("impl") or b.get("name", ""),
            "median ms": ms,
            "GFLOP/s": ei.get("gflops"),
            "GB/s": ei.get("gbs"),
            # a GPU without peaks in _timing.KNOWN_GPUS: 'unknown GPU (<name>)', no number
            "% roofline": (ei["pct_of_roofline"] if ei.get("pct_of_roofline") is not None
                           else ei.get("roofline")),
            "speedup": ei.get("speedup"),
            "rel. error": ei.get("rel_error"),
            # for the plots
            "kind": ei.get("kind"),
            "n": ei.get("n"),
            "roofline_gflops": ei.get("roofline_gflops"),
            "bound": ei.get("bound"),
            "baseline": ei.get("baseline"),
        })
    return out


def _shape(ei):
    batch = ei.get("batch")
    if ei.get("mnk"):
        m, n, k = ei["mnk"]
        s = f"{m}x{n}x{k}"
    elif ei.get("n") is not None:
        s = f"{ei['n']}x{ei['n']}x{ei['n']}"
    else:
        return ""
    return f"{batch} x {s}" if batch is not None else s


# --------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------

def _sig(x, digits=4):
    if x is None:
        return _DASH
    if x == 0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def _fmt(col, v):
    if v is None or v == "":
        return _DASH if col not in ("group", "shape", "dtype", "impl") else ""
    if col in ("median ms", "GFLOP/s", "GB/s"):
        return _sig(v)
    if col == "% roofline":
        return f"{v:.3g}" if isinstance(v, (int, float)) else str(v)
    if col == "speedup":
        return f"{v:.2f}x"
    if col == "rel. error":
        return f"{v:.2e}"
    return str(v).replace("|", "\\|")


def _version(v):
    """CUDA versions come as integers (12040 -> '12.4')."""
    if isinstance(v, int) and v >= 1000:
        return f"{v // 1000}.{(v % 1000) // 10}"
    return _DASH if v is None else str(v)


def environment(data):
    """(label, value) pairs for the header, from ``blasfast_env`` or pytest-benchmark's
    own machine/commit info."""
    env = data.get("blasfast_env") or {}
    commit = data.get("commit_info") or {}
    machine = data.get("machine_info") or {}
    gpu = env.get("gpu_name")
    if gpu and env.get("compute_capability"):
        gpu = f"{gpu} (sm_{env['compute_capability']})"
    commit_id = env.get("commit") or commit.get("id")
    if commit_id and commit.get("dirty") and not env.get("commit"):
        commit_id += " (dirty)"
    date = env.get("date") or data.get("datetime")
    return [
        ("GPU", gpu or "none recorded (CPU-only run?)"),
        ("driver", _version(env.get("cuda_driver"))),
        ("CUDA runtime", _version(env.get("cuda_runtime"))),
        ("CuPy", env.get("cupy") or _DASH),
        ("blasfast", env.get("blasfast") or _DASH),
        ("Python", env.get("python") or machine.get("python_version") or _DASH),
        ("CPU", (machine.get("cpu") or {}).get("brand_raw") or machine.get("processor")
         or _DASH),
        ("commit", commit_id or _DASH),
        ("date", date or _DASH),
    ]


def markdown(data, source_name, plots=()):
    """The report as markdown text."""
    table = rows(data)
    lines = [f"# Benchmark report: {source_name}", ""]
    for label, value in environment(data):
        lines.append(f"- **{label}**: {value}")
    lines += [
        "",
        "dtype: input dtype, then /compute where it differs (float16/float32: FP16 "
        "inputs, FP32 accumulation). "
        "Median ms: CUDA-event median for GPU cases (`cupyx.profiler.benchmark`), "
        "pytest-benchmark wall-clock median for CPU cases. GB/s counts A and B read once and "
        "D written once. % roofline: achieved GFLOP/s over min(peak, intensity x HBM "
        "bandwidth), the vendor's peaks of the GPU the run was on (bench/_timing.py, by "
        "device name; 'unknown GPU' where it has none). Speedup: baseline median / this "
        "median, "
        "same run (blasfast rows). Rel. error: ||D - D_ref|| / ||D_ref|| against a float64 "
        "reference.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" if c in ("group", "shape", "dtype", "impl") else "---:"
                       for c in COLUMNS) + "|",
    ]
    for r in _ordered(table):
        lines.append("| " + " | ".join(_fmt(c, r[c]) for c in COLUMNS) + " |")
    if not table:
        lines.append("")
        lines.append("(no benchmark entries in this file)")
    notes = sorted({(b.get("extra_info") or {}).get("note") for b in data["benchmarks"]}
                   - {None})
    if notes:
        lines += ["", "Notes recorded with the cases:", ""] + [f"- {n}" for n in notes]
    if plots:
        lines += [""] + [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def _ordered(table):
    """Rows grouped by group (in order of first appearance), entry order kept inside."""
    first = {}
    for i, r in enumerate(table):
        first.setdefault(r["group"], i)
    return sorted(table, key=lambda r: first[r["group"]])


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------

def _slug(text):
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-") or "all"


def plot_series(table):
    """{precision: {impl: [(n, gflops, gbs, roofline_gflops, roofline_gbs), ...]}} of the
    square cases (the GB/s ceiling is the roofline at that case's arithmetic intensity)."""
    out = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in table:
        if r["n"] is None or r["kind"] not in (None, "square") or r["GFLOP/s"] is None:
            continue
        roof = r["roofline_gflops"]
        roof_gbs = (roof * r["GB/s"] / r["GFLOP/s"]
                    if roof is not None and r["GB/s"] and r["GFLOP/s"] else None)
        out[r["dtype"]][r["impl"]].append((r["n"], r["GFLOP/s"], r["GB/s"], roof, roof_gbs))
    for per_impl in out.values():
        for pts in per_impl.values():
            pts.sort()
    return out


def write_plots(table, outdir, stem, title_suffix=""):
    """One PNG per precision; returns the paths written ([] without matplotlib)."""
    series = plot_series(table)
    if not series:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for precision, per_impl in sorted(series.items()):
        fig, (ax_f, ax_b) = plt.subplots(1, 2, figsize=(11, 4.2))
        roof, all_n = {}, set()
        for impl, pts in per_impl.items():
            ns = [p[0] for p in pts]
            all_n.update(ns)
            ax_f.plot(ns, [p[1] / 1e3 for p in pts], marker="o", label=impl)
            ax_b.plot(ns, [p[2] for p in pts], marker="o", label=impl)
            if impl == "blasfast" or not roof:  # blasfast's roofline (its output dtype)
                roof = {p[0]: (p[3], p[4]) for p in pts if p[3] is not None}
        if roof:
            rn = sorted(roof)
            ax_f.plot(rn, [roof[n][0] / 1e3 for n in rn], "k--", linewidth=1,
                      label="roofline")
            if all(roof[n][1] is not None for n in rn):
                ax_b.plot(rn, [roof[n][1] for n in rn], "k--", linewidth=1,
                          label="roofline")
        ticks = sorted(all_n)
        for ax, ylabel in ((ax_f, "TFLOP/s"), (ax_b, "GB/s")):
            ax.set_xscale("log", base=2)
            ax.set_xticks(ticks, [str(t) for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel("n (square n x n x n)")
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=8)
        ax_f.set_yscale("log")
        fig.suptitle(f"batched GEMM, {precision}{title_suffix}")
        fig.tight_layout()
        path = outdir / f"{stem}-{_slug(precision)}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python bench/report.py",
        description="Markdown table and PNG plots from a pytest-benchmark JSON "
                    "(pytest bench --benchmark-only --benchmark-json=FILE).")
    p.add_argument("results", type=pathlib.Path, help="the pytest-benchmark JSON file")
    p.add_argument("--out", type=pathlib.Path, default=None,
                   help="output folder (default: the JSON's folder); files are named "
                        "after the JSON's stem")
    args = p.parse_args(argv)
    try:
        data = load(args.results)
    except (OSError, ValueError) as exc:  # json.JSONDecodeError is a ValueError
        print(f"report: {exc}", file=sys.stderr)
        return 1
    outdir = args.out if args.out is not None else args.results.resolve().parent
    outdir.mkdir(parents=True, exist_ok=True)
    stem = args.results.stem
    gpu = (data.get("blasfast_env") or {}).get("gpu_name")
    try:
        plots = write_plots(rows(data), outdir, stem, f" -- {gpu}" if gpu else "")
    except ImportError as exc:
        print(f"report: no plots, matplotlib is not importable ({exc})", file=sys.stderr)
        plots = []
    md = outdir / f"{stem}.md"
    md.write_text(markdown(data, args.results.name, plots), encoding="utf-8")
    for path in [md, *plots]:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
