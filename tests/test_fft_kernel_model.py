"""A lane-level NumPy model of ``kernels/fft_split16.cu``, checked against numpy.fft, and the
host-side GPU plan (strides, four-step, recursion) run through that model.

No GPU here, so this is how the kernel's index arithmetic and tensor-core fragment layout
are tested before a GPU run: the model is a line-by-line port of ``fft_stage`` and
``fft_split16_pass`` (vectorized over blocks, mma groups and the 32 lanes), with the
``mma.sync.m16n8k16`` fragment layout of the PTX ISA:

* A (16x16, row): a0a1 = A[g][2t:2t+2], a2a3 = A[g+8][2t:2t+2], a4a5 = A[g][2t+8:2t+10],
  a6a7 = A[g+8][2t+8:2t+10];
* B (16x8, col): b0b1 = B[2t:2t+2][g], b2b3 = B[2t+8:2t+10][g];
* D (16x8): d0d1 = D[g][2t:2t+2], d2d3 = D[g+8][2t:2t+2];

for lane = 4g + t. What the model cannot check -- the CUDA text itself, the hardware's
accumulation order -- the GPU tests (``test_fft.py`` with ``xp`` = cupy) do.
"""

import numpy as np
import pytest

from blasfast.fft import _engine, _gpu, _split

K_THREADS, K_WARPS = 256, 8
LANE = np.arange(32)
G, T = LANE >> 2, LANE & 3


def pow2_scale(m):
    e = (np.asarray(m, np.float32).view(np.uint32) >> 23) & 0xFF
    e = np.minimum(e + 1, 253).astype(np.uint32)
    return (e << 23).view(np.float32), ((254 - e).astype(np.uint32) << 23).view(np.float32)


def shfl_xor(v, mask):
    return v[..., LANE ^ mask]


def shfl(v, src):
    """``__shfl_sync(v, src)`` with a per-lane source lane ``src`` (32,)."""
    return v[..., src]


def dft_fragment(r, sign):
    """Per lane: the two float16 entries of a0a1 (== a6a7; a2a3 == a4a5 == 0)."""
    comp = G & 1
    if r == 4:
        k = G >> 1
        q = (sign * k * T) % 4
        wr = np.select([q == 0, q == 2], [1.0, -1.0], 0.0)
        wi = np.select([q == 1, q == 3], [1.0, -1.0], 0.0)
    else:
        k = (G >> 1) & 1
        same = (G >> 2) == (T >> 1)
        wr = np.where(same, np.where(k & T & 1, -1.0, 1.0), 0.0)
        wi = np.zeros(32)
    e0 = np.where(comp == 0, wr, wi)
    e1 = np.where(comp == 0, -wi, wr)
    return e0.astype(np.float16), e1.astype(np.float16)


def mma(a_e0, a_e1, b_hi, b_lo):
    """``mma.sync.m16n8k16``: A from the lanes' a0a1 (and a6a7 = a0a1), B from (hi, lo)
    half2 pairs; returns d0..d3 per lane, shape (..., 32, 4). FP16 products are exact;
    the FP32 sum is modelled in float64 and rounded once."""
    a = np.zeros((16, 16))
    a[G, 2 * T], a[G, 2 * T + 1] = a_e0, a_e1              # a0, a1
    a[G + 8, 2 * T + 8], a[G + 8, 2 * T + 9] = a_e0, a_e1  # a6, a7
    lead = b_hi.shape[:-2]
    b = np.zeros(lead + (16, 8))
    b[..., 2 * T, G], b[..., 2 * T + 1, G] = b_hi[..., 0], b_hi[..., 1]
    b[..., 2 * T + 8, G], b[..., 2 * T + 9, G] = b_lo[..., 0], b_lo[..., 1]
    d = (a @ b).astype(np.float32)
    return np.stack([d[..., G, 2 * T], d[..., G, 2 * T + 1],
                     d[..., G + 8, 2 * T], d[..., G + 8, 2 * T + 1]], axis=-1)


def fft_stage(src, r, log2n, L, log2L, sign, split):
    """Port of ``fft_stage<R, LOG2N, SPLIT>``: src (blocks, POINTS) complex64 -> dst."""
    n = 1 << log2n
    points = max(n, 1024)
    gpw = points // 4 // 8 // K_WARPS
    nb = src.shape[0]
    dst = np.full((nb, 2 * points), np.nan, np.float32)     # poisoned
    a_e0, a_e1 = dft_fragment(r, sign)
    src_lane = ((G >> 2) << 1) if r == 2 else np.zeros(32, int)
    groups = np.arange(gpw * K_WARPS)                   # warp + u*kWarps covers 0..G-1
    base = groups[:, None] * 8                           # (groups, 1)
    col = base + G[None, :]                              # (groups, 32)
    if r == 4:
        tb, c = col >> (log2n - 2), col & (n // 4 - 1)
        idx = tb * n + T * (n // 4) + c
    else:
        bf = col * 2 + (T >> 1)
        tb, q = bf >> (log2n - 1), bf & (n // 2 - 1)
        idx = tb * n + (T & 1) * (n // 2) + q
    x = src[:, idx]                                      # (nb, groups, 32)
    xr, xi = x.real.astype(np.float32), x.imag.astype(np.float32)
    if r == 4 and L > 1:
        k1 = (col & (n // 4 - 1)) & (L - 1)
        ang = (T * k1).astype(np.float64) / (2 * L)      # sincospif argument, exact
        s = np.sin(np.pi * ang).astype(np.float32)
        c = np.cos(np.pi * ang).astype(np.float32)
        s = s if sign > 0 else -s
        xr, xi = xr * c - xi * s, xr * s + xi * c
    m = np.maximum(np.abs(xr), np.abs(xi))
    m = np.maximum(m, shfl_xor(m, 1))
    if r == 4:
        m = np.maximum(m, shfl_xor(m, 2))
    s1, inv1 = pow2_scale(m)
    hi = np.stack([(xr * inv1).astype(np.float16), (xi * inv1).astype(np.float16)], -1)
    lo = np.zeros_like(hi)
    s2 = np.zeros_like(s1)
    if split:
        rx = xr - s1 * hi[..., 0].astype(np.float32)
        ry = xi - s1 * hi[..., 1].astype(np.float32)
        m2 = np.maximum(np.abs(rx), np.abs(ry))
        m2 = np.maximum(m2, shfl_xor(m2, 1))
        if r == 4:
            m2 = np.maximum(m2, shfl_xor(m2, 2))
        s2, inv2 = pow2_scale(m2)
        lo = np.stack([(rx * inv2).astype(np.float16), (ry * inv2).astype(np.float16)], -1)
    d = mma(a_e0, a_e1, hi, lo)
    for v in range(2):
        ocol = base + 2 * T[None, :] + v
        s1v = shfl(s1, (2 * T + v) * 4 + src_lane)
        y = s1v * d[..., v]
        if split:
            s2v = shfl(s2, (2 * T + v) * 4 + src_lane)
            y = (s1v.astype(np.float64) * d[..., v] + s2v * d[..., 2 + v]).astype(np.float32)
        if r == 4:
            tb, c = ocol >> (log2n - 2), ocol & (n // 4 - 1)
            q, k1 = c >> log2L, c & (L - 1)
            oidx = tb * n + q * 4 * L + (G >> 1) * L + k1
        else:
            bf = ocol * 2 + (G >> 2)
            tb, q = bf >> (log2n - 1), bf & (n // 2 - 1)
            oidx = tb * n + q * 2 + ((G >> 1) & 1)
        flat = 2 * oidx + (G & 1)
        dst[:, flat.ravel()] = y.reshape(nb, -1)
    assert not np.isnan(dst).any(), "an element of the stage output was never written"
    return dst.view(np.complex64)


def model_pass(src, dst, n, batch, n_inner, in_strides, out_strides, sign, mode, tw_n=0,
               scale=1.0):
    """Port of ``fft_split16_pass`` with the launcher's argument list (flat NumPy arrays)."""
    log2n = n.bit_length() - 1
    points = max(n, 1024)
    tpb = points // n
    nb = -(-batch // tpb)
    fin, fout = src.reshape(-1), dst.reshape(-1)
    log2tpb = max(0, 10 - log2n)
    e = np.arange(points)

    def thread_map(seq_fast):
        """(tb, j) of thread slot e: elements fastest, or sequences fastest (strided side)."""
        if seq_fast:
            return e & (tpb - 1), e >> log2tpb
        return e >> log2n, e & (n - 1)

    tb, j = thread_map(in_strides[0] != 1 and tpb > 1)
    assert len(set(zip(tb.tolist(), j.tolist()))) == points        # a bijection
    tt = np.arange(nb)[:, None] * tpb + tb[None, :]
    valid = tt < batch
    o, i = np.divmod(np.where(valid, tt, 0), max(n_inner, 1))
    addr = o * in_strides[2] + i * in_strides[1] + j * in_strides[0]
    buf = np.zeros((nb, points), np.complex64)
    buf[:, tb * n + j] = np.where(valid, fin[addr], 0)
    L, log2L = 1, 0
    if log2n & 1:
        buf = fft_stage(buf, 2, log2n, 1, 0, sign, mode == "split16")
        L, log2L = 2, 1
    while L < n:
        buf = fft_stage(buf, 4, log2n, L, log2L, sign, mode == "split16")
        L, log2L = L * 4, log2L + 2
    tb, k = thread_map(out_strides[0] != 1 and tpb > 1)
    tt = np.arange(nb)[:, None] * tpb + tb[None, :]
    valid = tt < batch
    o, i = np.divmod(np.where(valid, tt, 0), max(n_inner, 1))
    v = buf[:, tb * n + k].astype(np.complex64)
    if tw_n > 0:
        ang = 2.0 * ((k * i) % tw_n) / tw_n
        w = (np.cos(np.pi * ang) + 1j * sign * np.sin(np.pi * ang)).astype(np.complex64)
        v = v * w
    v = v * np.float32(scale)
    oaddr = o * out_strides[2] + i * out_strides[1] + k * out_strides[0]
    fout[oaddr[valid]] = v[valid]
    return dst


def rel(y, ref):
    return np.linalg.norm(y - ref) / np.linalg.norm(ref)


@pytest.mark.parametrize("n", [2, 4, 8, 32, 64, 512, 2048, 4096])
@pytest.mark.parametrize("sign", [-1, 1])
def test_kernel_model_computes_the_dft(rng, n, sign):
    b = 3
    x = (rng.uniform(-1, 1, (b, n)) + 1j * rng.uniform(-1, 1, (b, n))).astype(np.complex64)
    out = np.full_like(x, np.nan)
    model_pass(x, out, n, b, 1, (1, 0, n), (1, 0, n), sign, "split16")
    ref = np.fft.fft(x.astype(np.complex128)) if sign < 0 else \
        n * np.fft.ifft(x.astype(np.complex128))
    levels = -(-(n.bit_length() - 1) // 2)
    assert rel(out, ref) <= (levels + 1) * 2.0**-20
    # the CPU emulation runs the same arithmetic: agreement to FP32 rounding differences
    cpu = _split.pass_cpu(x, sign, "split16")
    assert rel(out, cpu) <= 4 * levels * 2.0**-24
    fp16 = np.full_like(x, np.nan)
    model_pass(x, fp16, n, b, 1, (1, 0, n), (1, 0, n), sign, "fp16")
    assert rel(fp16, ref) <= (levels + 1) * 2.0**-10
    # one-ulp FP32 differences (twiddle products) flip a few float16 roundings: agreement
    # far inside the 'fp16' error, not to FP32 rounding
    assert rel(fp16, _split.pass_cpu(x, sign, "fp16")) <= levels * 2.0**-16


def test_kernel_model_strided_axis_twiddle_and_scale(rng):
    # axis 1 of (3, 16, 5): element stride 5, inner 5 sequences, outer stride 80; the four-step
    # twiddle on the inner index and a scale
    x = (rng.standard_normal((3, 16, 5)) + 1j * rng.standard_normal((3, 16, 5))).astype(
        np.complex64)
    out = np.full_like(x, np.nan)
    model_pass(x, out, 16, 15, 5, (5, 1, 80), (5, 1, 80), -1, "split16", tw_n=64, scale=0.5)
    ref = np.fft.fft(x.astype(np.complex128), axis=1)
    k, i = np.arange(16)[:, None], np.arange(5)[None, :]
    ref = 0.5 * ref * np.exp(-2j * np.pi * ((k * i) % 64) / 64)
    assert rel(out, ref) <= 4 * 2.0**-20


@pytest.fixture
def gpu_plan_on_numpy(monkeypatch):
    """Run ``blasfast.fft._gpu``'s host code on NumPy arrays with the kernel model."""
    monkeypatch.setattr(_gpu, "_array_module", lambda a: np)
    monkeypatch.setattr(_gpu, "launch_pass", model_pass)


@pytest.mark.parametrize("shape,axis", [((4, 64), 1), ((64, 3), 0), ((2, 32, 3, 2), 1),
                                        ((5, 2), 1), ((1, 4096), 1)])
def test_gpu_strided_axis_plan(gpu_plan_on_numpy, rng, shape, axis):
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    y = _gpu.c2c_pow2_axis(x, axis, -1, "split16")
    ref = np.fft.fft(x.astype(np.complex128), axis=axis)
    assert y.shape == x.shape and rel(y, ref) <= 8 * 2.0**-20


@pytest.mark.parametrize("n", [8192, 2**15])
def test_gpu_four_step_plan(gpu_plan_on_numpy, rng, n):
    x = (rng.standard_normal((2, n)) + 1j * rng.standard_normal((2, n))).astype(np.complex64)
    for sign in (-1, 1):
        y = _gpu.c2c_pow2_rows(x, sign, "split16")
        ref = np.fft.fft(x.astype(np.complex128)) if sign < 0 else \
            n * np.fft.ifft(x.astype(np.complex128))
        assert rel(y, ref) <= 10 * 2.0**-20
        assert rel(y, _engine._c2c_pow2_cpu(x, sign, "split16")) <= 40 * 2.0**-24


def test_gpu_four_step_recursion(gpu_plan_on_numpy, monkeypatch, rng):
    # passes of at most 8 points force the n2 > one-pass branch (used above 4096**2)
    monkeypatch.setattr(_split, "MAX_PASS_LOG2", 3)
    monkeypatch.setattr(_split, "MAX_PASS", 8)
    x = (rng.standard_normal((2, 512)) + 1j * rng.standard_normal((2, 512))).astype(np.complex64)
    y = _gpu.c2c_pow2_rows(x, -1, "split16")
    assert rel(y, np.fft.fft(x.astype(np.complex128))) <= 10 * 2.0**-20


def test_launch_geometry():
    assert _gpu.sequences_per_block(2) == 512 and _gpu.sequences_per_block(4096) == 1
    assert _gpu.shared_bytes(4096) == 65536 and _gpu.shared_bytes(16) == 16384
    assert _gpu.name_expression(12, "split16") == "fft_split16_pass<12, 1>"
    with pytest.raises(ValueError, match="no '_fp16_unscaled' arithmetic"):
        _gpu._kernel_mode("_fp16_unscaled")


@pytest.fixture
def gpu_path_on_numpy(monkeypatch, gpu_plan_on_numpy):
    """The whole GPU path -- routes, packing, Bluestein, strided passes, four-step -- on NumPy
    arrays: a stand-in array module that is not ``numpy`` (so every GPU branch is taken) and
    the kernel model in place of the launch."""
    import types

    from blasfast.fft import _conv, _transforms

    fake = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    assert fake is not np

    def get_array_module(op, *arrays):
        return fake, tuple(None if a is None else np.asarray(a) for a in arrays)

    monkeypatch.setattr(_transforms, "get_array_module", get_array_module)
    monkeypatch.setattr(_conv, "get_array_module", get_array_module)
    return fake


def test_gpu_path_end_to_end_on_the_model(gpu_path_on_numpy, monkeypatch, rng):
    import scipy.signal

    import blasfast.fft as bff
    from blasfast.fft._conv import conv2d_fft

    launched = []
    monkeypatch.setattr(_gpu, "launch_pass",
                        lambda *a, **k: launched.append(a[2]) or model_pass(*a, **k))

    def crand(shape):
        return (rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)).astype(np.complex64)

    def check(y, ref, tol):
        assert type(y) is np.ndarray and rel(y, ref) <= tol

    x = crand((6, 64, 32))
    x64 = x.astype(np.complex128)
    check(bff.fft2(x), np.fft.fft2(x64), 8 * 2.0**-20)                 # strided axis 1
    assert launched == [32, 64]
    check(bff.ifftn(x, axes=(0, 1), norm="ortho"),
          np.fft.ifftn(x64, axes=(0, 1), norm="ortho"), 8 * 2.0**-20)   # 6: Bluestein
    check(bff.fft(x[:, :, :5], axis=1, precision="fp16"),
          np.fft.fft(x64[:, :, :5], axis=1), 6 * 2.0**-10)
    y = crand((2, 8192))
    launched.clear()
    check(bff.fft(y), np.fft.fft(y.astype(np.complex128)), 12 * 2.0**-20)   # four-step
    assert launched == [64, 128]
    r = rng.uniform(-1, 1, (3, 100)).astype(np.float32)           # packing + Bluestein(50)
    check(bff.rfft(r, precision="split16"), np.fft.rfft(r.astype(np.float64)), 30 * 2.0**-20)
    spec = np.fft.rfft(r.astype(np.float64), n=64).astype(np.complex64)
    check(bff.irfft(spec, n=64), np.fft.irfft(spec.astype(np.complex128), n=64), 10 * 2.0**-20)
    img = rng.uniform(-1, 1, (2, 40, 33)).astype(np.float32)
    k = rng.uniform(-1, 1, (1, 5, 4)).astype(np.float32)
    ref = scipy.signal.fftconvolve(img.astype(np.float64), k.astype(np.float64), "same",
                                   axes=(1, 2))
    check(bff.fftconvolve(img, k, "same", axes=(1, 2)), ref, 40 * 2.0**-20)
    xi = rng.uniform(-1, 1, (2, 3, 12, 10)).astype(np.float32)
    w = rng.uniform(-1, 1, (4, 3, 3, 3)).astype(np.float32)
    import test_fft_conv

    check(conv2d_fft(xi, w, None, 1, 1), test_fft_conv.direct_conv2d(xi, w, None, (1, 1),
                                                                     (1, 1)), 40 * 2.0**-20)
