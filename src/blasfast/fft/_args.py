"""Argument normalization and validation of the transforms (shapes and dtypes, never array
contents), with :mod:`numpy.fft`'s rules; and the route of each axis for a ``precision``."""

import math
from collections.abc import Sequence
from typing import Any, Literal, Optional, Union

import numpy as np
import numpy.typing as npt
from numpy.exceptions import AxisError

from .. import _checks, _dask
from .._dtypes import bfloat16
from .._errors import message
from .._typing import Int
from . import _engine

PRECISIONS = ("split16", "fp32", "fp16")
_PRIVATE_PRECISIONS = ("_fp16_unscaled",)  # the accuracy script's FP16-library emulation
_NORMS = ("backward", "ortho", "forward")
_SINGLE = (np.dtype(np.float16), bfloat16, np.dtype(np.float32), np.dtype(np.complex64))
_DOUBLE = (np.dtype(np.float64), np.dtype(np.complex128))
_ONE_D = ("fft", "ifft", "rfft", "irfft")  # ops whose length argument is n, not s

# The annotations of the public functions (what the checks below accept): ``precision``
# and ``norm`` by name; ``s`` and ``axes`` a tuple, a list or a 1-D integer array
# (:func:`_sequence`), of ``Int`` entries (an int or a NumPy integer). Typed as a
# ``Sequence`` because ``list`` is invariant (no union of list types takes both a
# ``list[int]`` variable and ``[2, np.int64(3)]``); another sequence (a range) is refused
# at run time.
Precision = Literal["split16", "fp32", "fp16", "fp64"]
Norm = Literal["backward", "ortho", "forward"]
Lengths = Union[Sequence[Optional[Int]], npt.NDArray[np.integer[Any]]]
Axes = Union[Sequence[Int], npt.NDArray[np.integer[Any]]]


def _working_dtypes(op, dtype, real_only=False, name="a"):
    """``(complex dtype, real dtype, single)`` for an input dtype, as NumPy promotes them."""
    dtype = np.dtype(dtype)
    if real_only and dtype.kind == "c":
        raise TypeError(message(op, f"{name} must be real (float or integer), got "
                                    f"{dtype.name}; use fft/fftn for complex input"))
    if dtype in _SINGLE:
        return np.dtype(np.complex64), np.dtype(np.float32), True
    if dtype in _DOUBLE or dtype.kind in "biu":
        return np.dtype(np.complex128), np.dtype(np.float64), False
    raise TypeError(message(
        op, f"{name} must have dtype float16, bfloat16, float32, complex64 (single "
            "precision), float64, complex128, an integer or bool (FP64 path); got "
            f"{dtype.name}"))


def _operand(op, name, value, allow_0d=False):
    """``value`` if it is an array (:func:`blasfast._checks.array_operand`: no Python
    scalars, None or strings); a 0-d array is a ValueError unless ``allow_0d``. A (nested)
    list or tuple of numbers becomes a NumPy array (the CPU path), as :mod:`numpy.fft` and
    :func:`scipy.signal.fftconvolve` accept one; a ragged one is a ValueError."""
    if isinstance(value, (list, tuple)):
        _dask.refuse(op, *value, why="a list of Dask arrays; pass one Dask array "
                                      "(dask.array.stack)")
        try:
            value = np.asarray(value)
        except ValueError:
            raise ValueError(message(
                op, f"{name} must be an array or a rectangular (nested) list of numbers, got "
                    f"a ragged {type(value).__name__}")) from None
    if getattr(value, "ndim", None) == 0 and hasattr(value, "dtype") and (
            isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__")
            or hasattr(value, "__cuda_array_interface__")):
        if allow_0d:
            return value
        raise ValueError(message(op, f"{name} must have at least one dimension, got a 0-d "
                                     "array"))
    return _checks.array_operand(op, name, value)


def _check_stream(op, xp, stream):
    """``stream`` for the path of ``xp`` (see :func:`blasfast._backend.as_stream`)."""
    from .._backend import as_stream

    return as_stream(op, stream, xp)


def _check_norm(op, norm):
    _checks.choice(op, "norm", norm, (None,) + _NORMS)
    return "backward" if norm is None else norm


def _check_precision(op, precision):
    """``precision`` is one of the public choices (or a private one of the accuracy script)."""
    if isinstance(precision, str) and precision in _PRIVATE_PRECISIONS:
        return precision
    return _checks.choice(op, "precision", precision, (None,) + PRECISIONS + ("fp64",))


def _routes(op, precision, single, lengths):
    """The route of each transformed axis (see :mod:`._engine`) for ``precision``."""
    _check_precision(op, precision)
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
            f"input, got {precision!r} (FP64 is for float64/complex128 input: cast to use it)"))


def _as_int(op, name, v):
    """``v`` as an int (``operator.index``; not a bool)."""
    return _checks.integer(op, name, v)


def _axis(op, name, axis, ndim):
    """An axis of an ``ndim``-dimensional array, in ``[0, ndim)``: an integer (not a bool)
    in ``[-ndim, ndim)``, else a TypeError or a :class:`numpy.exceptions.AxisError` (a
    ValueError and an IndexError, as NumPy raises)."""
    axis = _checks.integer(op, name, axis)
    if not -ndim <= axis < ndim:
        raise AxisError(message(op, f"{name} must be an integer in [{-ndim}, {ndim - 1}] for "
                                    f"an array of dimension {ndim}, got {axis}"))
    return axis % ndim


def _length(op, name, n):
    """A transform length given by the caller: an integer >= 1."""
    return _checks.integer(op, name, n, minimum=1)


def _sequence(op, name, value):
    """``value`` as a list: a tuple, a list or a 1-D integer array (an ordered sequence;
    not an int, a string or a set)."""
    if isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind in "iu":
        return value.tolist()
    if not isinstance(value, (tuple, list)):
        raise TypeError(message(op, f"{name} must be a sequence of integers (a tuple or list), "
                                    f"got {_checks.describe(value)}"))
    return list(value)


def _cook_nd(op, shape, s, axes, real=None):
    """NumPy's ``s``/``axes`` rules: ``axes`` None means the last ``len(s)`` axes (all axes
    when ``s`` is None too); an ``s`` entry of None or -1 keeps the input length (for the
    last axis of a complex-to-real transform, ``real='c2r'``: ``2*(m - 1)``). Repeated axes
    transform twice. Real transforms (``real`` 'r2c' or 'c2r') need at least one axis.
    """
    ndim = len(shape)
    if s is not None:
        s = _sequence(op, "s", s)
        for i, n in enumerate(s):
            if n is not None and not (isinstance(n, (int, np.integer))
                                      and not isinstance(n, bool) and n == -1):
                _length(op, f"s[{i}]", n)
    if axes is None:
        if s is not None and len(s) > ndim:
            raise ValueError(message(op, f"s must have at most {ndim} entries (one per axis of "
                                         f"a), got {len(s)}: {tuple(s)!r}"))
        axes = list(range(ndim - (ndim if s is None else len(s)), ndim))
    else:
        axes = [_axis(op, f"axes[{i}]", ax, ndim)
                for i, ax in enumerate(_sequence(op, "axes", axes))]
    if s is None:
        s = [None] * len(axes)
    elif len(s) != len(axes):
        raise ValueError(message(op, f"s and axes must have the same length, got s={tuple(s)} "
                                     f"and axes={tuple(axes)}"))
    if real is not None and not axes:
        raise ValueError(message(op, "axes must name at least one axis for a real transform, "
                                     "got axes=()"))
    out = []
    for i, (ax, n) in enumerate(zip(axes, s)):
        if n is not None and n != -1:
            out.append(int(n))
            continue
        last_c2r = real == "c2r" and i == len(axes) - 1
        n = 2 * (shape[ax] - 1) if last_c2r else shape[ax]
        if n < 1:
            what = (f"2*(m - 1) = {n} output points from m = {shape[ax]} input point"
                    f"{'s' * (shape[ax] != 1)}" if last_c2r else "length 0")
            arg = "n" if op in _ONE_D else f"s[{i}]"
            raise ValueError(message(
                op, f"a has {what} along axis {ax}; every transformed length must be >= 1 "
                    f"(pass {arg} >= 1)"))
        out.append(n)
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
