"""Documentation text shared by the transforms (numpydoc sections, filled in by
:func:`doc`)."""

from collections.abc import Callable
from typing import Any, TypeVar

from .._docs import STREAM_PARAM

_F = TypeVar("_F", bound=Callable[..., Any])

_PARAM_PRECISION = """precision : {None, 'split16', 'fp32', 'fp16'}, optional
        Arithmetic for single-precision input (float32, complex64, float16, bfloat16):

        ==========  ==========================================================================
        'split16'   each radix-4 stage splits its FP32 input into two scaled float16 halves,
                    multiplies both by the exact FP16 DFT matrix with FP32 accumulation
                    (tensor cores on the GPU; :func:`blasfast.batched_gemm` on float16
                    operands on the CPU) and recombines them in FP32; twiddles in FP32.
                    Relative L2 error about 1e-7 to 1e-6, within a few times of FP32.
        'fp32'      the library FFT in FP32: ``scipy.fft`` on the CPU, cuFFT (``cupy.fft``)
                    on the GPU. Any length.
        'fp16'      the same stages with the high half only (one scaled float16 operand):
                    relative error about 1e-4 to 1e-3; kept to show what splitting buys.
        None        'split16' on axes whose length is a power of two, 'fp32' on the others.
        ==========  ==========================================================================

        Lengths that are not powers of two run 'split16' and 'fp16' through Bluestein's
        algorithm on a power-of-two transform of length ``>= 2n - 1`` (about 3x the work,
        2-3x the error). float64, complex128, integer and bool input always runs in FP64
        (``scipy.fft`` / cuFFT): ``precision`` must then be None or 'fp64'.
    {stream}"""

_PARAM_NORM = """norm : {None, 'backward', 'ortho', 'forward'}, optional
        Normalization as in :mod:`numpy.fft`: 'backward' (the default, None) leaves the
        forward transform unscaled and divides the inverse by ``n``; 'ortho' scales both by
        ``1/sqrt(n)``; 'forward' divides the forward transform by ``n``. Applied once, in the
        working precision, after all axes are transformed."""

_RAISES = """TypeError
        ``a`` not an array (a Python scalar, None or a string; a list of numbers is
        converted as NumPy would), an unsupported dtype (e.g. longdouble, object), complex input to
        a real transform, a non-integer ``n``, ``s`` entry or axis (a float or a bool), ``s``
        or ``axes`` not a sequence (a tuple or list, not an int), a ``norm`` or ``precision``
        that is not a string, a ``stream`` that is not a CUDA stream, or host and device
        arrays in one call.
    ValueError
        A 0-d ``a`` or a ragged list; a transformed length < 1 (``n`` < 1, an ``s`` entry
        < 1 other than -1, or a length-0 axis with no ``n``/``s``); ``s`` and ``axes`` of
        different lengths, or more ``s`` entries than ``a`` has axes; an unknown ``norm`` or
        ``precision``; a ``precision`` other than None/'fp64' for double-precision input
        (or 'fp64' for single-precision input); a ``stream`` with a host (NumPy) array, or
        any ``stream`` but None with a Dask array.
    numpy.exceptions.AxisError
        An axis out of range (a ``ValueError`` and an ``IndexError``, as NumPy raises).
    blasfast.KernelCompileError
        If the FFT kernels fail to compile (GPU path, first call per device)."""

_NOTES = """The result is a new array of the input's kind (NumPy or CuPy), complex64 (or float32
    for the inverse real transforms) for single-precision input, complex128 (float64)
    otherwise; the input is never modified. Inf and NaN propagate to every output that
    depends on them (as NumPy's Inf may become NaN here); other transforms of a batch are
    unaffected.

    Algorithm ('split16', Sorna et al. 2018): radix-4 Stockham stages (one radix-2 stage
    first for odd ``log2 n``) of up to 4096 points run as one pass (on the GPU one fused
    kernel: the block keeps the points in shared memory and does every stage with
    ``mma.sync`` tensor-core products); longer powers of two split four-step,
    ``n = n1 * n2``, with an FP32 twiddle between passes. The split scales are powers of two,
    one pair per radix-4 butterfly (its 4 complex inputs): ``s1 = 2**ceil(log2 max|z|)``,
    ``hi = fp16(z/s1)``, ``s2`` likewise for the exact residual ``z - s1*hi``,
    ``lo = fp16(r/s2)``, so the split represents every input to about ``2**-22`` relative
    and the result does not depend on the input's magnitude (any float32 range). Even-length
    real transforms run as complex transforms of half the length. Expect, in relative L2
    norm against the exact transform of the float32 input, ~(1 to 3)e-7 for 'split16' at
    n <= 4096**2 (see ``scripts/fft_accuracy.py``), ~5e-4 for 'fp16'.

    The GPU path launches on the current CuPy stream and does not synchronize; the CPU path
    runs the same arithmetic in NumPy (slower than ``scipy.fft``; use 'fp32' where only
    speed matters)."""

_REFERENCES = """Sorna, Cheng, D'Azevedo, Wong, Tomov, "Optimizing the Fast Fourier Transform using
    Mixed Precision on Tensor Core Hardware", HiPC workshops 2018. Bluestein, "A linear
    filtering approach to the computation of the discrete Fourier transform", 1970."""


def doc(f: _F) -> _F:
    """Fill the shared sections ({precision}, {norm}, {raises}, {notes}, {references}) of a
    transform's docstring. Typed to return ``f`` itself, so that a type checker keeps the
    transform's signature (an untyped decorator would make it ``Any``). Under ``python
    -OO`` (docstrings stripped) there is nothing to fill: ``f`` is returned as it is."""
    if f.__doc__ is None:
        return f
    f.__doc__ = (f.__doc__.replace("{precision}", _PARAM_PRECISION)
                 .replace("{stream}", STREAM_PARAM).replace("{norm}", _PARAM_NORM).replace("{raises}", _RAISES)
                 .replace("{notes}", _NOTES).replace("{references}", _REFERENCES))
    return f
