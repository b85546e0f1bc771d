"""Which path an operation takes (NumPy on the CPU, CuPy on the GPU) and facts about the GPU.

An op receives arrays; their kind picks the path:

* ``numpy.ndarray`` (or anything else array-like on the host: lists, scalars) -> CPU path;
* ``cupy.ndarray``, or any object exposing ``__cuda_array_interface__`` or a ``__dlpack__``
  whose device is CUDA (PyTorch, JAX, Numba tensors) -> GPU path, converted zero-copy with
  ``cupy.asarray`` / ``cupy.from_dlpack``. The result is a ``cupy.ndarray``.

Host and device arrays in one call are an error (``TypeError``), never a silent copy.
Nothing here touches the GPU at import time.
"""

import functools
import os

import numpy as np

from ._errors import message

# DLPack device types (dlpack.h): kDLCUDA, kDLCUDAHost is host memory, kDLCUDAManaged.
_DLPACK_CUDA = (2, 13)


@functools.lru_cache(maxsize=None)
def _cupy():
    """The cupy module, or None when it is not installed or fails to import."""
    try:
        import cupy
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None
    return cupy


def gpu_available():
    """True when CuPy imports and at least one CUDA device is usable."""
    cp = _cupy()
    if cp is None:
        return False
    try:
        return bool(cp.cuda.is_available())
    except Exception:
        return False


def is_device_array(x):
    """True for arrays that live on a CUDA device (CuPy, or CUDA array interface / DLPack)."""
    cp = _cupy()
    if cp is not None and isinstance(x, cp.ndarray):
        return True
    if isinstance(x, np.ndarray):
        return False
    if hasattr(x, "__cuda_array_interface__"):
        return True
    dev = getattr(x, "__dlpack_device__", None)
    if dev is not None and hasattr(x, "__dlpack__"):
        try:
            return int(dev()[0]) in _DLPACK_CUDA
        except Exception:
            return False
    return False


def _to_cupy(op, x):
    cp = _cupy()
    if cp is None:
        raise RuntimeError(message(
            op, f"got a GPU array ({type(x).__name__}) but CuPy is not installed; "
                "install blasfast[cuda]"))
    if isinstance(x, cp.ndarray):
        return x
    if not gpu_available():
        raise RuntimeError(message(
            op, f"got a GPU array ({type(x).__name__}) but CuPy finds no usable CUDA device"))
    if hasattr(x, "__cuda_array_interface__"):
        return cp.asarray(x)
    return cp.from_dlpack(x)


def get_array_module(op, *arrays):
    """Return ``(xp, arrays)`` for the path the arrays select, converting device arrays to CuPy.

    ``None`` entries are passed through. Python scalars are allowed with either kind.

    Raises
    ------
    TypeError
        If host and device arrays are mixed in one call.
    """
    on_device = [is_device_array(a) for a in arrays if a is not None]
    host = [a for a in arrays if a is not None and not is_device_array(a)
            and not np.isscalar(a)]
    if any(on_device):
        if host:
            raise TypeError(message(
                op, "all arrays must live on the same side: got a GPU array and a "
                    f"host array ({type(host[0]).__name__}); move one with cupy.asarray "
                    "or cupy.asnumpy first"))
        return _cupy(), tuple(a if a is None or np.isscalar(a) else _to_cupy(op, a)
                              for a in arrays)
    return np, tuple(a if a is None or np.isscalar(a) else np.asarray(a) for a in arrays)


def device_arch():
    """Compute capability of the current device as an int, e.g. 90 for sm_90."""
    cp = _cupy()
    return int(cp.cuda.Device().compute_capability)


def kernel_cache_dir():
    """Where CuPy keeps compiled kernels on disk (``CUPY_CACHE_DIR``)."""
    return os.environ.get("CUPY_CACHE_DIR", os.path.expanduser("~/.cupy/kernel_cache"))
