"""A small neural-network layer set built on blasfast's public GEMM and convolutions.

Layers (:class:`Dense`, :class:`ReLU`, :class:`Tanh`, :class:`Sigmoid`, :class:`Conv2D`,
:class:`MaxPool2D`, :class:`AvgPool2D`, :class:`Flatten`, :class:`Reshape`), a loss
(:class:`SoftmaxCrossEntropy`), optimizers (:class:`SGD`, :class:`Adagrad`,
:class:`RMSprop`, :class:`Adam`, :class:`AdamW`) with learning-rate schedules
(:class:`StepLR`, :class:`CosineLR`), callbacks (:class:`EarlyStopping`,
:class:`ModelCheckpoint`), mixed-precision training (:class:`MixedPrecision`), pruning
(:func:`prune`, :func:`compact`, :func:`weight_sparsity`, :class:`MultiSparsity`),
data-parallel training (:class:`DataParallel`), a model (:class:`Sequential`) and real
datasets (:func:`load_idx`, :func:`load_mnist`, :func:`load_digits_split`). Every model
runs on NumPy arrays or, after ``model.to_device('gpu')``, on CuPy arrays.
"""

from .callbacks import Callback as Callback
from .callbacks import EarlyStopping as EarlyStopping
from .callbacks import ModelCheckpoint as ModelCheckpoint
from .conv_layers import AvgPool2D as AvgPool2D
from .conv_layers import Conv2D as Conv2D
from .conv_layers import Flatten as Flatten
from .conv_layers import MaxPool2D as MaxPool2D
from .conv_layers import Reshape as Reshape
from .data import load_digits_split as load_digits_split
from .data import load_idx as load_idx
from .data import load_mnist as load_mnist
from .distributed import DataParallel as DataParallel
from .layers import Dense as Dense
from .layers import ReLU as ReLU
from .layers import Sigmoid as Sigmoid
from .layers import Tanh as Tanh
from .losses import SoftmaxCrossEntropy as SoftmaxCrossEntropy
from .mixed_precision import MixedPrecision as MixedPrecision
from .model import Sequential as Sequential
from .optimizers import SGD as SGD
from .optimizers import Adagrad as Adagrad
from .optimizers import Adam as Adam
from .optimizers import AdamW as AdamW
from .optimizers import RMSprop as RMSprop
from .pruning import MultiSparsity as MultiSparsity
from .pruning import compact as compact
from .pruning import prune as prune
from .pruning import weight_sparsity as weight_sparsity
from .schedules import CosineLR as CosineLR
from .schedules import StepLR as StepLR

__all__ = ["Dense", "ReLU", "Tanh", "Sigmoid", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten",
           "Reshape", "SoftmaxCrossEntropy", "SGD", "Sequential", "load_idx", "load_mnist",
           "load_digits_split", "Adagrad", "RMSprop", "Adam", "AdamW", "StepLR", "CosineLR",
           "Callback", "EarlyStopping", "ModelCheckpoint", "MixedPrecision", "prune", "compact",
           "weight_sparsity", "MultiSparsity", "DataParallel"]
