"""Argument checks of :mod:`blasfast.nn` that :mod:`blasfast._checks` does not hold: real
numbers in a range, seeds, dtypes, pairs of sizes, paths, and objects with a protocol.

Same rules and message form as :mod:`blasfast._checks` (``"<op>: <arg> must be <expected>,
got <what came>"``): ``TypeError`` for a wrong type, ``ValueError`` for a wrong value.
"""

import math
import numbers
import os

import numpy as np

from .. import _checks
from .._errors import message



def describe(value):
    """:func:`blasfast._checks.describe`, which also copes with classes (``np.float16``
    has ``shape`` and ``dtype`` attributes, as descriptors)."""
    if isinstance(value, type):
        return f"class {value.__module__}.{value.__qualname__}"
    return _checks.describe(value)


def real(op, name, value, lo=None, hi=None, lo_open=False, hi_open=False):
    """Return ``value`` as a float: a finite real number (not a bool, string or complex)
    in the interval from ``lo`` to ``hi`` (closed unless ``*_open``; None = unbounded)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or getattr(value, "ndim", 0) != 0:
        raise TypeError(message(op, f"{name} must be a real number, got {describe(value)}"))
    v = float(value)
    ok = math.isfinite(v)
    if ok and lo is not None:
        ok = v > lo if lo_open else v >= lo
    if ok and hi is not None:
        ok = v < hi if hi_open else v <= hi
    if not ok:
        left = "" if lo is None else f"{lo} {'<' if lo_open else '<='} "
        right = "" if hi is None else f" {'<' if hi_open else '<='} {hi}"
        raise ValueError(message(op, f"{name} must be a finite number {left}{name}{right}, "
                                     f"got {value!r}"))
    return v


def generator(op, name, value):
    """``value`` as a :class:`numpy.random.Generator`: a Generator is used as is, anything
    :func:`numpy.random.default_rng` accepts (None, a non-negative int, a sequence of them,
    a SeedSequence or BitGenerator) seeds a new one; a bool is refused."""
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(message(op, f"{name} must be None, a non-negative integer seed or "
                                    f"a numpy.random.Generator, got {describe(value)}"))
    try:
        return np.random.default_rng(value)
    except TypeError:
        raise TypeError(message(op, f"{name} must be None, a non-negative integer seed or "
                                    f"a numpy.random.Generator, got {describe(value)}")) \
            from None
    except ValueError as e:
        raise ValueError(message(op, f"{name} must be a non-negative integer seed (or a "
                                     f"Generator), got {describe(value)}: {e}")) from None


def float_dtype(op, name, value):
    """``value`` as float32 or float64 (anything :class:`numpy.dtype` reads, except None,
    which NumPy would read as float64)."""
    if value is None:
        raise TypeError(message(op, f"{name} must be float32 or float64, got None"))
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise TypeError(message(op, f"{name} must be float32 or float64, got "
                                    f"{describe(value)}")) from None
    if dtype not in (np.float32, np.float64):
        raise TypeError(message(op, f"{name} must be float32 or float64, got {dtype}"))
    return dtype


def pair(op, name, value):
    """A positive int or a pair of them, as a 2-tuple of ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(message(op, f"{name} must be a positive integer or a pair of "
                                         f"them, got {len(value)} entries: {value!r}"))
        return tuple(_checks.integer(op, f"{name}[{i}]", v, minimum=1)
                     for i, v in enumerate(value))
    v = _checks.integer(op, name, value, minimum=1)
    return (v, v)


def path(op, name, value):
    """``value`` as a str path (str or os.PathLike; bytes and others refused)."""
    if isinstance(value, (str, os.PathLike)):
        p = os.fspath(value)
        if isinstance(p, str):
            if not p:
                raise ValueError(message(op, f"{name} must be a non-empty path, got ''"))
            return p
    raise TypeError(message(op, f"{name} must be a path (str or os.PathLike), got "
                                f"{describe(value)}"))


def string(op, name, value):
    """A non-empty str."""
    if not isinstance(value, str):
        raise TypeError(message(op, f"{name} must be a str, got {describe(value)}"))
    if not value:
        raise ValueError(message(op, f"{name} must be a non-empty str, got ''"))
    return value


def has_methods(op, name, value, methods, what, optional=False):
    """Check that ``value`` (or None when ``optional``) has the callable ``methods``."""
    if optional and value is None:
        return value
    if not all(callable(getattr(value, m, None)) for m in methods):
        needs = ", ".join(f"{m}()" for m in methods)
        raise TypeError(message(op, f"{name} must be {what} (an object with {needs})"
                                    f"{' or None' if optional else ''}, got "
                                    f"{describe(value)}"))
    return value
