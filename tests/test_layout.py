"""The package layout of issue #14 §5: ``blasfast.gemm`` is a package of one-job private
modules with no import cycle among them, the old module files are gone, and the public
names import from where they always did.

Two checks of the cycles: a static one (the module-level imports of every module of the
package, read with :mod:`ast`, form no cycle; the ``gemm`` <-> ``plans`` cycle of the
single-file layout is the regression it guards against) and a dynamic one (each module
imports alone in a fresh interpreter, with the packages above it stubbed so that neither
``blasfast/__init__.py`` nor ``blasfast/gemm/__init__.py`` imports the rest first). Both
checkers live in ``layout_checks``, shared with the conv and fft layout tests.
"""

import importlib
import importlib.util
import pathlib
import subprocess
import sys

import pytest

import blasfast
from layout_checks import find_cycles, import_each_first, import_graph

ROOT = pathlib.Path(blasfast.__file__).parent
GEMM = ROOT / "gemm"
GEMM_MODULES = sorted(f"blasfast.gemm.{p.stem}" for p in GEMM.glob("*.py")
                      if p.stem != "__init__")


def test_the_graph_sees_the_imports():
    """A guard against a silently empty graph: edges the code is known to have."""
    graph = import_graph()
    assert "blasfast.gemm._launch" in graph["blasfast.gemm._core"]
    assert "blasfast.gemm._config" in graph["blasfast.gemm._launch"]
    assert "blasfast.gemm._tc" in graph["blasfast.gemm._config"]
    assert "blasfast._checks" in graph["blasfast.gemm._args"]
    assert "blasfast.gemm._plan" in graph["blasfast.gemm"]


def test_find_cycle_finds_the_old_gemm_plans_cycle(tmp_path):
    """The checker on the single-file layout's two modules, reduced to their imports:
    gemm.py imported plans at its end, plans.py imported gemm at its top."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .gemm import batched_gemm\n")
    (pkg / "gemm.py").write_text(
        "from . import _checks\n\ndef batched_gemm():\n    from .vb import f\n\n"
        "from . import plans as _plans  # noqa: E402\n")
    (pkg / "plans.py").write_text("from . import _checks\nfrom . import gemm as _gemm\n")
    (pkg / "vb.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                               "    from .gemm import batched_gemm\n")
    (pkg / "_checks.py").write_text("")
    graph = import_graph(pkg)
    assert "pkg.vb" not in graph["pkg.gemm"]  # imported inside a function: not an edge
    assert graph["pkg.vb"] == set()  # for type checkers only: not an edge
    assert find_cycles(graph) == [["pkg.gemm", "pkg.plans"]]


def test_no_import_cycle_among_the_gemm_modules():
    graph = import_graph()
    gemm = [m for m in graph if m == "blasfast.gemm" or m.startswith("blasfast.gemm.")]
    assert len(gemm) >= 10, gemm
    assert find_cycles(graph, "blasfast.gemm") == []


def test_no_import_cycle_in_the_whole_package():
    """Beyond gemm: no module of blasfast imports another in a cycle at module level (the
    fft package had one, _engine <-> _gpu, broken by moving the four-step split out)."""
    assert find_cycles(import_graph()) == []


@pytest.mark.parametrize("module", GEMM_MODULES)
def test_each_gemm_module_imports_alone(module):
    """In a fresh interpreter with ``blasfast`` and ``blasfast.gemm`` stubbed as bare
    packages, importing the module imports only what it needs, in its own order; a
    module that needed a partially initialised one (a cycle) would fail here."""
    res = import_each_first("blasfast.gemm", [module], stub=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert module in res.loaded[0]


def test_the_public_gemm_package_imports_in_a_fresh_interpreter():
    res = subprocess.run(
        [sys.executable, "-c", "from blasfast.gemm import batched_gemm, matmul; "
                               "import blasfast.gemm._plan, blasfast.gemm._core"],
        capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("name", ["gemm", "conv"])
def test_gemm_and_conv_are_packages_not_modules(name):
    assert not (ROOT / f"{name}.py").exists()
    assert (ROOT / name / "__init__.py").is_file()
    mod = importlib.import_module(f"blasfast.{name}")
    assert pathlib.Path(mod.__file__) == ROOT / name / "__init__.py"


@pytest.mark.parametrize("old", ["blasfast.plans", "blasfast.gemm_vbatched",
                                 "blasfast._gemm_config", "blasfast._gemm_tc",
                                 "blasfast._gemm_cpu"])
def test_the_old_gemm_module_paths_are_gone(old):
    """No shim modules: the old paths do not import (the public names live on, below)."""
    assert importlib.util.find_spec(old) is None
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(old)


def test_the_public_names_import_from_the_old_places():
    from blasfast import BatchedGemm, batched_gemm, gemm_vbatched, matmul
    from blasfast.gemm import BatchedGemm as BatchedGemm2
    from blasfast.gemm import batched_gemm as batched_gemm2
    from blasfast.gemm import gemm_vbatched as gemm_vbatched2
    from blasfast.gemm import matmul as matmul2

    assert (batched_gemm, matmul, gemm_vbatched, BatchedGemm) == (
        batched_gemm2, matmul2, gemm_vbatched2, BatchedGemm2)
    assert blasfast.batched_gemm is batched_gemm and blasfast.BatchedGemm is BatchedGemm
    assert callable(blasfast.gemm_vbatched)  # the function, not a module of that name
    for fn in (batched_gemm, matmul, gemm_vbatched, BatchedGemm):
        assert fn.__module__.startswith("blasfast.gemm.")


def test_the_gemm_package_reexports_only_its_public_names():
    import blasfast.gemm as gemm

    assert sorted(gemm.__all__) == ["BatchedGemm", "GemmGraph", "batched_gemm",
                                    "gemm_vbatched", "matmul"]
    public = {n for n, v in vars(gemm).items()
              if not n.startswith("_") and not isinstance(v, type(gemm))}
    assert public == set(gemm.__all__)


def test_the_package_imports_and_runs_under_python_OO():
    """``python -OO`` strips docstrings; the code that fills shared text into them must
    leave a function without one alone (it raised AttributeError at import before)."""
    code = ("import numpy as np, blasfast as bf; "
            "assert bf.batched_gemm.__doc__ is None; "
            "r = bf.matmul(np.eye(3), np.arange(9.0).reshape(3, 3)); "
            "assert (r == np.arange(9.0).reshape(3, 3)).all(); "
            "assert bf.conv2d_algorithm((1, 8, 8, 8), (8, 8, 3, 3)) in bf.conv.ALGORITHMS")
    done = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
