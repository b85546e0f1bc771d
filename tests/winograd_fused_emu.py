"""NumPy emulations of the fused Winograd kernels (``kernels/winograd_fused.cu`` and
``kernels/winograd_fused_tc.cu``), block by block, with each block's 256 threads vectorized
and its shared memory as NaN-poisoned arrays indexed exactly as the CUDA source does; used
by ``test_conv_kernels.py`` in place of the compiled kernels."""

import numpy as np

from kernel_emu import CTYPE_TO_DTYPE, _read, _write, flat


def emu_winograd_fused_fprop(t, a):
    """The fused kernel block by block, each block's 256 threads vectorized: its shared
    memory is a NaN-filled float32 array written and read at the source's indices (a read
    of an unwritten word, an overlap of two roles' writes, a misaligned float4 or an
    out-of-range global read fails). Returns the 2-D grid the launch must have."""
    bk, bt, bc = 32, 32, 8
    n_, c_, hv, wv, pt, pl, tp_, tq_, k_, p_, q_ = (
        int(a[k]) for k in "N C Hv Wv pt pl TP TQ K P Q".split())
    nt = n_ * tp_ * tq_
    xs = (a["sxn"], a["sxc"], a["sxh"], a["sxw"])
    ys = (a["syn"], a["syk"], a["syh"], a["sys"])
    ut, us_base = flat(a["Ut"]), 16 * bc * bt
    assert ut.size == 16 * c_ * k_
    tid = np.arange(256)
    lc, lt, uc, uk = tid // bt, tid % bt, tid // bk, tid % bk
    gi, kg, tg = tid // 64, (tid % 64) // 8, tid % 8
    four = np.arange(4)
    written = []

    def store(smem, idx, val):
        assert len(np.unique(idx)) == idx.size and np.isnan(smem[idx]).all(), "smem clash"
        smem[idx] = val

    def load4(smem, idx):
        assert (idx % 4 == 0).all(), "misaligned float4"
        v = smem[idx[:, None] + four]
        assert not np.isnan(v).any(), "read of unwritten shared memory"
        return v

    grid = (-(-nt // bt), -(-k_ // bk))
    for bx in range(grid[0]):
        for by in range(grid[1]):
            t0, k0 = bx * bt, by * bk
            p = t0 + lt
            tile_ok = p < nt
            tq, tp, n = (np.where(tile_ok, v, 0) for v in (p % tq_, p // tq_ % tp_,
                                                           p // (tp_ * tq_)))
            h0, w0 = 2 * tp - pt, 2 * tq - pl
            acc = np.zeros((256, 4, 4, 4), np.float32)   # [thread][nu][filter][tile]
            for c0 in range(0, c_, bc):
                smem = np.full(2 * 16 * bc * bt, np.nan, np.float32)
                c = c0 + lc
                d = np.zeros((4, 4, 256), np.float32)
                for i in range(4):
                    for j in range(4):
                        h, w = h0 + i, w0 + j
                        ok = tile_ok & (c < c_) & (h >= 0) & (h < hv) & (w >= 0) & (w < wv)
                        off = n * xs[0] + c * xs[1] + h * xs[2] + w * xs[3]
                        d[i, j, ok] = _read(a["x"], off[ok]).astype(np.float32)
                r = [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]
                for i in range(4):
                    v = (r[i][0] - r[i][2], r[i][1] + r[i][2], r[i][2] - r[i][1],
                         r[i][1] - r[i][3])
                    for nu in range(4):
                        store(smem, ((4 * i + nu) * bc + lc) * bt + lt, v[nu])
                uok = (k0 + uk < k_) & (c0 + uc < c_)
                for e in range(16):
                    g = (e * c_ + c0 + uc) * k_ + k0 + uk
                    store(smem, us_base + (e * bc + uc) * bk + uk,
                          np.where(uok, ut[np.where(uok, g, 0)].astype(np.float32), 0))
                for cc in range(bc):
                    for j in range(4):
                        e = 4 * gi + j
                        av = load4(smem, us_base + (e * bc + cc) * bk + 4 * kg)
                        bv = load4(smem, (e * bc + cc) * bt + 4 * tg)
                        acc[:, j] += av[:, :, None] * bv[:, None, :]
            smem = np.full(2 * 16 * bc * bt, np.nan, np.float32)   # S reuses it
            for ka in range(4):
                s0 = acc[:, 0, ka] + acc[:, 1, ka] + acc[:, 2, ka]
                s1 = acc[:, 1, ka] - acc[:, 2, ka] - acc[:, 3, ka]
                for b, sv in enumerate((s0, s1)):
                    idx = ((gi * 2 + b) * bk + 4 * kg + ka) * bt + 4 * tg
                    assert (idx % 4 == 0).all()
                    store(smem, (idx[:, None] + four).reshape(-1), sv.reshape(-1))
            ot = tid % bt
            op = t0 + ot
            on, opp, oq = op // (tp_ * tq_), op // tq_ % tp_, op % tq_
            for q in range(bk // 8):
                kl = tid // bt + 8 * q
                k = k0 + kl
                m = (op < nt) & (k < k_)
                sv = [[smem[((i * 2 + b) * bk + kl) * bt + ot] for b in range(2)]
                      for i in range(4)]
                bias = (_read(a["bias"], np.where(m, k, 0)).astype(np.float32)
                        if a["has_bias"] else np.zeros(256, np.float32))
                for aa in range(2):
                    for b in range(2):
                        val = (sv[0][b] + sv[1][b] + sv[2][b] if aa == 0
                               else sv[1][b] - sv[2][b] - sv[3][b])
                        h, w = 2 * opp + aa, 2 * oq + b
                        ok = m & (h < p_) & (w < q_)
                        assert not np.isnan(val[ok]).any()
                        off = (on * ys[0] + k * ys[1] + h * ys[2] + w * ys[3])[ok]
                        _write(a["y"], off, val[ok] + bias[ok])
                        written.append(off)
    written = np.concatenate(written) if written else np.zeros(0, np.int64)
    assert len(np.unique(written)) == written.size, "two blocks write one element"
    return grid


def emu_winograd_fused_tc_fprop(t, a):
    """The tensor-core fused kernel block by block: shared memory as NaN-poisoned arrays
    (Us, Vs holding 16-bit values, Ms float) written at the source's indices, WMMA loads
    and stores as 16x16 reads/writes at a pointer and ``ldm`` (checked for WMMA's 32-byte
    pointer and 8-element ldm alignment), the MMA as a float32 product of the 16-bit
    values. Returns the grid."""
    bk, bt, bc, ldu, ldv = 32, 32, 16, 24, 40
    dt = CTYPE_TO_DTYPE[t["T"]]
    r16 = lambda v: np.asarray(v, np.float32).astype(dt).astype(np.float32)  # noqa: E731
    n_, c_, hv, wv, pt, pl, tp_, tq_, k_, p_, q_ = (
        int(a[k]) for k in "N C Hv Wv pt pl TP TQ K P Q".split())
    nt = n_ * tp_ * tq_
    xs = (a["sxn"], a["sxc"], a["sxh"], a["sxw"])
    ys = (a["syn"], a["syk"], a["syh"], a["sys"])
    u_all = flat(a["U"])
    assert u_all.size == 16 * k_ * c_ and u_all.dtype == dt
    tid = np.arange(256)
    lt, lc0, fc, fk0 = tid % bt, tid // bt, tid % bc, tid // bc
    ot, okl = tid % bt, tid // bt
    written = []

    def store(mem, idx, val):
        assert len(np.unique(idx)) == idx.size and np.isnan(mem[idx]).all(), "smem clash"
        mem[idx] = val

    def wmma_tile(mem, off, ldm, elem_bytes, base_bytes=0):
        assert (base_bytes + off * elem_bytes) % 32 == 0, "WMMA pointer not 32-byte aligned"
        assert ldm % (16 // elem_bytes) == 0, "WMMA ldm not a multiple of 16 bytes"
        return off + ldm * np.arange(16)[:, None] + np.arange(16)

    grid = (-(-nt // bt), -(-k_ // bk))
    for bx in range(grid[0]):
        for by in range(grid[1]):
            t0, k0 = bx * bt, by * bk
            p = t0 + lt
            tile_ok = p < nt
            tq, tp, n = (np.where(tile_ok, v, 0) for v in (p % tq_, p // tq_ % tp_,
                                                           p // (tp_ * tq_)))
            h0, w0 = 2 * tp - pt, 2 * tq - pl
            acc = np.zeros((16, bk, bt), np.float32)     # M[e] of this block
            for c0 in range(0, c_, bc):
                us = np.full(16 * bk * ldu, np.nan, np.float32)
                vs = np.full(16 * bc * ldv, np.nan, np.float32)
                for r in range(2):
                    lc = lc0 + 8 * r
                    d = np.zeros((4, 4, 256), np.float32)
                    for i in range(4):
                        for j in range(4):
                            h, w = h0 + i, w0 + j
                            ok = tile_ok & (c0 + lc < c_) & (h >= 0) & (h < hv) & (w >= 0) \
                                & (w < wv)
                            off = n * xs[0] + (c0 + lc) * xs[1] + h * xs[2] + w * xs[3]
                            d[i, j, ok] = _read(a["x"], off[ok]).astype(np.float32)
                    rows = [d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]]
                    for i, rr in enumerate(rows):
                        v = (rr[0] - rr[2], rr[1] + rr[2], rr[2] - rr[1], rr[1] - rr[3])
                        for nu in range(4):
                            store(vs, ((4 * i + nu) * bc + lc) * ldv + lt, r16(v[nu]))
                for r in range(2):
                    fk = fk0 + 16 * r
                    ok = (k0 + fk < k_) & (c0 + fc < c_)
                    for e in range(16):
                        g = np.where(ok, (e * k_ + k0 + fk) * c_ + c0 + fc, 0)
                        store(us, (e * bk + fk) * ldu + fc,
                              np.where(ok, u_all[g].astype(np.float32), 0))
                for w_ in range(8):
                    for q in range(2):
                        e = 2 * w_ + q
                        for i in range(2):
                            fa = us[wmma_tile(us, (e * bk + 16 * i) * ldu, ldu, 2)]
                            for j in range(2):
                                fb = vs[wmma_tile(vs, e * bc * ldv + 16 * j, ldv, 2,
                                                  base_bytes=2 * 16 * bk * ldu)]
                                assert not (np.isnan(fa).any() or np.isnan(fb).any())
                                acc[e, 16 * i:16 * i + 16, 16 * j:16 * j + 16] += fa @ fb
            out = np.zeros((4, 2, 2, 256), np.float32)
            ca = [(1, 0), (1, 1), (1, -1), (0, -1)]   # column xi of A^T
            for half in range(2):
                ms = np.full(8 * bk * bt, np.nan, np.float32)
                assert ms.size * 4 <= 2 * (16 * bk * ldu + 16 * bc * ldv), "Ms must fit"
                for w_ in range(4 * half, 4 * half + 4):
                    for q in range(2):
                        for i in range(2):
                            for j in range(2):
                                e = 2 * w_ + q
                                idx = wmma_tile(ms, ((e - 8 * half) * bk + 16 * i) * bt
                                                + 16 * j, bt, 4)
                                store(ms, idx.reshape(-1), acc[e, 16 * i:16 * i + 16,
                                                               16 * j:16 * j + 16].reshape(-1))
                for el in range(8):
                    e = 8 * half + el
                    for q in range(4):
                        m = ms[(el * bk + okl + 8 * q) * bt + ot]
                        assert not np.isnan(m).any()
                        for aa in range(2):
                            for b in range(2):
                                out[q, aa, b] += ca[e // 4][aa] * ca[e % 4][b] * m
            op = t0 + ot
            on, opp, oq = op // (tp_ * tq_), op // tq_ % tp_, op % tq_
            for q in range(4):
                k = k0 + okl + 8 * q
                m = (op < nt) & (k < k_)
                bias = (_read(a["bias"], np.where(m, k, 0)).astype(np.float32)
                        if a["has_bias"] else np.zeros(256, np.float32))
                for aa in range(2):
                    for b in range(2):
                        h, w = 2 * opp + aa, 2 * oq + b
                        ok = m & (h < p_) & (w < q_)
                        off = (on * ys[0] + k * ys[1] + h * ys[2] + w * ys[3])[ok]
                        _write(a["y"], off, (out[q, aa, b] + bias)[ok])
                        written.append(off)
    written = np.concatenate(written) if written else np.zeros(0, np.int64)
    assert len(np.unique(written)) == written.size, "two blocks write one element"
    return grid
