"""The GEMM error bound every GEMM test checks (Higham, *Accuracy and Stability of Numerical
Algorithms*, 3.5): computed in precision u, each element of ``alpha*A@B + beta*C`` satisfies
``|D - D_exact| <= gamma_{K+2} * (|alpha| |A||B| + |beta| |C|)`` componentwise, with
``gamma_n = n*u / (1 - n*u)``; so the Frobenius norm of the error is bounded by gamma times
the Frobenius norm of that majorant. Both paths, any summation order, meet it.
"""

import numpy as np

import blasfast as bf
from conftest import to_numpy

bfloat16 = bf._dtypes.bfloat16
UNIT = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}
OUT_UNIT = {np.dtype(np.float16): 2.0**-11, bfloat16: 2.0**-8}
DTYPES = [np.float32, np.float64]
HALF = [np.float16, bfloat16]


def _op(x, t):
    return np.swapaxes(x, -1, -2) if t else x


def assert_gemm_close(d, a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False,
                      u=None, operand_rounding=0.0):
    """Check d against the float64 result within the gamma_{K+2} bound above.

    ``u`` is the unit roundoff of the accumulation (default: from d's dtype);
    ``operand_rounding`` adds ``2 * r * |alpha| |A||B|`` for operands rounded to relative
    precision r before the product (TF32), and a 16-bit ``d`` adds its own final rounding.
    """
    d = to_numpy(d)
    A = _op(to_numpy(a).astype(np.float64), trans_a)
    B = _op(to_numpy(b).astype(np.float64), trans_b)
    ref = alpha * (A @ B)
    major = abs(alpha) * (np.abs(A) @ np.abs(B))
    if c is not None and beta != 0:
        C = to_numpy(c).astype(np.float64)
        ref = ref + beta * C
        major = major + abs(beta) * np.abs(C)
    assert d.shape == ref.shape
    k = A.shape[-1]
    u = UNIT.get(d.dtype, 2.0**-24) if u is None else u
    gamma = (k + 2) * u / (1 - (k + 2) * u) + 2 * operand_rounding
    bound = gamma * np.linalg.norm(np.broadcast_to(major, ref.shape).ravel())
    if d.dtype in (np.float16, bfloat16):
        bound += OUT_UNIT[d.dtype] * np.linalg.norm(ref.ravel())
    d = d.astype(np.float64)
    err = np.linalg.norm((d - ref).ravel())
    assert np.all(np.isfinite(d))
    assert err <= bound, f"error {err:.3e} above the bound {bound:.3e}"


def rand(xp, rng, shape, dtype):
    return xp.asarray(rng.standard_normal(shape).astype(dtype))
