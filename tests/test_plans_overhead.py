"""Smoke test of bench/bench_overhead.py inside the normal test run (CI's ``pytest``).

Runs the overhead benchmark briefly (fewer calls and rounds than ``pytest bench``) and
checks that every ratio to ``numpy.matmul`` is finite and that the targets of #15 hold with
a factor-2 allowance for a shared CI machine: a ratio of minimum times is steady under load
(both sides are timed in interleaved rounds, noise only adds time), but on a 2-core machine
shared by several jobs a single run can still be off by tens of percent. The allowance still
catches the regressions that matter: the CPU path was 14x before the plans (bound 10x), the
cached GPU path 60x (bound 10x), and a plan that re-validated its operands would pass 4x.
"""

import importlib.util
import math
import pathlib

import pytest

BENCH = pathlib.Path(__file__).resolve().parents[1] / "bench" / "bench_overhead.py"
SLACK = 2.0


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_overhead", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_overhead_ratios_are_finite_and_within_the_targets(bench):
    times = bench.measure((1, 2, 2), number=100, repeat=20)
    ratios = bench.ratios(times)
    print(bench.markdown({(1, 2, 2): times}))
    assert all(math.isfinite(r) and r > 0 for r in ratios.values()), ratios
    for impl, target in bench.TARGETS.items():
        if impl in ratios:
            assert ratios[impl] <= SLACK * target, (impl, ratios[impl], target)
    if bench.emulator_reason() is None:
        assert set(ratios) == set(bench.IMPLS)


def test_large_batch_entries_run(bench):
    times = bench.measure((10000, 8, 8), number=2, repeat=2)
    assert all(math.isfinite(r) and r > 0 for r in bench.ratios(times).values())
