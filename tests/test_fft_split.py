"""The split-FP16 arithmetic of the CPU path: scales, the split bound, the exact DFT matrices,
the DFT products through blasfast.batched_gemm on float16 operands, the Stockham stages and
the four-step and Bluestein plans."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import blasfast.fft as bff
from blasfast.fft import _engine, _split

FINITE_F32 = st.floats(min_value=-2.0**123, max_value=2.0**123, allow_nan=False,
                       allow_subnormal=False, width=32)


def test_pow2_scale_is_the_next_power_of_two_above_the_max_and_clamped():
    m = np.array([1.0, 0.75, 3.0, 2.0**-130, 0.0, 1e38, np.inf, np.nan, 2.0**-126],
                 np.float32)
    s, inv = _split.pow2_scale(m)
    np.testing.assert_array_equal(s, np.float32([2.0, 1.0, 4.0, 2.0**-126, 2.0**-126, 2.0**126,
                                                 2.0**126, 2.0**126, 2.0**-125]))
    np.testing.assert_array_equal(s * inv, np.ones_like(s))     # exact reciprocals
    assert np.all(np.log2(s) == np.round(np.log2(s)))


@given(hnp.arrays(np.float32, (8, 5), elements=FINITE_F32))
def test_split_represents_every_element_to_2_to_the_minus_22(z):
    hi, lo, s1, s2 = _split.split(z)
    assert hi.dtype == lo.dtype == np.float16 and s1.shape == s2.shape == (5,)
    rebuilt = s1 * hi.astype(np.float64) + s2 * lo.astype(np.float64)
    err = np.abs(rebuilt - z)
    # 2**-22 |z| for elements in FP16's normal range relative to the block maximum, plus
    # the float16 subnormal spacing of the low half, 2**-24 * s2 <= 2**-24 * 2**-10 * s1
    assert np.all(err <= 2.0**-22 * np.abs(z) + 2.0**-34 * s1)
    assert np.all(np.abs(hi.astype(np.float32)) <= 1) and np.all(np.abs(lo) <= 1)


def test_split_blocks_share_scales_and_fp16_mode_keeps_only_the_high_half(rng):
    z = rng.standard_normal((8, 64)).astype(np.float32)
    z[:, 5] *= 1e4
    hi, lo, s1, s2 = _split.split(z, block=16)
    assert np.all(s1.reshape(4, 16) == s1.reshape(4, 16)[:, :1])
    h1, t1 = _split.split_hi(z)
    np.testing.assert_array_equal(h1, _split.split(z)[0])
    assert np.all(np.abs(t1 * h1.astype(np.float64) - z) <= 2.0**-11 * np.abs(z) + 2.0**-25 * t1)


@pytest.mark.parametrize("r", [2, 4])
@pytest.mark.parametrize("sign", [-1, 1])
def test_dft_matrices_are_exact_in_float16(rng, r, sign):
    f = _split.dft_matrix(r, sign)
    assert f.dtype == np.float16 and f.shape == (2 * r, 2 * r)
    k = np.arange(r)
    w = np.exp(sign * 2j * np.pi * np.outer(k, k) / r)
    z = rng.standard_normal(r) + 1j * rng.standard_normal(r)
    zr = np.empty(2 * r)
    zr[0::2], zr[1::2] = z.real, z.imag
    y = f.astype(np.float64) @ zr
    np.testing.assert_allclose(y[0::2] + 1j * y[1::2], w @ z, atol=1e-14)
    assert set(np.unique(f.astype(np.float64))) <= {-1.0, 0.0, 1.0}


def test_dft_products_go_through_batched_gemm_on_float16(monkeypatch, rng):
    calls = []
    real = _split._gemm.batched_gemm

    def spy(a, b, *args, **kw):
        calls.append((a.dtype, b.dtype, a.shape, b.shape))
        return real(a, b, *args, **kw)

    monkeypatch.setattr(_split._gemm, "batched_gemm", spy)
    x = (rng.standard_normal((2, 32)) + 1j * rng.standard_normal((2, 32))).astype(np.complex64)
    bff.fft(x, precision="split16")
    # 32 = 2 * 4 * 4: one radix-2 and two radix-4 stages, hi and lo stacked in one call each
    assert [(c[2], c[3][:2]) for c in calls] == [((4, 4), (2, 4)), ((8, 8), (2, 8)),
                                                 ((8, 8), (2, 8))]
    assert all(a == np.float16 and b == np.float16 for a, b, _, _ in calls)
    calls.clear()
    bff.fft(x, precision="fp16")
    assert [c[3][0] for c in calls] == [4, 8, 8]          # the high half only


def test_one_stage_is_the_exact_dft_of_the_split_representation(rng):
    # radix-4 stage with L = 1 (no twiddle): the only roundings are the split and the
    # final recombination, so the stage equals F @ (s1 hi + s2 lo) to 2**-24 relative
    x = (rng.standard_normal((3, 4)) + 1j * rng.standard_normal((3, 4))).astype(np.complex64)
    y = _split.stage(x, 4, 1, -1, "split16")
    z = np.empty((8, 3), np.float32)
    z[0::2], z[1::2] = x.T.real, x.T.imag
    hi, lo, s1, s2 = _split.split(z)
    rep = s1 * hi.astype(np.float64) + s2 * lo.astype(np.float64)
    rep = (rep[0::2] + 1j * rep[1::2]).T
    exact = np.fft.fft(rep)
    assert np.all(np.abs(y - exact) <= 2.0**-23 * np.abs(exact) + 1e-30)


def test_stages_plan():
    assert _split.stages(2) == [(2, 1)]
    assert _split.stages(4) == [(4, 1)]
    assert _split.stages(32) == [(2, 1), (4, 2), (4, 8)]
    assert _split.stages(4096) == [(4, 4**i) for i in range(6)]
    with pytest.raises(ValueError, match="at most 4096"):
        _split.pass_cpu(np.zeros((1, 8192), np.complex64), -1, "split16")


def test_four_step_split():
    assert _engine.four_step_split(8192) == (64, 128)
    assert _engine.four_step_split(2**24) == (4096, 4096)
    assert _engine.four_step_split(2**26) == (4096, 2**14)


def test_four_step_recursion_with_small_passes(monkeypatch, rng):
    # passes of at most 8 points: 512 = 8 x 64 and 64 = 8 x 8 exercises the recursion used
    # above 4096**2 points
    monkeypatch.setattr(_split, "MAX_PASS_LOG2", 3)
    monkeypatch.setattr(_split, "MAX_PASS", 8)
    x = (rng.standard_normal((2, 512)) + 1j * rng.standard_normal((2, 512))).astype(np.complex64)
    for sign, ref in ((-1, np.fft.fft(x.astype(np.complex128))),
                      (1, 512 * np.fft.ifft(x.astype(np.complex128)))):
        y = _engine.c2c_pow2_rows(np, x, sign, "split16")
        assert np.linalg.norm(y - ref) / np.linalg.norm(ref) <= 10 * 2.0**-20


def test_bluestein_tables_and_route(rng):
    c, spec = _engine.bluestein_tables(7, -1)
    assert c.shape == (7,) and spec.shape == (16,)
    j = np.arange(7)
    np.testing.assert_allclose(c, np.exp(-1j * np.pi * j * j / 7), atol=1e-7)
    x = (rng.standard_normal((2, 7)) + 1j * rng.standard_normal((2, 7))).astype(np.complex64)
    for mode in ("split16", "fp16"):
        y = _engine.c2c_bluestein_rows(np, x, -1, mode)
        ref = np.fft.fft(x.astype(np.complex128))
        tol = 2.0**-20 * 12 if mode == "split16" else 2.0**-10 * 12
        assert np.linalg.norm(y - ref) / np.linalg.norm(ref) <= tol


def test_fp16_unscaled_mode_shows_what_a_plain_fp16_transform_does(rng):
    # the accuracy script's FP16-library emulation: no scales, float16 storage, so small
    # inputs lose their digits to float16 subnormals and large ones overflow
    x = (rng.uniform(-1, 1, (2, 64)) + 1j * rng.uniform(-1, 1, (2, 64))).astype(np.complex64)
    ref = np.fft.fft(x.astype(np.complex128))
    err = lambda y, r: np.linalg.norm(y - r) / np.linalg.norm(r)  # noqa: E731
    assert err(bff.fft(x, precision="_fp16_unscaled"), ref) < 1e-2
    assert err(bff.fft(1e-7 * x, precision="_fp16_unscaled"), 1e-7 * ref) > 1e-2
    assert not np.all(np.isfinite(bff.fft(1e5 * x, precision="_fp16_unscaled")))
