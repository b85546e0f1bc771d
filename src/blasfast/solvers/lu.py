"""``lu_factor`` / ``lu_solve`` with ``scipy.linalg`` semantics, in any factor precision."""

import warnings
from typing import Any, Literal

import numpy as np
from scipy.linalg import LinAlgWarning

from .. import _backend, _checks, _dask
from .._backend import get_array_module, is_device_array
from .._docs import STREAM_PARAM
from .._errors import LinAlgError, message
from .._typing import Array, ArrayLike, StreamLike
from . import _args, _errstate, _factor, _lu_cpu
from ._solve import WORKING, check_system
from .._interop import callers_kind as _callers_kind

__all__ = ["LUFactors", "lu_factor", "lu_solve"]


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


class LUFactors(tuple):
    """``(lu, piv)`` as :func:`scipy.linalg.lu_factor` returns it, plus precision and scaling.

    Unpacks as a 2-tuple (``lu, piv = bf.lu_factor(a)``). With scaling (``scale=True``)
    the factors are those of ``diag(row_scale) @ A @ diag(col_scale)``; pass the object
    itself (not the unpacked tuple) to :func:`lu_solve`, which undoes the scaling.

    Parameters
    ----------
    lu, piv : arrays
        The factors, as the attributes of the same names.
    dtype : str
        The factor precision.
    row_scale, col_scale : (..., n) float64 arrays, optional
        The scaling, when the matrix was scaled.
    perm : (..., n) int array, optional
        Internal: the row permutation ``piv`` stands for, kept by :func:`lu_factor` on
        the GPU path for :func:`lu_solve`. :func:`lu_factor` builds these objects; there
        is no need to build one by hand.

    Attributes
    ----------
    lu : (..., n, n) array
        ``L`` (unit lower, strictly below the diagonal) and ``U``; float64 for
        ``dtype='float64'``, float32 for every lower precision (see :func:`lu_factor`).
    piv : (..., n) int32 array
        LAPACK ipiv, 0-based as in SciPy: row ``i`` was interchanged with row ``piv[i]``.
    dtype : str
        The factor precision.
    row_scale, col_scale : (..., n) float64 arrays or None
        Powers of two, when the matrix was scaled.
    """

    dtype: str
    row_scale: Array | None
    col_scale: Array | None

    def __new__(cls, lu: Array, piv: Array, *, dtype: str, row_scale: Array | None = None,
                col_scale: Array | None = None, perm: Array | None = None) -> "LUFactors":
        self = super().__new__(cls, (lu, piv))
        self.dtype = dtype
        self.row_scale = row_scale
        self.col_scale = col_scale
        self._perm = perm
        return self

    @property
    def lu(self) -> Array:
        """The factors ``L`` and ``U`` in one array (``self[0]``)."""
        return self[0]

    @property
    def piv(self) -> Array:
        """The LAPACK pivot indices, 0-based (``self[1]``)."""
        return self[1]

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self[0], self[1], self.dtype, self.row_scale, self.col_scale))


def _rebuild(lu, piv, dtype, row_scale, col_scale):
    return LUFactors(lu, piv, dtype=dtype, row_scale=row_scale, col_scale=col_scale)


@_callers_kind
def lu_factor(a: ArrayLike, *, dtype: _args.FactorLike | None = None, scale: bool = False,
              overwrite_a: bool = False, check_finite: bool = True,
              stream: StreamLike = None) -> LUFactors:
    """LU factorization with partial pivoting, ``P A = L U``, in a chosen precision.

    Parameters
    ----------
    a : (..., n, n) array, float64 or float32
        NumPy (CPU path) or CuPy / CUDA array (GPU path). Never modified.
    dtype : {None, 'float16', 'bfloat16', 'tf32', 'float32', 'float64'} or NumPy dtype
        Factor precision (see :func:`blasfast.solvers.solve`; ``numpy.float32`` and the
        like are taken by name): the trailing updates of the
        blocked LU round their operands to float16/bfloat16/TF32 and accumulate in FP32;
        'float32' and 'float64' are plain LU (LAPACK ``sgetrf``/``dgetrf`` on the CPU).
        None (default): the precision of ``a``, i.e. SciPy's behaviour.
    scale : bool
        Factor ``diag(r) A diag(c)`` with the power-of-two two-sided scaling of
        :func:`solve` (``r`` includes the factor 2**12 that centres the matrix in FP16
        range). Needed for float16 when ``|A|`` (times the growth factor) exceeds 65504, and
        better for ill-conditioned matrices; ignored for ``n`` <= the block size (one FP32
        panel). Default False, so that the factors satisfy ``P A = L U`` exactly as
        SciPy's.
    overwrite_a : bool
        Accepted for SciPy compatibility; ``a`` is never modified (the factors are a copy,
        in the factor's storage dtype).
    check_finite : bool
        Raise ``ValueError`` for NaN/Inf in ``a`` (default, as SciPy).
    {stream}

    Returns
    -------
    LUFactors
        ``(lu, piv)``; ``lu`` float32 for the low precisions (the FP32 panels and the FP32
        trailing matrix hold the factors; only the update operands were rounded), float64
        for 'float64'; NumPy or CuPy as ``a`` is (for a PyTorch tensor ``a``, the NumPy
        or CuPy view of its memory's kind: the record keeps those arrays, and
        :func:`lu_solve` gives a tensor back for a tensor ``b``).

    Raises
    ------
    TypeError
        ``a`` not a float32/float64 array (a Dask array included: the factors are a
        record; :func:`solve` takes Dask stacks); a flag that is not a bool; ``dtype``
        neither a name nor a dtype.
    ValueError
        Non-square ``a``; an unknown ``dtype``; NaN/Inf with ``check_finite``.
    blasfast.LinAlgError
        When the factorization overflows: an entry of ``A`` outside the FP32 range, or
        Inf/NaN from FP16 updates (retry with ``scale=True``).

    Warns
    -----
    scipy.linalg.LinAlgWarning
        When ``U`` has an exactly zero diagonal entry (singular ``A``), as SciPy.

    Notes
    -----
    Backward error ``||P A - L U|| / ||A||`` is about ``c n u`` with ``u`` the unit roundoff
    of the update operands (2**-11 float16, 2**-8 bfloat16, 2**-11 TF32, 2**-24 float32).
    The GPU path synchronizes once per matrix (zero-pivot and overflow flags).

    References
    ----------
    LAPACK ``?getrf``; A. Haidar et al., SC'18 (FP16 tensor-core LU).

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> a = np.random.default_rng(0).standard_normal((300, 300))
    >>> lu, piv = bf.solvers.lu_factor(a, dtype="float16")
    >>> lu.dtype, piv.dtype
    (dtype('float32'), dtype('int32'))
    """
    op = "lu_factor"
    _dask.refuse(op, a, why="the factors are a record, not a blockwise result; "
                            "blasfast.solve takes Dask stacks")
    _checks.array_operand(op, "a", a)
    dtype = _args.factor_name(op, "dtype", dtype, _factor.FACTORS, allow_none=True)
    scale = _checks.flag(op, "scale", scale)
    _checks.flag(op, "overwrite_a", overwrite_a)
    check_finite = _checks.flag(op, "check_finite", check_finite)
    xp, (a,) = get_array_module(op, a)
    with _backend.stream_context(op, stream, xp):  # every launch and copy
        _checks.dtype_in(op, "a", a.dtype, WORKING)
        if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
            raise ValueError(message(op, f"a must be a square matrix or a stack of them "
                                         f"(..., n, n), got shape {a.shape}"))
        if dtype is None:
            dtype = "float64" if a.dtype == np.float64 else "float32"
        batch, n = a.shape[:-2], a.shape[-1]
        s = int(np.prod(batch, dtype=np.int64))
        a3 = a.reshape(s, n, n).astype(np.float64, copy=False)
        if check_finite and s and n and not bool(xp.isfinite(a3).all()):
            raise ValueError(message(op, "a must not contain NaN or Inf"))
        use_scale = bool(scale) and n > _lu_cpu.block_size(n)
        storage = np.float64 if dtype == "float64" else np.float32
        if s == 0 or n == 0:
            return LUFactors(xp.zeros(a.shape, storage), xp.zeros(batch + (n,), np.int32),
                             dtype=dtype)
        fac = _factor.factorize(xp, a3, dtype, scale=use_scale)
        failed = np.flatnonzero((fac.code == _factor.OVERFLOW) | ~fac.finite)
        if failed.size:
            i = failed[0]
            where = f"matrix {np.unravel_index(i, batch)}: " if batch else ""
            raise LinAlgError(message(op, f"{where}{fac.reason[i]}"
                                          + ("" if use_scale else "; pass scale=True")))
        zero = np.flatnonzero(fac.info > 0)
        if zero.size:
            warnings.warn(message(op, f"{fac.reason[zero[0]]}: the matrix is singular"
                                      + (f" ({zero.size} of {s} matrices)" if batch else "")),
                          LinAlgWarning, stacklevel=2)
        lu = _stack(xp, fac.lu, storage, s, n)
        piv = xp.stack([xp.asarray(p, dtype=np.int32) for p in fac.piv])
        perm = None if xp is np else xp.stack(fac.perm)
        r = c = None
        if fac.r is not None:
            r, c = fac.r.reshape(batch + (n,)), fac.c.reshape(batch + (n,))
        return LUFactors(lu.reshape(batch + (n, n)) if batch else lu[0],
                         piv.reshape(batch + (n,)), dtype=dtype, row_scale=r, col_scale=c,
                         perm=None if perm is None else perm.reshape(batch + (n,)))


def _stack(xp, lus, storage, s, n):
    """Stack per-system factors; on the CPU each (n, n) slice stays Fortran-ordered."""
    if xp is np:
        out = np.empty((s, n, n), dtype=storage).transpose(0, 2, 1)
        for i, x in enumerate(lus):
            out[i] = x
        return out
    return xp.stack(lus).astype(storage, copy=False)


@_callers_kind
def lu_solve(lu_and_piv: LUFactors | tuple[ArrayLike, ArrayLike], b: ArrayLike, *,
             trans: Literal[0, "N"] = 0, overwrite_b: bool = False,
             check_finite: bool = True, stream: StreamLike = None) -> Array:
    """Solve ``A x = b`` with the factors of :func:`lu_factor` (``scipy.linalg`` semantics).

    Parameters
    ----------
    lu_and_piv : LUFactors or tuple (lu, piv)
        From :func:`lu_factor` (its scaling, if any, is undone), or a plain ``(lu, piv)``
        pair as :func:`scipy.linalg.lu_factor` returns (0-based LAPACK pivots).
    b : (..., n) or (..., n, k) array
        Same kind as ``lu``; float32 or float64. A stack of vectors when
        ``b.ndim == lu.ndim - 1``, of matrices otherwise.
    trans : {0, 'N'}
        Only ``A x = b`` is supported.
    overwrite_b : bool
        Accepted for SciPy compatibility; ``b`` is never modified.
    check_finite : bool
        Raise ``ValueError`` for NaN/Inf in ``lu`` or ``b``.
    {stream}

    Returns
    -------
    x : array of ``b``'s shape
        dtype ``numpy.result_type(lu, b)``; the triangular solves run in that precision
        (so FP32 factors with a float64 ``b`` are applied in float64, as SciPy does).

    Raises
    ------
    TypeError
        ``lu_and_piv`` not a pair; ``lu``, ``piv`` or ``b`` not an array (a Dask array
        included); dtypes that do not fit (``piv`` must be an integer array); a flag that
        is not a bool.
    ValueError
        Shapes that do not fit; ``piv`` with an entry outside ``[0, n)``; ``trans`` other
        than 0 / 'N'; NaN/Inf with ``check_finite``.
    blasfast.LinAlgError
        ``U`` with an exactly zero diagonal entry (singular): for a single system always,
        for stacks as :func:`errstate` says (the default warns and returns NaN for those).

    Notes
    -----
    LAPACK ``?getrs`` on the CPU; on the GPU our row permutation and the sync-free
    triangular-solve kernels (``kernels/trsm_refine.cu``). Before any of them, the pivots
    are checked to lie in ``[0, n)`` and ``U``'s diagonal for exact zeros: on the GPU one
    device reduction and one read-back of ``2 s`` flags (``s`` matrices), i.e. one
    synchronization.

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> a = np.random.default_rng(0).standard_normal((4, 4)); b = np.ones(4)
    >>> x = bf.solvers.lu_solve(bf.solvers.lu_factor(a), b)
    >>> bool(np.allclose(a @ x, b))
    True
    """
    op = "lu_solve"
    if not isinstance(lu_and_piv, (tuple, list)) or len(lu_and_piv) != 2:
        raise TypeError(message(op, "lu_and_piv must be a pair (lu, piv) as lu_factor "
                                    f"returns, got {_checks.describe(lu_and_piv)}"))
    lu, piv = lu_and_piv
    _dask.refuse(op, lu, piv, b, why="blasfast.solve takes Dask stacks")
    _checks.array_operand(op, "lu", lu)
    _checks.array_operand(op, "piv", piv)
    _checks.array_operand(op, "b", b)
    if isinstance(trans, (bool, np.bool_)) or not isinstance(trans, (int, np.integer, str)):
        raise TypeError(message(op, f"trans must be 0 or 'N', got {_checks.describe(trans)}"))
    if not (trans == 0 or trans == "N"):
        raise ValueError(message(op, f"only trans=0 ('N': A x = b) is supported, got "
                                     f"{trans!r}"))
    _checks.flag(op, "overwrite_b", overwrite_b)
    check_finite = _checks.flag(op, "check_finite", check_finite)
    xp, (lu, piv, b) = get_array_module(op, lu, piv, b)
    with _backend.stream_context(op, stream, xp):  # every launch and copy
        _checks.dtype_in(op, "lu", lu.dtype, WORKING)
        _checks.dtype_in(op, "b", b.dtype, WORKING)
        if np.dtype(piv.dtype).kind not in "iu":
            raise TypeError(message(op, f"piv must have an integer dtype (LAPACK pivots), got "
                                        f"{np.dtype(piv.dtype).name}"))
        vector, batch, n, k = check_system(op, lu, b.astype(lu.dtype, copy=False), "lu")
        if piv.shape != lu.shape[:-1]:
            raise ValueError(message(op, f"piv must have shape {lu.shape[:-1]}, got {piv.shape}"))
        for name, sc in (("row_scale", getattr(lu_and_piv, "row_scale", None)),
                         ("col_scale", getattr(lu_and_piv, "col_scale", None))):
            if sc is not None and tuple(sc.shape) != tuple(lu.shape[:-1]):
                raise ValueError(message(op, f"lu_and_piv.{name} must have shape "
                                             f"{lu.shape[:-1]}, got {tuple(sc.shape)}"))
        rdtype = np.result_type(lu.dtype, b.dtype)
        if check_finite and not (bool(xp.isfinite(lu).all()) and bool(xp.isfinite(b).all())):
            raise ValueError(message(op, "lu and b must not contain NaN or Inf"))
        s = int(np.prod(batch, dtype=np.int64))
        b2 = b[..., None] if vector else b
        b3 = xp.broadcast_to(b2, batch + (n, k)).reshape(s, n, k).astype(np.float64)
        lbatch = lu.shape[:-2]
        ls = int(np.prod(lbatch, dtype=np.int64))
        idx = np.broadcast_to(np.arange(ls).reshape(lbatch), batch).reshape(s) if s else \
            np.zeros(0, np.int64)
        lu3 = lu.reshape(ls, n, n)
        piv3 = piv.reshape(ls, n)
        perm3 = getattr(lu_and_piv, "_perm", None)   # kept by lu_factor on the GPU path
        if perm3 is not None and (tuple(perm3.shape) != tuple(lu.shape[:-1])
                                  or not is_device_array(perm3) == (xp is not np)
                                  or np.dtype(perm3.dtype).kind not in "iu"):
            raise ValueError(message(op, f"lu_and_piv.perm must be an integer array of shape "
                                         f"{lu.shape[:-1]} on lu's device, got "
                                         f"{_checks.describe(perm3)}"))
        perm3 = None if perm3 is None else perm3.reshape(ls, n)
        rs = getattr(lu_and_piv, "row_scale", None)
        cs = getattr(lu_and_piv, "col_scale", None)
        if rs is not None:
            b3 = b3 * rs.reshape(ls, n)[idx][:, :, None]
        x = xp.empty((s, n, k), dtype=rdtype)
        # One read-back for two checks, before any LAPACK call or kernel launch: every pivot
        # in [0, n) (an out-of-range one made LAPACK ?getrs write out of bounds: a crash) and
        # no exactly zero diagonal entry of U.
        if ls and n:
            flags = _host(xp.concatenate([
                (xp.diagonal(lu3, axis1=1, axis2=2) != 0).all(axis=1),
                ((piv3 >= 0) & (piv3 < n)).all(axis=1)]
                + ([] if perm3 is None else [((perm3 >= 0) & (perm3 < n)).all(axis=1)])))
            singular, piv_ok = ~flags[:ls], flags[ls:2 * ls]
            if perm3 is not None and not flags[2 * ls:].all():
                raise ValueError(message(op, f"lu_and_piv.perm must hold row indices in [0, {n})"
                                             " (a row permutation, as lu_factor keeps it)"))
        else:
            singular, piv_ok = np.zeros(ls, bool), np.ones(ls, bool)
        if not piv_ok.all():
            p = _host(piv3[int(np.flatnonzero(~piv_ok)[0])])
            where = f"matrix {np.unravel_index(int(np.flatnonzero(~piv_ok)[0]), lbatch)}: " \
                if lbatch else ""
            raise ValueError(message(op, f"piv must hold row indices in [0, {n}) (0-based LAPACK "
                                         f"pivots, as scipy.linalg.lu_factor returns), got "
                                         f"{where}entries from {int(p.min())} to {int(p.max())}"))
        for j in range(s):
            i = idx[j]
            if singular[i]:
                x[j] = np.nan
                continue
            lu_i = lu3[i].astype(rdtype, copy=False)
            if xp is np:
                x[j] = _lu_cpu.getrs(lu_i, piv3[i].astype(np.int32, copy=False), b3[j])
            else:
                from . import _lu_gpu

                perm = (perm3[i] if perm3 is not None else _lu_gpu.ipiv_to_perm(piv3[i]))
                x[j] = _lu_gpu.getrs(lu_i, perm, b3[j].astype(rdtype))
        if cs is not None:
            x = (x * cs.reshape(ls, n)[idx][:, :, None]).astype(rdtype)
        bad = [j for j in range(s) if singular[idx[j]]]
        if bad:
            mode = _errstate.resolve(bool(batch))
            text = ("U has an exactly zero diagonal entry: the matrix is singular"
                    + (f" ({len(bad)} of {s} systems; their x is NaN)" if batch else ""))
            if mode == "raise":
                raise LinAlgError(message(op, text))
            if mode == "warn":
                warnings.warn(message(op, text), LinAlgWarning, stacklevel=2)
        x = x.reshape(batch + (n, k))
        return x[..., 0] if vector else x


for _f in (lu_factor, lu_solve):
    if _f.__doc__ is not None:  # None under python -OO
        _f.__doc__ = _f.__doc__.replace("{stream}", STREAM_PARAM)
