"""The emulator's exceptions."""

from .._errors import KernelCompileError


class EmulatorError(RuntimeError):
    """A kernel failed on the emulator: a collective its lanes did not all reach, a barrier
    after some threads exited, a WMMA misuse, a deadlock, a failed ``assert``, ... The
    message names the kernel, the block and the thread."""


class LaunchError(EmulatorError):
    """A launch the CUDA driver would refuse (block or grid too large, too much shared
    memory, arguments that do not match the kernel's parameters)."""


class EmulatorCompileError(KernelCompileError):
    """A CUDA source failed to compile as host C++ for the emulator; the message holds the
    compiler's log."""


class OverlapError(EmulatorError):
    """An assignment or ``out=`` whose input overlaps the array it writes, other than the
    very same view. NumPy defines the result (it copies the input first); CuPy copies the
    elements in parallel and does not, so code that works on NumPy can give a different
    answer on a GPU. Seen on an H200 with CuPy 14: ``a[:, 0] = a[:, 0].real`` on a complex
    array left the imaginary parts in place."""
