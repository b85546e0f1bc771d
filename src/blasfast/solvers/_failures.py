"""Turn per-system failures into an exception or a warning, as :mod:`._errstate` says."""

import warnings

import numpy as np
from scipy.linalg import LinAlgWarning

from .._errors import LinAlgError, message

__all__ = ["handle_failures", "LinAlgWarning"]

FAILED = ("not converged", "singular", "non-finite input", "inaccurate")


def handle_failures(op, info, *, stacked, mode):
    """Raise ``LinAlgError`` (with ``.info``) or warn for failed systems; else return.

    ``mode`` is 'raise', 'warn' or 'ignore' (already resolved for this call).
    """
    status = np.ravel(info.status)            # flat, as the indices below (any batch ndim)
    bad = np.flatnonzero(np.isin(status, FAILED))
    if bad.size == 0 or mode == "ignore":
        return
    reasons = np.ravel(info.reason)
    if stacked:
        shape = np.shape(info.status)
        items = [f"system {tuple(int(j) for j in np.unravel_index(i, shape))}: "
                 f"{status[i]} ({reasons[i]})"
                 for i in bad[:3]]
        more = f" and {bad.size - 3} more" if bad.size > 3 else ""
        text = (f"{bad.size} of {status.size} systems failed: " + "; ".join(items) + more
                + ". Their x holds NaN (or the best iterate when not converged or "
                  "inaccurate); info (return_info=True) has the details")
    else:
        text = {"singular": "the matrix is singular",
                "non-finite input": "a or b contains NaN or Inf",
                "not converged": "refinement did not converge and fallback=False",
                "inaccurate": "the result is inaccurate: even the FP64 fallback did not "
                              "pass the backward-error test"}[status[0]]
        if reasons[0] and status[0] != "non-finite input":
            text += f" ({reasons[0]})"
    if mode == "raise":
        err = LinAlgError(message(op, text))
        err.info = info
        raise err
    warnings.warn(message(op, text), LinAlgWarning, stacklevel=3)
