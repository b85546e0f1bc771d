"""CPU path of the LU factorization and of the solves with its factors (NumPy + LAPACK).

The low-precision factorizations emulate the GPU algorithm exactly as it rounds:

* ``'float16'``, ``'bfloat16'``, ``'tf32'``: blocked right-looking LU with partial pivoting
  (:func:`getrf_blocked`). Per block column of width ``nb``: the panel is factored in FP32
  (LAPACK ``sgetrf`` on the tall panel: partial pivoting, FP32 arithmetic), its row
  interchanges are applied to the other columns, the block row is solved with the unit
  lower triangle in FP32 (``strsm``), and the trailing matrix gets ``A22 -= L21 @ U12``
  with ``L21`` and ``U12`` rounded to float16 / bfloat16 / TF32 and products accumulated in
  FP32 -- the rounding of :func:`blasfast.batched_gemm` on float16/bfloat16 operands (or
  ``compute='tf32'``), the call the GPU path makes on tensor cores. The trailing matrix and
  the factors are stored in FP32, as in MAGMA's FP16-TC LU (Haidar et al., SC'18): the
  panel's results are final in FP32 and the triangular solves of the refinement read
  FP32 factors, so the only FP16 roundings are those of the update operands.
* ``'float32'``: LAPACK ``sgetrf`` on the whole matrix (the factorization of ``dsgesv``).
* ``'float64'``: LAPACK ``dgetrf``.

Pivots are LAPACK ``ipiv`` as SciPy returns them (0-based: row ``i`` was interchanged with
row ``piv[i]``). Factors are kept Fortran-ordered, so ``sgetrs``/``dgetrs`` use them
without copies.
"""

import numpy as np
from scipy.linalg import blas as _blas
from scipy.linalg import lapack as _lapack

from .. import _dtypes

__all__ = ["block_size", "getrf", "getrf_blocked", "getrs", "trailing_update",
           "ipiv_to_perm"]

LOW_DTYPE = {"float16": _dtypes.float16, "bfloat16": _dtypes.bfloat16}


def block_size(n):
    """Block-column width ``nb`` of the blocked LU, the same on both paths.

    64 up to n = 4096 (so that a 500 x 500 matrix already does most of its update flops in
    the low precision, as a large one does), 256 above (a K = 256 tensor-core update
    amortizes the read and write of the FP32 trailing matrix). A matrix with ``n <= nb``
    is a single panel and is factored entirely in FP32.
    """
    return 64 if n <= 4096 else 256


def trailing_update(l21, u12, a22, factor):
    """``a22 -= round(l21) @ round(u12)`` with FP32 accumulation, in place (CPU).

    ``l21``, ``u12``, ``a22`` are float32 NumPy arrays (views allowed). The operands are
    rounded to ``factor`` (float16, bfloat16, TF32; none for float32), widened exactly to
    float32 and multiplied by NumPy's ``sgemm``; the product is subtracted with one FP32
    rounding. This is the rounding of :func:`blasfast.batched_gemm` on float16/bfloat16
    operands (or ``compute='tf32'``) with ``alpha=-1, beta=1`` -- the call the GPU path
    makes -- bit for bit (``tests/test_solvers_lu.py`` checks it), without that function's
    temporaries. Overflow in the rounding gives Inf, which the caller detects.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if factor in LOW_DTYPE:
            l21 = l21.astype(LOW_DTYPE[factor]).astype(np.float32)
            u12 = u12.astype(LOW_DTYPE[factor]).astype(np.float32)
        elif factor == "tf32":
            l21, u12 = _dtypes.round_to_tf32(l21), _dtypes.round_to_tf32(u12)
        a22 -= l21 @ u12


def ipiv_to_perm(piv, m=None):
    """The row permutation of LAPACK pivots: ``(P A)[i] = A[perm[i]]`` (0-based ``piv``,
    ``m`` rows; default ``len(piv)``)."""
    perm = np.arange(len(piv) if m is None else m)
    for i, p in enumerate(np.asarray(piv)):
        if p != i:
            perm[i], perm[p] = perm[p], perm[i]
    return perm


def _swap_rows(w, k, ipiv, cols):
    """Apply the panel's interchanges (rows ``k + i`` <-> ``k + ipiv[i]``) to ``cols``."""
    perm = ipiv_to_perm(ipiv, w.shape[0] - k)
    moved = np.nonzero(perm != np.arange(len(perm)))[0]
    if moved.size and w.shape[1]:
        w[np.ix_(k + moved, cols)] = w[np.ix_(k + perm[moved], cols)]


def getrf_blocked(w, factor, nb):
    """Blocked right-looking LU of ``w`` in place with low-precision trailing updates.

    Parameters
    ----------
    w : (n, n) float32 array, C order (rows contiguous: row interchanges and the
        row-major trailing update touch contiguous memory)
        The (scaled) matrix; overwritten with ``L`` (unit lower, below the diagonal) and
        ``U``.
    factor : {'float16', 'bfloat16', 'tf32', 'float32'}
        Rounding of the trailing-update operands.
    nb : int
        Block-column width.

    Returns
    -------
    piv : (n,) int32
        LAPACK ipiv, 0-based.
    info : int
        0, or ``j + 1`` where ``U[j, j]`` is the first exactly zero pivot (as ``getrf``).
    """
    n = w.shape[0]
    piv = np.arange(n, dtype=np.int32)
    info = 0
    for k in range(0, n, nb):
        kb = min(nb, n - k)
        lu_p, ipiv, inf = _lapack.sgetrf(w[k:, k:k + kb])
        w[k:, k:k + kb] = lu_p
        if inf > 0 and info == 0:
            info = k + int(inf)
        piv[k:k + kb] = ipiv + k
        _swap_rows(w, k, ipiv, np.r_[0:k, k + kb:n])
        if k + kb < n:
            w[k:k + kb, k + kb:] = _blas.strsm(1.0, w[k:k + kb, k:k + kb],
                                               w[k:k + kb, k + kb:], lower=1, diag=1)
            trailing_update(w[k + kb:, k:k + kb], w[k:k + kb, k + kb:],
                            w[k + kb:, k + kb:], factor)
    return piv, info


def getrf(a, factor):
    """Factor one matrix in the precision ``factor``; returns ``(lu, piv, info)``.

    ``a`` is (n, n) float64 (already scaled when the caller scales) and finite, with
    entries inside the FP32 range for the low precisions (the caller checks). ``lu`` is
    Fortran-ordered float64 for ``'float64'``, float32 otherwise; ``info`` as ``getrf``.
    Non-finite factors (overflow in a low-precision update) are left for the caller to
    detect.
    """
    if factor == "float64":
        lu, piv, info = _lapack.dgetrf(a)
        return lu, piv, int(info)
    if factor == "float32":
        lu, piv, info = _lapack.sgetrf(np.asfortranarray(a, dtype=np.float32), overwrite_a=1)
        return lu, piv, int(info)
    w = np.ascontiguousarray(a, dtype=np.float32)
    piv, info = getrf_blocked(w, factor, block_size(a.shape[0]))
    return np.asfortranarray(w), piv, info


def getrs(lu, piv, b):
    """Solve ``A x = b`` with LAPACK ``?getrs`` in the factors' precision.

    ``lu`` (n, n) float32/float64 Fortran-ordered, ``piv`` 0-based, ``b`` (n, k) of any
    float dtype (converted to ``lu``'s dtype). Returns x of ``lu``'s dtype.
    """
    fn = _lapack.dgetrs if lu.dtype == np.float64 else _lapack.sgetrs
    x, _ = fn(lu, piv, np.asarray(b, dtype=lu.dtype, order="F"))
    return x
