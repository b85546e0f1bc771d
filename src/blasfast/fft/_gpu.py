"""GPU launchers of the split-FP16 FFT passes (``kernels/fft_split16.cu``).

``fft_split16_pass<LOG2N, MODE>`` transforms sequences of ``2**LOG2N <= 4096`` points in one
kernel (all stages in shared memory, tensor-core products); longer powers of two run as a
four-step split into two such passes (more for n > 4096**2) -- the plan of
:mod:`._four_step`, which the CPU emulation in :mod:`._engine` follows too. The launchers
trust their inputs: CuPy complex64 arrays, ``mode`` in ('split16', 'fp16'). They launch on
the current CuPy stream and never synchronize. Importing this module declares the kernel
family to :mod:`blasfast.kernels._compile` (it compiles nothing); :mod:`._engine` imports it.
"""

import math

import numpy as np

from .. import _backend
from ..kernels import _compile
from . import _split
from ._four_step import four_step_split

FAMILY = "fft_split16"
THREADS = 256
MAX_BLOCKS = 1 << 20
_MODE = {"split16": 1, "fp16": 0}


def name_expression(log2n, mode):
    return f"fft_split16_pass<{log2n}, {_MODE[mode]}>"


_compile.declare(FAMILY, "fft_split16.cu", [
    name_expression(p, m) for p in range(1, _split.MAX_PASS_LOG2 + 1) for m in _MODE])


def sequences_per_block(n):
    """Sequences of ``n`` points one block transforms (it holds max(n, 1024) points)."""
    return max(1, 1024 // n)


def shared_bytes(n):
    """Dynamic shared memory of a pass over ``n`` points: two buffers of max(n, 1024)
    complex64 (64 KB at n = 4096)."""
    return 2 * max(n, 1024) * 8


def _kernel_mode(mode):
    if mode not in _MODE:
        raise ValueError(f"fft: the GPU path has no {mode!r} arithmetic (CPU emulation only)")
    return mode


def launch_pass(src, dst, n, batch, n_inner, in_strides, out_strides, sign, mode, tw_n=0,
                scale=1.0):
    """One pass over ``batch`` sequences of ``n`` points (a power of two, 2..4096).

    ``in_strides``/``out_strides`` are ``(elem, inner, outer)`` in elements: sequence ``T``
    is ``(o, i) = divmod(T, n_inner)``, its element ``j`` at ``o*outer + i*inner + j*elem``.
    ``tw_n > 0`` multiplies output ``k`` of sequence ``(o, i)`` by
    ``exp(sign*2*pi*i*(k*i mod tw_n)/tw_n)``; every output by ``scale``.
    """
    log2n = n.bit_length() - 1
    kernel = _compile.get_function(FAMILY, name_expression(log2n, _kernel_mode(mode)))
    smem = shared_bytes(n)
    if smem > 48 * 1024 and kernel.max_dynamic_shared_size_bytes < smem:
        kernel.max_dynamic_shared_size_bytes = smem  # opt in above the 48 KB default
    blocks = max(1, min(-(-batch // sequences_per_block(n)), MAX_BLOCKS))
    i64 = np.int64
    kernel((blocks,), (THREADS,), (
        src, dst, i64(batch), i64(max(n_inner, 1)),
        *(i64(s) for s in in_strides), *(i64(s) for s in out_strides),
        np.int32(sign), i64(tw_n), np.float32(scale)), shared_mem=smem)
    return dst


def _array_module(a):
    """CuPy, or the emulator's namespace for emulated arrays (a seam: the host-side plan is
    also tested with NumPy and a model of the kernel)."""
    return _backend.array_module(a)


def c2c_pow2_axis(a, axis, sign, mode):
    """Unnormalized DFT along ``axis`` of a CuPy complex64 array, length a power of two
    <= 4096, read and written with strides (no transposes). Returns a new C-contiguous array.
    """
    cupy = _array_module(a)
    x = cupy.ascontiguousarray(a, dtype=np.complex64)
    axis %= x.ndim
    n = x.shape[axis]
    if n == 1 or x.size == 0:
        return x.copy()
    outer = math.prod(x.shape[:axis])
    inner = math.prod(x.shape[axis + 1:])
    out = cupy.empty_like(x)
    strides = (inner, 1, n * inner)
    return launch_pass(x, out, n, outer * inner, inner, strides, strides, sign, mode)


def c2c_pow2_rows(x, sign, mode):
    """Unnormalized DFT of the rows of a C-contiguous CuPy complex64 (B, n) array, n a power
    of two (any size). Returns a new (B, n) array."""
    cupy = _array_module(x)
    b, n = x.shape
    if n == 1 or x.size == 0:
        return x.copy()
    if n <= _split.MAX_PASS:
        out = cupy.empty_like(x)
        return launch_pass(x, out, n, b, 1, (1, 0, n), (1, 0, n), sign, mode)
    n1, n2 = four_step_split(n)
    # pass 1: length n1 down each column j2 (element stride n2), twiddle W^(k1*j2) fused
    y = cupy.empty_like(x)
    launch_pass(x, y, n1, b * n2, n2, (n2, 1, n), (n2, 1, n), sign, mode, tw_n=n)
    if n2 <= _split.MAX_PASS:
        # pass 2: length n2 along each row k1, stored transposed: X[k1 + n1*k2]
        z = cupy.empty_like(x)
        return launch_pass(y, z, n2, b * n1, n1, (1, n2, n), (n1, 1, n), sign, mode)
    z = c2c_pow2_rows(y.reshape(b * n1, n2), sign, mode).reshape(b, n1, n2)
    return cupy.ascontiguousarray(z.transpose(0, 2, 1)).reshape(b, n)
