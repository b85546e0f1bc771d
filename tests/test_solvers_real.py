"""The solver on the shared real matrices (SuiteSparse, n = 236 .. 4000, kappa_2 = 1.9e2 ..
1.3e12), through the API and through ``blasfast solve``.

CI time: the CLI test runs every matrix once with the defaults (``--factor float16
--refine auto``, b = A @ ones) plus the FP64 reference solve; on a 2-core CPU that is
about 25 s in all (single-threaded BLAS), dominated by tols4000 (n = 4000: the emulated
FP16 LU, ~5 s, and the FP64 reference, ~2.5 s). The API tests use the matrices with
n <= 1030 only. Skipped with a reason where ``../shared/data`` is absent.
"""

import json
import re

import numpy as np
import pytest
import scipy.io
import scipy.sparse

import blasfast.solvers as bs
from blasfast.cli import main as blasfast_main


def solve_main(argv):
    """``blasfast solve ARGS``, in process: the console script the issue names."""
    return blasfast_main(["solve", *argv])
from conftest import SHARED_DATA

MATRICES = SHARED_DATA / "matrices"
needs_data = pytest.mark.skipif(not (MATRICES / "MANIFEST.json").is_file(),
                                reason=f"shared real matrices not found at {MATRICES}")
MANIFEST = (json.loads((MATRICES / "MANIFEST.json").read_text())
            if (MATRICES / "MANIFEST.json").is_file() else [])
NAMES = [m["file"] for m in MANIFEST] or ["(no data)"]
SMALL = [m["file"] for m in MANIFEST if m["n"] <= 1030] or ["(no data)"]


pytestmark = pytest.mark.usefixtures("single_threaded_blas")


def read(name):
    m = scipy.io.mmread(MATRICES / name)
    return np.asarray(m.toarray() if scipy.sparse.issparse(m) else m, dtype=np.float64)


def entry(name):
    return next(m for m in MANIFEST if m["file"] == name)


def field(out, name):
    m = re.search(rf"^{name}: (.*)$", out, re.MULTILINE)
    assert m, f"no '{name}:' line in\n{out}"
    return m.group(1)


@needs_data
@pytest.mark.parametrize("name", NAMES)
def test_cli_solves_every_real_matrix_or_reports_the_fallback(name, capsys):
    rc = solve_main([str(MATRICES / name), "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 0, out
    status = field(out, "status")
    assert status in ("converged", "fell back"), out
    m = re.search(r"^backward error: (\S+) \(test: <= (\S+)\)$", out, re.MULTILINE)
    ber, thr = float(m.group(1)), float(m.group(2))
    n = entry(name)["n"]
    assert thr == pytest.approx(np.sqrt(n) * 2.0**-53, rel=1e-3)
    if status == "converged":
        assert ber <= 2 * thr, out     # recomputed by the CLI with NumPy: same test
    else:
        assert field(out, "reason"), out
        assert ber <= n * 2.0**-53, out
    assert int(field(out, "iterations")) <= 50
    # forward error of x against ones: no worse than 10x the FP64 LU's (MANIFEST) + kappa*eps
    fwd = float(field(out, "forward error"))
    ref = entry(name)["fp64LU_fwd_err_vs_ones"]
    assert fwd <= 10 * ref + 10 * entry(name)["cond2"] * 2.0**-53, out
    assert float(field(out, "fp64 time").split()[0]) > 0
    assert float(field(out, "time").split()[0]) > 0


@needs_data
@pytest.mark.parametrize("name", SMALL)
def test_api_on_small_real_matrices_with_manifest_figures(name):
    a = read(name)
    n = a.shape[0]
    b = a @ np.ones(n)
    x, info = bs.solve(a, b, return_info=True)
    assert info.status in ("converged", "fell back"), info.summary()
    if info.status == "converged":
        r = b - a @ x
        assert np.abs(r).max() <= 2 * info.threshold * np.abs(a).sum(1).max() * np.abs(x).max()
    # FP32-LU IR (MANIFEST's reference experiment) reached these forward errors:
    fwd = np.abs(x - 1).max()
    e = entry(name)
    assert fwd <= 10 * max(e["fp32LU_IR"]["fwd_err_vs_ones"], e["fp64LU_fwd_err_vs_ones"]) \
        + 10 * e["cond2"] * 2.0**-53


@needs_data
def test_given_right_hand_sides_multiple_columns():
    a = read("sherman1.mtx")
    b = read("sherman1_rhs1.mtx")
    b2 = np.concatenate([b, 2 * b], axis=1)
    x, info = bs.solve(a, b2, return_info=True)
    assert x.shape == b2.shape and info.status in ("converged", "fell back")
    assert np.linalg.norm(x[:, 1] - 2 * x[:, 0]) <= 1e-10 * np.linalg.norm(x[:, 1])


@needs_data
def test_cli_with_rhs_and_options(capsys):
    rc = solve_main([str(MATRICES / "e05r0000.mtx"), "--rhs",
                     str(MATRICES / "e05r0000_rhs1.mtx"), "--factor", "bfloat16",
                     "--refine", "gmres", "--device", "cpu", "--no-reference"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert field(out, "forward error") == "unknown"
    assert "factor: bfloat16, refine: gmres" in out and "fp64 time" not in out
    assert re.search(r"^method: gmres, iter code: \d+, GMRES steps: [1-9]", out, re.M)


def test_cli_errors(tmp_path, capsys):
    assert solve_main([str(tmp_path / "missing.mtx"), "--device", "cpu"]) == 1
    bad = tmp_path / "rect.mtx"
    scipy.io.mmwrite(bad, np.ones((2, 3)))
    assert solve_main([str(bad), "--device", "cpu"]) == 1
    sing = tmp_path / "sing.mtx"
    scipy.io.mmwrite(sing, np.ones((3, 3)))
    assert solve_main([str(sing), "--device", "cpu"]) == 1
    out = capsys.readouterr()
    assert "singular" in out.out and "must be square" in out.err
    assert solve_main([str(sing), "--factor", "float8"]) == 2
    assert solve_main([str(sing), "--max-iter", "-1", "--device", "cpu"]) == 2
    capsys.readouterr()
    assert solve_main(["--help"]) == 0
    assert "A @ ones" in capsys.readouterr().out


def test_cli_gpu_request_without_gpu(tmp_path, capsys):
    from blasfast import _backend

    if _backend.gpu_available():
        pytest.skip("checks the no-GPU error")
    f = tmp_path / "eye.mtx"
    scipy.io.mmwrite(f, np.eye(3))
    assert solve_main([str(f), "--device", "gpu"]) == 2
    assert "no usable CUDA GPU" in capsys.readouterr().err

