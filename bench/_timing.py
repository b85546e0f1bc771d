"""Shared benchmark helpers: CUDA-event timing and the figures every case records.

GPU cases are timed with CUDA events through ``cupyx.profiler.benchmark`` (warm-up first,
median of the repeats); pytest-benchmark's own wall-clock table is kept for the CPU cases
and as a cross-check. Every case stores in ``extra_info``: median time, GFLOP/s, GB/s and
the percentage of the H200's HBM bandwidth, the speedup over the vendor baseline timed in
the same run, and the relative error of the result.
"""

import numpy as np
import pytest

from blasfast import _backend

H200_BANDWIDTH_GBS = 4800.0  # HBM3e peak; judge small-matrix GEMM in GB/s against it

requires_gpu = pytest.mark.skipif(not _backend.gpu_available(),
                                  reason="no usable CUDA GPU: GPU benchmarks need CuPy and "
                                         "a device")


def gpu_median_ms(fn, n_warmup=5, n_repeat=30):
    """Median GPU time of ``fn()`` in milliseconds, measured with CUDA events."""
    from cupyx.profiler import benchmark

    res = benchmark(fn, n_warmup=n_warmup, n_repeat=n_repeat)
    return float(np.median(res.gpu_times)) * 1e3


def record(benchmark, *, ms, flops, nbytes, baseline_ms=None, rel_error=None, **extra):
    """Store the figures of one case in pytest-benchmark's ``extra_info``."""
    info = benchmark.extra_info
    info["median_ms"] = ms
    info["gflops"] = flops / (ms * 1e-3) / 1e9
    info["gbs"] = nbytes / (ms * 1e-3) / 1e9
    info["pct_of_h200_bandwidth"] = 100.0 * info["gbs"] / H200_BANDWIDTH_GBS
    if baseline_ms is not None:
        info["baseline_ms"] = baseline_ms
        info["speedup"] = baseline_ms / ms
    if rel_error is not None:
        info["rel_error"] = rel_error
    info.update(extra)
