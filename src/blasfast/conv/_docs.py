"""Documentation text shared by the convolution ops (numpydoc sections, filled in by
:func:`doc`)."""

from typing import Any, Callable, TypeVar

from .._docs import STREAM_PARAM
from ._algorithm import AUTO_RULE

_F = TypeVar("_F", bound=Callable[..., Any])

_SHARED_PARAMS = """
    stride : int or (int, int), optional
        Step between output positions, >= 1 (rows, columns). Default 1.
    padding : int, (int, int), ((int, int), (int, int)), 'same' or 'valid', optional
        Zero padding of the input: the same on all sides, (rows, columns), or
        ((top, bottom), (left, right)). ``'valid'`` is 0; ``'same'`` gives ``ceil(H /
        stride)`` output rows (H for stride 1), padding ``total // 2`` on top and the rest
        at the bottom (as PyTorch/TensorFlow), likewise for the columns. Default 0.
    dilation : int or (int, int), optional
        Spacing between filter taps, >= 1. Default 1.
    algorithm : {'auto', 'winograd', 'winograd_nonfused', 'gemm', 'fft'}, optional
        ``'winograd'``: F(2x2, 3x3), needs 3x3 filters, stride 1 and dilation 1; on the
        GPU the forward and dgrad (not float64) run fused in one kernel.
        ``'winograd_nonfused'``: the same, as separate transform and GEMM launches (the
        reference for the fused kernel; identical to ``'winograd'`` on the CPU path).
        ``'gemm'``: im2col + batched GEMM, any case. ``'auto'`` (default): {rule}.
        ``'fft'`` (forward only): :mod:`blasfast.fft`'s FFT convolution, dilation 1 and
        symmetric padding, its own precision rules (see ``blasfast.fft``)."""


_SHARED_RAISES = """
    TypeError
        An unsupported dtype (float32, float64, float16, bfloat16 are), arrays of different
        dtypes, host and device arrays mixed; an array argument that is not an array
        (a list, a scalar, None); a shape argument that is not a tuple or list of integers
        (an array, a float entry); non-integer stride/dilation/padding (floats and bools
        are refused, NumPy integers accepted); an ``algorithm`` that is not a string; a
        ``stream`` that is neither None, a stream object nor an integer handle.
    ValueError
        Wrong rank (inputs are 4-D NCHW / KCRS, shape arguments have 4 entries), a negative
        shape entry, a channel mismatch (the message says so when ``x`` looks
        channels-last), an empty batch (N = 0) or zero-sized dimension, stride or dilation
        < 1, a stride/dilation/padding pair of another length than 2, negative or unknown
        padding, an empty output, an unknown algorithm, Winograd for a filter that is not
        3x3 or a stride or dilation other than 1.
    NotImplementedError
        ``algorithm='fft'`` for dgrad/wgrad, or where :mod:`blasfast.fft` provides no
        ``conv2d_fft``.
    blasfast.KernelCompileError
        GPU path: a kernel family failed to compile (first call per device)."""

_SHARED_NOTES = """
    Precision. float32/float64 data are transformed and accumulated in their own
    precision. float16/bfloat16 data are accumulated in float32: the GEMM operands (the
    input, or for Winograd the transformed tiles and filters) are 16-bit, as the tensor
    cores take them, everything else is float32, and the result is rounded once to the
    data's dtype. The CPU path rounds at exactly the same places (the fused GPU kernels
    differ from it only in the order of the float32 sums over channels).

    Accuracy (elementwise, ``u`` the unit roundoff of the accumulation, ``CRS = C R S``):
    GEMM algorithm ``|err| <= gamma_{CRS+2} (|w| * |x| + |b|)`` (``*`` the convolution of
    the absolute values); Winograd ``|err| <= gamma_{C+11} (|A^T| (sum_c (|G||g||G^T|) (.)
    (|B^T||d||B|)) |A| + |b|)`` -- the same order as the GEMM algorithm times the growth of
    the transforms: this majorant is 64/9 = 7.1 times the GEMM one for constant data, 7-8
    times on random data (measured in the tests); actual errors are far below both bounds
    (float32 relative errors about 2e-7 either way). For 16-bit data add the rounding of
    the operands (``2 u16`` times the Winograd majorant; nothing for the GEMM algorithm,
    whose operands are the data) and of the result (``u16 |y|``); measured relative errors
    about 7e-4 (float16) and 5e-3 (bfloat16) for Winograd, 3e-4 and 2e-3 for GEMM.
    NaN/Inf propagate; through a Winograd transform an Inf can become NaN (Inf - Inf).

    The GPU path launches on the current CuPy stream (or ``stream``) and never
    synchronizes; it allocates workspace: unfused Winograd ``16 C NT`` operand elements
    plus ``16 K NT`` float32 (``NT = N ceil(P/2) ceil(Q/2)``), fused Winograd only the
    ``16 K C`` transformed filters, GEMM ``C R S N P Q`` elements.

    References
    ----------
    A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016
    (F(2x2, 3x3) and its use as batched GEMM). K. Chellapilla, S. Puri, P. Simard,
    "High Performance Convolutional Neural Networks for Document Processing", 2006
    (im2col). cuDNN's fprop/dgrad/wgrad naming and NCHW/KCRS layouts."""


def doc(f: _F) -> _F:
    """Fill in ``{params}``, ``{stream}``, ``{raises}`` and ``{notes}`` of ``f``'s docstring
    (typed, so that a type checker sees the decorated function's own signature)."""
    if f.__doc__ is None:  # python -OO strips docstrings
        return f
    f.__doc__ = (f.__doc__.replace("{params}", _SHARED_PARAMS.replace("{rule}", AUTO_RULE))
                 .replace("{stream}", STREAM_PARAM)
                 .replace("{raises}", _SHARED_RAISES).replace("{notes}", _SHARED_NOTES))
    return f
