"""The four-step plan of a long power-of-two transform, shared by both paths.

A power of two ``n`` above one pass (:data:`._split.MAX_PASS` points) runs as ``n = n1 *
n2``: ``n2`` strided transforms of length ``n1``, an FP32 twiddle multiplication, ``n1``
contiguous transforms of length ``n2``. The CPU emulation (:mod:`._engine`) and the GPU
launchers (:mod:`._gpu`) both take the split from here, so neither imports the other for it.
"""

import numpy as np

from . import _split


def four_step_split(n):
    """``(n1, n2)`` with ``n = n1 * n2`` for a power of two above one pass: ``n1`` (the
    strided column pass) at most 4096, ``n2`` (the contiguous rows) the rest."""
    p = n.bit_length() - 1
    p1 = p // 2 if p <= 2 * _split.MAX_PASS_LOG2 else _split.MAX_PASS_LOG2
    return 1 << p1, 1 << (p - p1)


def four_step_twiddles(n1, n2, sign):
    """``T[j2, k1] = exp(sign*2*pi*i*((j2*k1) mod n)/n)``, n = n1*n2, complex64 (n2, n1)."""
    n = n1 * n2
    e = np.outer(np.arange(n2, dtype=np.int64), np.arange(n1, dtype=np.int64)) % n
    return np.exp(sign * 2j * np.pi * e / n).astype(np.complex64)
