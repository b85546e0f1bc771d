"""Mixed-precision solve: blasfast vs cuSOLVER (FP64 ``getrf/getrs`` through
``cupy.linalg.solve``; ``dhgesv`` / ``dxgesv`` through CuPy's low-level wrappers).

Run with ``pytest bench/bench_solve.py --benchmark-only``. GPU cases skip with a reason
where no GPU is usable. Each case stores in ``extra_info``: median time (CUDA events,
``cupyx.profiler.benchmark``), effective FP64 TFLOP/s (``2 n^3 / 3`` over the time),
speedup over ``cupy.linalg.solve`` and over ``dhgesv``, refinement iterations, and the
normwise backward error ``||b - A x||_inf / (||A||_inf ||x||_inf)`` of every solver.

Matrices: ``A = Q1 diag(sigma) Q2^T`` with Haar-random ``Q1``, ``Q2`` (QR of Gaussian
matrices, generated on the GPU and shared by both condition numbers of one size) and
geometric singular values, kappa_2 = 1e2 (well conditioned) and 1e5 (harder).
Set ``BLASFAST_BENCH_QUICK=1`` for a shorter run (n = 1024, 8192, 16384; 1e4 and 1e5
small systems). Targets (H200, issue 6): n >= 16384, kappa <= 1e4: >= 4x
``cupy.linalg.solve`` and >= 1.0x ``dhgesv`` at the FP64 backward-error test; stacked
small systems: >= 5x ``cupy.linalg.solve`` on the stack.
"""

import functools
import os

import numpy as np
import pytest

import blasfast.solvers as bs
from _timing import gpu_median_ms, record, requires_gpu

SIZES = [1024, 4096, 8192, 16384, 32768]
CONDS = [1e2, 1e5]
SMALL_N = [2, 3, 4, 8, 16, 32, 64]
SMALL_COUNTS = [10_000, 100_000, 1_000_000]
if os.environ.get("BLASFAST_BENCH_QUICK"):     # a few minutes on an H200, targets included
    SIZES, SMALL_N, SMALL_COUNTS = [1024, 8192, 16384], [2, 4, 16, 32, 64], [10_000, 100_000]


@functools.lru_cache(maxsize=1)
def _factors(n):
    import cupy

    rs = cupy.random.RandomState(n)
    q1, r1 = cupy.linalg.qr(rs.standard_normal((n, n)))
    q1 *= cupy.sign(cupy.diagonal(r1))
    del r1
    q2, r2 = cupy.linalg.qr(rs.standard_normal((n, n)))
    q2 *= cupy.sign(cupy.diagonal(r2))
    return q1, q2


def _matrix(n, cond):
    import cupy

    q1, q2 = _factors(n)
    sigma = cupy.asarray(cond ** (-np.arange(n) / (n - 1)))
    return cupy.ascontiguousarray((q1 * sigma) @ q2.T)


def _ber(a, x, b):
    import cupy

    a, x, b = a.astype(cupy.float64), x.astype(cupy.float64), b.astype(cupy.float64)
    r = b - a @ x
    return float(cupy.abs(r).max() / (cupy.abs(a).sum(axis=1).max() * cupy.abs(x).max()))


def _cusolver_irs(kind, a, b):
    """``cusolverDn<kind>gesv`` (kind 'dh', 'dx', 'ds'): returns ``(run, x)``; run()
    solves A x = b again and returns the iteration count (negative: fell back)."""
    import cupy
    from cupy_backends.cuda.libs import cusolver

    n = a.shape[0]
    handle = cupy.cuda.device.get_cusolver_handle()
    af = cupy.asfortranarray(a)
    work_a = cupy.empty_like(af)
    bf = cupy.asfortranarray(b.reshape(n, -1))
    x = cupy.empty_like(bf)
    ipiv = cupy.empty(n, dtype=np.int32)
    info = cupy.empty(1, dtype=np.int32)
    size = getattr(cusolver, f"{kind}gesv_bufferSize")
    fn = getattr(cusolver, f"{kind}gesv")
    lwork = size(handle, n, bf.shape[1], work_a.data.ptr, n, ipiv.data.ptr, bf.data.ptr, n,
                 x.data.ptr, n, 0)
    work = cupy.empty(max(1, int(lwork)), dtype=np.uint8)

    def run():
        work_a[...] = af            # cuSOLVER may overwrite A (fallback); ~1% of the time
        return fn(handle, n, bf.shape[1], work_a.data.ptr, n, ipiv.data.ptr, bf.data.ptr, n,
                  x.data.ptr, n, work.data.ptr, int(lwork), info.data.ptr)

    return run, x


def _fits(n, copies):
    import cupy

    free, _ = cupy.cuda.runtime.memGetInfo()
    return copies * n * n * 8 < 0.8 * free


@requires_gpu
@pytest.mark.parametrize("cond", CONDS)
@pytest.mark.parametrize("n", SIZES)
def test_solve_dense(benchmark, n, cond):
    import cupy

    if not _fits(n, 8):
        pytest.skip(f"n = {n} does not fit in GPU memory with the baselines")
    benchmark.group = f"solve dense kappa={cond:.0e}"
    a = _matrix(n, cond)
    b = cupy.asarray(np.random.default_rng(n).standard_normal(n))
    bs.solve(a, b)                                   # compile + warm up
    x, info = bs.solve(a, b, return_info=True)
    repeat = 3 if n >= 16384 else 10
    ms = gpu_median_ms(lambda: bs.solve(a, b), n_warmup=1, n_repeat=repeat)
    base_ms = gpu_median_ms(lambda: cupy.linalg.solve(a, b), n_warmup=1, n_repeat=repeat)
    xr = cupy.linalg.solve(a, b)
    extra = {}
    for kind in ("dh", "dx"):
        try:
            run, xk = _cusolver_irs(kind, a, b)
            iters = int(run())
            extra[f"{kind}gesv_ms"] = gpu_median_ms(run, n_warmup=1, n_repeat=repeat)
            extra[f"{kind}gesv_iterations"] = iters
            extra[f"{kind}gesv_backward_error"] = _ber(a, xk[:, 0], b)
        except Exception as exc:  # library or wrapper missing: say so in the record
            extra[f"{kind}gesv_error"] = repr(exc)
    flops = 2.0 * n**3 / 3
    record(benchmark, ms=ms, flops=flops, nbytes=8.0 * n * n, baseline_ms=base_ms,
           baseline="cupy.linalg.solve (cuSOLVER dgetrf/dgetrs)", n=n, cond=cond,
           effective_fp64_tflops=flops / (ms * 1e-3) / 1e12,
           baseline_tflops=flops / (base_ms * 1e-3) / 1e12,
           status=str(info.status), iterations=int(info.iterations),
           gmres_iterations=int(info.gmres_iterations), method=str(info.method),
           backward_error=_ber(a, x, b), threshold=float(info.threshold),
           baseline_backward_error=_ber(a, xr, b),
           speedup_vs_dhgesv=(extra["dhgesv_ms"] / ms) if "dhgesv_ms" in extra else None,
           **extra)
    benchmark.pedantic(lambda: (bs.solve(a, b), cupy.cuda.get_current_stream().synchronize()),
                       rounds=2 if n >= 16384 else 5, warmup_rounds=0)


@requires_gpu
@pytest.mark.parametrize("count", SMALL_COUNTS)
@pytest.mark.parametrize("n", SMALL_N)
def test_solve_stacked_small(benchmark, n, count):
    import cupy

    if not _fits(int(np.sqrt(count)) * n, 6):
        pytest.skip("does not fit in GPU memory")
    benchmark.group = f"solve stacked small, {count} systems"
    rs = cupy.random.RandomState(n)
    a = rs.standard_normal((count, n, n)) + n * cupy.eye(n)     # kappa ~ 1e1
    b = rs.standard_normal((count, n))
    bs.solve(a, b)
    x, info = bs.solve(a, b, return_info=True)
    ms = gpu_median_ms(lambda: bs.solve(a, b), n_warmup=1, n_repeat=10)
    # NumPy 2 rules (CuPy 14): a stack of right-hand sides is (count, n, 1), not (count, n)
    base_ms = gpu_median_ms(lambda: cupy.linalg.solve(a, b[..., None]), n_warmup=1,
                            n_repeat=10)
    xr = cupy.linalg.solve(a, b[..., None])[..., 0]
    err = float(cupy.abs(x - xr).max() / cupy.abs(xr).max())
    record(benchmark, ms=ms, flops=count * 2.0 * n**3 / 3, nbytes=8.0 * count * n * (n + 2),
           baseline_ms=base_ms, baseline="cupy.linalg.solve (stacked)", rel_error=err, n=n,
           count=count, path=info.path, converged=int(np.sum(info.status == "converged")),
           max_iterations=int(np.max(info.iterations)))
    benchmark.pedantic(lambda: (bs.solve(a, b), cupy.cuda.get_current_stream().synchronize()),
                       rounds=3, warmup_rounds=0)


@pytest.mark.parametrize("factor", ["float16", "float32"])
def test_solve_cpu_path(benchmark, factor):
    """The CPU path (emulated FP16) at n = 500 next to SciPy's FP64 LU solve."""
    import scipy.linalg

    benchmark.group = "solve CPU path n=500"
    rng = np.random.default_rng(0)
    a = bs.generate_matrix(500, "geometric", 1e2, rng=rng)
    b = rng.standard_normal(500)
    x, info = bs.solve(a, b, factor=factor, return_info=True)
    benchmark.extra_info.update(status=str(info.status), iterations=int(info.iterations),
                                backward_error=float(info.backward_error))
    benchmark.extra_info["scipy_ms"] = 1e3 * min(
        _wall(lambda: scipy.linalg.solve(a, b)) for _ in range(3))
    benchmark(bs.solve, a, b, factor=factor)
    assert info.status == "converged"


def _wall(fn):
    import time

    t = time.perf_counter()
    fn()
    return time.perf_counter() - t
