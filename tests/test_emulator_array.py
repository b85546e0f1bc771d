"""The emulated device array (blasfast.emulator.ndarray) and the CuPy-like namespace."""

import gc
import operator
import pickle

import numpy as np
import pytest

import blasfast.emulator as em
from blasfast.emulator._array import ndarray


def _host(rng, shape, dtype=np.float32):
    if np.dtype(dtype).kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-50, 50, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------------ the array type
def test_not_a_host_array():
    x = em.zeros(3)
    assert not isinstance(x, np.ndarray)
    for name in ("__cuda_array_interface__", "__dlpack__", "__array_interface__"):
        assert not hasattr(x, name)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(x)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.array([x, x])
    assert "blasfast.emulator" in repr(x) and "array(" in repr(x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.int32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_round_trip(rng, dtype, order):
    h = np.asarray(_host(rng, (5, 7), dtype), order=order)
    x = em.asarray(h)
    assert type(x) is ndarray and x.dtype == dtype and x.shape == h.shape
    assert x.flags.f_contiguous == (order == "F")
    h[0, 0] = 99  # the device copy is independent of the host array
    back = em.asnumpy(x)
    assert type(back) is np.ndarray and back[0, 0] != 99
    np.testing.assert_array_equal(back[1:], h[1:])
    np.testing.assert_array_equal(x.get(order="F"), back)
    assert em.asarray(x) is x and em.asarray(x, dtype=dtype) is x
    wide = np.result_type(dtype, np.float64)
    assert em.asarray(x, dtype=wide).dtype == wide
    y = em.empty_like(x)
    y.set(back)
    np.testing.assert_array_equal(y.get(), back)
    with pytest.raises(TypeError):
        y.set(np.zeros(back.shape, np.int8))


def test_bfloat16_round_trip(rng):
    from blasfast._dtypes import bfloat16

    h = rng.standard_normal(6).astype(bfloat16)
    x = em.asarray(h)
    assert x.dtype == bfloat16 and x.data.ptr % 256 == 0
    np.testing.assert_array_equal(x.get().astype(np.float32), h.astype(np.float32))


@pytest.mark.parametrize("n", [0, 1, 3, 1000])
def test_fresh_allocations_are_256_aligned(rng, n):
    h = _host(rng, n)
    arrays = [em.empty(n, np.float32), em.zeros(n, np.int8), em.ones((n, 2)), em.asarray(h),
              em.full(n, 2.5), em.arange(n), em.asarray(h).copy(),
              em.asarray(h).astype(np.float64), ndarray((n,), np.float32)]
    for a in arrays:
        assert a.data.ptr % 256 == 0
        assert a.data.mem.size == a.nbytes  # no slack after the end


def test_empty_is_poisoned():
    assert np.isnan(em.empty((4, 3), np.float32).get()).all()
    assert (em.empty(5, np.int32).get() == -1).all()
    assert (em.empty_like(em.zeros(4, np.int64)).get() == -1).all()
    assert (em.zeros(4).get() == 0).all() and (em.ones(4, np.int32).get() == 1).all()
    f = em.full((2, 2), 7, dtype=np.float32)
    assert f.dtype == np.float32 and (f.get() == 7).all()


# ------------------------------------------------------------------- pointers and views
def test_offset_views_positive_strides(rng):
    h = _host(rng, (6, 8))
    x = em.asarray(h)
    sub = x[:4, :5]
    for off in (0, 1, 3, 8 + 2):
        v = ndarray(sub.shape, sub.dtype, sub.data + off * sub.itemsize, sub.strides)
        r, c = divmod(off, 8)
        np.testing.assert_array_equal(v.get(), h[r:r + 4, c:c + 5])
        assert v.data.ptr == x.data.ptr + off * 4
    v = ndarray(sub.shape, sub.dtype, sub.data + 2 * 4, sub.strides)
    v[0, 0] = -1.0  # a view: writes land in x
    assert x[0, 2].get() == -1.0


def test_offset_views_negative_and_zero_strides(rng):
    h = _host(rng, 10)
    x = em.asarray(h)
    rev = x[::-1]
    assert rev.data.ptr == x.data.ptr + 9 * 4  # element [0] of the view, as CuPy
    v = ndarray((5,), x.dtype, x.data + 6 * 4, (-4,))
    np.testing.assert_array_equal(v.get(), h[6:1:-1])
    z = ndarray((3, 4), x.dtype, x.data + 2 * 4, (0, 4))
    np.testing.assert_array_equal(z.get(), np.broadcast_to(h[2:6], (3, 4)))


def test_views_outside_the_buffer_raise():
    x = em.zeros(10, np.float32)
    with pytest.raises(ValueError):
        ndarray((10,), x.dtype, x.data + 4, x.strides)  # one past the end
    with pytest.raises(ValueError):
        ndarray((5,), x.dtype, x.data + 3 * 4, (-4,))  # before the start
    with pytest.raises(ValueError):
        ndarray((2,), x.dtype, x.data + (-4), (4,))
    with pytest.raises(ValueError):
        em.lib.stride_tricks.as_strided(x, (6,), (8,))
    s = em.lib.stride_tricks.as_strided(em.arange(10.0), (5,), (16,))
    np.testing.assert_array_equal(s.get(), np.arange(0.0, 10.0, 2.0))


def test_views_keep_the_allocation_alive(rng):
    h = _host(rng, 1000)
    x = em.asarray(h)
    v = ndarray((10,), x.dtype, x.data + 500 * 4, (4,))
    tail = x[990:]
    del x
    gc.collect()
    em.zeros(1000, np.float32)  # would likely reuse freed memory
    np.testing.assert_array_equal(v.get(), h[500:510])
    np.testing.assert_array_equal(tail.get(), h[990:])


def test_base_and_flags():
    x = em.zeros((4, 4))
    assert x.base is None and x.flags.owndata and x.flags["C_CONTIGUOUS"]
    v = x[1:][:, 1:]
    assert v.base is x and not v.flags.owndata and not v.flags.c_contiguous
    assert x.T.base is x and x.T.flags.f_contiguous
    assert x[[0, 1]].base is None  # fancy indexing copies


def test_may_share_memory(rng):
    x = em.asarray(_host(rng, 20))
    assert em.may_share_memory(x, x[5:])
    assert not em.may_share_memory(x, x.copy())
    assert em.may_share_memory(x[::2], x[1::2])
    assert not em.shares_memory(x[::2], x[1::2])
    assert np.may_share_memory(x[:10], x[9:])  # through __array_function__


# ------------------------------------------------------------------ arithmetic and ufuncs
def test_arithmetic_matches_numpy(rng):
    ha, hb = _host(rng, (4, 5)), _host(rng, (4, 5)) + 3
    a, b = em.asarray(ha), em.asarray(hb)
    cases = [(a + b, ha + hb), (a - b, ha - hb), (a * b, ha * hb), (a / b, ha / hb),
             (a // b, ha // hb), (a % b, ha % hb), (abs(b) ** 0.5, abs(hb) ** 0.5),
             (2 - a, 2 - ha), (np.float32(3) * a, np.float32(3) * ha), (-a, -ha),
             (+a, +ha), (abs(a), abs(ha)), (a @ b.T, ha @ hb.T), (a < b, ha < hb),
             (a >= 0, ha >= 0), (a == a, ha == ha)]
    for got, want in cases:
        assert type(got) is ndarray and got.dtype == want.dtype
        np.testing.assert_allclose(got.get(), want, rtol=1e-6)
    hi = _host(rng, 8, np.int32)
    i = em.asarray(hi)
    for got, want in [(i & 6, hi & 6), (i | 1, hi | 1), (i ^ hi[0], hi ^ hi[0]), (~i, ~hi),
                      (i << 2, hi << 2), (i >> 1, hi >> 1)]:
        np.testing.assert_array_equal(got.get(), want)


def test_inplace_ops_write_into_views(rng):
    h = _host(rng, (3, 6))
    x = em.asarray(h)
    row = x[1]
    row += 1
    row *= 2
    x[:, :2] -= x[:, 4:]
    want = h.copy()
    want[1] = (want[1] + 1) * 2
    want[:, :2] -= want[:, 4:]
    np.testing.assert_allclose(x.get(), want, rtol=1e-6)
    y = x
    y /= 4
    assert y is x
    np.testing.assert_allclose(x.get(), want / 4, rtol=1e-6)


def test_overlapping_writes_raise_as_cupy_leaves_them_undefined(rng):
    """CuPy copies elements in parallel, so a write whose input overlaps its target (other
    than the very same view) has no defined result on a GPU; on an H200 the irfft path's
    ``rows[:, 0] = rows[:, 0].real`` left the imaginary parts in place. The emulator refuses
    such writes, so they fail in CI instead of on a GPU."""
    c = em.asarray(_host(rng, (3, 5), np.complex64))
    with pytest.raises(em.OverlapError, match="assignment"):
        c[:, 0] = c[:, 0].real
    x = em.asarray(_host(rng, (8,)))
    with pytest.raises(em.OverlapError):
        x[1:] = x[:-1]
    with pytest.raises(em.OverlapError):
        x[1:] += x[:-1]
    with pytest.raises(em.OverlapError, match="add"):
        em.add(x[1:], 1, out=x[:-1])
    with pytest.raises(em.OverlapError):
        np.multiply(x[:4], x[::2], out=x[:4])
    before = x.get()
    x[...] = x                       # the very same view: element-wise, defined
    x += x
    em.add(x, x, out=x)
    c[:, 0] = c[:, 0].real.copy()    # a copy first, as the message says
    x[::2] = x[1::2]                 # interleaved: no element shared
    want = 4 * before
    want[::2] = want[1::2]
    np.testing.assert_array_equal(x.get(), want)
    assert float(np.abs(c[:, 0].imag).max().get()) == 0.0


def test_ufuncs_and_out(rng):
    h = np.abs(_host(rng, (4, 6))) + 0.5
    x = em.asarray(h)
    r = np.sqrt(x)
    assert type(r) is ndarray and r.dtype == np.float32
    np.testing.assert_allclose(r.get(), np.sqrt(h), rtol=1e-6)
    out = em.empty_like(x)
    assert np.add(x, x, out=out) is out
    np.testing.assert_allclose(out.get(), 2 * h, rtol=1e-6)
    half = out[:, :3]  # out= into a view writes the emulated memory in place
    em.multiply(x[:, :3], 10, out=half)
    np.testing.assert_allclose(out.get()[:, :3], 10 * h[:, :3], rtol=1e-6)
    np.testing.assert_allclose(out.get()[:, 3:], 2 * h[:, 3:], rtol=1e-6)
    np.testing.assert_allclose(np.add.reduce(x, axis=0).get(), h.sum(0), rtol=1e-5)
    np.testing.assert_allclose(em.maximum.accumulate(x, axis=1).get(),
                               np.maximum.accumulate(h, axis=1))
    m, e = em.frexp(x)
    assert type(m) is ndarray and type(e) is ndarray
    np.testing.assert_array_equal(em.ldexp(m, e).get(), h)


def test_mixing_with_host_arrays_raises(rng):
    h = _host(rng, 4)
    x = em.asarray(h)
    for f in (lambda: x + h, lambda: h + x, lambda: h < x, lambda: np.add(x, h),
              lambda: em.sqrt(h), lambda: em.concatenate([x, h]), lambda: x.dot(h),
              lambda: np.add(x, x, out=h), lambda: em.ascontiguousarray(h)):
        with pytest.raises(TypeError, match="blasfast.emulator.asarray"):
            f()
    assert type(x + np.float64(1)) is ndarray and type(x + 1) is ndarray


# ------------------------------------------------------------------------------ reductions
def test_reductions_are_0d(rng):
    h = _host(rng, (5, 4))
    x = em.asarray(h)
    s = x.sum()
    assert type(s) is ndarray and s.shape == ()
    assert float(s) == pytest.approx(float(h.sum()), rel=1e-5)
    assert bool(x.max() > x.min()) and bool((x > 100).any()) is False
    np.testing.assert_allclose(x.mean(axis=0).get(), h.mean(0), rtol=1e-5)
    np.testing.assert_allclose(x.std(axis=1, ddof=1).get(), h.std(1, ddof=1), rtol=1e-5)
    k = x.argmax()
    assert int(k) == int(h.argmax()) and operator.index(k) == int(h.argmax())
    assert range(20)[x.argmin()] == int(h.argmin())
    with pytest.raises(TypeError):
        operator.index(s)  # float arrays are no index
    with pytest.raises(TypeError):
        float(x)  # only size-1 arrays
    assert f"{x[0, 0]:.3f}" == f"{h[0, 0]:.3f}"
    assert x[1, 2].item() == h[1, 2] and x.tolist() == h.tolist()
    out = em.empty(4, np.float32)
    assert x.sum(axis=0, out=out) is out
    np.testing.assert_allclose(out.get(), h.sum(0), rtol=1e-5)


# -------------------------------------------------------------------------------- indexing
def test_indexing_with_emulated_index_arrays(rng):
    h = _host(rng, (6, 5))
    x = em.asarray(h)
    rows = em.asarray([4, 0, 2])
    np.testing.assert_array_equal(x[rows].get(), h[[4, 0, 2]])
    np.testing.assert_array_equal(x[rows, 1:3].get(), h[[4, 0, 2], 1:3])
    mask = x > 0
    np.testing.assert_array_equal(x[mask].get(), h[h > 0])
    np.testing.assert_array_equal(x[np.array([1, 3])].get(), h[[1, 3]])  # host index is fine
    x[rows, 0] = em.asarray([10.0, 20.0, 30.0], dtype=np.float32)
    x[mask & (x < 1)] = 0
    want = h.copy()
    want[[4, 0, 2], 0] = [10, 20, 30]
    want[(h > 0) & (want < 1)] = 0
    np.testing.assert_array_equal(x.get(), want)
    e = x[2, 3]  # a 0-d view, as CuPy: writes through
    e += 100
    assert x[2, 3].get() == want[2, 3] + 100


def test_shape_methods(rng):
    h = _host(rng, (2, 3, 4))
    x = em.asarray(h)
    for got, want in [(x.reshape(6, 4), h.reshape(6, 4)), (x.reshape((4, 6)), h.reshape(4, 6)),
                      (x.transpose(2, 0, 1), h.transpose(2, 0, 1)), (x.T, h.T),
                      (x.swapaxes(0, 2), h.swapaxes(0, 2)), (x.ravel(), h.ravel()),
                      (x[:, :1].squeeze(1), h[:, 0]), (x.view(np.int32), h.view(np.int32)),
                      (x[0].diagonal(), h[0].diagonal()), (x.cumsum(axis=2), h.cumsum(2))]:
        assert type(got) is ndarray
        np.testing.assert_allclose(got.get(), want, rtol=1e-6)
    k = x.T.copy(order="K")
    assert k.strides == h.T.strides and k.data.ptr % 256 == 0
    c = em.asarray(_host(rng, (3, 2), np.complex64))
    c.imag = 0
    assert (c.imag.get() == 0).all() and c.real.dtype == np.float32
    assert [float(v) for v in em.arange(3.0)] == [0.0, 1.0, 2.0] and len(x) == 2


# ----------------------------------------------------------------- namespace and fallback
def test_fallback_functions(rng):
    ha, hb = _host(rng, (3, 4)), _host(rng, (4, 2))
    a, b = em.asarray(ha), em.asarray(hb)
    for got, want in [(em.einsum("ij,jk->ik", a, b), np.einsum("ij,jk->ik", ha, hb)),
                      (em.concatenate([a, a], axis=1), np.concatenate([ha, ha], axis=1)),
                      (em.where(a > 0, a, 0.0), np.where(ha > 0, ha, 0.0)),
                      (em.stack([a, a]), np.stack([ha, ha])),
                      (em.moveaxis(a, 0, 1), np.moveaxis(ha, 0, 1)),
                      (np.concatenate([a, a]), np.concatenate([ha, ha])),  # __array_function__
                      (np.where(a > 0, a, -a), np.where(ha > 0, ha, -ha)),
                      (np.einsum("ij->j", a), ha.sum(0))]:
        assert type(got) is ndarray
        np.testing.assert_allclose(got.get(), want, rtol=1e-5)
    parts = em.broadcast_arrays(a[:1], a)
    assert all(type(p) is ndarray and p.shape == (3, 4) for p in parts)
    assert em.float32 is np.float32 and em.newaxis is None and em.pi == np.pi
    assert em.dtype("f4") == np.float32 and em.finfo(em.float32).eps == np.finfo(np.float32).eps
    assert em.result_type(a, np.float64) == np.float64
    assert em.where is em.where  # cached
    with pytest.raises(AttributeError):
        em.no_such_function
    with pytest.raises(AttributeError):
        em.polynomial  # NumPy submodules are not handed out
    assert em.get_array_module(a, ha) is em and em.get_array_module(ha, 1.0) is np


def test_creation_functions():
    np.testing.assert_array_equal(em.arange(2, 11, 3).get(), np.arange(2, 11, 3))
    np.testing.assert_allclose(em.linspace(0, 1, 7, dtype=np.float32).get(),
                               np.linspace(0, 1, 7, dtype=np.float32))
    np.testing.assert_array_equal(em.eye(3, 4, k=1).get(), np.eye(3, 4, k=1))
    np.testing.assert_array_equal(em.identity(3, dtype=np.int32).get(), np.identity(3, np.int32))
    a = em.array([[1, 2], [3, 4]], dtype=np.float32, ndmin=3)
    assert a.shape == (1, 2, 2) and a.dtype == np.float32
    assert em.array(a, copy=False) is a and em.array(a) is not a
    f = em.asfortranarray(a[0])
    assert f.flags.f_contiguous and em.asfortranarray(f) is f
    c = em.ascontiguousarray(f)
    assert c.flags.c_contiguous and np.array_equal(c.get(), f.get())
    assert em.zeros_like(a, dtype=np.int8).dtype == np.int8
    assert (em.full_like(a, 5).get() == 5).all() and (em.ones_like(a).get() == 1).all()
    assert pickle.loads(pickle.dumps(a)).get().tolist() == a.get().tolist()


# ---------------------------------------------------------------------------- fft, linalg
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_fft_keeps_precision(rng, dtype):
    h = _host(rng, (4, 64), dtype)
    x = em.asarray(h)
    tol = 1e-4 if dtype == np.complex64 else 1e-12
    for got, want in [(em.fft.fft(x), np.fft.fft(h)),
                      (em.fft.ifft(x, axis=0), np.fft.ifft(h, axis=0)),
                      (em.fft.fft2(x, norm="ortho"), np.fft.fft2(h, norm="ortho")),
                      (np.fft.fftn(x), np.fft.fftn(h))]:  # np.fft on emulated -> em.fft
        assert type(got) is ndarray and got.dtype == dtype
        np.testing.assert_allclose(got.get(), want, rtol=tol, atol=tol * np.abs(want).max())


def test_real_fft(rng):
    h = _host(rng, 50)
    x = em.asarray(h)
    spec = em.fft.rfft(x)
    assert spec.dtype == np.complex64 and spec.shape == (26,)
    np.testing.assert_allclose(spec.get(), np.fft.rfft(h), rtol=1e-4, atol=1e-4)
    back = em.fft.irfft(spec, n=50)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back.get(), h, atol=1e-5)
    assert em.fft.rfft(em.asarray(h.astype(np.float64))).dtype == np.complex128
    np.testing.assert_array_equal(em.fft.fftshift(em.fft.fftfreq(8)).get(),
                                  np.fft.fftshift(np.fft.fftfreq(8)))


def test_irfft_refuses_imaginary_dc_and_nyquist(rng):
    """cuFFT's C2R may use the imaginary parts NumPy drops (an H200 did at n = 8192), so
    the emulator's stand-in refuses them rather than answer as NumPy would."""
    spec = em.asarray(_host(rng, (3, 9), np.complex64))
    for n in (None, 16, 12):
        with pytest.raises(em.EmulatorError, match="imaginary part of frequency 0"):
            em.fft.irfft(spec, n=n)
    fixed = spec.copy()
    fixed[:, 0] = fixed[:, 0].real.astype(np.complex64)
    with pytest.raises(em.EmulatorError, match="frequency 8 "):
        em.fft.irfft(fixed)                       # even output: Nyquist too
    em.fft.irfft(fixed, n=17)                     # odd output: no Nyquist term
    fixed[:, 8] = fixed[:, 8].real.astype(np.complex64)
    np.testing.assert_allclose(em.fft.irfft(fixed).get(),
                               np.fft.irfft(fixed.get()), rtol=1e-4, atol=1e-6)
    with pytest.raises(em.EmulatorError, match="frequency 0"):
        em.fft.irfft(spec.T, axis=0)


def test_linalg(rng):
    ha = _host(rng, (6, 6)) + 6 * np.eye(6, dtype=np.float32)
    hb = _host(rng, (6, 2))
    a, b = em.asarray(ha), em.asarray(hb)
    x = em.linalg.solve(a, b)
    assert type(x) is ndarray and x.dtype == np.float32
    np.testing.assert_allclose(x.get(), np.linalg.solve(ha, hb), rtol=1e-4, atol=1e-5)
    q, r = em.linalg.qr(a)
    np.testing.assert_allclose((q @ r).get(), ha, atol=1e-4)
    assert float(em.linalg.norm(a)) == pytest.approx(float(np.linalg.norm(ha)), rel=1e-5)
    assert em.linalg.inv(a).dtype == np.float32


# ------------------------------------------------------------------------- random, cuda
def test_random_results_are_emulated():
    g = em.random.default_rng(3)
    want = np.random.default_rng(3)
    for got, ref in [(g.standard_normal((3, 2), dtype=np.float32),
                      want.standard_normal((3, 2), dtype=np.float32)),
                     (g.random(4), want.random(4)), (g.integers(0, 9, 5), want.integers(0, 9, 5)),
                     (g.uniform(1, 2, 3), want.uniform(1, 2, 3)),
                     (g.normal(0, 2, 3), want.normal(0, 2, 3)),
                     (g.permutation(em.arange(6)), want.permutation(np.arange(6)))]:
        assert type(got) is ndarray
        np.testing.assert_array_equal(got.get(), ref)
    em.random.seed(5)
    assert type(em.random.rand(2, 3)) is ndarray and em.random.randn(4).shape == (4,)
    assert type(em.random.standard_normal(2)) is ndarray


def test_cuda_stubs():
    cuda = em.cuda
    assert cuda.is_available() and cuda.runtime.getDeviceCount() == 1
    dev = cuda.Device()
    assert dev.id == 0 and dev.compute_capability == "90"
    assert dev.attributes["MultiProcessorCount"] == 132
    assert dev.attributes["MaxSharedMemoryPerBlockOptin"] == 232448
    with dev:
        dev.use()
        dev.synchronize()
    props = cuda.runtime.getDeviceProperties(0)
    assert props["name"] == b"NVIDIA H200 (blasfast emulator)" and props["major"] == 9
    assert cuda.runtime.runtimeGetVersion() == cuda.runtime.driverGetVersion() == 13000
    assert cuda.get_current_stream().ptr == 0
    s = cuda.Stream(non_blocking=True)
    with s:
        assert cuda.get_current_stream() is s
        start = s.record()
        end = cuda.Event()
        end.record()
        end.synchronize()
    assert cuda.get_current_stream() is cuda.Stream.null and s.ptr != 0
    assert cuda.get_elapsed_time(start, end) >= 0.0
    assert cuda.ExternalStream(1234).ptr == 1234
    assert issubclass(cuda.compiler.CompileException, Exception)
    assert em.zeros(1).device.id == 0 and isinstance(em.__version__, str)
    with pytest.raises(cuda.runtime.CUDARuntimeError):
        cuda.Device(1)
