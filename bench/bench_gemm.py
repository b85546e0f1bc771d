"""Batched GEMM: blasfast against the vendor baselines, shape by shape, in one run.

Run with ``pytest bench --benchmark-only`` (``--benchmark-json=FILE`` to keep the results;
``python bench/report.py FILE`` turns them into a table and plots). GPU cases skip with a
reason where no GPU is usable, torch baselines where PyTorch is not importable; the CPU
cases at the end run anywhere.

How a case is measured
----------------------
Every shape is one ``benchmark.group`` holding one pytest-benchmark entry per implementation:
the vendor baselines first, then ``blasfast``. All entries of a group use the same inputs
(fresh normal random numbers generated on the GPU, one case's arrays resident at a time).
GPU time is the median of CUDA-event timings (``cupyx.profiler.benchmark``: 3 untimed calls,
then up to 20 timed, stopping early past 1.5 s); pytest-benchmark's own wall-clock rounds
(3, with a device synchronize) are a cross-check only. ``bf.warmup()`` runs once per session
before anything is timed, so NVRTC is never measured. Outputs are poisoned with NaN before
the first call, so an unwritten element shows in the error. Every working set is at least
~100 MB, twice the H200's 50 MB L2, so inputs are not rotated.

``extra_info`` of each entry: ``impl``, ``kind``, ``dtype`` (inputs), ``compute``,
``out_dtype`` (of that implementation), ``precision``, ``batch``, ``n`` (square) or ``mnk``,
``shape``, the median ms, GFLOP/s and GB/s (bytes: A and B read once, D written once, in
each implementation's own output dtype), the roofline ``min(peak, intensity * 4.8 TB/s)``
and the % of it reached (peaks in ``_timing.py``, from ../shared/DESIGN.md), ``speedup``
over the primary baseline and ``speedups`` over every baseline timed in the run
(blasfast entries), and ``rel_error`` = ``||D - D_ref|| / ||D_ref||`` against a float64
reference computed once per case on the host, on the first ``ref_subset`` matrices.

Cases
-----
* square ``n x n x n``, n in 2..1024 (powers of two), the batch sized so that one call moves
  ``MOVED_BYTES`` = 1 GiB (A, B read once, blasfast's D written once), capped at
  ``FLOP_CAP`` = 2**35 flop a call (n >= 512 in float64, >= 256 in float32/16-bit), in
  float64 and float32 (vs ``cupy.matmul``, i.e. cuBLAS strided batched), float32 with
  ``compute='tf32'`` (vs ``cupy.matmul`` in FP32 -- CuPy's batched matmul does not use TF32
  -- and ``torch.bmm`` with TF32 allowed), float16 and bfloat16 inputs with float32 output
  (vs ``torch.bmm`` on half/bfloat16 CUDA tensors, FP16/BF16 output, reduced-precision
  reductions off; and ``cupy.matmul`` on the same arrays).
* VGG-16 Winograd F(2x2,3x3) GEMMs (batch, m, n, k) = (1024, 12544, 64, 3),
  (1024, 12544, 64, 64), (256, 12544, 128, 64), (256, 12544, 128, 128) (ANCHORS.md, from the
  MagmaDNN slides), the batch divided by ``VGG_BATCH_SCALE`` = 16 (so 64, 64, 16, 16; the
  factor is in ``extra_info['batch_scale']``), in float32 and float16. Each batch entry has
  its own B (the 16 transformed weight matrices repeated per image): B is < 1% of the bytes.
* FEM tensor contraction ``C_e = A B_e``: ``FEM_BATCH`` = 131072 products of an 8x8 A,
  SHARED by all elements (a 2-D operand broadcast over the batch), with a per-element 8x64
  B_e, in float64 and float32 (vs ``cupy.matmul`` with the same broadcast).
* ``bf.gemm_vbatched`` on ``VBATCHED_COUNT`` = 1024 products with m, n, k drawn uniformly
  from 1..256 (fixed seed), float64 and float32, vs a Python loop of ``cupy.matmul`` calls
  and vs one ``cupy.matmul`` over every matrix zero-padded to the largest sizes (the padding
  copies are not timed, which favours that baseline). GFLOP/s and GB/s count the useful
  work, ``sum(2 m n k)``, for all three. Skipped with a reason while
  ``blasfast.gemm_vbatched`` does not exist.
* CPU path (runs on any machine): 256 products of n = 8 and 64 in float64 and n = 64 in
  float16 (FP32 accumulation emulated), ``bf.batched_gemm`` vs ``numpy.matmul`` (on the
  float32-widened operands for float16), timed by pytest-benchmark.

``python bench/bench_gemm.py`` prints the case list with batch sizes and GPU memory.
"""

import contextlib
import dataclasses
import functools
import types
import zlib

import numpy as np
import pytest

import blasfast as bf
from blasfast import _dtypes
from _timing import (blasfast_warm, free_gpu_memory, gpu_median_ms,  # noqa: F401 (fixture)
                     gpu_random, host64, peak_tflops, record, rel_error, requires_gpu, sync,
                     to_torch, torch_cuda, torch_settings)

MOVED_BYTES = 2**30        # bytes one square call moves (A, B read, D written once)
FLOP_CAP = 2**35           # at most this many flops a square call (large n)
REF_ELEMENTS = 2**20       # the float64 reference: at most this many elements an operand
REF_FLOPS = 2**31          # ... and this many flops
SQUARE_SIZES = [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
VGG16_WINOGRAD = [(1024, 12544, 64, 3), (1024, 12544, 64, 64),
                  (256, 12544, 128, 64), (256, 12544, 128, 128)]
VGG_BATCH_SCALE = 16
FEM_BATCH = 2**17
VBATCHED_COUNT = 1024
VBATCHED_MAX = 256
VBATCHED_REF = 64          # matrices checked against the float64 reference

BLASFAST = "blasfast"
CUPY = "cupy.matmul"
TORCH = "torch.bmm"
LOOP = "cupy.matmul loop"
PADDED = "cupy.matmul padded"

# (input dtype, compute) -> implementations, baselines first (the first is the primary).
PRECISIONS = {
    ("float64", "float64"): (CUPY, BLASFAST),
    ("float32", "float32"): (CUPY, BLASFAST),
    ("float32", "tf32"): (CUPY, TORCH, BLASFAST),
    ("float16", "float32"): (TORCH, CUPY, BLASFAST),
    ("bfloat16", "float32"): (TORCH, CUPY, BLASFAST),
}

_TIMING = "CUDA events, median (cupyx.profiler.benchmark)"


def _np_dtype(name):
    return _dtypes.bfloat16 if name == "bfloat16" else np.dtype(name)


def _precision_label(dtype, compute):
    return dtype if compute == dtype else f"{dtype}/{compute}"


@dataclasses.dataclass(frozen=True)
class Case:
    """One GEMM shape and precision: ``batch`` products ``(m x k) @ (k x n)``."""

    kind: str            # 'square' | 'vgg16-winograd' | 'fem'
    dtype: str           # input dtype name
    compute: str
    batch: int
    m: int
    n: int
    k: int
    a_shared: bool = False
    batch_scale: int = 1

    @property
    def in_dtype(self):
        return _np_dtype(self.dtype)

    @property
    def out_dtype(self):
        """blasfast's result dtype (float32 for 16-bit inputs)."""
        return _dtypes.float32 if self.in_dtype.itemsize == 2 else self.in_dtype

    @property
    def impls(self):
        return PRECISIONS[(self.dtype, self.compute)]

    @property
    def precision(self):
        return _precision_label(self.dtype, self.compute)

    @property
    def flops(self):
        return 2.0 * self.batch * self.m * self.n * self.k

    def nbytes(self, out_itemsize):
        a = self.m * self.k * (1 if self.a_shared else self.batch)
        return ((a + self.batch * self.k * self.n) * self.in_dtype.itemsize
                + self.batch * self.m * self.n * out_itemsize)

    @property
    def shape(self):
        s = f"{self.batch} x {self.m}x{self.n}x{self.k}"
        if self.a_shared:
            s += " (A shared)"
        if self.batch_scale != 1:
            s += f" (batch 1/{self.batch_scale})"
        return s

    @property
    def group(self):
        if self.kind == "square":
            return f"batched_gemm square {self.precision} n={self.n}"
        return f"batched_gemm {self.kind} {self.precision} {self.shape}"

    @property
    def seed(self):
        return zlib.crc32(repr(self).encode())

    @property
    def ref_subset(self):
        """How many leading matrices of the batch the float64 reference covers."""
        biggest = max(self.m * self.k, self.k * self.n, self.m * self.n)
        return int(min(self.batch, max(1, REF_ELEMENTS // biggest),
                       max(1, REF_FLOPS // (2 * self.m * self.n * self.k))))

    def info(self):
        d = dict(kind=self.kind, dtype=self.dtype, compute=self.compute,
                 precision=self.precision, batch=self.batch, shape=self.shape,
                 a_shared=self.a_shared, seed=self.seed, ref_subset=self.ref_subset)
        if self.kind == "square":
            d["n"] = self.n
        else:
            d["mnk"] = [self.m, self.n, self.k]
        if self.batch_scale != 1:
            d["batch_scale"] = self.batch_scale
            d["full_batch"] = self.batch * self.batch_scale
        return d


def square_batch(n, dtype):
    """Matrices per call: ~MOVED_BYTES moved, at most FLOP_CAP flops, at least one."""
    dt = _np_dtype(dtype)
    out = 4 if dt.itemsize == 2 else dt.itemsize
    by_bytes = MOVED_BYTES // (n * n * (2 * dt.itemsize + out))
    by_flops = FLOP_CAP // (2 * n**3)
    return int(max(1, min(by_bytes, by_flops)))


SQUARE_CASES = [Case("square", dt, comp, square_batch(n, dt), n, n, n)
                for (dt, comp) in PRECISIONS for n in SQUARE_SIZES]
VGG_CASES = [Case("vgg16-winograd", dt, "float32", b // VGG_BATCH_SCALE, m, n, k,
                  batch_scale=VGG_BATCH_SCALE)
             for dt in ("float32", "float16") for (b, m, n, k) in VGG16_WINOGRAD]
FEM_CASES = [Case("fem", dt, dt, FEM_BATCH, 8, 64, 8, a_shared=True)
             for dt in ("float64", "float32")]


def _params(cases):
    return [pytest.param(c, impl, id=f"{c.precision.replace('/', '-')}-{c.m}x{c.n}x{c.k}"
                                     f"-b{c.batch}-{impl}")
            for c in cases for impl in c.impls]


# --------------------------------------------------------------------------------------
# Inputs and runners
# --------------------------------------------------------------------------------------

@dataclasses.dataclass
class _Inputs:
    a: object
    b: object
    ref: np.ndarray  # float64 product of the first ``subset`` matrices
    subset: int


_SLOT = {}    # the inputs of the case being run: one case's arrays on the GPU at a time
_TIMES = {}   # (case, impl) -> median ms, so blasfast entries find their baselines' times


@pytest.fixture(scope="module", autouse=True)
def _release_inputs():
    yield
    _SLOT.clear()
    _TIMES.clear()
    if _SLOT_USED:
        free_gpu_memory()


_SLOT_USED = []


def _inputs(case):
    if _SLOT.get("case") == case:
        return _SLOT["value"]
    import cupy

    _SLOT.clear()
    free_gpu_memory()
    _SLOT_USED.append(True)
    rng = cupy.random.default_rng(case.seed)
    a_shape = (case.m, case.k) if case.a_shared else (case.batch, case.m, case.k)
    a = gpu_random(rng, a_shape, case.in_dtype)
    b = gpu_random(rng, (case.batch, case.k, case.n), case.in_dtype)
    s = case.ref_subset
    ref = np.matmul(host64(a if case.a_shared else a[:s]), host64(b[:s]))
    value = _Inputs(a, b, ref, s)
    _SLOT.update(case=case, value=value)
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
        note = "FP32 arithmetic: CuPy's batched matmul does not use TF32" \
            if case.compute == "tf32" else ""
        return _Runner(lambda: cupy.matmul(inp.a, inp.b, out=d), lambda: host64(d[:s]),
                       case.in_dtype, note=note)
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


def _time(runner):
    with runner.context():
        return gpu_median_ms(runner.run)


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


def _baseline_times(case, impls, make_runner):
    """Median ms of each baseline of ``case`` in this run (timed now if not yet)."""
    out = {}
    for base in impls:
        if (case, base) not in _TIMES:
            try:
                r = make_runner(base)
                _first_call(base, case.precision, r)
                _TIMES[(case, base)] = _time(r)
            except (pytest.skip.Exception, Exception):
                continue  # that baseline cannot run here; its own entry says why
        out[base] = _TIMES[(case, base)]
    return out


def _measure(benchmark, case, impl):
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
    ms = _time(runner)
    _TIMES[(case, impl)] = ms
    extra = dict(case.info(), impl=impl, out_dtype=runner.out_dtype.name, timing=_TIMING)
    if runner.note:
        extra["note"] = runner.note
    kw = {}
    if impl == BLASFAST:
        bases = _baseline_times(case, case.impls[:-1],
                                lambda base: _runner(base, case, inp))
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


@requires_gpu
@pytest.mark.parametrize("case, impl", _params(SQUARE_CASES))
def test_batched_gemm_square(benchmark, blasfast_warm, case, impl):
    _measure(benchmark, case, impl)


@requires_gpu
@pytest.mark.parametrize("case, impl", _params(VGG_CASES))
def test_batched_gemm_vgg16_winograd(benchmark, blasfast_warm, case, impl):
    _measure(benchmark, case, impl)


@requires_gpu
@pytest.mark.parametrize("case, impl", _params(FEM_CASES))
def test_batched_gemm_fem(benchmark, blasfast_warm, case, impl):
    _measure(benchmark, case, impl)


# --------------------------------------------------------------------------------------
# Variable sizes
# --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class VCase:
    dtype: str
    count: int = VBATCHED_COUNT
    max_size: int = VBATCHED_MAX

    @property
    def seed(self):
        return zlib.crc32(repr(self).encode())

    @functools.cached_property
    def sizes(self):
        """(count, 3) array of (m, n, k), uniform in 1..max_size."""
        return np.random.default_rng(self.seed).integers(1, self.max_size + 1, (self.count, 3))

    @property
    def flops(self):
        m, n, k = self.sizes.T.astype(np.float64)
        return float(np.sum(2 * m * n * k))

    @property
    def nbytes(self):
        m, n, k = self.sizes.T.astype(np.int64)
        return int(np.sum(m * k + k * n + m * n)) * np.dtype(self.dtype).itemsize

    @property
    def group(self):
        return f"gemm_vbatched {self.dtype} {self.count} x 1..{self.max_size}"

    def info(self):
        mx = self.sizes.max(axis=0)
        return dict(kind="vbatched", dtype=self.dtype, compute=self.dtype,
                    precision=self.dtype, batch=self.count,
                    shape=f"{self.count} x m,n,k ~ U(1..{self.max_size})",
                    max_mnk=[int(v) for v in mx], seed=self.seed,
                    ref_subset=min(self.count, VBATCHED_REF))


V_CASES = [VCase("float64"), VCase("float32")]
V_IMPLS = (LOOP, PADDED, BLASFAST)


def _vbatched_fn():
    fn = getattr(bf, "gemm_vbatched", None)
    if fn is None or isinstance(fn, types.ModuleType):  # not re-exported: the submodule
        mod = pytest.importorskip(
            "blasfast.gemm_vbatched",
            reason="blasfast.gemm_vbatched does not exist yet (src/blasfast/gemm_vbatched.py)")
        fn = getattr(mod, "gemm_vbatched", None)
    if fn is None:
        pytest.skip("blasfast.gemm_vbatched does not exist yet")
    return fn


def _vinputs(vc):
    key = ("v", vc)
    if _SLOT.get("case") == key:
        return _SLOT["value"]
    import cupy

    _SLOT.clear()
    free_gpu_memory()
    _SLOT_USED.append(True)
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
    _SLOT.update(case=key, value=value)
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
    ms = gpu_median_ms(run)
    _TIMES[(vc, impl)] = ms
    extra = dict(vc.info(), impl=impl, out_dtype=vc.dtype, timing=_TIMING)
    if note:
        extra["note"] = note
    kw = {}
    if impl == BLASFAST:
        bases = {}
        for base in V_IMPLS[:-1]:
            if (vc, base) not in _TIMES:
                r, _, _ = _vrunner(base, vc, inp)
                _TIMES[(vc, base)] = gpu_median_ms(r)
            bases[base] = _TIMES[(vc, base)]
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


# --------------------------------------------------------------------------------------

def case_table():
    """Rows (group, impls, batch, flop a call, GPU bytes resident) of every GPU case."""
    rows = []
    for c in SQUARE_CASES + VGG_CASES + FEM_CASES:
        ab = c.nbytes(0)
        d_bf = c.batch * c.m * c.n * c.out_dtype.itemsize
        d_base = c.batch * c.m * c.n * c.in_dtype.itemsize
        rows.append((c.group, ", ".join(c.impls), c.batch, c.flops, c.nbytes(
            c.out_dtype.itemsize), ab + d_bf + d_base))
    for vc in V_CASES:
        mm, nn, kk = (int(v) for v in vc.sizes.max(axis=0))
        isz = np.dtype(vc.dtype).itemsize
        padded = vc.count * (mm * kk + kk * nn + mm * nn) * isz
        rows.append((vc.group, ", ".join(V_IMPLS), vc.count, vc.flops, vc.nbytes,
                     2 * vc.nbytes + padded))
    return rows


if __name__ == "__main__":
    print(f"{'group':66s} {'batch':>9s} {'GFLOP':>8s} {'moved MB':>9s} {'GPU MB':>7s}  impls")
    rows = case_table()
    for g, impls, batch, flops, moved, resident in rows:
        print(f"{g:66s} {batch:9d} {flops / 1e9:8.2f} {moved / 2**20:9.0f} "
              f"{resident / 2**20:7.0f}  {impls}")
    print(f"{len(rows)} GPU cases; the most GPU memory one holds: "
          f"{max(r[5] for r in rows) / 2**30:.2f} GiB (inputs + blasfast and baseline outputs)")
