"""Mixed-precision dense solvers: LU in FP16/BF16/TF32/FP32 refined to working accuracy.

* :func:`solve` -- ``A x = b`` for (..., n, n) stacks with one or several right-hand
  sides: a low-precision LU (FP16 tensor cores on the GPU by default), then iterative
  refinement (IR) or GMRES-IR in float64 until the LAPACK ``dsgesv`` backward-error test
  holds, with an FP64 fallback that is always reported (``dgesvx``-like: equilibrated LU
  with FP64 refinement, then Householder QR) and whose result must pass the same test,
  or the system is reported 'inaccurate';
* :func:`lu_factor` / :func:`lu_solve` -- ``scipy.linalg`` semantics in any factor
  precision;
* :func:`errstate` / :func:`seterr` / :func:`geterr` -- raise, warn or only report
  failures (singular systems, NaN input, no convergence without fallback, inaccurate
  results);
* :func:`generate_matrix` -- MAGMA's test matrices with a prescribed condition number.

Every function takes NumPy arrays (CPU path: the same algorithm in NumPy/LAPACK, with the
FP16/BF16 rounding emulated) or CuPy / CUDA arrays (GPU path: our kernels).
"""

from . import _kernels  # noqa: F401  (declares the kernel families; compiles nothing)
from ._errstate import errstate as errstate
from ._errstate import geterr as geterr
from ._errstate import seterr as seterr
from ._failures import LinAlgWarning as LinAlgWarning
from ._solve import solve as solve
from ._solveinfo import SolveInfo as SolveInfo
from .lu import LUFactors as LUFactors
from .lu import lu_factor as lu_factor
from .lu import lu_solve as lu_solve
from .matgen import KINDS as KINDS
from .matgen import generate_matrix as generate_matrix

__all__ = ["solve", "lu_factor", "lu_solve", "LUFactors", "SolveInfo", "errstate",
           "geterr", "seterr", "LinAlgWarning", "generate_matrix", "KINDS"]
