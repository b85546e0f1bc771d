"""Shared fixtures: the array-module parametrization (NumPy always; the CUDA emulator where
a C++ compiler is present; CuPy on a GPU), a fresh, printed seed per test, and the report
of which kernel instantiations ran on the emulator."""

import collections
import json
import os
import pathlib
import zlib

import numpy as np
import pytest

from blasfast import _backend

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = pathlib.Path(os.environ.get("BLASFAST_DATA", ROOT.parent / "shared" / "data"))

_NO_GPU = "no usable CUDA GPU (CuPy missing or cupy.cuda.is_available() is False)"


def _emulator_reason():
    try:
        from blasfast import emulator
    except Exception as exc:  # pragma: no cover - a broken install
        return f"blasfast.emulator does not import: {exc}"
    return emulator.unavailable_reason()


def _real_gpu():
    cp = _backend._real_cupy()
    try:
        return cp is not None and bool(cp.cuda.is_available())
    except Exception:
        return False


NO_EMULATOR = _emulator_reason()
REAL_GPU = _real_gpu()


def emulator_param():
    """An ``emulator`` parameter marked ``gpu`` and ``emulator``: the GPU path with our
    kernels run by the CUDA emulator; skipped, with the reason, where it cannot build."""
    return pytest.param("emulator", marks=[
        pytest.mark.gpu, pytest.mark.emulator,
        pytest.mark.skipif(NO_EMULATOR is not None, reason=str(NO_EMULATOR))])


def cupy_param():
    """A ``cupy`` parameter marked ``gpu`` and ``cuda`` that skips, with the reason, where
    no GPU is usable."""
    return pytest.param("cupy", marks=[pytest.mark.gpu, pytest.mark.cuda,
                                       pytest.mark.skipif(not REAL_GPU, reason=_NO_GPU)])


def device_params():
    """The device parameters: the emulator, and CuPy on a real GPU. With
    ``BLASFAST_EMULATOR=1`` and no GPU, CuPy's parameter is left out instead of skipped,
    so that ``BLASFAST_EMULATOR=1 pytest -m gpu`` skips nothing for lack of a GPU."""
    if _backend.emulator_enabled() and not REAL_GPU:
        return [emulator_param()]
    return [emulator_param(), cupy_param()]


def array_module(name):
    """numpy, blasfast.emulator or cupy, by parameter name."""
    if name == "numpy":
        return np
    if name == "emulator":
        from blasfast import emulator

        return emulator
    import cupy

    return cupy


def _use_device(name, monkeypatch):
    """The array module for a parameter; a device module is also made the library's
    default device (``device='gpu'`` in ``bf.nn``, the CLI) for the test: the emulator
    through ``BLASFAST_EMULATOR=1``, CuPy by clearing it."""
    if name == "emulator":
        monkeypatch.setenv("BLASFAST_EMULATOR", "1")
    elif name == "cupy":
        monkeypatch.delenv("BLASFAST_EMULATOR", raising=False)
    return array_module(name)


@pytest.fixture(params=["numpy", *device_params()])
def xp(request, monkeypatch):
    """The array module a test runs on: numpy (CPU path), the emulator or cupy (GPU path)."""
    return _use_device(request.param, monkeypatch)


@pytest.fixture(params=device_params())
def dev(request, monkeypatch):
    """A device array module only: the emulator, or cupy on a GPU."""
    return _use_device(request.param, monkeypatch)



def is_emulator(xp):
    """True when ``xp`` is the emulator's namespace (to size work for a CPU)."""
    return getattr(xp, "__name__", "") == "blasfast.emulator"


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name (stable across runs), seed printed on failure."""
    seed = zlib.crc32(request.node.nodeid.encode())
    print(f"seed = {seed}")
    return np.random.default_rng(seed)


def to_numpy(x):
    """Host copy of a NumPy, CuPy or emulated array."""
    return x.get() if hasattr(x, "get") and not isinstance(x, np.ndarray) else np.asarray(x)


@pytest.fixture(scope="module")
def single_threaded_blas():
    """Run BLAS/LAPACK single-threaded for a module: the solver tests make many small LAPACK
    calls (panels, triangular solves, matrix-vector products), which OpenBLAS's threads
    slow down, badly so on a shared or oversubscribed CI machine (measured: a 2000 x 64
    ``sgetrf`` 0.6 ms on one thread, 80 ms on two under load)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


try:  # shape-fuzzing profiles: no deadline (first calls may compile kernels), fixed budget
    from hypothesis import settings

    # "blasfast" is CI's fixed profile; BLASFAST_HYPOTHESIS_PROFILE=long runs 20x the
    # examples (a longer differential search, e.g. overnight or before a release).
    settings.register_profile("blasfast", deadline=None, max_examples=60, print_blob=True)
    settings.register_profile("long", deadline=None, max_examples=1200, print_blob=True)
    settings.load_profile(os.environ.get("BLASFAST_HYPOTHESIS_PROFILE", "blasfast"))
except ImportError:  # pragma: no cover
    pass


# ------------------------------------------------------------- the emulator's execution report
#: Instantiations that no test launches on purpose, with the reason (none at present).
NOT_EXECUTED_ON_PURPOSE = {}


def _execution_report():
    from blasfast import emulator

    return emulator.execution_report()


def pytest_terminal_summary(terminalreporter):
    """List the kernel instantiations the emulator ran (and those it never ran)."""
    from blasfast.emulator import _module

    if not _module.executed:
        return
    report = _execution_report()
    ran = sum(1 for v in report.values() if v)
    missing = [k for k, v in report.items() if not v and k not in NOT_EXECUTED_ON_PURPOSE]
    tr = terminalreporter
    tr.section("CUDA emulator: kernel instantiations executed")
    tr.write_line(f"{ran} of {len(report)} declared instantiations ran on the emulator "
                  f"({sum(report.values())} launches)")
    for (fam, expr), why in NOT_EXECUTED_ON_PURPOSE.items():
        tr.write_line(f"  not run on purpose: {fam}: {expr} ({why})")
    for fam, expr in missing:
        tr.write_line(f"  never executed: {fam}: {expr}")
    out = os.environ.get("BLASFAST_EMULATOR_REPORT")
    if out:
        pathlib.Path(out).write_text(json.dumps(
            [{"family": f, "name_expression": e, "launches": n}
             for (f, e), n in sorted(report.items())], indent=1))


def pytest_sessionfinish(session, exitstatus):
    """``BLASFAST_EMULATOR_COVERAGE=require``: fail the run if a declared kernel
    instantiation never executed on the emulator; ``=families``: if a kernel family had no
    launch at all (for the sanitizer and shuffled-schedule passes, which run a subset)."""
    mode = os.environ.get("BLASFAST_EMULATOR_COVERAGE")
    if mode not in ("require", "families"):
        return
    report = _execution_report()
    if mode == "require":
        missing = [f"{fam}: {expr}" for (fam, expr), v in report.items()
                   if not v and (fam, expr) not in NOT_EXECUTED_ON_PURPOSE]
        what = "declared kernel instantiations"
    else:
        launches = collections.Counter()
        for (fam, _), v in report.items():
            launches[fam] += v
        missing = sorted(fam for fam, v in launches.items() if not v)
        what = "kernel families"
    if missing and session.exitstatus == 0:
        session.exitstatus = 1
        print(f"\nBLASFAST_EMULATOR_COVERAGE={mode}: {len(missing)} {what} never executed "
              "on the emulator:")
        for m in missing:
            print(f"  {m}")
