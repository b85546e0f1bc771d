"""Layers of the small neural-network set: a fully connected layer and three activations.

Every layer follows one protocol, the one MagmaDNN's layers follow:

* ``forward(x, training=True)`` returns the output and caches what ``backward`` needs;
* ``backward(grad, need_input_grad=True)`` takes dL/d(output), stores the parameter
  gradients in ``grads`` and returns dL/d(input) (``None`` when ``need_input_grad`` is
  false, which saves the largest GEMM of the first layer);
* ``params`` and ``grads`` are lists of arrays in the same order (empty for activations);
* ``config()`` is a JSON-able description from which ``type(layer)(**config)`` rebuilds
  the layer (parameters aside).

The array module of the input (NumPy or CuPy) is used for all elementwise work, so one
model runs on either side. The GEMMs of :class:`Dense` go through
:func:`blasfast.batched_gemm`.
"""

import math
from typing import Any, Literal, get_args

import numpy as np

from .. import _checks
from .._backend import get_array_module
from .._typing import Array, ArrayLike, DTypeLike, Int
from ..gemm import batched_gemm
from . import _args

__all__ = ["Layer", "Dense", "ReLU", "Tanh", "Sigmoid"]

#: The weight initializations of Dense and Conv2D (``init=``); the checks accept its values.
Init = Literal["he", "glorot"]


class Layer:
    """Base class: a layer with no parameters.

    Subclasses with parameters list their attribute names in ``param_names`` and keep the
    gradients, in the same order, in ``self._grads``.
    """

    #: Names of the attributes holding the trainable parameters, in ``params`` order.
    param_names = ()
    #: 16-bit dtype (float16/bfloat16) the layer computes in while
    #: :class:`blasfast.nn.MixedPrecision` trains it; None = the parameters' dtype.
    _compute_dtype = None

    def __init__(self) -> None:
        self._grads = []

    @property
    def params(self) -> list[Array]:
        """List of arrays: the trainable parameters (updated in place by optimizers)."""
        return [getattr(self, name) for name in self.param_names]

    @property
    def grads(self) -> list[Array]:
        """List of arrays: gradients of the last ``backward``, aligned with ``params``."""
        return list(self._grads)

    def config(self) -> dict[str, Any]:
        """Return the keyword arguments that rebuild this layer, as a JSON-able dict.

        Returns
        -------
        dict
            ``type(layer)(**layer.config())`` is a new layer of the same shape
            (parameters aside).
        """
        return {}

    def forward(self, x: ArrayLike,
                training: bool = True) -> Array:  # pragma: no cover - abstract
        """Return the layer's output for ``x``.

        Parameters
        ----------
        x : array
            The input, NumPy or CuPy (the same side as the parameters).
        training : bool
            When true, cache what :meth:`backward` needs.

        Returns
        -------
        array
            The output, on the input's side.

        Raises
        ------
        ValueError
            If ``x`` has a shape the layer cannot take.
        """
        raise NotImplementedError

    def backward(self, grad: ArrayLike,
                 need_input_grad: bool = True) -> Array | None:  # pragma: no cover - abstract
        """Return dL/d(input) and store the parameter gradients in ``grads``.

        Parameters
        ----------
        grad : array
            dL/d(output) for the output of the last training-mode :meth:`forward`.
        need_input_grad : bool
            When false, skip the work for dL/d(input) and return ``None``.

        Returns
        -------
        array or None
            dL/d(input), of the input's shape; ``None`` when ``need_input_grad`` is
            false.

        Raises
        ------
        RuntimeError
            If no training-mode :meth:`forward` came before.
        ValueError
            If ``grad`` does not have the output's shape.
        """
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


class Dense(Layer):
    r"""Fully connected layer, :math:`y = x W + b`.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and output features, both >= 1.
    rng : int, numpy.random.Generator or None, optional
        Seed or generator for the initial weights. ``None`` draws fresh entropy from the
        OS (not reproducible); pass a seed for reproducible runs. No global state is used.
    dtype : {float32, float64}, optional
        Dtype of the parameters and of the computation. Default float32.
    init : {'he', 'glorot'}, optional
        ``'he'`` (default, for ReLU): :math:`W \sim \mathcal N(0, 2/\text{in})`.
        ``'glorot'`` (for tanh/sigmoid): :math:`W \sim U(-l, l)`,
        :math:`l = \sqrt{6/(\text{in}+\text{out})}`. The bias starts at zero.

    Attributes
    ----------
    W : (in_features, out_features) array
        The weights.
    b : (out_features,) array
        The bias. Both are on the host after construction;
        :meth:`blasfast.nn.Sequential.to_device` moves them.

    Raises
    ------
    TypeError
        For a size that is not an integer (``2.5``, ``True``), a dtype other than
        float32/float64, a non-string ``init``, or an ``rng`` that is not a seed or
        Generator.
    ValueError
        For a size < 1, an unknown ``init`` or a negative seed.

    Notes
    -----
    Forward: one GEMM, ``batched_gemm(x, W)`` (2·N·in·out flops). Backward:
    :math:`dW = x^T g` as ``batched_gemm(x, g, trans_a=True)``, :math:`db = \sum_n g_n`,
    and, when asked, :math:`dx = g W^T` as ``batched_gemm(g, W, trans_b=True)``; no
    transpose is materialized.

    Under :class:`blasfast.nn.MixedPrecision` the layer computes with 16-bit copies of
    ``x`` and ``W`` (float32 accumulation), returns 16-bit outputs and input gradients,
    and stores 16-bit ``[dW, db]``; the parameters themselves stay float32 (masters).

    References
    ----------
    K. He, X. Zhang, S. Ren, J. Sun, "Delving deep into rectifiers", ICCV 2015.
    X. Glorot, Y. Bengio, "Understanding the difficulty of training deep feedforward
    neural networks", AISTATS 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import Dense
    >>> layer = Dense(4, 3, rng=0)
    >>> layer.forward(np.ones((2, 4), np.float32)).shape
    (2, 3)
    """

    param_names = ("W", "b")

    def __init__(self, in_features: Int, out_features: Int, *,
                 rng: Int | np.random.Generator | None = None, dtype: DTypeLike = np.float32,
                 init: Init = "he") -> None:
        super().__init__()
        in_features = _checks.integer("Dense", "in_features", in_features, minimum=1)
        out_features = _checks.integer("Dense", "out_features", out_features, minimum=1)
        dtype = _args.float_dtype("Dense", "dtype", dtype)
        init = _checks.choice("Dense", "init", init, get_args(Init))
        gen = _args.generator("Dense", "rng", rng)
        if init == "he":
            w = gen.standard_normal((in_features, out_features)) * math.sqrt(2.0 / in_features)
        else:
            limit = math.sqrt(6.0 / (in_features + out_features))
            w = gen.uniform(-limit, limit, (in_features, out_features))
        self.in_features, self.out_features = in_features, out_features
        self.dtype, self.init = dtype, init
        self.W = w.astype(dtype)
        self.b = np.zeros(out_features, dtype=dtype)
        self._x = self._w16 = None

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "dtype": self.dtype.name, "init": self.init}

    def forward(self, x: ArrayLike, training: bool = True) -> Array:
        """Compute ``x @ W + b``.

        Parameters
        ----------
        x : (N, in_features) array, same kind (NumPy/CuPy) as the parameters
            Cast to the layer's dtype if needed.
        training : bool
            When true, ``x`` is cached for :meth:`backward`.

        Returns
        -------
        (N, out_features) array
            Of the layer's dtype (16-bit under mixed precision).

        Raises
        ------
        ValueError
            If ``x`` is not 2-D with ``in_features`` columns.
        TypeError
            If ``x`` and the parameters live on different sides (host/GPU).
        """
        xp, (x, w) = get_array_module("Dense.forward", x, self.W)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"Dense.forward: x must have shape (N, {self.in_features}), "
                             f"got {x.shape}")
        cd = self._compute_dtype
        if cd is not None:  # mixed precision: 16-bit copies, FP32 accumulation
            x, w = x.astype(cd, copy=False), w.astype(cd)
            y = batched_gemm(x, w)  # float32 result
            y += self.b
            y = y.astype(cd)
            self._x, self._w16 = (x, w) if training else (None, None)
            return y
        x = xp.asarray(x, dtype=self.dtype)
        y = batched_gemm(x, w)
        y += self.b
        self._x = x if training else None
        return y

    def backward(self, grad: ArrayLike, need_input_grad: bool = True) -> Array | None:
        """Store ``[dW, db]`` in ``grads`` and return dL/dx.

        Parameters
        ----------
        grad : (N, out_features) array
            dL/dy for the output of the last training-mode :meth:`forward`.
        need_input_grad : bool
            When false, skip the ``g W^T`` GEMM and return ``None``.

        Returns
        -------
        (N, in_features) array or None
            dL/dx; ``None`` when ``need_input_grad`` is false.

        Raises
        ------
        RuntimeError
            If no training-mode forward came before.
        ValueError
            If ``grad`` does not have shape (N, out_features).
        """
        if self._x is None:
            raise RuntimeError("Dense.backward: call forward(x, training=True) first")
        xp, (grad,) = get_array_module("Dense.backward", grad)
        if grad.shape != (self._x.shape[0], self.out_features):
            raise ValueError(f"Dense.backward: grad must have shape "
                             f"{(self._x.shape[0], self.out_features)}, got {grad.shape}")
        cd = self._compute_dtype
        if cd is not None:  # mixed precision: 16-bit gradients, as on tensor cores
            grad = grad.astype(cd, copy=False)
            dw = batched_gemm(self._x, grad, trans_a=True, out=xp.empty(self.W.shape, cd))
            db = grad.astype(xp.float32).sum(axis=0).astype(cd)
            self._grads = [dw, db]
            if not need_input_grad:
                return None
            return batched_gemm(grad, self._w16, trans_b=True).astype(cd)
        grad = xp.asarray(grad, dtype=self.dtype)
        dw = batched_gemm(self._x, grad, trans_a=True)
        db = grad.sum(axis=0)
        self._grads = [dw, db]
        if not need_input_grad:
            return None
        return batched_gemm(grad, self.W, trans_b=True)


class _Activation(Layer):
    """Elementwise activation: subclasses give ``_f(xp, x)`` and ``_df(xp, x, y)``."""

    def __init__(self) -> None:
        super().__init__()
        self._cache = None

    def forward(self, x: ArrayLike, training: bool = True) -> Array:
        xp, (x,) = get_array_module(f"{type(self).__name__}.forward", x)
        y = self._f(xp, x)
        self._cache = (x, y) if training else None
        return y

    def backward(self, grad: ArrayLike, need_input_grad: bool = True) -> Array | None:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward: call "
                               "forward(x, training=True) first")
        if not need_input_grad:
            return None
        xp, (grad,) = get_array_module(f"{type(self).__name__}.backward", grad)
        x, y = self._cache
        if grad.shape != y.shape:
            raise ValueError(f"{type(self).__name__}.backward: grad must have shape "
                             f"{y.shape}, got {grad.shape}")
        return grad * self._df(xp, x, y)


class ReLU(_Activation):
    r"""Rectified linear unit, :math:`y = \max(x, 0)`, elementwise.

    ``forward(x, training=True)`` takes an array of any shape and float dtype and returns
    one of the same shape and dtype; ``backward(grad)`` returns
    :math:`g \cdot [x > 0]` (the subgradient 0 is taken at 0). ``backward`` raises
    ``RuntimeError`` without a training-mode forward and ``ValueError`` on a shape mismatch.

    References
    ----------
    V. Nair, G. Hinton, "Rectified linear units improve restricted Boltzmann machines",
    ICML 2010.
    """

    @staticmethod
    def _f(xp, x):
        return xp.maximum(x, 0)

    @staticmethod
    def _df(xp, x, y):
        return (x > 0).astype(x.dtype)


class Tanh(_Activation):
    r"""Hyperbolic tangent, :math:`y = \tanh x`, elementwise.

    Same shapes, dtypes and errors as :class:`ReLU`; ``backward(grad)`` returns
    :math:`g \cdot (1 - y^2)`.
    """

    @staticmethod
    def _f(xp, x):
        return xp.tanh(x)

    @staticmethod
    def _df(xp, x, y):
        return 1 - y * y


class Sigmoid(_Activation):
    r"""Logistic sigmoid, :math:`y = 1 / (1 + e^{-x})`, elementwise.

    Same shapes, dtypes and errors as :class:`ReLU`; ``backward(grad)`` returns
    :math:`g \cdot y (1 - y)`.

    Notes
    -----
    Evaluated as :math:`(1 + \tanh(x/2)) / 2`, which equals the definition, never
    overflows and keeps full relative accuracy where :math:`y` is not tiny.
    """

    @staticmethod
    def _f(xp, x):
        return 0.5 * (1 + xp.tanh(0.5 * x))

    @staticmethod
    def _df(xp, x, y):
        return y * (1 - y)
