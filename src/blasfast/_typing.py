"""Type aliases for the public API's annotations (``py.typed`` promises them).

blasfast takes arrays of several libraries and returns the caller's kind (NumPy in, NumPy
out; CuPy in, CuPy out; a PyTorch tensor in, a tensor out; a Dask array in, a Dask array
out). A static type cannot say "the kind that came in" for every mix of arguments without
dozens of overloads, so the aliases are deliberately plain:

``ArrayLike``
    what an array argument accepts: anything :data:`numpy.typing.ArrayLike` accepts (NumPy
    arrays, nested sequences, scalars), or a device array through DLPack or the CUDA array
    interface (CuPy, PyTorch, JAX, Numba), or a Dask array (checked at run time).
``Array``
    what an op returns: an array of the caller's kind. It is :data:`typing.Any` to a type
    checker, so that ``bf.matmul(a, b).sum()`` type-checks for every kind; the docstring's
    Returns section gives the shape and dtype.
``DTypeLike``
    :data:`numpy.typing.DTypeLike`.
``StreamLike``
    what ``stream=`` accepts: None, a ``cupy.cuda.Stream``/``ExternalStream``, an integer
    ``cudaStream_t`` handle, or any object with ``__cuda_stream__`` (``torch.cuda.Stream``,
    ``cuda.core`` streams).
``Int``
    an integer argument: :class:`typing.SupportsIndex` (an ``int`` or a NumPy integer, as
    :func:`blasfast._checks.integer` takes through :func:`operator.index`; a bool, which a
    type checker takes for an int, is refused at run time).
``Real``
    a real scalar argument: a Python ``float`` or ``int``, or a NumPy floating or integer
    scalar (what the checks of real numbers take: :class:`numbers.Real`, not bool).
``IntPair``
    ``stride``, ``dilation``, ``kernel_size``: an integer, or one per axis (rows, columns)
    as a tuple or a list.
``Padding``
    ``padding``: all sides, (rows, columns), ((top, bottom), (left, right)) as tuples or
    lists, ``'same'`` or ``'valid'``.
``Shape``
    a shape argument: a tuple or list of integers.

The tuple-or-list arguments are typed ``Sequence[Int]``: ``list`` is invariant, so no union
of list types takes both a ``list[int]`` variable and a literal such as ``[2, np.int64(3)]``.
The checks take a tuple or a list only; another sequence (a ``range``) is refused at run
time, as a bool where an integer is due.

Nothing here is imported at run time by user code; importing this module costs nothing
beyond :mod:`typing` and :mod:`numpy.typing`.
"""

from collections.abc import Sequence
from typing import Any, Literal, Protocol, SupportsIndex, Union

import numpy as np
import numpy.typing as npt

__all__ = ["Array", "ArrayLike", "DTypeLike", "Int", "IntPair", "Padding", "Real", "Shape",
           "StreamLike", "StreamObject", "SupportsCudaArrayInterface", "SupportsCudaStream",
           "SupportsDLPack"]


class SupportsDLPack(Protocol):
    """An object that exports its memory through DLPack (PyTorch, JAX, CuPy, NumPy >= 1.22)."""

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any: ...

    def __dlpack_device__(self) -> Any: ...


class SupportsCudaArrayInterface(Protocol):
    """An object exposing ``__cuda_array_interface__`` (CuPy, Numba, PyTorch CUDA tensors)."""

    @property
    def __cuda_array_interface__(self) -> Any: ...


class SupportsCudaStream(Protocol):
    """The CUDA stream protocol: ``__cuda_stream__()`` returns ``(version, handle)``."""

    def __cuda_stream__(self) -> Any: ...


class StreamObject(Protocol):
    """A stream object with a raw handle, usable in a ``with`` block (``cupy.cuda.Stream``,
    ``cupy.cuda.ExternalStream``, the emulator's stream)."""

    @property
    def ptr(self) -> int: ...


ArrayLike = Union[npt.ArrayLike, SupportsDLPack, SupportsCudaArrayInterface]
Array = Any
DTypeLike = npt.DTypeLike
StreamLike = Union[None, int, StreamObject, SupportsCudaStream]
#: An integer: an int or a NumPy integer (anything with ``__index__``).
Int = SupportsIndex
#: A real scalar: a Python float or int, or a NumPy floating or integer scalar.
Real = Union[float, np.floating[Any], np.integer[Any]]
#: Two integers, a tuple or a list (typed as a Sequence, see above).
_Pair = Sequence[Int]
#: ``stride``/``dilation``/``kernel_size``: an integer or one per axis (rows, columns).
IntPair = Union[Int, _Pair]
#: ``padding``: all sides, (rows, columns), ((top, bottom), (left, right)), or a mode.
Padding = Union[Int, _Pair, Sequence[_Pair], Literal["same", "valid"]]
#: A shape: a tuple or list of integers (typed as a Sequence, see above).
Shape = Sequence[Int]
