"""Every public function refuses every kind of bad argument with a clear error.

One parametrized test runs the table of bad calls (see ``tests/bad_inputs.py``): each must
raise the expected exception type, and its message must name the op and the argument and
match what the case expects. A second test checks that the table covers every parameter of
every public function, or says why a parameter has no bad value.
"""

import importlib
import inspect
import re

import pytest

import blasfast as bf

FAMILIES = ["gemm", "conv", "fft", "solvers", "nn", "cli"]


def _load(family):
    try:
        return importlib.import_module(f"bad_inputs_{family}")
    except ModuleNotFoundError as exc:
        if exc.name != f"bad_inputs_{family}":
            raise
        return None


_MODULES = {f: _load(f) for f in FAMILIES}
CASES = [c for m in _MODULES.values() if m is not None for c in m.CASES]
EXEMPT = {k: v for m in _MODULES.values() if m is not None for k, v in m.EXEMPT.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_a_clear_error(case):
    with pytest.raises(case.exc) as info:
        case.call()
    text = str(info.value)
    assert case.op_name in text, f"message does not name the op {case.op_name!r}: {text}"
    assert case.arg in text, f"message does not name the argument {case.arg!r}: {text}"
    assert re.search(case.match, text), f"message lacks {case.match!r}: {text}"


def _public_callables():
    """(callable, its parameters to cover) for the whole public surface."""
    out = []
    for mod in (bf, bf.fft, bf.solvers):
        for name in sorted(getattr(mod, "__all__", None) or dir(mod)):
            obj = getattr(mod, name)
            if name.startswith("_") or inspect.ismodule(obj) or not callable(obj):
                continue
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue
            out.append(obj)
    for name in sorted(bf.nn.__all__):
        obj = getattr(bf.nn, name)
        out.append(obj)
    out += [bf.nn.Sequential.fit, bf.nn.Sequential.predict, bf.nn.Sequential.evaluate]
    # de-duplicate (bf.solve is bf.solvers.solve)
    seen, unique = set(), []
    for obj in out:
        if id(obj) not in seen:
            seen.add(id(obj))
            unique.append(obj)
    return unique


def _parameters(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return []
    return [p.name for p in sig.parameters.values()
            if p.name not in ("self", "cls")
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def test_the_table_covers_every_argument_of_every_public_function():
    covered = {(c.func, c.arg) for c in CASES}
    missing = [f"{getattr(obj, '__qualname__', obj)}({arg})"
               for obj in _public_callables() for arg in _parameters(obj)
               if (obj, arg) not in covered and (obj, arg) not in EXEMPT]
    assert not missing, f"{len(missing)} arguments have no bad-input case: {missing}"


def test_every_exemption_gives_a_reason():
    for (obj, arg), reason in EXEMPT.items():
        assert arg in _parameters(obj), f"{obj} has no argument {arg!r}"
        assert isinstance(reason, str) and len(reason) > 10, (obj, arg)
