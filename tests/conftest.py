"""Shared fixtures: the array-module parametrization (NumPy always, CuPy on a GPU) and a
fresh, printed seed per test."""

import os
import pathlib
import zlib

import numpy as np
import pytest

from blasfast import _backend

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("BLASFAST_DATA", ROOT.parent / "shared" / "data"))

_NO_GPU = "no usable CUDA GPU (CuPy missing or cupy.cuda.is_available() is False)"


def gpu_param():
    """A ``cupy`` parameter marked ``gpu`` that skips, with the reason, where no GPU is usable."""
    return pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.skipif(
        not _backend.gpu_available(), reason=_NO_GPU)])


@pytest.fixture(params=["numpy", gpu_param()])
def xp(request):
    """The array module a test runs on: numpy (CPU path) or cupy (GPU path)."""
    if request.param == "numpy":
        return np
    import cupy

    return cupy


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name (stable across runs), seed printed on failure."""
    seed = zlib.crc32(request.node.nodeid.encode())
    print(f"seed = {seed}")
    return np.random.default_rng(seed)


def to_numpy(x):
    """Host copy of a NumPy or CuPy array."""
    return x.get() if hasattr(x, "get") and not isinstance(x, np.ndarray) else np.asarray(x)


@pytest.fixture(scope="module")
def single_threaded_blas():
    """Run BLAS/LAPACK single-threaded for a module: the solver tests make many small LAPACK
    calls (panels, triangular solves, matrix-vector products), which OpenBLAS's threads
    slow down, badly so on a shared or oversubscribed CI machine (measured: a 2000 x 64
    ``sgetrf`` 0.6 ms on one thread, 80 ms on two under load)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


try:  # a shape-fuzzing profile: no deadline (first calls may compile kernels), fixed budget
    from hypothesis import settings

    settings.register_profile("blasfast", deadline=None, max_examples=60, print_blob=True)
    settings.load_profile("blasfast")
except ImportError:  # pragma: no cover
    pass
