"""Import-cycle checks shared by the package-layout tests (``test_layout``: gemm,
``test_layout_conv``: conv, ``test_fft_imports``: fft). Not a test module itself.

Two checks, each against the regression of a module that needs a partially initialised
one:

- static: :func:`import_graph` reads every module of a package with :mod:`ast` (the
  module-level imports, or every import statement) and :func:`find_cycles` lists the
  cycles of that graph;
- dynamic: :func:`import_each_first` imports each module of a subpackage first in a fresh
  interpreter (then all the others, in both orders), with the parent packages stubbed as
  bare packages so that no ``__init__`` imports the rest before it.

API::

    module_name(path, package_dir)              -> "pkg.sub.mod"
    module_level_imports(path, package_dir)     -> {modules of the package it imports}
    import_graph(package_dir, module_level_only=True) -> {module: {modules}}
    find_cycles(graph, prefix="")               -> [[module, ...], ...] (sorted groups)
    import_each_first(subpackage, modules, stub=True, families=()) -> Fresh
"""

import ast
import importlib.util
import json
import pathlib
import subprocess
import sys
import textwrap
from typing import NamedTuple

#: ``src/blasfast``: the package directory the layout tests read (found without importing
#: it, so that the checks still run, and say why, when ``import blasfast`` fails).
PACKAGE = pathlib.Path(importlib.util.find_spec("blasfast").origin).resolve().parent


def module_name(path, package_dir):
    """The dotted name of the file ``path`` in the package whose directory is
    ``package_dir`` (named after it): ``pkg/sub/__init__.py`` is ``pkg.sub``."""
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _target(importer, is_package, level, module):
    """The absolute name ``from <level dots><module> import ...`` refers to."""
    if level == 0:
        return module
    base = importer.split(".")
    if not is_package:
        base.pop()
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _is_type_checking(test):
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"
            or isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _run_at_import(stmts):
    """The statements among ``stmts`` that run when the module is imported: the top-level
    ones and those nested in ``if``/``try``/``with`` blocks; not function or class bodies
    (they run later), not the body of ``if TYPE_CHECKING:`` (it never runs)."""
    for node in stmts:
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _run_at_import(node.orelse)
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody"):
                yield from _run_at_import(getattr(node, field, ()))
            for handler in getattr(node, "handlers", ()):
                yield from _run_at_import(handler.body)


def _known(package_dir):
    return {module_name(p, package_dir): p for p in sorted(package_dir.rglob("*.py"))}


def module_level_imports(path, package_dir, module_level_only=True, known=None):
    """The modules of the package at ``package_dir`` that the file ``path`` imports.

    With ``module_level_only`` (the default), those it imports when it runs: statements in
    functions or classes, and under ``if TYPE_CHECKING:``, are left out (see
    :func:`_run_at_import`); without it, every ``import`` statement of the file counts.
    ``from X import y`` counts as importing ``X.y`` when that is a module, else ``X``;
    the implicit imports of parent packages are left out, and so is anything outside the
    package. ``known`` (``{name: path}`` of the package's modules) saves re-listing them.
    """
    known = _known(package_dir) if known is None else known
    name = module_name(path, package_dir)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    nodes = _run_at_import(tree.body) if module_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _target(name, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return {m for m in found if m in known}


def import_graph(package_dir=PACKAGE, module_level_only=True):
    """``{module: set of modules it imports}`` over every file of the package at
    ``package_dir`` (see :func:`module_level_imports` for what counts)."""
    known = _known(package_dir)
    return {name: module_level_imports(path, package_dir, module_level_only, known)
            for name, path in known.items()}


def find_cycles(graph, prefix=""):
    """The import cycles of ``graph`` -- strongly connected groups of more than one module,
    or a module that imports itself -- with a module whose name starts with ``prefix``,
    each as a sorted list; the list of them sorted, empty when there is none."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def connect(v):                               # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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


_FRESH = textwrap.dedent("""
    import importlib, json, sys, types
    package_dir, subpackage, modules, stub, families = json.loads(sys.argv[1])
    top = subpackage.split(".")[0]

    def fresh(stub):
        for name in [m for m in sys.modules if m == top or m.startswith(top + ".")]:
            del sys.modules[name]
        if stub:  # the parent packages as bare packages: their __init__ imports everything
            parts = subpackage.split(".")
            for i in range(1, len(parts) + 1):
                pkg = types.ModuleType(".".join(parts[:i]))
                pkg.__path__ = ["/".join([package_dir] + parts[1:i])]
                sys.modules[pkg.__name__] = pkg

    orders, loaded = [], []
    for first in modules:
        rest = [m for m in modules if m != first]
        for order in ([first] + rest, [first] + rest[::-1]):
            fresh(stub)
            for m in order:
                importlib.import_module(m)
            orders.append(order)
            loaded.append(sorted(m for m in sys.modules if m.startswith(subpackage + ".")))
    if families:  # the subpackage last, whole, still declares its kernel families
        fresh(False)
        importlib.import_module(subpackage)
        from blasfast.kernels import _compile
        missing = set(families) - set(_compile.families())
        assert not missing, (sorted(missing), sorted(_compile.families()))
    print(json.dumps({"orders": orders, "loaded": loaded}))
""")


class Fresh(NamedTuple):
    """What :func:`import_each_first` saw: the child's exit status and stderr, the import
    orders it completed, and per order the ``<subpackage>.*`` modules loaded after it
    (``orders``/``loaded`` are empty when the child failed)."""
    returncode: int
    stderr: str
    orders: list
    loaded: list


def import_each_first(subpackage, modules, stub=True, families=(), package_dir=PACKAGE,
                      timeout=300):
    """In one fresh interpreter, for each of ``modules`` (dotted names in ``subpackage``,
    e.g. ``"blasfast.fft"``): forget every module of the top package, import that module
    first and then all the others, once in the given order and once reversed. With
    ``stub`` the packages from the top one down to ``subpackage`` are bare stubs (their
    ``__init__`` never runs, so only the module's own imports decide the order); without
    it the imports go through the ``__init__`` files, as ``python -c "import x.y"`` does.
    ``families``: kernel families ``blasfast.kernels._compile`` must list once
    ``subpackage`` is imported whole, checked last. Returns a :class:`Fresh`; success
    is ``returncode == 0`` and ``len(orders) == 2 * len(modules)``."""
    arg = json.dumps([str(package_dir), subpackage, list(modules), stub, list(families)])
    res = subprocess.run([sys.executable, "-c", _FRESH, arg], capture_output=True,
                         text=True, timeout=timeout)
    out = {"orders": [], "loaded": []}
    if res.returncode == 0:
        out = json.loads(res.stdout.strip().splitlines()[-1])
    return Fresh(res.returncode, res.stderr, out["orders"], out["loaded"])
