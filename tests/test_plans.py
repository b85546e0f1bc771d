"""bf.BatchedGemm (plans) and the cached configuration under bf.batched_gemm (#15).

Numerics use the bound of tests/test_gemm.py (``gemm_bounds.assert_gemm_close``:
``|D - D_exact| <= gamma_{K+2} (|alpha| |A||B| + |beta| |C|)``, Frobenius norm); a plan and
the function share one configuration, so their results are compared bit for bit.
"""


import numpy as np
import pytest

import blasfast as bf
from blasfast.gemm import _config, _core, _plan
from conftest import is_emulator, to_numpy
from gemm_bounds import assert_gemm_close, rand


def _operands(xp, rng, dtype=np.float32, batch=4, m=5, n=6, k=7):
    return (rand(xp, rng, (batch, m, k), dtype), rand(xp, rng, (batch, k, n), dtype),
            rand(xp, rng, (batch, m, n), dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16], ids=str)
@pytest.mark.parametrize("trans_b", [False, True])
def test_plan_equals_the_function(xp, rng, dtype, trans_b):
    a, b, c = _operands(xp, rng, dtype)
    if trans_b:
        b = b.swapaxes(-1, -2).copy().swapaxes(-1, -2)  # same values, transposed strides
    c = c.astype(np.float32) if dtype == np.float16 else c
    plan = bf.BatchedGemm(a, b, c, alpha=1.5, beta=-0.5)
    d = plan.execute()
    assert type(d) is type(a) and d.shape == plan.shape == (4, 5, 6)
    ref = bf.batched_gemm(a, b, c, alpha=1.5, beta=-0.5)
    np.testing.assert_array_equal(to_numpy(d), to_numpy(ref))
    assert_gemm_close(d, a, b, c, 1.5, -0.5, u=2.0**-24 if dtype == np.float16 else None)


def test_execute_on_new_operands_and_out(xp, rng):
    a, b, c = _operands(xp, rng)
    out = xp.full((4, 5, 6), np.nan, np.float32)
    plan = bf.BatchedGemm(a, b, c, beta=2.0, out=out)
    assert plan.execute() is out
    assert_gemm_close(out, a, b, c, 1.0, 2.0)
    a2, b2, c2 = _operands(xp, rng)
    a0 = a2.copy()
    assert plan.execute(a=a2, b=b2, c=c2) is out
    assert_gemm_close(out, a2, b2, c2, 1.0, 2.0)
    np.testing.assert_array_equal(to_numpy(a2), to_numpy(a0))  # inputs unmodified
    other = xp.full((4, 5, 6), np.nan, np.float32)
    assert plan.execute(out=other) is other
    assert_gemm_close(other, a, b, c, 1.0, 2.0)
    assert plan.execute(out=c, c=c) is c  # in place, as BLAS: out may be c itself


def test_plan_without_out_returns_a_new_array_each_call(xp, rng):
    a, b, _ = _operands(xp, rng)
    plan = bf.BatchedGemm(a, b)
    d1, d2 = plan.execute(), plan.execute()
    assert d1 is not d2
    np.testing.assert_array_equal(to_numpy(d1), to_numpy(d2))


def test_execute_refuses_what_differs_from_the_plan(xp, rng):
    a, b, c = _operands(xp, rng)
    plan = bf.BatchedGemm(a, b)
    with pytest.raises(ValueError, match=r"BatchedGemm.execute: a must have the planned "
                                         r"shape \(4, 5, 7\) and strides"):
        plan.execute(a=a[:2])
    with pytest.raises(ValueError, match="b must have the planned shape .* strides"):
        plan.execute(b=xp.asarray(to_numpy(b), order="F"))
    with pytest.raises(TypeError, match="a must have the planned dtype float32, got float64"):
        plan.execute(a=a.astype(np.float64))
    with pytest.raises(TypeError, match="a must be a .* array like the planned one"):
        plan.execute(a=[[1.0]])
    with pytest.raises(ValueError, match="c was given but the plan has no c"):
        plan.execute(c=c)
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        plan.execute(out=xp.asarray(np.empty((4, 5, 6), np.float32, order="F")))
    with pytest.raises(TypeError, match="stream must be None, a cupy.cuda.Stream"):
        plan.execute(stream="now")


def test_execute_refuses_an_out_overlapping_a_new_operand(xp, rng):
    a, b, _ = _operands(xp, rng, m=6, n=6, k=6)
    out = xp.empty((4, 6, 6), np.float32)
    plan = bf.BatchedGemm(a, b, out=out)
    with pytest.raises(ValueError, match="out overlaps a"):
        plan.execute(a=out)
    if xp is np:
        ro = np.empty((4, 6, 6), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="out is read-only"):
            plan.execute(out=ro)


def test_closed_plan_and_context_manager(xp, rng):
    a, b, _ = _operands(xp, rng)
    with bf.BatchedGemm(a, b) as plan:
        assert plan.device == ("cpu" if xp is np else "emulator" if is_emulator(xp) else
                               "cuda")
        plan.execute()
    with pytest.raises(RuntimeError, match="BatchedGemm.execute: the plan is closed"):
        plan.execute()
    assert plan._a is None and plan._core is None  # operands released
    plan.close()  # idempotent
    assert "closed" in repr(plan)


def test_plan_validates_like_the_function():
    m = np.ones((3, 3))
    with pytest.raises(TypeError, match="BatchedGemm: trans_a must be a bool"):
        bf.BatchedGemm(m, m, trans_a="yes")
    with pytest.raises(ValueError, match="BatchedGemm: a and b must agree on K"):
        bf.BatchedGemm(m, np.ones((4, 3)))
    with pytest.raises(TypeError, match="BatchedGemm: a must be an array; the pointer-array"):
        bf.BatchedGemm([m], [m])


def test_plan_on_batch_dimensions_that_do_not_fold(xp, rng):
    """More than two batch dimensions after folding: several launches, built per call."""
    a = rand(xp, rng, (2, 3, 4, 1, 6, 5), np.float64)
    b = rand(xp, rng, (3, 1, 2, 5, 7), np.float64)
    plan = bf.BatchedGemm(a, b)
    d = plan.execute()
    assert d.shape == (2, 3, 4, 2, 6, 7)
    assert_gemm_close(d, a, b)


# --- the cache under bf.batched_gemm --------------------------------------------------------

def test_a_cached_key_is_not_planned_again(xp, rng):
    a, b, c = _operands(xp, rng)
    out = xp.empty((4, 5, 6), np.float32)
    bf.batched_gemm(a, b, c, beta=0.5, out=out)  # plans (or finds) this key
    built, hits = _core.stats["built"], _core.stats["hits"]
    for alpha in (1.0, 2.0, -3):  # alpha is not part of the key
        r = bf.batched_gemm(a, b, c, alpha=alpha, beta=0.5, out=out)
        assert_gemm_close(r, a, b, c, alpha, 0.5)
    assert _core.stats["built"] == built
    assert _core.stats["hits"] == hits + 3
    bf.batched_gemm(a, b, c, beta=0.0, out=out)  # beta == 0 is another key (c not read)
    assert _core.stats["built"] == built + 1


def test_the_cached_path_still_checks_out(xp, rng):
    a, b, _ = _operands(xp, rng, m=6, n=6, k=6)
    bf.batched_gemm(a, b, out=xp.empty((4, 6, 6), np.float32))
    with pytest.raises(ValueError, match="batched_gemm: out overlaps a"):
        bf.batched_gemm(a, b, out=a)
    if xp is np:
        ro = np.empty((4, 6, 6), np.float32)
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="batched_gemm: out is read-only"):
            bf.batched_gemm(a, b, out=ro)
    c = a.copy()
    r = bf.batched_gemm(a, b, c, beta=1.0, out=c[...])  # a distinct view equal to c: allowed
    assert_gemm_close(r, a, b, a, 1.0, 1.0)


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(_core, "CACHE_SIZE", 3)
    _core.clear_cache()
    for n in range(1, 7):
        bf.batched_gemm(np.ones((n, n)), np.ones((n, n)))
    assert len(_core._cache) == 3
    _core.clear_cache()


# --- autotune and capture: mechanics (their speed is unmeasured without a GPU) ------------

def test_autotune_is_a_no_op_with_a_warning_off_the_gpu(xp, rng):
    if not (xp is np or is_emulator(xp)):
        pytest.skip("on a GPU autotune times candidates")
    a, b, _ = _operands(xp, rng)
    plan = bf.BatchedGemm(a, b)
    tile = plan.tile
    with pytest.warns(UserWarning, match="BatchedGemm.autotune: nothing to time on"):
        assert plan.autotune() == {}
    assert plan.tile == tile
    assert_gemm_close(plan.execute(), a, b)


@pytest.mark.parametrize("dtype,mnk", [(np.float32, (9, 7, 5)), (np.float64, (40, 20, 33)),
                                       (np.float16, (40, 33, 20))], ids=str)
def test_autotune_keeps_the_fastest_candidate(dev, rng, dtype, mnk):
    """With a stand-in timer (the emulator has no time), the plan keeps the candidate the
    timer calls fastest, and every candidate computed a correct product."""
    m, n, k = mnk
    a, b = rand(dev, rng, (3, m, k), dtype), rand(dev, rng, (3, k, n), dtype)
    c = rand(dev, rng, (3, m, n), np.float32 if dtype == np.float16 else dtype)
    out = dev.full(c.shape, np.nan, c.dtype)
    plan = bf.BatchedGemm(a, b, c, alpha=0.5, beta=2.0, out=out)
    candidates = _core.candidate_tiles(plan._core.prec, m, n, k)
    assert plan.tile in candidates and len(candidates) >= 2
    u = 2.0**-24 if dtype == np.float16 else None
    seen = []

    def timer(run):
        d = run()
        assert_gemm_close(d, a, b, c, 0.5, 2.0, u=u)  # each candidate is right
        seen.append(d)
        return 10.0 - len(seen)  # later candidates "faster": the last one wins

    c0 = to_numpy(c).copy()
    times = plan._autotune(timer)
    assert list(times) == candidates
    assert plan.tile == candidates[-1]
    assert np.all(np.isnan(to_numpy(out)))  # tuning wrote to scratch, not to out
    np.testing.assert_array_equal(to_numpy(c), c0)
    assert plan.execute() is out
    assert_gemm_close(out, a, b, c, 0.5, 2.0, u=u)


def test_candidate_tiles_are_declared_and_cover_the_selected_one():
    for prec in _config.PRECISIONS:
        for mnk in [(2, 3, 4), (30, 31, 29), (70, 100, 40), (300, 200, 50)]:
            cands = _core.candidate_tiles(prec, *mnk)
            assert _config.select(prec, *mnk) in cands
            if max(mnk) > 32:
                assert not any(isinstance(t, _config.SmallTile) for t in cands)


def test_capture_falls_back_to_execute_off_the_gpu(xp, rng):
    if not (xp is np or is_emulator(xp)):
        pytest.skip("on a GPU capture records a CUDA graph")
    a, b, _ = _operands(xp, rng)
    plan = bf.BatchedGemm(a, b)
    with pytest.warns(UserWarning, match="BatchedGemm.capture: no CUDA graphs"):
        graph = plan.capture()
    assert not graph.captured
    d = graph.launch()
    assert_gemm_close(d, a, b)
    a[...] = rand(xp, rng, a.shape, np.float32)  # new values in the captured arrays
    assert graph.launch() is d  # the same output buffer every replay
    assert_gemm_close(d, a, b)
    plan.close()
    with pytest.raises(RuntimeError, match="closed"):
        graph.launch()


def test_capture_records_the_launch_between_begin_and_end():
    """CuPy's stream capture, with a stand-in stream: the launch happens inside the
    capture and the graph end_capture returns is what replays."""
    calls = []

    class FakeStream:
        ptr = 1

        def __enter__(self):
            calls.append("enter")
            return self

        def __exit__(self, *exc):
            calls.append("exit")

        def begin_capture(self):
            calls.append("begin")

        def end_capture(self):
            calls.append("end")
            return "graph"

    assert _plan._capture(FakeStream(), lambda: calls.append("launch")) == "graph"
    assert calls == ["enter", "begin", "launch", "end", "exit"]


# --- the emulator's record-only mode (for timing the host work up to a launch) -------------

@pytest.mark.emulator
@pytest.mark.gpu
def test_record_launches_runs_nothing():
    from conftest import NO_EMULATOR

    if NO_EMULATOR is not None:
        pytest.skip(NO_EMULATOR)
    from blasfast import emulator as em
    from blasfast.emulator import _module

    a = em.asarray(np.ones((2, 3, 3), np.float32))
    out = em.full((2, 3, 3), np.nan, np.float32)
    before = sum(_module.executed.values())
    with _module.record_launches(keep_args=True) as rec:
        bf.batched_gemm(a, a, out=out)
    assert len(rec) == 1 and rec[0][0].startswith("gemm_small_batched<float")
    assert rec[0][3][-5] is out  # D is the kernel's argument
    assert np.all(np.isnan(out.get())) and sum(_module.executed.values()) == before
    bf.batched_gemm(a, a, out=out)  # outside the block, launches run again
    np.testing.assert_allclose(out.get(), np.full((2, 3, 3), 3.0))


def test_planned_scalars_are_read_only(rng):
    a, b, _ = _operands(np, rng)
    plan = bf.BatchedGemm(a, b, alpha=2.0)
    with pytest.raises(AttributeError):
        plan.alpha = 3.0
    assert plan.alpha == 2.0 and plan.trans_a is False


def test_stream_argument_on_the_device_paths(dev, rng):
    a, b, c = _operands(dev, rng)
    stream = dev.cuda.Stream()
    plan = bf.BatchedGemm(a, b, c, beta=1.0, out=dev.empty((4, 5, 6), np.float32))
    assert_gemm_close(plan.execute(stream=stream), a, b, c, 1.0, 1.0)
    bf.batched_gemm(a, b)  # the function's cached path takes a stream too
    assert_gemm_close(bf.batched_gemm(a, b, stream=stream), a, b)
    stream.synchronize()


def test_cache_keys_tell_every_option_apart(xp, rng, monkeypatch):
    """One shape, many layouts and options: each call must get its own configuration, so
    a second pass over the same calls (all cached) gives the first pass's results bit for
    bit, and every result meets the bound."""
    monkeypatch.setattr(_core, "CACHE_SIZE", 256)  # the 64 calls' keys all stay cached
    m, n, k = 6, 5, 7
    a = rand(xp, rng, (3, m, k), np.float32)
    a_t = rand(xp, rng, (3, k, m), np.float32).swapaxes(-1, -2)  # same shape, other strides
    b = rand(xp, rng, (3, k, n), np.float32)
    b_t = rand(xp, rng, (3, n, k), np.float32)
    c_full, c_row = rand(xp, rng, (3, m, n), np.float32), rand(xp, rng, (n,), np.float32)
    calls = []
    for aa in (a, a_t):
        for bb, tb in ((b, False), (b_t, True)):
            for c, beta in ((None, 0.0), (c_full, 0.5), (c_row, -1.0), (c_full, 0.0)):
                for compute in (None, "tf32"):
                    for with_out in (False, True):
                        calls.append((aa, bb, tb, c, beta, compute, with_out))

    def run(aa, bb, tb, c, beta, compute, with_out):
        out = xp.full((3, m, n), np.nan, np.float32) if with_out else None
        return bf.batched_gemm(aa, bb, c, alpha=1.5, beta=beta, trans_b=tb, out=out,
                               compute=compute)

    first = [to_numpy(run(*call)) for call in calls]
    built = _core.stats["built"]
    for call, d0 in zip(calls, first):
        aa, bb, tb, c, beta, compute, _ = call
        d = run(*call)
        np.testing.assert_array_equal(to_numpy(d), d0)
        assert_gemm_close(d, aa, bb, c, 1.5, beta, trans_b=tb,
                          operand_rounding=2.0**-11 if compute == "tf32" else 0.0,
                          u=2.0**-24)
    assert _core.stats["built"] == built  # the second pass planned nothing


# --- on a real GPU only: autotune's CUDA-event timing and CuPy graph capture ----------------

def test_autotune_times_every_candidate_on_a_gpu(dev, rng):
    if is_emulator(dev):
        pytest.skip("the emulator has no time to measure (see the stand-in timer test)")
    a, b, c = _operands(dev, rng, m=40, n=50, k=30)
    out = dev.full(c.shape, np.nan, np.float32)
    plan = bf.BatchedGemm(a, b, c, beta=1.0, out=out)
    times = plan.autotune(repeat=3)
    assert times and all(np.isfinite(t) and t > 0 for t in times.values())
    assert set(times) == set(_core.candidate_tiles(plan._core.prec, 40, 50, 30))
    assert plan.tile == min(times, key=times.get)
    assert np.all(np.isnan(to_numpy(out)))  # timed into scratch
    assert_gemm_close(plan.execute(), a, b, c, 1.0, 1.0)


def test_capture_replays_a_cuda_graph_on_a_gpu(dev, rng):
    if is_emulator(dev):
        pytest.skip("no CUDA graphs on the emulator (see the fallback test)")
    a, b, _ = _operands(dev, rng)
    plan = bf.BatchedGemm(a, b)
    graph = plan.capture()
    assert graph.captured
    d = graph.launch()
    dev.cuda.Stream.null.synchronize()
    graph._stream.synchronize()
    assert_gemm_close(d, a, b)
    a[...] = rand(dev, rng, a.shape, np.float32)
    dev.cuda.runtime.deviceSynchronize()
    assert graph.launch() is d
    graph._stream.synchronize()
    assert_gemm_close(d, a, b)
