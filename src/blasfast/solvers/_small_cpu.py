"""CPU path for stacks of small systems: the LU of every system at once, vectorized over
the stack.

:func:`._factor.factorize` calls LAPACK once per system (``sgetrf``/``dgetrf``) and its
``Factors.solve`` once per system and step (``?getrs``): about 20 us of Python and call
overhead per system, 40-150x ``numpy.linalg.solve`` on stacks of 3 x 3 or 8 x 8 systems.
Here the same algorithm runs with NumPy operations over the whole stack, one loop step
per column (the factorization) or per row (the triangular solves), so the Python work is
O(n) per call whatever the number of systems.

Only the case the blocked algorithm factors as a single FP32 panel is taken (``n <=``
:func:`._lu_cpu.block_size`, so no FP16 range scaling, see ``_factor.factorize``): the
factorization is right-looking LU with partial pivoting (the row of largest magnitude,
the first on ties: LAPACK's ``i?amax``), multipliers by the reciprocal pivot as LAPACK's
``?getf2`` does, in FP32 for every low precision (FP64 for ``'float64'``); the
triangular solves run in the factors' precision, or in float64 arithmetic on them for
GMRES-IR's preconditioner (``precise``), each residual column scaled by a power of two
first. The operations are LAPACK's; only their summation order differs from the
library's kernels (rounding-level differences, absorbed by the refinement, whose stopping
test is unchanged). Codes, reasons and the zero-pivot ``info`` are those of
:func:`._factor.factorize`.
"""

import numpy as np

from . import _factor, _lu_cpu, _scaling

__all__ = ["use_for", "factorize", "StackFactors"]

_SFMIN = {np.dtype(np.float32): float(np.finfo(np.float32).tiny),
          np.dtype(np.float64): float(np.finfo(np.float64).tiny)}


MAX_N = 24      # above, LAPACK's per-system kernels beat NumPy's elementwise updates


def use_for(s, n):
    """Whether a CPU stack of ``s`` systems of order ``n`` takes this path.

    Measured on a 2-core VM (float64, well conditioned, the whole solve): with 1,000
    systems the stacked path takes 0.19x the per-system LAPACK path's time at n = 8,
    0.39x at 16, 0.53x at 24, but 1.4x at 32 and 1.8x at 48 (the O(n^3) elementwise
    updates outweigh the saved calls); with s = 2n systems the two are even (1.0-1.2x).
    Hence ``n <= MAX_N`` and ``s >= max(8, 4 n)``. (Every such n is a single FP32 panel,
    ``n <= block_size``: no FP16 range scaling.)"""
    return 0 < n <= min(MAX_N, _lu_cpu.block_size(n)) and s >= max(8, 4 * n)


class StackFactors:
    """LU factors of a stack, with the interface :func:`._refine.refine` uses of
    :class:`._factor.Factors` (``solve``, ``code``, ``reason``, ``r``/``c``/``mu``)."""

    def __init__(self, factor, lu, perm, code, reason, info, finite):
        self.factor = factor
        self.lu = lu                # (s, n, n) storage dtype: L below the diagonal, U
        self.perm = perm            # (s, n): (P A)[i] = A[perm[i]]
        self.code = code
        self.reason = reason
        self.info = info
        self.finite = finite
        self.r = self.c = self.mu = None
        self._lu64 = None

    @property
    def storage(self):
        return np.dtype(np.float64 if self.factor == "float64" else np.float32)

    def solve(self, v, idx, precise=False):
        """``d = A^-1 v`` for systems ``idx`` (``v`` (len(idx), n, k) float64); as
        :meth:`._factor.Factors.solve`."""
        arith = np.dtype(np.float64) if precise else self.storage
        e = _scaling.column_exponent_scale(np, v)
        with np.errstate(over="ignore", invalid="ignore"):
            y = (v / e).astype(arith)
        if len(idx) == 0:
            return y.astype(np.float64) * e
        lu = self.lu
        if arith != lu.dtype:
            if self._lu64 is None:
                self._lu64 = lu.astype(arith)
            lu = self._lu64
        whole = len(idx) == lu.shape[0] and np.array_equal(idx, np.arange(len(idx)))
        lu = lu if whole else lu[idx]
        perm = self.perm if whole else self.perm[idx]
        y = np.take_along_axis(y, perm[:, :, None], axis=1)
        n = lu.shape[1]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for i in range(1, n):                       # L y = P v, unit lower
                y[:, i] -= np.matmul(lu[:, i:i + 1, :i], y[:, :i])[:, 0]
            for i in range(n - 1, -1, -1):              # U d = y
                if i + 1 < n:
                    y[:, i] -= np.matmul(lu[:, i:i + 1, i + 1:], y[:, i + 1:])[:, 0]
                y[:, i] /= lu[:, i, i, None]
        return y.astype(np.float64) * e


def getrf(a, dtype):
    """LU with partial pivoting of every matrix of ``a`` (s, n, n) in ``dtype``.

    Returns ``(lu, perm, info)``: ``info[i]`` is ``j + 1`` for the first exactly zero
    pivot ``U[j, j]`` of system ``i`` (0 if none); as ``?getf2``, such a column is left
    unscaled and the factorization goes on.
    """
    w = np.array(a, dtype=dtype, order="C", copy=True)
    s, n, _ = w.shape
    perm = np.tile(np.arange(n), (s, 1))
    info = np.zeros(s, dtype=np.int64)
    rows = np.arange(s)
    sfmin = _SFMIN[np.dtype(dtype)]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        for j in range(n):
            p = j + np.argmax(np.abs(w[:, j:, j]), axis=1)
            sw = np.flatnonzero(p != j)
            if sw.size:
                rs, ps = rows[sw], p[sw]
                tmp = w[rs, j].copy()
                w[rs, j] = w[rs, ps]
                w[rs, ps] = tmp
                tp = perm[rs, j].copy()
                perm[rs, j] = perm[rs, ps]
                perm[rs, ps] = tp
            piv = w[:, j, j]
            zero = piv == 0
            if zero.any():
                info[zero & (info == 0)] = j + 1
            if j + 1 == n:
                break
            col = w[:, j + 1:, j]
            big = np.abs(piv) >= sfmin
            safe = np.where(zero, 1, piv)
            col[...] = np.where(zero[:, None], col,
                                np.where(big[:, None], col * (1 / safe)[:, None],
                                         col / safe[:, None]))
            w[:, j + 1:, j + 1:] -= col[:, :, None] * w[:, j, None, j + 1:]
    return w, perm, info


def factorize(a, factor):
    """:func:`._factor.factorize` for a CPU stack that :func:`use_for` accepts (no
    scaling: a single FP32 panel, or FP64 for ``'float64'``)."""
    s, n, _ = a.shape
    code = np.zeros(s, dtype=np.int64)
    reason = np.full(s, "", dtype=object)
    dtype = np.float64 if factor == "float64" else np.float32
    work = a
    if factor != "float64":
        over = np.flatnonzero(np.abs(a).reshape(s, -1).max(axis=1) > _factor._FLT_MAX)
        if over.size:
            code[over] = _factor.OVERFLOW
            reason[over] = (f"overflow converting to {factor}: an entry of A exceeds the "
                            f"FP32 range ({_factor._FLT_MAX:.3g})")
            work = a.copy()
            work[over] = np.eye(n)          # not factored (they fall back)
    lu, perm, info = getrf(work, dtype)
    finite = np.isfinite(lu).reshape(s, -1).all(axis=1) | (info > 0)
    ok = code == 0
    info[~ok] = 0
    finite[~ok] = True
    for i in np.flatnonzero(ok & (info > 0)):
        code[i] = _factor.BREAKDOWN
        reason[i] = f"{factor} factorization: U[{info[i] - 1}, {info[i] - 1}] is exactly zero"
    for i in np.flatnonzero(ok & (info == 0) & ~finite):
        code[i] = _factor.BREAKDOWN
        reason[i] = (f"{factor} factorization broke down: overflow (Inf/NaN) in the "
                     "low-precision trailing updates")
    return StackFactors(factor, lu, perm, code, reason, info, finite)
