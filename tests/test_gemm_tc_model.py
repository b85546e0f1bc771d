"""CPU model of kernels/gemm_tc.cu + gemm_tc.cuh, mirroring the index math line by line.

The tensor-core kernel cannot run without a GPU; this model checks the launcher's tiles and
the kernel's staging/epilogue index arithmetic (ported line by line from the .cuh) on the
CPU. It verifies the index reasoning, not the hardware: a GPU run of tests/test_gemm.py with
CuPy arrays is what verifies the kernel.

WMMA is modelled by its documented semantics only: a row-major fragment at element pointer p
with leading dimension ldm holds X[r][c] = smem[p + r*ldm + c]. Checks, besides the result:
 - alignment: every fragment pointer and ldm*sizeof are multiples of 32 bytes;
 - the staging map writes each shared element of the BM x BK / BK x BN tile exactly once per
   k-step and nothing outside it; fragments read only elements written in this k-step;
 - the epilogue writes each D element of the M x N matrix exactly once, never reads C when
   beta == 0 (C is NaN there), and reads only E elements stored this fragment row.
"""

import itertools

import numpy as np

from blasfast import _dtypes
from blasfast.gemm import _tc

F16, BF16, F32 = _dtypes.float16, _dtypes.bfloat16, _dtypes.float32


def stage(x, tin):
    if tin == F32:
        return _dtypes.round_to_tf32(np.array([x], np.float32))[0]
    return x  # 16-bit: stored as is


class Buf:
    """A flat global buffer with a base offset: element (i, j) at off + i*s0 + j*s1."""

    def __init__(self, data, off):
        self.data, self.off = data, off


def tile_tc(tin, tout, BM, BN, BK, WM, WN, m0, n0, M, N, K, alpha, beta,
            A, sam, sak, B, sbk, sbn, C, scm, scn, D, sdm, sdn, writes):
    ts = 4 if tin == F32 else 2
    WK = 8 if tin == F32 else 16
    WARPS_M, WARPS_N = BM // WM, BN // WN
    NT = 32 * WARPS_M * WARPS_N
    FM, FN = WM // 16, WN // 16
    PAD = 32 // ts
    LDA, LDB, LDE = BK + PAD, BN + PAD, WN + 8
    EA, EB = BM * BK // NT, BK * BN // NT
    assert NT % BM == 0 and NT % BK == 0 and NT % BN == 0
    assert (LDA * ts) % 32 == 0 and (LDB * ts) % 32 == 0 and (LDE * 4) % 32 == 0
    assert (BM * LDA * ts) % 32 == 0 and (WK * ts) % 32 == 0

    As = np.full(BM * LDA, np.nan)
    Bs = np.full(BK * LDB, np.nan)
    acc = {}
    warps = []
    for warp in range(WARPS_M * WARPS_N):
        wy, wx = warp // WARPS_N, warp % WARPS_N
        active = (m0 + wy * WM < M) and (n0 + wx * WN < N)
        warps.append((warp, wy, wx, active))
        acc[warp] = np.zeros((FM, FN, 16, 16), np.float32)

    # per-thread staging constants (as in the kernel)
    def a_map(tid):
        a_k_fast = sak == 1
        am0 = tid // BK if a_k_fast else tid % BM
        ak0 = tid % BK if a_k_fast else tid // BM
        adm = NT // BK if a_k_fast else 0
        adk = 0 if a_k_fast else NT // BM
        a_inc = adm * sam + adk * sak
        as0, as_inc = am0 * LDA + ak0, adm * LDA + adk
        pa = A.off + (m0 + am0) * sam + ak0 * sak
        return am0, ak0, adm, adk, a_inc, as0, as_inc, pa

    def b_map(tid):
        b_n_fast = sbn == 1
        bk0 = tid // BN if b_n_fast else tid % BK
        bn0 = tid % BN if b_n_fast else tid // BK
        bdk = NT // BN if b_n_fast else 0
        bdn = 0 if b_n_fast else NT // BK
        b_inc = bdk * sbk + bdn * sbn
        bs0, bs_inc = bk0 * LDB + bn0, bdk * LDB + bdn
        pb = B.off + bk0 * sbk + (n0 + bn0) * sbn
        return bk0, bn0, bdk, bdn, b_inc, bs0, bs_inc, pb

    amaps = [list(a_map(t)) for t in range(NT)]
    bmaps = [list(b_map(t)) for t in range(NT)]
    for k0 in range(0, K, BK):
        As[:] = np.nan
        Bs[:] = np.nan
        seen_a, seen_b = set(), set()
        for tid in range(NT):
            am0, ak0, adm, adk, a_inc, as0, as_inc, pa = amaps[tid]
            for i in range(EA):
                ok = (m0 + am0 + i * adm < M) and (k0 + ak0 + i * adk < K)
                v = A.data[pa + i * a_inc] if ok else 0.0
                if ok:
                    assert pa + i * a_inc == A.off + (m0 + am0 + i * adm) * sam + (k0 + ak0 + i * adk) * sak
                idx = as0 + i * as_inc
                r, c = divmod(idx, LDA)
                assert 0 <= r < BM and 0 <= c < BK and idx not in seen_a
                assert (r, c) == (am0 + i * adm, ak0 + i * adk)
                seen_a.add(idx)
                As[idx] = stage(v, tin)
            amaps[tid][7] = pa + BK * sak
            bk0, bn0, bdk, bdn, b_inc, bs0, bs_inc, pb = bmaps[tid]
            for i in range(EB):
                ok = (k0 + bk0 + i * bdk < K) and (n0 + bn0 + i * bdn < N)
                v = B.data[pb + i * b_inc] if ok else 0.0
                if ok:
                    assert pb + i * b_inc == B.off + (k0 + bk0 + i * bdk) * sbk + (n0 + bn0 + i * bdn) * sbn
                idx = bs0 + i * bs_inc
                r, c = divmod(idx, LDB)
                assert 0 <= r < BK and 0 <= c < BN and idx not in seen_b
                seen_b.add(idx)
                Bs[idx] = stage(v, tin)
            bmaps[tid][7] = pb + BK * sbk
        assert len(seen_a) == BM * BK and len(seen_b) == BK * BN
        # S1
        for warp, wy, wx, active in warps:
            if not active:
                continue
            for kk in range(0, BK, WK):
                fa, fb = [], []
                for i in range(FM):
                    p = (wy * WM + i * 16) * LDA + kk
                    assert (p * ts) % 32 == 0
                    fa.append(np.array([[As[p + r * LDA + c] for c in range(WK)] for r in range(16)]))
                for j in range(FN):
                    p = kk * LDB + wx * WN + j * 16
                    assert (p * ts) % 32 == 0
                    fb.append(np.array([[Bs[p + r * LDB + c] for c in range(16)] for r in range(WK)]))
                for f in fa + fb:
                    assert not np.isnan(f).any() or np.isnan(A.data).any() or np.isnan(B.data).any(), \
                        "fragment read an unwritten shared element"
                for i in range(FM):
                    for j in range(FN):
                        acc[warp][i, j] = np.float32(acc[warp][i, j] + fa[i].astype(np.float64) @ fb[j].astype(np.float64))
        # S2
    # epilogue
    for warp, wy, wx, active in warps:
        if not active:
            continue
        d_along_m = (sdn != 1 and sdm == 1)
        for i in range(FM):
            E = np.full(16 * LDE, np.nan, np.float32)
            for j in range(FN):
                p = j * 16
                assert ((warp * 16 * LDE + p) * 4) % 32 == 0
                for r in range(16):
                    for c in range(16):
                        E[p + r * LDE + c] = acc[warp][i, j, r, c]
            row0, col0 = m0 + wy * WM + i * 16, n0 + wx * WN
            for lane in range(32):
                for e in range(lane, 16 * WN, 32):
                    if d_along_m:
                        r, q = e % 16, e // 16
                    else:
                        r, q = e // WN, e % WN
                    gm, gn = row0 + r, col0 + q
                    if gm < M and gn < N:
                        ev = E[r * LDE + q]
                        assert not np.isnan(ev)
                        v = np.float32(np.float32(alpha) * ev)
                        if beta != 0.0:
                            cv = np.float32(C.data[C.off + gm * scm + gn * scn])
                            v = np.float32(np.float64(beta) * cv + v)  # fmaf
                        di = D.off + gm * sdm + gn * sdn
                        D.data[di] = np.asarray(v).astype(tout)
                        writes[di] = writes.get(di, 0) + 1


def driver(tile, tin, tout, M, N, K, batch, nb_inner, alpha, beta,
           A, sam, sak, sa_o, sa_i, B, sbk, sbn, sb_o, sb_i,
           C, scm, scn, sc_o, sc_i, D, sdm, sdn, sd_o, sd_i, grid_z):
    writes = {}
    gx, gy = -(-M // tile.bm), -(-N // tile.bn)
    for bx, by, bz in itertools.product(range(gx), range(gy), range(grid_z)):
        z = bz
        while z < batch:
            zo, zi = z // nb_inner, z - (z // nb_inner) * nb_inner
            sub = lambda X, so, si: Buf(X.data, X.off + zo * so + zi * si)  # noqa: E731
            tile_tc(tin, tout, tile.bm, tile.bn, tile.bk, tile.wm, tile.wn,
                    bx * tile.bm, by * tile.bn, M, N, K, alpha, beta,
                    sub(A, sa_o, sa_i), sam, sak, sub(B, sb_o, sb_i), sbk, sbn,
                    sub(C, sc_o, sc_i), scm, scn, sub(D, sd_o, sd_i), sdm, sdn, writes)
            z += grid_z
    return writes


def strided(rng, shape, dtype, order, neg):
    """An array view of ``shape`` (bo, bi, R, Cc) with the given matrix order, a gap, and
    optionally negative matrix strides; returns (flat buffer, offset, strides)."""
    bo, bi, R, Cc = shape
    gap = 3
    if order == "row":
        s_r, s_c = Cc + gap, 1
    elif order == "col":
        s_r, s_c = 1, R + gap
    else:  # neither stride is 1
        s_r, s_c = 2 * (Cc + 1), 2
    mat = (R - 1) * abs(s_r) + (Cc - 1) * abs(s_c) + 1 + gap
    s_i = mat
    s_o = mat * bi + 5
    size = s_o * bo + 10
    data = rng.standard_normal(size).astype(dtype)
    off = 2
    if neg:  # walk rows backwards: start at the last row
        off += (R - 1) * abs(s_r)
        s_r = -abs(s_r)
    return data, off, s_r, s_c, s_o, s_i


def run_case(rng, tin, tout, compute, M, N, K, bo, bi, a_order, b_order, d_order,
             alpha, beta, grid_z, neg=False, broadcast_b=False):
    tile = _tc.tc_tile(tin, tout, compute, M, N)
    nd = np.float32 if tin == F32 else tin
    a, aoff, sam, sak, sa_o, sa_i = strided(rng, (bo, bi, M, K), nd, a_order, neg)
    b, boff, sbk, sbn, sb_o, sb_i = strided(rng, (bo, bi, K, N), nd, b_order, False)
    if broadcast_b:
        sb_o = sb_i = 0
    c, coff, scm, scn, sc_o, sc_i = strided(rng, (bo, bi, M, N), tout, "row", False)
    d = np.full(c.size + 50, np.nan, dtype=tout)
    dd, doff, sdm, sdn, sd_o, sd_i = strided(rng, (bo, bi, M, N), tout, d_order, False)
    d = np.full(dd.size, np.nan, dtype=tout)
    if beta == 0.0:
        c[:] = np.nan  # must never be read
    writes = driver(tile, tin, tout, M, N, K, bo * bi, bi, alpha, beta,
                    Buf(a, aoff), sam, sak, sa_o, sa_i, Buf(b, boff), sbk, sbn, sb_o, sb_i,
                    Buf(c, coff), scm, scn, sc_o, sc_i, Buf(d, doff), sdm, sdn, sd_o, sd_i, grid_z)
    # reference
    worst = 0.0
    for zo in range(bo):
        for zi in range(bi):
            def mat(buf, off, s0, s1, so, si, R, Cc):
                idx = off + zo * so + zi * si + np.arange(R)[:, None] * s0 + np.arange(Cc)[None, :] * s1
                return buf[idx], idx
            Am, _ = mat(a, aoff, sam, sak, sa_o, sa_i, M, K)
            Bm, _ = mat(b, boff, sbk, sbn, sb_o, sb_i, K, N)
            Cm, _ = mat(c, coff, scm, scn, sc_o, sc_i, M, N)
            Dm, didx = mat(d, doff, sdm, sdn, sd_o, sd_i, M, N)
            Af, Bf = Am.astype(np.float64), Bm.astype(np.float64)
            if tin == F32:
                Af = _dtypes.round_to_tf32(Am).astype(np.float64)
                Bf = _dtypes.round_to_tf32(Bm).astype(np.float64)
            ref = alpha * Af @ Bf
            if beta != 0.0:
                ref = ref + beta * Cm.astype(np.float64)
            got = Dm.astype(np.float64)
            assert not np.isnan(got).any(), "unwritten D element"
            for i in didx.ravel():
                assert writes.get(int(i)) == 1, "D element written %s times" % writes.get(int(i))
            den = np.linalg.norm(ref) or 1.0
            err = np.linalg.norm(got - ref) / den
            worst = max(worst, err)
    n_written = sum(writes.values())
    assert n_written == bo * bi * M * N, (n_written, bo * bi * M * N)
    # tolerance: fp32 accumulation ~ K * 2^-24, plus output rounding
    u_out = {F32: 2.0**-24, F16: 2.0**-11, BF16: 2.0**-8}[np.dtype(tout)]
    tol = 4 * (K + 2) * 2.0**-24 + 2 * u_out
    assert worst <= tol, (worst, tol)
    return tile, worst


def _cases(rng):
    cases = []
    pairs = [(F16, np.float32, "float32"), (F16, F16, "float32"), (BF16, np.float32, "float32"),
             (BF16, BF16, "float32"), (F32, np.float32, "tf32")]
    shapes = [(1, 1, 1), (5, 7, 3), (16, 16, 16), (17, 31, 33), (32, 32, 0), (33, 20, 40),
              (70, 45, 37), (130, 20, 21)]
    orders = [("row", "row", "row"), ("col", "col", "col"), ("row", "col", "col"),
              ("none", "none", "none"), ("col", "row", "row")]
    for (tin, tout, comp), (M, N, K) in itertools.product(pairs, shapes):
        ao, bo_, do = orders[rng.integers(len(orders))]
        beta = [0.0, 0.5][rng.integers(2)]
        neg = bool(rng.integers(2))
        cases.append((tin, np.dtype(tout), comp, M, N, K, 2, 2, ao, bo_, do, 1.5, beta, 3, neg,
                      bool(rng.integers(2))))
    # every order on one mid shape
    for ao, bo_, do in orders:
        cases.append((F16, np.dtype(np.float32), "float32", 40, 36, 50, 1, 3, ao, bo_, do, -1.0,
                      0.25, 2, True, False))
        cases.append((F32, np.dtype(np.float32), "tf32", 40, 36, 50, 1, 3, ao, bo_, do, -1.0,
                      0.0, 2, False, True))
    return cases


def test_tc_kernel_model_matches_numpy_on_every_tile_and_layout(rng):
    """Every type pair x tile class, row/col/neither-unit/negative strides, broadcast B,
    K = 0, ragged sizes, batch > gridDim.z; D poisoned with NaN, C NaN when beta == 0."""
    for cs in _cases(rng):
        run_case(rng, *cs)
