"""gemm_vbatched: numerics against a float64 reference, semantics, errors, and the GPU
launcher's host arithmetic checked with no GPU.

Accuracy bound (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.5): computed
with accumulation unit roundoff u, every element of ``alpha*A@B + beta*C`` satisfies
``|D - D_exact| <= gamma_{K+2} (|alpha| |A||B| + |beta| |C|)``, ``gamma_n = n u / (1 - n u)``,
so the Frobenius norm of the error is at most gamma times the norm of that majorant.
u = 2^-53 (float64) or 2^-24 (float32 accumulation, also for float16/bfloat16 inputs, whose
reference uses the already-rounded operands). TF32 compares against the unrounded float32
operands: rounding each operand to TF32 (u_t = 2^-11) adds ``(2 u_t + u_t^2)`` and scales
gamma by ``(1 + u_t)^2``. A float16/bfloat16 result adds its final rounding ``u_out |D|``.
"""

import pathlib
import re

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blasfast.gemm import _vbatched as vb
from blasfast.gemm import gemm_vbatched
from conftest import to_numpy
from gemm_bounds import assert_gemm_close

BF16 = np.dtype(ml_dtypes.bfloat16)
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
U_ACC = {"float64": 2.0**-53, "float32": 2.0**-24, "tf32": 2.0**-24}
U_OUT = {F16: 2.0**-11, BF16: 2.0**-8}

# (input dtype, compute, out dtype) -- every combination gemm_precision allows.
PRECISIONS = [(F64, None, F64), (F32, None, F32), (F32, "tf32", F32), (F16, None, F32),
              (F16, None, F16), (BF16, None, F32), (BF16, None, BF16)]
PREC_IDS = [f"{i.name}-{c or 'default'}-{o.name}" for i, c, o in PRECISIONS]

# (M, N, K): sizes 0 and 1, odd sizes crossing the 16/32/64 tile edges.
SIZES = [(1, 1, 1), (3, 17, 33), (17, 3, 1), (33, 65, 17), (65, 33, 3), (0, 5, 3), (4, 0, 2),
         (5, 6, 0), (1, 65, 65), (65, 1, 2), (17, 17, 17)]
SMALL_SIZES = [(1, 1, 1), (3, 5, 7), (16, 17, 3), (32, 32, 32), (0, 3, 3), (2, 2, 0)]


def _op(x, t):
    return x.T if t else x


def rand(xp, rng, shape, dtype):
    return xp.asarray(rng.standard_normal(shape).astype(dtype))


def operands(xp, rng, sizes, dtype, trans_a=False, trans_b=False):
    a = [rand(xp, rng, (k, m) if trans_a else (m, k), dtype) for m, n, k in sizes]
    b = [rand(xp, rng, (n, k) if trans_b else (k, n), dtype) for m, n, k in sizes]
    return a, b


def assert_item_close(d, a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
                      compute=None):
    """Check one result against the float64 product within the bound of gemm_bounds."""
    in_name = np.dtype(to_numpy(a).dtype).name
    u = U_ACC[compute or ("float64" if in_name == "float64" else "float32")]
    assert_gemm_close(d, a, b, c, alpha, beta, trans_a, trans_b, u=u,
                      operand_rounding=2.0**-11 if compute == "tf32" else 0.0)


# --- numerics ----------------------------------------------------------------------------

@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("prec", PRECISIONS, ids=PREC_IDS)
def test_every_precision_and_transpose(xp, rng, prec, trans_a, trans_b):
    in_dtype, compute, out_dtype = prec
    a, b = operands(xp, rng, SIZES, in_dtype, trans_a, trans_b)
    c = [rand(xp, rng, (m, n), out_dtype) for m, n, _ in SIZES]
    alpha, beta = rng.uniform(-2, 2), rng.uniform(-2, 2)
    d = gemm_vbatched(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b,
                      compute=compute)
    assert isinstance(d, list) and len(d) == len(SIZES)
    for (m, n, _), di, ai, bi, ci in zip(SIZES, d, a, b, c):
        assert type(di) is type(ai) and di.dtype == out_dtype and di.shape == (m, n)
        assert_item_close(di, ai, bi, ci, alpha, beta, trans_a, trans_b, compute)


@pytest.mark.parametrize("prec", PRECISIONS, ids=PREC_IDS)
def test_small_sizes_without_c(xp, rng, prec):
    # max(M, N) <= 32 selects the small tile on the GPU; no c, default alpha/beta
    in_dtype, compute, out_dtype = prec
    a, b = operands(xp, rng, SMALL_SIZES, in_dtype)
    out = None
    if out_dtype != F32 or in_dtype in (F32, F64):
        out = [xp.full((m, n), np.nan, out_dtype) for m, n, _ in SMALL_SIZES]
    d = gemm_vbatched(a, b, compute=compute, out=out)
    for di, ai, bi in zip(d, a, b):
        assert di.dtype == out_dtype
        assert_item_close(di, ai, bi, compute=compute)


def test_sizes_mixed_across_both_tile_classes(xp, rng):
    # one tiny matrix among large ones: the grid is sized by the largest, the tiny one
    # must be computed by the one block that reaches it and skipped by the others
    sizes = [(1, 1, 1), (130, 70, 5), (2, 129, 3), (129, 2, 1)]
    a, b = operands(xp, rng, sizes, F64)
    for di, ai, bi in zip(gemm_vbatched(a, b), a, b):
        assert_item_close(di, ai, bi)


def test_out_is_poisoned_written_and_returned(xp, rng):
    a, b = operands(xp, rng, SIZES, F32)
    out = [xp.full((m, n), np.nan, F32) for m, n, _ in SIZES]
    d = gemm_vbatched(a, b, out=out, alpha=-0.5)
    assert all(di is oi for di, oi in zip(d, out))
    for di, ai, bi in zip(d, a, b):
        assert_item_close(di, ai, bi, alpha=-0.5)


@pytest.mark.parametrize("dtype", [F32, F64])
def test_in_place_update_of_c(xp, rng, dtype):
    sizes = [(3, 4, 5), (7, 2, 9), (1, 6, 2)]
    a, b = operands(xp, rng, sizes, dtype)
    c = [rand(xp, rng, (m, n), dtype) for m, n, _ in sizes]
    c0 = [x.copy() for x in c]
    d = gemm_vbatched(a, b, c, alpha=2.0, beta=-1.5, out=c)  # BLAS-style C update
    assert all(di is ci for di, ci in zip(d, c))
    for ci, ai, bi, c0i in zip(c, a, b, c0):
        assert_item_close(ci, ai, bi, c0i, 2.0, -1.5)


def test_half_result_dtype_follows_c(xp, rng):
    sizes = [(5, 3, 7), (2, 9, 4)]
    a, b = operands(xp, rng, sizes, F16)
    c = [rand(xp, rng, (m, n), F16) for m, n, _ in sizes]
    d = gemm_vbatched(a, b, c, beta=1.0)
    for di, ai, bi, ci in zip(d, a, b, c):
        assert di.dtype == F16
        assert_item_close(di, ai, bi, ci, 1.0, 1.0)


def test_accumulation_is_float32_for_16_bit_inputs(xp):
    # 1 + 2^-11 + 2^-11 (float16) / 1 + 2^-8 + 2^-8 (bfloat16): each partial sum is a tie
    # that rounds back to 1 in the 16-bit type, but the float32 sum is exact and
    # representable, so one rounding at the end keeps it.
    for dtype, e in ((F16, 11), (BF16, 8)):
        a = xp.asarray(np.array([[1.0, 2.0**-e, 2.0**-e]]).astype(dtype))
        b = xp.asarray(np.ones((3, 1)).astype(dtype))
        out = xp.full((1, 1), np.nan, dtype)
        gemm_vbatched([a], [b], out=[out])
        assert float(to_numpy(out)[0, 0]) == 1.0 + 2.0 ** (1 - e)


def test_tf32_rounds_the_operands(xp):
    a = xp.asarray(np.array([[1.0 + 2.0**-20, 3.0]], np.float32))
    b = xp.asarray(np.array([[1.0], [1.0 + 2.0**-12]], np.float32))
    d32, = gemm_vbatched([a], [b])
    dtf, = gemm_vbatched([a], [b], compute="tf32")
    assert float(to_numpy(d32)[0, 0]) == np.float32(1 + 2.0**-20) + np.float32(3 + 3 * 2.0**-12)
    assert float(to_numpy(dtf)[0, 0]) == 4.0  # both perturbations are below TF32's 2^-11


def test_non_contiguous_views_are_read_in_place(xp, rng):
    base_a = rand(xp, rng, (30, 40), F64)
    base_b = rand(xp, rng, (40, 50), F64)
    a = [base_a[3:28:2, ::-3],                # (13, 14): non-unit and negative strides
         base_a.T[5:9, 1:2],                  # (4, 1): a transposed view
         base_a[::-1, ::7][:6, :4]]           # (6, 4)
    b = [base_b[:14, ::3],                    # (14, 17)
         base_b[1:2, ::-5],                   # (1, 10)
         base_b.T[:8, :4].T]                  # (4, 8): column-major
    c = [rand(xp, rng, (1, 17), F64),         # broadcast along M
         rand(xp, rng, (4, 1), F64),          # broadcast along N
         rand(xp, rng, (6, 10), F64)[:, ::-1][:, :8]]
    out_base = xp.full((3, 20, 40), np.nan, F64)
    out = [out_base[0, :13, :34:2], out_base[1, :4, :10], out_base[2, ::3, ::-1][:6, :8]]
    d = gemm_vbatched(a, b, c, alpha=0.5, beta=2.0, out=out)
    assert all(di is oi for di, oi in zip(d, out))
    for di, ai, bi, ci in zip(d, a, b, c):
        assert_item_close(di, ai, bi, ci, 0.5, 2.0)
    untouched = np.ones((3, 20, 40), bool)
    untouched[0, :13, 0:34:2] = untouched[1, :4, :10] = False
    untouched[2, 0:18:3, 32:40] = False
    assert np.all(np.isnan(to_numpy(out_base)[untouched]))


def test_transposed_views_with_trans_flags(xp, rng):
    # trans_a on an already transposed view is a plain row-major read, and so on
    a = [rand(xp, rng, (7, 5), F32).T, rand(xp, rng, (3, 9), F32)[:, ::2].T]
    b = [rand(xp, rng, (5, 6), F32)[:, ::-1].T, rand(xp, rng, (5, 4), F32).T]
    d = gemm_vbatched(a, b, trans_a=True, trans_b=True)
    for di, ai, bi in zip(d, a, b):
        assert_item_close(di, ai, bi, trans_a=True, trans_b=True)


def test_k_zero_gives_beta_c_or_zeros(xp, rng):
    a, b = [xp.empty((3, 0)), xp.empty((0, 1))], [xp.empty((0, 4)), xp.empty((1, 0))]
    # item 1 has K = 1 but an empty result (N = 0)
    c = [rand(xp, rng, (3, 4), F64), xp.empty((0, 0))]
    d = gemm_vbatched(a, b)
    np.testing.assert_array_equal(to_numpy(d[0]), np.zeros((3, 4)))
    assert d[1].shape == (0, 0)
    d = gemm_vbatched(a, b, c, beta=3.0)
    np.testing.assert_allclose(to_numpy(d[0]), 3.0 * to_numpy(c[0]), rtol=1e-15)


def test_empty_lists(xp):
    assert gemm_vbatched([], []) == []
    assert gemm_vbatched((), (), [], out=[]) == []


def test_all_results_empty(xp):
    d = gemm_vbatched([xp.ones((0, 3)), xp.ones((2, 3))], [xp.ones((3, 4)), xp.ones((3, 0))])
    assert [x.shape for x in d] == [(0, 4), (2, 0)]


def test_beta_zero_never_reads_c(xp, rng):
    a, b = operands(xp, rng, [(4, 4, 4), (2, 3, 5)], F32)
    c = [xp.full((4, 4), np.nan, F32), xp.full((2, 3), np.inf, F32)]
    for di, ai, bi in zip(gemm_vbatched(a, b, c, beta=0.0), a, b):
        assert_item_close(di, ai, bi)


def test_inputs_are_not_modified(xp, rng):
    for dtype in (F16, F32):
        a, b = operands(xp, rng, [(3, 6, 7), (5, 2, 1)], dtype, trans_a=True)
        c = [rand(xp, rng, (3, 6), F32), rand(xp, rng, (1, 2), F32)]
        copies = [x.copy() for x in a + b + c]
        gemm_vbatched(a, b, c, alpha=2.0, beta=-1.0, trans_a=True)
        for x, x0 in zip(a + b + c, copies):
            np.testing.assert_array_equal(to_numpy(x), to_numpy(x0))


def test_many_tiny_matrices_beyond_one_grid_dimension(xp, rng):
    # 66,000 matrices: more than the 65,535 blocks of grid z, walked by the blocks' z loop
    count = 66000
    abuf, bbuf = rand(xp, rng, (count, 2, 1), F64), rand(xp, rng, (count, 1, 3), F64)
    d = gemm_vbatched(list(abuf), list(bbuf))
    np.testing.assert_allclose(to_numpy(xp.stack(d)), to_numpy(abuf @ bbuf), rtol=1e-15)


def test_stream_argument(xp, rng):
    a, b = operands(xp, rng, [(5, 4, 3)], F32)
    stream = None
    if xp is not np:
        stream = xp.cuda.Stream()
    d = gemm_vbatched(a, b, stream=stream)
    if stream is not None:
        stream.synchronize()
    assert_item_close(d[0], a[0], b[0])


def test_cpu_product_helper_works_on_stacks():
    # the helper is shared with batched_gemm's CPU path: stacks broadcast like np.matmul
    rng = np.random.default_rng(3)
    a = rng.standard_normal((4, 5, 3)).astype(F16)
    b = rng.standard_normal((3, 6)).astype(F16)
    c = rng.standard_normal((1, 6)).astype(F32)
    r = vb._gemm_cpu_product(a, b.T.copy(), c, 2.0, 0.5, False, True, "float32", F16)
    assert r.dtype == F16 and r.shape == (4, 5, 6)
    ref = 2.0 * (a.astype(np.float64) @ b.astype(np.float64)) + 0.5 * c
    np.testing.assert_allclose(r.astype(np.float64), ref, rtol=2e-3, atol=2e-3)


# --- errors: each names the op, the item, what was expected and what came ----------------

class _FakeCudaArray:
    """Looks like a device array (CUDA array interface) without being one."""

    __cuda_array_interface__ = {"shape": (2, 2), "typestr": "<f8", "data": (0, False),
                                "version": 3}


def test_list_errors():
    x = np.ones((2, 2))
    with pytest.raises(TypeError, match="gemm_vbatched: a_list must be a list or tuple of "
                                        "2-D arrays, got ndarray"):
        gemm_vbatched(x, [x])
    with pytest.raises(TypeError, match="out must be a list or tuple"):
        gemm_vbatched([x], [x], out=x)
    with pytest.raises(ValueError, match="gemm_vbatched: a_list and b_list must have the same "
                                         "length, got 2 and 1"):
        gemm_vbatched([x, x], [x])
    with pytest.raises(ValueError, match="a_list and c_list must have the same length, got 1 "
                                         "and 2"):
        gemm_vbatched([x], [x], [x, x])
    with pytest.raises(ValueError, match="a_list and out must have the same length, got 1 "
                                         "and 0"):
        gemm_vbatched([x], [x], out=[])


def test_shape_errors():
    f = lambda *s: np.ones(s)  # noqa: E731
    with pytest.raises(ValueError, match=r"gemm_vbatched: a_list\[1\] and b_list\[1\] must "
                                         r"agree on K \(a's columns, b's rows\), got shapes "
                                         r"\(3, 5\) and \(4, 2\)"):
        gemm_vbatched([f(2, 2), f(3, 5)], [f(2, 2), f(4, 2)])
    with pytest.raises(ValueError, match=r"a_list\[0\] and b_list\[0\] must agree on K "
                                         r"\(a's rows, b's columns\)"):
        gemm_vbatched([f(3, 5)], [f(4, 2)], trans_a=True, trans_b=True)
    with pytest.raises(ValueError, match=r"b_list\[1\] must be 2-D \(rows, cols\), got shape "
                                         r"\(2, 3, 4\)"):
        gemm_vbatched([f(2, 2), f(2, 3)], [f(2, 2), f(2, 3, 4)])
    with pytest.raises(ValueError, match=r"a_list\[0\] must be 2-D .*got shape \(3,\)"):
        gemm_vbatched([f(3)], [f(3, 1)])
    with pytest.raises(ValueError, match=r"out\[1\] must have shape \(3, 4\), got \(4, 3\)"):
        gemm_vbatched([f(2, 2), f(3, 5)], [f(2, 2), f(5, 4)], out=[f(2, 2), f(4, 3)])
    with pytest.raises(ValueError, match=r"c_list\[0\] of shape \(2, 3\) does not broadcast "
                                         r"to the result shape \(3, 3\)"):
        gemm_vbatched([f(3, 2)], [f(2, 3)], [f(2, 3)], beta=1.0)


def test_dtype_errors():
    f32, f64 = np.ones((2, 2), np.float32), np.ones((2, 2))
    with pytest.raises(TypeError, match=r"gemm_vbatched: every matrix of a_list and b_list "
                                        r"must have one dtype: a_list\[0\] is float32 but "
                                        r"b_list\[1\] is float64"):
        gemm_vbatched([f32, f32], [f32, f64])
    with pytest.raises(TypeError, match=r"a_list\[0\] is float32 but a_list\[1\] is float16"):
        gemm_vbatched([f32, f32.astype(F16)], [f32, f32])
    with pytest.raises(TypeError, match=r"a_list\[0\] must have dtype float16, bfloat16, "
                                        r"float32, float64; got int64"):
        gemm_vbatched([np.ones((2, 2), np.int64)], [np.ones((2, 2), np.int64)])
    with pytest.raises(ValueError, match="compute must be one of 'float32', 'tf32' for float32 "
                                         "inputs, got 'float16'"):
        gemm_vbatched([f32], [f32], compute="float16")
    with pytest.raises(ValueError, match="compute must be one of 'float64' for float64"):
        gemm_vbatched([f64], [f64], compute="tf32")
    with pytest.raises(TypeError, match=r"the result of float32 inputs can be written as "
                                        "float32, got out\\[0\\] of dtype float64"):
        gemm_vbatched([f32], [f32], out=[np.empty((2, 2))])
    h = f32.astype(F16)
    with pytest.raises(TypeError, match=r"out\[1\] must have the result dtype float32, got "
                                        r"float16"):
        gemm_vbatched([h, h], [h, h], out=[np.empty((2, 2), F32), np.empty((2, 2), F16)])
    with pytest.raises(TypeError, match=r"c_list\[1\] must have the result dtype float16, got "
                                        r"float32"):
        gemm_vbatched([h, h], [h, h], [h, f32], beta=1.0)
    with pytest.raises(TypeError, match=r"c_list\[0\] must have the result dtype float32"):
        gemm_vbatched([h], [h], [h], beta=1.0, out=[np.empty((2, 2), F32)])
    with pytest.raises(TypeError, match="alpha must be a real number, got complex"):
        gemm_vbatched([f32], [f32], alpha=1j)
    with pytest.raises(TypeError, match="beta must be a real number, got str"):
        gemm_vbatched([f32], [f32], beta="1")


def test_out_errors():
    a = np.ones((4, 4))
    b = np.ones((4, 4))
    with pytest.raises(ValueError, match=r"gemm_vbatched: out\[0\] overlaps a_list\[1\]"):
        gemm_vbatched([np.ones((4, 4)), a], [b, b], out=[a, np.empty((4, 4))])
    with pytest.raises(ValueError, match=r"out\[1\] overlaps b_list\[0\]"):
        gemm_vbatched([a, a], [b[:, :2], b[:, :2]], out=[np.empty((4, 2)), b[:, 2:]])
    buf = np.empty((4, 6))
    with pytest.raises(ValueError, match=r"out\[0\] overlaps out\[1\]|out\[1\] overlaps "
                                         r"out\[0\]"):
        gemm_vbatched([a, a], [b, b], out=[buf[:, :4], buf[:, 2:]])
    c = [np.ones((4, 4)), np.ones((4, 4))]
    with pytest.raises(ValueError, match=r"out\[0\] overlaps c_list\[1\]"):
        gemm_vbatched([a, a], [b, b], c, beta=1.0, out=[c[1], np.empty((4, 4))])
    with pytest.raises(ValueError, match=r"overlaps c_list\[0\]"):  # shifted, not identical
        cbuf = np.ones((5, 4))
        gemm_vbatched([a], [b], [cbuf[:4]], beta=1.0, out=[cbuf[1:]])
    ro = np.empty((4, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"out\[0\] is read-only"):
        gemm_vbatched([a], [b], out=[ro])
    with pytest.raises(ValueError, match=r"out\[0\] has overlapping elements \(a zero stride\)"):
        gemm_vbatched([a], [b], out=[np.lib.stride_tricks.as_strided(np.empty(4), (4, 4),
                                                                     (0, 8))])


def test_out_may_be_c_and_inputs_may_alias_each_other():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((4, 4))
    c = rng.standard_normal((4, 4))
    c0 = c.copy()
    d, = gemm_vbatched([a], [a], [c], beta=1.0, out=[c])  # a is both operands; out is c
    assert d is c
    assert_item_close(d, a, a, c0, 1.0, 1.0)


def test_host_and_device_arrays_are_not_mixed():
    x = np.ones((2, 2))
    with pytest.raises(TypeError, match=r"gemm_vbatched: all arrays must live on the same "
                                        r"side: a_list\[0\] is a host array \(ndarray\) but "
                                        r"b_list\[1\] is a GPU array \(_FakeCudaArray\)"):
        gemm_vbatched([x, x], [x, _FakeCudaArray()])
    with pytest.raises(TypeError, match=r"a_list\[0\] is a GPU array .* out\[0\] is a host"):
        gemm_vbatched([_FakeCudaArray()], [_FakeCudaArray()], out=[x])


def test_misaligned_device_array_is_an_error(xp):
    if xp is np:
        pytest.skip("alignment is checked on the GPU path only (NumPy handles any strides)")
    buf = xp.zeros(64, np.float32)
    odd = xp.ndarray((2, 2), np.float32, buf.data + 2, (16, 4))
    with pytest.raises(ValueError, match=r"a_list\[0\] is not aligned to its itemsize 4"):
        gemm_vbatched([odd], [xp.ones((2, 2), np.float32)])


# --- the launcher's host arithmetic, with no GPU ----------------------------------------

def test_record_layout_matches_the_kernel():
    src = (pathlib.Path(vb.__file__).parents[1] / "kernels" / "gemm_vbatched.cu").read_text()
    enum = src[src.index("enum VbField"):src.index("};", src.index("enum VbField"))]
    fields = {name: int(pos) for name, pos in re.findall(r"VB_(\w+) = (\d+)", enum)}
    assert fields.pop("FIELDS") == vb._RECORD
    assert fields == vb._FIELDS
    assert sorted(fields.values()) == list(range(len(fields)))


def test_every_precision_has_declared_kernels():
    from blasfast.kernels import _compile

    declared = set(_compile.families()["gemm_vbatched"].name_expressions)
    assert len(vb._VARIANTS) == len(PRECISIONS)
    for in_dtype, compute, out_dtype in PRECISIONS:
        comp = compute or ("float64" if in_dtype == F64 else "float32")
        v = vb._variant(in_dtype, comp, out_dtype)
        assert v in vb._VARIANTS
        for cls in ("small", "large"):
            assert v.name_expression(vb._TILES[(v.tacc, cls)]) in declared
    assert vb._variant(F32, "tf32", F32).name_expression(vb._Tile(16, 16, 16, 1, 1)) == \
        "gemm_vbatched<float, float, float, 16, 16, 16, 1, 1, true>"
    assert vb._variant(BF16, "float32", BF16).tout == "__nv_bfloat16"


def test_launch_config():
    shapes = np.array([[1, 1, 1], [33, 2, 5], [2, 65, 0]], np.int64)
    tile, grid = vb._launch_config(shapes, "double")
    assert (tile.bm, tile.bn) == (64, 64) and grid == (1, 2, 3)
    tile, grid = vb._launch_config(shapes[:1].repeat(70000, axis=0), "float")
    assert (tile.bm, tile.bn, tile.threads) == (16, 16, 256) and grid == (1, 1, 65535)
    tile, grid = vb._launch_config(np.array([[32, 17, 3]]), "float")
    assert tile.bm == 16 and grid == (2, 2, 1)


class _Heap:
    """A flat float64 buffer standing in for device memory: operands are views into it and
    kernel pointers are real addresses, mapped back to element offsets."""

    def __init__(self, size, rng):
        self.buf = rng.standard_normal(size)
        self.base = self.buf.__array_interface__["data"][0]
        self.used = 0

    def view(self, shape, steps, pad, perm):
        """A view of ``shape`` with axes stored in order ``perm``, step sizes ``steps``
        (negative: reversed) and ``pad`` extra elements per axis."""
        big = [max(s, 1) * abs(t) + p for s, t, p in zip(shape, steps, pad)]
        n = int(np.prod(big))
        region = self.buf[self.used:self.used + n]
        assert region.size == n, "heap too small for this case"
        self.used += n + 3
        x = region.reshape([big[p] for p in perm]).transpose(np.argsort(perm))
        x = x[tuple(slice(None, s * t, t) if t > 0 else slice(s * -t - 1, None, t) if s else
                    slice(0, 0) for s, t in zip(shape, steps))]
        assert x.shape == tuple(shape)
        return x

    def offset(self, address):
        off, rem = divmod(int(address) - self.base, self.buf.itemsize)
        assert rem == 0 and 0 <= off < self.buf.size + 1
        return off


def emulate_kernel(packed, grid, tile, alpha, beta, heap, writes):
    """Run gemm_vbatched's index arithmetic on the heap: for every block (x, y, z) of the
    grid, walk z, z + gridDim.z, ...; skip matrices the tile does not reach; compute the
    tile's elements from pointers and strides. ``writes`` counts stores per heap element."""
    rec = packed.reshape(-1, vb._RECORD)
    F = vb._FIELDS
    gx, gy, gz = grid
    for bz in range(gz):
        for z in range(bz, len(rec), gz):
            r = rec[z]
            M, N, K = (int(r[F[k]]) for k in ("M", "N", "K"))
            pa, pb, pc, pd = (heap.offset(r[F[k]]) if r[F[k]] else 0 for k in "ABCD")
            for bx in range(gx):
                for by in range(gy):
                    m0, n0 = bx * tile.bm, by * tile.bn
                    if m0 >= M or n0 >= N:
                        continue
                    i = np.arange(m0, min(m0 + tile.bm, M))[:, None]
                    j = np.arange(n0, min(n0 + tile.bn, N))[None, :]
                    k = np.arange(K)
                    a = heap.buf[pa + i * r[F["SAM"]] + k[None, :] * r[F["SAK"]]]
                    b = heap.buf[pb + k[:, None] * r[F["SBK"]] + j * r[F["SBN"]]]
                    v = alpha * (a @ b)
                    if beta != 0:
                        v = v + beta * heap.buf[pc + i * r[F["SCM"]] + j * r[F["SCN"]]]
                    at = pd + i * r[F["SDM"]] + j * r[F["SDN"]]
                    heap.buf[at] = v
                    np.add.at(writes, at.ravel(), 1)


@st.composite
def operand_view(draw, heap, shape):
    if draw(st.booleans()):
        steps, pad, perm = [1, 1], [0, 0], [0, 1]
    else:
        steps = [draw(st.sampled_from([1, 2, -1, -3])) for _ in shape]
        pad = [draw(st.integers(0, 2)) for _ in shape]
        perm = draw(st.permutations([0, 1]))
    return heap.view(shape, steps, pad, perm)


@st.composite
def vbatched_case(draw):
    heap = _Heap(120000, np.random.default_rng(draw(st.integers(0, 2**32 - 1))))
    ta, tb = draw(st.booleans()), draw(st.booleans())
    beta = draw(st.sampled_from([0.0, -1.25]))
    size = st.sampled_from([0, 1, 2, 3, 5, 17])
    items = []
    for _ in range(draw(st.integers(1, 5))):
        m, n, k = draw(size), draw(size), draw(size)
        a = draw(operand_view(heap, (k, m) if ta else (m, k)))
        b = draw(operand_view(heap, (n, k) if tb else (k, n)))
        c_shape = draw(st.sampled_from([(m, n), (1, n), (m, 1), (n,)]))
        c = draw(operand_view(heap, c_shape)) if len(c_shape) == 2 else \
            heap.view((1, n), [1, 1], [0, 0], [0, 1])[0]
        d = draw(operand_view(heap, (m, n)))
        items.append((a, b, c, d))
    tile = draw(st.sampled_from([vb._Tile(2, 3, 1, 1, 1), vb._Tile(16, 16, 16, 1, 1)]))
    return heap, items, ta, tb, beta, tile, draw(st.sampled_from([None, 1, 2]))


@given(vbatched_case())
def test_packed_arguments_reproduce_matmul(case):
    heap, items, ta, tb, beta, tile, grid_z = case
    a_list, b_list, c_list, d_list = (list(x) for x in zip(*items))
    expect = [0.75 * (_op(a, ta) @ _op(b, tb)) + (beta * c if beta else 0)
              for a, b, c, _ in items]
    for d in d_list:
        d[...] = np.nan  # poison: an unwritten element fails
    heap_before = heap.buf.copy()
    shapes, strides, pointers = vb._gather(a_list, b_list, c_list if beta else None, d_list,
                                           ta, tb)
    assert len(shapes) == sum(d.size > 0 for d in d_list)
    writes = np.zeros(heap.buf.size, np.int64)
    if len(shapes):
        packed = vb._pack(shapes, strides, pointers)
        assert packed.dtype == np.int64 and packed.size == vb._RECORD * len(shapes)
        grid = vb._grid(shapes, tile)
        if grid_z is not None:  # fewer z slots than matrices: the blocks' z loop
            grid = grid[:2] + (min(grid_z, grid[2]),)
        emulate_kernel(packed, grid, tile, 0.75, beta, heap, writes)
    for d, e in zip(d_list, expect):
        np.testing.assert_allclose(d, np.broadcast_to(e, d.shape), rtol=1e-12, atol=1e-12)
    out_elems = np.zeros(heap.buf.size, bool)
    for d in d_list:
        if d.size:
            idx = heap.offset(d.__array_interface__["data"][0]) + \
                np.add.outer(np.arange(d.shape[0]) * (d.strides[0] // 8),
                             np.arange(d.shape[1]) * (d.strides[1] // 8))
            out_elems[idx.ravel()] = True
    assert np.all(writes[out_elems] == 1)  # every result element stored exactly once
    assert np.all(writes[~out_elems] == 0)
    changed = ~np.isclose(heap.buf, heap_before, equal_nan=True, rtol=0, atol=0)
    assert not np.any(changed & ~out_elems)  # nothing outside the results changed


def test_pack_layout_by_hand():
    shapes = np.array([[2, 3, 4]], np.int64)
    strides = np.array([[10, 1, 3, 1, 0, 1, 7, 2]], np.int64)
    pointers = np.array([[1000, 2000, 3000, 4000]], np.int64)
    packed = vb._pack(shapes, strides, pointers)
    assert packed.tolist() == [2, 3, 4, 1000, 10, 1, 2000, 3, 1, 3000, 0, 1, 4000, 7, 2, 0]


def test_gather_transposes_broadcasts_and_skips_empty_results():
    a = np.empty((5, 3))           # trans_a: op(A) is (3, 5), sam = 1, sak = 3
    b = np.empty((4, 10))[:, ::2]  # trans_b: op(B) is (5, 4), sbk = 2, sbn = 10
    c = np.empty((1, 4))        # broadcast along M: scm = 0
    d = np.empty((3, 4))
    empty = [np.empty((0, 5)), np.empty((4, 5)), np.empty((0, 4)), np.empty((0, 4))]
    shapes, strides, pointers = vb._gather([a, empty[0].T], [b, empty[1]], [c, empty[2]],
                                           [d, empty[3]], True, True)
    assert shapes.tolist() == [[3, 4, 5]]
    assert strides.tolist() == [[1, 3, 2, 10, 0, 1, 4, 1]]
    addr = lambda x: x.__array_interface__["data"][0]  # noqa: E731
    assert pointers.tolist() == [[addr(a), addr(b), addr(c), addr(d)]]
    _, strides, pointers = vb._gather([a], [b], None, [d], True, True)
    assert strides[0, 4:6].tolist() == [4, 1] and pointers[0, 2] == addr(d)  # C := D


@st.composite
def overlap_case(draw):
    buf = np.zeros(200)
    def view():  # noqa: E306
        start = draw(st.integers(10, 150))  # room for negative strides
        rows, cols = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        step = draw(st.sampled_from([1, 2, -1]))
        rs = draw(st.sampled_from([cols * abs(step), cols * abs(step) + 5, 1]))
        x = np.lib.stride_tricks.as_strided(buf[start:], (rows, cols), (rs * 8, step * 8))
        return x
    n = draw(st.integers(1, 3))
    a, b, c, out = ([view() for _ in range(n)] for _ in range(4))
    if draw(st.booleans()):
        out[0] = c[0]
    return a, b, c, out


@given(overlap_case())
def test_overlap_sweep_matches_pairwise_check(case):
    a, b, c, out = case
    others = [("a_list", a), ("b_list", b), ("c_list", c), ("out", out)]
    expect = False
    for i, o in enumerate(out):
        for name, items in others:
            for j, x in enumerate(items):
                if (name == "out" and j == i) or (name == "c_list" and j == i and
                                                  x.shape == o.shape and x.strides == o.strides
                                                  and vb._address(x) == vb._address(o)):
                    continue
                expect |= bool(np.may_share_memory(o, x))
    try:
        vb._check_overlaps("gemm_vbatched", a, b, c, out)
        got = False
    except ValueError:
        got = True
    assert got == expect
