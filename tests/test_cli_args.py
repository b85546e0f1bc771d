"""The ``blasfast`` command line refuses bad options with one clear line, never a traceback.

``tests/bad_inputs_cli.py`` holds the cases (run by ``test_bad_inputs.py`` like every
family's); here: every option of every subcommand of the real parser has a case or an
exemption with a reason, and each error is one line (after argparse's usage lines).
"""

import argparse

import pytest

from bad_inputs_cli import CASES, CLI_EXEMPT, CLIError
from blasfast import cli


def _options():
    """``(subcommand, option)`` for every argument of the parser: an option by its first
    option string, a positional (or the subcommand choice) by its metavar or dest."""
    found = []

    def walk(parser, op):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.append((op, action.metavar or action.dest))
                for name, sub in action.choices.items():
                    walk(sub, name)
            elif action.option_strings:
                found.append((op, action.option_strings[0]))
            else:
                found.append((op, action.metavar or action.dest))

    walk(cli._parser(), "blasfast")
    return found


def test_every_option_of_every_subcommand_has_a_case_or_an_exemption():
    covered = {(c.op_name, c.arg) for c in CASES}
    options = _options()
    assert ("train", "--epochs") in options and ("solve", "--max-iter") in options
    missing = [o for o in options if o not in covered and o not in CLI_EXEMPT]
    assert not missing, f"CLI options with no bad-input case: {missing}"
    stale = [o for o in list(covered) + list(CLI_EXEMPT) if o not in options]
    assert not stale, f"cases or exemptions for options the parser does not have: {stale}"
    assert all(isinstance(r, str) and len(r) > 10 for r in CLI_EXEMPT.values())


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_error_is_one_line_with_the_documented_exit_code(case):
    with pytest.raises(CLIError) as info:
        case.call()
    err = info.value
    assert "Traceback" not in err.stderr
    lines = err.stderr.strip().splitlines()
    if err.code == 2 and "error:" in lines[-1]:   # argparse: usage lines, then the error
        assert lines[0].startswith("usage: blasfast")
        assert lines[-1].startswith(f"blasfast{'' if case.op == 'blasfast' else ' ' + case.op}"
                                    ": error: ")
    else:                                          # ours: exactly one line
        assert err.code in (1, 2)
        assert len(lines) == 1, err.stderr
        assert lines[0].startswith(f"blasfast {case.op}: {case.arg}")
