"""Variable-size batched GEMM: ``D_i = alpha * op(A_i) @ op(B_i) + beta * C_i`` for lists of
matrices of different sizes, in one kernel launch.

Three layers, as everywhere in blasfast:

* :func:`gemm_vbatched` (public): validate the lists (shapes, dtypes, overlaps), allocate
  the results, dispatch by array kind;
* :func:`_gemm_vbatched_nocheck` (GPU launcher): packs per-matrix sizes, pointers and
  strides into one int64 array (:func:`_gather`, :func:`_pack`, pure host arithmetic),
  uploads it in one copy and launches one kernel; it trusts its inputs. ``batched_gemm``
  also routes lists of same-shape matrices (the pointer-array form) through it;
* ``kernels/gemm_vbatched.cu``: the kernel, built on the shared tile ``gemm_tile_simt``.

It imports no other module of the package but :mod:`._cpu` (the CPU path) and
:mod:`._args` (for the ``compute`` annotation).
"""

import dataclasses
from collections.abc import Sequence

import numpy as np

from .. import _backend, _checks, _dask
from .._dtypes import (COMPUTE, CTYPE, GEMM_INPUT_DTYPES, bfloat16, float16, float32,
                      gemm_precision)
from .._docs import STREAM_PARAM
from .._errors import message
from .._typing import Array, ArrayLike, Real, StreamLike
from ..kernels import _compile
from ._args import Compute
from ._cpu import _gemm_cpu_product
from .._interop import callers_kind as _callers_kind

__all__ = ["gemm_vbatched"]

_OP = "gemm_vbatched"
_MAX_GRID_Y = 65535
_MAX_GRID_Z = 65535

# The record of one matrix in the packed argument array: field -> position. Must match
# `enum VbField` in kernels/gemm_vbatched.cu (tests/test_gemm_vbatched.py compares them).
_FIELDS = {"M": 0, "N": 1, "K": 2,
           "A": 3, "SAM": 4, "SAK": 5,
           "B": 6, "SBK": 7, "SBN": 8,
           "C": 9, "SCM": 10, "SCN": 11,
           "D": 12, "SDM": 13, "SDN": 14}
_RECORD = 16  # VB_FIELDS: 15 fields and one spare, 128 bytes per matrix


@dataclasses.dataclass(frozen=True)
class _Tile:
    """A thread block computes a ``bm x bn`` tile of D, ``bk`` columns of op(A) at a time;
    each thread owns a ``tm x tn`` micro-tile (see kernels/gemm_simt.cuh)."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self):
        return (self.bm // self.tm) * (self.bn // self.tn)


@dataclasses.dataclass(frozen=True)
class _Variant:
    """The kernel's type parameters for one (input dtype, compute, result dtype)."""

    tin: str
    tacc: str
    tout: str
    tf32: bool

    def name_expression(self, tile):
        return (f"gemm_vbatched<{self.tin}, {self.tacc}, {self.tout}, {tile.bm}, {tile.bn}, "
                f"{tile.bk}, {tile.tm}, {tile.tn}, {'true' if self.tf32 else 'false'}>")


def _variant(in_dtype, compute, out_dtype):
    in_dtype, out_dtype = np.dtype(in_dtype), np.dtype(out_dtype)
    tacc = "double" if in_dtype == np.float64 else "float"
    return _Variant(CTYPE[in_dtype], tacc, CTYPE[out_dtype], compute == "tf32")


# Every (input dtype, compute, result dtype) gemm_precision allows.
_VARIANTS = [_variant(dt, comp, out)
             for dt in GEMM_INPUT_DTYPES for comp in COMPUTE[dt]
             for out in ((float32, dt) if dt in (float16, bfloat16) else (dt,))]

# (accumulation type, size class) -> tile. The size class is max(M_i, N_i) over the whole
# list: "small" <= 32, "large" above. One table for sm_80 and sm_90 for now.
_SMALL = 32
_TILES = {
    ("float", "small"): _Tile(16, 16, 16, 1, 1),
    ("float", "large"): _Tile(64, 64, 16, 4, 4),
    ("double", "small"): _Tile(16, 16, 16, 1, 1),
    ("double", "large"): _Tile(64, 64, 8, 4, 4),
}

_compile.declare("gemm_vbatched", "gemm_vbatched.cu",
                 [v.name_expression(_TILES[(v.tacc, cls)])
                  for v in _VARIANTS for cls in ("small", "large")])


def _size_class(max_m, max_n):
    return "small" if max(max_m, max_n) <= _SMALL else "large"


def _address(x):
    """Address of element [0, 0] (CuPy: ``x.data.ptr``; NumPy: the array interface)."""
    if isinstance(x, np.ndarray):  # not x.data: a memoryview fails for bfloat16
        return x.__array_interface__["data"][0]
    return x.data.ptr


def _gather(a_list, b_list, c_list, d_list, trans_a, trans_b):
    """Sizes, element strides and addresses of every matrix with a non-empty result.

    ``c_list`` None means C is not read: D's address and strides are passed in its place.
    A ``c_list[i]`` that broadcasts to ``(M_i, N_i)`` gets zero strides on broadcast axes.
    Works on NumPy and CuPy arrays alike (only shapes, strides and addresses are read).

    Returns
    -------
    shapes : (count, 3) int64 array
        ``M, N, K`` per matrix.
    strides : (count, 8) int64 array
        ``sam, sak, sbk, sbn, scm, scn, sdm, sdn`` in elements, for op(A), op(B), C, D.
    pointers : (count, 4) int64 array
        Addresses of A, B, C, D.
    """
    shapes, strides, pointers = [], [], []
    for i, (a, b, d) in enumerate(zip(a_list, b_list, d_list)):
        m, n = d.shape
        if m == 0 or n == 0:
            continue
        k = a.shape[0] if trans_a else a.shape[1]
        ia, ib, idd = a.itemsize, b.itemsize, d.itemsize
        sa = (a.strides[1] // ia, a.strides[0] // ia) if trans_a else \
             (a.strides[0] // ia, a.strides[1] // ia)
        sb = (b.strides[1] // ib, b.strides[0] // ib) if trans_b else \
             (b.strides[0] // ib, b.strides[1] // ib)
        sd = (d.strides[0] // idd, d.strides[1] // idd)
        if c_list is None:
            c, sc = d, sd
        else:
            c = c_list[i]
            sc = _broadcast_strides(c.shape, c.strides, (m, n), c.itemsize)
        shapes.append((m, n, k))
        strides.append(sa + sb + sc + sd)
        pointers.append((_address(a), _address(b), _address(c), _address(d)))
    as_array = lambda rows, w: np.array(rows, np.int64).reshape(len(rows), w)  # noqa: E731
    return as_array(shapes, 3), as_array(strides, 8), as_array(pointers, 4)


def _broadcast_strides(shape, strides, target, itemsize):
    """Element strides of an array of ``shape`` broadcast to the 2-D ``target``."""
    pad = 2 - len(shape)
    shape, strides = (1,) * pad + tuple(shape), (0,) * pad + tuple(strides)
    return tuple(0 if s == 1 and t != 1 else st // itemsize
                 for s, st, t in zip(shape, strides, target))


def _pack(shapes, strides, pointers):
    """The kernel's argument array: one record of ``_RECORD`` int64 per matrix.

    Pure arithmetic on the outputs of :func:`_gather`; field positions are ``_FIELDS``.
    """
    count = len(shapes)
    rec = np.zeros((count, _RECORD), np.int64)
    f = _FIELDS
    rec[:, [f["M"], f["N"], f["K"]]] = shapes
    rec[:, [f["SAM"], f["SAK"], f["SBK"], f["SBN"],
            f["SCM"], f["SCN"], f["SDM"], f["SDN"]]] = strides
    rec[:, [f["A"], f["B"], f["C"], f["D"]]] = pointers
    return rec.ravel()


def _grid(shapes, tile):
    """The launch grid: tiles of the largest M and N, one z slot per matrix up to 65535."""
    max_m, max_n = (int(v) for v in shapes[:, :2].max(axis=0))
    return (-(-max_m // tile.bm), -(-max_n // tile.bn), min(len(shapes), _MAX_GRID_Z))


def _launch_config(shapes, tacc):
    """Tile and grid for the matrices in ``shapes`` (from :func:`_gather`, non-empty)."""
    max_m, max_n = (int(v) for v in shapes[:, :2].max(axis=0))
    tile = _TILES[(tacc, _size_class(max_m, max_n))]
    return tile, _grid(shapes, tile)


def _gemm_vbatched_nocheck(a_list, b_list, c_list, d_list, alpha, beta, trans_a, trans_b,
                           compute):
    """Launch one kernel: ``d_list[i] = alpha * op(a_list[i]) @ op(b_list[i]) + beta *
    c_list[i]`` for every ``i``, on CuPy arrays.

    ``a_list``/``b_list``: 2-D arrays of one input dtype; ``c_list``: None or arrays of
    ``d_list``'s dtype broadcastable to each ``d_list[i]``; ``d_list``: preallocated 2-D
    results (float32 or the input dtype for float16/bfloat16 inputs, else the input dtype),
    not overlapping any operand other than an identical ``c_list[i]``. Any element strides
    (multiples of the itemsize), so transposes and views are read in place. ``compute`` is
    one of ``_dtypes.COMPUTE[dtype]`` (None: the default).

    The per-matrix records are packed on the host and uploaded in one host-to-device copy
    (CuPy's pinned staging buffer, asynchronous on the current stream); the maximum M and N
    that size the grid are known on the host, so there is no device-to-host copy and no
    synchronization. Launches on the current CuPy stream; returns ``d_list``.
    """
    cupy = _backend.array_module(d_list[0])

    if c_list is None or beta == 0:
        c_list, beta = None, 0.0  # the kernel never reads C when beta == 0
    shapes, strides, pointers = _gather(a_list, b_list, c_list, d_list, trans_a, trans_b)
    if len(shapes) == 0:
        return d_list
    in_dtype = a_list[0].dtype
    compute = COMPUTE[np.dtype(in_dtype)][0] if compute is None else compute
    variant = _variant(in_dtype, compute, d_list[0].dtype)
    tile, grid = _launch_config(shapes, variant.tacc)
    if grid[1] > _MAX_GRID_Y:
        raise ValueError(message(_OP, f"N = {int(shapes[:, 1].max())} needs more than "
                                      f"{_MAX_GRID_Y} column tiles of {tile.bn}"))
    kernel = _compile.get_function("gemm_vbatched", variant.name_expression(tile))
    args = cupy.asarray(_pack(shapes, strides, pointers))  # the one host-to-device copy
    scalar = np.float64 if variant.tacc == "double" else np.float32
    kernel(grid, (tile.threads,), (np.int64(len(shapes)), args, scalar(alpha), scalar(beta)))
    return d_list


# --- the CPU path ------------------------------------------------------------------------

# --- validation --------------------------------------------------------------------------

def _as_list(op, name, x, optional):
    if x is None and optional:
        return None
    if not isinstance(x, (list, tuple)):
        raise TypeError(message(op, f"{name} must be a list or tuple of 2-D arrays, got "
                                     f"{type(x).__name__}"))
    return list(x)


def _to_one_kind(op, groups):
    """Check that every array is on one side (host or device); convert them. Returns
    ``(xp, groups)`` with the same structure, lists converted to NumPy / CuPy arrays."""
    first = None
    for name, items in groups:
        for i, x in enumerate(items or ()):
            _checks.array_operand(op, f"{name}[{i}]", x)
            dev = _backend.is_device_array(x)
            if first is None:
                first = (f"{name}[{i}]", dev, type(x).__name__)
            elif dev != first[1]:
                side = lambda d: "a GPU array" if d else "a host array"  # noqa: E731
                raise TypeError(message(
                    op, f"all arrays must live on the same side: {first[0]} is "
                         f"{side(first[1])} ({first[2]}) but {name}[{i}] is {side(dev)} "
                         f"({type(x).__name__}); move one with cupy.asarray or "
                         "cupy.asnumpy first"))
    if first[1]:
        emulated = [_backend.is_emulated(x) for _, items in groups for x in items or ()]
        if any(emulated) and not all(emulated):
            raise TypeError(message(op, "got emulated device arrays (blasfast.emulator) "
                                         "together with CUDA arrays"))
        xp = _backend._emulator() if any(emulated) else _backend._real_cupy()
        conv = lambda x: _backend._to_cupy(op, x)  # noqa: E731
    else:
        xp, conv = np, np.asarray
    return xp, [None if items is None else [conv(x) for x in items] for _, items in groups]


def _extent(x):
    """Byte interval ``[lo, hi)`` spanned by array ``x``, or None when it is empty."""
    if x.size == 0:
        return None
    lo = hi = _address(x)
    for s, st in zip(x.shape, x.strides):
        if st < 0:
            lo += st * (s - 1)
        else:
            hi += st * (s - 1)
    return lo, hi + x.itemsize


def _check_overlaps(op, a_list, b_list, c_list, out):
    """Raise if an output overlaps an input or another output (bounds-based, like
    ``numpy.may_share_memory``). ``out[i]`` may be ``c_list[i]`` itself (same address,
    shape and strides). A sort and one sweep: O(n log n) for n matrices."""
    spans = []
    for name, items in (("a_list", a_list), ("b_list", b_list), ("c_list", c_list),
                        ("out", out)):
        for i, x in enumerate(items or ()):
            if name == "c_list" and (x.shape == out[i].shape and x.strides == out[i].strides
                                     and _address(x) == _address(out[i])):
                continue  # the BLAS in-place update C := alpha*A@B + beta*C
            e = _extent(x)
            if e is not None:
                spans.append((e[0], e[1], name == "out", f"{name}[{i}]"))
    spans.sort(key=lambda s: s[0])
    top_out = top_any = None  # the span reaching furthest so far: among outputs, among all
    for lo, hi, is_out, label in spans:
        other = top_any if is_out else top_out
        if other is not None and other[0] > lo:
            first, second = (label, other[1]) if is_out else (other[1], label)
            raise ValueError(message(
                op, f"{first} overlaps {second}; the result would read or write memory "
                     "another matrix uses (out[i] may be c_list[i] itself, with the same "
                     "shape and strides)"))
        if top_any is None or hi > top_any[0]:
            top_any = (hi, label)
        if is_out and (top_out is None or hi > top_out[0]):
            top_out = (hi, label)


def _check_scalars(op, alpha, beta):
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise TypeError(message(op, f"{name} must be a real number, got "
                                         f"{type(v).__name__}"))


def _validate(op, xp, a_list, b_list, c_list, out, trans_a, trans_b, compute):
    """Shapes, dtypes, out arrays and overlaps. Returns ``(sizes, compute, out_dtype)``."""
    for name, items in (("a_list", a_list), ("b_list", b_list), ("out", out)):
        for i, x in enumerate(items or ()):
            if x.ndim != 2:
                raise ValueError(message(op, f"{name}[{i}] must be 2-D (rows, cols), got "
                                              f"shape {x.shape}"))
    in_dtype = _checks.dtype_in(op, "a_list[0]", a_list[0].dtype, GEMM_INPUT_DTYPES)
    for name, items in (("a_list", a_list), ("b_list", b_list)):
        for i, x in enumerate(items):
            if x.dtype != in_dtype:
                raise TypeError(message(
                    op, f"every matrix of a_list and b_list must have one dtype: a_list[0] "
                         f"is {in_dtype.name} but {name}[{i}] is {x.dtype.name}; cast "
                         "explicitly (blasfast never mixes precisions silently)"))
    given, given_name = ((out[0].dtype, "out[0]") if out else
                         (c_list[0].dtype, "c_list[0]") if c_list else (None, None))
    compute, out_dtype = gemm_precision(op, in_dtype, compute, given, given_name)
    for name, items in (("c_list", c_list), ("out", out)):
        for i, x in enumerate(items or ()):
            if x.dtype != out_dtype:
                raise TypeError(message(
                    op, f"{name}[{i}] must have the result dtype {out_dtype.name}, got "
                         f"{x.dtype.name}"))
    sizes = []
    for i, (a, b) in enumerate(zip(a_list, b_list)):
        m, ka = (a.shape[1], a.shape[0]) if trans_a else a.shape
        kb, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
        if ka != kb:
            raise ValueError(message(
                op, f"a_list[{i}] and b_list[{i}] must agree on K (a's "
                     f"{'rows' if trans_a else 'columns'}, b's "
                     f"{'columns' if trans_b else 'rows'}), got shapes {a.shape} and "
                     f"{b.shape}"))
        for name, v in (("M", m), ("N", n), ("K", ka)):
            if v >= 2**31:
                raise ValueError(message(op, f"item {i}: {name} = {v} exceeds the 32-bit "
                                              "limit 2**31 - 1"))
        if c_list is not None:
            _checks.broadcastable_to(op, f"c_list[{i}]", c_list[i].shape, (m, n))
        if out is not None:
            _checks.result_shape(op, f"out[{i}]", out[i].shape, (m, n))
        sizes.append((m, n))
    for i, x in enumerate(out or ()):
        if xp is np and not x.flags.writeable:
            raise ValueError(message(op, f"out[{i}] is read-only"))
        if x.size and any(st == 0 and s > 1 for st, s in zip(x.strides, x.shape)):
            raise ValueError(message(
                op, f"out[{i}] has overlapping elements (a zero stride); pass a writable "
                     "array with one element per result"))
    if out is not None:
        _check_overlaps(op, a_list, b_list, c_list, out)
    if xp is not np:  # the kernel addresses elements: strides and addresses must align
        for name, items in (("a_list", a_list), ("b_list", b_list), ("c_list", c_list),
                            ("out", out)):
            for i, x in enumerate(items or ()):
                if x.size and (_address(x) % x.itemsize
                               or any(st % x.itemsize for st in x.strides)):
                    raise ValueError(message(
                        op, f"{name}[{i}] is not aligned to its itemsize {x.itemsize} "
                             f"(strides {x.strides}); pass a copy"))
    return sizes, compute, out_dtype


# --- the public function -----------------------------------------------------------------

@_callers_kind
def gemm_vbatched(a_list: Sequence[ArrayLike], b_list: Sequence[ArrayLike],
                  c_list: Sequence[ArrayLike] | None = None, *, alpha: Real = 1.0,
                  beta: Real = 0.0, trans_a: bool = False, trans_b: bool = False,
                  out: Sequence[Array] | None = None, compute: Compute | None = None,
                  stream: StreamLike = None) -> list[Array]:
    """Variable-size batched matrix multiply, ``alpha * op(A_i) @ op(B_i) + beta * C_i``.

    For every item ``i`` of the lists, with its own sizes ``M_i``, ``N_i``, ``K_i``::

        D_i = alpha * op(A_i) @ op(B_i) + beta * C_i,   op(X) = X or X.T

    On the GPU all items are computed by one kernel launch.

    Parameters
    ----------
    a_list : list or tuple of (M_i, K_i) arrays, float16, bfloat16, float32 or float64
        Left operands, ``(K_i, M_i)`` when ``trans_a``; 2-D only, all of one dtype and one
        kind: NumPy arrays (CPU path) or CuPy / ``__cuda_array_interface__`` / DLPack CUDA
        arrays (GPU path), never mixed. Any strides: transposed or non-contiguous views are
        read in place, never copied.
    b_list : list or tuple of (K_i, N_i) arrays, same dtype and kind as ``a_list``
        Right operands, ``(N_i, K_i)`` when ``trans_b``. Same length as ``a_list``.
    c_list : list or tuple of arrays broadcastable to (M_i, N_i), optional
        Accumulators, in the result dtype. Not read when ``beta == 0`` (BLAS semantics:
        NaN/Inf in them do not reach the result). Never modified unless also in ``out``.
    alpha, beta : float
        Scalars shared by all items, converted to the accumulation precision.
    trans_a, trans_b : bool
        Use the transpose of every ``A_i`` / ``B_i``.
    out : list or tuple of (M_i, N_i) arrays, optional
        Where to write the results, same kind. ``out[i]`` may be ``c_list[i]`` itself
        (in-place update, as in BLAS) but must not overlap any other operand or output.
    compute : {None, 'float64', 'float32', 'tf32'}, optional
        The precision (default: the first for the dtype): float64 inputs compute in
        float64; float32 inputs in float32 or, with ``'tf32'``, with operands rounded to
        TF32 (10-bit mantissa) and float32 accumulation; float16 and bfloat16 inputs are
        multiplied with float32 accumulation.
    {stream}

    Returns
    -------
    list of (M_i, N_i) arrays
        Same kind as the inputs; ``out``'s arrays when given (the same objects). The dtype
        is the input dtype, except for float16/bfloat16 inputs: float32, or the input dtype
        when ``out`` (else ``c_list``) has it -- then the float32 result is rounded once at
        the end. ``M_i = 0`` or ``N_i = 0`` gives an empty array, ``K_i = 0`` gives
        ``beta * C_i`` (or zeros); empty lists give ``[]``.

    Raises
    ------
    TypeError
        Arguments that are not lists, an item that is not an array (``out=[None]``, a
        nested list, a Dask array: one launch takes pointers to arrays in memory),
        non-bool ``trans_a``/``trans_b``, a ``compute`` that is not a string, a
        ``stream`` that is not a CUDA stream, an unsupported dtype, mixed dtypes (the
        message names the item), ``c_list``/``out`` not in the result dtype, non-real
        ``alpha``/``beta``, or host and device arrays in one call (naming the two items).
    ValueError
        Lists of different lengths, items that are not 2-D, K mismatch in item ``i``,
        ``c_list[i]`` that does not broadcast to ``(M_i, N_i)``, ``out[i]`` of the wrong
        shape, read-only or with overlapping elements, an output that overlaps an operand
        or another output, an invalid ``compute``, or (GPU) an array not aligned to its
        itemsize.
    blasfast.KernelCompileError
        If the CUDA kernel fails to compile (GPU path, first call per device).

    Notes
    -----
    Flops: ``sum_i 2 * M_i * N_i * K_i``. GPU algorithm: the host packs, per matrix, one
    128-byte record of sizes, pointers and element strides into one int64 array and
    uploads it in one host-to-device copy; one launch over a grid sized by the largest
    ``M_i`` and ``N_i`` (tile chosen by ``max(M_i, N_i)``: <= 32 or larger) and
    ``min(count, 65535)`` in z, each block walking the matrices and skipping those its tile
    does not reach. The maxima are known on the host, so nothing is read back and the call
    does not synchronize the device; it launches on the current CuPy stream (or
    ``stream``). The results of one call are views into one device allocation. The
    per-item validation is host work linear in the number of items.

    Accuracy: each element is a length-``K_i`` dot product accumulated in float64 or
    float32, so ``|D_i - exact| <= gamma_{K_i+2} (|alpha| |A_i| |B_i| + |beta| |C_i|)``
    with ``gamma_n = n u / (1 - n u)`` and ``u`` the accumulation's unit roundoff (2^-53,
    2^-24); TF32 adds the operand rounding (about ``2 * 2^-11`` relative) and a float16 or
    bfloat16 result its final rounding. The GPU and CPU paths sum in different orders and
    agree to that bound, not bit for bit. The CPU path is NumPy's ``matmul`` per item with
    the same semantics (operands converted to float32, or rounded to TF32, first).

    References
    ----------
    MAGMA ``magmablas_Xgemm_vbatched`` (arrays of sizes and pointers, maximum sizes from
    the caller, no synchronization); A. Abdelfattah, A. Haidar, S. Tomov, J. Dongarra,
    "On the development of variable size batched computation for heterogeneous parallel
    architectures", IPDPSW 2016.

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> rng = np.random.default_rng(0)
    >>> a = [rng.standard_normal((m, k)) for m, k in [(2, 3), (4, 1), (5, 5)]]
    >>> b = [rng.standard_normal((k, n)) for k, n in [(3, 6), (1, 2), (5, 5)]]
    >>> [d.shape for d in bf.gemm_vbatched(a, b)]
    [(2, 6), (4, 2), (5, 5)]
    >>> bool(np.allclose(bf.gemm_vbatched(a, b, alpha=2.0)[0], 2 * a[0] @ b[0]))
    True
    """
    return _gemm_vbatched(_OP, a_list, b_list, c_list, alpha, beta, trans_a, trans_b, out,
                          compute, stream)


if gemm_vbatched.__doc__ is not None:  # None under python -OO
    gemm_vbatched.__doc__ = gemm_vbatched.__doc__.replace("{stream}", STREAM_PARAM)


def _gemm_vbatched(op, a_list, b_list, c_list, alpha, beta, trans_a, trans_b, out, compute,
                   stream):
    """:func:`gemm_vbatched` with its errors naming ``op`` (``batched_gemm`` routes its
    pointer-array form here)."""
    for arg in (a_list, b_list, c_list, out):  # else a Dask item is computed in _as_list
        if type(arg) in (list, tuple):
            _dask.refuse(op, *arg, why="one launch takes pointers to arrays in memory")
    a_list = _as_list(op, "a_list", a_list, False)
    b_list = _as_list(op, "b_list", b_list, False)
    c_list = _as_list(op, "c_list", c_list, True)
    out = _as_list(op, "out", out, True)
    for name, items in (("b_list", b_list), ("c_list", c_list), ("out", out)):
        if items is not None and len(items) != len(a_list):
            raise ValueError(message(op, f"a_list and {name} must have the same length, got "
                                         f"{len(a_list)} and {len(items)}"))
    _check_scalars(op, alpha, beta)
    trans_a = _checks.flag(op, "trans_a", trans_a)
    trans_b = _checks.flag(op, "trans_b", trans_b)
    _backend.check_stream(op, stream)
    if not a_list:
        return []
    xp, (a_list, b_list, c_list, out) = _to_one_kind(
        op, [("a_list", a_list), ("b_list", b_list), ("c_list", c_list), ("out", out)])
    sizes, compute, out_dtype = _validate(op, xp, a_list, b_list, c_list, out, trans_a,
                                          trans_b, compute)
    if xp is np:
        _backend.as_stream(op, stream, xp)  # a stream with host arrays is an error
        return [_gemm_cpu_product(a, b, None if c_list is None else c_list[i], alpha, beta,
                                  trans_a, trans_b, compute, out_dtype,
                                  None if out is None else out[i])
                for i, (a, b) in enumerate(zip(a_list, b_list))]
    d_list = out if out is not None else _alloc(xp, sizes, out_dtype)
    stream = _backend.as_stream(op, stream, xp)
    if stream is None:
        return _gemm_vbatched_nocheck(a_list, b_list, c_list, d_list, alpha, beta, trans_a,
                                      trans_b, compute)
    with stream:
        return _gemm_vbatched_nocheck(a_list, b_list, c_list, d_list, alpha, beta, trans_a,
                                      trans_b, compute)


def _alloc(xp, sizes, dtype):
    """The results as views into one allocation (one allocator call for any count)."""
    buf = xp.empty(sum(m * n for m, n in sizes), dtype)
    views, off = [], 0
    for m, n in sizes:
        views.append(buf[off:off + m * n].reshape(m, n))
        off += m * n
    return views
