"""Validation of :func:`blasfast.batched_gemm`'s arguments, shared with
:class:`blasfast.BatchedGemm`'s constructor: every check, the conversion to the path's
array kind, the resolved precision and the result's shape."""

from typing import Literal

import numpy as np

from .. import _backend, _checks, _dtypes
from .._backend import get_array_module
from .._errors import message

#: What ``compute=`` accepts (besides None) in the public annotations: exactly
#: ``blasfast._dtypes.COMPUTE_NAMES``, which the run-time check accepts (for some dtype).
Compute = Literal["float64", "float32", "tf32"]


def _check_out(op, xp, out, shape, dtype, inputs):
    _checks.result_shape(op, "out", out.shape, shape)
    _checks.same_dtype(op, result=dtype, out=out.dtype)
    if xp is np and not out.flags.writeable:
        raise ValueError(message(op, "out is read-only"))
    if out.size and any(st == 0 and s > 1 for st, s in zip(out.strides, out.shape)):
        raise ValueError(message(
            op, "out has overlapping elements (a zero stride); pass a writable array "
                "with one element per result"))
    for name, x in inputs:
        if x is not None and xp.may_share_memory(out, x):
            raise ValueError(message(
                op, f"out overlaps {name}; the result would read its own output "
                    "(out may be c itself, with the same shape and strides)"))


def _validate(op, a, b, c, alpha, beta, trans_a, trans_b, out, compute, stream):
    """Every check of :func:`batched_gemm` (and of a plan's construction).

    Returns ``(xp, a, b, c, out, trans_a, trans_b, compute, out_dtype, shape)`` with the
    arrays converted to the path's kind and ``compute`` resolved.
    """
    _checks.array_operand(op, "a", a)
    _checks.array_operand(op, "b", b)
    if c is not None:
        _checks.array_operand(op, "c", c)
    if out is not None:
        _checks.array_operand(op, "out", out)
    trans_a = _checks.flag(op, "trans_a", trans_a)
    trans_b = _checks.flag(op, "trans_b", trans_b)
    _backend.check_stream(op, stream)
    xp, (a, b, c, out) = get_array_module(op, a, b, c, out)
    _checks.dtype_in(op, "a", a.dtype, _dtypes.GEMM_INPUT_DTYPES)
    _checks.same_dtype(op, a=a.dtype, b=b.dtype)
    if c is not None and out is not None:
        _checks.same_dtype(op, c=c.dtype, out=out.dtype)
    result = out if out is not None else c
    compute, out_dtype = _dtypes.gemm_precision(
        op, a.dtype, compute, None if result is None else result.dtype)
    batch, m, n, k = _checks.gemm_shapes(op, a.shape, b.shape, trans_a, trans_b)
    shape = batch + (m, n)
    for name, v in (("alpha", alpha), ("beta", beta)):
        if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
            raise TypeError(message(op, f"{name} must be a real number, got "
                                        f"{type(v).__name__}"))
    if c is not None:
        _checks.broadcastable_to(op, "c", c.shape, shape)
    if out is not None:
        same_as_c = (c is not None and out.shape == c.shape and out.strides == c.strides
                     and _data_ptr(out) == _data_ptr(c))
        _check_out(op, xp, out, shape, out_dtype,
                   [("a", a), ("b", b)] + ([] if same_as_c else [("c", c)]))
    return xp, a, b, c, out, trans_a, trans_b, compute, out_dtype, shape


def _data_ptr(x):
    if isinstance(x, np.ndarray):  # x.data (a buffer) fails for bfloat16 arrays
        return x.__array_interface__["data"][0]
    return x.data.ptr

