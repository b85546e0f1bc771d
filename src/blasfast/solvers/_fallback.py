"""The FP64 fallback of :func:`blasfast.solvers.solve`, and the tests that decide what a
result is: solved, singular, or inaccurate.

A system whose low-precision refinement failed is re-solved here, one system at a time, on
its path (NumPy/LAPACK or our GPU kernels), in the manner of LAPACK ``dgesvx``:

1. *Equilibrate*: ``B = diag(r) A diag(c)`` with power-of-two factors (exact; every row and
   column of ``B`` has its largest entry in [0.5, 1), subnormal matrices included), and
   ``B y = diag(r) b``, ``x = diag(c) y``.
2. *FP64 LU* of ``B`` with partial pivoting. An exactly zero pivot: **singular** (as
   LAPACK's ``info > 0``).
3. *Solve and refine in FP64* (``dgerfs``-style fixed-precision refinement: at most
   :data:`REFINE_STEPS` corrections with the FP64 factors, stopping when a step does not
   halve the backward error). Every candidate ``x`` is rounded to the working precision
   and must pass the *same* test as a converged system,
   ``||b_j - A x_j||_inf <= cte * ||x_j||_inf`` for every column (``cte = sqrt(n) eps
   ||A||_inf``, or ``tol ||A||_inf``; at least ``2 eps ||A||_inf`` without ``tol``, since
   for n < 4 ``sqrt(n) eps`` is below the rounding level of ``x`` itself). If it passes, the reciprocal condition number of
   ``B`` is estimated from the LU (LAPACK ``dgecon``, 1-norm, on the host: the factors
   are copied there on the GPU path, one transfer of ``n^2`` numbers); ``rcond < eps`` (the
   working precision's unit roundoff): **singular** to working precision, otherwise
   **fell back**.
4. If the LU's answer fails the test (pivot growth: Wilkinson's matrix has growth
   ``2**(n-1)``; or overflow in the factors), *Householder QR* of ``B`` (``xp.linalg.qr``:
   LAPACK on the CPU, cuSOLVER on the GPU), which is backward stable whatever the growth,
   then the same solve-and-refine with ``R^-1 Q^T``. ``rcond`` of ``R`` (``dtrcon``, on the
   host) below ``eps``: **singular**; passing the test: **fell back**.
5. Otherwise the system is **inaccurate**: ``x`` holds the candidate with the smallest
   backward error, which is recorded; it is a failure, handled by :func:`errstate` like a
   singular one.

A singular matrix's ``x`` is NaN. Costs per fallen-back system: an FP64 LU (``2n^3/3``),
``2n^2 k`` per refinement step, and, only after the LU failed, a QR (``4n^3/3``). Each
step synchronizes the device (it reads the residual norms).
"""

import numpy as np
import scipy.linalg
from scipy.linalg import lapack as _lapack

from . import _lu_cpu, _refine, _scaling

__all__ = ["solve_one", "check", "REFINE_STEPS", "QR_STAGE"]

REFINE_STEPS = 5        # dgerfs's ITMAX
QR_STAGE = True         # (a switch for the tests: False leaves the FP64 LU alone)


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


def check(xp, a, b, x, cte, anorm, wdtype):
    """Round ``x`` (n, k) to ``wdtype`` and apply the solver's test to it.

    Returns ``(passed, backward_error, x_rounded, residual)``; the residual
    ``b - A x_rounded`` is float64 (n, k). ``backward_error`` is
    ``max_j ||r_j||_inf / (||A||_inf ||x_j||_inf)`` (Inf when not finite).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        xw = x.astype(wdtype)
        x64 = xw.astype(np.float64)
        r = _refine.residual(a[None], x64[None], b[None])[0]
    rn = _host(xp.abs(r).max(axis=0))
    xn = _host(xp.abs(x64).max(axis=0))
    with np.errstate(invalid="ignore", over="ignore"):
        passed = bool(np.all(rn <= cte * xn)) and bool(np.isfinite(rn).all()) \
            and bool(np.isfinite(xn).all())
    ber = float(_refine._backward_error(rn[None], xn[None], np.array([anorm]))[0])
    if not (np.isfinite(rn).all() and np.isfinite(xn).all()):
        ber = np.inf
    return passed, ber, xw, r


def _refined(xp, a, b, apply_inv, cte, anorm, wdtype):
    """Solve with ``apply_inv`` (an FP64 inverse), then refine in FP64 (dgerfs-style).

    Returns ``(passed, x_best (wdtype), ber_best, steps)``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        x = apply_inv(b)
    best_x, best, prev = None, np.inf, np.inf
    for step in range(REFINE_STEPS + 1):
        passed, ber, xw, r = check(xp, a, b, x, cte, anorm, wdtype)
        if best_x is None or ber < best:
            best_x, best = xw, ber
        if passed:
            return True, xw, ber, step
        if step == REFINE_STEPS or not np.isfinite(ber) or ber > prev / 2:
            break
        prev = ber
        with np.errstate(over="ignore", invalid="ignore"):
            x = xw.astype(np.float64) + apply_inv(r)
    return False, best_x, best, step


def _lu_inverse(xp, lu, piv, perm, r, c):
    if xp is np:
        return lambda v: c[:, None] * _lu_cpu.getrs(lu, piv, v * r[:, None])
    from . import _lu_gpu

    return lambda v: c[:, None] * _lu_gpu.getrs(lu, perm, v * r[:, None])


def _qr_inverse(xp, q, rr, r, c):
    if xp is np:
        def inv(v):
            y = q.T @ (v * r[:, None])
            return c[:, None] * scipy.linalg.solve_triangular(rr, y, lower=False,
                                                              check_finite=False)
        return inv
    from . import _lu_gpu

    rr = xp.ascontiguousarray(rr)

    def inv_dev(v):
        y = xp.ascontiguousarray(q.T @ (v * r[:, None]))
        _lu_gpu._trsv(rr, y, lower=False)       # upper triangular solve, FP64, in place
        return c[:, None] * y
    return inv_dev


def _rcond_lu(lu, bnorm1):
    with np.errstate(all="ignore"):
        rc, _ = _lapack.dgecon(np.asfortranarray(_host(lu), dtype=np.float64), bnorm1, "1")
    return float(rc)


def _rcond_r(rr):
    with np.errstate(all="ignore"):
        rc, _ = _lapack.dtrcon(np.asfortranarray(_host(rr), dtype=np.float64), "1", "U", "N")
    return float(rc)


def solve_one(xp, a, b, *, cte, anorm, wdtype):
    """The fallback for one system ``a x = b`` (a (n, n), b (n, k) float64, finite).

    Returns ``(status, x, backward_error, text)``: status 'fell back', 'singular' or
    'inaccurate'; ``x`` (n, k) of ``wdtype`` (None when singular); ``text`` what happened,
    for ``info.reason``.
    """
    from ._factor import _getrf

    eps = _refine.unit_roundoff(wdtype)
    rs, cs = _scaling.equilibrate(xp, a[None], 1.0)
    rs, cs = rs[0], cs[0]
    bm = a * rs[:, None] * cs[None, :]
    bnorm1 = float(_host(xp.abs(bm).sum(axis=0).max()))
    lu, piv, perm, info, finite = _getrf(xp, bm, "float64")
    if info > 0:
        j = info - 1
        return ("singular", None, np.inf,
                f"FP64 LU of the equilibrated matrix: pivot U[{j}, {j}] is exactly zero")
    cands = []
    lu_note = "the FP64 LU overflowed (Inf/NaN in the factors)"
    if finite:
        ok, x, ber, steps = _refined(xp, a, b, _lu_inverse(xp, lu, piv, perm, rs, cs), cte,
                                     anorm, wdtype)
        if ok:
            rc = _rcond_lu(lu, bnorm1)
            if not rc >= eps:
                return ("singular", None, np.inf,
                        f"singular to working precision: the estimated reciprocal "
                        f"condition number of the equilibrated matrix is {rc:.1e} < eps = "
                        f"{eps:.1e}")
            more = f" and {steps} FP64 refinement step{'s' * (steps != 1)}" if steps else ""
            return ("fell back", x, ber, "solved by the FP64 fallback (LU of the "
                                         f"equilibrated matrix{more})")
        cands.append((ber, x))
        lu_note = (f"the FP64 LU's best backward error was {ber:.1e}, above the test's "
                   f"{cte / anorm:.1e}")
    if QR_STAGE:
        q, rr = xp.linalg.qr(bm)
        rc = _rcond_r(rr)
        if not rc >= eps:
            return ("singular", None, np.inf,
                    f"{lu_note}; singular to working precision: the estimated reciprocal "
                    f"condition number of R (QR of the equilibrated matrix) is {rc:.1e} < "
                    f"eps = {eps:.1e}")
        ok, x, ber, steps = _refined(xp, a, b, _qr_inverse(xp, q, rr, rs, cs), cte, anorm,
                                     wdtype)
        if ok:
            more = f" and {steps} FP64 refinement step{'s' * (steps != 1)}" if steps else ""
            return ("fell back", x, ber, f"{lu_note}; solved by the FP64 fallback "
                                         f"(Householder QR of the equilibrated matrix{more})")
        cands.append((ber, x))
    ber, x = min(cands, key=lambda t: t[0]) if cands else (np.inf, None)
    what = "LU and QR" if QR_STAGE else "LU"
    if not np.isfinite(ber):
        return ("inaccurate", x, ber,
                f"{lu_note}; the FP64 fallback ({what}) found no finite solution: x "
                "overflows float64 (or b scaled with a tiny A did)")
    return ("inaccurate", x, ber,
            f"{lu_note}; the FP64 fallback ({what}, with refinement) did not pass the "
            f"backward-error test: best backward error {ber:.1e} > {cte / anorm:.1e}")
