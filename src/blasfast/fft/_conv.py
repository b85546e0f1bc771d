"""FFT convolution: :func:`fftconvolve` (``scipy.signal`` semantics) and the FFT algorithm of
:func:`blasfast.conv2d` (:func:`conv2d_fft`, NCHW, channel sum in the frequency domain)."""

import contextlib
from typing import Literal

import numpy as np

from .. import _checks, _dask
from .. import gemm as _gemm
from .._backend import get_array_module
from .._docs import STREAM_PARAM
from .._errors import message
from .._typing import Array, ArrayLike, Int, IntPair, StreamLike
from . import _args, _transforms
from ._args import Axes, Precision
from .._interop import callers_kind as _callers_kind

__all__ = ["fftconvolve", "conv2d_fft"]

_MODES = ("full", "same", "valid")


def _fft_length(n, route, real):
    """Transform length >= n: a power of two for the tensor-core routes, else the next
    length ``scipy.fft`` handles fast (5-smooth)."""
    if route != "lib":
        return 1 << (n - 1).bit_length()
    import scipy.fft

    return scipy.fft.next_fast_len(n, real)


def _conv_route(op, precision, single):
    """One route for every axis: the convolution picks its own (power-of-two) lengths, so
    None means 'split16' for single-precision input."""
    routes = _args._routes(op, precision, single, [1])
    return routes[0]


def _conv_axes(op, ndim, axes):
    """SciPy's ``axes``: None (all), an int or a sequence of ints, in range, non-empty, no
    axis twice."""
    if axes is None:
        return list(range(ndim))
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, (bool, np.bool_)):
        axes = [axes]
    axes = _args._sequence(op, "axes", axes)
    if not axes:
        raise ValueError(message(op, "axes cannot be empty when provided (pass None for all "
                                     "axes), got axes=()"))
    out = [_args._axis(op, f"axes[{i}]", ax, ndim) for i, ax in enumerate(axes)]
    if len(set(out)) != len(out):
        raise ValueError(message(op, f"axes must be unique, got {tuple(axes)}"))
    return out


def _common_dtype(op, dtype1, dtype2, precision):
    """The dtype both inputs are cast to before any transform, SciPy's result type: integers
    and bool work in float64 and float16/bfloat16 in float32 (``scipy.fft``'s working
    types), then the usual promotion; complex if either input is. Returns ``(dtype,
    route)``."""
    c1, r1, single1 = _args._working_dtypes(op, dtype1, name="in1")
    c2, r2, single2 = _args._working_dtypes(op, dtype2, name="in2")
    single = single1 and single2
    is_complex = np.dtype(dtype1).kind == "c" or np.dtype(dtype2).kind == "c"
    ctype, rtype = (c1, r1) if single1 == single else (c2, r2)
    common = ctype if is_complex else rtype
    _args._check_precision(op, precision)
    if not single and precision not in (None, "fp64") and single1 != single2:
        raise ValueError(message(
            op, f"precision={precision!r} applies to single-precision inputs; in1 "
                f"({np.dtype(dtype1).name}) and in2 ({np.dtype(dtype2).name}) convolve in "
                f"{common.name} (SciPy's result type), which always runs in FP64: pass "
                "precision=None or 'fp64', or cast the other input to single precision "
                "(float32 or complex64)"))
    return common, _conv_route(op, precision, single)


def _centered(arr, newshape):
    start = [(c - n) // 2 for c, n in zip(arr.shape, newshape)]
    return arr[tuple(slice(s, s + n) for s, n in zip(start, newshape))]


@_callers_kind
def fftconvolve(in1: ArrayLike, in2: ArrayLike, mode: Literal["full", "same", "valid"] = "full",
                axes: Int | Axes | None = None, *, precision: Precision | None = None,
                stream: StreamLike = None) -> Array:
    """N-dimensional convolution by FFT, with :func:`scipy.signal.fftconvolve` semantics.

    ``out[n] = sum_k in1[k] * in2[n - k]`` over ``axes`` (full linear convolution, then
    cropped by ``mode``); the other axes broadcast.

    Parameters
    ----------
    in1, in2 : arrays with the same number of dimensions
        float16/bfloat16/float32/complex64 (single precision) or
        float64/complex128/int/bool (FP64); NumPy (CPU path) or CuPy (GPU path), not lists
        or Python scalars; a ``dask.array.Array`` (either) gives a lazy Dask array,
        computed blockwise over the axes not convolved (``stream`` must then be None).
        Along the axes not convolved their lengths must be equal or 1.
        Both are cast to their common type (see Returns) before any transform.
    mode : {'full', 'valid', 'same'}
        'full': the whole convolution, ``n1 + n2 - 1`` along each axis; 'same': the central
        part with ``in1``'s shape; 'valid': the part that does not depend on zero padding,
        ``n1 - n2 + 1`` (one input must be at least as large as the other along every
        convolved axis; they are swapped if needed).
    axes : int or sequence of int, optional
        Axes to convolve over (default: all). Axes where either input has length 1 are
        handled by broadcasting, not transformed.
    precision : {None, 'split16', 'fp32', 'fp16', 'fp64'}, optional
        Arithmetic of the transforms, as in :func:`blasfast.fft.fft`. None is 'split16' when
        both inputs are single precision: every transform is padded to a power of two.
        'fp32' pads to ``scipy.fft.next_fast_len`` and runs ``scipy.fft`` / cuFFT. When
        either input is double precision, an integer or bool, the common type is FP64 and
        the convolution runs in FP64 (``precision`` None or 'fp64'). The pointwise product
        is in the working precision (FP32 or FP64).
    {stream}

    Returns
    -------
    out : array
        SciPy's result type: each input's working type (float16 and bfloat16 work in
        float32, integers and bool in float64, the others in their own type), promoted:
        float32 when both are single-precision reals, float64 when both are real and one is
        double precision, an integer or bool, and complex64/complex128 likewise when either
        input is complex (complex64 with uint8 gives complex128). The product of two 0-d
        inputs is returned as NumPy multiplies them (as SciPy does); an empty input gives an
        empty 1-D array of the result type (SciPy's is always float64). Where no axis needs
        a transform (a length 1 in either input along every convolved axis) the result is
        the broadcast product in the result type (SciPy's is then NumPy's product type).

    Raises
    ------
    TypeError
        ``in1`` or ``in2`` not an array (a Python scalar, None or a string; lists of
        numbers are converted as SciPy does), an
        unsupported dtype, ``axes`` not an int or a sequence of ints (a float, a bool, a
        string), a ``mode`` or ``precision`` that is not a string, a ``stream`` that is not
        a CUDA stream, or host and device arrays in one call.
    ValueError
        A ragged list, inputs of different dimensionality, incompatible shapes along the
        other axes, no valid output in 'valid' mode, an unknown ``mode`` or ``precision``, a
        single-precision ``precision`` ('split16', 'fp32', 'fp16') when the common type is
        FP64 (or 'fp64' when it is single), ``axes`` empty or repeated, a ``stream`` with
        host arrays, or any ``stream`` but None with a Dask array.
    numpy.exceptions.AxisError
        An axis out of range (a ``ValueError`` and an ``IndexError``).

    Notes
    -----
    Three transforms (two forward, one inverse) of the padded size: real-input transforms
    (:func:`rfftn`) when both inputs are real. With 'split16' the relative L2 error against
    the exact convolution of the float32 inputs is about that of three transforms, ~1e-6;
    'fp16' ~1e-3. Not fused on the GPU yet: the spectra go through memory. The GPU path does
    not synchronize.

    References
    ----------
    Sorna et al. 2018 (split-FP16 FFT); SciPy ``scipy.signal.fftconvolve``.

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> x = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    >>> k = np.ones((3, 3), np.float32) / 9
    >>> bf.fft.fftconvolve(x, k, mode='same').shape
    (64, 64)
    """
    op = "fftconvolve"
    if _dask.any_dask(in1, in2):  # a lazy Dask array, mapped over the other axes
        return _dask.fftconvolve(fftconvolve, in1, in2, mode, axes, precision, stream)
    in1 = _args._operand(op, "in1", in1, allow_0d=True)
    in2 = _args._operand(op, "in2", in2, allow_0d=True)
    xp, (in1, in2) = get_array_module(op, in1, in2)
    _checks.choice(op, "mode", mode, _MODES)
    dtype, route = _common_dtype(op, in1.dtype, in2.dtype, precision)
    stream = _args._check_stream(op, xp, stream)
    # everything on one stream: the transforms and the products between them
    with contextlib.nullcontext() if stream is None else stream:
        return _fftconvolve_nocheck(op, xp, in1, in2, mode, axes, dtype, route)


if fftconvolve.__doc__ is not None:  # None under python -OO
    fftconvolve.__doc__ = fftconvolve.__doc__.replace("{stream}", STREAM_PARAM)


def _fftconvolve_nocheck(op, xp, in1, in2, mode, axes, dtype, route):
    """:func:`fftconvolve` after validation, on the current stream."""
    if in1.ndim == in2.ndim == 0:
        return in1 * in2
    if in1.ndim != in2.ndim:
        raise ValueError(message(op, f"in1 and in2 should have the same dimensionality, got "
                                     f"{in1.ndim} and {in2.ndim}"))
    axes = _conv_axes(op, in1.ndim, axes)
    if in1.size == 0 or in2.size == 0:
        return xp.asarray([], dtype=dtype)
    # both inputs in the common type first: the transforms then run in one precision
    in1, in2 = in1.astype(dtype, copy=False), in2.astype(dtype, copy=False)

    s1, s2 = in1.shape, in2.shape
    axes = [a for a in axes if s1[a] != 1 and s2[a] != 1]
    if not all(s1[a] == s2[a] or s1[a] == 1 or s2[a] == 1
               for a in range(in1.ndim) if a not in axes):
        raise ValueError(message(op, f"incompatible shapes for in1 and in2: {s1} and {s2}"))
    if mode == "valid" and axes:
        ok1 = all(s1[a] >= s2[a] for a in axes)
        ok2 = all(s2[a] >= s1[a] for a in axes)
        if not (ok1 or ok2):
            raise ValueError(message(op, "for 'valid' mode, one input must be at least as "
                                         "large as the other along every convolved axis, "
                                         f"got in1 of shape {s1} and in2 of shape {s2}"))
        if not ok1:
            in1, in2, s1, s2 = in2, in1, s2, s1
    is_complex = dtype.kind == "c"
    shape = [max(s1[i], s2[i]) if i not in axes else s1[i] + s2[i] - 1
             for i in range(in1.ndim)]
    if not axes:
        ret = in1 * in2
    else:
        fshape = [_fft_length(shape[a], route, not is_complex) for a in axes]
        single = dtype in (np.dtype(np.float32), np.dtype(np.complex64))
        prec = ("fp32" if route == "lib" else route) if single else None
        if is_complex:
            sp1 = _transforms._c2c(op, in1, fshape, axes, None, False, prec, None)
            sp2 = _transforms._c2c(op, in2, fshape, axes, None, False, prec, None)
            ret = _transforms._c2c(op, sp1 * sp2, fshape, axes, None, True, prec, None)
        else:
            sp1 = _transforms._r2c(op, in1, fshape, axes, None, prec, None)
            sp2 = _transforms._r2c(op, in2, fshape, axes, None, prec, None)
            ret = _transforms._c2r(op, sp1 * sp2, fshape, axes, None, prec, None)
        ret = ret[tuple(slice(n) for n in shape)]
    if mode == "same":
        ret = _centered(ret, s1)
    elif mode == "valid":
        ret = _centered(ret, [ret.shape[a] if a not in axes else s1[a] - s2[a] + 1
                              for a in range(ret.ndim)])
    return xp.ascontiguousarray(ret)


def _pair(op, name, v):
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(message(op, f"{name} must be an int or a pair, got {v!r}"))
        return tuple(_args._as_int(op, name, u) for u in v)
    v = _args._as_int(op, name, v)
    return v, v


def conv2d_fft(x: ArrayLike, w: ArrayLike, bias: ArrayLike | None = None,
               stride: IntPair = 1, padding: IntPair = 0, *,
               precision: Precision | None = None) -> Array:
    """2-D cross-correlation (a convolution layer's forward pass) by FFT, NCHW.

    ``y[n, k, i, j] = bias[k] + sum_{c, r, s} xp[n, c, i*sh + r, j*sw + s] * w[k, c, r, s]``
    with ``xp`` = ``x`` zero-padded by ``padding``.

    Parameters
    ----------
    x : (N, C, H, W) array
        float16/float32 (single precision) or float64; NumPy or CuPy.
    w : (K, C, R, S) array
        Filters, same kind as ``x``.
    bias : (K,) array, optional
    stride : int or (int, int)
        ``(sh, sw)`` >= 1.
    padding : int or (int, int)
        Zeros added on both sides of H and W, >= 0.
    precision : {None, 'split16', 'fp32', 'fp16'}, optional
        Arithmetic of the transforms, as in :func:`blasfast.fft.fft` (None: 'split16' for
        single precision, transforms padded to powers of two; FP64 input runs in FP64).

    Returns
    -------
    y : (N, K, Ho, Wo) array, float32 (single-precision input) or float64
        ``Ho = (H + 2*ph - R) // sh + 1``, likewise ``Wo``.

    Raises
    ------
    TypeError, ValueError
        Unsupported dtypes, mismatched channels, a filter larger than the padded input,
        non-positive stride, negative padding.

    Notes
    -----
    Each padded image and each filter is transformed once (real-input 2-D FFTs of
    ``P x Q >= (H + 2ph) x (W + 2pw)``, no wrap-around reaches the valid outputs); the
    channel sum ``Y[n, k, f] = sum_c X[n, c, f] * conj(W[k, c, f])`` is, per frequency ``f``,
    an ``(N x 2C) @ (2C x 2K)`` real GEMM (the complex product as a real block matrix), all
    frequencies in one :func:`blasfast.batched_gemm` call in FP32 (FP64); one inverse FFT per
    output plane. A stride > 1 computes the stride-1 output and subsamples it. Pays over
    direct/Winograd convolution from filters of about 5x5 up or with many channels.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.fft._conv import conv2d_fft
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    >>> w = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    >>> conv2d_fft(x, w, padding=2).shape
    (2, 4, 16, 16)
    """
    op = "conv2d"
    xp, (x, w, bias) = get_array_module(op, x, w, bias)
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(message(op, f"x must be (N, C, H, W) and w (K, C, R, S), got shapes "
                                     f"{x.shape} and {w.shape}"))
    n, c, h, wd = x.shape
    k, c2, r, s = w.shape
    if c != c2:
        raise ValueError(message(op, f"x has {c} channels but w expects {c2}: shapes "
                                     f"{x.shape} and {w.shape}"))
    sh, sw = _pair(op, "stride", stride)
    ph, pw = _pair(op, "padding", padding)
    if sh < 1 or sw < 1:
        raise ValueError(message(op, f"stride must be >= 1, got {(sh, sw)}"))
    if ph < 0 or pw < 0:
        raise ValueError(message(op, f"padding must be >= 0, got {(ph, pw)}"))
    hp, wp = h + 2 * ph, wd + 2 * pw
    if r > hp or s > wp:
        raise ValueError(message(op, f"the filter ({r}x{s}) is larger than the padded input "
                                     f"({hp}x{wp})"))
    ctype, rtype, single = _args._working_dtypes(
        op, np.result_type(x.dtype, w.dtype, *(() if bias is None else (bias.dtype,))))
    route = _conv_route(op, precision, single)
    prec = None if not single else ("fp32" if route == "lib" else route)
    ho1, wo1 = hp - r + 1, wp - s + 1
    ho, wo = (ho1 - 1) // sh + 1, (wo1 - 1) // sw + 1
    if 0 in (n, k, c):
        y = xp.zeros((n, k, ho, wo), rtype)
        return y if bias is None or c else y + bias.astype(rtype)[None, :, None, None]
    P, Q = _fft_length(hp, route, True), _fft_length(wp, route, True)
    xpad = xp.zeros((n, c, P, Q), rtype)
    xpad[:, :, ph:ph + h, pw:pw + wd] = x
    spec_x = _transforms._r2c(op, xpad, None, (-2, -1), None, prec, None)       # (N, C, P, Qh)
    spec_w = _transforms._r2c(op, w.astype(rtype), (P, Q), (-2, -1), None, prec, None)
    f = P * (Q // 2 + 1)
    xf = xp.moveaxis(spec_x.reshape(n, c, f), 2, 0)                              # (F, N, C)
    wf = xp.moveaxis(spec_w.reshape(k, c, f), 2, 0).transpose(0, 2, 1)         # (F, C, K)
    a = xp.concatenate([xf.real, xf.imag], axis=2)                               # (F, N, 2C)
    b = xp.concatenate([xp.concatenate([wf.real, -wf.imag], axis=2),
                        xp.concatenate([wf.imag, wf.real], axis=2)], axis=1)    # (F, 2C, 2K)
    yf = _gemm.batched_gemm(xp.ascontiguousarray(a), xp.ascontiguousarray(b))    # (F, N, 2K)
    spec_y = (yf[:, :, :k] + 1j * yf[:, :, k:]).astype(ctype)
    spec_y = xp.moveaxis(spec_y, 0, 2).reshape(n, k, P, Q // 2 + 1)
    y = _transforms._c2r(op, spec_y, (P, Q), (-2, -1), None, prec, None)
    y = y[:, :, :ho1:sh, :wo1:sw]
    if bias is not None:
        y = y + bias.astype(rtype)[None, :, None, None]
    return xp.ascontiguousarray(y.astype(rtype, copy=False))

