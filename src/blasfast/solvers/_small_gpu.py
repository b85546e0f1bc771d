"""GPU path for stacks of small systems (n <= 64): one fused kernel per group of systems.

``kernels/lu_small_batched.cu`` factors, solves and refines every system in one launch
(MAGMA's batched-small design: a thread per row, the factors on chip), writing per system
a ``dsgesv``-style code, the iteration count, the final backward error and the smallest
pivot. The systems that failed are re-run, in one more launch, with the FP64
instantiation (the fallback). For ``n <= 64`` the blocked algorithm would be a single FP32
panel, so the low precisions all factor in FP32 here, exactly as the blocked algorithm
does; the kernel refines with classical IR whatever ``refine`` asks (an FP64 re-solve of
such a system costs less than one GMRES step), and records no per-step history (only the
final backward error). Reads back two arrays of the stack (the codes, which are the
iteration counts of converged systems, and the backward errors) and, only when systems
failed, the others; nothing on the host is done per system unless it failed.
Systems whose FP64 kernel run did not pass (a zero or tiny pivot, no convergence) go on to
the full FP64 fallback of :mod:`._fallback` (equilibration, condition estimate, QR), one
system at a time; every result is checked once more, after rounding to the working
precision, by the caller.

This module runs only with a GPU; on machines without one its kernel is verified by
compiling it (``python -m blasfast.kernels check``).
"""

import numpy as np

from ..kernels import _compile
from . import _factor, _kernels as K, _refine
from . import _solveinfo as S

__all__ = ["solve_small"]


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


def _launch(cp, tf, nmax, a, b, x, idx, max_iter, tolfac, code, iters, ber, minpiv):
    n, k = b.shape[1], b.shape[2]
    spb = K.SMALL_SPB[nmax]
    count = int(idx.size)
    kern = _compile.get_function("lu_small_batched", K.small_name(tf, nmax))
    kern((-(-count // spb),), (nmax * spb,),
         (np.int32(n), np.int32(k), np.int64(count), idx, a, b, x, np.int32(max_iter),
          np.float64(tolfac), code, iters, ber, minpiv))


def solve_small(cp, a64, b64, good, out, *, factor, max_iter, fallback, anorm, tolfac,
                wdtype):
    """Solve systems ``good`` of the (s, n, n) / (s, n, k) float64 CuPy stacks.

    Returns ``(x (s, n, k) of wdtype, Result)`` and fills ``out``'s per-system codes,
    statuses and fallback flags (as ``_solve._solve_blocked``).
    """
    s, n, k = b64.shape
    nmax = next(m for m in K.SMALL_NMAX if m >= n)
    a = cp.ascontiguousarray(a64)
    b = cp.ascontiguousarray(b64)
    x = cp.full((s, n, k), np.nan)
    code = cp.zeros(s, dtype=np.int32)
    iters = cp.zeros(s, dtype=np.int32)
    ber = cp.full(s, np.inf)
    minpiv = cp.zeros(s)
    tf = "double" if factor == "float64" else "float"
    _launch(cp, tf, nmax, a, b, x, cp.asarray(good, dtype=np.int64), max_iter, tolfac,
            code, iters, ber, minpiv)
    code_h, ber_h = _host(code).copy(), _host(ber).copy()
    res = _refine.Result(s)
    whole = good.size == s
    cg = code_h if whole else code_h[good]
    conv = cg >= 0
    res.converged[good] = conv
    res.backward_error[good] = ber_h if whole else ber_h[good]
    out["iter_code"][good] = cg
    failed = good[~conv]
    # a converged system's code is its iteration count (the kernel writes code = iters
    # then); the counts of the failed ones are read only when there are some
    res.iterations[good] = np.where(conv, cg, 0)
    if failed.size:
        res.iterations[failed] = _host(iters)[failed]
    why = {_factor.OVERFLOW: "overflow converting A to FP32",
           _factor.BREAKDOWN: f"{factor} LU: zero or non-finite pivot",
           _factor.NO_CONVERGENCE: f"IR did not converge in {max_iter} iterations "
                                   "(small-system kernel)"}
    for i in failed:
        res.reason[i] = why.get(int(code_h[i]), f"code {int(code_h[i])}")
    if failed.size and (fallback or factor == "float64"):
        fidx = cp.asarray(failed, dtype=np.int64)
        _launch(cp, "double", nmax, a, b, x, fidx, max_iter, tolfac, code, iters, ber, minpiv)
        code2, ber2, mp2 = _host(code), _host(ber), _host(minpiv)
        eps = _refine.unit_roundoff(np.float64)
        redo = []
        for i in failed:
            res.converged[i] = False
            if code2[i] >= 0 and mp2[i] > eps * anorm[i]:
                # the kernel's FP64 LU and refinement passed the test on its float64 x
                # (the caller tests x again once rounded to a float32 working precision)
                out["status"][i] = S.FELL_BACK
                out["fell_back"][i] = True
                res.backward_error[i] = ber2[i]
                res.reason[i] += ("; solved by the FP64 fallback (small-system kernel: FP64 "
                                  "LU and refinement)")
            else:
                redo.append(i)          # zero or tiny pivot, or no convergence: the full
        if redo:                        # fallback decides (equilibration, rcond, QR)
            from ._solve import fallback_fp64

            fallback_fp64(cp, a64, b64, np.asarray(redo), x, res, out, anorm,
                          tolfac * anorm, wdtype)
    elif failed.size:
        out["status"][failed] = S.NOT_CONVERGED
    hist = np.full(s, np.nan)
    hist[good] = res.backward_error[good]
    res.history = [hist]
    return x.astype(wdtype, copy=False), res
