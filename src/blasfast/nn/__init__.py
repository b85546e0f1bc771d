"""A small neural-network layer set built on blasfast's public GEMM.

Layers (:class:`Dense`, :class:`ReLU`, :class:`Tanh`, :class:`Sigmoid`, :class:`Conv2D`,
:class:`MaxPool2D`, :class:`AvgPool2D`, :class:`Flatten`, :class:`Reshape`), a loss
(:class:`SoftmaxCrossEntropy`), an optimizer (:class:`SGD`), a model (:class:`Sequential`)
and real datasets (:func:`load_idx`, :func:`load_mnist`, :func:`load_digits_split`).
Every model runs on NumPy arrays or, after ``model.to_device('gpu')``, on CuPy arrays.
"""

from .conv_layers import AvgPool2D as AvgPool2D
from .conv_layers import Conv2D as Conv2D
from .conv_layers import Flatten as Flatten
from .conv_layers import MaxPool2D as MaxPool2D
from .conv_layers import Reshape as Reshape
from .data import load_digits_split as load_digits_split
from .data import load_idx as load_idx
from .data import load_mnist as load_mnist
from .layers import Dense as Dense
from .layers import ReLU as ReLU
from .layers import Sigmoid as Sigmoid
from .layers import Tanh as Tanh
from .losses import SoftmaxCrossEntropy as SoftmaxCrossEntropy
from .model import Sequential as Sequential
from .optimizers import SGD as SGD

__all__ = ["Dense", "ReLU", "Tanh", "Sigmoid", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten",
           "Reshape", "SoftmaxCrossEntropy", "SGD", "Sequential", "load_idx", "load_mnist",
           "load_digits_split"]
