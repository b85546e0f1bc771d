"""The package layout of issue #14 §5 for ``blasfast.conv``: one job per private module, no
import cycle among them, the old module files gone, the public names where they were.

``conv.py``, ``_conv_gemm.py``, ``_conv_geom.py``, ``_winograd.py`` and
``_winograd_fused.py`` became ``blasfast/conv/`` (``_forward``, ``_grad``, ``_algorithm``,
``_args``, ``_docs``, ``_geom``, ``_im2col``, ``_winograd``, ``_winograd_fused``) whose
``__init__`` only re-exports. Cycles are checked twice: statically (the import graph read
from the sources by ``layout_checks.import_graph``) and dynamically (each module imports
first in a fresh interpreter, plainly -- ``python -c "import blasfast.conv._geom"`` -- and
with ``blasfast`` and ``blasfast.conv`` stubbed as bare packages, so that no ``__init__``
imports the rest before it). Last, the public functions' annotations (``py.typed``) are
complete, resolve, and name the choices the run-time checks accept.
"""

import ast
import importlib
import importlib.util
import inspect
import pathlib
import typing

import pytest

import blasfast
from layout_checks import PACKAGE, find_cycles, import_each_first, import_graph

SRC = pathlib.Path(blasfast.__file__).resolve().parents[1]
CONV = SRC / "blasfast" / "conv"
SUBMODULES = sorted(f"blasfast.conv.{p.stem}" for p in CONV.glob("*.py") if p.stem != "__init__")
PUBLIC = ["conv2d", "conv2d_dgrad", "conv2d_wgrad", "conv2d_algorithm",
          "winograd_filter_transform"]
MAX_LINES = 600


def test_conv_is_a_package_of_one_job_modules():
    assert not (SRC / "blasfast" / "conv.py").exists()
    assert pathlib.Path(blasfast.conv.__file__).resolve() == CONV / "__init__.py"
    assert set(SUBMODULES) == {f"blasfast.conv.{m}" for m in (
        "_algorithm", "_args", "_docs", "_forward", "_geom", "_grad", "_im2col", "_winograd",
        "_winograd_fused")}
    long = {p.name: n for p in CONV.glob("*.py")
            if (n := len(p.read_text().splitlines())) >= MAX_LINES}
    assert not long, f"modules of {MAX_LINES} lines or more: {long}"


@pytest.mark.parametrize("old", ["blasfast._conv_gemm", "blasfast._conv_geom",
                                 "blasfast._winograd", "blasfast._winograd_fused"])
def test_the_old_conv_module_paths_are_gone(old):
    """No shim modules: the old private paths do not import."""
    assert importlib.util.find_spec(old) is None
    assert not (SRC / (old.replace(".", "/") + ".py")).exists()


def test_init_only_re_exports():
    """``conv/__init__.py`` is a docstring, ``from ._x import name as name`` lines and
    ``__all__``: no code of its own (which would be a job of its own)."""
    tree = ast.parse((CONV / "__init__.py").read_text())
    assert isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant)
    for node in tree.body[1:]:
        if isinstance(node, ast.ImportFrom):
            assert node.level == 1 and node.module.startswith("_"), ast.dump(node)
            assert all(a.asname == a.name for a in node.names), ast.dump(node)
        else:
            assert isinstance(node, ast.Assign) and \
                [t.id for t in node.targets] == ["__all__"], ast.dump(node)
    assert blasfast.conv.__all__ == PUBLIC


def test_the_public_names_import_from_the_old_places():
    from blasfast import conv
    from blasfast.conv import (conv2d, conv2d_algorithm, conv2d_dgrad, conv2d_wgrad,
                               winograd_filter_transform)

    funcs = (conv2d, conv2d_dgrad, conv2d_wgrad, conv2d_algorithm, winograd_filter_transform)
    assert funcs == tuple(getattr(blasfast, n) for n in PUBLIC)
    for f in funcs:
        assert inspect.getmodule(f).__name__ in SUBMODULES, f
    # the algorithm table conv.py held, read by blasfast.nn and named in the docs
    assert conv.AUTO_MIN_CHANNELS == {"cpu": 128, "gpu": 32}
    assert conv.WINOGRAD == ("winograd", "winograd_nonfused")
    assert "auto" in conv.ALGORITHMS and str(conv.AUTO_MIN_CHANNELS["gpu"]) in conv.AUTO_RULE


def test_the_graph_reader_sees_the_conv_imports():
    """A guard against a silently empty graph: edges the code is known to have."""
    graph = import_graph(PACKAGE, module_level_only=True)
    assert "blasfast.conv._forward" in graph["blasfast.conv"]
    assert "blasfast.conv._winograd" in graph["blasfast.conv._im2col"]
    assert "blasfast.conv._winograd_fused" in graph["blasfast.conv._winograd"]
    assert "blasfast.conv._algorithm" in graph["blasfast.conv._grad"]
    assert "blasfast.conv._geom" in graph["blasfast.conv._algorithm"]


@pytest.mark.parametrize("module_level_only", [True, False], ids=["module-level", "any"])
def test_no_import_cycle_through_the_conv_modules(module_level_only):
    graph = import_graph(PACKAGE, module_level_only)
    if not module_level_only:
        # imports inside functions run late (``_algorithm.fft_conv2d`` imports blasfast.fft,
        # ``_dask.conv2d`` imports conv back): among the conv modules themselves, then
        graph = {m: {d for d in ds if d.startswith("blasfast.conv")}
                 for m, ds in graph.items() if m.startswith("blasfast.conv")}
    assert find_cycles(graph, "blasfast.conv") == []


@pytest.mark.parametrize("mode", ["plain", "stub"])
def test_every_conv_module_imports_first_in_a_fresh_interpreter(mode):
    """Each module first, then all the others in both orders: plainly (through
    ``blasfast/__init__``, as ``python -c "import blasfast.conv._geom"``) and with the
    parent packages stubbed (the module's own imports alone decide the order)."""
    # last, the package whole: it declares the conv kernel families
    res = import_each_first("blasfast.conv", SUBMODULES, stub=mode == "stub", families=(
        "winograd", "winograd_fused", "winograd_fused_tc", "conv_gemm"))
    assert res.returncode == 0, res.stderr
    assert len(res.orders) == 2 * len(SUBMODULES)
    assert [o[0] for o in res.orders[::2]] == SUBMODULES


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_conv_function_is_annotated(name):
    """Every parameter and the return annotated, and resolvable (no dangling forward
    reference): what ``py.typed`` promises a type checker."""
    func = getattr(blasfast.conv, name)
    params = inspect.signature(func).parameters
    hints = typing.get_type_hints(func)
    assert set(hints) == set(params) | {"return"}, (set(params) | {"return"}) - set(hints)


def test_the_literal_annotations_are_the_run_time_choices():
    from blasfast.conv import _algorithm, _geom

    assert typing.get_args(_algorithm.Algorithm) == _algorithm.ALGORITHMS
    assert set(typing.get_args(_algorithm.Chosen)) == set(_algorithm.ALGORITHMS) - {"auto"}
    modes = [a for a in typing.get_args(_geom.Padding) if typing.get_origin(a) is typing.Literal]
    assert [typing.get_args(m) for m in modes] == [_geom.PADDING_MODES]
