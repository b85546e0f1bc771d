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

Layers, as everywhere in blasfast: the public functions normalize and validate arguments
(shapes and dtypes, never contents), allocate, and hand arrays to the algorithm modules,
whose functions run on either array module (the NumPy CPU path, or CUDA kernels plus
:func:`blasfast.batched_gemm` on CuPy arrays). One job per private module:

======================  ====================================================================
module                  job
======================  ====================================================================
``_forward``            :func:`conv2d`, :func:`winograd_filter_transform`
``_grad``               :func:`conv2d_dgrad`, :func:`conv2d_wgrad`
``_algorithm``          the algorithm names, the 'auto' rule, :func:`conv2d_algorithm`
``_args``               checks of the array arguments (dtypes, bias, ``w_winograd``, dy)
``_geom``               stride/padding/dilation and the output size (:class:`ConvGeom`)
``_docs``               docstring sections shared by the ops
``_winograd``           Winograd transforms and their kernel launchers, both paths
``_winograd_fused``     launchers of the fused Winograd kernels (GPU forward and dgrad)
``_im2col``             the GEMM algorithm: im2col, col2im and their launchers
======================  ====================================================================
"""

# The algorithm table, as data (what conv.py held): the 'auto' rule the docs name, and the
# names blasfast.nn's Conv2D checks its algorithm against. Not in __all__: no star-export.
from ._algorithm import ALGORITHMS as ALGORITHMS  # noqa: F401
from ._algorithm import AUTO_MIN_CHANNELS as AUTO_MIN_CHANNELS  # noqa: F401
from ._algorithm import AUTO_RULE as AUTO_RULE  # noqa: F401
from ._algorithm import WINOGRAD as WINOGRAD  # noqa: F401
from ._algorithm import conv2d_algorithm as conv2d_algorithm
from ._forward import conv2d as conv2d
from ._forward import winograd_filter_transform as winograd_filter_transform
from ._grad import conv2d_dgrad as conv2d_dgrad
from ._grad import conv2d_wgrad as conv2d_wgrad

__all__ = ["conv2d", "conv2d_dgrad", "conv2d_wgrad", "conv2d_algorithm",
           "winograd_filter_transform"]
