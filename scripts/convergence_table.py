"""Convergence table of the mixed-precision solver, as in Haidar et al. (SC'18), as markdown.

For MAGMA's test families (singular values arithmetic, geometric, clustered x2, log-random,
with random orthogonal factors; and diagonally dominant) at kappa_2 = 1e1 .. 1e12, solve
``A x = b`` (b standard normal) with ``blasfast.solvers.solve`` for every factor precision
x refinement, and write the iteration counts:

* ``3``        converged after 3 IR corrections (dsgesv test: ||r|| <= sqrt(n) eps ||A|| ||x||)
* ``3 (41)``   GMRES-IR: 3 outer corrections, 41 GMRES (Arnoldi) steps in all
* ``fb -31``   refinement failed (code -31: no convergence / stagnation within 50; -3:
               the low-precision LU broke down) and the FP64 fallback solved the system

Usage::

    python scripts/convergence_table.py                      # n = 500, CPU path
    python scripts/convergence_table.py --n 8192 --device gpu --out table.md

On the CPU path the FP16/BF16 factorization is emulated (operands of the trailing update
rounded to float16/bfloat16, FP32 accumulation): the iteration counts are those of the
GPU algorithm, the times are not. n = 500 takes about 40 s on one core of a 2-core CI
machine (BLAS single-threaded).
"""

import argparse
import datetime
import platform
import sys
import time

import numpy as np

import blasfast.solvers as bs

CONDS = [1e1, 1e2, 1e4, 1e6, 1e8, 1e10, 1e12]
KINDS = ["arithmetic", "geometric", "cluster0", "cluster1", "logrand", "diag_dominant"]
LABEL = {"arithmetic": "arithmetic", "geometric": "geometric",
         "cluster0": "clustered [1, 1/k, ..., 1/k]", "cluster1": "clustered [1, ..., 1, 1/k]",
         "logrand": "log-random", "diag_dominant": "diagonally dominant"}


def cell(info):
    """The table entry for one solve."""
    if info.status == "converged":
        it = int(info.iterations)
        return f"{it} ({int(info.gmres_iterations)})" if info.method != "ir" else f"{it}"
    if info.status == "fell back":
        return f"fb {int(info.iter_code)}"
    return str(info.status)


def run(n, conds, kinds, factors, refines, device, seed, out=sys.stdout, log=sys.stderr):
    """Solve every case and write the markdown table to ``out``; returns the rows."""
    xp = np
    if device == "gpu":
        import cupy as xp
    rng = np.random.default_rng(seed)
    cols = [(f, r) for f in factors for r in refines]
    rows = []
    t_all = time.perf_counter()
    for kind in kinds:
        for cond in (conds if kind != "diag_dominant" else [None]):
            a = bs.generate_matrix(n, kind, cond if cond else 1.0, rng=rng)
            b = rng.standard_normal(n)
            kappa = cond if cond else float(np.linalg.cond(a))
            da, db = xp.asarray(a), xp.asarray(b)
            cells = []
            for f, r in cols:
                t0 = time.perf_counter()
                _, info = bs.solve(da, db, factor=f, refine=r, return_info=True)
                cells.append(cell(info))
                print(f"{kind:14s} {kappa:8.1e} {f:9s} {r:6s} {cells[-1]:>10s} "
                      f"({time.perf_counter() - t0:.2f} s)", file=log, flush=True)
            rows.append((LABEL[kind], kappa, cells))
    elapsed = time.perf_counter() - t_all
    what = ("CPU path: FP16/BF16 factorization emulated in NumPy (operands rounded, FP32 "
            "accumulation)" if device == "cpu" else "GPU path")
    print(f"### Refinement iterations, n = {n} ({what})\n", file=out)
    print(f"Measured {datetime.date.today().isoformat()} on {platform.machine()} "
          f"({platform.processor() or platform.platform()}), seed {seed}, b ~ N(0, 1), "
          f"max_iter 50, GMRES-IR: FGMRES(50) to 1e-6 per correction, preconditioner "
          f"applied in FP64 arithmetic; "
          f"{elapsed:.0f} s in all.\n", file=out)
    head = "| matrix | kappa_2 | " + " | ".join(
        f"{f} {'IR' if r == 'ir' else 'GMRES-IR' if r == 'gmres' else r}" for f, r in cols)
    print(head + " |", file=out)
    print("|" + "---|" * (2 + len(cols)), file=out)
    for label, kappa, cells in rows:
        k = f"{kappa:.0e}" if label != LABEL["diag_dominant"] else f"{kappa:.2g} (measured)"
        print(f"| {label} | {k} | " + " | ".join(cells) + " |", file=out)
    print("\n`3`: IR corrections to the dsgesv test; `3 (41)`: GMRES-IR outer corrections "
          "(Arnoldi steps in all); `fb -31`: refinement failed (-31 no convergence or "
          "stagnation, -3 LU breakdown), solved by the FP64 fallback.", file=out)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500, help="matrix order (default 500)")
    p.add_argument("--conds", type=float, nargs="+", default=CONDS)
    p.add_argument("--kinds", nargs="+", default=KINDS, choices=KINDS)
    p.add_argument("--factors", nargs="+", default=["float16", "bfloat16", "float32"])
    p.add_argument("--refine", nargs="+", default=["ir", "gmres"],
                   choices=["ir", "gmres", "auto"])
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the markdown here (default stdout)")
    args = p.parse_args(argv)
    out = open(args.out, "w") if args.out else sys.stdout
    try:
        run(args.n, args.conds, args.kinds, args.factors, args.refine, args.device,
            args.seed, out=out)
    finally:
        if args.out:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
