"""blasfast.fft transforms: numpy.fft semantics, accuracy against a float64 reference by norm,
and errors. Every test runs on the CPU path (the split-FP16 arithmetic emulated in NumPy)
and, where a GPU is usable, on the GPU path (``xp`` = cupy).

Error bounds (normwise, ``||y - y_ref|| / ||y_ref||`` against numpy.fft in float64 on the
same float32 input). A transform is a product of *levels*: one per radix-4 (or radix-2)
Stockham stage, one per four-step twiddle, and the FP32 pre/post-processing of the packed
real transforms. Per level the error is at most about

* 'split16': 2**-22 (splitting: ``|z - s1*hi - s2*lo| <= 2**-22 |z|``) + 2**-24 (recombination)
  + ~4 * 2**-24 (twiddle rounding and complex product)  <  2**-20;
* 'fp16': 2**-11 (the high half alone) + the same FP32 terms  <  2**-10;

so we assert ``err <= (levels + 1) * eta`` with those ``eta`` (rigorous to first order,
about 50x above what random data gives), and, sharper, that 'split16' stays within 3x of
the FP32 library transform and more than 1000x below 'fp16' (what the split buys). 'fp32'
(scipy.fft, cuFFT): ``5 * 2**-24 * (log2 n + 1)``; FP64: the same with 2**-53.
"""

import math

import numpy as np
import pytest

import blasfast.fft as bff
from conftest import to_numpy

ETA = {"split16": 2.0**-20, "fp16": 2.0**-10}
U32, U64 = 2.0**-24, 2.0**-53
POW2 = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
OTHER = [3, 5, 7, 12, 100, 243]


def levels(n, real=False):
    """Levels of error (see the module notes) of a length-n transform."""
    if real and n % 2 == 0:
        return levels(n // 2) + 2
    if n & (n - 1):                      # Bluestein: two transforms of m >= 2n - 1
        m = 1 << (2 * n - 2).bit_length()
        return 2 * levels(m) + 3
    p = n.bit_length() - 1
    return -(-p // 2) + (1 if n > 4096 else 0)


def bound(precision, lev, n_total):
    if precision in ETA:
        return (lev + 1) * ETA[precision]
    u = U64 if precision == "fp64" else U32
    return 5 * u * (math.log2(max(n_total, 2)) + 1)


def rel_err(y, ref):
    y = to_numpy(y).astype(np.complex128)
    return np.linalg.norm((y - ref).ravel()) / np.linalg.norm(ref.ravel())


def crandn(rng, shape, dtype=np.complex64, scale=1.0):
    return (scale * (rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape))).astype(dtype)


def randn(rng, shape, dtype=np.float32, scale=1.0):
    return (scale * rng.uniform(-1, 1, shape)).astype(dtype)


PRECISIONS = ["split16", "fp16", "fp32"]


# --- 1-D complex transforms, every size class ---------------------------------------------

@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("n", POW2 + OTHER)
def test_fft_and_ifft_match_numpy(xp, rng, n, precision):
    x = crandn(rng, (3, n))
    for f in ("fft", "ifft"):
        y = getattr(bff, f)(xp.asarray(x), precision=precision)
        assert type(y) is type(xp.asarray(x)) and y.dtype == np.complex64 and y.shape == (3, n)
        ref = getattr(np.fft, f)(x.astype(np.complex128))
        assert rel_err(y, ref) <= bound(precision, levels(n), n), (f, rel_err(y, ref))


@pytest.mark.parametrize("n", [16, 64, 256, 1024, 4096, 8192])
def test_split16_is_near_fp32_and_far_better_than_fp16(xp, rng, n):
    x = xp.asarray(crandn(rng, (8, n)))
    ref = np.fft.fft(to_numpy(x).astype(np.complex128))
    err = {p: rel_err(bff.fft(x, precision=p), ref) for p in PRECISIONS}
    assert err["split16"] <= 3 * max(err["fp32"], U32), err
    assert err["fp16"] >= 1000 * err["split16"], err


def test_split16_2d_accuracy_and_ratio(xp, rng):
    x = xp.asarray(crandn(rng, (256, 256)))
    ref = np.fft.fft2(to_numpy(x).astype(np.complex128))
    err = {p: rel_err(bff.fft2(x, precision=p), ref) for p in PRECISIONS}
    assert err["split16"] <= bound("split16", 2 * levels(256), 256**2)
    assert err["split16"] <= 3 * err["fp32"], err
    assert err["fp16"] / err["split16"] >= 1000, err
    assert err["split16"] <= 1e-6   # the target is 1e-5


@pytest.mark.parametrize("scale", [1e-30, 1e-7, 1e-3, 1.0, 1e5, 1e30])
def test_split16_error_does_not_depend_on_magnitude(xp, rng, scale):
    # uniform in +-scale, as in the ICL poster; power-of-two scales make the split exact
    x = xp.asarray(crandn(rng, (64, 64), scale=scale))
    ref = np.fft.fft2(to_numpy(x).astype(np.complex128))
    err = rel_err(bff.fft2(x, precision="split16"), ref)
    assert err <= bound("split16", 2 * levels(64), 64**2)
    assert err <= 5e-7
    assert rel_err(bff.fft2(x, precision="fp16"), ref) <= bound("fp16", 2 * levels(64), 64**2)


def test_large_dynamic_range_within_one_transform(xp, rng):
    # a spike 1e6 times the rest: normwise accurate, and the small part (the spectrum of the
    # rest, ~1e-5 of every output element) no worse than the FP32 library gets it
    x = crandn(rng, (4, 1024))
    x[:, 17] = 1e6
    noise = x.copy()
    noise[:, 17] = 0
    spike = 1e6 * np.exp(-2j * np.pi * 17 * np.arange(1024) / 1024)
    ref_small = np.fft.fft(noise.astype(np.complex128))
    err_small = {}
    for p in ("split16", "fp32"):
        y = bff.fft(xp.asarray(x), precision=p)
        assert rel_err(y, ref_small + spike) <= bound(p, levels(1024), 1024)
        err_small[p] = rel_err(to_numpy(y) - spike, ref_small)
    assert err_small["split16"] <= 3 * err_small["fp32"], err_small


def test_default_precision_is_split16_for_powers_of_two_and_fp32_otherwise(rng, monkeypatch):
    from blasfast.fft import _engine

    seen = []
    real = _engine.c2c_axis
    monkeypatch.setattr(_engine, "c2c_axis",
                        lambda xp, a, ax, sign, route: seen.append(route) or
                        real(xp, a, ax, sign, route))
    bff.fftn(crandn(rng, (8, 6)))
    assert seen == ["lib", "split16"]        # axes run last to first
    seen.clear()
    bff.fft(crandn(rng, (6,)).astype(np.complex128))
    assert seen == ["lib"]


# --- norms, axes, s, real transforms ------------------------------------------------------

NORMS = [None, "backward", "ortho", "forward"]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("precision", ["split16", "fp32"])
def test_norm_modes(xp, rng, norm, precision):
    x = crandn(rng, (5, 64))
    xr = randn(rng, (5, 64))
    lev = levels(64) + 2
    for f, a in (("fft", x), ("ifft", x), ("rfft", xr)):
        y = getattr(bff, f)(xp.asarray(a), norm=norm, precision=precision)
        ref = getattr(np.fft, f)(a.astype(np.complex128 if a.dtype.kind == "c" else
                                          np.float64), norm=norm)
        assert rel_err(y, ref) <= bound(precision, lev, 64), f
    spec = np.fft.rfft(xr.astype(np.float64)).astype(np.complex64)
    y = bff.irfft(xp.asarray(spec), norm=norm, precision=precision)
    assert y.dtype == np.float32
    assert rel_err(y, np.fft.irfft(spec.astype(np.complex128), norm=norm)) <= \
        bound(precision, lev, 64)


ND_CASES = [  # (shape, kwargs)
    ((3, 8, 16), {}),
    ((5, 6, 7), dict(s=(8, 5))),
    ((4, 6, 8), dict(axes=(0, 2))),
    ((4, 6, 8), dict(s=(3, 16), axes=(2, 0))),
    ((4, 6, 8), dict(axes=(-1, -3))),
    ((4, 4, 6), dict(axes=(1, 1))),          # repeated axis: transformed twice, as NumPy
    ((2, 3, 4, 5), dict(axes=(0, 1, 3))),
    ((6, 10), dict(s=(None, -1))),          # None / -1 keep the input length
]


@pytest.mark.parametrize("shape,kw", ND_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("precision", ["split16", "fp16", "fp32"])
def test_fftn_axes_and_s_follow_numpy(xp, rng, shape, kw, precision):
    x = crandn(rng, shape)
    s = kw.get("s")
    axes = kw.get("axes", None if s is None else tuple(range(-len(s), 0)))
    ref_kw = dict(kw, axes=axes) if axes is not None else dict(kw)
    if s is not None:
        ref_kw["s"] = [x.shape[a] if v in (None, -1) else v for v, a in zip(s, axes)]
    lens = ref_kw.get("s") or [x.shape[a] for a in (axes or range(x.ndim))]
    lev = sum(levels(n) for n in lens) + 1
    for f in ("fftn", "ifftn"):
        y = getattr(bff, f)(xp.asarray(x), precision=precision, **kw)
        ref = getattr(np.fft, f)(x.astype(np.complex128), **ref_kw)
        assert y.shape == ref.shape and y.dtype == np.complex64
        assert rel_err(y, ref) <= bound(precision, lev, math.prod(lens)), f


@pytest.mark.parametrize("shape,kw", [c for c in ND_CASES if c[1].get("axes") != (1, 1)],
                         ids=lambda v: str(v))
def test_rfftn_and_irfftn_follow_numpy(xp, rng, shape, kw):
    x = randn(rng, shape)
    s = kw.get("s")
    axes = kw.get("axes", None if s is None else tuple(range(-len(s), 0)))
    ref_kw = dict(kw, axes=axes) if axes is not None else dict(kw)
    if s is not None:
        ref_kw["s"] = [x.shape[a] if v in (None, -1) else v for v, a in zip(s, axes)]
    lens = ref_kw.get("s") or [x.shape[a] for a in (axes or range(x.ndim))]
    lev = sum(levels(n, real=True) for n in lens) + 1
    y = bff.rfftn(xp.asarray(x), **kw)
    ref = np.fft.rfftn(x.astype(np.float64), **ref_kw)
    assert y.shape == ref.shape and y.dtype == np.complex64
    assert rel_err(y, ref) <= bound("split16", lev, math.prod(lens))
    spec = ref.astype(np.complex64)
    back = bff.irfftn(xp.asarray(spec), **kw)
    ref_back = np.fft.irfftn(spec.astype(np.complex128), **ref_kw)
    assert back.shape == ref_back.shape and back.dtype == np.float32
    assert rel_err(back, ref_back) <= bound("split16", lev, math.prod(lens))


def test_2d_wrappers(xp, rng):
    x = randn(rng, (3, 16, 10))
    ref64 = x.astype(np.float64)
    lev = levels(16) + levels(10) + 2
    for f in ("fft2", "ifft2", "rfft2"):
        y = getattr(bff, f)(xp.asarray(x))
        ref = getattr(np.fft, f)(ref64)
        assert y.shape == ref.shape
        assert rel_err(y, ref) <= bound("split16", lev, 160), f
    spec = np.fft.rfft2(ref64)
    y = bff.irfft2(xp.asarray(spec.astype(np.complex64)), s=(16, 10))
    assert rel_err(y, ref64) <= bound("split16", 2 * lev, 160)
    y = bff.fft2(xp.asarray(x), s=(8, 32), axes=(0, 2))
    assert rel_err(y, np.fft.fft2(ref64, s=(8, 32), axes=(0, 2))) <= \
        bound("split16", 2 * lev, 256)


@pytest.mark.parametrize("n_in,n", [(16, None), (15, None), (16, 15), (16, 9), (7, 12),
                                    (1, None), (1, 4), (4096, None), (8192, 8192), (600, 600)])
@pytest.mark.parametrize("precision", ["split16", "fp16", "fp32"])
def test_rfft_and_irfft_odd_even_crop_pad(xp, rng, n_in, n, precision):
    x = randn(rng, (3, n_in))
    m = n_in if n is None else n
    y = bff.rfft(xp.asarray(x), n=n, precision=precision)
    ref = np.fft.rfft(x.astype(np.float64), n=n)
    assert y.shape == ref.shape == (3, m // 2 + 1) and y.dtype == np.complex64
    assert rel_err(y, ref) <= bound(precision, levels(m, real=True), m)
    if m == 1:
        return
    spec = crandn(rng, (3, m // 2 + 1))   # imaginary DC (and Nyquist) must be ignored
    back = bff.irfft(xp.asarray(spec), n=m, precision=precision)
    ref_back = np.fft.irfft(spec.astype(np.complex128), n=m)
    assert back.shape == (3, m) and back.dtype == np.float32
    assert rel_err(back, ref_back) <= bound(precision, levels(m, real=True), m)


def test_irfft_default_length_and_length_one(xp, rng):
    spec = crandn(rng, (2, 9))
    assert bff.irfft(xp.asarray(spec)).shape == (2, 16)
    y = bff.irfft(xp.asarray(spec[:, :1]), n=1)
    np.testing.assert_allclose(to_numpy(y)[:, 0], spec[:, 0].real, rtol=1e-6)


def test_round_trip_parseval_and_linearity(xp, rng):
    n = 1024
    x, z = crandn(rng, (4, n)), crandn(rng, (4, n))
    X = bff.fft(xp.asarray(x))
    back = to_numpy(bff.ifft(X))
    assert rel_err(back, x.astype(np.complex128)) <= bound("split16", 2 * levels(n), n)
    energy_x = np.sum(np.abs(x.astype(np.complex128)) ** 2)
    energy_X = np.sum(np.abs(to_numpy(X).astype(np.complex128)) ** 2) / n
    assert abs(energy_X - energy_x) <= 2 * bound("split16", levels(n), n) * energy_x
    a, b = np.complex64(0.75 - 0.5j), np.complex64(-1.25)
    lhs = to_numpy(bff.fft(xp.asarray(a * x + b * z)))
    rhs = a * to_numpy(X) + b * to_numpy(bff.fft(xp.asarray(z)))
    ref = np.fft.fft((a * x + b * z).astype(np.complex128))
    assert rel_err(lhs, rhs.astype(np.complex128)) <= 3 * bound("split16", levels(n), n)
    assert rel_err(lhs, ref) <= bound("split16", levels(n), n)


# --- dtypes, layouts, special values ------------------------------------------------------

@pytest.mark.parametrize("dtype,ctype", [(np.float16, np.complex64), (np.float32, np.complex64),
                                         (np.complex64, np.complex64),
                                         (np.float64, np.complex128), (np.int32, np.complex128),
                                         (np.bool_, np.complex128),
                                         (np.complex128, np.complex128)])
def test_result_dtypes_follow_numpy(xp, dtype, ctype):
    x = xp.asarray((np.arange(12) % 3).astype(dtype))
    y = bff.fft(x)
    assert y.dtype == ctype == np.fft.fft(to_numpy(x)).dtype
    np.testing.assert_allclose(to_numpy(y), np.fft.fft(to_numpy(x).astype(ctype)),
                               atol=1e-5 if ctype == np.complex64 else 1e-12)


def test_fp64_path_is_float64_accurate(xp, rng):
    for n in (64, 100, 4096):
        x = rng.standard_normal((3, n)) + 1j * rng.standard_normal((3, n))
        y = bff.fft(xp.asarray(x))
        assert y.dtype == np.complex128
        assert rel_err(y, np.fft.fft(x)) <= bound("fp64", 0, n)
        assert rel_err(bff.fft(xp.asarray(x), precision="fp64"), np.fft.fft(x)) <= \
            bound("fp64", 0, n)
    xr = rng.standard_normal((2, 30))
    assert bff.irfft(bff.rfft(xp.asarray(xr)), n=30).dtype == np.float64


def test_non_contiguous_input_is_read_and_not_modified(xp, rng):
    base = crandn(rng, (40, 6, 64))
    x = xp.asarray(base)[::3, 1:5, ::2].transpose(2, 0, 1)    # (32, 14, 4), strided
    x0 = to_numpy(x).copy()
    y = bff.fftn(x, axes=(0, 2))
    np.testing.assert_array_equal(to_numpy(x), x0)
    ref = np.fft.fftn(x0.astype(np.complex128), axes=(0, 2))
    assert rel_err(y, ref) <= bound("split16", levels(32) + levels(4) + 1, 128)
    assert to_numpy(y).flags.c_contiguous


def test_empty_batch_and_length_one(xp):
    y = bff.fft(xp.ones((0, 8), np.complex64))
    assert y.shape == (0, 8) and y.dtype == np.complex64
    assert bff.rfft(xp.ones((0, 8), np.float32)).shape == (0, 5)
    assert bff.fft2(xp.ones((2, 0, 4), np.float32), axes=(0, 2)).shape == (2, 0, 4)
    x = xp.asarray(np.array([[1.5 - 2j]], np.complex64))
    np.testing.assert_array_equal(to_numpy(bff.fft(x)), to_numpy(x))
    np.testing.assert_array_equal(to_numpy(bff.ifft(x, norm="ortho")), to_numpy(x))


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("n", [16, 12, 4096])
def test_inf_and_nan_stay_in_their_transform(xp, precision, n):
    x = np.tile(np.linspace(-1, 1, n, dtype=np.float32), (4, 1))
    x[1, 3] = np.inf
    x[2, n - 1] = np.nan
    for f in ("fft", "rfft"):
        y = to_numpy(getattr(bff, f)(xp.asarray(x), precision=precision))
        with np.errstate(invalid="ignore"):
            ref = getattr(np.fft, f)(x.astype(np.float64))
        np.testing.assert_array_equal(np.isfinite(y), np.isfinite(ref))
        assert np.all(~np.isfinite(y[1:3]))
        good = [0, 3]
        assert rel_err(y[good], ref[good]) <= bound(precision, levels(n, f == "rfft"), n)


# --- errors -------------------------------------------------------------------------------

ERRORS = [
    (lambda: bff.fft(np.ones(4), norm="bad"), ValueError,
     r"fft: norm must be one of None, 'backward', 'ortho', 'forward', got 'bad'"),
    (lambda: bff.fft(np.ones(4, np.float32), precision="bf16"), ValueError,
     r"fft: precision must be one of None, 'split16', 'fp32', 'fp16', 'fp64', got 'bf16'"),
    (lambda: bff.fft(np.ones(4), precision="split16"), ValueError,
     r"fft: precision='split16' applies to float32/complex64 .* cast with"),
    (lambda: bff.fft(np.ones(4, np.float32), precision="fp64"), ValueError,
     r"precision must be None, 'split16', 'fp32' or 'fp16'"),
    (lambda: bff.fft(np.ones(4), n=0), ValueError,
     r"fft: n must be an integer >= 1, got 0"),
    (lambda: bff.fft(np.ones((0, 4)), axis=0), ValueError,
     r"fft: a has length 0 along axis 0; every transformed length must be >= 1 \(pass n"),
    (lambda: bff.irfft(np.ones(1)), ValueError,
     r"irfft: a has 2\*\(m - 1\) = 0 output points from m = 1 input point along axis 0"),
    (lambda: bff.fft(np.ones(4), n=4.0), TypeError, r"fft: n must be an integer, got float 4.0"),
    (lambda: bff.fft(np.ones((2, 4)), axis=2), np.exceptions.AxisError,
     r"fft: axis must be an integer in \[-2, 1\] for an array of dimension 2, got 2"),
    (lambda: bff.fftn(np.ones((2, 4)), axes=(0, -3)), IndexError,
     r"fftn: axes\[1\] must be an integer in \[-2, 1\]"),
    (lambda: bff.fftn(np.ones((2, 4)), s=(2,), axes=(0, 1)), ValueError,
     r"fftn: s and axes must have the same length"),
    (lambda: bff.fftn(np.ones((2, 4)), s=(2, 2, 2)), ValueError,
     r"fftn: s must have at most 2 entries \(one per axis of a\), got 3"),
    (lambda: bff.fftn(np.ones((2, 4)), axes=1), TypeError, r"axes must be a sequence"),
    (lambda: bff.rfft(np.ones(4, np.complex64)), TypeError,
     r"rfft: a must be real \(float or integer\), got complex64"),
    (lambda: bff.fft(np.ones(4, np.longdouble)), TypeError,
     r"fft: a must have dtype float16, bfloat16, float32, complex64 .*got float128"),
    (lambda: bff.fft(np.array(["a", "b"])), TypeError, r"fft: a must have dtype"),
    (lambda: bff.fft(np.float32(3.0)), ValueError, r"fft: a must have at least one dimension"),
    (lambda: bff.fft2(np.ones(4)), np.exceptions.AxisError,
     r"fft2: axes\[0\] must be an integer in \[-1, 0\] for an array of dimension 1"),
    (lambda: bff.rfftn(np.ones((2, 4)), axes=()), ValueError,
     r"rfftn: axes must name at least one axis for a real transform"),
]


@pytest.mark.parametrize("call,exc,pattern", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_host_and_device_arrays_are_not_mixed_in_fftconvolve(dev):
    with pytest.raises(TypeError, match="same side"):
        bff.fftconvolve(np.ones(4, np.float32), dev.ones(4, np.float32))


def test_stream_argument(dev, rng):
    # a stream object runs the transform on it; anything else is refused before any work
    x = crandn(rng, (3, 64))
    stream = dev.cuda.Stream()
    for f in (bff.fft, bff.fftn):
        y = f(dev.asarray(x), stream=stream)
        ref = getattr(np.fft, f.__name__)(x.astype(np.complex128))
        assert rel_err(y, ref) <= bound("split16", levels(64) + levels(3) + 1, 192)
        with pytest.raises(TypeError, match=rf"{f.__name__}: stream must be None, a cupy.cuda."
                                            r"Stream, .*got str 'default'"):
            f(dev.asarray(x), stream="default")
    y = bff.fftconvolve(dev.asarray(x.real), dev.asarray(x.real[:, :5]), axes=1, stream=stream)
    assert y.shape == (3, 68)
    with pytest.raises(ValueError, match="fftconvolve: stream applies to device"):
        bff.fftconvolve(x.real, x.real, stream=stream)


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "fft2", "fftn", "irfftn"])
def test_lists_of_numbers_are_accepted_as_numpy_fft_accepts_them(name, rng):
    """A (nested) list runs on the CPU path and gives numpy.fft's result (dtype, shape and
    values to FP64 rounding: integers and Python floats take the FP64 path)."""
    x = rng.integers(-9, 9, (4, 6)).tolist()
    got, ref = getattr(bff, name)(x), getattr(np.fft, name)(x)
    assert isinstance(got, np.ndarray) and got.dtype == ref.dtype and got.shape == ref.shape
    assert np.linalg.norm(got - ref) <= 1e-14 * np.linalg.norm(ref)


def test_fftconvolve_accepts_lists_as_scipy_does(rng):
    from scipy import signal

    a, b = rng.standard_normal(20).tolist(), [1.0, -2.0, 0.5]
    got, ref = bff.fftconvolve(a, b), signal.fftconvolve(a, b)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    assert np.linalg.norm(got - ref) <= 1e-14 * np.linalg.norm(ref)
