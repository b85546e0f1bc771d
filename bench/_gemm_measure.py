"""How a fixed-size batched GEMM case is measured: inputs, one runner per implementation,
the timing and the record (``bench_gemm.py`` and ``bench_gemm_tc.py``; the method is in
``bench_gemm.py``'s docstring).

Memory-bound cases (arithmetic intensity below the ridge point of the GPU's peaks, or a GPU
not in ``_timing.KNOWN_GPUS``) are timed with the L2 cache flushed before every repeat
(``_timing.flush_l2``, not timed); ``extra_info['l2_flushed']`` says which.
"""

import contextlib
import dataclasses
import functools

import numpy as np
import pytest

import blasfast as bf
from _gemm_cases import BLASFAST, CUPY, CUPY_TF32, CUPY_TF32_MATH, TORCH, _np_dtype
from _timing import (TF32_ERROR_FLOOR, cublas_tf32_math_mode, cupy_tf32_compute_type,
                     device_peaks, free_gpu_memory, gpu_median_ms, gpu_random, host64,
                     memory_bound, peak_tflops, record, rel_error, sync, to_torch, torch_cuda,
                     torch_settings)

TIMING = "CUDA events, median (cupyx.profiler.benchmark; L2 flushed between repeats " \
    "where memory-bound)"


@dataclasses.dataclass
class _Inputs:
    a: object
    b: object
    ref: np.ndarray  # float64 product of the first ``subset`` matrices
    subset: int


SLOT = {}     # the inputs of the case being run: one case's arrays on the GPU at a time
TIMES = {}    # (case, impl) -> median ms, so blasfast entries find their baselines' times
_SLOT_USED = []


@pytest.fixture(scope="module", autouse=True)
def release_inputs():
    """Drop the module's inputs and timings at its end (import it into a benchmark module:
    pytest then runs it there)."""
    yield
    SLOT.clear()
    TIMES.clear()
    if _SLOT_USED:
        free_gpu_memory()


def take_slot():
    """Free the previous case's arrays before ``key``'s are made."""
    SLOT.clear()
    free_gpu_memory()
    _SLOT_USED.append(True)


def flushes(flops, nbytes, in_dtype, compute):
    """Whether a case is timed with the L2 flushed between repeats: memory-bound on this
    GPU's peaks (or on an unknown GPU)."""
    peaks = device_peaks()
    return memory_bound(flops, nbytes, peak_tflops(in_dtype, compute, peaks) if peaks else None,
                        peaks.bandwidth_gbs if peaks else None)


def _inputs(case):
    if SLOT.get("case") == case:
        return SLOT["value"]
    import cupy

    take_slot()
    rng = cupy.random.default_rng(case.seed)
    a_shape = (case.m, case.k) if case.a_shared else (case.batch, case.m, case.k)
    a = gpu_random(rng, a_shape, case.in_dtype)
    b = gpu_random(rng, (case.batch, case.k, case.n), case.in_dtype)
    s = case.ref_subset
    ref = np.matmul(host64(a if case.a_shared else a[:s]), host64(b[:s]))
    value = _Inputs(a, b, ref, s)
    SLOT.update(case=case, value=value)
    return value


@dataclasses.dataclass
class _Runner:
    run: object           # one call, asynchronous
    result: object        # host float64 copy of the first ``subset`` results
    out_dtype: np.dtype
    context: object = contextlib.nullcontext
    note: str = ""


@functools.lru_cache(maxsize=None)
def _blasfast_unsupported(dtype, compute):
    """None when bf.batched_gemm takes (dtype, compute) on the GPU, else the reason."""
    import cupy

    dt = _np_dtype(dtype)
    try:
        x = cupy.ones((1, 2, 2), dtype=dt)
        bf.batched_gemm(x, x, **_compute_kw(dtype, compute))
    except (TypeError, ValueError, NotImplementedError) as exc:
        return f"blasfast.batched_gemm does not take {dtype} / compute={compute!r} here: {exc}"
    return None

def _compute_kw(dtype, compute):
    default = "float32" if _np_dtype(dtype).itemsize == 2 else dtype
    return {} if compute == default else {"compute": compute}



def _runner(impl, case, inp):
    """How ``impl`` computes ``case``; skips (with the reason) where it cannot."""
    import cupy

    s = inp.subset
    shape = (case.batch, case.m, case.n)
    if impl == BLASFAST:
        why = _blasfast_unsupported(case.dtype, case.compute)
        if why:
            pytest.skip(why)
        d = cupy.full(shape, np.nan, dtype=case.out_dtype)
        kw = _compute_kw(case.dtype, case.compute)
        return _Runner(lambda: bf.batched_gemm(inp.a, inp.b, out=d, **kw),
                       lambda: host64(d[:s]), case.out_dtype)
    if impl == CUPY:
        d = cupy.full(shape, np.nan, dtype=case.in_dtype)
        note = ("CuPy's default float32 compute type and cuBLAS math mode: FP32 arithmetic "
                "(TF32 only with CUPY_TF32=1 or the TF32 math mode, the baselines beside it)"
                if case.compute == "tf32" else "")
        return _Runner(lambda: cupy.matmul(inp.a, inp.b, out=d), lambda: host64(d[:s]),
                       case.in_dtype, note=note)
    if impl in (CUPY_TF32, CUPY_TF32_MATH):
        d = cupy.full(shape, np.nan, dtype=case.in_dtype)
        if impl == CUPY_TF32:
            context = cupy_tf32_compute_type
            note = ("cupy.matmul with the float32 compute type CUPY_TF32=1 sets "
                    "(cupy._core._routines_linalg.set_compute_type, in-process)")
        else:
            context = cublas_tf32_math_mode
            note = "cupy.matmul with CuPy's cuBLAS handle in CUBLAS_TF32_TENSOR_OP_MATH"
        return _Runner(lambda: cupy.matmul(inp.a, inp.b, out=d), lambda: host64(d[:s]),
                       case.in_dtype, context=context, note=note)
    if impl == TORCH:
        torch, why = torch_cuda()
        if torch is None:
            pytest.skip(why)
        if case.a_shared:
            pytest.skip("torch.bmm needs a per-element A")
        ta, tb = to_torch(torch, inp.a), to_torch(torch, inp.b)
        td = torch.full(shape, float("nan"), dtype=ta.dtype, device=ta.device)
        tf32 = case.compute == "tf32"
        note = ("TF32 allowed (torch.set_float32_matmul_precision('high'))" if tf32 else
                "FP16/BF16 output, reduced-precision reductions off")
        return _Runner(lambda: torch.bmm(ta, tb, out=td),
                       lambda: td[:s].float().cpu().numpy().astype(np.float64),
                       case.in_dtype, context=lambda: torch_settings(torch, tf32),
                       note=note)
    raise ValueError(impl)



def _time(runner, flush=False):
    with runner.context():
        return gpu_median_ms(runner.run, flush=flush)


def _first_call(impl, precision, runner):
    """Run once; a baseline that cannot run this precision is skipped, blasfast fails."""
    if impl == BLASFAST:
        runner.run()
        return
    try:
        with runner.context():
            runner.run()
        sync()
    except Exception as exc:
        pytest.skip(f"{impl} cannot compute {precision}: {type(exc).__name__}: {exc}")


def _baseline_times(case, impls, make_runner, flush=False):
    """Median ms of each baseline of ``case`` in this run (timed now if not yet)."""
    out = {}
    for base in impls:
        if (case, base) not in TIMES:
            try:
                r = make_runner(base)
                _first_call(base, case.precision, r)
                TIMES[(case, base)] = _time(r, flush)
            except (pytest.skip.Exception, Exception):
                continue  # that baseline cannot run here; its own entry says why
        out[base] = TIMES[(case, base)]
    return out


def measure(benchmark, case, impl):
    """Time ``impl`` on ``case`` and record it (blasfast entries with their baselines'
    times from the same run)."""
    benchmark.group = case.group
    inp = _inputs(case)
    if impl == BLASFAST:
        runner = _runner(impl, case, inp)
    else:
        try:
            runner = _runner(impl, case, inp)
        except Exception as exc:  # e.g. a dtype the vendor library cannot hold
            pytest.skip(f"{impl} cannot compute {case.precision}: {type(exc).__name__}: {exc}")
    _first_call(impl, case.precision, runner)
    err = rel_error(runner.result(), inp.ref)
    flush = flushes(case.flops, case.nbytes(case.out_dtype.itemsize), case.in_dtype,
                    case.compute)
    ms = _time(runner, flush)
    TIMES[(case, impl)] = ms
    extra = dict(case.info(), impl=impl, out_dtype=runner.out_dtype.name, timing=TIMING,
                 l2_flushed=flush)
    if runner.note:
        extra["note"] = runner.note
    if case.compute == "tf32" and impl != BLASFAST:
        extra["tf32_seen"] = bool(err > TF32_ERROR_FLOOR)   # see _timing.TF32_ERROR_FLOOR
    kw = {}
    if impl == BLASFAST:
        bases = _baseline_times(case, case.impls[:-1],
                                lambda base: _runner(base, case, inp), flush)
        kw["speedups"] = {base: t / ms for base, t in bases.items()}
        primary = next((base for base in case.impls[:-1] if base in bases), None)
        if primary is not None:  # the first baseline that could run (torch may be absent)
            kw["baseline"] = primary
            kw["baseline_ms"] = bases[primary]
    else:
        extra["is_baseline"] = True
    record(benchmark, ms=ms, flops=case.flops, nbytes=case.nbytes(runner.out_dtype.itemsize),
           peak=peak_tflops(case.in_dtype, case.compute), rel_error=err, **kw, **extra)

    def timed():
        runner.run()
        sync()

    with runner.context():
        benchmark.pedantic(timed, rounds=3, iterations=1, warmup_rounds=0)
    assert np.isfinite(err), f"{impl}: non-finite result (an unwritten element?)"

