"""Tensor-core batched GEMM: tile table and kernel declaration (``kernels/gemm_tc.cu``).

Data only; the launcher in :mod:`blasfast.gemm._launch` asks :func:`tc_tile` for a tile
and launches ``tile.name_expression(in_dtype, out_dtype)`` with grid ``(ceil(M/bm),
ceil(N/bn), min(batch, 65535))`` and ``tile.threads`` threads, with the argument list of
``gemm_strided_batched`` except that ``alpha`` and ``beta`` are always float32.

Compute kinds and the (input, output) dtype pairs each one is instantiated for:

==========  ====================  ============================================
kind        inputs                outputs
==========  ====================  ============================================
'float16'   float16               float32, float16 (FP32 accumulation)
'bfloat16'  bfloat16              float32, bfloat16 (FP32 accumulation)
'tf32'      float32, compute=tf32 float32 (operands rounded to TF32, FP32 acc.)
==========  ====================  ============================================
"""

import dataclasses

import numpy as np

from .. import _dtypes
from ..kernels import _compile

__all__ = ["TcTile", "TC_TILES", "TC_PAIRS", "tc_kind", "tc_size_class", "tc_tile"]


@dataclasses.dataclass(frozen=True)
class TcTile:
    """A thread block computes a ``bm x bn`` tile of D, ``bk`` columns of op(A) at a time,
    with ``(bm/wm) * (bn/wn)`` warps each owning a ``wm x wn`` sub-tile of 16 x 16 WMMA
    accumulator fragments."""

    bm: int
    bn: int
    bk: int
    wm: int
    wn: int
    family = "gemm_tc"

    @property
    def warps(self):
        return (self.bm // self.wm) * (self.bn // self.wn)

    @property
    def threads(self):
        return 32 * self.warps

    def grid(self, m, n, nbatch):
        return (-(-m // self.bm), -(-n // self.bn), min(nbatch, 65535))

    def kernel_name(self, prec):
        """The name expression for a :class:`blasfast.gemm._config.Precision`."""
        return self.name_expression(prec.in_dtype, prec.out_dtype)

    def name_expression(self, in_dtype, out_dtype):
        tin = _dtypes.CTYPE[np.dtype(in_dtype)]
        tout = _dtypes.CTYPE[np.dtype(out_dtype)]
        return (f"gemm_tc_strided_batched<{tin}, {tout}, {self.bm}, {self.bn}, {self.bk}, "
                f"{self.wm}, {self.wn}>")


# (compute kind, size class) -> tile. Size class = max(M, N): 'small' <= 32, 'medium' <= 128,
# 'large' above. Every tile has 4 or 8 warps (128 or 256 threads), so that at most 16 or 8
# blocks fill an SM's 2048 threads (the per-SM block limit is 32). Per k-step a block moves
# the same number of bytes for 16-bit and TF32 operands (TF32 large halves bk).
_SMALL = TcTile(32, 32, 32, 16, 16)      # 4 warps x one 16x16 fragment; one tile per matrix
_MEDIUM = TcTile(64, 64, 32, 32, 32)     # 4 warps x 2x2 fragments
_LARGE_16 = TcTile(128, 128, 32, 64, 32)  # 8 warps x 4x2 fragments (64 FP32 acc. registers)
_LARGE_TF32 = TcTile(128, 128, 16, 64, 32)

TC_TILES = {
    ("float16", "small"): _SMALL,
    ("float16", "medium"): _MEDIUM,
    ("float16", "large"): _LARGE_16,
    ("bfloat16", "small"): _SMALL,
    ("bfloat16", "medium"): _MEDIUM,
    ("bfloat16", "large"): _LARGE_16,
    ("tf32", "small"): _SMALL,
    ("tf32", "medium"): _MEDIUM,
    ("tf32", "large"): _LARGE_TF32,
}

# compute kind -> the (input, output) dtype pairs instantiated for it.
TC_PAIRS = {
    "float16": ((_dtypes.float16, _dtypes.float32), (_dtypes.float16, _dtypes.float16)),
    "bfloat16": ((_dtypes.bfloat16, _dtypes.float32), (_dtypes.bfloat16, _dtypes.bfloat16)),
    "tf32": ((_dtypes.float32, _dtypes.float32),),
}


def _name_expressions():
    names = []
    for (kind, _), tile in TC_TILES.items():
        for tin, tout in TC_PAIRS[kind]:
            name = tile.name_expression(tin, tout)
            if name not in names:
                names.append(name)
    return names


_compile.declare("gemm_tc", "gemm_tc.cu", _name_expressions())


def tc_kind(in_dtype, compute):
    """The tensor-core compute kind for inputs of ``in_dtype`` with ``compute`` (as in
    :func:`blasfast._dtypes.gemm_precision`), or None if no tensor-core kernel applies
    (float64, or float32 with ``compute='float32'``)."""
    in_dtype = np.dtype(in_dtype)
    if in_dtype == _dtypes.float16:
        return "float16"
    if in_dtype == _dtypes.bfloat16:
        return "bfloat16"
    if in_dtype == _dtypes.float32 and compute == "tf32":
        return "tf32"
    return None


def tc_size_class(m, n):
    """'small' (max(m, n) <= 32), 'medium' (<= 128) or 'large'."""
    big = max(m, n)
    return "small" if big <= 32 else "medium" if big <= 128 else "large"


def tc_tile(in_dtype, out_dtype, compute, m, n):
    """The :class:`TcTile` for a batched GEMM of ``m x n`` results.

    Parameters
    ----------
    in_dtype, out_dtype : numpy dtype
        Operand dtype (float16, bfloat16, or float32 with ``compute='tf32'``) and result
        dtype (float32, or the input dtype for 16-bit inputs).
    compute : str
        The ``compute`` of :func:`blasfast._dtypes.gemm_precision`.
    m, n : int
        Rows and columns of each result matrix.

    Raises
    ------
    ValueError
        If no tensor-core kernel is instantiated for this combination (a launcher bug: the
        public function validates dtypes before).
    """
    kind = tc_kind(in_dtype, compute)
    pair = (np.dtype(in_dtype), np.dtype(out_dtype))
    if kind is None or pair not in TC_PAIRS[kind]:
        raise ValueError(f"no tensor-core GEMM kernel for inputs {pair[0].name}, output "
                         f"{pair[1].name}, compute={compute!r}")
    return TC_TILES[(kind, tc_size_class(m, n))]
