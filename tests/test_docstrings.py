"""Every public docstring is valid numpydoc, renders as reStructuredText, and its examples run.

Public means every name in ``__all__`` of ``blasfast.fft``, ``blasfast.solvers`` and
``blasfast.nn``, every name ``blasfast`` re-exports (it has no ``__all__``: its public,
non-module names), those four modules themselves, and, for each public class, its public
methods and properties (own or inherited from a private base, e.g. ``ReLU.forward``) and
``__call__``. A method without a docstring of its own is checked through the docstring
``help()`` shows for it: the first one up its class's MRO (``Layer.forward`` for
``MaxPool2D.forward``); one without any is an error (GL08).

Three checks (issue #14, section 4):

* numpydoc's validator (``numpydoc.validate.validate``), restricted to ``CHECKED`` below;
* docutils renders both the docstring as written (what ``help()`` and IDEs show) and the
  reStructuredText numpydoc turns it into for Sphinx; a message of WARNING level or above
  fails (the issue asks for no ERROR/SEVERE ones -- "Malformed table" was one; the
  warnings found were real rendering faults too: an unescaped ``*`` that opens an
  emphasis, a definition list run into the next paragraph), with Sphinx's roles and
  directives stubbed as plain ones and numpydoc's unescaped ``*args``/``**kwargs``
  parameter names escaped;
* the ``Examples`` run with :mod:`doctest`, on the CPU path, in every module of the
  package (a superset of the modules defining public names). An example that needs a GPU
  carries ``# doctest: +SKIP`` and says why in its text.

The first two need numpydoc and docutils (the ``test`` extra); without them they skip
with that reason. All of it runs in a few seconds.
"""

import doctest
import importlib
import inspect
import io
import pkgutil
import re
import types

import pytest

import blasfast

PUBLIC_MODULES = ("blasfast", "blasfast.fft", "blasfast.solvers", "blasfast.nn")

# numpydoc error codes that fail the test, and why. Those left out:
#   ES01 (extended summary), SA01 (See Also), EX01 (Examples): not every small method
#        needs them; we do not demand them everywhere (the examples that exist run below).
#   PR08/RT04 (description starts with a capital): descriptions often start with a code
#        name that is lower case by nature ("float64, float32 or float16 ...").
#   RT02 (first Returns line holds only the type): numpydoc's format allows a named
#        return, ``out : ndarray``, as NumPy's own docstrings write it; we use names.
#   RT05 (Returns description ends with "."): a description may end with a table
#        (batched_gemm's precision table). PR09, its twin for parameters, is kept.
#   GL01 (where the summary starts): numpydoc < 1.11 demands it on the line after the
#        quotes, against PEP 257 and this code base; layout, not content.
CHECKED = {
    # Global: layout and sections in order, no unknown sections, something documented.
    "GL02": "closing quotes on their own line after the text",
    "GL03": "no double blank lines",
    "GL05": "no tabs",
    "GL06": "only numpydoc's sections (a misspelt one would render as plain text)",
    "GL07": "sections in numpydoc's order",
    "GL08": "a docstring exists (own or inherited)",
    "GL09": "deprecation first",
    "GL10": "directives with two colons",
    # Summary: one line (help() listings and autosummary tables show that line).
    "SS01": "a summary", "SS02": "capitalised", "SS03": "ends with a period",
    "SS04": "no leading whitespace", "SS05": "infinitive verb for functions",
    "SS06": "fits on one line",
    # Parameters: the documented ones are the signature's, in its order, with a type and
    # a description.
    "PR01": "every parameter documented", "PR02": "no unknown parameters",
    "PR03": "in signature order", "PR04": "with a type", "PR05": "type without a period",
    "PR06": "int/bool/str spelt so", "PR07": "with a description",
    "PR09": "description ends with a period", "PR10": "space before the colon",
    # Returns / Yields: present where a value is returned or yielded, described.
    "RT01": "Returns present where something is returned",
    "RT03": "return value described",
    "YD01": "Yields present for generators (context managers included)",
    # See Also, when there is one: well formed.
    "SA02": "See Also entry ends with a period", "SA03": "capitalised",
    "SA04": "See Also entry described",
}

# (public name, code) -> why it is tolerated for now, naming the file (none at present;
# an entry that no longer fails makes test_numpydoc_exceptions_are_still_needed fail).
KNOWN = {}

# Docutils messages tolerated for now: public name -> reason (same rule as KNOWN).
KNOWN_RST = {}


# ---------------------------------------------------------------------------------------
# What is public


def _module_public(mod):
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in vars(mod) if not n.startswith("_")]
    for name in names:
        obj = getattr(mod, name)
        if not isinstance(obj, types.ModuleType):
            yield f"{mod.__name__}.{name}", obj


def _documenting(cls, name):
    """The raw attribute of ``cls.name`` whose docstring ``help()`` shows, and its owner."""
    first = None
    for klass in cls.__mro__:
        if name not in vars(klass):
            continue
        raw = vars(klass)[name]
        if isinstance(raw, (staticmethod, classmethod)):
            raw = raw.__func__
        if first is None:
            first = (raw, klass)
        if getattr(raw, "__doc__", None):
            return raw, klass
    return first


def public_objects():
    """``{public name: object}`` for the modules, their public names and class members."""
    objs = {}
    seen = set()
    for modname in PUBLIC_MODULES:
        mod = importlib.import_module(modname)
        objs[modname] = mod
        for qual, obj in _module_public(mod):
            if not (inspect.isclass(obj) or callable(obj)):
                continue  # data (e.g. solvers.KINDS): documented in its module's docstring
            if not getattr(obj, "__module__", "").startswith("blasfast"):
                continue  # re-exported from elsewhere (solvers.LinAlgWarning is SciPy's)
            if id(obj) in seen:
                continue  # re-exported twice (bf.solve and bf.solvers.solve): check once
            seen.add(id(obj))
            objs[qual] = obj
            if not inspect.isclass(obj):
                continue
            for name in sorted(dir(obj)):
                if name.startswith("_") and name != "__call__":
                    continue
                found = _documenting(obj, name)
                if found is None:
                    continue
                raw, owner = found
                if not owner.__module__.startswith("blasfast"):
                    continue  # inherited from the standard library (tuple.count, ...)
                if not (inspect.isfunction(raw) or isinstance(raw, property)):
                    continue  # class-level data
                if id(raw) in seen:
                    continue
                seen.add(id(raw))
                objs[f"{qual}.{name}"] = raw
    return objs


PUBLIC = public_objects()


def _has_doc(obj):
    return bool(getattr(obj, "__doc__", None))


def test_the_public_api_is_found():
    """The walk above finds what it should: a guard against a silently empty check."""
    for name in ("blasfast.batched_gemm", "blasfast.BatchedGemm.execute",
                 "blasfast.nn.Sequential.fit", "blasfast.nn.ReLU.forward",
                 "blasfast.fft.fftconvolve", "blasfast.solvers.generate_matrix", "blasfast.nn"):
        assert name in PUBLIC, name
    assert len(PUBLIC) > 120


# ---------------------------------------------------------------------------------------
# numpydoc


def _validator_cls():
    validate = pytest.importorskip(
        "numpydoc.validate",
        reason="numpydoc is not installed (the 'test' extra): the numpydoc docstring "
               "check does not run")
    from numpydoc.docscrape import get_doc_object

    class Validator(validate.Validator):
        """numpydoc's validator on an object (not a dotted name).

        numpydoc 1.11 raises StopIteration looking for the ``def`` line of a module with
        no function or a property made with ``property(lambda ...)``; the line only
        serves its ``# numpydoc ignore`` comments, which we do not use.
        """

        def __init__(self, obj_name):
            super().__init__(get_doc_object(obj_name))

        @property
        def source_file_def_line(self):
            try:
                return super().source_file_def_line
            except StopIteration:
                return None

    return validate.validate, Validator


def numpydoc_errors(obj):
    """The CHECKED numpydoc errors of ``obj``'s docstring, as ``[(code, message)]``."""
    validate, validator = _validator_cls()
    return [(code, msg) for code, msg in validate(obj, validator_cls=validator)["errors"]
            if code in CHECKED]


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_numpydoc(name):
    obj = PUBLIC[name]
    if not _has_doc(obj):
        errors = [("GL08", "The object does not have a docstring")]
    else:
        errors = numpydoc_errors(obj)
    errors = [(c, m) for c, m in errors if (name, c) not in KNOWN]
    assert not errors, "\n".join(f"{name}: {c} {m}" for c, m in errors)


def test_numpydoc_exceptions_are_still_needed():
    """Each KNOWN entry still fails; remove it once its docstring is fixed."""
    stale = []
    for (name, code), why in KNOWN.items():
        obj = PUBLIC[name]
        codes = {c for c, _ in numpydoc_errors(obj)} if _has_doc(obj) else {"GL08"}
        if code not in codes:
            stale.append(f"{name} {code} ({why})")
    assert not stale, "fixed, remove from KNOWN: " + "; ".join(stale)


def test_numpydoc_check_flags_a_mismatch():
    """The check itself fails on an undocumented parameter and a missing Returns."""
    def f(x, y):
        """Add two numbers.

        Parameters
        ----------
        x : float
            The first.
        """
        return x + y

    codes = {c for c, _ in numpydoc_errors(f)}
    assert {"PR01", "RT01"} <= codes


# ---------------------------------------------------------------------------------------
# docutils


def _docutils():
    pytest.importorskip(
        "docutils", reason="docutils is not installed (the 'test' extra): the "
                           "reStructuredText rendering check does not run")
    import docutils.core
    import docutils.nodes
    from docutils.parsers.rst import Directive, directives, roles

    # Sphinx's Python-domain roles and the directives numpydoc emits, as plain ones: we
    # check the markup, not the cross-references.
    for role in ("func", "class", "meth", "mod", "attr", "data", "exc", "obj", "ref",
                 "doc", "term"):
        roles.register_canonical_role(role, roles.GenericRole(role, docutils.nodes.literal))

    class Container(Directive):
        has_content = True
        optional_arguments = 1
        final_argument_whitespace = True
        option_spec = {"toctree": directives.unchanged, "noindex": directives.flag}

        def run(self):
            node = docutils.nodes.container()
            self.state.nested_parse(self.content, self.content_offset, node)
            return [node]

    for name in ("seealso", "only", "autosummary", "versionadded", "versionchanged",
                 "deprecated"):
        directives.register_directive(name, Container)
    return docutils


def rst_messages(text, level=2):
    """docutils' messages of ``level`` or above (2 warning, 3 error, 4 severe) on ``text``."""
    docutils = _docutils()
    tree = docutils.core.publish_doctree(
        text, settings_overrides={"report_level": 5, "halt_level": 5,
                                  "warning_stream": io.StringIO()})
    return [f"line {m.get('line')}: {m.astext()}"
            for m in tree.findall(docutils.nodes.system_message) if m["level"] >= level]


def _renderings(obj):
    # numpydoc writes ``*args``/``**kwargs`` entries of Parameters unescaped (its Sphinx
    # output escapes them); escape them here, or docutils reads an unclosed emphasis.
    text = re.sub(r"^(\*\*?)(?=\w)", lambda m: "\\*" * len(m.group(1)),
                  inspect.getdoc(obj), flags=re.M)
    yield "as written", text
    try:
        from numpydoc.docscrape_sphinx import get_doc_object
    except ImportError:
        return
    yield "through numpydoc", str(get_doc_object(obj))


@pytest.mark.parametrize("name", sorted(n for n in PUBLIC if _has_doc(PUBLIC[n])))
def test_renders_as_restructuredtext(name):
    _docutils()
    problems = [f"{how}: {m}" for how, text in _renderings(PUBLIC[name])
                for m in rst_messages(text)]
    if name in KNOWN_RST:
        assert problems, f"fixed, remove {name} from KNOWN_RST"
        return
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_rendering_check_flags_a_malformed_table():
    """The fault the issue found in help(bf.batched_gemm): a table indented past its top."""
    text = inspect.cleandoc("""
        Parameters
        ----------
        compute : str
            The arithmetic:

            =====  =====
            a      b
            =====  =====
            x      y
              =====  =====
        """)
    assert any("Malformed table" in m for m in rst_messages(text, level=3))


def test_the_precision_tables_render_as_tables():
    """help(bf.batched_gemm)'s tables (issue #14's "Malformed table") are tables, whole."""
    docutils = _docutils()
    for func, rows in ((blasfast.batched_gemm, [6, 7]), (blasfast.matmul, [7])):
        for how, text in _renderings(func):
            tree = docutils.core.publish_doctree(
                text, settings_overrides={"report_level": 5, "halt_level": 5,
                                          "warning_stream": io.StringIO()})
            found = [len(list(t.findall(docutils.nodes.row)))
                     for t in tree.findall(docutils.nodes.table)]
            assert found == rows, (func.__name__, how, found)


# ---------------------------------------------------------------------------------------
# doctest


def _package_modules():
    names = ["blasfast"]
    for info in pkgutil.walk_packages(blasfast.__path__, "blasfast."):
        if info.name.rsplit(".", 1)[-1] != "__main__":
            names.append(info.name)
    return names


def _examples(modname):
    mod = importlib.import_module(modname)
    return [t for t in doctest.DocTestFinder().find(mod) if t.examples]


DOCTEST_MODULES = [m for m in _package_modules() if _examples(m)]


@pytest.mark.parametrize("modname", DOCTEST_MODULES)
def test_docstring_examples_run(modname):
    """Every ``>>>`` example in the module gives the output printed (CPU path)."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    out = io.StringIO()
    for test in _examples(modname):
        runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, out.getvalue()


def test_doctests_cover_the_public_modules():
    """Every module that defines a public name with an example is among those run."""
    defining = {inspect.getmodule(o).__name__ for o in PUBLIC.values()
                if inspect.getmodule(o) is not None and ">>>" in (o.__doc__ or "")}
    assert defining and defining <= set(DOCTEST_MODULES), defining - set(DOCTEST_MODULES)
