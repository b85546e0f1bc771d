"""2-D convolution (cross-correlation, NCHW/KCRS): forward, dgrad, wgrad.

The algorithms, one API:

* ``'winograd'``: Winograd F(2x2, 3x3) as 16 batched GEMMs between input, filter and output
  transforms (:mod:`blasfast.conv._winograd`); 3x3 filters, stride 1, dilation 1. On the GPU
  the forward and dgrad run as one fused kernel (:mod:`blasfast.conv._winograd_fused`: input
  transform in shared memory feeding the GEMMs, output transform in their epilogue;
  CUDA cores for float32, tensor cores for float16/bfloat16; float64 stays unfused).
* ``'winograd_nonfused'``: the same algorithm as separate transform and GEMM launches on
  the GPU (cuDNN's ``WINOGRAD_NONFUSED``), kept as the reference for the fused kernel. On
  the CPU path both names run the same NumPy computation.
* ``'gemm'``: im2col + batched GEMM (:mod:`blasfast.conv._im2col`); every case.
* ``'fft'``: the FFT convolution of :mod:`blasfast.fft` (forward only), when that module
  provides ``conv2d_fft``.

``'auto'`` picks Winograd whenever it applies and the GEMMs are wide enough to pay for the
transforms (see :data:`AUTO_RULE`), the GEMM algorithm otherwise; it never picks 'fft'.

Layers, as everywhere in blasfast: the public functions here normalize and validate
arguments (shapes and dtypes, never contents), allocate, and hand arrays to the algorithm
modules, whose functions run on either array module (the NumPy CPU path, or CUDA kernels
plus :func:`blasfast.batched_gemm` on CuPy arrays).
"""

import numpy as np

from .. import _backend, _checks, _dask, _dtypes
from .._backend import get_array_module
from .._errors import message
from . import _im2col, _winograd
from ._geom import make_geom

__all__ = ["conv2d", "conv2d_dgrad", "conv2d_wgrad", "conv2d_algorithm",
           "winograd_filter_transform"]

ALGORITHMS = ("auto", "winograd", "winograd_nonfused", "gemm", "fft")
WINOGRAD = ("winograd", "winograd_nonfused")
CONV_DTYPES = (_dtypes.float32, _dtypes.float16, _dtypes.bfloat16, _dtypes.float64)

#: 'auto' takes Winograd when it applies (3x3, stride 1, dilation 1) and both GEMM sides
#: are at least this wide, min(C, K) >= AUTO_MIN_CHANNELS[path] (the same rule for the
#: forward, dgrad and wgrad). Below that the 16 GEMMs are too thin to pay for the
#: transforms, which move 4x the input through memory. CPU: measured on a 2-core x86
#: machine (NumPy + OpenBLAS, one thread), forward/dgrad/wgrad ms, Winograd vs GEMM:
#: C = K = 32 at 28x28, N = 16: 31/36/28 vs 11/19/11; C = K = 128: 112/60/86 vs
#: 111/92/69; C = K = 256 at 14x14: 41/40/33 vs 52/71/59 -- the crossover is near 128.
#: GPU: 32, not yet measured (bench/bench_conv.py measures it against cuDNN).
AUTO_MIN_CHANNELS = {"cpu": 128, "gpu": 32}
AUTO_RULE = ("winograd if 3x3 filters, stride 1, dilation 1 and min(C, K) >= "
             f"{AUTO_MIN_CHANNELS['gpu']} on the GPU ({AUTO_MIN_CHANNELS['cpu']} on the CPU "
             "path); else gemm")


def _stream_ctx(op, xp, stream):
    """The context to launch in (see :func:`blasfast._backend.as_stream`): None is the
    current stream; a stream with host arrays is an error."""
    return _backend.stream_context(op, stream, xp)


def _arrays(op, **arrays):
    """Refuse non-arrays (scalars, lists, None where an array is due) by name; optional
    arguments are passed as None and skipped by the caller."""
    for name, a in arrays.items():
        _checks.array_operand(op, name, a)


def _check_dtypes(op, **arrays):
    """All given arrays share one supported dtype; return it."""
    items = [(k, a) for k, a in arrays.items() if a is not None]
    name, first = items[0]
    _checks.dtype_in(op, name, first.dtype, CONV_DTYPES)
    return _checks.same_dtype(op, **{k: a.dtype for k, a in items})


def _check_bias(op, bias, k):
    if bias is not None and tuple(bias.shape) != (k,):
        raise ValueError(message(op, f"bias must have shape (K,) = ({k},), one value per "
                                     f"filter, got {tuple(bias.shape)}"))


def _choose(op, algorithm, geom, have_u=False, forward_only=None, gpu=False):
    """Resolve ``algorithm`` for ``geom``; raise for invalid or inapplicable choices."""
    _checks.choice(op, "algorithm", algorithm, ALGORITHMS)
    if algorithm == "fft":
        if forward_only is not None or have_u or _fft_conv2d() is None:
            why = (f"{op} has no FFT algorithm" if forward_only is not None or have_u else
                   "algorithm='fft' is not available (blasfast.fft provides no conv2d_fft)")
            raise NotImplementedError(message(op, f"{why}; use 'auto', 'winograd' or 'gemm'"))
        if geom.dilation != (1, 1) or geom.pads[0::2] != geom.pads[1::2]:
            raise ValueError(message(
                op, f"algorithm='fft' needs dilation 1 and the same padding on both sides, "
                    f"got dilation {geom.dilation} and padding {geom.pads} (top, bottom, "
                    "left, right); use 'gemm'"))
        return "fft"
    if algorithm in WINOGRAD:
        _require_winograd(op, geom, algorithm)
        return algorithm
    if algorithm == "gemm":
        if have_u:
            raise ValueError(message(op, "w_winograd is only used by algorithm='winograd' "
                                         "('winograd_nonfused', 'auto'), not 'gemm'"))
        return "gemm"
    if have_u:
        _require_winograd(op, geom, via_u=True)
        return "winograd"
    wide = min(geom.C, geom.K) >= AUTO_MIN_CHANNELS["gpu" if gpu else "cpu"]
    return "winograd" if geom.winograd_ok and wide else "gemm"


def _fft_conv2d():
    """``blasfast.fft._conv.conv2d_fft`` when the FFT package provides it, else None."""
    try:
        from ..fft._conv import conv2d_fft
    except ImportError:
        return None
    return conv2d_fft


def _require_winograd(op, geom, algorithm="winograd", via_u=False):
    """Winograd applies to ``geom``, or a ValueError naming what asked for it (``algorithm``,
    or a ``w_winograd`` argument, which implies it)."""
    what = f"algorithm={algorithm!r}"
    if via_u:
        what = "w_winograd implies algorithm='winograd', which"
    fix = "use algorithm='gemm' (or 'auto')" + (" without w_winograd" if via_u else "")
    if (geom.R, geom.S) != (3, 3):
        raise ValueError(message(
            op, f"{what} computes F(2x2, 3x3) and needs 3x3 filters, got "
                f"{geom.R}x{geom.S}; {fix}"))
    if geom.stride != (1, 1):
        raise ValueError(message(
            op, f"{what} needs stride 1, got stride {geom.stride}; {fix}"))
    if geom.dilation != (1, 1):
        raise ValueError(message(
            op, f"{what} needs dilation 1, got dilation {geom.dilation}; {fix}"))


def _check_u(op, u, k, c, dtype):
    if tuple(u.shape) != (4, 4, k, c):
        raise ValueError(message(
            op, f"w_winograd must be the (4, 4, K, C) = (4, 4, {k}, {c}) output of "
                f"winograd_filter_transform(w), got shape {tuple(u.shape)}"))
    if u.dtype != dtype:
        raise TypeError(message(op, f"w_winograd must have the dtype of w ({dtype.name}), "
                                    f"got {u.dtype.name}"))


_SHARED_PARAMS = """
    stride : int or (int, int), optional
        Step between output positions, >= 1 (rows, columns). Default 1.
    padding : int, (int, int), ((int, int), (int, int)), 'same' or 'valid', optional
        Zero padding of the input: the same on all sides, (rows, columns), or
        ((top, bottom), (left, right)). ``'valid'`` is 0; ``'same'`` gives ``ceil(H /
        stride)`` output rows (H for stride 1), padding ``total // 2`` on top and the rest
        at the bottom (as PyTorch/TensorFlow), likewise for the columns. Default 0.
    dilation : int or (int, int), optional
        Spacing between filter taps, >= 1. Default 1.
    algorithm : {'auto', 'winograd', 'winograd_nonfused', 'gemm', 'fft'}, optional
        ``'winograd'``: F(2x2, 3x3), needs 3x3 filters, stride 1 and dilation 1; on the
        GPU the forward and dgrad (not float64) run fused in one kernel.
        ``'winograd_nonfused'``: the same, as separate transform and GEMM launches (the
        reference for the fused kernel; identical to ``'winograd'`` on the CPU path).
        ``'gemm'``: im2col + batched GEMM, any case. ``'auto'`` (default): {rule}.
        ``'fft'`` (forward only): :mod:`blasfast.fft`'s FFT convolution, dilation 1 and
        symmetric padding, its own precision rules (see ``blasfast.fft``)."""

_STREAM_PARAM = """
    stream : cupy.cuda.Stream, int or object with ``__cuda_stream__``, optional
        GPU path only: the stream to launch on (default: CuPy's current stream); an
        integer ``cudaStream_t`` handle or a CUDA-stream-protocol object (e.g.
        ``torch.cuda.Stream``) is wrapped as ``ExternalStream``. Must be None with
        host (NumPy) arrays (``ValueError``)."""

_SHARED_RAISES = """
    TypeError
        An unsupported dtype (float32, float64, float16, bfloat16 are), arrays of different
        dtypes, host and device arrays mixed; an array argument that is not an array
        (a list, a scalar, None); a shape argument that is not a tuple or list of integers
        (an array, a float entry); non-integer stride/dilation/padding (floats and bools
        are refused, NumPy integers accepted); an ``algorithm`` that is not a string; a
        ``stream`` that is neither None, a stream object nor an integer handle.
    ValueError
        Wrong rank (inputs are 4-D NCHW / KCRS, shape arguments have 4 entries), a negative
        shape entry, a channel mismatch (the message says so when ``x`` looks
        channels-last), an empty batch (N = 0) or zero-sized dimension, stride or dilation
        < 1, a stride/dilation/padding pair of another length than 2, negative or unknown
        padding, an empty output, an unknown algorithm, Winograd for a filter that is not
        3x3 or a stride or dilation other than 1.
    NotImplementedError
        ``algorithm='fft'`` for dgrad/wgrad, or where :mod:`blasfast.fft` provides no
        ``conv2d_fft``.
    blasfast.KernelCompileError
        GPU path: a kernel family failed to compile (first call per device)."""

_SHARED_NOTES = """
    Precision. float32/float64 data are transformed and accumulated in their own
    precision. float16/bfloat16 data are accumulated in float32: the GEMM operands (the
    input, or for Winograd the transformed tiles and filters) are 16-bit, as the tensor
    cores take them, everything else is float32, and the result is rounded once to the
    data's dtype. The CPU path rounds at exactly the same places (the fused GPU kernels
    differ from it only in the order of the float32 sums over channels).

    Accuracy (elementwise, ``u`` the unit roundoff of the accumulation, ``CRS = C R S``):
    GEMM algorithm ``|err| <= gamma_{CRS+2} (|w| * |x| + |b|)`` (``*`` the convolution of
    the absolute values); Winograd ``|err| <= gamma_{C+11} (|A^T| (sum_c (|G||g||G^T|) (.)
    (|B^T||d||B|)) |A| + |b|)`` -- the same order as the GEMM algorithm times the growth of
    the transforms: this majorant is 64/9 = 7.1 times the GEMM one for constant data, 7-8
    times on random data (measured in the tests); actual errors are far below both bounds
    (float32 relative errors about 2e-7 either way). For 16-bit data add the rounding of
    the operands (``2 u16`` times the Winograd majorant; nothing for the GEMM algorithm,
    whose operands are the data) and of the result (``u16 |y|``); measured relative errors
    about 7e-4 (float16) and 5e-3 (bfloat16) for Winograd, 3e-4 and 2e-3 for GEMM.
    NaN/Inf propagate; through a Winograd transform an Inf can become NaN (Inf - Inf).

    The GPU path launches on the current CuPy stream (or ``stream``) and never
    synchronizes; it allocates workspace: unfused Winograd ``16 C NT`` operand elements
    plus ``16 K NT`` float32 (``NT = N ceil(P/2) ceil(Q/2)``), fused Winograd only the
    ``16 K C`` transformed filters, GEMM ``C R S N P Q`` elements.

    References
    ----------
    A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016
    (F(2x2, 3x3) and its use as batched GEMM). K. Chellapilla, S. Puri, P. Simard,
    "High Performance Convolutional Neural Networks for Document Processing", 2006
    (im2col). cuDNN's fprop/dgrad/wgrad naming and NCHW/KCRS layouts."""


def _doc(f):
    f.__doc__ = (f.__doc__.replace("{params}", _SHARED_PARAMS.replace("{rule}", AUTO_RULE))
                 .replace("{stream}", _STREAM_PARAM.strip())
                 .replace("{raises}", _SHARED_RAISES).replace("{notes}", _SHARED_NOTES))
    return f


@_doc
def conv2d(x, w, bias=None, *, stride=1, padding=0, dilation=1, algorithm="auto",
           w_winograd=None, stream=None):
    """2-D convolution (cross-correlation, as deep-learning frameworks define it), NCHW.

    ::

        y[n, k, p, q] = bias[k] + sum_{c, r, s} x_pad[n, c, p*sh + r*dh, q*sw + s*dw] w[k, c, r, s]

    with ``x_pad`` the zero-padded input. No filter flip.

    Parameters
    ----------
    x : (N, C, H, W) array, float32, float64, float16 or bfloat16
        NCHW input; NumPy (CPU path) or CuPy / CUDA array (GPU path). Any strides.
        A ``dask.array.Array`` (here or for any array argument) gives a lazy Dask array,
        computed blockwise over N (``stream`` must then be None: ``ValueError``).
    w : (K, C, R, S) array, same dtype and kind as ``x``
        Filters, KCRS.
    bias : (K,) array, optional
        Same dtype and kind; added before the final rounding.
    {params}
    w_winograd : (4, 4, K, C) array, optional
        ``winograd_filter_transform(w)``, computed once and reused (e.g. by a layer for the
        forward and dgrad of one step); implies the Winograd algorithm.
    {stream}

    Returns
    -------
    y : (N, K, P, Q) array, the dtype and kind of ``x``
        ``P = (H + pad_top + pad_bottom - dh (R - 1) - 1) // sh + 1``, ``Q`` likewise.

    Raises
    ------
    {raises}

    Notes
    -----
    Flops: ``2 N K C R S P Q`` counted as direct convolution; Winograd performs 16/36 of
    the multiplications. {notes}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
    >>> w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    >>> bf.conv2d(x, w, padding='same', algorithm='winograd').shape
    (2, 4, 8, 8)
    >>> y1 = bf.conv2d(x, w, algorithm='winograd'); y2 = bf.conv2d(x, w, algorithm='gemm')
    >>> bool(np.allclose(y1, y2, atol=1e-5))
    True
    """
    op = "conv2d"
    if _dask.any_dask(x, w, bias, w_winograd):  # a lazy Dask array, blockwise over N
        return _dask.conv2d(conv2d, x, w, bias, stride, padding, dilation, algorithm,
                            w_winograd, stream)
    _arrays(op, x=x, w=w, **{k: v for k, v in (("bias", bias), ("w_winograd", w_winograd))
                             if v is not None})
    xp, (x, w, bias, w_winograd) = get_array_module(op, x, w, bias, w_winograd)
    dtype = _check_dtypes(op, x=x, w=w, bias=bias)
    geom = make_geom(op, x.shape, w.shape, stride, padding, dilation)
    _check_bias(op, bias, geom.K)
    algo = _choose(op, algorithm, geom, w_winograd is not None, gpu=xp is not np)
    with _stream_ctx(op, xp, stream):
        if algo in WINOGRAD:
            if w_winograd is None:
                w_winograd = _winograd.filter_transform(xp, w)
            else:
                _check_u(op, w_winograd, geom.K, geom.C, dtype)
            return _winograd.fprop(xp, x, w_winograd, bias, geom.pads, geom.P, geom.Q, dtype,
                                   fused=algo == "winograd")
        if algo == "fft":
            y = _fft_conv2d()(x, w, bias, stride=geom.stride, padding=geom.pads[0::2])
            return y.astype(dtype, copy=False)
        return _im2col.fprop(xp, x, w, bias, geom, dtype)


@_doc
def conv2d_dgrad(dy, w, x_shape, *, stride=1, padding=0, dilation=1, algorithm="auto",
                 w_winograd=None, stream=None):
    """Gradient of :func:`conv2d` with respect to its input (cuDNN's backward data).

    ::

        dx[n, c, h, w] = sum_{k, r, s} dy[n, k, p, q] w[k, c, r, s]
                         over h + pad_top = p*sh + r*dh, w + pad_left = q*sw + s*dw

    For 3x3 filters with stride 1 this is a convolution of ``dy`` with the flipped,
    transposed filters, padded by ``2 - pad``: the Winograd algorithm computes exactly
    that (reusing the forward's filter transform); the GEMM algorithm computes
    ``W^T dy`` per image and sums the columns back (col2im).

    Parameters
    ----------
    dy : (N, K, P, Q) array, float32, float64, float16 or bfloat16
        Gradient of the loss w.r.t. the forward's output.
    w : (K, C, R, S) array, same dtype and kind
        The forward's filters.
    x_shape : tuple of 4 ints
        ``(N, C, H, W)``, the forward input's shape (with stride > 1 several H give the
        same P, so it must be given).
    {params}
    w_winograd : (4, 4, K, C) array, optional
        The forward's ``winograd_filter_transform(w)`` (not of the flipped filters: the
        flip is a permutation of it); implies the Winograd algorithm.
    {stream}

    Returns
    -------
    dx : (N, C, H, W) array, the dtype and kind of ``dy``
        Gradient of the loss w.r.t. the forward's input.

    Raises
    ------
    {raises}
    ValueError
        Also for ``dy`` of a shape other than the forward's output shape.

    Notes
    -----
    Same flops and accuracy as the forward (with K and C exchanged). {notes}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 9, 9)); w = rng.standard_normal((4, 3, 3, 3))
    >>> dy = rng.standard_normal((2, 4, 9, 9))
    >>> dx = bf.conv2d_dgrad(dy, w, x.shape, padding=1)
    >>> bool(np.isclose(np.sum(dx * x), np.sum(dy * bf.conv2d(x, w, padding=1))))
    True
    """
    op = "conv2d_dgrad"
    _arrays(op, dy=dy, w=w, **({} if w_winograd is None else {"w_winograd": w_winograd}))
    xp, (dy, w, w_winograd) = get_array_module(op, dy, w, w_winograd)
    dtype = _check_dtypes(op, dy=dy, w=w)
    geom = make_geom(op, x_shape, w.shape, stride, padding, dilation, x_name="x_shape")
    _check_dy(op, dy, geom)
    algo = _choose(op, algorithm, geom, w_winograd is not None, forward_only=True,
                   gpu=xp is not np)
    with _stream_ctx(op, xp, stream):
        if algo in WINOGRAD:
            if w_winograd is None:
                w_winograd = _winograd.filter_transform(xp, w)
            else:
                _check_u(op, w_winograd, geom.K, geom.C, dtype)
            return _winograd.dgrad(xp, dy, w_winograd, geom.pads, geom.H, geom.W, dtype,
                                   fused=algo == "winograd")
        return _im2col.dgrad(xp, dy, w, geom, dtype)


@_doc
def conv2d_wgrad(x, dy, w_shape, *, stride=1, padding=0, dilation=1, algorithm="auto",
                 stream=None):
    """Gradient of :func:`conv2d` with respect to its filters (cuDNN's backward filter).

    ::

        dw[k, c, r, s] = sum_{n, p, q} dy[n, k, p, q] x_pad[n, c, p*sh + r*dh, q*sw + s*dw]

    The Winograd algorithm computes the adjoint of the Winograd forward: ``dM = A dY
    A^T`` on the 2x2 output tiles, ``dU = dM V^T`` (16 GEMMs whose inner dimension is the
    number of tiles), ``dw = G^T dU G``. The GEMM algorithm computes ``dy (K x N P Q) @
    cols^T`` in one GEMM. The bias gradient is ``dy.sum(axis=(0, 2, 3))``.

    Parameters
    ----------
    x : (N, C, H, W) array, float32, float64, float16 or bfloat16
        The forward's input.
    dy : (N, K, P, Q) array, same dtype and kind
        Gradient of the loss w.r.t. the forward's output.
    w_shape : tuple of 4 ints
        ``(K, C, R, S)``, the filters' shape.
    {params}
    {stream}

    Returns
    -------
    dw : (K, C, R, S) array, the dtype and kind of ``x``
        Gradient of the loss w.r.t. the filters.

    Raises
    ------
    {raises}
    ValueError
        Also for ``dy`` of a shape other than the forward's output shape.

    Notes
    -----
    The sums run over ``N P Q`` terms, so the bounds above hold with ``N P Q`` (GEMM) or
    ``N ceil(P/2) ceil(Q/2)`` (Winograd) in place of ``C R S`` / ``C``. {notes}

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3, 9, 9)); w = rng.standard_normal((4, 3, 3, 3))
    >>> dy = rng.standard_normal((2, 4, 7, 7))
    >>> dw = bf.conv2d_wgrad(x, dy, w.shape)
    >>> bool(np.isclose(np.sum(dw * w), np.sum(dy * bf.conv2d(x, w))))
    True
    """
    op = "conv2d_wgrad"
    _arrays(op, x=x, dy=dy)
    xp, (x, dy) = get_array_module(op, x, dy)
    dtype = _check_dtypes(op, x=x, dy=dy)
    geom = make_geom(op, x.shape, w_shape, stride, padding, dilation, w_name="w_shape")
    _check_dy(op, dy, geom)
    algo = _choose(op, algorithm, geom, forward_only=True, gpu=xp is not np)
    with _stream_ctx(op, xp, stream):
        if algo in WINOGRAD:
            return _winograd.wgrad(xp, x, dy, geom.pads, dtype)
        return _im2col.wgrad(xp, x, dy, geom, dtype)


def conv2d_algorithm(x_shape, w_shape, *, stride=1, padding=0, dilation=1, algorithm="auto",
                     gpu=False):
    """The algorithm :func:`conv2d` (and the backward passes) would run for these shapes.

    Parameters
    ----------
    x_shape, w_shape : tuple of 4 ints
        ``(N, C, H, W)`` and ``(K, C, R, S)``.
    stride, padding, dilation : int or pair, optional
        As for :func:`conv2d` (``padding`` also its other forms).
    algorithm : str, optional
        As for :func:`conv2d`. Default 'auto'.
    gpu : bool, optional
        Answer for CuPy arrays (the GPU path) instead of NumPy arrays.

    Returns
    -------
    {'winograd', 'winograd_nonfused', 'gemm', 'fft'}
        ``algorithm`` itself when it applies, the rule's choice for ``'auto'``:
        {rule}.

    Raises
    ------
    ValueError, TypeError, NotImplementedError
        As :func:`conv2d`, for the same arguments (shapes only; no arrays are touched);
        ``TypeError`` also for a ``gpu`` that is not a bool.

    Examples
    --------
    >>> import blasfast as bf
    >>> bf.conv.conv2d_algorithm((8, 64, 56, 56), (64, 64, 3, 3), padding=1, gpu=True)
    'winograd'
    >>> bf.conv.conv2d_algorithm((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    'gemm'
    >>> bf.conv.conv2d_algorithm((8, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)
    'gemm'
    """
    op = "conv2d_algorithm"
    gpu = _checks.flag(op, "gpu", gpu)
    geom = make_geom(op, x_shape, w_shape, stride, padding, dilation, x_name="x_shape",
                     w_name="w_shape")
    return _choose(op, algorithm, geom, gpu=gpu)


conv2d_algorithm.__doc__ = conv2d_algorithm.__doc__.replace("{rule}", AUTO_RULE)


def _check_dy(op, dy, geom):
    if tuple(dy.shape) != geom.y_shape:
        raise ValueError(message(
            op, f"dy must have the forward's output shape (N, K, P, Q) = {geom.y_shape} "
                f"for x {geom.x_shape}, w {geom.w_shape}, stride {geom.stride}, padding "
                f"{geom.pads} and dilation {geom.dilation}; got {tuple(dy.shape)}"))


def winograd_filter_transform(w, *, stream=None):
    """Winograd F(2x2, 3x3) filter transform, ``U = G g G^T`` for every filter.

    ::

        U[xi, nu, k, c] = (G w[k, c] G^T)[xi, nu],
        G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]

    Compute it once per training step and pass it as ``w_winograd=`` to :func:`conv2d` and
    :func:`conv2d_dgrad` (the dgrad's flipped filters are a permutation of it).

    Parameters
    ----------
    w : (K, C, 3, 3) array, float32, float64, float16 or bfloat16
        KCRS filters, NumPy or CuPy; any strides.
    stream : as for :func:`conv2d`, optional
        GPU path only.

    Returns
    -------
    U : (4, 4, K, C) array, the dtype and kind of ``w``
        Reshaped to (16, K, C) it is the A operand of the 16 GEMMs.

    Raises
    ------
    TypeError
        An unsupported dtype, a ``w`` that is not an array, a ``stream`` that is neither
        None, a stream object nor an integer handle.
    ValueError
        ``w`` not 4-D, or filters that are not 3x3.

    Notes
    -----
    Computed in float32 (float64 for float64 filters) and rounded once to the filters'
    dtype -- for float16/bfloat16 that is the rounding of the tensor-core operand. Each
    entry is a sum of at most 9 filter taps times 1, 1/2 or 1/4, so ``|U| <= 9/4 max|w|``:
    float16 filters below 29127 in magnitude cannot overflow. GPU path: one kernel launch,
    no synchronization.

    References
    ----------
    A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016.

    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> w = np.ones((2, 3, 3, 3), np.float32)
    >>> bf.winograd_filter_transform(w)[:, :, 0, 0]
    array([[1.  , 1.5 , 0.5 , 1.  ],
           [1.5 , 2.25, 0.75, 1.5 ],
           [0.5 , 0.75, 0.25, 0.5 ],
           [1.  , 1.5 , 0.5 , 1.  ]], dtype=float32)
    """
    op = "winograd_filter_transform"
    _arrays(op, w=w)
    xp, (w,) = get_array_module(op, w)
    _check_dtypes(op, w=w)
    if w.ndim != 4:
        raise ValueError(message(op, f"w must be a 4-D KCRS array (K, C, R, S), got shape "
                                     f"{tuple(w.shape)}"))
    if tuple(w.shape[2:]) != (3, 3):
        raise ValueError(message(op, f"w must hold 3x3 filters (F(2x2, 3x3)), got "
                                     f"{w.shape[2]}x{w.shape[3]}"))
    with _stream_ctx(op, xp, stream):
        return _winograd.filter_transform(xp, w)
