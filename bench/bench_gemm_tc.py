"""Batched GEMM on tensor cores: float32 with ``compute='tf32'``, float16 and bfloat16 inputs
with FP32 accumulation; blasfast against cuBLAS (through CuPy, with and without TF32) and
PyTorch, shape by shape.

The cases and how they are measured: ``bench_gemm.py``'s docstring (``_gemm_cases.py``,
``_gemm_measure.py``). Node ids keep the form ``test_batched_gemm_square[<precision>-...]``.
"""

import pytest

from _gemm_cases import SQUARE_CASES, VGG_CASES, params, tensor_core
from _gemm_measure import measure, release_inputs  # noqa: F401 (autouse fixture)
from _timing import blasfast_warm, requires_gpu  # noqa: F401 (fixture)


@requires_gpu
@pytest.mark.parametrize("case, impl", params(c for c in SQUARE_CASES if tensor_core(c)))
def test_batched_gemm_square(benchmark, blasfast_warm, case, impl):
    measure(benchmark, case, impl)


@requires_gpu
@pytest.mark.parametrize("case, impl", params(c for c in VGG_CASES if tensor_core(c)))
def test_batched_gemm_vgg16_winograd(benchmark, blasfast_warm, case, impl):
    measure(benchmark, case, impl)
