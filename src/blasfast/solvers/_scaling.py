"""Two-sided power-of-two scaling that puts a matrix into FP16 range before an FP16 LU.

Higham, Pranesh and Zounon ("Squeezing a matrix into half precision, with an application
to solving linear systems", SIAM J. Sci. Comput. 41(4), 2019; and the Proc. R. Soc. A 2020
follow-up with Haidar, Tomov and Dongarra), Algorithm 2.2 with powers of two:

1. ``R = diag(r)``, ``r_i = 2**-e_i`` where ``max_j |a_ij| = f * 2**e_i``, ``f`` in [0.5, 1):
   every row of ``R A`` has its largest entry in [0.5, 1);
2. ``S = diag(c)`` likewise on the columns of ``R A``: every column of ``R A S`` has its
   largest entry in [0.5, 1) (rows stay <= 1);
3. ``mu = target`` (a power of two): ``A~ = mu R A S`` has entries of magnitude < ``target``.

All factors are powers of two, so the scaling is exact (no rounding, unless an entry leaves
the float64 range) and ``A x = b`` becomes ``A~ y = mu R b`` with ``x = S y``. The solver
factors ``A~`` and applies the factors as ``d = S (A~)^-1 (mu R r)``.

Why ``target = 2**12`` (about 0.06 * 65504, Higham et al. use 0.1 * 65504): the entries of
the FP16 trailing-update operands (``L21`` in [-1, 1] by partial pivoting, ``U12`` about
``target`` times the growth so far) then stay clear of FP16's subnormal range (< 6.1e-5,
where relative precision is lost) for matrices with condition numbers up to about 1e8,
while a growth factor of 16 still fits below 65504. If the FP16 factorization overflows
anyway, the solver retries once with ``target = 2**4`` before falling back.
"""

import numpy as np

__all__ = ["equilibrate", "FP16_TARGET", "FP16_RETRY_TARGET"]

FP16_TARGET = 2.0**12
FP16_RETRY_TARGET = 2.0**4


# Exponents of float64 powers of two: 2**E_MAX is the largest, 2**E_MIN the smallest
# (subnormal) one. A scale factor is clamped into this range: a subnormal row (max entry
# 1e-310 = f * 2**-1029) would need 2**1029, which overflows (and made NumPy's ldexp warn
# and the scaled matrix Inf, reported as "exceeds the FP32 range"); the column scaling
# then supplies the rest of the factor.
E_MAX = 1023
E_MIN = -1074


def _pow2_inverse(xp, m, e_max=E_MAX):
    """``2**-e`` where ``m = f * 2**e`` with f in [0.5, 1), the exponent ``-e`` clamped to
    ``[E_MIN, e_max]`` so that the factor is a finite, non-zero power of two; 1 where m is
    0 (an all-zero line)."""
    _, e = xp.frexp(m)
    k = xp.clip(-e, E_MIN, e_max)
    return xp.where(m > 0, xp.ldexp(xp.ones_like(m), k), 1.0)


def equilibrate(xp, a, target=FP16_TARGET):
    """Power-of-two row and column scale factors for a stack of matrices.

    Parameters
    ----------
    xp : module
        numpy or cupy.
    a : (s, n, n) float64 array
        The matrices (finite).
    target : float
        A power of two (at most 2**52): the scaled matrices have entries of magnitude below
        ``target``.

    Returns
    -------
    r, c : (s, n) float64 arrays
        Finite, non-zero powers of two with ``diag(r) @ a @ diag(c)`` having every
        column's largest entry in ``[target/2, target)``; ``r`` includes the factor
        ``mu = target``. This holds over the whole float64 exponent range, subnormal
        entries included: a row factor is capped at ``2**1023 / target`` and the column
        factor completes it (a column factor needs at most ``2**(1074 - 1023 + 53)``
        more, well inside the range). The only exception is a matrix whose entries span
        more than the float64 range itself (e.g. 1e308 and 1e-320 in one column); then
        the small ones underflow in the scaled matrix, as they must.
    """
    absa = xp.abs(a)
    t = int(np.frexp(float(target))[1]) - 1                    # target = 2**t
    r = _pow2_inverse(xp, absa.max(axis=-1), E_MAX - t)         # (s, n) rows
    c = _pow2_inverse(xp, (absa * r[:, :, None]).max(axis=-2))  # (s, n) columns of R A
    return r * target, c


def apply(a, r, c):
    """``diag(r) @ a @ diag(c)`` for stacks (exact for powers of two)."""
    return a * r[:, :, None] * c[:, None, :]


def column_exponent_scale(xp, v):
    """Per-column power of two ``2**e`` with ``max |v[:, :, j]| / 2**e`` in [0.5, 1).

    Used before converting a residual to FP32, so that tiny residuals do not underflow.
    Columns that are all zero get 1. ``v`` is (s, n, k); returns (s, 1, k). ``e`` is at
    most 1024 for finite ``v``; ``2**1024`` is clamped to ``2**1023`` (the column then
    lies in [1, 2), still finite in FP32 after the division).
    """
    m = xp.abs(v).max(axis=-2, keepdims=True)
    _, e = xp.frexp(m)
    return xp.where(m > 0, xp.ldexp(xp.ones_like(m), xp.clip(e, E_MIN, E_MAX)), 1.0)
