"""Turn per-system failures into an exception or a warning, as :mod:`._errstate` says."""

import warnings

import numpy as np
from scipy.linalg import LinAlgWarning

from .._errors import LinAlgError, message
from ._solveinfo import SOLVED_MAX, STATUSES

__all__ = ["handle_failures", "LinAlgWarning"]

FAILED = ("not converged", "singular", "non-finite input", "inaccurate")
assert set(FAILED) == set(STATUSES[SOLVED_MAX + 1:])


def handle_failures(op, info, *, stacked, mode, codes=None):
    """Raise ``LinAlgError`` (with ``.info``) or warn for failed systems; else return.

    ``mode`` is 'raise', 'warn' or 'ignore' (already resolved for this call). ``codes``,
    when given, are the flat int status codes (into ``_solveinfo.STATUSES``) behind
    ``info.status``: the failed systems are then found by one integer comparison instead
    of a search of the string array.
    """
    if mode == "ignore":
        return
    if codes is not None:
        bad = np.flatnonzero(np.ravel(codes) > SOLVED_MAX)
        if bad.size == 0:
            return
    status = np.ravel(info.status)            # flat, as the indices below (any batch ndim)
    if codes is None:
        bad = np.flatnonzero(np.isin(status, FAILED))
    if bad.size == 0:
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
