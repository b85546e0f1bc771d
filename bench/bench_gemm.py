"""Batched GEMM: blasfast vs cuBLAS (``cupy.matmul``, strided batched) on square stacks.

Run with ``pytest bench --benchmark-only``. GPU cases skip with a reason where no GPU is
usable; the CPU case measures the Python overhead of the CPU path over ``numpy.matmul``.
The batch is sized so that one call moves about 256 MB (A, B read once and D written once).
"""

import numpy as np
import pytest

import blasfast as bf
from _timing import gpu_median_ms, record, requires_gpu

SIZES = [4, 16, 32, 64, 128, 256]
MOVED_BYTES = 256 * 2**20


def _batch(n, itemsize):
    return max(1, MOVED_BYTES // (3 * n * n * itemsize))


def _rel_error(d, a, b):
    ref = np.matmul(a.get().astype(np.float64), b.get().astype(np.float64))
    return float(np.linalg.norm(d.get() - ref) / np.linalg.norm(ref))


@requires_gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", SIZES)
def test_batched_gemm_square(benchmark, n, dtype):
    import cupy

    benchmark.group = f"batched_gemm square {dtype}"
    rng = np.random.default_rng(n)
    batch = _batch(n, np.dtype(dtype).itemsize)
    a = cupy.asarray(rng.standard_normal((batch, n, n)).astype(dtype))
    b = cupy.asarray(rng.standard_normal((batch, n, n)).astype(dtype))
    d = cupy.empty_like(a)
    run = lambda: bf.batched_gemm(a, b, out=d)  # noqa: E731
    run()
    err = _rel_error(d, a, b)
    ms = gpu_median_ms(run)
    base_ms = gpu_median_ms(lambda: cupy.matmul(a, b))
    record(benchmark, ms=ms, flops=2.0 * batch * n**3, nbytes=3 * a.nbytes,
           baseline_ms=base_ms, rel_error=err, batch=batch, n=n, baseline="cupy.matmul")
    benchmark.pedantic(lambda: (run(), cupy.cuda.get_current_stream().synchronize()),
                       rounds=10, warmup_rounds=1)


@pytest.mark.parametrize("n", [8, 64])
def test_batched_gemm_cpu_path_overhead(benchmark, n):
    benchmark.group = "batched_gemm CPU path (float64)"
    rng = np.random.default_rng(n)
    a, b = rng.standard_normal((256, n, n)), rng.standard_normal((256, n, n))
    out = benchmark(bf.batched_gemm, a, b)
    ref = np.matmul(a, b)
    benchmark.extra_info["rel_error"] = float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
    assert benchmark.extra_info["rel_error"] < 1e-13
