"""``blasfast.fft``'s modules import in any order: no import cycle among them.

``_engine`` (the routes, the CPU emulation) calls the GPU launchers of ``_gpu``, and both
follow the four-step plan, which lives in ``_four_step`` so that ``_gpu`` need not import
``_engine`` back. Two checks: the import graph read from the sources (every ``import``
statement, at module level or inside a function) has no cycle through an FFT module; and in
a fresh interpreter, with the parent packages' ``__init__`` files bypassed, every module
imports first, and then all the others, in both orders.
"""

import ast
import json
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
FFT = SRC / "blasfast" / "fft"


def _module_name(path, src):
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(name, src):
    """``name`` if it is a module or package under ``src``, else None."""
    base = src.joinpath(*name.split("."))
    return name if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file() \
        else None


def import_graph(src, module_level_only=False):
    """``{module: {modules it imports}}`` over the ``blasfast`` package under ``src``, read
    from every ``import``/``from ... import`` statement (only the top-level statements with
    ``module_level_only``). ``from pkg import name`` counts as importing ``pkg.name`` when that
    is a module, else ``pkg``; the implicit imports of parent packages are left out."""
    graph = {}
    for path in sorted((src / "blasfast").rglob("*.py")):
        mod = _module_name(path, src)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        nodes = tree.body if module_level_only else ast.walk(tree)
        if module_level_only:   # top-level statements, and those nested in if/try blocks
            nodes, todo = [], list(tree.body)
            while todo:
                node = todo.pop()
                nodes.append(node)
                if isinstance(node, (ast.If, ast.Try)):
                    todo += [n for field in ("body", "orelse", "finalbody") for n in
                             getattr(node, field, [])]
                    todo += [n for h in getattr(node, "handlers", []) for n in h.body]
        deps = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module
                for a in node.names:
                    deps.add(_resolve(f"{target}.{a.name}", src) or target)
        graph[mod] = {d for d in deps if d.split(".")[0] == "blasfast" and _resolve(d, src)}
    return graph


def cycles_through(graph, prefix):
    """The import cycles (strongly connected groups of more than one module, or a module that
    imports itself) with a module named ``prefix``*, each as a sorted list; empty when none."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(v):                               # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 or v in graph.get(v, ()):
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return sorted(g for g in groups if any(m.startswith(prefix) for m in g))


FFT_MODULES = sorted(_module_name(p, SRC) for p in FFT.glob("*.py"))


def test_the_graph_reader_sees_the_fft_imports():
    graph = import_graph(SRC)
    assert "blasfast.fft._gpu" in graph["blasfast.fft._engine"]
    assert "blasfast.fft._four_step" in graph["blasfast.fft._gpu"]
    assert "blasfast.fft._transforms" in graph["blasfast.fft"]
    # and finds a cycle where there is one
    assert cycles_through({"a.x": {"a.y"}, "a.y": {"a.x"}}, "a.") == [["a.x", "a.y"]]


@pytest.mark.parametrize("module_level_only", [True, False], ids=["module-level", "any"])
def test_no_import_cycle_through_the_fft_modules(module_level_only):
    """``_engine`` and ``_gpu`` were such a cycle: ``_gpu`` imported ``_engine`` at module
    level for the four-step split, ``_engine`` imported ``_gpu`` inside its functions."""
    graph = import_graph(SRC, module_level_only)
    if not module_level_only:
        # imports inside functions run late, and some (``import blasfast`` for its version,
        # say) tie the whole package together: among the FFT modules themselves, then
        graph = {m: {d for d in ds if d.startswith("blasfast.fft")}
                 for m, ds in graph.items() if m.startswith("blasfast.fft")}
    assert cycles_through(graph, "blasfast.fft") == []


def test_gpu_launchers_do_not_import_the_engine():
    assert not {"blasfast.fft._engine", "blasfast.fft._transforms"} & \
        import_graph(SRC)["blasfast.fft._gpu"]


_FRESH = textwrap.dedent("""
    import importlib, json, sys, types
    src, modules = sys.argv[1], json.loads(sys.argv[2])

    def fresh():
        for name in [m for m in sys.modules if m == "blasfast" or m.startswith("blasfast.")]:
            del sys.modules[name]
        # the parent packages as bare packages: their __init__ would import everything
        for name, path in (("blasfast", src + "/blasfast"),
                           ("blasfast.fft", src + "/blasfast/fft")):
            pkg = types.ModuleType(name)
            pkg.__path__ = [path]
            sys.modules[name] = pkg

    done = []
    for first in modules:
        rest = [m for m in modules if m != first]
        for order in ([first] + rest, [first] + rest[::-1]):
            fresh()
            for m in order:
                importlib.import_module(m)
            done.append(order)
    # the package itself last, whole, and the GPU kernels still declared by importing it
    fresh()
    del sys.modules["blasfast.fft"], sys.modules["blasfast"]
    import blasfast.fft
    from blasfast.kernels import _compile
    assert "fft_split16" in _compile.families()
    print(json.dumps(len(done)))
""")


def test_every_fft_module_imports_first_in_a_fresh_interpreter():
    subs = [m for m in FFT_MODULES if m != "blasfast.fft"]
    assert {"blasfast.fft._engine", "blasfast.fft._gpu", "blasfast.fft._four_step"} <= set(subs)
    res = subprocess.run([sys.executable, "-c", _FRESH, str(SRC), json.dumps(subs)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.strip().splitlines()[-1]) == 2 * len(subs)
