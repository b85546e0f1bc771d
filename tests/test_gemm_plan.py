"""The GPU launcher's host-side arithmetic, checked with no GPU.

``blasfast.gemm._launch._operands_and_plan`` turns operands with arbitrary strides and
broadcast batch dimensions into the kernel's arguments (matrix strides, two folded batch
dimensions, per-launch offsets). Here a NumPy emulation of ``gemm_strided_batched`` -- the same
address arithmetic as kernels/gemm.cu, reading and writing flat buffers -- runs those
arguments, and the result must equal ``numpy.matmul``. This does not verify the CUDA
kernel itself (only a GPU run does); it verifies everything the launcher feeds it.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from blasfast.gemm import _launch


def _flat_offset(view, buf):
    return (view.__array_interface__["data"][0] - buf.__array_interface__["data"][0]) \
        // view.itemsize


def emulate_kernel(plan, m, n, k, alpha, beta, ops, bufs):
    """Run the kernel's index arithmetic: D[z] = alpha * A[z] B[z] + beta * C[z].

    ``bufs`` are the flat buffers under ``ops`` (a, b, c, d); D is written into ``bufs[3]``.
    """
    sam, sak, sbk, sbn, scm, scn, sdm, sdn = plan.mat
    (n_out, s_out), (n_in, s_in) = plan.outer, plan.inner
    base = [_flat_offset(v, b) for v, b in zip(ops, bufs)]
    i, j, kk = np.arange(m)[:, None], np.arange(n)[None, :], np.arange(k)
    for off in plan.offsets:
        for z in range(n_out * n_in):
            zo, zi = divmod(z, n_in)
            o = [base[t] + off[t] + zo * s_out[t] + zi * s_in[t] for t in range(4)]
            a = bufs[0][o[0] + i * sam + kk[None, :] * sak]
            b = bufs[1][o[1] + kk[:, None] * sbk + j * sbn]
            v = alpha * (a @ b)
            if beta != 0:
                v = v + beta * bufs[2][o[2] + i * scm + j * scn]
            bufs[3][o[3] + i * sdm + j * sdn] = v


@st.composite
def strided_operand(draw, shape):
    """A view of ``shape`` into a larger flat buffer: permuted axes, steps, negative steps."""
    if draw(st.booleans()):  # plain contiguous: batch dimensions that fold together
        steps, pad, perm = [1] * len(shape), [0] * len(shape), list(range(len(shape)))
    else:
        steps = [draw(st.sampled_from([1, 2, -1, -2])) for _ in shape]
        pad = [draw(st.integers(0, 1)) for _ in shape]
        perm = draw(st.permutations(range(len(shape))))
    big = [s * abs(t) + p for s, t, p in zip(shape, steps, pad)]
    buf = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal(
        int(np.prod(big)))
    x = buf.reshape([big[p] for p in perm]).transpose(np.argsort(perm))
    x = x[tuple(slice(None, s * t, t) if t > 0 else slice(s * -t - 1, None, t)
                for s, t in zip(shape, steps))]
    assert x.shape == tuple(shape)
    return x, buf


@st.composite
def gemm_case(draw):
    m, n, k = (draw(st.integers(1, 5)) for _ in range(3))
    nb = draw(st.integers(0, 4))
    batch = [draw(st.integers(1, 3)) for _ in range(nb)]
    bcast = lambda: [1 if draw(st.booleans()) else s for s in batch]  # noqa: E731
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a_shape = bcast()[draw(st.integers(0, nb)):] + ([k, m] if ta else [m, k])
    b_shape = bcast()[draw(st.integers(0, nb)):] + ([n, k] if tb else [k, n])
    out_batch = list(np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2])))
    c_batch = [1 if draw(st.booleans()) else s for s in out_batch]
    c_shape = c_batch[draw(st.integers(0, len(out_batch))):] + [draw(st.sampled_from([1, m])), n]
    return (draw(strided_operand(a_shape)), draw(strided_operand(b_shape)),
            draw(strided_operand(c_shape)), draw(strided_operand(out_batch + [m, n])),
            ta, tb, draw(st.sampled_from([0.0, 1.5])))


@given(gemm_case())
def test_launch_plan_reproduces_matmul(case):
    (a, abuf), (b, bbuf), (c, cbuf), (d, dbuf), ta, tb, beta = case
    m, n = d.shape[-2:]
    k = a.shape[-2] if ta else a.shape[-1]
    ops, plan = _launch._operands_and_plan(np, a, b, c if beta else None, d, ta, tb)
    bufs = [abuf, bbuf, cbuf if beta else dbuf, dbuf]
    emulate_kernel(plan, m, n, k, 0.75, beta, ops, bufs)
    ref = 0.75 * np.matmul(np.swapaxes(a, -1, -2) if ta else a,
                           np.swapaxes(b, -1, -2) if tb else b)
    if beta:
        ref = ref + beta * c
    np.testing.assert_allclose(d, ref, rtol=1e-12, atol=1e-12)


def test_plan_folds_contiguous_batches_into_one_launch():
    rng = np.random.default_rng(7)
    abuf, bbuf = rng.standard_normal(4 * 5 * 6 * 3 * 2), rng.standard_normal(14)
    a, b = abuf.reshape(4, 5, 6, 3, 2), bbuf.reshape(2, 7)
    dbuf = np.full(4 * 5 * 6 * 3 * 7, np.nan)
    d = dbuf.reshape(4, 5, 6, 3, 7)
    ops, plan = _launch._operands_and_plan(np, a, b, None, d, False, False)
    assert len(plan.offsets) == 1
    assert plan.outer[0] * plan.inner[0] == 120
    emulate_kernel(plan, 3, 7, 2, 1.0, 0.0, ops, [abuf, bbuf, dbuf, dbuf])
    np.testing.assert_allclose(d, a @ b, rtol=1e-13)
