"""The GPU launcher of the strided batched GEMM: host-side arithmetic and the launch.

:func:`_batched_gemm_nocheck` picks the kernel and tile from the tables in
:mod:`blasfast.gemm._config`, folds the batch dimensions into the kernel's two (one launch
per leftover index, :func:`_gemm_plan`, pure arithmetic tested with no GPU), fetches the
compiled kernel and launches it; it trusts its inputs. Used by the configured launches of
:mod:`blasfast.gemm._core` (when one launch does not do) and by the LU solver's trailing
updates. The kernels are ``kernels/gemm.cu`` (CUDA cores) and ``kernels/gemm_tc.cu``
(tensor cores), templated on types and tile shape.
"""

import dataclasses

import numpy as np

from .. import _backend
from ..kernels import _compile
from . import _config

def _coalesce(shape, strides_per_op):
    """Merge batch dimensions that every operand walks contiguously, drop size-1 ones.

    ``strides_per_op`` is a list (one per operand) of element strides over ``shape``.
    Returns a list of ``(size, [stride per operand])``, outermost first.
    """
    dims = [(s, [st[i] for st in strides_per_op]) for i, s in enumerate(shape) if s != 1]
    merged = []
    for size, strides in dims:
        if merged:
            psize, pstrides = merged[-1]
            if all(ps == s * size for ps, s in zip(pstrides, strides)):
                merged[-1] = (psize * size, strides)
                continue
        merged.append((size, strides))
    return merged


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Kernel arguments for one batched GEMM, in elements (host-side math only).

    ``mat`` holds the matrix strides ``(sam, sak, sbk, sbn, scm, scn, sdm, sdn)``;
    ``outer``/``inner`` the two batch dimensions the kernel walks, each ``(size,
    (stride_a, stride_b, stride_c, stride_d))``; ``offsets`` one tuple of element offsets
    ``(a, b, c, d)`` per launch (more than one only when the batch cannot be folded into two
    dimensions).
    """

    mat: tuple
    outer: tuple
    inner: tuple
    offsets: tuple


def _gemm_plan(batch, strides, trans_a, trans_b):
    """Fold batch dimensions and read matrix strides, from element strides.

    ``strides`` lists, for ``a``, ``b``, ``c``, ``d`` broadcast to the full batch shape
    (zero strides on broadcast dimensions), their element strides over ``batch + (rows,
    cols)``. Pure arithmetic, so it is tested on the CPU against an emulation of the kernel.
    """
    sa, sb, sc, sd = strides
    mat = ((sa[-1], sa[-2]) if trans_a else (sa[-2], sa[-1])) + \
          ((sb[-1], sb[-2]) if trans_b else (sb[-2], sb[-1])) + tuple(sc[-2:]) + tuple(sd[-2:])
    dims = _coalesce(batch, [s[:-2] for s in strides])
    dims = [(1, (0, 0, 0, 0))] * max(0, 2 - len(dims)) + dims
    rest = dims[:-2]
    offsets = tuple(
        tuple(sum(i * st[j] for i, (_, st) in zip(idx, rest)) for j in range(4))
        for idx in np.ndindex(*[size for size, _ in rest]))
    return _Plan(mat, (dims[-2][0], tuple(dims[-2][1])), (dims[-1][0], tuple(dims[-1][1])),
                 offsets)


def _operands_and_plan(xp, a, b, c, d, trans_a, trans_b):
    """Broadcast views of ``a, b, c, d`` over the batch (no copies) and their :class:`_Plan`.

    ``c`` None stands for "not read": ``d`` is passed in its place.
    """
    batch = d.shape[:-2]
    c = d if c is None else c
    ops = [xp.broadcast_to(x, batch + x.shape[-2:]) for x in (a, b)]
    ops += [xp.broadcast_to(c, d.shape), d]
    return ops, _gemm_plan(batch, [[s // x.itemsize for s in x.strides] for x in ops],
                           trans_a, trans_b)


def _batched_gemm_nocheck(a, b, c, d, alpha, beta, trans_a, trans_b, compute):
    """Launch a GEMM kernel: ``d = alpha * op(a) @ op(b) + beta * c`` on CuPy arrays.

    ``a`` and ``b`` broadcast over ``d``'s batch dimensions, ``c`` (or None) broadcasts to
    ``d``; any strides are accepted (no copies). ``d`` must not overlap ``a`` or ``b``;
    ``compute`` must be valid for the dtypes (see :mod:`blasfast._dtypes`). Launches on the
    current CuPy stream; returns ``d``. Does not synchronize.
    """
    cupy = _backend.array_module(d)  # or the emulator's namespace, for emulated arrays

    m, n = d.shape[-2:]
    k = a.shape[-2] if trans_a else a.shape[-1]
    if d.size == 0:
        return d
    if c is None or beta == 0:
        c, beta = None, 0.0  # the kernel never reads C when beta == 0
    prec = _config.Precision(a.dtype, d.dtype, compute)
    tile = _config.select(prec, m, n, k)
    max_n = _config.MAX_GRID_Y * getattr(tile, "bn", n)
    if n > max_n:  # more column tiles than grid y holds: one launch per column range
        c = None if c is None else cupy.broadcast_to(c, d.shape)
        for j in range(0, n, max_n):
            cols = slice(j, min(n, j + max_n))
            _batched_gemm_nocheck(a, b[..., cols, :] if trans_b else b[..., cols],
                                  None if c is None else c[..., cols], d[..., cols],
                                  alpha, beta, trans_a, trans_b, compute)
        return d
    ops, plan = _operands_and_plan(cupy, a, b, c, d, trans_a, trans_b)
    kernel = _compile.get_function(tile.family, tile.kernel_name(prec))
    per_launch = plan.outer[0] * plan.inner[0]
    grid = tile.grid(m, n, per_launch)
    i32, i64, scalar = np.int32, np.int64, prec.acc_dtype.type
    sam, sak, sbk, sbn, scm, scn, sdm, sdn = (i64(s) for s in plan.mat)
    so, si = [i64(s) for s in plan.outer[1]], [i64(s) for s in plan.inner[1]]
    for off in plan.offsets:
        va, vb, vc, vd = (_offset_view(x, o) for x, o in zip(ops, off))
        kernel(grid, (tile.threads,), (
            i32(m), i32(n), i32(k), i64(per_launch), i64(plan.inner[0]),
            scalar(alpha), scalar(beta),
            va, sam, sak, so[0], si[0],
            vb, sbk, sbn, so[1], si[1],
            vc, scm, scn, so[2], si[2],
            vd, sdm, sdn, so[3], si[3]))
    return d


def _offset_view(x, off):
    """The matrix of ``x`` that starts ``off`` elements past ``x``'s first element, as a
    view (strides kept): what the kernel gets as its pointer. Only the last two dimensions
    are kept, so that the view lies inside ``x``'s memory whatever the batch offset."""
    if off == 0:
        return x
    return _backend.array_module(x).ndarray(x.shape[-2:], x.dtype, x.data + off * x.itemsize,
                                             x.strides[-2:])

