"""Test matrices with prescribed singular values, as MAGMA's ``magma_generate_matrix``.

``A = U diag(sigma) V^T`` with ``U``, ``V`` Haar-random orthogonal (QR of a Gaussian matrix
with the signs of R's diagonal fixed) and ``sigma`` from one of MAGMA's distributions
(``--matrix svd_arith`` etc. in MAGMA's testers), scaled so that ``sigma_1 = 1`` and
``sigma_n = 1/cond`` exactly, hence ``kappa_2(A) = cond``:

==================  =================================================================
kind                singular values ``sigma_i``, i = 1..n
==================  =================================================================
'arithmetic'        ``1 - (i - 1)/(n - 1) * (1 - 1/cond)``
'geometric'         ``cond ** (-(i - 1)/(n - 1))``
'cluster0'          ``[1, 1/cond, ..., 1/cond]``
'cluster1'          ``[1, ..., 1, 1/cond]``
'logrand'           log-uniform in ``[1/cond, 1]``, with ``sigma_1 = 1``, ``sigma_n = 1/cond``
'diag_dominant'     not an SVD family: Gaussian entries, then ``a_ii`` set to
                    ``sign(a_ii) * (sum_j |a_ij|)`` -- row diagonally dominant, well
                    conditioned (``cond`` is ignored; measure it if needed)
==================  =================================================================

Generating costs two QR factorizations and a product, O(n^3) in float64 on the CPU.
"""

from typing import Any, Literal, Union

import numpy as np
import numpy.typing as npt

from .. import _checks
from .._errors import message
from .._typing import DTypeLike, Int, Real
from . import _args

__all__ = ["KINDS", "singular_values", "generate_matrix"]

KINDS = ("arithmetic", "geometric", "cluster0", "cluster1", "logrand", "diag_dominant")
# KINDS, and what ``rng=`` takes, for the annotations
Kind = Literal["arithmetic", "geometric", "cluster0", "cluster1", "logrand", "diag_dominant"]
Seed = Union[None, Int, np.random.SeedSequence, np.random.BitGenerator, np.random.Generator]


def singular_values(n: Int, kind: str, cond: Real,
                    rng: Seed = None) -> npt.NDArray[np.float64]:
    """The singular values of :func:`generate_matrix` (descending, float64, shape (n,))."""
    rng = np.random.default_rng(rng)
    if n == 1:
        return np.ones(1)
    i = np.arange(n)
    if kind == "arithmetic":
        return 1 - i / (n - 1) * (1 - 1 / cond)
    if kind == "geometric":
        return float(cond) ** (-i / (n - 1))
    if kind == "cluster0":
        return np.r_[1.0, np.full(n - 1, 1 / cond)]
    if kind == "cluster1":
        return np.r_[np.ones(n - 1), 1 / cond]
    if kind == "logrand":
        mid = np.exp(rng.uniform(np.log(1 / cond), 0.0, n - 2))
        return np.r_[1.0, np.sort(mid)[::-1], 1 / cond]
    raise ValueError(f"singular_values: kind must be one of {KINDS[:-1]}, got {kind!r}")


def _haar(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def generate_matrix(n: Int, kind: Kind = "geometric", cond: Real = 1e4, *, rng: Seed = None,
                    dtype: DTypeLike = np.float64) -> npt.NDArray[np.floating[Any]]:
    """A random n x n matrix of a MAGMA test family with 2-norm condition number ``cond``.

    Parameters
    ----------
    n : int
        Order.
    kind : str
        One of :data:`KINDS` (see the module documentation).
    cond : float
        Condition number ``kappa_2`` (>= 1) of the SVD families; ignored for
        'diag_dominant'.
    rng : numpy.random.Generator or seed, optional
        The random source (None: fresh OS entropy). No global state is used.
    dtype : float dtype
        Of the result (generated in float64, then rounded).

    Returns
    -------
    (n, n) numpy.ndarray
        The matrix, of ``dtype``.

    Raises
    ------
    TypeError
        ``n`` not an integer, ``cond`` not a real number, ``kind`` not a string, ``rng``
        not a seed or generator, ``dtype`` not float16/float32/float64.
    ValueError
        Unknown ``kind``, ``n < 1``, ``cond < 1`` or not finite, a negative seed.

    References
    ----------
    MAGMA ``testing/magma_generate.cpp`` (``magma_generate_matrix``); Haidar, Tomov,
    Dongarra, Higham, SC'18, Section 6 (the same families).

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.solvers import generate_matrix
    >>> a = generate_matrix(50, "geometric", 1e6, rng=0)
    >>> float(np.linalg.cond(a))  # doctest: +ELLIPSIS
    1000000.0...
    """
    op = "generate_matrix"
    n = _checks.integer(op, "n", n, minimum=1)
    _checks.choice(op, "kind", kind, KINDS)
    cond = _args.real(op, "cond", cond, minimum=1.0)
    if isinstance(rng, (bool, np.bool_, float, str, bytes)):
        raise TypeError(message(op, "rng must be None, an int seed, a SeedSequence or a "
                                    f"numpy.random.Generator, got {_checks.describe(rng)}"))
    try:
        rng = np.random.default_rng(rng)
    except (TypeError, ValueError) as e:
        raise type(e)(message(op, "rng must be None, a non-negative int seed, a "
                                  "SeedSequence or a numpy.random.Generator, got "
                                  f"{_checks.describe(rng)}")) from None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(message(op, "dtype must be a float dtype (float16, float32, "
                                    f"float64), got {_checks.describe(dtype)}")) from None
    _checks.dtype_in(op, "dtype", dt, (np.float16, np.float32, np.float64))
    if kind == "diag_dominant":
        a = rng.standard_normal((n, n))
        d = np.abs(a).sum(axis=1)
        sign = np.where(np.diag(a) < 0, -1.0, 1.0)
        a[np.arange(n), np.arange(n)] = sign * d
        return a.astype(dtype)
    sigma = singular_values(n, kind, cond, rng)
    u, v = _haar(rng, n), _haar(rng, n)
    return ((u * sigma) @ v.T).astype(dtype)
