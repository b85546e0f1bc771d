"""The convolution GPU launchers, run with no GPU against a NumPy emulation of the kernels.

The launchers in ``blasfast.conv._winograd``, ``blasfast.conv._winograd_fused`` and
``blasfast.conv._im2col`` build argument lists for the kernels of ``kernels/winograd.cu``,
``winograd_fused.cu``, ``winograd_fused_tc.cu`` and ``conv_gemm.cu`` and compose them with
``batched_gemm``. Here every kernel is replaced by an emulator that

1. reads the kernel's parameter list from the ``.cu`` source and checks each argument the
   launcher passes against it -- count, order, ``int`` -> ``numpy.int32``, ``long long`` ->
   ``numpy.int64``, pointers -> arrays of the dtype the template instantiation names;
2. checks the launch shape (256 threads, ``min(ceil(total / 256), MAX_BLOCKS)`` blocks for
   the kernel's own loop bound, or the 2-D tile grid of the fused kernels);
3. runs the kernel's index arithmetic over every thread (vectorized NumPy, reading and
   writing through the element strides it was given).

The full GPU path then runs on NumPy arrays (outputs poisoned with NaN, so an unwritten
element fails) and must match the float64 direct convolution. This verifies everything the
launchers feed the kernels and the layouts the three stages agree on; it does not verify the
CUDA code itself, which only the compile check (``test_kernels.py``) and a GPU run see.
"""

import re

import numpy as np
import pytest

import blasfast as bf
from blasfast import _dtypes, conv
from blasfast.conv import _im2col, _winograd, _winograd_fused
from blasfast.conv._geom import make_geom
from blasfast.kernels import _compile
from kernel_emu import CTYPE_TO_DTYPE, _read, _write, flat
from test_conv import U16, direct, direct_dgrad, direct_wgrad
import winograd_fused_emu

_SIG = re.compile(r"template\s*<([^>]*)>\s*__global__\s+void\s+(?:__launch_bounds__\(\d+\)\s*)?"
                  r"(\w+)\s*\(([^)]*)\)", re.S)


def kernel_signatures(source):
    """{kernel name: (template parameter names, [(C type, parameter name), ...])}."""
    text = (_compile.KERNEL_DIR / source).read_text()
    sigs = {}
    for tmpl, name, params in _SIG.findall(text):
        tnames = [t.split()[-1] for t in tmpl.split(",")]
        plist = []
        for p in params.split(","):
            words = p.replace("__restrict__", "").replace("const", "").split()
            ctype, pname = " ".join(words[:-1]), words[-1]
            plist.append((ctype, pname))
        sigs[name] = (tnames, plist)
    return sigs


SIGS = {**kernel_signatures("winograd.cu"), **kernel_signatures("winograd_fused.cu"),
        **kernel_signatures("winograd_fused_tc.cu"), **kernel_signatures("conv_gemm.cu")}


def _parse_expr(expr):
    name, targs = expr.split("<", 1)
    return name, [t.strip() for t in targs.rstrip(">").split(",")]


def _bind(expr, args):
    """Check the arguments against the kernel's signature; return {parameter name: value}."""
    name, targs = _parse_expr(expr)
    tnames, params = SIGS[name]
    tmap = dict(zip(tnames, targs))
    assert len(args) == len(params), f"{expr}: {len(args)} arguments for {len(params)} params"
    bound = {}
    for (ctype, pname), a in zip(params, args):
        if ctype.endswith("*"):
            want = CTYPE_TO_DTYPE[tmap.get(ctype[:-1], ctype[:-1])]
            assert isinstance(a, np.ndarray), f"{expr}: {pname} must be an array"
            assert a.dtype == want, f"{expr}: {pname} is {a.dtype}, the kernel reads {want}"
        elif ctype == "int":
            assert type(a) is np.int32, f"{expr}: {pname} must be numpy.int32, got {type(a)}"
        elif ctype == "long long":
            assert type(a) is np.int64, f"{expr}: {pname} must be numpy.int64, got {type(a)}"
        else:  # pragma: no cover
            raise AssertionError(f"unexpected parameter type {ctype}")
        bound[pname] = a
    return name, tmap, bound


def _acc(ctype):
    return np.float64 if ctype == "double" else np.float32


def _tile_index(idx, nt, tp, tq):
    outer, p = np.divmod(idx, nt)
    tqi = p % tq
    t = p // tq
    return outer, p, t // tp, t % tp, tqi


# -- one emulation per kernel: the same index arithmetic as the .cu source --------------


def emu_winograd_input_transform(t, a):
    acc = _acc(t["Tx"])
    n_, c_, tp_, tq_ = (int(a[k]) for k in ("N", "C", "TP", "TQ"))
    nt = n_ * tp_ * tq_
    idx = np.arange(c_ * nt)
    c, _, n, tp, tq = _tile_index(idx, nt, tp_, tq_)
    x = a["x"]
    xs = (a["sxn"], a["sxc"], a["sxh"], a["sxw"])
    d = np.zeros((4, 4, idx.size), acc)
    for i in range(4):
        for j in range(4):
            h, w = 2 * tp - a["pt"] + i, 2 * tq - a["pl"] + j
            ok = (h >= 0) & (h < a["Hv"]) & (w >= 0) & (w < a["Wv"])
            off = n * xs[0] + c * xs[1] + h * xs[2] + w * xs[3]
            d[i, j, ok] = _read(x, off[ok]).astype(acc)
    r = np.stack([d[0] - d[2], d[1] + d[2], d[2] - d[1], d[1] - d[3]])
    v = np.stack([r[:, 0] - r[:, 2], r[:, 1] + r[:, 2], r[:, 2] - r[:, 1], r[:, 1] - r[:, 3]],
                 axis=1)
    out = flat(a["V"])
    for i in range(4):
        for j in range(4):
            out[(4 * i + j) * idx.size + idx] = v[i, j]
    return idx.size


def emu_winograd_filter_transform(t, a):
    acc = _acc(t["Tw"])
    k_, c_ = int(a["K"]), int(a["C"])
    idx = np.arange(k_ * c_)
    k, c = np.divmod(idx, c_)
    g = np.empty((3, 3, idx.size), acc)
    for r in range(3):
        for s in range(3):
            g[r, s] = _read(a["w"], k * a["swk"] + c * a["swc"] + r * a["swr"] + s * a["sws"])
    half = acc(0.5)
    rows = [g[0], half * (g[0] + g[1] + g[2]), half * (g[0] - g[1] + g[2]), g[2]]
    out = flat(a["U"])
    for i, tr in enumerate(rows):
        cols = [tr[0], half * (tr[0] + tr[1] + tr[2]), half * (tr[0] - tr[1] + tr[2]), tr[2]]
        for j in range(4):
            out[(4 * i + j) * idx.size + idx] = cols[j]
    return idx.size


def emu_winograd_output_transform(t, a):
    n_, k_, tp_, tq_, p_, q_ = (int(a[k]) for k in ("N", "K", "TP", "TQ", "P", "Q"))
    nt = n_ * tp_ * tq_
    idx = np.arange(k_ * nt)
    k, _, n, tp, tq = _tile_index(idx, nt, tp_, tq_)
    m = flat(a["M"]).reshape(4, 4, -1)[:, :, idx]
    s = [m[0] + m[1] + m[2], m[1] - m[2] - m[3]]
    b = flat(a["bias"])[k].astype(m.dtype) if a["has_bias"] else np.zeros(idx.size, m.dtype)
    y = a["y"]
    ys = (a["syn"], a["syk"], a["syh"], a["sys"])
    for i in range(2):
        for j, v in enumerate((s[i][0] + s[i][1] + s[i][2] + b, s[i][1] - s[i][2] - s[i][3] + b)):
            h, w = 2 * tp + i, 2 * tq + j
            ok = (h < p_) & (w < q_)
            _write(y, (n * ys[0] + k * ys[1] + h * ys[2] + w * ys[3])[ok], v[ok])
    return idx.size


def emu_winograd_grad_output_transform(t, a):
    acc = _acc(t["Ty"])
    n_, k_, tp_, tq_, p_, q_ = (int(a[k]) for k in ("N", "K", "TP", "TQ", "P", "Q"))
    nt = n_ * tp_ * tq_
    idx = np.arange(k_ * nt)
    k, _, n, tp, tq = _tile_index(idx, nt, tp_, tq_)
    ys = (a["syn"], a["syk"], a["syh"], a["sys"])
    e = np.zeros((2, 2, idx.size), acc)
    for i in range(2):
        for j in range(2):
            h, w = 2 * tp + i, 2 * tq + j
            ok = (h < p_) & (w < q_)
            e[i, j, ok] = _read(a["dy"], (n * ys[0] + k * ys[1] + h * ys[2] + w * ys[3])[ok])
    r = [e[0], e[0] + e[1], e[0] - e[1], -e[1]]
    out = flat(a["dM"])
    for i in range(4):
        for j, v in enumerate((r[i][0], r[i][0] + r[i][1], r[i][0] - r[i][1], -r[i][1])):
            out[(4 * i + j) * idx.size + idx] = v
    return idx.size


def emu_winograd_filter_grad_transform(t, a):
    k_, c_ = int(a["K"]), int(a["C"])
    idx = np.arange(k_ * c_)
    k, c = np.divmod(idx, c_)
    u = flat(a["dU"]).reshape(4, 4, -1)
    half = u.dtype.type(0.5)
    hs = half * (u[1] + u[2])
    z = [u[0] + hs, half * (u[1] - u[2]), hs + u[3]]
    for r in range(3):
        hz = half * (z[r][1] + z[r][2])
        for s, v in enumerate((z[r][0] + hz, half * (z[r][1] - z[r][2]), hz + z[r][3])):
            _write(a["dw"], k * a["swk"] + c * a["swc"] + r * a["swr"] + s * a["sws"], v)
    return idx.size


def emu_im2col(t, a):
    n_, c_, h_, w_, r_, s_, p_, q_ = (int(a[k]) for k in "N C H W R S P Q".split())
    idx = np.arange(c_ * r_ * s_ * n_ * p_ * q_)
    q = idx % q_
    rest = idx // q_
    p = rest % p_
    rest //= p_
    n = rest % n_
    rest //= n_
    s = rest % s_
    rest //= s_
    r = rest % r_
    c = rest // r_
    h = p * a["sh"] - a["pt"] + r * a["dh"]
    w = q * a["sw"] - a["pl"] + s * a["dw"]
    ok = (h >= 0) & (h < h_) & (w >= 0) & (w < w_)
    out = flat(a["cols"])
    out[idx] = 0
    out[idx[ok]] = _read(a["x"], (n * a["sxn"] + c * a["sxc"] + h * a["sxh"] + w * a["sxw"])[ok])
    return idx.size


def emu_col2im(t, a):
    acc = _acc(t["Tc"])
    n_, c_, h_, w_, r_, s_, p_, q_ = (int(a[k]) for k in "N C H W R S P Q".split())
    idx = np.arange(n_ * c_ * h_ * w_)
    w = idx % w_
    rest = idx // w_
    h = rest % h_
    rest //= h_
    c = rest % c_
    n = rest // c_
    total = np.zeros(idx.size, acc)
    dcols = flat(a["dcols"])
    for r in range(r_):
        hp = h + a["pt"] - r * a["dh"]
        for s in range(s_):
            wq = w + a["pl"] - s * a["dw"]
            ok = (hp >= 0) & (hp % a["sh"] == 0) & (hp // a["sh"] < p_) & \
                 (wq >= 0) & (wq % a["sw"] == 0) & (wq // a["sw"] < q_)
            off = ((n * c_ + c) * r_ * s_ + r * s_ + s) * p_ * q_ + (hp // a["sh"]) * q_ + \
                wq // a["sw"]
            total[ok] += dcols[off[ok]].astype(acc)
    _write(a["dx"], n * a["sxn"] + c * a["sxc"] + h * a["sxh"] + w * a["sxw"], total)
    return idx.size


EMULATORS = {name[4:]: f for mod in (globals(), vars(winograd_fused_emu))
             for name, f in mod.items() if name.startswith("emu_")}


class FakeKernel:
    """Stands for a compiled kernel: checks the call against the source, then emulates it."""

    launches = []

    def __init__(self, family, expr):
        assert expr in _compile.families()[family].name_expressions, \
            f"{expr} is not declared, the compile check would not build it"
        self.expr = expr

    def __call__(self, grid, block, args):
        name, tmap, bound = _bind(self.expr, args)
        assert block == (_winograd.THREADS,)
        total = EMULATORS[name](tmap, bound)
        if isinstance(total, tuple):   # the emulator gives the grid the launch needs
            assert grid == total, f"{self.expr}: grid {grid}, the kernel needs {total}"
        else:                          # a grid-stride loop over ``total`` threads
            assert grid == (min(-(-total // _winograd.THREADS), _winograd.MAX_BLOCKS),), \
                f"{self.expr}: grid {grid} for {total} threads"
        FakeKernel.launches.append(name)


def _emulate_kernels(monkeypatch):
    for mod, fam in ((_winograd, "winograd"), (_im2col, "conv_gemm")):
        monkeypatch.setattr(mod, "_on_cpu", lambda xp: False)
        monkeypatch.setattr(mod, "_kernel", lambda expr, fam=fam: FakeKernel(fam, expr))
    monkeypatch.setattr(_winograd_fused, "_kernel", FakeKernel)


@pytest.fixture
def emulated_gpu(monkeypatch):
    """Route the NumPy path through the GPU launchers and the emulated kernels, with every
    ``xp.empty`` poisoned with NaN."""
    _emulate_kernels(monkeypatch)
    real_empty = np.empty

    def poisoned(shape, dtype=float, *args, **kwargs):
        a = real_empty(shape, dtype, *args, **kwargs)
        a.fill(np.nan)
        return a

    monkeypatch.setattr(np, "empty", poisoned)
    FakeKernel.launches = []
    return FakeKernel


def test_signatures_are_parsed():
    assert set(SIGS) == {
        "winograd_input_transform", "winograd_filter_transform", "winograd_output_transform",
        "winograd_grad_output_transform", "winograd_filter_grad_transform",
        "winograd_fused_fprop", "winograd_fused_tc_fprop", "im2col", "col2im"}
    assert SIGS["im2col"][1][0] == ("T*", "x") and SIGS["im2col"][1][1] == ("long long", "sxn")


CASES = [  # (N, C, K, H, W, R, stride, padding, dilation, algorithm)
    (2, 3, 4, 7, 5, 3, 1, 1, 1, "winograd"),
    (1, 2, 3, 2, 3, 3, 1, "same", 1, "winograd"),
    (2, 4, 2, 6, 9, 3, 1, ((3, 0), (0, 4)), 1, "winograd"),   # dgrad crops dy
    (2, 3, 2, 7, 9, 3, 1, ((0, 3), (4, 1)), 1, "winograd"),  # dgrad crops bottom and left
    (3, 2, 5, 5, 6, 3, 1, "valid", 1, "winograd"),
    (2, 8, 8, 12, 13, 3, 1, 1, 1, "winograd"),                 # more than 256 threads
    (1, 11, 37, 9, 10, 3, 1, 1, 1, "winograd"),     # fused: 2 channel steps, 2 filter blocks
    (3, 9, 5, 11, 9, 3, 1, 0, 1, "winograd"),       # fused: 3 tile blocks, the last partial
    (2, 3, 4, 7, 5, 3, 1, 1, 1, "winograd_nonfused"),
    (2, 4, 2, 6, 9, 3, 1, ((3, 0), (0, 4)), 1, "winograd_nonfused"),
    (2, 3, 4, 7, 5, 3, 1, 1, 1, "gemm"),
    (2, 3, 2, 11, 10, 5, (2, 3), 2, 1, "gemm"),
    (2, 2, 3, 9, 9, 3, 1, (2, 1), 2, "gemm"),
    (2, 3, 4, 5, 6, 1, 1, 0, 1, "gemm"),                       # pointwise: no im2col
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, _dtypes.bfloat16])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_gpu_path_on_emulated_kernels(emulated_gpu, rng, case, dtype):
    n, c, k, h, w, r, stride, padding, dil, algorithm = case
    # non-contiguous inputs: the kernels must follow the strides they are given
    x = rng.standard_normal((n, c, h, 2 * w)).astype(dtype)[:, :, ::-1, ::2]
    wt = rng.standard_normal((k, c, r, r)).astype(dtype).transpose(0, 1, 3, 2)
    b = rng.standard_normal(k).astype(dtype)
    g = make_geom("t", x.shape, wt.shape, stride, padding, dil)
    dy = rng.standard_normal(g.y_shape).astype(dtype)
    args = dict(stride=stride, padding=padding, dilation=dil, algorithm=algorithm)

    y = conv.conv2d(x, wt, b, **args)
    dx = conv.conv2d_dgrad(dy, wt, x.shape, **args)
    dw = conv.conv2d_wgrad(x, dy, wt.shape, **args)
    unfused = {"winograd_filter_transform", "winograd_input_transform",
               "winograd_output_transform", "winograd_grad_output_transform",
               "winograd_filter_grad_transform"}
    fused = unfused - {"winograd_output_transform"} | {
        "winograd_fused_tc_fprop" if np.dtype(dtype) in _winograd_fused.TC_DTYPES else
        "winograd_fused_fprop"}
    expect = {"winograd": fused if np.dtype(dtype) in _winograd_fused.DTYPES else unfused,
              "winograd_nonfused": unfused,
              "gemm": {"im2col", "col2im"} if r > 1 else set()}[algorithm]
    assert set(emulated_gpu.launches) == expect

    f = lambda a: np.asarray(a, np.float64)  # noqa: E731
    tol = {np.dtype(np.float64): 1e-14, np.dtype(np.float32): 1e-5}.get(np.dtype(dtype), 1e-2)
    for got, ref in ((y, direct(f(x), f(wt), g.stride, g.pads, g.dilation)
                      + f(b)[:, None, None]),
                     (dx, direct_dgrad(f(dy), f(wt), g.x_shape, g.stride, g.pads, g.dilation)),
                     (dw, direct_wgrad(f(x), f(dy), g.w_shape, g.stride, g.pads, g.dilation))):
        assert got.dtype == dtype and got.shape == ref.shape
        assert np.linalg.norm(f(got) - ref) <= tol * np.linalg.norm(ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("algorithm", ["winograd", "gemm"])
def test_split_k_weight_gradient(emulated_gpu, monkeypatch, rng, algorithm, dtype):
    """The GPU weight gradients split their long inner dimension into chunks (strided
    views, partial sums, a remainder GEMM); a tiny chunk exercises all three."""
    monkeypatch.setattr(_winograd, "SPLIT_K_CHUNK", 5)
    x = rng.standard_normal((3, 4, 7, 6)).astype(dtype)
    dy = rng.standard_normal((3, 5, 7, 6)).astype(dtype)
    dw = conv.conv2d_wgrad(x, dy, (5, 4, 3, 3), padding=1, algorithm=algorithm)
    ref = direct_wgrad(x.astype(np.float64), dy.astype(np.float64), (5, 4, 3, 3),
                       pads=(1, 1, 1, 1))
    assert dw.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 2e-3
    assert np.linalg.norm(dw - ref) <= tol * np.linalg.norm(ref)
    a = rng.standard_normal((2, 3, 23)).astype(dtype)
    b = rng.standard_normal((2, 4, 23)).astype(dtype)
    r = _winograd.gemm_nt(np, a, b, np.float32)
    np.testing.assert_allclose(r, a.astype(np.float64) @ b.astype(np.float64).transpose(0, 2, 1),
                               rtol=1e-5, atol=1e-5)


def test_emulated_path_matches_the_cpu_path_in_float64(rng, monkeypatch):
    """Same transforms and GEMMs, only the tile order differs: the two paths agree to a
    few units of float64 rounding."""
    x, wt = rng.standard_normal((2, 5, 9, 7)), rng.standard_normal((6, 5, 3, 3))
    cpu = conv.conv2d(x, wt, padding=1, algorithm="winograd")
    _emulate_kernels(monkeypatch)
    gpu = conv.conv2d(x, wt, padding=1, algorithm="winograd")
    np.testing.assert_allclose(gpu, cpu, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, _dtypes.bfloat16])
@pytest.mark.parametrize("shape", [(2, 5, 6, 9, 7), (1, 17, 40, 6, 5), (4, 3, 2, 3, 2)])
def test_fused_kernel_matches_the_unfused_launches(emulated_gpu, rng, shape, dtype):
    """Same transforms, rounded to the data's dtype at the same places, float32 sums in
    another order: the fused forward and dgrad agree with the unfused ones to a few
    float32 roundings, plus one rounding of the result for 16-bit data (where the two
    float32 sums straddle a rounding boundary)."""
    n, c, k, h, w = shape
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    wt = rng.standard_normal((k, c, 3, 3)).astype(dtype)
    b = rng.standard_normal(k).astype(dtype)
    dy = rng.standard_normal((n, k, h, w)).astype(dtype)
    kernel = ("winograd_fused_fprop" if dtype == np.float32 else "winograd_fused_tc_fprop")
    for algorithm in ("winograd", "winograd_nonfused"):
        emulated_gpu.launches = []
        y = conv.conv2d(x, wt, b, padding="same", algorithm=algorithm)
        dx = conv.conv2d_dgrad(dy, wt, x.shape, padding="same", algorithm=algorithm)
        assert (kernel in emulated_gpu.launches) == (algorithm == "winograd")
        if algorithm == "winograd":
            y_f, dx_f = y, dx
    tol = 1e-6 if dtype == np.float32 else 2 * U16[np.dtype(dtype)]   # two unit roundoffs
    for fused, ref in ((y_f, y), (dx_f, dx)):
        fused, ref = fused.astype(np.float64), ref.astype(np.float64)
        assert np.linalg.norm(fused - ref) <= tol * np.linalg.norm(ref)


def test_filter_transform_launcher(emulated_gpu, rng):
    wt = rng.standard_normal((3, 4, 3, 3)).astype(np.float16)
    u = bf.conv.winograd_filter_transform(wt)
    assert emulated_gpu.launches == ["winograd_filter_transform"]
    exact = np.einsum("ai,kcij,bj->abkc", _g(), wt.astype(np.float64), _g())
    np.testing.assert_array_equal(u, exact.astype(np.float32).astype(np.float16))


def _g():
    return np.array([[1, 0, 0], [.5, .5, .5], [.5, -.5, .5], [0, 0, 1]])


def test_large_grid_is_capped_and_strided(monkeypatch):
    """Beyond MAX_BLOCKS blocks the launch is capped and the kernels' grid-stride loops
    cover the rest; the emulator checks the cap for the kernel's own loop bound."""
    monkeypatch.setattr(_winograd, "MAX_BLOCKS", 3)
    calls = []
    monkeypatch.setattr(_winograd, "_kernel", lambda expr: lambda g, b, a: calls.append(g))
    _winograd._launch("k", 10 * 256 + 1, ())
    _winograd._launch("k", 256, ())
    _winograd._launch("k", 0, ())
    assert calls == [(3,), (1,)]
