"""Argument checks of the solvers that :mod:`blasfast._checks` does not have (yet): a real
number in a range, and the solvers' common array and dtype-name rules. Messages follow
``"<op>: <arg> must be <expected>, got <what came>"``."""

import math
import numbers
from typing import Any, Literal, Union

import numpy as np

from .. import _checks
from .._errors import message

__all__ = ["real", "factor_name", "FactorLike", "FactorName"]

# The public annotations of a factor precision (``solve(factor=)``, ``lu_factor(dtype=)``):
# a name, or a NumPy dtype or scalar type taken by its name (:func:`factor_name`).
FactorName = Literal["float16", "bfloat16", "tf32", "float32", "float64"]
FactorLike = Union[FactorName, np.dtype[Any], type[Any]]


def real(op, name, value, *, minimum, inclusive=True):
    """Return ``value`` as a finite float ``>= minimum`` (``> minimum`` if not inclusive).

    ``TypeError`` for a non-real (a string, a complex, a bool, an array, None); ``ValueError``
    for NaN, an infinity or a value out of range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or getattr(value, "ndim", 0) != 0:
        raise TypeError(message(op, f"{name} must be a real number, got "
                                    f"{_checks.describe(value)}"))
    v = float(value)
    if not math.isfinite(v) or (v < minimum if inclusive else v <= minimum):
        rel = ">=" if inclusive else ">"
        raise ValueError(message(op, f"{name} must be a finite number {rel} {minimum:g}, "
                                     f"got {value!r}"))
    return v


def factor_name(op, name, value, options, allow_none=False):
    """A factor precision given by name (``'float16'``) or as a NumPy dtype / type
    (``numpy.float32``); returns the name, one of ``options``."""
    if value is None and allow_none:
        return None
    if value is None or isinstance(value, (bool, np.bool_)):
        raise TypeError(message(
            op, f"{name} must be one of {', '.join(map(repr, options))}, got "
                f"{_checks.describe(value)}"))
    if not isinstance(value, str):
        try:
            value = np.dtype(value).name
        except TypeError:
            raise TypeError(message(
                op, f"{name} must be one of {', '.join(map(repr, options))}, got "
                    f"{_checks.describe(value)}")) from None
    return _checks.choice(op, name, value, options)
