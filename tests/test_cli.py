"""The ``blasfast`` console script, run in-process through ``blasfast.cli.main``."""

import os
import pathlib
import re

import numpy as np
import pytest

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


def test_train_shows_a_progress_bar(capsys):
    assert main(["train", "--device", "cpu", "--epochs", "2", "--limit", "300"]) == 0
    captured = capsys.readouterr()
    assert "epoch 2/2" in captured.err and "batch" in captured.err  # tqdm writes to stderr


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^numpy: +\d", out, re.M) and "gpu_available" in out


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
