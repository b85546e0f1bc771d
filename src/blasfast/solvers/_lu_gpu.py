"""GPU path of the LU factorization and of the solves with its factors (our kernels).

Blocked right-looking LU with partial pivoting on a row-major working copy ``w`` (FP32 for
the low precisions, FP64 for ``'float64'``); outer block width ``nb``
(:func:`blasfast.solvers._lu_cpu.block_size`, the same as the CPU path), inner width 32:

* panel: ``getrf_panel`` (kernels/getrf_panel.cu), one persistent launch per 32 columns,
  rows spread over at most one block per SM, kept in shared memory, pivots found with
  grid-wide barriers (LAPACK ``?getf2`` results);
* row interchanges of those 32 pivots on every other column: ``getrf_laswp``;
* inside the outer panel, and for the block row ``U12 = L11^-1 A12``: ``trsm_block_row``
  on 32-row slices plus FP32 (FP64) GEMM updates -- the panel precision;
* trailing update ``A22 -= round(L21) @ round(U12)``: :func:`blasfast.batched_gemm`'s
  launcher on float16/bfloat16 copies of ``L21`` and ``U12`` (tensor cores, FP32
  accumulation into the FP32 ``A22``), ``compute='tf32'`` for TF32, plain FP32/FP64 GEMM
  otherwise. Factors are kept in FP32 (see :mod:`._lu_cpu` for why).

Solves: ``getrs`` permutes the right-hand sides and runs the sync-free triangular-solve
kernels (kernels/trsm_refine.cu), in FP32 or, for GMRES-IR's preconditioner, in FP64
arithmetic on the FP32 factors.

Everything launches on the current CuPy stream. :func:`getrf` synchronizes once at the end
(it returns the zero-pivot index and whether the factors are finite).

This module runs only with a GPU; it is verified on machines without one by compiling
its kernels (``python -m blasfast.kernels check``).
"""

import numpy as np

from .. import _backend, _dtypes
from ..gemm._launch import _batched_gemm_nocheck
from ..kernels import _compile, _occupancy
from . import _kernels as K
from ._lu_cpu import LOW_DTYPE, block_size

__all__ = ["getrf", "getrs", "ipiv_to_perm", "trailing_update"]

_i32, _i64 = np.int32, np.int64
MAX_GRID_Y = 65535      # CUDA's limit on gridDim.y (and z)


def _xp(x):
    """The array module of device array ``x``: cupy, or the emulator's namespace."""
    return _backend.array_module(x)


def _host(x):
    return x.get() if hasattr(x, "get") else np.asarray(x)


def _fn(family, name):
    return _compile.get_function(family, name)


class _Workspace:
    """Scratch of the panel kernel: per-block pivot candidates, two rows, the barrier."""

    def __init__(self, cp, dtype, nsm):
        self.pval = cp.empty(nsm, dtype=dtype)
        self.pidx = cp.empty(nsm, dtype=np.int32)
        self.rowbuf = cp.empty(2 * K.IB, dtype=dtype)
        self.bar = cp.zeros(2, dtype=np.uint32)


def _device_attributes(cp):
    """``cupy.cuda.Device().attributes`` of the current device (a seam for the tests)."""
    return cp.cuda.Device().attributes


def _device_attr(cp, name):
    return int(_device_attributes(cp)[name])


def _panel(w, i, ib, ipiv, perm, info, ws):
    """Factor columns i..i+ib of rows i..n-1 in place (one persistent launch)."""
    n = w.shape[0]
    m = n - i
    nsm = ws.pval.size
    grid = max(1, min(nsm, -(-m // 64)))
    rpb = -(-m // grid)
    smem = (rpb * (K.IB + 1) + K.IB) * w.itemsize
    cp = _xp(w)
    limit = _device_attr(cp, "MaxSharedMemoryPerBlockOptin")
    if smem > limit:
        raise RuntimeError(f"solve: n = {n} is too large for the panel kernel "
                           f"({smem} B of shared memory per block, the device has {limit})")
    kern = _fn("getrf_panel", K.panel_name(K.ctype(w.dtype)))
    # The grid-wide barrier needs every block resident at once: check it as the occupancy
    # calculator would (an error, never a hang). Other work running on the device at the
    # same time can still take SMs; the panel assumes it has the device to itself.
    attrs = kern.attributes_for(w)
    resident = nsm * _occupancy.blocks_per_sm(
        K.PANEL_THREADS, attrs["shared_size_bytes"] + smem, attrs["num_regs"],
        _device_attributes(cp))
    if grid > resident:
        raise RuntimeError(f"solve: the panel kernel's grid of {grid} blocks cannot be "
                           f"resident at once (the device holds {resident} of them); its "
                           "grid-wide barrier would never complete")
    if smem > 48 * 1024 and kern.max_dynamic_shared_size_bytes < smem:
        kern.max_dynamic_shared_size_bytes = smem
    kern((grid,), (K.PANEL_THREADS,),
         (w[i:, i:], _i64(n), _i32(m), _i32(ib), _i32(rpb), _i32(i), ipiv[i:], perm[i:],
          info, ws.pval, ws.pidx, ws.rowbuf, ws.bar), shared_mem=smem)


def _laswp(w, i, ib, ipiv):
    """Apply the interchanges of rows i..i+ib to the columns left and right of the panel."""
    n = w.shape[0]
    kern = _fn("getrf_laswp", K.laswp_name(K.ctype(w.dtype)))
    for c0, c1 in ((0, i), (i + ib, n)):
        if c1 > c0:
            kern((-(-(c1 - c0) // K.LASWP_THREADS),), (K.LASWP_THREADS,),
                 (w[:, c0:], _i64(n), _i32(c1 - c0), ipiv, _i32(i), _i32(i + ib)))


def _trsm(w, i, ib, c0, c1):
    """``w[i:i+ib, c0:c1] = L(i:i+ib, i:i+ib)^-1 w[i:i+ib, c0:c1]`` (unit lower)."""
    if c1 <= c0:
        return
    n = w.shape[0]
    kern = _fn("trsm_block_row", K.trsm_name(K.ctype(w.dtype)))
    kern((-(-(c1 - c0) // K.TRSM_THREADS),), (K.TRSM_THREADS,),
         (w[i:, i:], _i64(n), w[i:, c0:], _i64(n), _i32(ib), _i32(c1 - c0)))


def _gemm_update(l, u, c):
    """``c -= l @ u`` in the working precision (views of one matrix, disjoint elements)."""
    if l.size and u.size and c.size:
        compute = "float64" if c.dtype == np.float64 else "float32"
        _batched_gemm_nocheck(l, u, c, c, -1.0, 1.0, False, False, compute)


def trailing_update(l21, u12, a22, factor):
    """``a22 -= round(l21) @ round(u12)``, FP32 accumulation, in place (GPU path)."""
    if not (l21.size and u12.size and a22.size):
        return
    if factor in LOW_DTYPE:
        with np.errstate(over="ignore"):   # (NumPy stand-ins in the tests; CuPy is silent)
            l, u = l21.astype(LOW_DTYPE[factor]), u12.astype(LOW_DTYPE[factor])
        _batched_gemm_nocheck(l, u, a22, a22, -1.0, 1.0, False, False, "float32")
    elif factor == "tf32":
        _batched_gemm_nocheck(l21, u12, a22, a22, -1.0, 1.0, False, False, "tf32")
    else:
        _gemm_update(l21, u12, a22)


def getrf(a, factor):
    """Factor one (n, n) float64 CuPy matrix (already scaled) in precision ``factor``.

    Returns
    -------
    lu : (n, n) CuPy array, float32 (float64 for 'float64'), row-major
    piv : (n,) int32 CuPy array
        LAPACK ipiv, 0-based.
    perm : (n,) int32 CuPy array
        Row permutation: ``(P A)[i] = A[perm[i]]``.
    info : int
        ``j + 1`` for the first exactly zero pivot ``U[j, j]``, else 0.
    finite : bool
        Whether the factors are free of Inf/NaN. Reading info and finite synchronizes.
    """
    cp = _xp(a)
    n = a.shape[0]
    dtype = _dtypes.float64 if factor == "float64" else _dtypes.float32
    w = cp.ascontiguousarray(a.astype(dtype))
    piv = cp.arange(n, dtype=np.int32)
    perm = cp.arange(n, dtype=np.int32)
    info = cp.zeros(1, dtype=np.int32)
    ws = _Workspace(cp, dtype, _device_attr(cp, "MultiProcessorCount"))
    nb = block_size(n)
    for k in range(0, n, nb):
        ke = min(k + nb, n)
        for i in range(k, ke, K.IB):
            ib = min(K.IB, ke - i)
            _panel(w, i, ib, piv, perm, info, ws)
            _laswp(w, i, ib, piv)
            if i + ib < ke:
                _trsm(w, i, ib, i + ib, ke)
                _gemm_update(w[i + ib:, i:i + ib], w[i:i + ib, i + ib:ke], w[i + ib:, i + ib:ke])
        if ke < n:
            for i in range(k, ke, K.IB):
                ib = min(K.IB, ke - i)
                _trsm(w, i, ib, ke, n)
                if i + ib < ke:
                    _gemm_update(w[i + ib:ke, i:i + ib], w[i:i + ib, ke:], w[i + ib:ke, ke:])
            trailing_update(w[ke:, k:ke], w[k:ke, ke:], w[ke:, ke:], factor)
    finite = bool(cp.isfinite(w).all())
    return w, piv, perm, int(_host(info)[0]), finite


def _trsv(lu, y, lower):
    """In place ``y := L^-1 y`` (unit lower) or ``U^-1 y``; y (n, k), arithmetic y.dtype."""
    cp = _xp(y)
    n, k = y.shape
    nblk = -(-n // K.TRSV_RB)
    ticket = cp.zeros(k, dtype=np.int32)
    flags = cp.zeros(k * nblk, dtype=np.int32)
    kern = _fn("trsm_refine", K.trsv_name(K.ctype(lu.dtype), K.ctype(y.dtype), lower))
    for c0 in range(0, k, MAX_GRID_Y):      # a column per blockIdx.y, at most 65535 a launch
        c1 = min(k, c0 + MAX_GRID_Y)
        kern((nblk, c1 - c0), (K.TRSV_THREADS,),
             (lu, _i64(lu.shape[1]), _i32(n), y[:, c0:], _i64(k), ticket[c0:],
              flags[c0 * nblk:]))


def getrs(lu, perm, v):
    """Solve ``A x = v`` with GPU factors; ``v`` (n, k), arithmetic in ``v``'s dtype.

    ``lu`` float32 or float64 (row-major, as :func:`getrf` returns), ``perm`` the row
    permutation. FP32 factors with a float64 ``v`` run FP64 arithmetic on the FP32 values;
    float64 factors with a float32 ``v`` upcast ``v``. Returns a new (n, k) array.
    """
    cp = _xp(lu)
    lu = cp.ascontiguousarray(lu)
    if lu.dtype == np.float64 and v.dtype != np.float64:
        v = v.astype(np.float64)
    if v.ndim == 1:
        return getrs(lu, perm, v[:, None])[:, 0]
    if v.size == 0:
        return v.copy()
    y = cp.ascontiguousarray(v[perm])
    _trsv(lu, y, lower=True)
    _trsv(lu, y, lower=False)
    return y


def ipiv_to_perm(piv):
    """Row permutation (int32, on piv's device) of 0-based LAPACK pivots, computed on the
    host."""
    from scipy.linalg import lapack

    cp = _xp(piv)
    p = _host(piv)
    perm = lapack.dlaswp(np.arange(len(p), dtype=np.float64)[:, None], p.astype(np.int32))
    return cp.asarray(perm[:, 0].astype(np.int32))
