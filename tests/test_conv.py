"""conv2d / conv2d_dgrad / conv2d_wgrad / winograd_filter_transform: numerics against a
float64 direct convolution, gradients, and every error.

References here are independent of blasfast: ``direct`` is the textbook sum over filter taps
(one einsum per tap), and ``winograd_majorant`` evaluates Lavin & Gray's formula with
explicit matrices.

Error bounds (Higham-style, ``gamma_n = n u / (1 - n u)``, ``u`` the unit roundoff of the
accumulation: 2**-24 for float32 and for float16/bfloat16 data, 2**-53 for float64):

* GEMM algorithm: each output is a dot product of length ``CRS`` plus the bias, so
  ``|y - y_ref| <= gamma_{CRS+2} (|w| * |x| + |b|)`` elementwise (``*`` the convolution of
  absolute values); we check the Frobenius norm of the error against the norm of that
  majorant.
* Winograd F(2x2, 3x3): V = B^T d B costs 2 roundings per entry (two additions stages,
  each one addition deep), U = G g G^T 4 (each stage adds three terms), the GEMM over C
  ``gamma_C``, the output transform 4, the bias 1, so
  ``|y - y_ref| <= gamma_{C+11} (|A^T| (sum_c |U_c|' (.) |V_c|') |A| + |b|)`` with
  ``|U|' = |G||g||G^T|``, ``|V|' = |B^T||d||B|``. The ratio of this majorant to the GEMM
  one is the price of the transforms: exactly 64/9 = 7.1 for constant positive data,
  7-8 measured on standard-normal data, more for a 1x1 image (padding makes the majorant
  count taps that the direct sum skips: 18 seen when the centre tap is small), so only
  ``>= 1`` is asserted below. It grows quickly
  with the tile: F(4x4, 3x3) has transform constants up to 8, hence its reputation.
* float16/bfloat16 data: the GEMM operands of Winograd (U and V) are rounded to 16 bits,
  adding ``2 u16`` times the Winograd majorant (the GEMM algorithm multiplies the exact
  16-bit data, nothing to add), and the result is rounded once: ``+ u16 |y|``.
* Backward passes: the same with the roles exchanged: dgrad sums ``K R S`` (GEMM) or
  ``K`` (Winograd on the flipped filters) terms, wgrad ``N P Q`` (GEMM) or the number of
  tiles + 8 (Winograd adjoint: dM 2 roundings, V 2, G^T dU G 4).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import blasfast as bf
from blasfast import conv
from blasfast.conv import _algorithm
from blasfast.conv._geom import make_geom
from conftest import to_numpy

bfloat16 = bf._dtypes.bfloat16
U32, U64 = 2.0**-24, 2.0**-53
U16 = {np.dtype(np.float16): 2.0**-11, bfloat16: 2.0**-8}
ACC_U = {np.dtype(np.float32): U32, np.dtype(np.float64): U64, np.dtype(np.float16): U32,
         bfloat16: U32}

conv2d, conv2d_dgrad, conv2d_wgrad = conv.conv2d, conv.conv2d_dgrad, conv.conv2d_wgrad

# -- independent float64 references -------------------------------------------------------


def pad4(x, pads):
    """Zero-pad by positive and crop by negative (top, bottom, left, right)."""
    pt, pb, pl, pr = pads
    h, w = x.shape[2:]
    x = x[:, :, max(-pt, 0):h - max(-pb, 0), max(-pl, 0):w - max(-pr, 0)]
    return np.pad(x, ((0, 0), (0, 0), (max(pt, 0), max(pb, 0)), (max(pl, 0), max(pr, 0))))


def direct(x, w, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1)):
    """y[n,k,p,q] = sum_{c,r,s} xpad[n, c, p*sh + r*dh, q*sw + s*dw] w[k,c,r,s], float64."""
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    xp = pad4(x, pads)
    k, _, r_, s_ = w.shape
    p = (xp.shape[2] - dil[0] * (r_ - 1) - 1) // stride[0] + 1
    q = (xp.shape[3] - dil[1] * (s_ - 1) - 1) // stride[1] + 1
    y = np.zeros((x.shape[0], k, p, q))
    for r in range(r_):
        for s in range(s_):
            win = xp[:, :, r * dil[0]:r * dil[0] + stride[0] * (p - 1) + 1:stride[0],
                     s * dil[1]:s * dil[1] + stride[1] * (q - 1) + 1:stride[1]]
            y += np.einsum("nchw,kc->nkhw", win, w[:, :, r, s])
    return y


def direct_dgrad(dy, w, x_shape, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1)):
    """The adjoint of ``direct`` with respect to x, float64 (scatter of each tap)."""
    dy, w = np.asarray(dy, np.float64), np.asarray(w, np.float64)
    n, c, h, wd = x_shape
    pt, pb, pl, pr = pads
    dxp = np.zeros((n, c, h + pt + pb, wd + pl + pr))
    p, q = dy.shape[2:]
    for r in range(w.shape[2]):
        for s in range(w.shape[3]):
            dxp[:, :, r * dil[0]:r * dil[0] + stride[0] * (p - 1) + 1:stride[0],
                s * dil[1]:s * dil[1] + stride[1] * (q - 1) + 1:stride[1]] += \
                np.einsum("nkhw,kc->nchw", dy, w[:, :, r, s])
    return dxp[:, :, pt:pt + h, pl:pl + wd]


def direct_wgrad(x, dy, w_shape, stride=(1, 1), pads=(0, 0, 0, 0), dil=(1, 1)):
    """The adjoint of ``direct`` with respect to w, float64."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    xp = pad4(x, pads)
    p, q = dy.shape[2:]
    dw = np.zeros(w_shape)
    for r in range(w_shape[2]):
        for s in range(w_shape[3]):
            win = xp[:, :, r * dil[0]:r * dil[0] + stride[0] * (p - 1) + 1:stride[0],
                     s * dil[1]:s * dil[1] + stride[1] * (q - 1) + 1:stride[1]]
            dw[:, :, r, s] = np.einsum("nkhw,nchw->kc", dy, win)
    return dw


BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], np.float64)
G = np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]])
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], np.float64)


def _tiles(x, pads, p, q):
    """4x4 input tiles (N, C, TP, TQ, 4, 4) of the padded input, zero beyond it."""
    tp, tq = -(-p // 2), -(-q // 2)
    xp = pad4(x, pads)
    big = np.zeros(xp.shape[:2] + (2 * tp + 2, 2 * tq + 2))
    hh, ww = min(xp.shape[2], big.shape[2]), min(xp.shape[3], big.shape[3])
    big[:, :, :hh, :ww] = xp[:, :, :hh, :ww]
    d = np.lib.stride_tricks.sliding_window_view(big, (4, 4), axis=(2, 3))
    return d[:, :, ::2, ::2]


def winograd_major(x, w, pads, bias=None):
    """|A^T| (sum_c (|G||g||G^T|) (.) (|B^T||d||B|)) |A| (+|b|), cropped to (P, Q)."""
    x, w = np.abs(np.asarray(x, np.float64)), np.abs(np.asarray(w, np.float64))
    n, _, h, wd = x.shape
    p, q = h + pads[0] + pads[1] - 2, wd + pads[2] + pads[3] - 2
    u = np.einsum("ai,kcij,bj->abkc", abs(G), w, abs(G))
    v = np.einsum("ai,nctsij,bj->abncts", abs(BT), _tiles(x, pads, p, q), abs(BT))
    m = np.einsum("abkc,abncts->abnkts", u, v)
    y = np.einsum("ia,abnkts,jb->nktisj", abs(AT), m, abs(AT))
    y = y.reshape(n, w.shape[0], 2 * y.shape[2], 2 * y.shape[4])[:, :, :p, :q]
    return y if bias is None else y + np.abs(np.asarray(bias, np.float64))[:, None, None]


def winograd_wgrad_major(x, dy, pads):
    """|G^T| (sum over tiles (|A||e||A^T|) (.) (|B^T||d||B|)) |G|: the wgrad majorant."""
    x, dy = np.abs(np.asarray(x, np.float64)), np.abs(np.asarray(dy, np.float64))
    p, q = dy.shape[2:]
    tp, tq = -(-p // 2), -(-q // 2)
    e = np.zeros(dy.shape[:2] + (2 * tp, 2 * tq))
    e[:, :, :p, :q] = dy
    e = e.reshape(dy.shape[:2] + (tp, 2, tq, 2)).transpose(0, 1, 2, 4, 3, 5)
    dm = np.einsum("ai,nktsij,bj->abnkts", abs(AT.T), e, abs(AT.T))
    v = np.einsum("ai,nctsij,bj->abncts", abs(BT), _tiles(x, pads, p, q), abs(BT))
    du = np.einsum("abnkts,abncts->abkc", dm, v)
    return np.einsum("ai,abkc,bj->kcij", abs(G), du, abs(G))


def gamma(n, u):
    return n * u / (1 - n * u)


def rand(rng, shape, dtype, xp=np):
    return xp.asarray(rng.standard_normal(shape).astype(dtype))


def f64(a):
    return to_numpy(a).astype(np.float64)


def check(result, ref, major, g, u16=0.0, winograd_major_norm=None):
    """Norm-wise: ||result - ref|| <= g ||major|| (+ 2 u16 ||winograd major||) + u16 ||ref||."""
    r = f64(result)
    assert r.shape == ref.shape
    assert np.all(np.isfinite(r))
    err = np.linalg.norm(r - ref)
    bound = g * np.linalg.norm(major) + u16 * np.linalg.norm(ref)
    if winograd_major_norm is not None:
        bound += 2 * u16 * winograd_major_norm
    assert err <= bound, f"error {err:.3e} > bound {bound:.3e} (ref norm " \
                         f"{np.linalg.norm(ref):.3e})"
    return err / np.linalg.norm(ref)


# -- forward -----------------------------------------------------------------------------

DTYPES = [np.float32, np.float64, np.float16, bfloat16]

# (N, C, K, H, W, padding): odd sizes, H or W < 4, 1x1, every padding form.
SHAPES_3X3 = [
    (2, 3, 4, 7, 5, 1),
    (1, 1, 1, 1, 1, 1),
    (3, 2, 5, 2, 3, "same"),
    (2, 5, 3, 3, 4, "valid"),
    (1, 8, 6, 9, 11, (0, 2)),
    (2, 4, 4, 6, 6, ((2, 0), (1, 3))),
    (4, 17, 9, 10, 13, "same"),
    (1, 3, 2, 5, 5, 4),            # padding > 2: the Winograd dgrad crops dy
    (2, 40, 33, 8, 7, 1),
]


def _ids(s):
    return "x".join(map(str, s[:5])) + f"-p{s[5]}"


@pytest.mark.parametrize("algorithm", ["winograd", "winograd_nonfused", "gemm"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES_3X3, ids=_ids)
def test_forward_3x3_within_bound(xp, rng, shape, dtype, algorithm):
    n, c, k, h, w, padding = shape
    x, wt, b = rand(rng, (n, c, h, w), dtype, xp), rand(rng, (k, c, 3, 3), dtype, xp), \
        rand(rng, (k,), dtype, xp)
    y = conv2d(x, wt, b, padding=padding, algorithm=algorithm)
    assert type(y) is type(x) and y.dtype == dtype
    pads = make_geom("t", x.shape, wt.shape, 1, padding, 1).pads
    ref = direct(f64(x), f64(wt), pads=pads) + f64(b)[:, None, None]
    gemm_major = direct(np.abs(f64(x)), np.abs(f64(wt)), pads=pads) + np.abs(f64(b))[:, None,
                                                                                      None]
    u, u16 = ACC_U[np.dtype(dtype)], U16.get(np.dtype(dtype), 0.0)
    if algorithm == "gemm":   # 'winograd' is the fused kernel for float32 on the GPU
        check(y, ref, gemm_major, gamma(c * 9 + 2, u), u16)
    else:
        major = winograd_major(f64(x), f64(wt), pads, f64(b))
        growth = np.linalg.norm(major) / np.linalg.norm(gemm_major)
        assert growth >= 1.0, growth   # the Winograd majorant dominates; see the module doc
        check(y, ref, major, gamma(c + 11, u), u16, np.linalg.norm(major))


# filter shapes, strides, dilations the GEMM algorithm covers (and Winograd refuses)
GEMM_CASES = [  # (N, C, K, H, W, R, S, stride, padding, dilation)
    (2, 3, 4, 11, 9, 5, 5, 2, 2, 1),
    (3, 4, 5, 6, 7, 1, 1, 1, 0, 1),       # pointwise: no im2col
    (2, 3, 2, 6, 7, 1, 1, 2, 1, 1),
    (1, 2, 3, 10, 12, 2, 3, (2, 1), (1, 0), 2),
    (2, 3, 3, 7, 7, 3, 3, 3, "same", 1),
    (1, 2, 2, 9, 8, 3, 3, 2, "valid", (1, 2)),
    (2, 1, 3, 4, 4, 4, 4, 1, "same", 1),  # even filter: 'same' pads 1 top, 2 bottom
    (1, 2, 2, 5, 5, 7, 7, 1, 3, 1),       # filter larger than the input
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GEMM_CASES, ids=lambda c: "-".join(map(str, c)))
def test_forward_gemm_any_filter_stride_dilation(xp, rng, case, dtype):
    n, c, k, h, w, r, s, stride, padding, dil = case
    x, wt = rand(rng, (n, c, h, w), dtype, xp), rand(rng, (k, c, r, s), dtype, xp)
    y = conv2d(x, wt, stride=stride, padding=padding, dilation=dil)   # 'auto' -> gemm
    g = make_geom("t", x.shape, wt.shape, stride, padding, dil)
    assert y.shape == g.y_shape and y.dtype == dtype
    ref = direct(f64(x), f64(wt), g.stride, g.pads, g.dilation)
    major = direct(np.abs(f64(x)), np.abs(f64(wt)), g.stride, g.pads, g.dilation)
    check(y, ref, major, gamma(c * r * s + 2, ACC_U[np.dtype(dtype)]),
          U16.get(np.dtype(dtype), 0.0))
    if (r, s) != (3, 3) or g.stride != (1, 1) or g.dilation != (1, 1):
        with pytest.raises(ValueError, match="algorithm='winograd'"):
            conv2d(x, wt, stride=stride, padding=padding, dilation=dil, algorithm="winograd")


def test_same_padding_keeps_the_size_and_matches_frameworks():
    for h, r, stride, expect in [(7, 3, 1, (1, 1)), (8, 4, 1, (1, 2)), (7, 3, 2, (1, 1)),
                                 (8, 3, 2, (0, 1)), (5, 1, 1, (0, 0))]:
        g = make_geom("t", (1, 1, h, h), (1, 1, r, r), stride, "same", 1)
        assert g.P == -(-h // stride) and g.pads[:2] == expect


def test_non_contiguous_inputs_are_read_in_place(xp, rng):
    base = rand(rng, (6, 5, 12, 10), np.float32, xp)
    x = base[::2, 1:4, ::-1, 1::2]          # strided, reversed rows
    wt = rand(rng, (4, 5, 3, 3), np.float32, xp)[:, ::2].transpose(0, 1, 3, 2)
    ref = direct(f64(x), f64(wt), pads=(1, 1, 1, 1))
    for algorithm in ("winograd", "winograd_nonfused", "gemm"):
        y = conv2d(x, wt, padding=1, algorithm=algorithm)
        assert np.linalg.norm(f64(y) - ref) <= 1e-5 * np.linalg.norm(ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.float64])
def test_strided_and_reversed_bias(xp, rng, dtype):
    """Regression: the GPU Winograd output kernels (fused and unfused) read ``bias`` from a
    bare pointer, so a strided view gave wrong values and a reversed one read memory before
    the array (relative errors 0.5 to 1e25 on the emulator)."""
    x, wt = rand(rng, (2, 3, 5, 6), dtype, xp), rand(rng, (4, 3, 3, 3), dtype, xp)
    big = rand(rng, (9,), dtype, xp)
    for b in (big[1::2], big[8:0:-2]):
        ref = direct(f64(x), f64(wt), pads=(1, 1, 1, 1)) + f64(b)[:, None, None]
        for algorithm in ("winograd", "winograd_nonfused", "gemm"):
            y = conv2d(x, wt, b, padding=1, algorithm=algorithm)
            tol = 1e-3 if dtype == np.float16 else 1e-5
            assert np.linalg.norm(f64(y) - ref) <= tol * np.linalg.norm(ref), algorithm


@pytest.mark.parametrize("gpu", [False, True])
def test_auto_rule(gpu):
    m = conv.AUTO_MIN_CHANNELS["gpu" if gpu else "cpu"]

    def choose(c, k, r=3, stride=1, **kw):
        return conv.conv2d_algorithm((1, c, 8, 8), (k, c, r, r), stride=stride, padding=1,
                                     gpu=gpu, **kw)

    assert choose(m, m) == "winograd"
    assert choose(m - 1, 4 * m) == "gemm"
    assert choose(m, m, r=5) == "gemm"
    assert choose(m, m, stride=2) == "gemm"
    assert choose(1, 1, algorithm="winograd") == "winograd"
    assert _algorithm.choose("t", "auto", make_geom("t", (1, 1, 8, 8), (1, 1, 3, 3), 1, 1, 1),
                             have_u=True) == "winograd"
    assert str(m) in conv.conv2d.__doc__


def test_results_agree_across_algorithms_and_with_a_transformed_filter(xp, rng):
    x, wt = rand(rng, (3, 6, 9, 8), np.float64, xp), rand(rng, (5, 6, 3, 3), np.float64, xp)
    b = rand(rng, (5,), np.float64, xp)
    u = bf.conv.winograd_filter_transform(wt)
    assert u.shape == (4, 4, 5, 6) and u.dtype == np.float64
    ys = [conv2d(x, wt, b, padding="same", algorithm=a) for a in ("winograd", "gemm")]
    ys.append(conv2d(x, wt, b, padding="same", w_winograd=u))
    ref = direct(f64(x), f64(wt), pads=(1, 1, 1, 1)) + f64(b)[:, None, None]
    for y in ys:
        assert np.linalg.norm(f64(y) - ref) <= 1e-14 * np.linalg.norm(ref)


def test_filter_transform_values(xp, rng):
    wt = rand(rng, (3, 2, 3, 3), np.float64, xp)
    u = f64(bf.conv.winograd_filter_transform(wt))
    np.testing.assert_allclose(u, np.einsum("ai,kcij,bj->abkc", G, f64(wt), G), rtol=1e-15,
                               atol=1e-15)
    h = rand(rng, (3, 2, 3, 3), np.float16, xp)
    uh = bf.conv.winograd_filter_transform(h)
    assert uh.dtype == np.float16    # rounded once from the float32 transform
    exact = np.einsum("ai,kcij,bj->abkc", G, f64(h), G)
    np.testing.assert_array_equal(to_numpy(uh), exact.astype(np.float32).astype(np.float16))


def test_nan_and_inf_propagate(xp, rng):
    x, wt = rand(rng, (1, 2, 6, 6), np.float32, xp), rand(rng, (2, 2, 3, 3), np.float32, xp)
    x[0, 1, 2, 3] = np.nan
    for algorithm in ("winograd", "gemm"):
        y = to_numpy(conv2d(x, wt, padding=1, algorithm=algorithm))
        assert np.isnan(y[:, :, 1:4, 2:5]).all()          # every output that reads it
        assert np.isfinite(y[:, :, 5:, :]).all() and np.isfinite(y[:, :, :, :1]).all()


# -- gradients ---------------------------------------------------------------------------


GRAD_CASES = [  # (N, C, K, H, W, R, stride, padding, dilation)
    (2, 3, 4, 7, 5, 3, 1, 1, 1),
    (1, 2, 3, 2, 3, 3, 1, "same", 1),
    (2, 5, 2, 6, 9, 3, 1, ((3, 0), (0, 4)), 1),
    (2, 3, 2, 7, 9, 3, 1, ((0, 3), (4, 1)), 1),
    (3, 4, 6, 5, 5, 3, 1, "valid", 1),
    (2, 3, 2, 9, 8, 3, 2, 1, 1),
    (1, 2, 3, 11, 10, 5, (2, 3), 2, 1),
    (2, 2, 2, 9, 9, 3, 1, 2, 2),
    (2, 3, 4, 5, 6, 1, 1, 0, 1),
    (1, 2, 2, 5, 4, 1, 2, 1, 1),
]


def _grad_algorithms(case):
    return ["winograd", "winograd_nonfused", "gemm"] if case[5] == 3 and case[6] == 1 and case[8] == 1 else ["gemm"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: "-".join(map(str, c)))
def test_dgrad_and_wgrad_within_bound(xp, rng, case, dtype):
    n, c, k, h, w, r, stride, padding, dil = case
    x, wt = rand(rng, (n, c, h, w), dtype, xp), rand(rng, (k, c, r, r), dtype, xp)
    g = make_geom("t", x.shape, wt.shape, stride, padding, dil)
    dy = rand(rng, g.y_shape, dtype, xp)
    args = dict(stride=stride, padding=padding, dilation=dil)
    ref_dx = direct_dgrad(f64(dy), f64(wt), g.x_shape, g.stride, g.pads, g.dilation)
    ref_dw = direct_wgrad(f64(x), f64(dy), g.w_shape, g.stride, g.pads, g.dilation)
    u, u16 = ACC_U[np.dtype(dtype)], U16.get(np.dtype(dtype), 0.0)
    for algorithm in _grad_algorithms(case):
        dx = conv2d_dgrad(dy, wt, x.shape, algorithm=algorithm, **args)
        dw = conv2d_wgrad(x, dy, wt.shape, algorithm=algorithm, **args)
        assert dx.dtype == dtype and dw.dtype == dtype and type(dx) is type(x)
        if algorithm == "gemm":
            check(dx, ref_dx, direct_dgrad(np.abs(f64(dy)), np.abs(f64(wt)), g.x_shape,
                                           g.stride, g.pads, g.dilation),
                  gamma(k * r * r + 2, u), u16)
            check(dw, ref_dw, direct_wgrad(np.abs(f64(x)), np.abs(f64(dy)), g.w_shape,
                                           g.stride, g.pads, g.dilation),
                  gamma(n * g.P * g.Q + 2, u), u16)
        else:
            wflip = f64(wt)[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            dpads = tuple(2 - p for p in g.pads)
            major = winograd_major(f64(dy), wflip, dpads)
            check(dx, ref_dx, major, gamma(k + 11, u), u16, np.linalg.norm(major))
            wmajor = winograd_wgrad_major(f64(x), f64(dy), g.pads)
            nt = n * -(-g.P // 2) * -(-g.Q // 2)
            check(dw, ref_dw, wmajor, gamma(nt + 8, u), u16, np.linalg.norm(wmajor))


def _numeric_grad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        fp = f()
        a[i] = old - eps
        fm = f()
        a[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


@pytest.mark.parametrize("algorithm,stride,padding", [
    ("winograd", 1, 1), ("gemm", 1, "same"), ("gemm", 2, (1, 0)), ("winograd", 1, 3)])
def test_gradients_match_finite_differences(rng, algorithm, stride, padding):
    """L = sum(r * conv2d(x, w) + b): central differences in float64 (exact for a linear
    map up to rounding, ~1e-10 relative) against dgrad, wgrad and the bias gradient."""
    x, wt, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((3, 2, 3, 3)), \
        rng.standard_normal(3)
    y0 = conv2d(x, wt, b, stride=stride, padding=padding, algorithm=algorithm)
    r = rng.standard_normal(y0.shape)

    def loss():
        return float(np.sum(r * conv2d(x, wt, b, stride=stride, padding=padding,
                                       algorithm=algorithm)))

    dx = conv2d_dgrad(r, wt, x.shape, stride=stride, padding=padding, algorithm=algorithm)
    dw = conv2d_wgrad(x, r, wt.shape, stride=stride, padding=padding, algorithm=algorithm)
    for analytic, param in ((dx, x), (dw, wt), (r.sum(axis=(0, 2, 3)), b)):
        num = _numeric_grad(loss, param)
        assert np.linalg.norm(analytic - num) <= 1e-8 * np.linalg.norm(num)


@st.composite
def conv_case(draw):
    r, s = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.one_of(st.sampled_from(["same", "valid"]),
                             st.tuples(st.integers(0, 3), st.integers(0, 3)),
                             st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                                       st.tuples(st.integers(0, 3), st.integers(0, 3)))))
    n, c, k = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h = draw(st.integers(max(1, dil[0] * (r - 1) - 5), 12))
    w = draw(st.integers(max(1, dil[1] * (s - 1) - 5), 12))
    try:
        g = make_geom("t", (n, c, h, w), (k, c, r, s), stride, padding, dil)
    except ValueError:  # empty output
        return None
    return g, padding, draw(st.integers(0, 2**32 - 1))


@given(conv_case())
def test_fuzz_every_algorithm_is_adjoint_and_matches_direct(case):
    """Random shapes, strides, dilations, paddings, float64: forward vs direct, and
    <conv(x, w), dy> = <x, dgrad(dy, w)> = <w, wgrad(x, dy)>."""
    if case is None:
        return
    g, padding, seed = case
    rng = np.random.default_rng(seed)
    x, wt, dy = (rng.standard_normal(s) for s in (g.x_shape, g.w_shape, g.y_shape))
    args = dict(stride=g.stride, padding=padding, dilation=g.dilation)
    ref = direct(x, wt, g.stride, g.pads, g.dilation)
    scale = np.linalg.norm(direct(np.abs(x), np.abs(wt), g.stride, g.pads, g.dilation))
    for algorithm in (["winograd", "gemm"] if g.winograd_ok else ["gemm"]):
        y = conv2d(x, wt, algorithm=algorithm, **args)
        assert np.linalg.norm(y - ref) <= 1e-13 * scale
        dx = conv2d_dgrad(dy, wt, x.shape, algorithm=algorithm, **args)
        dw = conv2d_wgrad(x, dy, wt.shape, algorithm=algorithm, **args)
        inner = np.sum(ref * dy)
        tol = 1e-12 * scale * np.linalg.norm(dy)
        assert abs(np.sum(dx * x) - inner) <= tol
        assert abs(np.sum(dw * wt) - inner) <= tol


def test_dgrad_reuses_the_forward_filter_transform(xp, rng):
    x, wt = rand(rng, (2, 3, 6, 5), np.float64, xp), rand(rng, (4, 3, 3, 3), np.float64, xp)
    dy = rand(rng, (2, 4, 6, 5), np.float64, xp)
    u = bf.conv.winograd_filter_transform(wt)
    a = conv2d_dgrad(dy, wt, x.shape, padding=1, w_winograd=u)
    b = conv2d_dgrad(dy, wt, x.shape, padding=1, algorithm="gemm")
    assert np.linalg.norm(f64(a) - f64(b)) <= 1e-14 * np.linalg.norm(f64(b))


def test_inputs_are_not_modified(rng):
    x, wt, b = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), \
        rng.standard_normal(4)
    dy = rng.standard_normal((2, 4, 6, 6))
    copies = [a.copy() for a in (x, wt, b, dy)]
    for algorithm in ("winograd", "gemm"):
        conv2d(x, wt, b, padding=1, algorithm=algorithm)
        conv2d_dgrad(dy, wt, x.shape, padding=1, algorithm=algorithm)
        conv2d_wgrad(x, dy, wt.shape, padding=1, algorithm=algorithm)
    for a, c in zip((x, wt, b, dy), copies):
        np.testing.assert_array_equal(a, c)


# -- errors ------------------------------------------------------------------------------


def _xw(c=3, k=4, r=3, dtype=np.float32):
    return np.ones((2, c, 8, 8), dtype), np.ones((k, c, r, r), dtype)


@pytest.mark.parametrize("call,exc,pattern", [
    (lambda: conv2d(np.ones((3, 8, 8), np.float32), _xw()[1]), ValueError,
     r"conv2d: x must be a 4-D NCHW array \(N, C, H, W\), got shape \(3, 8, 8\)"),
    (lambda: conv2d(_xw()[0], np.ones((4, 3, 3), np.float32)), ValueError,
     r"w must be a 4-D KCRS array"),
    (lambda: conv2d(_xw(c=3)[0], _xw(c=5)[1]), ValueError,
     r"x has C = 3 channels \(axis 1 of NCHW \(2, 3, 8, 8\)\) but w expects 5"),
    (lambda: conv2d(np.ones((2, 8, 8, 3), np.float32), _xw(c=3)[1]), ValueError,
     r"x looks channels-last \(NHWC\)"),
    (lambda: conv2d(np.ones((0, 3, 8, 8), np.float32), _xw()[1]), ValueError,
     r"x has an empty batch \(N = 0"),
    (lambda: conv2d(np.ones((2, 0, 8, 8), np.float32), np.ones((4, 0, 3, 3), np.float32)),
     ValueError, r"C = 0: every dimension"),
    (lambda: conv2d(*_xw(r=5), algorithm="winograd"), ValueError,
     r"algorithm='winograd' computes F\(2x2, 3x3\) and needs 3x3 filters, got 5x5"),
    (lambda: conv2d(*_xw(), stride=2, algorithm="winograd"), ValueError,
     r"algorithm='winograd' needs stride 1, got stride \(2, 2\)"),
    (lambda: conv2d(*_xw(), dilation=(1, 2), algorithm="winograd"), ValueError,
     r"algorithm='winograd' needs dilation 1, got dilation \(1, 2\)"),
    (lambda: conv2d(*_xw(), algorithm="direct"), ValueError,
     r"algorithm must be one of 'auto', 'winograd', 'winograd_nonfused', 'gemm', 'fft', "
     r"got 'direct'"),
    (lambda: conv2d(*_xw(), stride=2, algorithm="winograd_nonfused"), ValueError,
     r"algorithm='winograd_nonfused' needs stride 1"),
    (lambda: conv2d_dgrad(np.ones((2, 4, 6, 6), np.float32), _xw()[1], (2, 3, 8, 8),
                          algorithm="fft"), NotImplementedError,
     r"conv2d_dgrad: conv2d_dgrad has no FFT algorithm; use 'auto', 'winograd' or 'gemm'"),
    (lambda: conv2d_wgrad(_xw()[0], np.ones((2, 4, 6, 6), np.float32), (4, 3, 3, 3),
                          algorithm="fft"), NotImplementedError, r"has no FFT algorithm"),
    (lambda: conv2d(*_xw(), padding=((1, 0), (1, 1)), algorithm="fft"), ValueError,
     r"algorithm='fft' needs dilation 1 and the same padding on both sides"),
    (lambda: conv2d(*_xw(), stride=0), ValueError, r"stride must be an integer >= 1, got 0"),
    (lambda: conv2d(*_xw(), dilation=(1, 0)), ValueError,
     r"dilation\[1\] must be an integer >= 1, got 0"),
    (lambda: conv2d(*_xw(), stride=1.5), TypeError,
     r"stride must be an integer or a pair of integers, got float 1.5"),
    (lambda: conv2d(*_xw(), padding=-1), ValueError, r"padding must be an integer >= 0, got -1"),
    (lambda: conv2d(*_xw(), padding="full"), ValueError,
     r"padding must be an integer, a pair, a pair of pairs, 'same' or 'valid', got 'full'"),
    (lambda: conv2d(*_xw(), padding=(1, 2, 3)), ValueError,
     r"padding must be an integer or a pair of integers, got 3 entries: \(1, 2, 3\)"),
    (lambda: conv2d(np.ones((1, 3, 2, 2), np.float32), _xw()[1]), ValueError,
     r"the output would be empty"),
    (lambda: conv2d(*_xw(dtype=np.int32)), TypeError,
     r"conv2d: x must have dtype float32, float16, bfloat16, float64; got int32"),
    (lambda: conv2d(_xw()[0], _xw(dtype=np.float64)[1]), TypeError,
     r"x and w must have the same dtype, got float32 and float64"),
    (lambda: conv2d(*_xw(), np.ones(4, np.float64)), TypeError,
     r"x and bias must have the same dtype"),
    (lambda: conv2d(*_xw(), np.ones(5, np.float32)), ValueError,
     r"bias must have shape \(K,\) = \(4,\), one value per filter, got \(5,\)"),
    (lambda: conv2d(*_xw(), w_winograd=np.ones((4, 4, 3, 4), np.float32)), ValueError,
     r"w_winograd must be the \(4, 4, K, C\) = \(4, 4, 4, 3\) output"),
    (lambda: conv2d(*_xw(), w_winograd=np.ones((4, 4, 4, 3), np.float64)), TypeError,
     r"w_winograd must have the dtype of w \(float32\), got float64"),
    (lambda: conv2d(*_xw(), algorithm="gemm", w_winograd=np.ones((4, 4, 4, 3), np.float32)),
     ValueError, r"w_winograd is only used by algorithm='winograd'"),
    (lambda: conv2d(*_xw(r=5), w_winograd=np.ones((4, 4, 4, 3), np.float32)), ValueError,
     r"needs 3x3 filters, got 5x5"),
    (lambda: conv2d_dgrad(np.ones((2, 4, 7, 8), np.float32), _xw()[1], (2, 3, 8, 8),
                          padding=1), ValueError,
     r"conv2d_dgrad: dy must have the forward's output shape \(N, K, P, Q\) = \(2, 4, 8, 8\)"),
    (lambda: conv2d_dgrad(np.ones((2, 4, 8, 8), np.float32), _xw()[1], (2, 3, 8)),
     ValueError,
     r"conv2d_dgrad: x_shape must be a 4-D NCHW shape \(N, C, H, W\), got 3 entries"),
    (lambda: conv2d_dgrad(np.ones((2, 4, 3, 3), np.float32), _xw()[1], (2, 3, 8, 8),
                          stride=2, algorithm="winograd"), ValueError,
     r"conv2d_dgrad: algorithm='winograd' needs stride 1"),
    (lambda: conv2d_wgrad(_xw()[0], np.ones((2, 4, 6, 6), np.float32), (4, 3, 5, 5),
                          algorithm="winograd"), ValueError,
     r"conv2d_wgrad: dy must have the forward's output shape .* = \(2, 4, 4, 4\)"),
    (lambda: conv2d_wgrad(_xw()[0], np.ones((2, 4, 6, 6), np.float16), (4, 3, 3, 3)),
     TypeError, r"conv2d_wgrad: x and dy must have the same dtype"),
    (lambda: conv2d_wgrad(_xw()[0], np.ones((2, 4, 6, 6), np.float32), (4, 2, 3, 3)),
     ValueError, r"but w_shape expects 2"),
    (lambda: bf.conv.winograd_filter_transform(np.ones((4, 3, 5, 5), np.float32)),
     ValueError,
     r"winograd_filter_transform: w must hold 3x3 filters \(F\(2x2, 3x3\)\), got 5x5"),
    (lambda: bf.conv.winograd_filter_transform(np.ones((4, 3, 3), np.float32)), ValueError,
     r"winograd_filter_transform: w must be a 4-D KCRS array"),
    (lambda: bf.conv.winograd_filter_transform(np.ones((4, 3, 3, 3), np.int64)), TypeError,
     r"winograd_filter_transform: w must have dtype"),
])
def test_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_fft_algorithm_is_delegated_to_blasfast_fft(monkeypatch, rng):
    x, wt = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 5, 5))
    b = rng.standard_normal(4)
    if _algorithm.fft_conv2d() is not None:
        y = conv2d(x, wt, b, padding=2, stride=(1, 2), algorithm="fft")
        ref = direct(x, wt, (1, 2), (2, 2, 2, 2)) + b[:, None, None]
        assert y.dtype == np.float64
        assert np.linalg.norm(y - ref) <= 1e-10 * np.linalg.norm(ref)
    monkeypatch.setattr(_algorithm, "fft_conv2d", lambda: None)
    with pytest.raises(NotImplementedError, match=r"conv2d: algorithm='fft' is not available"):
        conv2d(x, wt, algorithm="fft")
    assert conv.conv2d_algorithm(x.shape, wt.shape) == "gemm"   # 'auto' never picks fft


def test_host_and_device_arrays_are_not_mixed(dev):
    x, wt = _xw()
    with pytest.raises(TypeError, match="conv2d: all arrays must live on the same side"):
        conv2d(dev.asarray(x), wt)
