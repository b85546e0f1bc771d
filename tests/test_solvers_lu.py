"""lu_factor / lu_solve, the emulated low-precision LU, scaling, GMRES and the generators.

LU is checked by reconstruction, never by comparing factors. Bound used (Higham, *Accuracy
and Stability*, Thm 9.3, plus the operand rounding of the low-precision updates): the
computed factors of the blocked LU satisfy ``P A + dA = L U`` with
``|dA| <= (gamma_n(u32) + 2 u_op + u_op^2) |L| |U|`` entrywise, where ``u_op`` is the unit
roundoff the trailing-update operands are rounded to (2**-11 float16 and TF32, 2**-8
bfloat16, 0 float32) and ``u32 = 2**-24`` that of the FP32 panel, block-row solve and
accumulation. So ``||P A - L U||_F <= (gamma_n(u32) + 2.01 u_op) || |L||U| ||_F``.
"""

import numpy as np
import pytest
import scipy.linalg

import blasfast as bf
import blasfast.solvers as bs
from blasfast import LinAlgError
from blasfast.solvers import _gmres, _lu_cpu, _scaling
from conftest import to_numpy

U_OP = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "tf32": 2.0**-11, "float32": 0.0}


pytestmark = pytest.mark.usefixtures("single_threaded_blas")


def unpack(lu, piv):
    lu, piv = to_numpy(lu).astype(np.float64), to_numpy(piv)
    n = lu.shape[-1]
    L = np.tril(lu, -1) + np.eye(n)
    U = np.triu(lu)
    return L, U, _lu_cpu.ipiv_to_perm(piv)


def assert_lu_reconstructs(a, lu, piv, factor):
    n = a.shape[-1]
    L, U, perm = unpack(lu, piv)
    err = np.linalg.norm(a[perm] - L @ U)
    gamma = n * 2.0**-24 / (1 - n * 2.0**-24)
    bound = (gamma + 2.01 * U_OP[factor]) * np.linalg.norm(np.abs(L) @ np.abs(U))
    assert err <= bound, f"||PA - LU|| = {err:.3e} above {bound:.3e}"
    # the design's normwise figure, for the record: far below u_op
    assert err / (np.linalg.norm(a) * n) <= max(U_OP[factor], 2.0**-24)
    return err


@pytest.mark.parametrize("factor", ["float16", "bfloat16", "tf32", "float32"])
@pytest.mark.parametrize("n", [50, 200])        # one panel; several blocks of 64
def test_lu_factor_reconstructs(xp, rng, factor, n):
    a = rng.standard_normal((n, n))
    lu, piv = bs.lu_factor(xp.asarray(a), dtype=factor)
    assert lu.dtype == np.float32 and piv.dtype == np.int32 and piv.shape == (n,)
    err = assert_lu_reconstructs(a, lu, piv, factor)
    if n > 64 and factor != "float32":   # the low precision really was used
        assert err > 5 * n * 2.0**-24 * np.linalg.norm(a)


def test_float64_and_float32_match_lapack(xp, rng):
    a = rng.standard_normal((120, 120))
    lu, piv = bs.lu_factor(xp.asarray(a))
    ref_lu, ref_piv = scipy.linalg.lu_factor(a)
    assert to_numpy(lu).dtype == np.float64
    assert np.array_equal(to_numpy(piv), ref_piv)
    assert np.linalg.norm(to_numpy(lu) - ref_lu) <= 1e-12 * np.linalg.norm(ref_lu)
    lu32, piv32 = bs.lu_factor(xp.asarray(a.astype(np.float32)))
    assert lu32.dtype == np.float32
    assert_lu_reconstructs(a.astype(np.float32).astype(np.float64), lu32, piv32, "float32")


def test_zero_diagonal_matrix_is_pivoted(xp, rng):
    n = 130
    a = rng.standard_normal((n, n))
    a[np.arange(n), np.arange(n)] = 0.0
    lu, piv = bs.lu_factor(xp.asarray(a), dtype="float16")
    assert_lu_reconstructs(a, lu, piv, "float16")
    assert np.any(to_numpy(piv) != np.arange(n))


def test_cpu_trailing_update_rounds_as_batched_gemm(rng):
    l21 = rng.standard_normal((90, 64)).astype(np.float32)
    u12 = (100 * rng.standard_normal((64, 70))).astype(np.float32)
    a22 = rng.standard_normal((90, 70)).astype(np.float32)
    for factor, dt in (("float16", np.float16), ("bfloat16", bf._dtypes.bfloat16)):
        mine = a22.copy()
        _lu_cpu.trailing_update(l21, u12, mine, factor)
        ref = a22.copy()
        bf.batched_gemm(l21.astype(dt), u12.astype(dt), c=ref, alpha=-1.0, beta=1.0, out=ref)
        assert np.array_equal(mine, ref)
    mine = a22.copy()
    _lu_cpu.trailing_update(l21, u12, mine, "tf32")
    ref = bf.batched_gemm(l21, u12, c=a22, alpha=-1.0, beta=1.0, compute="tf32")
    assert np.array_equal(mine, ref)


def test_lu_solve_matches_scipy_and_accepts_scipy_factors(xp, rng):
    a = rng.standard_normal((60, 60))
    b = rng.standard_normal((60, 3))
    f = bs.lu_factor(xp.asarray(a))
    x = bs.lu_solve(f, xp.asarray(b))
    ref = scipy.linalg.lu_solve(scipy.linalg.lu_factor(a), b)
    assert np.linalg.norm(to_numpy(x) - ref) <= 1e-12 * np.linalg.norm(ref)
    lu, piv = scipy.linalg.lu_factor(a)
    x2 = bs.lu_solve((xp.asarray(lu), xp.asarray(piv)), xp.asarray(b[:, 0]))
    assert x2.shape == (60,)
    assert np.linalg.norm(to_numpy(x2) - ref[:, 0]) <= 1e-12 * np.linalg.norm(ref)


def test_low_precision_lu_solve_accuracy(xp, rng):
    n = 200
    a = bs.generate_matrix(n, "geometric", 10.0, rng=rng)
    b = rng.standard_normal(n)
    f = bs.lu_factor(xp.asarray(a), dtype="float16")
    x = to_numpy(bs.lu_solve(f, xp.asarray(b)))
    assert x.dtype == np.float64           # result_type(float32 lu, float64 b)
    # one solve with an FP16-update LU: relative error ~ kappa * u16 * growth
    ref = np.linalg.solve(a, b)
    assert np.abs(x - ref).max() / np.abs(ref).max() <= 50 * 10.0 * 2.0**-11


def test_stacks_of_factors(xp, rng):
    a = rng.standard_normal((3, 2, 100, 100))
    b = rng.standard_normal((3, 2, 100))
    f = bs.lu_factor(xp.asarray(a), dtype="bfloat16")
    assert f.lu.shape == (3, 2, 100, 100) and f.piv.shape == (3, 2, 100)
    for i in np.ndindex(3, 2):
        assert_lu_reconstructs(a[i], f.lu[i], f.piv[i], "bfloat16")
    x = bs.lu_solve(f, xp.asarray(b))
    assert x.shape == (3, 2, 100)
    for i in np.ndindex(3, 2):
        xi = bs.lu_solve((f.lu[i], f.piv[i]), xp.asarray(b[i]))
        assert np.array_equal(to_numpy(x[i]), to_numpy(xi))


def test_scaled_factors_and_fp16_overflow(xp, rng):
    n = 150
    a = 1e7 * rng.standard_normal((n, n))
    with pytest.raises(LinAlgError, match="overflow.*pass scale=True"):
        bs.lu_factor(xp.asarray(a), dtype="float16")
    f = bs.lu_factor(xp.asarray(a), dtype="float16", scale=True)
    lu, piv = f                                         # still unpacks as a 2-tuple
    r, c = to_numpy(f.row_scale), to_numpy(f.col_scale)
    assert np.all(np.frexp(r)[0] == 0.5) and np.all(np.frexp(c)[0] == 0.5)
    scaled = r[:, None] * a * c
    assert np.abs(scaled).max() < _scaling.FP16_TARGET
    assert_lu_reconstructs(scaled, lu, piv, "float16")
    b = rng.standard_normal(n)
    x = to_numpy(bs.lu_solve(f, xp.asarray(b)))
    ref = np.linalg.solve(a, b)
    assert np.abs(x - ref).max() / np.abs(ref).max() < 0.5   # a low-precision solve
    import pickle
    g = pickle.loads(pickle.dumps(f)) if xp is np else f
    assert g.dtype == "float16" and g.row_scale is not None


def test_singular_factors_warn_then_lu_solve_raises(xp):
    a = np.ones((4, 4))
    with pytest.warns(bs.LinAlgWarning, match="singular"):
        f = bs.lu_factor(xp.asarray(a))
    with pytest.raises(LinAlgError, match="singular"):
        bs.lu_solve(f, xp.ones(4))


def test_lu_argument_errors(rng):
    a = rng.standard_normal((5, 5))
    with pytest.raises(ValueError, match="dtype must be one of"):
        bs.lu_factor(a, dtype="float8")
    with pytest.raises(ValueError, match="NaN or Inf"):
        bs.lu_factor(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="square"):
        bs.lu_factor(a[:4])
    f = bs.lu_factor(a)
    with pytest.raises(ValueError, match="trans=0"):
        bs.lu_solve(f, np.ones(5), trans=1)
    with pytest.raises(ValueError, match="rows"):
        bs.lu_solve(f, np.ones(4))
    a0 = a.copy()
    bs.lu_factor(a, overwrite_a=True, dtype="float16")
    assert np.array_equal(a, a0)


def test_equilibrate_powers_of_two(rng):
    a = rng.standard_normal((2, 30, 30)) * np.logspace(-30, 30, 30)[:, None]
    a[1, 4] = 0.0                                   # an all-zero row keeps scale 1 * target
    r, c = _scaling.equilibrate(np, a, 2.0**12)
    assert np.all(np.frexp(r)[0] == 0.5) and np.all(np.frexp(c)[0] == 0.5)
    s = _scaling.apply(a, r, c)
    colmax = np.abs(s).max(axis=1)
    assert np.all((colmax >= 2.0**11) & (colmax < 2.0**12))
    assert np.abs(s).max() < 2.0**12 and r[1, 4] == 2.0**12
    back = s / r[:, :, None] / c[:, None, :]
    assert np.array_equal(back, a)                   # exact: powers of two


def test_gmres_columns_are_independent_and_accurate(rng):
    n, k = 40, 3
    a = bs.generate_matrix(n, "arithmetic", 1e3, rng=rng)[None]
    r = rng.standard_normal((1, n, k))
    m_inv = np.linalg.inv(a[0] + 1e-3 * rng.standard_normal((n, n)))   # a rough preconditioner
    mv = lambda v: a @ v                                                 # noqa: E731
    pc = lambda v: m_inv @ v                                             # noqa: E731
    d, steps = _gmres.gmres(np, mv, pc, r, tau=1e-10, m=n)
    assert steps.shape == (1, k)
    for j in range(k):
        res = np.linalg.norm(r[0, :, j] - a[0] @ d[0, :, j]) / np.linalg.norm(r[0, :, j])
        assert res <= 1e-9
        dj, sj = _gmres.gmres(np, mv, pc, r[:, :, j:j + 1], tau=1e-10, m=n)
        assert sj[0, 0] == steps[0, j]
        assert np.linalg.norm(dj[0, :, 0] - d[0, :, j]) <= 1e-10 * np.linalg.norm(dj)
    zero, s0 = _gmres.gmres(np, mv, pc, np.zeros((1, n, 1)), tau=1e-6, m=5)
    assert np.all(zero == 0) and s0[0, 0] == 0


@pytest.mark.parametrize("kind", ["arithmetic", "geometric", "cluster0", "cluster1", "logrand"])
def test_generated_condition_numbers(kind):
    a = bs.generate_matrix(60, kind, 1e6, rng=3)
    sv = np.linalg.svd(a, compute_uv=False)
    assert sv[0] == pytest.approx(1.0, rel=1e-10)
    assert sv[0] / sv[-1] == pytest.approx(1e6, rel=1e-6)
    assert np.array_equal(bs.generate_matrix(60, kind, 1e6, rng=3), a)   # seeded


def test_generator_diag_dominant_and_errors():
    a = bs.generate_matrix(40, "diag_dominant", rng=1)
    off = np.abs(a).sum(axis=1) - np.abs(np.diag(a))
    assert np.all(np.abs(np.diag(a)) >= off)
    with pytest.raises(ValueError, match="kind"):
        bs.generate_matrix(4, "hilbert")
    with pytest.raises(ValueError, match="cond"):
        bs.generate_matrix(4, "geometric", 0.5)
