"""The backward convolutions: :func:`conv2d_dgrad` (gradient w.r.t. the input, cuDNN's
backward data) and :func:`conv2d_wgrad` (w.r.t. the filters, backward filter)."""

import numpy as np

from .. import _dask
from .._backend import get_array_module
from .._typing import Array, ArrayLike, IntPair, Padding, Shape, StreamLike
from . import _algorithm, _args, _docs, _im2col, _winograd
from ._algorithm import WINOGRAD, Algorithm
from ._geom import make_geom
from .._interop import callers_kind as _callers_kind


@_callers_kind
@_docs.doc
def conv2d_dgrad(dy: ArrayLike, w: ArrayLike, x_shape: Shape, *, stride: IntPair = 1,
                 padding: Padding = 0, dilation: IntPair = 1, algorithm: Algorithm = "auto",
                 w_winograd: ArrayLike | None = None, stream: StreamLike = None) -> Array:
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
        Gradient of the loss w.r.t. the forward's output. A ``dask.array.Array`` (here or
        for any array argument) gives a lazy Dask array, computed blockwise over N
        (``stream`` must then be None: ``ValueError``).
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
    if _dask.any_dask(dy, w, w_winograd):  # a lazy Dask array, blockwise over N
        return _dask.conv2d_dgrad(conv2d_dgrad, dy, w, x_shape, stride, padding, dilation,
                                  algorithm, w_winograd, stream)
    _args.arrays(op, dy=dy, w=w, **({} if w_winograd is None else {"w_winograd": w_winograd}))
    xp, (dy, w, w_winograd) = get_array_module(op, dy, w, w_winograd)
    dtype = _args.check_dtypes(op, dy=dy, w=w)
    geom = make_geom(op, x_shape, w.shape, stride, padding, dilation, x_name="x_shape")
    _args.check_dy(op, dy, geom)
    algo = _algorithm.choose(op, algorithm, geom, w_winograd is not None, forward_only=True,
                             gpu=xp is not np)
    with _args.stream_ctx(op, xp, stream):
        if algo in WINOGRAD:
            w_winograd = _winograd.filter_or_check(op, xp, w, w_winograd, geom, dtype)
            return _winograd.dgrad(xp, dy, w_winograd, geom.pads, geom.H, geom.W, dtype,
                                   fused=algo == "winograd")
        return _im2col.dgrad(xp, dy, w, geom, dtype)


@_callers_kind
@_docs.doc
def conv2d_wgrad(x: ArrayLike, dy: ArrayLike, w_shape: Shape, *, stride: IntPair = 1,
                 padding: Padding = 0, dilation: IntPair = 1, algorithm: Algorithm = "auto",
                 stream: StreamLike = None) -> Array:
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
        The forward's input. With Dask arrays (``x`` or ``dy``) the result is a lazy Dask
        array: each block of N gives its filter gradient (16-bit blocks in float32) and
        the blocks are summed, rounded to the result dtype once (``stream`` must then be
        None: ``ValueError``).
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
    if _dask.any_dask(x, dy):  # a lazy Dask array: a sum over N of blockwise gradients
        return _dask.conv2d_wgrad(conv2d_wgrad, x, dy, w_shape, stride, padding, dilation,
                                  algorithm, stream)
    _args.arrays(op, x=x, dy=dy)
    xp, (x, dy) = get_array_module(op, x, dy)
    dtype = _args.check_dtypes(op, x=x, dy=dy)
    geom = make_geom(op, x.shape, w_shape, stride, padding, dilation, w_name="w_shape")
    _args.check_dy(op, dy, geom)
    algo = _algorithm.choose(op, algorithm, geom, forward_only=True, gpu=xp is not np)
    with _args.stream_ctx(op, xp, stream):
        if algo in WINOGRAD:
            return _winograd.wgrad(xp, x, dy, geom.pads, dtype)
        return _im2col.wgrad(xp, x, dy, geom, dtype)
