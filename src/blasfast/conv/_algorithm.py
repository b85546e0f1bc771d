"""Which algorithm a convolution runs: the names, the 'auto' rule, and whether a requested
algorithm applies to the geometry (:func:`conv2d_algorithm` answers it for shapes alone)."""

from typing import Literal, get_args

from .. import _checks
from .._errors import message
from .._typing import IntPair, Padding, Shape
from ._geom import make_geom

#: ``algorithm=`` of the ops, and what :func:`conv2d_algorithm` answers (never 'auto').
Algorithm = Literal["auto", "winograd", "winograd_nonfused", "gemm", "fft"]
Chosen = Literal["winograd", "winograd_nonfused", "gemm", "fft"]

ALGORITHMS = get_args(Algorithm)
WINOGRAD = ("winograd", "winograd_nonfused")

#: 'auto' takes Winograd when it applies (3x3, stride 1, dilation 1) and both GEMM sides
#: are at least this wide, min(C, K) >= AUTO_MIN_CHANNELS[path] (the same rule for the
#: forward, dgrad and wgrad). Below that the 16 GEMMs are too thin to pay for the
#: transforms, which move 4x the input through memory. CPU: measured on a 2-core x86
#: machine (NumPy + OpenBLAS, one thread), forward/dgrad/wgrad ms, Winograd vs GEMM:
#: C = K = 32 at 28x28, N = 16: 31/36/28 vs 11/19/11; C = K = 128: 112/60/86 vs
#: 111/92/69; C = K = 256 at 14x14: 41/40/33 vs 52/71/59 -- the crossover is near 128.
#: GPU: 32, not yet measured (bench/bench_conv.py measures it against cuDNN).
AUTO_MIN_CHANNELS = {"cpu": 128, "gpu": 32}
AUTO_RULE = ("winograd if 3x3 filters, stride 1, dilation 1 and min(C, K) >= "
             f"{AUTO_MIN_CHANNELS['gpu']} on the GPU ({AUTO_MIN_CHANNELS['cpu']} on the CPU "
             "path); else gemm")


def choose(op, algorithm, geom, have_u=False, forward_only=None, gpu=False):
    """Resolve ``algorithm`` for ``geom``; raise for invalid or inapplicable choices."""
    _checks.choice(op, "algorithm", algorithm, ALGORITHMS)
    if algorithm == "fft":
        if forward_only is not None or have_u or fft_conv2d() is None:
            why = (f"{op} has no FFT algorithm" if forward_only is not None or have_u else
                   "algorithm='fft' is not available (blasfast.fft provides no conv2d_fft)")
            raise NotImplementedError(message(op, f"{why}; use 'auto', 'winograd' or 'gemm'"))
        if geom.dilation != (1, 1) or geom.pads[0::2] != geom.pads[1::2]:
            raise ValueError(message(
                op, f"algorithm='fft' needs dilation 1 and the same padding on both sides, "
                    f"got dilation {geom.dilation} and padding {geom.pads} (top, bottom, "
                    "left, right); use 'gemm'"))
        return "fft"
    if algorithm in WINOGRAD:
        require_winograd(op, geom, algorithm)
        return algorithm
    if algorithm == "gemm":
        if have_u:
            raise ValueError(message(op, "w_winograd is only used by algorithm='winograd' "
                                         "('winograd_nonfused', 'auto'), not 'gemm'"))
        return "gemm"
    if have_u:
        require_winograd(op, geom, via_u=True)
        return "winograd"
    wide = min(geom.C, geom.K) >= AUTO_MIN_CHANNELS["gpu" if gpu else "cpu"]
    return "winograd" if geom.winograd_ok and wide else "gemm"


def fft_conv2d():
    """``blasfast.fft._conv.conv2d_fft`` when the FFT package provides it, else None."""
    try:
        from ..fft._conv import conv2d_fft
    except ImportError:
        return None
    return conv2d_fft


def require_winograd(op, geom, algorithm="winograd", via_u=False):
    """Winograd applies to ``geom``, or a ValueError naming what asked for it (``algorithm``,
    or a ``w_winograd`` argument, which implies it)."""
    what = f"algorithm={algorithm!r}"
    if via_u:
        what = "w_winograd implies algorithm='winograd', which"
    fix = "use algorithm='gemm' (or 'auto')" + (" without w_winograd" if via_u else "")
    if (geom.R, geom.S) != (3, 3):
        raise ValueError(message(
            op, f"{what} computes F(2x2, 3x3) and needs 3x3 filters, got "
                f"{geom.R}x{geom.S}; {fix}"))
    if geom.stride != (1, 1):
        raise ValueError(message(
            op, f"{what} needs stride 1, got stride {geom.stride}; {fix}"))
    if geom.dilation != (1, 1):
        raise ValueError(message(
            op, f"{what} needs dilation 1, got dilation {geom.dilation}; {fix}"))


def conv2d_algorithm(x_shape: Shape, w_shape: Shape, *, stride: IntPair = 1,
                     padding: Padding = 0, dilation: IntPair = 1,
                     algorithm: Algorithm = "auto", gpu: bool = False) -> Chosen:
    """The algorithm :func:`conv2d` (and the backward passes) would run for these shapes.

    Parameters
    ----------
    x_shape, w_shape : tuple of 4 ints
        ``(N, C, H, W)`` and ``(K, C, R, S)``.
    stride, padding, dilation : int or pair, optional
        As for :func:`conv2d` (``padding`` also its other forms).
    algorithm : str, optional
        As for :func:`conv2d`. Default 'auto'.
    gpu : bool, optional
        Answer for CuPy arrays (the GPU path) instead of NumPy arrays.

    Returns
    -------
    {'winograd', 'winograd_nonfused', 'gemm', 'fft'}
        ``algorithm`` itself when it applies, the rule's choice for ``'auto'``:
        {rule}.

    Raises
    ------
    ValueError, TypeError, NotImplementedError
        As :func:`conv2d`, for the same arguments (shapes only; no arrays are touched);
        ``TypeError`` also for a ``gpu`` that is not a bool.

    Examples
    --------
    >>> import blasfast as bf
    >>> bf.conv.conv2d_algorithm((8, 64, 56, 56), (64, 64, 3, 3), padding=1, gpu=True)
    'winograd'
    >>> bf.conv.conv2d_algorithm((8, 64, 56, 56), (64, 64, 3, 3), padding=1)
    'gemm'
    >>> bf.conv.conv2d_algorithm((8, 3, 224, 224), (64, 3, 7, 7), stride=2, padding=3)
    'gemm'
    """
    op = "conv2d_algorithm"
    gpu = _checks.flag(op, "gpu", gpu)
    geom = make_geom(op, x_shape, w_shape, stride, padding, dilation, x_name="x_shape",
                     w_name="w_shape")
    return choose(op, algorithm, geom, gpu=gpu)


if conv2d_algorithm.__doc__ is not None:  # None under python -OO
    conv2d_algorithm.__doc__ = conv2d_algorithm.__doc__.replace("{rule}", AUTO_RULE)
