"""Host overhead of ``bf.solvers.solve`` on stacks of small systems (#15).

Run with ``pytest bench --benchmark-only`` (or ``python bench/bench_solve_overhead.py`` for
the markdown tables of ``bench/results/*-cpu-solve-overhead.md``). Needs no GPU.

Two measurements, on stacks of ``s`` systems of order ``n`` (``CASES``), float32 and
float64, one right-hand side each (``b`` of shape (s, n)), well-conditioned matrices
(``randn + n I``) so that every system converges -- the common path:

* **CPU path**: ``bs.solve(a, b)`` on NumPy arrays against ``numpy.linalg.solve(a,
  b[..., None])`` on the same stack in the same run, as a ratio and per system.
* **GPU path, kernels excluded** (the CUDA emulator): ``bs.solve`` on emulated device
  arrays with the two kernels of the small-system path replaced by stand-ins that write
  a precomputed result: the fused ``gesv_small_batched`` launch (``_small_gpu._launch``)
  copies the reference solution into ``x`` and writes "converged in one step" codes, and
  the float32 re-check's residual ``b - A x`` (``_refine.residual``, a ``batched_gemm``)
  returns a preallocated zero array. What remains is the host work of the call *plus*
  the elementwise/reduction array operations that CuPy would run as small device kernels
  (``isfinite``, ``abs().sum().max()``, ``astype``...), which the emulator runs in NumPy
  on the host: at a few ns per element they are a per-system cost here that a GPU would
  not pay on the host. The stand-in's copy of ``x`` is such an operation too. So the
  emulator's per-system time is an upper bound on the host's per-system work; the
  Python-level per-system work is what :func:`python_calls` counts (function calls
  under ``sys.setprofile``, which must not grow with ``s``), and :func:`host_copies`
  counts device-to-host copies (``.get()`` calls) per solve. Nothing here says how fast
  the kernels are on a GPU.

Timing: the minimum over ``REPEAT`` interleaved rounds (each entry's round as close in
time as possible to the others'), short rounds so that on a loaded machine some round of
every entry runs undisturbed; the minimum is the estimator of a deterministic host cost.
"""

import contextlib
import math
import sys
import time

import numpy as np
import pytest

import blasfast.solvers as bs

CASES = [(1, 3), (100, 3), (10000, 3), (1, 8), (100, 8), (10000, 8)]
BIG = [(100000, 3), (100000, 8)]       # __main__ only (a few seconds each)
DTYPES = ("float32", "float64")
REPEAT = 15


def emulator_reason():
    """Why the GPU-path entries cannot run here, or None."""
    try:
        from blasfast import emulator
    except Exception as exc:  # pragma: no cover - a broken install
        return f"blasfast.emulator does not import: {exc}"
    return emulator.unavailable_reason()


def make_problem(s, n, dtype, seed=0):
    """A well-conditioned stack ``a`` (s, n, n), ``b`` (s, n) (a single system when s is
    1: ``a`` (n, n), ``b`` (n,)) and float64 reference ``x``."""
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal((s, n, n)) + n * np.eye(n)).astype(dtype)
    b = rng.standard_normal((s, n)).astype(dtype)
    x = np.linalg.solve(a.astype(np.float64), b.astype(np.float64)[..., None])
    if s == 1:
        return a[0], b[0], x
    return a, b, x


@contextlib.contextmanager
def kernels_stubbed(x_ref):
    """Replace the small-system kernel and the float32 re-check's residual GEMM by
    stand-ins that write a precomputed result (see the module docstring). ``x_ref`` is
    the (s, n, 1) float64 solution."""
    from blasfast import emulator as em
    from blasfast.solvers import _refine, _small_gpu

    xd = em.asarray(x_ref)
    zeros = {}

    def launch(cp, tf, nmax, a, b, x, idx, max_iter, tolfac, code, iters, ber, minpiv):
        x[...] = xd
        code[...] = 1
        iters[...] = 1
        ber[...] = 1e-17
        minpiv[...] = 1.0

    def residual(a, x, b):
        if b.shape not in zeros:
            zeros[b.shape] = em.zeros(b.shape)
        return zeros[b.shape]

    saved = _small_gpu._launch, _refine.residual
    _small_gpu._launch, _refine.residual = launch, residual
    try:
        yield
    finally:
        _small_gpu._launch, _refine.residual = saved


def make_calls(s, n, dtype, gpu=True):
    """``{entry: no-argument callable}`` for one case; warms each."""
    a, b, x_ref = make_problem(s, n, dtype)
    b3 = b[..., None]
    calls = {"numpy.linalg.solve": lambda: np.linalg.solve(a, b3 if s > 1 else b),
             "solve cpu": lambda: bs.solve(a, b)}
    if gpu and emulator_reason() is None:
        from blasfast import emulator as em

        ea, eb = em.asarray(a), em.asarray(b)
        calls["solve gpu (emulator, kernels stubbed)"] = lambda: bs.solve(ea, eb)
    for fn in calls.values():
        fn()
    return calls, x_ref


def measure(s, n, dtype, repeat=REPEAT, gpu=True):
    """``{entry: microseconds per call}`` (minimum over interleaved rounds)."""
    calls, x_ref = make_calls(s, n, dtype, gpu=gpu)
    number = max(1, min(50, 20000 // (s * n)))
    best = {k: math.inf for k in calls}
    stub = kernels_stubbed(x_ref) if len(calls) > 2 else contextlib.nullcontext()
    with stub:
        for _ in range(repeat):
            for k, fn in calls.items():
                t0 = time.perf_counter()
                for _ in range(number):
                    fn()
                best[k] = min(best[k], (time.perf_counter() - t0) / number * 1e6)
    return best


def host_only_us(fn, repeat=3):
    """Microseconds of ``fn()`` spent outside the emulator's array operations.

    ``fn`` runs under cProfile; the time of every call from code outside
    ``blasfast.emulator`` into a function of ``blasfast.emulator`` (an emulated array's
    ufunc, reduction, indexing, allocation, copy: what CuPy would run as device kernels
    or driver calls) is subtracted from the total. Minimum over ``repeat`` runs; the
    profiler's own cost (about 1 us per Python call, a few hundred calls) stays in.
    """
    import cProfile
    import pstats

    def in_emulator(func):
        return "/blasfast/emulator/" in func[0].replace("\\", "/")

    best = math.inf
    for _ in range(repeat):
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.runcall(fn)
        total = time.perf_counter() - t0
        stats = pstats.Stats(prof).stats
        emu = sum(edge[3] for func, (_, _, _, _, callers) in stats.items()
                  if in_emulator(func)
                  for caller, edge in callers.items() if not in_emulator(caller))
        best = min(best, (total - emu) * 1e6)
    return best


def python_calls(fn):
    """Python function calls (and C calls) made by ``fn()``, counted with sys.setprofile."""
    count = [0]

    def prof(frame, event, arg):
        if event in ("call", "c_call"):
            count[0] += 1

    sys.setprofile(prof)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count[0]


def host_copies(fn):
    """Device-to-host copies (emulated ``ndarray.get`` calls) made by ``fn()``."""
    from blasfast.emulator import _array

    n = [0]
    get = _array.ndarray.get

    def counting(self, *args, **kw):
        n[0] += 1
        return get(self, *args, **kw)

    _array.ndarray.get = counting
    try:
        fn()
    finally:
        _array.ndarray.get = get
    return n[0]


def markdown(results):
    """A markdown table of ``{(s, n, dtype): times}``."""
    gpu = "solve gpu (emulator, kernels stubbed)"
    lines = ["| s x n x n | dtype | numpy.linalg.solve | solve cpu | cpu ratio | cpu us/system "
             "| gpu path (emulator) us/call | us/system |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (s, n, dt), t in results.items():
        np_t, cpu = t["numpy.linalg.solve"], t["solve cpu"]
        g = t.get(gpu)
        gcell = f"{g:.0f} | {g / s:.3f}" if g is not None else "n/a | n/a"
        lines.append(f"| {s} x {n} x {n} | {dt} | {np_t:.1f} us | {cpu:.0f} us | "
                     f"{cpu / np_t:.1f}x | {cpu / s:.3f} | {gcell} |")
    return "\n".join(lines)


# ------------------------------------------------------------------- pytest-benchmark
_TIMES = {}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("s,n", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("impl", ["numpy.linalg.solve", "solve cpu",
                                  "solve gpu (emulator, kernels stubbed)"])
def test_solve_host_overhead(benchmark, impl, s, n, dtype):
    benchmark.group = f"solve host overhead {s}x{n}x{n} {dtype}"
    if "gpu" in impl and emulator_reason() is not None:
        pytest.skip(f"the CUDA emulator cannot run here: {emulator_reason()}")
    key = (s, n, dtype)
    if key not in _TIMES:
        _TIMES[key] = measure(s, n, dtype, repeat=5)
    times = _TIMES[key]
    calls, x_ref = make_calls(s, n, dtype)
    with (kernels_stubbed(x_ref) if "gpu" in impl else contextlib.nullcontext()):
        benchmark(calls[impl])
    benchmark.extra_info.update(
        impl=impl, systems=s, n=n, dtype=dtype, us_per_call_min=times[impl],
        us_per_system_min=times[impl] / s,
        numpy_us_per_call_min=times["numpy.linalg.solve"],
        ratio_to_numpy=times[impl] / times["numpy.linalg.solve"],
        timing="min of interleaved rounds; GPU path on the CUDA emulator with the kernels "
               "replaced by stand-ins writing a precomputed result")
    assert math.isfinite(times[impl])


if __name__ == "__main__":
    cases = CASES + (BIG if "--big" in sys.argv else [])
    res = {}
    for s, n in cases:
        for dt in DTYPES:
            res[(s, n, dt)] = measure(s, n, dt, repeat=REPEAT if s * n <= 100000 else 3)
            print(s, n, dt, {k: round(v, 1) for k, v in res[(s, n, dt)].items()},
                  flush=True)
    print(markdown(res))
    if emulator_reason() is None:
        from blasfast import emulator as em

        print("\n| s | n | dtype | gpu path host-only us/call | us/system |")
        print("|---|---|---|---:|---:|")
        for s, n in cases:
            for dt in DTYPES:
                a, b, x_ref = make_problem(s, n, dt)
                ea, eb = em.asarray(a), em.asarray(b)
                with kernels_stubbed(x_ref):
                    bs.solve(ea, eb)
                    h = host_only_us(lambda: bs.solve(ea, eb))
                print(f"| {s} | {n} | {dt} | {h:.0f} | {h / s:.4f} |", flush=True)
        print("\n| s | n | dtype | python calls cpu | python calls gpu | host copies gpu |")
        print("|---|---|---|---:|---:|---:|")
        for s, n in [(10, 3), (1000, 3), (10, 8), (1000, 8)]:
            for dt in DTYPES:
                a, b, x_ref = make_problem(s, n, dt)
                ea, eb = em.asarray(a), em.asarray(b)
                with kernels_stubbed(x_ref):
                    bs.solve(ea, eb)
                    pg = python_calls(lambda: bs.solve(ea, eb))
                    hc = host_copies(lambda: bs.solve(ea, eb))
                pc = python_calls(lambda: bs.solve(a, b))
                print(f"| {s} | {n} | {dt} | {pc} | {pg} | {hc} |")
