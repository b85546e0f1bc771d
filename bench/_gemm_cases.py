"""The batched GEMM benchmark cases, as data: shapes, precisions, implementations, batch sizes.

Shared by ``bench_gemm.py`` (FP64/FP32, fixed sizes), ``bench_gemm_tc.py`` (tensor cores:
TF32, FP16, BF16) and ``bench_gemm_vbatched.py`` (variable sizes); no GPU is needed to build
them (``python bench/bench_gemm.py`` prints the table). See ``bench_gemm.py``'s docstring for
how a case is measured.
"""

import dataclasses
import functools
import zlib

import numpy as np
import pytest

from blasfast import _dtypes

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
CUPY_TF32 = "cupy.matmul CUPY_TF32"             # the float32 compute type set to TF32
CUPY_TF32_MATH = "cupy.matmul TF32 math mode"   # cuBLAS handle in CUBLAS_TF32_TENSOR_OP_MATH
TORCH = "torch.bmm"
LOOP = "cupy.matmul loop"
PADDED = "cupy.matmul padded"

# (input dtype, compute) -> implementations, baselines first (the first is the primary).
# TF32: the like-for-like baselines first -- cuBLAS with TF32 through CuPy, then PyTorch --
# and CuPy's default FP32 arithmetic last, for reference.
PRECISIONS = {
    ("float64", "float64"): (CUPY, BLASFAST),
    ("float32", "float32"): (CUPY, BLASFAST),
    ("float32", "tf32"): (CUPY_TF32_MATH, CUPY_TF32, TORCH, CUPY, BLASFAST),
    ("float16", "float32"): (TORCH, CUPY, BLASFAST),
    ("bfloat16", "float32"): (TORCH, CUPY, BLASFAST),
}
#: The precisions of the tensor-core file (``bench_gemm_tc.py``); the others are
#: ``bench_gemm.py``'s.
TENSOR_CORE = (("float32", "tf32"), ("float16", "float32"), ("bfloat16", "float32"))



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


def tensor_core(case):
    """True for the cases of ``bench_gemm_tc.py`` (TF32 and 16-bit inputs)."""
    return (case.dtype, case.compute) in TENSOR_CORE


def params(cases):
    """pytest parameters ``(case, impl)`` with the ids the node ids (and ``gpu_check``'s
    headline patterns) use: ``<precision>-<m>x<n>x<k>-b<batch>-<impl>``."""
    return [pytest.param(c, impl, id=f"{c.precision.replace('/', '-')}-{c.m}x{c.n}x{c.k}"
                                     f"-b{c.batch}-{impl}")
            for c in cases for impl in c.impls]


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


