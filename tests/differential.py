"""What the differential test modules (``test_differential_*.py``) share: the error-bound
constant, the example budget per array module, and operands in a chosen memory layout."""

import numpy as np
from hypothesis import settings

from conftest import is_emulator


def gamma(n, u):
    """Higham's ``gamma_n = n u / (1 - n u)``: the bound on ``n`` accumulated roundings."""
    return n * u / (1 - n * u)


def examples(xp):
    """The profile's example count on NumPy; half of it (at least 8) on the emulator, which
    runs the kernels on the CPU."""
    n = settings.default.max_examples
    return max(8, n // 2) if is_emulator(xp) else n


def fresh(a):
    """A C-contiguous copy that shares no memory with ``a`` (``numpy.asarray`` of a
    contiguous array would alias it, and the inputs-unmodified check would compare an
    array with itself)."""
    return np.array(a, order="C", copy=True)


def place(xp, a, layout, rng):
    """Host array ``a`` as an ``xp`` array with the given memory layout, same values:
    ``"C"``; ``"F"`` (each matrix transposed in memory, the batch still outermost);
    ``"strided"`` (every other element of a larger buffer along every axis);
    ``"negative"`` (negative strides on every axis)."""
    if layout == "C" or a.ndim < 2 and layout == "F":
        return xp.asarray(fresh(a))
    if layout == "F":
        return xp.asarray(fresh(np.swapaxes(a, -1, -2))).swapaxes(-1, -2)
    if layout == "strided":
        big = rng.standard_normal(tuple(2 * d + 1 for d in a.shape)).astype(a.dtype)
        idx = tuple(slice(1, None, 2) for _ in a.shape)
        big[idx] = a
        return xp.asarray(big)[idx]
    rev = tuple(slice(None, None, -1) for _ in a.shape)
    return xp.asarray(fresh(a[rev]))[rev]
