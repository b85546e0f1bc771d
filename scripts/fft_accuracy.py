"""Accuracy of the split-FP16 FFT: relative L2 error of the 2-D FFT against a float64 reference.

The experiment of the ICL poster (Sorna et al. 2018), on our implementation: complex64 inputs
uniform in +-range (real and imaginary parts), ranges 1e-7 ... 1e5, square sizes 64^2 ...
4096^2, for

* ``split16`` -- blasfast's split-FP16 transform (the default for powers of two);
* ``fp16``    -- the same stages with the high float16 half only (same power-of-two scales);
* ``fp32``    -- the FP32 library transform (``scipy.fft`` on the CPU path, cuFFT on the GPU);
* ``fp16-unscaled`` (CPU path only) -- no scales and float16 storage between stages, what a
  plain FP16 FFT library does with such inputs (small ranges drown in float16 subnormals,
  large ones overflow to Inf): the seed's FP16 baseline.

Error: ``||Y - Y_ref||_2 / ||Y_ref||_2`` over the whole 2-D spectrum, ``Y_ref`` the float64
``numpy.fft.fft2`` of the same complex64 input. Also a study of the block that shares one
pair of split scales (one radix-4 butterfly -- the choice blasfast makes -- 16 butterflies,
or a whole transform), and a check against the issue's targets: split16 <= 1e-5 at every
size and range, and within 10x of FP32.

Usage::

    python scripts/fft_accuracy.py                       # CPU path, 64^2 ... 2048^2, ~3 min
    python scripts/fft_accuracy.py --full                # CPU path, up to 4096^2, ~15 min
    python scripts/fft_accuracy.py --sizes 64 256 --ranges 1e-7 1 1e5
    python scripts/fft_accuracy.py --from-json bench/results/<date>-cpu-path-fft-accuracy.json
    PYTHONPATH=src python scripts/fft_accuracy.py --device gpu --full   # the GPU path

Writes ``<out>/<date>-<device>-path-fft-accuracy.{json,md,png}`` (the plot only when
matplotlib imports): the markdown holds one table per precision (rows: size, columns:
range), the summary against the targets and the block study. Every number is labelled with
the path that produced it: the CPU path *emulates* the tensor-core arithmetic in NumPy
(float16 rounding of the operands, float32 accumulation, the same scales), it does not
measure a GPU.
"""

import argparse
import datetime
import json
import pathlib
import platform
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import blasfast.fft as bff  # noqa: E402
from blasfast.fft import _split  # noqa: E402

DEFAULT_SIZES = [64, 128, 256, 512, 1024, 2048]
FULL_SIZES = DEFAULT_SIZES + [4096]
DEFAULT_RANGES = [1e-7, 1e-5, 1e-3, 1e-1, 1e1, 1e3, 1e5]
PRECISIONS = {"split16": "split16", "fp16": "fp16", "fp32": "fp32",
              "fp16-unscaled": "_fp16_unscaled"}
TARGET_ABS = 1e-5
TARGET_VS_FP32 = 10.0


def rel_err(y, ref):
    y = np.asarray(y).astype(np.complex128)
    with np.errstate(invalid="ignore", over="ignore"):
        num = np.linalg.norm((y - ref).ravel())
    return float(num / np.linalg.norm(ref.ravel()))


def run_sweep(sizes, ranges, precisions, device, seed, log):
    xp = np
    if device == "gpu":
        import cupy as xp  # noqa: F811
    rng = np.random.default_rng(seed)
    rows = []
    for n in sizes:
        for rg in ranges:
            x = (rg * (rng.uniform(-1, 1, (n, n)) + 1j * rng.uniform(-1, 1, (n, n)))).astype(
                np.complex64)
            ref = np.fft.fft2(x.astype(np.complex128))
            xd = xp.asarray(x)
            for name in precisions:
                t0 = time.perf_counter()
                y = bff.fft2(xd, precision=PRECISIONS[name])
                if device == "gpu":
                    xp.cuda.get_current_stream().synchronize()
                    y = y.get()
                dt = time.perf_counter() - t0
                err = rel_err(y, ref)
                rows.append(dict(n=n, range=rg, precision=name, rel_error=err, seconds=dt))
                log(f"  {n:5d}^2  range {rg:7.0e}  {name:14s} {err:10.3e}  ({dt:6.2f} s)")
    return rows


def block_study(sizes, seed, log):
    """Error of one pass over rows of length n (uniform data, and a spiky signal) for three
    sizes of the block that shares a pair of scales."""
    rng = np.random.default_rng(seed + 1)
    out = []
    for n in sizes:
        x = (rng.uniform(-1, 1, (64, n)) + 1j * rng.uniform(-1, 1, (64, n))).astype(np.complex64)
        spikes = rng.random((64, n)) < 0.01
        cases = [("uniform", x)] + [
            (f"1% spikes x{f:.0e}", (x * np.where(spikes, f, 1.0)).astype(np.complex64))
            for f in (1e4, 1e12)]
        for label, data in cases:
            ref = np.fft.fft(data.astype(np.complex128))
            for block_name, block in (("butterfly (chosen)", 1), ("16 butterflies", 16),
                                      ("whole transform", n // 4)):
                y = _split.pass_cpu(data, -1, "split16", block=block)
                err = rel_err(y, ref)
                # accuracy of the small outputs: the 1% of the spectrum with least magnitude
                small = np.argsort(np.abs(ref), axis=None)[: ref.size // 100]
                err_small = float(np.linalg.norm((y.ravel()[small] - ref.ravel()[small])) /
                                  np.linalg.norm(ref.ravel()[small]))
                out.append(dict(n=n, data=label, block=block_name, rel_error=err,
                                rel_error_smallest_1pct=err_small))
                log(f"  n={n:5d} {label:15s} {block_name:19s} {err:10.3e}  "
                    f"smallest 1%: {err_small:10.3e}")
    return out


def fmt(v):
    if not np.isfinite(v):
        return "inf/nan"
    return f"{v:.2e}"


def markdown(meta, rows, blocks, sizes, ranges, precisions):
    lines = [f"# Split-FP16 FFT accuracy -- {meta['path_label']}", "",
             f"{meta['date']}, {meta['machine']}; blasfast commit {meta.get('commit') or '?'}.",
             "Relative L2 error of the 2-D FFT (complex64 input uniform in +-range) against "
             "float64 `numpy.fft.fft2`.", ""]
    if meta["device"] == "cpu":
        lines += ["**CPU-path measurement**: the tensor-core arithmetic is emulated in NumPy "
                  "(float16 operands through `blasfast.batched_gemm`, float32 accumulation, "
                  "the same power-of-two scales); `fp32` is `scipy.fft` (pocketfft). No GPU "
                  "was used.", ""]
    err = {(r["n"], r["range"], r["precision"]): r["rel_error"] for r in rows}
    for p in precisions:
        lines += [f"## {p}", "", "| size | " + " | ".join(f"{rg:.0e}" for rg in ranges) + " |",
                  "|---|" + "---|" * len(ranges)]
        for n in sizes:
            lines.append(f"| {n}^2 | " + " | ".join(fmt(err[(n, rg, p)]) for rg in ranges) + " |")
        lines.append("")
    if {"split16", "fp32"} <= set(precisions):
        lines += ["## Summary (worst over the ranges)", "",
                  "| size | split16 | fp32 | split16 / fp32 | " +
                  ("fp16 / split16 |" if "fp16" in precisions else ""),
                  "|---|---|---|---|" + ("---|" if "fp16" in precisions else "")]
        ok_abs = ok_rel = True
        for n in sizes:
            s = max(err[(n, rg, "split16")] for rg in ranges)
            f = max(err[(n, rg, "fp32")] for rg in ranges)
            ratio = max(err[(n, rg, "split16")] / err[(n, rg, "fp32")] for rg in ranges)
            row = f"| {n}^2 | {fmt(s)} | {fmt(f)} | {ratio:.2f} | "
            if "fp16" in precisions:
                gain = min(err[(n, rg, "fp16")] / err[(n, rg, "split16")] for rg in ranges)
                row += f"{gain:.0f}x |"
            lines.append(row)
            ok_abs &= s <= TARGET_ABS
            ok_rel &= ratio <= TARGET_VS_FP32
        lines += ["", f"Target split16 <= {TARGET_ABS:g} at every size and range: "
                      f"**{'met' if ok_abs else 'NOT met'}**; within {TARGET_VS_FP32:g}x of "
                      f"FP32: **{'met' if ok_rel else 'NOT met'}** ({meta['path_label']}).", ""]
    if blocks:
        lines += ["## Block of the split scales (one pass, rows of n points, split16)", "",
                  "| n | data | block | rel. L2 error | error on the smallest 1% outputs |",
                  "|---|---|---|---|---|"]
        lines += [f"| {b['n']} | {b['data']} | {b['block']} | {fmt(b['rel_error'])} | "
                  f"{fmt(b['rel_error_smallest_1pct'])} |" for b in blocks]
        lines.append("")
    return "\n".join(lines)


def plot(path, meta, rows, sizes, ranges, precisions):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for p in precisions:
        worst, best = [], []
        for n in sizes:
            e = [r["rel_error"] for r in rows if r["n"] == n and r["precision"] == p]
            e = [v if np.isfinite(v) else 1.0 for v in e]
            worst.append(max(e))
            best.append(min(e))
        label = f"{p} (worst range)"
        if not all(np.isfinite(r["rel_error"]) for r in rows if r["precision"] == p):
            label += "; Inf/NaN drawn at 1"
        line, = ax.plot(sizes, worst, marker="o", label=label)
        ax.fill_between(sizes, best, worst, color=line.get_color(), alpha=0.15)
    ax.axhline(TARGET_ABS, color="k", ls="--", lw=0.8, label="target 1e-5")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(sizes, [f"{n}²" for n in sizes])
    ax.set_xlabel("2-D FFT size")
    ax.set_ylabel("relative L2 error vs float64")
    ax.set_title(f"Split-FP16 FFT accuracy, ranges {min(ranges):.0e}..{max(ranges):.0e}\n"
                 f"{meta['path_label']}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1.0, 0.1))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=None,
                    help=f"square sizes (default {DEFAULT_SIZES}; --full: {FULL_SIZES})")
    ap.add_argument("--full", action="store_true", help="the full sweep up to 4096^2")
    ap.add_argument("--ranges", type=float, nargs="+", default=DEFAULT_RANGES)
    ap.add_argument("--precisions", nargs="+", default=None, choices=list(PRECISIONS))
    ap.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    ap.add_argument("--no-block-study", action="store_true")
    ap.add_argument("--seed", type=int, default=20181217)
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "bench" / "results")
    ap.add_argument("--from-json", type=pathlib.Path, default=None,
                    help="re-render the markdown and plot of a saved run, compute nothing")
    args = ap.parse_args(argv)

    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        meta, rows, blocks = saved["meta"], saved["sweep"], saved["block_study"]
        sizes = sorted({r["n"] for r in rows})
        ranges = sorted({r["range"] for r in rows})
        precisions = list(dict.fromkeys(r["precision"] for r in rows))
        stem = args.from_json.with_suffix("")
        stem.with_suffix(".md").write_text(
            markdown(meta, rows, blocks, sizes, ranges, precisions) + "\n")
        plot(stem.with_suffix(".png"), meta, rows, sizes, ranges, precisions)
        print(f"re-rendered {stem}.md and {stem}.png")
        return 0

    sizes = args.sizes or (FULL_SIZES if args.full else DEFAULT_SIZES)
    precisions = args.precisions or (list(PRECISIONS) if args.device == "cpu"
                                     else ["split16", "fp16", "fp32"])
    if args.device == "gpu" and "fp16-unscaled" in precisions:
        ap.error("fp16-unscaled is a CPU-path emulation only")
    date = datetime.date.today().isoformat()
    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    if args.device == "gpu":
        import cupy

        machine = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    meta = dict(date=date, device=args.device, machine=machine, seed=args.seed,
                path_label=("CPU path (NumPy emulation of the tensor-core arithmetic)"
                            if args.device == "cpu" else f"GPU path ({machine})"),
                numpy=np.__version__, python=platform.python_version())
    try:
        import subprocess

        meta["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                        capture_output=True, text=True).stdout.strip()
    except OSError:
        pass

    print(f"FFT accuracy sweep, {meta['path_label']}: sizes {sizes}, ranges "
          f"{args.ranges}, precisions {precisions}", flush=True)
    t0 = time.perf_counter()
    rows = run_sweep(sizes, args.ranges, precisions, args.device, args.seed,
                     lambda s: print(s, flush=True))
    blocks = []
    if not args.no_block_study and args.device == "cpu":
        print("block study:", flush=True)
        blocks = block_study([1024, 4096], args.seed, lambda s: print(s, flush=True))
    meta["seconds"] = time.perf_counter() - t0

    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{date}-{args.device}-path-fft-accuracy"
    stem.with_suffix(".json").write_text(json.dumps(
        dict(meta=meta, sweep=rows, block_study=blocks), indent=1, default=float))
    md = markdown(meta, rows, blocks, sizes, args.ranges, precisions)
    stem.with_suffix(".md").write_text(md + "\n")
    have_plot = plot(stem.with_suffix(".png"), meta, rows, sizes, args.ranges, precisions)
    print("\n" + md)
    print(f"wrote {stem}.json, {stem}.md" + (f", {stem}.png" if have_plot else
                                            " (no plot: matplotlib is not installed)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
