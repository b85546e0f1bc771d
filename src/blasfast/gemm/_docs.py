"""Docstring parts shared by :func:`blasfast.batched_gemm` and :func:`blasfast.matmul`:
the accuracy notes, the precision table and the two functions' result dtypes."""

_COMMON_NOTES = """
    Accuracy (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.5): every element
    satisfies ``|D - D_exact| <= gamma_{K+2} (|alpha| |op(A)| |op(B)| + |beta| |C|)`` with
    ``gamma_n = n u / (1 - n u)`` and ``u`` the unit roundoff of the accumulation: 2**-53
    (float64), 2**-24 (float32, and float16/bfloat16 inputs, whose products are exact in
    float32). ``compute='tf32'`` first rounds each operand to 10 mantissa bits (relative
    2**-11), the dominant error for moderate K. A float16/bfloat16 ``out`` adds one final
    rounding. The GPU kernels and the CPU path sum in different orders and agree to these
    bounds, not bit for bit.

    The GPU path launches on the current CuPy stream (or ``stream``) and does not
    synchronize; the CPU path is NumPy's ``matmul`` with the same operand rounding.
"""

_PRECISION_TABLE = """
    =========  ====================  ==================  ================================
    a, b       compute               result (default)    where it runs on the GPU
    =========  ====================  ==================  ================================
    float64    'float64'             float64             CUDA cores, FP64 FMA
    float32    'float32' (default)   float32             CUDA cores, FP32 FMA
    float32    'tf32'                float32             tensor cores, TF32 operands
    float16    'float32'             float32 (or f16)    tensor cores, FP32 accumulation
    bfloat16   'float32'             float32 (or bf16)   tensor cores, FP32 accumulation
    =========  ====================  ==================  ================================
"""

# The result dtypes of matmul (NumPy's rule) and batched_gemm (its precision table), side
# by side in both docstrings.
_RESULT_DTYPES = """
    ==================  ======================================  ==========================
    a, b                matmul (numpy.matmul's rule)            batched_gemm
    ==================  ======================================  ==========================
    float64             float64                                 float64
    float32             float32                                 float32
    float16             float16: FP32 accumulation (tensor      float32; float16 when
                        cores), rounded once at the end         ``out``/``c`` is float16
    bfloat16            bfloat16, likewise                      float32; bfloat16 likewise
    float32, float64    float64 (``numpy.result_type``; the     TypeError: cast one first
                        float32 operand is cast first)
    any other dtype     the array library's ``matmul``          TypeError
                        (bool, integers, complex, object)
    ==================  ======================================  ==========================
"""
