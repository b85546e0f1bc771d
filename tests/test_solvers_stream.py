"""``stream=`` on the solvers (issue #14 §1: every op that launches work takes one).

On the device path the whole solve -- factorization launches, refinement, copies -- runs
with the given stream current; the answers are those of the default stream, to the
solver's own backward-error test.
"""

import numpy as np
import pytest

import blasfast as bf
from blasfast.solvers import _solve, lu as _lu


def _system(rng, n=24, k=None):
    a = rng.standard_normal((n, n)) + n ** 0.5 * np.eye(n)
    b = rng.standard_normal(n if k is None else (n, k))
    return a, b


def _backward_error(a, x, b):
    r = b - a @ x
    return np.linalg.norm(r, np.inf) / (np.linalg.norm(a, np.inf) * np.linalg.norm(x, np.inf))


def test_solve_and_lu_run_on_the_given_stream(dev, monkeypatch):
    rng = np.random.default_rng()
    a, b = _system(rng)
    stream = dev.cuda.Stream()
    seen = []
    inner = _solve._solve_stacks

    def spy(*args, **kwargs):  # which stream is current while the solver works
        seen.append(dev.cuda.get_current_stream())
        return inner(*args, **kwargs)

    monkeypatch.setattr(_solve, "_solve_stacks", spy)
    x = bf.solve(dev.asarray(a), dev.asarray(b), stream=stream)
    stream.synchronize()
    assert seen and seen[-1] == stream
    xh = dev.asnumpy(x)
    # dsgesv's test, the one solve promises: ||r|| <= sqrt(n) eps ||A|| ||x||
    assert _backward_error(a, xh, b) <= np.sqrt(24) * 2.0 ** -53
    assert dev.cuda.get_current_stream() != stream  # restored afterwards

    fac = bf.lu_factor(dev.asarray(a), stream=stream)
    y = bf.lu_solve(fac, dev.asarray(b), stream=stream)
    stream.synchronize()
    # an FP64 LU solve: backward error within a small multiple of n eps (Higham, 9.4)
    assert _backward_error(a, dev.asnumpy(y), b) <= 24 * 2.0 ** -53 * 8


def test_lu_factor_makes_the_stream_current(dev, monkeypatch):
    rng = np.random.default_rng()
    a, _ = _system(rng, 8)
    stream = dev.cuda.Stream()
    seen = []
    inner = _lu._factor.factorize

    def spy(*args, **kwargs):
        seen.append(dev.cuda.get_current_stream())
        return inner(*args, **kwargs)

    monkeypatch.setattr(_lu._factor, "factorize", spy)
    bf.lu_factor(dev.asarray(a), stream=stream)
    assert seen == [stream]


def test_a_stream_with_dask_arrays_is_refused():
    da = pytest.importorskip("dask.array", reason="Dask is not installed")
    a = da.from_array(np.eye(3)[None].repeat(2, 0))
    with pytest.raises(ValueError, match=r"solve: stream must be None with Dask arrays"):
        bf.solve(a, a[..., 0], stream=1)
