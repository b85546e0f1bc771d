"""``py.typed`` keeps its promise (issue #14, section 2): the public API is annotated, and a
type checker sees the annotations.

* Every public callable -- as ``tests/test_docstrings.py`` finds them: the public
  functions, the classes (through their ``__init__``/``__new__``), their public methods,
  properties and ``__call__`` -- annotates every parameter (``self``/``cls`` aside;
  ``*args``/``**kwargs`` may be ``Any``) and its return (``__init__`` returns None), and
  :func:`typing.get_type_hints` resolves them all (no forward reference that does not
  resolve). The test lists every gap at once, by public name.
* mypy on ``tests/typing_usage.py`` -- a user program calling the API as the README's tour
  does, with NumPy arrays, and also with lists where pairs and shapes are shown and NumPy
  integer and floating scalars where Python ones are (what the run-time checks take) --
  reports nothing, and the program runs; mypy on a program that
  passes a wrong type (``refine=3.5``, ``norm='unitary'``) reports exactly those calls,
  which proves it read our annotations through ``py.typed`` (an installed package without
  the marker is not analysed at all: every import of it would be an error instead).
* mypy sees every public callable as typed: an unannotated decorator would turn the
  function it wraps into ``Any`` for a type checker, silently, whatever the function's own
  annotations say.

mypy runs with ``follow_imports = silent`` for blasfast (errors inside our bodies, which
are not type-checked code, are not the user's) and ``ignore_missing_imports`` for the
optional GPU/Dask/MPI packages; without mypy (the ``test`` extra) those tests skip with
that reason. The mypy runs take a few seconds each with a warm cache (one per session).
"""

import importlib.metadata
import inspect
import pathlib
import re
import subprocess
import sys
import typing

import pytest

from test_docstrings import public_objects

import blasfast

TESTS = pathlib.Path(__file__).resolve().parent
USAGE = TESTS / "typing_usage.py"

MYPY_INI = """\
[mypy]
# the user's side of the boundary: a program that imports blasfast, nothing stricter
[mypy-blasfast.*]
follow_imports = silent
[mypy-cupy.*,cupyx.*,dask.*,distributed.*,dask_cuda.*,torch.*,mpi4py.*,cuda.*,ml_dtypes.*]
ignore_missing_imports = True
"""


# ---------------------------------------------------------------------------------------
# Every public callable is annotated


def _defining(cls, name):
    """The raw ``name`` attribute first found on ``cls``'s MRO, and its owner class."""
    for klass in cls.__mro__:
        if name in vars(klass):
            raw = vars(klass)[name]
            if isinstance(raw, (staticmethod, classmethod)):
                raw = raw.__func__
            return raw, klass
    return None, None


def annotation_gaps(name, func, *, method=False, init=False):
    """What ``func`` (a function, or a property's getter) leaves unannotated, as
    ``["<name>: <what>"]``: each parameter without an annotation (a method's first
    parameter named ``self``/``cls`` aside), a missing return annotation (for ``__init__``
    one other than None), or annotations :func:`typing.get_type_hints` cannot resolve."""
    gaps = []
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError) as e:
        return [f"{name}: no signature ({e})"]
    params = list(sig.parameters.values())
    if method and params and params[0].name in ("self", "cls") and \
            params[0].kind in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        params = params[1:]
    for p in params:
        if p.annotation is p.empty:
            star = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
            gaps.append(f"{name}: parameter {star}{p.name} not annotated")
    if sig.return_annotation is sig.empty:
        gaps.append(f"{name}: return not annotated")
    try:
        hints = typing.get_type_hints(func)
    except Exception as e:  # NameError for a forward reference, TypeError, ...
        gaps.append(f"{name}: annotations do not resolve ({type(e).__name__}: {e})")
    else:
        if init and "return" in hints and hints["return"] is not type(None):
            gaps.append(f"{name}: __init__ must return None, annotated "
                        f"{hints['return']!r}")
    return gaps


def _constructors(qual, cls):
    """``(name, function, init)`` for the ``__init__`` and ``__new__`` that ``cls`` gets
    from blasfast (its own or a blasfast base's; those of ``object``, ``tuple``,
    ``Exception`` and other outside classes are not ours to annotate)."""
    for meth in ("__init__", "__new__"):
        raw, owner = _defining(cls, meth)
        if raw is None or not owner.__module__.startswith("blasfast") or \
                not inspect.isfunction(raw):
            continue
        where = qual if owner is cls else f"{owner.__module__}.{owner.__qualname__}"
        yield f"{where}.{meth}", raw, meth == "__init__"


def public_callables():
    """``[(public name, function, method, init)]`` to check, each object once."""
    objs = public_objects()
    out, seen = [], set()

    def add(name, func, method, init=False):
        if id(func) not in seen:
            seen.add(id(func))
            out.append((name, func, method, init))

    for qual, obj in objs.items():
        if inspect.ismodule(obj):
            continue
        owner = objs.get(qual.rsplit(".", 1)[0])
        member = inspect.isclass(owner)
        if inspect.isclass(obj):
            for name, func, init in _constructors(qual, obj):
                add(name, func, True, init)
        elif isinstance(obj, property):
            add(qual, obj.fget, True)
        elif callable(obj):
            add(qual, obj, member)
    return out


CALLABLES = public_callables()


def test_the_public_callables_are_found():
    """A guard against a silently empty check: the walk reaches functions, constructors,
    methods and properties of every public module."""
    names = {name for name, *_ in CALLABLES}
    for name in ("blasfast.batched_gemm", "blasfast.fft.rfft", "blasfast.solve",
                 "blasfast.solvers.SolveInfo.__init__", "blasfast.solvers.LUFactors.__new__",
                 "blasfast.solvers.LUFactors.lu", "blasfast.solvers.errstate.__init__",
                 "blasfast.nn.Sequential.fit", "blasfast.info", "blasfast.warmup"):
        assert name in names, name
    assert len(CALLABLES) > 100


def test_the_public_api_is_annotated():
    """Every parameter and return of every public callable is annotated, and resolves."""
    gaps = [g for name, func, method, init in CALLABLES
            for g in annotation_gaps(name, func, method=method, init=init)]
    if gaps:
        print(f"{len(gaps)} annotation gaps:\n" + "\n".join(gaps))
    assert not gaps, f"{len(gaps)} annotation gaps:\n" + "\n".join(gaps)


def test_the_annotation_check_finds_gaps():
    """The check itself reports a bare parameter, a missing return, an ``__init__`` that
    does not return None and a forward reference that does not resolve."""
    def f(x, y: int, *args, **kwargs: typing.Any):
        return x

    def g(self, x: int) -> "NoSuchType":  # noqa: F821
        return x

    class C:
        def __init__(self, x: int) -> int:
            return x

    gaps = annotation_gaps("f", f) + annotation_gaps("g", g, method=True) + \
        annotation_gaps("C.__init__", C.__init__, method=True, init=True)
    assert gaps == ["f: parameter x not annotated", "f: parameter *args not annotated",
                    "f: return not annotated",
                    "g: annotations do not resolve (NameError: name 'NoSuchType' is not "
                    "defined)",
                    "C.__init__: __init__ must return None, annotated <class 'int'>"], gaps
    # self is only exempt as a method's first parameter
    assert annotation_gaps("g", g) == ["g: parameter self not annotated",
                                       "g: annotations do not resolve (NameError: name "
                                       "'NoSuchType' is not defined)"]


def test_string_choices_match_the_checks():
    """Each ``Literal`` of string choices in our annotations names exactly what the run-time
    check accepts (so the two cannot drift apart)."""
    from blasfast.fft import _args as fft_args
    from blasfast.solvers import _args as solver_args, _errstate, _factor, _solve, matgen

    pairs = [(fft_args.Precision, fft_args.PRECISIONS + ("fp64",)),
             (fft_args.Norm, fft_args._NORMS),
             (solver_args.FactorName, _factor.FACTORS),
             (_solve.Refine, _solve.REFINE),
             (_errstate.Mode, _errstate._MODES),
             (matgen.Kind, matgen.KINDS)]
    for literal, choices in pairs:
        assert typing.get_args(literal) == tuple(choices), (literal, choices)
    conv_modes = typing.get_args(typing.get_type_hints(blasfast.fft.fftconvolve)["mode"])
    assert set(conv_modes) == {"full", "same", "valid"}


def test_the_fft_doc_decorator_keeps_a_function_without_docstring():
    """``fft._docs.doc`` returns the function itself (what its annotation tells a type
    checker), also under ``python -OO``, where the docstring it fills is None: it raised
    AttributeError there, and ``import blasfast.fft`` with it."""
    from blasfast.fft._docs import doc

    def f(x: int) -> int:
        return x

    f.__doc__ = None
    assert doc(f) is f and f.__doc__ is None

    def g() -> None:
        """Raises: {raises}"""

    assert doc(g) is g and "{raises}" not in g.__doc__ and "TypeError" in g.__doc__


# ---------------------------------------------------------------------------------------
# mypy


@pytest.fixture(scope="module")
def mypy(tmp_path_factory):
    """Run mypy (this interpreter's, so that it finds the installed blasfast and its
    ``py.typed``) on files, from an empty folder with our config and a cache shared by the
    module's runs; return ``(exit code, output)``."""
    pytest.importorskip("mypy", reason="mypy is not installed (the 'test' extra): the "
                                       "type-checking tests do not run")
    try:
        importlib.metadata.distribution("blasfast")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("blasfast is not installed (a source tree on PYTHONPATH): mypy reads "
                    "the annotations of an installed package, through its py.typed")
    work = tmp_path_factory.mktemp("mypy")
    (work / "mypy.ini").write_text(MYPY_INI)

    def run(*files):
        proc = subprocess.run(
            [sys.executable, "-m", "mypy", "--config-file", str(work / "mypy.ini"),
             "--cache-dir", str(work / "cache"), "--no-error-summary", "--hide-error-context",
             "--no-pretty", "--show-error-codes", *map(str, files)],
            cwd=work, capture_output=True, text=True, timeout=600)
        return proc.returncode, proc.stdout + proc.stderr

    run.dir = work
    return run


def _errors(output):
    """``{(file name, line): [message]}`` of mypy's error lines."""
    found = {}
    for m in re.finditer(r"^(.*?):(\d+): error: (.*)$", output, re.M):
        found.setdefault((m[1].rsplit("/", 1)[-1], int(m[2])), []).append(m[3])
    return found


def test_mypy_passes_the_usage_program(mypy):
    """The README-style program type-checks against our annotations without an error."""
    rc, out = mypy(USAGE)
    assert rc == 0, out


def test_the_usage_program_runs():
    """...and runs (CPU path): the calls mypy accepted are calls the API accepts."""
    proc = subprocess.run([sys.executable, str(USAGE)], capture_output=True, text=True,
                          timeout=600, cwd=TESTS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "converged" in proc.stdout and blasfast.__version__ in proc.stdout


WRONG = """\
import numpy as np
import blasfast as bf

a = np.eye(3)
x = bf.solve(a, np.ones(3), refine=3.5)
y = bf.fft.fft(np.ones(8), norm="unitary")
z = bf.lu_solve(bf.lu_factor(a, dtype="float8"), np.ones(3))
c = bf.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), stride=1.5, padding=[1.0, 1.0])
g = bf.batched_gemm(a, a, alpha="2", beta=np.complex64(1))
ok = bf.solve(a, np.ones(3), refine="gmres")
ok2 = bf.conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), stride=[1, np.int64(1)])
"""


def test_mypy_reports_a_wrong_argument_type(mypy):
    """A float where ``refine`` takes a name, an unknown ``norm`` or ``dtype`` name, a float
    stride or padding, a string or complex ``alpha``/``beta``: errors on exactly those lines
    (the correct calls pass: the Int/Real/IntPair aliases are not ``Any``), naming the
    argument or call."""
    path = mypy.dir / "wrong_call.py"
    path.write_text(WRONG)
    rc, out = mypy(path)
    errors = _errors(out)
    assert rc == 1, out
    assert sorted(line for _, line in errors) == [5, 6, 7, 8, 9], out
    assert '"solve"' in errors["wrong_call.py", 5][0], out      # no overload takes...
    assert '"float"' in errors["wrong_call.py", 5][0], out      # ...refine=3.5
    assert 'Argument "norm" to "fft"' in errors["wrong_call.py", 6][0], out
    assert 'Argument "dtype" to "lu_factor"' in errors["wrong_call.py", 7][0], out
    assert [m.split(" has ")[0] for m in errors["wrong_call.py", 8]] == \
        ['Argument "stride" to "conv2d"', 'Argument "padding" to "conv2d"'], out
    assert [m.split(" has ")[0] for m in errors["wrong_call.py", 9]] == \
        ['Argument "alpha" to "batched_gemm"', 'Argument "beta" to "batched_gemm"'], out


def test_mypy_sees_every_public_callable_typed(mypy):
    """mypy gives every public function, class and method a type of its own, not ``Any``:
    assigning it to an ``int`` variable is an error on each line. A line without an error
    names an object mypy sees as ``Any`` -- wrapped by an unannotated decorator, or not
    found -- whose annotations a user's type checker never reads."""
    objs = public_objects()
    names = [q for q, o in objs.items()
             if not inspect.ismodule(o) and not isinstance(o, property) and callable(o)]
    lines = ["import blasfast", "import blasfast.fft", "import blasfast.nn",
             "import blasfast.solvers", ""]
    first = len(lines) + 1
    lines += [f"_v{i}: int = {q}" for i, q in enumerate(names)]
    path = mypy.dir / "every_callable.py"
    path.write_text("\n".join(lines) + "\n")
    rc, out = mypy(path)
    flagged = {line for _, line in _errors(out)}
    unseen = [q for i, q in enumerate(names) if first + i not in flagged]
    assert rc == 1 and flagged, out
    assert not unseen, "seen by mypy as Any (an untyped decorator?):\n" + "\n".join(unseen)
