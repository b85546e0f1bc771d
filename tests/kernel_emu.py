"""Building blocks of the NumPy kernel emulators in ``test_conv_kernels.py``: reading and
writing user memory through element offsets, as the CUDA kernels do."""

import numpy as np

from blasfast import _dtypes

CTYPE_TO_DTYPE = {v: k for k, v in _dtypes.CTYPE.items()}


def flat(a):
    assert a.flags.c_contiguous, "the kernel indexes this operand as a contiguous array"
    return a.reshape(-1)


def _base(a):
    """A 1-D view over the whole buffer under ``a`` and the element offset of ``a[0, ...]``."""
    base = a
    while base.base is not None and isinstance(base.base, np.ndarray):
        base = base.base
    buf = base.reshape(-1) if base.flags.c_contiguous else None
    assert buf is not None, "test arrays must be views of a contiguous buffer"
    start = (a.__array_interface__["data"][0] - buf.__array_interface__["data"][0]) \
        // a.itemsize
    return buf, start


def _read(a, offsets):
    buf, start = _base(a)
    return buf[start + np.asarray(offsets, np.int64)]


def _write(a, offsets, values):
    buf, start = _base(a)
    offsets = start + np.asarray(offsets, np.int64)
    assert len(np.unique(offsets)) == offsets.size, "two threads write one element"
    buf[offsets] = values
