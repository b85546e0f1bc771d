"""Convolution layers: :class:`Conv2D`, :class:`MaxPool2D`, :class:`AvgPool2D`,
:class:`Flatten` and :class:`Reshape`, following the protocol of :mod:`blasfast.nn.layers`.

All of them take NCHW arrays (NumPy or CuPy; the input's array module does the elementwise
work), and :class:`Conv2D` computes with :func:`blasfast.conv.conv2d`,
:func:`~blasfast.conv.conv2d_dgrad` and :func:`~blasfast.conv.conv2d_wgrad`. Every
``config()`` is JSON-able and rebuilds the layer with ``type(layer)(**config)``, which is
how :meth:`blasfast.nn.Sequential.load` restores a model.
"""

import math
from typing import Any, Literal, get_args

import numpy as np

from .. import conv as _conv
from .. import _checks
from .._backend import get_array_module
from .._typing import Array, ArrayLike, DTypeLike, Int, IntPair, Padding, Shape
from . import _args
from .layers import Init, Layer

__all__ = ["Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "Reshape"]

#: The algorithms of Conv2D (those of :func:`blasfast.conv.conv2d` with a backward pass).
Algorithm = Literal["auto", "winograd", "winograd_nonfused", "gemm"]


def _pair(name, owner, v):
    return _args.pair(owner, name, v)


def _jsonable(v):
    """Tuples to lists (recursively), so that config() survives a JSON round trip."""
    if isinstance(v, (tuple, list)):
        return [_jsonable(e) for e in v]
    return v


class Conv2D(Layer):
    r"""2-D convolution layer (cross-correlation), NCHW: :math:`y = x \star W + b`.

    Parameters
    ----------
    in_channels, out_channels : int
        C and K, both >= 1.
    kernel_size : int or (int, int)
        R x S.
    stride, padding : int or pair, optional
        As for :func:`blasfast.conv.conv2d` (``padding`` also its other forms;
        ``padding='same'`` keeps H x W at stride 1).
    algorithm : {'auto', 'winograd', 'winograd_nonfused', 'gemm'}, optional
        Passed to the convolutions; checked against the filter and stride here, so that a
        bad choice fails at construction, not in the first forward.
    dilation : int or (int, int), optional
        As for :func:`blasfast.conv.conv2d`.
    rng : int, numpy.random.Generator or None, optional
        Seed or generator for the initial weights (``None``: fresh OS entropy).
    dtype : {float32, float64}, optional
        Parameters and computation. Default float32.
    init : {'he', 'glorot'}, optional
        ``'he'`` (default, for ReLU): :math:`W \sim \mathcal N(0, 2 / (C R S))`;
        ``'glorot'``: :math:`U(-l, l)`, :math:`l = \sqrt{6 / ((C + K) R S)}`. Bias 0.

    Attributes
    ----------
    W : (K, C, R, S) array
        The filters.
    b : (K,) array
        The bias.

    Raises
    ------
    ValueError
        Sizes < 1, a pair of the wrong length, a bad padding, an unknown init or
        algorithm, an algorithm that cannot serve the filter/stride/dilation
        (``'winograd'`` with a 5x5 filter, ...), or a negative seed.
    TypeError
        A size that is not an integer (``2.5``, ``True``), a dtype other than
        float32/float64, a non-string ``init``/``algorithm``, or an ``rng`` that is not a
        seed or Generator.

    Notes
    -----
    Per training step with the Winograd algorithm, the filters are transformed once
    (:func:`blasfast.conv.winograd_filter_transform`) and the transform serves both the
    forward and the input gradient. Backward: ``dW`` by :func:`~blasfast.conv.conv2d_wgrad`,
    ``db = sum over (N, P, Q) of g``, ``dx`` by :func:`~blasfast.conv.conv2d_dgrad` (skipped
    for the first layer).

    Under :class:`blasfast.nn.MixedPrecision` the convolutions run on 16-bit copies of
    ``x``, ``W`` and ``b`` (float16/bfloat16 in, float32 accumulation) and the gradients
    come out in 16 bits; the parameters stay float32.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import Conv2D
    >>> layer = Conv2D(3, 8, 3, padding='same', rng=0)
    >>> layer.forward(np.ones((2, 3, 10, 10), np.float32)).shape
    (2, 8, 10, 10)
    """

    param_names = ("W", "b")

    def __init__(self, in_channels: Int, out_channels: Int, kernel_size: IntPair,
                 stride: IntPair = 1, padding: Padding = 0,
                 algorithm: Algorithm = "auto",
                 *, dilation: IntPair = 1,
                 rng: Int | np.random.Generator | None = None, dtype: DTypeLike = np.float32,
                 init: Init = "he") -> None:
        super().__init__()
        c = _checks.integer("Conv2D", "in_channels", in_channels, minimum=1)
        k = _checks.integer("Conv2D", "out_channels", out_channels, minimum=1)
        r, s = _pair("kernel_size", "Conv2D", kernel_size)
        _pair("stride", "Conv2D", stride)
        dil = _pair("dilation", "Conv2D", dilation)
        dtype = _args.float_dtype("Conv2D", "dtype", dtype)
        _checks.choice("Conv2D", "init", init, get_args(Init))
        if not isinstance(algorithm, str):
            raise TypeError(f"Conv2D: algorithm must be 'auto', 'winograd', "
                            f"'winograd_nonfused' or 'gemm', got {_args.describe(algorithm)}")
        if algorithm not in ("auto", "gemm") + _conv.WINOGRAD:
            raise ValueError(f"Conv2D: algorithm must be 'auto', 'winograd', "
                             f"'winograd_nonfused' or 'gemm' (the ones with a backward "
                             f"pass), got {algorithm!r}")
        gen = _args.generator("Conv2D", "rng", rng)
        self.in_channels, self.out_channels, self.kernel_size = c, k, (r, s)
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.algorithm, self.dtype, self.init = algorithm, dtype, init
        # validate padding and the algorithm now, on a nominal input large enough
        probe = max(r, s) * 4 * max(dil)
        try:
            _conv.conv2d_algorithm((1, c, probe, probe), (k, c, r, s), stride=stride,
                                   padding=padding, dilation=dilation, algorithm=algorithm)
        except (TypeError, ValueError) as e:
            raise type(e)(f"Conv2D: {e}") from None
        fan_in, fan_out = c * r * s, k * r * s
        if init == "he":
            w = gen.standard_normal((k, c, r, s)) * math.sqrt(2.0 / fan_in)
        else:
            lim = math.sqrt(6.0 / (fan_in + fan_out))
            w = gen.uniform(-lim, lim, (k, c, r, s))
        self.W = w.astype(dtype)
        self.b = np.zeros(k, dtype)
        self._x = self._u = self._w = None
        self._algo = None

    def config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": _jsonable(self.stride),
                "padding": _jsonable(self.padding), "algorithm": self.algorithm,
                "dilation": _jsonable(self.dilation), "dtype": self.dtype.name,
                "init": self.init}

    def _args(self):
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation)

    def forward(self, x: ArrayLike, training: bool = True) -> Array:
        """Compute ``conv2d(x, W, b)``.

        Parameters
        ----------
        x : (N, C, H, W) array
            Same kind (NumPy/CuPy) as the parameters; cast to the layer's dtype.
        training : bool
            Cache ``x`` (and the filter transform) for :meth:`backward`.

        Returns
        -------
        (N, K, P, Q) array
            Of the layer's dtype (16-bit under mixed precision).

        Raises
        ------
        ValueError, TypeError
            As :func:`blasfast.conv.conv2d` (wrong rank or channels, empty output, host and
            device arrays mixed).
        """
        xp, (x, w) = get_array_module("Conv2D.forward", x, self.W)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2D.forward: x must have shape (N, {self.in_channels}, H, "
                             f"W) (NCHW), got {x.shape}")
        cd = self._compute_dtype  # 16-bit under MixedPrecision, else None
        x = xp.asarray(x, dtype=cd or self.dtype)
        b = self.b
        if cd is not None:
            w, b = w.astype(cd), b.astype(cd)
        algo = _conv.conv2d_algorithm(x.shape, w.shape, algorithm=self.algorithm,
                                      gpu=xp is not np, **self._args())
        u = _conv.winograd_filter_transform(w) if algo in _conv.WINOGRAD else None
        y = _conv.conv2d(x, w, b, algorithm=algo, w_winograd=u, **self._args())
        if training:
            self._x, self._u, self._algo, self._w = x, u, algo, w
        else:
            self._x = self._u = self._algo = self._w = None
        return y

    def backward(self, grad: ArrayLike, need_input_grad: bool = True) -> Array | None:
        """Store ``[dW, db]`` in ``grads`` and return dL/dx (None unless needed).

        Parameters
        ----------
        grad : (N, K, P, Q) array
            dL/dy for the output of the last training-mode :meth:`forward`.
        need_input_grad : bool
            When false, skip the dgrad convolution and return ``None``.

        Returns
        -------
        (N, C, H, W) array or None
            dL/dx; ``None`` when ``need_input_grad`` is false.

        Raises
        ------
        RuntimeError
            Without a training-mode forward first.
        ValueError
            If ``grad`` does not have the forward output's shape.
        """
        if self._x is None:
            raise RuntimeError("Conv2D.backward: call forward(x, training=True) first")
        xp, (grad,) = get_array_module("Conv2D.backward", grad)
        x = self._x
        grad = xp.asarray(grad, dtype=x.dtype)
        dw = _conv.conv2d_wgrad(x, grad, self.W.shape, algorithm=self._algo, **self._args())
        db = grad.sum(axis=(0, 2, 3), dtype=xp.float32 if x.dtype != self.dtype else None)
        self._grads = [dw, db.astype(x.dtype, copy=False)]
        if not need_input_grad:
            return None
        return _conv.conv2d_dgrad(grad, self._w, x.shape, algorithm=self._algo,
                                  w_winograd=self._u, **self._args())


class _Pool2D(Layer):
    """Shared windowing of the pooling layers: no padding, trailing rows/columns that do
    not fill a window are dropped (PyTorch's floor mode) and get zero gradient."""

    def __init__(self, kernel_size: IntPair = 2,
                 stride: IntPair | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _pair("kernel_size", name, kernel_size)
        self.stride = self.kernel_size if stride is None else _pair("stride", name, stride)
        self._cache = None

    def config(self) -> dict[str, Any]:
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride)}

    def _windows(self, x):
        """The kh*kw strided slices (one per window offset) and the output size."""
        name = type(self).__name__
        if x.ndim != 4:
            raise ValueError(f"{name}.forward: x must be a 4-D NCHW array, got shape "
                             f"{x.shape}")
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        h, w = x.shape[2:]
        if h < kh or w < kw:
            raise ValueError(f"{name}.forward: the {kh}x{kw} window is larger than the "
                             f"{h}x{w} input")
        p, q = (h - kh) // sh + 1, (w - kw) // sw + 1
        sl = [(slice(i, i + sh * (p - 1) + 1, sh), slice(j, j + sw * (q - 1) + 1, sw))
              for i in range(kh) for j in range(kw)]
        return sl, p, q

    def _check_grad(self, grad, shape):
        if grad.shape != shape:
            raise ValueError(f"{type(self).__name__}.backward: grad must have shape {shape}, "
                             f"got {grad.shape}")


class MaxPool2D(_Pool2D):
    """Max pooling over ``kernel_size`` windows moved by ``stride`` (default: the kernel).

    Parameters
    ----------
    kernel_size : int or (int, int), optional
        The window, (kh, kw). Default 2.
    stride : int, (int, int) or None, optional
        The step between windows, (sh, sw). Default: the kernel size.

    Raises
    ------
    TypeError
        For a ``kernel_size``/``stride`` that is not an integer or a pair of them
        (``stride=None``: the kernel size).
    ValueError
        For a size < 1, a non-4-D input or a window larger than the input.
    RuntimeError
        For a backward without a training forward.

    Notes
    -----
    ``forward`` maps (N, C, H, W) to (N, C, (H - kh) // sh + 1, (W - kw) // sw + 1), any
    float dtype; ``backward`` routes each output's gradient to the first maximum of its
    window (as PyTorch); overlapping windows add up. NaN in a window gives NaN.
    """

    def forward(self, x: ArrayLike, training: bool = True) -> Array:
        xp, (x,) = get_array_module("MaxPool2D.forward", x)
        sl, _, _ = self._windows(x)
        y = x[(slice(None), slice(None)) + sl[0]].copy()
        arg = xp.zeros(y.shape, np.int8 if len(sl) < 128 else np.int32) if training else None
        for i, s in enumerate(sl[1:], 1):
            v = x[(slice(None), slice(None)) + s]
            if training:
                arg = xp.where(v > y, arg.dtype.type(i), arg)
            xp.maximum(y, v, out=y)   # propagates NaN
        self._cache = (x.shape, arg, sl) if training else None
        return y

    def backward(self, grad: ArrayLike, need_input_grad: bool = True) -> Array | None:
        if self._cache is None:
            raise RuntimeError("MaxPool2D.backward: call forward(x, training=True) first")
        if not need_input_grad:
            return None
        xp, (grad,) = get_array_module("MaxPool2D.backward", grad)
        shape, arg, sl = self._cache
        self._check_grad(grad, arg.shape)
        dx = xp.zeros(shape, grad.dtype)
        disjoint = all(st >= k for st, k in zip(self.stride, self.kernel_size))
        for i, s in enumerate(sl):
            part = xp.where(arg == i, grad, grad.dtype.type(0))
            if disjoint:   # each input element is in one window at most
                dx[(slice(None), slice(None)) + s] = part
            else:
                dx[(slice(None), slice(None)) + s] += part
        return dx


class AvgPool2D(_Pool2D):
    """Average pooling over ``kernel_size`` windows moved by ``stride`` (default: the kernel).

    Parameters
    ----------
    kernel_size : int or (int, int), optional
        The window, (kh, kw). Default 2.
    stride : int, (int, int) or None, optional
        The step between windows, (sh, sw). Default: the kernel size.

    Notes
    -----
    Same shapes and errors as :class:`MaxPool2D`; ``backward`` spreads each output's
    gradient evenly, ``g / (kh kw)``, over its window.
    """

    def forward(self, x: ArrayLike, training: bool = True) -> Array:
        xp, (x,) = get_array_module("AvgPool2D.forward", x)
        sl, _, _ = self._windows(x)
        y = x[(slice(None), slice(None)) + sl[0]].copy()
        for s in sl[1:]:
            y += x[(slice(None), slice(None)) + s]
        y *= y.dtype.type(1.0 / len(sl))
        self._cache = (x.shape, y.shape, sl) if training else None
        return y

    def backward(self, grad: ArrayLike, need_input_grad: bool = True) -> Array | None:
        if self._cache is None:
            raise RuntimeError("AvgPool2D.backward: call forward(x, training=True) first")
        if not need_input_grad:
            return None
        xp, (grad,) = get_array_module("AvgPool2D.backward", grad)
        shape, yshape, sl = self._cache
        self._check_grad(grad, yshape)
        g = grad * grad.dtype.type(1.0 / len(sl))
        dx = xp.zeros(shape, grad.dtype)
        for s in sl:
            dx[(slice(None), slice(None)) + s] += g
        return dx


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 d2 ...), C order; ``backward`` restores the shape.

    Raises ``ValueError`` for an input with fewer than 2 dimensions or a ``grad`` of the
    wrong shape, ``RuntimeError`` for a backward without a training forward.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shape = None

    def forward(self, x: ArrayLike, training: bool = True) -> Array:
        xp, (x,) = get_array_module("Flatten.forward", x)
        if x.ndim < 2:
            raise ValueError(f"Flatten.forward: x must have a batch axis and at least one "
                             f"more, got shape {x.shape}")
        self._shape = x.shape if training else None
        return x.reshape(x.shape[0], -1)

    def backward(self, grad: ArrayLike, need_input_grad: bool = True) -> Array | None:
        if self._shape is None:
            raise RuntimeError("Flatten.backward: call forward(x, training=True) first")
        if not need_input_grad:
            return None
        n = self._shape[0]
        if grad.shape != (n, int(np.prod(self._shape[1:]))):
            raise ValueError(f"Flatten.backward: grad must have shape "
                             f"{(n, int(np.prod(self._shape[1:])))}, got {grad.shape}")
        return grad.reshape(self._shape)


class Reshape(Layer):
    """Reshape (N, F) to ``(N, *shape)``, e.g. flattened images back to (N, 1, 28, 28) NCHW.

    Lets a CNN take the same (N, F) feature arrays as the MLPs (``nn.load_mnist``,
    ``nn.load_digits_split``). ``backward`` restores (N, F).

    Parameters
    ----------
    shape : tuple of int
        The per-row shape, product F.

    Raises
    ------
    TypeError
        For a ``shape`` that is not a tuple (or list) of integers.
    ValueError
        For an empty one, a size < 1, or sizes that do not match the input.
    RuntimeError
        For a backward without a training forward.
    """

    def __init__(self, shape: Shape) -> None:
        super().__init__()
        self.shape = _checks.shape("Reshape", "shape", shape)
        if not self.shape or min(self.shape) < 1:
            raise ValueError(f"Reshape: shape must be a non-empty tuple of sizes >= 1, got "
                             f"{shape!r}")
        self._in_shape = None

    def config(self) -> dict[str, Any]:
        return {"shape": list(self.shape)}

    def forward(self, x: ArrayLike, training: bool = True) -> Array:
        xp, (x,) = get_array_module("Reshape.forward", x)
        size = int(np.prod(self.shape))
        if x.ndim < 1 or int(np.prod(x.shape[1:])) != size:
            raise ValueError(f"Reshape.forward: x of shape {x.shape} cannot become "
                             f"(N, {', '.join(map(str, self.shape))})")
        self._in_shape = x.shape if training else None
        return x.reshape((x.shape[0],) + self.shape)

    def backward(self, grad: ArrayLike, need_input_grad: bool = True) -> Array | None:
        if self._in_shape is None:
            raise RuntimeError("Reshape.backward: call forward(x, training=True) first")
        if not need_input_grad:
            return None
        if grad.shape != (self._in_shape[0],) + self.shape:
            raise ValueError(f"Reshape.backward: grad must have shape "
                             f"{(self._in_shape[0],) + self.shape}, got {grad.shape}")
        return grad.reshape(self._in_shape)
