"""Regression tests of issue 13's solver defects: no wrong answer reported as solved, no
wrong reason, no crash, no refusal of an exactly solvable badly scaled system, and clear
one-line CLI errors.

Bounds: a system counts as solved when its normwise backward error
``max_j ||b_j - A x_j||_inf / (||A||_inf ||x_j||_inf)`` is at most ``sqrt(n) * eps``
(the dsgesv test the solver applies; ``eps`` = 2**-53 for float64); we recompute it in
float64 and allow a factor 2 for the summation order. Forward errors are then bounded by
``2 * kappa_inf(A) * sqrt(n) * eps`` (Higham, Thm 7.2, first order), checked with 4x.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.io

import blasfast as bf
import blasfast.solvers as bs
from blasfast import LinAlgError
from blasfast.solvers import _scaling
from blasfast.solvers.cli import main as solve_cli
from conftest import to_numpy
from test_solvers import backward_error

EPS64 = 2.0**-53
pytestmark = pytest.mark.usefixtures("single_threaded_blas")


def wilkinson(n):
    """GEPP's worst case: growth factor 2**(n-1), kappa_inf = n (well conditioned)."""
    w = np.tril(-np.ones((n, n)), -1) + np.eye(n)
    w[:, -1] = 1.0
    return w


def _solved_ok(a, x, b, info):
    """The info says solved, and the backward error confirms it (factor 2: summation)."""
    st = np.atleast_1d(info.status)
    assert set(st) <= {"converged", "fell back"}, info.summary()
    thr = np.atleast_1d(info.threshold)
    ber = np.atleast_1d(backward_error(a, x, b))
    assert np.all(ber <= 2 * thr), (ber, thr, info.summary())
    assert np.all(np.atleast_1d(info.backward_error) <= thr), info.summary()


# ------------------------------------------------------------ defect 1: failed fallback

@pytest.mark.parametrize("n,kw", [(100, {}), (100, {"factor": "float64"}),
                                  (60, {"refine": "ir"}), (100, {"factor": "float32"})])
def test_wilkinson_growth_is_solved_by_a_stable_fallback(xp, n, kw):
    """GEPP has growth 2**(n-1) on W: the FP64 LU's answer fails the backward-error test
    (0.46 at n = 100), which used to be reported as 'fell back'. The QR fallback is
    backward stable: the result must pass the same test as a converged one."""
    w = wilkinson(n)
    rng = np.random.default_rng(n)
    for x_true in (np.ones(n), rng.standard_normal(n)):
        b = w @ x_true
        x, info = bs.solve(xp.asarray(w), xp.asarray(b), return_info=True, **kw)
        _solved_ok(w, x, b, info)
        fwd = np.abs(to_numpy(x) - x_true).max() / np.abs(x_true).max()
        kappa = np.linalg.cond(w, np.inf)
        assert fwd <= 4 * kappa * float(info.threshold), (fwd, info.summary())


def test_a_fallback_that_fails_the_test_is_inaccurate_not_solved(monkeypatch):
    """With the QR stage removed, W's fallback is the FP64 LU alone: its backward error
    0.46 must give status 'inaccurate', a LinAlgError for one system, a warning for a
    stack (errstate as for 'singular'), and the best x it has."""
    from blasfast.solvers import _fallback

    monkeypatch.setattr(_fallback, "QR_STAGE", False)
    w = wilkinson(100)
    b = w @ np.random.default_rng(100).standard_normal(100)
    with pytest.raises(LinAlgError, match="inaccurate") as exc:
        bs.solve(w, b)
    info = exc.value.info
    assert info.status == "inaccurate" and not info.ok and info.fell_back
    assert info.backward_error > info.threshold and "backward error" in info.reason
    with pytest.warns(bs.LinAlgWarning, match="1 of 2 systems failed.*inaccurate"):
        x, info = bs.solve(np.stack([w, np.eye(100)]), np.stack([b, b]), return_info=True)
    assert info.status.tolist() == ["inaccurate", "converged"]
    assert np.isfinite(x).all()
    assert backward_error(w, x[0], b) == pytest.approx(float(info.backward_error[0]),
                                                       rel=1e-6)
    with bs.errstate(linalg="ignore"):
        x, info = bs.solve(w, b, return_info=True)
    assert info.status == "inaccurate"


def test_an_unattainable_tol_is_inaccurate_on_every_path(xp):
    rng = np.random.default_rng(5)
    a = bs.generate_matrix(80, "arithmetic", 10.0, rng=rng)
    b = rng.standard_normal(80)
    with pytest.raises(LinAlgError, match="inaccurate"):
        bs.solve(xp.asarray(a), xp.asarray(b), tol=1e-30)
    with bs.errstate(linalg="ignore"):
        x, info = bs.solve(xp.asarray(a), xp.asarray(b), tol=1e-30, return_info=True)
    assert info.status == "inaccurate" and info.threshold == 1e-30
    assert info.backward_error <= 80 * EPS64          # the best x is still a good one


def test_cli_exits_nonzero_for_an_inaccurate_result(tmp_path, capsys):
    f = tmp_path / "a.mtx"
    scipy.io.mmwrite(f, bs.generate_matrix(30, "arithmetic", 10.0, rng=1))
    rc = solve_cli([str(f), "--device", "cpu", "--tol", "1e-30", "--no-reference"])
    out = capsys.readouterr()
    assert rc == 1 and "status: inaccurate" in out.out


def test_cli_solves_wilkinson_and_reports_the_qr_fallback(tmp_path, capsys):
    f = tmp_path / "w.mtx"
    scipy.io.mmwrite(f, wilkinson(100))
    rc = solve_cli([str(f), "--device", "cpu", "--no-reference"])
    out = capsys.readouterr().out
    assert rc == 0, out
    fwd = float(out.split("forward error: ")[1].split()[0])
    assert fwd <= 4 * 100 * 10 * EPS64 and "FP64 fallback" in out, out


# ------------------------------------------------------------ defect 2: subnormal scaling

def test_subnormal_matrix_is_scaled_not_called_overflowing(xp):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((100, 100)) + 10 * np.eye(100)
    for scale in (1e-310, 2.0**1000, 1e-300):
        a = base * scale
        b = a @ np.ones(100)
        with warnings.catch_warnings():
            warnings.simplefilter("error")            # no ldexp overflow warning
            x, info = bs.solve(xp.asarray(a), xp.asarray(b), return_info=True)
        assert "overflow" not in info.reason, info.summary()
        fwd = np.abs(to_numpy(x) - 1).max()
        # kappa_inf(base) < 10 here; subnormal entries carry ~44 bits, so allow 1e-11
        assert fwd <= 1e-11, (scale, fwd, info.summary())
        assert backward_error(a, x, b) <= 2 * info.threshold


@pytest.mark.parametrize("stacked", [False, True], ids=["single", "stack"])
def test_matrices_below_2_to_the_minus_1024_are_solved(xp, stacked):
    """||A||_inf < 2**-1024: scaling it into [0.5, 1) would need 2**1024 (Inf in float64);
    the scale is capped at 2**1023, which still makes every entry normal. Found by review:
    an uncapped scale turned these exactly solvable systems into 'singular'."""
    a = 1e-309 * (np.eye(2) + 0.25 * np.ones((2, 2)))  # entries 1.25e-309 and 2.5e-310
    x0 = np.array([1.0, -2.0])
    b = a @ x0
    if stacked:
        a, b = a[None], b[None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")                # no overflow or invalid-value warning
        x, info = bs.solve(xp.asarray(a), xp.asarray(b), return_info=True)
    assert np.all(np.atleast_1d(info.ok)), info.summary()
    # cond_inf(A) = 2.3; b = A x0 carries subnormal rounding (~2**-1074 / 1e-309 = 5e-15)
    assert np.abs(to_numpy(x).reshape(-1) - x0).max() <= 1e-13


def test_solutions_near_the_float64_limit_are_not_called_singular(xp):
    """The singularity certificate ||B|| ||y|| / ||R b|| is evaluated as ||B|| (||y|| /
    ||R b||): ||B|| ||y|| alone overflows for ||x|| near 1e308 although kappa is 5.4.
    Found by review: this system came back 'singular' with x set to NaN."""
    a = 1e-307 * np.triu(np.ones((4, 4)))
    b = np.full(4, 15.0)
    ref = np.linalg.solve(a, b)                       # x up to 1.5e308, finite
    assert np.all(np.isfinite(ref))
    x, info = bs.solve(xp.asarray(a[None]), xp.asarray(b[None]), return_info=True)
    assert info.ok.all() and info.status[0] != "singular", info.summary()
    got = to_numpy(x)[0]
    assert np.abs(got - ref).max() <= 1e-14 * np.abs(ref).max()


@pytest.mark.parametrize("rows,cols", [(1e-310, 1.0), (1.0, 1e-310), (1e300, 1e-300),
                                       (1e-320, 1e-5), (1e306, 1.0)])
def test_equilibrate_covers_the_whole_exponent_range(rows, cols):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((1, 6, 6)) + 3 * np.eye(6)
    a[0, :3] *= rows                     # tiny or huge rows
    a[0, :, :2] *= cols                  # tiny or huge columns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r, c = _scaling.equilibrate(np, a, _scaling.FP16_TARGET)
        scaled = _scaling.apply(a, r, c)
    for s in (r, c):
        assert np.all(np.isfinite(s)) and np.all(s > 0)
        assert np.all(np.frexp(s)[0] == 0.5)                    # powers of two
    big = np.abs(scaled).max(axis=1)
    assert np.all(big < _scaling.FP16_TARGET) and np.all(big >= _scaling.FP16_TARGET / 2**12)


# ------------------------------------------------------------ defect 3: bad pivots

_PIV_SCRIPT = r"""
import os, sys
import numpy as np
import blasfast as bf
mods = [("numpy", np)]
if len(sys.argv) > 1:
    from blasfast import emulator
    mods.append(("emulator", emulator))
rng = np.random.default_rng(0)
a = rng.standard_normal((5, 5)); b = rng.standard_normal(5)
lu, piv = bf.lu_factor(a)
for name, xp in mods:
    for bad in (np.full(5, 10**6, np.int32), np.full(5, 99, np.int32),
                np.full(5, -1, np.int32), np.array([0, 1, 2, 3, 5], np.int64)):
        try:
            bf.lu_solve((xp.asarray(lu), xp.asarray(bad)), xp.asarray(b))
            print(name, "no error")
        except Exception as e:
            print(name, type(e).__name__, e)
"""


def test_lu_solve_refuses_out_of_range_pivots_without_crashing():
    from conftest import NO_EMULATOR

    args = [sys.executable, "-c", _PIV_SCRIPT] + ([] if NO_EMULATOR else ["emulator"])
    run = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]          # 139 was a segfault
    lines = run.stdout.splitlines()
    assert len(lines) == (4 if NO_EMULATOR else 8), run.stdout
    for line in lines:
        assert "ValueError lu_solve: piv" in line and "[0, 5)" in line, line


def test_lu_solve_checks_piv_dtype_and_shape(xp):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((6, 6))
    lu, piv = bf.lu_factor(a)
    lu = xp.asarray(lu)
    b = xp.asarray(rng.standard_normal(6))
    with pytest.raises(TypeError, match="lu_solve: piv must have an integer dtype"):
        bf.lu_solve((lu, xp.asarray(piv.astype(np.float64))), b)
    with pytest.raises(ValueError, match="lu_solve: piv must have shape"):
        bf.lu_solve((lu, xp.asarray(piv[:5])), b)
    x = bf.lu_solve((lu, xp.asarray(piv.astype(np.int64))), b)   # any integer dtype
    assert backward_error(a, x, to_numpy(b)) <= 6 * EPS64


def test_lu_solve_needs_a_pair():
    a = np.eye(3)
    with pytest.raises(TypeError, match=r"lu_solve: lu_and_piv must be .*\(lu, piv\)"):
        bf.lu_solve(a, np.ones(3))


# ------------------------------------------------------------ defect 4: badly scaled

def test_exactly_solvable_badly_scaled_systems_are_solved(xp):
    """diag(1, 1e-20) and diag(1e300, 1e-300) are perfectly conditioned once equilibrated:
    solved, alone or in a stack, never called singular nor returned as NaN. With the FP64
    factor x is exact (a diagonal LU); a low-precision factor rounds 1e-20 to FP32
    (relative 6e-8), and the normwise test ||r|| <= sqrt(n) eps ||A|| ||x|| accepts that
    (as dsgesv does), so there we check the test and a forward error below 2**-23."""
    cases = [np.diag([1.0, 1e-20]), np.diag([1e300, 1e-300]), np.diag([1e-300, 1.0])]
    exact = 1 / np.diagonal(np.stack(cases), 0, 1, 2)
    for factor in ("float16", "float32", "float64"):
        rtol = 4 * EPS64 if factor == "float64" else 2.0**-23
        for a, want in zip(cases, exact):
            b = np.ones(2)
            x, info = bs.solve(xp.asarray(a), xp.asarray(b), factor=factor,
                               return_info=True)
            _solved_ok(a, x, b, info)
            np.testing.assert_allclose(to_numpy(x), want, rtol=rtol)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            x, info = bs.solve(xp.asarray(np.stack(cases)), xp.asarray(np.ones((3, 2))),
                               factor=factor, return_info=True)
        _solved_ok(np.stack(cases), x, np.ones((3, 2)), info)
        np.testing.assert_allclose(to_numpy(x), exact, rtol=rtol)


def test_badly_scaled_but_well_conditioned_dense_matrix(xp):
    """Rows scaled over 600 decades: equilibrated, kappa is small; it must be solved."""
    rng = np.random.default_rng(6)
    n = 90
    d = 10.0 ** rng.uniform(-300, 300, n)
    a = d[:, None] * (rng.standard_normal((n, n)) + 10 * np.eye(n))
    x_true = rng.standard_normal(n)
    b = a @ x_true
    x, info = bs.solve(xp.asarray(a), xp.asarray(b), return_info=True)
    assert info.status in ("converged", "fell back"), info.summary()
    assert np.abs(to_numpy(x) - x_true).max() <= 1e-12 * np.abs(x_true).max()


def test_singular_to_working_precision_by_rcond(xp):
    """kappa = 2**54 > 1/eps after equilibration: on the fallback path (the FP32 LU meets
    an exactly zero pivot, as 1 + 2**-52 rounds to 1) the condition estimate calls it
    singular whatever b is."""
    n = 80
    rng = np.random.default_rng(7)
    a = np.eye(n)
    a[:2, :2] = [[1.0, 1.0], [1.0, 1.0 + 2.0**-52]]
    b = rng.standard_normal(n)
    for factor in ("float16", "float32"):
        with pytest.raises(LinAlgError, match="singular") as exc:
            bs.solve(xp.asarray(a), xp.asarray(b), factor=factor)
        assert exc.value.info.status == "singular"
        assert "reciprocal condition number" in exc.value.info.reason


def test_cli_solves_a_badly_scaled_diagonal(tmp_path, capsys):
    f = tmp_path / "d.mtx"
    scipy.io.mmwrite(f, np.diag([1e300, 1e-300]))
    rc = solve_cli([str(f), "--device", "cpu", "--no-reference"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert float(out.split("forward error: ")[1].split()[0]) <= 4 * EPS64


# ------------------------------------------------------------ defect 6: CLI errors

def _one_clean_line(capsys, rc):
    err = capsys.readouterr().err
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("blasfast solve: "), err
    return lines[0]


def test_cli_empty_matrix(tmp_path, capsys):
    f = tmp_path / "empty.mtx"
    f.write_text("%%MatrixMarket matrix array real general\n0 0\n")
    line = _one_clean_line(capsys, solve_cli([str(f), "--device", "cpu"]))
    assert "empty" in line and "0 x 0" in line


def test_cli_refuses_a_dense_size_that_cannot_fit(tmp_path, capsys):
    f = tmp_path / "huge.mtx"
    f.write_text("%%MatrixMarket matrix coordinate real general\n100000 100000 1\n1 1 2.0\n")
    line = _one_clean_line(capsys, solve_cli([str(f), "--device", "cpu"]))
    assert "100000 x 100000" in line and "GB" in line and "memory" in line


def test_cli_folder_as_matrix(tmp_path, capsys):
    line = _one_clean_line(capsys, solve_cli([str(tmp_path), "--device", "cpu"]))
    assert "is a directory" in line


def test_cli_unreadable_files_through_the_console_script(tmp_path):
    f = tmp_path / "empty.mtx"
    f.write_text("%%MatrixMarket matrix array real general\n0 0\n")
    g = tmp_path / "junk.mtx"
    g.write_text("this is not a matrix\n")
    for path in (f, g, tmp_path):
        run = subprocess.run([sys.executable, "-m", "blasfast.solvers.cli", str(path),
                              "--device", "cpu"], capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 1, run.stderr
        assert "Traceback" not in run.stderr and len(run.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------ found by the differential tests

def test_one_by_one_system_at_the_rounding_level_is_solved():
    """For n = 1 the test sqrt(n) eps ||A|| ||x|| is below the rounding level of x and of
    the residual: this system's best x has backward error 1.2 eps. The fallback accepts
    at max(sqrt(n), 2) eps (recorded in info.threshold) instead of calling it
    'inaccurate'."""
    a = np.array([[float.fromhex("0x1.6c3c1a5177674p+1")]])     # (the values found)
    b = np.array([float.fromhex("0x1.a4ab22204681fp-1")])
    x, info = bs.solve(a, b, return_info=True)
    assert info.status in ("converged", "fell back")
    assert info.backward_error <= info.threshold <= 2 * EPS64
    assert abs(x[0] - b[0] / a[0, 0]) <= 2 * EPS64 * abs(x[0])


def test_failures_in_a_two_dimensional_stack_are_named_by_their_index():
    """handle_failures indexed the statuses of a (2, 3) stack by flat index along the
    first axis (IndexError instead of the warning)."""
    rng = np.random.default_rng(8)
    a = rng.standard_normal((2, 3, 5, 5)) + 5 * np.eye(5)
    a[1, 1, :, 2] = 0.0                                     # flat index 4: singular
    with pytest.warns(bs.LinAlgWarning, match=r"1 of 6 systems failed: system \(1, 1\)"):
        x, info = bs.solve(a, rng.standard_normal((2, 3, 5)), return_info=True)
    assert info.status[1, 1] == "singular" and np.isnan(x[1, 1]).all()
    with bs.errstate(linalg="raise"), pytest.raises(LinAlgError, match=r"system \(1, 1\)"):
        bs.solve(a, rng.standard_normal((2, 3, 5)))


def test_a_solution_beyond_float64_is_inaccurate_not_singular(xp):
    """x = 1e600 is not representable: a failure named for what it is (A = 1e-300 I is
    perfectly conditioned), with no NumPy overflow warning on the way."""
    a, b = 1e-300 * np.eye(3), 1e300 * np.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(LinAlgError, match="inaccurate") as exc:
            bs.solve(xp.asarray(a), xp.asarray(b))
    assert "overflows float64" in exc.value.info.reason
