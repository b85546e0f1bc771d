"""Public transforms with :mod:`numpy.fft` semantics: argument handling and dispatch.

Every function normalizes and validates its arguments (shapes and dtypes only), makes a
working copy in the working dtype (complex64/float32 for single-precision and float16
inputs, complex128/float64 for double-precision, integer and boolean inputs), crops or
zero-pads each transformed axis to its length, runs the unnormalized transform of each axis
by its route (:mod:`._engine`) and applies ``norm`` once at the end.
"""

import math

import numpy as np

from .. import _backend, _dask
from .._backend import get_array_module
from .._typing import Array, ArrayLike, Int, StreamLike
from . import _engine
from ._args import Axes, Lengths, Norm, Precision
from ._args import _axis, _check_norm, _check_stream, _cook_nd, _length, _operand, _resize, \
    _routes, _scale, _working_dtypes
from ._docs import doc as _doc
from .._interop import callers_kind as _callers_kind

__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2",
           "irfft2", "rfftn", "irfftn"]


def _stream(op, xp, stream):
    """The stream to run in (integer handles and ``__cuda_stream__`` objects wrapped)."""
    return _backend.stream_context(op, stream, xp)


def _prepare(op, a, stream, real_only=False):
    """Validate ``a`` (an array of at least one dimension and a supported dtype) and
    ``stream``; return the array module, ``a`` and the working dtypes."""
    xp, (a,) = get_array_module(op, _operand(op, "a", a))
    ctype, rtype, single = _working_dtypes(op, a.dtype, real_only)
    _check_stream(op, xp, stream)
    return xp, a, ctype, rtype, single


def _finish(xp, x, scale):
    if scale != 1.0:
        x = x * x.real.dtype.type(scale)
    return xp.ascontiguousarray(x)


def _c2c(op, a, s, axes, norm, inverse, precision, stream):
    xp, a, ctype, _, single = _prepare(op, a, stream)
    axes, s = _cook_nd(op, a.shape, s, axes)
    norm = _check_norm(op, norm)
    routes = _routes(op, precision, single, s)
    sign = 1 if inverse else -1
    with _stream(op, xp, stream), np.errstate(invalid="ignore", over="ignore"):
        x = a.astype(ctype)
        for ax, n, route in reversed(list(zip(axes, s, routes))):
            x = _resize(xp, x, ax, n)
            x = _engine.c2c_axis(xp, x, ax, sign, route)
        return _finish(xp, x, _scale(norm, math.prod(s), inverse))


def _r2c(op, a, s, axes, norm, precision, stream):
    xp, a, ctype, rtype, single = _prepare(op, a, stream, real_only=True)
    axes, s = _cook_nd(op, a.shape, s, axes, real="r2c")
    norm = _check_norm(op, norm)
    routes = _routes(op, precision, single, s)
    with _stream(op, xp, stream), np.errstate(invalid="ignore", over="ignore"):
        x = _resize(xp, a.astype(rtype), axes[-1], s[-1])
        x = _engine.r2c_axis(xp, x, axes[-1], routes[-1]).astype(ctype, copy=False)
        for ax, n, route in zip(axes[:-1], s[:-1], routes[:-1]):
            x = _resize(xp, x, ax, n)
            x = _engine.c2c_axis(xp, x, ax, -1, route)
        return _finish(xp, x, _scale(norm, math.prod(s), False))


def _c2r(op, a, s, axes, norm, precision, stream):
    xp, a, ctype, rtype, single = _prepare(op, a, stream)
    axes, s = _cook_nd(op, a.shape, s, axes, real="c2r")
    norm = _check_norm(op, norm)
    routes = _routes(op, precision, single, s)
    with _stream(op, xp, stream), np.errstate(invalid="ignore", over="ignore"):
        x = a.astype(ctype)
        for ax, n, route in zip(axes[:-1], s[:-1], routes[:-1]):
            x = _resize(xp, x, ax, n)
            x = _engine.c2c_axis(xp, x, ax, 1, route)
        x = _resize(xp, x, axes[-1], s[-1] // 2 + 1)
        x = _engine.c2r_axis(xp, x, axes[-1], s[-1], routes[-1]).astype(rtype, copy=False)
        return _finish(xp, x, _scale(norm, math.prod(s), True))


def _one_axis(op, a, n, axis):
    """``(s, axes)`` of a 1-D transform, validating ``a``'s kind, ``n`` and ``axis``."""
    ndim = _operand(op, "a", a).ndim
    axis = _axis(op, "axis", axis, ndim)
    return (None if n is None else [_length(op, "n", n)]), [axis]


# ---------------------------------------------------------------------------------------
# Public functions.
# ---------------------------------------------------------------------------------------

@_callers_kind
@_doc
def fft(a: ArrayLike, n: Int | None = None, axis: Int = -1, norm: Norm | None = None, *,
        precision: Precision | None = None, stream: StreamLike = None) -> Array:
    """One-dimensional discrete Fourier transform.

    ``X[..., k] = sum_{j<n} x[..., j] * exp(-2*pi*i*j*k/n)`` along ``axis`` (times the
    ``norm`` factor).

    Parameters
    ----------
    a : array, (..., n_in, ...)
        float16/float32/complex64 (single precision) or float64/complex128/int/bool (FP64).
        NumPy array or (nested) list of numbers (CPU path, as ``numpy.fft`` takes them) or
        CuPy / CUDA array (GPU path), any strides; not a Python scalar. A PyTorch tensor
        gives a tensor on its device. A ``dask.array.Array`` gives a
        lazy Dask array, computed blockwise over the axes not transformed (``stream`` must
        then be None: ``ValueError``); so for every transform.
    n : int, optional
        Transform length: ``a`` is cropped or zero-padded along ``axis`` to ``n``
        (default: its length).
    axis : int
        Axis to transform (default: the last).
    {norm}
    {precision}

    Returns
    -------
    out : array, complex64 (single-precision input) or complex128
        Shape of ``a`` with ``n`` along ``axis``.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> x = np.random.default_rng(0).standard_normal(1024).astype(np.float32)
    >>> X = bf.fft.fft(x)                        # split-FP16, complex64
    >>> ref = np.fft.fft(x.astype(np.float64))
    >>> bool(np.linalg.norm(X - ref) / np.linalg.norm(ref) < 1e-6)
    True
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("fft", fft, "c2c", a, n, axis, norm, precision,
                               stream, True)
    s, axes = _one_axis("fft", a, n, axis)
    return _c2c("fft", a, s, axes, norm, False, precision, stream)


@_callers_kind
@_doc
def ifft(a: ArrayLike, n: Int | None = None, axis: Int = -1, norm: Norm | None = None, *,
         precision: Precision | None = None, stream: StreamLike = None) -> Array:
    """One-dimensional inverse discrete Fourier transform.

    ``x[..., j] = (1/n) sum_{k<n} X[..., k] * exp(2*pi*i*j*k/n)`` along ``axis`` (the
    ``1/n`` as ``norm`` says).

    Parameters
    ----------
    a : array
        As for :func:`fft`.
    n : int, optional
        Transform length (crop or zero-pad ``a`` along ``axis``).
    axis : int
        Axis to transform (default: the last).
    {norm}
    {precision}

    Returns
    -------
    out : array, complex64 or complex128
        Shape of ``a`` with ``n`` along ``axis``.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> x = np.arange(8, dtype=np.complex64)
    >>> bool(np.allclose(bf.fft.ifft(bf.fft.fft(x)), x, atol=1e-5))
    True
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("ifft", ifft, "c2c", a, n, axis, norm, precision,
                               stream, True)
    s, axes = _one_axis("ifft", a, n, axis)
    return _c2c("ifft", a, s, axes, norm, True, precision, stream)


@_callers_kind
@_doc
def fftn(a: ArrayLike, s: Lengths | None = None, axes: Axes | None = None,
         norm: Norm | None = None, *, precision: Precision | None = None,
         stream: StreamLike = None) -> Array:
    """N-dimensional discrete Fourier transform over ``axes``.

    Parameters
    ----------
    a : array
        As for :func:`fft`.
    s : sequence of int, optional
        Transform length along each axis of ``axes`` (crop or zero-pad); an entry of None or
        -1 keeps that axis' length.
    axes : sequence of int, optional
        Axes to transform; default: the last ``len(s)`` axes, or all axes when ``s`` is None.
        An axis repeated is transformed that many times (as in NumPy).
    {norm}
    {precision}

    Returns
    -------
    out : array, complex64 or complex128
        Shape of ``a`` with ``s[i]`` along ``axes[i]``.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> bf.fft.fftn(np.ones((4, 8, 16), np.float32)).shape
    (4, 8, 16)
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("fftn", fftn, "c2c", a, s, axes, norm, precision,
                               stream, False)
    return _c2c("fftn", a, s, axes, norm, False, precision, stream)


@_callers_kind
@_doc
def ifftn(a: ArrayLike, s: Lengths | None = None, axes: Axes | None = None,
          norm: Norm | None = None, *, precision: Precision | None = None,
          stream: StreamLike = None) -> Array:
    """N-dimensional inverse discrete Fourier transform over ``axes``.

    Parameters
    ----------
    a : array
        As for :func:`fft`.
    s : sequence of int, optional
        As for :func:`fftn`.
    axes : sequence of int, optional
        As for :func:`fftn`.
    {norm}
    {precision}

    Returns
    -------
    out : array, complex64 or complex128
        Shape of ``a`` with ``s[i]`` along ``axes[i]``.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> x = np.ones((4, 8), np.complex64)
    >>> bool(np.allclose(bf.fft.ifftn(bf.fft.fftn(x)), x, atol=1e-5))
    True
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("ifftn", ifftn, "c2c", a, s, axes, norm, precision,
                               stream, False)
    return _c2c("ifftn", a, s, axes, norm, True, precision, stream)


@_callers_kind
@_doc
def fft2(a: ArrayLike, s: Lengths | None = None, axes: Axes = (-2, -1),
         norm: Norm | None = None, *, precision: Precision | None = None,
         stream: StreamLike = None) -> Array:
    """Two-dimensional discrete Fourier transform: :func:`fftn` over two axes.

    Parameters
    ----------
    a : array, (..., M, N)
        As for :func:`fft`.
    s : (int, int), optional
        Transform lengths along ``axes`` (crop or zero-pad).
    axes : (int, int)
        Axes to transform (default: the last two).
    {norm}
    {precision}

    Returns
    -------
    out : array, complex64 or complex128
        Shape of ``a`` with ``s`` along ``axes``.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> img = np.random.default_rng(0).random((3, 64, 64), dtype=np.float32)
    >>> F = bf.fft.fft2(img)
    >>> ref = np.fft.fft2(img.astype(np.float64))
    >>> bool(np.linalg.norm(F - ref) / np.linalg.norm(ref) < 1e-6)
    True
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("fft2", fft2, "c2c", a, s, axes, norm, precision,
                               stream, False)
    return _c2c("fft2", a, s, axes, norm, False, precision, stream)


@_callers_kind
@_doc
def ifft2(a: ArrayLike, s: Lengths | None = None, axes: Axes = (-2, -1),
          norm: Norm | None = None, *, precision: Precision | None = None,
          stream: StreamLike = None) -> Array:
    """Two-dimensional inverse discrete Fourier transform: :func:`ifftn` over ``axes``.

    Parameters
    ----------
    a : array, (..., M, N)
        As for :func:`fft`.
    s : (int, int), optional
        Transform lengths along ``axes``.
    axes : (int, int)
        Axes to transform (default: the last two).
    {norm}
    {precision}

    Returns
    -------
    out : array, complex64 or complex128
        Shape of ``a`` with ``s`` along ``axes``.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> bf.fft.ifft2(np.ones((2, 4, 4), np.complex64))[0, 0, 0]
    np.complex64(1+0j)
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("ifft2", ifft2, "c2c", a, s, axes, norm, precision,
                               stream, False)
    return _c2c("ifft2", a, s, axes, norm, True, precision, stream)


@_callers_kind
@_doc
def rfft(a: ArrayLike, n: Int | None = None, axis: Int = -1, norm: Norm | None = None, *,
         precision: Precision | None = None, stream: StreamLike = None) -> Array:
    """One-dimensional discrete Fourier transform of real input.

    The ``n//2 + 1`` non-negative frequencies of :func:`fft`.

    Parameters
    ----------
    a : array, real
        float16/float32 (single precision) or float64/int/bool (FP64).
    n : int, optional
        Transform length (crop or zero-pad ``a`` along ``axis``).
    axis : int
        Axis to transform (default: the last).
    {norm}
    {precision}

    Returns
    -------
    out : array, complex64 or complex128
        Shape of ``a`` with ``n//2 + 1`` along ``axis``.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> bf.fft.rfft(np.ones(8, np.float32)).shape
    (5,)
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("rfft", rfft, "r2c", a, n, axis, norm, precision,
                               stream, True)
    s, axes = _one_axis("rfft", a, n, axis)
    return _r2c("rfft", a, s, axes, norm, precision, stream)


@_callers_kind
@_doc
def irfft(a: ArrayLike, n: Int | None = None, axis: Int = -1, norm: Norm | None = None, *,
          precision: Precision | None = None, stream: StreamLike = None) -> Array:
    """Inverse of :func:`rfft`: a real signal from its non-negative frequencies.

    The real signal of length ``n`` from its ``n//2 + 1`` non-negative frequencies
    (Hermitian symmetry supplies the rest).

    Parameters
    ----------
    a : array
        Spectrum, complex64/complex128 (or real); ``a`` is cropped or zero-padded to
        ``n//2 + 1`` points along ``axis``. The imaginary part of the zero frequency (and
        of the Nyquist frequency for even ``n``) is ignored.
    n : int, optional
        Output length (default: ``2*(m - 1)`` for ``m`` input points).
    axis : int
        Axis to transform (default: the last).
    {norm}
    {precision}

    Returns
    -------
    out : array, float32 (single-precision input) or float64
        Shape of ``a`` with ``n`` along ``axis``.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> x = np.arange(6, dtype=np.float32)
    >>> bool(np.allclose(bf.fft.irfft(bf.fft.rfft(x), n=6), x, atol=1e-5))
    True
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("irfft", irfft, "c2r", a, n, axis, norm, precision,
                               stream, True)
    s, axes = _one_axis("irfft", a, n, axis)
    return _c2r("irfft", a, s, axes, norm, precision, stream)


@_callers_kind
@_doc
def rfftn(a: ArrayLike, s: Lengths | None = None, axes: Axes | None = None,
          norm: Norm | None = None, *, precision: Precision | None = None,
          stream: StreamLike = None) -> Array:
    """N-dimensional discrete Fourier transform of real input.

    A real transform along the last axis of ``axes`` (``s[-1]//2 + 1`` outputs), complex
    transforms along the others.

    Parameters
    ----------
    a : array, real
        As for :func:`rfft`.
    s : sequence of int, optional
        As for :func:`fftn`.
    axes : sequence of int, optional
        As for :func:`fftn`.
    {norm}
    {precision}

    Returns
    -------
    out : array, complex64 or complex128
        Shape of ``a`` with ``s[i]`` along ``axes[i]``, except ``s[-1]//2 + 1`` along
        ``axes[-1]``.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> bf.fft.rfftn(np.ones((4, 6, 8), np.float32)).shape
    (4, 6, 5)
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("rfftn", rfftn, "r2c", a, s, axes, norm, precision,
                               stream, False)
    return _r2c("rfftn", a, s, axes, norm, precision, stream)


@_callers_kind
@_doc
def irfftn(a: ArrayLike, s: Lengths | None = None, axes: Axes | None = None,
           norm: Norm | None = None, *, precision: Precision | None = None,
           stream: StreamLike = None) -> Array:
    """Inverse of :func:`rfftn`: a real signal from its N-dimensional half spectrum.

    Complex inverse transforms along all but the last axis of ``axes``, then a
    complex-to-real one along it.

    Parameters
    ----------
    a : array
        Spectrum, as for :func:`irfft`.
    s : sequence of int, optional
        Output lengths along ``axes`` (default: the input lengths, ``2*(m - 1)`` along the
        last).
    axes : sequence of int, optional
        As for :func:`fftn`.
    {norm}
    {precision}

    Returns
    -------
    out : array, float32 or float64
        Shape of ``a`` with ``s`` along ``axes`` (float32 for single-precision input).

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> x = np.random.default_rng(1).random((6, 10)).astype(np.float32)
    >>> bool(np.allclose(bf.fft.irfftn(bf.fft.rfftn(x), s=x.shape), x, atol=1e-5))
    True
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("irfftn", irfftn, "c2r", a, s, axes, norm, precision,
                               stream, False)
    return _c2r("irfftn", a, s, axes, norm, precision, stream)


@_callers_kind
@_doc
def rfft2(a: ArrayLike, s: Lengths | None = None, axes: Axes = (-2, -1),
          norm: Norm | None = None, *, precision: Precision | None = None,
          stream: StreamLike = None) -> Array:
    """Two-dimensional discrete Fourier transform of real input: :func:`rfftn` over two axes.

    Parameters
    ----------
    a : array, real, (..., M, N)
        As for :func:`rfft`.
    s : (int, int), optional
        Transform lengths along ``axes``.
    axes : (int, int)
        Axes to transform (default: the last two).
    {norm}
    {precision}

    Returns
    -------
    out : array, complex64 or complex128
        (..., M, N//2 + 1) for the default axes.

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> bf.fft.rfft2(np.ones((2, 64, 64), np.float32)).shape
    (2, 64, 33)
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("rfft2", rfft2, "r2c", a, s, axes, norm, precision,
                               stream, False)
    return _r2c("rfft2", a, s, axes, norm, precision, stream)


@_callers_kind
@_doc
def irfft2(a: ArrayLike, s: Lengths | None = None, axes: Axes = (-2, -1),
           norm: Norm | None = None, *, precision: Precision | None = None,
           stream: StreamLike = None) -> Array:
    """Inverse of :func:`rfft2`: :func:`irfftn` over ``axes`` (default the last two).

    Parameters
    ----------
    a : array, (..., M, N//2 + 1)
        Spectrum, as for :func:`irfft`.
    s : (int, int), optional
        Output lengths along ``axes``.
    axes : (int, int)
        Axes to transform.
    {norm}
    {precision}

    Returns
    -------
    out : array, float32 or float64
        Shape of ``a`` with ``s`` along ``axes`` (float32 for single-precision input).

    Raises
    ------
    {raises}

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> x = np.random.default_rng(2).random((2, 16, 16)).astype(np.float32)
    >>> bool(np.allclose(bf.fft.irfft2(bf.fft.rfft2(x), s=(16, 16)), x, atol=1e-5))
    True
    """
    if _dask.any_dask(a):  # a lazy Dask array, mapped over the other axes
        return _dask.transform("irfft2", irfft2, "c2r", a, s, axes, norm, precision,
                               stream, False)
    return _c2r("irfft2", a, s, axes, norm, precision, stream)
