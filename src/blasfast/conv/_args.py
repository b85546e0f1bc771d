"""Argument checks shared by the convolution ops: array arguments, their dtypes, ``bias``,
``w_winograd`` and ``dy`` against the geometry, and the stream to launch in (shapes only,
never array contents; ``stride``, ``padding`` and ``dilation`` are :mod:`._geom`'s)."""

from .. import _backend, _checks, _dtypes
from .._errors import message

CONV_DTYPES = (_dtypes.float32, _dtypes.float16, _dtypes.bfloat16, _dtypes.float64)


def stream_ctx(op, xp, stream):
    """The context to launch in (see :func:`blasfast._backend.as_stream`): None is the
    current stream; a stream with host arrays is an error."""
    return _backend.stream_context(op, stream, xp)


def arrays(op, **arrays):
    """Refuse non-arrays (scalars, lists, None where an array is due) by name; optional
    arguments are passed as None and skipped by the caller."""
    for name, a in arrays.items():
        _checks.array_operand(op, name, a)


def check_dtypes(op, **arrays):
    """All given arrays share one supported dtype; return it."""
    items = [(k, a) for k, a in arrays.items() if a is not None]
    name, first = items[0]
    _checks.dtype_in(op, name, first.dtype, CONV_DTYPES)
    return _checks.same_dtype(op, **{k: a.dtype for k, a in items})


def check_bias(op, bias, k):
    if bias is not None and tuple(bias.shape) != (k,):
        raise ValueError(message(op, f"bias must have shape (K,) = ({k},), one value per "
                                     f"filter, got {tuple(bias.shape)}"))


def check_u(op, u, k, c, dtype):
    if tuple(u.shape) != (4, 4, k, c):
        raise ValueError(message(
            op, f"w_winograd must be the (4, 4, K, C) = (4, 4, {k}, {c}) output of "
                f"winograd_filter_transform(w), got shape {tuple(u.shape)}"))
    if u.dtype != dtype:
        raise TypeError(message(op, f"w_winograd must have the dtype of w ({dtype.name}), "
                                    f"got {u.dtype.name}"))


def check_3x3_filters(op, w):
    """``w`` is a KCRS stack of 3x3 filters (what the Winograd filter transform takes)."""
    if len(w.shape) != 4:
        raise ValueError(message(op, f"w must be a 4-D KCRS array (K, C, R, S), got shape "
                                     f"{tuple(w.shape)}"))
    if tuple(w.shape[2:]) != (3, 3):
        raise ValueError(message(op, f"w must hold 3x3 filters (F(2x2, 3x3)), got "
                                     f"{w.shape[2]}x{w.shape[3]}"))


def check_dy(op, dy, geom):
    if tuple(dy.shape) != geom.y_shape:
        raise ValueError(message(
            op, f"dy must have the forward's output shape (N, K, P, Q) = {geom.y_shape} "
                f"for x {geom.x_shape}, w {geom.w_shape}, stride {geom.stride}, padding "
                f"{geom.pads} and dilation {geom.dilation}; got {tuple(dy.shape)}"))
