"""batched_gemm / matmul: numerics against a float64 reference, semantics, and errors.

Accuracy bound used throughout (Higham, *Accuracy and Stability of Numerical Algorithms*,
§3.5): computed in precision u, each element of ``alpha*A@B + beta*C`` satisfies
``|D - D_exact| <= gamma_{K+2} * (|alpha| |A||B| + |beta| |C|)`` componentwise, with
``gamma_n = n*u / (1 - n*u)``; so the Frobenius norm of the error is bounded by gamma times
the Frobenius norm of that majorant. Both paths, any summation order, meet it.
"""

import typing

import numpy as np
import pytest

import blasfast as bf
from blasfast import _dtypes
from blasfast.gemm import _args, _config
from blasfast.kernels import _compile
from conftest import to_numpy
from gemm_bounds import DTYPES, HALF, assert_gemm_close, bfloat16, rand


SHAPES = [  # (a shape, b shape)
    ((5, 3, 4), (5, 4, 2)),
    ((3, 4), (7, 4, 6)),           # 2-D a broadcast over b's batch
    ((2, 1, 7, 9), (1, 3, 9, 5)),  # two broadcast batch dims
    ((2, 3, 4, 1, 6, 5), (3, 1, 2, 5, 7)),  # more than two batch dims after folding
    ((1, 17, 33), (1, 33, 65)),    # sizes crossing every tile size class
    ((4, 80, 70), (4, 70, 90)),    # "large" tiles with ragged edges
    ((3, 1, 1), (3, 1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_matches_float64_reference(xp, rng, dtype, shapes):
    a, b = rand(xp, rng, shapes[0], dtype), rand(xp, rng, shapes[1], dtype)
    d = bf.batched_gemm(a, b)
    assert type(d) is type(a) and d.dtype == dtype
    assert d.shape == np.matmul(np.zeros(shapes[0]), np.zeros(shapes[1])).shape
    assert_gemm_close(d, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_transposes(xp, rng, dtype, trans_a, trans_b):
    m, n, k = 19, 23, 37
    a = rand(xp, rng, (6,) + ((k, m) if trans_a else (m, k)), dtype)
    b = rand(xp, rng, (6,) + ((n, k) if trans_b else (k, n)), dtype)
    d = bf.batched_gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    assert d.shape == (6, m, n)
    assert_gemm_close(d, a, b, trans_a=trans_a, trans_b=trans_b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_alpha_beta_and_broadcast_c(xp, rng, dtype):
    a, b = rand(xp, rng, (4, 9, 11), dtype), rand(xp, rng, (4, 11, 13), dtype)
    c = rand(xp, rng, (1, 9, 13), dtype)
    alpha, beta = rng.uniform(-2, 2), rng.uniform(-2, 2)
    d = bf.batched_gemm(a, b, c, alpha=alpha, beta=beta)
    assert_gemm_close(d, a, b, c, alpha, beta)


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_and_in_place_c(xp, rng, dtype):
    a, b = rand(xp, rng, (3, 8, 5), dtype), rand(xp, rng, (3, 5, 7), dtype)
    c = rand(xp, rng, (3, 8, 7), dtype)
    c0 = c.copy()
    out = xp.full((3, 8, 7), np.nan, dtype)  # poisoned: an unwritten element fails
    r = bf.batched_gemm(a, b, c, beta=0.5, out=out)
    assert r is out
    assert_gemm_close(out, a, b, c0, 1.0, 0.5)
    r = bf.batched_gemm(a, b, c, alpha=-1.0, beta=2.0, out=c)  # BLAS-style C update
    assert r is c
    assert_gemm_close(c, a, b, c0, -1.0, 2.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_views_are_read_in_place(xp, rng, dtype):
    base_a = rand(xp, rng, (6, 30, 40), dtype)
    base_b = rand(xp, rng, (40, 6, 50), dtype)
    a = base_a[::2, 3:28:2, ::-3]          # (3, 13, 14), negative and non-unit strides
    b = base_b[:14, ::2].transpose(1, 0, 2)[:, :, 5:45:3]  # (3, 14, 14), batch stride != size
    d = bf.batched_gemm(a, b)
    assert_gemm_close(d, a, b)
    out_base = xp.full((3, 13, 28), np.nan, dtype)
    out = out_base[:, :, ::2]              # a strided out
    bf.batched_gemm(a, b, out=out)
    assert_gemm_close(out, a, b)
    assert np.all(np.isnan(to_numpy(out_base[:, :, 1::2])))  # untouched between columns


def test_many_tiny_matrices_beyond_one_grid_dimension(xp, rng):
    # 70,000 matrices: more than the 65,535 blocks one grid dimension holds.
    a, b = rand(xp, rng, (70000, 2, 3), np.float64), rand(xp, rng, (70000, 3, 2), np.float64)
    assert_gemm_close(bf.batched_gemm(a, b), a, b)


def test_k_zero_gives_beta_c(xp, rng):
    a, b = xp.empty((2, 3, 0)), xp.empty((2, 0, 4))
    c = rand(xp, rng, (2, 3, 4), np.float64)
    np.testing.assert_array_equal(to_numpy(bf.batched_gemm(a, b)), np.zeros((2, 3, 4)))
    np.testing.assert_allclose(to_numpy(bf.batched_gemm(a, b, c, beta=3.0)),
                               3.0 * to_numpy(c), rtol=1e-15)


@pytest.mark.parametrize("shapes", [((0, 3, 4), (0, 4, 5)), ((2, 0, 4), (4, 5)),
                                    ((2, 3, 4), (4, 0))])
def test_empty_results(xp, shapes):
    d = bf.batched_gemm(xp.ones(shapes[0]), xp.ones(shapes[1]))
    assert d.shape == np.matmul(np.ones(shapes[0]), np.ones(shapes[1])).shape
    assert d.size == 0


def test_beta_zero_never_reads_c(xp, rng):
    a, b = rand(xp, rng, (2, 4, 4), np.float32), rand(xp, rng, (2, 4, 4), np.float32)
    c = xp.full((2, 4, 4), np.nan, np.float32)
    assert_gemm_close(bf.batched_gemm(a, b, c, beta=0.0), a, b)


def test_nan_and_inf_in_operands_propagate(xp, rng):
    a, b = rand(xp, rng, (2, 5, 6), np.float64), rand(xp, rng, (2, 6, 3), np.float64)
    a[1, 2, 4] = np.nan
    b[0, 1, 2] = np.inf
    d = to_numpy(bf.batched_gemm(a, b))
    assert np.all(np.isnan(d[1, 2, :]))
    assert np.all(np.isinf(d[0, :, 2]) | np.isnan(d[0, :, 2]))
    finite = np.ones(d.shape, bool)
    finite[1, 2, :] = finite[0, :, 2] = False
    assert np.all(np.isfinite(d[finite]))


def test_inputs_are_not_modified(xp, rng):
    a, b = rand(xp, rng, (3, 6, 7), np.float32), rand(xp, rng, (3, 7, 5), np.float32)
    c = rand(xp, rng, (3, 6, 5), np.float32)
    copies = [x.copy() for x in (a, b, c)]
    bf.batched_gemm(a, b, c, alpha=2.0, beta=-1.0)
    for x, x0 in zip((a, b, c), copies):
        np.testing.assert_array_equal(to_numpy(x), to_numpy(x0))


@pytest.mark.parametrize("sa,sb", [((5,), (5,)), ((5,), (5, 3)), ((4, 5), (5,)),
                                   ((2, 4, 5), (5,)), ((5,), (2, 5, 3))])
def test_matmul_follows_numpy(xp, rng, sa, sb):
    a, b = rand(xp, rng, sa, np.float64), rand(xp, rng, sb, np.float64)
    expect = np.matmul(to_numpy(a), to_numpy(b))
    r = bf.matmul(a, b)
    assert r.shape == expect.shape
    np.testing.assert_allclose(to_numpy(r), expect, rtol=1e-12, atol=1e-12)
    out = xp.full(expect.shape, np.nan)
    assert bf.matmul(a, b, out=out) is out
    np.testing.assert_allclose(to_numpy(out), expect, rtol=1e-12, atol=1e-12)


# --- errors: each names the op, the argument, what was expected and what came -------------

def test_error_messages():
    f32 = np.ones((8, 3, 5), np.float32)
    with pytest.raises(ValueError, match=r"batched_gemm: a and b must agree on K.*"
                                         r"\(8, 3, 5\) and \(8, 4, 2\)"):
        bf.batched_gemm(f32, np.ones((8, 4, 2), np.float32))
    with pytest.raises(ValueError, match="batch dimensions do not broadcast: a \\(8,\\)"):
        bf.batched_gemm(f32, np.ones((7, 5, 2), np.float32))
    with pytest.raises(TypeError, match="a must have dtype float16, bfloat16, float32, "
                                        "float64; got int64"):
        bf.batched_gemm(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64))
    with pytest.raises(TypeError, match="a and b must have the same dtype, got float32 and "
                                        "float64"):
        bf.batched_gemm(f32, np.ones((8, 5, 2)))
    with pytest.raises(TypeError, match="the result of float32 inputs can be written as "
                                        "float32, got out/c of dtype float64"):
        bf.batched_gemm(f32, f32, np.ones((3, 3)), trans_b=True)
    with pytest.raises(ValueError, match="a must have at least 2 dimensions"):
        bf.batched_gemm(np.ones(3), np.ones((3, 3)))
    with pytest.raises(ValueError, match="matmul: operands must be at least 1-D"):
        bf.matmul(np.float64(2.0), np.ones(3))
    with pytest.raises(ValueError, match=r"c of shape \(2, 3\) does not broadcast"):
        bf.batched_gemm(f32, f32, np.ones((2, 3), np.float32), trans_b=True, beta=1.0)
    with pytest.raises(ValueError, match=r"out must have shape \(8, 3, 3\), got \(8, 3\)"):
        bf.batched_gemm(f32, f32, trans_b=True, out=np.empty((8, 3), np.float32))
    with pytest.raises(TypeError, match="alpha must be a real number, got complex"):
        bf.batched_gemm(f32, f32, trans_b=True, alpha=1j)
    with pytest.raises(TypeError, match="beta must be a real number, got str"):
        bf.batched_gemm(f32, f32, trans_b=True, beta="1")


def test_out_errors():
    a = np.ones((4, 4))
    with pytest.raises(ValueError, match="out overlaps a"):
        bf.batched_gemm(a, a, out=a)
    ro = np.empty((4, 4))
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out is read-only"):
        bf.batched_gemm(a, a, out=ro)
    with pytest.raises(ValueError, match="zero stride"):
        bf.batched_gemm(a, a, out=np.lib.stride_tricks.as_strided(np.empty(4), (4, 4), (0, 8)))
    with pytest.raises(TypeError, match="can be written as float64, got out/c of dtype "
                                        "float32"):
        bf.batched_gemm(a, a, out=np.empty((4, 4), np.float32))


class _FakeCudaArray:
    """Looks like a device array (CUDA array interface) without being one."""

    __cuda_array_interface__ = {"shape": (2, 2), "typestr": "<f8", "data": (0, False),
                                "version": 3}


def test_host_and_device_arrays_are_not_mixed():
    with pytest.raises(TypeError, match="batched_gemm: all arrays must live on the same "
                                        "side: got a GPU array and a host array"):
        bf.batched_gemm(_FakeCudaArray(), np.ones((2, 2)))


def test_device_array_without_usable_gpu_is_a_clear_error():
    if bf._backend.gpu_available():
        pytest.skip("a GPU is usable here: the no-GPU error cannot occur")
    with pytest.raises(RuntimeError, match="got a GPU array \\(_FakeCudaArray\\)"):
        bf.batched_gemm(_FakeCudaArray(), _FakeCudaArray())


# --- reduced precisions: FP16/BF16 in with FP32 accumulation, TF32 -----------------------

@pytest.mark.parametrize("dtype", HALF, ids=["float16", "bfloat16"])
@pytest.mark.parametrize("shapes", [((7, 5, 9), (7, 9, 3)), ((3, 40, 70), (70, 50)),
                                    ((2, 130, 33), (2, 33, 140))],
                         ids=["tiny", "medium", "large"])
@pytest.mark.parametrize("trans_b", [False, True])
def test_half_inputs_accumulate_in_float32(xp, rng, dtype, shapes, trans_b):
    sa, sb = shapes
    if trans_b:
        sb = sb[:-2] + (sb[-1], sb[-2])
    a, b = rand(xp, rng, sa, dtype), rand(xp, rng, sb, dtype)
    c = rand(xp, rng, sa[-2:-1] + (sb[-2] if trans_b else sb[-1],), np.float32)
    d = bf.batched_gemm(a, b, c, alpha=0.5, beta=-1.5, trans_b=trans_b)
    assert d.dtype == np.float32
    # The reference starts from the rounded operands: float32 accumulation, u = 2**-24.
    assert_gemm_close(d, a, b, c, 0.5, -1.5, trans_b=trans_b, u=2.0**-24)


@pytest.mark.parametrize("dtype", HALF, ids=["float16", "bfloat16"])
def test_half_out_rounds_once_at_the_end(xp, rng, dtype):
    a, b = rand(xp, rng, (4, 20, 30), dtype), rand(xp, rng, (4, 30, 10), dtype)
    out = xp.full((4, 20, 10), np.nan, dtype)
    r = bf.batched_gemm(a, b, out=out)
    assert r is out and out.dtype == dtype
    assert_gemm_close(out, a, b, u=2.0**-24)
    full = to_numpy(bf.batched_gemm(a, b))
    np.testing.assert_array_equal(to_numpy(out).astype(np.float32),
                                  full.astype(dtype).astype(np.float32))


def test_float16_out_overflows_to_inf_but_float32_out_does_not(xp):
    a = xp.full((1, 2, 64), 1000.0, np.float16)  # each product 1e6, sums to 6.4e7
    d32 = bf.batched_gemm(a, a, trans_b=True)
    np.testing.assert_allclose(to_numpy(d32), 6.4e7, rtol=1e-6)
    d16 = bf.batched_gemm(a, a, trans_b=True, out=xp.empty((1, 2, 2), np.float16))
    assert np.all(np.isinf(to_numpy(d16)))  # beyond 65504: IEEE overflow, as documented


@pytest.mark.parametrize("shapes", [((6, 9, 12), (6, 12, 7)), ((2, 70, 96), (2, 96, 65))],
                         ids=["tiny", "large"])
def test_tf32_rounds_operands_to_ten_bits(xp, rng, shapes):
    a, b = rand(xp, rng, shapes[0], np.float32), rand(xp, rng, shapes[1], np.float32)
    d = bf.batched_gemm(a, b, compute="tf32")
    assert d.dtype == np.float32
    assert_gemm_close(d, a, b, u=2.0**-24, operand_rounding=2.0**-11)
    exact32 = to_numpy(bf.batched_gemm(a, b))
    rel = np.linalg.norm(to_numpy(d) - exact32) / np.linalg.norm(exact32)
    assert 1e-6 < rel < 2e-3, f"TF32 should differ from FP32 by about 2**-11, got {rel:.2e}"
    ra = bf._dtypes.round_to_tf32(to_numpy(a)).astype(np.float64)
    rb = bf._dtypes.round_to_tf32(to_numpy(b)).astype(np.float64)
    assert_gemm_close(d, ra, rb, u=2.0**-24)  # exactly the product of rounded operands


def test_round_to_tf32_ties_away_and_keeps_specials():
    x = np.array([1 + 2**-11, 1 + 3 * 2**-11, -(1 + 2**-11), 1 + 2**-12, np.inf, -np.inf,
                  np.nan], np.float32)
    r = bf._dtypes.round_to_tf32(x)
    np.testing.assert_array_equal(r[:4], np.float32([1 + 2**-10, 1 + 2**-9, -(1 + 2**-10),
                                                     1.0]))
    assert np.isposinf(r[4]) and np.isneginf(r[5]) and np.isnan(r[6])


def test_compute_errors_list_the_valid_values():
    f32, f64 = np.ones((2, 2), np.float32), np.ones((2, 2))
    with pytest.raises(ValueError, match="compute must be one of 'float64' for float64 "
                                         "inputs, got 'tf32'"):
        bf.batched_gemm(f64, f64, compute="tf32")
    with pytest.raises(ValueError, match="'float32', 'tf32' for float32 inputs, got 'fp8'"):
        bf.batched_gemm(f32, f32, compute="fp8")
    with pytest.raises(TypeError, match="float16 inputs can be written as float32 or "
                                        "float16, got out/c of dtype float64"):
        h = np.ones((2, 2), np.float16)
        bf.batched_gemm(h, h, out=np.empty((2, 2)))


def test_bfloat16_out_may_be_c(xp, rng):
    a, b = rand(xp, rng, (3, 6, 5), bfloat16), rand(xp, rng, (3, 5, 4), bfloat16)
    c = rand(xp, rng, (3, 6, 4), bfloat16)
    c0 = c.copy()
    assert bf.batched_gemm(a, b, c, beta=1.0, out=c) is c
    assert_gemm_close(c, a, b, c0, 1.0, 1.0, u=2.0**-24)


def test_empty_out_is_accepted(xp):
    out = xp.empty((0, 2))
    assert bf.batched_gemm(xp.ones((0, 3)), xp.ones((3, 2)), out=out) is out


@pytest.mark.parametrize("dtype", [np.float64, np.float16], ids=["float64", "float16"])
def test_list_input_is_the_pointer_array_form(xp, rng, dtype):
    a = [rand(xp, rng, (9, 6), dtype) for _ in range(5)]
    b = [rand(xp, rng, (6, 4), dtype) for _ in range(5)]
    d = bf.batched_gemm(a, b, alpha=2.0)
    assert isinstance(d, list) and len(d) == 5
    for di, ai, bi in zip(d, a, b):
        assert_gemm_close(di, ai, bi, alpha=2.0, u=2.0**-24 if dtype == np.float16 else None)
    with pytest.raises(ValueError, match="must all have one shape"):
        bf.batched_gemm(a + [rand(xp, rng, (3, 6), dtype)], b + b[:1])
    with pytest.raises(TypeError, match="b must be a list of matrices too"):
        bf.batched_gemm(a, b[0])


PRECISIONS = [  # (input dtype, compute, out dtype, u of the accumulation, operand rounding)
    (np.float64, "float64", np.float64, 2.0**-53, 0.0),
    (np.float32, "float32", np.float32, 2.0**-24, 0.0),
    (np.float32, "tf32", np.float32, 2.0**-24, 2.0**-11),
    (np.float16, "float32", np.float32, 2.0**-24, 0.0),
    (np.float16, "float32", np.float16, 2.0**-24, 0.0),
    (bfloat16, "float32", np.float32, 2.0**-24, 0.0),
    (bfloat16, "float32", bfloat16, 2.0**-24, 0.0),
]


@pytest.mark.parametrize("prec", PRECISIONS,
                         ids=lambda p: f"{np.dtype(p[0]).name}-{p[1]}-{np.dtype(p[2]).name}")
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_every_precision_and_transpose_with_odd_sizes(xp, rng, prec, trans_a, trans_b):
    dtype, compute, out_dtype, u, rounding = prec
    m, n, k = rng.choice([1, 3, 17, 33, 65], size=3)
    a = rand(xp, rng, (3,) + ((k, m) if trans_a else (m, k)), dtype)
    b = rand(xp, rng, (3,) + ((n, k) if trans_b else (k, n)), dtype)
    c = rand(xp, rng, (3, m, n), out_dtype)
    alpha, beta = rng.uniform(-2, 2), rng.uniform(-2, 2)
    out = xp.full((3, m, n), np.nan, out_dtype)  # poisoned: an unwritten element fails
    r = bf.batched_gemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b,
                        out=out, compute=compute)
    assert r is out
    assert_gemm_close(out, a, b, c, alpha, beta, trans_a, trans_b, u=u,
                      operand_rounding=rounding)


# One problem per size class of _config.select: the small kernel's four DIMs, the
# CUDA-core tiles (max(m, n) <= 16, <= 64, larger) and the tensor-core tiles (<= 32,
# <= 128, larger), so that every declared instantiation runs.
SIZE_CLASSES = {"dim4": (3, 2, 4), "dim8": (7, 5, 8), "dim16": (13, 16, 9),
                "dim32": (30, 31, 29), "tile16": (10, 12, 40), "tile32": (20, 30, 40),
                "tile64": (40, 50, 35), "tile128": (70, 100, 40), "tile-large": (130, 140, 36)}


@pytest.mark.parametrize("prec", PRECISIONS,
                         ids=lambda p: f"{np.dtype(p[0]).name}-{p[1]}-{np.dtype(p[2]).name}")
@pytest.mark.parametrize("mnk", SIZE_CLASSES.values(), ids=SIZE_CLASSES.keys())
def test_every_size_class_of_every_precision(xp, rng, prec, mnk):
    dtype, compute, out_dtype, u, rounding = prec
    m, n, k = mnk
    a, b = rand(xp, rng, (2, m, k), dtype), rand(xp, rng, (2, k, n), dtype)
    c = rand(xp, rng, (2, m, n), out_dtype)
    out = xp.full((2, m, n), np.nan, out_dtype)  # poisoned: an unwritten element fails
    bf.batched_gemm(a, b, c, alpha=1.25, beta=-0.5, out=out, compute=compute)
    assert_gemm_close(out, a, b, c, 1.25, -0.5, u=u, operand_rounding=rounding)


@pytest.mark.parametrize("prec", PRECISIONS,
                         ids=lambda p: f"{np.dtype(p[0]).name}-{p[1]}-{np.dtype(p[2]).name}")
@pytest.mark.parametrize("mnk", [(5, 6, 7), (70, 65, 40)], ids=["small", "tiled"])
def test_in_place_c_update_on_every_kernel(xp, rng, prec, mnk):
    """``out=c``: the kernels read C and write D through one array (C and D were both
    ``__restrict__``, which promised the compiler they never alias)."""
    dtype, compute, out_dtype, u, rounding = prec
    m, n, k = mnk
    a, b = rand(xp, rng, (3, m, k), dtype), rand(xp, rng, (3, k, n), dtype)
    c = rand(xp, rng, (3, m, n), out_dtype)
    c0 = c.copy()
    assert bf.batched_gemm(a, b, c, alpha=-0.75, beta=1.5, out=c, compute=compute) is c
    assert_gemm_close(c, a, b, c0, -0.75, 1.5, u=u, operand_rounding=rounding)


@pytest.mark.parametrize("trans_b", [False, True])
def test_more_column_tiles_than_grid_y_holds(xp, rng, monkeypatch, trans_b):
    """N beyond 65535 tiles is launched in column ranges; a tiny limit exercises that."""
    monkeypatch.setattr(_config, "MAX_GRID_Y", 2)
    a = rand(xp, rng, (2, 70, 40), np.float32)
    b = rand(xp, rng, (2, 300, 40) if trans_b else (2, 40, 300), np.float32)
    c = rand(xp, rng, (300,), np.float32)  # broadcast along rows and batch
    out = xp.full((2, 70, 300), np.nan, np.float32)
    bf.batched_gemm(a, b, c, beta=0.5, trans_b=trans_b, out=out)
    assert_gemm_close(out, a, b, c, 1.0, 0.5, trans_b=trans_b)


@pytest.mark.parametrize("prec", _config.PRECISIONS,
                         ids=lambda p: f"{p.in_dtype.name}-{p.out_dtype.name}-{p.compute}")
@pytest.mark.parametrize("mnk", [(1, 1, 1), (5, 40, 3), (33, 33, 33), (64, 64, 64),
                                 (100, 20, 7), (200, 300, 50)])
def test_every_selected_kernel_is_declared(prec, mnk):
    """The launcher only asks for instantiations the family declares (and so compiles);
    16-bit inputs above the small-matrix sizes go to the tensor cores. (The emulator found
    FP16/BF16 problems routed to CUDA-core tiles that were never instantiated.)"""
    tile = _config.select(prec, *mnk)
    assert tile.kernel_name(prec) in _compile.families()[tile.family].name_expressions
    if max(mnk) > 32:
        tc = prec.in_dtype in (_dtypes.float16, _dtypes.bfloat16) or prec.compute == "tf32"
        assert (tile.family == "gemm_tc") == tc


# --- issue #13: every bad argument is a clear error naming the op ------------------------

def test_scalars_where_arrays_are_due_are_type_errors_not_attribute_errors():
    m = np.ones((2, 2))
    with pytest.raises(TypeError, match=r"batched_gemm: a must be an array .*got float 2.0"):
        bf.batched_gemm(2.0, m)
    with pytest.raises(TypeError, match=r"batched_gemm: c must be an array .*got float 5.0"):
        bf.batched_gemm(m, m, c=5.0)
    with pytest.raises(TypeError, match=r"batched_gemm: out must be an array"):
        bf.batched_gemm(m, m, out=5.0)


def test_matmul_of_scalars_is_a_value_error_as_in_numpy():
    with pytest.raises(ValueError, match="matmul: operands must be at least 1-D"):
        bf.matmul(2.0, 3.0)
    with pytest.raises(ValueError):
        np.matmul(2.0, 3.0)  # the behaviour the docs promise to follow


def test_nested_lists_are_not_the_pointer_array_form():
    with pytest.raises(TypeError, match=r"batched_gemm: a must be an array, or a list of "
                                        r"2-D arrays .*nested lists"):
        bf.batched_gemm([[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]])


def test_pointer_array_form_errors_name_batched_gemm():
    a = [np.ones((2, 3)), np.ones((2, 3))]
    with pytest.raises(ValueError, match="^batched_gemm: a_list.*agree on K"):
        bf.batched_gemm(a, [np.ones((2, 2))] * 2)


def test_vbatched_out_of_none_is_a_type_error():
    m = np.ones((2, 2))
    with pytest.raises(TypeError, match=r"gemm_vbatched: out\[0\] must be an array"):
        bf.gemm_vbatched([m], [m], out=[None])


@pytest.mark.parametrize("value", ["yes", 1, 0, None, np.array(True)])
def test_flags_must_be_bool(value):
    m = np.ones((2, 2))
    with pytest.raises(TypeError, match="batched_gemm: trans_b must be a bool"):
        bf.batched_gemm(m, m, trans_b=value)
    with pytest.raises(TypeError, match="gemm_vbatched: trans_a must be a bool"):
        bf.gemm_vbatched([m], [m], trans_a=value)


def test_stream_and_compute_types():
    m = np.ones((2, 2))
    with pytest.raises(TypeError, match="batched_gemm: stream must be None, a cupy.cuda.Stream"):
        bf.batched_gemm(m, m, stream="default")
    with pytest.raises(TypeError, match="batched_gemm: compute must be None or one of"):
        bf.batched_gemm(m, m, compute=64)


def test_compute_annotation_names_what_the_check_accepts():
    """The ``Literal`` of ``compute=`` in the GEMM family's annotations is exactly the set
    of names the run-time check accepts (for some dtype), so the two cannot drift apart;
    each name is accepted and a name outside it refused."""
    assert typing.get_args(_args.Compute) == _dtypes.COMPUTE_NAMES
    assert set(_dtypes.COMPUTE_NAMES) == {c for cs in _dtypes.COMPUTE.values() for c in cs}
    for fn in (bf.batched_gemm, bf.matmul, bf.gemm_vbatched, bf.BatchedGemm.__init__):
        assert typing.get_type_hints(fn)["compute"] == _args.Compute | None, fn
    assert typing.get_type_hints(bf.BatchedGemm.compute.fget)["return"] == _args.Compute
    m32, m64 = np.ones((2, 2), np.float32), np.ones((2, 2))
    for compute in _dtypes.COMPUTE_NAMES:
        bf.batched_gemm(m64 if compute == "float64" else m32,
                        m64 if compute == "float64" else m32, compute=compute)
    with pytest.raises(ValueError, match="batched_gemm: compute must be"):
        bf.batched_gemm(m32, m32, compute="float16")
