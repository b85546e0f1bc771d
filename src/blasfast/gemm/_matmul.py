"""``blasfast.matmul``: :func:`numpy.matmul`'s semantics (shapes, result dtypes, keywords)
on the batched GEMM kernels, and the array library's own ``matmul`` for the dtypes they do
not compute."""

from typing import Any

import numpy as np

from .. import _backend, _checks, _dask, _dtypes
from .._backend import get_array_module
from .._errors import message
from .._typing import Array, ArrayLike, DTypeLike, StreamLike
from . import _core
from ._args import Compute
from ._batched import _gemm
from ._docs import _COMMON_NOTES, _RESULT_DTYPES
from .._interop import callers_kind as _callers_kind

__all__ = ["matmul"]

# numpy.matmul's ufunc keywords that matmul takes, at the values it implements.
_UFUNC_KEYWORDS = {
    "casting": ("same_kind",),  # the operands and out are cast under NumPy's default
    "order": ("K", "C"),        # results are allocated C-contiguous
    "subok": (True, False),     # results are never ndarray subclasses
    "axes": (None,),            # the last two axes
}


def _ufunc_keywords(op, kwargs):
    """Accept numpy.matmul's keywords at the values matmul implements; refuse the rest."""
    for name, value in kwargs.items():
        allowed = _UFUNC_KEYWORDS.get(name)
        if allowed is None:
            raise TypeError(message(
                op, f"got an unexpected keyword argument {name!r}; of numpy.matmul's "
                    "keywords blasfast.matmul takes out and dtype, and casting, order, "
                    "subok and axes at the values it implements"))
        if not any(value is v or (type(value) is type(v) and value == v) for v in allowed):
            raise ValueError(message(
                op, f"{name} must be {' or '.join(map(repr, allowed))} (the values of "
                    f"numpy.matmul's {name} that blasfast.matmul implements), got "
                    f"{_checks.describe(value)}"))


def _library_matmul(op, xp, a, b, out, dtype, compute, stream):
    """A dtype our kernels do not compute: the array library's own matmul (numpy.matmul,
    cupy.matmul, or the emulator's, which is NumPy's on the emulated memory)."""
    if compute is not None:
        if not isinstance(compute, str):
            _dtypes.gemm_precision(op, _dtypes.float64, compute)  # the TypeError
        what = "a and b" if dtype is None else "dtype"
        raise ValueError(message(
            op, f"compute must be None when the result is not float64, float32, float16 or "
                f"bfloat16 ({what} give {_result_name(a, b, dtype)}, "
                f"computed by {xp.__name__}.matmul), got {compute!r}"))
    kw = {} if dtype is None else {"dtype": dtype}
    with _backend.stream_context(op, stream, xp):
        return xp.matmul(a, b, **kw) if out is None else xp.matmul(a, b, out=out, **kw)


def _result_name(a, b, dtype):
    if dtype is not None:
        return np.dtype(dtype).name
    try:
        return np.result_type(a.dtype, b.dtype).name
    except TypeError:
        return f"no common dtype of {a.dtype} and {b.dtype}"


def _cast_into(op, xp, out, r, result):
    """Write ``r`` (of dtype ``result``) into ``out`` of another dtype, as NumPy casts a
    ufunc's output (``casting='same_kind'``)."""
    if not np.can_cast(result, out.dtype, "same_kind"):
        raise TypeError(message(
            op, f"out must have a dtype that the {result.name} result can be cast to with "
                f"casting='same_kind', got {out.dtype.name} (Cannot cast ufunc 'matmul' "
                f"output from {result!r} to {out.dtype!r} with casting rule 'same_kind')"))
    xp.copyto(out, r, casting="same_kind")


@_callers_kind
def matmul(a: ArrayLike, b: ArrayLike, out: Array | tuple[Array] | None = None, *,
           dtype: DTypeLike = None, compute: Compute | None = None,
           stream: StreamLike = None, **kwargs: Any) -> Array:
    """Matrix product with :func:`numpy.matmul`'s semantics: its shapes and result dtypes.

    A drop-in for ``numpy.matmul`` and ``cupy.matmul``. A 1-D ``a`` is a row vector and a
    1-D ``b`` a column vector, and the added dimension is removed from the result (two 1-D
    operands give a scalar: a NumPy scalar on the CPU path, a 0-d array on the GPU path, as
    CuPy returns); batch dimensions broadcast. The result dtype is NumPy's
    (``numpy.result_type`` of the operands, or ``dtype``), where :func:`batched_gemm` keeps
    a precision table of its own:

    {dtypes}

    float64, float32, float16 and bfloat16 results are computed by our kernels (an operand
    of another dtype is cast to the result dtype first, never mixed inside a kernel); any
    other result dtype by the array library's own ``matmul`` (``numpy.matmul``,
    ``cupy.matmul``, or the CUDA emulator's, which is NumPy's on emulated memory), so
    that replacing ``cupy.matmul`` with ``bf.matmul`` never breaks a program.

    Parameters
    ----------
    a : (..., M, K) or (K,) array
        Any dtype. A NumPy array or nested list (CPU path), or a device array as for
        :func:`batched_gemm` (GPU path), or a ``dask.array.Array`` (a lazy Dask array
        back, computed blockwise over the batch; ``out`` and ``stream`` must be None).
    b : (..., K, N) or (K,) array
        Same kind as ``a``, any dtype.
    out : array of the result's shape, optional
        Where to write the result; positional too, as in NumPy (``matmul(a, b, out)``), or
        a 1-tuple ``(out,)``. Any dtype the result casts to under ``casting='same_kind'``.
        With the result dtype (or float32 for float16/bfloat16 operands: the FP32
        accumulation unrounded) the kernel writes it in place, any strides; otherwise the
        result is computed in its dtype and cast into ``out``, as NumPy does. ``out`` may
        overlap ``a`` or ``b``: the product is then computed first and copied in.
    dtype : dtype, optional
        The result dtype (NumPy's ``dtype=``); both operands are cast to it (each must
        cast under ``casting='same_kind'``).
    compute : {None, 'float64', 'float32', 'tf32'}
        The arithmetic for the result dtype, as for :func:`batched_gemm` (``'tf32'`` for a
        float32 result); None for results our kernels do not compute.
    stream : cupy.cuda.Stream, int or object with ``__cuda_stream__``, optional
        GPU path only, as for :func:`batched_gemm`; the casts run on it too.
    **kwargs
        numpy.matmul's other keywords at the values ``bf.matmul`` implements:
        ``casting='same_kind'``, ``order='K'`` or ``'C'`` (results are C-contiguous),
        ``subok`` True or False (results are never subclasses), ``axes=None``.

    Returns
    -------
    (..., M, N) array, same kind as ``a``
        Fewer dimensions for 1-D operands: a NumPy scalar of the result dtype for two 1-D
        host operands (a 0-d array on the GPU path). ``out`` when given.

    Raises
    ------
    ValueError
        A 0-d operand (a Python or NumPy scalar, a 0-d array) or a K mismatch, as in NumPy;
        an ``out`` of another shape (a "non-broadcastable output operand", in NumPy's
        words) or read-only; a ``compute`` not valid for the result dtype; a NumPy keyword
        at a value not implemented; an ``out`` or a ``stream`` with Dask arrays;
        otherwise as :func:`batched_gemm`.
    TypeError
        An operand or ``out`` that is not an array (None, a string); an ``out`` the result
        cannot be cast to, or a ``dtype`` an operand cannot be cast to, under
        ``casting='same_kind'`` (the message has NumPy's ``Cannot cast ufunc 'matmul' ...``
        text); an unknown keyword; host and device arrays in one call.

    Notes
    -----
    NumPy's ``MatmulCommon`` and ``TestMatmul`` test classes pass against this function
    (``tests/test_matmul_numpy.py``). Where it differs from ``numpy.matmul``: bfloat16
    operands give bfloat16, their ``numpy.result_type`` (``numpy.matmul`` itself returns
    float32, as ml_dtypes registers no matmul loop); a float32 ``out`` for float16/bfloat16
    operands receives the FP32 accumulation unrounded (NumPy rounds to float16 first);
    float32 products are computed as :func:`batched_gemm` computes them, to its error
    bound, not bit for bit as NumPy's BLAS.
    {notes}
    Examples
    --------
    >>> import numpy as np, blasfast as bf
    >>> bf.matmul(np.ones((2, 3)), np.ones(3))
    array([3., 3.])
    >>> h = np.ones((2, 3), np.float16)
    >>> bf.matmul(h, h.T).dtype                # numpy.matmul's dtype: FP32 accumulation
    dtype('float16')
    >>> bf.batched_gemm(h, h, trans_b=True).dtype   # batched_gemm's table
    dtype('float32')
    >>> bf.matmul(np.ones(3, np.float32), np.ones(3))   # float32 @ float64: a float64 scalar
    np.float64(3.0)
    >>> bf.matmul(np.ones((2, 2), np.int64), np.ones((2, 2), np.int64))  # numpy.matmul's
    array([[2, 2],
           [2, 2]])
    """
    ta = type(a)
    if (ta in _core._KIND and type(b) is ta and not kwargs and dtype is None
            and a.ndim >= 2 and b.ndim >= 2 and a.dtype == b.dtype and a.dtype.char in "fd"
            and type(out) is not tuple):
        # float32/float64 matrices (not vectors): numpy.matmul's rules give batched_gemm's
        # product, so a configuration cached by an earlier call runs with only what can
        # change checked (out's overlaps among them: an overlapping out misses)
        r = _core.fast_call(a, b, None, 1.0, 0.0, False, False, out, compute, stream)
        if r is not _core.MISS:
            return r
    op = "matmul"
    if _dask.any_dask(a, b, out):  # a lazy Dask array, mapped over the blocks
        return _dask.matmul(matmul, a, b, out, dtype, compute, stream, kwargs)
    if kwargs:
        _ufunc_keywords(op, kwargs)
    if type(out) is tuple and len(out) == 1:  # NumPy's out=(array,) form
        out = out[0]
    operands = []
    for name, x in (("a", a), ("b", b)):
        if isinstance(x, (int, float, complex, np.generic)) or getattr(x, "ndim", None) == 0:
            raise ValueError(message(op, f"operands must be at least 1-D (as in numpy.matmul): "
                                         f"{name} is {_checks.describe(x)}"))
        if isinstance(x, (list, tuple)):  # numpy.matmul takes nested lists of numbers
            x = _host_operand(op, name, x)
        _checks.array_operand(op, name, x)
        operands.append(x)
    a, b = operands
    if out is not None and not (isinstance(out, np.ndarray) or _backend.is_device_array(out)):
        _checks.array_operand(op, "out", out)  # a 0-d array is the result of two 1-D ones
    _backend.check_stream(op, stream)
    xp, (a, b, out) = get_array_module(op, a, b, out)
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch, m, n, _ = _checks.gemm_shapes(op, a2.shape, b2.shape)
    shape = batch + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    if out is not None and tuple(out.shape) != shape:
        raise ValueError(message(
            op, f"out must have shape {shape}, the result's, got {tuple(out.shape)} (a "
                "non-broadcastable output operand)"))
    result, kernel = _dtypes.matmul_dtypes(op, a.dtype, b.dtype, dtype)
    if kernel is None:
        return _library_matmul(op, xp, a, b, out, dtype, compute, stream)
    if kernel != result and compute not in (None, "float32"):
        kernel = result  # e.g. 'tf32' for a float32 result of float16 operands: cast them
    if out is not None:
        if xp is np and not out.flags.writeable:
            raise ValueError(message(op, "out is read-only"))
        direct = (out.dtype == result or out.dtype == _dtypes.float32
                  and kernel in _dtypes.HALF_DTYPES)
        if not direct or xp.may_share_memory(out, a) or xp.may_share_memory(out, b):
            r = matmul(a, b, dtype=dtype, compute=compute, stream=stream)
            with _backend.stream_context(op, stream, xp):
                _cast_into(op, xp, out, r, result)
            return out
    with _backend.stream_context(op, stream, xp):
        if a2.dtype != kernel:
            a2 = a2.astype(kernel)
        if b2.dtype != kernel:
            b2 = b2.astype(kernel)
        if out is not None:
            d = out
            if a.ndim == 1:
                d = d[..., None, :] if b.ndim > 1 else d[..., None, None]
            elif b.ndim == 1:
                d = d[..., None]
            _gemm(op, a2, b2, None, 1.0, 0.0, False, False, d, compute, None)
            return out
        d = None
        if result in _dtypes.HALF_DTYPES:  # batched_gemm's default would be float32
            d = xp.empty(batch + (m, n), result)
        r = _gemm(op, a2, b2, None, 1.0, 0.0, False, False, d, compute, None)
    if a.ndim == 1:
        r = r[..., 0, :]
    if b.ndim == 1:
        r = r[..., 0]
        if a.ndim == 1 and xp is np:
            return r[()]  # numpy.matmul of two vectors: a NumPy scalar
    return r


def _host_operand(op, name, x):
    """A nested list of numbers as a NumPy array (numpy.matmul's conversion)."""
    _dask.refuse(op, *x, why="a list of Dask arrays; pass one Dask array (dask.array.stack)")
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(message(
            op, f"{name} must be an array or a nested list of numbers, got "
                f"{_checks.describe(x)} ({exc})")) from None


if matmul.__doc__ is not None:  # None under python -OO
    matmul.__doc__ = matmul.__doc__.replace("{notes}", _COMMON_NOTES).replace(
        "{dtypes}", _RESULT_DTYPES.strip())
