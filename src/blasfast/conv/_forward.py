"""The forward convolution, :func:`conv2d`, and the Winograd filter transform it (and the
dgrad) can reuse, :func:`winograd_filter_transform`: validate, pick the algorithm, launch."""

import numpy as np

from .. import _dask
from .._backend import get_array_module
from .._typing import Array, ArrayLike, IntPair, Padding, StreamLike
from . import _algorithm, _args, _docs, _im2col, _winograd
from ._algorithm import WINOGRAD, Algorithm
from ._geom import make_geom
from .._interop import callers_kind as _callers_kind


@_callers_kind
@_docs.doc
def conv2d(x: ArrayLike, w: ArrayLike, bias: ArrayLike | None = None, *, stride: IntPair = 1,
           padding: Padding = 0, dilation: IntPair = 1, algorithm: Algorithm = "auto",
           w_winograd: ArrayLike | None = None, stream: StreamLike = None) -> Array:
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
    optional = {k: v for k, v in (("bias", bias), ("w_winograd", w_winograd)) if v is not None}
    _args.arrays(op, x=x, w=w, **optional)
    xp, (x, w, bias, w_winograd) = get_array_module(op, x, w, bias, w_winograd)
    dtype = _args.check_dtypes(op, x=x, w=w, bias=bias)
    geom = make_geom(op, x.shape, w.shape, stride, padding, dilation)
    _args.check_bias(op, bias, geom.K)
    algo = _algorithm.choose(op, algorithm, geom, w_winograd is not None, gpu=xp is not np)
    with _args.stream_ctx(op, xp, stream):
        if algo in WINOGRAD:
            w_winograd = _winograd.filter_or_check(op, xp, w, w_winograd, geom, dtype)
            return _winograd.fprop(xp, x, w_winograd, bias, geom.pads, geom.P, geom.Q, dtype,
                                   fused=algo == "winograd")
        if algo == "fft":
            y = _algorithm.fft_conv2d()(x, w, bias, stride=geom.stride,
                                        padding=geom.pads[0::2])
            return y.astype(dtype, copy=False)
        return _im2col.fprop(xp, x, w, bias, geom, dtype)


@_callers_kind
def winograd_filter_transform(w: ArrayLike, *, stream: StreamLike = None) -> Array:
    """Winograd F(2x2, 3x3) filter transform, ``U = G g G^T`` for every filter.

    ::

        U[xi, nu, k, c] = (G w[k, c] G^T)[xi, nu],
        G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]

    Compute it once per training step and pass it as ``w_winograd=`` to :func:`conv2d` and
    :func:`conv2d_dgrad` (the dgrad's flipped filters are a permutation of it).

    Parameters
    ----------
    w : (K, C, 3, 3) array, float32, float64, float16 or bfloat16
        KCRS filters, NumPy or CuPy; any strides. A ``dask.array.Array`` gives a lazy
        Dask array, computed blockwise over K (``stream`` must then be None).
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
    if _dask.any_dask(w):  # a lazy Dask array, blockwise over K
        return _dask.winograd_filter_transform(winograd_filter_transform, w, stream)
    _args.arrays(op, w=w)
    xp, (w,) = get_array_module(op, w)
    _args.check_dtypes(op, w=w)
    _args.check_3x3_filters(op, w)
    with _args.stream_ctx(op, xp, stream):
        return _winograd.filter_transform(xp, w)
