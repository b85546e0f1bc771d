"""Configured launches and their cache: what :func:`blasfast.batched_gemm` and
:class:`blasfast.BatchedGemm` run.

A :class:`_Core` is one configured batched GEMM: everything that depends only on the
operands' kind, shapes, strides and dtypes and on the options -- on the GPU path the
kernel, tile, grid, folded batch strides and the launch's argument list; on the CPU path
the precision steps.

:func:`blasfast.batched_gemm` runs on it through a small LRU cache (``CACHE_SIZE``
entries) that maps (array kind, shapes, strides, dtypes of every operand, ``beta == 0``,
``trans_a``, ``trans_b``, ``compute``, device) to a :class:`_Core`, so that a repeated
call re-checks only what the key does not pin (that ``out`` overlaps no operand and is
writable) and never re-validates or re-plans. Calls whose arguments are not exact NumPy /
CuPy / emulated arrays, plain bools and Python numbers take the full validation every time
(and still reuse the cached configuration). :class:`blasfast.BatchedGemm`
(:mod:`._plan`) holds one :class:`_Core` of its own.
"""

import collections
import threading

import numpy as np

from .. import _backend
from .._dtypes import round_to_tf32
from ..kernels import _compile
from . import _config, _tc
from ._launch import _batched_gemm_nocheck, _gemm_plan

#: Returned by :func:`fast_call` when the cached path does not apply.
MISS = object()
#: How many configurations :func:`blasfast.batched_gemm` keeps (least recently used out).
CACHE_SIZE = 64

_NUMPY, _EMULATOR, _CUPY = 0, 1, 2
_KIND_NAMES = {_NUMPY: "NumPy (CPU path)", _EMULATOR: "emulated device (CUDA emulator)",
               _CUPY: "CuPy (CUDA device)"}
# Array type -> kind; device types are added when the first call of that kind validates.
_KIND = {np.ndarray: _NUMPY}
_REAL = (float, int)
_cache = collections.OrderedDict()
_cache_lock = threading.Lock()
#: Counters for tests and the benchmark: configurations built, cached calls served.
stats = {"built": 0, "hits": 0}


def _kind_of(xp):
    if xp is np:
        return _NUMPY
    return _EMULATOR if xp is _backend._emulator() else _CUPY


def _device_id(kind):
    """The current CUDA device for CuPy (kernels are compiled per device), else 0."""
    if kind == _CUPY:
        return _backend._real_cupy().cuda.runtime.getDevice()
    return 0


def _emulated_may_share_memory(x, y):
    """``blasfast.emulator.may_share_memory`` less its argument unwrapping: the bounds
    check on the host views (``_a``) of emulated arrays, which is what it computes."""
    return np.may_share_memory(x._a, y._a)


_SHARE = {_NUMPY: np.may_share_memory, _EMULATOR: _emulated_may_share_memory}


def _signature(x):
    return None if x is None else (x.shape, x.strides, x.dtype)


def _key(kind, a, b, c, out, beta, trans_a, trans_b, compute):
    return (type(a), a.shape, a.strides, a.dtype, b.shape, b.strides, b.dtype,
            None if c is None else (c.shape, c.strides, c.dtype),
            None if out is None else (out.shape, out.strides, out.dtype),
            beta == 0, trans_a, trans_b, compute, _device_id(kind))


def fast_call(a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream):
    """:func:`blasfast.batched_gemm` through a cached configuration, or :data:`MISS`.

    Applies only to exact array types of one kind already seen, bool flags, Python-number
    scalars and a string (or None) ``compute``; then the key pins everything the full
    validation checked except ``out``'s overlaps and writability, checked here.
    """
    ta = type(a)
    kind = _KIND.get(ta)
    if (kind is None or type(b) is not ta or trans_a.__class__ is not bool
            or trans_b.__class__ is not bool or alpha.__class__ not in _REAL
            or beta.__class__ not in _REAL or (c is not None and type(c) is not ta)
            or (out is not None and type(out) is not ta)
            or (compute is not None and compute.__class__ is not str)
            or (stream is not None and (kind == _NUMPY
                                        or not _backend._is_stream_object(stream)))):
        return MISS
    key = (ta, a.shape, a.strides, a.dtype, b.shape, b.strides, b.dtype,
           None if c is None else (c.shape, c.strides, c.dtype),
           None if out is None else (out.shape, out.strides, out.dtype),
           beta == 0, trans_a, trans_b, compute, 0 if kind != _CUPY else _device_id(kind))
    core = _cache.get(key)
    if core is None or (out is not None and not core.out_is_free(a, b, c, out)):
        return MISS
    try:
        _cache.move_to_end(key)
    except KeyError:  # evicted by another thread meanwhile: still a valid configuration
        pass
    stats["hits"] += 1
    return core.run(a, b, c, out, alpha, beta, stream)


def cached_core(xp, a, b, c, out, beta, trans_a, trans_b, compute_arg, compute, out_dtype,
                shape):
    """The configuration for validated operands, from the cache or built (and cached)."""
    kind = _kind_of(xp)
    _KIND.setdefault(type(a), kind)
    key = _key(kind, a, b, c, out, beta, trans_a, trans_b, compute_arg)
    core = _cache.get(key)
    if core is None:
        core = _Core(xp, a, b, c, out, beta == 0, trans_a, trans_b, compute, out_dtype, shape)
        with _cache_lock:
            _cache[key] = core
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return core


def clear_cache():
    """Forget every cached configuration (the next call of each key re-plans)."""
    with _cache_lock:
        _cache.clear()


def _broadcast_element_strides(x, target):
    """Element strides of ``x`` broadcast to ``target`` (as ``broadcast_to``: zero on
    broadcast dimensions)."""
    pad = len(target) - x.ndim
    shape, strides = (1,) * pad + tuple(x.shape), (0,) * pad + tuple(x.strides)
    return [0 if s == 1 and t != 1 else st // x.itemsize
            for s, st, t in zip(shape, strides, target)]


def _c_strides(shape):
    """Element strides of a C-contiguous array of ``shape`` (what ``empty`` returns)."""
    out, acc = [], 1
    for s in reversed(shape):
        out.append(acc)
        acc *= max(int(s), 1)
    return out[::-1]


def candidate_tiles(prec, m, n, k):
    """The tiles of the configuration tables that can run this problem, each a declared
    instantiation: the small-matrix tiles whose DIM covers ``max(m, n, k)``, then the
    CUDA-core tiles of the precision (FP64/FP32) or its tensor-core tiles (FP16/BF16/TF32),
    less those with more column tiles than grid y holds."""
    big = max(m, n, k)
    tiles = [t for dim, t in sorted(_config.SMALL_TILES.items()) if big <= dim]
    kind = _tc.tc_kind(prec.in_dtype, prec.compute)
    if kind is None:
        tiles += [t for (c, _), t in _config.SIMT_TILES.items() if c == prec.compute]
    else:
        tiles += [t for (c, _), t in _tc.TC_TILES.items() if c == kind]
    out = []
    for t in tiles:
        declared = _compile.families()[t.family].name_expressions
        if (t not in out and t.kernel_name(prec) in declared
                and n <= _config.MAX_GRID_Y * getattr(t, "bn", n)):
            out.append(t)
    return out


class _Core:
    """One configured batched GEMM: everything that depends only on the key.

    ``run(a, b, c, out, alpha, beta, stream)`` trusts that its arrays match the key; on the
    GPU path it launches with a prebuilt argument list, on the CPU path it is NumPy's matmul
    with the precision semantics of :func:`blasfast.gemm._cpu._gemm_cpu_product`.
    """

    def __init__(self, xp, a, b, c, out, beta_zero, trans_a, trans_b, compute, out_dtype,
                 shape, tile=None):
        stats["built"] += 1
        self.xp, self.kind = xp, _kind_of(xp)
        self.shape, self.out_dtype, self.compute = shape, out_dtype, compute
        self.trans_a, self.trans_b = trans_a, trans_b
        self.c_read = c is not None and not beta_zero
        self.m, self.n = shape[-2:]
        self.k = a.shape[-2] if trans_a else a.shape[-1]
        self.prec = _config.Precision(a.dtype, out_dtype, compute)
        self.tile = None
        self.share = _SHARE[self.kind] if self.kind != _CUPY else xp.may_share_memory
        if self.kind == _NUMPY:
            self._init_cpu(a.dtype)
        else:
            self._init_gpu(a, b, c, out, tile)

    # ------------------------------------------------------------------ CPU path
    def _init_cpu(self, in_dtype):
        acc = np.dtype(np.float64) if in_dtype == np.float64 else np.dtype(np.float32)
        self._acc, self._acc_type = acc, acc.type
        self._tf32 = self.compute == "tf32"
        self._cast = not self._tf32 and in_dtype != acc
        self._cast_out = self.out_dtype != acc
        self.run = self._run_cpu

    def _run_cpu(self, a, b, c, out, alpha, beta, stream=None):
        # The arithmetic of _cpu._gemm_cpu_product, step for step.
        if self._tf32:
            a, b = round_to_tf32(a), round_to_tf32(b)
        elif self._cast:
            a, b = a.astype(self._acc), b.astype(self._acc)
        r = np.matmul(a.swapaxes(-1, -2) if self.trans_a else a,
                      b.swapaxes(-1, -2) if self.trans_b else b)
        if alpha != 1:
            r *= self._acc_type(alpha)
        if self.c_read:
            r += self._acc_type(beta) * c.astype(self._acc, copy=False)
        if self._cast_out:
            with np.errstate(over="ignore"):  # a 16-bit result overflows to Inf, as on the GPU
                r = r.astype(self.out_dtype)
        if out is None:
            return r
        np.copyto(out, r)
        return out

    # ------------------------------------------------------------------ GPU path
    def _init_gpu(self, a, b, c, out, tile):
        shape, m, n, k = self.shape, self.m, self.n, self.k
        self._no_launch = any(s == 0 for s in shape)
        self._general = False
        self.run = self._run_gpu
        if self._no_launch:
            return
        prec = self.prec
        self.tile = tile = tile or _config.select(prec, m, n, k)
        batch = shape[:-2]
        sd = _c_strides(shape) if out is None else _broadcast_element_strides(out, shape)
        strides = [_broadcast_element_strides(a, batch + a.shape[-2:]),
                   _broadcast_element_strides(b, batch + b.shape[-2:]),
                   _broadcast_element_strides(c, shape) if self.c_read else sd, sd]
        plan = _gemm_plan(batch, strides, self.trans_a, self.trans_b)
        if (n > _config.MAX_GRID_Y * getattr(tile, "bn", n) or len(plan.offsets) != 1
                or any(plan.offsets[0])):
            # Column ranges, or batch dimensions that fold into more than two: several
            # launches with views computed per call, by the function's own launcher.
            self._general = True
            self.run = self._run_general
            return
        kernel = _compile.get_function(tile.family, tile.kernel_name(prec))
        # The device function itself (compiled now), not the dispatching wrapper, which
        # would look for emulated arrays among the arguments at every launch.
        self._fn = (kernel._emulator_function() if self.kind == _EMULATOR
                    else kernel._cuda_function())
        per_launch = plan.outer[0] * plan.inner[0]
        self._grid, self._block = tile.grid(m, n, per_launch), (tile.threads,)
        i32, i64 = np.int32, np.int64
        self._scalar = prec.acc_dtype.type
        self._zero, self._one = self._scalar(0.0), self._scalar(1.0)
        self._head = (i32(m), i32(n), i32(k), i64(per_launch), i64(plan.inner[0]))
        sam, sak, sbk, sbn, scm, scn, sdm, sdn = (i64(s) for s in plan.mat)
        so, si = [i64(s) for s in plan.outer[1]], [i64(s) for s in plan.inner[1]]
        self._sa = (sam, sak, so[0], si[0])
        self._sb = (sbk, sbn, so[1], si[1])
        self._sc = (scm, scn, so[2], si[2])
        self._sd = (sdm, sdn, so[3], si[3])

    def args(self, a, b, c, d, alpha, beta):
        """The kernel's argument tuple (``c`` is ignored when C is not read)."""
        sc = self._scalar
        alpha = self._one if alpha == 1 else sc(alpha)
        if self.c_read:
            return (*self._head, alpha, sc(beta), a, *self._sa, b, *self._sb,
                    c, *self._sc, d, *self._sd)
        return (*self._head, alpha, self._zero, a, *self._sa, b, *self._sb,
                d, *self._sc, d, *self._sd)

    def _run_gpu(self, a, b, c, out, alpha, beta, stream=None):
        d = self.xp.empty(self.shape, self.out_dtype) if out is None else out
        if self._no_launch:
            return d
        args = self.args(a, b, c, d, alpha, beta)
        if stream is None:
            self._fn(self._grid, self._block, args)
        else:
            with stream:
                self._fn(self._grid, self._block, args)
        return d

    def _run_general(self, a, b, c, out, alpha, beta, stream=None):
        d = self.xp.empty(self.shape, self.out_dtype) if out is None else out
        c = c if self.c_read else None
        if stream is None:
            return _batched_gemm_nocheck(a, b, c, d, alpha, beta, self.trans_a,
                                               self.trans_b, self.compute)
        with stream:
            return _batched_gemm_nocheck(a, b, c, d, alpha, beta, self.trans_a,
                                               self.trans_b, self.compute)

    # ------------------------------------------------------------------ per-call checks
    def out_is_free(self, a, b, c, out):
        """``out`` is writable and overlaps neither ``a``, ``b`` nor (unless it is ``c``
        itself) ``c``: what the key cannot pin. False sends the call to full validation,
        which raises or (out a distinct view equal to c) accepts."""
        if self.kind == _NUMPY and not out.flags.writeable:
            return False
        share = self.share
        if share(out, a) or share(out, b):
            return False
        return c is None or c is out or not share(out, c)

