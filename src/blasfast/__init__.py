"""Raw CUDA kernels through CuPy for the linear algebra of science and deep learning.

Batched GEMM, convolutions, FFTs and mixed-precision solvers, with a NumPy-like API.

Every op takes NumPy arrays (CPU path) or CuPy / CUDA arrays (GPU path) and returns the
same kind; a PyTorch tensor (CPU or CUDA) gives a tensor back, zero-copy through DLPack,
and a Dask array a lazy Dask array. Nothing is compiled at import.
"""

from ._errors import KernelCompileError as KernelCompileError
from ._errors import LinAlgError as LinAlgError
from ._info import info as info
from .conv import conv2d as conv2d
from .conv import conv2d_algorithm as conv2d_algorithm
from .conv import conv2d_dgrad as conv2d_dgrad
from .conv import conv2d_wgrad as conv2d_wgrad
from .conv import winograd_filter_transform as winograd_filter_transform
from .gemm import BatchedGemm as BatchedGemm
from .gemm import batched_gemm as batched_gemm
from .gemm import gemm_vbatched as gemm_vbatched
from .gemm import matmul as matmul
from .kernels._compile import warmup as warmup
from .solvers import lu_factor as lu_factor
from .solvers import lu_solve as lu_solve
from .solvers import solve as solve
from . import fft as fft
from . import nn as nn
from . import solvers as solvers

from ._info import __version__ as __version__  # pyproject.toml's, via importlib.metadata
