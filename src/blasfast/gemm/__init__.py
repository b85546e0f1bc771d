"""Batched GEMM: ``D = alpha * op(A) @ op(B) + beta * C`` over stacks and lists of matrices."""

from ._batched import batched_gemm as batched_gemm
from ._batched import matmul as matmul
from ._plan import BatchedGemm as BatchedGemm
from ._plan import GemmGraph as GemmGraph
from ._vbatched import gemm_vbatched as gemm_vbatched

__all__ = ["BatchedGemm", "GemmGraph", "batched_gemm", "gemm_vbatched", "matmul"]
