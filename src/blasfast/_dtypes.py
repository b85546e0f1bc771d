"""Dtypes blasfast computes in, their CUDA names, and the GEMM precision rules.

``bfloat16`` is ``ml_dtypes.bfloat16`` -- the NumPy dtype CuPy 14 also uses -- so the same
dtype object works on both paths.

GEMM precisions (``compute=``), by input dtype; the first is the default:

=============  ==========================  =============================================
input dtype    compute                     meaning
=============  ==========================  =============================================
float64        'float64'                   FP64 FMA
float32        'float32', 'tf32'           FP32 FMA; or operands rounded to TF32 (10-bit
                                           mantissa) on tensor cores, FP32 accumulation
float16        'float32'                   FP16 operands, FP32 accumulation (tensor cores)
bfloat16       'float32'                   BF16 operands, FP32 accumulation (tensor cores)
=============  ==========================  =============================================

For :func:`blasfast.batched_gemm` the result is float32 for float16/bfloat16 inputs unless
``out`` has the input dtype (then the FP32 result is rounded once, at the end); otherwise it
has the input dtype. :func:`blasfast.matmul` follows :func:`numpy.matmul` instead
(:func:`matmul_dtypes`): the result dtype is ``numpy.result_type`` of the operands (or
``dtype=``), so float16 in gives float16 out, still accumulated in FP32.
"""

import ml_dtypes
import numpy as np

from ._checks import describe, dtype_in
from ._errors import message

bfloat16 = np.dtype(ml_dtypes.bfloat16)
float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)

GEMM_INPUT_DTYPES = (float16, bfloat16, float32, float64)

# C++ type names in the kernels (cuda_fp16.h / cuda_bf16.h for the 16-bit ones).
CTYPE = {float16: "__half", bfloat16: "__nv_bfloat16", float32: "float", float64: "double"}

COMPUTE = {
    float64: ("float64",),
    float32: ("float32", "tf32"),
    float16: ("float32",),
    bfloat16: ("float32",),
}

# Every name ``compute`` may take, for any input dtype.
COMPUTE_NAMES = ("float64", "float32", "tf32")

# Unit roundoff of each compute precision (for documented error bounds).
UNIT_ROUNDOFF = {"float64": 2.0**-53, "float32": 2.0**-24, "tf32": 2.0**-11,
                 "float16": 2.0**-11, "bfloat16": 2.0**-8}


def gemm_precision(op, in_dtype, compute, out_dtype=None, result_name="out/c"):
    """Validate ``compute`` and the output dtype for GEMM inputs of ``in_dtype``.

    Returns
    -------
    compute : str
        One of ``COMPUTE[in_dtype]``.
    out_dtype : numpy.dtype
        ``out_dtype`` if given and allowed, else the default result dtype.

    Raises
    ------
    TypeError
        For a ``compute`` that is not None or a string, an unsupported input dtype, or an
        output dtype the precision cannot produce.
    ValueError
        For a ``compute`` not valid for the input dtype; the message lists the valid ones.
    """
    if compute is not None and not isinstance(compute, str):
        raise TypeError(message(
            op, f"compute must be None or one of {', '.join(map(repr, COMPUTE_NAMES))}, got "
                f"{describe(compute)}"))
    in_dtype = dtype_in(op, "a", in_dtype, GEMM_INPUT_DTYPES)
    valid = COMPUTE[in_dtype]
    if compute is None:
        compute = valid[0]
    if compute not in valid:
        raise ValueError(message(
            op, f"compute must be one of {', '.join(repr(v) for v in valid)} for "
                f"{in_dtype.name} inputs, got {compute!r}"))
    half = in_dtype in (float16, bfloat16)
    default_out = float32 if half else in_dtype
    allowed = (float32, in_dtype) if half else (in_dtype,)
    if out_dtype is None:
        return compute, default_out
    out_dtype = np.dtype(out_dtype)
    if out_dtype not in allowed:
        raise TypeError(message(
            op, f"the result of {in_dtype.name} inputs can be written as "
                f"{' or '.join(d.name for d in allowed)}, got {result_name} of dtype "
                f"{out_dtype.name}"))
    return compute, out_dtype


def round_to_tf32(x):
    """Round float32 values to TF32 like ``cvt.rna.tf32.f32``: 10 mantissa bits, round to
    nearest with ties away from zero; Inf and NaN pass through. Returns float32."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    bits = x.view(np.uint32)
    finite = (bits & 0x7F800000) != 0x7F800000
    rounded = ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).astype(np.uint32)
    return np.where(finite, rounded, bits).view(np.float32)


HALF_DTYPES = (float16, bfloat16)


def matmul_dtypes(op, a_dtype, b_dtype, dtype=None):
    """The dtypes of :func:`blasfast.matmul`, by :func:`numpy.matmul`'s rule.

    Returns
    -------
    result : numpy.dtype or None
        ``numpy.result_type(a_dtype, b_dtype)``, or ``dtype`` when given; None when the two
        have no common dtype (the array library's matmul then raises its own error).
    kernel : numpy.dtype or None
        The dtype both operands are cast to for our kernels; None when ``result`` is not
        one of :data:`GEMM_INPUT_DTYPES` (bool, integers, complex, object, longdouble: the
        array library's own matmul computes it). For a float32 result of two float16 (or
        two bfloat16) operands it is the 16-bit dtype itself: the tensor cores' FP32
        accumulation of exact FP32 products is the float32 product, without the casts.

    Raises
    ------
    TypeError
        A ``dtype`` that is not a dtype, or that an operand cannot be cast to under
        NumPy's ``casting='same_kind'`` (as :func:`numpy.matmul`).
    """
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except (TypeError, ValueError):
            raise TypeError(message(
                op, f"dtype must be None or a NumPy dtype, got {describe(dtype)}")) from None
        for i, (name, d) in enumerate((("a", a_dtype), ("b", b_dtype))):
            if not np.can_cast(d, dtype, "same_kind"):
                raise TypeError(message(
                    op, f"dtype must be a dtype that a and b can be cast to with "
                        f"casting='same_kind', got {dtype.name} for {name} of dtype "
                        f"{np.dtype(d).name} (Cannot cast ufunc 'matmul' input {i} from "
                        f"{np.dtype(d)!r} to {dtype!r} with casting rule 'same_kind')"))
        result = dtype
    else:
        try:
            result = np.result_type(a_dtype, b_dtype)
        except TypeError:  # numpy.exceptions.DTypePromotionError: no common dtype
            return None, None
    if result not in GEMM_INPUT_DTYPES:
        return result, None
    if result == float32 and a_dtype == b_dtype and a_dtype in HALF_DTYPES:
        return result, np.dtype(a_dtype)
    return result, result
