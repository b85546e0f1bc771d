"""Exceptions raised by blasfast and the one template their messages follow.

Every message names the operation, the argument, what was expected and what came::

    batched_gemm: a and b must agree on K, got (8, 3, 5) and (8, 4, 2)
"""

import numpy as _np

__all__ = ["LinAlgError", "KernelCompileError", "message"]


class LinAlgError(_np.linalg.LinAlgError):
    """Numerical failure of a linear-algebra routine (singular matrix, no convergence).

    Subclasses :class:`numpy.linalg.LinAlgError` (itself a ``ValueError``), so code that
    already catches NumPy's error keeps working.
    """


class KernelCompileError(RuntimeError):
    """A CUDA kernel family failed to compile with NVRTC; the message holds the log."""


def message(op, text):
    """Format an error message as ``"<op>: <text>"``."""
    return f"{op}: {text}"
