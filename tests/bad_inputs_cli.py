"""Bad-input table of the ``blasfast`` command line (``blasfast.cli.main``).

Each case runs ``main([...])`` through :func:`run`, which captures stdout and stderr and
turns a non-zero exit into :class:`CLIError` whose message is ``"exit <code>: <the last
stderr line>"``; the table checks that this line names the subcommand (``op``) and the
option (``arg``). A traceback is not a ``CLIError``, so it fails the case.

Exit codes (see ``blasfast.cli``): 2 for a usage error (argparse's own, printed after the
usage line, or ``--device gpu`` with no GPU), 1 for a runtime failure (missing data, a
``--save`` path that cannot be written, divergence), each one line on stderr.

``CLI_EXEMPT`` lists ``(subcommand, option)`` pairs without a case, with the reason;
``tests/test_cli_args.py`` checks that every option of every subcommand of the parser has
a case or an exemption. ``EXEMPT`` (per-function, for ``test_bad_inputs.py``) is empty:
``main``'s own parameter ``argv`` is covered by every case here.
"""

import contextlib
import io
import os
import tempfile
from unittest import mock

from bad_inputs import Case
from blasfast.cli import main


class CLIError(Exception):
    """A non-zero exit of ``blasfast.cli.main``: ``code``, the full ``stderr``, and as the
    message ``"exit <code>: <last line of stderr>"``."""

    def __init__(self, code, stderr):
        lines = stderr.strip().splitlines() or [""]
        super().__init__(f"exit {code}: {lines[-1]}")
        self.code, self.stderr = code, stderr


def run(*argv):
    """Run ``blasfast <argv>`` in-process; return stdout, or raise :class:`CLIError`."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # main returns codes, but a stray exit counts the same
            code = e.code if isinstance(e.code, int) else 1
    if code:
        raise CLIError(code, err.getvalue())
    return out.getvalue()


def _no_gpu(*argv):
    with mock.patch("blasfast._backend.gpu_available", return_value=False):
        return run(*argv)


def _with_file(*argv):
    """``argv`` with ``{file}`` replaced by an existing (empty) file's path."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "not-a-directory")
        open(path, "w").close()
        return run(*(a.replace("{file}", path) for a in argv))


def _case(op, option, argv, match, code=2, label="", call=run):
    return Case(main, option, lambda: call(*argv), CLIError, f"^exit {code}: .*{match}",
                op=op, label=label)


_TRAIN = ("train", "--device", "cpu", "--no-progress")

CASES = [
    # -- blasfast (no subcommand) ------------------------------------------------------
    _case("blasfast", "{info,train,solve}", [], "required"),
    _case("blasfast", "{info,train,solve}", ["bench"], "invalid choice: 'bench'",
          label="unknown"),
    _case("blasfast", "--version", ["--version=1"], "ignored explicit argument"),

    # -- blasfast info ---------------------------------------------------------------------
    _case("info", "--json", ["info", "--json=yes"], "ignored explicit argument"),

    # -- blasfast train --------------------------------------------------------------------
    _case("train", "--mnist", [*_TRAIN, "--mnist", "/nonexistent/mnist"],
          "does not exist.*train-images-idx3-ubyte", code=1),
    _case("train", "--mnist", [*_TRAIN, "--mnist", "{file}"], "is a file", code=1,
          label="file", call=_with_file),
    _case("train", "--mnist", ["train", "--mnist"], "expected one argument", label="no-value"),
    _case("train", "--model", ["train", "--model", "resnet"], "invalid choice"),
    _case("train", "--epochs", ["train", "--epochs", "0"], r"integer >= 1, got 0"),
    _case("train", "--epochs", ["train", "--epochs", "-1"], r"integer >= 1, got -1",
          label="negative"),
    _case("train", "--epochs", ["train", "--epochs", "2.5"], r"integer >= 1, got '2.5'",
          label="float"),
    _case("train", "--batch-size", ["train", "--batch-size", "0"], r"integer >= 1, got 0"),
    _case("train", "--batch-size", ["train", "--batch-size", "many"], "integer >= 1",
          label="word"),
    _case("train", "--lr", ["train", "--lr", "0"], r"finite number > 0, got '0'"),
    _case("train", "--lr", ["train", "--lr", "inf"], "finite number > 0", label="inf"),
    _case("train", "--lr", ["train", "--lr", "nan"], "finite number > 0", label="nan"),
    _case("train", "--lr", [*_TRAIN, "--lr", "1e30", "--limit", "100", "--epochs", "1"],
          r"loss became nan at epoch 1, batch \d+ of 4.*1e\+30", code=1, label="diverges"),
    _case("train", "--momentum", ["train", "--momentum", "1"], r"in \[0, 1\), got '1'"),
    _case("train", "--momentum", ["train", "--momentum", "-0.5"], r"in \[0, 1\)",
          label="negative"),
    _case("train", "--nesterov", ["train", "--nesterov=yes"], "ignored explicit argument"),
    _case("train", "--weight-decay", ["train", "--weight-decay=-1e-4"], ">= 0"),
    _case("train", "--weight-decay", ["train", "--weight-decay", "inf"], "finite",
          label="inf"),
    _case("train", "--optimizer", ["train", "--optimizer", "lbfgs"], "invalid choice"),
    _case("train", "--schedule", ["train", "--schedule", "linear"], "invalid choice"),
    _case("train", "--mixed-precision", ["train", "--mixed-precision", "float8"],
          "invalid choice"),
    _case("train", "--hidden", ["train", "--hidden", "64", "0"], r"integer >= 1, got 0"),
    _case("train", "--hidden", ["train", "--hidden"], "expected at least one argument",
          label="no-value"),
    _case("train", "--activation", ["train", "--activation", "gelu"], "invalid choice"),
    _case("train", "--seed", ["train", "--seed", "-1"], r"integer >= 0, got -1"),
    _case("train", "--seed", ["train", "--seed", "0.5"], "integer >= 0", label="float"),
    _case("train", "--limit", ["train", "--limit", "0"], r"integer >= 1, got 0"),
    _case("train", "--device", ["train", "--device", "tpu"], "invalid choice: 'tpu'"),
    _case("train", "--device", ["train", "--device", "gpu"], "no usable CUDA GPU",
          label="no-gpu", call=_no_gpu),
    _case("train", "--save", [*_TRAIN, "--save", "/nonexistent/dir/model.npz"],
          "directory /nonexistent/dir does not exist", code=1),
    _case("train", "--save", [*_TRAIN, "--save", os.path.dirname(os.path.abspath(__file__))],
          "is a directory", code=1, label="directory"),
    _case("train", "--no-progress", ["train", "--no-progress=yes"],
          "ignored explicit argument"),

    # -- blasfast solve: argparse-level checks only (the rest is solvers/cli.py's) ----------
    _case("solve", "MATRIX.mtx", ["solve"], "required"),
    _case("solve", "--factor", ["solve", "a.mtx", "--factor", "float8"], "invalid choice"),
    _case("solve", "--refine", ["solve", "a.mtx", "--refine", "cg"], "invalid choice"),
    _case("solve", "--tol", ["solve", "a.mtx", "--tol", "tiny"], "invalid float value"),
    _case("solve", "--max-iter", ["solve", "a.mtx", "--max-iter", "1.5"], "invalid int value"),
    _case("solve", "--no-fallback", ["solve", "a.mtx", "--no-fallback=1"],
          "ignored explicit argument"),
    _case("solve", "--device", ["solve", "a.mtx", "--device", "tpu"], "invalid choice"),
    _case("solve", "--no-reference", ["solve", "a.mtx", "--no-reference=0"],
          "ignored explicit argument"),
    _case("solve", "--json", ["solve", "a.mtx", "--json=1"], "ignored explicit argument"),
]

EXEMPT = {}

_HELP = "prints help and exits 0; it takes no value, so nothing passed to it can be wrong"
CLI_EXEMPT = {
    ("blasfast", "-h"): _HELP,
    ("info", "-h"): _HELP,
    ("train", "-h"): _HELP,
    ("solve", "-h"): _HELP,
    ("solve", "--rhs"): "a path read by run_solve in src/blasfast/solvers/cli.py, whose "
                        "file errors the solvers' table covers; argparse takes any string",
}
