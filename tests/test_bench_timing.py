"""bench/_timing.py and the GEMM case tables, on the CPU: the GPU's peaks looked up by its
name, what a GPU not in the table records (no roofline, "unknown GPU"), the TF32 settings
of CuPy set and restored, and the split of the GEMM cases over their three files.

The numbers in the table come from NVIDIA's datasheets (the comment above ``KNOWN_GPUS``);
these tests check the lookup and the bookkeeping, not the figures' source.
"""

import importlib.util
import pathlib
import sys
import types

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


def _load(name):
    """A module of ``bench/`` (not a package) loaded by path; its own ``from _x import``
    lines find their siblings through ``sys.path``, as under ``pytest bench``."""
    if str(BENCH) not in sys.path:
        sys.path.append(str(BENCH))
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


timing = _load("_timing")
cases = _load("_gemm_cases")


@pytest.mark.parametrize("name, model", [
    ("NVIDIA H200", "H200 SXM"),
    (b"NVIDIA H200", "H200 SXM"),                     # older CuPy: bytes
    ("NVIDIA H200 NVL", "H200 NVL"),
    ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA H100 NVL", "H100 NVL"),
    ("NVIDIA A100-SXM4-40GB", "A100 40GB"),
    ("NVIDIA A100-PCIE-40GB", "A100 40GB"),
    ("NVIDIA A100-SXM4-80GB", "A100 80GB SXM"),
    ("NVIDIA A100 80GB PCIe", "A100 80GB PCIe"),
    ("NVIDIA L40S", "L40S"),
    ("NVIDIA GeForce RTX 4090", "GeForce RTX 4090"),
])
def test_known_gpus_are_found_by_the_runtime_name(name, model):
    assert timing.peaks_for(name).model == model


@pytest.mark.parametrize("name", ["Tesla V100-SXM2-16GB", "NVIDIA GeForce RTX 3090",
                                  "NVIDIA L40", "", None])
def test_other_gpus_have_no_peaks(name):
    assert timing.peaks_for(name) is None


def test_peaks_per_precision_and_the_h200_figures():
    h200 = timing.peaks_for("NVIDIA H200")
    assert (h200.fp64, h200.fp32, h200.bandwidth_gbs) == (67.0, 67.0, 4800.0)
    assert timing.peak_tflops("float64", "float64", h200) == 67.0
    assert timing.peak_tflops("float32", "float32", h200) == 67.0
    assert timing.peak_tflops("float32", "tf32", h200) == 494.5
    assert timing.peak_tflops("float16", "float32", h200) == 989.5
    assert timing.peak_tflops("bfloat16", "float32", h200) == 989.5
    # every entry: dense tensor rates above the FP32 CUDA-core rate, 16-bit above TF32
    for _, p in timing.KNOWN_GPUS:
        assert p.fp16 >= p.tf32 >= p.fp32 > 0 and p.bf16 == p.fp16 and p.bandwidth_gbs > 500
        assert p.fp64 is None or 0 < p.fp64 <= p.fp32
    # the L40S datasheet gives no FP64 figure: no FP64 peak, so no FP64 roofline
    assert timing.peak_tflops("float64", "float64", timing.peaks_for("NVIDIA L40S")) is None


def test_without_a_device_or_on_an_unknown_one_no_peak(monkeypatch):
    monkeypatch.setattr(timing, "device_properties", lambda: (None, 0))
    assert timing.device_peaks() is None and timing.peak_tflops("float64", "float64") is None
    monkeypatch.setattr(timing, "device_properties", lambda: ("Tesla V100-SXM2-16GB", 6 << 20))
    assert timing.device_peaks() is None and timing.peak_tflops("float32", "tf32") is None
    assert timing.unknown_gpu() == "unknown GPU (Tesla V100-SXM2-16GB)"


class _Bench:
    def __init__(self):
        self.extra_info = {}


def _record(monkeypatch, device):
    monkeypatch.setattr(timing, "device_properties", lambda: device)
    monkeypatch.delenv("BLASFAST_BENCH_JSONL", raising=False)
    b = _Bench()
    peak = timing.peak_tflops("float64", "float64")
    return timing.record(b, ms=2.0, flops=4e9, nbytes=8e8, peak=peak, rel_error=1e-16)


def test_record_on_a_known_gpu_uses_its_peaks(monkeypatch):
    info = _record(monkeypatch, ("NVIDIA H100 PCIe", 50 << 20))
    assert info["gpu"] == "NVIDIA H100 PCIe" and info["gpu_model"] == "H100 PCIe"
    assert info["bandwidth_gbs"] == 2000.0 and info["roofline_peak_tflops"] == 51.0
    # intensity 5 flop/B x 2000 GB/s = 10 TFLOP/s < 51: memory-bound, 2 TFLOP/s reached
    assert info["bound"] == "memory" and info["roofline_gflops"] == pytest.approx(10_000)
    assert info["pct_of_roofline"] == pytest.approx(20.0)
    assert info["pct_of_bandwidth"] == pytest.approx(20.0) and "roofline" not in info


def test_record_on_an_unknown_gpu_says_so_instead_of_numbers(monkeypatch):
    info = _record(monkeypatch, ("Tesla V100-SXM2-16GB", 6 << 20))
    assert info["roofline"] == "unknown GPU (Tesla V100-SXM2-16GB)"
    for key in ("bandwidth_gbs", "pct_of_bandwidth", "roofline_gflops", "pct_of_roofline",
                "bound"):
        assert key not in info
    assert info["gflops"] == pytest.approx(2000.0)        # the measurement itself stays


def test_record_without_a_device_has_no_gpu_figures(monkeypatch):
    info = _record(monkeypatch, (None, 0))
    assert not {"gpu", "roofline", "bandwidth_gbs", "pct_of_roofline"} & set(info)


def test_report_shows_unknown_gpu_in_the_roofline_column(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_report", BENCH / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    info = _record(monkeypatch, ("Tesla V100-SXM2-16GB", 6 << 20))
    data = {"benchmarks": [{"group": "g", "name": "t", "stats": {"median": 2e-3},
                            "extra_info": dict(info, impl="blasfast")}]}
    (row,) = report.rows(data)
    assert report._fmt("% roofline", row["% roofline"]) == "unknown GPU (Tesla V100-SXM2-16GB)"


def test_memory_bound_is_below_the_ridge_point_or_unknown():
    assert timing.memory_bound(1e9, 1e9, 67.0, 4800.0)          # 1 flop/B << 14 flop/B
    assert not timing.memory_bound(1e12, 1e9, 67.0, 4800.0)     # 1000 flop/B
    assert timing.memory_bound(1e12, 1e9, None, 4800.0)         # unknown peak: flush
    assert timing.memory_bound(1e12, 1e9, 67.0, None)


def _fake_modules(monkeypatch, **mods):
    for name, attrs in mods.items():
        monkeypatch.setitem(sys.modules, name, types.SimpleNamespace(**attrs))


def test_cupy_tf32_compute_type_is_set_and_restored(monkeypatch):
    state = {"f": 1}        # COMPUTE_TYPE_DEFAULT, as CUPY_TF32 unset leaves it
    linalg = dict(COMPUTE_TYPE_TF32=7, get_compute_type=lambda dt: state["f"],
                  set_compute_type=lambda dt, v: state.__setitem__("f", v))
    _fake_modules(monkeypatch, **{"cupy": {}, "cupy._core": {"_routines_linalg":
                                                             types.SimpleNamespace(**linalg)}})
    with timing.cupy_tf32_compute_type():
        assert state["f"] == 7
    assert state["f"] == 1
    with pytest.raises(RuntimeError), timing.cupy_tf32_compute_type():
        raise RuntimeError("a failing baseline")
    assert state["f"] == 1


def test_cublas_tf32_math_mode_is_set_and_restored(monkeypatch):
    modes = {42: 0}
    cublas = types.SimpleNamespace(getMathMode=lambda h: modes[h],
                                   setMathMode=lambda h, m: modes.__setitem__(h, m))
    _fake_modules(monkeypatch, **{
        "cupy": {"cuda": types.SimpleNamespace(
            device=types.SimpleNamespace(get_cublas_handle=lambda: 42))},
        "cupy_backends": {}, "cupy_backends.cuda": {},
        "cupy_backends.cuda.libs": {"cublas": cublas}})
    with timing.cublas_tf32_math_mode():
        assert modes[42] == timing.CUBLAS_TF32_TENSOR_OP_MATH == 3
    assert modes[42] == 0


def test_tf32_error_floor_separates_tf32_from_fp32():
    # TF32 keeps 10 mantissa bits (unit roundoff 2**-11); FP32 products of k <= 1024 terms
    # stay within ~sqrt(k) * 2**-24
    assert 1024**0.5 * 2.0**-24 < timing.TF32_ERROR_FLOOR < 2.0**-11 / 4


def test_gemm_cases_split_over_the_files_and_tf32_has_tf32_baselines():
    tc = [c for c in cases.SQUARE_CASES + cases.VGG_CASES if cases.tensor_core(c)]
    plain = [c for c in cases.SQUARE_CASES + cases.VGG_CASES if not cases.tensor_core(c)]
    assert {c.precision for c in tc} == {"float32/tf32", "float16/float32",
                                         "bfloat16/float32"}
    assert {c.precision for c in plain} == {"float64", "float32"}
    assert len(tc) + len(plain) == len(cases.SQUARE_CASES) + len(cases.VGG_CASES)
    impls = cases.PRECISIONS[("float32", "tf32")]
    assert impls[-1] == cases.BLASFAST and impls[0] == cases.CUPY_TF32_MATH   # like for like
    assert {cases.CUPY_TF32, cases.TORCH, cases.CUPY} <= set(impls)
    ids = [p.id for p in cases.params(cases.SQUARE_CASES)]
    assert "float32-tf32-64x64x64-b21845-cupy.matmul CUPY_TF32" in ids
    assert len(ids) == len(set(ids))
