"""Launchers of the fused Winograd F(2x2, 3x3) forward kernels (``kernels/winograd_fused.cu``,
``kernels/winograd_fused_tc.cu``).

The unfused path (:mod:`blasfast.conv._winograd`) writes the transformed input ``V`` (4x the
input) and the GEMM result ``M`` (4x the output) to global memory and reads them back; the
fused kernel keeps both in shared memory and registers: the input transform feeds the 16
GEMMs directly and the output transform (+ bias) is their epilogue (Lavin & Gray, CVPR
2016, section 4). They serve the GPU forward and dgrad: float32 data with CUDA-core
float32 FMAs (``winograd_fused_fprop``), float16/bfloat16 data on the tensor cores with
float32 accumulation (``winograd_fused_tc_fprop``, WMMA 16x16x16), rounding the
transformed tiles and filters to 16 bits exactly where the unfused path does. float64 and
the CPU path use the unfused algorithm.
"""

import numpy as np

from .. import _dtypes
from ..kernels import _compile
from ..kernels._compile import element_strides as _strides

__all__ = ["applies", "fprop"]

SIMT_DTYPES = (_dtypes.float32,)
TC_DTYPES = (_dtypes.float16, _dtypes.bfloat16)
DTYPES = SIMT_DTYPES + TC_DTYPES
THREADS = 256
BK = 32  # filters per block (grid y)
BT = 32  # tiles per block (grid x)
MAX_GRID_Y = 65535


def _expr(dtype):
    dtype = np.dtype(dtype)
    kernel = "winograd_fused_tc_fprop" if dtype in TC_DTYPES else "winograd_fused_fprop"
    return f"{kernel}<{_dtypes.CTYPE[dtype]}>"


def _family(dtype):
    return "winograd_fused_tc" if np.dtype(dtype) in TC_DTYPES else "winograd_fused"


_compile.declare("winograd_fused", "winograd_fused.cu", [_expr(d) for d in SIMT_DTYPES])
_compile.declare("winograd_fused_tc", "winograd_fused_tc.cu", [_expr(d) for d in TC_DTYPES])


def _kernel(family, name_expression):
    """The compiled kernel (tests replace this with a NumPy emulation)."""
    return _compile.get_function(family, name_expression)


def applies(dtype, out_dtype, k):
    """Whether the fused kernel computes a convolution of ``dtype`` data into ``out_dtype``
    with ``k`` output channels (it writes the data's dtype, and its grid has K / 32 rows)."""
    dtype = np.dtype(dtype)
    return dtype in DTYPES and np.dtype(out_dtype) == dtype and -(-k // BK) <= MAX_GRID_Y


def fprop(xp, x, u, trans_u, bias, pads, tp, tq, p, q):
    """Fused Winograd convolution on the GPU.

    Parameters
    ----------
    x : (N, C, H, W) device array, any strides
    u : (4, 4, K, C) device array of ``x``'s dtype, or (4, 4, C, K) when ``trans_u``
        The transformed filters, ``u[xi, nu, k, c] = (G w[k, c] G^T)[xi, nu]``.
    trans_u : bool
        Read ``u`` transposed (dgrad passes the flipped forward filters this way).
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
    ukc = u.reshape(16, *u.shape[2:])
    if trans_u:
        ukc = ukc.transpose(0, 2, 1)                     # (16, K, C)
    k = ukc.shape[1]
    # the CUDA-core kernel reads (16, C, K), K contiguous; the tensor-core one (16, K, C)
    ut = xp.ascontiguousarray(ukc if x.dtype in TC_DTYPES else ukc.transpose(0, 2, 1))
    pt, pb, pl, pr = pads
    y = xp.empty((n, k, p, q), x.dtype)
    nt = n * tp * tq
    if nt == 0 or k == 0:
        return y
    grid = (-(-nt // BT), -(-k // BK))
    _kernel(_family(x.dtype), _expr(x.dtype))(grid, (THREADS,), (
        x, *_strides(x), np.int32(n), np.int32(c), np.int32(min(h, h + pb)),
        np.int32(min(w, w + pr)), np.int32(pt), np.int32(pl), np.int32(tp), np.int32(tq),
        ut, np.int32(k), y if bias is None else bias, np.int32(bias is not None),
        np.int32(p), np.int32(q), y, *_strides(y)))
    return y
