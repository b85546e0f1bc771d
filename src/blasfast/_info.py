"""``bf.info()``: versions, GPU facts and the kernel cache location; ``__version__``."""

import pathlib
import platform
import re
import sys
from typing import Any

import numpy as np
import scipy

from . import _backend


def _version():
    """blasfast's version, from one place: ``version`` in ``pyproject.toml``.

    An installed blasfast (wheel or editable) reads it from its metadata
    (``importlib.metadata``). A source tree run without an install (``PYTHONPATH=src``, as
    on the GPU machine) has no metadata: then the ``pyproject.toml`` two folders above this
    package is read (when it is blasfast's), and where there is none either the version
    is ``"0+unknown"``.
    """
    from importlib import metadata

    try:
        return metadata.version("blasfast")
    except metadata.PackageNotFoundError:
        pass
    try:
        lines = (pathlib.Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(
            encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    section, found = None, {}
    for line in lines:
        if line.startswith("["):
            section = line.strip()
        elif section == "[project]":
            m = re.match(r'(name|version)\s*=\s*"([^"]+)"', line)
            if m:
                found[m.group(1)] = m.group(2)
    if found.get("name") == "blasfast" and "version" in found:
        return found["version"]
    return "0+unknown"


__version__ = _version()


def info() -> dict[str, Any]:
    """Describe this installation.

    Returns
    -------
    dict
        ``blasfast``, ``python``, ``numpy``, ``scipy`` and ``cupy`` versions (``cupy`` is
        None when not installed), ``gpu_available`` (bool), and when a GPU is usable its
        ``gpu_name``, ``compute_capability`` (e.g. ``"90"``), ``cuda_runtime`` and
        ``cuda_driver`` versions and ``gpu_count``; ``kernel_cache_dir`` (where CuPy keeps
        compiled kernels) and ``cuda_include_dir`` (the folders of the CUDA headers given to
        NVRTC, comma-separated (two with CUDA 12's wheels), None when none were found). Never raises because of a missing or broken CUDA install: the
        reason goes to ``gpu_error``. With ``BLASFAST_EMULATOR=1`` the device is the CUDA
        emulator: ``device`` is ``"emulated sm_90 (H200)"``, ``emulator_compiler`` the host
        C++ compiler, ``kernel_cache_dir`` the emulator's library cache and
        ``emulator_schedule`` / ``emulator_sanitizer`` its settings.

    Notes
    -----
    Queries the device once (no kernel launch, no synchronization of pending work).
    """
    from .kernels._compile import cuda_include_dirs

    d = {
        "blasfast": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cupy": None,
        "gpu_available": False,
        "kernel_cache_dir": _backend.kernel_cache_dir(),
        "cuda_include_dir": ", ".join(cuda_include_dirs()) or None,
    }
    if _backend.emulator_enabled():
        return _emulator_info(d)
    cp = _backend._cupy()
    if cp is None:
        d["gpu_error"] = "CuPy is not installed (pip install blasfast[cuda])"
        return d
    d["cupy"] = cp.__version__
    if not _backend.gpu_available():
        d["gpu_error"] = "CuPy found no usable CUDA device"
        return d
    try:
        dev = cp.cuda.Device()
        props = cp.cuda.runtime.getDeviceProperties(dev.id)
        name = props["name"]
        d.update(
            gpu_available=True,
            gpu_name=name.decode() if isinstance(name, bytes) else str(name),
            compute_capability=str(dev.compute_capability),
            gpu_count=cp.cuda.runtime.getDeviceCount(),
            cuda_runtime=cp.cuda.runtime.runtimeGetVersion(),
            cuda_driver=cp.cuda.runtime.driverGetVersion(),
        )
    except Exception as exc:  # a driver/runtime mismatch must not break info()
        d["gpu_available"] = False
        d["gpu_error"] = f"{type(exc).__name__}: {exc}"
    return d


def _emulator_info(d):
    """``info()`` when ``BLASFAST_EMULATOR=1``: the emulated device's facts."""
    from . import emulator
    from .emulator import _build

    cp = _backend._real_cupy()
    d["cupy"] = None if cp is None else cp.__version__
    d["device"] = "emulated sm_90 (H200)"
    d["kernel_cache_dir"] = str(_build.cache_dir())
    dirs = _build.cuda_include_dir()
    d["cuda_include_dir"] = None if dirs is None else ", ".join(dirs)
    reason = emulator.unavailable_reason()
    if reason:
        d["gpu_error"] = f"the CUDA emulator cannot run: {reason}"
        return d
    s = emulator.settings
    d.update(gpu_available=True, gpu_name="NVIDIA H200 (blasfast emulator)",
             compute_capability="90", gpu_count=1,
             emulator_compiler=" ".join(map(str, _build.compiler())),
             emulator_schedule=s.schedule + (f":{s.seed}" if s.schedule == "shuffle" else ""),
             emulator_sanitizer=_build.sanitizer() or "none")
    return d
