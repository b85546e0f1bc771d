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
    m = re.search(rf"^test accuracy, {policy} inference: (\d\.\d{{4}})$", out, re.MULTILINE)
    assert m and abs(float(m.group(1)) - accuracy(out)) <= 0.01, out
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


def test_mixed_precision_report_on_digits_matches_the_cli(tmp_path, capsys):
    """scripts/mixed_precision_report.py trains as `blasfast train` does (same model, seeds
    and schedule): its float32 accuracy is the CLI's, and a second call reuses the cache."""
    mod = runpy.run_path(str(ROOT / "scripts" / "mixed_precision_report.py"))
    cache = tmp_path / "r.json"
    argv = ["--seeds", "0", "--policies", "float32", "float16", "--epochs", "3",
            "--json", str(cache)]
    assert mod["main"](argv) == 0
    out = capsys.readouterr().out
    assert "| seed | float32 | float16 | float16 - float32 (points) |" in out
    row = next(line for line in out.splitlines() if line.startswith("| 0 |"))
    acc32, acc16 = (float(v) for v in row.split("|")[2:4])
    assert main(["train", "--device", "cpu", "--no-progress", "--epochs", "3"]) == 0
    assert accuracy(capsys.readouterr().out) == acc32 and abs(acc16 - acc32) <= 0.02
    t0 = cache.stat().st_mtime_ns
    assert mod["main"](argv) == 0 and cache.stat().st_mtime_ns == t0   # nothing re-run
    assert row in capsys.readouterr().out
