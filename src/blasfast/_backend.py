"""Which path an operation takes (NumPy on the CPU, CuPy on the GPU) and facts about the GPU.

An op receives arrays; their kind picks the path:

* ``numpy.ndarray`` (or anything else array-like on the host: lists, scalars) -> CPU path;
* ``cupy.ndarray``, or any object exposing ``__cuda_array_interface__`` or a ``__dlpack__``
  whose device is CUDA (PyTorch, JAX, Numba tensors) -> GPU path, converted zero-copy with
  ``cupy.asarray`` / ``cupy.from_dlpack``. The result is a ``cupy.ndarray``, which the
  public ops give back as the caller's kind (a PyTorch tensor, an array-API array; see
  :mod:`blasfast._interop`);
* ``blasfast.emulator.ndarray`` (emulated device memory) -> the same GPU path, its kernels
  run by the CUDA emulator; the result is an emulated array.

With ``BLASFAST_EMULATOR=1`` the *default* device (``device='gpu'`` in ``bf.nn``, the CLI)
is the emulator instead of CuPy's CUDA device.

Host and device arrays in one call are an error (``TypeError``), never a silent copy.
Nothing here touches the GPU at import time.
"""

import contextlib
import functools
import os
import sys

import numpy as np

from ._errors import message

# DLPack device types (dlpack.h): kDLCUDA, kDLCUDAHost is host memory, kDLCUDAManaged.
_DLPACK_CUDA = (2, 13)


def emulator_enabled():
    """True when ``BLASFAST_EMULATOR=1``: the default device is the CUDA emulator."""
    return os.environ.get("BLASFAST_EMULATOR", "").strip().lower() in ("1", "true", "yes", "on")


def _emulator():
    """The :mod:`blasfast.emulator` namespace (imported on first use)."""
    from . import emulator

    return emulator


@functools.lru_cache(maxsize=None)
def _real_cupy():
    """The cupy module, or None when it is not installed or fails to import."""
    try:
        import cupy
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None
    return cupy


def _cupy():
    """The default device's array module: :mod:`blasfast.emulator` when
    ``BLASFAST_EMULATOR=1``, else cupy (None when CuPy is not installed)."""
    return _emulator() if emulator_enabled() else _real_cupy()


_EMU_ARRAY = []  # the emulator's array class, once imported


def _emulated_type():
    if not _EMU_ARRAY:
        from .emulator._array import ndarray

        _EMU_ARRAY.append(ndarray)
    return _EMU_ARRAY[0]


def is_emulated(x):
    """True for an array in the CUDA emulator's device memory."""
    return isinstance(x, _emulated_type())


def any_emulated(values):
    """True when any of ``values`` is an emulated device array."""
    t = _emulated_type()
    return any(isinstance(v, t) for v in values)


def array_module(x):
    """The array module of a device array: :mod:`blasfast.emulator` or cupy."""
    return _emulator() if is_emulated(x) else _real_cupy()


def gpu_available():
    """True when the default device is usable: the emulator (``BLASFAST_EMULATOR=1``,
    with a C++ compiler and the CUDA headers), or CuPy with at least one CUDA device."""
    if emulator_enabled():
        return _emulator().is_available()
    cp = _real_cupy()
    if cp is None:
        return False
    try:
        return bool(cp.cuda.is_available())
    except Exception:
        return False


def is_device_array(x):
    """True for arrays that live on a CUDA device (CuPy, or CUDA array interface / DLPack)
    or in the emulator's device memory."""
    if isinstance(x, np.ndarray):
        return False
    if is_emulated(x):
        return True
    cp = _real_cupy()
    if cp is not None and isinstance(x, cp.ndarray):
        return True
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
    if is_emulated(x):
        return x
    cp = _real_cupy()
    if cp is None:
        raise RuntimeError(message(
            op, f"got a GPU array ({type(x).__name__}) but CuPy is not installed; "
                "install blasfast[cuda]"))
    if isinstance(x, cp.ndarray):
        return x
    try:
        usable = bool(cp.cuda.is_available())
    except Exception:
        usable = False
    if not usable:
        raise RuntimeError(message(
            op, f"got a GPU array ({type(x).__name__}) but CuPy finds no usable CUDA device"))
    if hasattr(x, "__cuda_array_interface__"):
        return cp.asarray(x)
    return cp.from_dlpack(x)


def _refuse_dask(op, values):
    """A Dask array that reaches here belongs to an op (or argument) with no blockwise
    form: refuse it, since NumPy would compute it into one array without a word."""
    mod = sys.modules.get("dask.array")
    cls = getattr(mod, "Array", None)
    if cls is not None and any(isinstance(v, cls) for v in values):
        raise TypeError(message(op, "Dask arrays are not supported here (no blockwise form); "
                                    "compute them first (.compute()) to run eagerly"))


def get_array_module(op, *arrays):
    """Return ``(xp, arrays)`` for the path the arrays select, converting device arrays to CuPy.

    ``None`` entries are passed through. Python scalars are allowed with either kind.

    Raises
    ------
    TypeError
        If host and device arrays are mixed in one call, or for a Dask array (ops with a
        Dask form hand Dask arrays to :mod:`blasfast._dask` before they get here).
    """
    _refuse_dask(op, arrays)
    on_device = [is_device_array(a) for a in arrays if a is not None]
    host = [a for a in arrays if a is not None and not is_device_array(a)
            and not np.isscalar(a)]
    if any(on_device):
        if host:
            raise TypeError(message(
                op, "all arrays must live on the same side: got a GPU array and a "
                    f"host array ({type(host[0]).__name__}); move one with cupy.asarray "
                    "or cupy.asnumpy first"))
        emulated = [is_emulated(a) for a in arrays if a is not None and not np.isscalar(a)]
        if any(emulated):
            if not all(emulated):
                raise TypeError(message(
                    op, "got an emulated device array (blasfast.emulator) together with "
                        "a CUDA array; move one to the other's device first"))
            return _emulator(), arrays
        return _real_cupy(), tuple(a if a is None or np.isscalar(a) else _to_cupy(op, a)
                                   for a in arrays)
    return np, tuple(a if a is None or np.isscalar(a) else np.asarray(a) for a in arrays)


def _stream_handle(stream):
    """The raw handle of an integer or a ``__cuda_stream__`` object, else None."""
    if isinstance(stream, (int, np.integer)) and not isinstance(stream, (bool, np.bool_)):
        return int(stream)
    proto = getattr(stream, "__cuda_stream__", None)
    if proto is not None:  # the CUDA stream protocol: returns (version, handle)
        try:
            return int(proto()[1])
        except Exception:
            return None
    return None


def _is_stream_object(stream):
    return hasattr(stream, "ptr") and hasattr(stream, "__enter__") and hasattr(stream,
                                                                              "__exit__")


def check_stream(op, stream):
    """Refuse a ``stream`` argument of the wrong type (before the path is known).

    Accepted: None; a stream object with a ``ptr`` handle usable in a ``with`` block
    (``cupy.cuda.Stream``/``ExternalStream``, the emulator's); an integer handle >= 0 (a
    ``cudaStream_t``); an object implementing the CUDA stream protocol
    (``__cuda_stream__``, e.g. ``torch.cuda.Stream`` in recent PyTorch, ``cuda.core``).
    Raises ``TypeError`` for anything else, ``ValueError`` for a negative handle.
    """
    if stream is None or _is_stream_object(stream):
        return stream
    handle = _stream_handle(stream)
    if handle is None:
        from ._checks import describe

        raise TypeError(message(
            op, f"stream must be None, a cupy.cuda.Stream, an integer stream handle or an "
                f"object with __cuda_stream__, got {describe(stream)}"))
    if handle < 0:
        raise ValueError(message(op, f"stream must be a handle >= 0, got {handle}"))
    return stream


def as_stream(op, stream, xp):
    """Validate ``stream`` for the path of array module ``xp`` and return it as a stream
    object usable in a ``with`` block (None stays None).

    Integer handles and ``__cuda_stream__`` objects become ``xp.cuda.ExternalStream``
    (no ownership taken). With host (NumPy) arrays any stream is a ``ValueError``: the
    CPU path has no stream, and silently ignoring one would hide a mistake.
    """
    if stream is None:
        return None
    check_stream(op, stream)
    if xp is np:
        from ._checks import describe

        raise ValueError(message(
            op, f"stream applies to device arrays only; with host (NumPy) arrays pass "
                f"stream=None, got {describe(stream)}"))
    if _is_stream_object(stream):
        return stream
    return xp.cuda.ExternalStream(_stream_handle(stream))


def stream_context(op, stream, xp):
    """A context manager that makes ``stream`` current (nothing when it is None); see
    :func:`as_stream` for what is accepted."""
    stream = as_stream(op, stream, xp)
    return contextlib.nullcontext() if stream is None else stream


def device_arch():
    """Compute capability of the current device as an int, e.g. 90 for sm_90 (the
    emulator stands for an H200)."""
    if emulator_enabled():
        return 90
    cp = _real_cupy()
    return int(cp.cuda.Device().compute_capability)


def kernel_cache_dir():
    """Where CuPy keeps compiled kernels on disk (``CUPY_CACHE_DIR``)."""
    return os.environ.get("CUPY_CACHE_DIR", os.path.expanduser("~/.cupy/kernel_cache"))
