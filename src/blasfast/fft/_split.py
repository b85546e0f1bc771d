"""Split-FP16 arithmetic and the CPU emulation of one fused tensor-core FFT pass.

The numerics here are the specification the GPU kernel (``kernels/fft_split16.cu``) follows;
the CPU path runs them in NumPy, with the DFT matrix products done by
:func:`blasfast.batched_gemm` on float16 operands (float32 accumulation), as the tensor
cores do them.

A *pass* transforms up to ``2**MAX_PASS_LOG2`` = 4096 points (one GPU thread block keeps
them in shared memory) in radix-4 Stockham stages, preceded by one radix-2 stage when
``log2(n)`` is odd. Stage ``(r, L)`` (``L`` = the length already transformed) reads the
data as ``(r, n/r)``: column ``c = q*L + k1`` holds the ``r`` inputs of one butterfly,
multiplies input ``j`` by the twiddle ``exp(sign*2*pi*i*j*k1/(r*L))`` in float32, splits
the column into float16 halves, multiplies them by the exact radix-``r`` DFT matrix
(written as a real ``2r x 2r`` matrix on interleaved real/imaginary rows) and writes output
``k2`` to index ``q*r*L + k2*L + k1``. Radix 4 is the largest radix whose DFT matrix is
exact in float16 (entries 0, +-1, +-i); radix 16 has ``cos(pi/8)``, which would need the
matrix split too (three products instead of two), so it is not used.

Splitting (Sorna et al. 2018; scales made powers of two here so that every step but the
float16 roundings is exact)::

    s1 = 2**ceil'(log2 max|z|)   hi = fp16(z / s1)
    r  = z - s1*hi (exact)       s2 = 2**ceil'(log2 max|r|)   lo = fp16(r / s2)
    Y  = s1 * (F @ hi) + s2 * (F @ lo)      (F @ . with float32 accumulation)

where the maximum runs over one scale *block* (default: the ``2r`` real inputs of one
butterfly, the finest block a GEMM column allows), ``ceil'`` is the exponent of the next
power of two strictly above the maximum, clamped to ``2**-126 <= s <= 2**126`` (so ``1/s``
is a normal float32, 0 gives ``s = 2**-126``, Inf and NaN give ``2**126`` and propagate
through the data). ``z/s1`` is then exact and ``|z/s1| < 1``, ``hi`` carries 11
significant bits, ``|r| <= 2**-11 |z|`` and ``lo`` 11 more: ``|z - s1 hi - s2 lo| <=
2**-22 |z| + 2**-35 s1`` (the second term: float16 subnormals of the low half).

The block: because the scales are powers of two the split error is relative to each element
down to ``2**-35`` of the block maximum, so the block size hardly matters for accuracy --
measured by ``scripts/fft_accuracy.py``: one butterfly, 16 butterflies and a whole
transform agree to 1% in relative L2 error, also with 1% of the inputs 1e12 times larger.
We take one butterfly because it is free on the GPU (its scales are reduced in registers
over the 4 lanes holding it, two shuffles, no extra pass) and it keeps Inf/NaN inside their
own transform. ``block`` > 1 exists for that study.
"""

import functools

import numpy as np

from .. import gemm as _gemm

MAX_PASS_LOG2 = 12
MAX_PASS = 1 << MAX_PASS_LOG2

# 'split16': hi and lo halves; 'fp16': hi only (same scales); '_fp16_unscaled': no scales,
# every stage output stored as float16 (what an FP16 FFT library does; accuracy script only).
MODES = ("split16", "fp16", "_fp16_unscaled")

_U32 = np.uint32


def pow2_scale(m):
    """The split scale of block maxima ``m`` (float32): ``(s, 1/s)``, both float32.

    ``s`` is the power of two whose exponent is one above the exponent of ``m`` (so
    ``m < s <= 2m`` for normal ``m``), clamped to ``[2**-126, 2**126]``; computed on the
    bits, exactly like the GPU kernel.
    """
    bits = np.ascontiguousarray(m, dtype=np.float32).view(_U32)
    e = np.minimum(((bits >> _U32(23)) & _U32(0xFF)) + _U32(1), _U32(253))
    return (e << _U32(23)).view(np.float32), ((_U32(254) - e) << _U32(23)).view(np.float32)


def _block_max(a, block):
    """Maximum of ``a`` (R, N) over the rows and over groups of ``block`` columns -> (N,)."""
    m = np.max(a, axis=0)
    if block > 1:
        m = np.repeat(m.reshape(-1, block).max(axis=1), block)
    return m


def split(z, block=1):
    """Split float32 columns ``z`` (R, N) into float16 halves with per-block scales.

    Returns ``hi, lo`` (R, N) float16 and ``s1, s2`` (N,) float32 with
    ``z ~= s1*hi + s2*lo`` (see the module notes for the bound). ``block`` consecutive
    columns share one pair of scales (``N`` must be a multiple of it).
    """
    s1, inv1 = pow2_scale(_block_max(np.abs(z), block))
    hi = (z * inv1).astype(np.float16)
    r = z - hi.astype(np.float32) * s1
    s2, inv2 = pow2_scale(_block_max(np.abs(r), block))
    lo = (r * inv2).astype(np.float16)
    return hi, lo, s1, s2


def split_hi(z, block=1):
    """The 'fp16' mode: only the scaled high half, ``z ~= s1*hi`` (relative 2**-11)."""
    s1, inv1 = pow2_scale(_block_max(np.abs(z), block))
    return (z * inv1).astype(np.float16), s1


@functools.lru_cache(maxsize=None)
def dft_matrix(r, sign):
    """The radix-``r`` DFT matrix ``F[k, j] = exp(sign*2*pi*i*j*k/r)`` (r = 2 or 4) as a real
    ``(2r, 2r)`` float16 matrix on interleaved (re, im) rows and columns: its entries are
    0 and +-1, exact in float16."""
    if r not in (2, 4):
        raise ValueError(f"radix {r} has no exact float16 DFT matrix")
    k = np.arange(r)
    w = np.exp(sign * 2j * np.pi * np.outer(k, k) / r)
    w = np.round(w.real) + 1j * np.round(w.imag)
    f = np.zeros((2 * r, 2 * r))
    f[0::2, 0::2] = w.real
    f[0::2, 1::2] = -w.imag
    f[1::2, 0::2] = w.imag
    f[1::2, 1::2] = w.real
    f16 = f.astype(np.float16)
    f16.setflags(write=False)
    return f16


def stages(n):
    """Radix-``r`` stages ``(r, L)`` of one pass of ``n`` points (a power of two <= 4096):
    a radix-2 stage first when ``log2(n)`` is odd, then radix-4 stages."""
    p = n.bit_length() - 1
    out, L = [], 1
    if p % 2:
        out.append((2, 1))
        L = 2
    while L < n:
        out.append((4, L))
        L *= 4
    return out


@functools.lru_cache(maxsize=256)
def stage_twiddles(r, L, sign):
    """``T[j, k1] = exp(sign*2*pi*i*j*k1/(r*L))`` as complex64 (r, L), from float64."""
    jk = np.outer(np.arange(r), np.arange(L))
    t = np.exp(sign * 2j * np.pi * jk / (r * L)).astype(np.complex64)
    t.setflags(write=False)
    return t


def dft_columns(z, r, sign, mode, block=1):
    """One radix-``r`` DFT on every column of ``z`` (2r, N) float32 (interleaved re/im rows)
    with the split arithmetic of ``mode``; the products through :func:`batched_gemm` on
    float16 operands. Returns float32 (2r, N)."""
    f = dft_matrix(r, sign)
    if mode == "split16":
        hi, lo, s1, s2 = split(z, block)
        y = _gemm.batched_gemm(f, np.stack([hi, lo]))
        return y[0] * s1 + y[1] * s2
    if mode == "fp16":
        hi, s1 = split_hi(z, block)
        return _gemm.batched_gemm(f, hi) * s1
    if mode == "_fp16_unscaled":
        with np.errstate(over="ignore", invalid="ignore"):
            y = _gemm.batched_gemm(f, z.astype(np.float16))
            return y.astype(np.float16).astype(np.float32)
    raise ValueError(f"unknown split mode {mode!r}")


def stage(x, r, L, sign, mode, block=1):
    """One Stockham stage on ``x`` (B, n) complex64; returns a new (B, n) complex64."""
    b, n = x.shape
    nr = n // r
    m2 = nr // L
    a = np.moveaxis(x.reshape(b, r, m2, L), 1, 0)                  # (j, b, q, k1)
    if L > 1:
        with np.errstate(invalid="ignore", over="ignore"):
            a = a * stage_twiddles(r, L, sign)[:, None, None, :]
    z = np.empty((r, 2, b, m2, L), np.float32)
    z[:, 0] = a.real
    z[:, 1] = a.imag
    with np.errstate(invalid="ignore", over="ignore"):
        y = dft_columns(z.reshape(2 * r, b * nr), r, sign, mode, block)
    y = y.reshape(r, 2, b, m2, L)                                     # (k2, re/im, b, q, k1)
    out = np.empty((b, m2, r, L), np.complex64)
    out.real = y[:, 0].transpose(1, 2, 0, 3)
    out.imag = y[:, 1].transpose(1, 2, 0, 3)
    return out.reshape(b, n)


def pass_cpu(x, sign, mode, block=1):
    """One fused pass: the unnormalized DFT of every row of ``x`` (B, n) complex64, n a power
    of two <= 4096, ``exp(sign*2*pi*i*j*k/n)`` kernel. Returns (B, n) complex64."""
    n = x.shape[-1]
    if n > MAX_PASS:
        raise ValueError(f"one pass transforms at most {MAX_PASS} points, got {n}")
    if mode == "_fp16_unscaled":
        with np.errstate(over="ignore"):
            x = x.astype(np.complex64).real.astype(np.float16).astype(np.float32) + \
                1j * x.imag.astype(np.float16).astype(np.float32)
        x = x.astype(np.complex64)
    for r, L in stages(n):
        x = stage(x, r, L, sign, mode, block)
    return x
