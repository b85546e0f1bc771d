"""The caller's kind for array-API libraries other than PyTorch (issue #14 §1).

A small array-API library stands in for JAX or ``array_api_strict`` here: its arrays export
DLPack and name their namespace, whose ``from_dlpack`` builds its kind. Results must come
back as that kind, equal bit for bit to the NumPy call on the same memory (same code, same
numbers). Needs nothing beyond NumPy.
"""

import types

import numpy as np
import pytest

import blasfast as bf
from blasfast import _interop

RNG = np.random.default_rng()


class DLPackOnly:
    """A DLPack producer with no namespace: no known way to build its kind."""

    def __init__(self, a):
        self.a = a

    def __dlpack__(self, **kwargs):
        return self.a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self.a.__dlpack_device__()


class FakeArray(DLPackOnly):
    """An array of a foreign library: DLPack out, ``__array_namespace__`` for the way in."""

    def __array_namespace__(self, api_version=None):
        return fake_xp


fake_xp = types.SimpleNamespace(from_dlpack=lambda x: FakeArray(np.from_dlpack(x)))


class OtherArray(FakeArray):
    """A second foreign library (a different top-level package name)."""

    def __array_namespace__(self, api_version=None):
        return other_xp


other_xp = types.SimpleNamespace(from_dlpack=lambda x: OtherArray(np.from_dlpack(x)))
OtherArray.__module__ = "otherlib.arrays"


def test_an_array_api_array_in_gives_its_kind_out():
    a = RNG.standard_normal((3, 4, 5))
    b = RNG.standard_normal((3, 5, 2))
    got = bf.batched_gemm(FakeArray(a), FakeArray(b))
    assert isinstance(got, FakeArray)
    np.testing.assert_array_equal(got.a, bf.batched_gemm(a, b))
    x = RNG.standard_normal(32).astype(np.float32)
    got = bf.fft.rfft(FakeArray(x))
    assert isinstance(got, FakeArray)
    np.testing.assert_array_equal(got.a, bf.fft.rfft(x))


def test_out_of_the_callers_kind_is_returned_itself():
    a = RNG.standard_normal((4, 4))
    out = FakeArray(np.empty((4, 4)))
    got = bf.matmul(FakeArray(a), FakeArray(a), out=out)
    assert got is out
    np.testing.assert_array_equal(out.a, bf.matmul(a, a))


def test_two_foreign_libraries_in_one_call_are_a_type_error():
    a = RNG.standard_normal((2, 2))
    with pytest.raises(TypeError, match=r"matmul: all arrays must come from one library"):
        bf.matmul(FakeArray(a), OtherArray(a))


def test_a_dlpack_producer_without_a_namespace_gives_numpy():
    a = RNG.standard_normal((3, 3))
    got = bf.matmul(DLPackOnly(a), a)
    assert type(got) is np.ndarray
    np.testing.assert_array_equal(got, bf.matmul(a, a))


def test_numpy_in_is_passed_straight_through():
    """The wrapper does nothing for the native kinds: the very function runs."""
    calls = []

    @_interop.callers_kind
    def op(a, b=None, *, out=None, stream=None):
        calls.append((a, b, out))
        return a

    x = RNG.standard_normal(3)
    assert op(x, [1, 2], out=None) is x
    assert calls[-1][0] is x and calls[-1][1] == [1, 2]
    assert op.__wrapped__.__name__ == "op" and op.__name__ == "op"


def test_the_wrapped_ops_keep_their_signatures_and_docs():
    import inspect

    for f in (bf.batched_gemm, bf.matmul, bf.conv2d, bf.fft.fft, bf.solve, bf.lu_solve):
        assert hasattr(f, "__wrapped__"), f.__name__
        assert inspect.signature(f) == inspect.signature(f.__wrapped__)
        assert "Parameters" in f.__doc__ and "{notes}" not in f.__doc__
