"""bf.matmul as a drop-in for numpy.matmul (and cupy.matmul): its shapes and result dtypes.

NumPy's own matmul test classes run against ``bf.matmul`` on the CPU path; the dtype rules
(float16/bfloat16 results from FP32 accumulation, float32 @ float64 -> float64, dtypes our
kernels do not compute going to the array library's matmul), the 1-D cases, ``out`` and
``dtype=`` and the NumPy keywords then run on every array module (the ``xp`` fixture: NumPy,
the CUDA emulator, CuPy on a GPU).

Accuracy bound (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.5, through
``gemm_bounds.assert_gemm_close``): ``||D - D_ref||_F <= gamma_{K+2}(u) || |A| |B| ||_F``
with ``u`` the unit roundoff of the accumulation (2**-24 for float32 and for 16-bit
operands, 2**-53 for float64), plus ``u_out ||D_ref||_F`` for a 16-bit result's final
rounding (2**-11 float16, 2**-8 bfloat16).
"""

import numpy as np
import pytest

import blasfast as bf
import numpy_matmul
from conftest import to_numpy
from gemm_bounds import HALF, assert_gemm_close, bfloat16


class TestNumpyMatmulSuite(numpy_matmul.TestMatmul):
    """NumPy's ``MatmulCommon`` and ``TestMatmul`` (vendored unchanged in
    ``numpy_matmul.py``) with ``bf.matmul`` as the function under test; before the
    numpy.matmul semantics, 12 of these 54 failed."""

    matmul = staticmethod(bf.matmul)


SHAPES = [  # (a shape, b shape): batches, broadcasting, 1-D either side, both 1-D
    ((3, 17, 33), (3, 33, 9)),
    ((40, 70), (2, 70, 36)),
    ((33,), (33, 5)),
    ((2, 7, 33), (33,)),
    ((65,), (65,)),
]


def _kind_ok(xp, r, a_ndim, b_ndim, dtype):
    """numpy.matmul's kind: a NumPy scalar for two host vectors, else an array of the
    operands' kind (a 0-d device array for two device vectors, as CuPy returns)."""
    if xp is np and a_ndim == b_ndim == 1:
        assert type(r) is np.dtype(dtype).type, type(r)
    else:
        assert type(r) is type(xp.empty(1)), type(r)
    assert r.dtype == dtype


# --- result dtypes -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", HALF, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_16_bit_operands_give_16_bit_results(xp, rng, dtype, shapes):
    ha = rng.standard_normal(shapes[0]).astype(dtype)
    hb = rng.standard_normal(shapes[1]).astype(dtype)
    a, b = xp.asarray(ha), xp.asarray(hb)
    r = bf.matmul(a, b)
    _kind_ok(xp, r, len(shapes[0]), len(shapes[1]), dtype)
    assert np.shape(to_numpy(r)) == np.matmul(ha.astype(np.float32),
                                              hb.astype(np.float32)).shape
    assert_gemm_close(r, ha, hb)  # FP32 accumulation, one final 16-bit rounding
    np.testing.assert_array_equal(to_numpy(a), ha)
    np.testing.assert_array_equal(to_numpy(b), hb)


@pytest.mark.parametrize("dtype,k,stall", [(np.float16, 4096, 2048), (bfloat16, 1024, 256)],
                         ids=["float16", "bfloat16"])
def test_16_bit_results_accumulate_in_float32(xp, dtype, k, stall):
    """A sum of K ones: a 16-bit accumulator stops growing at ``stall`` (``stall + 1`` is
    not representable), FP32 accumulation reaches K, which the 16-bit result holds exactly."""
    ones = np.ones(k, dtype)
    r = bf.matmul(xp.asarray(ones), xp.asarray(ones))
    assert float(to_numpy(r)) == k != stall
    m = bf.matmul(xp.asarray(ones[None, :]), xp.asarray(np.ones((k, 3), dtype)))
    assert m.dtype == dtype
    np.testing.assert_array_equal(to_numpy(m).astype(np.float64), np.full((1, 3), k))


@pytest.mark.parametrize("dtype", HALF, ids=lambda d: np.dtype(d).name)
def test_float32_out_gets_the_fp32_accumulation_unrounded(xp, dtype):
    """K ones plus one: 2049 (float16) or 257 (bfloat16) rounds to an even 16-bit value;
    a float32 ``out`` receives it exact, as batched_gemm writes it."""
    k = 2049 if dtype == np.float16 else 257
    a, b = xp.asarray(np.ones((2, k), dtype)), xp.asarray(np.ones((k, 3), dtype))
    out = xp.full((2, 3), np.nan, np.float32)
    assert bf.matmul(a, b, out) is out
    np.testing.assert_array_equal(to_numpy(out), np.full((2, 3), k, np.float32))
    assert np.all(to_numpy(bf.matmul(a, b)).astype(np.float64) != k)  # rounded


@pytest.mark.parametrize("da,db,expect", [
    (np.float32, np.float64, np.float64), (np.float64, np.float32, np.float64),
    (np.float16, np.float32, np.float32), (bfloat16, np.float16, np.float32),
    (bfloat16, np.float64, np.float64), (np.int64, np.float32, np.float64),
    (np.bool_, np.float32, np.float32)], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shapes", SHAPES[1:], ids=lambda s: f"{s[0]}x{s[1]}")
def test_mixed_operands_promote_as_numpy(xp, rng, da, db, expect, shapes):
    ha = rng.standard_normal(shapes[0]).astype(da)
    hb = rng.standard_normal(shapes[1]).astype(db)
    try:
        promoted = np.result_type(ha, hb)
    except TypeError:  # DTypePromotionError: ml_dtypes < 0.5 has no bfloat16 x float16 rule
        # NumPy (with this ml_dtypes) refuses the pair, and bf.matmul follows it: the array
        # library's own matmul raises its error (measured on the H200 machine's ml_dtypes)
        with pytest.raises(TypeError):
            bf.matmul(xp.asarray(ha), xp.asarray(hb))
        return
    assert promoted == expect  # NumPy's rule, that bf.matmul follows
    r = bf.matmul(xp.asarray(ha), xp.asarray(hb))
    _kind_ok(xp, r, len(shapes[0]), len(shapes[1]), expect)
    # the narrower operand is cast exactly, so the bound is the result dtype's
    assert_gemm_close(r, ha.astype(expect), hb.astype(expect))


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int32, np.uint16, np.int64,
                                   np.complex64, np.complex128],
                         ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shapes", [((2, 4, 5), (5, 3)), ((5,), (2, 5, 3)), ((6,), (6,))],
                         ids=lambda s: f"{s[0]}x{s[1]}")
def test_other_dtypes_go_to_the_array_librarys_matmul(xp, rng, dtype, shapes):
    def data(shape):
        x = rng.integers(-3, 4, shape)
        if np.issubdtype(dtype, np.complexfloating):
            x = x + 1j * rng.integers(-3, 4, shape)
        return x.astype(dtype)

    ha, hb = data(shapes[0]), data(shapes[1])
    expect = np.matmul(ha, hb)
    r = bf.matmul(xp.asarray(ha), xp.asarray(hb))
    _kind_ok(xp, r, len(shapes[0]), len(shapes[1]), expect.dtype)
    np.testing.assert_array_equal(to_numpy(r), expect)  # exact: small integers


# --- 1-D operands, out, dtype= -----------------------------------------------------------


def test_vector_results_and_out_shapes(xp, rng):
    v = rng.standard_normal(5)
    m = rng.standard_normal((2, 5, 3))
    for a, b in [(v, v), (v, m), (m.swapaxes(-1, -2), v)]:
        expect = np.matmul(a, b)
        out = xp.full(expect.shape, np.nan)
        assert bf.matmul(xp.asarray(a), xp.asarray(b), out) is out
        np.testing.assert_allclose(to_numpy(out), expect, rtol=1e-13)
    _kind_ok(xp, bf.matmul(xp.asarray(v), xp.asarray(v)), 1, 1, np.float64)


@pytest.mark.parametrize("out_dtype", [np.float64, np.complex128, np.float16],
                         ids=lambda d: np.dtype(d).name)
def test_out_of_another_dtype_is_cast_into_as_numpy(xp, rng, out_dtype):
    a = rng.standard_normal((4, 6)).astype(np.float32)
    b = rng.standard_normal((6, 5)).astype(np.float32)
    out = xp.zeros((4, 5), out_dtype)
    assert bf.matmul(xp.asarray(a), xp.asarray(b), out=out) is out
    # computed in float32 (the result dtype), then cast, as numpy.matmul does
    expect = np.matmul(a, b).astype(out_dtype)
    got = to_numpy(out)
    assert got.dtype == out_dtype
    # float32 accumulation over K = 6 (gamma_8 |A||B|), then the cast's rounding
    major = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    bound = 8 * 2.0**-24 / (1 - 8 * 2.0**-24) * np.linalg.norm(major)
    if out_dtype == np.float16:
        bound += 2.0**-11 * np.linalg.norm(expect.astype(np.float64))
    assert np.linalg.norm(got.astype(np.complex128) - a.astype(np.float64) @ b) <= bound
    with pytest.raises(TypeError, match="matmul: out .*Cannot cast ufunc 'matmul' output"):
        bf.matmul(xp.asarray(a), xp.asarray(b), out=xp.zeros((4, 5), np.int32))


def test_out_may_overlap_an_operand_as_in_numpy(xp, rng):
    h = rng.standard_normal((3, 4, 4))
    expect = np.matmul(h, h[0])
    a = xp.asarray(h)
    assert bf.matmul(a, a[0], out=a) is a  # computed first, then copied in
    np.testing.assert_allclose(to_numpy(a), expect, rtol=1e-13, atol=1e-13)


def test_dtype_sets_the_result_dtype(xp, rng):
    a = rng.standard_normal((3, 7))
    b = rng.standard_normal((7, 2))
    for dtype in (np.float32, np.float16, bfloat16):
        r = bf.matmul(xp.asarray(a), xp.asarray(b), dtype=dtype)
        assert r.dtype == dtype and np.shape(r) == (3, 2)
        assert_gemm_close(r, a.astype(dtype), b.astype(dtype))
    r = bf.matmul(xp.asarray(a.astype(np.float16)), xp.asarray(b.astype(np.float16)),
                  dtype=np.float32)  # 16-bit operands, FP32 result: the tensor-core path
    assert r.dtype == np.float32
    assert_gemm_close(r, a.astype(np.float16), b.astype(np.float16))
    with pytest.raises(TypeError, match="Cannot cast ufunc 'matmul' input 0"):
        bf.matmul(xp.asarray(a), xp.asarray(b), dtype=np.int64)
    i = bf.matmul(xp.asarray(np.ones((2, 2), np.int8)), xp.asarray(np.ones((2, 2), np.int8)),
                  dtype=np.int64)
    assert i.dtype == np.int64
    np.testing.assert_array_equal(to_numpy(i), np.full((2, 2), 2))


def test_compute_applies_to_the_result_dtype(xp, rng):
    a = xp.asarray(rng.standard_normal((5, 40)).astype(np.float16))
    b = xp.asarray(rng.standard_normal((40, 3)).astype(np.float32))
    r = bf.matmul(a, b, compute="tf32")  # float32 result: its 'tf32'
    assert r.dtype == np.float32
    assert_gemm_close(r, to_numpy(a).astype(np.float32), b, operand_rounding=2.0**-11)
    with pytest.raises(ValueError, match="compute must be one of 'float64'"):
        bf.matmul(a, xp.asarray(np.ones((40, 3))), compute="float32")
    with pytest.raises(ValueError, match="compute must be None .*int64"):
        bf.matmul(xp.asarray(np.ones((2, 2), np.int64)), xp.asarray(np.ones((2, 2), np.int64)),
                  compute="float64")


# --- NumPy's calling conventions ---------------------------------------------------------


def test_numpy_keywords_at_the_implemented_values(xp, rng):
    a = xp.asarray(rng.standard_normal((3, 4)))
    expect = to_numpy(bf.matmul(a, a.T))
    for kw in ({"casting": "same_kind"}, {"order": "K"}, {"order": "C"}, {"subok": True},
               {"subok": False}, {"axes": None}):
        np.testing.assert_array_equal(to_numpy(bf.matmul(a, a.T, **kw)), expect)
    out = xp.empty((3, 3))
    assert bf.matmul(a, a.T, out=(out,)) is out  # NumPy's one-tuple form
    for kw in ({"casting": "unsafe"}, {"order": "F"}, {"subok": 1}, {"axes": [(-2, -1)] * 3}):
        name = next(iter(kw))
        with pytest.raises(ValueError, match=f"matmul: {name} must be"):
            bf.matmul(a, a.T, **kw)
    for name in ("keepdims", "axis", "signature", "where", "extobj", "foo"):
        with pytest.raises(TypeError, match=f"unexpected keyword argument '{name}'"):
            bf.matmul(a, a.T, **{name: None})


def test_nested_lists_as_numpy_takes_them():
    r = bf.matmul([[1.0, 2.0], [3.0, 4.0]], [5.0, 6.0])
    assert type(r) is np.ndarray and r.dtype == np.float64
    np.testing.assert_array_equal(r, [17.0, 39.0])
    assert bf.matmul([1, 2], [3, 4]) == 11 and type(bf.matmul([1, 2], [3, 4])) is np.int64
    with pytest.raises(TypeError, match="matmul: a must be an array or a nested list"):
        bf.matmul([[1.0], [2.0, 3.0]], np.ones(2))


def test_scalars_raise_value_error_as_numpy(xp):
    v = xp.asarray(np.ones(3))
    for a, b in [(2.0, v), (v, np.float32(1)), (xp.asarray(np.float64(1)), v)]:
        with pytest.raises(ValueError, match="matmul: operands must be at least 1-D"):
            bf.matmul(a, b)


def test_stream_with_the_librarys_matmul(xp):
    i = np.ones((2, 2), np.int32)
    if xp is np:
        with pytest.raises(ValueError, match="matmul: stream applies to device arrays"):
            bf.matmul(i, i, stream=0)
        return
    stream = xp.cuda.Stream()  # blocking: ordered after the copies on the null stream
    r = bf.matmul(xp.asarray(i), xp.asarray(i), stream=stream)
    stream.synchronize()
    np.testing.assert_array_equal(to_numpy(r), np.full((2, 2), 2, np.int32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_repeated_matmul_takes_the_cached_configuration_with_the_same_results(xp, rng,
                                                                              dtype):
    """Float32/float64 matrix products reuse batched_gemm's cached configuration (host
    overhead: 3x numpy.matmul instead of 25x on a 2x2); vectors, other dtypes and an out
    that overlaps an operand keep the full path. Results are those of the first call."""
    from blasfast.gemm import _core

    a = xp.asarray(rng.standard_normal((3, 4, 5)).astype(dtype))
    b = xp.asarray(rng.standard_normal((5, 2)).astype(dtype))
    first = to_numpy(bf.matmul(a, b))
    hits = _core.stats["hits"]
    again = bf.matmul(a, b)
    assert _core.stats["hits"] == hits + 1
    assert again.dtype == dtype and again.shape == (3, 4, 2)
    np.testing.assert_array_equal(to_numpy(again), first)
    assert_gemm_close(again, a, b)
    out = xp.full((3, 4, 2), np.nan, dtype)
    bf.matmul(a, b, out=out)  # builds the out= configuration
    assert bf.matmul(a, b, out=out) is out
    np.testing.assert_array_equal(to_numpy(out), first)
    h = rng.standard_normal((3, 4, 4)).astype(dtype)
    expect = np.matmul(h, h[0])
    for _ in range(2):  # an out that is an operand misses the cache: computed, then copied
        g = xp.asarray(h.copy())
        assert bf.matmul(g, g[0], out=g) is g
        np.testing.assert_allclose(to_numpy(g), expect, rtol=1e-5, atol=1e-5)
    v = xp.asarray(rng.standard_normal(5).astype(dtype))
    hits = _core.stats["hits"]
    r = bf.matmul(a, v)  # a vector: numpy.matmul's 1-D rules, never the cached path
    assert r.shape == (3, 4) and _core.stats["hits"] == hits


def test_the_cached_path_refuses_what_the_full_path_refuses_as_stream(dev, rng):
    """A context manager that is not a stream (a lock; torch.Stream in torch 2.13) was
    taken by the cached path once a configuration existed, and the work ran on the current
    stream instead: found in review."""
    import threading

    a = dev.asarray(rng.standard_normal((2, 3, 3)).astype(np.float32))
    for f in (bf.matmul, bf.batched_gemm):
        f(a, a)  # caches the configuration
        with pytest.raises(TypeError, match=rf"{f.__name__}: stream must be None, a "
                                            r"cupy.cuda.Stream"):
            f(a, a, stream=threading.Lock())
