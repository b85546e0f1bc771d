"""Batched GEMM, FP64 and FP32 on fixed sizes: blasfast against the vendor baselines, shape
by shape, in one run; and the CPU path.

The GEMM benchmarks are three files: this one, ``bench_gemm_tc.py`` (tensor cores: TF32,
FP16 and BF16 inputs) and ``bench_gemm_vbatched.py`` (variable sizes). The cases are data in
``_gemm_cases.py``, the measurement in ``_gemm_measure.py``; this docstring describes all
three.

Run with ``pytest bench --benchmark-only`` (``--benchmark-json=FILE`` to keep the results;
``python bench/report.py FILE`` turns them into a table and plots). GPU cases skip with a
reason where no GPU is usable, torch baselines where PyTorch is not importable; the CPU
cases at the end run anywhere.

How a case is measured
----------------------
Every shape is one ``benchmark.group`` holding one pytest-benchmark entry per implementation:
the vendor baselines first, then ``blasfast``. All entries of a group use the same inputs
(fresh normal random numbers generated on the GPU, one case's arrays resident at a time).
GPU time is the median of CUDA-event timings (3 untimed calls, then up to 20 timed, stopping
early past 1.5 s: ``cupyx.profiler.benchmark``; memory-bound cases -- below the ridge point
of the GPU's peaks -- are timed by ``_timing.gpu_median_ms``'s own event loop, which flushes
the L2 cache before every timed call, outside the events);
pytest-benchmark's own wall-clock rounds (3, with a device synchronize) are a cross-check
only. ``bf.warmup()`` runs once per session before anything is timed, so NVRTC is never
measured. Outputs are poisoned with NaN before the first call, so an unwritten element shows
in the error.

``extra_info`` of each entry: ``impl``, ``kind``, ``dtype`` (inputs), ``compute``,
``out_dtype`` (of that implementation), ``precision``, ``batch``, ``n`` (square) or ``mnk``,
``shape``, the median ms, GFLOP/s and GB/s (bytes: A and B read once, D written once, in
each implementation's own output dtype), the roofline ``min(peak, intensity * bandwidth)``
and the % of it reached (the peaks of the GPU the run is on, looked up by its name in
``_timing.KNOWN_GPUS``; on a GPU not in that table ``roofline`` says "unknown GPU"),
``speedup`` over the primary baseline and ``speedups`` over every baseline timed in the run
(blasfast entries), and ``rel_error`` = ``||D - D_ref|| / ||D_ref||`` against a float64
reference computed once per case on the host, on the first ``ref_subset`` matrices.

Cases
-----
* square ``n x n x n``, n in 2..1024 (powers of two), the batch sized so that one call moves
  ``MOVED_BYTES`` = 1 GiB (A, B read once, blasfast's D written once), capped at
  ``FLOP_CAP`` = 2**35 flop a call (n >= 512 in float64, >= 256 in float32/16-bit), in
  float64 and float32 (vs ``cupy.matmul``, i.e. cuBLAS strided batched); in
  ``bench_gemm_tc.py``, float32 with ``compute='tf32'`` (vs ``cupy.matmul`` with cuBLAS's
  TF32 math mode on CuPy's handle, ``cupy.matmul`` with the float32 compute type
  ``CUPY_TF32=1`` selects -- in CuPy's sources that reaches its 2-D GEMM path, not the
  batched one, so the entry records ``tf32_seen`` from its error --, ``torch.bmm`` with
  TF32 allowed, and ``cupy.matmul`` with CuPy's defaults, FP32 arithmetic), float16 and
  bfloat16 inputs with float32 output (vs ``torch.bmm`` on half/bfloat16 CUDA tensors,
  FP16/BF16 output, reduced-precision reductions off; and ``cupy.matmul`` on the same
  arrays).
* VGG-16 Winograd F(2x2,3x3) GEMMs (batch, m, n, k) = (1024, 12544, 64, 3),
  (1024, 12544, 64, 64), (256, 12544, 128, 64), (256, 12544, 128, 128) (ANCHORS.md, from the
  MagmaDNN slides), the batch divided by ``VGG_BATCH_SCALE`` = 16 (so 64, 64, 16, 16; the
  factor is in ``extra_info['batch_scale']``), in float32 (here) and float16 (tensor cores).
  Each batch entry has its own B (the 16 transformed weight matrices repeated per image): B
  is < 1% of the bytes.
* FEM tensor contraction ``C_e = A B_e``: ``FEM_BATCH`` = 131072 products of an 8x8 A,
  SHARED by all elements (a 2-D operand broadcast over the batch), with a per-element 8x64
  B_e, in float64 and float32 (vs ``cupy.matmul`` with the same broadcast).
* ``bf.gemm_vbatched`` (``bench_gemm_vbatched.py``) on ``VBATCHED_COUNT`` = 1024 products
  with m, n, k drawn uniformly
  from 1..256 (fixed seed), float64 and float32, vs a Python loop of ``cupy.matmul`` calls
  and vs one ``cupy.matmul`` over every matrix zero-padded to the largest sizes (the padding
  copies are not timed, which favours that baseline). GFLOP/s and GB/s count the useful
  work, ``sum(2 m n k)``, for all three.
* CPU path (runs on any machine): 256 products of n = 8 and 64 in float64 and n = 64 in
  float16 (FP32 accumulation emulated), ``bf.batched_gemm`` vs ``numpy.matmul`` (on the
  float32-widened operands for float16), timed by pytest-benchmark.

``python bench/bench_gemm.py`` prints the case list (all three files) with batch sizes and
GPU memory.
"""

import zlib

import numpy as np
import pytest

import blasfast as bf
from _gemm_cases import (BLASFAST, FEM_CASES, SQUARE_CASES, VGG_CASES, _precision_label,
                         case_table, params, tensor_core)
from _gemm_measure import measure, release_inputs  # noqa: F401 (autouse fixture)
from _timing import blasfast_warm, record, rel_error, requires_gpu  # noqa: F401 (fixture)


@requires_gpu
@pytest.mark.parametrize("case, impl", params(c for c in SQUARE_CASES if not tensor_core(c)))
def test_batched_gemm_square(benchmark, blasfast_warm, case, impl):
    measure(benchmark, case, impl)


@requires_gpu
@pytest.mark.parametrize("case, impl", params(c for c in VGG_CASES if not tensor_core(c)))
def test_batched_gemm_vgg16_winograd(benchmark, blasfast_warm, case, impl):
    measure(benchmark, case, impl)


@requires_gpu
@pytest.mark.parametrize("case, impl", params(FEM_CASES))
def test_batched_gemm_fem(benchmark, blasfast_warm, case, impl):
    measure(benchmark, case, impl)


# --------------------------------------------------------------------------------------
# CPU path (runs on any machine)
# --------------------------------------------------------------------------------------

CPU_BATCH = 256
CPU_CASES = [("float64", 8), ("float64", 64), ("float16", 64)]
NUMPY = "numpy.matmul"
_CPU_TIMES = {}


@pytest.mark.parametrize("dtype, n, impl", [
    pytest.param(dt, n, impl, id=f"{dt}-n{n}-{impl}")
    for dt, n in CPU_CASES for impl in (NUMPY, BLASFAST)])
def test_batched_gemm_cpu_path(benchmark, dtype, n, impl):
    benchmark.group = f"batched_gemm CPU path {dtype} n={n}"
    seed = zlib.crc32(f"cpu-{dtype}-{n}".encode())
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((CPU_BATCH, n, n)).astype(dtype)
    b = rng.standard_normal((CPU_BATCH, n, n)).astype(dtype)
    half = np.dtype(dtype).itemsize == 2
    if impl == NUMPY:
        # NumPy has no BLAS for float16: the baseline is the float32 product it emulates.
        fn = ((lambda: np.matmul(a.astype(np.float32), b.astype(np.float32))) if half
              else (lambda: np.matmul(a, b)))
    else:
        try:
            bf.batched_gemm(a[:1], b[:1])
        except TypeError as exc:
            pytest.skip(f"blasfast.batched_gemm does not take {dtype} here: {exc}")
        fn = lambda: bf.batched_gemm(a, b)  # noqa: E731
    out = benchmark(fn)
    ref = np.matmul(a.astype(np.float64), b.astype(np.float64))
    err = rel_error(out, ref)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        ms = stats.stats.median * 1e3
        _CPU_TIMES[(dtype, n, impl)] = ms
        base_ms = _CPU_TIMES.get((dtype, n, NUMPY)) if impl == BLASFAST else None
        extra = dict(impl=impl, kind="cpu", dtype=dtype, compute="float32" if half else dtype,
                     precision=_precision_label(dtype, "float32" if half else dtype),
                     out_dtype=str(out.dtype), batch=CPU_BATCH, n=n,
                     shape=f"{CPU_BATCH} x {n}x{n}x{n}", seed=seed,
                     timing="wall clock, median (pytest-benchmark)")
        if impl == NUMPY:
            extra["is_baseline"] = True
        record(benchmark, ms=ms, flops=2.0 * CPU_BATCH * n**3,
               nbytes=(a.nbytes + b.nbytes + out.nbytes), peak=None, bandwidth_gbs=None,
               baseline=NUMPY if impl == BLASFAST else None, baseline_ms=base_ms,
               speedups={NUMPY: base_ms / ms} if base_ms else None, rel_error=err, **extra)
    # float64: both are one BLAS product per matrix; float16: inputs exact in float32,
    # FP32 accumulation, so the error is about k * 2**-24 (bound 4 k u with k = n).
    bound = 1e-13 if dtype == "float64" else 4 * n * 2.0**-24
    assert err < bound, (err, bound)



if __name__ == "__main__":
    print(f"{'group':66s} {'batch':>9s} {'GFLOP':>8s} {'moved MB':>9s} {'GPU MB':>7s}  impls")
    rows = case_table()
    for g, impls, batch, flops, moved, resident in rows:
        print(f"{g:66s} {batch:9d} {flops / 1e9:8.2f} {moved / 2**20:9.0f} "
              f"{resident / 2**20:7.0f}  {impls}")
    print(f"{len(rows)} GPU cases; the most GPU memory one holds: "
          f"{max(r[5] for r in rows) / 2**30:.2f} GiB (inputs + blasfast and baseline outputs)")
