"""Shared benchmark helpers: CUDA-event timing, the H200 ceilings, and the figures every case
records.

GPU cases are timed with CUDA events through ``cupyx.profiler.benchmark`` (warm-up calls
first, median of the repeats); pytest-benchmark's own wall-clock table is kept for the CPU
cases and as a cross-check of the GPU ones. Every case stores in ``extra_info``: the median
time, GFLOP/s, GB/s, the arithmetic intensity, the roofline it is judged against and the
percentage of it reached, the speedup over each vendor baseline timed in the same run, and
the relative error of the result against a float64 reference.

Also here, for every GPU benchmark module: the session fixture that compiles the kernels
before anything is timed (``blasfast_warm``), PyTorch as a baseline (``torch_cuda``,
``to_torch``, ``torch_settings``), GPU random inputs and host float64 copies.

The roofline of a case is ``min(peak, intensity * bandwidth)``: the unit's peak when the
shape's arithmetic intensity (flop per byte moved, each operand read once and the result
written once) is above the ridge point, the HBM bandwidth times the intensity below it.
"""

import contextlib
import functools
import json
import os
import sys

import numpy as np
import pytest

from blasfast import _backend

# ---------------------------------------------------------------------------------------
# The ceilings of the GPU we target, H200 SXM (sm_90). Source: ../shared/DESIGN.md, "The GPU
# we target and its ceilings" (dense peaks; HBM3e peak bandwidth, about 4.3 TB/s measured
# copy). These are the vendor's peaks, not measurements.
# ---------------------------------------------------------------------------------------
H200_BANDWIDTH_GBS = 4800.0
H200_PEAK_TFLOPS = {
    "fp64_tensor": 67.0,  # DMMA; what cuBLAS DGEMM reaches for, so the FP64 roofline
    "fp64_simt": 34.0,    # FP64 FMA on CUDA cores (recorded for reference)
    "fp32": 67.0,         # FP32 FMA on CUDA cores
    "tf32": 495.0,        # tensor cores, TF32 operands, FP32 accumulation
    "fp16": 990.0,        # tensor cores, FP16 operands, FP32 accumulation
    "bf16": 990.0,        # tensor cores, BF16 operands, FP32 accumulation
}


def peak_tflops(in_dtype, compute):
    """The H200 peak (TFLOP/s) that bounds a GEMM with inputs ``in_dtype`` computed in
    ``compute`` ('float64' | 'float32' | 'tf32'), as in blasfast's precision table."""
    in_dtype = in_dtype if isinstance(in_dtype, str) else np.dtype(in_dtype).name
    if in_dtype == "float64":
        return H200_PEAK_TFLOPS["fp64_tensor"]
    if in_dtype == "float16":
        return H200_PEAK_TFLOPS["fp16"]
    if in_dtype == "bfloat16":
        return H200_PEAK_TFLOPS["bf16"]
    if compute == "tf32":
        return H200_PEAK_TFLOPS["tf32"]
    return H200_PEAK_TFLOPS["fp32"]


requires_gpu = pytest.mark.skipif(not _backend.gpu_available(),
                                  reason="no usable CUDA GPU: GPU benchmarks need CuPy and "
                                         "a device")


@pytest.fixture(scope="session")
def blasfast_warm():
    """Compile every declared kernel family once, before anything is timed (``bf.warmup``),
    so that NVRTC never lands in a measurement."""
    import importlib

    import blasfast as bf

    for mod in ("blasfast.gemm_vbatched",):  # declare optional families before warming up
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
    return bf.warmup()


@functools.lru_cache(maxsize=None)
def torch_cuda():
    """``(torch, None)`` when PyTorch imports and sees a CUDA device, else ``(None, why)``."""
    try:
        import torch
    except Exception as exc:  # ImportError, or a broken install raising at import
        return None, f"torch is not importable ({type(exc).__name__}: {exc})"
    if not torch.cuda.is_available():
        return None, "torch is installed but torch.cuda.is_available() is False"
    return torch, None


@contextlib.contextmanager
def torch_settings(torch, tf32):
    """Run torch matmuls as the comparison needs: TF32 allowed or not for FP32
    (``set_float32_matmul_precision('high'/'highest')``), FP16/BF16 reductions kept in FP32
    (blasfast's accumulation precision), and torch's stream as CuPy's current stream, the
    one the timing events are recorded on. Restores the settings on exit."""
    import cupy

    saved_precision = torch.get_float32_matmul_precision()
    mm = torch.backends.cuda.matmul
    saved = {f: getattr(mm, f) for f in ("allow_fp16_reduced_precision_reduction",
                                         "allow_bf16_reduced_precision_reduction")
             if hasattr(mm, f)}
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    for f in saved:
        setattr(mm, f, False)
    tptr = torch.cuda.current_stream().cuda_stream
    stream = (contextlib.nullcontext() if tptr == cupy.cuda.get_current_stream().ptr
              else cupy.cuda.ExternalStream(tptr))
    try:
        with stream:
            yield
    finally:
        torch.set_float32_matmul_precision(saved_precision)
        for f, v in saved.items():
            setattr(mm, f, v)


def to_torch(torch, x):
    """A torch CUDA tensor of CuPy array ``x``'s values: the same memory through DLPack
    where the dtype allows, else a copy made from the same host data."""
    try:
        return torch.from_dlpack(x)
    except Exception:
        host = x.get()
        dev = f"cuda:{x.device.id}"
        if host.dtype.name == "bfloat16":
            return torch.from_numpy(host.view(np.uint16)).to(dev).view(torch.bfloat16)
        return torch.from_numpy(np.ascontiguousarray(host)).to(dev)


def gpu_random(rng, shape, dtype):
    """Normal random numbers of ``dtype`` made on the GPU by ``rng`` (a
    ``cupy.random.Generator``); 16-bit dtypes are rounded from float32."""
    import cupy

    dtype = np.dtype(dtype)
    x = rng.standard_normal(shape, dtype=np.float64 if dtype == np.float64 else np.float32)
    if dtype.itemsize != 2:
        return x
    try:
        return x.astype(dtype)
    except Exception:  # no device-side cast to this dtype: round on the host
        return cupy.asarray(x.get().astype(dtype))


def host64(x):
    """Host float64 copy of a CuPy array (any float dtype, bfloat16 included)."""
    return np.asarray(x.get()).astype(np.float64)


def sync():
    """Wait for all work on the current device (every stream)."""
    import cupy

    cupy.cuda.Device().synchronize()


def free_gpu_memory():
    """Return CuPy's (and, when imported, torch's) cached device memory between cases."""
    import cupy

    cupy.get_default_memory_pool().free_all_blocks()
    if "torch" in sys.modules:
        torch, _ = torch_cuda()
        if torch is not None:
            torch.cuda.empty_cache()


def gpu_median_ms(fn, n_warmup=3, n_repeat=20, max_duration=1.5):
    """Median GPU time of ``fn()`` in milliseconds, measured with CUDA events on the current
    CuPy stream (``cupyx.profiler.benchmark``): ``n_warmup`` untimed calls, then up to
    ``n_repeat`` timed ones, fewer when they pass ``max_duration`` seconds."""
    from cupyx.profiler import benchmark

    res = benchmark(fn, n_warmup=n_warmup, n_repeat=n_repeat, max_duration=max_duration,
                    name=getattr(fn, "__name__", type(fn).__name__))  # partials have none
    return float(np.median(res.gpu_times)) * 1e3


def rel_error(result, reference):
    """Normwise relative error ``||result - reference|| / ||reference||``, computed in float64
    (complex128 when either is complex)."""
    result, reference = np.asarray(result), np.asarray(reference)
    wide = (np.complex128 if np.iscomplexobj(result) or np.iscomplexobj(reference)
            else np.float64)
    result, reference = result.astype(wide), reference.astype(wide)
    return float(np.linalg.norm(result - reference) / np.linalg.norm(reference))


def record(benchmark, *, ms, flops, nbytes, peak=None, bandwidth_gbs=H200_BANDWIDTH_GBS,
           baseline=None, baseline_ms=None, speedups=None, rel_error=None, **extra):
    """Store the figures of one case in pytest-benchmark's ``extra_info``.

    Parameters
    ----------
    ms : float
        Median time of one call, milliseconds.
    flops, nbytes : float
        Work of one call: flops, and bytes moved (each operand read once, the result
        written once).
    peak : float, optional
        Peak TFLOP/s of the unit (see :func:`peak_tflops`); with ``bandwidth_gbs`` it gives
        the roofline. None: no roofline is recorded.
    bandwidth_gbs : float or None
        Memory bandwidth the case is judged against (default: the H200's HBM); None for
        CPU cases (no GB/s ceiling recorded).
    baseline, baseline_ms : str, float, optional
        The primary vendor baseline and its median time in the same run; gives ``speedup``.
    speedups : dict, optional
        ``{baseline name: its ms / ms}`` for every baseline timed in the same run.
    rel_error : float, optional
        ``||D - D_ref|| / ||D_ref||`` against a float64 reference.
    **extra
        Stored as given (impl, dtype, compute, shape, batch, ...).
    """
    info = benchmark.extra_info
    seconds = ms * 1e-3
    info["median_ms"] = ms
    info["flops"] = flops
    info["bytes"] = nbytes
    info["gflops"] = flops / seconds / 1e9
    info["gbs"] = nbytes / seconds / 1e9
    info["arithmetic_intensity"] = flops / nbytes if nbytes else None
    if bandwidth_gbs is not None:
        info["bandwidth_gbs"] = bandwidth_gbs
        info["pct_of_h200_bandwidth"] = 100.0 * info["gbs"] / bandwidth_gbs
    if peak is not None and bandwidth_gbs is not None and nbytes:
        memory_bound_gflops = flops / nbytes * bandwidth_gbs
        info["roofline_peak_tflops"] = peak
        info["roofline_gflops"] = min(peak * 1e3, memory_bound_gflops)
        info["bound"] = "memory" if memory_bound_gflops < peak * 1e3 else "compute"
        info["pct_of_roofline"] = 100.0 * info["gflops"] / info["roofline_gflops"]
    if baseline is not None:
        info["baseline"] = baseline
    if baseline_ms is not None:
        info["baseline_ms"] = baseline_ms
        info["speedup"] = baseline_ms / ms
    if speedups:
        info["speedups"] = dict(speedups)
    if rel_error is not None:
        info["rel_error"] = rel_error
    info.update(extra)
    _append_case(benchmark, info)
    return info


def _append_case(benchmark, info):
    """One JSON line per recorded case to ``$BLASFAST_BENCH_JSONL`` when it is set
    (``scripts/gpu_check.py`` sets it), so that a run cut off before
    pytest-benchmark writes its JSON still leaves every finished case on disk."""
    path = os.environ.get("BLASFAST_BENCH_JSONL")
    if not path:
        return
    line = json.dumps({"test": getattr(benchmark, "fullname", None),
                       "group": getattr(benchmark, "group", None), "extra_info": info},
                      default=str)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
