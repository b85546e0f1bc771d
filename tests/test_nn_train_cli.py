"""`blasfast train` end to end on digits with every optimizer, schedules, mixed precision,
and scripts/pruning_report.py on digits."""

import pathlib
import re
import runpy

import pytest

from blasfast.cli import main

ROOT = pathlib.Path(__file__).resolve().parents[1]


def accuracy(out):
    m = re.search(r"^test accuracy: (\d\.\d{4})$", out, re.MULTILINE)
    assert m, out
    return float(m.group(1))


@pytest.mark.parametrize("optimizer,schedule,name", [
    ("sgd", "none", "SGD(lr=0.05, momentum=0.9"),
    ("adagrad", "step", "Adagrad(lr=StepLR(lr=0.05"),
    ("rmsprop", "none", "RMSprop(lr=0.003"),
    ("adam", "cosine", "Adam(lr=CosineLR(lr=0.003"),
    ("adamw", "none", "AdamW(lr=0.003"),
])
def test_train_digits_with_each_optimizer(optimizer, schedule, name, capsys):
    rc = main(["train", "--device", "cpu", "--no-progress", "--epochs", "8",
               "--optimizer", optimizer, "--schedule", schedule])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"optimizer: {name}" in out
    assert accuracy(out) >= 0.93


@pytest.mark.parametrize("policy", ["float16", "bfloat16"])
def test_train_digits_mixed_precision(policy, capsys, tmp_path):
    path = tmp_path / "m.npz"
    rc = main(["train", "--device", "cpu", "--no-progress", "--epochs", "8",
               "--mixed-precision", policy, "--save", str(path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert f"mixed precision {policy}" in out and accuracy(out) >= 0.93
    from blasfast.nn import SGD, Sequential

    model = Sequential.load(path)  # FP32 master weights and the optimizer state
    assert all(p.dtype.name == "float32" for p in model.params)
    assert isinstance(model.optimizer, SGD) and model.optimizer.t > 0


def test_train_rejects_unknown_optimizer(capsys):
    assert main(["train", "--optimizer", "lbfgs"]) == 2
    assert main(["train", "--mixed-precision", "float8"]) == 2
    capsys.readouterr()


def test_pruning_report_on_digits(tmp_path, capsys):
    mod = runpy.run_path(str(ROOT / "scripts" / "pruning_report.py"))
    assert mod["main"](["--out", str(tmp_path), "--finetune", "1"]) == 0
    md = next(tmp_path.glob("*-cpu-path-pruning-digits.md")).read_text()
    assert "| sparsity | irregular | row | column | block |" in md
    assert md.count("\n| 0.90 |") == 2 and "| 0.25 | 0.9 | 0.650 |" in md
    try:
        import matplotlib  # noqa: F401  (not in the [test] extra: no plot without it)
    except ImportError:
        assert not list(tmp_path.glob("*.png"))
    else:
        assert next(tmp_path.glob("*-cpu-path-pruning-digits.png")).stat().st_size > 1000
    capsys.readouterr()
