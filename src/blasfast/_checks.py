"""Validators on arguments, shapes and dtypes (never on array contents), testable with no GPU.

The one set of rules for every public function (ops, :mod:`blasfast.nn`, the CLI):

* flags are ``bool`` (:func:`flag`), never a truthy string or number;
* counts and sizes are integers (:func:`integer`, through :func:`operator.index`, so NumPy
  integers pass and ``2.5`` or ``True`` do not) inside their range;
* shapes are tuples of non-negative integers (:func:`shape`);
* a choice among names is one of them exactly (:func:`choice`);
* arrays are of a supported kind (:func:`array_operand`) and dtype (:func:`dtype_in`).

Each raises ``TypeError`` for a wrong type or dtype and ``ValueError`` for a wrong value or
shape, with a message in the ``"<op>: <argument> must be <expected>, got <what came>"`` form
of :mod:`blasfast._errors`.
"""

import operator

import numpy as np

from ._errors import message


def describe(value):
    """A short description of ``value`` for an error message (arrays by shape and dtype,
    never by contents; other values by type and a truncated ``repr``)."""
    if isinstance(value, type):  # a class (np.float16 has shape/dtype descriptors)
        return f"the class {value.__module__}.{value.__qualname__}"
    shape_, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if isinstance(shape_, tuple) and shape_ != () and dtype is not None:
        return f"{type(value).__name__} of shape {tuple(shape_)} and dtype {dtype}"
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


def flag(op, name, value):
    """Return ``value`` as a bool; only ``True``/``False`` (or a NumPy bool) are accepted."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(message(op, f"{name} must be a bool (True or False), got "
                                f"{describe(value)}"))


def integer(op, name, value, minimum=None, maximum=None):
    """Return ``value`` as an int: an integer (``operator.index``), not a bool, in range.

    Raises ``TypeError`` for a non-integer (``2.5``, ``"3"``, ``True``, an array) and
    ``ValueError`` for an integer outside ``[minimum, maximum]`` (either bound may be None).
    """
    if isinstance(value, (bool, np.bool_)) or getattr(value, "ndim", 0) != 0:
        index = None
    else:
        try:
            index = operator.index(value)
        except TypeError:
            index = None
    if index is None:
        raise TypeError(message(op, f"{name} must be an integer, got {describe(value)}"))
    if minimum is not None and index < minimum or maximum is not None and index > maximum:
        lo = "" if minimum is None else f">= {minimum}"
        hi = "" if maximum is None else f"<= {maximum}"
        raise ValueError(message(
            op, f"{name} must be an integer {' and '.join(x for x in (lo, hi) if x)}, "
                f"got {index}"))
    return int(index)


def shape(op, name, value, ndim=None):
    """Return ``value`` as a tuple of non-negative ints (a shape); ``ndim`` fixes its length.

    A single integer is not a shape here (pass ``(n,)``): a bare int where a tuple is due
    is more often a mistake than a shorthand.
    """
    if not isinstance(value, (tuple, list)):
        raise TypeError(message(
            op, f"{name} must be a tuple of integers, got {describe(value)}"))
    if ndim is not None and len(value) != ndim:
        raise ValueError(message(
            op, f"{name} must have {ndim} entries, got {len(value)}: {tuple(value)!r}"))
    return tuple(integer(op, f"{name}[{i}]", v, minimum=0) for i, v in enumerate(value))


def choice(op, name, value, options):
    """Check that ``value`` is one of ``options`` (compared with ``==``, strings exactly)."""
    if not isinstance(value, (str, type(None))) and any(isinstance(o, str) for o in options):
        raise TypeError(message(
            op, f"{name} must be one of {', '.join(map(repr, options))}, got "
                f"{describe(value)}"))
    if value not in options:
        raise ValueError(message(
            op, f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}"))
    return value


def array_operand(op, name, value):
    """Refuse what is not an array where an array is due: Python scalars, ``None``, strings,
    and (nested) lists or tuples, which are ambiguous between a matrix and a list of
    matrices. Arrays of any kind pass (NumPy, CuPy, emulated, ``__cuda_array_interface__``,
    DLPack, or anything with ``__array__``); their dtype is checked by the op."""
    if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) > 0:
        return value
    if (hasattr(value, "__array__") or hasattr(value, "__cuda_array_interface__")
            or hasattr(value, "__dlpack__")) and getattr(value, "ndim", 1) != 0:
        return value
    raise TypeError(message(
        op, f"{name} must be an array (numpy.ndarray, cupy.ndarray or a CUDA array), got "
            f"{describe(value)}"))


def dtype_in(op, name, dtype, allowed):
    """Check that ``dtype`` is one of ``allowed`` (a tuple of numpy dtypes)."""
    dtype = np.dtype(dtype)
    if dtype not in tuple(np.dtype(d) for d in allowed):
        names = ", ".join(np.dtype(d).name for d in allowed)
        raise TypeError(message(op, f"{name} must have dtype {names}; got {dtype.name}"))
    return dtype


def same_dtype(op, **named_dtypes):
    """Check that all given dtypes are equal (``None`` entries are skipped)."""
    items = [(k, np.dtype(v)) for k, v in named_dtypes.items() if v is not None]
    first_name, first = items[0]
    for k, d in items[1:]:
        if d != first:
            raise TypeError(message(
                op, f"{first_name} and {k} must have the same dtype, got {first.name} "
                    f"and {d.name}; cast one explicitly (blasfast never mixes precisions "
                    "silently)"))
    return first


def broadcast_batch(op, names, shapes):
    """Broadcast batch shapes like ``numpy.matmul``; raise a ValueError naming both operands."""
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        desc = " and ".join(f"{n} {tuple(s)}" for n, s in zip(names, shapes))
        raise ValueError(message(
            op, f"batch dimensions do not broadcast: {desc}")) from None


def gemm_shapes(op, a_shape, b_shape, trans_a=False, trans_b=False):
    """Shapes of a batched GEMM ``op(a) @ op(b)``.

    Returns
    -------
    batch : tuple of int
        Broadcast batch shape.
    m, n, k : int
    """
    for name, s in (("a", a_shape), ("b", b_shape)):
        if len(s) < 2:
            raise ValueError(message(
                op, f"{name} must have at least 2 dimensions (..., rows, cols), got "
                    f"shape {tuple(s)}; use blasfast.matmul for 1-D operands"))
    m, ka = (a_shape[-1], a_shape[-2]) if trans_a else (a_shape[-2], a_shape[-1])
    kb, n = (b_shape[-1], b_shape[-2]) if trans_b else (b_shape[-2], b_shape[-1])
    if ka != kb:
        raise ValueError(message(
            op, f"a and b must agree on K (a's {'rows' if trans_a else 'columns'}, "
                f"b's {'columns' if trans_b else 'rows'}), got {tuple(a_shape)} and "
                f"{tuple(b_shape)}"))
    batch = broadcast_batch(op, ("a", "b"), (a_shape[:-2], b_shape[:-2]))
    for name, v in (("M", m), ("N", n), ("K", ka)):
        if v >= 2**31:
            raise ValueError(message(op, f"{name} = {v} exceeds the 32-bit limit 2**31 - 1"))
    return batch, int(m), int(n), int(ka)


def result_shape(op, name, shape, expected):
    """Check that an ``out`` array has exactly the result's shape."""
    if tuple(shape) != tuple(expected):
        raise ValueError(message(
            op, f"{name} must have shape {tuple(expected)}, got {tuple(shape)}"))


def broadcastable_to(op, name, shape, target):
    """Check that ``shape`` broadcasts to ``target`` (like an accumulator ``c``)."""
    try:
        if np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target):
            return
    except ValueError:
        pass
    raise ValueError(message(
        op, f"{name} of shape {tuple(shape)} does not broadcast to the result shape "
            f"{tuple(target)}"))
