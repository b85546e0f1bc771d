"""The split-FP16 FFT kernel family compiles with NVRTC for sm_80 and sm_90, here, with no GPU,
using the runtime's options; no register spills. A representative subset (radix-2 only,
radix-4 only, both, the largest pass) keeps this quick; ``python -m blasfast.kernels check``
(and tests/test_kernels.py once ``blasfast`` imports ``blasfast.fft``) compiles all 24."""

import dataclasses

import pytest

from blasfast.fft import _gpu
from blasfast.kernels import _compile

_check = pytest.importorskip("blasfast.kernels._check")
pytest.importorskip("cuda.bindings.nvrtc", reason="cuda-bindings is not installed "
                                                  "(pip install blasfast[test])")


def test_family_declares_every_pass_size_and_mode():
    fam = _compile.families()[_gpu.FAMILY]
    assert fam.source == "fft_split16.cu"
    assert set(fam.name_expressions) == {f"fft_split16_pass<{p}, {m}>"
                                         for p in range(1, 13) for m in (0, 1)}


def test_representative_passes_compile_for_sm80_and_sm90_without_spills():
    fam = _compile.families()[_gpu.FAMILY]
    subset = dataclasses.replace(fam, name_expressions=tuple(
        _gpu.name_expression(p, m) for p in (1, 2, 11, 12) for m in ("split16", "fp16")))
    for arch in _compile.CHECK_ARCHS:
        reports = _check.compile_family(subset, arch)
        assert {r.name_expression for r in reports} == set(subset.name_expressions)
        for r in reports:
            assert r.spill_stores == 0 and r.spill_loads == 0, r
            # <= 128 registers: at least two 256-thread blocks per SM
            assert 0 < r.registers <= 128, r
            assert r.smem_bytes == 0, r        # dynamic shared memory only
