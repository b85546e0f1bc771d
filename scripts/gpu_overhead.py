"""Host overhead and end-to-end time of small batched GEMMs and stacked small solves on a
real GPU (CuPy), beside CuPy's own calls, for issue #15. Needs a CUDA GPU.

Usage (from the source tree)::

    PYTHONPATH=src python scripts/gpu_overhead.py OUTDIR [gemm|solve|all]

Writes ``OUTDIR/gpu-overhead.json`` and ``OUTDIR/gpu-overhead.md``.

What is measured, per entry, as the minimum over ``REPEAT`` interleaved rounds:

* ``host``: wall-clock microseconds per call with no synchronization inside the round
  (launches queue up; a round ends with one synchronize, timed separately and not
  counted): what the call costs the host up to the launch;
* ``e2e``: microseconds per call, synchronizing after every call (``perf_counter``
  around call + ``stream.synchronize()``): what a caller waiting on each result sees.

GEMM entries: ``cupy.matmul`` (cuBLAS batched, the baseline), ``bf.batched_gemm`` (cached
configuration; result allocated, and with ``out=``), ``BatchedGemm.execute()`` on its planned
operands and on new ones, ``GemmGraph.launch()`` (a captured CUDA graph), and
``numpy.matmul`` on the host copy for scale. ``BatchedGemm.autotune()``'s table is recorded.
Solve entries: ``bf.solve`` of a stack of small systems against ``cupy.linalg.solve``.
"""

import json
import math
import pathlib
import sys
import time

import numpy as np

REPEAT = 30


def _best(calls, number, sync):
    """``{name: (host_us, e2e_us)}``: minima over interleaved rounds."""
    host = {k: math.inf for k in calls}
    e2e = {k: math.inf for k in calls}
    for _ in range(REPEAT):
        for name, fn in calls.items():
            sync()
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            t1 = time.perf_counter()
            sync()
            host[name] = min(host[name], (t1 - t0) / number * 1e6)
            t0 = time.perf_counter()
            for _ in range(max(1, number // 4)):
                fn()
                sync()
            e2e[name] = min(e2e[name], (time.perf_counter() - t0) / max(1, number // 4) * 1e6)
    return {k: (host[k], e2e[k]) for k in calls}


def gemm_entries(cp, bf, shape, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    ga, gb = cp.asarray(a), cp.asarray(b)
    ga2, gb2 = cp.asarray(b), cp.asarray(a)
    out = cp.empty(shape, dtype)
    plan = bf.BatchedGemm(ga, gb, out=out)
    tune = plan.autotune()
    graph_plan = bf.BatchedGemm(ga, gb, out=cp.empty(shape, dtype))
    graph = graph_plan.capture()
    calls = {
        "cupy.matmul": lambda: cp.matmul(ga, gb),
        "bf.batched_gemm": lambda: bf.batched_gemm(ga, gb),
        "bf.batched_gemm out=": lambda: bf.batched_gemm(ga, gb, out=out),
        "plan.execute()": lambda: plan.execute(),
        "plan.execute(a, b)": lambda: plan.execute(a=ga2, b=gb2),
        "graph.launch()": lambda: graph.launch(),
        "numpy.matmul (host)": lambda: np.matmul(a, b),
    }
    # correctness of every entry against float64 NumPy, before timing
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    ref_swapped = np.matmul(b.astype(np.float64), a.astype(np.float64))
    sync = cp.cuda.Device().synchronize   # every stream (the graph runs on its own)
    checks = {}
    for name, fn in calls.items():
        if name.startswith("numpy"):
            continue
        r = fn()
        sync()
        r = cp.asnumpy(r).astype(np.float64)
        want = ref_swapped if name == "plan.execute(a, b)" else ref
        checks[name] = float(np.linalg.norm(r - want) / np.linalg.norm(want))
    number = 200 if shape[0] == 1 else 20
    times = _best(calls, number, sync)
    return {"shape": list(shape), "dtype": np.dtype(dtype).name, "times_us": times,
            "rel_error": checks, "autotune_ms": {str(k): v for k, v in tune.items()},
            "captured": bool(graph.captured), "tile": str(plan.tile)}


def solve_entries(cp, bf, count, n, dtype):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((count, n, n)) + n * np.eye(n)
    x = rng.standard_normal((count, n, 1))
    a, b = a.astype(dtype), (a @ x).astype(dtype)
    ga, gb = cp.asarray(a), cp.asarray(b)
    calls = {"cupy.linalg.solve": lambda: cp.linalg.solve(ga, gb),
             "bf.solve": lambda: bf.solve(ga, gb)}
    errs = {}
    for name, fn in calls.items():
        r = cp.asnumpy(fn()).astype(np.float64)
        errs[name] = float(np.linalg.norm(r - x) / np.linalg.norm(x))
    sync = cp.cuda.Device().synchronize
    times = _best(calls, 3, sync)
    return {"count": count, "n": n, "dtype": np.dtype(dtype).name, "times_us": times,
            "rel_error": errs}


def main(outdir, which="all"):
    import cupy as cp

    import blasfast as bf

    out = pathlib.Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    dev = cp.cuda.Device()
    env = {"gpu": cp.cuda.runtime.getDeviceProperties(dev.id)["name"].decode(),
           "cupy": cp.__version__, "numpy": np.__version__, "blasfast": bf.__version__,
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    results = {"env": env, "gemm": [], "solve": []}
    for shape in [(1, 2, 2), (10000, 8, 8)] if which in ("gemm", "all") else []:
        for dtype in (np.float32, np.float64):
            results["gemm"].append(gemm_entries(cp, bf, shape, dtype))
            print(json.dumps(results["gemm"][-1])[:400], flush=True)
    for count, n in ([(1000, 3), (100000, 3), (10000, 8), (100000, 8)]
                     if which in ("solve", "all") else []):
        for dtype in (np.float32, np.float64):
            try:
                results["solve"].append(solve_entries(cp, bf, count, n, dtype))
            except Exception as exc:  # record, keep going
                results["solve"].append({"count": count, "n": n, "dtype": np.dtype(dtype).name,
                                         "error": repr(exc)})
            print(json.dumps(results["solve"][-1])[:400], flush=True)
    out = out / which
    out.mkdir(exist_ok=True)
    (out / "gpu-overhead.json").write_text(json.dumps(results, indent=1))
    lines = [f"GPU: {env['gpu']}, CuPy {env['cupy']}, NumPy {env['numpy']}, {env['date']}", ""]
    for r in results["gemm"]:
        base = r["times_us"]["cupy.matmul"]
        lines.append(f"### batched GEMM {'x'.join(map(str, r['shape']))} {r['dtype']} "
                     f"(tile {r['tile']}, graph captured: {r['captured']})")
        lines.append("| entry | host us/call | x cupy.matmul | e2e us/call | x cupy.matmul "
                     "| rel. error |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for k, (h, e) in r["times_us"].items():
            err = r["rel_error"].get(k)
            lines.append(f"| {k} | {h:.2f} | {h / base[0]:.2f} | {e:.2f} | {e / base[1]:.2f} | "
                         f"{'' if err is None else f'{err:.1e}'} |")
        lines.append(f"autotune (ms per launch): {r['autotune_ms']}")
        lines.append("")
    lines.append("### stacked small solves (e2e = call + synchronize)")
    lines.append("| count | n | dtype | cupy.linalg.solve e2e us | bf.solve e2e us | "
                 "speed-up | bf host us | errors (cupy, bf) |")
    lines.append("|---:|---:|---|---:|---:|---:|---:|---|")
    for r in results["solve"]:
        if "error" in r:
            lines.append(f"| {r['count']} | {r['n']} | {r['dtype']} | error: {r['error'][:80]} |")
            continue
        c, f = r["times_us"]["cupy.linalg.solve"], r["times_us"]["bf.solve"]
        lines.append(f"| {r['count']} | {r['n']} | {r['dtype']} | {c[1]:.1f} | {f[1]:.1f} | "
                     f"{c[1] / f[1]:.2f}x | {f[0]:.1f} | {r['rel_error']['cupy.linalg.solve']:.1e}, "
                     f"{r['rel_error']['bf.solve']:.1e} |")
    (out / "gpu-overhead.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gpu-overhead-out",
         sys.argv[2] if len(sys.argv) > 2 else "all")
