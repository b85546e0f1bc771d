"""What the solvers do when a system fails: raise, warn or only report in ``info``.

A *failure* is a system the solver could not solve to the requested accuracy: a singular or
numerically singular matrix, NaN/Inf in the input, (with ``fallback=False``) a refinement
that did not converge, or a result that failed the backward-error test even after the
FP64 fallback (status 'inaccurate'). Every failure is recorded per system in the ``info``
record; this switch decides whether it also raises :class:`blasfast.LinAlgError` or warns
with :class:`scipy.linalg.LinAlgWarning`. It mirrors ``numpy.errstate`` and
``cupyx.errstate(linalg=...)``, and is thread-local.

=========  ===========================================================================
mode       on a failure
=========  ===========================================================================
'auto'     (default) raise for a single system, warn for a stack (the other systems of
           the stack are solved and returned; the failed ones hold NaN, or the best
           iterate when refinement did not converge with ``fallback=False`` or the
           result is 'inaccurate')
'raise'    raise ``LinAlgError`` (its ``info`` attribute holds the record)
'warn'     warn with ``LinAlgWarning`` and return
'ignore'   return; only ``info`` says so (pass ``return_info=True`` to see it)
=========  ===========================================================================
"""

import contextlib
import threading
from typing import Any, Literal, TypedDict

from .. import _checks

__all__ = ["errstate", "geterr", "seterr"]

_MODES = ("auto", "raise", "warn", "ignore")
Mode = Literal["auto", "raise", "warn", "ignore"]   # _MODES, for the annotations


class ErrDict(TypedDict):
    """What :func:`geterr` and :func:`seterr` return (a plain dict at run time), typed so
    that ``seterr(**old)`` type-checks."""

    linalg: Mode


_local = threading.local()


def geterr() -> ErrDict:
    """The current failure handling of the solvers, as ``{'linalg': mode}``.

    Returns
    -------
    dict
        ``{'linalg': 'auto' | 'raise' | 'warn' | 'ignore'}``.
    """
    return {"linalg": getattr(_local, "linalg", "auto")}


def seterr(linalg: Mode | None = None) -> ErrDict:
    """Set how the solvers handle failures (thread-local); return the old setting.

    Parameters
    ----------
    linalg : {'auto', 'raise', 'warn', 'ignore'}, optional
        See the module documentation. ``None`` leaves the setting unchanged.

    Returns
    -------
    dict
        The previous setting, as :func:`geterr` returns it.

    Raises
    ------
    TypeError
        For a mode that is not a string.
    ValueError
        For an unknown mode.
    """
    old = geterr()
    if linalg is not None:
        _local.linalg = _checks.choice("seterr", "linalg", linalg, _MODES)
    return old


class errstate(contextlib.ContextDecorator):
    """Context manager (and decorator) that sets the solvers' failure handling.

    Parameters
    ----------
    linalg : {'auto', 'raise', 'warn', 'ignore'}
        See the module documentation.

    Raises
    ------
    TypeError, ValueError
        For a mode that is not a string, or an unknown one.

    Examples
    --------
    >>> import numpy as np, blasfast.solvers as bs
    >>> a = np.stack([np.eye(3), np.zeros((3, 3))])       # the second system is singular
    >>> with bs.errstate(linalg="ignore"):
    ...     x, info = bs.solve(a, np.ones((2, 3)), return_info=True)
    >>> info.status.tolist()
    ['converged', 'singular']
    """

    def __init__(self, *, linalg: Mode) -> None:
        self.linalg = _checks.choice("errstate", "linalg", linalg, _MODES)
        self._old = None

    def __enter__(self) -> "errstate":
        self._old = seterr(linalg=self.linalg)
        return self

    def __exit__(self, *exc: Any) -> Literal[False]:
        seterr(**self._old)
        return False


def resolve(stacked):
    """The effective mode for one call: 'raise', 'warn' or 'ignore'."""
    mode = geterr()["linalg"]
    if mode == "auto":
        return "warn" if stacked else "raise"
    return mode
