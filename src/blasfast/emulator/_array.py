"""Emulated device memory and :class:`ndarray`, the CuPy-like array that lives in it.

Device memory is host memory: each allocation is a 256-byte aligned ``posix_memalign``
block of exactly the requested size (no slack, so that AddressSanitizer sees its true
end), owned by one :class:`_Memory` object that frees it when the last view is gone.
An :class:`ndarray` wraps a ``numpy.ndarray`` view (attribute ``_a``, which the kernel
loader reads) and follows CuPy's semantics: reductions return 0-d arrays, host NumPy
arrays are refused as operands (no silent host/device mixing) and implicit conversion to
NumPy raises, so library code never takes an emulated array for a host one.

Results that NumPy computes (``a + b``, ``a.sum()``) are wrapped as they are, without a
copy; they live in NumPy's own allocations (not 256-byte aligned). Explicit copies and
creation functions (``copy``, ``astype``, ``empty``, ``asarray`` from the host) allocate
emulated memory.
"""

import ctypes
import math
import operator
import weakref

import numpy as np

from ._errors import OverlapError

_ALIGNMENT = 256  # cudaMalloc's alignment
_POISON = 0xFF  # fresh empty memory: NaN for floats, -1 for ints

_libc = ctypes.CDLL(None)
_posix_memalign = _libc.posix_memalign
_posix_memalign.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_size_t]
_posix_memalign.restype = ctypes.c_int
_free = _libc.free
_free.argtypes = [ctypes.c_void_p]
_free.restype = None

_np_ndarray = np.ndarray
_byte_bounds = np.lib.array_utils.byte_bounds


class _Memory:
    """One block of emulated device memory: ``ptr`` (int) and ``size`` (bytes).

    ``numpy.asarray(mem)`` is a uint8 array over the whole block whose ``base`` is ``mem``,
    so every NumPy view of the block keeps it alive. ``keep`` holds the NumPy array that
    owns memory not allocated here (results NumPy computed).
    """

    __slots__ = ("ptr", "size", "__array_interface__", "_keep", "__weakref__")

    def __init__(self, ptr, size, keep=None):
        self.ptr = ptr
        self.size = size
        self._keep = keep
        self.__array_interface__ = {"shape": (size,), "typestr": "|u1",
                                    "data": (ptr, False), "version": 3}

    @property
    def device_id(self):
        return 0

    def __repr__(self):
        return f"<blasfast.emulator memory 0x{self.ptr:x}, {self.size} bytes>"


def _allocate(nbytes):
    """A fresh 256-byte aligned block of ``nbytes`` bytes, as a uint8 array (not filled)."""
    p = ctypes.c_void_p()
    if _posix_memalign(ctypes.byref(p), _ALIGNMENT, max(nbytes, 1)) != 0:
        raise MemoryError(f"blasfast.emulator: out of memory allocating {nbytes} bytes")
    mem = _Memory(p.value, nbytes)
    weakref.finalize(mem, _free, p.value).atexit = False
    return np.asarray(mem)


def _allocation(a):
    """The uint8 array over the whole block of memory that NumPy array ``a`` views."""
    b = a
    while True:
        base = b.base
        if type(base) is _Memory:
            return b
        if base is not None and not isinstance(base, _np_ndarray):
            base = getattr(base, "base", None)  # e.g. as_strided's DummyArray
        if not isinstance(base, _np_ndarray):
            break
        b = base
    # memory NumPy (or a foreign object) owns: describe the extent of the outermost array
    lo, hi = _byte_bounds(b)
    return np.asarray(_Memory(lo, hi - lo, keep=b))


def _shape(shape):
    if isinstance(shape, (tuple, list)):
        shape = tuple(map(operator.index, shape))
    else:
        shape = (operator.index(shape),)
    if shape and min(shape) < 0:
        raise ValueError("negative dimensions are not allowed")
    return shape


def _empty(shape, dtype=float, order="C", poison=True):
    """A NumPy view of a fresh allocation of the given shape, dtype and order ('C'/'F')."""
    shape = _shape(shape)
    dtype = np.dtype(dtype)
    buf = _allocate(math.prod(shape) * dtype.itemsize)
    if poison:
        buf.fill(_POISON)
    return _np_ndarray(shape, dtype, buffer=buf, order=order)


def _empty_like(a, dtype=None, order="K", poison=True):
    """A fresh allocation shaped like NumPy array ``a``, laid out as NumPy's ``order``
    ('K' keeps the order of ``a``'s strides, 'A' is 'F' for Fortran-only arrays)."""
    dtype = a.dtype if dtype is None else dtype
    c, f = a.flags.c_contiguous, a.flags.f_contiguous
    if order == "A":
        order = "F" if f and not c else "C"
    elif order == "K":
        if c or a.ndim < 2:
            order = "C"
        elif f:
            order = "F"
        else:
            perm = sorted(range(a.ndim), key=lambda i: -abs(a.strides[i]))
            out = _empty([a.shape[i] for i in perm], dtype, "C", poison)
            return out.transpose(np.argsort(perm))
    return _empty(a.shape, dtype, order, poison)


def _copy(a, dtype=None, order="K", casting="unsafe"):
    """A copy of NumPy array ``a`` in a fresh allocation."""
    out = _empty_like(a, dtype, order, poison=False)
    np.copyto(out, a, casting=casting)
    return out


# ----------------------------------------------------------------------- wrapping helpers
_new = object.__new__


def _wrap(r):
    """The emulated array over NumPy array ``r`` (no copy)."""
    o = _new(ndarray)
    o._a = r
    o._base = None
    return o


def _result(r):
    """Wrap a NumPy array, or a NumPy scalar as a 0-d array (CuPy returns no scalars)."""
    o = _new(ndarray)
    o._a = r if type(r) is _np_ndarray else np.asarray(r)
    o._base = None
    return o


def _view(parent, r):
    """Wrap ``r``, computed from ``parent._a``; its ``base`` is ``parent`` (or parent's
    base) when NumPy made a view of the same memory."""
    o = _new(ndarray)
    if type(r) is not _np_ndarray:
        r = np.asarray(r)
    o._a = r
    b = r.base
    a = parent._a
    if b is not None and (b is a or b is a.base):
        o._base = parent if parent._base is None else parent._base
    else:
        o._base = None
    return o


def _host_error(where, x):
    return TypeError(
        f"{where}: operand numpy.ndarray (shape {x.shape}, dtype {x.dtype}) is a host array; "
        "emulated device arrays and host arrays cannot be mixed: move it to the emulated "
        "device with blasfast.emulator.asarray first")


_PLAIN = frozenset([int, float, complex, bool, str, bytes, type(None), slice,
                    type(Ellipsis), np.dtype])


def _unwrap(x, where):
    """``x`` with emulated arrays (also inside lists and tuples) replaced by their NumPy
    views; a host NumPy array raises TypeError."""
    t = type(x)
    if t is ndarray:
        return x._a
    if t in _PLAIN:
        return x
    if t is tuple or t is list:
        return t([_unwrap(v, where) for v in x])
    if isinstance(x, _np_ndarray):
        raise _host_error(where, x)
    if isinstance(x, ndarray):
        return x._a
    return x


def _rewrap(r):
    """NumPy results (also inside tuples, named tuples and lists) as emulated arrays."""
    t = type(r)
    if t is _np_ndarray:
        return _wrap(r)
    if t is tuple or t is list:
        return t([_rewrap(v) for v in r])
    if isinstance(r, np.generic):
        return _wrap(np.asarray(r))
    if isinstance(r, _np_ndarray):
        return _wrap(r.view(_np_ndarray))
    if isinstance(r, tuple) and hasattr(r, "_fields"):
        return t(*[_rewrap(v) for v in r])
    return r


def _call(func, args, kwargs, where):
    """``func`` on unwrapped arguments, its results wrapped; ``out=`` is returned as given."""
    args = [_unwrap(x, where) for x in args]
    if not kwargs:
        return _rewrap(func(*args))
    out = kwargs.get("out")
    kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
    r = func(*args, **kwargs)
    if out is not None and r is kwargs["out"]:
        return out
    return _rewrap(r)


def _ufunc_call(ufunc, method, inputs, kwargs):
    """``getattr(ufunc, method)`` on unwrapped operands; ``out=`` is written in place."""
    where = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
    args = [_unwrap(x, where) for x in inputs]
    if not kwargs:
        return _rewrap(getattr(ufunc, method)(*args))
    out = kwargs.get("out")
    kwargs = {k: _unwrap(v, where) for k, v in kwargs.items()}
    for o in (kwargs["out"] if type(kwargs.get("out")) is tuple else (kwargs.get("out"),)):
        for x in args:
            _check_overlap(o, x, where)
    r = getattr(ufunc, method)(*args, **kwargs)
    if out is None:
        return _rewrap(r)
    outs = out if type(out) is tuple else (out,)
    results = r if type(r) is tuple else (r,)
    merged = tuple(_rewrap(v) if o is None else o for o, v in zip(outs, results))
    return merged[0] if len(merged) == 1 else merged


def _operand(x, where):
    """The NumPy-side operand for an operator: emulated arrays unwrapped, scalars as they
    are, host NumPy arrays refused, anything else NotImplemented."""
    t = type(x)
    if t is ndarray:
        return x._a
    if t is int or t is float or t is bool or t is complex or isinstance(x, np.generic):
        return x
    if isinstance(x, ndarray):
        return x._a
    if isinstance(x, _np_ndarray):
        raise _host_error(where, x)
    return NotImplemented


def _index(key):
    """An indexing key with emulated index arrays unwrapped (host arrays are accepted)."""
    t = type(key)
    if t is ndarray:
        return key._a
    if t is tuple or t is list:
        return t([k._a if isinstance(k, ndarray) else k for k in key])
    return key


def _same_view(a, b):
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.dtype == b.dtype and a.shape == b.shape and a.strides == b.strides)


def _check_overlap(target, source, where):
    """Refuse a write of ``source`` into ``target`` where the two share memory other than
    as the very same view: CuPy leaves the result undefined (see :class:`OverlapError`)."""
    if not isinstance(target, _np_ndarray) or not isinstance(source, _np_ndarray) \
            or not np.may_share_memory(target, source) or _same_view(target, source):
        return
    try:
        shared = np.shares_memory(target, source, max_work=10_000)
    except np.exceptions.TooHardError:
        shared = True
    if shared:
        raise OverlapError(
            f"{where}: the input overlaps the array written (a {source.dtype} view of "
            f"shape {source.shape} into {target.dtype} of shape {target.shape}); CuPy does "
            "not define the result of such a copy on a GPU: copy the input first")


def _value(x):
    """A value to store: emulated arrays unwrapped; host data is copied in (as CuPy)."""
    return x._a if isinstance(x, ndarray) else x


def _from_host(h, order="K"):
    """A host array copied into a fresh emulated allocation (the host-to-device copy)."""
    return _wrap(_copy(h, None, order))


# --------------------------------------------------------------------------- pointers
class MemoryPointer:
    """A pointer into emulated device memory, as ``cupy.cuda.MemoryPointer``.

    Parameters
    ----------
    buffer : numpy.ndarray
        The uint8 array over the whole allocation.
    offset : int
        Byte offset from the start of the allocation (may lie outside it; an array built
        on the pointer is checked).

    Attributes
    ----------
    ptr : int
        The address.
    mem
        The allocation's owner (``ptr``, ``size``).
    device_id : int
        Always 0.
    """

    __slots__ = ("_buf", "_off", "ptr")

    def __init__(self, buffer, offset=0):
        self._buf = buffer
        self._off = offset
        self.ptr = buffer.base.ptr + offset

    @property
    def mem(self):
        return self._buf.base

    @property
    def device_id(self):
        return 0

    def __add__(self, n):
        if not isinstance(n, (int, np.integer)):
            return NotImplemented
        return MemoryPointer(self._buf, self._off + int(n))

    __radd__ = __add__

    def __sub__(self, n):
        if not isinstance(n, (int, np.integer)):
            return NotImplemented
        return MemoryPointer(self._buf, self._off - int(n))

    def __int__(self):
        return self.ptr

    def __repr__(self):
        return f"<blasfast.emulator MemoryPointer 0x{self.ptr:x}>"


class _Flags:
    """``ndarray.flags``: c_contiguous, f_contiguous, owndata, writeable (read-only)."""

    __slots__ = ("c_contiguous", "f_contiguous", "owndata", "writeable")

    def __init__(self, a, owndata):
        f = a.flags
        self.c_contiguous = f.c_contiguous
        self.f_contiguous = f.f_contiguous
        self.owndata = owndata
        self.writeable = f.writeable

    _KEYS = {"C_CONTIGUOUS": "c_contiguous", "C": "c_contiguous",
             "F_CONTIGUOUS": "f_contiguous", "F": "f_contiguous",
             "OWNDATA": "owndata", "O": "owndata", "WRITEABLE": "writeable", "W": "writeable"}

    def __getitem__(self, key):
        return getattr(self, self._KEYS[key.upper()])

    def __repr__(self):
        return "\n".join(f"  {k.upper()} : {getattr(self, k)}" for k in self.__slots__)


# ----------------------------------------------------------------------------- ndarray
class ndarray:
    """An array in emulated device memory, with ``cupy.ndarray``'s interface.

    Parameters
    ----------
    shape : int or tuple of ints
        The shape.
    dtype : dtype, optional
        Element type (default float64).
    memptr : MemoryPointer, optional
        Where the array starts (element ``[0, ..., 0]``); None allocates fresh memory
        (filled with the poison byte 0xFF: NaN for floats, -1 for ints).
    strides : tuple of ints, optional
        Strides in bytes (may be negative or zero); needs ``memptr``.
    order : {'C', 'F'}
        Layout when ``strides`` is None.

    Raises
    ------
    ValueError
        If the view would reach outside the memory ``memptr`` points into.

    Notes
    -----
    Library code moves a view by ``off`` elements with
    ``ndarray(x.shape, x.dtype, x.data + off * x.itemsize, x.strides)``.
    """

    __slots__ = ("_a", "_base")

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C"):
        if memptr is None:
            if strides is not None:
                raise ValueError("memptr is required if strides is given")
            self._a = _empty(shape, dtype, order)
        else:
            if type(memptr) is not MemoryPointer:
                raise TypeError(f"memptr must be a MemoryPointer, got {type(memptr).__name__}")
            buf, off = memptr._buf, memptr._off
            if not 0 <= off <= buf.size:
                raise ValueError(f"memptr (byte {off}) lies outside its allocation of "
                                 f"{buf.size} bytes")
            self._a = _np_ndarray(_shape(shape), dtype, buffer=buf, offset=off,
                                  strides=strides, order=order)
        self._base = None

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self):
        return self._a.shape

    @property
    def dtype(self):
        return self._a.dtype

    @property
    def strides(self):
        return self._a.strides

    @property
    def size(self):
        return self._a.size

    @property
    def ndim(self):
        return self._a.ndim

    @property
    def itemsize(self):
        return self._a.itemsize

    @property
    def nbytes(self):
        return self._a.nbytes

    @property
    def flags(self):
        return _Flags(self._a, self._base is None)

    @property
    def base(self):
        """The array this one is a view of, or None."""
        return self._base

    @property
    def data(self):
        """A :class:`MemoryPointer` to element ``[0, ..., 0]``."""
        a = self._a
        buf = _allocation(a)
        return MemoryPointer(buf, a.__array_interface__["data"][0] - buf.base.ptr)

    @property
    def device(self):
        """The (only) emulated device."""
        from ._xp import cuda

        return cuda.Device(0)

    @property
    def T(self):
        return _view(self, self._a.T)

    @property
    def mT(self):
        return _view(self, self._a.mT)

    @property
    def real(self):
        return _view(self, self._a.real)

    @real.setter
    def real(self, value):
        self._a.real = _value(value)

    @property
    def imag(self):
        return _view(self, self._a.imag)

    @imag.setter
    def imag(self, value):
        self._a.imag = _value(value)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        for i in range(len(self._a)):
            yield self[i]

    # -------------------------------------------------------------- host transfers
    def get(self, stream=None, order="C", out=None, blocking=True):
        """Copy to the host (device-to-host).

        Parameters
        ----------
        stream, blocking
            Ignored: the emulator is synchronous.
        order : {'C', 'F', 'A'}
            Layout of the new host array.
        out : numpy.ndarray, optional
            Host array of the same shape and dtype to copy into.

        Returns
        -------
        numpy.ndarray
        """
        if out is None:
            return np.array(self._a, order=order)
        if not isinstance(out, _np_ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
        if out.shape != self.shape:
            raise ValueError(f"shape mismatch: out {out.shape}, array {self.shape}")
        if out.dtype != self.dtype:
            raise TypeError(f"{self.dtype} array cannot be copied to a {out.dtype} array")
        np.copyto(out, self._a)
        return out

    def set(self, arr, stream=None):
        """Copy host array ``arr`` (same shape and dtype) into this array."""
        if not isinstance(arr, _np_ndarray):
            raise TypeError(f"arr must be a numpy.ndarray, got {type(arr).__name__}")
        if arr.shape != self.shape:
            raise ValueError(f"shape mismatch: arr {arr.shape}, array {self.shape}")
        if arr.dtype != self.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to a {self.dtype} array")
        np.copyto(self._a, arr)

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use "
                        "`.get()` (or blasfast.emulator.asnumpy) to construct a NumPy array "
                        "explicitly.")

    def tolist(self):
        return self._a.tolist()

    def item(self, *args):
        return self._a.item(*args)

    def _scalar(self, kind):
        a = self._a
        if a.size != 1:
            raise TypeError(f"only size-1 arrays can be converted to Python {kind}")
        return a.reshape(())

    def __bool__(self):
        return bool(self._a)

    def __int__(self):
        return int(self._scalar("int"))

    def __float__(self):
        return float(self._scalar("float"))

    def __complex__(self):
        return complex(self._scalar("complex"))

    def __index__(self):
        if self._a.dtype.kind not in "iu":
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return int(self._scalar("int"))

    def __repr__(self):
        return repr(self._a) + "  # blasfast.emulator"

    def __str__(self):
        return str(self._a) + "  # blasfast.emulator"

    def __format__(self, spec):
        return format(self._a, spec)

    def __reduce__(self):
        return _from_host, (self.get(order="A"),)

    # ------------------------------------------------------------------ conversions
    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        """A copy cast to ``dtype`` (``self`` when ``copy=False`` and nothing changes)."""
        a = self._a
        if not copy and np.dtype(dtype) == a.dtype and _layout_ok(a, order):
            return self
        return _wrap(_copy(a, dtype, order, casting or "unsafe"))

    def copy(self, order="C"):
        """A copy in fresh emulated memory."""
        return _wrap(_copy(self._a, None, order))

    def __copy__(self):
        return self.copy()

    def __deepcopy__(self, memo):
        return self.copy()

    def view(self, dtype=None):
        """A view with another dtype."""
        return _view(self, self._a.view() if dtype is None else self._a.view(dtype))

    def reshape(self, *shape, order="C"):
        """A view (or copy) with another shape; ``shape`` as a tuple or as ints."""
        return _view(self, self._a.reshape(*shape, order=order))

    def transpose(self, *axes):
        return _view(self, self._a.transpose(*axes))

    def swapaxes(self, axis1, axis2):
        return _view(self, self._a.swapaxes(axis1, axis2))

    def ravel(self, order="C"):
        return _view(self, self._a.ravel(order))

    def squeeze(self, axis=None):
        return _view(self, self._a.squeeze(axis))

    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _view(self, self._a.diagonal(offset, axis1, axis2))

    # ---------------------------------------------------------------------- indexing
    def __getitem__(self, key):
        a = self._a
        key = _index(key)
        r = a[key]
        if type(r) is not _np_ndarray:  # a scalar: CuPy gives a 0-d view instead
            r = a[key + (Ellipsis,)] if type(key) is tuple else a[key, ...]
        return _view(self, r)

    def __setitem__(self, key, value):
        key = _index(key)
        if isinstance(value, ndarray):
            _check_overlap(self._a[key], value._a, "assignment")
        self._a[key] = _value(value)

    # ------------------------------------------------------------- NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ufunc_call(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from ._xp import _implementation

        return _implementation(func)(*args, **kwargs)

    __hash__ = None


def _layout_ok(a, order):
    if order == "C":
        return a.flags.c_contiguous
    if order == "F":
        return a.flags.f_contiguous
    return True


def _forward(name):
    def method(self, *args, **kwargs):
        return _call(getattr(self._a, name), args, kwargs, name)

    method.__name__ = name
    method.__qualname__ = f"ndarray.{name}"
    method.__doc__ = f"As ``numpy.ndarray.{name}``, on emulated arrays (0-d for scalars)."
    return method


for _name in ("sum", "prod", "max", "min", "mean", "var", "std", "any", "all", "argmax",
              "argmin", "cumsum", "cumprod", "dot", "clip", "nonzero", "take", "put",
              "repeat", "round", "sort", "argsort", "partition", "argpartition", "trace",
              "conj", "conjugate", "fill", "flatten"):
    setattr(ndarray, _name, _forward(_name))


def _binary(op, symbol):
    where = f"operator {symbol}"

    def method(self, other):
        x = _operand(other, where)
        if x is NotImplemented:
            return NotImplemented
        return _rewrap(op(self._a, x))

    return method


def _reflected(op, symbol):
    where = f"operator {symbol}"

    def method(self, other):
        x = _operand(other, where)
        if x is NotImplemented:
            return NotImplemented
        return _rewrap(op(x, self._a))

    return method


def _inplace(op, symbol):
    where = f"operator {symbol}="

    def method(self, other):
        x = _operand(other, where)
        if x is NotImplemented:
            return NotImplemented
        _check_overlap(self._a, x, where)
        op(self._a, x)
        return self

    return method


def _unary(op):
    def method(self):
        return _result(op(self._a))

    return method


for _name, _op, _iop, _symbol in (
        ("add", operator.add, operator.iadd, "+"),
        ("sub", operator.sub, operator.isub, "-"),
        ("mul", operator.mul, operator.imul, "*"),
        ("truediv", operator.truediv, operator.itruediv, "/"),
        ("floordiv", operator.floordiv, operator.ifloordiv, "//"),
        ("mod", operator.mod, operator.imod, "%"),
        ("pow", operator.pow, operator.ipow, "**"),
        ("matmul", operator.matmul, operator.imatmul, "@"),
        ("lshift", operator.lshift, operator.ilshift, "<<"),
        ("rshift", operator.rshift, operator.irshift, ">>"),
        ("and", operator.and_, operator.iand, "&"),
        ("or", operator.or_, operator.ior, "|"),
        ("xor", operator.xor, operator.ixor, "^")):
    setattr(ndarray, f"__{_name}__", _binary(_op, _symbol))
    setattr(ndarray, f"__r{_name}__", _reflected(_op, _symbol))
    setattr(ndarray, f"__i{_name}__", _inplace(_iop, _symbol))

ndarray.__divmod__ = _binary(divmod, "divmod")
ndarray.__rdivmod__ = _reflected(divmod, "divmod")

for _name, _op, _symbol in (("lt", operator.lt, "<"), ("le", operator.le, "<="),
                            ("eq", operator.eq, "=="), ("ne", operator.ne, "!="),
                            ("gt", operator.gt, ">"), ("ge", operator.ge, ">=")):
    setattr(ndarray, f"__{_name}__", _binary(_op, _symbol))

for _name, _op in (("neg", operator.neg), ("pos", operator.pos), ("abs", operator.abs),
                   ("invert", operator.invert)):
    setattr(ndarray, f"__{_name}__", _unary(_op))

del _name, _op, _iop, _symbol
