"""A CUDA emulator: blasfast's own ``.cu`` kernels, and yours, run on the CPU.

The kernel sources are compiled unchanged (inline PTX has host bodies in
``kernels/ptx.cuh``) as host C++ with a prelude that supplies CUDA's execution model:
blocks run on a pool of OS threads, the threads of a block as fibers with real
``__syncthreads`` barriers; warp shuffles, votes, ``__syncwarp``, WMMA fragments and
``mma.sync`` are warp collectives that check their masks; ``__shared__`` memory is per
block; atomics, fences and ``__nanosleep`` spin-waits work across blocks, and a wait that
can never be satisfied is reported as a deadlock instead of hanging. Launches are checked
as the driver checks them.

This module is also a small CuPy-like array namespace over *emulated device memory*
(:class:`ndarray`, :func:`asarray`, :func:`asnumpy`, ``empty``/``zeros``/..., ``fft``,
``linalg``, ``cuda``), so that code written for ``cupy`` runs with ``xp =
blasfast.emulator``; :class:`RawModule` and :class:`RawKernel` have CuPy's interface.
With ``BLASFAST_EMULATOR=1`` set before import, the whole library runs its GPU path here.

Environment
-----------
``BLASFAST_EMULATOR=1``
    blasfast's GPU path runs on the emulator (``blasfast info`` says so).
``BLASFAST_EMULATOR_SCHEDULE=default|shuffle:SEED``
    Thread order within a block: thread order (deterministic), or seeded random.
``BLASFAST_EMULATOR_SANITIZE=address``
    Build kernels with AddressSanitizer; Python must start with the ASan runtime, and
    with libstdc++ beside it (else ASan cannot intercept the C++ throw that ends a failed
    launch's threads): ``ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD="$(g++
    -print-file-name=libasan.so) $(g++ -print-file-name=libstdc++.so)" python``.
``BLASFAST_EMULATOR_WORKERS``, ``BLASFAST_EMULATOR_CACHE``, ``BLASFAST_EMULATOR_CXX``
    OS threads for blocks; where compiled libraries are cached; the C++ compiler.

What it cannot tell: speed (nothing here is timed); FP32 denormal flushing (CuPy compiles
with ``-ftz=true``, the host keeps denormals) and the compiler's FMA contraction (the host
build contracts nothing: explicit ``fma`` calls only); the tensor cores' summation order
(products are exact, sums are in FP32 in k order); and races the schedule does not
provoke. Launches are synchronous, so a missing stream synchronization goes unseen.
"""

import contextlib as _contextlib
import dataclasses as _dataclasses

from ._errors import EmulatorCompileError, EmulatorError, LaunchError, OverlapError
from ._module import H200, Function, RawKernel, RawModule, Settings, settings
from ._report import execution_report, executed
from ._xp import *  # noqa: F401,F403  (the CuPy-like namespace)
from ._xp import __getattr__  # noqa: F401

__all__ = ["EmulatorCompileError", "EmulatorError", "LaunchError", "OverlapError", "Function",
           "RawKernel", "RawModule", "Settings", "settings", "configure", "is_available",
           "unavailable_reason", "enabled", "execution_report", "executed", "H200"]


def unavailable_reason():
    """Why the emulator cannot run here (no C++ compiler, no CUDA headers), or None."""
    from ._build import unavailable_reason as reason

    return reason()


def is_available():
    """True when kernels can be compiled and run on this machine."""
    return unavailable_reason() is None


def enabled():
    """True when ``BLASFAST_EMULATOR=1``: blasfast's GPU path runs on the emulator."""
    from .. import _backend

    return _backend.emulator_enabled()


@_contextlib.contextmanager
def configure(**changes):
    """Change :data:`settings` for a ``with`` block (e.g. ``schedule='shuffle', seed=3``).

    Examples
    --------
    >>> import blasfast.emulator as em
    >>> with em.configure(schedule="shuffle", seed=7):
    ...     em.settings.schedule
    'shuffle'
    """
    unknown = set(changes) - {f.name for f in _dataclasses.fields(Settings)}
    if unknown:
        raise TypeError(f"configure: unknown settings {sorted(unknown)}")
    if changes.get("schedule", "default") not in ("default", "shuffle"):
        raise ValueError("configure: schedule must be 'default' or 'shuffle'")
    old = {k: getattr(settings, k) for k in changes}
    for k, v in changes.items():
        setattr(settings, k, v)
    try:
        yield settings
    finally:
        for k, v in old.items():
            setattr(settings, k, v)
