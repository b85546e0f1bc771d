"""Shared benchmark helpers: CUDA-event timing, the GPU's ceilings, and the figures every case
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
import dataclasses
import functools
import json
import os
import re
import sys

import numpy as np
import pytest

from blasfast import _backend

# ---------------------------------------------------------------------------------------
# The ceilings of the GPU the benchmarks run on, looked up by the device's name. Dense peaks
# (no structured sparsity) in TFLOP/s, and the peak memory bandwidth in GB/s, from NVIDIA's
# datasheets -- the vendor's peaks, not measurements:
#   H200 SXM / NVL: "NVIDIA H200 Tensor Core GPU" datasheet (2024).
#   H100 SXM / PCIe / NVL: "NVIDIA H100 Tensor Core GPU" datasheet (2023).
#   A100 40GB / 80GB, SXM and PCIe: "NVIDIA A100 Tensor Core GPU" datasheet (2021).
#   L40S: "NVIDIA L40S GPU" datasheet (2023); it gives no FP64 figure (None here).
#   GeForce RTX 4090: "NVIDIA Ada GPU Architecture" whitepaper v2.1, appendix table (FP16
#   and BF16 tensor rates with FP32 accumulation, the half rate on GeForce; FP64 at 1/64).
# The datasheets quote the tensor rates with sparsity; the dense figures are half of those.
# ``fp64`` is the FP64 tensor-core (DMMA) rate where there is one -- what cuBLAS DGEMM
# reaches for -- else the FP64 CUDA-core rate. ``fp16``/``bf16`` are tensor cores with FP32
# accumulation (blasfast's 16-bit GEMMs), ``tf32`` tensor cores with TF32 operands.
# ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GpuPeaks:
    """The vendor's peaks of one GPU model."""

    model: str
    fp64: float | None
    fp32: float
    tf32: float
    fp16: float
    bf16: float
    bandwidth_gbs: float


#: ``(regular expression searched in the device name, peaks)``, the first match wins: the
#: more specific names (H200 NVL, H100 PCIe, A100 80GB PCIe) before the general ones.
KNOWN_GPUS = (
    (r"H200 NVL", GpuPeaks("H200 NVL", 60.0, 60.0, 417.5, 835.5, 835.5, 4800.0)),
    (r"H200", GpuPeaks("H200 SXM", 67.0, 67.0, 494.5, 989.5, 989.5, 4800.0)),
    (r"H100 NVL", GpuPeaks("H100 NVL", 60.0, 60.0, 417.5, 835.5, 835.5, 3900.0)),
    (r"H100 PCIe", GpuPeaks("H100 PCIe", 51.0, 51.0, 378.0, 756.5, 756.5, 2000.0)),
    (r"H100", GpuPeaks("H100 SXM", 67.0, 67.0, 494.5, 989.5, 989.5, 3350.0)),
    (r"A100.*80GB.*PCIe|A100-PCIE-80GB",
     GpuPeaks("A100 80GB PCIe", 19.5, 19.5, 156.0, 312.0, 312.0, 1935.0)),
    (r"A100.*80GB", GpuPeaks("A100 80GB SXM", 19.5, 19.5, 156.0, 312.0, 312.0, 2039.0)),
    (r"A100", GpuPeaks("A100 40GB", 19.5, 19.5, 156.0, 312.0, 312.0, 1555.0)),
    (r"L40S", GpuPeaks("L40S", None, 91.6, 183.0, 362.05, 362.05, 864.0)),
    (r"RTX 4090", GpuPeaks("GeForce RTX 4090", 1.29, 82.6, 82.6, 165.2, 165.2, 1008.0)),
)


def peaks_for(name):
    """The :class:`GpuPeaks` of the GPU called ``name`` (as the CUDA runtime reports it,
    e.g. ``'NVIDIA H200'``), or None for a GPU not in :data:`KNOWN_GPUS`."""
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    for pattern, peaks in KNOWN_GPUS:
        if re.search(pattern, name or ""):
            return peaks
    return None


@functools.lru_cache(maxsize=None)
def device_properties():
    """``(name, L2 bytes)`` of the current CUDA device, from
    ``cupy.cuda.runtime.getDeviceProperties``; ``(None, 0)`` where there is none."""
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    except Exception:
        return None, 0
    name = props.get("name")
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    return name, int(props.get("l2CacheSize", 0) or 0)


def device_peaks():
    """The peaks of the current device, or None (no device, or one not in the table)."""
    name, _ = device_properties()
    return peaks_for(name) if name else None


def unknown_gpu():
    """What the roofline columns say on a GPU without peaks in the table."""
    name, _ = device_properties()
    return f"unknown GPU ({name})" if name else "unknown GPU"


def peak_tflops(in_dtype, compute, peaks=None):
    """The peak (TFLOP/s) that bounds a GEMM with inputs ``in_dtype`` computed in
    ``compute`` ('float64' | 'float32' | 'tf32'), as in blasfast's precision table, on
    ``peaks`` (default: the current device's); None where that GPU or figure is unknown."""
    peaks = device_peaks() if peaks is None else peaks
    if peaks is None:
        return None
    in_dtype = in_dtype if isinstance(in_dtype, str) else np.dtype(in_dtype).name
    if in_dtype == "float64":
        return peaks.fp64
    if in_dtype == "float16":
        return peaks.fp16
    if in_dtype == "bfloat16":
        return peaks.bf16
    if compute == "tf32":
        return peaks.tf32
    return peaks.fp32


def memory_bound(flops, nbytes, peak, bandwidth_gbs):
    """True when a case's arithmetic intensity is below the ridge point (``peak`` TFLOP/s
    over ``bandwidth_gbs``), or when either ceiling is unknown (then the L2 is flushed
    anyway: a flush costs time outside the measurement, never accuracy)."""
    if not peak or not bandwidth_gbs or not nbytes:
        return True
    return flops / nbytes * bandwidth_gbs < peak * 1e3


#: ``record``'s default ``bandwidth_gbs``: the current device's, from :data:`KNOWN_GPUS`.
DEVICE = "device"


requires_gpu = pytest.mark.skipif(not _backend.gpu_available(),
                                  reason="no usable CUDA GPU: GPU benchmarks need CuPy and "
                                         "a device")


@pytest.fixture(scope="session")
def blasfast_warm():
    """Compile every declared kernel family once, before anything is timed (``bf.warmup``),
    so that NVRTC never lands in a measurement (importing blasfast declares every family)."""
    import blasfast as bf

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


@contextlib.contextmanager
def cupy_tf32_compute_type():
    """CuPy as with ``CUPY_TF32=1``: CuPy reads that variable once, at the first float32
    matmul, and keeps the result as the float32 compute type
    (``cupy._core._routines_linalg.get_compute_type``); setting that compute type to
    ``COMPUTE_TYPE_TF32`` here is the same, in this process, for the duration only. In
    CuPy's sources it selects ``CUBLAS_COMPUTE_32F_FAST_TF32`` in the 2-D GEMM path
    (``tensordot_core_v11``); its batched path (``cublasGemmStridedBatchedEx`` with the
    data type as compute type) does not read it, so the benchmark records whether TF32 was
    seen (``tf32_seen``, from the error)."""
    from cupy._core import _routines_linalg as linalg

    saved = linalg.get_compute_type(np.float32)
    linalg.set_compute_type(np.float32, linalg.COMPUTE_TYPE_TF32)
    try:
        yield
    finally:
        linalg.set_compute_type(np.float32, saved)


#: cublasMath_t CUBLAS_TF32_TENSOR_OP_MATH (cublas_api.h; CuPy's wrapper names only the
#: older modes): FP32 routines may use TF32 tensor cores.
CUBLAS_TF32_TENSOR_OP_MATH = 3


@contextlib.contextmanager
def cublas_tf32_math_mode():
    """CuPy's cuBLAS handle in ``CUBLAS_TF32_TENSOR_OP_MATH`` mode (cuBLAS then runs FP32
    GEMMs whose compute type is plain FP32 -- CuPy's batched matmul -- on TF32 tensor
    cores); the previous mode is restored on exit."""
    import cupy
    from cupy_backends.cuda.libs import cublas

    handle = cupy.cuda.device.get_cublas_handle()
    saved = cublas.getMathMode(handle)
    cublas.setMathMode(handle, CUBLAS_TF32_TENSOR_OP_MATH)
    try:
        yield
    finally:
        cublas.setMathMode(handle, saved)


#: Relative error above which an FP32-output GEMM of normal random data evidently rounded
#: its inputs to TF32 (10-bit mantissa: errors near 2**-11; FP32 arithmetic stays near
#: 2**-24 * sqrt(k), below 2**-17 for k <= 1024).
TF32_ERROR_FLOOR = 2.0**-17


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


_FLUSH = {}   # device id -> the buffer written between timed repeats


def flush_l2():
    """Write a device buffer twice the size of the L2 cache (``l2CacheSize`` of
    ``cupy.cuda.runtime.getDeviceProperties``) on the current stream, so that the next call
    finds none of its operands in L2. Asynchronous."""
    import cupy

    dev = cupy.cuda.Device().id
    buf = _FLUSH.get(dev)
    if buf is None:
        _, l2 = device_properties()
        buf = _FLUSH[dev] = cupy.empty(max(2 * l2, 1 << 20) // 4, dtype=np.float32)
    buf.fill(1.0)


def gpu_median_ms(fn, n_warmup=3, n_repeat=20, max_duration=1.5, flush=False):
    """Median GPU time of ``fn()`` in milliseconds, measured with CUDA events on the current
    CuPy stream: ``n_warmup`` untimed calls, then up to ``n_repeat`` timed ones, fewer when
    they pass ``max_duration`` seconds.

    ``flush=True`` (memory-bound cases): the L2 cache is flushed before every timed call
    (:func:`flush_l2`), outside the events, so that no repeat reads what the previous one
    left in L2. Otherwise ``cupyx.profiler.benchmark`` times the calls back to back."""
    import cupy

    if not flush:
        from cupyx.profiler import benchmark

        res = benchmark(fn, n_warmup=n_warmup, n_repeat=n_repeat, max_duration=max_duration,
                        name=getattr(fn, "__name__", type(fn).__name__))  # partials have none
        return float(np.median(res.gpu_times)) * 1e3
    import time

    for _ in range(n_warmup):
        fn()
    stream = cupy.cuda.get_current_stream()
    stream.synchronize()
    times, t0 = [], time.perf_counter()
    for _ in range(n_repeat):
        flush_l2()
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, end))
        if time.perf_counter() - t0 > max_duration:
            break
    return float(np.median(times))


def rel_error(result, reference):
    """Normwise relative error ``||result - reference|| / ||reference||``, computed in float64
    (complex128 when either is complex)."""
    result, reference = np.asarray(result), np.asarray(reference)
    wide = (np.complex128 if np.iscomplexobj(result) or np.iscomplexobj(reference)
            else np.float64)
    result, reference = result.astype(wide), reference.astype(wide)
    return float(np.linalg.norm(result - reference) / np.linalg.norm(reference))


def record(benchmark, *, ms, flops, nbytes, peak=None, bandwidth_gbs=DEVICE,
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
    bandwidth_gbs : float, None or DEVICE
        Memory bandwidth the case is judged against: by default (:data:`DEVICE`) the current
        GPU's peak from :data:`KNOWN_GPUS` -- on a GPU not in the table no bandwidth and no
        roofline are recorded, and ``roofline`` says ``'unknown GPU (<name>)'``; without a
        device, none either. None for CPU cases (no GB/s ceiling recorded).
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
    if isinstance(bandwidth_gbs, str) and bandwidth_gbs == DEVICE:
        name, _ = device_properties()
        peaks = peaks_for(name) if name else None
        bandwidth_gbs = peaks.bandwidth_gbs if peaks else None
        if name:                       # no device at all (a CPU case): no GPU figures
            info["gpu"] = name
            if peaks is None:
                info["roofline"] = unknown_gpu()
            else:
                info["gpu_model"] = peaks.model
    if bandwidth_gbs is not None:
        info["bandwidth_gbs"] = bandwidth_gbs
        info["pct_of_bandwidth"] = 100.0 * info["gbs"] / bandwidth_gbs
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
