"""Differential tests of :mod:`blasfast.fft` against ``numpy.fft`` and
``scipy.signal.fftconvolve`` in float64, on random cases drawn by hypothesis.

Every transform family (1-D complex ``fft``/``ifft``, N-D complex ``fftn``/``ifftn``/
``fft2``/``ifft2``, real-to-complex ``rfft``/``rfftn``/``rfft2``, complex-to-real
``irfft``/``irfftn``/``irfft2``) and ``fftconvolve`` run on random shapes (1 to 3 dimensions,
size-1 and size-0 axes, odd, prime and power-of-two lengths), ``n``/``s`` that pad or crop
(and the None / -1 entries that keep a length), ``axis``/``axes`` in any order and sign,
C and Fortran order, strided and negative-stride views, every accepted dtype (float16,
float32, complex64 single precision; float64, complex128, int32, uint8, bool FP64), every
``norm`` and every ``precision`` the dtype allows. Each case checks

* the result's kind (a new array of the input's array module), dtype (complex64/float32 for
  single-precision input, complex128/float64 otherwise) and shape (NumPy's rules);
* that the input is unmodified;
* the normwise error ``||y - y_ref|| / ||y_ref||`` against the float64 reference of the same
  input values, below the bound of its precision.

Bounds (``u``: unit roundoff, 2**-24 FP32, 2**-53 FP64; per transformed axis of length
``n``, summed over the axes, plus ``3 u`` for the ``norm`` scaling and the casts):

* library FFT ('fp32' = scipy.fft / cuFFT in FP32; FP64 input): ``5 u (log2 n + 1)``, the
  classic ``O(u log2 n)`` normwise bound of a Cooley-Tukey FFT with a few-ulp twiddles;
* 'split16' (near FP32): ``(L + 1) * 2**-20``, ``L`` the error *levels* of the transform
  (one per radix-4 stage, ``ceil(log2(n) / 2)``, plus one per four-step twiddle above 4096,
  plus two for the packed real transforms; Bluestein lengths ``2 L(m) + 3`` with ``m`` the
  power of two >= 2n - 1; see ``tests/test_fft.py``) and ``2**-20 = 16 u32`` per level
  (the split represents each input to 2**-22, then FP32 recombination and twiddles): about
  ``8 u32 log2 n``, FP32 order;
* 'fp16': ``(L + 1) * 2**-10`` (the high half alone, 11 bits, per level);
* precision None: 'split16' on power-of-two axes, 'fp32' on the others, each by its bound.

``fftconvolve`` is three transforms of the padded shape (power-of-two for the tensor-core
routes, ``scipy.fft.next_fast_len`` for the library) and one pointwise product, so its error
is at most ``3 * (sum of the per-axis bounds) + 3 u`` relative to ``||in1|| ||in2||``, the
natural scale of an FFT convolution's error: we assert ``err <= bound * max(1, g)`` with the
growth ``g = ||in1|| ||in2|| / ||y_ref||`` (about 1 in 'full' mode on random data, larger
when 'valid' or 'same' keeps a small part).

NumPy gets three times the hypothesis profile's examples per test (180 in CI), the emulator
(the GPU path with our CUDA kernels run on the CPU) twice (120) and smaller sizes. The number
of cases run per op is written to the terminal at the end of the module.
"""

import collections
import math

import numpy as np
import pytest
import scipy.fft
import scipy.signal

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import blasfast.fft as bff  # noqa: E402
from conftest import is_emulator, to_numpy  # noqa: E402
from test_fft import ETA, U32, U64, levels  # noqa: E402

SINGLE = ("float16", "float32", "complex64")
C2C_DTYPES = ["float32", "complex64", "float64", "complex128", "float16", "int32", "uint8",
              "bool"]
R2C_DTYPES = ["float32", "float64", "float16", "int32", "uint8", "bool"]
C2R_DTYPES = ["complex64", "complex128", "float32", "float64", "int32"]
CONV_DTYPES = ["float32", "complex64", "float64", "complex128", "float16", "int32", "uint8",
               "bool"]
NORMS = [None, "backward", "ortho", "forward"]
LAYOUTS = ["C", "F", "strided", "negative"]
# odd, prime, power-of-two and 1; the emulator's list is shorter
LENGTHS = [1, 2, 3, 4, 5, 7, 8, 11, 12, 13, 16, 17, 31, 32, 64, 100, 127, 256, 1024, 4096,
           8192]
LENGTHS_EMU = [1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 32, 64, 128, 256, 512, 1024, 2048, 4096]
MAX_SIZE, MAX_SIZE_EMU = 8192, 4096

COUNTS = collections.Counter()
WORST = collections.defaultdict(float)   # (path, op, precision) -> max error / bound


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
    yield
    if not COUNTS:
        return
    plugins = request.config.pluginmanager
    tr, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    lines = [f"  {path:9s} {op:12s} {n:5d}" for (path, op), n in sorted(COUNTS.items())]
    worst = [f"  {path:9s} {op:12s} {prec!s:8s} {r:.3f}"
             for (path, op, prec), r in sorted(WORST.items(), key=str)]
    text = ("\ndifferential FFT cases run (path, op, cases):\n" + "\n".join(lines)
            + "\nlargest error / bound (path, op, precision):\n" + "\n".join(worst))
    if tr is None or capture is None:  # pragma: no cover
        print(text)
        return
    with capture.global_and_fixture_disabled():
        tr.write_line(text)


def _path(xp):
    return "emulator" if is_emulator(xp) else ("numpy" if xp is np else "cupy")


def _examples(xp):
    """Three times the profile's number of examples on NumPy (180 with CI's profile), twice
    on a device (120): the emulator runs the kernels on the CPU, more slowly."""
    n = settings().max_examples
    return 3 * n if xp is np else 2 * n


def _run(xp, strategy, check):
    """Run ``check(xp, case)`` on ``strategy``'s cases, sized for ``xp``."""

    @settings(max_examples=_examples(xp), deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture,
                                     HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=strategy(small=xp is not np))
    def run(case):
        check(xp, case)

    run()


# --- inputs ---------------------------------------------------------------------------------

def _values(rng, shape, dtype):
    """Fresh random values of ``dtype`` (never all zero: integers in [1, 9] with signs where
    the type has them, bool with at least one True)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        x = rng.random(shape) < 0.5
        if x.size:
            x.flat[0] = True
        return x
    if dtype.kind in "iu":
        x = rng.integers(1, 10, shape)
        if dtype.kind == "i":
            x = x * rng.choice([-1, 1], shape)
        return x.astype(dtype)
    x = rng.uniform(-1, 1, shape)
    if dtype.kind == "c":
        x = x + 1j * rng.uniform(-1, 1, shape)
    return x.astype(dtype)


def _make_input(xp, rng, shape, dtype, layout):
    """An array of ``shape`` on ``xp`` in ``layout``: C order, Fortran order (the transpose
    of a C array), every other element of a larger array along the last axis, or reversed
    along the first axis (a negative stride)."""
    shape = tuple(shape)
    if layout == "F":
        return xp.asarray(_values(rng, shape[::-1], dtype)).T
    if layout == "strided":
        base = _values(rng, shape[:-1] + (2 * shape[-1],), dtype)
        return xp.asarray(base)[..., ::2]
    if layout == "negative":
        return xp.asarray(_values(rng, shape, dtype))[::-1]
    return xp.asarray(_values(rng, shape, dtype))


# --- bounds ---------------------------------------------------------------------------------

def _routes(precision, single, lengths):
    """The arithmetic of each transformed axis (mirrors blasfast.fft's documented rule)."""
    if not single:
        return ["fp64"] * len(lengths)
    if precision is None:
        return ["split16" if n & (n - 1) == 0 else "fp32" for n in lengths]
    return [precision] * len(lengths)


def _axis_bound(route, n, real=False):
    if route in ETA:
        return (levels(n, real) + 1) * ETA[route]
    u = U64 if route == "fp64" else U32
    return 5 * u * (math.log2(max(n, 2)) + 1)


def transform_bound(precision, single, lengths, real_last=False):
    """Normwise bound of a transform with ``lengths`` along its axes (module notes)."""
    routes = _routes(precision, single, lengths)
    u = U32 if single else U64
    return 3 * u + sum(_axis_bound(r, n, real_last and i == len(lengths) - 1)
                       for i, (r, n) in enumerate(zip(routes, lengths)))


def rel_err(y, ref):
    y = to_numpy(y).astype(np.complex128).ravel()
    ref = np.asarray(ref, np.complex128).ravel()
    scale = np.linalg.norm(ref)
    return np.linalg.norm(y - ref) / scale if scale else np.linalg.norm(y)


def _record(xp, op, precision, dtype, ratio):
    key = (_path(xp), op, precision or ("None/fp32" if dtype in SINGLE else "None/fp64"))
    WORST[key] = max(WORST[key], ratio)
    COUNTS[_path(xp), op] += 1


def _check_result(xp, x, x0, y, ref, dtype_expected, bound, case):
    assert type(y) is type(x), case
    assert y.dtype == dtype_expected, (case, y.dtype, dtype_expected)
    assert y.shape == ref.shape, (case, y.shape, ref.shape)
    np.testing.assert_array_equal(to_numpy(x), x0, err_msg=f"input modified: {case}")
    if xp is np:
        assert not np.shares_memory(y, x), case
    err = rel_err(y, ref)
    assert err <= bound, (case, err, bound)
    _record(xp, case["f"], case["precision"], case["dtype"], err / bound)


# --- strategies -----------------------------------------------------------------------------

def _precisions(dtype):
    return [None, "split16", "fp32", "fp16"] if dtype in SINGLE else [None, "fp64"]


@st.composite
def _shape(draw, small, min_ndim=1, max_ndim=3, zero=True):
    lengths = LENGTHS_EMU if small else LENGTHS
    ndim = draw(st.integers(min_ndim, max_ndim))
    cap = MAX_SIZE_EMU if small else MAX_SIZE
    shape = []
    for _ in range(ndim):
        rest = max(1, cap // max(1, math.prod(shape)))
        shape.append(draw(st.sampled_from([n for n in lengths if n <= rest] or [1])))
    if zero and draw(st.integers(0, 9)) == 0:      # now and then a 0-size axis
        shape[draw(st.integers(0, ndim - 1))] = 0
    return tuple(shape)


def _length(draw, m, small):
    """A transform length around ``m``: crop, pad, prime or a power of two."""
    hi = 2 * max(m, 1) + 3 if not small else max(m, 1) + 4
    return draw(st.one_of(st.integers(1, hi), st.sampled_from([1, 2, 3, 7, 8, 16])))


@st.composite
def one_d_cases(draw, small, funcs):
    f = draw(st.sampled_from(funcs))
    dtypes = {"rfft": R2C_DTYPES, "irfft": C2R_DTYPES}.get(f, C2C_DTYPES)
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(_shape(small))
    ndim = len(shape)
    axis = draw(st.integers(-ndim, ndim - 1))
    m = shape[axis]
    # n: None keeps the length (2*(m - 1) for irfft), needs one >= 1 (else a bad input)
    keep_ok = m >= (2 if f == "irfft" else 1)
    n = None if keep_ok and draw(st.booleans()) else _length(draw, m, small)
    return dict(f=f, dtype=dtype, shape=shape, layout=draw(st.sampled_from(LAYOUTS)),
                n=n, axis=axis, norm=draw(st.sampled_from(NORMS)),
                precision=draw(st.sampled_from(_precisions(dtype))),
                seed=draw(st.integers(0, 2**32 - 1)))


@st.composite
def nd_cases(draw, small, funcs):
    f = draw(st.sampled_from(funcs))
    real = {"rfftn": "r2c", "rfft2": "r2c", "irfftn": "c2r", "irfft2": "c2r"}.get(f)
    dtype = draw(st.sampled_from({"r2c": R2C_DTYPES, "c2r": C2R_DTYPES}.get(real,
                                                                            C2C_DTYPES)))
    two_d = f.endswith("2")
    shape = draw(_shape(small, min_ndim=2 if two_d else 1))
    ndim = len(shape)
    # axes: None (the default), or a choice in any order, each index maybe negative
    if draw(st.booleans()):
        axes = None
    else:
        k = 2 if two_d else draw(st.integers(1, ndim))
        axes = draw(st.permutations(range(ndim)))[:k]
        if f in ("fftn", "ifftn") and draw(st.integers(0, 5)) == 0:
            axes = axes + [axes[0]]              # a repeated axis runs twice, as in NumPy
        axes = [a - ndim if draw(st.booleans()) else a for a in axes]
    default = ([-2, -1] if two_d else list(range(ndim))) if axes is None else axes
    # s: None, or a length per axis (crop, pad, keep with None or -1)
    if draw(st.booleans()):
        s = None
    else:
        s = []
        for a in default:
            keep = draw(st.sampled_from([None, -1, "n", "n"]))
            s.append(_length(draw, shape[a], small) if keep == "n" else keep)
        if axes is None and not two_d and draw(st.booleans()) and len(s) > 1:
            s = s[1:]                            # s alone: the last len(s) axes
    lens, resolved = _resolve(shape, s, axes, real, two_d)
    if min(lens) < 1:       # a length-0 axis kept (a bad input): give every axis a length
        s = [n if n >= 1 else _length(draw, 0, small) for n in lens]
        axes = resolved
    return dict(f=f, dtype=dtype, shape=shape, layout=draw(st.sampled_from(LAYOUTS)),
                s=s, axes=axes, norm=draw(st.sampled_from(NORMS)),
                precision=draw(st.sampled_from(_precisions(dtype))),
                seed=draw(st.integers(0, 2**32 - 1)), real=real)


def _resolve(shape, s, axes, real, two_d):
    """NumPy's explicit ``(s, axes)`` for a blasfast call (None / -1 entries resolved)."""
    ndim = len(shape)
    if axes is None:
        axes = [-2, -1] if two_d else list(range(ndim - (ndim if s is None else len(s)),
                                                 ndim))
    axes = [a % ndim for a in axes]
    s = [None] * len(axes) if s is None else list(s)
    out = []
    for i, (a, n) in enumerate(zip(axes, s)):
        if n is None or n == -1:
            n = 2 * (shape[a] - 1) if real == "c2r" and i == len(axes) - 1 else shape[a]
        out.append(n)
    return out, axes


# --- the checks -----------------------------------------------------------------------------

def _expected_dtype(dtype, real_out):
    single = dtype in SINGLE
    if real_out:
        return np.dtype(np.float32 if single else np.float64)
    return np.dtype(np.complex64 if single else np.complex128)


def check_one_d(xp, case):
    f, dtype, shape = case["f"], case["dtype"], case["shape"]
    rng = np.random.default_rng(case["seed"])
    x = _make_input(xp, rng, shape, dtype, case["layout"])
    x0 = to_numpy(x).copy()
    y = getattr(bff, f)(x, n=case["n"], axis=case["axis"], norm=case["norm"],
                        precision=case["precision"])
    ref_in = x0.astype(np.float64 if f == "rfft" else np.complex128)
    ref = getattr(np.fft, f)(ref_in, n=case["n"], axis=case["axis"], norm=case["norm"])
    m = shape[case["axis"]]
    n = case["n"] if case["n"] is not None else (2 * (m - 1) if f == "irfft" else m)
    bound = transform_bound(case["precision"], dtype in SINGLE, [n],
                            real_last=f in ("rfft", "irfft"))
    _check_result(xp, x, x0, y, ref, _expected_dtype(dtype, f == "irfft"), bound, case)


def check_nd(xp, case):
    f, dtype, shape = case["f"], case["dtype"], case["shape"]
    rng = np.random.default_rng(case["seed"])
    x = _make_input(xp, rng, shape, dtype, case["layout"])
    x0 = to_numpy(x).copy()
    kw = {k: case[k] for k in ("s", "axes") if case[k] is not None}
    y = getattr(bff, f)(x, norm=case["norm"], precision=case["precision"], **kw)
    lens, axes = _resolve(shape, case["s"], case["axes"], case["real"], f.endswith("2"))
    ref_in = x0.astype(np.float64 if case["real"] == "r2c" else np.complex128)
    ref = getattr(np.fft, f.replace("2", "n"))(ref_in, s=lens, axes=axes, norm=case["norm"])
    bound = transform_bound(case["precision"], dtype in SINGLE, lens,
                            real_last=case["real"] is not None)
    _check_result(xp, x, x0, y, ref, _expected_dtype(dtype, case["real"] == "c2r"), bound,
                  case)


@pytest.mark.parametrize("func", ["fft", "ifft", "rfft", "irfft"])
def test_one_d_transforms_match_numpy(xp, func):
    _run(xp, lambda small: one_d_cases(small, [func]), check_one_d)


@pytest.mark.parametrize("func", ["fftn", "ifftn", "fft2", "ifft2", "rfftn", "rfft2", "irfftn",
                                  "irfft2"])
def test_nd_transforms_match_numpy(xp, func):
    _run(xp, lambda small: nd_cases(small, [func]), check_nd)


# --- fftconvolve ----------------------------------------------------------------------------

def _conv_dtype(d1, d2):
    """blasfast's (and SciPy's) result type: see fftconvolve's Returns."""
    single = d1 in SINGLE and d2 in SINGLE
    complex_ = np.dtype(d1).kind == "c" or np.dtype(d2).kind == "c"
    return np.dtype({(True, True): np.complex64, (True, False): np.float32,
                     (False, True): np.complex128, (False, False): np.float64}[
        (single, complex_)])


@st.composite
def conv_cases(draw, small):
    d1, d2 = draw(st.sampled_from(CONV_DTYPES)), draw(st.sampled_from(CONV_DTYPES))
    common = _conv_dtype(d1, d2)
    ndim = draw(st.integers(1, 2 if small else 3))
    axes = None if draw(st.booleans()) else draw(st.one_of(
        st.integers(-ndim, ndim - 1),
        st.permutations(range(ndim)).flatmap(
            lambda p: st.integers(1, ndim).map(lambda k: list(p[:k])))))
    conv_axes = range(ndim) if axes is None else \
        [a % ndim for a in np.atleast_1d(axes).tolist()]
    mode = draw(st.sampled_from(["full", "same", "valid"]))
    lengths = LENGTHS_EMU if small else LENGTHS
    cap = (16, 8)[ndim - 1] if small else (100, 40, 12)[ndim - 1]
    s1, s2 = [], []
    for a in range(ndim):
        n1 = draw(st.sampled_from([n for n in lengths if n <= cap] + [cap - 1]))
        if a in conv_axes:
            n2 = draw(st.sampled_from([n for n in lengths if n <= cap] + [cap - 1]))
        else:                                    # equal or 1 along the other axes
            n2 = draw(st.sampled_from([n1, 1]))
            if draw(st.booleans()):
                n1, n2 = n2, n1
        s1.append(n1)
        s2.append(n2)
    if mode == "valid":                          # one input at least the other's size
        big = draw(st.booleans())
        for a in conv_axes:
            lo, hi = sorted((s1[a], s2[a]))
            s1[a], s2[a] = (hi, lo) if big else (lo, hi)
    if draw(st.integers(0, 14)) == 0:
        s1[draw(st.integers(0, ndim - 1))] = 0   # an empty input
    precisions = [None, "split16", "fp32", "fp16"] if common in (
        np.dtype(np.float32), np.dtype(np.complex64)) else [None, "fp64"]
    return dict(d1=d1, d2=d2, s1=tuple(s1), s2=tuple(s2), axes=axes, mode=mode,
                precision=draw(st.sampled_from(precisions)),
                layouts=(draw(st.sampled_from(LAYOUTS)), draw(st.sampled_from(LAYOUTS))),
                seed=draw(st.integers(0, 2**32 - 1)))


def check_conv(xp, case):
    rng = np.random.default_rng(case["seed"])
    x1 = _make_input(xp, rng, case["s1"], case["d1"], case["layouts"][0])
    x2 = _make_input(xp, rng, case["s2"], case["d2"], case["layouts"][1])
    h1, h2 = to_numpy(x1).copy(), to_numpy(x2).copy()
    y = bff.fftconvolve(x1, x2, case["mode"], case["axes"], precision=case["precision"])
    common = _conv_dtype(case["d1"], case["d2"])
    assert type(y) is type(x1) and y.dtype == common, (case, y.dtype)
    np.testing.assert_array_equal(to_numpy(x1), h1)
    np.testing.assert_array_equal(to_numpy(x2), h2)
    if h1.size == 0 or h2.size == 0:             # SciPy: an empty 1-D array (float64)
        assert y.shape == (0,), case
        COUNTS[_path(xp), "fftconvolve"] += 1
        return
    ref_type = np.complex128 if common.kind == "c" else np.float64
    ref = scipy.signal.fftconvolve(h1.astype(ref_type), h2.astype(ref_type), case["mode"],
                                   case["axes"])
    assert y.shape == ref.shape, (case, y.shape, ref.shape)
    ndim = len(case["s1"])
    conv_axes = range(ndim) if case["axes"] is None else \
        [a % ndim for a in np.atleast_1d(case["axes"]).tolist()]
    axes = [a for a in conv_axes if case["s1"][a] != 1 and case["s2"][a] != 1]
    if axes:        # SciPy's dtype is ours wherever a transform runs (not in the pure
        #             broadcast product, where SciPy returns NumPy's product type)
        assert scipy.signal.fftconvolve(h1, h2, case["mode"], case["axes"]).dtype == common
    single = common in (np.dtype(np.float32), np.dtype(np.complex64))
    route = _routes(case["precision"], single, [2])[0]
    real = common.kind != "c"
    full = [case["s1"][a] + case["s2"][a] - 1 for a in axes]
    if route in ETA:
        fshape = [1 << (n - 1).bit_length() for n in full]
    else:
        fshape = [scipy.fft.next_fast_len(n, real) for n in full]
    u = U32 if single else U64
    eps = 3 * u + 3 * sum(_axis_bound(route, n, real and i == len(fshape) - 1)
                          for i, n in enumerate(fshape))
    # ||y - y_ref|| <= eps * max(||y_ref||, ||in1|| ||in2||): err <= eps * max(1, growth) in
    # relative terms, and defined when y_ref is exactly 0 (integers can cancel)
    scale = max(np.linalg.norm(ref), np.linalg.norm(h1.astype(ref_type))
                * np.linalg.norm(h2.astype(ref_type)))
    err = np.linalg.norm((to_numpy(y).astype(np.complex128) - ref).ravel())
    assert err <= eps * scale, (case, err / scale, eps, scale / np.linalg.norm(ref))
    _record(xp, "fftconvolve", case["precision"], common.name, err / (eps * scale))


def test_fftconvolve_matches_scipy(xp):
    _run(xp, conv_cases, check_conv)
