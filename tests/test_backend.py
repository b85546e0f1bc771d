"""Path selection and bf.info() on a machine with or without a GPU."""

import numpy as np
import pytest

import blasfast as bf
from blasfast import _backend


def test_numpy_and_lists_take_the_cpu_path():
    xp, (a, b, c) = _backend.get_array_module("op", np.ones(2), [1.0, 2.0], None)
    assert xp is np and isinstance(b, np.ndarray) and c is None


def test_scalars_pass_through():
    xp, (a, s) = _backend.get_array_module("op", np.ones(2), 3.0)
    assert xp is np and s == 3.0


def test_dlpack_on_cpu_is_a_host_array():
    class CpuDLPack:
        def __dlpack__(self, stream=None):  # pragma: no cover - never called
            raise AssertionError

        def __dlpack_device__(self):
            return (1, 0)  # kDLCPU

    assert not _backend.is_device_array(CpuDLPack())
    assert not _backend.is_device_array(np.ones(3))


def test_dlpack_on_cuda_is_a_device_array():
    class CudaDLPack:
        def __dlpack__(self, stream=None):  # pragma: no cover - never called
            raise AssertionError

        def __dlpack_device__(self):
            return (2, 0)  # kDLCUDA

    assert _backend.is_device_array(CudaDLPack())


def test_info_reports_versions_and_gpu_state():
    d = bf.info()
    assert d["blasfast"] == bf.__version__
    assert d["numpy"] == np.__version__
    assert isinstance(d["gpu_available"], bool)
    assert d["gpu_available"] == _backend.gpu_available()
    if d["gpu_available"]:
        assert d["gpu_name"] and int(d["compute_capability"]) >= 50
    else:
        assert d["gpu_error"]


def test_info_under_the_emulator_names_the_emulated_device(monkeypatch):
    from conftest import NO_EMULATOR

    if NO_EMULATOR is not None:
        pytest.skip(str(NO_EMULATOR))
    monkeypatch.setenv("BLASFAST_EMULATOR", "1")
    from blasfast import emulator

    with emulator.configure(schedule="shuffle", seed=7):
        d = bf.info()
    assert d["device"] == "emulated sm_90 (H200)" and d["gpu_available"] is True
    assert d["compute_capability"] == "90" and d["emulator_schedule"] == "shuffle:7"
    assert d["emulator_compiler"] and "gpu_error" not in d


def test_import_compiles_nothing():
    from blasfast.kernels import _compile

    assert _compile._modules == {}


def test_device_arrays_take_the_gpu_path_and_come_back_on_the_device(dev):
    a = dev.asarray(np.random.default_rng(0).standard_normal((3, 4, 4)))
    r = bf.batched_gemm(a, a)
    assert isinstance(r, dev.ndarray)
    assert np.allclose(r.get(), a.get() @ a.get(), rtol=1e-12)
    with pytest.raises(TypeError, match="same side"):
        bf.batched_gemm(a, a.get())


def test_warmup_without_gpu_is_a_clear_error():
    if _backend.gpu_available():
        assert "gemm" in bf.warmup(["gemm"])
    else:
        with pytest.raises(RuntimeError, match="warmup: no usable CUDA GPU"):
            bf.warmup()


class _ProtocolStream:
    """A stream from another library: only the CUDA stream protocol (``__cuda_stream__``
    returns ``(version, handle)``), as ``torch.cuda.Stream`` and ``cuda.core`` offer."""

    def __init__(self, handle):
        self.handle = handle

    def __cuda_stream__(self):
        return (0, self.handle)


@pytest.mark.parametrize("make", [lambda: 12345, lambda: np.int64(12345),
                                  lambda: _ProtocolStream(12345)],
                         ids=["int", "numpy-int", "cuda-stream-protocol"])
def test_stream_handles_become_external_streams(make):
    """One rule for every op: an integer handle or a ``__cuda_stream__`` object is wrapped
    as the device module's ``ExternalStream`` with that handle; a stream object passes
    through; with host arrays any stream is refused."""
    from blasfast import emulator

    s = _backend.as_stream("op", make(), emulator)
    assert isinstance(s, emulator.cuda.ExternalStream) and s.ptr == 12345
    own = emulator.cuda.Stream()
    assert _backend.as_stream("op", own, emulator) is own
    assert _backend.as_stream("op", None, np) is None
    with pytest.raises(ValueError, match="op: stream applies to device arrays only"):
        _backend.as_stream("op", make(), np)
    with pytest.raises(TypeError, match="op: stream must be None, a cupy.cuda.Stream"):
        _backend.as_stream("op", _ProtocolStream("x"), emulator)
    with pytest.raises(ValueError, match="handle >= 0"):
        _backend.as_stream("op", -1, emulator)


@pytest.mark.parametrize("op", ["batched_gemm", "conv2d", "fft", "fftconvolve"])
def test_every_family_runs_on_a_handle_and_refuses_it_with_host_arrays(op, dev, rng):
    """The families share :func:`blasfast._backend.as_stream`: an integer handle runs the
    op on the device path (on the emulator, work runs synchronously) and is refused with
    NumPy arrays."""
    import blasfast as bf

    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    calls = {"batched_gemm": lambda m, **kw: bf.batched_gemm(m(x[0]), m(x[0]), **kw),
             "conv2d": lambda m, **kw: bf.conv2d(m(x), m(w), **kw),
             "fft": lambda m, **kw: bf.fft.fft(m(x), **kw),
             "fftconvolve": lambda m, **kw: bf.fft.fftconvolve(m(x), m(x), **kw)}
    ref = calls[op](np.asarray)
    stream = dev.cuda.Stream()  # kept alive: the op gets only its handle
    got = calls[op](dev.asarray, stream=stream.ptr)
    stream.synchronize()
    got = got.get() if hasattr(got, "get") else got
    assert got.shape == ref.shape
    assert np.linalg.norm(got - ref) <= 1e-4 * np.linalg.norm(ref)
    with pytest.raises(ValueError, match=f"{op}: stream applies to device arrays only"):
        calls[op](np.asarray, stream=5)
