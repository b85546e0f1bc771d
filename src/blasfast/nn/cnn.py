"""The small CNN of ``blasfast train --model cnn``: its architecture and training defaults.

Architecture (:func:`build_cnn`), for square single-channel images given as flattened rows
(what :func:`blasfast.nn.load_mnist` and :func:`blasfast.nn.load_digits_split` return)::

    Reshape(1, s, s)
    -> [Conv2D(c_in, c, 3x3, padding='same') -> ReLU -> MaxPool2D(2)]  for c in channels
    -> Flatten -> [Dense -> ReLU] for each hidden size -> Dense(n_classes)

Every convolution runs through :func:`blasfast.conv.conv2d` (``algorithm='auto'``: the GEMM
algorithm for the thin first layer, Winograd F(2x2, 3x3) once both channel counts reach
:data:`blasfast.conv.AUTO_MIN_CHANNELS`), every Dense through
:func:`blasfast.batched_gemm`.
"""

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from .._typing import DTypeLike, Int
from .conv_layers import Algorithm, Conv2D, Flatten, MaxPool2D, Reshape
from .layers import Dense, ReLU, Sigmoid, Tanh
from .model import Sequential

__all__ = ["CNN_DEFAULTS", "image_shape", "build_cnn"]

#: Per-dataset defaults of ``blasfast train --model cnn`` (the keys of the MLP's defaults
#: in ``blasfast.cli``, and a ``schedule``; Nesterov momentum). Measured on the CPU path
#: (NumPy, one BLAS thread, 2-core x86 machine), seed 0, float32:
#:
#: * digits (1347 train / 450 test, 8x8): test accuracy 0.980 after 15 epochs, ~5-10 s;
#: * MNIST (60000 / 10000, 28x28), with a cosine learning-rate schedule: test accuracy
#:   0.9839, 0.9889, 0.9906 after epochs 1, 2, 3 (seeds 1 and 2 end at 0.9916 and 0.9913):
#:   the 3 epochs reach the >= 0.985 target, and the MLP's 5 epochs give about 0.975.
#:   This takes about 80 s of CPU time, about 26 s per epoch. A constant rate ends noisier,
#:   at 0.9870 and 0.9903 for seeds 0 and 1; its float16 mixed-precision run then ended
#:   0.57 points below float32, and the decayed rate closes that gap. See
#:   bench/results/2026-11-28-cpu-path-mixed-precision-cnn-mnist.md.
CNN_DEFAULTS = {
    "digits": dict(hidden=[64], epochs=15, batch_size=32, lr=0.05, momentum=0.9,
                   weight_decay=1e-4, activation="relu"),
    "mnist": dict(hidden=[128], epochs=3, batch_size=64, lr=0.05, momentum=0.9,
                  weight_decay=1e-4, activation="relu", schedule="cosine"),
}

_ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}


def image_shape(n_features: Int) -> tuple[int, int, int]:
    """``(1, s, s)`` for flattened square single-channel images of ``n_features = s*s``.

    Raises
    ------
    ValueError
        If ``n_features`` is not a perfect square.
    """
    s = math.isqrt(int(n_features))
    if s * s != n_features or s < 1:
        raise ValueError(f"image_shape: {n_features} features are not a square image; the "
                         "CNN takes square single-channel images (digits 8x8, MNIST 28x28)")
    return (1, s, s)


def build_cnn(image_shape: Sequence[Int], n_classes: Int, *, channels: Sequence[Int] = (16, 32),
              hidden: Sequence[Int] = (128,),
              activation: Literal["relu", "tanh", "sigmoid"] = "relu",
              algorithm: Algorithm = "auto",
              rng: Int | np.random.Generator | None = None,
              dtype: DTypeLike = np.float32) -> Sequential:
    """A small CNN as a :class:`~blasfast.nn.Sequential` (see the module docstring).

    Parameters
    ----------
    image_shape : (C, H, W) tuple of ints
        Shape of one image; the model's input is (N, C*H*W) rows.
    n_classes : int
    channels : sequence of int
        Output channels of each conv block; each block halves H and W (floor).
    hidden : sequence of int
        Units of the dense hidden layers after the convolutions.
    activation : {'relu', 'tanh', 'sigmoid'}
        After every convolution and hidden dense layer (ReLU layers use He
        initialization, the others Glorot).
    algorithm : {'auto', 'winograd', 'winograd_nonfused', 'gemm'}
        Of every convolution.
    rng : int, numpy.random.Generator or None
        Seed or generator for all initial weights.
    dtype : {float32, float64}

    Returns
    -------
    Sequential

    Raises
    ------
    ValueError
        If the image is too small for the number of pooling blocks, or for bad sizes.

    Examples
    --------
    >>> from blasfast.nn.cnn import build_cnn
    >>> model = build_cnn((1, 8, 8), 10, channels=(8,), hidden=(16,), rng=0)
    >>> [type(layer).__name__ for layer in model.layers]  # doctest: +NORMALIZE_WHITESPACE
    ['Reshape', 'Conv2D', 'ReLU', 'MaxPool2D', 'Flatten', 'Dense', 'ReLU', 'Dense']
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"build_cnn: activation must be one of {sorted(_ACTIVATIONS)}, "
                         f"got {activation!r}")
    act = _ACTIVATIONS[activation]
    init = "he" if activation == "relu" else "glorot"
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    c, h, w = (int(v) for v in image_shape)
    layers = [Reshape((c, h, w))]
    for k in channels:
        if h < 2 or w < 2:
            raise ValueError(f"build_cnn: a {image_shape} image is too small for "
                             f"{len(channels)} conv blocks (each halves H and W)")
        layers += [Conv2D(c, k, 3, padding="same", algorithm=algorithm, rng=gen, dtype=dtype,
                          init=init), act(), MaxPool2D(2)]
        c, h, w = k, h // 2, w // 2
    layers.append(Flatten())
    features = c * h * w
    for units in hidden:
        layers += [Dense(features, units, rng=gen, dtype=dtype, init=init), act()]
        features = units
    layers.append(Dense(features, n_classes, rng=gen, dtype=dtype, init=init))
    return Sequential(layers)
