"""Batched GEMM: ``D = alpha * op(A) @ op(B) + beta * C`` over a stack of matrices.

Three layers, as everywhere in blasfast:

* :func:`batched_gemm` / :func:`matmul` (public): normalize, validate shapes and dtypes,
  allocate the output, choose the path from the array kind;
* :func:`_batched_gemm_nocheck` (GPU launcher): picks a tile configuration from
  :data:`_TILES`, fetches the compiled kernel and launches it; it trusts its inputs;
* ``kernels/gemm.cu``: the CUDA kernel, templated on dtype and tile shape.
"""

import dataclasses
import math

import numpy as np

from . import _checks
from ._backend import get_array_module
from ._errors import message
from .kernels import _compile

__all__ = ["batched_gemm", "matmul"]

_DTYPES = (np.float32, np.float64)
_CTYPE = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}
_MAX_GRID_Z = 65535


@dataclasses.dataclass(frozen=True)
class _Tile:
    """A thread block computes a ``bm x bn`` tile of C, ``bk`` columns of A at a time;
    each thread owns a ``tm x tn`` micro-tile."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self):
        return (self.bm // self.tm) * (self.bn // self.tn)

    def name_expression(self, dtype):
        return (f"gemm_strided_batched<{_CTYPE[np.dtype(dtype)]}, {self.bm}, {self.bn}, "
                f"{self.bk}, {self.tm}, {self.tn}>")


# (dtype, size class) -> tile. The size class is the larger of M and N: "small" <= 16,
# "medium" <= 64, "large" above. All architectures share this table for now; the batched
# GEMM issue keys it by architecture and adds tensor-core and tiny-matrix kernels.
_TILES = {
    ("float32", "small"): _Tile(16, 16, 16, 1, 1),
    ("float32", "medium"): _Tile(32, 32, 16, 2, 2),
    ("float32", "large"): _Tile(64, 64, 16, 4, 4),
    ("float64", "small"): _Tile(16, 16, 16, 1, 1),
    ("float64", "medium"): _Tile(32, 32, 16, 2, 2),
    ("float64", "large"): _Tile(64, 64, 8, 4, 4),
}

_compile.declare("gemm", "gemm.cu",
                 [t.name_expression(dt) for (dt, _), t in _TILES.items()])


def _size_class(m, n):
    big = max(m, n)
    return "small" if big <= 16 else "medium" if big <= 64 else "large"


def _coalesce(shape, strides_per_op):
    """Merge batch dimensions that every operand walks contiguously, drop size-1 ones.

    ``strides_per_op`` is a list (one per operand) of element strides over ``shape``.
    Returns a list of ``(size, [stride per operand])``, outermost first.
    """
    dims = [(s, [st[i] for st in strides_per_op]) for i, s in enumerate(shape) if s != 1]
    merged = []
    for size, strides in dims:
        if merged:
            psize, pstrides = merged[-1]
            if all(ps == s * size for ps, s in zip(pstrides, strides)):
                merged[-1] = (psize * size, strides)
                continue
        merged.append((size, strides))
    return merged


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Kernel arguments for one batched GEMM, in elements (host-side math only).

    ``mat`` holds the matrix strides ``(sam, sak, sbk, sbn, scm, scn, sdm, sdn)``;
    ``outer``/``inner`` the two batch dimensions the kernel walks, each ``(size,
    (stride_a, stride_b, stride_c, stride_d))``; ``offsets`` one tuple of element offsets
    ``(a, b, c, d)`` per launch (more than one only when the batch cannot be folded into two
    dimensions).
    """

    mat: tuple
    outer: tuple
    inner: tuple
    offsets: tuple


def _gemm_plan(batch, strides, trans_a, trans_b):
    """Fold batch dimensions and read matrix strides, from element strides.

    ``strides`` lists, for ``a``, ``b``, ``c``, ``d`` broadcast to the full batch shape
    (zero strides on broadcast dimensions), their element strides over ``batch + (rows,
    cols)``. Pure arithmetic, so it is tested on the CPU against an emulation of the kernel.
    """
    sa, sb, sc, sd = strides
    mat = ((sa[-1], sa[-2]) if trans_a else (sa[-2], sa[-1])) + \
          ((sb[-1], sb[-2]) if trans_b else (sb[-2], sb[-1])) + tuple(sc[-2:]) + tuple(sd[-2:])
    dims = _coalesce(batch, [s[:-2] for s in strides])
    dims = [(1, (0, 0, 0, 0))] * max(0, 2 - len(dims)) + dims
    rest = dims[:-2]
    offsets = tuple(
        tuple(sum(i * st[j] for i, (_, st) in zip(idx, rest)) for j in range(4))
        for idx in np.ndindex(*[size for size, _ in rest]))
    return _Plan(mat, (dims[-2][0], tuple(dims[-2][1])), (dims[-1][0], tuple(dims[-1][1])),
                 offsets)


def _operands_and_plan(xp, a, b, c, d, trans_a, trans_b):
    """Broadcast views of ``a, b, c, d`` over the batch (no copies) and their :class:`_Plan`.

    ``c`` None stands for "not read": ``d`` is passed in its place.
    """
    batch = d.shape[:-2]
    c = d if c is None else c
    ops = [xp.broadcast_to(x, batch + x.shape[-2:]) for x in (a, b)]
    ops += [xp.broadcast_to(c, d.shape), d]
    return ops, _gemm_plan(batch, [[s // x.itemsize for s in x.strides] for x in ops],
                           trans_a, trans_b)


def _batched_gemm_nocheck(a, b, c, d, alpha, beta, trans_a, trans_b):
    """Launch the GEMM kernel: ``d = alpha * op(a) @ op(b) + beta * c`` on CuPy arrays.

    ``a`` and ``b`` broadcast over ``d``'s batch dimensions, ``c`` (or None) broadcasts to
    ``d``; any strides are accepted (no copies). ``d`` must not overlap ``a`` or ``b``.
    Launches on the current CuPy stream; returns ``d``. Does not synchronize.
    """
    import cupy

    m, n = d.shape[-2:]
    k = a.shape[-2] if trans_a else a.shape[-1]
    if d.size == 0:
        return d
    if c is None or beta == 0:
        c, beta = None, 0.0  # the kernel never reads C when beta == 0
    ops, plan = _operands_and_plan(cupy, a, b, c, d, trans_a, trans_b)
    tile = _TILES[(d.dtype.name, _size_class(m, n))]
    kernel = _compile.get_function("gemm", tile.name_expression(d.dtype))
    per_launch = plan.outer[0] * plan.inner[0]
    grid = (-(-m // tile.bm), -(-n // tile.bn), min(per_launch, _MAX_GRID_Z))
    i32, i64, scalar = np.int32, np.int64, d.dtype.type
    sam, sak, sbk, sbn, scm, scn, sdm, sdn = (i64(s) for s in plan.mat)
    so, si = [i64(s) for s in plan.outer[1]], [i64(s) for s in plan.inner[1]]
    for off in plan.offsets:
        va, vb, vc, vd = (_offset_view(x, o) for x, o in zip(ops, off))
        kernel(grid, (tile.threads,), (
            i32(m), i32(n), i32(k), i64(per_launch), i64(plan.inner[0]),
            scalar(alpha), scalar(beta),
            va, sam, sak, so[0], si[0],
            vb, sbk, sbn, so[1], si[1],
            vc, scm, scn, so[2], si[2],
            vd, sdm, sdn, so[3], si[3]))
    return d


def _offset_view(x, off):
    """A view of ``x`` whose data pointer is moved by ``off`` elements (strides kept)."""
    if off == 0:
        return x
    import cupy

    return cupy.ndarray(x.shape, x.dtype, x.data + off * x.itemsize, x.strides)


def _gemm_cpu(a, b, c, out, alpha, beta, trans_a, trans_b):
    """The CPU path: NumPy's matmul (its BLAS), in the operands' precision."""
    dtype = a.dtype
    opa = np.swapaxes(a, -1, -2) if trans_a else a
    opb = np.swapaxes(b, -1, -2) if trans_b else b
    r = np.matmul(opa, opb)
    if alpha != 1:
        r *= dtype.type(alpha)
    if c is not None and beta != 0:
        r += dtype.type(beta) * c
    if out is None:
        return r
    np.copyto(out, r)
    return out


def _check_out(op, xp, out, shape, dtype, inputs):
    _checks.result_shape(op, "out", out.shape, shape)
    _checks.same_dtype(op, result=dtype, out=out.dtype)
    if xp is np and not out.flags.writeable:
        raise ValueError(message(op, "out is read-only"))
    if any(st == 0 and s > 1 for st, s in zip(out.strides, out.shape)):
        raise ValueError(message(
            op, "out has overlapping elements (a zero stride); pass a writable array "
                "with one element per result"))
    for name, x in inputs:
        if x is not None and xp.may_share_memory(out, x):
            raise ValueError(message(
                op, f"out overlaps {name}; the result would read its own output "
                    "(out may be c itself, with the same shape and strides)"))


def _gemm(op, a, b, c, alpha, beta, trans_a, trans_b, out, stream):
    """Validate, allocate and dispatch; shared by batched_gemm and matmul."""
    xp, (a, b, c, out) = get_array_module(op, a, b, c, out)
    dtype = _checks.dtype_in(op, "a", a.dtype, _DTYPES)
    _checks.same_dtype(op, a=a.dtype, b=b.dtype, c=None if c is None else c.dtype)
    batch, m, n, k = _checks.gemm_shapes(op, a.shape, b.shape, trans_a, trans_b)
    shape = batch + (m, n)
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise TypeError(message(op, f"{name} must be a real number, got "
                                        f"{type(v).__name__}"))
    if c is not None:
        _checks.broadcastable_to(op, "c", c.shape, shape)
    if out is not None:
        same_as_c = (c is not None and out.shape == c.shape and out.strides == c.strides
                     and _data_ptr(out) == _data_ptr(c))
        _check_out(op, xp, out, shape, dtype,
                   [("a", a), ("b", b)] + ([] if same_as_c else [("c", c)]))
    if xp is np:
        return _gemm_cpu(a, b, c, out, alpha, beta, trans_a, trans_b)
    d = out if out is not None else xp.empty(shape, dtype)
    if stream is None:
        return _batched_gemm_nocheck(a, b, c, d, alpha, beta, trans_a, trans_b)
    with stream:
        return _batched_gemm_nocheck(a, b, c, d, alpha, beta, trans_a, trans_b)


def _data_ptr(x):
    return x.data.ptr if hasattr(x.data, "ptr") else x.__array_interface__["data"][0]


_COMMON_NOTES = """
    Accuracy: each element is a length-K dot product in the input precision (FMA), so the
    normwise relative error is bounded by about ``K * u`` times the condition of the
    product (``u`` = 6e-8 for float32, 1.1e-16 for float64); the GPU kernel and the CPU path
    (NumPy's BLAS) sum in different orders and agree to that bound, not bit for bit.
    The GPU path launches on the current CuPy stream (or ``stream``) and does not
    synchronize; the CPU path is NumPy's ``matmul``.
"""


def batched_gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
                 out=None, stream=None):
    """Batched general matrix multiply, ``alpha * op(a) @ op(b) + beta * c``.

    For every batch index ``i`` (batch dimensions broadcast as in :func:`numpy.matmul`)::

        D[i] = alpha * op(A[i]) @ op(B[i]) + beta * C[i],   op(X) = X or X.T

    Parameters
    ----------
    a : (..., M, K) array, float32 or float64
        Left operands; ``(..., K, M)`` when ``trans_a``. NumPy array (CPU path) or CuPy /
        ``__cuda_array_interface__`` / DLPack CUDA array (GPU path). Any strides: transposed
        or non-contiguous views are read in place, never copied.
    b : (..., K, N) array, same dtype as ``a``
        Right operands; ``(..., N, K)`` when ``trans_b``.
    c : array broadcastable to (..., M, N), same dtype, optional
        Accumulator. Not read when ``beta == 0`` (BLAS semantics: NaN/Inf in ``c`` then do
        not reach the result). Never modified unless it is also ``out``.
    alpha, beta : float
        Scalars, converted to the operands' dtype.
    trans_a, trans_b : bool
        Use the transpose of each matrix of ``a`` / ``b``.
    out : (..., M, N) array, same dtype and kind, optional
        Where to write the result. It may be ``c`` itself (in-place update, as in BLAS)
        but must not overlap ``a`` or ``b``.
    stream : cupy.cuda.Stream, optional
        GPU path only: the stream to launch on (default: CuPy's current stream).

    Returns
    -------
    d : (..., M, N) array, same dtype and kind as ``a``
        ``out`` when given. An empty batch (or M or N equal to 0) returns an empty array;
        K = 0 gives ``beta * c`` (or zeros).

    Raises
    ------
    TypeError
        A dtype other than float32/float64, mixed dtypes, non-real ``alpha``/``beta``, or
        host and device arrays in one call.
    ValueError
        Operands with fewer than 2 dimensions, K mismatch, batch dimensions that do not
        broadcast, ``c`` that does not broadcast to the result, or an ``out`` of the wrong
        shape, read-only, with overlapping elements or overlapping ``a``/``b``.
    blasfast.KernelCompileError
        If the CUDA kernel fails to compile (GPU path, first call per device).

    Notes
    -----
    Flops: ``2 * M * N * K`` per matrix. GPU algorithm: a shared-memory tiled kernel with
    register micro-tiles, tile shape chosen by the size class ``max(M, N)`` (<= 16, <= 64,
    larger); batch dimensions that cannot be folded into two strides are looped on the
    host (one launch each). NaN and Inf in ``a``/``b`` propagate as in IEEE arithmetic;
    float32 denormals are flushed to zero on the GPU (CuPy compiles with ``-ftz=true``).
    {notes}
    References
    ----------
    BLAS ``xGEMM`` and cuBLAS ``cublasGemmStridedBatchedEx`` semantics; MAGMA
    ``magmablas_Xgemm_batched`` (Abdelfattah et al., "Performance, design, and autotuning
    of batched GEMM for GPUs", ISC 2016) for the tiled design.

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> rng = np.random.default_rng(0)
    >>> a = rng.standard_normal((10, 3, 4)); b = rng.standard_normal((4, 5))
    >>> bf.batched_gemm(a, b).shape
    (10, 3, 5)
    >>> bool(np.allclose(bf.batched_gemm(a, b, alpha=2.0), 2 * a @ b))
    True
    """
    return _gemm("batched_gemm", a, b, c, alpha, beta, trans_a, trans_b, out, stream)


batched_gemm.__doc__ = batched_gemm.__doc__.replace("{notes}", _COMMON_NOTES)


def matmul(a, b, *, out=None, stream=None):
    """Matrix product with :func:`numpy.matmul` semantics, computed by :func:`batched_gemm`.

    A 1-D ``a`` is treated as a row vector and a 1-D ``b`` as a column vector, and the
    added dimension is removed from the result; 2-D operands are a batch of one.

    Parameters
    ----------
    a : (..., M, K) or (K,) array, float32 or float64
    b : (..., K, N) or (K,) array, same dtype and kind as ``a``
    out : array of the result's shape and dtype, optional
    stream : cupy.cuda.Stream, optional
        GPU path only.

    Returns
    -------
    (..., M, N) array (fewer dimensions for 1-D operands), same dtype and kind as ``a``.

    Raises
    ------
    TypeError, ValueError
        As :func:`batched_gemm`; a 0-d operand is a ``ValueError`` (as in NumPy).

    Notes
    -----
    {notes}
    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> bf.matmul(np.ones((2, 3)), np.ones(3))
    array([3., 3.])
    """
    op = "matmul"
    xp, (a, b, out) = get_array_module(op, a, b, out)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(message(op, f"operands must be at least 1-D, got shapes "
                                     f"{a.shape} and {b.shape}"))
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    out2 = out
    if out is not None:
        batch, m, n, _ = _checks.gemm_shapes(op, a2.shape, b2.shape)
        expect = batch + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
        _checks.result_shape(op, "out", out.shape, expect)
        if a.ndim == 1 and b.ndim == 1:
            out2 = out[..., None, None]
        elif a.ndim == 1:
            out2 = out[..., None, :]
        elif b.ndim == 1:
            out2 = out[..., None]
    r = _gemm(op, a2, b2, None, 1.0, 0.0, False, False, out2, stream)
    if out is not None:
        return out
    if a.ndim == 1:
        r = r[..., 0, :]
    if b.ndim == 1:
        r = r[..., 0]
    return r


matmul.__doc__ = matmul.__doc__.replace("{notes}", _COMMON_NOTES)
