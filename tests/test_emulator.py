"""The CUDA emulator itself: CuPy's RawKernel interface, CUDA's execution model (barriers,
warp collectives, shared memory, atomics, spin-waits across blocks), the driver's launch
checks, WMMA and mma.sync, and what it reports when a kernel is wrong."""

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import NO_EMULATOR

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(NO_EMULATOR is not None, reason=str(NO_EMULATOR))]

em = pytest.importorskip("blasfast.emulator")

# The README's example: a CuPy user's kernel, a shared-memory block reduction finished by a
# warp shuffle, unchanged.
REDUCE = r"""
extern "C" __global__ void block_sum(const float* x, float* out, int n)
{
    __shared__ float warp_sums[32];
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
        v += x[i];
    for (int off = 16; off > 0; off >>= 1)
        v += __shfl_down_sync(0xffffffff, v, off);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < blockDim.x / 32 ? warp_sums[lane] : 0.0f;
        for (int off = 16; off > 0; off >>= 1)
            v += __shfl_xor_sync(0xffffffff, v, off);
        if (lane == 0) atomicAdd(out, v);
    }
}
"""


def test_a_cupy_users_raw_kernel_runs_unchanged(rng):
    kern = em.RawKernel(REDUCE, "block_sum")
    x = rng.standard_normal(50_001).astype(np.float32)
    out = em.zeros(1, np.float32)
    kern((8,), (256,), (em.asarray(x), out, np.int32(x.size)))
    ref = x.astype(np.float64).sum()
    # float32 partial sums: |error| <= n u sum|x| (u = 2^-24), far below a wrong answer
    assert abs(float(out.get()[0]) - ref) <= x.size * 2.0**-24 * np.abs(x).sum()
    assert abs(float(out.get()[0]) - ref) < 0.05 * np.abs(x).sum() / np.sqrt(x.size)


def test_the_readme_example_runs_as_printed(capsys):
    """The README's RawKernel example, executed as the README prints it."""
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## The CUDA emulator", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'em.RawKernel(source, "block_sum")' in code
    exec(compile(code, "README.md", "exec"), {})
    got, ref = map(float, capsys.readouterr().out.split())
    x = np.random.default_rng(0).standard_normal(50_001).astype(np.float32)  # the README's
    assert ref == x.sum(dtype=np.float64)
    assert abs(got - ref) <= x.size * 2.0**-24 * np.abs(x).sum()   # float32 partial sums
    assert abs(got - ref) < 0.05 * np.abs(x).sum() / np.sqrt(x.size)


TEMPLATES = r"""
template <typename T>
__global__ void neighbour(const T* x, T* y, int n, int sync)
{
    extern __shared__ unsigned char raw[];
    T* s = reinterpret_cast<T*>(raw);
    const int i = threadIdx.x;
    s[i] = x[blockIdx.x * blockDim.x + i];
    if (sync) __syncthreads();
    y[blockIdx.x * blockDim.x + i] = s[(i + 1) % blockDim.x];
}
"""


def _neighbour(dtype):
    mod = em.RawModule(code=TEMPLATES, name_expressions=["neighbour<float>",
                                                         "neighbour<double>"])
    return mod.get_function("neighbour<float>" if dtype == np.float32 else "neighbour<double>")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_templates_dynamic_shared_memory_and_a_barrier(rng, dtype):
    k = _neighbour(dtype)
    x = rng.standard_normal(4 * 128).astype(dtype)
    y = em.empty_like(em.asarray(x))
    k((4,), (128,), (em.asarray(x), y, np.int32(x.size), np.int32(1)),
      shared_mem=128 * np.dtype(dtype).itemsize)
    assert np.array_equal(y.get(), np.roll(x.reshape(4, 128), -1, axis=1).ravel())


def test_a_missing_barrier_is_caught_by_poisoned_shared_memory_and_shuffled_schedules(rng):
    k = _neighbour(np.float32)
    x = rng.standard_normal(4 * 128).astype(np.float32)
    ref = np.roll(x.reshape(4, 128), -1, axis=1).ravel()
    wrong = []
    for schedule, seed in [("default", 0), ("shuffle", 1), ("shuffle", 2)]:
        with em.configure(schedule=schedule, seed=seed):
            y = em.empty(x.size, np.float32)
            k((4,), (128,), (em.asarray(x), y, np.int32(x.size), np.int32(0)),
              shared_mem=512)
            wrong.append(int(np.sum(~(y.get() == ref))))
    assert all(w > 0 for w in wrong), wrong  # never a lucky right answer
    with em.configure(schedule="shuffle", seed=3):  # with the barrier: right in any order
        y = em.empty(x.size, np.float32)
        k((4,), (128,), (em.asarray(x), y, np.int32(x.size), np.int32(1)), shared_mem=512)
    assert np.array_equal(y.get(), ref)


def test_default_schedule_is_deterministic(rng):
    kern = em.RawKernel(REDUCE, "block_sum")
    x = em.asarray(rng.standard_normal(10_000).astype(np.float32))
    sums = set()
    for _ in range(3):
        out = em.zeros(1, np.float32)
        kern((1,), (256,), (x, out, np.int32(10_000)))
        sums.add(float(out.get()[0]))
    assert len(sums) == 1


def test_shared_memory_opt_in_and_the_drivers_limits():
    k = _neighbour(np.float64)
    x = em.zeros(128, np.float64)
    args = (x, x, np.int32(128), np.int32(1))
    with pytest.raises(em.LaunchError, match="max_dynamic_shared_size_bytes"):
        k((1,), (128,), args, shared_mem=60_000)
    k.max_dynamic_shared_size_bytes = 60_000
    k((1,), (128,), args, shared_mem=60_000)
    k.max_dynamic_shared_size_bytes = 240_000
    with pytest.raises(em.LaunchError, match="227|232448"):
        k((1,), (128,), args, shared_mem=1024)
    k.max_dynamic_shared_size_bytes = 48 * 1024
    with pytest.raises(em.LaunchError, match="1024 threads"):
        k((1,), (1025,), args)
    with pytest.raises(em.LaunchError, match="1024 threads"):
        k((1,), (1, 1, 65), args)
    with pytest.raises(em.LaunchError, match="grid"):
        k((1, 65536), (32,), args)
    with pytest.raises(em.LaunchError, match="positive"):
        k((0,), (32,), args)


def test_arguments_are_checked_against_the_kernels_parameters():
    k = _neighbour(np.float32)
    x = em.zeros(32, np.float32)
    with pytest.raises(em.LaunchError, match="takes 4 arguments, got 3"):
        k((1,), (32,), (x, x, np.int32(32)))
    with pytest.raises(em.LaunchError, match="argument 2 is an array"):
        k((1,), (32,), (x, x, x, np.int32(1)))
    with pytest.raises(em.LaunchError, match="argument 2 is float32"):
        k((1,), (32,), (x, x, np.float32(32), np.int32(1)))
    with pytest.raises(em.LaunchError, match="argument 2 is int16"):
        k((1,), (32,), (x, x, np.int16(32), np.int32(1)))
    with pytest.raises(em.LaunchError, match="does not fit"):
        k((1,), (32,), (x, x, 2**40, np.int32(1)))
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        k((1,), (32,), (x, np.zeros(32, np.float32), np.int32(32), np.int32(1)))
    scale = em.RawKernel(r'extern "C" __global__ void s(float* x, float a) '
                         r'{ x[threadIdx.x] *= a; }', "s")
    with pytest.raises(em.LaunchError, match="a Python float is a double"):
        scale((1,), (32,), (x, 2.0))
    # A Python int for an int parameter works as on CuPy (the driver reads the low bytes).
    k((1,), (32,), (x, x, 32, 1), shared_mem=128)


FAULTS = r"""
extern "C" __global__ void early_exit(float* x)
{
    if (threadIdx.x >= 16) return;
    __syncthreads();
    x[threadIdx.x] = 1.0f;
}
extern "C" __global__ void divergent_shuffle(float* x)
{
    float v = x[threadIdx.x];
    if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
    x[threadIdx.x] = v;
}
extern "C" __global__ void shuffle_or_barrier(float* x)
{
    float v = x[threadIdx.x];
    if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
    else __syncthreads();
    x[threadIdx.x] = v;
}
extern "C" __global__ void outside_mask(float* x)
{
    if (threadIdx.x < 16) x[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, x[threadIdx.x], 16);
}
extern "C" __global__ void not_my_mask(float* x)
{
    x[threadIdx.x] = __shfl_sync(0x0000fffeu, x[threadIdx.x], 1);
}
extern "C" __global__ void asserts(const float* x)
{
    assert(x[threadIdx.x] >= 0.0f);
}
extern "C" __global__ void grid_barrier(unsigned* count, float* out, unsigned nblocks)
{
    __syncthreads();
    if (threadIdx.x == 0) {
        atomicAdd(count, 1u);
        while (atomicAdd(count, 0u) < nblocks) __nanosleep(100);
    }
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = float(atomicAdd(count, 0u));
}
"""

_FAULT_NAMES = ["early_exit", "divergent_shuffle", "shuffle_or_barrier", "outside_mask", "not_my_mask", "asserts",
                "grid_barrier"]


@pytest.fixture(scope="module")
def faults():
    return em.RawModule(code=FAULTS, name_expressions=_FAULT_NAMES)


# Which lane reports a misuse depends on the schedule: under the default one the first
# lane to fail, under a shuffled one whichever runs first (CI runs both).
@pytest.mark.parametrize("name, match", [
    ("early_exit", "exited"),
    ("divergent_shuffle", r"exited while lanes 0x0000[0-9a-f]{4} of its warp wait for it in "
                          r"__shfl_xor_sync|__shfl_xor_sync: lanes 0x[0-9a-f]{4}0000 of the mask "
                          r"0xffffffff have exited"),
    ("shuffle_or_barrier", "deadlock: of 32 threads, 16 wait at __syncthreads, 16 at a warp "
                           "collective"),
    ("outside_mask", "reads lane 16, which is not in the mask"),
    ("not_my_mask", r"the mask 0x0000fffe does not include the calling lane "
                    r"(0|1[6-9]|2\d|3[01])\b"),
])
def test_collective_and_barrier_misuse_is_an_error_naming_kernel_block_and_thread(
        faults, name, match):
    x = em.ones(32, np.float32)
    with pytest.raises(em.EmulatorError, match=match) as info:
        faults.get_function(name)((2,), (32,), (x,))
    assert f"kernel '{name}'" in str(info.value) and "block (" in str(info.value)


def test_a_failed_device_assert_ends_the_launch(faults):
    x = em.asarray(np.array([1.0] * 31 + [-1.0], np.float32))
    with pytest.raises(em.EmulatorError, match=r"assertion failed: x\[threadIdx.x\] >= 0"):
        faults.get_function("asserts")((1,), (32,), (x,))


def test_blocks_that_wait_for_each_other_are_made_resident(faults):
    count = em.zeros(1, np.uint32)
    out = em.empty(24 * 32, np.float32)
    with em.configure(workers=1):  # the others must be started for the wait to end
        faults.get_function("grid_barrier")((24,), (32,), (count, out, np.uint32(24)))
    assert np.all(out.get() == 24)


def test_a_wait_that_can_never_end_is_a_deadlock_not_a_hang(faults):
    count = em.zeros(1, np.uint32)
    out = em.empty(24 * 32, np.float32)
    with em.configure(workers=1, max_resident=4, deadlock_seconds=0.3):
        with pytest.raises(em.EmulatorError, match="deadlock: all 4 resident blocks"):
            faults.get_function("grid_barrier")((24,), (32,), (count, out, np.uint32(24)))


WMMA = r"""
#include <mma.h>
#include <cuda_fp16.h>
using namespace nvcuda;
extern "C" __global__ void wmma_tile(const __half* a, const __half* b, float* c, int lda,
                                     int ldb, int ldc)
{
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::load_matrix_sync(fc, c, ldc, wmma::mem_row_major);
    wmma::load_matrix_sync(fa, a, lda);
    wmma::load_matrix_sync(fb, b, ldb);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, ldc, wmma::mem_row_major);
}
extern "C" __global__ void wmma_tf32(const float* a, const float* b, float* c)
{
    wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 8, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    wmma::load_matrix_sync(fa, a, 8);
    wmma::load_matrix_sync(fb, b, 16);
    for (int i = 0; i < fa.num_elements; ++i) fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
    for (int i = 0; i < fb.num_elements; ++i) fb.x[i] = wmma::__float_to_tf32(fb.x[i]);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
}
"""


@pytest.fixture(scope="module")
def wmma():
    return em.RawModule(code=WMMA, name_expressions=["wmma_tile", "wmma_tf32"])


def test_wmma_half_product_with_fp32_accumulation(wmma, rng):
    a = rng.standard_normal((16, 32)).astype(np.float16)        # lda 32
    bt = rng.standard_normal((16, 16)).astype(np.float16)       # B column-major: B = bt.T
    c = rng.standard_normal((16, 16)).astype(np.float32)
    dc = em.asarray(c)
    wmma.get_function("wmma_tile")((1,), (32,), (em.asarray(a), em.asarray(bt), dc,
                                                  np.int32(32), np.int32(16), np.int32(16)))
    ref = a[:, :16].astype(np.float64) @ bt.T.astype(np.float64) + c
    # exact products, 16 FP32 additions: |err| <= 17 u (|A||B| + |C|), u = 2^-24
    bound = 17 * 2.0**-24 * (np.abs(a[:, :16].astype(np.float64)) @ np.abs(bt.T) + np.abs(c))
    assert np.all(np.abs(dc.get() - ref) <= bound)


def test_wmma_rejects_misaligned_rows(wmma, rng):
    a = em.asarray(rng.standard_normal((16, 24)).astype(np.float16))
    b = em.asarray(rng.standard_normal((16, 16)).astype(np.float16))
    c = em.zeros((16, 16), np.float32)
    with pytest.raises(em.EmulatorError, match="ldm 24 .* not a multiple of 32 bytes"):
        wmma.get_function("wmma_tile")((1,), (32,), (a, b, c, np.int32(24), np.int32(16),
                                                      np.int32(16)))
    with pytest.raises(em.EmulatorError, match="names lanes 0xffff0000 that do not exist"):
        wmma.get_function("wmma_tile")((1,), (16,), (a, b, c, np.int32(24), np.int32(16),
                                                      np.int32(16)))


def test_wmma_tf32_uses_rounded_operands(wmma, rng):
    from blasfast import _dtypes

    a = rng.standard_normal((16, 8)).astype(np.float32)
    b = rng.standard_normal((8, 16)).astype(np.float32)
    c = em.empty((16, 16), np.float32)
    wmma.get_function("wmma_tf32")((1,), (32,), (em.asarray(a), em.asarray(b), c))
    ra, rb = (_dtypes.round_to_tf32(v).astype(np.float64) for v in (a, b))
    bound = 9 * 2.0**-24 * (np.abs(ra) @ np.abs(rb))
    assert np.all(np.abs(c.get() - ra @ rb) <= bound)
    assert np.abs(c.get() - a.astype(np.float64) @ b).max() > bound.max()  # TF32 differs


PTX = r"""
#include "ptx.cuh"
extern "C" __global__ void mma16816(const unsigned* a, const unsigned* b, float* d, int swap)
{
    const int lane = threadIdx.x;
    const unsigned* ar = a + 4 * lane;
    const unsigned* br = b + 2 * lane;
    float r[4];
    if (swap) mma_m16n8k16_f32_f16(r, ar[1], ar[0], ar[2], ar[3], br[0], br[1]);
    else mma_m16n8k16_f32_f16(r, ar[0], ar[1], ar[2], ar[3], br[0], br[1]);
    for (int i = 0; i < 4; ++i) d[4 * lane + i] = r[i];
}
extern "C" __global__ void tf32(const float* x, float* y, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = cvt_rna_tf32(x[i]);
}
"""


def _pack16816(A, B):
    """The PTX ISA's m16n8k16 register layout of A (16 x 16) and B (16 x 8), per lane."""
    a = np.zeros((32, 4, 2), np.float16)
    b = np.zeros((32, 2, 2), np.float16)
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        for h in range(2):
            a[lane, 0, h], a[lane, 1, h] = A[g, 2 * t + h], A[g + 8, 2 * t + h]
            a[lane, 2, h], a[lane, 3, h] = A[g, 2 * t + 8 + h], A[g + 8, 2 * t + 8 + h]
            b[lane, 0, h], b[lane, 1, h] = B[2 * t + h, g], B[2 * t + 8 + h, g]
    return a.view(np.uint32).reshape(32, 4), b.view(np.uint32).reshape(32, 2)


def _unpack16816(d):
    D = np.zeros((16, 8), np.float32)
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        D[g, 2 * t], D[g, 2 * t + 1], D[g + 8, 2 * t], D[g + 8, 2 * t + 1] = d[lane]
    return D


@pytest.fixture(scope="module")
def ptx():
    from blasfast.kernels import _compile

    return em.RawModule(code=PTX, options=(f"-I{_compile.KERNEL_DIR}",),
                        name_expressions=["mma16816", "tf32"])


def test_mma_sync_m16n8k16_follows_the_ptx_lane_layout(ptx, rng):
    A = rng.standard_normal((16, 16)).astype(np.float16)
    B = rng.standard_normal((16, 8)).astype(np.float16)
    a, b = _pack16816(A, B)
    d = em.empty((32, 4), np.float32)
    fn = ptx.get_function("mma16816")
    fn((1,), (32,), (em.asarray(a), em.asarray(b), d, np.int32(0)))
    ref = A.astype(np.float64) @ B.astype(np.float64)
    bound = 16 * 2.0**-24 * (np.abs(A.astype(np.float64)) @ np.abs(B.astype(np.float64)))
    assert np.all(np.abs(_unpack16816(d.get()) - ref) <= bound)
    fn((1,), (32,), (em.asarray(a), em.asarray(b), d, np.int32(1)))  # a0 <-> a1 swapped
    assert np.abs(_unpack16816(d.get()) - ref).max() > 100 * bound.max()


def test_cvt_rna_tf32_rounds_to_nearest_ties_away(ptx, rng):
    from blasfast import _dtypes

    base = rng.standard_normal(4000).astype(np.float32).view(np.uint32)
    ties = (base & np.uint32(0xFFFFE000)) | np.uint32(0x1000)      # exactly half an ulp
    special = np.array([0.0, -0.0, np.inf, -np.inf, 3.4028235e38, 1e-40],
                       np.float32).view(np.uint32)
    x = np.concatenate([base, ties, special]).view(np.float32)
    y = em.empty_like(em.asarray(x))
    ptx.get_function("tf32")((-(-x.size // 256),), (256,), (em.asarray(x), y,
                                                            np.int32(x.size)))
    assert np.array_equal(y.get().view(np.uint32), _dtypes.round_to_tf32(x).view(np.uint32))
    tie = ties.view(np.float32)
    up = np.abs(y.get()[base.size:2 * base.size]) > np.abs(tie)
    assert np.all(up[np.isfinite(tie)])                              # ties go away from 0


def test_compiled_libraries_are_cached_on_disk(tmp_path, monkeypatch):
    from blasfast.emulator import _build

    monkeypatch.setenv("BLASFAST_EMULATOR_CACHE", str(tmp_path))
    calls = []
    real = _build._run
    monkeypatch.setattr(_build, "_run", lambda *a: calls.append(a[1]) or real(*a))
    code = REDUCE.replace("block_sum", "block_sum_cached")
    em.RawModule(code=code, name_expressions=["block_sum_cached"]).get_function(
        "block_sum_cached")
    first = len(calls)
    em.RawModule(code=code, name_expressions=["block_sum_cached"]).get_function(
        "block_sum_cached")
    assert first >= 2 and len(calls) == first  # runtime + kernels once; nothing the 2nd time


def test_a_compile_error_shows_the_compilers_log():
    with pytest.raises(em.EmulatorCompileError, match="undeclared|not declared"):
        em.RawModule(code='extern "C" __global__ void k(float* x) { x[0] = nope; }',
                     name_expressions=["k"]).get_function("k")


OOB = r"""
extern "C" __global__ void past_end(float* x, int n)
{
    x[n] = 1.0f;
}
extern "C" __global__ void past_dynamic_shared(float* x)
{
    extern __shared__ float s[];
    s[threadIdx.x] = x[threadIdx.x];
    __syncthreads();
    x[threadIdx.x] = s[threadIdx.x + 1];
}
"""


@pytest.mark.slow
@pytest.mark.skipif(not pathlib.Path(subprocess.run(
    ["g++", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    or "/nonexistent").exists(), reason="no AddressSanitizer runtime (libasan) for g++")
@pytest.mark.parametrize("kernel, shared", [("past_end", 0), ("past_dynamic_shared", 128)])
def test_address_sanitizer_reports_out_of_bounds_accesses(kernel, shared, tmp_path):
    preload = " ".join(subprocess.run(["g++", f"-print-file-name={lib}"], capture_output=True,
                                      text=True).stdout.strip()
                       for lib in ("libasan.so", "libstdc++.so"))
    script = tmp_path / "oob.py"
    args = "(x, np.int32(32))" if kernel == "past_end" else "(x,)"
    script.write_text(textwrap.dedent(f"""
        import numpy as np
        import blasfast.emulator as em
        mod = em.RawModule(code={OOB!r}, name_expressions=["{kernel}"])
        x = em.zeros(32, np.float32)
        mod.get_function("{kernel}")((1,), (32,), {args}, shared_mem={shared})
        print("no report")
    """))
    env = dict(os.environ, BLASFAST_EMULATOR_SANITIZE="address", LD_PRELOAD=preload,
               ASAN_OPTIONS="detect_leaks=0")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode != 0, out.stdout + out.stderr
    # a report, not one of ASan's own CHECK failures (which also name AddressSanitizer)
    assert "ERROR: AddressSanitizer:" in out.stderr and "no report" not in out.stdout
