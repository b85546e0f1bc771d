"""Batched GEMM: ``D = alpha * op(A) @ op(B) + beta * C`` over a stack of matrices.

Three layers, as everywhere in blasfast:

* :func:`batched_gemm` (public; :func:`blasfast.matmul` in :mod:`._matmul` shares
  :func:`_gemm`): validate (:mod:`._args`), allocate the output, choose the path from the
  array kind, and run the configuration cached for these shapes, strides and options
  (:mod:`._core`);
* :func:`blasfast.gemm._launch._batched_gemm_nocheck` (GPU launcher): picks the kernel and
  tile from the tables in :mod:`blasfast.gemm._config`, fetches the compiled kernel and
  launches it; it trusts its inputs;
* ``kernels/gemm.cu`` (CUDA cores) and ``kernels/gemm_tc.cu`` (tensor cores): the kernels,
  templated on types and tile shape.
"""

import numpy as np

from .. import _backend, _checks, _dask
from .._docs import STREAM_PARAM
from .._errors import message
from .._typing import Array, ArrayLike, Real, StreamLike
from . import _core
from ._args import Compute, _validate
from ._docs import _COMMON_NOTES, _PRECISION_TABLE, _RESULT_DTYPES
from ._vbatched import _gemm_vbatched
from .._interop import callers_kind as _callers_kind

__all__ = ["batched_gemm"]


def _gemm(op, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream):
    """Validate, then run the cached plan for these shapes, strides and options (built on
    first use); shared by batched_gemm and matmul."""
    compute_arg = compute
    xp, a, b, c, out, trans_a, trans_b, compute, out_dtype, shape = _validate(
        op, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream)
    stream = _backend.as_stream(op, stream, xp)
    core = _core.cached_core(xp, a, b, c, out, beta, trans_a, trans_b, compute_arg, compute,
                             out_dtype, shape)
    return core.run(a, b, c, out, alpha, beta, stream)


@_callers_kind
def batched_gemm(a: ArrayLike, b: ArrayLike, c: ArrayLike | None = None, *,
                 alpha: Real = 1.0, beta: Real = 0.0, trans_a: bool = False,
                 trans_b: bool = False, out: Array | None = None,
                 compute: Compute | None = None, stream: StreamLike = None) -> Array:
    """Batched general matrix multiply, ``alpha * op(a) @ op(b) + beta * c``.

    For every batch index ``i`` (batch dimensions broadcast as in :func:`numpy.matmul`)::

        D[i] = alpha * op(A[i]) @ op(B[i]) + beta * C[i],   op(X) = X or X.T

    Parameters
    ----------
    a : (..., M, K) array, or list of (M, K) arrays
        float64, float32, float16 or bfloat16 (``ml_dtypes.bfloat16``, the dtype CuPy uses).
        ``(..., K, M)`` when ``trans_a``. NumPy array (CPU path) or CuPy /
        ``__cuda_array_interface__`` / DLPack CUDA array (GPU path). Any strides: transposed
        or non-contiguous views are read in place, never copied. A Python list of
        same-shape 2-D matrices is the pointer-array form (one launch over the list, the
        matrices need not be adjacent in memory); ``b`` (and ``c``, ``out``) are then lists
        too and a list is returned -- see :func:`blasfast.gemm_vbatched`.
        A ``dask.array.Array`` (of NumPy or CuPy chunks; for any operand) gives a lazy
        Dask array, computed blockwise over the batch dimensions (``out`` and ``stream``
        must then be None).
    b : (..., K, N) array, same dtype as ``a``
        Right operands; ``(..., N, K)`` when ``trans_b``.
    c : array broadcastable to (..., M, N), optional
        Accumulator, with the result's dtype. Not read when ``beta == 0`` (BLAS semantics:
        NaN/Inf in ``c`` then do not reach the result). Never modified unless it is also
        ``out``.
    alpha, beta : float
        Scalars, applied in the accumulation precision.
    trans_a, trans_b : bool
        Use the transpose of each matrix of ``a`` / ``b``.
    out : (..., M, N) array, optional
        Where to write the result, of the result dtype (see the table), same kind as ``a``.
        It may be ``c`` itself (in-place update, as in BLAS) but must not overlap ``a`` or
        ``b``.
    compute : {None, 'float64', 'float32', 'tf32'}
        The arithmetic, per input dtype (None picks the first):

        {table}

    {stream}

    Returns
    -------
    d : (..., M, N) array, same kind as ``a``
        float32 for float16/bfloat16 inputs unless ``out`` (or ``c``) has the input dtype;
        the input dtype otherwise. ``out`` when given. An empty batch (or M or N equal to 0)
        returns an empty array; K = 0 gives ``beta * c`` (or zeros). This explicit
        precision table is where :func:`matmul` differs, as it follows
        :func:`numpy.matmul`'s result dtypes:

        {dtypes}

    Raises
    ------
    TypeError
        ``a``, ``b``, ``c`` or ``out`` that is not an array (a Python scalar, None, a string;
        nested lists, which are neither an array nor the pointer-array form), non-bool
        ``trans_a``/``trans_b``, a ``compute`` that is not a string, a ``stream`` that is not
        a CUDA stream, an unsupported dtype, mixed operand dtypes, an ``out``/``c`` dtype the
        precision cannot produce, non-real ``alpha``/``beta``, or host and device arrays in
        one call.
    ValueError
        Operands with fewer than 2 dimensions, K mismatch, batch dimensions that do not
        broadcast, ``c`` that does not broadcast to the result, a ``compute`` not valid for
        the dtype (the message lists the valid ones), or an ``out`` of the wrong shape,
        read-only, with overlapping elements or overlapping ``a``/``b``; an ``out`` or a
        ``stream`` with Dask arrays.
    blasfast.KernelCompileError
        If a CUDA kernel fails to compile (GPU path, first call per device).

    Notes
    -----
    Flops: ``2 * M * N * K`` per matrix. Kernels (chosen from the tables in
    ``blasfast.gemm._config``): for ``max(M, N, K) <= 32`` one thread per element of C with
    several matrices per block (MAGMA's small-size design); otherwise a shared-memory
    tiled kernel with register micro-tiles on CUDA cores (FP64/FP32) or WMMA tensor-core
    tiles (FP16/BF16/TF32). Batch dimensions that cannot be folded into two strides are
    looped on the host (one launch each). The configuration (kernel, tile, grid, strides and
    the launch's argument list) is cached per (array kind, shapes, strides, dtypes,
    ``beta == 0``, ``trans_a``, ``trans_b``, ``compute``, device), 64 entries, least
    recently used out: a repeated call re-checks only ``out``'s overlaps and launches. To
    skip even that, and the key's construction, plan once with :class:`blasfast.BatchedGemm`.
    NaN and Inf in ``a``/``b`` propagate as in IEEE
    arithmetic; float32 denormals are flushed to zero on the GPU (CuPy compiles with
    ``-ftz=true``).
    {notes}
    References
    ----------
    BLAS ``xGEMM`` and cuBLAS ``cublasGemmStridedBatchedEx`` / ``cublasGemmBatchedEx``
    semantics; MAGMA ``magmablas_Xgemm_batched`` (Abdelfattah, Haidar, Tomov, Dongarra,
    "Performance, design, and autotuning of batched GEMM for GPUs", ISC 2016) for the
    tiled and small-size designs.

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> rng = np.random.default_rng(0)
    >>> a = rng.standard_normal((10, 3, 4)); b = rng.standard_normal((4, 5))
    >>> bf.batched_gemm(a, b).shape
    (10, 3, 5)
    >>> bool(np.allclose(bf.batched_gemm(a, b, alpha=2.0), 2 * a @ b))
    True
    >>> h = a.astype(np.float16)
    >>> bf.batched_gemm(h, h, trans_b=True).dtype        # FP16 in, FP32 accumulate and out
    dtype('float32')
    """
    r = _core.fast_call(a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream)
    if r is not _core.MISS:  # a cached plan ran: only what can change was checked
        return r
    if _dask.any_dask(a, b, c, out):  # a lazy Dask array, mapped over the blocks
        return _dask.batched_gemm(batched_gemm, a, b, c, alpha, beta, trans_a, trans_b, out,
                                  compute, stream)
    if isinstance(a, (list, tuple)):
        return _gemm_list("batched_gemm", a, b, c, alpha, beta, trans_a, trans_b, out,
                          compute, stream)
    return _gemm("batched_gemm", a, b, c, alpha, beta, trans_a, trans_b, out, compute,
                 stream)


if batched_gemm.__doc__ is not None:  # None under python -OO
    batched_gemm.__doc__ = batched_gemm.__doc__.replace("{notes}", _COMMON_NOTES).replace(
        "{stream}", STREAM_PARAM).replace(
        "{table}", _PRECISION_TABLE.strip().replace("\n    ", "\n        ")).replace(
        "{dtypes}", _RESULT_DTYPES.strip().replace("\n    ", "\n        "))


def _gemm_list(op, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream):
    """The pointer-array form: lists of same-shape matrices, one launch (via vbatched)."""
    for x in a:
        if isinstance(x, (list, tuple)) or getattr(x, "ndim", 0) == 0:
            raise TypeError(message(
                op, f"a must be an array, or a list of 2-D arrays (the pointer-array form), "
                    f"got a {type(a).__name__} holding {_checks.describe(x)}; convert nested "
                    "lists with numpy.asarray (or cupy.asarray) first"))
    if not isinstance(b, (list, tuple)):
        raise TypeError(message(op, f"a is a list, so b must be a list of matrices too, "
                                    f"got {type(b).__name__}"))
    shapes = {tuple(getattr(x, "shape", np.shape(x))) for x in a}
    if len(shapes) > 1:
        raise ValueError(message(
            op, f"a list of matrices must all have one shape, got {sorted(shapes)}; use "
                "blasfast.gemm_vbatched for matrices of different sizes"))
    return _gemm_vbatched(op, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream)

