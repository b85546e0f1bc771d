"""Iterative refinement (IR), GMRES-IR and the switch between them, for stacks of systems.

Per system, with ``x`` in the working precision and everything else in float64::

    x0 = M^-1 b                                  (M: the low-precision LU)
    repeat:  r = b - A x                         (float64: batched_gemm, FP64 FMA)
             stop if ||r_j||_inf <= cte * ||x_j||_inf for every right-hand side j
             d = M^-1 r          (IR)   or   d = GMRES(M^-1 A, M^-1 r)   (GMRES-IR)
             x = x + d

``cte = sqrt(n) * ||A||_inf * eps`` (LAPACK ``dsgesv``, cuSOLVER ``gesv`` with BWDMAX = 1;
``eps`` the unit roundoff of the working precision), or ``tol * ||A||_inf`` when ``tol`` is
given. Rules beyond ``dsgesv`` (which only counts to its 30 iterations):

* ``'auto'`` starts with IR and switches a system to GMRES-IR, from its best iterate so
  far, as soon as an IR step fails to cut the backward error ``||r||/(||A|| ||x||)`` by 4
  (IR converges linearly with rate about ``kappa(A) * u_factor``; at a rate above 1/4 IR
  needs 25+ steps for 16 digits, where GMRES-IR takes 2-3 corrections of a few dozen
  cheap Arnoldi steps; above 1 IR diverges);
* a system stops early, unconverged, when its backward error has not improved on its best
  for 3 consecutive steps (stagnation) or becomes non-finite (divergence) -- in ``'auto'``
  this only happens once it runs GMRES-IR;
* at most ``max_iter`` corrections (each GMRES-IR step counts one, whatever its inner
  Arnoldi steps, which are reported separately).

The convergence test of every step reads the norms back to the host: on the GPU path each
step synchronizes the device once (plus once per GMRES step).
"""

import math

import numpy as np

from ..gemm import batched_gemm
from ._gmres import gmres
from ._solveinfo import Reasons

__all__ = ["refine", "GMRES_TOL", "GMRES_RESTART", "unit_roundoff"]

GMRES_TOL = 1e-6       # relative tolerance of the inner FGMRES (true residual)
GMRES_RESTART = 50     # Arnoldi steps per GMRES-IR step (at most n)
_IR_RATE = 0.25        # 'auto' leaves IR when a step does not cut the backward error 4x
_STALL = 3             # steps without improvement before giving up

METHODS = ("ir", "gmres", "ir->gmres")     # Result.method holds codes into this table
IR, GMRES, IR_GMRES = range(len(METHODS))
METHOD_TABLE = np.array(METHODS, dtype=object)
_METHOD_NAME = {IR: "IR", GMRES: "GMRES-IR", IR_GMRES: "IR then GMRES-IR"}


def unit_roundoff(dtype):
    """LAPACK's ``?lamch('Epsilon')``: 2**-53 for float64, 2**-24 for float32."""
    return float(np.finfo(dtype).eps) / 2


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


def _take(arr, idx):
    """``arr[idx]`` without a copy when ``idx`` is the whole stack in order.

    ``idx`` is strictly increasing (every caller passes the output of ``nonzero`` /
    ``flatnonzero``, or a subset of one taken by a mask), so it is the whole stack in
    order exactly when its length is the stack's: no O(s) check per call.
    """
    if len(idx) == arr.shape[0]:
        return arr
    return arr[idx]


def residual(a, x, b):
    """``b - a @ x`` in float64 for stacks (batched_gemm, either path)."""
    return batched_gemm(a, x, c=b, alpha=-1.0, beta=1.0)


class Result:
    """Per-system outcome of :func:`refine` (host arrays of length s).

    ``method`` holds int8 codes into :data:`METHODS`; ``reason`` is a sparse
    :class:`~._solveinfo.Reasons` (``{system: text}``, '' for the others): nothing per
    system is a Python object, so a stack of 100,000 costs a few array allocations.
    """

    def __init__(self, s):
        self.iterations = np.zeros(s, dtype=np.int64)
        self.gmres_iterations = np.zeros(s, dtype=np.int64)
        self.converged = np.zeros(s, dtype=bool)
        self.method = np.zeros(s, dtype=np.int8)
        self.reason = Reasons()
        self.backward_error = np.full(s, np.nan)
        self.history = []          # one (s,) array per step, NaN where a system was idle


def _backward_error(rn, xn, anorm):
    """max over columns of ||r||/(||A|| ||x||) (0 for r = 0, Inf for x = 0 != r)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        ber = rn / anorm[:, None] / xn        # (not rn / (anorm * xn): that can overflow)
    ber = np.where(rn == 0, 0.0, ber)
    ber = np.where(np.isnan(rn) | np.isnan(xn), np.inf, ber)
    return ber.max(axis=1) if ber.shape[1] else np.zeros(len(ber))


def refine(xp, a, b, fac, sel, *, mode, max_iter, cte, anorm, wdtype):
    """Refine the systems ``sel`` (host int array into the stack) of ``a x = b``.

    Parameters
    ----------
    xp : module
    a : (s, n, n) float64 array
    b : (s, n, k) float64 array
    fac : Factors
        ``fac.solve(v, idx)`` applies the low-precision LU of systems ``idx``.
    sel : (t,) int numpy array
        Systems to solve (the others are left alone).
    mode : {'ir', 'gmres', 'auto'}
    max_iter : int
    cte : (s,) float numpy array
        Stopping thresholds: converged when ``||r||_inf <= cte * ||x||_inf`` per column.
    anorm : (s,) float numpy array
        ``||A||_inf`` per system (for the recorded backward errors).
    wdtype : numpy dtype
        Working precision of ``x``.

    Returns
    -------
    x : (s, n, k) array of ``wdtype``
        Solutions for ``sel`` (the best iterate where unconverged); zeros elsewhere.
    Result
    """
    s, n, k = b.shape
    res = Result(s)
    x = xp.zeros((s, n, k), dtype=wdtype)
    if len(sel) == 0:
        return x, res
    x[sel] = fac.solve(b[sel], sel).astype(wdtype)
    best_x = x.copy()
    best = np.full(s, np.inf)
    prev = np.full(s, np.inf)
    stall = np.zeros(s, dtype=np.int64)
    res.method[sel] = GMRES if mode == "gmres" else IR
    active = np.asarray(sel)
    m = max(1, min(n, GMRES_RESTART))
    while active.size:
        xa = _take(x, active).astype(np.float64)
        r = residual(_take(a, active), xa, _take(b, active))
        rn = _host(xp.abs(r).max(axis=1)) if n else np.zeros((len(active), k))
        xn = _host(xp.abs(xa).max(axis=1)) if n else np.zeros((len(active), k))
        with np.errstate(invalid="ignore", over="ignore"):
            ok = np.all(rn <= cte[active, None] * xn, axis=1)
        ber = _backward_error(rn, xn, anorm[active])
        step = np.full(s, np.nan)
        step[active] = ber
        res.history.append(step)
        res.backward_error[active] = ber
        finite = np.isfinite(ber)
        done = ok & finite
        res.converged[active[done]] = True

        improved = ber < best[active]
        upd = active[improved & finite]
        if upd.size:
            best[upd] = ber[improved & finite]
            best_x[upd] = x[upd]
        stall[active] = np.where(improved, 0, stall[active] + 1)

        to_gmres = np.zeros(len(active), dtype=bool)
        if mode == "auto":
            in_ir = res.method[active] == IR
            slow = ~finite | (ber > _IR_RATE * prev[active])
            to_gmres = in_ir & slow & ~done & (res.iterations[active] > 0)
        give_up = ~done & ~to_gmres & (~finite | (stall[active] >= _STALL))
        out_of_steps = ~done & ~to_gmres & ~give_up & (res.iterations[active] >= max_iter)
        for flag, why in ((give_up, "stagnated"), (out_of_steps, "did not converge")):
            for i in active[flag]:
                res.reason[i] = _failure(res, i, why, max_iter, best[i])
        prev[active] = ber
        sw = active[to_gmres]
        if sw.size:
            res.method[sw] = IR_GMRES
            x[sw] = best_x[sw]
            prev[sw] = np.inf
            stall[sw] = 0
        stop = done | give_up | out_of_steps
        ended = active[give_up | out_of_steps]
        if ended.size:
            x[ended] = best_x[ended]
            res.backward_error[ended] = best[ended]
        step_ok = ~stop & ~to_gmres
        if step_ok.any():
            go = np.nonzero(step_ok)[0]
            idx = active[go]
            gm = res.method[idx] != IR
            rr = _take(r, go)
            for part, use_gmres in ((np.nonzero(~gm)[0], False), (np.nonzero(gm)[0], True)):
                if part.size == 0:
                    continue
                ids = idx[part]
                if use_gmres:
                    d, steps = _gmres_step(xp, _take(a, ids), fac, ids, _take(rr, part), m)
                    res.gmres_iterations[ids] += steps.max(axis=1)
                else:
                    d = fac.solve(_take(rr, part), ids)
                x[ids] = (x[ids].astype(np.float64) + d).astype(wdtype)
                res.iterations[ids] += 1
        active = active[~stop]
    return x, res


def _gmres_step(xp, a, fac, ids, r, m):
    return gmres(xp, lambda v: batched_gemm(a, v), lambda v: fac.solve(v, ids, precise=True),
                 r, tau=GMRES_TOL, m=m)


def _failure(res, i, why, max_iter, best):
    name = _METHOD_NAME[int(res.method[i])]
    if why == "stagnated":
        return (f"{name} stagnated after {res.iterations[i]} iterations (best backward "
                f"error {best:.2e})")
    return (f"{name} did not converge in {max_iter} iterations (best backward error "
            f"{best:.2e})")


def threshold(anorm, n, wdtype, tol):
    """Per-system stopping constant ``cte`` (see the module docstring)."""
    if tol is None:
        return anorm * math.sqrt(n) * unit_roundoff(wdtype)
    return anorm * float(tol)


def fallback_threshold(anorm, n, wdtype, tol):
    """The FP64 fallback's acceptance constant: ``threshold``, but at least
    ``2 eps ||A||_inf`` when ``tol`` is None. For n < 4, ``sqrt(n) eps`` lies below the
    rounding level of ``x`` itself (a 1 x 1 system's exactly rounded ``x = fl(b / a)``
    has backward error up to ``eps / (1 - eps)``); a ``tol`` given is applied as given."""
    if tol is None:
        return anorm * max(math.sqrt(n), 2.0) * unit_roundoff(wdtype)
    return anorm * float(tol)
