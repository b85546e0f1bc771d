"""Batched GEMM: ``D = alpha * op(A) @ op(B) + beta * C`` over a stack of matrices.

Three layers, as everywhere in blasfast:

* :func:`batched_gemm` / :func:`matmul` (public): normalize, validate shapes and dtypes,
  allocate the output, choose the path from the array kind;
* :func:`_batched_gemm_nocheck` (GPU launcher): picks the kernel and tile from the tables
  in :mod:`blasfast._gemm_config`, fetches the compiled kernel and launches it; it trusts
  its inputs;
* ``kernels/gemm.cu`` (CUDA cores) and ``kernels/gemm_tc.cu`` (tensor cores): the kernels,
  templated on types and tile shape.
"""

import dataclasses

import numpy as np

from .. import _backend, _checks, _dask, _dtypes
from .._backend import get_array_module
from .._errors import message
from ..kernels import _compile
from . import _config as _gemm_config

__all__ = ["batched_gemm", "matmul"]

_MAX_GRID_Z = _gemm_config.MAX_GRID_Z


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


def _batched_gemm_nocheck(a, b, c, d, alpha, beta, trans_a, trans_b, compute):
    """Launch a GEMM kernel: ``d = alpha * op(a) @ op(b) + beta * c`` on CuPy arrays.

    ``a`` and ``b`` broadcast over ``d``'s batch dimensions, ``c`` (or None) broadcasts to
    ``d``; any strides are accepted (no copies). ``d`` must not overlap ``a`` or ``b``;
    ``compute`` must be valid for the dtypes (see :mod:`blasfast._dtypes`). Launches on the
    current CuPy stream; returns ``d``. Does not synchronize.
    """
    cupy = _backend.array_module(d)  # or the emulator's namespace, for emulated arrays

    m, n = d.shape[-2:]
    k = a.shape[-2] if trans_a else a.shape[-1]
    if d.size == 0:
        return d
    if c is None or beta == 0:
        c, beta = None, 0.0  # the kernel never reads C when beta == 0
    prec = _gemm_config.Precision(a.dtype, d.dtype, compute)
    tile = _gemm_config.select(prec, m, n, k)
    max_n = _gemm_config.MAX_GRID_Y * getattr(tile, "bn", n)
    if n > max_n:  # more column tiles than grid y holds: one launch per column range
        c = None if c is None else cupy.broadcast_to(c, d.shape)
        for j in range(0, n, max_n):
            cols = slice(j, min(n, j + max_n))
            _batched_gemm_nocheck(a, b[..., cols, :] if trans_b else b[..., cols],
                                  None if c is None else c[..., cols], d[..., cols],
                                  alpha, beta, trans_a, trans_b, compute)
        return d
    ops, plan = _operands_and_plan(cupy, a, b, c, d, trans_a, trans_b)
    kernel = _compile.get_function(tile.family, tile.kernel_name(prec))
    per_launch = plan.outer[0] * plan.inner[0]
    grid = tile.grid(m, n, per_launch)
    i32, i64, scalar = np.int32, np.int64, prec.acc_dtype.type
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
    """The matrix of ``x`` that starts ``off`` elements past ``x``'s first element, as a
    view (strides kept): what the kernel gets as its pointer. Only the last two dimensions
    are kept, so that the view lies inside ``x``'s memory whatever the batch offset."""
    if off == 0:
        return x
    return _backend.array_module(x).ndarray(x.shape[-2:], x.dtype, x.data + off * x.itemsize,
                                             x.strides[-2:])


def _check_out(op, xp, out, shape, dtype, inputs):
    _checks.result_shape(op, "out", out.shape, shape)
    _checks.same_dtype(op, result=dtype, out=out.dtype)
    if xp is np and not out.flags.writeable:
        raise ValueError(message(op, "out is read-only"))
    if out.size and any(st == 0 and s > 1 for st, s in zip(out.strides, out.shape)):
        raise ValueError(message(
            op, "out has overlapping elements (a zero stride); pass a writable array "
                "with one element per result"))
    for name, x in inputs:
        if x is not None and xp.may_share_memory(out, x):
            raise ValueError(message(
                op, f"out overlaps {name}; the result would read its own output "
                    "(out may be c itself, with the same shape and strides)"))


def _validate(op, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream):
    """Every check of :func:`batched_gemm` (and of a plan's construction).

    Returns ``(xp, a, b, c, out, trans_a, trans_b, compute, out_dtype, shape)`` with the
    arrays converted to the path's kind and ``compute`` resolved.
    """
    _checks.array_operand(op, "a", a)
    _checks.array_operand(op, "b", b)
    if c is not None:
        _checks.array_operand(op, "c", c)
    if out is not None:
        _checks.array_operand(op, "out", out)
    trans_a = _checks.flag(op, "trans_a", trans_a)
    trans_b = _checks.flag(op, "trans_b", trans_b)
    _backend.check_stream(op, stream)
    xp, (a, b, c, out) = get_array_module(op, a, b, c, out)
    _checks.dtype_in(op, "a", a.dtype, _dtypes.GEMM_INPUT_DTYPES)
    _checks.same_dtype(op, a=a.dtype, b=b.dtype)
    if c is not None and out is not None:
        _checks.same_dtype(op, c=c.dtype, out=out.dtype)
    result = out if out is not None else c
    compute, out_dtype = _dtypes.gemm_precision(
        op, a.dtype, compute, None if result is None else result.dtype)
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
        _check_out(op, xp, out, shape, out_dtype,
                   [("a", a), ("b", b)] + ([] if same_as_c else [("c", c)]))
    return xp, a, b, c, out, trans_a, trans_b, compute, out_dtype, shape


def _gemm(op, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream):
    """Validate, then run the cached plan for these shapes, strides and options (built on
    first use); shared by batched_gemm and matmul."""
    compute_arg = compute
    xp, a, b, c, out, trans_a, trans_b, compute, out_dtype, shape = _validate(
        op, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream)
    stream = _backend.as_stream(op, stream, xp)
    core = _plans.cached_core(xp, a, b, c, out, beta, trans_a, trans_b, compute_arg, compute,
                              out_dtype, shape)
    return core.run(a, b, c, out, alpha, beta, stream)


def _data_ptr(x):
    if isinstance(x, np.ndarray):  # x.data (a buffer) fails for bfloat16 arrays
        return x.__array_interface__["data"][0]
    return x.data.ptr


_COMMON_NOTES = """
    Accuracy (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.5): every element
    satisfies ``|D - D_exact| <= gamma_{K+2} (|alpha| |op(A)| |op(B)| + |beta| |C|)`` with
    ``gamma_n = n u / (1 - n u)`` and ``u`` the unit roundoff of the accumulation: 2**-53
    (float64), 2**-24 (float32, and float16/bfloat16 inputs, whose products are exact in
    float32). ``compute='tf32'`` first rounds each operand to 10 mantissa bits (relative
    2**-11), the dominant error for moderate K. A float16/bfloat16 ``out`` adds one final
    rounding. The GPU kernels and the CPU path sum in different orders and agree to these
    bounds, not bit for bit.

    The GPU path launches on the current CuPy stream (or ``stream``) and does not
    synchronize; the CPU path is NumPy's ``matmul`` with the same operand rounding.
"""

_PRECISION_TABLE = """
    =========  ====================  ==================  ================================
    a, b       compute               result (default)    where it runs on the GPU
    =========  ====================  ==================  ================================
    float64    'float64'             float64             CUDA cores, FP64 FMA
    float32    'float32' (default)   float32             CUDA cores, FP32 FMA
    float32    'tf32'                float32             tensor cores, TF32 operands
    float16    'float32'             float32 (or f16)    tensor cores, FP32 accumulation
    bfloat16   'float32'             float32 (or bf16)   tensor cores, FP32 accumulation
    =========  ====================  ==================  ================================
"""

# The result dtypes of matmul (NumPy's rule) and batched_gemm (its precision table), side
# by side in both docstrings.
_RESULT_DTYPES = """
    ==================  ======================================  ==========================
    a, b                matmul (numpy.matmul's rule)            batched_gemm
    ==================  ======================================  ==========================
    float64             float64                                 float64
    float32             float32                                 float32
    float16             float16: FP32 accumulation (tensor      float32; float16 when
                        cores), rounded once at the end         ``out``/``c`` is float16
    bfloat16            bfloat16, likewise                      float32; bfloat16 likewise
    float32, float64    float64 (``numpy.result_type``; the     TypeError: cast one first
                        float32 operand is cast first)
    any other dtype     the array library's ``matmul``          TypeError
                        (bool, integers, complex, object)
    ==================  ======================================  ==========================
"""


def batched_gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
                 out=None, compute=None, stream=None):
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

    stream : cupy.cuda.Stream, int or object with ``__cuda_stream__``, optional
        GPU path only: the stream to launch on (default: CuPy's current stream); an
        integer ``cudaStream_t`` handle or a CUDA-stream-protocol object (e.g.
        ``torch.cuda.Stream``) is wrapped as ``ExternalStream``. Must be None with
        host (NumPy) arrays (``ValueError``).

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
    ``blasfast._gemm_config``): for ``max(M, N, K) <= 32`` one thread per element of C with
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
    r = _plans.fast_call(a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream)
    if r is not _plans.MISS:  # a cached plan ran: only what can change was checked
        return r
    if _dask.any_dask(a, b, c, out):  # a lazy Dask array, mapped over the blocks
        return _dask.batched_gemm(batched_gemm, a, b, c, alpha, beta, trans_a, trans_b, out,
                                  compute, stream)
    if isinstance(a, (list, tuple)):
        return _gemm_list("batched_gemm", a, b, c, alpha, beta, trans_a, trans_b, out,
                          compute, stream)
    return _gemm("batched_gemm", a, b, c, alpha, beta, trans_a, trans_b, out, compute,
                 stream)


batched_gemm.__doc__ = batched_gemm.__doc__.replace("{notes}", _COMMON_NOTES).replace(
    "{table}", _PRECISION_TABLE.strip().replace("\n    ", "\n        ")).replace(
    "{dtypes}", _RESULT_DTYPES.strip().replace("\n    ", "\n        "))


def _gemm_list(op, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream):
    """The pointer-array form: lists of same-shape matrices, one launch (via vbatched)."""
    from ._vbatched import _gemm_vbatched

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


# numpy.matmul's ufunc keywords that matmul takes, at the values it implements.
_UFUNC_KEYWORDS = {
    "casting": ("same_kind",),  # the operands and out are cast under NumPy's default
    "order": ("K", "C"),        # results are allocated C-contiguous
    "subok": (True, False),     # results are never ndarray subclasses
    "axes": (None,),            # the last two axes
}


def _ufunc_keywords(op, kwargs):
    """Accept numpy.matmul's keywords at the values matmul implements; refuse the rest."""
    for name, value in kwargs.items():
        allowed = _UFUNC_KEYWORDS.get(name)
        if allowed is None:
            raise TypeError(message(
                op, f"got an unexpected keyword argument {name!r}; of numpy.matmul's "
                    "keywords blasfast.matmul takes out and dtype, and casting, order, "
                    "subok and axes at the values it implements"))
        if not any(value is v or (type(value) is type(v) and value == v) for v in allowed):
            raise ValueError(message(
                op, f"{name} must be {' or '.join(map(repr, allowed))} (the values of "
                    f"numpy.matmul's {name} that blasfast.matmul implements), got "
                    f"{_checks.describe(value)}"))


def _library_matmul(op, xp, a, b, out, dtype, compute, stream):
    """A dtype our kernels do not compute: the array library's own matmul (numpy.matmul,
    cupy.matmul, or the emulator's, which is NumPy's on the emulated memory)."""
    if compute is not None:
        if not isinstance(compute, str):
            _dtypes.gemm_precision(op, _dtypes.float64, compute)  # the TypeError
        what = "a and b" if dtype is None else "dtype"
        raise ValueError(message(
            op, f"compute must be None when the result is not float64, float32, float16 or "
                f"bfloat16 ({what} give {_result_name(a, b, dtype)}, "
                f"computed by {xp.__name__}.matmul), got {compute!r}"))
    kw = {} if dtype is None else {"dtype": dtype}
    with _backend.stream_context(op, stream, xp):
        return xp.matmul(a, b, **kw) if out is None else xp.matmul(a, b, out=out, **kw)


def _result_name(a, b, dtype):
    if dtype is not None:
        return np.dtype(dtype).name
    try:
        return np.result_type(a.dtype, b.dtype).name
    except TypeError:
        return f"no common dtype of {a.dtype} and {b.dtype}"


def _cast_into(op, xp, out, r, result):
    """Write ``r`` (of dtype ``result``) into ``out`` of another dtype, as NumPy casts a
    ufunc's output (``casting='same_kind'``)."""
    if not np.can_cast(result, out.dtype, "same_kind"):
        raise TypeError(message(
            op, f"out must have a dtype that the {result.name} result can be cast to with "
                f"casting='same_kind', got {out.dtype.name} (Cannot cast ufunc 'matmul' "
                f"output from {result!r} to {out.dtype!r} with casting rule 'same_kind')"))
    xp.copyto(out, r, casting="same_kind")


def matmul(a, b, out=None, *, dtype=None, compute=None, stream=None, **kwargs):
    """Matrix product with :func:`numpy.matmul`'s semantics: its shapes and result dtypes.

    A drop-in for ``numpy.matmul`` and ``cupy.matmul``. A 1-D ``a`` is a row vector and a
    1-D ``b`` a column vector, and the added dimension is removed from the result (two 1-D
    operands give a scalar: a NumPy scalar on the CPU path, a 0-d array on the GPU path, as
    CuPy returns); batch dimensions broadcast. The result dtype is NumPy's
    (``numpy.result_type`` of the operands, or ``dtype``), where :func:`batched_gemm` keeps
    a precision table of its own:

    {dtypes}

    float64, float32, float16 and bfloat16 results are computed by our kernels (an operand
    of another dtype is cast to the result dtype first, never mixed inside a kernel); any
    other result dtype by the array library's own ``matmul`` (``numpy.matmul``,
    ``cupy.matmul``, or the CUDA emulator's, which is NumPy's on emulated memory), so
    that replacing ``cupy.matmul`` with ``bf.matmul`` never breaks a program.

    Parameters
    ----------
    a : (..., M, K) or (K,) array
        Any dtype. A NumPy array or nested list (CPU path), or a device array as for
        :func:`batched_gemm` (GPU path), or a ``dask.array.Array`` (a lazy Dask array
        back, computed blockwise over the batch; ``out`` and ``stream`` must be None).
    b : (..., K, N) or (K,) array
        Same kind as ``a``, any dtype.
    out : array of the result's shape, optional
        Where to write the result; positional too, as in NumPy (``matmul(a, b, out)``), or
        a 1-tuple ``(out,)``. Any dtype the result casts to under ``casting='same_kind'``.
        With the result dtype (or float32 for float16/bfloat16 operands: the FP32
        accumulation unrounded) the kernel writes it in place, any strides; otherwise the
        result is computed in its dtype and cast into ``out``, as NumPy does. ``out`` may
        overlap ``a`` or ``b``: the product is then computed first and copied in.
    dtype : dtype, optional
        The result dtype (NumPy's ``dtype=``); both operands are cast to it (each must
        cast under ``casting='same_kind'``).
    compute : {None, 'float64', 'float32', 'tf32'}
        The arithmetic for the result dtype, as for :func:`batched_gemm` (``'tf32'`` for a
        float32 result); None for results our kernels do not compute.
    stream : cupy.cuda.Stream, int or object with ``__cuda_stream__``, optional
        GPU path only, as for :func:`batched_gemm`; the casts run on it too.
    **kwargs
        numpy.matmul's other keywords at the values ``bf.matmul`` implements:
        ``casting='same_kind'``, ``order='K'`` or ``'C'`` (results are C-contiguous),
        ``subok`` True or False (results are never subclasses), ``axes=None``.

    Returns
    -------
    (..., M, N) array, same kind as ``a``
        Fewer dimensions for 1-D operands: a NumPy scalar of the result dtype for two 1-D
        host operands (a 0-d array on the GPU path). ``out`` when given.

    Raises
    ------
    ValueError
        A 0-d operand (a Python or NumPy scalar, a 0-d array) or a K mismatch, as in NumPy;
        an ``out`` of another shape (a "non-broadcastable output operand", in NumPy's
        words) or read-only; a ``compute`` not valid for the result dtype; a NumPy keyword
        at a value not implemented; an ``out`` or a ``stream`` with Dask arrays;
        otherwise as :func:`batched_gemm`.
    TypeError
        An operand or ``out`` that is not an array (None, a string); an ``out`` the result
        cannot be cast to, or a ``dtype`` an operand cannot be cast to, under
        ``casting='same_kind'`` (the message has NumPy's ``Cannot cast ufunc 'matmul' ...``
        text); an unknown keyword; host and device arrays in one call.

    Notes
    -----
    NumPy's ``MatmulCommon`` and ``TestMatmul`` test classes pass against this function
    (``tests/test_matmul_numpy.py``). Where it differs from ``numpy.matmul``: bfloat16
    operands give bfloat16, their ``numpy.result_type`` (``numpy.matmul`` itself returns
    float32, as ml_dtypes registers no matmul loop); a float32 ``out`` for float16/bfloat16
    operands receives the FP32 accumulation unrounded (NumPy rounds to float16 first);
    float32 products are computed as :func:`batched_gemm` computes them, to its error
    bound, not bit for bit as NumPy's BLAS.
    {notes}
    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> bf.matmul(np.ones((2, 3)), np.ones(3))
    array([3., 3.])
    >>> h = np.ones((2, 3), np.float16)
    >>> bf.matmul(h, h.T).dtype                # numpy.matmul's dtype: FP32 accumulation
    dtype('float16')
    >>> bf.batched_gemm(h, h, trans_b=True).dtype   # batched_gemm's table
    dtype('float32')
    >>> bf.matmul(np.ones(3, np.float32), np.ones(3))   # float32 @ float64: a float64 scalar
    np.float64(3.0)
    >>> bf.matmul(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64))  # numpy.matmul's
    array([[2, 2],
           [2, 2]])
    """
    op = "matmul"
    if _dask.any_dask(a, b, out):  # a lazy Dask array, mapped over the blocks
        return _dask.matmul(matmul, a, b, out, dtype, compute, stream, kwargs)
    if kwargs:
        _ufunc_keywords(op, kwargs)
    if type(out) is tuple and len(out) == 1:  # NumPy's out=(array,) form
        out = out[0]
    operands = []
    for name, x in (("a", a), ("b", b)):
        if isinstance(x, (int, float, complex, np.generic)) or getattr(x, "ndim", None) == 0:
            raise ValueError(message(op, f"operands must be at least 1-D (as in numpy.matmul): "
                                         f"{name} is {_checks.describe(x)}"))
        if isinstance(x, (list, tuple)):  # numpy.matmul takes nested lists of numbers
            x = _host_operand(op, name, x)
        _checks.array_operand(op, name, x)
        operands.append(x)
    a, b = operands
    if out is not None and not (isinstance(out, np.ndarray) or _backend.is_device_array(out)):
        _checks.array_operand(op, "out", out)  # a 0-d array is the result of two 1-D ones
    _backend.check_stream(op, stream)
    xp, (a, b, out) = get_array_module(op, a, b, out)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch, m, n, _ = _checks.gemm_shapes(op, a2.shape, b2.shape)
    shape = batch + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    if out is not None and tuple(out.shape) != shape:
        raise ValueError(message(
            op, f"out must have shape {shape}, the result's, got {tuple(out.shape)} (a "
                "non-broadcastable output operand)"))
    result, kernel = _dtypes.matmul_dtypes(op, a.dtype, b.dtype, dtype)
    if kernel is None:
        return _library_matmul(op, xp, a, b, out, dtype, compute, stream)
    if kernel != result and compute not in (None, "float32"):
        kernel = result  # e.g. 'tf32' for a float32 result of float16 operands: cast them
    if out is not None:
        if xp is np and not out.flags.writeable:
            raise ValueError(message(op, "out is read-only"))
        direct = (out.dtype == result or out.dtype == _dtypes.float32
                  and kernel in _dtypes.HALF_DTYPES)
        if not direct or xp.may_share_memory(out, a) or xp.may_share_memory(out, b):
            r = matmul(a, b, dtype=dtype, compute=compute, stream=stream)
            with _backend.stream_context(op, stream, xp):
                _cast_into(op, xp, out, r, result)
            return out
    with _backend.stream_context(op, stream, xp):
        if a2.dtype != kernel:
            a2 = a2.astype(kernel)
        if b2.dtype != kernel:
            b2 = b2.astype(kernel)
        if out is not None:
            d = out
            if a.ndim == 1:
                d = d[..., None, :] if b.ndim > 1 else d[..., None, None]
            elif b.ndim == 1:
                d = d[..., None]
            _gemm(op, a2, b2, None, 1.0, 0.0, False, False, d, compute, None)
            return out
        d = None
        if result in _dtypes.HALF_DTYPES:  # batched_gemm's default would be float32
            d = xp.empty(batch + (m, n), result)
        r = _gemm(op, a2, b2, None, 1.0, 0.0, False, False, d, compute, None)
    if a.ndim == 1:
        r = r[..., 0, :]
    if b.ndim == 1:
        r = r[..., 0]
        if a.ndim == 1 and xp is np:
            return r[()]  # numpy.matmul of two vectors: a NumPy scalar
    return r


def _host_operand(op, name, x):
    """A nested list of numbers as a NumPy array (numpy.matmul's conversion)."""
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(message(
            op, f"{name} must be an array or a nested list of numbers, got "
                f"{_checks.describe(x)} ({exc})")) from None


matmul.__doc__ = matmul.__doc__.replace("{notes}", _COMMON_NOTES).replace(
    "{dtypes}", _RESULT_DTYPES.strip())


from . import _plan as _plans  # noqa: E402  (the plans build on the helpers above)
