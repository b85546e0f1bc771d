"""The one-command GPU run (``python scripts/gpu_check.py``): its planning, on the CPU.

What needs a GPU (the tests, the benchmarks) is not run here; these check what decides
whether a few lent minutes of GPU time come back with results: every test file runs in some
family, the headline benchmark patterns still select cases, a step past its time gets
SIGINT (so pytest writes its reports) and the budget is shared out.
"""

import importlib.util
import pathlib
import re
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load_script(path):
    """The module of a script of the source tree, loaded from its path (``scripts/`` is no
    package and is not installed)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gpu_check = _load_script(ROOT / "scripts" / "gpu_check.py")


def test_gpu_check_lives_in_the_source_tree_not_the_package():
    """It runs the tree's tests and benchmarks: from a wheel it found 0 test groups."""
    assert gpu_check.ROOT == ROOT and (gpu_check.ROOT / "tests").is_dir()
    assert importlib.util.find_spec("blasfast.gpu_check") is None
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--help"],
                         capture_output=True, text=True, timeout=60, cwd="/")
    assert res.returncode == 0, res.stderr
    assert "usage: python scripts/gpu_check.py" in res.stdout and "--bench-select" in res.stdout


def test_every_test_file_runs_in_exactly_one_family_in_order():
    groups = gpu_check.test_groups(ROOT / "tests")
    names = [g for g, _ in groups]
    files = [f for _, fs in groups for f in fs]
    on_disk = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("test_*.py"))
    assert sorted(files) == on_disk and len(files) == len(set(files))
    known = [g for g in names if g != "other"]
    assert known == [g for g in gpu_check.TEST_GROUP_ORDER if g in known]
    assert names[-1] == "other" and {"gemm", "conv", "fft", "nn", "solvers"} <= set(names)
    by = dict(groups)
    assert "tests/test_gemm_vbatched.py" in by["gemm"]
    assert "tests/test_solvers_lu.py" in by["solvers"]
    assert "tests/test_gpu_check.py" in by["other"]


@pytest.fixture(scope="module")
def bench_ids():
    ids = gpu_check._collect(["bench"], sys.executable)
    assert len(ids) > 100, "bench collection failed"
    return ids


def test_every_headline_pattern_selects_benchmark_cases(bench_ids):
    for pattern in gpu_check.HEADLINE_BENCH:
        assert gpu_check.select_headline(bench_ids, [pattern]), f"{pattern} selects nothing"
    chosen = gpu_check.select_headline(bench_ids)
    assert len(chosen) == len(set(chosen))
    first = gpu_check.select_headline(bench_ids, gpu_check.HEADLINE_BENCH[:1])
    assert chosen[:len(first)] == first == [i for i in bench_ids if i in set(first)]
    assert "bench_gemm" in chosen[0] and "bench_solve" in chosen[-1]
    # a first run's worth: every issue's bench file, far fewer cases than the whole suite
    assert {c.split("::")[0] for c in chosen} == {
        "bench/bench_gemm.py", "bench/bench_gemm_tc.py", "bench/bench_gemm_vbatched.py",
        "bench/bench_conv.py", "bench/bench_fft.py", "bench/bench_solve.py"}
    assert 20 <= len(chosen) <= len(bench_ids) // 3
    # every GEMM case comes with its vendor baseline in the same selection
    gemm = [c for c in chosen if "bench_gemm" in c]
    assert {c.rsplit("-", 1)[0] for c in gemm if c.endswith("-blasfast]")} <= \
        {c.rsplit("-", 1)[0] for c in gemm if not c.endswith("-blasfast]")}


def test_headline_gemm_patterns_select_the_files_they_name(bench_ids):
    """The GEMM benchmarks are split over three files with the same test names: each
    pattern's cases come from the file it names, TF32 with its TF32 cuBLAS baselines."""
    for pattern in gpu_check.HEADLINE_BENCH:
        if "bench_gemm" not in pattern:
            continue
        files = {c.split("::")[0] for c in gpu_check.select_headline(bench_ids, [pattern])}
        assert files and all(re.fullmatch(r"bench/bench_gemm(_tc|_vbatched)?\.py", f)
                             for f in files), (pattern, files)
    tf32 = gpu_check.select_headline(bench_ids, [p for p in gpu_check.HEADLINE_BENCH
                                                 if "tf32" in p])
    assert {c.rsplit("-", 1)[1].rstrip("]") for c in tf32} == {
        "blasfast", "cupy.matmul", "cupy.matmul CUPY_TF32", "cupy.matmul TF32 math mode",
        "torch.bmm"}


def test_selected_node_ids_are_accepted_by_pytest(bench_ids, tmp_path):
    """Node ids with spaces and parentheses go to pytest as arguments, unquoted."""
    chosen = [i for i in gpu_check.select_headline(bench_ids) if "(" in i or " " in i][:2]
    chosen += gpu_check.select_headline(bench_ids)[:1]
    summary = {}
    rc = gpu_check._run("collect", [sys.executable, "-m", "pytest", *chosen,
                                    "--collect-only", "-q"], tmp_path, 120, summary)
    log = (tmp_path / "collect.log").read_text()
    assert rc == 0, log
    assert f"{len(chosen)} test" in log


def test_a_step_past_its_time_gets_sigint_then_its_log_says_so(tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent("""
        import time
        print("started", flush=True)
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            print("interrupted: writing reports", flush=True)
    """))
    summary = {}
    t0 = time.perf_counter()
    rc = gpu_check._run("slow", [sys.executable, str(script)], tmp_path, 2.0, summary)
    assert time.perf_counter() - t0 < 15
    log = (tmp_path / "slow.log").read_text()
    assert rc == 124 and summary["slow"]["returncode"] == 124
    assert "interrupted: writing reports" in log and "stopped after 2 s" in log
    # no time left: the step is not started, and says why
    assert gpu_check._run("late", [sys.executable, str(script)], tmp_path, 0.0, summary) == 124
    assert "budget is spent" in (tmp_path / "late.log").read_text()


def test_junit_counts_of_a_real_run(tmp_path):
    (tmp_path / "test_x.py").write_text(textwrap.dedent("""
        import pytest
        def test_ok(): assert 1 + 1 == 2
        def test_bad(): assert 1 + 1 == 3
        @pytest.mark.skip(reason="because")
        def test_skip(): pass
    """))
    xml = tmp_path / "r.xml"
    gpu_check._run("x", [sys.executable, "-m", "pytest", str(tmp_path / "test_x.py"),
                         "-p", "no:cacheprovider", f"--junitxml={xml}"], tmp_path, 60, {})
    assert gpu_check.junit_counts(xml) == {"tests": 3, "failures": 1, "errors": 0,
                                           "skipped": 1}
    assert gpu_check.junit_counts(tmp_path / "missing.xml") is None


def test_budget_shares_keep_time_for_later_steps():
    b = gpu_check.Budget(100.0)
    assert 99 < b.left() <= 100
    assert b.share(240, later=2) == pytest.approx(100 - 2 * gpu_check._MIN_SHARE, abs=0.5)
    assert b.share(30, later=0) == 30
    assert gpu_check.Budget(-5).share(60) == 0.0


def test_unknown_step_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        gpu_check.main([str(tmp_path), "--steps", "tests,bogus"])
    assert "unknown steps ['bogus']" in capsys.readouterr().err


def test_archive_holds_the_folder_and_is_replaced_whole(tmp_path):
    import tarfile

    out = tmp_path / "run"
    out.mkdir()
    (out / "summary.json").write_text('{"done": false}')
    archive = tmp_path / "back" / "gpu_check.tar.gz"
    archive.parent.mkdir()
    gpu_check.write_archive(out, archive)
    (out / "bench.json").write_text("{}")
    gpu_check.write_archive(out, archive)
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == ["run", "run/bench.json", "run/summary.json"]
    assert [p.name for p in archive.parent.iterdir()] == ["gpu_check.tar.gz"]


def test_a_run_without_gpu_leaves_its_summary_in_the_archive(tmp_path):
    """The main job step on a machine without a GPU fails fast and says why; the summary
    and the archive are written all the same."""
    import json
    import tarfile

    archive = tmp_path / "r.tar.gz"
    rc = gpu_check.main([str(tmp_path / "out"), "--steps", "train", "--budget", "60",
                         "--archive", str(archive)])
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["done"] is True and set(summary["steps"]) == {"train-gpu"}
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "out/summary.json" in names and "out/env.json" in names
    from blasfast import _backend

    if not _backend.gpu_available():
        assert rc == 1 and summary["steps"]["train-gpu"]["returncode"] == 2
        assert "no usable CUDA GPU" in (tmp_path / "out" / "train-gpu.log").read_text()


def test_hanging_gpu_test_is_cut_by_pytest_timeout(tmp_path, monkeypatch):
    pytest.importorskip("pytest_timeout", reason="pytest-timeout is not installed")
    (tmp_path / "test_hang.py").write_text("import time\ndef test_hang(): time.sleep(60)\n")
    monkeypatch.setattr(gpu_check, "_TEST_TIMEOUT", 2)
    t0 = time.perf_counter()
    rc = gpu_check._run("hang", [sys.executable, "-m", "pytest", str(tmp_path / "test_hang.py"),
                                 "-p", "no:cacheprovider", *gpu_check._timeout_options()],
                        tmp_path, 50, {})
    assert time.perf_counter() - t0 < 30 and rc not in (0, 124)
    assert "Timeout" in (tmp_path / "hang.log").read_text()


def test_gpu_tests_on_a_real_gpu_are_the_cupy_variants(monkeypatch):
    """The lent GPU runs the CuPy variants of the GPU tests; the emulator's variants (CI
    runs those) would spend its minutes on the CPU."""
    monkeypatch.delenv("BLASFAST_EMULATOR", raising=False)
    res = subprocess.run([sys.executable, "-m", "pytest", "tests/test_gemm.py", "-m",
                          gpu_check.GPU_MARKS, "--collect-only", "-q", "-p", "no:cacheprovider"],
                         cwd=ROOT, capture_output=True, text=True, env=gpu_check._env(),
                         timeout=120)
    ids = [ln for ln in res.stdout.splitlines() if "::" in ln]
    assert ids and all("cupy" in i and "emulator" not in i for i in ids)


def test_environment_names_commit_and_versions():
    env = gpu_check.environment()
    for key in ("blasfast", "numpy", "cupy", "gpu_available", "commit", "date"):
        assert key in env
