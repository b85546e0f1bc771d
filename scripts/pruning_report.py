"""Accuracy vs sparsity for each pruning method (irregular, row, column, block), as a
markdown table and a PNG plot.

For one dataset, train an MLP once (SGD, Nesterov momentum), then for every method and
sparsity: copy the trained model, ``blasfast.nn.prune`` its hidden layers (the classifier
is kept), record the test accuracy right after pruning and after ``--finetune`` epochs of
fine-tuning with the hard-prune masks, and, for row/column pruning, the weights left
after ``blasfast.nn.compact`` (smaller dense GEMMs). A last table gives the fraction of
weights rewritten when switching between the shared-weight models of
``blasfast.nn.MultiSparsity`` (irregular, low / medium / high sparsity).

Usage::

    python scripts/pruning_report.py                         # digits, ~30 s on one core
    python scripts/pruning_report.py --mnist ../shared/data/mnist

Writes ``<out>/<date>-cpu-path-pruning-<dataset>.md`` and ``.png`` (the plot needs
matplotlib) and prints the markdown. Everything runs on the CPU path (NumPy).
"""

import argparse
import datetime
import os
import platform
import sys
import time

import numpy as np

from blasfast import nn

METHODS = ("irregular", "row", "column", "block")
SPARSITIES = (0.0, 0.25, 0.5, 0.75, 0.9)
CONFIG = {"digits": dict(hidden=(128, 64), epochs=30, batch_size=32, lr=0.05),
          "mnist": dict(hidden=(528, 256), epochs=5, batch_size=100, lr=0.05)}


def build(sizes, seed):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Dense(a, b, rng=rng))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(layers)


def copy_model(model):
    new = nn.Sequential([type(layer)(**layer.config()) for layer in model.layers])
    for src, dst in zip(model.layers, new.layers):
        for name in src.param_names:
            setattr(dst, name, getattr(src, name).copy())
    return new


def n_weights(model):
    return sum(layer.W.size for layer in model.layers if isinstance(layer, nn.Dense))


def run(dataset, x_train, y_train, x_test, y_test, finetune, seed, block):
    cfg = CONFIG[dataset]
    sizes = [x_train.shape[1], *cfg["hidden"], int(y_train.max()) + 1]

    def opt():
        return nn.SGD(cfg["lr"], momentum=0.9, weight_decay=1e-4, nesterov=True)

    base = build(sizes, seed)
    t0 = time.perf_counter()
    base.fit(x_train, y_train, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
             optimizer=opt(), seed=seed, progress=False)
    dense_acc = base.evaluate(x_test, y_test)[1]
    print(f"trained {sizes} on {dataset} in {time.perf_counter() - t0:.1f} s: "
          f"test accuracy {dense_acc:.4f}", file=sys.stderr)
    rows = []
    for method in METHODS:
        for s in SPARSITIES:
            model = copy_model(base)
            nn.prune(model, method, sparsity=s, block=block)
            pruned = model.evaluate(x_test, y_test)[1]
            if finetune and s > 0:
                model.fit(x_train, y_train, epochs=finetune, batch_size=cfg["batch_size"],
                          optimizer=opt(), seed=seed + 1, progress=False)
            tuned = model.evaluate(x_test, y_test)[1]
            small = nn.compact(model)
            rows.append(dict(method=method, sparsity=s, pruned=pruned, tuned=tuned,
                             zero=nn.weight_sparsity(model),
                             compact=n_weights(small) / n_weights(model)))
            print(f"{method:9s} {s:.2f}: {pruned:.4f} -> {tuned:.4f}", file=sys.stderr)
    ms = nn.MultiSparsity(copy_model(base), "irregular", (0.25, 0.5, 0.9))
    levels = [None, 0.25, 0.5, 0.9]
    switches = [(a, b, ms.rewrite_fraction(a, b)) for a in levels for b in levels if a != b]
    return sizes, dense_acc, rows, switches


def markdown(dataset, sizes, dense_acc, rows, switches, finetune, block):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [f"# Pruning: accuracy vs sparsity ({dataset}, CPU path)", "",
           f"MLP {'-'.join(map(str, sizes))} (ReLU), trained once, test accuracy "
           f"{dense_acc:.4f}; each cell: test accuracy right after pruning -> after "
           f"{finetune} epoch{'s' if finetune != 1 else ''} of fine-tuning with hard-prune "
           f"masks. Hidden layers pruned, "
           f"classifier kept; block = {block[0]}x{block[1]}. {now}, {platform.node()}.", "",
           "| sparsity | " + " | ".join(METHODS) + " |",
           "|---:|" + "---|" * len(METHODS)]
    for s in SPARSITIES:
        cells = [f"{r['pruned']:.4f} -> {r['tuned']:.4f}" for m in METHODS for r in rows
                 if r["method"] == m and r["sparsity"] == s]
        out.append(f"| {s:.2f} | " + " | ".join(cells) + " |")
    out += ["", "Weights left after `compact` (fraction of the dense count; row/column pruning "
            "become smaller dense GEMMs, irregular/block keep the shapes):", "",
            "| sparsity | " + " | ".join(METHODS) + " |", "|---:|" + "---|" * len(METHODS)]
    for s in SPARSITIES:
        cells = [f"{r['compact']:.3f}" for m in METHODS for r in rows
                 if r["method"] == m and r["sparsity"] == s]
        out.append(f"| {s:.2f} | " + " | ".join(cells) + " |")
    out += ["", "Shared-weight multi-sparsity (irregular; `MultiSparsity`): fraction of the "
            "pruned layers' weights rewritten per switch:", "", "| from | to | rewritten |",
            "|---|---|---:|"]
    for a, b, f in switches:
        out.append(f"| {'dense' if a is None else a} | {'dense' if b is None else b} | "
                   f"{f:.3f} |")
    return "\n".join(out) + "\n"


def plot(path, dataset, dense_acc, rows):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return False
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in METHODS:
        rs = [r for r in rows if r["method"] == m]
        ax.plot([r["sparsity"] for r in rs], [r["tuned"] for r in rs], "o-", label=m)
        ax.plot([r["sparsity"] for r in rs], [r["pruned"] for r in rs], ":", alpha=0.5,
                color=ax.lines[-1].get_color())
    ax.axhline(dense_acc, color="gray", lw=0.8)
    ax.set_xlabel("sparsity")
    ax.set_ylabel("test accuracy")
    ax.set_title(f"{dataset}: solid = fine-tuned, dotted = right after pruning")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mnist", metavar="DIR", help="use the MNIST IDX files in DIR")
    p.add_argument("--out", default="bench/results",
                   help="output folder (default bench/results)")
    p.add_argument("--finetune", type=int, default=None,
                   help="fine-tuning epochs (default 5 digits, 1 MNIST)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--block", type=int, nargs=2, default=(4, 4), metavar=("R", "C"))
    args = p.parse_args(argv)
    if args.mnist:
        dataset, data = "mnist", nn.load_mnist(args.mnist)
    else:
        dataset, data = "digits", nn.load_digits_split(test_size=0.25, seed=0)
    finetune = args.finetune if args.finetune is not None else (1 if args.mnist else 5)
    block = tuple(args.block)
    sizes, dense_acc, rows, switches = run(dataset, *data, finetune, args.seed, block)
    md = markdown(dataset, sizes, dense_acc, rows, switches, finetune, block)
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, f"{datetime.date.today().isoformat()}-cpu-path-pruning-"
                                  f"{dataset}")
    md_path = stem + ".md"
    with open(md_path, "w") as f:
        f.write(md)
    png = stem + ".png"
    if plot(png, dataset, dense_acc, rows):
        md_path += f", {png}"
    print(md)
    print(f"wrote {md_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
