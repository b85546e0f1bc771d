"""``solve``: dense ``A x = b`` to working accuracy with a low-precision LU and refinement."""

from typing import Literal, overload

import numpy as np

from .. import _backend, _checks, _dask, _dtypes
from .._backend import get_array_module
from .._errors import message
from .._docs import STREAM_PARAM
from .._typing import Array, ArrayLike, Int, Real, StreamLike
from . import _args, _errstate, _factor, _refine, _scaling, _small_cpu
from . import _solveinfo as S
from ._failures import handle_failures
from ._solveinfo import SolveInfo
from .._interop import callers_kind as _callers_kind

__all__ = ["solve"]

REFINE = ("auto", "ir", "gmres")
Refine = Literal["auto", "ir", "gmres"]    # REFINE, for the annotations
SMALL_N = 64            # GPU stacks up to this order take the fused small-system kernel
TINY_NORM = 2.0**-256   # systems with ||A||_inf below this are scaled up first (exactly)
WORKING = (_dtypes.float32, _dtypes.float64)


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


def check_system(op, a, b, a_name="a"):
    """Validate ``a`` (..., n, n) and ``b``; return ``(vector_rhs, batch, n, k)``.

    ``b`` is a stack of vectors when ``b.ndim == a.ndim - 1`` (the rule of
    ``cupy.linalg.solve`` and NumPy < 2), a stack of (n, k) matrices otherwise.
    """
    _checks.dtype_in(op, a_name, a.dtype, WORKING)
    _checks.same_dtype(op, **{a_name: a.dtype, "b": b.dtype})
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(message(op, f"{a_name} must be a square matrix or a stack of them "
                                     f"(..., n, n), got shape {a.shape}"))
    n = a.shape[-1]
    vector = b.ndim == a.ndim - 1
    if b.ndim < 1 or (not vector and b.ndim < 2):
        raise ValueError(message(op, f"b must have shape (..., n) or (..., n, k), got "
                                     f"{b.shape}"))
    rows = b.shape[-1] if vector else b.shape[-2]
    if rows != n:
        raise ValueError(message(op, f"b must have n = {n} rows to match {a_name} {a.shape}, "
                                     f"got b of shape {b.shape}"))
    bbatch = b.shape[:-1] if vector else b.shape[:-2]
    batch = _checks.broadcast_batch(op, (a_name, "b"), (a.shape[:-2], bbatch))
    k = 1 if vector else b.shape[-1]
    return vector, batch, n, k


def _as_stacks(xp, a, b, vector, batch, n, k):
    b2 = b[..., None] if vector else b
    s = int(np.prod(batch, dtype=np.int64))
    a3 = xp.broadcast_to(a, batch + (n, n)).reshape(s, n, n)
    b3 = xp.broadcast_to(b2, batch + (n, k)).reshape(s, n, k)
    return a3, b3


# What a type checker sees: return_info=True gives (x, info), the default x alone.
@overload
def solve(a: ArrayLike, b: ArrayLike, *, factor: _args.FactorLike = ..., refine: Refine = ...,
          tol: Real | None = ..., max_iter: Int = ..., fallback: bool = ...,
          overwrite_a: bool = ..., overwrite_b: bool = ...,
          return_info: Literal[False] = ..., stream: StreamLike = ...) -> Array: ...


@overload
def solve(a: ArrayLike, b: ArrayLike, *, factor: _args.FactorLike = ..., refine: Refine = ...,
          tol: Real | None = ..., max_iter: Int = ..., fallback: bool = ...,
          overwrite_a: bool = ..., overwrite_b: bool = ...,
          return_info: Literal[True],
          stream: StreamLike = ...) -> tuple[Array, SolveInfo]: ...


@overload
def solve(a: ArrayLike, b: ArrayLike, *, factor: _args.FactorLike = ..., refine: Refine = ...,
          tol: Real | None = ..., max_iter: Int = ..., fallback: bool = ...,
          overwrite_a: bool = ..., overwrite_b: bool = ...,
          return_info: bool,
          stream: StreamLike = ...) -> Array | tuple[Array, SolveInfo]: ...


@_callers_kind
def solve(a: ArrayLike, b: ArrayLike, *, factor: _args.FactorLike = "float16",
          refine: Refine = "auto", tol: Real | None = None, max_iter: Int = 50,
          fallback: bool = True, overwrite_a: bool = False, overwrite_b: bool = False,
          return_info: bool = False,
          stream: StreamLike = None) -> Array | tuple[Array, SolveInfo]:
    """Solve ``A x = b`` to working accuracy, factoring ``A`` in a low precision.

    The mixed-precision solver of Haidar, Tomov, Dongarra and Higham (SC'18): LU with
    partial pivoting whose O(n^3) trailing updates run in ``factor`` precision (FP16 on
    tensor cores by default), then iterative refinement with float64 residuals -- classical
    IR, or GMRES-IR (GMRES preconditioned by the low-precision LU) for ill-conditioned
    matrices -- until the normwise backward error meets the LAPACK ``dsgesv`` test.
    Systems that do not get there are re-solved with an FP64 LU (``fallback``) and
    reported.

    Parameters
    ----------
    a : (..., n, n) array, float64 or float32
        Matrices; NumPy (CPU path) or CuPy / CUDA array (GPU path). Never modified.
        A ``dask.array.Array`` (``a`` or ``b``) gives a lazy Dask array, solved blockwise
        over the stack under the :func:`errstate` in force at the call;
        ``return_info`` and ``overwrite_b`` must then be False.
    b : (..., n) or (..., n, k) array, same dtype and kind as ``a``
        Right-hand sides: a stack of vectors when ``b.ndim == a.ndim - 1`` (as
        ``cupy.linalg.solve``), of (n, k) matrices otherwise. Batch dimensions broadcast.
    factor : {'float16', 'bfloat16', 'tf32', 'float32', 'float64'}
        Precision of the LU's trailing updates: float16/bfloat16 operands or TF32 operands
        with FP32 accumulation (tensor cores on the GPU), or plain FP32 / FP64. The panels,
        triangular solves and stored factors are FP32 (FP64 for 'float64').
    refine : {'auto', 'ir', 'gmres'}
        'ir': classical refinement ``x += LU \\ r``; 'gmres': GMRES-IR; 'auto': IR,
        switching a system to GMRES-IR from its best iterate once an IR step fails to
        cut the backward error by 4.
    tol : float, optional
        Converged when ``||r_j||_inf <= tol * ||A||_inf * ||x_j||_inf`` for every column
        ``j``. Default ``sqrt(n) * eps`` (``eps`` = 2**-53 for float64, 2**-24 for
        float32), the test of ``dsgesv`` and cuSOLVER ``gesv``.
    max_iter : int
        Most corrections per system (default 50, as cuSOLVER).
    fallback : bool
        Re-solve systems whose refinement failed in FP64 (default; see *Fallback* below).
        With False they are failures (see :func:`errstate`) and ``x`` holds the best
        iterate.
    overwrite_a : bool
        Accepted for SciPy compatibility; ``a`` is never modified (the refinement needs
        the original matrix for its residuals).
    overwrite_b : bool
        Write ``x`` into ``b`` and return ``b`` when it is writable and has ``x``'s shape
        and dtype; otherwise ``b`` is left alone.
    return_info : bool
        Also return a :class:`SolveInfo`.
    {stream}

    Returns
    -------
    x : array of ``b``'s (broadcast) shape, dtype of ``a``, kind of ``a``
        The solution in the working precision (float64 for float64 input).
    info : SolveInfo
        Only with ``return_info=True``: per-system status, iterations, backward-error
        history, fallback and why, factor precision, scaling.

    Raises
    ------
    TypeError
        ``a`` or ``b`` not an array (a scalar, None, a list), ``a`` not float32/float64,
        ``b`` of another dtype, host and device arrays mixed; a flag that is not a bool,
        ``max_iter`` not an integer, ``tol`` not a real number, ``factor``/``refine`` not
        a name.
    ValueError
        Non-square ``a``, ``b`` of the wrong shape, unknown ``factor``/``refine``, or
        ``max_iter < 0`` / ``tol <= 0`` (or not finite); ``return_info`` or
        ``overwrite_b`` True with Dask arrays.
    blasfast.LinAlgError
        A failure, for a single system by default, for stacks under
        ``errstate(linalg='raise')`` (the default for stacks warns with
        ``scipy.linalg.LinAlgWarning`` and returns NaN -- or the best candidate, for
        'not converged' and 'inaccurate' -- for those systems; see :func:`errstate`).
        Failures: a 'singular' matrix (an exactly zero pivot in the FP64 LU, or singular
        to working precision: estimated reciprocal condition number of the equilibrated
        matrix below ``eps``, or a solution proving ``kappa >= 1/eps`` after
        equilibration), 'non-finite input' (NaN/Inf), 'not converged' (with
        ``fallback=False``), or 'inaccurate' (the FP64 fallback's best result still fails
        the backward-error test). The exception's ``info`` attribute holds the
        :class:`SolveInfo`.

    Notes
    -----
    *Algorithm.* ``'float16'`` first scales ``A`` two-sidedly by powers of two into FP16
    range (Higham, Pranesh, Zounon 2019; exact, recorded in ``info.scaling``) when ``n``
    exceeds the block size (64 up to n = 4096, 256 above; smaller matrices are one FP32
    panel). The LU is blocked right-looking with an FP32 panel, FP32 triangular solve of
    the block row and the low-precision trailing update ``A22 -= L21 U12`` through
    :func:`blasfast.batched_gemm` (tensor cores on the GPU; the CPU path rounds the
    operands to float16/bfloat16/TF32 and accumulates in FP32, as the hardware does).
    Refinement: residual ``b - A x`` in float64, correction by FP32 triangular solves with
    the factors (each residual column is scaled by a power of two first so it cannot
    underflow in FP32), ``x += d`` in the working precision. GMRES-IR solves the
    correction equation ``A d = r`` by flexible GMRES(50) in float64 (relative residual
    1e-6), right-preconditioned by the LU, whose triangular solves then run in FP64
    arithmetic on the FP32 factors (Carson & Higham's analysis applies the preconditioner
    in at least the working precision; on the GPU it costs no extra memory traffic).
    ``'float32'`` uses LAPACK ``sgetrf``/``sgetrs`` on the CPU (the building blocks of
    ``dsgesv``; SciPy does not wrap ``dsgesv`` itself), ``'float64'`` ``dgetrf``.
    CPU stacks of at least ``max(8, 4 n)`` systems with ``n <= 24`` run that same
    single-panel LU and its triangular solves vectorized over the stack (one NumPy step
    per column, LAPACK's pivoting rule) instead of one LAPACK call per system: the same
    operations in another summation order, without 20 us of call overhead per system.
    On the GPU, stacks with ``n <= 64`` run one fused kernel (LU in registers, IR, and
    the FP64 fallback, per system: MAGMA's batched-small design); it refines with IR
    whatever ``refine`` says (such systems are single FP32 panels, and an FP64
    re-solve costs less than a GMRES step).

    *Fallback.* A system whose refinement failed (or whose low-precision LU broke down)
    is re-solved as LAPACK ``dgesvx`` would: power-of-two equilibration ``B = R A C``,
    FP64 LU of ``B`` with up to 5 steps of FP64 iterative refinement (``dgerfs``), and,
    if that result still fails the backward-error test (pivot growth, as on Wilkinson's
    matrix, growth ``2**(n-1)``), Householder QR of ``B`` (backward stable whatever the
    growth) with the same refinement. Every result, the fallback's included, must pass
    the same test ``||b_j - A x_j||_inf <= tol' ||A||_inf ||x_j||_inf`` on ``x`` as
    returned (rounded to the working precision) to count as solved: status 'fell back'
    (``tol'`` is ``tol``, or ``sqrt(n) eps`` raised to ``2 eps`` for n < 4 -- below that,
    the rounding of ``x`` itself can fail it -- and is recorded in ``info.threshold``).
    A matrix is called 'singular' as LAPACK does -- an exactly zero pivot -- or when it
    is singular to working precision *after equilibration*: the fallback's estimated
    reciprocal condition number (``dgecon`` on the LU, ``dtrcon`` on QR's ``R``) is
    below ``eps``, or, for any solved system, ``||B|| ||y|| / ||R b|| >= 1/eps``
    (``y = C^-1 x``), which proves ``kappa(B) >= 1/eps`` (no condition estimate is
    computed for systems that converged without the fallback). Row or column scaling
    alone never makes a system singular: ``diag(1, 1e-20)`` is solved. Otherwise the
    status is 'inaccurate', a failure: ``x`` holds the candidate with the smallest
    backward error, reported in ``info.backward_error``. Matrices with ``||A||_inf <
    2**-256`` (subnormal entries) are first multiplied, with ``b``, by a power of two
    (exact; recorded as ``info.scaling['sigma']`` when there is a scaling record) so that
    the residuals are not computed in subnormal arithmetic.

    *Accuracy.* A converged system satisfies ``||b - A x||_inf <= sqrt(n) eps ||A||_inf
    ||x||_inf`` (normwise backward error at the level of an FP64 LU solve); the forward
    error is then about ``kappa(A)`` times that. IR with an FP16 LU converges for
    ``kappa(A)`` up to about 1e4, GMRES-IR up to about 1e8-1e10 (Carson & Higham); beyond,
    expect a fallback.

    *Synchronization.* On the GPU path every refinement step reads the residual norms back
    to the host (one device synchronization per step, plus one per GMRES step), and the
    factorization reads back one pivot/overflow flag per system. The fallback, per
    system, synchronizes at each step and copies its triangular factor to the host for
    the condition estimate (``n^2`` numbers).

    *Flops.* ``2 n^3 / 3`` for the LU (in ``factor`` precision) plus ``2 n^2 k`` per
    refinement step and per GMRES step (float64 residual or matvec) and ``2 n^2 k`` per
    preconditioner application (FP32).

    References
    ----------
    A. Haidar, S. Tomov, J. Dongarra, N. J. Higham, "Harnessing GPU tensor cores for fast
    FP16 arithmetic to speed up mixed-precision iterative refinement solvers", SC'18.
    A. Haidar, H. Bayraktar, S. Tomov, J. Dongarra, N. J. Higham, "Mixed-precision
    iterative refinement using tensor cores on GPUs to accelerate solution of linear
    systems", Proc. R. Soc. A 476 (2020). E. Carson, N. J. Higham, "Accelerating the
    solution of linear systems by iterative refinement in three precisions", SIAM J. Sci.
    Comput. 40(2), 2018. LAPACK ``dsgesv``; cuSOLVER ``cusolverDn<t1><t2>gesv``.

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> rng = np.random.default_rng(0)
    >>> a = rng.standard_normal((200, 200)); b = rng.standard_normal(200)
    >>> x, info = bf.solvers.solve(a, b, return_info=True)
    >>> bool(info.converged), x.dtype
    (True, dtype('float64'))
    >>> bool(np.linalg.norm(a @ x - b, np.inf) <= info.threshold * np.abs(a).sum(1).max()
    ...      * np.abs(x).max())
    True
    """
    op = "solve"
    if _dask.any_dask(a, b):  # a lazy Dask array, mapped over the stack
        return _dask.solve(solve, a, b, dict(
            factor=factor, refine=refine, tol=tol, max_iter=max_iter, fallback=fallback,
            overwrite_a=overwrite_a, overwrite_b=overwrite_b, return_info=return_info,
            stream=stream))
    _checks.array_operand(op, "a", a)
    _checks.array_operand(op, "b", b)
    factor = _args.factor_name(op, "factor", factor, _factor.FACTORS)
    _checks.choice(op, "refine", refine, REFINE)
    if tol is not None:
        tol = _args.real(op, "tol", tol, minimum=0.0, inclusive=False)
    max_iter = _checks.integer(op, "max_iter", max_iter, minimum=0)
    fallback = _checks.flag(op, "fallback", fallback)
    _checks.flag(op, "overwrite_a", overwrite_a)
    overwrite_b = _checks.flag(op, "overwrite_b", overwrite_b)
    return_info = _checks.flag(op, "return_info", return_info)
    xp, (a, b) = get_array_module(op, a, b)
    with _backend.stream_context(op, stream, xp):  # every launch and copy, on the GPU path
        vector, batch, n, k = check_system(op, a, b)
        wdtype = a.dtype
        a3, b3 = _as_stacks(xp, a, b, vector, batch, n, k)
        x3, info = _solve_stacks(xp, a3, b3, factor=factor, refine=refine, tol=tol,
                                 max_iter=int(max_iter), fallback=fallback, wdtype=wdtype)
        codes = info["status"]
        info = _shape_info(info, batch)
        x = x3.reshape(batch + (n, k))
        if vector:
            x = x[..., 0]
        handle_failures(op, info, stacked=len(batch) > 0,
                        mode=_errstate.resolve(len(batch) > 0), codes=codes)
        if overwrite_b and x.shape == b.shape and b.dtype == wdtype and \
                (xp is not np or b.flags.writeable):
            b[...] = x
            x = b
        return (x, info) if return_info else x


if solve.__doc__ is not None:  # None under python -OO
    solve.__doc__ = solve.__doc__.replace("{stream}", STREAM_PARAM)


def _solve_stacks(xp, a3, b3, *, factor, refine, tol, max_iter, fallback, wdtype):
    """Solve s systems; returns ``(x (s, n, k) wdtype, dict of per-system arrays)``.

    The per-system record is kept in host arrays with no Python object per system:
    ``status`` int8 codes into :data:`._solveinfo.STATUSES`, reasons a sparse
    :class:`._solveinfo.Reasons`; :func:`_shape_info` builds the public arrays once.
    Only failed systems are visited one at a time (their fallback and reason text).
    """
    s, n, k = b3.shape
    a64 = a3.astype(np.float64, copy=False)
    b64 = b3.astype(np.float64, copy=False)
    out = {
        "status": np.zeros(s, dtype=np.int8),           # S.CONVERGED
        "iter_code": np.zeros(s, dtype=np.int64),
        "fell_back": np.zeros(s, dtype=bool),
        "factor": factor, "refine": refine, "scaling": None,
        "path": "cpu" if xp is np else "gpu",
    }
    if s == 0 or n == 0 or k == 0:
        res = _refine.Result(s)
        res.converged[:] = True
        res.backward_error[:] = 0.0
        out.update(_from_result(res, np.zeros(s)))
        return xp.zeros((s, n, k), dtype=wdtype), out
    # ||A||_inf per system, NaN where a or b holds NaN/Inf (a finite matrix's norm is
    # never NaN: at worst it overflows to Inf): one device-to-host copy for both
    with np.errstate(invalid="ignore", over="ignore"):
        fin = xp.isfinite(a64).all(axis=(1, 2)) & xp.isfinite(b64).all(axis=(1, 2))
        anorm = _host(xp.where(fin, xp.abs(a64).sum(axis=2).max(axis=1), np.nan))
    finite = ~np.isnan(anorm)
    # Tiny matrices (subnormal entries: ||A|| = 1e-308 and below) are first scaled up, with
    # b, by a power of two sigma that brings ||A||_inf into [0.5, 1): exact, x unchanged,
    # and the residuals of the refinement no longer lose digits to subnormal arithmetic
    # (whose absolute precision 2**-1074 is 5e-15 of 1e-309).
    sigma = np.ones(s)
    tiny = finite & (anorm > 0) & (anorm < TINY_NORM)
    if tiny.any():
        # capped at 2**1023 (2**1024 is Inf): below ||A|| = 2**-1024 the scaled norm stays
        # under 0.5 but every entry is a normal number again, which is all that matters
        sigma[tiny] = np.ldexp(1.0, np.minimum(-np.frexp(anorm[tiny])[1], 1023))
        sg = xp.asarray(sigma)[:, None, None]
        with np.errstate(over="ignore"):
            a64, b64 = a64 * sg, b64 * sg
        anorm = anorm * sigma
    cte = _refine.threshold(anorm, n, wdtype, tol)
    out["cte_fb"] = _refine.fallback_threshold(anorm, n, wdtype, tol)
    bound = np.full(s, _refine.threshold(1.0, n, wdtype, tol))
    good = np.flatnonzero(finite)
    if xp is not np and n <= SMALL_N and good.size:
        from . import _small_gpu

        x, full = _small_gpu.solve_small(xp, a64, b64, good, out, factor=factor,
                                         max_iter=max_iter, fallback=fallback, anorm=anorm,
                                         tolfac=float(bound[0]), wdtype=wdtype)
        out["path"] = "gpu-small"
        if wdtype != np.float64:    # the kernel tested its float64 iterate, not x rounded
            _verify(xp, a64, b64, x, out, full, anorm, cte, wdtype)
    else:
        x, full = _solve_blocked(xp, a64, b64, good, out, factor=factor, refine=refine,
                                 max_iter=max_iter, fallback=fallback, anorm=anorm, cte=cte,
                                 wdtype=wdtype)
    if out["scaling"] is not None:
        out["scaling"]["sigma"] = sigma
    bound[out["fell_back"]] = _refine.fallback_threshold(1.0, n, wdtype, tol)
    if good.size < s:
        out["status"][~finite] = S.NON_FINITE
        for i in np.flatnonzero(~finite):
            full.reason[i] = "a or b contains NaN or Inf"
    flag_numerically_singular(xp, a64, b64, x, out, full)
    out.update(_from_result(full, bound))
    return x, out


def _solve_blocked(xp, a64, b64, good, out, *, factor, refine, max_iter, fallback, anorm,
                   cte, wdtype):
    """Factor (blocked LU, either path), refine, fall back: systems ``good`` of the stack."""
    s, n, k = b64.shape
    x = xp.full((s, n, k), np.nan, dtype=wdtype)
    full = _refine.Result(s)
    if good.size == 0:
        return x, full
    whole = good.size == s
    a_g = a64 if whole else a64[good]
    b_g = b64 if whole else b64[good]
    if xp is np and _small_cpu.use_for(good.size, n):
        fac = _small_cpu.factorize(a_g, factor)    # the whole stack at once (vectorized)
    else:
        fac = _factor.factorize(xp, a_g, factor)
    ok = np.flatnonzero(fac.code == 0)
    xg, res = _refine.refine(xp, a_g, b_g, fac, ok, mode=refine, max_iter=max_iter,
                             cte=cte[good], anorm=anorm[good], wdtype=wdtype)
    x[good] = xg
    for name in ("iterations", "gmres_iterations", "converged", "method", "backward_error"):
        getattr(full, name)[good] = getattr(res, name)
    for j, text in res.reason.items():
        full.reason[int(good[j])] = text
    full.history = [np.full(s, np.nan) for _ in res.history]
    for h, hg in zip(full.history, res.history):
        h[good] = hg
    if fac.r is not None:
        out["scaling"] = {"method": "two-sided power-of-two equilibration",
                          "mu": _scatter(fac.mu, good, s, np.nan),
                          "row_scale": _scatter(_host(fac.r), good, s, np.nan),
                          "col_scale": _scatter(_host(fac.c), good, s, np.nan)}
    bad_fac = good[fac.code != 0]
    out["iter_code"][bad_fac] = fac.code[fac.code != 0]
    for i, text in zip(bad_fac, fac.reason[fac.code != 0]):
        full.reason[int(i)] = text
    conv = (fac.code == 0) & res.converged
    unconverged = good[(fac.code == 0) & ~res.converged]
    out["iter_code"][unconverged] = _factor.NO_CONVERGENCE
    out["iter_code"][good[conv]] = res.iterations[conv]
    failed = np.concatenate([bad_fac, unconverged]).astype(np.int64)
    if failed.size:
        if fallback or factor == "float64":
            fallback_fp64(xp, a64, b64, failed, x, full, out, anorm, cte)
        else:
            out["status"][failed] = S.NOT_CONVERGED
            x[bad_fac] = np.nan
    return x, full


def fallback_fp64(xp, a64, b64, idx, x, full, out, anorm, cte, wdtype=None):
    """Re-solve systems ``idx`` in FP64 (:mod:`._fallback`: equilibrated LU with FP64
    refinement, then Householder QR); updates ``x`` and the records. Every result must
    pass the solver's backward-error test (``out['cte_fb']`` when set: the test with its
    threshold at least ``2 eps``, see :func:`._refine.fallback_threshold`; else ``cte``):
    'fell back' if it does, 'singular' (exact zero pivot or rcond < eps after
    equilibration; ``x`` NaN) or 'inaccurate' (``x`` the best candidate) otherwise."""
    from . import _fallback

    cte = out.get("cte_fb", cte)    # the acceptance floor of _refine.fallback_threshold
    for i in idx:
        status, xi, ber, text = _fallback.solve_one(xp, a64[i], b64[i], cte=float(cte[i]),
                                                    anorm=float(anorm[i]),
                                                    wdtype=wdtype or x.dtype)
        out["status"][i] = S.CODE[status]
        full.converged[i] = False
        full.reason[i] = _join(full.reason[i], text)
        if status == "singular" or xi is None:
            x[i] = np.nan
            continue
        x[i] = xi
        out["fell_back"][i] = True
        full.backward_error[i] = ber


def _verify(xp, a64, b64, x, out, full, anorm, cte, wdtype):
    """Apply the backward-error test to every system reported solved, on ``x`` as
    returned (rounded to the float32 working precision); send those that fail it to the
    FP64 fallback. (The fused small-system kernel tests its float64 iterate, which is the
    returned x for float64: no second test there, whose different summation order would
    only add noise at the rounding level of the test itself.) One batched residual and one
    synchronization."""
    ok = np.flatnonzero(out["status"] <= S.SOLVED_MAX)
    if ok.size == 0:
        return
    x64 = _refine._take(x, ok).astype(np.float64)
    r = _refine.residual(_refine._take(a64, ok), x64, _refine._take(b64, ok))
    rn, xn = _host(xp.stack((xp.abs(r).max(axis=1), xp.abs(x64).max(axis=1))))  # one copy
    with np.errstate(invalid="ignore", over="ignore"):
        passed = np.all((rn <= cte[ok, None] * xn) & np.isfinite(rn) & np.isfinite(xn),
                        axis=1)
    bad = ok[~passed]
    if bad.size:
        for i in bad:
            full.reason[i] = _join(full.reason[i], "the solution failed the backward-error "
                                                   "test after rounding")
        fallback_fp64(xp, a64, b64, bad, x, full, out, anorm, cte, wdtype)


def flag_numerically_singular(xp, a64, b64, x, out, full):
    """Mark solved systems whose solution certifies ``kappa_inf(B) >= 1/eps`` as singular,
    ``B = diag(r) A diag(c)`` the power-of-two equilibrated matrix.

    For ``B y = d`` (``y = x / c``, ``d = r b``) and every column,
    ``||B||_inf ||y_j||_inf / ||d_j||_inf <= kappa_inf(B)`` (because
    ``||y_j|| <= ||B^-1|| ||d_j||``), so a ratio at or above ``1/eps`` of the working
    precision proves the equilibrated matrix singular to working precision: no digit of
    ``x`` can be trusted although its backward error is small. Being computed after
    equilibration, the ratio is not fooled by row or column scaling (``diag(1, 1e-20)``
    has ratio 1). Costs a few O(n^2) passes per system.
    """
    ok = np.flatnonzero(out["status"] <= S.SOLVED_MAX)
    if ok.size == 0 or x.shape[1] == 0:
        return
    eps = _refine.unit_roundoff(x.dtype)
    a = _refine._take(a64, ok)
    r, c = _scaling.equilibrate(xp, a, 1.0)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        bnorm = (xp.abs(a) * r[:, :, None] * c[:, None, :]).sum(axis=2).max(axis=1)
        yn = xp.abs(_refine._take(x, ok).astype(np.float64) / c[:, :, None]).max(axis=1)
        dn = xp.abs(_refine._take(b64, ok) * r[:, :, None]).max(axis=1)
        # ||y|| / ||R b|| first: it is at most ||B^-1||, so the product overflows only when
        # kappa(B) really does (||B|| ||y|| alone overflows for ||x|| near 1e308)
        ratio = _host(xp.where((dn > 0) & xp.isfinite(dn), bnorm[:, None] * (yn / xp.where(
            dn > 0, dn, 1.0)), 0.0).max(axis=1))          # one device-to-host copy
    for i, q in zip(ok[ratio * eps >= 1], ratio[ratio * eps >= 1]):
        x[i] = np.nan
        out["status"][i] = S.SINGULAR
        out["fell_back"][i] = False
        full.converged[i] = False
        full.reason[i] = _join(full.reason[i], f"singular to working precision: after "
                                               f"equilibration (B = R A C, B y = R b), "
                                               f"||B|| ||y|| / ||R b|| = {q:.1e} >= 1/eps, "
                                               "so kappa(B) >= 1/eps")


def _join(a, b):
    return f"{a}; {b}" if a else b


def _scatter(v, idx, s, fill):
    v = np.asarray(v)
    out = np.full((s,) + v.shape[1:], fill, dtype=np.float64)
    out[idx] = v
    return out


def _from_result(res, bound):
    hist = np.stack(res.history) if res.history else np.zeros((0, len(res.iterations)))
    return {"iterations": res.iterations, "gmres_iterations": res.gmres_iterations,
            "converged": res.converged, "method": res.method, "reason": res.reason,
            "backward_error": res.backward_error, "history": hist,
            "threshold": bound}


def _shape_info(d, batch):
    """Turn the per-system dict into a SolveInfo with arrays of the batch shape (the
    status and method codes and the sparse reasons become object arrays of str here,
    each by one vectorized take or fill)."""
    s = len(d["iter_code"])
    d = dict(d, status=S.names(d["status"]), method=S.names(d["method"], _refine.METHOD_TABLE),
             reason=S.reason_array(d["reason"], s))
    per = ("status", "iterations", "gmres_iterations", "iter_code", "converged",
           "fell_back", "reason", "method", "backward_error", "threshold")
    kw = {name: np.asarray(d[name]).reshape(batch) for name in per}
    if batch == ():   # one system: plain scalars (str, numpy bool/int/float)
        kw = {name: (str(v[()]) if v.dtype == object else v[()]) for name, v in kw.items()}
    hist = np.asarray(d["history"])
    kw["history"] = hist.reshape((hist.shape[0],) + batch)
    sc = d["scaling"]
    if sc is not None:
        sc = dict(sc, mu=sc["mu"].reshape(batch), sigma=sc["sigma"].reshape(batch),
                  row_scale=sc["row_scale"].reshape(batch + sc["row_scale"].shape[1:]),
                  col_scale=sc["col_scale"].reshape(batch + sc["col_scale"].shape[1:]))
    return SolveInfo(factor=d["factor"], refine=d["refine"], scaling=sc, path=d["path"],
                     **kw)
