"""Differential tests of ``solve`` and ``lu_factor`` + ``lu_solve`` against NumPy/SciPy in
float64.

Random problems (hypothesis): orders n from 1 up (odd, prime, and above the block size 64,
so that the low-precision trailing updates run), batch shapes with 0-, 1- and many-sized
dimensions that broadcast between ``a`` and ``b``, vector and matrix right-hand sides
(k = 0 .. 3), every operand in C order, Fortran order, a strided view or a negative-stride
view; working dtypes float32 and float64 (what ``solve`` accepts); every factor precision
and refinement; well-conditioned matrices (``G/sqrt(n) + 2.5 I`` with rows permuted, so
that pivoting happens: kappa_2 below about 10; or MAGMA's families with cond 10 .. 1e3).
Run on NumPy (the CPU path) and on the CUDA emulator (fewer, smaller problems; n = 67
takes the blocked GPU LU, smaller n the fused small-system kernel).

Each example checks the result's kind, dtype and shape, that the inputs are unmodified,
and bounds written from the unit roundoff (``u_w`` of the working precision: 2**-24
float32, 2**-53 float64; ``u_op`` of the factor's update operands: 2**-11 float16 and
TF32, 2**-8 bfloat16, 0 for float32/float64; ``gamma_n(u) = n u / (1 - n u)``):

* ``solve``: every system converged or fell back (under ``errstate('raise')``), and its
  normwise backward error ``max_j ||b_j - A x_j||_inf / (||A||_inf ||x_j||_inf)`` is at
  most ``2 sqrt(n) u_w`` (the solver's own test, ``sqrt(n) u_w``, times 2 for our
  recomputation's summation order). Against ``numpy.linalg.solve`` in float64:
  ``||x - x_ref||_inf / ||x_ref||_inf <= 4 kappa_inf(A) sqrt(n) u_w + 4 kappa_inf(A) n
  u64`` (first-order perturbation bound for the backward error above, plus the
  reference's own error).
* ``lu_factor``: ``||P A' - L U||_F <= (gamma_n(u_s) + 2.01 u_op) || |L| |U| ||_F``
  (``u_s`` the storage precision's, ``A' = diag(r) A diag(c)`` when scaled: exact powers
  of two), as ``tests/test_solvers_lu.py``.
* ``lu_solve``: the triangular solves are backward stable,
  ``||P b' - L U x'||_inf <= (2 gamma_n(u_r) + gamma_n(u_r)^2) || |L| |U| |x'| ||_inf``
  (Higham, Thm 9.4; ``u_r`` of ``result_type(lu, b)``; ``b' = r b``, ``x' = x / c``); and
  against SciPy's float64 ``lu_solve(lu_factor(A), b)``, with ``eta`` the measured
  normwise backward error of the factored matrix (``(||P A' - LU||_inf + (2 gamma_n +
  gamma_n^2) || |L||U| ||_inf) / ||A'||_inf``), ``||x - x_ref|| / ||x_ref|| <=
  2 kappa eta / (1 - kappa eta) + 4 kappa n u64`` (checked where ``kappa eta < 1/2``).
"""

import collections

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

import blasfast.solvers as bs
from blasfast.solvers import _lu_cpu
from conftest import is_emulator, to_numpy
from differential import examples, gamma, place

U64, U32 = 2.0**-53, 2.0**-24
U_W = {np.dtype(np.float32): U32, np.dtype(np.float64): U64}
U_OP = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "tf32": 2.0**-11, "float32": 0.0,
        "float64": 0.0}
FACTORS = ("float16", "bfloat16", "tf32", "float32", "float64")
LAYOUTS = ("C", "F", "strided", "negative")
SIZES = (1, 2, 3, 5, 7, 13, 31, 64, 65, 97)
SMALL_SIZES = (1, 2, 3, 5, 7, 13, 33, 67)
DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: examples run per (op, array module); printed at the end of each test (pytest -s).
COUNTS = collections.Counter()

pytestmark = pytest.mark.usefixtures("single_threaded_blas")


def _matrices(rng, batch, n, kind, cond):
    """Well-conditioned (..., n, n) float64 matrices, rows permuted (pivoting happens)."""
    out = np.empty(batch + (n, n))
    for i in np.ndindex(*batch):
        if kind == "shifted":
            m = rng.standard_normal((n, n)) / np.sqrt(n) + 2.5 * np.eye(n)
        else:
            m = bs.generate_matrix(n, kind, cond, rng=rng)
        out[i] = m[rng.permutation(n)]
    return out


@st.composite
def systems(draw, small):
    n = draw(st.sampled_from(SMALL_SIZES if small else SIZES))
    base = draw(st.lists(st.sampled_from((0, 1, 2, 3)), min_size=0, max_size=2))
    # broadcasting: each operand may have 1 where the other has the size
    a_batch = tuple(d if draw(st.booleans()) else 1 for d in base)
    b_batch = tuple(d if draw(st.booleans()) or a == 1 else 1
                    for d, a in zip(base, a_batch))
    vector = draw(st.booleans())
    k = 1 if vector else draw(st.sampled_from((0, 1, 2, 3)))
    return dict(
        n=n, a_batch=a_batch, b_batch=b_batch, vector=vector, k=k,
        dtype=draw(st.sampled_from(DTYPES)),
        factor=draw(st.sampled_from(FACTORS)),
        refine=draw(st.sampled_from(("auto", "ir", "gmres"))),
        kind=draw(st.sampled_from(("shifted", "shifted", "arithmetic", "geometric"))),
        cond=draw(st.sampled_from((10.0, 1e3))),
        layout_a=draw(st.sampled_from(LAYOUTS)), layout_b=draw(st.sampled_from(LAYOUTS)),
        seed=draw(st.integers(0, 2**32 - 1)))


def _normwise_backward_error(a, x, b):
    """(batch,) max_j ||b_j - A x_j||_inf / (||A||_inf ||x_j||_inf), float64, (..., n, k)."""
    r = b - a @ x
    anorm = np.abs(a).sum(axis=-1).max(axis=-1)[..., None]
    rn, xn = np.abs(r).max(axis=-2), np.abs(x).max(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ber = np.where(rn == 0, 0.0, rn / anorm / xn)
    return ber.max(axis=-1) if ber.shape[-1] else np.zeros(ber.shape[:-1])


def _run_solve(xp, p):
    rng = np.random.default_rng(p["seed"])
    n, k, dt = p["n"], p["k"], p["dtype"]
    a = _matrices(rng, p["a_batch"], n, p["kind"], p["cond"]).astype(dt)
    b = rng.standard_normal(p["b_batch"] + ((n,) if p["vector"] else (n, k))).astype(dt)
    da, db = place(xp, a, p["layout_a"], rng), place(xp, b, p["layout_b"], rng)
    a0, b0 = to_numpy(da).copy(), to_numpy(db).copy()
    with bs.errstate(linalg="raise"):
        x, info = bs.solve(da, db, factor=p["factor"], refine=p["refine"], return_info=True)
    batch = np.broadcast_shapes(p["a_batch"], p["b_batch"])
    want = batch + ((n,) if p["vector"] else (n, k))
    assert type(x) is type(da) and x.dtype == dt and x.shape == want, (x.shape, want, p)
    assert np.array_equal(to_numpy(da), a0) and np.array_equal(to_numpy(db), b0), p
    st_ = np.asarray(info.status).ravel().tolist()
    assert set(st_) <= {"converged", "fell back"}, (info.summary(), p)
    if x.size == 0:
        COUNTS["solve", xp.__name__] += 1
        return
    a64 = np.broadcast_to(a.astype(np.float64), batch + (n, n))
    b64 = np.broadcast_to((b[..., None] if p["vector"] else b).astype(np.float64),
                          batch + (n, k))
    x64 = to_numpy(x).astype(np.float64).reshape(batch + (n, k))
    u = U_W[dt]
    ber = _normwise_backward_error(a64, x64, b64)
    assert np.all(ber <= 2 * np.sqrt(n) * u), (ber.max(), 2 * np.sqrt(n) * u, p)
    ref = np.linalg.solve(a64, b64)
    kappa = np.linalg.cond(a64, np.inf)
    err = np.abs(x64 - ref).max(axis=(-2, -1)) / np.abs(ref).max(axis=(-2, -1))
    bound = 4 * kappa * np.sqrt(n) * u + 4 * kappa * n * U64
    assert np.all(err <= bound), (err.max(), bound.min(), p)
    COUNTS["solve", xp.__name__] += 1


@st.composite
def factorizations(draw, small):
    n = draw(st.sampled_from(SMALL_SIZES if small else SIZES))
    batch = tuple(draw(st.lists(st.sampled_from((0, 1, 2, 3)), min_size=0, max_size=2)))
    vector = draw(st.booleans())
    return dict(
        n=n, batch=batch, vector=vector,
        k=1 if vector else draw(st.sampled_from((0, 1, 3))),
        dtype=draw(st.sampled_from(DTYPES)),
        b_dtype=draw(st.sampled_from(DTYPES)),
        factor=draw(st.sampled_from((None,) + FACTORS)),
        scale=draw(st.booleans()),
        kind=draw(st.sampled_from(("shifted", "shifted", "arithmetic"))),
        layout_a=draw(st.sampled_from(LAYOUTS)), layout_b=draw(st.sampled_from(LAYOUTS)),
        seed=draw(st.integers(0, 2**32 - 1)))


def _run_lu(xp, p):
    rng = np.random.default_rng(p["seed"])
    n, batch, dt = p["n"], p["batch"], p["dtype"]
    a = _matrices(rng, batch, n, p["kind"], 10.0).astype(dt)
    b = rng.standard_normal(batch + ((n,) if p["vector"] else (n, p["k"]))).astype(
        p["b_dtype"])
    da, db = place(xp, a, p["layout_a"], rng), place(xp, b, p["layout_b"], rng)
    a0, b0 = to_numpy(da).copy(), to_numpy(db).copy()
    f = bs.lu_factor(da, dtype=p["factor"], scale=p["scale"])
    factor = p["factor"] or ("float64" if dt == np.float64 else "float32")
    storage = np.float64 if factor == "float64" else np.float32
    lu, piv = f
    assert type(lu) is type(da) and lu.dtype == storage and lu.shape == a.shape, p
    assert piv.dtype == np.int32 and piv.shape == batch + (n,), p
    x = bs.lu_solve(f, db)
    rdt = np.result_type(lu.dtype, db.dtype)
    assert type(x) is type(da) and x.dtype == rdt and x.shape == b.shape, p
    assert np.array_equal(to_numpy(da), a0) and np.array_equal(to_numpy(db), b0), p
    if a.size == 0 or x.size == 0:
        COUNTS["lu_factor+lu_solve", xp.__name__] += 1
        return
    hl, hp, hx = (to_numpy(v) for v in (lu, piv, x))
    rs = None if f.row_scale is None else to_numpy(f.row_scale)
    cs = None if f.col_scale is None else to_numpy(f.col_scale)
    us, ur = U_W[np.dtype(storage)], U_W[np.dtype(rdt)]
    g, gr = gamma(n, us), gamma(n, ur)
    for i in np.ndindex(*batch):
        ai = a[i].astype(np.float64)
        bi = (b[i][:, None] if p["vector"] else b[i]).astype(np.float64)
        xi = (hx[i][:, None] if p["vector"] else hx[i]).astype(np.float64)
        if rs is not None:
            ai = rs[i][:, None] * ai * cs[i][None, :]
            bi = rs[i][:, None] * bi
            xi = xi / cs[i][:, None]
        L = np.tril(hl[i].astype(np.float64), -1) + np.eye(n)
        U = np.triu(hl[i].astype(np.float64))
        perm = _lu_cpu.ipiv_to_perm(hp[i])
        LU = np.abs(L) @ np.abs(U)
        rec = np.linalg.norm(ai[perm] - L @ U)
        assert rec <= (g + 2.01 * U_OP[factor]) * np.linalg.norm(LU), (rec, p)
        if xi.shape[1] == 0:
            continue
        res = np.abs(bi[perm] - L @ (U @ xi)).max()
        assert res <= (2 * gr + gr**2) * (LU @ np.abs(xi)).max() * 1.01, (res, p)
        anorm = np.abs(ai).sum(axis=1).max()
        eta = (np.abs(ai[perm] - L @ U).sum(axis=1).max()
               + (2 * gr + gr**2) * LU.sum(axis=1).max()) / anorm
        kappa = np.linalg.cond(ai, np.inf)
        if kappa * eta < 0.5:
            ref = scipy.linalg.lu_solve(scipy.linalg.lu_factor(ai), bi)
            err = np.abs(xi - ref).max() / np.abs(ref).max()
            bound = 2 * kappa * eta / (1 - kappa * eta) + 4 * kappa * n * U64
            assert err <= bound, (err, bound, p)
    COUNTS["lu_factor+lu_solve", xp.__name__] += 1


def _report(op):
    rows = sorted((key, v) for key, v in COUNTS.items() if key[0] == op)
    print("\n" + "; ".join(f"{o}[{mod}]: {v}" for (o, mod), v in rows))


def test_solve_matches_numpy(xp):
    small = is_emulator(xp)

    @settings(max_examples=examples(xp))
    @given(systems(small))
    def run(p):
        _run_solve(xp, p)

    run()
    assert COUNTS["solve", xp.__name__] >= examples(xp) // 2
    _report("solve")


def test_lu_factor_and_lu_solve_match_scipy(xp):
    small = is_emulator(xp)

    @settings(max_examples=examples(xp))
    @given(factorizations(small))
    def run(p):
        _run_lu(xp, p)

    run()
    assert COUNTS["lu_factor+lu_solve", xp.__name__] >= examples(xp) // 2
    _report("lu_factor+lu_solve")


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_solve_every_factor_dtype_and_layout(xp, factor, dtype):
    """A fixed sweep so that every (factor, dtype, layout) runs whatever hypothesis draws:
    n = 67 on the emulator (the blocked GPU LU), 97 on NumPy; a broadcast stack."""
    n = 67 if is_emulator(xp) else 97
    for j, layout in enumerate(LAYOUTS):
        _run_solve(xp, dict(n=n, a_batch=(2, 1), b_batch=(1, 2), vector=j % 2 == 0,
                            k=1 if j % 2 == 0 else 2, dtype=np.dtype(dtype), factor=factor,
                            refine="auto", kind="shifted", cond=10.0, layout_a=layout,
                            layout_b=LAYOUTS[-1 - j], seed=j))


@st.composite
def stacks(draw):
    """Stacks that take the CPU path's vectorized small-system LU (``_small_cpu``: n <= 24
    and at least max(8, 4n) systems), in one or two batch dimensions, b broadcast or not."""
    from blasfast.solvers import _small_cpu

    n = draw(st.sampled_from((1, 2, 3, 5, 8, 13, 24)))
    s = max(8, 4 * n) + draw(st.integers(0, 24))
    two = draw(st.booleans())
    a_batch = (2, -(-s // 2)) if two else (s,)
    b_batch = draw(st.sampled_from((a_batch, (1,) * len(a_batch))))
    assert _small_cpu.use_for(int(np.prod(a_batch)), n)
    vector = draw(st.booleans())
    return dict(
        n=n, a_batch=a_batch, b_batch=b_batch, vector=vector,
        k=1 if vector else draw(st.sampled_from((1, 2, 3))),
        dtype=draw(st.sampled_from(DTYPES)),
        factor=draw(st.sampled_from(FACTORS)),
        refine=draw(st.sampled_from(("auto", "ir", "gmres"))),
        kind=draw(st.sampled_from(("shifted", "shifted", "arithmetic", "geometric"))),
        cond=draw(st.sampled_from((10.0, 1e3))),
        layout_a=draw(st.sampled_from(LAYOUTS)), layout_b=draw(st.sampled_from(LAYOUTS)),
        seed=draw(st.integers(0, 2**32 - 1)))


def test_solve_stacks_of_small_systems_match_numpy():
    """The CPU path's vectorized small-system LU (#15), under the bounds of
    :func:`_run_solve` (every system solved, backward error, forward error against
    ``numpy.linalg.solve``). The batch shapes above rarely reach its threshold."""
    @settings(max_examples=max(8, examples(np) // 2))
    @given(stacks())
    def run(p):
        _run_solve(np, p)

    before = COUNTS["solve", "numpy"]
    run()
    assert COUNTS["solve", "numpy"] - before >= max(8, examples(np) // 2) // 2
