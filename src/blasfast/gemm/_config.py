"""Which GEMM kernel runs for which problem: the configuration tables, as data.

A problem is keyed by its *precision* (input dtype, output dtype, compute) and its *size
class*; the table gives the kernel template and tile. Selection rule (the same for every
architecture we build for, sm_80 and sm_90, until autotuning data says otherwise):

1. ``max(M, N, K) <= 32``  -> ``gemm_small_batched`` (kernels/gemm.cu): one thread per
   element of C, several matrices per block, DIM = the next power of two >= max(M, N, K)
   (at least 4). Any precision: FP16/BF16/TF32 tiny products gain nothing from tensor
   cores, they are bound by memory.
2. FP64 and FP32 compute -> ``gemm_strided_batched`` (CUDA cores), tile by
   ``max(M, N)``: <= 16, <= 64, larger.
3. FP16/BF16 inputs and TF32 compute -> ``gemm_tc_strided_batched`` (tensor cores, WMMA;
   kernels/gemm_tc.cu), tile by ``max(M, N)`` from :mod:`blasfast.gemm._tc`.

Transposes need no key: every kernel reads operands through strides and lets consecutive
threads follow whichever stride is 1. Tiles are the same for sm_80 and sm_90 until H200
measurements (``bench/``) justify per-architecture entries.

Every instantiation any rule can pick is declared here, so the compile check builds all of
them.
"""

import dataclasses

import numpy as np

from .. import _dtypes
from ..kernels import _compile
from . import _tc

MAX_GRID_Y = 65535  # CUDA's limit on gridDim.y and gridDim.z
MAX_GRID_Z = 65535


@dataclasses.dataclass(frozen=True)
class Precision:
    """Operand, accumulation and result types of one GEMM."""

    in_dtype: np.dtype
    out_dtype: np.dtype
    compute: str  # 'float64' | 'float32' | 'tf32'

    @property
    def acc_dtype(self):
        return _dtypes.float64 if self.compute == "float64" else _dtypes.float32

    def template_types(self):
        """``"Tin, Tacc, Tout"`` for a kernel name expression."""
        return (f"{_dtypes.CTYPE[self.in_dtype]}, {_dtypes.CTYPE[self.acc_dtype]}, "
                f"{_dtypes.CTYPE[self.out_dtype]}")

    @property
    def tf32(self):
        return self.compute == "tf32"


# Every (input, output, compute) combination batched_gemm accepts (see _dtypes.COMPUTE).
PRECISIONS = tuple(
    Precision(np.dtype(i), np.dtype(o), c) for i, o, c in [
        ("float64", "float64", "float64"),
        ("float32", "float32", "float32"),
        ("float32", "float32", "tf32"),
        (_dtypes.float16, "float32", "float32"),
        (_dtypes.float16, _dtypes.float16, "float32"),
        (_dtypes.bfloat16, "float32", "float32"),
        (_dtypes.bfloat16, _dtypes.bfloat16, "float32"),
    ])


@dataclasses.dataclass(frozen=True)
class SimtTile:
    """CUDA-core tile: a block computes bm x bn of C, bk at a time; a thread tm x tn."""

    bm: int
    bn: int
    bk: int
    tm: int
    tn: int
    family = "gemm"

    @property
    def threads(self):
        return (self.bm // self.tm) * (self.bn // self.tn)

    def grid(self, m, n, nbatch):
        return (-(-m // self.bm), -(-n // self.bn), min(nbatch, MAX_GRID_Z))

    def kernel_name(self, prec):
        return (f"gemm_strided_batched<{prec.template_types()}, {self.bm}, {self.bn}, "
                f"{self.bk}, {self.tm}, {self.tn}, {str(prec.tf32).lower()}>")


@dataclasses.dataclass(frozen=True)
class SmallTile:
    """Tiny matrices (M, N, K <= dim): one thread per element of C, nmat matrices a block."""

    dim: int
    nmat: int
    family = "gemm"

    @property
    def threads(self):
        return self.dim * self.dim * self.nmat

    def grid(self, m, n, nbatch):
        return (-(-nbatch // self.nmat), 1, 1)

    def kernel_name(self, prec):
        return (f"gemm_small_batched<{prec.template_types()}, {self.dim}, {self.nmat}, "
                f"{str(prec.tf32).lower()}>")


# dim -> tile; about 512 threads a block (1024 for dim 32), as MAGMA's small kernels.
SMALL_TILES = {4: SmallTile(4, 32), 8: SmallTile(8, 8), 16: SmallTile(16, 2),
               32: SmallTile(32, 1)}

# (compute, size class of max(M, N)) -> tile, for the CUDA-core path.
SIMT_TILES = {
    ("float64", "small"): SimtTile(16, 16, 16, 1, 1),
    ("float64", "medium"): SimtTile(32, 32, 16, 2, 2),
    ("float64", "large"): SimtTile(64, 64, 8, 4, 4),
    ("float32", "small"): SimtTile(16, 16, 16, 1, 1),
    ("float32", "medium"): SimtTile(32, 32, 16, 2, 2),
    ("float32", "large"): SimtTile(64, 64, 16, 4, 4),
}

_compile.declare("gemm", "gemm.cu", (
    [t.kernel_name(p) for (c, _), t in SIMT_TILES.items()      # FP64, FP32 (rule 2)
     for p in PRECISIONS if p.compute == c and _tc.tc_kind(p.in_dtype, c) is None]
    + [t.kernel_name(p) for t in SMALL_TILES.values() for p in PRECISIONS]))


def _simt_size_class(m, n):
    big = max(m, n)
    return "small" if big <= 16 else "medium" if big <= 64 else "large"


def select(prec, m, n, k):
    """The tile (and so the kernel) for one problem; see the module docstring."""
    big = max(m, n, k)
    if big <= 32:
        dim = 4
        while dim < big:
            dim *= 2
        return SMALL_TILES[dim]
    if _tc.tc_kind(prec.in_dtype, prec.compute) is None:  # FP64, FP32 compute
        return SIMT_TILES[(prec.compute, _simt_size_class(m, n))]
    return _tc.tc_tile(prec.in_dtype, prec.out_dtype, prec.compute, m, n)
