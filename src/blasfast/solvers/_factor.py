"""Factor a stack of matrices in a chosen precision and apply the factors (either path).

:func:`factorize` scales (float16 only, see :mod:`._scaling`), converts, and factors each
system with the path's ``getrf`` (:mod:`._lu_cpu` or :mod:`._lu_gpu`), recording per system
a LAPACK ``dsgesv``-style code: 0 ok, -2 overflow converting to the factor precision, -3
the low-precision factorization failed (an exactly zero pivot, or Inf/NaN in the factors
from overflow in an FP16 update). :meth:`Factors.solve` is the preconditioner of the
refinement: ``d = S (P^T L U)^-1 (R v)`` with the triangular solves in the factors'
precision.
"""

import numpy as np

from . import _lu_cpu, _scaling

__all__ = ["FACTORS", "Factors", "factorize"]

FACTORS = ("float16", "bfloat16", "tf32", "float32", "float64")
_FLT_MAX = float(np.finfo(np.float32).max)

# dsgesv / cuSOLVER gesv fallback codes (ITER < 0).
OVERFLOW = -2
BREAKDOWN = -3
NO_CONVERGENCE = -31


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


class Factors:
    """LU factors of ``s`` systems in one precision, with their scaling.

    Attributes
    ----------
    factor : str
        The factor precision.
    lu : list
        Per system: the factors (NumPy Fortran-ordered or CuPy C-ordered array of the factor
        storage dtype: float32, or float64 for ``'float64'``), None where factoring failed.
    piv : list
        Per system: LAPACK ipiv (0-based), None where factoring failed.
    r, c : (s, n) float64 arrays or None
        Row and column scale factors (powers of two): the factors are those of
        ``diag(r) A diag(c)``.
    code : (s,) int numpy array
        0, ``OVERFLOW`` or ``BREAKDOWN``.
    reason : (s,) object numpy array
        Why a code is negative ('' otherwise).
    info : (s,) int numpy array
        ``getrf``'s info: ``j + 1`` for the first exactly zero pivot ``U[j, j]``, else 0.
    finite : (s,) bool numpy array
        False where the factors hold Inf/NaN (overflow in a low-precision update).
    mu : (s,) float numpy array or None
        The FP16 range factor included in ``r`` (``_scaling.FP16_TARGET``, or the retry
        target where the first attempt overflowed).
    """

    def __init__(self, xp, factor, n, s):
        self.xp = xp
        self.factor = factor
        self.lu = [None] * s
        self.piv = [None] * s
        self.perm = [None] * s
        self.r = self.c = None
        self.mu = None
        self.code = np.zeros(s, dtype=np.int64)
        self.reason = np.full(s, "", dtype=object)
        self.info = np.zeros(s, dtype=np.int64)      # getrf info: first zero pivot, 1-based
        self.finite = np.ones(s, dtype=bool)         # factors free of Inf/NaN
        self.n = n

    @property
    def storage(self):
        """dtype of the stored factors."""
        return np.dtype(np.float64 if self.factor == "float64" else np.float32)

    def solve(self, v, idx, precise=False):
        """``d = A^-1 v`` through the factors, for systems ``idx`` (host int array).

        ``v`` is (len(idx), n, k) float64; returns float64. The triangular solves run in
        the factors' storage precision (FP32 for the low precisions, as the IR correction
        of ``dsgesv``), or in float64 arithmetic on the same stored factors when
        ``precise`` (GMRES-IR's preconditioner: Carson & Higham's analysis applies it in
        at least the working precision; on the GPU this reads the same FP32 factors, so it
        costs no extra memory traffic). Each column is scaled by a power of two before a
        conversion to FP32, so that small residuals do not underflow.
        """
        xp = self.xp
        if self.r is not None:
            v = v * self.r[idx][:, :, None]
        arith = np.dtype(np.float64) if precise else self.storage
        e = _scaling.column_exponent_scale(xp, v)
        v = (v / e).astype(arith)
        if xp is np:
            d = np.stack([_lu_cpu.getrs(self._cpu_lu(i, arith), self.piv[i], v[j])
                          for j, i in enumerate(idx)]) if len(idx) else v
        else:
            from . import _lu_gpu

            d = xp.stack([_lu_gpu.getrs(self.lu[i], self.perm[i], v[j])
                          for j, i in enumerate(idx)]) if len(idx) else v
        d = d.astype(np.float64) * e
        if self.c is not None:
            d = d * self.c[idx][:, :, None]
        return d

    def _cpu_lu(self, i, arith):
        """System ``i``'s factors for LAPACK ``?getrs`` in ``arith`` (an FP64 copy of FP32
        factors is made once and kept)."""
        lu = self.lu[i]
        if lu.dtype == arith:
            return lu
        cache = self.__dict__.setdefault("_lu64", {})
        if i not in cache:
            cache[i] = np.asfortranarray(lu, dtype=arith)
        return cache[i]


def factorize(xp, a, factor, scale=None):
    """Factor every matrix of ``a`` in precision ``factor``.

    Parameters
    ----------
    xp : module
        numpy or cupy (the path).
    a : (s, n, n) float64 array
        Finite matrices (the caller screens NaN/Inf).
    factor : str
        One of :data:`FACTORS`.
    scale : bool or None
        Two-sided power-of-two scaling into FP16 range; None: for ``'float16'`` when
        ``n > nb`` (when any FP16 rounding happens), never otherwise.

    Returns
    -------
    Factors
        Synchronizes the device (the zero-pivot and overflow checks read back one flag per
        system).
    """
    s, n, _ = a.shape
    f = Factors(xp, factor, n, s)
    if s == 0:
        return f
    if scale is None:
        scale = factor == "float16" and n > _lu_cpu.block_size(n)
    targets = [_scaling.FP16_TARGET, _scaling.FP16_RETRY_TARGET] if scale else [None]
    todo = np.arange(s)
    for attempt, target in enumerate(targets):
        if target is not None:
            r, c = _scaling.equilibrate(xp, a[todo], target)
            if f.r is None:
                f.r, f.c = xp.ones((s, n)), xp.ones((s, n))
                f.mu = np.full(s, target)
            f.r[todo], f.c[todo] = r, c
            f.mu[todo] = target
            scaled = _scaling.apply(a[todo], r, c)
        else:
            scaled = a[todo]
        if factor != "float64":
            amax = _host(xp.abs(scaled).reshape(len(todo), -1).max(axis=1)) if n else \
                np.zeros(len(todo))
            over = amax > _FLT_MAX
            f.code[todo[over]] = OVERFLOW
            f.reason[todo[over]] = (f"overflow converting to {factor}: an entry of A exceeds "
                                    f"the FP32 range ({_FLT_MAX:.3g})")
        retry = []
        for j, i in enumerate(todo):
            if f.code[i] == OVERFLOW:
                continue
            lu, piv, perm, info, finite = _getrf(xp, scaled[j], factor)
            f.info[i], f.finite[i] = info, finite
            if info > 0:
                f.code[i] = BREAKDOWN
                f.reason[i] = (f"{factor} factorization: U[{info - 1}, {info - 1}] is "
                               "exactly zero")
            elif not finite:
                if attempt + 1 < len(targets):
                    retry.append(i)
                    continue
                f.code[i] = BREAKDOWN
                f.reason[i] = (f"{factor} factorization broke down: overflow (Inf/NaN) in "
                               "the low-precision trailing updates")
            else:
                f.code[i] = 0
                f.reason[i] = ""
            f.lu[i], f.piv[i], f.perm[i] = lu, piv, perm
        if not retry:
            break
        todo = np.asarray(retry)
    return f


def _getrf(xp, a, factor):
    """One system on the path of ``xp``: ``(lu, piv, perm, info, finite)``."""
    if xp is np:
        lu, piv, info = _lu_cpu.getrf(a, factor)
        finite = bool(np.isfinite(lu).all()) if info == 0 else True
        return lu, piv, None, info, finite
    from . import _lu_gpu

    return _lu_gpu.getrf(a, factor)
