"""How a transform along one axis is computed: the *route* of each axis, shared by both paths.

Routes
------
``'lib'``
    The library FFT: ``scipy.fft`` on the CPU, ``cupy.fft`` (cuFFT) on the GPU, in the
    working precision (FP32 for complex64, FP64 for complex128).
``'split16'``, ``'fp16'``, ``'_fp16_unscaled'``
    The tensor-core transform with that arithmetic (see :mod:`._split`). Powers of two run
    as one fused pass (n <= 4096) or as a four-step split ``n = n1 * n2`` into passes with an
    FP32 twiddle multiplication in between; other lengths by Bluestein's algorithm on a
    power-of-two transform of length ``m >= 2n - 1``.

Everything here returns *unnormalized* transforms (forward: no scaling; inverse: no
``1/n``); the public functions apply ``norm`` once at the end. Real transforms of even
length pack the signal into a complex one of half the length and untangle the spectrum in
FP32 (the classic ``n/2`` complex FFT route); odd lengths run as complex transforms.
"""

import functools

import numpy as np

from . import _gpu, _split  # _gpu: the GPU launchers (importing declares their kernels)
from ._four_step import four_step_split, four_step_twiddles

SPLIT_ROUTES = _split.MODES


def is_pow2(n):
    return n >= 1 and (n & (n - 1)) == 0


def lib(xp):
    """``scipy.fft`` for NumPy, ``cupy.fft`` for CuPy."""
    if xp is np:
        import scipy.fft

        return scipy.fft
    return xp.fft


def _c2c_pow2_cpu(x, sign, mode):
    """Unnormalized DFT of the rows of ``x`` (B, n) complex64, n a power of two (CPU)."""
    b, n = x.shape
    if n == 1:
        return x.copy()
    if n <= _split.MAX_PASS:
        return _split.pass_cpu(x, sign, mode)
    n1, n2 = four_step_split(n)
    # pass 1: length n1 over j1 for every column j2, then the twiddle W^(j2*k1)
    y = np.ascontiguousarray(x.reshape(b, n1, n2).transpose(0, 2, 1)).reshape(b * n2, n1)
    y = _split.pass_cpu(y, sign, mode).reshape(b, n2, n1)
    with np.errstate(invalid="ignore", over="ignore"):
        y = y * four_step_twiddles(n1, n2, sign)
    # pass 2: length n2 over j2 for every row k1; X[k1 + n1*k2] = Z[k1, k2]
    y = np.ascontiguousarray(y.transpose(0, 2, 1)).reshape(b * n1, n2)
    z = _c2c_pow2_cpu(y, sign, mode).reshape(b, n1, n2)
    return np.ascontiguousarray(z.transpose(0, 2, 1)).reshape(b, n)


def c2c_pow2_rows(xp, x, sign, mode):
    """Unnormalized DFT of the rows of a contiguous (B, n) complex64 array, n a power of two."""
    if x.shape[0] == 0:
        return x.copy()
    if xp is np:
        return _c2c_pow2_cpu(x, sign, mode)
    return _gpu.c2c_pow2_rows(x, sign, mode)


@functools.lru_cache(maxsize=32)
def bluestein_tables(n, sign):
    """Chirp ``c[j] = exp(sign*pi*i*(j*j mod 2n)/n)`` (n,) and the spectrum of the conjugate
    chirp filter divided by ``m`` (m,), complex64, computed in float64; ``m`` = the power of
    two >= 2n - 1."""
    m = 1 << (2 * n - 2).bit_length()
    j = np.arange(n, dtype=np.int64)
    c = np.exp(sign * 1j * np.pi * ((j * j) % (2 * n)) / n)
    filt = np.zeros(m, np.complex128)
    filt[:n] = np.conj(c)
    filt[m - n + 1:] = np.conj(c[1:])[::-1]
    spec = np.fft.fft(filt) / m
    c, spec = c.astype(np.complex64), spec.astype(np.complex64)
    c.setflags(write=False)
    spec.setflags(write=False)
    return c, spec


def c2c_bluestein_rows(xp, x, sign, mode):
    """Unnormalized DFT of the rows of (B, n) complex64 for any n, by Bluestein's algorithm:
    ``X[k] = c[k] * sum_j (x[j] c[j]) conj(c[k-j])``, the convolution done with two
    power-of-two transforms of the same arithmetic and an FP32 pointwise product."""
    b, n = x.shape
    c, spec = bluestein_tables(n, sign)
    m = spec.shape[0]
    c, spec = xp.asarray(c), xp.asarray(spec)
    a = xp.zeros((b, m), np.complex64)
    a[:, :n] = x * c
    a = c2c_pow2_rows(xp, a, -1, mode)
    a *= spec
    a = c2c_pow2_rows(xp, a, 1, mode)
    return a[:, :n] * c


def c2c_rows(xp, x, sign, route):
    """Unnormalized DFT of the rows of a contiguous 2-D complex array by ``route``."""
    b, n = x.shape
    if route == "lib":
        f = lib(xp)
        return f.fft(x, axis=-1, norm="backward") if sign < 0 else \
            f.ifft(x, axis=-1, norm="forward")
    if b == 0:
        return x.copy()
    if is_pow2(n):
        return c2c_pow2_rows(xp, x, sign, route)
    return c2c_bluestein_rows(xp, x, sign, route)


def _rows(xp, a, axis):
    """``a`` with ``axis`` moved last, as a contiguous (B, n) array, and the moved shape."""
    moved = xp.moveaxis(a, axis, -1)
    shape = moved.shape
    return xp.ascontiguousarray(moved).reshape(-1, shape[-1]), shape


def _unrows(xp, rows, shape, axis):
    return xp.moveaxis(rows.reshape(shape), -1, axis)


def c2c_axis(xp, a, axis, sign, route):
    """Unnormalized complex DFT of ``a`` along ``axis``; ``sign`` -1 forward, +1 inverse."""
    if route == "lib":
        f = lib(xp)
        return f.fft(a, axis=axis, norm="backward") if sign < 0 else \
            f.ifft(a, axis=axis, norm="forward")
    n = a.shape[axis]
    if xp is not np and is_pow2(n) and n <= _split.MAX_PASS and a.size:
        return _gpu.c2c_pow2_axis(a, axis, sign, route)
    rows, shape = _rows(xp, a, axis)
    return _unrows(xp, c2c_rows(xp, rows, sign, route), shape[:-1] + (n,), axis)


@functools.lru_cache(maxsize=64)
def _half_twiddles(n, sign):
    """``exp(sign*2*pi*i*k/n)`` for k = 0..n/2, complex64, from float64."""
    k = np.arange(n // 2 + 1)
    w = np.exp(sign * 2j * np.pi * k / n).astype(np.complex64)
    w.setflags(write=False)
    return w


def r2c_axis(xp, x, axis, route):
    """Unnormalized real-to-complex DFT along ``axis`` (length n -> n//2 + 1)."""
    n = x.shape[axis]
    if route == "lib":
        return lib(xp).rfft(x, axis=axis, norm="backward")
    rows, shape = _rows(xp, x, axis)
    h = n // 2
    if n % 2 or rows.shape[0] == 0:
        spec = c2c_rows(xp, rows.astype(np.complex64), -1, route)[:, :h + 1]
    else:
        z = c2c_rows(xp, xp.ascontiguousarray(rows[:, 0::2] + 1j * rows[:, 1::2]).astype(
            np.complex64), -1, route)
        zk = xp.concatenate([z, z[:, :1]], axis=1)                   # Z[k], k = 0..h
        zr = xp.conj(zk[:, ::-1])                                    # conj Z[h-k]
        w = xp.asarray(_half_twiddles(n, -1))
        spec = (zk + zr) * np.float32(0.5) + (zk - zr) * (w * np.complex64(-0.5j))
    return _unrows(xp, xp.ascontiguousarray(spec), shape[:-1] + (h + 1,), axis)


def _real_ends(spec, axis, n):
    """A copy of ``spec`` whose zero frequency (and, for even ``n``, Nyquist frequency) along
    ``axis`` has its imaginary part set to zero, as ``numpy.fft.irfft`` reads them.

    cuFFT's complex-to-real transform may use those imaginary parts (on an H200 it did at
    n = 8192), so the GPU path drops them before any route. The new values are built with ``astype`` (a
    new array), never assigned from a view of the array being written."""
    spec = spec.copy()
    index = [slice(None)] * spec.ndim
    for k in ((0,) if n % 2 else (0, n // 2)):
        index[axis] = slice(k, k + 1)
        spec[tuple(index)] = spec[tuple(index)].real.astype(spec.dtype)
    return spec


def c2r_axis(xp, spec, axis, n, route):
    """Unnormalized complex-to-real inverse DFT along ``axis`` with output length ``n``;
    ``spec`` must hold ``n//2 + 1`` points along ``axis``. The imaginary parts of the zero
    (and, for even n, the Nyquist) frequency are ignored, as in NumPy."""
    spec = _real_ends(spec, axis, n)
    if route == "lib":
        return lib(xp).irfft(spec, n=n, axis=axis, norm="forward")
    rows, shape = _rows(xp, spec, axis)
    h = n // 2
    real = np.float32
    if n % 2 or rows.shape[0] == 0:
        full = xp.concatenate([rows, xp.conj(rows[:, h:0:-1])], axis=1)
        out = c2c_rows(xp, xp.ascontiguousarray(full), 1, route).real.astype(real)
    else:
        xk = rows[:, :h]
        xr = xp.conj(rows[:, h:0:-1])                                 # conj X[h-k]
        w = xp.asarray(_half_twiddles(n, 1)[:h])
        z = (xk + xr) + (xk - xr) * (w * np.complex64(1j))
        z = c2c_rows(xp, xp.ascontiguousarray(z), 1, route)
        out = xp.empty((rows.shape[0], n), real)
        out[:, 0::2] = z.real
        out[:, 1::2] = z.imag
    return _unrows(xp, out, shape[:-1] + (n,), axis)
