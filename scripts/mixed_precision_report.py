"""Test accuracy of ``blasfast train`` models in float32 and mixed precision, as a markdown
table (and optionally a PNG plot).

Each run is what ``blasfast train [--model cnn] [--mnist DIR] --seed S --device cpu
[--schedule SCH] [--mixed-precision P]`` does (same defaults, seeds and data), through the
public API, so that the loss-scale trajectory can be recorded too. Results are cached in a
JSON file keyed by (model, data, epochs, lr, schedule, seed, policy): a second invocation
only runs what is missing, and the table is always rebuilt from every cached run that
matches the options.

Usage::

    OPENBLAS_NUM_THREADS=1 python scripts/mixed_precision_report.py --model cnn \\
        --mnist ../shared/data/mnist --seeds 0 1 2 --schedule cosine \\
        --json results.json --plot cnn-mnist.png

Prints the markdown table (one row per seed; float32, float16, bfloat16 test accuracy,
the differences to float32 in points, the final training loss, loss scale and skipped
steps, and training times) and a summary line per policy. CPU path only: the 16-bit
products are emulated, so the times are not a speed measure.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from blasfast import cli, nn
from blasfast.nn import cnn

POLICIES = ("float32", "float16", "bfloat16")


def config(model, data, epochs=None, lr=None):
    """The ``blasfast train`` defaults for this model and dataset."""
    cfg = dict((cnn.CNN_DEFAULTS if model == "cnn" else cli._DEFAULTS)[data])
    if epochs:
        cfg["epochs"] = epochs
    if lr:
        cfg["lr"] = lr
    return cfg


def train(model_kind, data, seed, policy, schedule, cfg, x_train, y_train, x_test, y_test):
    """One run as ``blasfast train`` does it; returns a dict of results."""
    init_seed, shuffle_seed = np.random.SeedSequence(seed).spawn(2)
    init_rng = np.random.default_rng(init_seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    model = cli._build_model(model_kind, cfg, x_train.shape[1], n_classes, init_rng)
    steps = cfg["epochs"] * -(-len(y_train) // cfg["batch_size"])
    lr = cli._schedule(cfg["lr"], schedule, steps)
    opt = nn.SGD(lr, momentum=cfg["momentum"], weight_decay=cfg["weight_decay"],
                 nesterov=cfg["momentum"] > 0)
    mp = None if policy == "float32" else nn.MixedPrecision(policy)
    t0 = time.perf_counter()
    hist = model.fit(x_train, y_train, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                     optimizer=opt, seed=np.random.default_rng(shuffle_seed), progress=False,
                     mixed_precision=mp, validation_data=(x_test, y_test))
    t = time.perf_counter() - t0
    test_loss, test_acc = model.evaluate(x_test, y_test)
    return {"test_accuracy": test_acc, "test_loss": test_loss, "train_loss": hist["loss"][-1],
            "val_accuracy": hist["val_accuracy"], "steps": steps,
            "loss_scale": hist.get("loss_scale"), "skipped_steps": hist.get("skipped_steps"),
            "time_incl_val": t}


def table(results, policies, tol):
    seeds = sorted({r["seed"] for r in results})
    by = {(r["seed"], r["policy"]): r for r in results}
    per_epoch = max(len(r["val_accuracy"]) for r in results) <= 5
    head = ["seed", *policies] + [f"{p} - float32 (points)" for p in policies[1:]] + [
        "train loss (" + " / ".join(policies) + ")", "final loss scale / skipped steps"]
    if per_epoch:
        head.append("test accuracy per epoch (" + " ; ".join(policies) + ")")
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    diffs = {p: [] for p in policies[1:]}
    for s in seeds:
        rs = [by.get((s, p)) for p in policies]
        row = [str(s)] + [f"{r['test_accuracy']:.4f}" if r else "" for r in rs]
        for p, r in zip(policies[1:], rs[1:]):
            ok = r and rs[0]
            d = 100 * (r["test_accuracy"] - rs[0]["test_accuracy"]) if ok else None
            if d is not None:
                diffs[p].append(d)
            row.append(f"{d:+.2f}" if d is not None else "")
        row.append(" / ".join(f"{r['train_loss']:.4f}" if r else "-" for r in rs))
        row.append(", ".join(f"{r['policy']} {r['loss_scale'][-1]:g} / {r['skipped_steps'][-1]}"
                             for r in rs if r and r["loss_scale"]))
        if per_epoch:
            row.append(" ; ".join(" ".join(f"{a:.4f}" for a in r["val_accuracy"]) if r
                                  else "-" for r in rs))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for p, d in diffs.items():
        if d:
            n_ok = sum(abs(v) <= 100 * tol + 1e-9 for v in d)
            lines.append(f"- {p}: mean difference {np.mean(d):+.2f} points, largest |difference| "
                         f"{max(map(abs, d)):.2f}, {n_ok}/{len(d)} seeds within "
                         f"{100 * tol:.1f} points")
    times = {p: [r["time_incl_val"] for r in results if r["policy"] == p] for p in policies}
    lines.append("- mean training time (incl. per-epoch test evaluation): " + ", ".join(
        f"{p} {np.mean(t):.0f} s" for p, t in times.items() if t))
    return "\n".join(lines)


def plot(results, policies, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, p in enumerate(policies):
        rs = sorted((r for r in results if r["policy"] == p), key=lambda r: r["seed"])
        for j, r in enumerate(rs):
            ax.plot(range(1, len(r["val_accuracy"]) + 1), r["val_accuracy"], f"C{i}-o",
                    alpha=0.7, label=p if j == 0 else None)
    ax.set_xticks(range(1, max(len(r["val_accuracy"]) for r in results) + 1))
    ax.set(xlabel="epoch", ylabel="test accuracy", title=title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    p.add_argument("--mnist", metavar="DIR", help="MNIST IDX files (default: digits)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES))
    p.add_argument("--schedule", choices=("none", "step", "cosine"), default=None,
                   help="default: the CLI's default for the model")
    p.add_argument("--epochs", type=int, help="default: the CLI's default")
    p.add_argument("--lr", type=float, help="default: the CLI's default")
    p.add_argument("--tol", type=float, default=0.003, help="accuracy tolerance (0.003)")
    p.add_argument("--json", metavar="PATH", help="cache of results (read, then extended)")
    p.add_argument("--plot", metavar="PNG", help="test accuracy per epoch (needs matplotlib)")
    args = p.parse_args(argv)
    data = "mnist" if args.mnist else "digits"
    cfg = config(args.model, data, args.epochs, args.lr)
    schedule = args.schedule or cfg.get("schedule", "none")
    if args.mnist:
        x_train, y_train, x_test, y_test = nn.load_mnist(args.mnist)
    else:
        x_train, y_train, x_test, y_test = nn.load_digits_split(test_size=0.25, seed=0)
    cache = []
    if args.json and os.path.exists(args.json):
        with open(args.json) as f:
            cache = json.load(f)
    key = dict(model=args.model, data=data, epochs=cfg["epochs"], lr=cfg["lr"],
               schedule=schedule)
    mine = [r for r in cache if all(r.get(k) == v for k, v in key.items())]
    for seed in args.seeds:
        for policy in args.policies:
            if any(r["seed"] == seed and r["policy"] == policy for r in mine):
                continue
            r = dict(key, seed=seed, policy=policy,
                     **train(args.model, data, seed, policy, schedule, cfg,
                             x_train, y_train, x_test, y_test))
            print(f"{args.model} {data} seed {seed} {policy}: test accuracy "
                  f"{r['test_accuracy']:.4f} ({r['time_incl_val']:.0f} s)", file=sys.stderr,
                  flush=True)
            mine.append(r)
            cache.append(r)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(cache, f, indent=1)
    mine = [r for r in mine if r["seed"] in args.seeds and r["policy"] in args.policies]
    policies = [q for q in POLICIES if q in args.policies]
    title = (f"{args.model.upper()} on {data}, {cfg['epochs']} epochs, lr {cfg['lr']} "
             f"schedule {schedule}")
    print(f"{title}\n\n{table(mine, policies, args.tol)}")
    if args.plot:
        plot(mine, policies, args.plot, title)
    return 0 if not any(math.isnan(r["test_accuracy"]) for r in mine) else 1


if __name__ == "__main__":
    sys.exit(main())
