"""Bad inputs of the FFT family: the twelve transforms of :mod:`blasfast.fft` and fftconvolve.

Run by ``tests/test_bad_inputs.py`` (see ``tests/bad_inputs.py`` for the record). Every case
runs on the CPU path: arguments are validated before any transform, and a stream with host
arrays is itself a bad input. Cases are generated per group of functions that share an
argument list (1-D: ``n``/``axis``; N-D and 2-D: ``s``/``axes``), so that every function
gets every kind of bad value of every argument.
"""

import numpy as np

import blasfast.fft as bff
from bad_inputs import Case, FakeStream

AxisError = np.exceptions.AxisError

_C = np.ones((4, 6), np.complex64)       # input of the complex and complex-to-real transforms
_R = np.ones((4, 6), np.float32)         # input of the real-to-complex transforms
_R64 = np.ones((4, 6))



ONE_D = [bff.fft, bff.ifft, bff.rfft, bff.irfft]
TWO_D = [bff.fft2, bff.ifft2, bff.rfft2, bff.irfft2]
N_D = [bff.fftn, bff.ifftn, bff.rfftn, bff.irfftn]
REAL_INPUT = {bff.rfft, bff.rfft2, bff.rfftn}


def _x(f):
    return _R if f in REAL_INPUT else _C


def _common_cases(f):
    """``a``, ``norm``, ``precision`` and ``stream``: the same for every transform."""
    x = _x(f)
    cases = [
        Case(f, "a", lambda: f([[1.0], [2.0, 3.0]]), ValueError,
             "rectangular .*list of numbers, got a ragged list", label="ragged-list"),
        Case(f, "a", lambda: f(["x", "y"]), TypeError, "must have dtype .*got str",
             label="list-of-str"),
        Case(f, "a", lambda: f(None), TypeError, "must be an array .*got NoneType",
             label="none"),
        Case(f, "a", lambda: f(2.5), TypeError, "must be an array .*got float", label="scalar"),
        Case(f, "a", lambda: f("abc"), TypeError, "must be an array .*got str", label="str"),
        Case(f, "a", lambda: f(np.float32(2.5)), ValueError, "at least one dimension",
             label="0-d"),
        Case(f, "a", lambda: f(np.ones(4, object)), TypeError, "must have dtype .*got object",
             label="object-dtype"),
        Case(f, "a", lambda: f(np.ones(4, np.longdouble)), TypeError,
             "must have dtype .*got float128", label="longdouble"),
        Case(f, "norm", lambda: f(x, norm="bad"), ValueError,
             "must be one of None, 'backward', 'ortho', 'forward', got 'bad'"),
        Case(f, "norm", lambda: f(x, norm="Ortho"), ValueError, "got 'Ortho'",
             label="case"),
        Case(f, "norm", lambda: f(x, norm=1), TypeError, "must be one of .*got int 1",
             label="type"),
        Case(f, "precision", lambda: f(x, precision="bf16"), ValueError,
             "must be one of None, 'split16', 'fp32', 'fp16', 'fp64', got 'bf16'"),
        Case(f, "precision", lambda: f(x, precision=16), TypeError,
             "must be one of .*got int 16", label="type"),
        Case(f, "precision", lambda: f(x.astype(np.complex128 if x.dtype.kind == "c"
                                                 else np.float64), precision="split16"),
             ValueError, "precision='split16' applies to float32/complex64", label="fp64-input"),
        Case(f, "precision", lambda: f(x, precision="fp64"), ValueError,
             "for single-precision input, got 'fp64'", label="fp64-for-fp32"),
        Case(f, "stream", lambda: f(x, stream="default"), TypeError,
             "must be None, a cupy.cuda.Stream, .*got str 'default'"),
        Case(f, "stream", lambda: f(x, stream=0), ValueError,
             "applies to device arrays only.*got int 0", label="int-host-arrays"),
        Case(f, "stream", lambda: f(x, stream=FakeStream()), ValueError,
             "applies to device .*arrays only", label="host-array"),
    ]
    if f in REAL_INPUT:
        cases.append(Case(f, "a", lambda: f(_C), TypeError, "must be real .*got complex64",
                          label="complex"))
    return cases


def _one_d_cases(f):
    x = _x(f)
    return _common_cases(f) + [
        Case(f, "n", lambda: f(x, n=2.5), TypeError, "must be an integer, got float 2.5"),
        Case(f, "n", lambda: f(x, n=8.0), TypeError, "must be an integer, got float",
             label="integral-float"),
        Case(f, "n", lambda: f(x, n=True), TypeError, "must be an integer, got bool",
             label="bool"),
        Case(f, "n", lambda: f(x, n="8"), TypeError, "must be an integer, got str",
             label="str"),
        Case(f, "n", lambda: f(x, n=(8,)), TypeError, "must be an integer, got tuple",
             label="tuple"),
        Case(f, "n", lambda: f(x, n=np.array([8])), TypeError, "must be an integer",
             label="array"),
        Case(f, "n", lambda: f(x, n=0), ValueError, "must be an integer >= 1, got 0",
             label="zero"),
        Case(f, "n", lambda: f(x, n=-1), ValueError, ">= 1, got -1", label="negative"),
        Case(f, "n", lambda: f(np.ones((0, 4), x.dtype), axis=0), ValueError,
             "along axis 0; every transformed length must be >= 1 .pass n >= 1",
             label="empty-axis"),
        Case(f, "axis", lambda: f(x, axis=1.0), TypeError, "must be an integer, got float"),
        Case(f, "axis", lambda: f(x, axis=True), TypeError, "must be an integer, got bool",
             label="bool"),
        Case(f, "axis", lambda: f(x, axis=None), TypeError, "must be an integer, got NoneType",
             label="none"),
        Case(f, "axis", lambda: f(x, axis=(0,)), TypeError, "must be an integer, got tuple",
             label="tuple"),
        Case(f, "axis", lambda: f(x, axis=2), AxisError,
             r"must be an integer in \[-2, 1\] for an array of dimension 2, got 2",
             label="range"),
        Case(f, "axis", lambda: f(x, axis=-3), IndexError, r"in \[-2, 1\] .*got -3",
             label="negative-range"),
    ]


def _nd_cases(f):
    x = _x(f)
    two_d = f in TWO_D
    cases = _common_cases(f) + [
        Case(f, "s", lambda: f(x, s=4), TypeError,
             "s must be a sequence of integers .*got int 4"),
        Case(f, "s", lambda: f(x, s="ab"), TypeError, "sequence of integers .*got str",
             label="str"),
        Case(f, "s", lambda: f(x, s={4, 6}), TypeError, "sequence of integers .*got set",
             label="set"),
        Case(f, "s", lambda: f(x, s=np.ones(2)), TypeError,
             "sequence of integers .*float64", label="float-array"),
        Case(f, "s", lambda: f(x, s=(4.0, 6), axes=(0, 1)), TypeError,
             r"s\[0\] must be an integer, got float", label="float-entry"),
        Case(f, "s", lambda: f(x, s=(4, True), axes=(0, 1)), TypeError,
             r"s\[1\] must be an integer, got bool", label="bool-entry"),
        Case(f, "s", lambda: f(x, s=(0, 6), axes=(0, 1)), ValueError,
             r"s\[0\] must be an integer >= 1, got 0", label="zero"),
        Case(f, "s", lambda: f(x, s=(4, -2), axes=(0, 1)), ValueError,
             r"s\[1\] must be an integer >= 1, got -2", label="negative"),
        Case(f, "s", lambda: f(x, s=(4,), axes=(0, 1)), ValueError,
             r"s and axes must have the same length, got s=\(4,\) and axes=\(0, 1\)",
             label="length"),
        Case(f, "s", lambda: f(np.ones((0, 4), x.dtype), axes=(0, 1)), ValueError,
             r"length 0 along axis 0.*pass s\[0\] >= 1", label="empty-axis"),
        Case(f, "axes", lambda: f(x, axes=1), TypeError,
             "axes must be a sequence of integers .*got int 1"),
        Case(f, "axes", lambda: f(x, axes="ab"), TypeError, "sequence of integers .*got str",
             label="str"),
        Case(f, "axes", lambda: f(x, axes=(0.0, 1)), TypeError,
             r"axes\[0\] must be an integer, got float", label="float-entry"),
        Case(f, "axes", lambda: f(x, axes=(0, True)), TypeError,
             r"axes\[1\] must be an integer, got bool", label="bool-entry"),
        Case(f, "axes", lambda: f(x, axes=(0, 2)), AxisError,
             r"axes\[1\] must be an integer in \[-2, 1\] for an array of dimension 2, got 2",
             label="range"),
        Case(f, "axes", lambda: f(x, axes=(-3, 1)), IndexError, r"axes\[0\] .*got -3",
             label="negative-range"),
    ]
    if two_d:   # default axes (-2, -1): a 1-D input has no axis -2; s must have 2 entries
        cases += [
            Case(f, "axes", lambda: f(x[0]), AxisError,
                 r"axes\[0\] must be an integer in \[-1, 0\] for an array of dimension 1",
                 label="default-1d"),
            Case(f, "s", lambda: f(x, s=(4, 4, 4)), ValueError,
                 r"s and axes must have the same length", label="too-long"),
        ]
    else:
        cases.append(Case(f, "s", lambda: f(x, s=(4, 4, 4)), ValueError,
                          r"s must have at most 2 entries \(one per axis of a\), got 3",
                          label="too-long"))
    if f in (bff.rfftn, bff.irfftn, bff.rfft2, bff.irfft2):
        cases.append(Case(f, "axes", lambda: f(x, axes=()), ValueError,
                          r"axes must name at least one axis for a real transform",
                          label="empty"))
    if f in (bff.irfftn, bff.irfft2):
        cases.append(Case(f, "s", lambda: f(np.ones((4, 1), np.complex64)), ValueError,
                          r"2\*\(m - 1\) = 0 output points from m = 1 input point along "
                          r"axis 1.*pass s\[1\] >= 1", label="c2r-length"))
    return cases


def _fftconvolve_cases():
    f = bff.fftconvolve
    a, b = np.ones((5, 6), np.float32), np.ones((3, 2), np.float32)
    cases = []
    for name, other in (("in1", b), ("in2", a)):
        def call(bad, name=name, other=other):
            return (lambda: f(bad, other)) if name == "in1" else (lambda: f(other, bad))
        cases += [
            Case(f, name, call([[1.0, 2.0], [3.0]]), ValueError,
                 "rectangular .*got a ragged list", label="ragged-list"),
            Case(f, name, call(None), TypeError, "must be an array .*got NoneType",
                 label="none"),
            Case(f, name, call(2.0), TypeError, "must be an array .*got float", label="scalar"),
            Case(f, name, call("ab"), TypeError, "must be an array .*got str", label="str"),
            Case(f, name, call(np.ones((2, 2), object)), TypeError,
                 "must have dtype .*got object", label="object-dtype"),
            Case(f, name, call(np.ones((2, 2), np.clongdouble)), TypeError,
                 "must have dtype .*got complex256", label="clongdouble"),
            Case(f, name, call(np.ones(3, np.float32)), ValueError,
                 "in1 and in2 should have the same dimensionality, got", label="ndim"),
        ]
    cases += [
        Case(f, "in2", lambda: f(a, np.ones((3, 4), np.float32), axes=1), ValueError,
             r"incompatible shapes for in1 and in2: \(5, 6\) and \(3, 4\)", label="shapes"),
        Case(f, "in2", lambda: f(a, np.ones((6, 5), np.float32), mode="valid"), ValueError,
             r"for 'valid' mode, one input must be at least as large as the other .*in1 of shape "
             r"\(5, 6\) and in2 of shape \(6, 5\)",
             label="valid"),
        Case(f, "mode", lambda: f(a, b, mode="bad"), ValueError,
             "must be one of 'full', 'same', 'valid', got 'bad'"),
        Case(f, "mode", lambda: f(a, b, mode="Full"), ValueError, "got 'Full'", label="case"),
        Case(f, "mode", lambda: f(a, b, mode=None), ValueError, "got None", label="none"),
        Case(f, "mode", lambda: f(a, b, mode=1), TypeError, "must be one of .*got int 1",
             label="type"),
        Case(f, "axes", lambda: f(a, b, axes=1.0), TypeError,
             "axes must be a sequence of integers .*got float"),
        Case(f, "axes", lambda: f(a, b, axes=True), TypeError, "sequence of integers .*bool",
             label="bool"),
        Case(f, "axes", lambda: f(a, b, axes="0"), TypeError, "sequence of integers .*got str",
             label="str"),
        Case(f, "axes", lambda: f(a, b, axes=(0, 1.0)), TypeError,
             r"axes\[1\] must be an integer, got float", label="float-entry"),
        Case(f, "axes", lambda: f(a, b, axes=2), AxisError,
             r"axes\[0\] must be an integer in \[-2, 1\] for an array of dimension 2, got 2",
             label="range"),
        Case(f, "axes", lambda: f(a, b, axes=[0, -3]), IndexError, r"axes\[1\] .*got -3",
             label="negative-range"),
        Case(f, "axes", lambda: f(a, b, axes=[1, -1]), ValueError,
             r"axes must be unique, got \(1, -1\)", label="repeated"),
        Case(f, "axes", lambda: f(a, b, axes=[]), ValueError, "axes cannot be empty",
             label="empty"),
        Case(f, "precision", lambda: f(a, b, precision="x"), ValueError,
             "must be one of None, 'split16', 'fp32', 'fp16', 'fp64', got 'x'"),
        Case(f, "precision", lambda: f(a, b, precision=32), TypeError,
             "must be one of .*got int 32", label="type"),
        Case(f, "precision", lambda: f(a.astype(np.float64), b, precision="fp16"), ValueError,
             r"precision='fp16' applies to single-precision inputs; in1 \(float64\) and in2 "
             r"\(float32\) convolve in float64", label="mixed"),
        Case(f, "precision", lambda: f(a, b.astype(np.uint8), precision="split16"),
             ValueError, r"in2 \(uint8\) convolve in float64", label="int"),
        Case(f, "precision", lambda: f(a.astype(np.float64), b.astype(np.float64),
                                       precision="split16"),
             ValueError, "precision='split16' applies to float32/complex64",
             label="fp64-inputs"),
        Case(f, "precision", lambda: f(a, b, precision="fp64"), ValueError,
             "for single-precision input, got 'fp64'", label="fp64-for-fp32"),
        Case(f, "stream", lambda: f(a, b, stream="default"), TypeError,
             "must be None, a cupy.cuda.Stream, .*got str 'default'"),
        Case(f, "stream", lambda: f(a, b, stream=FakeStream()), ValueError,
             "applies to device .*arrays only", label="host-array"),
    ]
    return cases


CASES = ([c for f in ONE_D for c in _one_d_cases(f)]
         + [c for f in TWO_D + N_D for c in _nd_cases(f)]
         + _fftconvolve_cases())

EXEMPT = {}
