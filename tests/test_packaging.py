"""The package installs right (issue #14): a licence file, ``py.typed``, URLs and
classifiers, dependency floors that are true, extras that bring the CUDA pieces from
wheels, and the version in one place.

The floors themselves are proved by ``.ci/run``'s floors job, which installs exactly the
declared lower bounds and runs the CPU-path tests on them; here the declarations are read
and a wheel is built and opened.
"""

import email
import importlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from unittest import mock

import pytest

import blasfast
from blasfast import _info

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]


def requirement(reqs, name):
    """The requirement string for ``name`` in the list ``reqs`` (exactly one)."""
    found = [r for r in reqs if re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0] == name]
    assert len(found) == 1, (name, reqs)
    return found[0]


def test_license_file_is_bsd_3_clause_and_declared():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026 The blasfast developers" in text
    assert "Neither the name of the copyright holder" in text      # the third clause
    assert PROJECT["license"] == "BSD-3-Clause"
    assert PROJECT["license-files"] == ["LICENSE"]
    # an SPDX expression in `license` needs setuptools >= 77 (PEP 639); 68 fails the build
    build = requirement(PYPROJECT["build-system"]["requires"], "setuptools")
    assert build == "setuptools>=77"
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]  # PEP 639


def test_urls_classifiers_and_py_typed():
    assert set(PROJECT["urls"]) >= {"Homepage", "Source", "Issues"}
    assert all(u.startswith("https://") for u in PROJECT["urls"].values())
    assert "Typing :: Typed" in PROJECT["classifiers"]
    assert "Programming Language :: Python :: 3" in PROJECT["classifiers"]
    assert (ROOT / "src" / "blasfast" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["blasfast"]


def test_dependency_floors_are_the_true_ones():
    """Issue #14: ``import blasfast`` failed on numpy 1.24 (``numpy.exceptions``) and
    cupy-cuda13x 14 needs numpy >= 2.0; the solvers' fallback calls
    ``scipy.linalg.lapack.dtrcon``, which scipy has from 1.15 (found by installing the
    floors: 1.13 and 1.14 fail the fallback tests)."""
    deps = PROJECT["dependencies"]
    assert requirement(deps, "numpy") == "numpy>=2.0"
    assert requirement(deps, "scipy") == "scipy>=1.15"
    assert requirement(deps, "ml_dtypes") == "ml_dtypes>=0.4"
    import numpy
    import scipy.linalg.lapack

    assert hasattr(numpy, "exceptions") and hasattr(scipy.linalg.lapack, "dtrcon")


def test_extras_bring_cuda_from_wheels_and_torch_for_the_benchmarks():
    extras = PROJECT["optional-dependencies"]
    # CuPy's `ctk` extra: NVRTC and the CUDA runtime from NVIDIA's wheels, no toolkit
    assert requirement(extras["cuda"], "cupy-cuda13x") == "cupy-cuda13x[ctk]>=14"
    assert requirement(extras["cuda"], "nvidia-cuda-crt").startswith("nvidia-cuda-crt>=13")
    assert requirement(extras["cuda12"], "cupy-cuda12x") == "cupy-cuda12x[ctk]>=14"
    # CUDA 12's crt/mma.h is in the nvcc wheel
    assert requirement(extras["cuda12"], "nvidia-cuda-nvcc-cu12")
    assert requirement(extras["bench"], "torch")
    # the [test] packages whose floors are their first NumPy 2 builds
    assert requirement(extras["test"], "scikit-learn") == "scikit-learn>=1.4.2"
    assert requirement(extras["examples"], "scikit-learn") == "scikit-learn>=1.4.2"
    assert requirement(extras["test"], "scikit-image") == "scikit-image>=0.23.2"


def test_version_comes_from_one_place():
    assert blasfast.__version__ == PROJECT["version"]
    assert blasfast.info()["blasfast"] == blasfast.__version__
    try:
        assert blasfast.__version__ == metadata.version("blasfast")
    except metadata.PackageNotFoundError:   # a source tree run (PYTHONPATH=src)
        pass


def test_a_source_tree_run_without_metadata_reads_pyproject(tmp_path):
    """The GPU machine runs from the tree with PYTHONPATH=src and no install: no
    metadata, so the version is read from pyproject.toml, else '0+unknown'."""
    missing = mock.patch.object(metadata, "version",
                                side_effect=metadata.PackageNotFoundError("blasfast"))
    with missing:
        assert _info._version() == PROJECT["version"]
        elsewhere = tmp_path / "lib" / "site-packages" / "blasfast" / "_info.py"
        with mock.patch.object(_info, "__file__", str(elsewhere)):
            assert _info._version() == "0+unknown"
        (tmp_path / "lib" / "pyproject.toml").parent.mkdir(parents=True)
        (tmp_path / "lib" / "pyproject.toml").write_text(
            '[project]\nname = "other"\nversion = "9.9"\n')
        with mock.patch.object(_info, "__file__", str(elsewhere)):
            assert _info._version() == "0+unknown"          # not blasfast's pyproject


def test_reimporting_info_keeps_the_version():
    importlib.reload(_info)
    assert _info.__version__ == blasfast.__version__


@pytest.mark.slow
def test_the_wheel_holds_the_licence_py_typed_and_the_metadata(tmp_path):
    """Build the wheel as pip does (isolated, setuptools >= 77 from the index) and read it."""
    # from a copy of what the sdist holds, so that the build leaves no build/ in the tree
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src",
                    ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    # offline (a GPU machine, a laptop on a train) pip would retry for minutes: fail fast
    env = {**os.environ, "PIP_RETRIES": "1", "PIP_DEFAULT_TIMEOUT": "30"}
    run = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                          "-w", str(tmp_path), str(tree)],
                         capture_output=True, text=True, timeout=600, env=env)
    if run.returncode != 0 and re.search(
            r"No matching distribution|Could not find a version|Network is unreachable|"
            r"Failed to establish a new connection|Temporary failure in name resolution",
            run.stderr):
        pytest.skip(f"no package index to build against: {run.stderr.strip()[-200:]}")
    assert run.returncode == 0, run.stderr
    (wheel,) = tmp_path.glob("blasfast-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "blasfast/py.typed" in names
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), names
        assert "blasfast/kernels/gemm.cu" in names or any(
            n.startswith("blasfast/kernels/") and n.endswith(".cu") for n in names)
        meta = email.message_from_bytes(
            z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))))
    assert meta["Version"] == PROJECT["version"]
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert "Typing :: Typed" in meta.get_all("Classifier")
    assert any(u.startswith("Issues, https://") for u in meta.get_all("Project-URL"))
    requires = meta.get_all("Requires-Dist")
    assert "numpy>=2.0" in requires and "scipy>=1.15" in requires
    assert {"cuda", "cuda12", "bench", "test"} <= set(meta.get_all("Provides-Extra"))
