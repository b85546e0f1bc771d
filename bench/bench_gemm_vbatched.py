"""Variable-size batched GEMM: ``bf.gemm_vbatched`` against a Python loop of ``cupy.matmul``
calls and one ``cupy.matmul`` over zero-padded matrices (``bench_gemm.py``'s docstring
describes the cases and the method; the cases are ``_gemm_cases.V_CASES``).
"""

import numpy as np
import pytest

import blasfast as bf
from _gemm_cases import BLASFAST, LOOP, PADDED, V_CASES, V_IMPLS, VBATCHED_REF
from _gemm_measure import release_inputs  # noqa: F401 (autouse fixture)
from _gemm_measure import SLOT, TIMES, TIMING, flushes, take_slot
from _timing import blasfast_warm  # noqa: F401 (fixture)
from _timing import gpu_median_ms, host64, peak_tflops, record, requires_gpu, sync


def _vbatched_fn():
    return bf.gemm_vbatched


def _vinputs(vc):
    key = ("v", vc)
    if SLOT.get("case") == key:
        return SLOT["value"]
    import cupy

    take_slot()
    dt = np.dtype(vc.dtype)
    rng = cupy.random.default_rng(vc.seed)
    m, n, k = vc.sizes.T
    a_flat = rng.standard_normal(int(np.sum(m * k)), dtype=dt)
    b_flat = rng.standard_normal(int(np.sum(k * n)), dtype=dt)
    oa = np.concatenate([[0], np.cumsum(m * k)])
    ob = np.concatenate([[0], np.cumsum(k * n)])
    a = [a_flat[oa[i]:oa[i + 1]].reshape(m[i], k[i]) for i in range(vc.count)]
    b = [b_flat[ob[i]:ob[i + 1]].reshape(k[i], n[i]) for i in range(vc.count)]
    s = min(vc.count, VBATCHED_REF)
    ref = [np.matmul(host64(a[i]), host64(b[i])) for i in range(s)]
    value = dict(a=a, b=b, ref=ref, subset=s)
    SLOT.update(case=key, value=value)
    return value


def _vrunner(impl, vc, inp):
    import cupy

    a, b, s = inp["a"], inp["b"], inp["subset"]
    m, n, k = vc.sizes.T
    dt = np.dtype(vc.dtype)
    if impl == LOOP:
        d = [cupy.full((m[i], n[i]), np.nan, dt) for i in range(vc.count)]

        def run():
            for x, y, z in zip(a, b, d):
                cupy.matmul(x, y, out=z)

        return run, d, ""
    if impl == PADDED:
        mm, nn, kk = (int(v) for v in vc.sizes.max(axis=0))
        ap = cupy.zeros((vc.count, mm, kk), dt)
        bp = cupy.zeros((vc.count, kk, nn), dt)
        for i in range(vc.count):
            ap[i, :m[i], :k[i]] = a[i]
            bp[i, :k[i], :n[i]] = b[i]
        dp = cupy.full((vc.count, mm, nn), np.nan, dt)
        d = [dp[i, :m[i], :n[i]] for i in range(s)]
        note = (f"every matrix zero-padded to {mm}x{nn}x{kk} (padding not timed); "
                f"{2.0 * vc.count * mm * nn * kk:.3g} flop executed")
        return (lambda: cupy.matmul(ap, bp, out=dp)), d, note
    fn = _vbatched_fn()
    d = [cupy.full((m[i], n[i]), np.nan, dt) for i in range(vc.count)]
    return (lambda: fn(a, b, out=d)), d, ""


@requires_gpu
@pytest.mark.parametrize("vc, impl", [pytest.param(vc, impl, id=f"{vc.dtype}-{impl}")
                                      for vc in V_CASES for impl in V_IMPLS])
def test_gemm_vbatched(benchmark, blasfast_warm, vc, impl):
    benchmark.group = vc.group
    if impl == BLASFAST:
        _vbatched_fn()  # skip early, before any input is built
    inp = _vinputs(vc)
    run, d, note = _vrunner(impl, vc, inp)
    run()
    sync()
    s = inp["subset"]
    num = sum(float(np.sum((host64(d[i]) - inp["ref"][i]) ** 2)) for i in range(s))
    den = sum(float(np.sum(inp["ref"][i] ** 2)) for i in range(s))
    err = float(np.sqrt(num / den))
    flush = flushes(vc.flops, vc.nbytes, vc.dtype, vc.dtype)
    ms = gpu_median_ms(run, flush=flush)
    TIMES[(vc, impl)] = ms
    extra = dict(vc.info(), impl=impl, out_dtype=vc.dtype, timing=TIMING, l2_flushed=flush)
    if note:
        extra["note"] = note
    kw = {}
    if impl == BLASFAST:
        bases = {}
        for base in V_IMPLS[:-1]:
            if (vc, base) not in TIMES:
                r, _, _ = _vrunner(base, vc, inp)
                TIMES[(vc, base)] = gpu_median_ms(r, flush=flush)
            bases[base] = TIMES[(vc, base)]
        kw = dict(speedups={b_: t / ms for b_, t in bases.items()}, baseline=LOOP,
                  baseline_ms=bases[LOOP])
    else:
        extra["is_baseline"] = True
    record(benchmark, ms=ms, flops=vc.flops, nbytes=vc.nbytes,
           peak=peak_tflops(vc.dtype, vc.dtype), rel_error=err, **kw, **extra)

    def timed():
        run()
        sync()

    benchmark.pedantic(timed, rounds=3, iterations=1, warmup_rounds=0)
    assert np.isfinite(err), f"{impl}: non-finite result (an unwritten element?)"

