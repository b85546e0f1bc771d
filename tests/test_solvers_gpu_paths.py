"""The GPU path's host-side logic, checked on the CPU with NumPy stand-ins for its kernels;
and, where a GPU is usable, the real kernels against the CPU path.

The stand-ins implement each kernel's documented contract (pointer = a view at the first
element, leading dimensions, 0-based global ``ipiv``, the ``perm`` swaps, the codes of the
fused small-system kernel) in NumPy. Running ``_lu_gpu.getrf`` / ``getrs`` and
``_small_gpu.solve_small`` through them checks the launch sequence, offsets and block
loop of the blocked LU and the fallback logic -- everything but the CUDA code itself,
which ``python -m blasfast.kernels check`` compiles and the ``gpu`` tests run.
"""

import types

import numpy as np
import pytest
import scipy.linalg

import blasfast.solvers as bs
from blasfast import _dtypes
from blasfast.solvers import _kernels as K
from blasfast.solvers import _lu_cpu, _lu_gpu, _small_gpu
from blasfast.solvers._solveinfo import STATUSES
from conftest import is_emulator, to_numpy

# ---------------------------------------------------------------- kernel stand-ins


class _Kernel:
    def __init__(self, fn, name):
        self.fn, self.name = fn, name
        self.max_dynamic_shared_size_bytes = 48 * 1024

    def __call__(self, grid, block, args, shared_mem=0):
        self.fn(self.name, *args)

    def attributes_for(self, array):
        return {"shared_size_bytes": 0, "num_regs": 64}


def _panel(name, A, lda, m, nb, rpb, koff, ipiv, perm, info, pval, pidx, rowbuf, bar):
    for j in range(nb):
        col = np.abs(A[j:m, j])
        p = j + int(np.argmax(np.where(np.isnan(col), -1, col)))
        ipiv[j] = koff + p
        if p != j:
            A[[j, p], :nb] = A[[p, j], :nb]
            perm[[j, p]] = perm[[p, j]]
        piv = A[j, j]
        if piv == 0:
            info[0] = info[0] or koff + j + 1
            continue
        with np.errstate(over="ignore", invalid="ignore"):
            A[j + 1:m, j] *= A.dtype.type(1) / piv
            A[j + 1:m, j + 1:nb] -= np.outer(A[j + 1:m, j], A[j, j + 1:nb])


def _laswp(name, A, lda, ncols, ipiv, k1, k2):
    for i in range(k1, k2):
        p = ipiv[i]
        if p != i:
            A[[i, p], :ncols] = A[[p, i], :ncols]


def _trsm(name, L, ldl, B, ldb, nb, ncols):
    l11 = np.tril(L[:nb, :nb], -1) + np.eye(nb, dtype=L.dtype)
    B[:nb, :ncols] = scipy.linalg.solve_triangular(l11, B[:nb, :ncols], lower=True,
                                                   unit_diagonal=True, check_finite=False)


def _trsv(name, LU, ld, n, y, ldx, ticket, flags):
    lower = ", true," in name
    lu = LU[:n, :n].astype(y.dtype)
    y[:n] = scipy.linalg.solve_triangular(lu, y[:n], lower=lower, unit_diagonal=lower,
                                          check_finite=False)


def _small(name, n, k, count, idx, a, b, x, max_iter, tolfac, code, iters, ber, minpiv):
    tf = np.float64 if "<double" in name else np.float32
    for s in idx[:count]:
        A, B = a[s], b[s]
        anorm = np.abs(A).sum(axis=1).max()
        with np.errstate(over="ignore"):
            af = A.astype(tf)
        if np.isinf(af).any():
            code[s], ber[s], minpiv[s], x[s] = -2, np.inf, 0.0, np.nan
            continue
        lu, piv, info = (scipy.linalg.lapack.dgetrf if tf == np.float64
                         else scipy.linalg.lapack.sgetrf)(af)
        minpiv[s] = np.abs(np.diag(lu)).min()
        if info > 0 or not np.isfinite(lu).all():
            code[s], ber[s], x[s] = -3, np.inf, np.nan
            continue
        solve = lambda v: scipy.linalg.lu_solve((lu, piv), v.astype(tf)).astype(np.float64)  # noqa
        worst, bmax, ok = 0, 0.0, True
        for j in range(k):
            xj, it, best, best_x, stall = solve(B[:, j]), 0, np.inf, None, 0
            while True:
                r = B[:, j] - A @ xj
                e = np.abs(r).max() / (anorm * np.abs(xj).max())
                if np.abs(r).max() <= tolfac * anorm * np.abs(xj).max():
                    best, best_x, conv = e, xj, True
                    break
                best, best_x, stall = (e, xj, 0) if e < best else (best, best_x, stall + 1)
                if it >= max_iter or stall >= 3 or not np.isfinite(e):
                    conv = False
                    break
                xj, it = xj + solve(r), it + 1
            x[s][:, j] = best_x
            worst, bmax, ok = max(worst, it), max(bmax, best), ok and conv
        code[s], iters[s], ber[s] = (worst if ok else -31), worst, bmax


_STANDINS = {"getrf_panel": _panel, "getrf_laswp": _laswp, "trsm_block_row": _trsm,
             "trsm_refine": _trsv, "lu_small_batched": _small}


def _gemm(a, b, c, d, alpha, beta, trans_a, trans_b, compute):
    """The GEMM launcher's contract, in NumPy (operand rounding as the tensor cores)."""
    if a.dtype in (_dtypes.float16, _dtypes.bfloat16):
        a, b = a.astype(np.float32), b.astype(np.float32)
    elif compute == "tf32":
        a, b = _dtypes.round_to_tf32(a), _dtypes.round_to_tf32(b)
    with np.errstate(over="ignore", invalid="ignore"):
        d[...] = (alpha * (a @ b) + beta * c).astype(d.dtype)


@pytest.fixture
def emulated(monkeypatch):
    np_as_cupy = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np)
                                          if not k.startswith("__")})
    monkeypatch.setattr(_lu_gpu, "_xp", lambda x: np_as_cupy)
    monkeypatch.setattr(_lu_gpu, "_fn", lambda fam, name: _Kernel(_STANDINS[fam], name))
    monkeypatch.setattr(_lu_gpu, "_device_attributes", lambda xp: {
        "MultiProcessorCount": 8, "MaxSharedMemoryPerBlockOptin": 232448,
        "MaxSharedMemoryPerMultiprocessor": 233472, "MaxBlocksPerMultiprocessor": 32,
        "MaxThreadsPerMultiProcessor": 2048, "MaxRegistersPerMultiprocessor": 65536})
    monkeypatch.setattr(_lu_gpu, "_batched_gemm_nocheck", _gemm)
    monkeypatch.setattr(_small_gpu._compile, "get_function",
                        lambda fam, name: _Kernel(_STANDINS[fam], name))
    return np_as_cupy


# ---------------------------------------------------------------- host logic, emulated

U_OP = {"float16": 2.0**-11, "bfloat16": 2.0**-8, "tf32": 2.0**-11, "float32": 0.0,
        "float64": 0.0}


@pytest.mark.parametrize("factor", ["float16", "bfloat16", "tf32", "float32", "float64"])
@pytest.mark.parametrize("n", [45, 200])            # one outer panel; four (nb = 64)
def test_blocked_getrf_launch_sequence(emulated, rng, factor, n):
    a = rng.standard_normal((n, n))
    a[np.arange(n), np.arange(n)] = 0.0             # every pivot comes from a swap
    lu, piv, perm, info, finite = _lu_gpu.getrf(a, factor)
    assert info == 0 and finite
    assert lu.dtype == (np.float64 if factor == "float64" else np.float32)
    assert np.array_equal(perm, _lu_cpu.ipiv_to_perm(piv))
    L = np.tril(lu, -1) + np.eye(n)
    U = np.triu(lu)
    u = 2.0**-53 if factor == "float64" else 2.0**-24
    bound = (n * u + 2.01 * U_OP[factor]) * np.linalg.norm(np.abs(L) @ np.abs(U))
    assert np.linalg.norm(a[perm] - L @ U) <= bound
    if factor == "float64":   # the same pivots as LAPACK's dgetrf
        assert np.array_equal(piv, scipy.linalg.lu_factor(a)[1])
    b = rng.standard_normal((n, 2))
    x = _lu_gpu.getrs(lu, perm, b)                   # FP64 arithmetic on the factors
    ref = scipy.linalg.lu_solve((lu.astype(np.float64), piv), b)
    assert np.allclose(x, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    assert np.array_equal(_lu_gpu.ipiv_to_perm(piv), perm)


def test_blocked_getrf_reports_zero_pivot_and_overflow(emulated, rng):
    a = rng.standard_normal((130, 130))
    a[:, 70] = 0.0
    *_, info, finite = _lu_gpu.getrf(a, "float32")
    assert info == 71
    big = 1e6 * rng.standard_normal((130, 130))     # FP16 updates overflow unscaled
    with np.errstate(over="ignore", invalid="ignore"):
        *_, info, finite = _lu_gpu.getrf(big, "float16")
    assert not finite


def test_small_path_statuses_and_fallback(emulated, rng):
    n, s = 12, 5
    a = np.stack([bs.generate_matrix(n, "geometric", c, rng=rng)
                  for c in (10, 1e3, 1e10, 1e10, 10)])
    a[3, :, 2] = 0.0                                  # singular
    a[4] *= 1e300                                     # beyond the FP32 range
    b = rng.standard_normal((s, n, 2))
    out = {"status": np.zeros(s, dtype=np.int8),       # codes into STATUSES
           "iter_code": np.zeros(s, dtype=np.int64), "fell_back": np.zeros(s, dtype=bool)}
    anorm = np.abs(a).sum(axis=2).max(axis=1)
    tol = np.sqrt(n) * 2.0**-53
    x, res = _small_gpu.solve_small(np, a, b, np.arange(s), out, factor="float16",
                                    max_iter=50, fallback=True, anorm=anorm, tolfac=tol,
                                    wdtype=np.float64)
    assert [STATUSES[c] for c in out["status"]] == ["converged", "converged", "fell back",
                                                    "singular", "fell back"]
    assert out["iter_code"].tolist()[2:] == [-31, -3, -2]
    assert np.isnan(x[3]).all() and "solved by the FP64 fallback" in res.reason[2]
    for i in (0, 1, 2, 4):
        r = b[i] - a[i] @ x[i]
        assert np.abs(r).max() <= 2 * tol * anorm[i] * np.abs(x[i]).max() or i in (2, 4)


@pytest.mark.parametrize("n", [20, 150])           # the fused small kernel; blocked LU
def test_solve_driver_on_the_gpu_branches(emulated, rng, n):
    """``solve``'s driver with a non-NumPy array module takes every GPU branch."""
    from blasfast.solvers import _solve as solve_mod

    a = np.stack([bs.generate_matrix(n, kind, c, rng=rng) for kind, c in
                  (("arithmetic", 10.0), ("cluster1", 1e8), ("geometric", 1e12),
                   ("arithmetic", 10.0))])
    a[3, :, 1] = 0.0
    b = rng.standard_normal((4, n, 3))
    x, out = solve_mod._solve_stacks(emulated, a, b, factor="float16", refine="auto",
                                     tol=None, max_iter=50, fallback=True,
                                     wdtype=np.dtype(np.float64))
    assert out["path"] == ("gpu-small" if n <= 64 else "gpu")
    st = [STATUSES[c] for c in out["status"]]
    assert st[0] == "converged" and st[1] in ("converged", "fell back")
    assert st[2] in ("converged", "fell back") and st[3] == "singular"
    thr = np.sqrt(n) * 2.0**-53
    for i in range(3):
        r = b[i] - a[i] @ x[i]
        ber = (np.abs(r).max(0) / (np.abs(a[i]).sum(1).max() * np.abs(x[i]).max(0))).max()
        assert ber <= (2 * thr if st[i] == "converged" else n * 2.0**-53)
    assert np.isnan(x[3]).all()


def test_kernel_table_covers_the_launchers():
    assert K.small_name("float", 64) == "gesv_small_batched<float, 64, 1>"
    assert all(K.SMALL_SPB[m] * m <= 128 for m in K.SMALL_NMAX)
    assert K.trsv_name("float", "double", True) == \
        "trsv_sync_free<float, double, true, 64, 256>"


# ---------------------------------------------------------------- the real kernels


# n below the instantiation's NMAX leaves idle rows in every system of a block; the
# emulator found their correction read unset shared memory (NaN), so no system with
# n < NMAX ever converged in FP32 and all fell back.
@pytest.mark.parametrize("factor", ["float32", "float64"])
@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 13, 16, 31, 32, 33, 64])
def test_gpu_small_kernel_against_numpy(dev, rng, n, factor):
    s = 150 if is_emulator(dev) else 3000   # several blocks of every size on the emulator
    a = rng.standard_normal((s, n, n)) + n * np.eye(n)
    b = rng.standard_normal((s, n))
    x, info = bs.solve(dev.asarray(a), dev.asarray(b), factor=factor, return_info=True)
    bad = np.flatnonzero(info.status != "converged")
    msg = f"{bad.size} of {s} not converged: " + "; ".join(
        f"#{k} {info.status[k]} code {info.iter_code[k]} iters {info.iterations[k]} "
        f"ber {info.backward_error[k]:.3e} {info.reason[k]}" for k in bad[:4])
    # LAPACK's stopping test ||r|| <= sqrt(n) eps ||A|| ||x|| sits at the rounding level of
    # the residual itself for tiny n: on the H200, 9 of 200,000 2x2 systems never met it
    # with FP32-LU refinement, 16 of 200,000 not even with an FP64 LU, and the CPU path
    # missed it on the one system checked. They fall back to FP64 and say so; the idle-row bug
    # above made every system with n < NMAX fall back.
    assert info.path == "gpu-small" and bad.size <= max(1, s // 1000), msg
    assert np.all(info.status[bad] == "fell back"), msg
    ref = np.linalg.solve(a, b[..., None])[..., 0]
    # converged means backward error <= sqrt(n) eps; cond(a) stays below ~1e2 here
    assert np.abs(to_numpy(x) - ref).max() <= 1e-12 * np.abs(ref).max()


@pytest.mark.parametrize("nan_row", [0, 1, 2])
@pytest.mark.parametrize("n,nmax", [(3, 4), (8, 8), (40, 64)])
def test_gpu_small_kernel_nan_pivot_is_a_breakdown_for_every_lane(dev, rng, n, nmax,
                                                                  nan_row):
    """A NaN in the pivot column: every lane must choose the same pivot row.

    NaN made the butterfly's ``>`` comparisons disagree between lanes, so two rows took
    the same position and a later step found no candidate (a zero pivot, reported as
    min |u_jj| = 0). Now NaN ranks as +inf: the kernel reports a breakdown with a NaN
    pivot, and the rest of the block is untouched.
    """
    s = 3
    a = rng.standard_normal((s, n, n)) + n * np.eye(n)
    a[1, nan_row, 0] = np.nan
    b = rng.standard_normal((s, n, 1))
    x = dev.asarray(np.zeros((s, n, 1)))
    code, iters = dev.asarray(np.zeros(s, np.int32)), dev.asarray(np.zeros(s, np.int32))
    ber, minpiv = dev.asarray(np.full(s, np.inf)), dev.asarray(np.zeros(s))
    _small_gpu._launch(dev, "float", nmax, dev.asarray(a), dev.asarray(b), x,
                       dev.asarray(np.arange(s, dtype=np.int64)), 50,
                       np.sqrt(n) * 2.0**-53, code, iters, ber, minpiv)
    code, minpiv, x = to_numpy(code), to_numpy(minpiv), to_numpy(x)
    assert code[1] == -3 and np.isnan(minpiv[1]) and np.isnan(x[1]).all()
    assert (code[[0, 2]] >= 0).all() and (minpiv[[0, 2]] > 0).all()
    # solve_small reads only the codes of a converged stack: a converged system's code is
    # its iteration count
    assert np.array_equal(code[[0, 2]], to_numpy(iters)[[0, 2]])
    ref = np.linalg.solve(a[[0, 2]], b[[0, 2]])
    assert np.abs(x[[0, 2]] - ref).max() <= 1e-12 * np.abs(ref).max()


@pytest.mark.parametrize("factor", ["float16", "bfloat16", "tf32", "float32", "float64"])
def test_gpu_blocked_lu_matches_cpu_bounds(dev, rng, factor):
    n = 333
    a = rng.standard_normal((n, n))
    lu, piv = bs.lu_factor(dev.asarray(a), dtype=factor)
    L = np.tril(to_numpy(lu).astype(np.float64), -1) + np.eye(n)
    U = np.triu(to_numpy(lu).astype(np.float64))
    perm = _lu_cpu.ipiv_to_perm(to_numpy(piv))
    u = 2.0**-53 if factor == "float64" else 2.0**-24
    bound = (n * u + 2.01 * U_OP[factor]) * np.linalg.norm(np.abs(L) @ np.abs(U))
    assert np.linalg.norm(a[perm] - L @ U) <= bound



def test_gpu_trsv_launches_column_ranges_within_grid_y(dev, rng, monkeypatch):
    """Right-hand sides go in gridDim.y, at most 65535 a launch; a tiny limit exercises the
    column ranges (k > 65535 used to be one launch the driver refuses)."""
    assert _lu_gpu.MAX_GRID_Y == 65535
    monkeypatch.setattr(_lu_gpu, "MAX_GRID_Y", 3)
    n, k = 70, 8                         # two row blocks of 64; three column ranges
    a = rng.standard_normal((n, n)) + n * np.eye(n)
    b = rng.standard_normal((n, k))
    lu, piv = bs.lu_factor(dev.asarray(a), dtype="float64")
    x = to_numpy(bs.lu_solve((lu, piv), dev.asarray(b)))
    ref = np.linalg.solve(a, b)
    assert np.abs(x - ref).max() <= 1e-13 * np.abs(ref).max()


def test_gpu_panel_refuses_a_grid_that_cannot_be_resident(dev, rng, monkeypatch):
    """The panel's grid-wide barrier needs every block resident: when the occupancy
    calculator says the device cannot hold the grid, the launcher raises (no hang)."""
    monkeypatch.setattr(_lu_gpu._occupancy, "blocks_per_sm", lambda *a: 0)
    with pytest.raises(RuntimeError, match="cannot be resident at once"):
        bs.lu_factor(dev.asarray(rng.standard_normal((40, 40))))


def test_occupancy_calculator_matches_the_h200_limits():
    from blasfast.kernels import _occupancy

    h200 = {"MaxBlocksPerMultiprocessor": 32, "MaxThreadsPerMultiProcessor": 2048,
            "MaxRegistersPerMultiprocessor": 65536,
            "MaxSharedMemoryPerMultiprocessor": 233472}
    assert _occupancy.blocks_per_sm(256, 0, None, h200) == 8           # threads
    assert _occupancy.blocks_per_sm(256, 0, 128, h200) == 2            # registers
    assert _occupancy.blocks_per_sm(256, 100 * 1024, 32, h200) == 2    # shared memory
    assert _occupancy.blocks_per_sm(32, 0, None, h200) == 32           # blocks
    assert _occupancy.blocks_per_sm(1024, 227 * 1024 + 1, None, h200) == 0
