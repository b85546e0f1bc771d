"""The CPU path of every GEMM: NumPy's matmul (its BLAS) with the GPU's precision semantics.

Shared by :func:`blasfast.batched_gemm` and :func:`blasfast.gemm_vbatched`, and the oracle
their GPU tests compare against.
"""

import numpy as np

from .._dtypes import float32, round_to_tf32


def _gemm_cpu_product(a, b, c, alpha, beta, trans_a, trans_b, compute, out_dtype, out=None):
    """``alpha * op(a) @ op(b) + beta * c`` in NumPy with the GPU's precision semantics.

    Works on single matrices and on stacks (``np.matmul`` broadcasting; ``op`` swaps the
    last two axes). float64 and float32 multiply in their own precision; ``compute='tf32'``
    rounds float32 operands to TF32 first; float16/bfloat16 operands are converted to
    float32 and multiplied in float32. Scaling and ``beta * c`` happen in the accumulation
    precision; the result is rounded once to ``out_dtype``. ``c`` is not read when it is
    None or ``beta == 0``. Writes into ``out`` when given and returns it.
    """
    in_dtype = np.dtype(a.dtype)
    acc = np.dtype(np.float64) if in_dtype == np.float64 else float32
    if compute == "tf32":
        a, b = round_to_tf32(a), round_to_tf32(b)
    elif in_dtype != acc:
        a, b = a.astype(acc), b.astype(acc)
    r = np.matmul(np.swapaxes(a, -1, -2) if trans_a else a,
                  np.swapaxes(b, -1, -2) if trans_b else b)
    if alpha != 1:
        r *= acc.type(alpha)
    if c is not None and beta != 0:
        r += acc.type(beta) * np.asarray(c).astype(acc, copy=False)
    with np.errstate(over="ignore"):  # a 16-bit result overflows to Inf, as on the GPU
        r = r.astype(out_dtype, copy=False)
    if out is None:
        return r
    np.copyto(out, r)
    return out
