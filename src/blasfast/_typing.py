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

Nothing here is imported at run time by user code; importing this module costs nothing
beyond :mod:`typing` and :mod:`numpy.typing`.
"""

from typing import Any, Protocol, Union

import numpy.typing as npt

__all__ = ["Array", "ArrayLike", "DTypeLike", "StreamLike", "StreamObject",
           "SupportsCudaArrayInterface", "SupportsCudaStream", "SupportsDLPack"]


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
