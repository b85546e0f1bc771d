"""Host overhead of a small batched GEMM: what one call costs before (and beside) the work.

Run with ``pytest bench --benchmark-only`` (or ``python bench/bench_overhead.py`` for the
markdown table of ``bench/results/*-cpu-overhead.md``). Needs no GPU: the GPU path runs on
the CUDA emulator with kernel execution excluded.

What is timed, in one run, on a 1x2x2 and a 10000x8x8 float32 batch (``SHAPES``):

* ``numpy.matmul(a, b)`` -- the yardstick; every other entry is reported as a ratio to it;
* ``bf.batched_gemm(a, b)`` on NumPy arrays (the CPU path: validation, the cached
  configuration, NumPy's matmul);
* ``bf.batched_gemm(a, b)`` on emulated device arrays, the GPU path up to the launch: with
  the result allocated by the call (``alloc``) and with ``out=`` given (``out``);
* ``BatchedGemm.execute`` up to the launch: on the planned operands (``plan()``) and on new
  operands of the planned shape, strides and dtype (``plan(a, b)``).

How the launch is excluded: inside :func:`blasfast.emulator._module.record_launches` a
kernel call appends ``(name, grid, block, args)`` to a list and returns, so what is timed
is exactly the host work up to and including the call of the kernel object (argument
packing included, the emulator's own launch checks and execution not). The emulator's
allocation is not CuPy's: ``blasfast.emulator.empty`` fills new memory with poison bytes
in Python (about 5 us for 16 bytes here, against well under 1 us for a CuPy memory-pool
hit), so the ``alloc`` entries over-state what CuPy would cost and the ``out`` entries
are the measure of blasfast's own overhead.

Timing: each entry is the best (minimum) of ``REPEAT`` rounds of ``NUMBER`` calls, the
entries interleaved round by round so that a load change on a shared machine hits them
all alike; the minimum is the usual estimator for a deterministic host cost (noise only
adds time). Rounds are short (about 1 ms) so that on a loaded machine some round of every
entry runs without being preempted: with 10 ms rounds the ratios scattered by 2x from run
to run on a shared 2-core VM, with 1 ms rounds by a few percent. pytest-benchmark's own
table is kept beside it.
"""

import math
import timeit

import numpy as np
import pytest

import blasfast as bf

SHAPES = [(1, 2, 2), (10000, 8, 8)]
NUMBER = {(1, 2, 2): 200, (10000, 8, 8): 5}  # calls a round (short: few preemptions)
REPEAT = 40                                      # rounds; the minimum is kept
NUMPY = "numpy.matmul"
IMPLS = [NUMPY, "batched_gemm cpu", "batched_gemm gpu alloc", "batched_gemm gpu out",
         "plan() gpu", "plan(a, b) gpu"]
#: The issue's targets (#15), as ratios to numpy.matmul on 1x2x2.
TARGETS = {"plan() gpu": 2.0, "batched_gemm gpu out": 5.0, "batched_gemm cpu": 5.0}


def emulator_reason():
    """Why the GPU-path entries cannot run here, or None."""
    try:
        from blasfast import emulator
    except Exception as exc:  # pragma: no cover - a broken install
        return f"blasfast.emulator does not import: {exc}"
    return emulator.unavailable_reason()


def make_calls(shape, seed=0):
    """``{impl: no-argument callable}`` for one shape (GPU entries only where the emulator
    runs). Builds the plans and warms every path (compiles, fills the caches)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    calls = {NUMPY: lambda: np.matmul(a, b), "batched_gemm cpu": lambda: bf.batched_gemm(a, b)}
    if emulator_reason() is None:
        from blasfast import emulator as em

        ea, eb = em.asarray(a), em.asarray(b)
        ea2, eb2 = em.asarray(b), em.asarray(a)
        out = em.empty(shape, np.float32)
        plan = bf.BatchedGemm(ea, eb, out=out)
        calls.update({
            "batched_gemm gpu alloc": lambda: bf.batched_gemm(ea, eb),
            "batched_gemm gpu out": lambda: bf.batched_gemm(ea, eb, out=out),
            "plan() gpu": lambda: plan.execute(),
            "plan(a, b) gpu": lambda: plan.execute(a=ea2, b=eb2),
        })
    for fn in calls.values():  # warm: kernels compiled, configurations cached
        fn()
    return calls


def launches_recorded():
    """The emulator's record-only mode (a null context where the emulator is absent)."""
    if emulator_reason() is not None:
        import contextlib

        return contextlib.nullcontext([])
    from blasfast.emulator import _module

    return _module.record_launches()


def measure(shape, number=None, repeat=REPEAT):
    """``{impl: microseconds per call}``: the minimum over ``repeat`` interleaved rounds of
    ``number`` calls, with GPU launches recorded instead of run."""
    number = number or NUMBER[tuple(shape)]
    calls = make_calls(shape)
    best = {k: math.inf for k in calls}
    with launches_recorded():
        for _ in range(repeat):
            for impl, fn in calls.items():
                t = timeit.timeit(fn, number=number) / number * 1e6
                best[impl] = min(best[impl], t)
    return best


def ratios(times):
    """Each entry's time over numpy.matmul's, from one :func:`measure`."""
    return {k: v / times[NUMPY] for k, v in times.items()}


def markdown(results):
    """A markdown table of ``{shape: times}``."""
    lines = ["| shape | " + " | ".join(IMPLS) + " |", "|---" * (len(IMPLS) + 1) + "|"]
    for shape, times in results.items():
        r = ratios(times)
        cells = [f"{times[k]:.2f} us ({r[k]:.2f}x)" if k in times else "n/a" for k in IMPLS]
        lines.append(f"| {'x'.join(map(str, shape))} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------- pytest-benchmark
_RATIOS = {}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("impl", IMPLS)
def test_host_overhead(benchmark, shape, impl):
    benchmark.group = f"batched_gemm host overhead {'x'.join(map(str, shape))} float32"
    if impl != NUMPY and "gpu" in impl and emulator_reason() is not None:
        pytest.skip(f"the CUDA emulator cannot run here: {emulator_reason()}")
    key = tuple(shape)
    if key not in _RATIOS:  # one interleaved measurement of every entry, for the ratios
        _RATIOS[key] = measure(shape)
    times = _RATIOS[key]
    calls = make_calls(shape)
    with launches_recorded():
        benchmark(calls[impl])
    benchmark.extra_info.update(
        impl=impl, shape="x".join(map(str, shape)), dtype="float32",
        us_per_call_min=times[impl], numpy_us_per_call_min=times[NUMPY],
        ratio_to_numpy=times[impl] / times[NUMPY],
        target_ratio=TARGETS.get(impl) if key == (1, 2, 2) else None,
        timing="min of interleaved rounds (timeit); GPU path on the CUDA emulator, "
               "launches recorded, not run")
    assert math.isfinite(times[impl] / times[NUMPY])


if __name__ == "__main__":
    print(markdown({s: measure(s) for s in SHAPES}))
