"""Launcher of the fused Winograd F(2x2, 3x3) forward kernel (``kernels/winograd_fused.cu``).

The unfused path (:mod:`blasfast._winograd`) writes the transformed input ``V`` (4x the
input) and the GEMM result ``M`` (4x the output) to global memory and reads them back; the
fused kernel keeps both in shared memory and registers: the input transform feeds the 16
GEMMs directly and the output transform (+ bias) is their epilogue (Lavin & Gray, CVPR
2016, section 4). It serves the GPU forward and dgrad of float32 data with CUDA-core
float32 FMAs. float16/bfloat16 data keep the unfused path, whose 16 GEMMs run on the
tensor cores (the kernel is a template and compiles for them too, but CUDA-core FMAs
cannot match tensor-core throughput); float64 and the CPU path are unfused as well.
"""

import numpy as np

from . import _dtypes
from .kernels import _compile
from .kernels._compile import element_strides as _strides

__all__ = ["applies", "fprop"]

DTYPES = (_dtypes.float32,)
THREADS = 256
BK = 32  # filters per block (grid y)
BT = 32  # tiles per block (grid x)
MAX_GRID_Y = 65535


def _expr(dtype):
    return f"winograd_fused_fprop<{_dtypes.CTYPE[np.dtype(dtype)]}>"


_compile.declare("winograd_fused", "winograd_fused.cu", [_expr(d) for d in DTYPES])


def _kernel(name_expression):
    """The compiled kernel (tests replace this with a NumPy emulation)."""
    return _compile.get_function("winograd_fused", name_expression)


def applies(dtype, out_dtype, k):
    """Whether the fused kernel computes a convolution of ``dtype`` data into ``out_dtype``
    with ``k`` output channels (it writes the data's dtype, and its grid has K / 32 rows)."""
    dtype = np.dtype(dtype)
    return dtype in DTYPES and np.dtype(out_dtype) == dtype and -(-k // BK) <= MAX_GRID_Y


def fprop(xp, x, ut, bias, pads, tp, tq, p, q):
    """Fused Winograd convolution on the GPU.

    Parameters
    ----------
    x : (N, C, H, W) device array, any strides
    ut : (16, C, K) contiguous device array of ``x``'s dtype
        The transformed filters, ``Ut[4 xi + nu, c, k] = (G w[k, c] G^T)[xi, nu]``.
    bias : (K,) device array or None
    pads : (top, bottom, left, right)
        Zero padding; negative values crop.
    tp, tq, p, q : int
        Tiles ``ceil(P / 2)``, ``ceil(Q / 2)`` and the output size ``P``, ``Q``.

    Returns
    -------
    y : (N, K, P, Q) array of ``x``'s dtype
    """
    n, c, h, w = x.shape
    k = ut.shape[2]
    pt, pb, pl, pr = pads
    y = xp.empty((n, k, p, q), x.dtype)
    nt = n * tp * tq
    if nt == 0 or k == 0:
        return y
    grid = (-(-nt // BT), -(-k // BK))
    _kernel(_expr(x.dtype))(grid, (THREADS,), (
        x, *_strides(x), np.int32(n), np.int32(c), np.int32(min(h, h + pb)),
        np.int32(min(w, w + pr)), np.int32(pt), np.int32(pl), np.int32(tp), np.int32(tq),
        ut, np.int32(k), y if bias is None else bias, np.int32(bias is not None),
        np.int32(p), np.int32(q), y, *_strides(y)))
    return y
