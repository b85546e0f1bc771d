"""Compile CUDA sources as host C++ for the emulator, and cache the shared libraries.

Two kinds of library, each cached on disk under a hash of everything that goes into it
(compiler and its version, flags, the emulator's headers, the source and the headers next
to it, the name expressions), so a second run compiles nothing:

* the runtime, ``libbfemu_rt-<hash>.so`` (``runtime/runtime.cpp``): scheduler, barriers,
  warp collectives, launches; loaded once per process with ``RTLD_GLOBAL``;
* one kernel library per source: ``#include "bfemu_prelude.h"``, the ``.cu`` source
  unchanged, definitions for its ``extern __shared__`` arrays, and one ``extern "C"``
  entry point per name expression.

Builds are atomic (written to a temporary name, then renamed) and serialized between
processes by a lock file, so concurrent test processes share one cache safely.
"""

import fcntl
import functools
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile

from ._errors import EmulatorCompileError

HERE = pathlib.Path(__file__).resolve().parent
INCLUDE_DIR = HERE / "include"
RUNTIME_SOURCE = HERE / "runtime" / "runtime.cpp"

#: Bytes reserved for each ``extern __shared__`` array: the most dynamic shared memory an
#: H200 block may opt in to (227 KB).
DYN_SHARED_CAPACITY = 232448

_BASE_FLAGS = ("-std=c++17", "-fPIC", "-shared", "-fvisibility=hidden", "-pthread",
               "-fno-extern-tls-init", "-ffp-contract=off", "-fno-strict-aliasing",
               "-Wno-attributes", "-Wno-unused-result")
_OPT_FLAGS = ("-O2",)
_ASAN_FLAGS = ("-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer")


def sanitizer():
    """The sanitizer requested by ``BLASFAST_EMULATOR_SANITIZE``: ``None`` or ``"address"``."""
    value = os.environ.get("BLASFAST_EMULATOR_SANITIZE", "").strip().lower()
    if value in ("", "0", "none", "off"):
        return None
    if value in ("address", "asan"):
        return "address"
    raise ValueError(f"BLASFAST_EMULATOR_SANITIZE must be 'address' or empty, got {value!r}")


def cache_dir():
    """Where compiled emulator libraries are kept (``BLASFAST_EMULATOR_CACHE``)."""
    root = os.environ.get("BLASFAST_EMULATOR_CACHE")
    if root:
        return pathlib.Path(root)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return pathlib.Path(base) / "blasfast" / "emulator"


@functools.lru_cache(maxsize=None)
def _compiler_for(cxx):
    path = shutil.which(cxx)
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    version = out.stdout.splitlines()[0] if out.stdout else ""
    m = re.search(r"(\d+)\.(\d+)", version)
    major = int(m.group(1)) if m else 0
    clang = "clang" in version.lower()
    if (clang and major < 10) or (not clang and major < 12):
        return None
    return path, version


def compiler():
    """``(path, version line)`` of the C++ compiler the emulator uses, or None.

    ``BLASFAST_EMULATOR_CXX`` or ``CXX`` if set, else the first of ``g++``, ``clang++``,
    ``c++`` on the PATH that is g++ >= 12 or clang >= 10.
    """
    env = os.environ.get("BLASFAST_EMULATOR_CXX") or os.environ.get("CXX")
    for cxx in ([env] if env else ["g++", "clang++", "c++"]):
        found = _compiler_for(cxx)
        if found:
            return found
    return None


def unavailable_reason():
    """Why the emulator cannot run here, or None when it can."""
    if compiler() is None:
        return ("the CUDA emulator needs a C++17 compiler (g++ >= 12 or clang >= 10) on the "
                "PATH, or BLASFAST_EMULATOR_CXX")
    if cuda_include_dir() is None:
        return ("the CUDA emulator needs the CUDA headers (cuda_fp16.h and nv/target): pip "
                "install nvidia-cuda-runtime nvidia-cuda-cccl (both in blasfast[test])")
    return None


def _include_candidates():
    from ..kernels import _compile

    seen = set()
    for d in _compile._include_candidates():
        if d not in seen:
            seen.add(d)
            yield d
    try:
        from cuda.pathfinder import find_nvidia_header_directory

        found = find_nvidia_header_directory("cccl")
        if found:
            yield pathlib.Path(found)
    except Exception:  # not installed, or nothing found
        pass


@functools.lru_cache(maxsize=None)
def cuda_include_dir():
    """Include folders with ``cuda_fp16.h`` and ``cuda_bf16.h`` (and CCCL's ``nv/target``,
    which they include on the host), as a tuple; None if the headers are missing."""
    dirs = list(_include_candidates())
    fp16 = next((d for d in dirs if (d / "cuda_fp16.h").is_file()
                 and (d / "cuda_bf16.h").is_file()), None)
    target = next((d for d in dirs if (d / "nv" / "target").is_file()), None)
    if fp16 is None or target is None:
        return None
    return tuple(dict.fromkeys([str(fp16), str(target)]))


def flags():
    """The compiler flags of the current build mode (optimized, or AddressSanitizer)."""
    return _BASE_FLAGS + (_ASAN_FLAGS if sanitizer() == "address" else _OPT_FLAGS)


def _hash(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


def _emulator_sources_hash():
    files = sorted(INCLUDE_DIR.glob("*")) + [RUNTIME_SOURCE, pathlib.Path(__file__)]
    return _hash(*[f.name.encode() + f.read_bytes() for f in files])


def _run(cmd, what):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise EmulatorCompileError(f"{what}: could not run the compiler: {exc}") from exc
    if out.returncode != 0:
        log = (out.stderr or out.stdout).strip()
        if len(log) > 20000:
            log = log[:20000] + "\n... (truncated)"
        raise EmulatorCompileError(f"{what} failed to compile as host C++:\n{log}")
    return out


def _locked_build(target, build):
    """Run ``build(tmp_path)`` unless ``target`` exists, under an inter-process lock."""
    target = pathlib.Path(target)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(str(target) + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not target.exists():
                fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so.tmp")
                os.close(fd)
                try:
                    build(tmp)
                    os.replace(tmp, target)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def runtime_library():
    """Path of the runtime library for the current build mode, compiling it if needed."""
    cxx, version = _require_compiler()
    key = _hash(version, flags(), _emulator_sources_hash())
    target = cache_dir() / f"libbfemu_rt-{key}.so"

    def build(tmp):
        _run([cxx, *flags(), f"-I{INCLUDE_DIR}", str(RUNTIME_SOURCE), "-o", tmp],
             "the emulator runtime")

    return _locked_build(target, build)


def _require_compiler():
    reason = unavailable_reason()
    if reason:
        raise EmulatorCompileError(reason)
    return compiler()


_DYN_DECL = re.compile(r"\bextern\s+thread_local\s+([^;{}]*?)\s*\b([A-Za-z_]\w*)\s*\[\s*\]\s*;")
_ATTR = re.compile(r"__attribute__\s*\(\((?:[^()]|\([^()]*\))*\)\)")


def _dynamic_shared_arrays(preprocessed):
    """``[(type, name)]`` of the ``extern __shared__ T name[];`` declarations (after
    preprocessing, where ``__shared__`` reads ``thread_local``), first occurrence each."""
    found = {}
    for m in _DYN_DECL.finditer(preprocessed):
        decl_type, name = m.group(1).strip(), m.group(2)
        found.setdefault(name, decl_type)
    return [(t, n) for n, t in found.items()]


def _translation_unit(source_path, name_expressions, dyn_arrays):
    lines = ['#include "bfemu_prelude.h"', f'#include "{source_path}"', ""]
    for decl_type, name in dyn_arrays:
        plain = _ATTR.sub("", decl_type).strip()
        lines.append(f"thread_local {decl_type} {name}[{DYN_SHARED_CAPACITY} / sizeof({plain})] "
                     "__attribute__((aligned(256)));")
    entries = " ".join(f"X({name})" for _, name in dyn_arrays)
    lines += [f"#define BFEMU_DYN_CAPACITY {DYN_SHARED_CAPACITY}",
              f"#define BFEMU_DYN_ARRAY_LIST {entries}",
              '#include "bfemu_epilogue.h"', ""]
    for i, expr in enumerate(name_expressions):
        lines.append(f"BFEMU_KERNEL({i}, {expr})")
    return "\n".join(lines) + "\n"


def translate_options(options):
    """NVRTC/CuPy options -> ``(compiler flags, ignored options)``: include folders, macro
    definitions and the C++ standard carry over (at least C++17, which the prelude needs);
    code-generation options (``-arch``, ``-ftz``, ``--use_fast_math``, ...) have no host
    meaning."""
    out, ignored = [], []
    it = iter(options)
    for opt in it:
        if opt in ("-I", "--include-path", "-D", "--define-macro", "-U"):
            val = next(it, "")
            flag = {"--include-path": "-I", "--define-macro": "-D"}.get(opt, opt)
            out.append(flag + val)
        elif opt.startswith(("-I", "-D", "-U")):
            out.append(opt)
        elif opt.startswith(("--include-path=", "--define-macro=")):
            flag = "-I" if opt.startswith("--include-path=") else "-D"
            out.append(flag + opt.split("=", 1)[1])
        elif opt.startswith(("--std=", "-std=")):
            std = opt.split("=", 1)[1]
            if std in ("c++20", "c++2a", "c++23", "c++2b"):
                out.append(f"-std={std}")
        else:
            ignored.append(opt)
    return out, ignored


def kernel_library(code, name_expressions, options=(), source_name="kernel.cu",
                   source_path=None, extra_hash=()):
    """Compile ``code`` with its name expressions; return the library's path.

    ``source_path`` (a file holding ``code``, whose folder then serves its relative
    includes) is used as is when given; otherwise the code is written into the build
    folder under ``source_name``.
    """
    cxx, version = _require_compiler()
    user_flags, _ = translate_options(options)
    inc = [f"-I{INCLUDE_DIR}", *user_flags, *(f"-I{d}" for d in cuda_include_dir())]
    key = _hash(version, flags(), inc, _emulator_sources_hash(), code, source_name,
                "\n".join(name_expressions), *extra_hash)
    folder = cache_dir() / key
    target = folder / "kernels.so"

    def build(tmp):
        folder.mkdir(parents=True, exist_ok=True)
        src = pathlib.Path(source_path) if source_path else folder / source_name
        if not source_path:
            src.write_text(code)
        probe = folder / "probe.cpp"
        probe.write_text(f'#include "bfemu_prelude.h"\n#include "{src}"\n')
        pre = _run([cxx, "-std=c++17", "-E", "-P", *inc, str(probe)],
                   f"{source_name} (preprocessing)").stdout
        tu = folder / "unit.cpp"
        tu.write_text(_translation_unit(src, name_expressions, _dynamic_shared_arrays(pre)))
        _run([cxx, *flags(), *inc, str(tu), "-o", tmp], source_name)

    return _locked_build(target, build)
