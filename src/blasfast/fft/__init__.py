"""Split-FP16 fast Fourier transforms with :mod:`numpy.fft` semantics, and FFT convolution.

An FP32 signal is split, stage by stage, into two scaled float16 halves; each radix-4 DFT
stage is a matrix product with the exact FP16 DFT matrix (entries 0, +-1, +-i) accumulated
in FP32 on tensor cores, and the halves are recombined in FP32 -- near-FP32 accuracy from
FP16 hardware (Sorna et al. 2018). ``precision='fp32'`` runs the library FFT (``scipy.fft``
on the CPU, cuFFT on the GPU), ``'fp16'`` the plain half-precision stages.

======================  ====================================================================
function                transform
======================  ====================================================================
fft, ifft               1-D complex
fft2, ifft2             2-D complex (last two axes)
fftn, ifftn             N-D complex
rfft, irfft             1-D real input / real output
rfft2, irfft2           2-D real
rfftn, irfftn           N-D real
fftconvolve             N-D convolution, ``scipy.signal.fftconvolve`` semantics
======================  ====================================================================

NumPy arrays run on the CPU path (the same split arithmetic emulated in NumPy, the DFT
products through :func:`blasfast.batched_gemm` on float16 operands), CuPy arrays on the
GPU. ``scripts/fft_accuracy.py`` measures the error against a float64 reference.
"""

from ._conv import fftconvolve as fftconvolve
from ._transforms import fft as fft
from ._transforms import fft2 as fft2
from ._transforms import fftn as fftn
from ._transforms import ifft as ifft
from ._transforms import ifft2 as ifft2
from ._transforms import ifftn as ifftn
from ._transforms import irfft as irfft
from ._transforms import irfft2 as irfft2
from ._transforms import irfftn as irfftn
from ._transforms import rfft as rfft
from ._transforms import rfft2 as rfft2
from ._transforms import rfftn as rfftn

__all__ = ["fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2",
           "irfft2", "rfftn", "irfftn", "fftconvolve"]
