"""The record :func:`blasfast.solvers.solve` returns with ``return_info=True``."""

import dataclasses
from typing import Any, Union

import numpy as np
import numpy.typing as npt

__all__ = ["SolveInfo", "STATUSES"]

STATUSES = ("converged", "fell back", "not converged", "singular", "non-finite input",
            "inaccurate")

# Internally a stack's statuses are int8 codes into STATUSES (codes below SOLVED_MAX are
# solved, the others failures), and its reasons a sparse {system: text} mapping: no
# per-system Python object on the common path. ``names`` and ``reason_array`` build the
# public object arrays once per call, vectorized.
CODE = {name: i for i, name in enumerate(STATUSES)}
CONVERGED, FELL_BACK, NOT_CONVERGED, SINGULAR, NON_FINITE, INACCURATE = range(len(STATUSES))
SOLVED_MAX = FELL_BACK          # code <= SOLVED_MAX: solved
_STATUS_TABLE = np.array(STATUSES, dtype=object)


class Reasons(dict):
    """Sparse per-system reasons: ``{system index: text}``, '' for a system not in it."""

    def __missing__(self, key):
        return ""


def names(codes, table=_STATUS_TABLE):
    """The object array of names of int ``codes`` (one vectorized take from ``table``)."""
    return table[np.asarray(codes, dtype=np.intp)]


def reason_array(reasons, s):
    """The (s,) object array of :class:`Reasons` ('' where a system has no reason)."""
    out = np.full(s, "", dtype=object)
    for i, text in reasons.items():
        out[i] = text
    return out


# A per-system field: an array of the stack's batch shape, or one scalar for a single
# system: a NumPy scalar (which has the array methods: ``.shape``, ``.sum()``, ``.all()``)
# for the numbers and flags, a ``str`` for the text fields. A text field is typed Any (as
# ``Array`` is): ``str | NDArray[object_]`` would make ``info.status.tolist()`` on a stack
# and ``info.status.upper()`` on one system both type errors without a narrowing check.
_Text = Any
_Int = Union[np.integer[Any], npt.NDArray[np.integer[Any]]]
_Bool = Union[np.bool_, npt.NDArray[np.bool_]]
_Float = Union[np.floating[Any], npt.NDArray[np.floating[Any]]]


@dataclasses.dataclass
class SolveInfo:
    """What happened to each system of a :func:`~blasfast.solvers.solve` call.

    Per-system fields are NumPy arrays of the stack's batch shape, always on the host; for
    a single system they are scalars (``str`` for the text fields, NumPy bool/int/float
    scalars otherwise). The solver builds it; each parameter is an attribute of the same
    name.

    Parameters
    ----------
    status : object array of str
        'converged' (refinement met the stopping test), 'fell back' (refinement failed and
        the FP64 fallback solved the system, its result passing the same backward-error
        test), 'not converged' (refinement failed and ``fallback=False``: ``x`` is the best
        iterate), 'singular' (an exactly zero pivot in the FP64 LU, or singular to working
        precision: an estimated reciprocal condition number of the equilibrated matrix
        below ``eps``, or a solution that proves ``kappa >= 1/eps`` after equilibration:
        ``x`` is NaN), 'non-finite input' (NaN or Inf in ``a`` or ``b``: ``x`` is NaN),
        'inaccurate' (the FP64 fallback -- LU with FP64 refinement, then Householder QR --
        did not pass the backward-error test either: ``x`` is its best candidate and
        ``backward_error`` says how far off it is). Only 'converged' and 'fell back' count
        as solved; the others are failures (see :func:`~blasfast.solvers.errstate`).
    iterations : int array
        Refinement corrections applied (0: the first low-precision solve passed the test).
        Each GMRES-IR step counts one.
    gmres_iterations : int array
        Arnoldi steps inside the GMRES-IR steps (max over right-hand sides, summed over
        steps).
    iter_code : int array
        LAPACK ``dsgesv`` / cuSOLVER ``gesv`` style: ``iterations`` when refinement
        converged; -2 overflow converting A to the factor precision, -3 the low-precision
        factorization failed (zero pivot, or overflow in an FP16 update), -31 refinement
        did not converge (``max_iter`` reached, stagnation or divergence).
    converged, fell_back : bool arrays
        ``fell_back``: ``x`` came from the FP64 fallback (status 'fell back', or
        'inaccurate' when even that failed the test).
    reason : object array of str
        Why refinement failed or a system could not be solved ('' otherwise).
    method : object array of str
        'ir', 'gmres', or 'ir->gmres' (``refine='auto'`` switched).
    backward_error : float array
        Final ``max_j ||b_j - A x_j||_inf / (||A||_inf ||x_j||_inf)`` (the quantity of the
        stopping test), computed in float64 on ``x`` as returned (rounded to the working
        precision); at most ``threshold`` for every solved system.
    threshold : float array
        The test's bound on it: ``sqrt(n) * eps`` (or ``tol``); for systems that went
        through the FP64 fallback, ``max(sqrt(n), 2) * eps`` (or ``tol``): for n < 4,
        ``sqrt(n) eps`` is below the rounding level of ``x`` itself.
    history : float array, shape ``(steps + 1, *batch)``
        The backward error after the first solve and after each correction; NaN once a
        system has stopped.
    factor, refine : str
        The factor precision and the refinement asked for.
    scaling : dict or None
        For ``factor='float16'`` with ``n`` above the block size: ``{'method':
        'two-sided power-of-two equilibration', 'mu': array, 'row_scale': (..., n),
        'col_scale': (..., n)}`` (the LU is of ``diag(row_scale) A diag(col_scale)``,
        ``mu`` included in ``row_scale``), plus ``'sigma'`` (..., ): a power of two
        (1 unless ``||A||_inf < 2**-256``) by which ``A`` and ``b`` were multiplied
        first, so the LU is of ``diag(row_scale) (sigma A) diag(col_scale)``; None when
        the matrix was not scaled.
    path : str
        'cpu', 'gpu' (blocked LU kernels) or 'gpu-small' (fused small-system kernel).
    """

    status: _Text
    iterations: _Int
    gmres_iterations: _Int
    iter_code: _Int
    converged: _Bool
    fell_back: _Bool
    reason: _Text
    method: _Text
    backward_error: _Float
    threshold: _Float
    history: npt.NDArray[np.float64]
    factor: str
    refine: str
    scaling: dict[str, Any] | None = None
    path: str = "cpu"

    @property
    def ok(self) -> bool | npt.NDArray[np.bool_]:
        """True where the system was solved.

        Solved means 'converged', or 'fell back' with a result that passed the
        backward-error test.
        """
        return (self.status == "converged") | (self.status == "fell back")

    def summary(self) -> str:
        """Describe the outcome in a few lines of text (for logs and the CLI).

        Returns
        -------
        str
            A line of counts per status, the range of iterations, then a line per system
            that has a reason (about ten at most).
        """
        st = np.atleast_1d(self.status)
        counts = {k: int((st == k).sum()) for k in STATUSES if (st == k).any()}
        it = np.atleast_1d(self.iterations)
        lines = [f"factor {self.factor}, refine {self.refine}, path {self.path}: "
                 + ", ".join(f"{v} {k}" for k, v in counts.items()),
                 f"iterations: {int(it.min())}..{int(it.max())}" if it.size else
                 "iterations: -"]
        for i in np.flatnonzero(np.atleast_1d(self.reason) != ""):
            lines.append(f"  system {i}: {np.atleast_1d(self.reason)[i]}")
            if len(lines) > 12:
                lines.append("  ...")
                break
        return "\n".join(lines)
