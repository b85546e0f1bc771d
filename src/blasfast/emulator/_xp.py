"""The CuPy-like namespace over emulated device memory: what library code gets as ``xp``.

Explicit functions follow CuPy (``asarray`` copies host data in, ``asnumpy`` copies it
out, creation functions allocate emulated memory). Any other NumPy name is looked up by
the module ``__getattr__``: dtypes, classes and constants come back as they are, functions
and ufuncs wrapped so that emulated arguments are unwrapped, host NumPy arrays are refused
and NumPy results come back as emulated arrays. ``fft`` (over ``scipy.fft``, which keeps
single precision as cuFFT does), ``linalg``, ``lib.stride_tricks``, ``random`` and
``cuda`` (device, streams, events, runtime queries of an H200) are sub-namespaces.
"""

import functools
import operator
import sys
import threading
import time
import types

import numpy as np

from ._errors import EmulatorError
from ._array import (MemoryPointer, _call, _copy, _empty, _empty_like, _from_host,
                     _host_error, _layout_ok, _ufunc_call, _unwrap, _wrap, ndarray)

__version__ = "blasfast-emulator"

__all__ = ["__version__", "ndarray", "asarray", "array", "asnumpy", "empty", "zeros", "ones",
           "full", "empty_like", "zeros_like", "ones_like", "full_like", "arange",
           "linspace", "eye", "identity", "ascontiguousarray", "asfortranarray", "copy",
           "may_share_memory", "shares_memory", "get_array_module", "fft", "linalg", "lib",
           "random", "cuda"]

_PACKAGE = __name__.rpartition(".")[0]  # blasfast.emulator
_MISSING = object()


# ---------------------------------------------------------------------------- helpers
def _device_array(where, a):
    """``a`` if it is an emulated array; TypeError otherwise (CuPy takes no host data)."""
    if isinstance(a, ndarray):
        return a
    if isinstance(a, np.ndarray):
        raise _host_error(where, a)
    raise TypeError(f"{where}: expected a blasfast.emulator.ndarray, got {type(a).__name__}")


def _host_data(obj):
    """Host data for NumPy: emulated arrays (also inside lists and tuples) unwrapped."""
    if isinstance(obj, ndarray):
        return obj._a
    if type(obj) is list or type(obj) is tuple:
        return [_host_data(v) for v in obj]
    return obj


def _converted(a, dtype, order):
    """Emulated ``a`` itself when it already has ``dtype`` and ``order``, else a copy."""
    raw = a._a
    if (dtype is None or np.dtype(dtype) == raw.dtype) and _layout_ok(raw, order):
        return a
    return _wrap(_copy(raw, dtype, order or "K"))


def _device_function(func, where=None):
    """``func`` taking and returning emulated arrays (host NumPy arrays refused)."""
    where = where or getattr(func, "__name__", type(func).__name__)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        return _call(func, args, kwargs, where)

    return wrapper


class _Ufunc:
    """A NumPy ufunc over emulated arrays: calls and ``reduce``/``accumulate``/``outer``/
    ``reduceat``/``at`` unwrap operands, refuse host arrays and write ``out=`` in place."""

    __slots__ = ("_ufunc",)

    def __init__(self, ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        return _ufunc_call(self._ufunc, "__call__", args, kwargs)

    def reduce(self, *args, **kwargs):
        return _ufunc_call(self._ufunc, "reduce", args, kwargs)

    def accumulate(self, *args, **kwargs):
        return _ufunc_call(self._ufunc, "accumulate", args, kwargs)

    def reduceat(self, *args, **kwargs):
        return _ufunc_call(self._ufunc, "reduceat", args, kwargs)

    def outer(self, *args, **kwargs):
        return _ufunc_call(self._ufunc, "outer", args, kwargs)

    def at(self, *args, **kwargs):
        return _ufunc_call(self._ufunc, "at", args, kwargs)

    def __getattr__(self, name):  # nin, nout, identity, types, __name__, ...
        return getattr(self._ufunc, name)

    def __repr__(self):
        return f"<ufunc '{self._ufunc.__name__}' (blasfast.emulator)>"


def _device_callable(obj, where):
    """What the namespace hands out for NumPy attribute ``obj``."""
    if isinstance(obj, type) or not callable(obj):
        return obj
    if isinstance(obj, np.ufunc):
        return _Ufunc(obj)
    return _device_function(obj, where)


def _fallback(module, prefix, cache, name):
    """``module.name`` through :func:`_device_callable`, cached; AttributeError for private
    names, submodules and names ``module`` lacks."""
    try:
        return cache[name]
    except KeyError:
        pass
    obj = _MISSING if name.startswith("_") else getattr(module, name, _MISSING)
    if obj is _MISSING or isinstance(obj, types.ModuleType):
        raise AttributeError(f"module '{prefix}' has no attribute '{name}'")
    value = cache[name] = _device_callable(obj, name)
    return value


def _namespace(name, doc, attrs):
    """A sub-namespace module ``blasfast.emulator.<name>`` holding ``attrs``."""
    mod = types.ModuleType(f"{_PACKAGE}.{name}", doc)
    mod.__dict__.update(attrs)
    return mod


_NUMPY_NAMES = {}


def __getattr__(name):
    """NumPy's attribute ``name`` for names this namespace does not define.

    Dtypes, classes and constants are returned as they are; functions and ufuncs wrapped
    (emulated arguments unwrapped, host NumPy arrays refused, results wrapped back).

    Raises
    ------
    AttributeError
        For names NumPy lacks, private names and NumPy submodules.
    """
    return _fallback(np, _PACKAGE, _NUMPY_NAMES, name)


# --------------------------------------------------------------------- host <-> device
def asarray(a, dtype=None, order=None, *, blocking=False):
    """``a`` as an emulated array: host data is copied in, an emulated array is returned
    as is unless ``dtype`` or ``order`` ('C', 'F') asks for a converted copy.

    Parameters
    ----------
    a : array_like
        Emulated array, NumPy array, list or scalar.
    dtype : dtype, optional
    order : {'C', 'F', 'A', 'K'}, optional
    blocking : bool
        Ignored (the emulator is synchronous).

    Returns
    -------
    ndarray
    """
    if isinstance(a, ndarray):
        return _converted(a, dtype, order)
    return _from_host(np.asarray(_host_data(a), dtype=dtype, order=order), order or "K")


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    """An emulated array from ``obj`` (copied unless ``copy=False`` and ``obj`` is an
    emulated array needing no conversion).

    Parameters
    ----------
    obj : array_like
    dtype : dtype, optional
    copy : bool
    order : {'C', 'F', 'A', 'K'}
    subok : bool
        Ignored.
    ndmin : int
        Minimum number of dimensions (ones are prepended).
    blocking : bool
        Ignored.

    Returns
    -------
    ndarray
    """
    if not isinstance(obj, ndarray):
        host = np.array(_host_data(obj), dtype=dtype, copy=None, order=order, ndmin=ndmin)
        return _from_host(host, order or "K")
    out = _wrap(_copy(obj._a, dtype, order or "K")) if copy else \
        _converted(obj, dtype, order)
    if out.ndim < ndmin:
        out = out.reshape((1,) * (ndmin - out.ndim) + out.shape)
    return out


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    """A host copy of emulated array ``a`` (device-to-host); other input as
    ``numpy.asarray``.

    Parameters
    ----------
    a : array_like
    stream, blocking
        Ignored (the emulator is synchronous).
    order : {'C', 'F', 'A'}
    out : numpy.ndarray, optional
        Host array to copy into.

    Returns
    -------
    numpy.ndarray
    """
    if isinstance(a, ndarray):
        return a.get(stream, order, out)
    host = np.asarray(_host_data(a), order=order)
    if out is None:
        return host
    out[...] = host
    return out


# ---------------------------------------------------------------------------- creation
def empty(shape, dtype=float, order="C"):
    """A fresh emulated array, filled with the poison byte 0xFF (NaN floats, -1 ints) so
    that elements never written stand out."""
    return _wrap(_empty(shape, dtype, order))


def _filled(raw, value):
    np.copyto(raw, value, casting="unsafe")
    return _wrap(raw)


def zeros(shape, dtype=float, order="C"):
    """A fresh emulated array of zeros."""
    return _filled(_empty(shape, dtype, order, poison=False), 0)


def ones(shape, dtype=float, order="C"):
    """A fresh emulated array of ones."""
    return _filled(_empty(shape, dtype, order, poison=False), 1)


def full(shape, fill_value, dtype=None, order="C"):
    """A fresh emulated array filled with ``fill_value`` (its dtype when ``dtype`` is
    None)."""
    value = _unwrap(fill_value, "full")
    if dtype is None:
        dtype = np.asarray(value).dtype
    return _filled(_empty(shape, dtype, order, poison=False), value)


def _like(prototype, dtype, order, subok, shape, poison):
    if subok is not None:
        raise TypeError("subok is not supported")
    proto = prototype._a if isinstance(prototype, ndarray) else np.asarray(prototype)
    if shape is None:
        return _empty_like(proto, dtype, order, poison)
    return _empty(shape, proto.dtype if dtype is None else dtype,
                  "F" if order == "F" else "C", poison)


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    """A fresh poisoned emulated array with the shape, dtype and layout of ``prototype``."""
    return _wrap(_like(prototype, dtype, order, subok, shape, poison=True))


def zeros_like(a, dtype=None, order="K", subok=None, shape=None):
    """A fresh emulated array of zeros like ``a``."""
    return _filled(_like(a, dtype, order, subok, shape, poison=False), 0)


def ones_like(a, dtype=None, order="K", subok=None, shape=None):
    """A fresh emulated array of ones like ``a``."""
    return _filled(_like(a, dtype, order, subok, shape, poison=False), 1)


def full_like(a, fill_value, dtype=None, order="K", subok=None, shape=None):
    """A fresh emulated array like ``a`` filled with ``fill_value``."""
    return _filled(_like(a, dtype, order, subok, shape, poison=False),
                   _unwrap(fill_value, "full_like"))


def arange(start, stop=None, step=1, dtype=None):
    """Evenly spaced values in ``[start, stop)``, as ``numpy.arange``."""
    args = _unwrap([start, stop, step], "arange")
    return _from_host(np.arange(*args, dtype=dtype))


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced values from ``start`` to ``stop``, as ``numpy.linspace``."""
    r = np.linspace(_unwrap(start, "linspace"), _unwrap(stop, "linspace"), num, endpoint,
                    retstep, dtype, axis)
    if retstep:
        return _from_host(r[0]), r[1]
    return _from_host(r)


def eye(N, M=None, k=0, dtype=float, order="C"):
    """A 2-D emulated array with ones on the ``k``-th diagonal."""
    return _from_host(np.eye(N, M, k, dtype, order), order)


def identity(n, dtype=float):
    """The ``n`` x ``n`` identity matrix."""
    return eye(n, dtype=dtype)


def ascontiguousarray(a, dtype=None):
    """Emulated ``a`` itself when C-contiguous with ``dtype``, else a C-contiguous copy.

    Raises
    ------
    TypeError
        If ``a`` is not an emulated array (CuPy takes no host data here).
    """
    return _converted(_device_array("ascontiguousarray", a), dtype, "C")


def asfortranarray(a, dtype=None):
    """Emulated ``a`` itself when Fortran-contiguous with ``dtype``, else an F copy."""
    return _converted(_device_array("asfortranarray", a), dtype, "F")


def copy(a, order="K"):
    """A copy of emulated array ``a`` in fresh emulated memory."""
    return _wrap(_copy(_device_array("copy", a)._a, None, order))


def may_share_memory(a, b, max_work=None):
    """Whether two emulated arrays may share memory (bounds check), as NumPy's."""
    return np.may_share_memory(_unwrap(a, "may_share_memory"),
                               _unwrap(b, "may_share_memory"), max_work)


def shares_memory(a, b, max_work=None):
    """Whether two emulated arrays share memory (exact), as NumPy's."""
    return np.shares_memory(_unwrap(a, "shares_memory"), _unwrap(b, "shares_memory"),
                            max_work)


def get_array_module(*args):
    """This namespace when any argument is an emulated array, else :mod:`numpy`."""
    for a in args:
        if isinstance(a, ndarray):
            return sys.modules[_PACKAGE]
    return np


# ------------------------------------------------------------------------ sub-namespaces
_FFT_NAMES = ("fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2",
              "irfft2", "rfftn", "irfftn", "hfft", "ihfft", "fftfreq", "rfftfreq",
              "fftshift", "ifftshift")


def _fft_getattr(name):
    if name not in _FFT_NAMES:
        raise AttributeError(f"module '{_PACKAGE}.fft' has no attribute '{name}'")
    import scipy.fft  # imported on first use: it takes a while

    func = _device_function(getattr(scipy.fft, name), f"fft.{name}")
    if name == "irfft":
        func = _hermitian_ends_checked(func)
    setattr(fft, name, func)
    return func


def _hermitian_ends_checked(irfft):
    """``irfft`` that refuses input whose zero (and, for an even output length, Nyquist)
    frequency has a nonzero imaginary part. NumPy and SciPy drop those parts; cuFFT's
    complex-to-real transform does not promise to (on an H200 it used them at n = 8192 and
    dropped them at n <= 4096), so code that leaves them in gives GPU-dependent answers."""

    @functools.wraps(irfft)
    def checked(x, n=None, axis=-1, *args, **kwargs):
        a = _unwrap(x, "fft.irfft")
        if isinstance(a, np.ndarray) and a.dtype.kind == "c" and a.ndim and a.shape[axis]:
            m = a.shape[axis]
            out_n = 2 * (m - 1) if n is None else int(n)
            ends = [0] + ([out_n // 2] if out_n % 2 == 0 and 0 < out_n // 2 < m else [])
            for k in ends:
                if np.any(np.take(a, k, axis=axis).imag != 0):
                    raise EmulatorError(
                        f"fft.irfft: the imaginary part of frequency {k} (of an output of "
                        f"length {out_n}) is nonzero; NumPy drops it, cuFFT may use it: set "
                        "it to zero first")
        return irfft(x, n, axis, *args, **kwargs)

    return checked


fft = _namespace("fft", "cuFFT stand-in over ``scipy.fft``: complex64/float32 input keeps "
                        "single precision, as cuFFT does (``numpy.fft`` would promote).",
                 {"__all__": list(_FFT_NAMES), "__getattr__": _fft_getattr})

linalg = _namespace("linalg", "``numpy.linalg`` over emulated arrays.",
                    {n: _device_callable(getattr(np.linalg, n), f"linalg.{n}")
                     for n in np.linalg.__all__})


def as_strided(x, shape=None, strides=None):
    """A view of emulated array ``x`` with the given shape and strides (bytes), in the same
    memory.

    Raises
    ------
    ValueError
        If the view would reach outside ``x``'s allocation (CuPy does not check).
    """
    a = _device_array("as_strided", x)._a
    return ndarray(a.shape if shape is None else shape, a.dtype, x.data,
                   a.strides if strides is None else strides)


lib = _namespace("lib", "``lib.stride_tricks`` over emulated arrays.", {
    "stride_tricks": _namespace("lib.stride_tricks", "Strided views of emulated arrays.", {
        "as_strided": as_strided,
        "sliding_window_view": _device_function(np.lib.stride_tricks.sliding_window_view)})})


class Generator:
    """``numpy.random.Generator`` whose draws are emulated arrays (the values are NumPy's,
    not cuRAND's).

    Parameters
    ----------
    seed : None, int or array_like, optional
        As ``numpy.random.default_rng``.
    """

    __slots__ = ("_gen",)

    def __init__(self, seed=None):
        self._gen = np.random.default_rng(seed)

    def __getattr__(self, name):
        if name == "_gen":
            raise AttributeError(name)
        attr = getattr(self._gen, name)
        return _device_function(attr, f"Generator.{name}") if callable(attr) else attr


def default_rng(seed=None):
    """A :class:`Generator` (``standard_normal``, ``random``, ``integers``, ``uniform``,
    ``normal``, ``permutation``, ...) returning emulated arrays."""
    return Generator(seed)


_RANDOM_NAMES = {}


def _random_getattr(name):
    return _fallback(np.random, f"{_PACKAGE}.random", _RANDOM_NAMES, name)


random = _namespace("random", "``numpy.random`` with emulated results.", {
    "Generator": Generator, "default_rng": default_rng, "__getattr__": _random_getattr,
    **{n: _device_function(getattr(np.random, n), f"random.{n}")
       for n in ("rand", "randn", "random", "standard_normal", "seed")}})


# ---------------------------------------------------------------------------------- cuda
class CUDARuntimeError(RuntimeError):
    """A failed (emulated) CUDA runtime call."""


class CompileException(Exception):
    """A kernel failed to compile (``cupy.cuda.compiler.CompileException``).

    Parameters
    ----------
    msg : str
        The compiler's log.
    source, name, options, backend
        The source, its file name, the compiler options and the compiler.
    """

    def __init__(self, msg, source=None, name=None, options=(), backend="nvrtc"):
        super().__init__(msg)
        self._msg = msg
        self.source = source
        self.name = name
        self.options = options
        self.backend = backend

    def get_message(self):
        return self._msg


_ATTRIBUTES = {  # cudaDeviceGetAttribute of an H200 (SXM)
    "MultiProcessorCount": 132, "MaxSharedMemoryPerBlockOptin": 232448,
    "MaxSharedMemoryPerMultiprocessor": 233472, "MaxSharedMemoryPerBlock": 49152,
    "MaxThreadsPerBlock": 1024, "MaxThreadsPerMultiProcessor": 2048,
    "MaxRegistersPerMultiprocessor": 65536, "MaxRegistersPerBlock": 65536,
    "MaxBlocksPerMultiprocessor": 32, "WarpSize": 32, "L2CacheSize": 52428800,
    "MaxBlockDimX": 1024, "MaxBlockDimY": 1024, "MaxBlockDimZ": 64,
    "MaxGridDimX": 2**31 - 1, "MaxGridDimY": 65535, "MaxGridDimZ": 65535,
    "TotalConstantMemory": 65536, "ComputeCapabilityMajor": 9, "ComputeCapabilityMinor": 0,
}

_PROPERTIES = {  # cudaGetDeviceProperties of an H200, as CuPy returns them
    "name": b"NVIDIA H200 (blasfast emulator)", "major": 9, "minor": 0,
    "totalGlobalMem": 150754820096, "multiProcessorCount": 132,
    "sharedMemPerBlock": 49152, "sharedMemPerBlockOptin": 232448,
    "sharedMemPerMultiprocessor": 233472, "regsPerBlock": 65536,
    "regsPerMultiprocessor": 65536, "warpSize": 32, "maxThreadsPerBlock": 1024,
    "maxThreadsPerMultiProcessor": 2048, "maxBlocksPerMultiProcessor": 32,
    "maxThreadsDim": (1024, 1024, 64), "maxGridSize": (2**31 - 1, 65535, 65535),
    "l2CacheSize": 52428800, "totalConstMem": 65536, "concurrentKernels": 1,
}

_CUDA_VERSION = 13000


def _check_device(device):
    if operator.index(device) != 0:
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal (the emulator "
                               "has one device, 0)")
    return 0


def getDeviceCount():
    """1: the emulator has one device."""
    return 1


def getDeviceProperties(device):
    """The properties of device 0 (an H200), a dict with str keys, ``name`` as bytes."""
    _check_device(device)
    return dict(_PROPERTIES)


def getDevice():
    """The current device: 0."""
    return 0


def setDevice(device):
    """Select device 0 (the only one)."""
    _check_device(device)


def deviceSynchronize():
    """Nothing to wait for: launches are synchronous."""


def driverGetVersion():
    """The emulated CUDA driver version (13.0)."""
    return _CUDA_VERSION


def runtimeGetVersion():
    """The emulated CUDA runtime version (13.0)."""
    return _CUDA_VERSION


class Device:
    """The emulated device (an H200, compute capability 9.0).

    Parameters
    ----------
    device : int, optional
        Must be 0 (or None).

    Attributes
    ----------
    id : int
    compute_capability : str
        ``"90"``.
    attributes : dict
        ``cudaDeviceGetAttribute`` values by CuPy's names.
    """

    compute_capability = "90"

    def __init__(self, device=None):
        self.id = 0 if device is None else _check_device(device)

    @property
    def attributes(self):
        return dict(_ATTRIBUTES)

    def use(self):
        """Make this the current device (it always is)."""

    def synchronize(self):
        """Nothing to wait for: launches are synchronous."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __eq__(self, other):
        return isinstance(other, Device) and other.id == self.id

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<CUDA Device {self.id} (blasfast emulator)>"


class Event:
    """A CUDA event; ``record`` notes the host time (work runs synchronously)."""

    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.ptr = id(self)
        self._time = None

    def record(self, stream=None):
        """Record the event now."""
        self._time = time.perf_counter()

    def synchronize(self):
        """Nothing to wait for."""

    @property
    def done(self):
        return True


def get_elapsed_time(start_event, end_event):
    """Milliseconds between two recorded events (host time)."""
    if start_event._time is None or end_event._time is None:
        raise CUDARuntimeError("cudaErrorInvalidResourceHandle: event not recorded")
    return (end_event._time - start_event._time) * 1e3


class Stream:
    """A CUDA stream with CuPy's interface; work on it runs synchronously.

    Parameters
    ----------
    null : bool
        The null (default) stream, ``ptr`` 0.
    non_blocking, priority
        Accepted and kept.
    ptr : int
        Handle to report (default: a unique nonzero value).
    """

    null = None  # the null stream, set below

    def __init__(self, null=False, non_blocking=False, ptr=0, priority=None):
        self.ptr = 0 if null else (ptr or id(self))
        self.non_blocking = non_blocking
        self.priority = priority
        self.device_id = 0

    @property
    def done(self):
        return True

    def synchronize(self):
        """Nothing to wait for: launches are synchronous."""

    def record(self, event=None):
        """Record ``event`` (a new :class:`Event` when None) on this stream."""
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event):
        """Nothing to wait for."""

    def use(self):
        """Make this the current stream."""
        _current.stack[-1] = self
        return self

    def __enter__(self):
        _current.stack.append(self)
        return self

    def __exit__(self, *exc):
        _current.stack.pop()
        return False

    def __repr__(self):
        return f"<{type(self).__name__} 0x{self.ptr:x} (blasfast emulator)>"


class ExternalStream(Stream):
    """A stream handle made elsewhere (``ptr`` reported as given)."""

    def __init__(self, ptr, device_id=-1):
        super().__init__()
        self.ptr = ptr


Stream.null = Stream(null=True)


class _CurrentStream(threading.local):
    def __init__(self):
        self.stack = [Stream.null]


_current = _CurrentStream()


def get_current_stream(device_id=-1):
    """The current stream of this thread (the null stream unless one is in use)."""
    return _current.stack[-1]


def is_available():
    """True: the emulated device is always there."""
    return True


cuda = _namespace("cuda", "``cupy.cuda`` stand-in: one emulated H200, synchronous "
                          "streams and events.", {
    "is_available": is_available, "Device": Device, "Stream": Stream,
    "ExternalStream": ExternalStream, "Event": Event, "get_elapsed_time": get_elapsed_time,
    "get_current_stream": get_current_stream, "MemoryPointer": MemoryPointer,
    "runtime": _namespace("cuda.runtime", "CUDA runtime queries of the emulated device.", {
        "CUDARuntimeError": CUDARuntimeError, "is_hip": False,
        "getDeviceCount": getDeviceCount, "getDeviceProperties": getDeviceProperties,
        "getDevice": getDevice, "setDevice": setDevice,
        "deviceSynchronize": deviceSynchronize, "driverGetVersion": driverGetVersion,
        "runtimeGetVersion": runtimeGetVersion}),
    "compiler": _namespace("cuda.compiler", "Compiler errors.",
                           {"CompileException": CompileException}),
})


# ------------------------------------------------------ NumPy functions on emulated arrays
_IMPLEMENTATIONS = {np.copy: copy, np.empty_like: empty_like, np.zeros_like: zeros_like,
                    np.ones_like: ones_like, np.full_like: full_like,
                    np.may_share_memory: may_share_memory, np.shares_memory: shares_memory}


def _implementation(func):
    """What ``ndarray.__array_function__`` runs for NumPy function ``func``: this
    namespace's version (``numpy.fft.fft`` -> :data:`fft` ``.fft``), else ``func`` on
    unwrapped arguments."""
    impl = _IMPLEMENTATIONS.get(func)
    if impl is None:
        name = getattr(func, "__name__", "")
        impl = getattr(fft, name) if getattr(np.fft, name, None) is func else \
            _device_function(func)
        _IMPLEMENTATIONS[func] = impl
    return impl
