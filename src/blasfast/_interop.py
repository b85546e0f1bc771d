"""The caller's kind comes back: a PyTorch tensor in gives a PyTorch tensor out.

The ops work on NumPy arrays (CPU path) and CuPy arrays (GPU path). :func:`callers_kind`
wraps a public op so that it also takes the arrays of another library and returns that
library's kind, without a copy either way (DLPack, or ``Tensor.numpy()`` on the CPU):

* **PyTorch** (``torch.Tensor``, CPU or CUDA): the tensor's memory is viewed as a NumPy or
  CuPy array, the op runs, and each array result is viewed back as a tensor on the same
  device (``torch.from_numpy`` / ``torch.from_dlpack``). CUDA tensors come in through
  ``__cuda_array_interface__`` (``cupy.asarray``), which carries no stream: the op's work
  is ordered by running on PyTorch's current stream (below). bfloat16 crosses as its bits
  (NumPy and DLPack consumers differ in bfloat16 support). An input tensor with the
  conjugate or negative bit set is resolved first (a copy, as ``tensor.numpy()`` would
  demand); as ``out``, or as an operand a plan keeps, it is refused (``ValueError``):
  the copy would take the write, or miss later changes.
  With CUDA tensors and ``stream=None`` the op runs on PyTorch's *current* stream of the
  tensor's device, and on that device, as nvmath-python does: work queued by PyTorch
  before the call is ordered before ours, and the result is ready for PyTorch's next op.
  With an explicit ``stream=``, ordering it against PyTorch's streams is the caller's
  job, as with CuPy streams (``s.wait_stream(torch.cuda.current_stream())``). Tensors of
  one call must be on one device (``ValueError``).
  Autograd is not recorded: a tensor with ``requires_grad=True`` is refused
  (``ValueError``, "pass x.detach()"), never silently detached.
* **Other array-API libraries** whose arrays have ``__dlpack__`` and
  ``__array_namespace__`` (JAX, ``array_api_strict``): viewed through DLPack, and results
  come back through the namespace's ``from_dlpack``.
* A DLPack producer with neither (no known way to build its kind) gives NumPy or CuPy
  results, as the op's docstring says for device arrays.

``out=`` may be a tensor of the caller's kind: it is written in place and returned itself,
as NumPy returns ``out``. Arguments of two different foreign libraries in one call are a
``TypeError``; NumPy or CuPy arrays beside a foreign one are fine (the path rule of
:mod:`blasfast._backend` still applies: host and device arrays never mix).

Results that are records (``SolveInfo``, ``LUFactors``) are returned as they are: their
arrays stay NumPy/CuPy. Arrays inside a plain tuple or list result are converted.

The wrapper costs one type check per argument when no foreign array is passed; nothing
here imports PyTorch unless a tensor was passed (then it is already imported).
"""

import contextlib
import functools
import inspect
import sys
import typing

import numpy as np

from ._dtypes import bfloat16
from ._errors import message

_F = typing.TypeVar("_F", bound=typing.Callable[..., typing.Any])

# Types that are never foreign: scanning stops at a set lookup for them.
_PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes, np.ndarray, slice,
                    type(Ellipsis)})
# Top-level packages whose arrays the ops take natively (never wrapped).
_NATIVE_PACKAGES = frozenset({"numpy", "cupy", "cupy_backends", "blasfast", "dask",
                              "builtins"})


class _Torch:
    """How to cross between PyTorch tensors and NumPy/CuPy arrays."""

    name = "torch"

    def __init__(self, torch, device):
        self.torch = torch
        self.device = device  # the first tensor's torch.device
        #: The CUDA device index of the tensors, or None for CPU tensors.
        self.cuda_index = device.index if device.type == "cuda" else None

    def owns(self, x):
        """True for a tensor (what :meth:`to_native` converts)."""
        return isinstance(x, self.torch.Tensor)

    def current_stream(self):
        """PyTorch's current stream on the tensors' device, as an integer handle."""
        return int(self.torch.cuda.current_stream(self.device).cuda_stream)

    def to_native(self, op, name, t, held=False):
        torch = self.torch
        if t.requires_grad:
            raise ValueError(message(
                op, f"{name} must not require grad: blasfast records no autograd graph; "
                    f"pass {name}.detach(), got a tensor with requires_grad=True"))
        where = t.device.type
        if where not in ("cpu", "cuda"):
            raise ValueError(message(
                op, f"{name} must be a CPU or CUDA tensor, got a tensor on "
                    f"device '{t.device}'"))
        if t.is_conj() or t.is_neg():
            if held:  # resolving copies: a write, or a later read, would miss the tensor
                bit, short = ("conjugate", "conj") if t.is_conj() else ("negative", "neg")
                raise ValueError(message(
                    op, f"{name} must not have the {bit} bit set: {held}, and a tensor "
                        f"with a lazy {bit} has no memory of its values to share; pass "
                        f"{name}.resolve_{short}(), got a tensor with is_{short}() True"))
            t = t.resolve_conj().resolve_neg()
        bf16 = t.dtype == torch.bfloat16
        if bf16:
            t = t.view(torch.int16)
        if where == "cpu":
            a = t.numpy()
        else:
            from . import _backend

            a = _backend._to_cupy(op, t)
        return a.view(bfloat16) if bf16 else a

    def from_native(self, a):
        torch = self.torch
        if isinstance(a, np.generic):  # NumPy returns a scalar where torch returns 0-d
            a = np.asarray(a)
        bf16 = a.dtype == bfloat16
        if bf16:
            a = a.view(np.int16)
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(a if a.flags.writeable else a.copy())
        else:
            t = torch.from_dlpack(a)
        return t.view(torch.bfloat16) if bf16 else t


class _Namespace:
    """An array-API library: results come back through ``namespace.from_dlpack``; with no
    namespace (a bare DLPack producer) they stay NumPy/CuPy."""

    def __init__(self, namespace, name):
        self.namespace = namespace  # None for a bare DLPack producer
        self.name = name

    cuda_index = None

    def owns(self, x):
        """True for an array of this library (what :meth:`to_native` converts)."""
        return _package(x) == self.name and hasattr(x, "__dlpack__")

    def to_native(self, op, name, x, held=False):
        from . import _backend

        if _backend.is_device_array(x):
            return _backend._to_cupy(op, x)
        return np.from_dlpack(x)

    def from_native(self, a):
        if self.namespace is None:
            return a
        if isinstance(a, np.generic):
            a = np.asarray(a)
        return self.namespace.from_dlpack(a)


def _package(x):
    return type(x).__module__.partition(".")[0]


def _kind_of(x):
    """The foreign kind of ``x`` (a ``_Torch`` or ``_Namespace``), or None when ``x`` is
    not a foreign array."""
    t = type(x)
    if t in _PLAIN or isinstance(x, np.generic):
        return None
    pkg = _package(x)
    if pkg == "torch":
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(x, torch.Tensor):
            return _Torch(torch, x.device)
        return None
    if pkg in _NATIVE_PACKAGES or not hasattr(x, "__dlpack__"):
        return None
    if not hasattr(x, "__dlpack_device__"):
        return None
    namespace = None
    ns = getattr(x, "__array_namespace__", None)
    if ns is not None:
        try:
            namespace = ns()
        except Exception:
            namespace = None
        if not hasattr(namespace, "from_dlpack"):
            namespace = None
    return _Namespace(namespace, pkg)


def _scan(op, values):
    """The one foreign kind among ``values`` (looking one level into lists and tuples), or
    None. Raises TypeError for arrays of two foreign libraries."""
    kind = None
    for v in values:
        t = type(v)
        if t in _PLAIN:
            continue
        items = v if t in (list, tuple) else (v,)
        for x in items:
            k = _kind_of(x)
            if k is None:
                continue
            if kind is None:
                kind = k
            elif k.name != kind.name:
                raise TypeError(message(
                    op, f"all arrays must come from one library: got {kind.name} and "
                        f"{k.name} arrays in one call"))
            elif getattr(k, "device", None) != getattr(kind, "device", None):
                raise ValueError(message(
                    op, f"all tensors must be on one device: got tensors on "
                        f"'{kind.device}' and '{k.device}'"))
    return kind


def _convert_in(op, kind, name, v, held=False):
    """``v`` as NumPy/CuPy. ``held`` says why its memory must be shared, not copied (a
    conjugate-bit tensor is then refused): it is written (``out``), or kept by a plan."""
    t = type(v)
    if t in _PLAIN:
        return v
    if t in (list, tuple):
        return t(_convert_in(op, kind, f"{name}[{i}]", x, held) for i, x in enumerate(v))
    return kind.to_native(op, name, v, held) if kind.owns(v) else v


def _is_native_array(r):
    return isinstance(r, (np.ndarray, np.generic)) or _package(r) == "cupy"


def _convert_out(kind, r, given):
    """``r`` with its arrays in the caller's kind; ``given`` maps ``id`` of a native view
    of an ``out`` argument to the caller's own object, which is returned instead."""
    if id(r) in given:
        return given[id(r)]
    if _is_native_array(r):
        return kind.from_native(r)
    if type(r) in (tuple, list):  # plain sequences of results; records (namedtuples) stay
        return type(r)(_convert_out(kind, x, given) for x in r)
    return r


def _out_origins(given, native):
    """Map each native view of ``out`` (an array, or a list of arrays) to the caller's."""
    if given is None:
        return {}
    if type(given) in (list, tuple) and type(native) in (list, tuple):
        return {id(n): g for g, n in zip(given, native)}
    return {id(native): given}


def scan(op, values):
    """The one foreign kind among ``values``, or None (for stateful objects, which keep
    the kind of the arrays they were made with); TypeError for two foreign libraries."""
    return _scan(op, values)


def to_native(op, kind, name, value, held=False):
    """``value`` (an array of ``kind``, a native array, None, or a list of arrays) as a
    NumPy/CuPy array viewing the same memory; ``held`` as for :func:`_convert_in`."""
    return _convert_in(op, kind, name, value, held)


def device(kind):
    """A context manager making the CUDA device of ``kind``'s tensors current (nothing for
    host arrays, or for ``kind`` None)."""
    index = None if kind is None else kind.cuda_index
    if index is None:
        return contextlib.nullcontext()
    import cupy

    return cupy.cuda.Device(index)


def callers_kind(func: _F) -> _F:
    """Decorate a public op so that foreign arrays (PyTorch, array-API libraries) come back
    as their own kind; see the module docstring.

    The op's output parameter, if any, is named ``out`` and its stream parameter
    ``stream``. The decorated op keeps its signature and type (for type checkers too).
    """
    sig = inspect.signature(func)
    positional = [p.name for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    out_pos = positional.index("out") if "out" in positional else None
    has_out = "out" in sig.parameters
    stream_pos = positional.index("stream") if "stream" in positional else None
    has_stream = "stream" in sig.parameters
    kinds = {p.kind for p in sig.parameters.values()}
    names = frozenset(n for n, p in sig.parameters.items() if p.kind not in (
        p.POSITIONAL_ONLY, p.VAR_POSITIONAL, p.VAR_KEYWORD))
    op = func.__name__

    def malformed(args, kwargs):
        """A call Python itself refuses (too many arguments, an unknown keyword, one given
        twice): made as it is, so the TypeError is Python's, before any conversion."""
        return ((len(args) > len(positional) and inspect.Parameter.VAR_POSITIONAL not in kinds)
                or (inspect.Parameter.VAR_KEYWORD not in kinds and not names.issuperset(kwargs))
                or any(k in kwargs for k in positional[:len(args)]))

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        kind = _scan(op, (*args, *kwargs.values()) if kwargs else args)
        if kind is None or malformed(args, kwargs):
            return func(*args, **kwargs)
        # Arguments are converted where they stand (no signature binding: a tensor call
        # costs a few microseconds, not tens); a wrong call fails in func as it would.
        given, given_kw = args, kwargs
        args = [_convert_in(op, kind, positional[i] if i < len(positional) else f"args[{i}]",
                            v, i == out_pos and "it is written") for i, v in enumerate(args)]
        kwargs = {k: _convert_in(op, kind, k, v, k == "out" and "it is written")
                  for k, v in kwargs.items()}
        origins = {}
        if out_pos is not None and out_pos < len(args):
            origins = _out_origins(given[out_pos], args[out_pos])
        elif has_out and "out" in kwargs:
            origins = _out_origins(given_kw["out"], kwargs["out"])
        if kind.cuda_index is not None and has_stream:
            if stream_pos is not None and stream_pos < len(args):
                if args[stream_pos] is None:
                    args[stream_pos] = kind.current_stream()
            elif kwargs.get("stream") is None:
                kwargs["stream"] = kind.current_stream()
        if kind.cuda_index is None:
            result = func(*args, **kwargs)
        else:
            with device(kind):
                result = func(*args, **kwargs)
        return _convert_out(kind, result, origins)

    wrapper.__signature__ = sig
    return typing.cast(_F, wrapper)
