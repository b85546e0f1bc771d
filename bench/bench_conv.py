"""Convolution: blasfast Winograd F(2x2, 3x3) and im2col+GEMM vs cuDNN, on VGG-16's 3x3 layers.

Run with ``pytest bench/bench_conv.py --benchmark-only`` (GPU cases skip with a reason where
no GPU is usable; the CPU case always runs). Cases:

* forward, FP32 and FP16-in/FP32-accumulate, for VGG-16's 3x3 layer sizes -- C = K in
  {64, 128, 256, 512} at H = W in {224, 112, 56, 28, 14}, the pairs the network has -- at
  batch 16 and 64;
* dgrad and wgrad, FP32, one case per layer size (batch 16).

Each case times, in one run and on the same inputs: blasfast ``algorithm='winograd'`` (the
fused kernel for float32 forward/dgrad), ``'winograd_nonfused'`` (forward and dgrad),
blasfast ``algorithm='gemm'`` and cuDNN through ``torch.nn.functional.conv2d`` (and
``torch.nn.grad.conv2d_input/weight``) with ``cudnn.benchmark = True`` and TF32 off, where
torch is installed. Recorded in ``extra_info``: median ms (CUDA events), effective TFLOP/s
(``2 N K C R S P Q`` per call, the direct-convolution count, for every algorithm), the
speedup of Winograd over cuDNN and over our GEMM path, and each result's relative error
against a float64 reference (torch's float64 convolution, else blasfast's float64 GEMM
path).

Targets on the H200 (issue 4): FP32 forward at batch 64 >= 1.0x cuDNN FP32 (stretch 1.5x)
with relative error <= 1e-5; FP16 >= 1.0x cuDNN FP16 with relative error <= 5e-3.
"""

import functools

import numpy as np
import pytest

import blasfast  # noqa: F401  (declares the kernel families)
from blasfast import conv
from _timing import gpu_median_ms, record, requires_gpu

# VGG-16's 3x3 layers: (channels, spatial size); the first layer (C = 3) is left out.
VGG_LAYERS = [(64, 224), (128, 112), (256, 56), (512, 28), (512, 14)]
TARGET_REL_ERROR = {"float32": 1e-5, "float16": 5e-3}


@functools.lru_cache(maxsize=None)
def _torch():
    """torch with CUDA, set up for a fair cuDNN baseline, or None."""
    try:
        import torch
    except Exception:
        return None
    if not torch.cuda.is_available():
        return None
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    return torch


def _as_torch(torch, a):
    return torch.from_dlpack(a)


def _tflops(flops, ms):
    return flops / (ms * 1e-3) / 1e12


def _reference64(x, w, dy=None, direction="fprop"):
    """float64 reference on the GPU: torch's (cuDNN/native) float64 convolution when
    available, else blasfast's float64 GEMM path."""
    import cupy

    torch = _torch()
    x64 = x.astype(cupy.float64)
    w64 = w.astype(cupy.float64)
    dy64 = None if dy is None else dy.astype(cupy.float64)
    if torch is not None:
        tx, tw = _as_torch(torch, x64), _as_torch(torch, w64)
        if direction == "fprop":
            r = torch.nn.functional.conv2d(tx, tw, padding=1)
        elif direction == "dgrad":
            r = torch.nn.grad.conv2d_input(tuple(x.shape), tw, _as_torch(torch, dy64), padding=1)
        else:
            r = torch.nn.grad.conv2d_weight(tx, tuple(w.shape), _as_torch(torch, dy64),
                                            padding=1)
        return cupy.from_dlpack(r.contiguous())
    if direction == "fprop":
        return conv.conv2d(x64, w64, padding=1, algorithm="gemm")
    if direction == "dgrad":
        return conv.conv2d_dgrad(dy64, w64, x.shape, padding=1, algorithm="gemm")
    return conv.conv2d_wgrad(x64, dy64, w.shape, padding=1, algorithm="gemm")


def _rel(result, ref):
    import cupy

    r = result.astype(cupy.float64)
    return float(cupy.linalg.norm(r - ref) / cupy.linalg.norm(ref))


def _inputs(n, c, hw, dtype):
    import cupy

    rng = cupy.random.default_rng(c * 1000 + hw)
    x = rng.standard_normal((n, c, hw, hw), dtype=cupy.float32).astype(dtype)
    w = (rng.standard_normal((c, c, 3, 3), dtype=cupy.float32) / np.sqrt(9 * c)).astype(dtype)
    dy = rng.standard_normal((n, c, hw, hw), dtype=cupy.float32).astype(dtype)
    return x, w, dy


def _free():
    """Give cached device memory back between cases (CuPy's pool, and torch's)."""
    import cupy

    cupy.get_default_memory_pool().free_all_blocks()
    torch = _torch()
    if torch is not None:
        torch.cuda.empty_cache()


def _run_case(benchmark, direction, n, c, hw, dtype):
    import cupy

    _free()
    x, w, dy = _inputs(n, c, hw, dtype)
    flops = 2.0 * n * c * c * 9 * hw * hw
    calls = {}
    algos = ("winograd", "winograd_nonfused", "gemm") if direction != "wgrad" else \
        ("winograd", "gemm")   # wgrad has one Winograd implementation
    for algo in algos:
        if direction == "fprop":
            calls[algo] = functools.partial(conv.conv2d, x, w, padding=1, algorithm=algo)
        elif direction == "dgrad":
            calls[algo] = functools.partial(conv.conv2d_dgrad, dy, w, x.shape, padding=1,
                                            algorithm=algo)
        else:
            calls[algo] = functools.partial(conv.conv2d_wgrad, x, dy, w.shape, padding=1,
                                            algorithm=algo)
    torch = _torch()
    if torch is not None:
        tx, tw, tdy = (_as_torch(torch, a) for a in (x, w, dy))
        stream = cupy.cuda.ExternalStream(torch.cuda.current_stream().cuda_stream)
        if direction == "fprop":
            torch_fn = functools.partial(torch.nn.functional.conv2d, tx, tw, padding=1)
        elif direction == "dgrad":
            torch_fn = functools.partial(torch.nn.grad.conv2d_input, tuple(x.shape), tw,
                                         tdy, padding=1)
        else:
            torch_fn = functools.partial(torch.nn.grad.conv2d_weight, tx, tuple(w.shape),
                                         tdy, padding=1)

        def cudnn():
            with stream:
                return cupy.from_dlpack(torch_fn())

        calls["cudnn"] = cudnn
    ref = _reference64(x, w, dy, direction)
    info = {"direction": direction, "batch": n, "channels": c, "hw": hw,
            "dtype": np.dtype(dtype).name, "flops_direct": flops,
            "reference": "torch float64" if torch is not None else "blasfast gemm float64",
            "cudnn": "torch.nn.functional.conv2d" if torch is not None else
            "not measured (torch not importable or no CUDA)"}
    ms, err = {}, {}
    for name, fn in calls.items():
        err[name] = _rel(fn(), ref)
        ms[name] = gpu_median_ms(fn, n_warmup=2, n_repeat=10)
        info[f"{name}_ms"] = ms[name]
        info[f"{name}_tflops"] = _tflops(flops, ms[name])
        info[f"{name}_rel_error"] = err[name]
    info["winograd_speedup"] = {k: ms[k] / ms["winograd"] for k in ms if k != "winograd"}
    target = TARGET_REL_ERROR.get(np.dtype(dtype).name)
    info["error_target"] = target
    info["meets_error_target"] = err["winograd"] <= target
    if "cudnn" in ms:
        info["meets_speed_target"] = ms["winograd"] <= ms["cudnn"]
    nbytes = x.nbytes + w.nbytes + dy.nbytes   # the operands of one call, each moved once
    record(benchmark, ms=ms["winograd"], flops=flops, nbytes=nbytes,
           baseline_ms=ms.get("cudnn"), rel_error=err["winograd"], **info)
    benchmark.pedantic(lambda: (calls["winograd"](), cupy.cuda.Device().synchronize()),
                       rounds=3, warmup_rounds=1)


@requires_gpu
@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("batch", [16, 64])
@pytest.mark.parametrize("layer", VGG_LAYERS, ids=lambda l: f"C{l[0]}-{l[1]}x{l[1]}")
def test_vgg16_forward(benchmark, layer, batch, dtype):
    benchmark.group = f"conv2d VGG-16 3x3 forward {dtype}"
    _run_case(benchmark, "fprop", batch, layer[0], layer[1], np.dtype(dtype))


@requires_gpu
@pytest.mark.parametrize("direction", ["dgrad", "wgrad"])
@pytest.mark.parametrize("layer", VGG_LAYERS, ids=lambda l: f"C{l[0]}-{l[1]}x{l[1]}")
def test_vgg16_backward(benchmark, layer, direction):
    benchmark.group = f"conv2d VGG-16 3x3 {direction} float32"
    _run_case(benchmark, direction, 16, layer[0], layer[1], np.dtype("float32"))


@pytest.mark.parametrize("algorithm", ["winograd", "gemm"])
def test_conv_cpu_path(benchmark, algorithm):
    """The CPU path (NumPy + OpenBLAS): a small CNN layer, batch 16, C = K = 32, 28x28."""
    benchmark.group = "conv2d CPU path float32"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 32, 28, 28)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    y = benchmark(conv.conv2d, x, w, padding=1, algorithm=algorithm)
    ref = conv.conv2d(x.astype(np.float64), w.astype(np.float64), padding=1, algorithm="gemm")
    err = float(np.linalg.norm(y - ref) / np.linalg.norm(ref))
    benchmark.extra_info.update(rel_error=err, algorithm=algorithm,
                                flops_direct=2.0 * 16 * 32 * 32 * 9 * 28 * 28)
    assert err < 1e-5
