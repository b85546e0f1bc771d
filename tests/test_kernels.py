"""The kernel compile check: every declared instantiation compiles for sm_80 and sm_90 with
NVRTC, here, with no GPU, using the runtime's options."""

import pytest

from blasfast.kernels import __main__ as kernels_main
from blasfast.kernels import _check, _compile

pytest.importorskip("cuda.bindings.nvrtc", reason="cuda-bindings is not installed "
                                                  "(pip install blasfast[test])")


def test_every_family_compiles_for_sm80_and_sm90_without_spills():
    reports, errors = _check.check()
    assert errors == []
    declared = {(f.name, e) for f in _compile.families().values() for e in f.name_expressions}
    assert declared, "no kernel family is declared"
    for arch in _compile.CHECK_ARCHS:
        built = {(r.family, r.name_expression) for r in reports if r.arch == arch}
        assert built == declared
    for r in reports:
        assert 0 < r.registers <= 255, r
        assert r.spill_stores == 0 and r.spill_loads == 0, f"register spills in {r}"


def test_check_command_prints_a_table_and_exits_zero(capsys):
    assert kernels_main.main(["check", "--arch", "90", "--family", "gemm"]) == 0
    out = capsys.readouterr().out
    assert "gemm_strided_batched<double, double, double, 64, 64, 8, 4, 4, false>" in out
    assert "gemm_small_batched<__half, float, float, 32, 1, false>" in out and "sm_90" in out
    assert "0 failed" in out


def test_compile_error_is_reported_with_the_log(tmp_path, monkeypatch):
    bad = tmp_path / "bad.cu"
    bad.write_text("template <typename T> __global__ void k(T* x) { x[0] = undeclared; }\n")
    monkeypatch.setattr(_compile, "KERNEL_DIR", tmp_path)
    fam = _compile.Family("bad", "bad.cu", ("k<float>",))
    with pytest.raises(_check.CheckError, match="(?s)failed to compile for sm_90.*undeclared"):
        _check.compile_family(fam, 90)


def test_runtime_and_check_share_options():
    opts = _compile.nvrtc_options(90)
    assert opts[:len(_compile.BASE_OPTIONS)] == _compile.BASE_OPTIONS
    assert "-arch=sm_90" in opts and "-ftz=true" in opts


def test_include_dir_prefers_a_complete_folder(tmp_path):
    """A runtime wheel's include folder without crt/mma.h (no nvidia-cuda-crt beside it, as
    on a machine with only nvidia-cuda-runtime) must not hide a toolkit that has it."""
    def folder(name, headers):
        d = tmp_path / name
        for h in headers:
            (d / h).parent.mkdir(parents=True, exist_ok=True)
            (d / h).write_text("")
        return d

    wheel = folder("wheel", ["cuda_fp16.h", "cuda_bf16.h", "mma.h"])
    toolkit = folder("toolkit", _compile._HEADERS)
    empty = folder("empty", [])
    pick = _compile.pick_include_dir
    assert pick([empty, wheel, toolkit]) == str(toolkit)
    assert pick([toolkit, wheel]) == str(toolkit)
    assert pick([empty, wheel]) == str(wheel)       # better than nothing: no mma.h kernels
    assert pick([empty, tmp_path / "missing"]) is None
    # CUDA 12's wheels: the runtime's folder lacks crt/mma.h, nvcc's has only that part.
    crt_only = folder("nvcc", ["crt/mma.h"])
    assert _compile.pick_include_dirs([empty, wheel, crt_only]) == (str(wheel), str(crt_only))
    assert _compile.pick_include_dirs([wheel, crt_only, toolkit]) == (str(toolkit),)
    assert _compile.pick_include_dirs([crt_only]) == ()
    found = _compile.cuda_include_dir()             # this machine ([test] has the crt wheel)
    assert found and all((_compile.pathlib.Path(found) / h).is_file()
                         for h in _compile._HEADERS)


def test_cuda12_wheels_give_two_include_folders(tmp_path, monkeypatch):
    """CUDA 12's wheels (blasfast[cuda12]) split the headers: nvidia-cuda-runtime-cu12 has
    cuda_fp16.h, cuda_bf16.h and mma.h in nvidia/cuda_runtime/include, and crt/mma.h (which
    mma.h includes) is only in nvidia-cuda-nvcc-cu12's nvidia/cuda_nvcc/include (layout
    checked on the PyPI wheels, 12.9). Both folders must reach NVRTC."""
    pathfinder = pytest.importorskip("cuda.pathfinder",
                                     reason="cuda.pathfinder is not installed")
    runtime = tmp_path / "nvidia" / "cuda_runtime" / "include"
    nvcc = tmp_path / "nvidia" / "cuda_nvcc" / "include"
    for d, headers in ((runtime, ["cuda_fp16.h", "cuda_bf16.h", "mma.h"]), (nvcc, ["crt/mma.h"])):
        for h in headers:
            (d / h).parent.mkdir(parents=True, exist_ok=True)
            (d / h).write_text("")
    monkeypatch.setattr(pathfinder, "find_nvidia_header_directory",
                        lambda name: str(runtime) if name == "cudart" else None)
    for var in ("CUDA_PATH", "CUDA_HOME"):
        monkeypatch.delenv(var, raising=False)
    candidates = [c for c in _compile._include_candidates() if str(c) != "/usr/local/cuda/include"]
    assert _compile.pick_include_dirs(candidates) == (str(runtime), str(nvcc))
