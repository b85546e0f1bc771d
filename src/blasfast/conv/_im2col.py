"""Convolution as GEMM (im2col + batched GEMM): any filter size, stride, dilation, padding.

* forward: ``cols`` (C R S, N, P Q) holds every receptive field (im2col); the output is
  ``y[n] = W (K x C R S) @ cols[:, n] (C R S x P Q)`` (+ bias), one batched GEMM over n
  that reads ``cols`` in place with leading dimension N P Q. A 1x1 filter with stride 1
  and no padding needs no im2col at all: ``x[n]`` viewed as (C, H W) is the operand.
* dgrad: ``dcols[n] = W^T @ dy[n]`` (one batched GEMM), then col2im sums every column back
  onto the input element it came from (a gather, no atomics).
* wgrad: ``dW (K x C R S) = dy (K x N P Q) @ cols^T``: one GEMM whose inner dimension is
  N P Q -- the same ``cols`` layout read as one matrix; ``dy`` is copied once to (K, N, P Q).

float16/bfloat16 data are multiplied on tensor cores with float32 accumulation (the
batched GEMM's precision); ``cols`` is a copy of the data (no rounding), ``dcols`` is
kept in float32 until col2im has summed it, and every result is rounded once, at the end.
The CPU path is the same sequence in NumPy (``cols`` built by R S strided copies, col2im
by R S strided additions); the GPU path runs ``kernels/conv_gemm.cu``.
"""

import numpy as np

from ..gemm import batched_gemm
from ..kernels import _compile
from . import _winograd

__all__ = ["fprop", "dgrad", "wgrad", "im2col"]

DTYPES = _winograd.DTYPES
acc_dtype = _winograd.acc_dtype
_ct = _winograd._ct

_compile.declare("conv_gemm", "conv_gemm.cu",
                 [f"im2col<{_ct(d)}>" for d in DTYPES]
                 + [f"col2im<{_ct(acc_dtype(d))}, {_ct(d)}>" for d in DTYPES])


def _on_cpu(xp):
    """True for the NumPy path (tests replace this to run the GPU launchers on NumPy)."""
    return xp is np


def _kernel(name_expression):
    """The compiled kernel (tests replace this with a NumPy emulation)."""
    return _compile.get_function("conv_gemm", name_expression)


def _launch(name_expression, total, args):
    if total <= 0:
        return
    blocks = min(-(-total // _winograd.THREADS), _winograd.MAX_BLOCKS)
    _kernel(name_expression)((blocks,), (_winograd.THREADS,), args)


def _windows(g, r, s):
    """Slices of the padded input that tap (r, s) reads for all output positions."""
    (sh, sw), (dh, dw) = g.stride, g.dilation
    return (slice(r * dh, r * dh + sh * (g.P - 1) + 1, sh),
            slice(s * dw, s * dw + sw * (g.Q - 1) + 1, sw))


def _is_pointwise(g):
    return (g.R, g.S) == (1, 1) and g.stride == (1, 1) and g.pads == (0, 0, 0, 0)


def im2col(xp, x, g):
    """``cols[(c R + r) S + s, n, p Q + q]``: (C R S, N, P Q) in ``x``'s dtype."""
    pt, pb, pl, pr = g.pads
    if _on_cpu(xp):
        xpad = np.zeros((g.C, g.N, g.H + pt + pb, g.W + pl + pr), x.dtype)
        xpad[:, :, pt:pt + g.H, pl:pl + g.W] = x.transpose(1, 0, 2, 3)
        cols = np.empty((g.C, g.R, g.S, g.N, g.P, g.Q), x.dtype)
        for r in range(g.R):
            for s in range(g.S):
                cols[:, r, s] = xpad[(slice(None), slice(None)) + _windows(g, r, s)]
        return cols.reshape(g.C * g.R * g.S, g.N, g.P * g.Q)
    cols = xp.empty((g.C * g.R * g.S, g.N, g.P * g.Q), x.dtype)
    (sh, sw), (dh, dw) = g.stride, g.dilation
    i32 = np.int32
    _launch(f"im2col<{_ct(x.dtype)}>", cols.size,
            (x, *_compile.element_strides(x), i32(g.N), i32(g.C), i32(g.H), i32(g.W), i32(g.R),
             i32(g.S), i32(sh), i32(sw), i32(dh), i32(dw), i32(pt), i32(pl), i32(g.P),
             i32(g.Q), cols))
    return cols


def _col2im(xp, dcols, g, out_dtype):
    """dx (N, C, H, W) in ``out_dtype`` from ``dcols`` (N, C R S, P Q), accumulator dtype."""
    pt, pb, pl, pr = g.pads
    if _on_cpu(xp):
        dxp = np.zeros((g.N, g.C, g.H + pt + pb, g.W + pl + pr), dcols.dtype)
        d6 = dcols.reshape(g.N, g.C, g.R, g.S, g.P, g.Q)
        for r in range(g.R):
            for s in range(g.S):
                dxp[(slice(None), slice(None)) + _windows(g, r, s)] += d6[:, :, r, s]
        return np.ascontiguousarray(dxp[:, :, pt:pt + g.H, pl:pl + g.W], dtype=out_dtype)
    dx = xp.empty(g.x_shape, out_dtype)
    (sh, sw), (dh, dw) = g.stride, g.dilation
    i32 = np.int32
    _launch(f"col2im<{_ct(dcols.dtype)}, {_ct(out_dtype)}>", dx.size,
            (dcols, i32(g.N), i32(g.C), i32(g.H), i32(g.W), i32(g.R), i32(g.S), i32(sh),
             i32(sw), i32(dh), i32(dw), i32(pt), i32(pl), i32(g.P), i32(g.Q), dx,
             *_compile.element_strides(dx)))
    return dx


def fprop(xp, x, w, bias, g, out_dtype):
    """y (N, K, P, Q) in ``out_dtype`` = conv(x, w) + bias, by im2col + batched GEMM."""
    if _is_pointwise(g):
        b = x.reshape(g.N, g.C, g.H * g.W)
    else:
        b = im2col(xp, x, g).transpose(1, 0, 2)            # (N, CRS, PQ) view
    y = xp.empty((g.N, g.K, g.P * g.Q), out_dtype)
    a = w.reshape(g.K, g.C * g.R * g.S)
    if bias is None:
        batched_gemm(a, b, out=y)
    else:
        batched_gemm(a, b, bias.reshape(g.K, 1), beta=1.0, out=y)
    return y.reshape(g.y_shape)


def dgrad(xp, dy, w, g, out_dtype):
    """dL/dx (N, C, H, W) from dy (N, K, P, Q): W^T dy per image, then col2im."""
    a = w.reshape(g.K, g.C * g.R * g.S)
    dy3 = dy.reshape(g.N, g.K, g.P * g.Q)
    if _is_pointwise(g):
        dx = xp.empty((g.N, g.C, g.H * g.W), out_dtype)
        batched_gemm(a, dy3, trans_a=True, out=dx)
        return dx.reshape(g.x_shape)
    dcols = batched_gemm(a, dy3, trans_a=True)            # (N, CRS, PQ), accumulator dtype
    return _col2im(xp, dcols, g, out_dtype)


def wgrad(xp, x, dy, g, out_dtype):
    """dL/dw (K, C, R, S) from x and dy: one GEMM dy (K x NPQ) @ cols^T (NPQ x CRS)."""
    npq = g.N * g.P * g.Q
    dyk = xp.ascontiguousarray(dy.reshape(g.N, g.K, g.P * g.Q).transpose(1, 0, 2))
    if _is_pointwise(g):
        cols = xp.ascontiguousarray(x.reshape(g.N, g.C, g.H * g.W).transpose(1, 0, 2))
    else:
        cols = im2col(xp, x, g)
    dw = _winograd.gemm_nt(xp, dyk.reshape(1, g.K, npq), cols.reshape(1, -1, npq), out_dtype)
    return dw.reshape(g.w_shape)
