"""``blasfast.fft``'s modules import in any order: no import cycle among them.

``_engine`` (the routes, the CPU emulation) calls the GPU launchers of ``_gpu``, and both
follow the four-step plan, which lives in ``_four_step`` so that ``_gpu`` need not import
``_engine`` back. Two checks: the import graph read from the sources (every ``import``
statement, at module level or inside a function) has no cycle through an FFT module; and in
a fresh interpreter, with the parent packages' ``__init__`` files bypassed, every module
imports first, and then all the others, in both orders. The checkers live in
``layout_checks``, shared with the gemm and conv layout tests.
"""

import pytest

from layout_checks import PACKAGE, find_cycles, import_each_first, import_graph, module_name

FFT = PACKAGE / "fft"
FFT_MODULES = sorted(module_name(p, PACKAGE) for p in FFT.glob("*.py"))


def test_the_graph_reader_sees_the_fft_imports():
    graph = import_graph(PACKAGE, module_level_only=False)
    assert "blasfast.fft._gpu" in graph["blasfast.fft._engine"]
    assert "blasfast.fft._four_step" in graph["blasfast.fft._gpu"]
    assert "blasfast.fft._transforms" in graph["blasfast.fft"]
    # and finds a cycle where there is one
    assert find_cycles({"a.x": {"a.y"}, "a.y": {"a.x"}}, "a.") == [["a.x", "a.y"]]


@pytest.mark.parametrize("module_level_only", [True, False], ids=["module-level", "any"])
def test_no_import_cycle_through_the_fft_modules(module_level_only):
    """``_engine`` and ``_gpu`` were such a cycle: ``_gpu`` imported ``_engine`` at module
    level for the four-step split, ``_engine`` imported ``_gpu`` inside its functions."""
    graph = import_graph(PACKAGE, module_level_only)
    if not module_level_only:
        # imports inside functions run late, and some (``import blasfast`` for its version,
        # say) tie the whole package together: among the FFT modules themselves, then
        graph = {m: {d for d in ds if d.startswith("blasfast.fft")}
                 for m, ds in graph.items() if m.startswith("blasfast.fft")}
    assert find_cycles(graph, "blasfast.fft") == []


def test_gpu_launchers_do_not_import_the_engine():
    assert not {"blasfast.fft._engine", "blasfast.fft._transforms"} & \
        import_graph(PACKAGE, module_level_only=False)["blasfast.fft._gpu"]


def test_every_fft_module_imports_first_in_a_fresh_interpreter():
    subs = [m for m in FFT_MODULES if m != "blasfast.fft"]
    assert {"blasfast.fft._engine", "blasfast.fft._gpu", "blasfast.fft._four_step"} <= set(subs)
    # last, the package whole, and the GPU kernels still declared by importing it
    res = import_each_first("blasfast.fft", subs, stub=True, families=["fft_split16"])
    assert res.returncode == 0, res.stderr
    assert len(res.orders) == 2 * len(subs)
    assert [o[0] for o in res.orders[::2]] == subs
