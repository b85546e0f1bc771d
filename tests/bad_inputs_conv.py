"""Bad inputs of the convolution family: conv2d, conv2d_dgrad, conv2d_wgrad,
conv2d_algorithm, winograd_filter_transform (run by ``tests/test_bad_inputs.py``).

Every argument of each function has cases here: arrays (not an array, wrong rank, wrong
dtype, mismatched shapes), shape arguments (an array, a float entry, a negative entry, the
wrong length, a bare int), the stride/padding/dilation pairs (floats, bools, out of range,
wrong length), ``algorithm`` (not a string, unknown, not applicable), ``gpu`` (not a bool)
and ``stream`` (not a stream or handle).
"""

import numpy as np

import blasfast as bf
from bad_inputs import Case

conv2d, conv2d_dgrad, conv2d_wgrad = bf.conv2d, bf.conv2d_dgrad, bf.conv2d_wgrad
conv2d_algorithm, winograd_filter_transform = bf.conv2d_algorithm, bf.winograd_filter_transform

F32 = np.float32


def _a(*shape, dtype=F32):
    return np.ones(shape, dtype)


X, W, DY = _a(2, 3, 8, 8), _a(4, 3, 3, 3), _a(2, 4, 6, 6)   # valid, padding 0 -> 6x6 output
XS, WS = (2, 3, 8, 8), (4, 3, 3, 3)
U = _a(4, 4, 4, 3)                                          # winograd_filter_transform(W)

# One bad value per line: (argument value, exception, message fragment, label).
_STRIDE_LIKE = [
    (1.5, TypeError, r" must be an integer or a pair of integers, got float 1\.5", "float"),
    (True, TypeError, r" must be an integer or a pair of integers, got bool True", "bool"),
    ("1", TypeError, r" must be an integer or a pair of integers, got str '1'", "str"),
    (None, TypeError, r" must be an integer or a pair of integers, got NoneType", "none"),
    (np.array([1, 1]), TypeError, r" must be an integer or a pair of integers, got ndarray "
                                  r"of shape \(2,\)", "array"),
    ((1, 1, 1), ValueError, r" must be an integer or a pair of integers, got 3 entries: "
                            r"\(1, 1, 1\)", "triple"),
    ((1, 2.0), TypeError, r"\[1\] must be an integer, got float 2\.0", "pair-float"),
    (0, ValueError, r" must be an integer >= 1, got 0", "zero"),
    ((1, -2), ValueError, r"\[1\] must be an integer >= 1, got -2", "pair-negative"),
]
_PADDING = [
    (-1, ValueError, r"padding must be an integer >= 0, got -1", "negative"),
    ("full", ValueError, r"'same' or 'valid', got 'full'", "mode"),
    ("SAME", ValueError, r"'same' or 'valid', got 'SAME'", "mode-case"),
    (None, TypeError, r"pair of pairs .*'same' or 'valid', got NoneType", "none"),
    (1.5, TypeError, r"'same' or 'valid', got float 1\.5", "float"),
    (True, TypeError, r"'same' or 'valid', got bool True", "bool"),
    ((1, 2, 3), ValueError, r"pair of integers, got 3 entries", "triple"),
    (((1, 2), (3,)), ValueError, r"padding\[1\] must be an integer or a pair of integers, "
                                 r"got 1 entries", "pairs-short"),
    (((1, -1), (0, 0)), ValueError, r"padding\[0\]\[1\] must be an integer >= 0, got -1",
     "pairs-negative"),
    (((1, 1.0), (0, 0)), TypeError, r"padding\[0\]\[1\] must be an integer, got float",
     "pairs-float"),
]
_ALGORITHM = [
    ("direct", ValueError, r"must be one of 'auto', 'winograd', 'winograd_nonfused', "
                           r"'gemm', 'fft', got 'direct'", "unknown"),
    ("GEMM", ValueError, r"got 'GEMM'", "case"),
    (3, TypeError, r"must be one of .*, got int 3", "int"),
    (None, ValueError, r"must be one of .*, got None", "none"),
]
_STREAM = [
    ("s", TypeError, r"stream must be None, a cupy\.cuda\.Stream, an integer stream "
                     r"handle or an object with __cuda_stream__, got str 's'", "str"),
    (1.5, TypeError, r"got float 1\.5", "float"),
    (object(), TypeError, r"got object", "object"),
    (-1, ValueError, r"stream must be a handle >= 0, got -1", "negative-handle"),
    (7, ValueError, r"stream applies to device arrays only.*got int 7", "handle-host-arrays"),
    (True, TypeError, r"got bool True", "bool"),
]
_NOT_ARRAY = [
    (2.0, r"must be an array .*got float 2\.0", "scalar"),
    (None, r"must be an array .*got NoneType None", "none"),
    ("x", r"must be an array .*got str", "str"),
    ([[1.0, 2.0]], r"must be an array .*got list", "list"),
    (np.float32(1), r"must be an array .*got float32", "numpy-scalar"),
]
_SHAPE_ARG = [  # (value, exception, fragment, label) for a 4-entry shape argument
    (np.zeros(XS), TypeError,
     # the array is described by shape and dtype and nothing else follows (no contents)
     r" must be a tuple of integers, got ndarray of shape \(2, 3, 8, 8\) and dtype "
     r"float64$", "array"),
    (5, TypeError, r" must be a tuple of integers, got int 5", "int"),
    (None, TypeError, r" must be a tuple of integers, got NoneType", "none"),
    ("abcd", TypeError, r" must be a tuple of integers, got str 'abcd'", "str"),
    ((2, 3, 8.7, 8), TypeError, r"\[2\] must be an integer, got float 8\.7", "float"),
    ((2, 3, True, 8), TypeError, r"\[2\] must be an integer, got bool True", "bool"),
    ((2, 3, -8, 8), ValueError, r"\[2\] must be an integer >= 0, got -8", "negative"),
    ((2, 3, 8), ValueError, r" must be a 4-D LAYOUT shape \(.*\), got 3 entries", "three"),
    ((2, 3, 8, 8, 1), ValueError, r" must be a 4-D LAYOUT shape \(.*\), got 5 entries",
     "five"),
]


def _common(func, make, args=("stride", "padding", "dilation", "algorithm", "stream")):
    """Cases for the keyword arguments every op shares; ``make(**kw)`` is the bad call."""
    cases = []
    for arg in ("stride", "dilation"):
        if arg in args:
            cases += [Case(func, arg, (lambda v=v, arg=arg: make(**{arg: v})), exc,
                           arg + m, label=lab) for v, exc, m, lab in _STRIDE_LIKE]
    if "padding" in args:
        cases += [Case(func, "padding", (lambda v=v: make(padding=v)), exc, m, label=lab)
                  for v, exc, m, lab in _PADDING]
    if "algorithm" in args:
        cases += [Case(func, "algorithm", (lambda v=v: make(algorithm=v)), exc, m, label=lab)
                  for v, exc, m, lab in _ALGORITHM]
    if "stream" in args:
        cases += [Case(func, "stream", (lambda v=v: make(stream=v)), exc, m, label=lab)
                  for v, exc, m, lab in _STREAM]
    return cases


def _not_array(func, arg, make, optional=False):
    """Non-arrays where an array is due (None is valid for an optional argument)."""
    return [Case(func, arg, (lambda v=v: make(v)), TypeError, m, label=lab)
            for v, m, lab in _NOT_ARRAY if not (optional and v is None)]


def _shape_arg(func, arg, make, layout):
    return [Case(func, arg, (lambda v=v: make(v)), exc, arg + m.replace("LAYOUT", layout),
                 label=lab) for v, exc, m, lab in _SHAPE_ARG]


CASES = []

# -- conv2d --------------------------------------------------------------------------------
CASES += _not_array(conv2d, "x", lambda v: conv2d(v, W))
CASES += _not_array(conv2d, "w", lambda v: conv2d(X, v))
CASES += _not_array(conv2d, "bias", lambda v: conv2d(X, W, v), optional=True)
CASES += _not_array(conv2d, "w_winograd", lambda v: conv2d(X, W, w_winograd=v), optional=True)
CASES += _common(conv2d, lambda **kw: conv2d(X, W, **kw))
CASES += [
    Case(conv2d, "x", lambda: conv2d(_a(3, 8, 8), W), ValueError,
         r"x must be a 4-D NCHW array \(N, C, H, W\), got shape \(3, 8, 8\)", label="3d"),
    Case(conv2d, "x", lambda: conv2d(_a(2, 3, 8, 8, dtype=np.int32), W), TypeError,
         r"x must have dtype float32, float16, bfloat16, float64; got int32", label="int"),
    Case(conv2d, "x", lambda: conv2d(_a(2, 3, 8, 8, dtype=np.complex64), W), TypeError,
         r"got complex64", label="complex"),
    Case(conv2d, "x", lambda: conv2d(_a(2, 5, 8, 8), W), ValueError,
         r"x has C = 5 channels .* but w expects 3", label="channels"),
    Case(conv2d, "x", lambda: conv2d(_a(2, 8, 8, 3), W), ValueError,
         r"x looks channels-last \(NHWC\)", label="nhwc"),
    Case(conv2d, "x", lambda: conv2d(_a(0, 3, 8, 8), W), ValueError,
         r"x has an empty batch \(N = 0", label="empty-batch"),
    Case(conv2d, "x", lambda: conv2d(_a(2, 3, 0, 8), W), ValueError,
         r"H = 0: every dimension of x", label="zero-H"),
    Case(conv2d, "x", lambda: conv2d(_a(1, 3, 2, 2), W), ValueError,
         r"the output would be empty: the input 2x2 \(x\)", label="too-small"),
    Case(conv2d, "w", lambda: conv2d(X, _a(4, 3, 3)), ValueError,
         r"w must be a 4-D KCRS array \(K, C, R, S\), got shape \(4, 3, 3\)", label="3d"),
    Case(conv2d, "w", lambda: conv2d(X, _a(4, 3, 3, 3, dtype=np.float64)), TypeError,
         r"x and w must have the same dtype, got float32 and float64", label="dtype"),
    Case(conv2d, "w", lambda: conv2d(X, _a(0, 3, 3, 3)), ValueError,
         r"K = 0: every dimension of x .* and w", label="zero-K"),
    Case(conv2d, "bias", lambda: conv2d(X, W, _a(5)), ValueError,
         r"bias must have shape \(K,\) = \(4,\), one value per filter, got \(5,\)",
         label="shape"),
    Case(conv2d, "bias", lambda: conv2d(X, W, _a(4, dtype=np.float64)), TypeError,
         r"x and bias must have the same dtype", label="dtype"),
    Case(conv2d, "algorithm", lambda: conv2d(X, _a(4, 3, 5, 5), algorithm="winograd"),
         ValueError, r"algorithm='winograd' computes F\(2x2, 3x3\) and needs 3x3 filters",
         label="winograd-5x5"),
    Case(conv2d, "algorithm", lambda: conv2d(X, W, stride=2, algorithm="winograd_nonfused"),
         ValueError, r"algorithm='winograd_nonfused' needs stride 1", label="winograd-stride"),
    Case(conv2d, "algorithm", lambda: conv2d(X, W, dilation=2, algorithm="winograd"),
         ValueError, r"algorithm='winograd' needs dilation 1", label="winograd-dilation"),
    Case(conv2d, "algorithm", lambda: conv2d(X, W, padding=((1, 0), (1, 1)), algorithm="fft"),
         ValueError, r"algorithm='fft' needs dilation 1 and the same padding on both sides",
         label="fft-asymmetric"),
    Case(conv2d, "w_winograd", lambda: conv2d(X, W, w_winograd=_a(4, 4, 3, 4)), ValueError,
         r"w_winograd must be the \(4, 4, K, C\) = \(4, 4, 4, 3\) output", label="shape"),
    Case(conv2d, "w_winograd", lambda: conv2d(X, W, w_winograd=U.astype(np.float64)),
         TypeError, r"w_winograd must have the dtype of w \(float32\), got float64",
         label="dtype"),
    Case(conv2d, "w_winograd", lambda: conv2d(X, W, algorithm="gemm", w_winograd=U),
         ValueError, r"w_winograd is only used by algorithm='winograd'", label="with-gemm"),
    Case(conv2d, "w_winograd", lambda: conv2d(X, _a(4, 3, 5, 5), w_winograd=U), ValueError,
         r"w_winograd implies algorithm='winograd', which computes F\(2x2, 3x3\) and needs "
         r"3x3 filters, got 5x5", label="5x5"),
    Case(conv2d_dgrad, "w_winograd", lambda: conv2d_dgrad(_a(2, 4, 3, 3), W, XS, stride=2,
                                                          w_winograd=U),
         ValueError, r"w_winograd implies algorithm='winograd', which needs stride 1",
         label="stride"),
]

# -- conv2d_dgrad --------------------------------------------------------------------------
CASES += _not_array(conv2d_dgrad, "dy", lambda v: conv2d_dgrad(v, W, XS))
CASES += _not_array(conv2d_dgrad, "w", lambda v: conv2d_dgrad(DY, v, XS))
CASES += _not_array(conv2d_dgrad, "w_winograd",
                    lambda v: conv2d_dgrad(DY, W, XS, w_winograd=v), optional=True)
CASES += _shape_arg(conv2d_dgrad, "x_shape", lambda v: conv2d_dgrad(DY, W, v), "NCHW")
CASES += _common(conv2d_dgrad, lambda **kw: conv2d_dgrad(DY, W, XS, **kw))
CASES += [
    Case(conv2d_dgrad, "dy", lambda: conv2d_dgrad(_a(2, 4, 7, 6), W, XS), ValueError,
         r"dy must have the forward's output shape \(N, K, P, Q\) = \(2, 4, 6, 6\)",
         label="shape"),
    Case(conv2d_dgrad, "dy", lambda: conv2d_dgrad(_a(2, 4, 6, 6, dtype=np.float16), W, XS),
         TypeError, r"dy and w must have the same dtype, got float16 and float32",
         label="dtype"),
    Case(conv2d_dgrad, "dy", lambda: conv2d_dgrad(_a(2, 4, 6, 6, dtype=np.int64), W, XS),
         TypeError, r"dy must have dtype float32, .*; got int64", label="int"),
    Case(conv2d_dgrad, "w", lambda: conv2d_dgrad(DY, _a(4, 3, 3), XS), ValueError,
         r"w must be a 4-D KCRS array", label="3d"),
    Case(conv2d_dgrad, "x_shape", lambda: conv2d_dgrad(DY, W, (2, 5, 8, 8)), ValueError,
         r"x_shape has C = 5 channels .* but w expects 3", label="channels"),
    Case(conv2d_dgrad, "x_shape", lambda: conv2d_dgrad(DY, W, (2, 3, 0, 8)), ValueError,
         r"H = 0: every dimension of x_shape", label="zero-H"),
    Case(conv2d_dgrad, "x_shape", lambda: conv2d_dgrad(DY, W, (0, 3, 8, 8)), ValueError,
         r"x_shape has an empty batch", label="empty-batch"),
    Case(conv2d_dgrad, "algorithm", lambda: conv2d_dgrad(DY, W, XS, algorithm="fft"),
         NotImplementedError, r"conv2d_dgrad has no FFT algorithm", label="fft"),
    Case(conv2d_dgrad, "algorithm", lambda: conv2d_dgrad(_a(2, 4, 3, 3), W, XS, stride=2,
                                                         algorithm="winograd"),
         ValueError, r"algorithm='winograd' needs stride 1", label="winograd-stride"),
    Case(conv2d_dgrad, "w_winograd", lambda: conv2d_dgrad(DY, W, XS, w_winograd=_a(4, 4, 3,
                                                                                    4)),
         ValueError, r"w_winograd must be the \(4, 4, K, C\)", label="shape"),
    Case(conv2d_dgrad, "w_winograd", lambda: conv2d_dgrad(DY, W, XS, algorithm="gemm",
                                                          w_winograd=U),
         ValueError, r"w_winograd is only used by algorithm='winograd'", label="with-gemm"),
]

# -- conv2d_wgrad --------------------------------------------------------------------------
CASES += _not_array(conv2d_wgrad, "x", lambda v: conv2d_wgrad(v, DY, WS))
CASES += _not_array(conv2d_wgrad, "dy", lambda v: conv2d_wgrad(X, v, WS))
CASES += _shape_arg(conv2d_wgrad, "w_shape", lambda v: conv2d_wgrad(X, DY, v), "KCRS")
CASES += _common(conv2d_wgrad, lambda **kw: conv2d_wgrad(X, DY, WS, **kw))
CASES += [
    Case(conv2d_wgrad, "x", lambda: conv2d_wgrad(_a(2, 3, 8), DY, WS), ValueError,
         r"x must be a 4-D NCHW array", label="3d"),
    Case(conv2d_wgrad, "x", lambda: conv2d_wgrad(_a(2, 3, 8, 8, dtype=np.float64), DY, WS),
         TypeError, r"x and dy must have the same dtype, got float64 and float32",
         label="dtype"),
    Case(conv2d_wgrad, "dy", lambda: conv2d_wgrad(X, _a(2, 4, 6, 5), WS), ValueError,
         r"dy must have the forward's output shape \(N, K, P, Q\) = \(2, 4, 6, 6\)",
         label="shape"),
    Case(conv2d_wgrad, "w_shape", lambda: conv2d_wgrad(X, DY, (4, 2, 3, 3)), ValueError,
         r"but w_shape expects 2", label="channels"),
    Case(conv2d_wgrad, "w_shape", lambda: conv2d_wgrad(X, DY, (4, 3, 0, 3)), ValueError,
         r"R = 0: every dimension of x .* and w_shape", label="zero-R"),
    Case(conv2d_wgrad, "algorithm", lambda: conv2d_wgrad(X, DY, WS, algorithm="fft"),
         NotImplementedError, r"conv2d_wgrad has no FFT algorithm", label="fft"),
    Case(conv2d_wgrad, "algorithm", lambda: conv2d_wgrad(X, _a(2, 4, 4, 4), (4, 3, 5, 5),
                                                         algorithm="winograd"),
         ValueError, r"algorithm='winograd' computes F\(2x2, 3x3\)", label="winograd-5x5"),
]

# -- conv2d_algorithm ----------------------------------------------------------------------
CASES += _shape_arg(conv2d_algorithm, "x_shape", lambda v: conv2d_algorithm(v, WS), "NCHW")
CASES += _shape_arg(conv2d_algorithm, "w_shape", lambda v: conv2d_algorithm(XS, v), "KCRS")
CASES += _common(conv2d_algorithm, lambda **kw: conv2d_algorithm(XS, WS, **kw),
                 args=("stride", "padding", "dilation", "algorithm"))
CASES += [
    Case(conv2d_algorithm, "gpu", lambda v=v: conv2d_algorithm(XS, WS, gpu=v), TypeError,
         r"gpu must be a bool \(True or False\), got " + m, label=lab)
    for v, m, lab in (("yes", "str 'yes'", "str"), (1, "int 1", "int"),
                      (None, "NoneType", "none"), (np.array([True]), "ndarray", "array"))
] + [
    Case(conv2d_algorithm, "x_shape", lambda: conv2d_algorithm((2, 5, 8, 8), WS), ValueError,
         r"x_shape has C = 5 channels .* but w_shape expects 3", label="channels"),
    Case(conv2d_algorithm, "w_shape", lambda: conv2d_algorithm(XS, (4, 3, 9, 9)), ValueError,
         r"the output would be empty: the input 8x8 \(x_shape\) padded by \(0, 0, 0, 0\) "
         r"\(top, bottom, left, right\) is smaller than the 9x9 filter \(w_shape\)",
         label="too-big"),
    Case(conv2d_algorithm, "algorithm", lambda: conv2d_algorithm(XS, (4, 3, 5, 5),
                                                                 algorithm="winograd"),
         ValueError, r"needs 3x3 filters, got 5x5", label="winograd-5x5"),
]

# -- winograd_filter_transform -------------------------------------------------------------
CASES += _not_array(winograd_filter_transform, "w", winograd_filter_transform)
CASES += _common(winograd_filter_transform,
                 lambda **kw: winograd_filter_transform(W, **kw), args=("stream",))
CASES += [
    Case(winograd_filter_transform, "w", lambda: winograd_filter_transform(_a(4, 3, 5, 5)),
         ValueError, r"w must hold 3x3 filters \(F\(2x2, 3x3\)\), got 5x5", label="5x5"),
    Case(winograd_filter_transform, "w", lambda: winograd_filter_transform(_a(4, 3, 3)),
         ValueError, r"w must be a 4-D KCRS array \(K, C, R, S\), got shape \(4, 3, 3\)",
         label="3d"),
    Case(winograd_filter_transform, "w",
         lambda: winograd_filter_transform(_a(4, 3, 3, 3, dtype=np.int64)), TypeError,
         r"w must have dtype float32, float16, bfloat16, float64; got int64", label="int"),
]

EXEMPT = {}
