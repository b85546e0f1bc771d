"""Bad inputs of the GEMM family: batched_gemm, matmul, gemm_vbatched, BatchedGemm (and
warmup, info).

Run by ``tests/test_bad_inputs.py`` (see ``tests/bad_inputs.py`` for the record). Every case
runs on the CPU path: argument validation happens before the array kind picks a path.
"""

import numpy as np

import blasfast as bf
from bad_inputs import Case

_F32 = np.ones((3, 4, 5), np.float32)
_G32 = np.ones((3, 5, 2), np.float32)
_M = np.ones((4, 4))

CASES = [
    # --- batched_gemm
    Case(bf.batched_gemm, "a", lambda: bf.batched_gemm(2.0, _M), TypeError, "must be an array",
         label="python-scalar"),
    Case(bf.batched_gemm, "a", lambda: bf.batched_gemm([[1.0, 2.0], [3.0, 4.0]], _M[:2, :2]),
         TypeError, "pointer-array form.*nested", label="nested-lists"),
    Case(bf.batched_gemm, "a", lambda: bf.batched_gemm(np.ones((2, 2), np.int64), _M[:2, :2]),
         TypeError, "dtype", label="int-dtype"),
    Case(bf.batched_gemm, "a", lambda: bf.batched_gemm(np.ones(4), _M), ValueError,
         "at least 2 dimensions", label="1-d"),
    Case(bf.batched_gemm, "b", lambda: bf.batched_gemm(_M, None), TypeError,
         "must be an array .*got NoneType"),
    Case(bf.batched_gemm, "b", lambda: bf.batched_gemm(_F32, np.ones((3, 4, 2), np.float32)),
         ValueError, "agree on K", label="k-mismatch"),
    Case(bf.batched_gemm, "c", lambda: bf.batched_gemm(_M, _M, c=5.0), TypeError,
         "must be an array .*got float 5.0"),
    Case(bf.batched_gemm, "c", lambda: bf.batched_gemm(_M, _M, np.ones((3, 3)), beta=1.0),
         ValueError, "does not broadcast", label="shape"),
    Case(bf.batched_gemm, "alpha", lambda: bf.batched_gemm(_M, _M, alpha="2"), TypeError,
         "real number, got str"),
    Case(bf.batched_gemm, "beta", lambda: bf.batched_gemm(_M, _M, beta=1j), TypeError,
         "real number, got complex"),
    Case(bf.batched_gemm, "trans_a", lambda: bf.batched_gemm(_M, _M, trans_a=1), TypeError,
         "must be a bool"),
    Case(bf.batched_gemm, "trans_b", lambda: bf.batched_gemm(_M, _M, trans_b="yes"), TypeError,
         "must be a bool .*got str 'yes'"),
    Case(bf.batched_gemm, "out", lambda: bf.batched_gemm(_M, _M, out=3.0), TypeError,
         "must be an array"),
    Case(bf.batched_gemm, "out", lambda: bf.batched_gemm(_M, _M, out=np.empty((4, 3))),
         ValueError, r"must have shape \(4, 4\)", label="shape"),
    Case(bf.batched_gemm, "out", lambda: bf.batched_gemm(_M, _M, out=_M), ValueError,
         "overlaps a", label="overlap"),
    Case(bf.batched_gemm, "compute", lambda: bf.batched_gemm(_M, _M, compute="tf32"),
         ValueError, "one of 'float64' for float64 inputs, got 'tf32'"),
    Case(bf.batched_gemm, "compute", lambda: bf.batched_gemm(_M, _M, compute=32), TypeError,
         "None or one of", label="type"),
    Case(bf.batched_gemm, "stream", lambda: bf.batched_gemm(_M, _M, stream="default"),
         TypeError, "cupy.cuda.Stream"),
    # --- matmul
    Case(bf.matmul, "a", lambda: bf.matmul(2.0, 3.0), ValueError, "at least 1-D",
         label="python-scalars"),
    Case(bf.matmul, "a", lambda: bf.matmul(np.float64(2.0), np.ones(3)), ValueError,
         "at least 1-D", label="numpy-scalar"),
    Case(bf.matmul, "a", lambda: bf.matmul("ab", np.ones(3)), TypeError, "must be an array",
         label="string"),
    Case(bf.matmul, "b", lambda: bf.matmul(np.ones(3), None), TypeError, "must be an array"),
    Case(bf.matmul, "b", lambda: bf.matmul(np.ones(3), np.ones(4)), ValueError, "agree on K",
         label="k-mismatch"),
    Case(bf.matmul, "out", lambda: bf.matmul(_M, _M, out=np.empty(4)), ValueError,
         r"must have shape \(4, 4\)"),
    Case(bf.matmul, "out", lambda: bf.matmul(_M, _M, out=[0.0]), TypeError, "must be an array",
         label="list"),
    Case(bf.matmul, "compute", lambda: bf.matmul(_M, _M, compute="half"), ValueError,
         "compute must be one of"),
    Case(bf.matmul, "stream", lambda: bf.matmul(_M, _M, stream=0), ValueError,
         "applies to device arrays only", label="handle-host-arrays"),
    Case(bf.matmul, "stream", lambda: bf.matmul(_M, _M, stream=-2), ValueError,
         "handle >= 0", label="negative-handle"),
    # --- gemm_vbatched
    Case(bf.gemm_vbatched, "a_list", lambda: bf.gemm_vbatched(_M, [_M]), TypeError,
         "list or tuple of 2-D arrays"),
    Case(bf.gemm_vbatched, "a_list", lambda: bf.gemm_vbatched([[1.0, 2.0]], [_M]), TypeError,
         r"a_list\[0\] must be an array", label="nested-lists"),
    Case(bf.gemm_vbatched, "b_list", lambda: bf.gemm_vbatched([_M, _M], [_M]), ValueError,
         "same length"),
    Case(bf.gemm_vbatched, "b_list", lambda: bf.gemm_vbatched([_M], [np.ones((3, 2))]),
         ValueError, "agree on K", label="k-mismatch"),
    Case(bf.gemm_vbatched, "c_list", lambda: bf.gemm_vbatched([_M], [_M], [_M.astype(
        np.float32)]), TypeError, "written as float64, got c_list"),
    Case(bf.gemm_vbatched, "alpha", lambda: bf.gemm_vbatched([_M], [_M], alpha=None),
         TypeError, "real number"),
    Case(bf.gemm_vbatched, "beta", lambda: bf.gemm_vbatched([_M], [_M], beta=[1.0]), TypeError,
         "real number"),
    Case(bf.gemm_vbatched, "trans_a", lambda: bf.gemm_vbatched([_M], [_M], trans_a="no"),
         TypeError, "must be a bool"),
    Case(bf.gemm_vbatched, "trans_b", lambda: bf.gemm_vbatched([_M], [_M], trans_b=0),
         TypeError, "must be a bool"),
    Case(bf.gemm_vbatched, "out", lambda: bf.gemm_vbatched([_M], [_M], out=[None]), TypeError,
         r"out\[0\] must be an array .*got NoneType"),
    Case(bf.gemm_vbatched, "out", lambda: bf.gemm_vbatched([_M], [_M], out=[_M]), ValueError,
         "overlaps", label="overlap"),
    Case(bf.gemm_vbatched, "compute", lambda: bf.gemm_vbatched([_M], [_M], compute="tf32"),
         ValueError, "compute must be one of 'float64'"),
    Case(bf.gemm_vbatched, "stream", lambda: bf.gemm_vbatched([_M], [_M], stream=1.5),
         TypeError, "cupy.cuda.Stream"),
    # --- BatchedGemm (the plan validates as batched_gemm does)
    Case(bf.BatchedGemm, "a", lambda: bf.BatchedGemm(2.0, _M), TypeError, "must be an array"),
    Case(bf.BatchedGemm, "a", lambda: bf.BatchedGemm([_M], [_M]), TypeError,
         "pointer-array form .* not planned", label="list"),
    Case(bf.BatchedGemm, "b", lambda: bf.BatchedGemm(_M, np.ones((3, 4))), ValueError,
         "agree on K"),
    Case(bf.BatchedGemm, "c", lambda: bf.BatchedGemm(_M, _M, np.ones((4, 4), np.float32)),
         TypeError, "got out/c of dtype float32"),
    Case(bf.BatchedGemm, "alpha", lambda: bf.BatchedGemm(_M, _M, alpha=None), TypeError,
         "real number"),
    Case(bf.BatchedGemm, "beta", lambda: bf.BatchedGemm(_M, _M, beta="0"), TypeError,
         "real number"),
    Case(bf.BatchedGemm, "trans_a", lambda: bf.BatchedGemm(_M, _M, trans_a="yes"), TypeError,
         "must be a bool"),
    Case(bf.BatchedGemm, "trans_b", lambda: bf.BatchedGemm(_M, _M, trans_b=np.array([1])),
         TypeError, "must be a bool"),
    Case(bf.BatchedGemm, "compute", lambda: bf.BatchedGemm(_M, _M, compute="fp8"), ValueError,
         "compute must be one of"),
    Case(bf.BatchedGemm, "out", lambda: bf.BatchedGemm(_M, _M, out=_M), ValueError,
         "overlaps a"),
    # --- warmup (checked before the GPU check, so these run with no GPU)
    Case(bf.warmup, "families", lambda: bf.warmup("gemm"), TypeError,
         "iterable of family names", label="a-string"),
    Case(bf.warmup, "families", lambda: bf.warmup(3), TypeError, "iterable of family names",
         label="an-int"),
    Case(bf.warmup, "families", lambda: bf.warmup(["gemm", "nope"]), ValueError,
         "must be one of .*got 'nope'", label="unknown-name"),
]

EXEMPT = {}
