"""Dask arrays in, Dask arrays out: every op applied blockwise over its batch dimensions.

A public op whose array arguments include a :class:`dask.array.Array` (of NumPy, CuPy or
emulated chunks) returns a Dask array and computes nothing: its first line hands the call
here. Each function below

1. validates the arguments with the op's own checks, on zero-size arrays of the chunk type
   (or on shapes alone where the op has no zero-size form), so a bad call fails at graph
   build with the op's message, and learns the result's dtype and core shape;
2. rechunks every *core* dimension (the matrix dimensions of a GEMM or a solve, the
   transformed axes of an FFT, C, H, W of a convolution input, every dimension of the
   filters) to a single chunk, keeping the batch dimensions' chunks;
3. maps the eager op over the blocks (:func:`dask.array.apply_gufunc` or
   :meth:`dask.array.Array.map_blocks`); the op picks its CPU or GPU path from each
   block's type. Batch dimensions broadcast as in NumPy.

:func:`blasfast.conv2d_wgrad` sums its blocks' filter gradients instead (a reduction over
N). Ops with no blockwise form (``lu_factor``/``lu_solve``, whose factors are a record;
``gemm_vbatched``, whose one launch takes pointers; ``BatchedGemm``, which holds its
operands) refuse Dask arrays with a ``TypeError`` (:func:`refuse`) rather than computing
them into one array.

Not supported with Dask arrays (a ``ValueError`` naming the op): ``out=``, ``stream=``
(the scheduler decides where and when blocks run), ``overwrite_b=True`` and
``return_info=True`` in :func:`blasfast.solve` (the info of a lazy result would itself be
lazy; compute the blocks eagerly when the per-system record is needed).

Nothing here imports Dask unless a Dask array was passed (:func:`any_dask` only looks at
``sys.modules``).
"""

import functools
import sys

import numpy as np

from . import _backend, _checks
from ._errors import message

__all__ = ["any_dask"]


def any_dask(*values):
    """True when any of ``values`` is a :class:`dask.array.Array` (never imports Dask: with
    ``dask.array`` not yet imported no value can be one)."""
    mod = sys.modules.get("dask.array")
    cls = getattr(mod, "Array", None)
    if cls is None:
        return False
    return any(isinstance(v, cls) for v in values)


def _da():
    import dask.array as da

    return da


def _namespace(x):
    """The array module of a Dask array's chunks (numpy, cupy or the emulator's)."""
    meta = getattr(x, "_meta", x)
    if isinstance(meta, np.ndarray) or not _backend.is_device_array(meta):
        return np
    return _backend.array_module(meta)


def _refuse(op, name, value, what):
    if value is not None and value is not False:
        raise ValueError(message(
            op, f"{name} must be {what} with Dask arrays (the result is a lazy Dask array "
                f"that Dask's scheduler computes block by block), got "
                f"{_checks.describe(value)}"))


def _as_dask(values):
    """Arrays that are not Dask arrays become one-chunk Dask arrays; everything else
    (None, scalars, lists: the op refuses those) passes unchanged."""
    da = _da()
    out = []
    for v in values:
        if (v is not None and not isinstance(v, da.Array) and hasattr(v, "shape")
                and hasattr(v, "dtype") and getattr(v, "ndim", 0) > 0):
            v = da.from_array(v, chunks=tuple(max(1, s) for s in v.shape),
                              asarray=False, meta=v[(slice(0, 0),) * v.ndim])
        out.append(v)
    return out


def _probe(x, shape, xp):
    """A stand-in for ``x`` of ``shape`` (zero-size wherever the op allows): an array of the
    chunk type and ``x``'s dtype; non-arrays pass unchanged, for the op to refuse."""
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        return x
    return xp.zeros(shape, x.dtype)


def _stand_in(x, ncore, xp):
    """``x``'s probe: a zero-length batch dimension before its ``ncore`` core dimensions
    (its real shape when it has fewer, so that the op sees and refuses that)."""
    if not hasattr(x, "shape") or len(x.shape) < ncore:
        return _probe(x, getattr(x, "shape", ()), xp)
    return _probe(x, (0,) + tuple(x.shape[len(x.shape) - ncore:]), xp)


def _single_core(x, ncore):
    """``x`` with its last ``ncore`` dimensions in one chunk each (batch chunks kept)."""
    if ncore == 0:
        return x
    return x.rechunk({ax: -1 for ax in range(x.ndim - ncore, x.ndim)})


def _scalarless(func):
    """Blocks must be arrays: a NumPy scalar result (``matmul`` of two vectors) becomes 0-d."""
    @functools.wraps(func)
    def run(*blocks):
        r = func(*blocks)
        return np.asarray(r) if isinstance(r, np.generic) else r
    return run


def _gufunc(op, func, operands, names, ncores, out_core, dtype, xp):
    """``func`` over the blocks of ``operands`` (Dask arrays, or None: dropped from the call
    and passed to ``func`` as None), each with its last ``ncores[i]`` dimensions as core
    dimensions; the result has core shape ``out_core`` and ``dtype``."""
    da = _da()
    present = [i for i, x in enumerate(operands) if x is not None]
    arrays = [_single_core(operands[i], ncores[i]) for i in present]
    batches = [x.shape[:x.ndim - ncores[i]] for i, x in zip(present, arrays)]
    batch = _checks.broadcast_batch(op, [names[i] for i in present], batches)
    # one chunking per batch dimension (a length-1 dimension broadcasts as it is)
    nb = len(batch)
    pairs = []
    for i, x in zip(present, arrays):
        lead = x.ndim - ncores[i]
        pairs += [x, tuple(f"b{nb - lead + j}" for j in range(lead))
                  + tuple(f"c{i}.{j}" for j in range(ncores[i]))]
    arrays = list(da.core.unify_chunks(*pairs)[1])
    dims = iter(f"d{j}" for j in range(sum(ncores) + len(out_core)))  # all distinct: the
    # op checked the core sizes; a shared name would make Dask compare them again
    ins = ["(" + ",".join(next(dims) for _ in range(ncores[i])) + ")" for i in present]
    outs = [next(dims) for _ in out_core]
    signature = ",".join(ins) + "->(" + ",".join(outs) + ")"

    def call(*blocks):
        full = [None] * len(operands)
        for i, blk in zip(present, blocks):
            full[i] = blk
        return func(*full)

    meta = xp.empty((0,) * (len(batch) + len(out_core)), dtype)
    return da.apply_gufunc(_scalarless(call), signature, *arrays,
                           output_sizes=dict(zip(outs, out_core)), meta=meta)


def _known_sizes(op, **arrays):
    """Refuse Dask arrays of unknown chunk sizes (NaN, after boolean indexing): the
    convolutions' geometry needs every size at graph build."""
    for name, x in arrays.items():
        if x is not None and any(s != s for s in getattr(x, "shape", ())):  # NaN
            raise ValueError(message(
                op, f"{name} must have known chunk sizes, got shape {tuple(x.shape)}; call "
                    f"{name}.compute_chunk_sizes() first"))


def _empty_block(block, shape, dtype):
    """An empty result block of the kind of ``block`` (a zero-length chunk along N, which
    the eager op refuses: it has no images)."""
    xp = np if isinstance(block, np.ndarray) else _backend.array_module(block)
    return xp.zeros(shape, dtype)


def _chunk_xp(op, *values):
    """The array module of the Dask arrays' chunks and of the other arrays among
    ``values``: all must agree (host and device arrays are not mixed, as in every op)."""
    kinds = {_namespace(v) for v in values if hasattr(v, "dtype") and hasattr(v, "shape")}
    if len(kinds) > 1:
        raise TypeError(message(
            op, "all arrays (and Dask arrays' chunks) must live on the same side, got "
                + " and ".join(sorted(k.__name__ for k in kinds)) + " arrays"))
    return kinds.pop()


# ---------------------------------------------------------------------------------------
# GEMM
# ---------------------------------------------------------------------------------------

def batched_gemm(func, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream):
    """:func:`blasfast.batched_gemm` on Dask arrays (``func`` is the eager op)."""
    op = "batched_gemm"
    _refuse(op, "out", out, "None")
    _refuse(op, "stream", stream, "None")
    xp = _chunk_xp(op, a, b, c)
    a, b, c = _as_dask((a, b, c))
    kw = dict(alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b, compute=compute)
    r = func(_stand_in(a, 2, xp), _stand_in(b, 2, xp),
             _probe(c, getattr(c, "shape", ()), xp) if getattr(c, "ndim", 0) <= 2
             else _stand_in(c, 2, xp), **kw)  # c: one matrix (or less) as it is
    m, n = r.shape[-2:]
    if c is not None:  # c broadcasts to (..., M, N): give it those core dimensions
        # its batch dimensions too, as the eager op checks (the stand-ins have none)
        batch = _checks.broadcast_batch(op, ("a", "b"), (a.shape[:-2], b.shape[:-2]))
        _checks.broadcastable_to(op, "c", c.shape, batch + (m, n))
        c = _da().broadcast_to(c, tuple(c.shape[:-2]) + (m, n))
    return _gufunc(op, lambda a, b, c: func(a, b, c, **kw), [a, b, c], ("a", "b", "c"),
                   [2, 2, 2], (m, n), r.dtype, xp)


def matmul(func, a, b, out, dtype, compute, stream, kwargs):
    """:func:`blasfast.matmul` on Dask arrays (``func`` is the eager op)."""
    op = "matmul"
    if type(out) is tuple and len(out) == 1:  # NumPy's out=(array,) form
        out = out[0]
    _refuse(op, "out", out, "None")
    _refuse(op, "stream", stream, "None")
    xp = _chunk_xp(op, a, b)
    if isinstance(a, (list, tuple)):
        a = np.asarray(a)
    if isinstance(b, (list, tuple)):
        b = np.asarray(b)
    a, b = _as_dask((a, b))
    nc = [min(2, getattr(x, "ndim", 0)) for x in (a, b)]
    kw = dict(kwargs, dtype=dtype, compute=compute)
    r = func(*[_stand_in(x, 2, xp) if k == 2 else _probe(x, getattr(x, "shape", ()), xp)
               for x, k in zip((a, b), nc)], **kw)  # a vector keeps its length, not 0
    out_core = ((a.shape[-2],) if nc[0] == 2 else ()) + ((b.shape[-1],) if nc[1] == 2 else ())
    return _gufunc(op, lambda a, b: func(a, b, **kw), [a, b], ("a", "b"), nc, out_core,
                   np.asarray(r).dtype, xp)


# ---------------------------------------------------------------------------------------
# Convolution
# ---------------------------------------------------------------------------------------

def conv2d(func, x, w, bias, stride, padding, dilation, algorithm, w_winograd, stream):
    """:func:`blasfast.conv2d` on Dask arrays, blockwise over N (``func`` is the eager op):
    validated on shapes and dtypes (the op refuses N = 0, so there is no zero-size probe)."""
    from .conv import _algorithm, _args
    from .conv._geom import make_geom

    op = "conv2d"
    _refuse(op, "stream", stream, "None")
    _known_sizes(op, x=x, w=w, bias=bias, w_winograd=w_winograd)
    xp = _chunk_xp(op, x, w, bias, w_winograd)
    x, w, bias, w_winograd = _as_dask((x, w, bias, w_winograd))
    _args.arrays(op, x=x, w=w, **{k: v for k, v in (("bias", bias), ("w_winograd", w_winograd))
                                  if v is not None})
    dtype = _args.check_dtypes(op, x=x, w=w, bias=bias)
    geom = make_geom(op, x.shape, w.shape, stride, padding, dilation)
    _args.check_bias(op, bias, geom.K)
    _algorithm.choose(op, algorithm, geom, w_winograd is not None, gpu=xp is not np)
    if w_winograd is not None:
        _args.check_u(op, w_winograd, geom.K, geom.C, dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, algorithm=algorithm)
    core = (geom.K, geom.P, geom.Q)

    def block(x, w, b, u):
        if x.shape[0] == 0:
            return _empty_block(x, (0,) + core, dtype)
        return func(x, w, b, w_winograd=u, **kw)

    return _gufunc(op, block, [x, w, bias, w_winograd], ("x", "w", "bias", "w_winograd"),
                   [3, 4, 1, 4], core, dtype, xp)


def conv2d_dgrad(func, dy, w, x_shape, stride, padding, dilation, algorithm, w_winograd,
                 stream):
    """:func:`blasfast.conv2d_dgrad` on Dask arrays, blockwise over N: each block of ``dy``
    gives the same block of ``dx`` (``x_shape``'s N is the block's)."""
    from .conv import _algorithm, _args
    from .conv._geom import make_geom

    op = "conv2d_dgrad"
    _refuse(op, "stream", stream, "None")
    _known_sizes(op, dy=dy, w=w, w_winograd=w_winograd)
    xp = _chunk_xp(op, dy, w, w_winograd)
    dy, w, w_winograd = _as_dask((dy, w, w_winograd))
    _args.arrays(op, dy=dy, w=w, **({} if w_winograd is None else {"w_winograd": w_winograd}))
    dtype = _args.check_dtypes(op, dy=dy, w=w)
    geom = make_geom(op, x_shape, w.shape, stride, padding, dilation, x_name="x_shape")
    _args.check_dy(op, dy, geom)
    _algorithm.choose(op, algorithm, geom, w_winograd is not None, forward_only=True,
                      gpu=xp is not np)
    if w_winograd is not None:
        _args.check_u(op, w_winograd, geom.K, geom.C, dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, algorithm=algorithm)
    rest = tuple(geom.x_shape[1:])

    def block(dy, w, u):
        if dy.shape[0] == 0:
            return _empty_block(dy, (0,) + rest, dtype)
        return func(dy, w, (dy.shape[0],) + rest, w_winograd=u, **kw)

    return _gufunc(op, block, [dy, w, w_winograd], ("dy", "w", "w_winograd"), [3, 4, 4], rest,
                   dtype, xp)


def conv2d_wgrad(func, x, dy, w_shape, stride, padding, dilation, algorithm, stream):
    """:func:`blasfast.conv2d_wgrad` on Dask arrays: a tree sum over N of each block's
    filter gradient. The blocks of 16-bit inputs are computed in float32 (their values are
    exact there) and the sum is rounded once, as the eager op's FP32 accumulation is."""
    from .conv import _algorithm, _args
    from .conv._geom import make_geom

    op = "conv2d_wgrad"
    _refuse(op, "stream", stream, "None")
    _known_sizes(op, x=x, dy=dy)
    xp = _chunk_xp(op, x, dy)
    x, dy = _as_dask((x, dy))
    _args.arrays(op, x=x, dy=dy)
    dtype = _args.check_dtypes(op, x=x, dy=dy)
    geom = make_geom(op, x.shape, w_shape, stride, padding, dilation, w_name="w_shape")
    _args.check_dy(op, dy, geom)
    _algorithm.choose(op, algorithm, geom, forward_only=True, gpu=xp is not np)
    work = np.dtype(np.float32) if dtype.itemsize == 2 else dtype
    kw = dict(stride=stride, padding=padding, dilation=dilation, algorithm=algorithm)
    shape = tuple(geom.w_shape)

    def block(x, dy):
        if x.shape[0] == 0:  # no images: no contribution
            return _empty_block(x, (1,) + shape, work)
        return func(x.astype(work, copy=False), dy.astype(work, copy=False), shape, **kw)[None]

    da = _da()
    x, dy = _single_core(x, 3), _single_core(dy, 3)
    _, (x, dy) = da.core.unify_chunks(x, "nchw", dy, "nkpq")
    partial = da.blockwise(block, "nabcd", x, "nchw", dy, "nkpq", dtype=work,
                           new_axes=dict(zip("abcd", shape)), adjust_chunks={"n": 1},
                           concatenate=True, meta=xp.empty((0,) * 5, work))
    return partial.sum(axis=0, dtype=work).astype(dtype)


def winograd_filter_transform(func, w, stream):
    """:func:`blasfast.winograd_filter_transform` on a Dask array, blockwise over K."""
    from .conv import _args

    op = "winograd_filter_transform"
    _refuse(op, "stream", stream, "None")
    xp = _chunk_xp(op, w)
    (w,) = _as_dask((w,))
    _args.arrays(op, w=w)
    _args.check_dtypes(op, w=w)
    _args.check_3x3_filters(op, w)
    da = _da()
    w = _single_core(w, 3)
    return da.blockwise(lambda b: func(b), "xykc", w, "kcrs", dtype=w.dtype,
                        new_axes={"x": 4, "y": 4}, concatenate=True,
                        meta=xp.empty((0,) * 4, w.dtype))


def refuse(op, *values, why):
    """A TypeError for an op that takes no Dask arrays (``why``: what to do instead), when
    one is among ``values``: the op would otherwise compute it into one array."""
    if any_dask(*values):
        raise TypeError(message(op, f"Dask arrays are not supported ({why}); compute them "
                                    "first (.compute()) to run eagerly"))


# ---------------------------------------------------------------------------------------
# FFT
# ---------------------------------------------------------------------------------------

def transform(op, func, kind, a, lengths, axes, norm, precision, stream, one_d):
    """A :mod:`blasfast.fft` transform of a Dask array: the transformed axes in one chunk
    each, the op mapped over the blocks with its own arguments (axis numbers are unchanged).

    ``kind`` is 'c2c', 'r2c' or 'c2r'; ``one_d`` says ``lengths``/``axes`` are the 1-D
    ops' ``n``/``axis``."""
    from .fft import _args

    _refuse(op, "stream", stream, "None")
    _args._operand(op, "a", a)
    if one_d:
        ax = _args._axis(op, "axis", axes, a.ndim)
        s = None if lengths is None else [_args._length(op, "n", lengths)]
        cooked_axes, cooked = _args._cook_nd(op, a.shape, s, [ax], real=_real(kind))
    else:
        cooked_axes, cooked = _args._cook_nd(op, a.shape, lengths, axes, real=_real(kind))
    ctype, rtype, single = _args._working_dtypes(op, a.dtype, real_only=kind == "r2c")
    _args._check_norm(op, norm)
    _args._routes(op, precision, single, cooked)
    shape = list(a.shape)  # the lengths in the order the op transforms (repeated axes)
    if kind == "c2c":  # the last axis first
        for ax, n in reversed(list(zip(cooked_axes, cooked))):
            shape[ax] = n
    elif kind == "r2c":  # the real (last) axis first, to n // 2 + 1 points
        shape[cooked_axes[-1]] = cooked[-1] // 2 + 1
        for ax, n in zip(cooked_axes[:-1], cooked[:-1]):
            shape[ax] = n
    else:  # c2r: the complex axes first, the real one last
        for ax, n in zip(cooked_axes[:-1], cooked[:-1]):
            shape[ax] = n
        shape[cooked_axes[-1]] = cooked[-1]
    x = a.rechunk({ax: -1 for ax in set(cooked_axes)})
    chunks = tuple((shape[i],) if i in cooked_axes else c for i, c in enumerate(x.chunks))
    dtype = rtype if kind == "c2r" else ctype
    xp = _namespace(a)
    if one_d:
        block = functools.partial(func, n=lengths, axis=axes, norm=norm, precision=precision)
    else:
        block = functools.partial(func, s=lengths, axes=axes, norm=norm, precision=precision)
    return x.map_blocks(block, chunks=chunks, dtype=dtype, meta=xp.empty((0,) * a.ndim, dtype))


def _real(kind):
    return None if kind == "c2c" else kind


def fftconvolve(func, in1, in2, mode, axes, precision, stream):
    """:func:`blasfast.fft.fftconvolve` of Dask arrays: the convolved axes moved last and
    made single chunks, the other axes broadcast blockwise (``func`` is the eager op)."""
    from .fft import _args, _conv

    op = "fftconvolve"
    _refuse(op, "stream", stream, "None")
    da = _da()
    xp = _chunk_xp(op, in1, in2)
    in1 = _args._operand(op, "in1", in1, allow_0d=True)
    in2 = _args._operand(op, "in2", in2, allow_0d=True)
    in1, in2 = _as_dask((in1, in2))
    in1, in2 = (v if isinstance(v, da.Array) else da.asarray(v) for v in (in1, in2))
    _checks.choice(op, "mode", mode, _conv._MODES)
    dtype, _ = _conv._common_dtype(op, in1.dtype, in2.dtype, precision)
    if in1.ndim == in2.ndim == 0:
        return in1 * in2
    if in1.ndim != in2.ndim:
        raise ValueError(message(op, f"in1 and in2 should have the same dimensionality, got "
                                     f"{in1.ndim} and {in2.ndim}"))
    conv_axes = _conv._conv_axes(op, in1.ndim, axes)
    s1, s2 = in1.shape, in2.shape
    if in1.size == 0 or in2.size == 0:
        return da.from_array(xp.zeros((0,), dtype), chunks=(1,), asarray=False)
    effective = [ax for ax in conv_axes if s1[ax] != 1 and s2[ax] != 1]
    others = [ax for ax in range(in1.ndim) if ax not in conv_axes]
    if not all(s1[ax] == s2[ax] or 1 in (s1[ax], s2[ax]) for ax in others):
        raise ValueError(message(op, f"incompatible shapes for in1 and in2: {s1} and {s2}"))
    if mode == "valid" and effective and not (all(s1[ax] >= s2[ax] for ax in effective)
                                            or all(s2[ax] >= s1[ax] for ax in effective)):
        raise ValueError(message(op, "for 'valid' mode, one input must be at least as large "
                                     "as the other along every convolved axis, got in1 of "
                                     f"shape {s1} and in2 of shape {s2}"))
    # an axis where 'same' keeps in1's length 1 against in2's longer one is no batch axis
    # (its output is one element, not one per block): convolve over it too (a length-1
    # axis broadcasts inside the op whether it is convolved or not)
    core = conv_axes + [ax for ax in others if mode == "same" and s1[ax] == 1 < s2[ax]]
    out_core = []
    for ax in core:
        n1, n2 = s1[ax], s2[ax]
        out_core.append({"full": n1 + n2 - 1, "same": n1, "valid": abs(n1 - n2) + 1}[mode])
    k = len(core)
    moved = [da.moveaxis(v, core, list(range(v.ndim - k, v.ndim))) for v in (in1, in2)]
    last = list(range(-k, 0))
    r = _gufunc(op, lambda p, q: func(p, q, mode=mode, axes=last, precision=precision),
                moved, ("in1", "in2"), [k, k], tuple(out_core), dtype, xp)
    return da.moveaxis(r, list(range(r.ndim - k, r.ndim)), core)


# ---------------------------------------------------------------------------------------
# Solvers
# ---------------------------------------------------------------------------------------

def solve(func, a, b, kwargs):
    """:func:`blasfast.solve` of Dask stacks, blockwise over the batch (``func`` is the eager
    op). The caller's :func:`blasfast.solvers.errstate` is captured at graph build and
    applied to every block (it is thread-local, and blocks run on the scheduler's
    threads)."""
    from .solvers import _errstate

    op = "solve"
    _refuse(op, "return_info", kwargs.get("return_info"),
            "False (the SolveInfo of a lazy result is not available before it is computed; "
            "call blasfast.solve on computed blocks for it)")
    _refuse(op, "overwrite_b", kwargs.get("overwrite_b"), "False")
    _refuse(op, "stream", kwargs.get("stream"), "None")
    xp = _chunk_xp(op, a, b)
    a, b = _as_dask((a, b))
    vector = getattr(b, "ndim", 0) == getattr(a, "ndim", 0) - 1
    nb = 1 if vector else 2
    r = func(_stand_in(a, 2, xp), _stand_in(b, nb, xp), **kwargs)
    mode = _errstate.geterr()["linalg"]
    n = a.shape[-1]
    out_core = (n,) if vector else (n, b.shape[-1])

    def block(a, b):
        with _errstate.errstate(linalg=mode):
            return func(a, b, **kwargs)

    return _gufunc(op, block, [a, b], ("a", "b"), [2, nb], out_core, r.dtype, xp)
