"""Winograd F(2x2, 3x3) convolution as 16 batched GEMMs: transforms, both paths.

The algorithm (Lavin & Gray, CVPR 2016): split the output into 2x2 tiles, each computed
from a 4x4 input tile ``d`` (tiles overlap by 2) and a 3x3 filter ``g`` as

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A,

16 multiplications per tile instead of 36. Summed over the C input channels, the 4x4
elementwise product becomes 16 independent GEMMs, one per transform-domain position
``(xi, nu)``::

    M[xi, nu] (K x NT) = U[xi, nu] (K x C) @ V[xi, nu] (C x NT),   NT = N * ceil(P/2) * ceil(Q/2)

computed by :func:`blasfast.batched_gemm` with the 16 as its batch. The backward passes
reuse the same pieces:

* dgrad (gradient w.r.t. the input) is a Winograd convolution of ``dy`` with the flipped,
  transposed filters, padded by ``2 - pad``. Since ``G J = Pi G`` (``J`` reverses 3
  entries, ``Pi`` swaps rows 0 and 3 of a 4-vector), the flipped filter's transform is
  ``U[PERM][:, PERM]`` and the transposition is the GEMM's ``trans_a``: one filter
  transform serves the forward and dgrad.
* wgrad (gradient w.r.t. the filters) is the adjoint of the forward in the transform
  domain: ``dM = A dY A^T`` on the 2x2 output tiles, ``dU[xi, nu] = dM[xi, nu] @
  V[xi, nu]^T`` (16 GEMMs with inner dimension NT), ``dw = G^T dU G``.

Precision: transforms and accumulation in float32 (float64 for float64 data); the GEMM
operands ``U``, ``V``, ``dM`` are stored in the data's dtype -- for float16/bfloat16 that
is the one rounding the tensor cores need, and the CPU path rounds at exactly the same
places; the result is rounded once, at the end.

Each transform has a NumPy implementation (the CPU path) and a launcher of the CUDA
kernel in ``kernels/winograd.cu`` (the GPU path); the composed functions (:func:`fprop`,
:func:`dgrad`, :func:`wgrad`) are written once, for either array module.
"""

import numpy as np

from .. import _dtypes
from ..gemm import batched_gemm
from ..kernels import _compile
from ..kernels._compile import element_strides as _strides
from . import _args, _winograd_fused

__all__ = ["PERM", "tiles", "acc_dtype", "filter_transform", "input_transform",
           "output_transform", "grad_output_transform", "filter_grad_transform", "fprop",
           "dgrad", "wgrad"]

# G J = Pi G: Pi swaps entries 0 and 3 of the 4-point transform domain.
PERM = (3, 1, 2, 0)

DTYPES = (_dtypes.float32, _dtypes.float64, _dtypes.float16, _dtypes.bfloat16)

THREADS = 256
MAX_BLOCKS = 65535 * 32  # the grid-stride loops cover anything beyond
# GPU: inner-dimension chunk of the weight-gradient GEMMs (split-K, see gemm_nt).
SPLIT_K_CHUNK = 16384


def acc_dtype(dtype):
    """Transform and accumulation dtype for data of ``dtype``: float64 or float32."""
    return _dtypes.float64 if np.dtype(dtype) == _dtypes.float64 else _dtypes.float32


def tiles(p, q):
    """Number of 2x2 output tiles along each axis: ``(ceil(P/2), ceil(Q/2))``."""
    return -(-p // 2), -(-q // 2)


def _ct(dtype):
    return _dtypes.CTYPE[np.dtype(dtype)]


def _expr(kernel, tin, tout):
    return f"{kernel}<{_ct(tin)}, {_ct(tout)}>"


# Every instantiation the launchers can ask for: data dtype -> (data, operand) for the
# transforms that produce GEMM operands, (accumulator, data) for those that consume GEMM
# results.
_compile.declare("winograd", "winograd.cu", [
    _expr(k, d, d) for d in DTYPES
    for k in ("winograd_input_transform", "winograd_filter_transform",
              "winograd_grad_output_transform")] + [
    _expr(k, acc_dtype(d), d) for d in DTYPES
    for k in ("winograd_output_transform", "winograd_filter_grad_transform")])


def _on_cpu(xp):
    """True for the NumPy path (tests replace this to run the GPU launchers on NumPy)."""
    return xp is np


def _kernel(name_expression):
    """The compiled kernel (tests replace this with a NumPy emulation)."""
    return _compile.get_function("winograd", name_expression)


def _launch(name_expression, total, args):
    """Launch a grid-stride kernel over ``total`` threads on the current stream."""
    if total <= 0:
        return
    blocks = min(-(-total // THREADS), MAX_BLOCKS)
    _kernel(name_expression)((blocks,), (THREADS,), args)


def _parity_split(x, pads, hh, wh, dtype):
    """NumPy: ``x`` (N, C, H, W) cropped by negative and zero-padded by positive ``pads``
    (top, bottom, left, right), zero-extended to ``2 hh`` x ``2 wh``, in ``dtype``, in the CPU
    path's layout (C, 2, hh, 2, wh, N): padded row ``2 a + i`` is ``[:, i, a]``, likewise for
    columns, and the batch is innermost. Every tile slice the transforms take is then a
    contiguous run of at least ``wh N`` elements, which keeps NumPy's inner loops long for
    any batch and image size. A fresh array."""
    pt, pb, pl, pr = pads
    n, c, h, w = x.shape
    x = x[:, :, max(-pt, 0):h - max(-pb, 0), max(-pl, 0):w - max(-pr, 0)]
    top, left = max(pt, 0), max(pl, 0)
    hx, wx = min(x.shape[2], 2 * hh - top), min(x.shape[3], 2 * wh - left)
    full = np.zeros((c, 2 * hh, 2 * wh, n), dtype)
    full[:, top:top + hx, left:left + wx] = x[:, :, :hx, :wx].transpose(1, 2, 3, 0)
    return np.ascontiguousarray(full.reshape(c, hh, 2, wh, 2, n).transpose(0, 2, 1, 4, 3, 5))


# -- filter transform U = G g G^T ------------------------------------------------------


def filter_or_check(op, xp, w, u, geom, dtype):
    """The transformed filters for ``w``: ``u`` when the caller passed it (checked against
    the geometry and dtype), else transformed now."""
    if u is None:
        return filter_transform(xp, w)
    _args.check_u(op, u, geom.K, geom.C, dtype)
    return u


def filter_transform(xp, w):
    """``U[xi, nu, k, c] = (G w[k, c] G^T)[xi, nu]``: (4, 4, K, C) in ``w``'s dtype."""
    k, c = w.shape[:2]
    if _on_cpu(xp):
        a = acc_dtype(w.dtype)
        g = w.astype(a)
        half = a.type(0.5)
        rows = (g[:, :, 0], half * (g[:, :, 0] + g[:, :, 1] + g[:, :, 2]),
                half * (g[:, :, 0] - g[:, :, 1] + g[:, :, 2]), g[:, :, 2])  # (K, C, 3) each
        u = np.empty((4, 4, k, c), w.dtype)
        for i, t in enumerate(rows):
            u[i, 0] = t[..., 0]
            u[i, 1] = half * (t[..., 0] + t[..., 1] + t[..., 2])
            u[i, 2] = half * (t[..., 0] - t[..., 1] + t[..., 2])
            u[i, 3] = t[..., 2]
        return u
    u = xp.empty((4, 4, k, c), w.dtype)
    _launch(_expr("winograd_filter_transform", w.dtype, w.dtype), k * c,
            (w, *_strides(w), np.int32(k), np.int32(c), u))
    return u


# -- input transform V = B^T d B -------------------------------------------------------


def input_transform(xp, x, pads, tp, tq):
    """``V[xi, nu, c, tile] = (B^T d B)[xi, nu]``, ``d`` the 4x4 tile at rows ``2i - pt ..``,
    columns ``2j - pl ..`` of channel ``c`` of image ``n`` (zero padding, negative pads crop):
    (16, C, NT) in ``x``'s dtype. The tile index is ``(n, i, j)`` (row-major) on the GPU,
    ``(i, j, n)`` on the CPU (see :func:`_parity_split`); the other transforms of the same
    path use the same order."""
    n, c, h, w = x.shape
    pt, pb, pl, pr = pads
    if _on_cpu(xp):
        d = _parity_split(x, pads, tp + 1, tq + 1, acc_dtype(x.dtype))
        # tile row i of tile a is padded row 2a + i = d[:, i % 2, a + i // 2]
        r0, r1, r2, r3 = (d[:, i % 2, i // 2:i // 2 + tp] for i in range(4))  # (C,tp,2,wh,N)
        v = np.empty((4, 4, c, tp, tq, n), x.dtype)
        for i, t in enumerate((r0 - r2, r1 + r2, r2 - r1, r1 - r3)):
            c0, c1, c2, c3 = (t[:, :, j % 2, j // 2:j // 2 + tq] for j in range(4))
            v[i, 0] = c0 - c2
            v[i, 1] = c1 + c2
            v[i, 2] = c2 - c1
            v[i, 3] = c1 - c3
        return v.reshape(16, c, -1)
    v = xp.empty((16, c, n * tp * tq), x.dtype)
    _launch(_expr("winograd_input_transform", x.dtype, x.dtype), c * n * tp * tq,
            (x, *_strides(x), np.int32(n), np.int32(c), np.int32(min(h, h + pb)),
             np.int32(min(w, w + pr)), np.int32(pt), np.int32(pl), np.int32(tp),
             np.int32(tq), v))
    return v


# -- output transform Y = A^T M A (+ bias) ----------------------------------------------


def output_transform(xp, m, bias, n, tp, tq, p, q, out_dtype):
    """``y[n, k, 2i + a, 2j + b] = (A^T M[:, k, tile(n, i, j)] A)[a, b] + bias[k]`` for rows
    < P and columns < Q: ``m`` (16, K, NT) accumulator dtype -> (N, K, P, Q) ``out_dtype``."""
    k = m.shape[1]
    if _on_cpu(xp):
        m = m.reshape(4, 4, k, tp, tq, n)
        s = (m[0] + m[1] + m[2], m[1] - m[2] - m[3])                # (4, K, tp, tq, N)
        y = np.empty((2, 2, k, tp, tq, n), m.dtype)                 # output parity first
        for i in range(2):
            si = s[i]
            np.add(si[0] + si[1], si[2], out=y[i, 0])
            np.subtract(si[1] - si[2], si[3], out=y[i, 1])
        if bias is not None:
            y += bias.astype(m.dtype)[:, None, None, None]
        # y[i, j, k, a, b, n] is output row 2a + i, column 2b + j
        y = y.transpose(5, 2, 3, 0, 4, 1).reshape(n, k, 2 * tp, 2 * tq)[:, :, :p, :q]
        return np.ascontiguousarray(y, dtype=out_dtype)
    y = xp.empty((n, k, p, q), out_dtype)
    _launch(_expr("winograd_output_transform", m.dtype, out_dtype), k * n * tp * tq,
            (m, np.int32(n), np.int32(k), np.int32(tp), np.int32(tq), np.int32(p),
             np.int32(q), y if bias is None else bias, np.int32(bias is not None), y,
             *_strides(y)))
    return y


# -- wgrad transforms: dM = A dY A^T, dw = G^T dU G --------------------------------------


def grad_output_transform(xp, dy, tp, tq):
    """``dM[xi, nu, k, tile(n, i, j)] = (A e A^T)[xi, nu]``, ``e`` the 2x2 tile of ``dy`` at
    rows 2i, 2i+1 and columns 2j, 2j+1 (zero beyond P, Q): (16, K, NT) in ``dy``'s dtype,
    tiles in the order of :func:`input_transform`."""
    n, k, p, q = dy.shape
    if _on_cpu(xp):
        e = _parity_split(dy, (0, 0, 0, 0), tp, tq, acc_dtype(dy.dtype))  # (K,2,tp,2,tq,N)
        e00, e01, e10, e11 = (e[:, i, :, j] for i in (0, 1) for j in (0, 1))
        rows = ((e00, e01), (e00 + e10, e01 + e11), (e00 - e10, e01 - e11), (-e10, -e11))
        dm = np.empty((4, 4, k, tp, tq, n), dy.dtype)
        for i, (r0, r1) in enumerate(rows):
            dm[i, 0] = r0
            dm[i, 1] = r0 + r1
            dm[i, 2] = r0 - r1
            dm[i, 3] = -r1
        return dm.reshape(16, k, -1)
    dm = xp.empty((16, k, n * tp * tq), dy.dtype)
    _launch(_expr("winograd_grad_output_transform", dy.dtype, dy.dtype), k * n * tp * tq,
            (dy, *_strides(dy), np.int32(n), np.int32(k), np.int32(tp), np.int32(tq),
             np.int32(p), np.int32(q), dm))
    return dm


def filter_grad_transform(xp, du, out_dtype):
    """``dw[k, c] = G^T dU[:, :, k, c] G``: ``du`` (4, 4, K, C) accumulator dtype ->
    (K, C, 3, 3) in ``out_dtype``."""
    k, c = du.shape[2:]
    if _on_cpu(xp):
        half = du.dtype.type(0.5)
        hs = half * (du[1] + du[2])
        z = (du[0] + hs, half * (du[1] - du[2]), hs + du[3])  # (4, K, C) each
        dw = np.empty((k, c, 3, 3), du.dtype)
        for r, zr in enumerate(z):
            hz = half * (zr[1] + zr[2])
            dw[:, :, r, 0] = zr[0] + hz
            dw[:, :, r, 1] = half * (zr[1] - zr[2])
            dw[:, :, r, 2] = hz + zr[3]
        return dw.astype(out_dtype, copy=False)
    dw = xp.empty((k, c, 3, 3), out_dtype)
    _launch(_expr("winograd_filter_grad_transform", du.dtype, out_dtype), k * c,
            (du, np.int32(k), np.int32(c), dw, *_strides(dw)))
    return dw


# -- split-K GEMM for the weight gradients ------------------------------------------------


def gemm_nt(xp, a, b, out_dtype):
    """``a @ b^T`` over the last axis, ``a`` (B, M, L), ``b`` (B, N, L) -> (B, M, N) in
    ``out_dtype``, accumulated in float32 (float64) and rounded once.

    The weight gradients are GEMMs with a small output (filters) and a huge inner
    dimension L (every output position of the batch): one GEMM would run on a handful of
    thread blocks. On the GPU the inner dimension is therefore split into chunks of
    ``SPLIT_K_CHUNK``, read in place as a batch of (M x chunk) @ (chunk x N) products
    (strided views, no copy), whose partial results are summed; the CPU path makes one
    BLAS call. Either way the sum runs over the same L terms, so the accuracy bound does
    not change.
    """
    bsz, m, total = a.shape
    n = b.shape[1]
    chunks = total // SPLIT_K_CHUNK
    if _on_cpu(xp) or chunks < 2:
        out = xp.empty((bsz, m, n), out_dtype)
        return batched_gemm(a, b, trans_b=True, out=out)
    ln = SPLIT_K_CHUNK
    main = chunks * ln

    def split(x, rows):
        sb, sr, sl = x.strides
        return xp.lib.stride_tricks.as_strided(x, (bsz, chunks, rows, ln),
                                               (sb, ln * sl, sr, sl))

    part = batched_gemm(split(a, m), split(b, n), trans_b=True)   # (B, chunks, M, N) acc
    acc = part.sum(axis=1)
    if main < total:
        batched_gemm(a[:, :, main:], b[:, :, main:], acc, beta=1.0, trans_b=True, out=acc)
    return acc.astype(out_dtype, copy=False)


# -- the three convolutions ------------------------------------------------------------


def fprop(xp, x, u, bias, pads, p, q, out_dtype, trans_u=False, fused=True):
    """Winograd convolution of ``x`` (N, C, H, W) with transformed filters ``u`` (4, 4, K, C)
    -- or (4, 4, C, K) used transposed when ``trans_u`` -- padded by ``pads``; (N, K, P, Q).

    On the GPU with ``fused`` (and a dtype the fused kernel serves) one kernel does it all
    (:mod:`blasfast.conv._winograd_fused`); otherwise the transforms and the 16 GEMMs run as
    separate launches (the CPU path always computes it this way)."""
    n = x.shape[0]
    k = u.shape[3] if trans_u else u.shape[2]
    tp, tq = tiles(p, q)
    if bias is not None and not _on_cpu(xp):
        # both output kernels (fused and unfused) read bias[k] from a bare pointer: a
        # strided or reversed view would be read as contiguous (wrong values, or memory
        # before the array for a negative stride)
        bias = xp.ascontiguousarray(bias)
    if fused and not _on_cpu(xp) and _winograd_fused.applies(x.dtype, out_dtype, k):
        return _winograd_fused.fprop(xp, x, u, trans_u, bias, pads, tp, tq, p, q)
    v = input_transform(xp, x, pads, tp, tq)
    m = batched_gemm(u.reshape(16, *u.shape[2:]), v, trans_a=trans_u)
    return output_transform(xp, m, bias, n, tp, tq, p, q, out_dtype)


def dgrad(xp, dy, u, pads, h, w, out_dtype, fused=True):
    """dL/dx of the forward with transformed filters ``u`` (4, 4, K, C) and ``pads``, from
    ``dy`` (N, K, P, Q): a Winograd convolution with the flipped transposed filters."""
    u_flip = u[list(PERM)][:, list(PERM)]
    pads_t = tuple(2 - v for v in pads)
    return fprop(xp, dy, u_flip, None, pads_t, h, w, out_dtype, trans_u=True, fused=fused)


def wgrad(xp, x, dy, pads, out_dtype):
    """dL/dw (K, C, 3, 3) of the forward with ``pads``, from ``x`` and ``dy``: the adjoint of
    the forward in the transform domain."""
    c = x.shape[1]
    k, p, q = dy.shape[1:]
    tp, tq = tiles(p, q)
    v = input_transform(xp, x, pads, tp, tq)
    dm = grad_output_transform(xp, dy, tp, tq)
    du = gemm_nt(xp, dm, v, acc_dtype(x.dtype))
    return filter_grad_transform(xp, du.reshape(4, 4, k, c), out_dtype)
