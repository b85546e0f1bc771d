"""The ``blasfast`` console script, run in-process through ``blasfast.cli.main``."""

import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import blasfast
from blasfast import _backend
from blasfast.cli import main
from blasfast.nn import Sequential, load_mnist

ROOT = pathlib.Path(__file__).resolve().parents[1]
MNIST = pathlib.Path(os.environ.get("BLASFAST_DATA", ROOT.parent / "shared" / "data")) / "mnist"
needs_mnist = pytest.mark.skipif(not MNIST.is_dir(), reason=f"real MNIST data not found at {MNIST}")


def parse_accuracy(out):
    m = re.search(r"^test accuracy: (\d\.\d{4})$", out, re.MULTILINE)
    assert m, out
    return float(m.group(1))


def test_train_digits_defaults(capsys):
    rc = main(["train", "--device", "cpu", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert parse_accuracy(out) >= 0.95
    assert len(re.findall(r"^epoch \d+/30: loss [\d.]+  accuracy [\d.]+", out, re.M)) == 30
    assert re.search(r"^wall time: [\d.]+ s$", out, re.M)


@pytest.mark.gpu
@pytest.mark.emulator
def test_train_digits_on_the_emulator_matches_the_cpu(capsys, monkeypatch):
    """``BLASFAST_EMULATOR=1 blasfast train --device gpu``: the same test accuracy as the
    CPU path (within 0.5 points) on digits, every GEMM through our kernels."""
    from conftest import NO_EMULATOR

    if NO_EMULATOR is not None:
        pytest.skip(str(NO_EMULATOR))
    from blasfast import emulator

    assert main(["train", "--device", "cpu", "--no-progress"]) == 0
    cpu = parse_accuracy(capsys.readouterr().out)
    monkeypatch.setenv("BLASFAST_EMULATOR", "1")
    before = sum(v for (fam, _), v in emulator.executed.items() if fam.endswith(":gemm"))
    assert main(["train", "--device", "gpu", "--no-progress"]) == 0
    out = capsys.readouterr().out
    after = sum(v for (fam, _), v in emulator.executed.items() if fam.endswith(":gemm"))
    assert "device gpu" in out
    assert after - before >= 30 * 43 * 3      # >= 3 GEMMs per batch, 43 batches, 30 epochs
    assert abs(parse_accuracy(out) - cpu) <= 0.005


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, as an interactive shell's is."""

    def isatty(self):
        return True


def test_train_shows_a_progress_bar_on_a_terminal(monkeypatch, capsys):
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["train", "--device", "cpu", "--epochs", "2", "--limit", "300"]) == 0
    assert "epoch 2/2" in capsys.readouterr().out
    assert "epoch 2/2" in err.getvalue() and "batch" in err.getvalue()  # tqdm's bar
    assert "\r" in err.getvalue()


def test_train_writes_no_progress_redraws_when_stderr_is_not_a_terminal(monkeypatch,
                                                                         capsys):
    """Issue #14: a non-TTY run (a log file, CI) wrote kilobytes of tqdm's \\r redraws to
    stderr; tqdm now decides (``disable=None``) and stays silent off a terminal."""
    err = io.StringIO()      # isatty() is False, as for a redirected stderr
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["train", "--device", "cpu", "--epochs", "2", "--limit", "300"]) == 0
    assert "epoch 2/2" in capsys.readouterr().out     # the per-epoch lines still come
    assert "\r" not in err.getvalue()
    assert err.getvalue() == ""


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^numpy: +\d", out, re.M) and "gpu_available" in out


def test_info_json_holds_the_same_facts(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert main(["info", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert isinstance(d, dict)
    for key in ("blasfast", "python", "numpy", "scipy", "cupy", "gpu_available",
                "kernel_cache_dir", "cuda_include_dir"):
        assert key in d
        assert re.search(rf"^{key}: ", text, re.M)       # the same keys as the text form
    assert d["blasfast"] == blasfast.__version__ and d["numpy"] == np.__version__
    assert isinstance(d["gpu_available"], bool)
    assert set(d) == {line.split(":")[0] for line in text.splitlines()}


def _system(tmp_path, n=40):
    """A well-conditioned n x n system in Matrix Market form (fresh random data)."""
    import scipy.io

    rng = np.random.default_rng(14)
    a = rng.standard_normal((n, n)) + n * np.eye(n)
    path = tmp_path / "a.mtx"
    scipy.io.mmwrite(path, a)
    return path


def test_solve_json_is_one_object_with_the_report(tmp_path, capsys):
    from blasfast.solvers.cli import JSON_KEYS

    path = _system(tmp_path)
    assert main(["solve", str(path), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert main(["solve", str(path), "--device", "cpu", "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1                     # one object, one line
    d = json.loads(out)
    assert tuple(d) == JSON_KEYS
    assert d["status"] == "converged" and d["n"] == 40 and d["nrhs"] == 1
    assert d["matrix"] == str(path) and d["rhs"] == "A @ ones" and d["device"] == "cpu"
    assert 0 <= d["backward_error"] <= d["threshold"]
    assert d["forward_error"] < 1e-10 and d["iterations"] >= 1
    assert isinstance(d["history"], list) and d["history"][-1] == pytest.approx(
        d["backward_error"], rel=1e-12)
    assert set(d["fp64"]) == {"backward_error", "forward_error", "time_s"}
    # the same facts as the text report
    assert f"status: {d['status']}" in text and f"iterations: {d['iterations']}" in text
    assert f"method: {d['method']}," in text


def test_solve_json_keeps_the_exit_code_of_a_failed_solve(tmp_path, capsys):
    path = _system(tmp_path)
    rc = main(["solve", str(path), "--device", "cpu", "--json", "--no-fallback",
               "--max-iter", "0", "--no-reference"])
    captured = capsys.readouterr()
    assert rc == 1
    d = json.loads(captured.out)
    assert d["status"] == "not converged" and "fallback=False" in d["reason"]
    assert d["fp64"] is None and d["method"] is None     # unknown: null, the keys all there
    assert captured.err.strip().splitlines() == ["blasfast solve: not solved (not converged)"]


def test_solve_json_prints_nothing_on_stdout_for_an_unreadable_file(tmp_path, capsys):
    assert main(["solve", str(tmp_path / "none.mtx"), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "no such file" in captured.err


def test_version_prints_blasfast_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"blasfast {blasfast.__version__}"


def test_console_script_version_matches_the_package():
    """``blasfast --version`` as a user runs it (the installed console script, or
    ``python -m blasfast.cli`` where the script is not on PATH)."""
    script = shutil.which("blasfast", path=os.path.dirname(sys.executable))
    cmd = [script] if script else [sys.executable, "-m", "blasfast.cli"]
    run = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"blasfast {blasfast.__version__}"


def test_train_help_is_short_and_per_model(monkeypatch, capsys):
    """Issue #14: 108 lines with tables of measured accuracies, and 'an MLP' under
    --model cnn. Now under 40 lines at 80 columns; the tables live in the README."""
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) < 40, out
    assert max(map(len, lines)) <= 80, out
    assert "--model cnn" in out and "Conv2D" in out and "MagmaDNN" in out
    assert "multilayer perceptron" not in out and "0.98" not in out    # no tables
    for option in ("--epochs", "--hidden", "--batch-size", "--weight-decay"):
        m = re.search(rf"^  {option} .*?(?=^  -)", out, re.M | re.S)
        assert m and "mlp" in m.group(0) and "cnn" in m.group(0), option  # per model
    assert "--epochs N            passes over the data; default mlp 30/5, cnn 15/3" in out


def test_train_help_defaults_are_the_ones_train_uses():
    from blasfast.cli import _DEFAULTS, _per_model
    from blasfast.nn.cnn import CNN_DEFAULTS

    assert _per_model("epochs") == (f"default mlp {_DEFAULTS['digits']['epochs']}/"
                                    f"{_DEFAULTS['mnist']['epochs']}, cnn "
                                    f"{CNN_DEFAULTS['digits']['epochs']}/"
                                    f"{CNN_DEFAULTS['mnist']['epochs']}")
    assert _per_model("lr") == "default 0.05"
    assert _per_model("weight_decay") == "default mlp 1e-4/1e-3, cnn 1e-4"


@pytest.mark.skipif(_backend.gpu_available(), reason="checks the no-GPU error")
def test_device_gpu_without_gpu_exits_2(capsys):
    assert main(["train", "--device", "gpu"]) == 2
    assert "no usable CUDA GPU" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["train", "--epochs", "0"]) == 2
    assert main(["train", "--momentum", "1.5"]) == 2
    assert main(["bogus"]) == 2
    capsys.readouterr()
    assert main(["train", "--help"]) == 0
    assert "MagmaDNN" in capsys.readouterr().out
    assert main(["--version"]) == 0


def test_missing_mnist_dir_exits_1(tmp_path, capsys):
    assert main(["train", "--mnist", str(tmp_path / "none"), "--device", "cpu"]) == 1
    assert "train-images-idx3-ubyte" in capsys.readouterr().err


@needs_mnist
def test_train_mnist_limit_and_save(tmp_path, capsys):
    path = tmp_path / "mlp.npz"
    rc = main(["train", "--mnist", str(MNIST), "--limit", "3000", "--epochs", "1",
               "--hidden", "64", "--device", "cpu", "--no-progress", "--save", str(path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "3000 train / 10000 test" in out
    acc = parse_accuracy(out)
    assert acc >= 0.85
    _, _, xt, yt = load_mnist(MNIST)
    model = Sequential.load(path)
    assert [d["config"].get("out_features") for d in model.architecture()] == [64, None, 10]
    assert np.isclose(model.evaluate(xt, yt)[1], acc, atol=1e-4)


@pytest.mark.slow
@needs_mnist
def test_train_mnist_magmadnn_benchmark(capsys):
    """MagmaDNN's MLP benchmark: 784-528-10, batch 100, 5 epochs, weight decay 1e-3."""
    rc = main(["train", "--mnist", str(MNIST), "--device", "cpu", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Dense(in_features=784, out_features=528" in out and "batch 100, 5 epochs" in out
    assert parse_accuracy(out) >= 0.97
    print(out)
