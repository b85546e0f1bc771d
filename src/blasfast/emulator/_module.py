"""CuPy's ``RawModule`` / ``RawKernel`` interface over kernels compiled for the emulator.

A :class:`Function` is what ``RawModule.get_function`` returns: call it as a
``cupy.RawKernel`` is called, ``kernel(grid, block, args, shared_mem=0, stream=None)``.
Before running, a launch is checked as the CUDA driver checks it (block and grid limits,
shared memory against ``max_dynamic_shared_size_bytes`` and the H200's 227 KB, registers
when known) and every argument against the kernel's declared parameter (count, pointer or
value, size and kind), which CuPy cannot do. The launch then runs to completion before the
call returns: the emulator is synchronous, whatever the stream.
"""

import collections
import contextlib
import ctypes
import dataclasses
import hashlib
import json
import os
import threading

import numpy as np

from ..kernels import _occupancy
from . import _build
from ._errors import EmulatorError, LaunchError

# --------------------------------------------------------------------------- the C ABI
_SINT, _UINT, _FLOAT, _POINTER, _OTHER, _BOOL = range(6)
_KIND_NAME = {_SINT: "signed integer", _UINT: "unsigned integer", _FLOAT: "floating point",
              _POINTER: "pointer", _OTHER: "struct", _BOOL: "bool"}
_ABI_VERSION = 3


class _Param(ctypes.Structure):
    _fields_ = [("size", ctypes.c_int), ("kind", ctypes.c_int)]


class _Kernel(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("nparams", ctypes.c_int),
                ("params", ctypes.POINTER(_Param)), ("bind", ctypes.c_void_p),
                ("run", ctypes.c_void_p), ("unbind", ctypes.c_void_p)]


class _ModuleInfo(ctypes.Structure):
    _fields_ = [("abi_version", ctypes.c_int), ("dyn_capacity", ctypes.c_size_t),
                ("ndyn", ctypes.c_int), ("dyn_array", ctypes.c_void_p),
                ("tls_block", ctypes.c_void_p)]


class _Config(ctypes.Structure):
    _fields_ = [("shuffle", ctypes.c_int), ("seed", ctypes.c_uint64),
                ("workers", ctypes.c_int), ("max_resident", ctypes.c_int),
                ("deadlock_seconds", ctypes.c_double), ("poison_shared", ctypes.c_int),
                ("stack_bytes", ctypes.c_size_t)]


class _Stats(ctypes.Structure):
    _fields_ = [("blocks_run", ctypes.c_uint64), ("max_resident_seen", ctypes.c_uint64)]


# --------------------------------------------------------------------------- settings
def _env_schedule():
    value = os.environ.get("BLASFAST_EMULATOR_SCHEDULE", "default").strip()
    if value in ("", "default", "round-robin"):
        return "default", 0
    kind, _, seed = value.partition(":")
    if kind != "shuffle":
        raise ValueError("BLASFAST_EMULATOR_SCHEDULE must be 'default' or 'shuffle:SEED', "
                         f"got {value!r}")
    try:
        return "shuffle", int(seed or 0)
    except ValueError:
        raise ValueError(f"BLASFAST_EMULATOR_SCHEDULE: the seed must be an integer, got "
                         f"{seed!r}") from None


@dataclasses.dataclass
class Settings:
    """How the emulator runs launches (see :func:`blasfast.emulator.configure`).

    Attributes
    ----------
    schedule : {'default', 'shuffle'}
        ``'default'``: the threads of a block resume in thread order (deterministic);
        ``'shuffle'``: in a random order seeded by ``seed`` and the block index, with
        fences and atomics as extra switch points. From ``BLASFAST_EMULATOR_SCHEDULE``
        (``default`` or ``shuffle:SEED``).
    seed : int
        The shuffle's seed.
    workers : int
        OS threads that run blocks in parallel (``BLASFAST_EMULATOR_WORKERS``; default: the
        CPU count, at most 4). More are started when blocks spin-wait on each other.
    deadlock_seconds : float
        How long every resident block may spin with no progress before the launch fails
        as deadlocked (``BLASFAST_EMULATOR_DEADLOCK_SECONDS``, default 5).
    poison_shared : bool
        Fill shared memory with 0xFF bytes (NaN, -1) at the start of every block.
    max_resident : int
        Cap on blocks resident at once (below the H200's own limit for the kernel);
        ``BLASFAST_EMULATOR_MAX_RESIDENT``, default 264 (two per SM).
    """

    schedule: str = "default"
    seed: int = 0
    workers: int = 1
    deadlock_seconds: float = 5.0
    poison_shared: bool = True
    max_resident: int = 264

    @classmethod
    def from_environment(cls):
        schedule, seed = _env_schedule()
        workers = int(os.environ.get("BLASFAST_EMULATOR_WORKERS",
                                     min(4, os.cpu_count() or 1)))
        return cls(schedule=schedule, seed=seed, workers=max(1, workers),
                   deadlock_seconds=float(os.environ.get("BLASFAST_EMULATOR_DEADLOCK_SECONDS",
                                                         5.0)),
                   poison_shared=os.environ.get("BLASFAST_EMULATOR_POISON", "1") != "0",
                   max_resident=int(os.environ.get("BLASFAST_EMULATOR_MAX_RESIDENT", 264)))


settings = Settings.from_environment()

# --------------------------------------------------------------------------- the H200
#: The device the emulator stands for, and the limits a launch is checked against.
H200 = dict(name="NVIDIA H200 (emulated)", sm_count=132, arch=90,
            max_threads_per_block=1024, max_block=(1024, 1024, 64),
            max_grid=(2**31 - 1, 65535, 65535), default_shared=48 * 1024,
            max_shared_optin=232448, shared_per_sm=233472, reserved_shared_per_block=1024,
            max_threads_per_sm=2048, max_blocks_per_sm=32, registers_per_sm=65536,
            max_registers_per_thread=255)


def blocks_per_sm(threads, shared_bytes, registers=None):
    """How many blocks of a kernel one H200 SM holds at once (0: the launch cannot run)."""
    return _occupancy.blocks_per_sm(threads, shared_bytes, registers, {
        "MaxBlocksPerMultiprocessor": H200["max_blocks_per_sm"],
        "MaxThreadsPerMultiProcessor": H200["max_threads_per_sm"],
        "MaxRegistersPerMultiprocessor": H200["registers_per_sm"],
        "MaxSharedMemoryPerMultiprocessor": H200["shared_per_sm"]})


# --------------------------------------------------------------------------- runtime
_runtime_lock = threading.Lock()
_runtimes = {}


def _asan_loaded():
    try:
        return hasattr(ctypes.CDLL(None), "__asan_init")
    except OSError:  # pragma: no cover
        return False


def _runtime():
    mode = _build.sanitizer()
    rt = _runtimes.get(mode)
    if rt is not None:
        return rt
    with _runtime_lock:
        rt = _runtimes.get(mode)
        if rt is None:
            if mode == "address" and not _asan_loaded():
                raise EmulatorError(
                    "BLASFAST_EMULATOR_SANITIZE=address needs the AddressSanitizer runtime "
                    "loaded before Python starts (and libstdc++ beside it): run\n"
                    "  ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD=\"$(g++ -print-file-name="
                    "libasan.so) $(g++ -print-file-name=libstdc++.so)\" python ...")
            path = _build.runtime_library()
            rt = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
            rt.bfemu_launch.restype = ctypes.c_int
            rt.bfemu_launch.argtypes = [
                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint), ctypes.c_size_t,
                ctypes.POINTER(_Config), ctypes.POINTER(_Stats), ctypes.c_char_p,
                ctypes.c_size_t]
            _runtimes[mode] = rt
    return rt


# --------------------------------------------------------------------------- libraries
class _Library:
    """One compiled kernel library: its module info and one entry per name expression."""

    def __init__(self, path, name_expressions):
        _runtime()  # the kernels' undefined bfemu_* symbols resolve against it
        self.path = str(path)
        self.lib = ctypes.CDLL(self.path)
        info = self.lib.bfemu_module_info
        info.restype = ctypes.POINTER(_ModuleInfo)
        self.module = info()
        if self.module.contents.abi_version != _ABI_VERSION:
            raise EmulatorError(f"{self.path}: built for emulator ABI "
                                f"{self.module.contents.abi_version}, expected {_ABI_VERSION}")
        self.kernels = {}
        for i, expr in enumerate(name_expressions):
            fn = getattr(self.lib, f"bfemu_kernel_{i}")
            fn.restype = ctypes.POINTER(_Kernel)
            k = fn()
            params = [(k.contents.params[j].size, k.contents.params[j].kind)
                      for j in range(k.contents.nparams)]
            self.kernels[expr] = (k, params)


def _resources(code, name_expressions, options):
    """``{name: (registers, static shared bytes)}`` from NVRTC's ptxas report for sm_90,
    cached on disk, or ``{}`` when NVRTC is not installed (then registers are unknown and
    static shared memory counts as 0 in the launch checks)."""
    if os.environ.get("BLASFAST_EMULATOR_RESOURCES", "nvrtc") == "none":
        return {}
    try:
        from cuda.bindings import nvrtc  # noqa: F401
    except ImportError:
        return {}
    from ..kernels import _check, _compile

    key = hashlib.sha256("\0".join([code, *name_expressions, *options]).encode()).hexdigest()
    path = _build.cache_dir() / "resources" / f"{key[:24]}.json"
    if path.exists():
        try:
            return {k: tuple(v) for k, v in json.loads(path.read_text()).items()}
        except (OSError, ValueError):
            pass
    fam = _compile.Family("emulated", "kernel.cu", tuple(name_expressions))
    try:
        reports = _check.compile_source(fam, code, 90, tuple(options))
    except _check.CheckError:
        return {}  # NVRTC rejects it: the host build decides whether it compiles at all
    out = {r.name_expression: (r.registers, r.smem_bytes) for r in reports}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(out))
    os.replace(tmp, path)
    return out


#: How often each (source label, name expression) has launched in this process.
executed = collections.Counter()

_recorded = None  # the list record_launches() fills, or None: launches run


class _Recorded(list):
    keep_args = False


@contextlib.contextmanager
def record_launches(keep_args=False):
    """Within the block, a launch is appended to the yielded list as ``(name expression,
    grid, block, args)`` and returns at once: nothing is checked, run or counted in
    :data:`executed`, and the results are left unwritten. For timing the host work up to a
    launch (``bench/bench_overhead.py``) without the emulated kernel's execution. ``args``
    is None unless ``keep_args`` (keeping them keeps every array alive)."""
    global _recorded
    saved, _recorded = _recorded, _Recorded()
    _recorded.keep_args = keep_args
    try:
        yield _recorded
    finally:
        _recorded = saved


def _dims(value, what, name):
    if isinstance(value, (int, np.integer)):
        value = (int(value),)
    try:
        dims = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"kernel '{name}': {what} must be an int or a tuple of up to 3 ints, "
                        f"got {value!r}") from None
    if not 1 <= len(dims) <= 3:
        raise TypeError(f"kernel '{name}': {what} must have 1 to 3 dimensions, got {value!r}")
    return dims + (1,) * (3 - len(dims))


class Function:
    """One emulated kernel: called as ``cupy.RawKernel`` is.

    Attributes
    ----------
    max_dynamic_shared_size_bytes : int
        The most dynamic shared memory a launch may ask for. Starts at 48 KB minus the
        kernel's static shared memory, as on CUDA; raise it (up to 227 KB minus the static
        part) to opt in to more, as with ``cupy.RawKernel``.
    """

    def __init__(self, module, name):
        self._module = module
        self.name = name
        self._kernel, self._params = module._library.kernels[name]
        regs, static = module._resources.get(name, (None, 0))
        self.num_regs = regs
        self.shared_size_bytes = static
        self.max_dynamic_shared_size_bytes = H200["default_shared"] - static

    @property
    def attributes(self):
        """A dict like ``cupy.RawKernel.attributes`` (registers may be None: unknown)."""
        return {"max_threads_per_block": H200["max_threads_per_block"],
                "shared_size_bytes": self.shared_size_bytes, "num_regs": self.num_regs,
                "max_dynamic_shared_size_bytes": self.max_dynamic_shared_size_bytes,
                "ptx_version": 90, "binary_version": 90}

    @property
    def param_sizes(self):
        """Size in bytes of each declared parameter."""
        return [s for s, _ in self._params]

    def __repr__(self):
        return f"<blasfast.emulator.Function {self.name!r}>"

    # ------------------------------------------------------------------ launch
    def _check_launch(self, grid, block, shared_mem):
        name = self.name
        if any(b < 1 for b in block) or any(g < 1 for g in grid):
            raise LaunchError(f"kernel '{name}': invalid launch: grid {grid} and block {block} "
                              "must be positive in every dimension")
        threads = block[0] * block[1] * block[2]
        if threads > H200["max_threads_per_block"] or any(
                b > m for b, m in zip(block, H200["max_block"])):
            raise LaunchError(f"kernel '{name}': block {block} has {threads} threads; at most "
                              f"1024 threads and {H200['max_block']} per dimension")
        if any(g > m for g, m in zip(grid, H200["max_grid"])):
            raise LaunchError(f"kernel '{name}': grid {grid} exceeds the limits "
                              f"{H200['max_grid']} (x, y, z)")
        shared_mem = int(shared_mem)
        static = self.shared_size_bytes
        limit = self.max_dynamic_shared_size_bytes
        if limit + static > H200["max_shared_optin"]:
            raise LaunchError(f"kernel '{name}': max_dynamic_shared_size_bytes = {limit} plus "
                              f"{static} B of static shared memory exceeds the H200's "
                              f"{H200['max_shared_optin']} B per block")
        if shared_mem < 0 or shared_mem > limit:
            raise LaunchError(
                f"kernel '{name}': shared_mem = {shared_mem} B exceeds the kernel's "
                f"max_dynamic_shared_size_bytes = {limit} B (48 KB minus {static} B static by "
                "default; raise the attribute to opt in to more, up to 227 KB in all)")
        if self.num_regs and self.num_regs * -(-threads // 32) * 32 > H200["registers_per_sm"]:
            raise LaunchError(f"kernel '{name}': too many resources requested for launch: "
                              f"{self.num_regs} registers x {threads} threads")
        per_sm = blocks_per_sm(threads, static + shared_mem, self.num_regs)
        if per_sm == 0:
            raise LaunchError(f"kernel '{name}': too many resources requested for launch "
                              f"({threads} threads, {static + shared_mem} B shared memory)")
        return threads, shared_mem, per_sm * H200["sm_count"]

    def _marshal(self, args):
        name = self.name
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"kernel '{name}': args must be a tuple, got {type(args).__name__}")
        if len(args) != len(self._params):
            raise LaunchError(f"kernel '{name}' takes {len(self._params)} arguments, got "
                              f"{len(args)}")
        from ._array import ndarray

        holders = []
        for i, (arg, (size, kind)) in enumerate(zip(args, self._params)):
            what = f"kernel '{name}': argument {i}"
            if type(arg) is ndarray or isinstance(arg, ndarray):
                if kind != _POINTER:
                    raise LaunchError(f"{what} is an array but the parameter is a "
                                      f"{size}-byte {_KIND_NAME[kind]}")
                holders.append(ctypes.c_void_p(arg.data.ptr))
                continue
            if arg is None:
                if kind != _POINTER:
                    raise LaunchError(f"{what} is None but the parameter is not a pointer")
                holders.append(ctypes.c_void_p(0))
                continue
            if isinstance(arg, np.ndarray):
                raise TypeError(f"{what} is a host numpy.ndarray: move it to the emulated "
                                "device with blasfast.emulator.asarray first")
            if isinstance(arg, bool):
                arg = np.bool_(arg)
            elif isinstance(arg, int):
                arg = np.int64(arg)  # CuPy passes a Python int as a long long
            elif isinstance(arg, float):
                arg = np.float64(arg)  # ... and a Python float as a double
            elif isinstance(arg, complex):
                arg = np.complex128(arg)
            if not isinstance(arg, np.generic):
                raise TypeError(f"{what}: unsupported type {type(arg).__name__}")
            holders.append(self._value(what, arg, size, kind))
        ptrs = (ctypes.c_void_p * max(1, len(holders)))(
            *[ctypes.cast(ctypes.pointer(h), ctypes.c_void_p) for h in holders])
        return ptrs, holders

    @staticmethod
    def _value(what, arg, size, kind):
        dt = arg.dtype
        if kind == _POINTER:
            raise LaunchError(f"{what} is a {dt} value but the parameter is a pointer")
        if kind == _FLOAT:
            if dt.kind != "f" or dt.itemsize != size:
                raise LaunchError(f"{what} is {dt} but the parameter is a {size}-byte float: "
                                  f"pass numpy.float{8 * size}(x) (a Python float is a double)")
            raw = arg.tobytes()
        elif kind in (_SINT, _UINT, _BOOL):
            if dt.kind not in "iub":
                raise LaunchError(f"{what} is {dt} but the parameter is a {size}-byte "
                                  f"{_KIND_NAME[kind]}")
            if dt.itemsize < size:
                raise LaunchError(f"{what} is {dt} ({dt.itemsize} bytes) but the parameter "
                                  f"has {size}: the kernel would read bytes past the value")
            value = int(arg)
            lo, hi = ((-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if kind == _SINT
                      else (-(1 << (8 * size - 1)), (1 << (8 * size)) - 1))
            if not lo <= value <= hi:
                raise LaunchError(f"{what} = {value} does not fit the {size}-byte "
                                  f"{_KIND_NAME[kind]} parameter")
            raw = arg.tobytes()[:size]  # what the driver reads: the low bytes
        else:
            raw = arg.tobytes()
            if len(raw) != size:
                raise LaunchError(f"{what} has {len(raw)} bytes but the parameter has {size}")
        buf = ctypes.create_string_buffer(raw, max(1, len(raw)))
        return buf

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None,
                 enable_cooperative_groups=False):
        if _recorded is not None:  # record_launches(): note the launch, run nothing
            _recorded.append((self.name, grid, block, args if _recorded.keep_args else None))
            return
        name = self.name
        grid, block = _dims(grid, "grid", name), _dims(block, "block", name)
        threads, shared_mem, resident = self._check_launch(grid, block, shared_mem)
        ptrs, holders = self._marshal(args)
        cfg = _Config(shuffle=int(settings.schedule == "shuffle"), seed=settings.seed,
                      workers=settings.workers,
                      max_resident=max(1, min(resident, settings.max_resident)),
                      deadlock_seconds=settings.deadlock_seconds,
                      poison_shared=int(settings.poison_shared),
                      stack_bytes=(1024 if _build.sanitizer() else 256) * 1024)
        stats = _Stats()
        err = ctypes.create_string_buffer(4096)
        g = (ctypes.c_uint * 3)(*grid)
        b = (ctypes.c_uint * 3)(*block)
        rc = _runtime().bfemu_launch(
            ctypes.cast(self._kernel, ctypes.c_void_p),
            ctypes.cast(self._module._library.module, ctypes.c_void_p), ptrs, g, b,
            shared_mem, ctypes.byref(cfg), ctypes.byref(stats), err, len(err))
        del holders
        executed[(self._module.label, name)] += 1
        if rc != 0:
            raise EmulatorError(err.value.decode(errors="replace"))


class RawModule:
    """``cupy.RawModule`` for the emulator: CUDA source compiled as host C++.

    Parameters
    ----------
    code : str
        CUDA C++ source, unchanged from what NVRTC would get (no inline PTX: give `asm`
        statements an ``#if defined(BLASFAST_EMULATOR)`` host body).
    options : tuple of str, optional
        NVRTC options: ``-I``, ``-D``, ``-U`` and ``--std`` are honoured; code generation
        options (``-arch``, ``-ftz``, ...) have no host meaning and are ignored.
    name_expressions : sequence of str, optional
        Kernels to export, as for CuPy (template instantiations such as ``"k<float, 8>"``
        or plain ``extern "C"`` names). Without it, each name given to
        :meth:`get_function` is compiled on first request.
    label : str, optional
        Name under which launches are counted in the execution report.

    Notes
    -----
    Compiles on first use (or :meth:`compile`), with the system C++ compiler, into a cache
    keyed by source, options, compiler and flags. ``BLASFAST_EMULATOR_SANITIZE=address``
    builds with AddressSanitizer.
    """

    def __init__(self, code=None, *, path=None, options=(), backend="nvrtc",
                 translate_cucomplex=False, enable_cooperative_groups=False,
                 name_expressions=None, jitify=False, label=None, source_path=None,
                 extra_hash=()):
        if code is None:
            raise NotImplementedError("blasfast.emulator.RawModule needs CUDA source code; "
                                      "a cubin (path=) cannot run on the emulator")
        self.code = code
        self.options = tuple(options)
        self.name_expressions = tuple(name_expressions) if name_expressions else None
        self.label = label or "code:" + hashlib.sha256(code.encode()).hexdigest()[:12]
        self._source_path = source_path
        self._extra_hash = tuple(extra_hash)
        self._libraries = {}
        self._functions = {}
        self._lock = threading.Lock()

    def _load(self, names):
        names = tuple(names)
        lib = self._libraries.get(names)
        if lib is None:
            path = _build.kernel_library(self.code, names, self.options,
                                         source_name=self.label.replace(":", "_") + ".cu",
                                         source_path=self._source_path,
                                         extra_hash=self._extra_hash)
            lib = _Library(path, names)
            self._libraries[names] = lib
        return lib

    def compile(self, log_stream=None):
        """Compile now (all name expressions) instead of at first use."""
        if self.name_expressions:
            with self._lock:
                self._load(self.name_expressions)

    def get_function(self, name):
        """The :class:`Function` for one kernel (a name expression, or an ``extern "C"``
        name)."""
        fn = self._functions.get(name)
        if fn is not None:
            return fn
        with self._lock:
            fn = self._functions.get(name)
            if fn is None:
                if self.name_expressions is not None and name not in self.name_expressions:
                    raise KeyError(f"{name!r} is not among the module's name_expressions")
                names = self.name_expressions if self.name_expressions else (name,)
                lib = self._load(names)
                view = _ModuleView(lib, _resources(self.code, names, self.options),
                                   self.label)
                fn = Function(view, name)
                self._functions[name] = fn
        return fn


@dataclasses.dataclass
class _ModuleView:
    _library: _Library
    _resources: dict
    label: str


class RawKernel(Function):
    """``cupy.RawKernel`` for the emulator: one ``extern "C"`` kernel of a source.

    Parameters
    ----------
    code : str
        CUDA C++ source defining the kernel.
    name : str
        The kernel's name (``extern "C"``) or a name expression.
    options : tuple of str, optional
        As for :class:`RawModule`.

    Examples
    --------
    >>> import numpy as np, blasfast.emulator as em
    >>> k = em.RawKernel(r'''
    ... extern "C" __global__ void twice(const float* x, float* y, int n) {
    ...     int i = blockIdx.x * blockDim.x + threadIdx.x;
    ...     if (i < n) y[i] = 2 * x[i];
    ... }''', "twice")
    >>> x = em.arange(5, dtype=np.float32); y = em.empty_like(x)
    >>> k((1,), (32,), (x, y, np.int32(5)))
    >>> y.get()
    array([0., 2., 4., 6., 8.], dtype=float32)
    """

    def __init__(self, code, name, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, jitify=False):
        self._raw_module = RawModule(code, options=options, name_expressions=[name])
        fn = self._raw_module.get_function(name)
        self.__dict__.update(fn.__dict__)

    def compile(self, log_stream=None):
        """Compile now (already done by the constructor)."""
