"""Dask arrays in, Dask arrays out (``blasfast._dask``): each op on a chunked Dask array is
a lazy Dask array, computed blockwise over the batch dimensions, equal to the eager op on
the computed arrays; nothing is computed at call time; bad arguments fail at graph build."""

import subprocess
import sys

import numpy as np
import pytest

import blasfast as bf
from conftest import to_numpy

da = pytest.importorskip("dask.array", reason="Dask is not installed (pip install "
                                              "'blasfast[dask]')")
dask = pytest.importorskip("dask")


def _rel(x, ref):
    return np.linalg.norm(np.asarray(x, np.complex128) - ref) / np.linalg.norm(ref)


def _check(lazy, eager, bound):
    """``lazy`` is a Dask array whose metadata (shape, dtype) is the eager result's and
    whose computed value is within ``bound`` (relative, by norm) of it."""
    assert isinstance(lazy, da.Array)
    assert lazy.shape == eager.shape and lazy.dtype == eager.dtype
    got = lazy.compute(scheduler="sync")
    assert got.shape == eager.shape and got.dtype == eager.dtype
    assert type(got) is type(eager)
    assert _rel(got, np.asarray(eager, np.complex128)) <= bound
    return got


def _exploding(shape, dtype, chunks):
    """A Dask array whose every block raises when computed: an op that computes anything
    at graph build fails."""
    def boom(block):
        raise AssertionError("a block was computed at graph build")

    return da.zeros(shape, dtype=dtype, chunks=chunks).map_blocks(boom, dtype=dtype)


# Unit roundoffs; the blocks run the same op on the same matrices as the eager call, so
# results agree to a few roundings of the accumulation (measured: exactly, on NumPy).
U64, U32 = 2.0 ** -53, 2.0 ** -24


def test_batched_gemm_blockwise_with_broadcast_batch(rng):
    a = rng.standard_normal((6, 1, 5, 4))
    b = rng.standard_normal((3, 4, 7))
    c = rng.standard_normal(7)
    # 3 chunks along the first batch dimension, K split in two chunks (rechunked)
    A, B = da.from_array(a, chunks=(2, 1, 3, 2)), da.from_array(b, chunks=(2, 2, 7))
    r = bf.batched_gemm(A, B, c, alpha=0.5, beta=2.0)
    assert r.chunks[:2] == ((2, 2, 2), (2, 1))  # batch chunks kept; M, N one chunk each
    assert r.chunks[2:] == ((5,), (7,))
    _check(r, bf.batched_gemm(a, b, c, alpha=0.5, beta=2.0), 8 * 4 * U64)
    assert r.numblocks == (3, 2, 1, 1)


def test_batched_gemm_transposes_and_half_precision(rng):
    a = rng.standard_normal((8, 4, 3)).astype(np.float16)
    b = rng.standard_normal((8, 5, 4)).astype(np.float16)
    r = bf.batched_gemm(da.from_array(a, chunks=(3, 4, 3)), da.from_array(b, chunks=4),
                        trans_a=True, trans_b=True)
    eager = bf.batched_gemm(a, b, trans_a=True, trans_b=True)
    assert eager.dtype == np.float32  # batched_gemm's table, kept by the Dask form
    _check(r, eager, 8 * 4 * U32)


@pytest.mark.parametrize("shapes", [((6, 3, 4), (4, 5)), ((6, 3, 4), (4,)), ((4,), (6, 4, 5)),
                                    ((4,), (4,)), ((2, 1, 3, 4), (5, 4, 2))])
def test_matmul_shapes(rng, shapes):
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    A = da.from_array(a, chunks=tuple(max(1, n // 2) for n in a.shape))
    eager = np.asarray(bf.matmul(a, b))
    r = bf.matmul(A, b)
    assert r.shape == eager.shape
    _check(r, eager, 8 * 4 * U32)


def test_matmul_follows_numpy_dtypes(rng):
    a = rng.standard_normal((4, 3, 3)).astype(np.float16)
    b = rng.standard_normal((3, 2))
    r = bf.matmul(da.from_array(a, chunks=(1, 3, 3)), b)  # float16 @ float64 -> float64
    assert r.dtype == np.float64
    _check(r, bf.matmul(a, b), 8 * 3 * U64)
    i = rng.integers(-5, 5, (4, 3, 3))
    r = bf.matmul(da.from_array(i, chunks=(2, 3, 3)), i)  # the library's matmul
    assert r.dtype == i.dtype
    np.testing.assert_array_equal(r.compute(), i @ i)


def test_conv2d_over_n(rng):
    x = rng.standard_normal((5, 3, 10, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    X = da.from_array(x, chunks=(2, 1, 5, 9))  # C and H chunked: rechunked
    r = bf.conv2d(X, da.from_array(w, chunks=(2, 3, 3, 3)), bias, padding=1, stride=(1, 2))
    assert r.chunks[0] == (2, 2, 1) and r.numblocks == (3, 1, 1, 1)
    _check(r, bf.conv2d(x, w, bias, padding=1, stride=(1, 2)), 30 * 27 * U32)


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=lambda d: np.dtype(d).name)
def test_conv2d_gradients_over_n(rng, dtype):
    """dgrad is blockwise over N; wgrad sums the blocks' filter gradients (16-bit blocks
    in float32, the sum rounded once, as the eager op's FP32 accumulation)."""
    x = rng.standard_normal((5, 3, 10, 9)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    dy = rng.standard_normal((5, 4, 10, 9)).astype(dtype)
    X, DY = da.from_array(x, chunks=(2, 1, 5, 9)), da.from_array(dy, chunks=(2, 4, 10, 9))
    r = bf.conv2d_dgrad(DY, w, x.shape, padding=1)
    assert r.chunks[0] == (2, 2, 1) and r.numblocks == (3, 1, 1, 1)
    u = 2.0 ** -11 if dtype == np.float16 else U32
    # each dx is a sum of K R S = 36 products: the eager op's bound, the same blocks
    _check(r, bf.conv2d_dgrad(dy, w, x.shape, padding=1), 40 * u)
    r = bf.conv2d_wgrad(X, DY, w.shape, padding=1)
    eager = bf.conv2d_wgrad(x, dy, w.shape, padding=1)
    # sums over N P Q = 450 terms, in float32 (both ways), then one rounding to dtype
    _check(r, eager, 2 * 450 * U32 + 2 * u)
    wgrad64 = bf.conv2d_wgrad(x.astype(np.float64), dy.astype(np.float64), w.shape, padding=1)
    assert _rel(r.compute(), wgrad64) <= 450 * U32 + u
    W = da.from_array(w, chunks=(2, 3, 3, 3))
    r = bf.winograd_filter_transform(W)
    assert r.chunks == ((4,), (4,), (2, 2), (3,))
    _check(r, bf.winograd_filter_transform(w), 0.0)  # the same blocks, the same numbers


def test_convolutions_with_empty_and_unknown_chunks(rng):
    """A boolean mask can leave an N chunk empty (the eager op refuses N = 0: such blocks
    give empty or zero results) or sizes unknown (refused at graph build, with the fix)."""
    x = rng.standard_normal((5, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((5, 3, 6, 6)).astype(np.float32)
    keep = np.array([True, True, False, False, True])
    X = da.from_array(x, chunks=(2, 2, 6, 6))[da.from_array(keep, chunks=2)]
    DY = da.from_array(dy, chunks=(2, 3, 6, 6))[da.from_array(keep, chunks=2)]
    for name, call in [("conv2d", lambda X, DY: bf.conv2d(X, w, padding=1)),
                       ("conv2d_dgrad", lambda X, DY: bf.conv2d_dgrad(DY, w, X.shape,
                                                                      padding=1)),
                       ("conv2d_wgrad", lambda X, DY: bf.conv2d_wgrad(X, DY, w.shape,
                                                                      padding=1))]:
        with pytest.raises(ValueError, match=rf"{name}: \w+ must have known chunk sizes.*"
                                             r"compute_chunk_sizes"):
            call(X, DY)
    X.compute_chunk_sizes()
    DY.compute_chunk_sizes()
    assert X.chunks[0] == (2, 0, 1)
    xs, dys = x[keep], dy[keep]
    _check(bf.conv2d(X, w, padding=1), bf.conv2d(xs, w, padding=1), 0.0)
    _check(bf.conv2d_dgrad(DY, w, X.shape, padding=1),
           bf.conv2d_dgrad(dys, w, xs.shape, padding=1), 0.0)
    _check(bf.conv2d_wgrad(X, DY, w.shape, padding=1),
           bf.conv2d_wgrad(xs, dys, w.shape, padding=1), 2 * 108 * U32)  # N P Q = 108


@pytest.mark.parametrize("call", [
    lambda x: bf.batched_gemm([x[0]], [x[1]]),  # the pointer-array (list) form
    lambda x: bf.batched_gemm([np.eye(3)], [np.eye(3)], out=[x[0]]),
    lambda x: bf.matmul([x[0], x[1]], np.eye(3)),
    lambda x: bf.fft.fft([x[0], x[1]]),
    lambda x: bf.nn.Sequential([bf.nn.Dense(3, 2, rng=0)]).predict(x[:, 0]),
])
def test_lists_of_dask_arrays_and_ops_without_a_dask_form_refuse_them(call):
    """NumPy would compute the whole of each into one array, silently."""
    x = _exploding((4, 3, 3), np.float64, (2, 3, 3))
    with pytest.raises(TypeError, match=r"^[\w.]+: Dask arrays are not supported"):
        call(x)


@pytest.mark.parametrize("call", [
    lambda x: bf.lu_factor(x),
    lambda x: bf.lu_solve(bf.lu_factor(np.eye(3)), x[0, :, 0]),
    lambda x: bf.gemm_vbatched([x[0]], [np.eye(3)]),
    lambda x: bf.BatchedGemm(x, x),
])
def test_ops_without_a_blockwise_form_refuse_dask_instead_of_computing_it(call):
    """Before, these computed the whole Dask array into one NumPy array, silently."""
    x = _exploding((4, 3, 3), np.float64, (2, 3, 3))
    with pytest.raises(TypeError, match=r"^\w+: Dask arrays are not supported .*compute "
                                        r"them first"):
        call(x)


@pytest.mark.parametrize("name, kwargs", [
    ("fft", {}), ("fft", {"n": 6, "axis": 1}), ("ifft", {"axis": 0}),
    ("rfft", {"axis": 0}), ("irfft", {}), ("irfft", {"n": 9, "axis": 1}),
    ("fft2", {}), ("ifft2", {"axes": (0, 2)}), ("rfft2", {"s": (12, 8)}),
    ("irfft2", {"s": (8, 8)}), ("fftn", {"s": (4, 10), "axes": (0, 2)}),
    ("ifftn", {}), ("rfftn", {"axes": (2, 0)}), ("irfftn", {"axes": (0, 1), "norm": "ortho"}),
])
def test_fft_over_other_axes(rng, name, kwargs):
    x = rng.standard_normal((4, 16, 8)).astype(np.float32)
    if name.startswith("i"):
        x = x + 1j * rng.standard_normal(x.shape).astype(np.float32)
    X = da.from_array(x, chunks=(2, 4, 4))  # every axis chunked: transformed ones rechunked
    fn = getattr(bf.fft, name)
    r = fn(X, **kwargs)
    eager = fn(x, **kwargs)
    got = _check(r, eager, 1e-6)
    axes = kwargs.get("axes", (kwargs["axis"],) if "axis" in kwargs else
                      ((-1,) if name in ("fft", "ifft", "rfft", "irfft") else
                       (0, 1, 2) if name.endswith("n") else (-2, -1)))
    for ax in range(3):  # untransformed axes keep their chunks, transformed ones are whole
        want = len(X.chunks[ax]) if ax not in {a % 3 for a in axes} else 1
        assert len(r.chunks[ax]) == want
    assert got.shape == eager.shape


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("axes", [None, (2, 3), (1, 3), 3])
def test_fftconvolve_over_other_axes(rng, mode, axes):
    s = rng.standard_normal((6, 8, 1, 9)).astype(np.float32)
    k = rng.standard_normal((1, 8, 3, 3)).astype(np.float32)  # broadcasts along axis 0
    r = bf.fft.fftconvolve(da.from_array(s, chunks=(4, 3, 1, 5)), k, mode=mode, axes=axes)
    _check(r, bf.fft.fftconvolve(s, k, mode=mode, axes=axes), 1e-6)


@pytest.mark.parametrize("vector", [True, False])
def test_solve_stacks(rng, vector):
    a = rng.standard_normal((7, 5, 5)) + 5 * np.eye(5)
    b = rng.standard_normal((7, 5) if vector else (1, 5, 2))
    r = bf.solve(da.from_array(a, chunks=(3, 2, 5)), b, factor="float32")
    assert r.chunks[0] == (3, 3, 1)
    _check(r, bf.solve(a, b, factor="float32"), 1e3 * U64)


def test_solve_carries_the_callers_errstate(rng):
    a = rng.standard_normal((4, 3, 3))
    a[2] = 0.0  # singular
    b = rng.standard_normal((4, 3))
    with bf.solvers.errstate(linalg="raise"):
        r = bf.solve(da.from_array(a, chunks=(2, 3, 3)), b)
    with pytest.raises(bf.LinAlgError):  # not the default 'auto' (a warning for stacks)
        r.compute(scheduler="threads")


@pytest.mark.parametrize("call", [
    lambda x: bf.batched_gemm(x, x),
    lambda x: bf.matmul(x, x),
    lambda x: bf.fft.fft2(x),
    lambda x: bf.fft.rfft(x, axis=0),
    lambda x: bf.fft.fftconvolve(x, x[:1], axes=(1, 2)),
    lambda x: bf.solve(x, x[..., 0]),
    lambda x: bf.conv2d(x[:, None], x[:2, None, :3, :3]),
    lambda x: bf.conv2d_dgrad(x[:, None, :2, :2], x[:1, None, :3, :3], (6, 1, 4, 4)),
    lambda x: bf.conv2d_wgrad(x[:, None], x[:, None, :2, :2], (1, 1, 3, 3)),
    lambda x: bf.winograd_filter_transform(x[:, None, :3, :3]),
])
def test_nothing_is_computed_at_call_time(call):
    x = _exploding((6, 4, 4), np.float32, (2, 4, 4))
    r = call(x)  # would raise if a block were computed
    assert isinstance(r, da.Array)
    with pytest.raises(AssertionError, match="computed at graph build"):
        r.compute(scheduler="sync")


def test_bad_arguments_fail_at_graph_build():
    x = da.ones((4, 3, 3), chunks=(2, 3, 3))
    with pytest.raises(TypeError, match="batched_gemm: .*b"):
        bf.batched_gemm(x, x.astype(np.float32))
    with pytest.raises(ValueError, match="batched_gemm: .*K"):
        bf.batched_gemm(x, da.ones((4, 2, 3)))
    with pytest.raises(ValueError, match="batched_gemm: batch dimensions do not broadcast"):
        bf.batched_gemm(x, da.ones((3, 3, 3)))
    with pytest.raises(ValueError, match="conv2d: .*channel"):
        bf.conv2d(da.ones((2, 3, 8, 8)), np.ones((4, 2, 3, 3)))
    with pytest.raises(ValueError, match="fft: .*norm"):
        bf.fft.fft(x, norm="bogus")
    with pytest.raises(ValueError, match="solve: .*square"):
        bf.solve(da.ones((4, 3, 2)), da.ones((4, 3)))


@pytest.mark.parametrize("call, name", [
    (lambda x: bf.batched_gemm(x, x, out=np.empty((4, 3, 3))), "out"),
    (lambda x: bf.matmul(x, x, np.empty((4, 3, 3))), "out"),
    (lambda x: bf.batched_gemm(x, x, stream=0), "stream"),
    (lambda x: bf.fft.fft(x, stream=0), "stream"),
    (lambda x: bf.conv2d(x[None], x[None, :, :1, :1], stream=0), "stream"),
    (lambda x: bf.solve(x, x, return_info=True), "return_info"),
    (lambda x: bf.solve(x, x, overwrite_b=True), "overwrite_b"),
    (lambda x: bf.solve(x, x, stream=0), "stream"),
    (lambda x: bf.conv2d_dgrad(x[None], x[None, :, :1, :1], (1, 3, 3, 3), stream=0), "stream"),
    (lambda x: bf.conv2d_wgrad(x[None], x[None], (4, 4, 1, 1), stream=0), "stream"),
    (lambda x: bf.winograd_filter_transform(x[None], stream=0), "stream"),
])
def test_refused_with_dask(call, name):
    x = da.ones((4, 3, 3), chunks=(2, 3, 3))
    with pytest.raises(ValueError, match=rf"^\w+: {name} must be .* with Dask arrays"):
        call(x)


def test_mixed_host_and_device_chunks_refused():
    pytest.importorskip("blasfast.emulator")
    from blasfast import emulator

    x = da.ones((4, 3, 3), chunks=(2, 3, 3))
    with pytest.raises(TypeError, match="batched_gemm: .*same side"):
        bf.batched_gemm(x, emulator.asarray(np.ones((3, 3))))


def test_no_dask_import_without_dask_arrays():
    code = ("import sys, numpy as np, blasfast as bf; x = np.ones((2, 3, 3));"
            "bf.batched_gemm(x, x); bf.matmul(x, x); bf.fft.fft(x); bf.solve(x, x);"
            "print('dask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_local_cluster(rng):
    distributed = pytest.importorskip("distributed")
    a = rng.standard_normal((8, 6, 5))
    b = rng.standard_normal((8, 5, 4))
    x = rng.standard_normal((6, 32)).astype(np.float32)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        g = bf.batched_gemm(da.from_array(a, chunks=(2, 6, 5)), da.from_array(b, chunks=2))
        f = bf.fft.fft(da.from_array(x, chunks=(2, 8)))
        got_g, got_f = client.compute([g, f], sync=True)
    assert _rel(got_g, bf.batched_gemm(a, b)) <= 8 * 5 * U64
    assert _rel(got_f, bf.fft.fft(x)) <= 1e-6


def _on_device(xp, x, chunks):
    """A Dask array of ``xp`` (device) chunks holding ``x``."""
    return da.from_array(x, chunks=chunks).map_blocks(
        xp.asarray, meta=xp.empty((0,) * x.ndim, x.dtype))


def _host(r, ndim, dtype):
    return r.map_blocks(to_numpy, meta=np.empty((0,) * ndim, dtype)).compute(scheduler="sync")


def test_device_chunks(dev, rng):
    a = rng.standard_normal((6, 4, 5)).astype(np.float32)
    b = rng.standard_normal((5, 3)).astype(np.float32)
    r = bf.batched_gemm(_on_device(dev, a, (2, 4, 5)), dev.asarray(b))
    assert isinstance(r, da.Array) and type(r._meta) is type(dev.empty(0))
    assert _rel(_host(r, 3, np.float32), a.astype(np.float64) @ b) <= 8 * 5 * U32
    x = rng.standard_normal((4, 64)).astype(np.float32)
    f = bf.fft.rfft(_on_device(dev, x, (1, 32)))
    assert f.dtype == np.complex64 and f.numblocks == (4, 1)
    assert _rel(_host(f, 2, np.complex64), np.fft.rfft(x.astype(np.float64))) <= 1e-6


def test_batched_gemm_c_whose_batch_does_not_broadcast_is_refused_as_eagerly(rng):
    """c's batch dimensions are checked against a's and b's at graph build, as the eager op
    checks them (found in review: a (3, 5, 7) c was broadcast into a batch of 1)."""
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 7))
    c = rng.standard_normal((3, 5, 7))
    with pytest.raises(ValueError, match="c of shape .* does not broadcast"):
        bf.batched_gemm(a, b, c, beta=1.0)
    with pytest.raises(ValueError, match="c of shape .* does not broadcast"):
        bf.batched_gemm(da.from_array(a), da.from_array(b), da.from_array(c), beta=1.0)
