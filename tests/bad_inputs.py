"""The bad-input table's record type, shared by the per-family tables.

Each family (``bad_inputs_gemm.py``, ``bad_inputs_conv.py``, ``bad_inputs_fft.py``,
``bad_inputs_solvers.py``, ``bad_inputs_nn.py``, ``bad_inputs_cli.py``) defines

* ``CASES``: a list of :class:`Case`, one bad value of one argument of one public function;
* ``EXEMPT``: ``{(function, argument): reason}`` for an argument no value of which can be
  wrong (say so, with why), so that the coverage test can tell "forgotten" from "none".

``tests/test_bad_inputs.py`` runs every case as one parametrized test and checks that every
argument of every public function has a case or an exemption.
"""

import dataclasses
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad call.

    ``func`` is the public callable the case exercises (a function, a class for its
    constructor, or an unbound method such as ``Sequential.fit``); ``arg`` the parameter
    name that is wrong; ``call`` a no-argument callable making the bad call; ``exc`` the
    exception type expected; ``match`` a regular expression the message must contain
    besides the op's name and ``arg`` (what was expected, or what came).
    ``op`` overrides the name the message must contain (default ``func.__name__``).
    """

    func: object
    arg: str
    call: Callable
    exc: type
    match: str
    op: str = None
    label: str = ""

    @property
    def op_name(self):
        return self.op or self.func.__name__

    @property
    def id(self):
        return f"{self.op_name}-{self.arg}" + (f"-{self.label}" if self.label else "")


class FakeStream:
    """Looks like a CUDA stream (a ``ptr`` handle, a context manager) without a GPU: for the
    "a stream with host arrays" cases."""

    ptr = 1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
