"""Validators on shapes and dtypes (never on array contents), testable with no GPU.

Each raises ``TypeError`` for a dtype and ``ValueError`` for a shape, with a message in the
``"<op>: <what was expected>, got <what came>"`` form of :mod:`blasfast._errors`.
"""

import numpy as np

from ._errors import message


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
