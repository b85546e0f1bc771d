"""Argument normalization and validation of the transforms (shapes and dtypes, never array
contents), with :mod:`numpy.fft`'s rules; and the route of each axis for a ``precision``."""

import math
import operator

import numpy as np
from numpy.exceptions import AxisError

from .._dtypes import bfloat16
from .._errors import message
from . import _engine

PRECISIONS = ("split16", "fp32", "fp16")
_PRIVATE_PRECISIONS = ("_fp16_unscaled",)  # the accuracy script's FP16-library emulation
_NORMS = ("backward", "ortho", "forward")
_SINGLE = (np.dtype(np.float16), bfloat16, np.dtype(np.float32), np.dtype(np.complex64))
_DOUBLE = (np.dtype(np.float64), np.dtype(np.complex128))


def _working_dtypes(op, dtype, real_only=False):
    """``(complex dtype, real dtype, single)`` for an input dtype, as NumPy promotes them."""
    dtype = np.dtype(dtype)
    if real_only and dtype.kind == "c":
        raise TypeError(message(op, f"a must be real (float or integer), got {dtype.name}; "
                                    "use fft/fftn for complex input"))
    if dtype in _SINGLE:
        return np.dtype(np.complex64), np.dtype(np.float32), True
    if dtype in _DOUBLE or dtype.kind in "biu":
        return np.dtype(np.complex128), np.dtype(np.float64), False
    raise TypeError(message(
        op, "a must have dtype float16, bfloat16, float32, complex64 (single precision), "
            f"float64, complex128, an integer or bool (FP64 path); got {dtype.name}"))


def _check_norm(op, norm):
    if norm is None:
        return "backward"
    if norm not in _NORMS:
        raise ValueError(message(op, f"norm must be None, 'backward', 'ortho' or 'forward', "
                                     f"got {norm!r}"))
    return norm


def _routes(op, precision, single, lengths):
    """The route of each transformed axis (see :mod:`._engine`) for ``precision``."""
    if not single:
        if precision not in (None, "fp64"):
            raise ValueError(message(
                op, f"precision={precision!r} applies to float32/complex64 (and float16) "
                    "inputs; float64, complex128, integer and bool inputs always run in FP64 "
                    "(precision None or 'fp64'); cast with .astype(numpy.complex64) to use "
                    f"{precision!r}"))
        return ["lib"] * len(lengths)
    if precision is None:
        return ["split16" if _engine.is_pow2(n) else "lib" for n in lengths]
    if precision == "fp32":
        return ["lib"] * len(lengths)
    if precision in ("split16", "fp16") + _PRIVATE_PRECISIONS:
        return [precision] * len(lengths)
    raise ValueError(message(
        op, f"precision must be None, 'split16', 'fp32' or 'fp16' for single-precision "
            f"input, got {precision!r}"))


def _as_int(op, name, v):
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(message(op, f"{name} must be an integer, got "
                                    f"{type(v).__name__}")) from None


def _axis(op, axis, ndim):
    axis = _as_int(op, "axis", axis)
    if not -ndim <= axis < ndim:
        raise AxisError(axis, ndim, op)
    return axis % ndim


def _length(op, name, n):
    n = _as_int(op, name, n)
    if n < 1:
        raise ValueError(message(op, f"invalid number of data points {name}={n}; every "
                                     "transformed length must be >= 1"))
    return n


def _cook_nd(op, shape, s, axes, real=None):
    """NumPy's ``s``/``axes`` rules: ``axes`` None means the last ``len(s)`` axes (all axes
    when ``s`` is None too); an ``s`` entry of None or -1 keeps the input length (for the
    last axis of a complex-to-real transform, ``real='c2r'``: ``2*(m - 1)``). Repeated axes
    transform twice. Real transforms (``real`` 'r2c' or 'c2r') need at least one axis.
    """
    ndim = len(shape)
    if axes is None:
        axes = list(range(ndim - (ndim if s is None else len(s)), ndim))
        if s is not None and len(s) > ndim:
            raise ValueError(message(op, f"s has {len(s)} entries for an array of dimension "
                                         f"{ndim}"))
    else:
        if np.isscalar(axes):
            raise TypeError(message(op, f"axes must be a sequence of ints, got {axes!r}"))
        axes = [_axis(op, ax, ndim) for ax in axes]
    if s is None:
        s = [None] * len(axes)
    else:
        if np.isscalar(s):
            raise TypeError(message(op, f"s must be a sequence of ints, got {s!r}"))
        s = list(s)
        if len(s) != len(axes):
            raise ValueError(message(op, f"s and axes must have the same length, got s={s} "
                                         f"and axes={axes}"))
    if real is not None and not axes:
        raise ValueError(message(op, "a real transform needs at least one axis, got axes=()"))
    out = []
    for i, (ax, n) in enumerate(zip(axes, s)):
        last_c2r = real == "c2r" and i == len(axes) - 1
        if n is None or (not isinstance(n, bool) and isinstance(n, (int, np.integer))
                         and n == -1):
            n = 2 * (shape[ax] - 1) if last_c2r else shape[ax]
        out.append(_length(op, f"s[{i}]", n))
    return axes, out


def _resize(xp, a, axis, n):
    """Crop or zero-pad ``a`` along ``axis`` to length ``n`` (a view when cropping)."""
    m = a.shape[axis]
    if m == n:
        return a
    if m > n:
        idx = [slice(None)] * a.ndim
        idx[axis] = slice(0, n)
        return a[tuple(idx)]
    shape = list(a.shape)
    shape[axis] = n
    out = xp.zeros(shape, a.dtype)
    idx = [slice(None)] * a.ndim
    idx[axis] = slice(0, m)
    out[tuple(idx)] = a
    return out


def _scale(norm, total, inverse):
    if norm == "ortho":
        return 1.0 / math.sqrt(total)
    if (norm == "backward") == inverse:
        return 1.0 / total
    return 1.0
