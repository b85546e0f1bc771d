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


def test_gpu_check_environment_names_commit_and_versions():
    from blasfast import gpu_check

    env = gpu_check.environment()
    for key in ("blasfast", "numpy", "cupy", "gpu_available", "commit", "date"):
        assert key in env
