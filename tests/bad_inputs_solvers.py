"""Bad-input table of :mod:`blasfast.solvers` (``solve``, ``lu_factor``, ``lu_solve``,
``LUFactors``, ``errstate``, ``seterr``, ``generate_matrix``) and of the file arguments of
``blasfast solve`` (``solvers/cli.py``).

Rules (``blasfast._checks``): arrays are arrays (not scalars, None or nested lists) of
float32/float64; flags are ``bool``; counts are integers in range; choices are names from
their list; ``tol`` and ``cond`` are finite reals in range; ``piv`` holds integer row
indices in ``[0, n)``. ``LUFactors`` is a record whose constructor takes what it is given:
its fields are checked where they are used, by ``lu_solve`` (the cases below go through
it, with ``op='lu_solve'``).
"""

import contextlib
import io
import os
import tempfile

import numpy as np

import blasfast as bf
import blasfast.solvers as bs
from bad_inputs import Case, FakeStream
from blasfast.solvers import cli as solve_cli

_rng = np.random.default_rng(13)
_A = _rng.standard_normal((4, 4)) + 4 * np.eye(4)
_B = _rng.standard_normal(4)
_LU = bf.lu_factor(_A)
_LU_NAN = _A.copy()
_LU_NAN[1, 2] = np.nan


def _factors(**kw):
    """An LUFactors of _A with some fields replaced."""
    args = dict(lu=_LU[0], piv=_LU[1], dtype="float64")
    args.update(kw)
    return bs.LUFactors(args.pop("lu"), args.pop("piv"), **args)


class CLIError(Exception):
    """A non-zero exit of ``blasfast solve``: ``"exit <code>: <last stderr line>"``."""


def _cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = solve_cli.main(list(argv))
    if code:
        lines = err.getvalue().strip().splitlines() or [""]
        raise CLIError(f"exit {code}: {lines[-1]}")
    return out.getvalue()


def _cli_file(text, *extra, rhs=None):
    """``blasfast solve FILE`` for a file holding ``text`` (or ``--rhs FILE`` with a good
    matrix when ``rhs`` is set)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.mtx")
        with open(path, "w") as f:
            f.write(text)
        if rhs:
            good = os.path.join(d, "good.mtx")
            with open(good, "w") as f:
                f.write("%%MatrixMarket matrix array real general\n2 2\n2\n0\n0\n2\n")
            return _cli(good, "--rhs", path, "--device", "cpu", *extra)
        return _cli(path, "--device", "cpu", *extra)


def _cli_dir():
    with tempfile.TemporaryDirectory() as d:
        return _cli(d, "--device", "cpu")


def _cli_rhs_dir():
    with tempfile.TemporaryDirectory() as d:
        good = os.path.join(d, "good.mtx")
        with open(good, "w") as f:
            f.write("%%MatrixMarket matrix array real general\n2 2\n2\n0\n0\n2\n")
        return _cli(good, "--rhs", d, "--device", "cpu")


_EMPTY = "%%MatrixMarket matrix array real general\n0 0\n"
_HUGE = "%%MatrixMarket matrix coordinate real general\n100000 100000 1\n1 1 2.0\n"

CASES = [
    # ------------------------------------------------------------------ solve
    Case(bs.solve, "a", lambda: bs.solve(2.0, _B), TypeError, "must be an array"),
    Case(bs.solve, "a", lambda: bs.solve(_A.tolist(), _B), TypeError, "must be an array",
         label="list"),
    Case(bs.solve, "a", lambda: bs.solve(_A.astype(np.int64), _B), TypeError,
         "dtype float32, float64", label="int"),
    Case(bs.solve, "a", lambda: bs.solve(_A[:, :3], _B), ValueError, "square",
         label="rect"),
    Case(bs.solve, "b", lambda: bs.solve(_A, None), TypeError, "must be an array"),
    Case(bs.solve, "b", lambda: bs.solve(_A, _B[:3]), ValueError, "n = 4 rows",
         label="rows"),
    Case(bs.solve, "b", lambda: bs.solve(_A, _B.astype(np.float32)), TypeError,
         "same dtype", label="dtype"),
    Case(bs.solve, "factor", lambda: bs.solve(_A, _B, factor="float8"), ValueError,
         "must be one of 'float16'"),
    Case(bs.solve, "factor", lambda: bs.solve(_A, _B, factor=16), TypeError,
         "must be one of", label="int"),
    Case(bs.solve, "factor", lambda: bs.solve(_A, _B, factor=None), TypeError,
         "must be one of", label="none"),
    Case(bs.solve, "refine", lambda: bs.solve(_A, _B, refine="cg"), ValueError,
         "must be one of 'auto', 'ir', 'gmres', got 'cg'"),
    Case(bs.solve, "refine", lambda: bs.solve(_A, _B, refine=None), ValueError,
         "must be one of .*got None", label="none"),
    Case(bs.solve, "refine", lambda: bs.solve(_A, _B, refine=2), TypeError,
         "must be one of", label="int"),
    Case(bs.solve, "tol", lambda: bs.solve(_A, _B, tol="1e-8"), TypeError,
         "must be a real number"),
    Case(bs.solve, "tol", lambda: bs.solve(_A, _B, tol=0.0), ValueError, "> 0",
         label="zero"),
    Case(bs.solve, "tol", lambda: bs.solve(_A, _B, tol=float("nan")), ValueError,
         "finite", label="nan"),
    Case(bs.solve, "max_iter", lambda: bs.solve(_A, _B, max_iter=2.5), TypeError,
         "must be an integer"),
    Case(bs.solve, "max_iter", lambda: bs.solve(_A, _B, max_iter=-1), ValueError, ">= 0",
         label="negative"),
    Case(bs.solve, "max_iter", lambda: bs.solve(_A, _B, max_iter=True), TypeError,
         "must be an integer", label="bool"),
    Case(bs.solve, "fallback", lambda: bs.solve(_A, _B, fallback="yes"), TypeError,
         "must be a bool"),
    Case(bs.solve, "fallback", lambda: bs.solve(_A, _B, fallback=1), TypeError,
         "must be a bool", label="int"),
    Case(bs.solve, "overwrite_a", lambda: bs.solve(_A, _B, overwrite_a=1), TypeError,
         "must be a bool"),
    Case(bs.solve, "overwrite_b", lambda: bs.solve(_A, _B, overwrite_b="no"), TypeError,
         "must be a bool"),
    Case(bs.solve, "return_info", lambda: bs.solve(_A, _B, return_info=None), TypeError,
         "must be a bool"),
    # ------------------------------------------------------------------ lu_factor
    Case(bs.lu_factor, "a", lambda: bs.lu_factor(_A.tolist()), TypeError,
         "must be an array"),
    Case(bs.lu_factor, "a", lambda: bs.lu_factor(np.ones((3, 3), np.int32)), TypeError,
         "dtype float32, float64", label="int"),
    Case(bs.lu_factor, "a", lambda: bs.lu_factor(np.ones((3, 2))), ValueError, "square",
         label="rect"),
    Case(bs.lu_factor, "a", lambda: bs.lu_factor(_LU_NAN), ValueError, "NaN or Inf",
         label="nan"),
    Case(bs.lu_factor, "dtype", lambda: bs.lu_factor(_A, dtype="float8"), ValueError,
         "must be one of"),
    Case(bs.lu_factor, "dtype", lambda: bs.lu_factor(_A, dtype=2.5), TypeError,
         "must be one of", label="float"),
    Case(bs.lu_factor, "dtype", lambda: bs.lu_factor(_A, dtype=np.int32), ValueError,
         "got 'int32'", label="int32"),
    Case(bs.lu_factor, "scale", lambda: bs.lu_factor(_A, scale=1), TypeError,
         "must be a bool"),
    Case(bs.lu_factor, "overwrite_a", lambda: bs.lu_factor(_A, overwrite_a="x"), TypeError,
         "must be a bool"),
    Case(bs.lu_factor, "check_finite", lambda: bs.lu_factor(_A, check_finite=None),
         TypeError, "must be a bool"),
    # ------------------------------------------------------------------ lu_solve
    Case(bs.lu_solve, "lu_and_piv", lambda: bs.lu_solve(_A, _B), TypeError,
         r"must be a pair \(lu, piv\)"),
    Case(bs.lu_solve, "lu_and_piv", lambda: bs.lu_solve((_LU[0],), _B), TypeError,
         r"must be a pair", label="one"),
    Case(bs.lu_solve, "lu", lambda: bs.lu_solve((2.0, _LU[1]), _B), TypeError,
         "must be an array"),
    Case(bs.lu_solve, "lu", lambda: bs.lu_solve((_LU[0][:, :3], _LU[1]), _B), ValueError,
         "square", label="rect"),
    Case(bs.lu_solve, "piv", lambda: bs.lu_solve((_LU[0], _LU[1].astype(float)), _B),
         TypeError, "integer dtype"),
    Case(bs.lu_solve, "piv", lambda: bs.lu_solve((_LU[0], np.full(4, 10**6, np.int32)), _B),
         ValueError, r"in \[0, 4\).*got entries from 1000000", label="huge"),
    Case(bs.lu_solve, "piv", lambda: bs.lu_solve((_LU[0], np.full(4, -1)), _B),
         ValueError, r"in \[0, 4\)", label="negative"),
    Case(bs.lu_solve, "piv", lambda: bs.lu_solve((_LU[0], _LU[1][:3]), _B), ValueError,
         r"must have shape \(4,\)", label="shape"),
    Case(bs.lu_solve, "b", lambda: bs.lu_solve(_LU, 3.0), TypeError, "must be an array"),
    Case(bs.lu_solve, "b", lambda: bs.lu_solve(_LU, np.ones(3)), ValueError, "n = 4 rows",
         label="rows"),
    Case(bs.lu_solve, "b", lambda: bs.lu_solve(_LU, np.ones(4, np.int64)), TypeError,
         "dtype float32, float64", label="int"),
    Case(bs.lu_solve, "b", lambda: bs.lu_solve(_LU, np.full(4, np.inf)), ValueError,
         "NaN or Inf", label="inf"),
    Case(bs.lu_solve, "trans", lambda: bs.lu_solve(_LU, _B, trans=1), ValueError,
         "only trans=0"),
    Case(bs.lu_solve, "trans", lambda: bs.lu_solve(_LU, _B, trans=True), TypeError,
         "must be 0 or 'N'", label="bool"),
    Case(bs.lu_solve, "trans", lambda: bs.lu_solve(_LU, _B, trans=0.0), TypeError,
         "must be 0 or 'N'", label="float"),
    Case(bs.lu_solve, "overwrite_b", lambda: bs.lu_solve(_LU, _B, overwrite_b=1), TypeError,
         "must be a bool"),
    Case(bs.lu_solve, "check_finite", lambda: bs.lu_solve(_LU, _B, check_finite="no"),
         TypeError, "must be a bool"),
    # ------------------------------------------------------------------ LUFactors (used)
    Case(bs.LUFactors, "lu", lambda: bs.lu_solve(_factors(lu=np.ones(4)), _B), ValueError,
         "square", op="lu_solve"),
    Case(bs.LUFactors, "piv", lambda: bs.lu_solve(_factors(piv=_LU[1] + 4), _B), ValueError,
         r"in \[0, 4\)", op="lu_solve"),
    Case(bs.LUFactors, "row_scale",
         lambda: bs.lu_solve(_factors(row_scale=np.ones(2)), _B), ValueError,
         r"must have shape \(4,\)", op="lu_solve"),
    Case(bs.LUFactors, "col_scale",
         lambda: bs.lu_solve(_factors(col_scale=np.ones((4, 4))), _B), ValueError,
         r"must have shape \(4,\)", op="lu_solve"),
    Case(bs.LUFactors, "perm", lambda: bs.lu_solve(_factors(perm=np.full(4, 9)), _B),
         ValueError, r"in \[0, 4\)", op="lu_solve"),
    Case(bs.LUFactors, "perm", lambda: bs.lu_solve(_factors(perm=np.arange(3)), _B),
         ValueError, "integer array of shape", op="lu_solve", label="shape"),
    # ------------------------------------------------------------------ errstate / seterr
    Case(bs.errstate, "linalg", lambda: bs.errstate(linalg="loud"), ValueError,
         "must be one of 'auto', 'raise', 'warn', 'ignore'"),
    Case(bs.errstate, "linalg", lambda: bs.errstate(linalg=1), TypeError, "must be one of",
         label="int"),
    Case(bs.seterr, "linalg", lambda: bs.seterr(linalg="loud"), ValueError,
         "must be one of"),
    Case(bs.seterr, "linalg", lambda: bs.seterr(linalg=True), TypeError, "must be one of",
         label="bool"),
    # ------------------------------------------------------------------ generate_matrix
    Case(bs.generate_matrix, "n", lambda: bs.generate_matrix(2.5), TypeError,
         "must be an integer"),
    Case(bs.generate_matrix, "n", lambda: bs.generate_matrix(0), ValueError, ">= 1",
         label="zero"),
    Case(bs.generate_matrix, "kind", lambda: bs.generate_matrix(4, "normal"), ValueError,
         "must be one of 'arithmetic'"),
    Case(bs.generate_matrix, "kind", lambda: bs.generate_matrix(4, 3), TypeError,
         "must be one of", label="int"),
    Case(bs.generate_matrix, "cond", lambda: bs.generate_matrix(4, cond=0.5), ValueError,
         ">= 1"),
    Case(bs.generate_matrix, "cond", lambda: bs.generate_matrix(4, cond="big"), TypeError,
         "must be a real number", label="str"),
    Case(bs.generate_matrix, "cond", lambda: bs.generate_matrix(4, cond=float("inf")),
         ValueError, "finite", label="inf"),
    Case(bs.generate_matrix, "rng", lambda: bs.generate_matrix(4, rng="seed"), TypeError,
         "must be None, an int seed"),
    Case(bs.generate_matrix, "rng", lambda: bs.generate_matrix(4, rng=-1), ValueError,
         "non-negative int seed", label="negative"),
    Case(bs.generate_matrix, "rng", lambda: bs.generate_matrix(4, rng=1.5), TypeError,
         "must be None", label="float"),
    Case(bs.generate_matrix, "dtype", lambda: bs.generate_matrix(4, dtype=np.int64),
         TypeError, "float16, float32, float64"),
    Case(bs.generate_matrix, "dtype", lambda: bs.generate_matrix(4, dtype="nonsense"),
         TypeError, "must be a float dtype", label="name"),
    # ------------------------------------------------------------------ blasfast solve files
    Case(solve_cli.main, "MATRIX.mtx", lambda: _cli_dir(), CLIError,
         "exit 1: .*is a directory", op="solve", label="folder"),
    Case(solve_cli.main, "MATRIX.mtx", lambda: _cli_file(_EMPTY), CLIError,
         r"exit 1: .*empty \(0 x 0\)", op="solve", label="empty"),
    Case(solve_cli.main, "MATRIX.mtx", lambda: _cli_file(_HUGE), CLIError,
         r"exit 1: .*100000 x 100000 .* GB of memory", op="solve", label="huge"),
    Case(solve_cli.main, "MATRIX.mtx", lambda: _cli_file("not a matrix\n"), CLIError,
         "exit 1: .*not a readable Matrix Market file", op="solve", label="junk"),
    Case(solve_cli.main, "MATRIX.mtx",
         lambda: _cli("/nonexistent/a.mtx", "--device", "cpu"), CLIError,
         "exit 1: .*no such file", op="solve", label="missing"),
    Case(solve_cli.main, "--rhs", lambda: _cli_file(_EMPTY, rhs=True), CLIError,
         r"exit 1: .*right-hand side is empty", op="solve", label="empty"),
    Case(solve_cli.main, "--rhs", lambda: _cli_rhs_dir(), CLIError,
         "exit 1: .*is a directory", op="solve", label="folder"),
]


_RECORD = ("a result record that solve builds and returns (return_info=True); its "
           "constructor is not an input path of the library")

EXEMPT = {
    (bs.LUFactors, "dtype"): "informational label of the factor precision; lu_solve does "
                             "not read it (it works from lu's dtype), so no value is wrong",
    **{(bs.SolveInfo, f): _RECORD for f in (
        "status", "iterations", "gmres_iterations", "iter_code", "converged", "fell_back",
        "reason", "method", "backward_error", "threshold", "history", "factor", "refine",
        "scaling", "path")},
}


# stream=: the same rule as every other family (blasfast._backend.as_stream).
for _f, _call in ((bs.solve, lambda **kw: bs.solve(_A, _B, **kw)),
                  (bs.lu_factor, lambda **kw: bs.lu_factor(_A, **kw)),
                  (bs.lu_solve, lambda **kw: bs.lu_solve(_LU, _B, **kw))):
    CASES += [
        Case(_f, "stream", lambda _c=_call: _c(stream="default"), TypeError,
             "must be None, a cupy.cuda.Stream, .*got str 'default'"),
        Case(_f, "stream", lambda _c=_call: _c(stream=-1), ValueError,
             "must be a handle >= 0, got -1", label="negative"),
        Case(_f, "stream", lambda _c=_call: _c(stream=0), ValueError,
             "applies to device arrays only.*got int 0", label="int-host-arrays"),
        Case(_f, "stream", lambda _c=_call: _c(stream=FakeStream()), ValueError,
             "applies to device .*arrays only", label="host-array"),
    ]
