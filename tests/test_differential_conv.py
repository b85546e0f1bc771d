"""Differential tests of conv2d, conv2d_dgrad and conv2d_wgrad against float64 references.

Random problems (hypothesis): N, C, K, H, W from 1 up, odd and prime sizes, filters 1x1 to
5x5 (3x3 with stride 1 and dilation 1 half of the time, so that Winograd applies), strides
1-3, dilations 1-2, every padding form ('same', 'valid', int, pair, pair of pairs); each
operand in C order, Fortran order, a strided view, a negative-stride view or a
channels-last buffer seen as NCHW; float32, float64, float16 and bfloat16 (the dtypes
``blasfast.conv`` supports); every algorithm that applies to the shape ('auto', 'gemm',
'winograd', 'winograd_nonfused', and 'fft' for the forward with dilation 1 and symmetric
padding), with and without a precomputed ``w_winograd``. Run on NumPy (the CPU path) and
on the CUDA emulator (fewer, smaller problems). Zero-sized dimensions are refused by
design (``tests/bad_inputs_conv.py`` checks the errors).

Each example checks: the result's kind, dtype (the data's) and shape ((N, K, P, Q) for the
forward, the given shapes for the gradients), the inputs unmodified, and the normwise
error against a bound derived from the unit roundoff and the reduction length.

References (float64, independent of blasfast): the forward is an einsum over
``numpy.lib.stride_tricks.sliding_window_view`` of the zero-padded input (cross-correlation,
no filter flip, as ``blasfast.conv`` documents and cuDNN computes); the dgrad scatters
``dy (x) w`` into the padded input with ``numpy.add.at`` on the window index arrays; the
wgrad is an einsum of ``dy`` with the same windows.

Bounds, ``gamma_n = n u / (1 - n u)`` with ``u`` the unit roundoff of the accumulation
(2**-53 for float64, 2**-24 for float32 and for float16/bfloat16 data, which accumulate in
float32), ``u16`` the unit roundoff of a 16-bit result (2**-11 float16, 2**-8 bfloat16):

* GEMM algorithm (and 'auto' when it picks it): every output is a dot product of length
  ``L`` plus the bias, so ``|y - y_ref| <= gamma_{L+2} M`` elementwise with ``M`` the same
  correlation of the absolute values (Higham 3.5); in norm,
  ``||y - y_ref|| <= gamma_{L+2} ||M|| + u16 ||y_ref||`` (the last term: the one final
  rounding of a 16-bit result; the GEMM multiplies the exact 16-bit data). ``L = C R S``
  (forward), ``K R S`` (dgrad), ``N P Q`` (wgrad).
* Winograd F(2x2, 3x3): the same shape of bound with the Winograd majorant ``M_W = |A^T|
  (sum_c |G||g||G^T| (.) |B^T||d||B|) |A|`` and ``gamma_{C+11}`` (derived in
  ``tests/test_conv.py``'s module notes: 2 roundings in the input transform, 4 in the
  filter transform, the GEMM over C, 4 in the output transform, 1 for the bias), plus
  ``2 u16 ||M_W||`` for 16-bit data (the transformed GEMM operands are rounded to 16
  bits). ``M_W`` is the larger constant: 64/9 = 7.1 times ``M`` for constant data, 7-8 on
  random data, up to ~18 for 1-pixel images; it is computed exactly, not guessed. dgrad:
  ``gamma_{K+11}`` with ``M_W`` of ``dy`` and the flipped filters; wgrad: ``gamma_{T+8}``,
  ``T = N ceil(P/2) ceil(Q/2)`` tiles, with the adjoint majorant.
* FFT (forward): three transforms of size ``F = P' x Q'`` (the padded input rounded up to
  powers of two) and an FP32 (FP64) GEMM over 2C per frequency. A transform with
  ``lev`` levels of relative error ``eta`` per level has normwise error ``<= lev eta`` of
  its output; by Young's inequality each output plane's error is at most
  ``(3 lev + 2) eta sum_c ||x_nc||_2 ||w_kc||_1`` plus the GEMM's ``gamma_{2C+2}`` of the
  same quantity. ``lev <= log2(F)`` covers the radix-4 and real-to-complex levels of
  ``tests/test_fft.py`` (``ceil(log2 n / 2) + 2`` per axis); ``eta = 2**-20`` for the
  'split16' default of single-precision data (``tests/test_fft.py``), ``u64`` for float64.
"""

import collections

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import blasfast as bf
from blasfast.conv._geom import make_geom
from conftest import is_emulator, to_numpy
from differential import examples, fresh, gamma
from test_conv import winograd_major, winograd_wgrad_major

bfloat16 = bf._dtypes.bfloat16
DTYPES = [np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16), bfloat16]
U64, U32 = 2.0**-53, 2.0**-24
ACC_U = {np.dtype(np.float64): U64}          # everything else accumulates in float32
U16 = {np.dtype(np.float16): 2.0**-11, bfloat16: 2.0**-8}
ETA_SPLIT16 = 2.0**-20
LAYOUTS = ["C", "F", "strided", "negative", "channels_last"]

#: examples run per (test, array module), printed at the end of each test (pytest -s).
COUNTS = collections.Counter()


# -- float64 references --------------------------------------------------------------------


def _pad(x, pads):
    pt, pb, pl, pr = pads
    return np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))


def _windows(xpad, r, s, stride, dil):
    """(N, C, P, Q, R, S) view: xpad[n, c, p*sh + r*dh, q*sw + s*dw]."""
    win = sliding_window_view(xpad, ((r - 1) * dil[0] + 1, (s - 1) * dil[1] + 1), axis=(2, 3))
    return win[:, :, ::stride[0], ::stride[1], ::dil[0], ::dil[1]]


def ref_forward(x, w, g, bias=None):
    y = np.einsum("ncpqrs,kcrs->nkpq", _windows(_pad(x, g.pads), g.R, g.S, g.stride,
                                                 g.dilation), w, optimize=True)
    return y if bias is None else y + bias[:, None, None]


def ref_dgrad(dy, w, g):
    """The adjoint of ref_forward in x: scatter-add each output's taps (numpy.add.at)."""
    (pt, pb, pl, pr), (sh, sw), (dh, dw) = g.pads, g.stride, g.dilation
    rows = (np.arange(g.P)[:, None] * sh + np.arange(g.R)[None, :] * dh)   # (P, R)
    cols = (np.arange(g.Q)[:, None] * sw + np.arange(g.S)[None, :] * dw)   # (Q, S)
    hh = rows[:, None, :, None]                                            # (P, 1, R, 1)
    ww = cols[None, :, None, :]                                            # (1, Q, 1, S)
    dxp = np.zeros((g.N, g.C, g.H + pt + pb, g.W + pl + pr))
    np.add.at(dxp, (slice(None), slice(None), hh, ww),
              np.einsum("nkpq,kcrs->ncpqrs", dy, w, optimize=True))
    return dxp[:, :, pt:pt + g.H, pl:pl + g.W]


def ref_wgrad(x, dy, g):
    return np.einsum("ncpqrs,nkpq->kcrs", _windows(_pad(x, g.pads), g.R, g.S, g.stride,
                                                    g.dilation), dy, optimize=True)


def test_references_are_adjoint_and_match_a_loop(rng):
    """The references themselves: forward against an explicit loop, and
    <forward(x), dy> = <x, dgrad(dy)> = <w, wgrad(x, dy)>."""
    g = make_geom("t", (2, 3, 7, 6), (2, 3, 3, 2), (2, 1), ((1, 0), (2, 1)), (1, 2))
    x, w, dy = (rng.standard_normal(s) for s in (g.x_shape, g.w_shape, g.y_shape))
    xp_ = _pad(x, g.pads)
    loop = np.zeros(g.y_shape)
    for n, k, p, q, c, r, s in np.ndindex(g.N, g.K, g.P, g.Q, g.C, g.R, g.S):
        loop[n, k, p, q] += xp_[n, c, p * 2 + r, q + 2 * s] * w[k, c, r, s]
    y = ref_forward(x, w, g)
    np.testing.assert_allclose(y, loop, rtol=1e-13, atol=1e-13)
    inner = np.sum(y * dy)
    assert abs(np.sum(ref_dgrad(dy, w, g) * x) - inner) <= 1e-12 * abs(inner) + 1e-12
    assert abs(np.sum(ref_wgrad(x, dy, g) * w) - inner) <= 1e-12 * abs(inner) + 1e-12


# -- random problems -----------------------------------------------------------------------


@st.composite
def problems(draw, small, dtype):
    """A valid convolution problem: (geom, padding argument, dtype, layouts, flags, seed)."""
    hmax, cmax = (9, 5) if small else (16, 11)
    if draw(st.booleans()):                     # Winograd's case
        r = s = 3
        stride, dil = (1, 1), (1, 1)
    else:
        r, s = draw(st.integers(1, 3 if small else 5)), draw(st.integers(1, 3 if small else 5))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pad_int = st.integers(0, 3)
    padding = draw(st.one_of(
        st.sampled_from(["same", "valid"]), pad_int, st.tuples(pad_int, pad_int),
        st.tuples(st.tuples(pad_int, pad_int), st.tuples(pad_int, pad_int))))
    if isinstance(padding, str):
        need_h = 1 if padding == "same" else dil[0] * (r - 1) + 1
        need_w = 1 if padding == "same" else dil[1] * (s - 1) + 1
    else:
        if isinstance(padding, int):
            tot = (2 * padding, 2 * padding)
        elif isinstance(padding[0], int):
            tot = (2 * padding[0], 2 * padding[1])
        else:
            tot = (sum(padding[0]), sum(padding[1]))
        need_h = max(1, dil[0] * (r - 1) + 1 - tot[0])
        need_w = max(1, dil[1] * (s - 1) + 1 - tot[1])
    h = draw(st.integers(need_h, max(need_h, hmax)))
    w = draw(st.integers(need_w, max(need_w, hmax)))
    n = draw(st.integers(1, 2 if small else 3))
    c, k = draw(st.integers(1, cmax)), draw(st.integers(1, cmax))
    g = make_geom("t", (n, c, h, w), (k, c, r, s), stride, padding, dil)
    layouts = {name: draw(st.sampled_from(LAYOUTS)) for name in ("x", "w", "dy")}
    layouts["bias"] = draw(st.sampled_from(["C", "strided", "negative"]))
    bias = draw(st.booleans())
    pre_u = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return g, padding, dtype, layouts, bias, pre_u, seed


def _place(xp, a, layout, rng):
    """``a`` (host, the right dtype) as an array of module ``xp`` with the given memory
    layout; the values are exactly ``a``'s."""
    if layout == "C" or a.ndim == 1 and layout in ("F", "channels_last"):
        return xp.asarray(fresh(a))
    if layout == "F":
        return xp.asfortranarray(xp.asarray(fresh(a)))
    if layout == "strided":   # every other element of a larger buffer, along every axis
        big = rng.standard_normal(tuple(2 * d + 1 for d in a.shape)).astype(a.dtype)
        big[tuple(slice(1, None, 2) for _ in a.shape)] = a
        return xp.asarray(big)[tuple(slice(1, None, 2) for _ in a.shape)]
    if layout == "negative":  # reversed along the last two axes (the only one if 1-D)
        axes = tuple(range(max(0, a.ndim - 2), a.ndim))
        rev = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(a.ndim))
        return xp.asarray(fresh(a[rev]))[rev]
    # channels_last: an (N, H, W, C) buffer seen as NCHW (a KRSC one for filters)
    return xp.asarray(fresh(a.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)


def _data(rng, shape, dtype):
    """Fresh standard-normal data, exactly representable in ``dtype``, nonzero."""
    return rng.standard_normal(shape).astype(dtype)


def _algorithms(g, forward):
    algs = ["auto", "gemm"]
    if g.winograd_ok:
        algs += ["winograd", "winograd_nonfused"]
    if forward and g.dilation == (1, 1) and g.pads[0::2] == g.pads[1::2]:
        algs.append("fft")
    return algs


def _f64(a):
    return to_numpy(a).astype(np.float64)


def _check_norm(result, ref, bound, what):
    r = _f64(result)
    assert np.all(np.isfinite(r)), f"{what}: non-finite entries"
    err = np.linalg.norm(r - ref)
    assert err <= bound, (f"{what}: error {err:.3e} > bound {bound:.3e} (reference norm "
                          f"{np.linalg.norm(ref):.3e})")


def _check_result(y, like, dtype, shape):
    assert type(y) is type(like), f"result is a {type(y).__name__}, not a {type(like)}"
    assert y.dtype == dtype, f"dtype {y.dtype}, expected {dtype}"
    assert tuple(y.shape) == tuple(shape), f"shape {y.shape}, expected {shape}"


def _unchanged(pairs):
    for name, (arr, copy) in pairs.items():
        np.testing.assert_array_equal(to_numpy(arr), copy, err_msg=f"{name} was modified")


def _fft_bound(x, w, g, dtype):
    """Normwise bound of the FFT algorithm (module notes): per output plane (n, k),
    (3 lev + 2) eta sum_c ||x_nc||_2 ||w_kc||_1, lev = log2(P'Q'), plus the GEMM's share."""
    hp, wp = g.H + g.pads[0] + g.pads[1], g.W + g.pads[2] + g.pads[3]
    f = (1 << (hp - 1).bit_length()) * (1 << (wp - 1).bit_length())
    lev = max(np.log2(f), 1.0)
    eta = U64 if dtype == np.float64 else ETA_SPLIT16
    u = ACC_U.get(dtype, U32)
    plane = np.einsum("nc,kc->nk", np.sqrt((x**2).sum(axis=(2, 3))),
                      np.abs(w).sum(axis=(2, 3)))
    return ((3 * lev + 2) * eta + gamma(2 * g.C + 2, u)) * np.linalg.norm(plane)


# -- the tests -----------------------------------------------------------------------------


def _run_forward(xp, case):
    g, padding, dtype, layouts, with_bias, pre_u, seed = case
    rng = np.random.default_rng(seed)
    hx, hw = _data(rng, g.x_shape, dtype), _data(rng, g.w_shape, dtype)
    hb = _data(rng, (g.K,), dtype) if with_bias else None
    x, w = _place(xp, hx, layouts["x"], rng), _place(xp, hw, layouts["w"], rng)
    b = None if hb is None else _place(xp, hb, layouts["bias"], rng)
    x64, w64 = hx.astype(np.float64), hw.astype(np.float64)
    b64 = None if hb is None else hb.astype(np.float64)
    ref = ref_forward(x64, w64, g, b64)
    major = ref_forward(np.abs(x64), np.abs(w64), g, None if b64 is None else np.abs(b64))
    u, u16 = ACC_U.get(dtype, U32), U16.get(dtype, 0.0)
    args = dict(stride=g.stride, padding=padding, dilation=g.dilation)
    gpu = xp is not np
    for algorithm in _algorithms(g, forward=True):
        kw = dict(args, algorithm=algorithm)
        ran = bf.conv2d_algorithm(g.x_shape, g.w_shape, gpu=gpu, **kw)
        if ran in ("winograd", "winograd_nonfused") and pre_u:
            kw["w_winograd"] = bf.winograd_filter_transform(w)
        y = bf.conv2d(x, w, b, **kw)
        _check_result(y, x, dtype, g.y_shape)
        what = f"conv2d {algorithm} ({ran}) {dtype.name} {g}"
        if ran == "gemm":
            bound = gamma(g.C * g.R * g.S + 2, u) * np.linalg.norm(major)
        elif ran == "fft":
            bound = _fft_bound(x64, w64, g, dtype) + gamma(2, u) * np.linalg.norm(major)
        else:
            wmaj = np.linalg.norm(winograd_major(x64, w64, g.pads, b64))
            bound = (gamma(g.C + 11, u) + 2 * u16) * wmaj
        _check_norm(y, ref, bound + u16 * np.linalg.norm(ref), what)
        COUNTS["conv2d", ran, xp.__name__] += 1
    _unchanged({"x": (x, hx), "w": (w, hw)} | ({} if b is None else {"bias": (b, hb)}))


def _run_backward(xp, case):
    g, padding, dtype, layouts, _, pre_u, seed = case
    rng = np.random.default_rng(seed)
    hx, hw, hdy = (_data(rng, s, dtype) for s in (g.x_shape, g.w_shape, g.y_shape))
    x, w, dy = (_place(xp, a, layouts[n], rng) for a, n in ((hx, "x"), (hw, "w"), (hdy, "dy")))
    x64, w64, dy64 = hx.astype(np.float64), hw.astype(np.float64), hdy.astype(np.float64)
    ref_dx, ref_dw = ref_dgrad(dy64, w64, g), ref_wgrad(x64, dy64, g)
    u, u16 = ACC_U.get(dtype, U32), U16.get(dtype, 0.0)
    args = dict(stride=g.stride, padding=padding, dilation=g.dilation)
    gpu = xp is not np
    for algorithm in _algorithms(g, forward=False):
        ran = bf.conv2d_algorithm(g.x_shape, g.w_shape, gpu=gpu, algorithm=algorithm, **args)
        extra = {}
        if ran in ("winograd", "winograd_nonfused") and pre_u:
            extra["w_winograd"] = bf.winograd_filter_transform(w)
        dx = bf.conv2d_dgrad(dy, w, g.x_shape, algorithm=algorithm, **args, **extra)
        dw = bf.conv2d_wgrad(x, dy, g.w_shape, algorithm=algorithm, **args)
        _check_result(dx, dy, dtype, g.x_shape)
        _check_result(dw, x, dtype, g.w_shape)
        what = f"{algorithm} ({ran}) {dtype.name} {g}"
        if ran == "gemm":
            bx = gamma(g.K * g.R * g.S + 2, u) * np.linalg.norm(
                ref_dgrad(np.abs(dy64), np.abs(w64), g))
            bw = gamma(g.N * g.P * g.Q + 2, u) * np.linalg.norm(
                ref_wgrad(np.abs(x64), np.abs(dy64), g))
        else:
            wflip = w64[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
            mx = np.linalg.norm(winograd_major(dy64, wflip, tuple(2 - p for p in g.pads)))
            mw = np.linalg.norm(winograd_wgrad_major(x64, dy64, g.pads))
            tiles = g.N * -(-g.P // 2) * -(-g.Q // 2)
            bx = (gamma(g.K + 11, u) + 2 * u16) * mx
            bw = (gamma(tiles + 8, u) + 2 * u16) * mw
        _check_norm(dx, ref_dx, bx + u16 * np.linalg.norm(ref_dx), "conv2d_dgrad " + what)
        _check_norm(dw, ref_dw, bw + u16 * np.linalg.norm(ref_dw), "conv2d_wgrad " + what)
        COUNTS["conv2d_dgrad", ran, xp.__name__] += 1
        COUNTS["conv2d_wgrad", ran, xp.__name__] += 1
    _unchanged({"x": (x, hx), "w": (w, hw), "dy": (dy, hdy)})


def _report(op):
    rows = sorted((k, v) for k, v in COUNTS.items() if k[0] == op)
    print("\n" + "; ".join(f"{o}[{alg}, {mod}]: {v}" for (o, alg, mod), v in rows))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_conv2d_matches_float64(xp, dtype):
    small = is_emulator(xp)

    @settings(max_examples=examples(xp))
    @given(problems(small, dtype))
    def run(case):
        _run_forward(xp, case)

    run()
    _report("conv2d")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_conv2d_dgrad_and_wgrad_match_float64(xp, dtype):
    small = is_emulator(xp)

    @settings(max_examples=examples(xp))
    @given(problems(small, dtype))
    def run(case):
        _run_backward(xp, case)

    run()
    _report("conv2d_dgrad")
    _report("conv2d_wgrad")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.name)
def test_every_algorithm_and_layout_once(xp, rng, dtype):
    """A fixed sweep, so that every (algorithm, layout, dtype) is run whatever hypothesis
    draws: 3x3, stride 1, symmetric padding (every algorithm applies), prime sizes; then
    C = 37 and K = 35 channels, more than one tile of the GPU kernels' channel blocking."""
    g = make_geom("t", (2, 5, 7, 5), (3, 5, 3, 3), 1, 1, 1)
    for layout in LAYOUTS:
        case = (g, 1, np.dtype(dtype), {"x": layout, "w": layout, "dy": layout,
                                        "bias": "negative" if layout == "negative" else "C"},
                True, layout == "F", int(rng.integers(2**32)))
        _run_forward(xp, case)
        _run_backward(xp, case)
    g = make_geom("t", (1, 37, 9, 6), (35, 37, 3, 3), 1, 1, 1)
    for layout in ("C", "channels_last"):
        case = (g, 1, np.dtype(dtype), {"x": layout, "w": layout, "dy": layout,
                                        "bias": "strided"}, True, False,
                int(rng.integers(2**32)))
        _run_forward(xp, case)
        _run_backward(xp, case)
