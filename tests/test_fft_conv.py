"""FFT convolution: blasfast.fft.fftconvolve against scipy.signal.fftconvolve in float64, the
FFT algorithm of conv2d (conv2d_fft) against a direct float64 convolution, real images.

Bounds: a convolution is three transforms of the padded size plus one FP32 product, so with
``levels`` as in test_fft.py the normwise error of 'split16' is below
``(3 * levels + 2) * 2**-20`` times ``||x|| ||h|| / ||y||``-like growth that random data does
not show; we assert the plain ``(3 * levels + 2) * eta`` (eta = 2**-20 split16, 2**-10
fp16) and that split16 stays within 3x of the FP32 library path.
"""

import numpy as np
import pytest
import scipy.signal

import blasfast.fft as bff
from blasfast.fft._conv import conv2d_fft
from conftest import to_numpy
from test_fft import ETA, U32, U64, levels


def rel_err(y, ref):
    y = to_numpy(y).astype(np.complex128)
    return np.linalg.norm((y - ref).ravel()) / np.linalg.norm(np.asarray(ref).ravel())


def conv_bound(precision, fshape, real=True):
    lev = 3 * sum(levels(n, real=real and i == len(fshape) - 1) for i, n in enumerate(fshape))
    if precision in ETA:
        return (lev + 2) * ETA[precision]
    return 5 * U32 * (np.log2(max(np.prod(fshape), 2)) + 3)


def pow2(n):
    return 1 << (n - 1).bit_length()


CASES = [  # (shape1, shape2, axes)
    ((50,), (7,), None),
    ((40, 33), (5, 4), None),
    ((3, 40, 33), (1, 5, 4), (1, 2)),       # broadcast over the first axis
    ((3, 40, 33), (3, 5, 4), [-2, -1]),
    ((6, 7), (9, 9), None),                 # in2 larger: 'valid' swaps them
    ((1, 20), (5, 1), None),                # every axis has a 1: a pure broadcast product
    ((4, 20), (4, 20), 0),
]


@pytest.mark.parametrize("s1,s2,axes", CASES, ids=str)
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("precision", ["split16", "fp16", "fp32"])
def test_fftconvolve_matches_scipy(xp, rng, s1, s2, axes, mode, precision):
    a = rng.uniform(-1, 1, s1).astype(np.float32)
    b = rng.uniform(-1, 1, s2).astype(np.float32)
    ref = scipy.signal.fftconvolve(a.astype(np.float64), b.astype(np.float64), mode, axes)
    y = bff.fftconvolve(xp.asarray(a), xp.asarray(b), mode, axes, precision=precision)
    assert y.shape == ref.shape and y.dtype == np.float32
    ax = range(len(s1)) if axes is None else np.atleast_1d(axes) % len(s1)
    fshape = [pow2(s1[i] + s2[i] - 1) for i in ax if s1[i] > 1 and s2[i] > 1] or [1]
    assert rel_err(y, ref) <= conv_bound(precision, fshape)
    # complex input: complex transforms
    ac = (a + 1j * rng.uniform(-1, 1, s1)).astype(np.complex64)
    ref = scipy.signal.fftconvolve(ac.astype(np.complex128), b.astype(np.float64), mode, axes)
    y = bff.fftconvolve(xp.asarray(ac), xp.asarray(b), mode, axes, precision=precision)
    assert y.shape == ref.shape and y.dtype == np.complex64
    assert rel_err(y, ref) <= conv_bound(precision, fshape, real=False)


def test_fftconvolve_split16_near_fp32_and_far_better_than_fp16(xp, rng):
    a = xp.asarray(rng.uniform(-1, 1, (2, 120, 90)).astype(np.float32))
    b = xp.asarray(rng.uniform(-1, 1, (1, 15, 15)).astype(np.float32))
    ref = scipy.signal.fftconvolve(to_numpy(a).astype(np.float64),
                                   to_numpy(b).astype(np.float64), axes=(1, 2))
    err = {p: rel_err(bff.fftconvolve(a, b, axes=(1, 2), precision=p), ref)
           for p in ("split16", "fp32", "fp16")}
    assert err["split16"] <= 3 * err["fp32"], err
    assert err["fp16"] >= 1000 * err["split16"], err
    assert err["split16"] <= 1e-6


def test_fftconvolve_dtypes_and_special_inputs(xp, rng):
    a64 = rng.standard_normal((30,))
    y = bff.fftconvolve(xp.asarray(a64), xp.asarray(a64[:5]))
    assert y.dtype == np.float64
    assert rel_err(y, scipy.signal.fftconvolve(a64, a64[:5])) <= 1e-13
    yi = bff.fftconvolve(xp.asarray(np.arange(6)), xp.asarray(np.arange(3)))
    assert yi.dtype == np.float64
    np.testing.assert_allclose(to_numpy(yi), np.convolve(np.arange(6), np.arange(3)),
                               atol=1e-12)
    y = bff.fftconvolve(xp.asarray(a64.astype(np.float32)), xp.asarray(a64[:5]))
    assert y.dtype == np.float64                       # float32 with float64: FP64
    assert float(bff.fftconvolve(xp.asarray(np.float32(3)), xp.asarray(np.float32(2)))) == 6
    assert bff.fftconvolve(xp.ones((0, 3), np.float32), xp.ones((2, 2), np.float32)).size == 0
    with pytest.raises(ValueError, match="applies to float32/complex64"):
        bff.fftconvolve(xp.asarray(a64), xp.asarray(a64), precision="split16")


def test_fftconvolve_nan_spreads_over_its_output_only(xp):
    a = np.ones((3, 16), np.float32)
    a[1, 4] = np.nan
    y = to_numpy(bff.fftconvolve(xp.asarray(a), xp.asarray(np.ones((1, 3), np.float32)),
                                 axes=1))
    assert np.all(np.isnan(y[1])) or np.all(~np.isfinite(y[1]))
    assert np.all(np.isfinite(y[[0, 2]]))
    np.testing.assert_allclose(y[0], np.convolve(np.ones(16), np.ones(3)), rtol=1e-6)


CONV_ERRORS = [
    (lambda: bff.fftconvolve(np.ones(4), np.ones(2), mode="bad"), ValueError,
     r"fftconvolve: mode must be one of 'full', 'same', 'valid', got 'bad'"),
    (lambda: bff.fftconvolve(np.ones(4), np.ones((2, 2))), ValueError,
     r"in1 and in2 should have the same dimensionality, got 1 and 2"),
    (lambda: bff.fftconvolve(np.ones((3, 4)), np.ones((2, 4)), axes=1), ValueError,
     r"incompatible shapes for in1 and in2: \(3, 4\) and \(2, 4\)"),
    (lambda: bff.fftconvolve(np.ones((3, 5)), np.ones((5, 3)), mode="valid"), ValueError,
     r"for 'valid' mode, one input must be at least as large as the other"),
    (lambda: bff.fftconvolve(np.ones((3, 5)), np.ones((2, 3)), axes=[0, 0]), ValueError,
     r"fftconvolve: axes must be unique, got \(0, 0\)"),
    (lambda: bff.fftconvolve(np.ones((3, 5)), np.ones((2, 3)), axes=2), ValueError,
     r"fftconvolve: axes\[0\] must be an integer in \[-2, 1\] .* got 2"),
    (lambda: bff.fftconvolve(np.ones((3, 5)), np.ones((2, 3)), axes=[]), ValueError,
     r"fftconvolve: axes cannot be empty"),
    (lambda: bff.fftconvolve(np.ones(3, np.float32), np.ones(3, np.float32), precision="x"),
     ValueError, r"fftconvolve: precision must be one of None, 'split16'"),
    (lambda: bff.fftconvolve(np.ones(3, object), np.ones(3)), TypeError, r"must have dtype"),
]


@pytest.mark.parametrize("call,exc,pattern", CONV_ERRORS,
                         ids=[str(i) for i in range(len(CONV_ERRORS))])
def test_fftconvolve_errors(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


# --- conv2d's FFT algorithm -----------------------------------------------------------------

def direct_conv2d(x, w, bias, stride, padding):
    """Cross-correlation in float64, the definition."""
    x, w = x.astype(np.float64), w.astype(np.float64)
    xp_ = np.pad(x, ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    k, c, r, s = w.shape
    ho = (xp_.shape[2] - r) // stride[0] + 1
    wo = (xp_.shape[3] - s) // stride[1] + 1
    y = np.zeros((x.shape[0], k, ho, wo))
    for i in range(r):
        for j in range(s):
            patch = xp_[:, :, i:i + stride[0] * (ho - 1) + 1:stride[0],
                        j:j + stride[1] * (wo - 1) + 1:stride[1]]
            y += np.einsum("nchw,kc->nkhw", patch, w[:, :, i, j])
    return y if bias is None else y + bias[None, :, None, None]


@pytest.mark.parametrize("stride,padding", [((1, 1), (0, 0)), ((1, 1), (2, 2)),
                                            ((2, 1), (2, 1)), ((3, 3), (1, 0))])
@pytest.mark.parametrize("precision", [None, "fp32", "fp16"])
def test_conv2d_fft_matches_direct(xp, rng, stride, padding, precision):
    x = rng.uniform(-1, 1, (2, 3, 17, 20)).astype(np.float32)
    w = rng.uniform(-1, 1, (4, 3, 5, 3)).astype(np.float32)
    bias = rng.uniform(-1, 1, 4).astype(np.float32)
    y = conv2d_fft(xp.asarray(x), xp.asarray(w), xp.asarray(bias), stride, padding,
                   precision=precision)
    ref = direct_conv2d(x, w, bias, stride, padding)
    assert y.shape == ref.shape and y.dtype == np.float32
    fshape = [pow2(17 + 2 * padding[0]), pow2(20 + 2 * padding[1])]
    assert rel_err(y, ref) <= conv_bound(precision or "split16", fshape) * 3


def test_conv2d_fft_float64_int_stride_and_no_bias(xp, rng):
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((4, 3, 5, 5))
    y = conv2d_fft(xp.asarray(x), xp.asarray(w), None, stride=2, padding=2)
    assert y.dtype == np.float64
    assert rel_err(y, direct_conv2d(x, w, None, (2, 2), (2, 2))) <= 1e-13


@pytest.mark.parametrize("dtype", [np.float16, "bfloat16"])
def test_conv2d_fft_half_inputs_compute_in_float32(xp, rng, dtype):
    from blasfast._dtypes import bfloat16

    dt = bfloat16 if dtype == "bfloat16" else np.dtype(dtype)
    x = rng.uniform(-1, 1, (1, 2, 8, 8)).astype(dt)
    w = rng.uniform(-1, 1, (3, 2, 3, 3)).astype(dt)
    y = conv2d_fft(xp.asarray(x), xp.asarray(w), None, 1, 1)
    assert y.dtype == np.float32
    ref = direct_conv2d(x.astype(np.float32), w.astype(np.float32), None, (1, 1), (1, 1))
    assert rel_err(y, ref) <= 1e-6


def test_conv2d_fft_errors():
    x, w = np.ones((1, 3, 8, 8), np.float32), np.ones((2, 3, 3, 3), np.float32)
    with pytest.raises(ValueError, match="x has 3 channels but w expects 2"):
        conv2d_fft(x, np.ones((2, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"filter \(9x9\) is larger than the padded input"):
        conv2d_fft(x, np.ones((2, 3, 9, 9), np.float32))
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv2d_fft(x, w, stride=0)
    with pytest.raises(ValueError, match="padding must be >= 0"):
        conv2d_fft(x, w, padding=(-1, 0))
    with pytest.raises(ValueError, match=r"x must be \(N, C, H, W\)"):
        conv2d_fft(x[0], w)


def test_conv2d_algorithm_fft_goes_here(rng):
    import blasfast.conv as conv

    x = rng.uniform(-1, 1, (2, 3, 12, 10)).astype(np.float32)
    w = rng.uniform(-1, 1, (4, 3, 5, 5)).astype(np.float32)
    y = conv.conv2d(x, w, padding=2, algorithm="fft")
    ref = direct_conv2d(x, w, None, (1, 1), (2, 2))
    assert y.dtype == np.float32 and rel_err(y, ref) <= 2e-6


# --- real images (scikit-image), CPU path -------------------------------------------------

def _gaussian(sigma=3.0, radius=9):
    t = np.arange(-radius, radius + 1)
    g = np.exp(-t**2 / (2 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float64)


def _skimage_data():
    return pytest.importorskip("skimage.data", reason="scikit-image is not installed "
                                                      "(pip install scikit-image)")


def test_real_image_fft2_camera_and_astronaut():
    skimage_data = _skimage_data()
    cam = skimage_data.camera().astype(np.float32) / 255
    err = {}
    for p in ("split16", "fp32", "fp16"):
        err[p] = rel_err(bff.fft2(cam, precision=p), np.fft.fft2(cam.astype(np.float64)))
    assert err["split16"] <= 1e-6 and err["split16"] <= 3 * err["fp32"], err
    assert err["fp16"] >= 1000 * err["split16"], err
    ast = skimage_data.astronaut().astype(np.float32) / 255        # (512, 512, 3)
    y = bff.rfft2(ast, axes=(0, 1))
    assert rel_err(y, np.fft.rfft2(ast.astype(np.float64), axes=(0, 1))) <= 1e-6


@pytest.mark.parametrize("kernel", ["gaussian", "sobel"])
def test_real_image_fft_convolution(kernel):
    skimage_data = _skimage_data()
    cam = skimage_data.camera().astype(np.float32) / 255
    k = _gaussian() if kernel == "gaussian" else SOBEL
    ref = scipy.signal.fftconvolve(cam.astype(np.float64), k, mode="same")
    err = {p: rel_err(bff.fftconvolve(cam, k.astype(np.float32), mode="same", precision=p),
                      ref) for p in ("split16", "fp32")}
    assert err["split16"] <= 1e-6 and err["split16"] <= 3 * err["fp32"], err


# --- mixed precisions: both inputs go to their common type first (issue 13, defect 5) -------

# SciPy's result type: integers and bool convolve in float64, float16 in float32 (scipy.fft's
# working types), then the usual promotion; complex if either input is.
MIXED = [  # (dtype1, dtype2, result dtype)
    (np.complex64, np.float64, np.complex128),
    (np.float64, np.complex64, np.complex128),
    (np.complex64, np.uint8, np.complex128),
    (np.int16, np.complex64, np.complex128),
    (np.float32, np.int8, np.float64),
    (np.float32, np.bool_, np.float64),
    (np.float16, np.int8, np.float64),
    (np.float16, np.float16, np.float32),
    (np.float16, np.complex64, np.complex64),
    (np.float32, np.complex128, np.complex128),
    (np.int32, np.uint8, np.float64),
    (np.bool_, np.bool_, np.float64),
]


def _mixed_input(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(1, 100, shape).astype(dtype)
    x = rng.uniform(-1, 1, shape)
    if dtype.kind == "c":
        x = x + 1j * rng.uniform(-1, 1, shape)
    return x.astype(dtype)


@pytest.mark.parametrize("d1,d2,dres", MIXED, ids=lambda d: np.dtype(d).name)
def test_fftconvolve_mixed_dtypes_run_in_the_common_type(xp, rng, d1, d2, dres):
    # Defect 5: complex64 with float64 came back complex128 with single-precision accuracy
    # (the complex64 input was transformed in FP32), complex64 with uint8 raised a
    # "precision='split16'" error though no precision was passed.
    a, b = _mixed_input(rng, (3, 37), d1), _mixed_input(rng, (3, 12), d2)
    a0, b0 = a.copy(), b.copy()
    y = bff.fftconvolve(xp.asarray(a), xp.asarray(b), axes=-1)
    ref = scipy.signal.fftconvolve(a.astype(np.complex128), b.astype(np.complex128), axes=-1)
    assert y.dtype == dres == scipy.signal.fftconvolve(a, b, axes=-1).dtype
    assert y.shape == ref.shape
    np.testing.assert_array_equal(a, a0)
    np.testing.assert_array_equal(b, b0)
    if np.dtype(dres) in (np.dtype(np.float64), np.dtype(np.complex128)):
        # FP64 throughout: three transforms of length m <= 64, 5 u64 (log2 m + 1) each, and
        # the pointwise product; twice that, since the reference has as much error
        bound = 2 * (3 * 5 * U64 * (np.log2(64) + 1) + 2 * U64)
    else:
        bound = conv_bound("split16", [pow2(48)], real=np.dtype(dres).kind != "c")
    assert rel_err(y, ref) <= bound


def test_fftconvolve_mixed_precision_message_names_the_common_type(xp):
    with pytest.raises(ValueError, match=r"fftconvolve: precision='split16' .* complex128"):
        bff.fftconvolve(xp.ones(4, np.complex64), xp.ones(3, np.uint8), precision="split16")
