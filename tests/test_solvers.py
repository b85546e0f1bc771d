"""blasfast.solvers.solve: accuracy on MAGMA's test families, the stopping test, fallback,
failures per system, and the API's contracts.

What "solved" means here (LAPACK ``dsgesv``, cuSOLVER ``gesv``): a converged system has
normwise backward error ``max_j ||b_j - A x_j||_inf / (||A||_inf ||x_j||_inf)`` at most
``sqrt(n) * eps`` (eps = 2**-53 for float64, 2**-24 for float32); we recompute it in
float64 and allow a factor 2 for the different summation order of our recomputation.
Its forward error is then bounded by ``2 * kappa_inf(A) * backward error`` (Higham,
*Accuracy and Stability*, Thm 7.2, to first order); we check ``4 *``. A system that fell
back was solved by an FP64 LU, whose backward error is at most ``c n eps`` with a small
growth factor for these matrices; we check ``n * eps``.
"""

import numpy as np
import pytest

import blasfast.solvers as bs
from blasfast import LinAlgError
from conftest import to_numpy

EPS = {np.dtype(np.float64): 2.0**-53, np.dtype(np.float32): 2.0**-24}
N = 150   # > the block size 64, so the low-precision trailing updates happen


pytestmark = pytest.mark.usefixtures("single_threaded_blas")


def backward_error(a, x, b):
    a, x, b = (to_numpy(v).astype(np.float64) for v in (a, x, b))
    if x.ndim == a.ndim - 1:
        x, b = x[..., None], b[..., None]
    r = b - a @ x
    anorm = np.abs(a).sum(axis=-1).max(axis=-1)[..., None]
    # divided in turn, not by the product: ||A|| ||x|| overflows for a badly scaled system
    # (diag(1e300, 1e-300)), which would make the error 0 and the test vacuous
    return (np.abs(r).max(axis=-2) / anorm / np.abs(x).max(axis=-2)).max(axis=-1)


def assert_solved(a, x, b, info):
    """Every system converged to the dsgesv test or fell back (with a reason)."""
    ber = np.atleast_1d(backward_error(a, x, b))
    st = np.atleast_1d(info.status)
    thr = np.atleast_1d(info.threshold)
    n = a.shape[-1]
    eps = EPS[np.dtype(x.dtype)]
    assert set(st) <= {"converged", "fell back"}, info.summary()
    conv = st == "converged"
    assert np.all(ber[conv] <= 2 * thr[conv]), (ber, thr)
    assert np.all(ber[~conv] <= n * eps), ber
    assert all(np.atleast_1d(info.reason)[~conv]), "a fallback without a reason"
    assert np.all(np.atleast_1d(info.fell_back) == ~conv)
    assert np.all(np.atleast_1d(info.iter_code)[conv] == np.atleast_1d(info.iterations)[conv])
    assert np.all(np.isin(np.atleast_1d(info.iter_code)[~conv], [-2, -3, -31]))


@pytest.mark.parametrize("factor", ["float16", "bfloat16", "tf32", "float32", "float64"])
@pytest.mark.parametrize("kind", bs.KINDS)
def test_well_conditioned_families_converge(xp, rng, kind, factor):
    a = bs.generate_matrix(N, kind, 1e2, rng=rng)
    x_true = rng.standard_normal(N)
    b = a @ x_true
    x, info = bs.solve(xp.asarray(a), xp.asarray(b), factor=factor, return_info=True)
    assert type(x) is type(xp.asarray(a)) and x.dtype == np.float64 and x.shape == (N,)
    assert info.status == "converged", info.summary()
    assert_solved(a, x, b, info)
    kappa = np.linalg.cond(a, np.inf)
    fwd = np.abs(to_numpy(x) - x_true).max() / np.abs(x_true).max()
    assert fwd <= 4 * kappa * float(info.threshold)
    assert info.factor == factor and info.iterations <= 20


@pytest.mark.parametrize("factor", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("kind", ["arithmetic", "geometric", "cluster0", "cluster1", "logrand"])
@pytest.mark.parametrize("cond", [1e6, 1e12])
def test_ill_conditioned_families_converge_or_fall_back(xp, rng, kind, cond, factor):
    a = bs.generate_matrix(N, kind, cond, rng=rng)
    b = rng.standard_normal((N, 2))
    x, info = bs.solve(xp.asarray(a), xp.asarray(b), factor=factor, return_info=True)
    assert x.shape == (N, 2)
    assert_solved(a, x, b, info)
    ref = np.linalg.solve(a, b)    # as accurate as an FP64 LU gets: compare with it
    err = np.abs(to_numpy(x) - ref).max() / np.abs(ref).max()
    assert err <= 4 * np.linalg.cond(a, np.inf) * N * EPS[np.dtype(np.float64)]


def test_ir_history_decreases_and_counts(rng):
    a = bs.generate_matrix(N, "geometric", 10.0, rng=rng)
    b = rng.standard_normal(N)
    x, info = bs.solve(a, b, refine="ir", return_info=True)
    h = info.history
    assert h.shape == (int(info.iterations) + 1,) and info.method == "ir"
    assert np.all(np.diff(h) < 0) and h[-1] <= info.threshold < h[-2]
    assert info.gmres_iterations == 0 and info.iter_code == info.iterations


def test_gmres_ir_and_the_auto_switch(rng):
    a = bs.generate_matrix(N, "cluster1", 1e8, rng=rng)
    b = rng.standard_normal(N)
    x, ir = bs.solve(a, b, refine="ir", return_info=True)
    assert ir.status == "fell back" and ir.iter_code == -31       # kappa * u16 >> 1
    assert "IR did not converge" in ir.reason and "FP64 fallback" in ir.reason
    x, gm = bs.solve(a, b, refine="gmres", return_info=True)
    assert gm.status == "converged" and gm.method == "gmres" and gm.gmres_iterations > 0
    assert_solved(a, x, b, gm)
    x, auto = bs.solve(a, b, refine="auto", return_info=True)
    assert auto.status == "converged" and auto.method == "ir->gmres"
    assert_solved(a, x, b, auto)


def test_stacks_and_multiple_right_hand_sides(xp, rng):
    a = np.stack([bs.generate_matrix(70, "arithmetic", c, rng=rng) for c in (10, 1e3, 1e5)])
    b = rng.standard_normal((3, 70, 4))
    x, info = bs.solve(xp.asarray(a), xp.asarray(b), return_info=True)
    assert x.shape == (3, 70, 4) and info.status.shape == (3,)
    assert_solved(a, x, b, info)
    xv = bs.solve(xp.asarray(a), xp.asarray(b[..., 0]))       # a stack of vectors
    assert xv.shape == (3, 70)
    assert np.all(backward_error(a, xv, b[..., 0]) <= 2 * info.threshold)
    xb = bs.solve(xp.asarray(a[0]), xp.asarray(b[:, :, :2]))   # one matrix, broadcast
    assert xb.shape == (3, 70, 2)
    assert np.all(backward_error(np.broadcast_to(a[0], (3, 70, 70)), xb, b[:, :, :2])
                  <= 2 * info.threshold[0])


def _bad_stack(rng):
    a = np.stack([bs.generate_matrix(80, "geometric", 100.0, rng=rng) for _ in range(4)])
    a[1, :, 5] = 0.0                     # exactly singular
    a[2, 3, 7] = np.nan                  # NaN input
    return a, rng.standard_normal((4, 80))


def test_stack_with_bad_matrices_warns_and_reports_per_system(xp, rng):
    a, b = _bad_stack(rng)
    with pytest.warns(bs.LinAlgWarning, match="2 of 4 systems failed"):
        x, info = bs.solve(xp.asarray(a), xp.asarray(b), return_info=True)
    x = to_numpy(x)
    assert info.status.tolist() == ["converged", "singular", "non-finite input", "converged"]
    assert np.isnan(x[1]).all() and np.isnan(x[2]).all()
    good = [0, 3]
    assert np.all(backward_error(a[good], x[good], b[good]) <= 2 * info.threshold[good])
    assert "pivot" in info.reason[1] and "NaN" in info.reason[2]


def test_errstate_switch(xp, rng):
    a, b = _bad_stack(rng)
    a, b = xp.asarray(a), xp.asarray(b)
    with bs.errstate(linalg="raise"):
        with pytest.raises(LinAlgError, match="2 of 4 systems failed") as exc:
            bs.solve(a, b)
    assert exc.value.info.status[1] == "singular"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with bs.errstate(linalg="ignore"):
            x = bs.solve(a, b)
        assert bs.geterr() == {"linalg": "auto"}
    assert np.isnan(to_numpy(x)[1]).all()
    old = bs.seterr(linalg="warn")
    try:
        assert bs.geterr()["linalg"] == "warn"
    finally:
        bs.seterr(**old)
    with pytest.raises(ValueError, match="linalg must be one of"):
        bs.errstate(linalg="loud")


@pytest.mark.parametrize("factor", ["float16", "float32", "float64"])
def test_single_singular_or_nan_system_raises(xp, rng, factor):
    a = rng.standard_normal((N, N))
    a[:, 3] = 0.0                                       # a zero column: exactly singular
    b = rng.standard_normal(N)
    with pytest.raises(LinAlgError, match="singular"):
        bs.solve(xp.asarray(a), xp.asarray(b), factor=factor)
    with pytest.raises(LinAlgError, match="singular"):
        bs.solve(xp.zeros((5, 5)), xp.ones(5), factor=factor)
    b[4] = np.inf
    with pytest.raises(LinAlgError, match="NaN or Inf"):
        bs.solve(xp.asarray(rng.standard_normal((N, N))), xp.asarray(b), factor=factor)


@pytest.mark.parametrize("factor", ["float16", "float64"])
def test_numerically_singular_matrix_raises_not_nan(xp, factor):
    # [[1, 1], [1, 1 + 2**-52]] has kappa_inf = 2**54 > 1/eps, exactly representable;
    # b along its small singular vector gives ||A|| ||x|| / ||b|| = 2**54 as well.
    a = np.eye(N)
    a[:2, :2] = [[1.0, 1.0], [1.0, 1.0 + 2.0**-52]]
    b = np.zeros(N)
    b[:2] = [1.0, -1.0]
    with pytest.raises(LinAlgError, match="singular") as exc:
        bs.solve(xp.asarray(a), xp.asarray(b), factor=factor)
    assert exc.value.info.status == "singular"


def test_zero_diagonal_needs_pivoting(xp, rng):
    a = bs.generate_matrix(N, "arithmetic", 100.0, rng=rng)
    perm = np.roll(np.arange(N), 1)
    a = a[perm]
    a[np.arange(N), np.arange(N)] = 0.0                  # no pivot on the diagonal
    b = rng.standard_normal(N)
    x, info = bs.solve(xp.asarray(a), xp.asarray(b), return_info=True)
    assert_solved(a, x, b, info)


def test_overflow_prone_matrix_is_scaled_into_fp16_range(xp, rng):
    a = 1e6 * bs.generate_matrix(N, "geometric", 1e3, rng=rng)    # |a| up to ~1e5 > 65504
    a[0] *= 1e6                                                    # badly scaled row
    b = rng.standard_normal(N)
    x, info = bs.solve(xp.asarray(a), xp.asarray(b), return_info=True)
    assert info.status == "converged", info.summary()
    assert_solved(a, x, b, info)
    sc = info.scaling
    assert sc["method"].startswith("two-sided power-of-two") and sc["mu"] == 2.0**12
    for s in (sc["row_scale"], sc["col_scale"]):
        assert s.shape == (N,) and np.all(np.frexp(s)[0] == 0.5)   # powers of two
    scaled = sc["row_scale"][:, None] * a * sc["col_scale"]
    assert np.abs(scaled).max() < 2.0**12                          # inside FP16 range


def test_fp32_range_overflow_falls_back_with_code_minus_2(xp, rng):
    a = 1e300 * bs.generate_matrix(N, "arithmetic", 10.0, rng=rng)
    b = 1e300 * rng.standard_normal(N)
    x, info = bs.solve(xp.asarray(a), xp.asarray(b), factor="float32", return_info=True)
    assert info.status == "fell back" and info.iter_code == -2
    assert "overflow" in info.reason
    assert_solved(a, x, b, info)
    x, info = bs.solve(xp.asarray(a), xp.asarray(b), factor="float16", return_info=True)
    assert info.status == "converged"           # the FP16 path scales first


def test_no_fallback_is_an_error_not_a_silent_answer(rng):
    a = bs.generate_matrix(N, "geometric", 1e12, rng=rng)
    b = rng.standard_normal(N)
    with pytest.raises(LinAlgError, match="did not converge and fallback=False"):
        bs.solve(a, b, refine="ir", max_iter=3, fallback=False)
    with bs.errstate(linalg="ignore"):
        x, info = bs.solve(a, b, refine="ir", max_iter=3, fallback=False, return_info=True)
    assert info.status == "not converged" and not info.converged and not info.fell_back
    assert info.iter_code == -31 and np.isfinite(x).all()
    assert backward_error(a, x, b) == pytest.approx(float(info.backward_error), rel=1e-6)


def test_max_iter_and_tol(rng):
    a = bs.generate_matrix(N, "arithmetic", 1e3, rng=rng)
    b = rng.standard_normal(N)
    x, info = bs.solve(a, b, max_iter=0, return_info=True)
    assert info.iterations == 0 and info.status == "fell back" and info.iter_code == -31
    x, info = bs.solve(a, b, tol=1e-8, return_info=True)
    assert info.threshold == 1e-8 and backward_error(a, x, b) <= 2e-8
    x, full = bs.solve(a, b, return_info=True)
    assert info.iterations < full.iterations


def test_float32_working_precision(xp, rng):
    a = bs.generate_matrix(N, "geometric", 1e3, rng=rng).astype(np.float32)
    b = rng.standard_normal((N, 3)).astype(np.float32)
    x, info = bs.solve(xp.asarray(a), xp.asarray(b), return_info=True)
    assert x.dtype == np.float32
    assert info.threshold == pytest.approx(np.sqrt(N) * 2.0**-24)
    assert_solved(a, x, b, info)


def test_inputs_are_not_modified_and_overwrite_b(xp, rng):
    a = xp.asarray(bs.generate_matrix(N, "arithmetic", 10.0, rng=rng))
    b = xp.asarray(rng.standard_normal((N, 2)))
    a0, b0 = a.copy(), b.copy()
    x = bs.solve(a, b, overwrite_a=True)
    assert (to_numpy(a) == to_numpy(a0)).all() and (to_numpy(b) == to_numpy(b0)).all()
    y = bs.solve(a, b, overwrite_b=True)
    assert y is b and np.array_equal(to_numpy(b), to_numpy(x))
    assert (to_numpy(a) == to_numpy(a0)).all()


def test_empty_inputs(xp):
    x, info = bs.solve(xp.zeros((0, 0)), xp.zeros(0), return_info=True)
    assert x.shape == (0,) and bool(info.converged)
    x = bs.solve(xp.zeros((0, 4, 4)), xp.zeros((0, 4, 2)))
    assert x.shape == (0, 4, 2)


def test_argument_errors(rng):
    a, b = rng.standard_normal((4, 4)), rng.standard_normal(4)
    with pytest.raises(TypeError, match="a must have dtype"):
        bs.solve(a.astype(np.int64), b)
    with pytest.raises(TypeError, match="same dtype"):
        bs.solve(a, b.astype(np.float32))
    with pytest.raises(TypeError, match="a must have dtype"):
        bs.solve(a.astype(complex), b.astype(complex))
    with pytest.raises(ValueError, match="square"):
        bs.solve(a[:, :3], b)
    with pytest.raises(ValueError, match="n = 4 rows"):
        bs.solve(a, b[:3])
    with pytest.raises(ValueError, match="do not broadcast"):
        bs.solve(np.stack([a, a]), np.ones((3, 4, 1)))
    with pytest.raises(ValueError, match="factor must be one of"):
        bs.solve(a, b, factor="float8")
    with pytest.raises(ValueError, match="refine must be one of"):
        bs.solve(a, b, refine="cg")
    with pytest.raises(ValueError, match="max_iter"):
        bs.solve(a, b, max_iter=-1)
    with pytest.raises(ValueError, match="tol"):
        bs.solve(a, b, tol=0.0)
