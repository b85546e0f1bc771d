"""Kernel families: declared as data at import, compiled lazily with CuPy + NVRTC.

A *family* is one ``.cu`` file plus the list of template instantiations (NVRTC *name
expressions*, e.g. ``"gemm_strided_batched<float, 64, 64, 16, 4, 4>"``) that the Python
launchers can ask for. Ops declare their family when their module is imported; nothing is
compiled until a launcher first calls :func:`get_function`. One ``cupy.RawModule`` is built
per (family, device), memoized here; CuPy also caches the cubin on disk, keyed by source,
options and NVRTC version, so a new process does not recompile.

The compile check (``python -m blasfast.kernels check``) uses :func:`nvrtc_options` so that
it compiles with exactly the options the runtime uses.
"""

import dataclasses
import functools
import os
import pathlib
import threading
from collections.abc import Iterable

from .._errors import KernelCompileError

KERNEL_DIR = pathlib.Path(__file__).resolve().parent

# Options blasfast passes to cupy.RawModule.
BASE_OPTIONS = ("--std=c++17", f"-I{KERNEL_DIR}")
# Options CuPy appends itself when it compiles a RawModule with NVRTC (see
# cupy/cuda/compiler.py: _compile_with_cache_cuda and _compile_using_nvrtc): flush
# denormals to zero in FP32 arithmetic, and treat unannotated functions as device code.
CUPY_ADDED_OPTIONS = ("-ftz=true", "--device-as-default-execution-space")
# The architectures the compile check builds for (A100 class and H100/H200 class).
CHECK_ARCHS = (80, 90)


@dataclasses.dataclass(frozen=True)
class Family:
    """A kernel family: one source file and every instantiation the launchers may use."""

    name: str
    source: str
    name_expressions: tuple

    def code(self):
        """The CUDA source text."""
        return (KERNEL_DIR / self.source).read_text()


_families = {}
_modules = {}            # (family, CUDA device id) -> cupy.RawModule
_emulator_modules = {}   # family -> blasfast.emulator.RawModule
_kernels = {}            # (family, name expression) -> Kernel
_lock = threading.Lock()


def declare(name, source, name_expressions):
    """Declare (or re-declare identically) a kernel family. Compiles nothing."""
    fam = Family(name, source, tuple(name_expressions))
    old = _families.setdefault(name, fam)
    if old != fam:
        raise RuntimeError(f"kernel family {name!r} declared twice with different contents")
    return fam


def element_strides(a):
    """Element strides of an array, as the ``long long`` (numpy.int64) kernel arguments the
    launchers pass for operands read or written in place."""
    import numpy as np

    return tuple(np.int64(s // a.itemsize) for s in a.strides)


def families():
    """All declared families, by name."""
    return dict(_families)


#: The headers blasfast's kernels include, the first one as the sign of a CUDA include
#: folder. ``mma.h`` (nvidia-cuda-runtime) includes ``crt/mma.h``, which only the
#: nvidia-cuda-crt wheel or a full toolkit ships.
_HEADERS = ("cuda_fp16.h", "cuda_bf16.h", "mma.h", "crt/mma.h")


def _include_candidates():
    """Include folders to try, in order: ``cuda.pathfinder``'s (a wheel or a toolkit) and
    the include folders of the other NVIDIA wheels beside it (CUDA 12's wheels split the
    headers: ``crt/mma.h`` is in nvidia-cuda-nvcc-cu12, the rest in the runtime's), then
    ``$CUDA_PATH``, ``$CUDA_HOME`` and ``/usr/local/cuda``."""
    try:
        from cuda.pathfinder import find_nvidia_header_directory

        found = find_nvidia_header_directory("cudart")
    except Exception:  # not installed, or nothing found
        found = None
    if found:
        found = pathlib.Path(found)
        yield found
        wheels = found.parent.parent  # site-packages/nvidia/<wheel>/include
        if wheels.name == "nvidia":
            yield from sorted(p for p in wheels.glob("*/include") if p != found)
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if root:
            yield pathlib.Path(root) / "include"


def pick_include_dirs(candidates):
    """The include folders NVRTC gets, as a tuple: the first folder of ``candidates`` that
    holds every header of :data:`_HEADERS`; else the first with all but ``crt/mma.h`` plus
    the first that holds ``crt/mma.h`` (CUDA 12's wheels); else the first that holds
    ``cuda_fp16.h`` (kernels without ``mma.h`` still compile); else ``()``."""
    candidates = list(candidates)
    has = {d: [(d / h).is_file() for h in _HEADERS] for d in candidates}
    full = next((d for d in candidates if all(has[d])), None)
    if full is not None:
        return (str(full),)
    main = next((d for d in candidates if all(has[d][:-1])), None)
    crt = next((d for d in candidates if has[d][-1]), None)
    if main is not None and crt is not None:
        return (str(main), str(crt))
    partial = next((d for d in candidates if has[d][0]), None)
    return () if partial is None else (str(partial),)


def pick_include_dir(candidates):
    """The first folder :func:`pick_include_dirs` picks, or None."""
    dirs = pick_include_dirs(candidates)
    return dirs[0] if dirs else None


@functools.lru_cache(maxsize=None)
def cuda_include_dirs():
    """The folders of the CUDA headers (``cuda_fp16.h``, ``cuda_bf16.h``, ``mma.h`` and the
    ``crt/mma.h`` it includes) NVRTC needs, as a tuple (empty when none are found).

    Looked up with ``cuda.pathfinder`` (the ``nvidia-cuda-runtime`` wheel or a CUDA
    toolkit) and the NVIDIA wheels beside it, then ``$CUDA_PATH``/``$CUDA_HOME``, then
    ``/usr/local/cuda``; the first complete folder wins, so that a runtime wheel without
    ``crt/mma.h`` (no nvidia-cuda-crt beside it) does not hide a toolkit that has it. With
    CUDA 12's wheels two folders are needed: the runtime's and nvcc's (``crt/mma.h``).
    NVRTC itself ships no headers; kernels that use only built-in types compile without
    them.
    """
    return pick_include_dirs(_include_candidates())


def cuda_include_dir():
    """The main folder of :func:`cuda_include_dirs` (``cuda_fp16.h``), or None."""
    dirs = cuda_include_dirs()
    return dirs[0] if dirs else None


def runtime_options():
    """The options blasfast passes to ``cupy.RawModule``."""
    return BASE_OPTIONS + tuple(f"-I{d}" for d in cuda_include_dirs())


def nvrtc_options(arch):
    """The full NVRTC option list the runtime uses for compute capability ``arch``."""
    return runtime_options() + CUPY_ADDED_OPTIONS + (f"-arch=sm_{arch}",)


def get_function(family, name_expression):
    """The kernel for one instantiation: called as a ``cupy.RawKernel`` is,
    ``kernel(grid, block, args, shared_mem=0)``.

    Where it runs follows the arrays among ``args``: on the CUDA emulator
    (:mod:`blasfast.emulator`) for emulated device arrays, on the current CUDA device
    otherwise. Nothing compiles until the first launch on each; then the whole family
    compiles at once (all its instantiations) and stays memoized per device.

    Raises
    ------
    KeyError
        If the instantiation is not declared in the family.
    KernelCompileError
        At the first launch, if the source fails to compile (NVRTC's or the host
        compiler's log in the message).
    """
    fam = _families[family]
    if name_expression not in fam.name_expressions:
        raise KeyError(f"{name_expression!r} is not declared in kernel family {family!r}")
    key = (family, name_expression)
    kern = _kernels.get(key)
    if kern is None:
        kern = _kernels.setdefault(key, Kernel(family, name_expression))
    return kern


class Kernel:
    """One declared instantiation, launched on the device its array arguments live on."""

    def __init__(self, family, name_expression):
        self.family = family
        self.name = name_expression
        self._max_dynamic_shared = None
        self._emulated = None

    @property
    def max_dynamic_shared_size_bytes(self):
        """The dynamic shared memory a launch may use (48 KB unless raised), as on
        ``cupy.RawKernel``; a value set here applies to every device."""
        return 48 * 1024 if self._max_dynamic_shared is None else self._max_dynamic_shared

    @max_dynamic_shared_size_bytes.setter
    def max_dynamic_shared_size_bytes(self, value):
        self._max_dynamic_shared = int(value)

    def attributes_for(self, array):
        """``cupy.RawKernel.attributes`` (registers, static shared memory, ...) of this
        kernel on the device ``array`` lives on (compiles it if needed)."""
        from .. import _backend

        fn = (self._emulator_function() if _backend.is_emulated(array)
              else self._cuda_function())
        return fn.attributes

    def __call__(self, grid, block, args, **kwargs):
        from .. import _backend

        fn = self._emulator_function() if _backend.any_emulated(args) else self._cuda_function()
        if self._max_dynamic_shared is not None:
            fn.max_dynamic_shared_size_bytes = self._max_dynamic_shared
        return fn(grid, block, args, **kwargs)

    def _cuda_function(self):
        import cupy

        key = (self.family, cupy.cuda.Device().id)
        mod = _modules.get(key)
        if mod is None:
            with _lock:
                mod = _modules.get(key)
                if mod is None:
                    fam = _families[self.family]
                    try:
                        mod = cupy.RawModule(code=fam.code(), options=runtime_options(),
                                             name_expressions=list(fam.name_expressions))
                        mod.compile()
                    except cupy.cuda.compiler.CompileException as exc:
                        raise KernelCompileError(
                            f"kernel family {self.family!r} ({fam.source}) failed to "
                            f"compile:\n{exc}") from exc
                    _modules[key] = mod
        return mod.get_function(self.name)

    def _emulator_function(self):
        if self._emulated is None:
            self._emulated = emulator_module(self.family).get_function(self.name)
        return self._emulated


def emulator_module(family):
    """The :class:`blasfast.emulator.RawModule` of a family (compiled on first use)."""
    mod = _emulator_modules.get(family)
    if mod is None:
        from .. import emulator
        from ..emulator._report import FAMILY_LABEL

        fam = _families[family]
        headers = tuple(p.read_bytes() for p in sorted(KERNEL_DIR.glob("*.cuh")))
        mod = emulator.RawModule(code=fam.code(), options=runtime_options(),
                                 name_expressions=list(fam.name_expressions),
                                 label=FAMILY_LABEL.format(family),
                                 source_path=str(KERNEL_DIR / fam.source), extra_hash=headers)
        mod = _emulator_modules.setdefault(family, mod)
    return mod


def warmup(families: Iterable[str] | None = None) -> list[str]:
    """Compile kernel families for the current device ahead of use.

    Parameters
    ----------
    families : iterable of str, optional
        Family names (``"gemm"``, ...); default: every declared family.

    Returns
    -------
    list of str
        The families compiled (or found already compiled) for this device.

    Raises
    ------
    RuntimeError
        If no CUDA GPU is usable.
    TypeError
        If ``families`` is not an iterable of names (a single string included).
    ValueError
        For an unknown family name (checked before anything compiles).
    KernelCompileError
        If a family fails to compile.

    Notes
    -----
    Compiling takes NVRTC seconds per family the first time on a machine, much less once
    CuPy's on-disk cache holds the cubins; call this before timing anything. Synchronous.
    """
    from .. import _backend
    from .._checks import choice, describe

    if families is None:
        names = list(_families)
    elif isinstance(families, (str, bytes)) or not hasattr(families, "__iter__"):
        raise TypeError(f"warmup: families must be an iterable of family names such as "
                        f"['gemm'], got {describe(families)}")
    else:
        names = [choice("warmup", "families", name, tuple(_families)) for name in families]
    if not _backend.gpu_available():
        raise RuntimeError("warmup: no usable CUDA GPU; kernels compile only for a device "
                           "(use `python -m blasfast.kernels check` to compile-check "
                           "without one)")
    for name in names:
        fam = _families[name]
        get_function(name, fam.name_expressions[0])
    return names
