"""``bf.info()``: versions, GPU facts and the kernel cache location."""

import platform
import sys

import numpy as np
import scipy

from . import _backend


def info():
    """Describe this installation.

    Returns
    -------
    dict
        ``blasfast``, ``python``, ``numpy``, ``scipy`` and ``cupy`` versions (``cupy`` is
        None when not installed), ``gpu_available`` (bool), and when a GPU is usable its
        ``gpu_name``, ``compute_capability`` (e.g. ``"90"``), ``cuda_runtime`` and
        ``cuda_driver`` versions and ``gpu_count``; ``kernel_cache_dir`` (where CuPy keeps
        compiled kernels) and ``cuda_include_dir`` (the CUDA headers given to NVRTC, None
        when none were found). Never raises because of a missing or broken CUDA install: the
        reason goes to ``gpu_error``. With ``BLASFAST_EMULATOR=1`` the device is the CUDA
        emulator: ``device`` is ``"emulated sm_90 (H200)"``, ``emulator_compiler`` the host
        C++ compiler, ``kernel_cache_dir`` the emulator's library cache and
        ``emulator_schedule`` / ``emulator_sanitizer`` its settings.

    Notes
    -----
    Queries the device once (no kernel launch, no synchronization of pending work).
    """
    from . import __version__
    from .kernels._compile import cuda_include_dir

    d = {
        "blasfast": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cupy": None,
        "gpu_available": False,
        "kernel_cache_dir": _backend.kernel_cache_dir(),
        "cuda_include_dir": cuda_include_dir(),
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
