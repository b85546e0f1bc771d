"""Batched GEMM: ``D = alpha * op(A) @ op(B) + beta * C`` over stacks and lists of matrices.

The public functions are re-exported here (and from :mod:`blasfast`); one job per private
module, each importing only those listed before it (no import cycle):

* ``_tc``, ``_config``: the kernel configuration tables (tensor-core tiles; every tile and
  the rule that selects one), declaring each instantiation for the compile check;
* ``_cpu``: the CPU path's arithmetic with the GPU's precision semantics;
* ``_launch``: the strided batched GEMM's GPU launcher and its host-side arithmetic;
* ``_args``: :func:`batched_gemm`'s validation (shared with :class:`BatchedGemm`);
* ``_core``: configured launches and the cache :func:`batched_gemm` keeps of them;
* ``_vbatched``: :func:`gemm_vbatched` (its validation, launcher and CPU path);
* ``_docs``: docstring parts shared by :func:`batched_gemm` and :func:`matmul`;
* ``_batched``: :func:`batched_gemm`;
* ``_matmul``: :func:`matmul`;
* ``_plan``: :class:`BatchedGemm` and :class:`GemmGraph`.
"""

from ._batched import batched_gemm as batched_gemm
from ._matmul import matmul as matmul
from ._plan import BatchedGemm as BatchedGemm
from ._plan import GemmGraph as GemmGraph
from ._vbatched import gemm_vbatched as gemm_vbatched

__all__ = ["BatchedGemm", "GemmGraph", "batched_gemm", "gemm_vbatched", "matmul"]
