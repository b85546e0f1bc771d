"""The ``blasfast`` console script: ``blasfast info``, ``blasfast train`` and ``blasfast solve``
(``--json`` on ``info`` and ``solve`` for scripts), and ``blasfast --version``.

Exit codes: 0 success, 1 a runtime failure (missing or corrupt data file, a ``--save`` path
that cannot be written, training that diverged or ran out of memory), 2 a usage error (bad
option value, or ``--device gpu`` where no GPU is usable). Every error ends in one line
on stderr naming the subcommand and the option (argparse's usage errors print the usage
line before it); never a traceback.
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np

from ._info import __version__
from .solvers.cli import add_solve_parser, run_solve

__all__ = ["main"]

# Per-dataset defaults of `blasfast train`. MNIST follows MagmaDNN's MLP benchmark
# (528 hidden units, batch 100, 5 epochs, weight decay 0.001); the activation, learning
# rate and momentum are ours, chosen by the sweep in the README ("blasfast train").
_DEFAULTS = {
    "digits": dict(hidden=[128], epochs=30, batch_size=32, lr=0.05, momentum=0.9,
                   weight_decay=1e-4, activation="relu"),
    "mnist": dict(hidden=[528], epochs=5, batch_size=100, lr=0.05, momentum=0.9,
                  weight_decay=1e-3, activation="relu"),
}

# Default learning rates of the other optimizers (when --lr is not given).
_OPTIMIZER_LR = {"sgd": None, "adagrad": 0.05, "rmsprop": 0.003, "adam": 0.003,
                 "adamw": 0.003}

_TRAIN_HELP = """\
Train a model on handwritten digits (scikit-learn's bundled 8x8 set, or MNIST
with --mnist DIR), float32, every GEMM and convolution through blasfast.
  --model mlp  Dense -> activation -> ... -> Dense (MNIST: MagmaDNN's benchmark)
  --model cnn  2 x [3x3 Conv2D -> activation -> 2x2 MaxPool2D] (16, 32 channels)
               -> Dense(--hidden) -> activation -> Dense
Defaults read 'mlp digits/MNIST, cnn digits/MNIST'. Output ends with
'test accuracy: 0.9742'. Exit codes: 0 ok, 1 data, --save or divergence,
2 usage. Measured accuracies: the README.
"""


def _short(v):
    """A default as ``--help`` shows it: 1e-4 rather than 0.0001; lists as ``256 128``."""
    if isinstance(v, (list, tuple)):
        return " ".join(map(_short, v))
    if isinstance(v, float) and v and abs(v) < 1e-2:
        return np.format_float_scientific(v, trim="-", exp_digits=1)
    return f"{v:g}" if isinstance(v, float) else str(v)


def _per_model(key):
    """``--help``'s default of a ``blasfast train`` option: one value, or per model
    ``mlp digits/MNIST, cnn digits/MNIST`` (one value where both datasets share it)."""
    from .nn.cnn import CNN_DEFAULTS

    vals = {m: [_short(d[ds][key]) for ds in ("digits", "mnist")]
            for m, d in (("mlp", _DEFAULTS), ("cnn", CNN_DEFAULTS))}
    if len({v for pair in vals.values() for v in pair}) == 1:
        return f"default {vals['mlp'][0]}"
    return "default " + ", ".join(f"{m} {a if a == b else a + '/' + b}"
                                  for m, (a, b) in vals.items())


def _parser():
    p = argparse.ArgumentParser(prog="blasfast", description="blasfast command-line tools.")
    p.add_argument("--version", action="version", version=f"blasfast {__version__}",
                   help="print blasfast's version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="{info,train,solve}")
    add_solve_parser(sub)
    i = sub.add_parser("info", help="print versions, GPU facts and the kernel cache location",
                       description="Print blasfast.info(): versions, GPU facts, kernel cache.")
    i.add_argument("--json", action="store_true",
                   help="print the same facts as one JSON object")
    t = sub.add_parser("train", help="train an MLP or a CNN on digits or MNIST, report "
                                     "the test accuracy",
                       usage="blasfast train [options]", description=_TRAIN_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--mnist", metavar="DIR", help="train on the MNIST IDX files in DIR")
    t.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                   help="mlp (default) or cnn, as above")
    t.add_argument("--hidden", type=_positive_int, nargs="+", metavar="UNITS",
                   help=f"units per hidden layer (cnn: one); {_per_model('hidden')}")
    t.add_argument("--activation", choices=("relu", "tanh", "sigmoid"), metavar="NAME",
                   help="relu (default; He init), tanh or sigmoid (Glorot)")
    t.add_argument("--epochs", type=_positive_int, metavar="N",
                   help=f"passes over the data; {_per_model('epochs')}")
    t.add_argument("--batch-size", type=_positive_int, metavar="N",
                   help=f"images per step; {_per_model('batch_size')}")
    t.add_argument("--optimizer", choices=tuple(_OPTIMIZER_LR), default="sgd", metavar="NAME",
                   help="sgd (default), adagrad, rmsprop, adam or adamw")
    t.add_argument("--lr", type=_positive_float,
                   help="learning rate; default 0.05 (sgd, adagrad), else 0.003")
    t.add_argument("--momentum", type=_unit_float, metavar="M",
                   help="sgd momentum in [0, 1), 0 = plain; default 0.9")
    t.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True,
                   help="Nesterov momentum (default on)")
    t.add_argument("--weight-decay", type=_nonnegative_float, metavar="WD",
                   help=f"L2 weight decay; {_per_model('weight_decay')}")
    t.add_argument("--schedule", choices=("none", "step", "cosine"), default=None,
                   metavar="NAME",
                   help="none, step (x0.3 after each third) or cosine (to 0); "
                        "default cosine for cnn on MNIST, else none")
    t.add_argument("--mixed-precision", choices=("float16", "bfloat16"), default=None,
                   metavar="DTYPE",
                   help="float16 or bfloat16 copies, FP32 master weights, loss "
                        "scaling; default off")
    t.add_argument("--seed", type=_nonnegative_int, default=0, metavar="N",
                   help="seed of the weights and the shuffling; default 0")
    t.add_argument("--limit", type=_positive_int, metavar="N",
                   help="train on the first N training images only")
    t.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   metavar="WHERE", help="auto (default: the GPU if usable), cpu or gpu")
    t.add_argument("--save", metavar="PATH", help="save the trained model (.npz) to PATH")
    t.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (none either off a terminal)")
    return p


def _int_at_least(s, minimum):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {s!r}") \
            from None
    if v < minimum:
        raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}, got {s}")
    return v


def _positive_int(s):
    return _int_at_least(s, 1)


def _nonnegative_int(s):
    return _int_at_least(s, 0)


def _finite_float(s, ok, expected):
    try:
        v = float(s)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or not ok(v):
        raise argparse.ArgumentTypeError(f"must be a finite number {expected}, got {s!r}")
    return v


def _positive_float(s):
    return _finite_float(s, lambda v: v > 0, "> 0")


def _nonnegative_float(s):
    return _finite_float(s, lambda v: v >= 0, ">= 0")


def _unit_float(s):
    return _finite_float(s, lambda v: 0 <= v < 1, "in [0, 1)")


def _fail(option, text, code=1):
    """Print the one error line of ``blasfast train`` and return its exit code."""
    print(f"blasfast train: {option}: {text}", file=sys.stderr)
    return code


def _check_save_path(path):
    """Why ``--save PATH`` cannot be written (checked before training), or None."""
    if os.path.isdir(path):
        return f"{path} is a directory; give a file name such as model.npz"
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        return f"the directory {parent} does not exist"
    if not os.access(parent, os.W_OK):
        return f"the directory {parent} is not writable"
    return None


def _info(args):
    import blasfast

    d = blasfast.info()
    if args.json:
        print(json.dumps(d, indent=2, default=str))
        return 0
    width = max(map(len, d)) if d else 0
    for key, value in d.items():
        print(f"{key + ':':<{width + 1}} {value}")
    return 0


def _build_model(kind, cfg, n_features, n_classes, rng):
    """The model of ``blasfast train``: the MLP (``kind='mlp'``) or the CNN of
    :mod:`blasfast.nn.cnn`, sized by ``cfg`` (``hidden``, ``activation``), weights drawn
    from ``rng``; ReLU layers get He initialization, the others Glorot."""
    from . import nn

    if kind == "cnn":
        from .nn import cnn

        return cnn.build_cnn(cnn.image_shape(n_features), n_classes, hidden=cfg["hidden"],
                             activation=cfg["activation"], rng=rng)
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[cfg["activation"]]
    init = "he" if cfg["activation"] == "relu" else "glorot"
    sizes = [n_features, *cfg["hidden"], n_classes]
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Dense(fan_in, fan_out, rng=rng, init=init))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(layers)


def _schedule(lr, schedule, steps):
    """``lr`` under ``--schedule`` over a run of ``steps`` updates: constant ('none'),
    x0.3 after every third of the run ('step'), or cosine to 0 ('cosine')."""
    from . import nn

    if schedule == "step":
        return nn.StepLR(lr, step_size=max(1, -(-steps // 3)), gamma=0.3)
    if schedule == "cosine":
        return nn.CosineLR(lr, total_steps=steps)
    return lr


def _train(args):
    from . import _backend
    from . import nn

    t_start = time.perf_counter()
    if args.device == "gpu" and not _backend.gpu_available():
        return _fail("--device gpu", "no usable CUDA GPU (CuPy missing or no device); use "
                     "--device cpu", code=2)
    if args.save is not None:
        why = _check_save_path(args.save)
        if why:
            return _fail(f"--save {args.save}", f"cannot write there: {why}")
    device = "gpu" if args.device == "gpu" or (
        args.device == "auto" and _backend.gpu_available()) else "cpu"
    dataset = "mnist" if args.mnist else "digits"
    if args.model == "cnn":
        from .nn import cnn

        cfg = dict(cnn.CNN_DEFAULTS[dataset])
    else:
        cfg = dict(_DEFAULTS[dataset])
    for key in cfg:
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    schedule = cfg.pop("schedule", args.schedule or "none")

    try:
        if args.mnist:
            x_train, y_train, x_test, y_test = nn.load_mnist(args.mnist)
        else:
            x_train, y_train, x_test, y_test = nn.load_digits_split(test_size=0.25, seed=0)
    except (OSError, ValueError, ImportError) as e:
        option = f"--mnist {args.mnist}" if args.mnist else "digits"
        return _fail(option, f"cannot load {dataset}: {e}")
    try:
        # divergence is caught by fit (FloatingPointError naming the epoch and batch), so
        # NumPy's overflow warnings on the way there would only bury that one line
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return _fit_and_report(args, nn, cfg, schedule, device, dataset, t_start,
                                   x_train, y_train, x_test, y_test)
    except FloatingPointError as e:
        return _fail("--lr", str(e) + (f" (--lr {args.lr})" if args.lr is not None else ""))
    except MemoryError:
        return _fail("--hidden", "out of memory building or training the model; use fewer "
                     "--hidden units, a smaller --batch-size or --limit")
    except ImportError as e:  # e.g. ml_dtypes for --mixed-precision bfloat16
        return _fail("--mixed-precision" if args.mixed_precision else "--device",
                     f"a package is missing: {e}")


def _fit_and_report(args, nn, cfg, schedule, device, dataset, t_start, x_train, y_train,
                    x_test, y_test):
    """The rest of ``blasfast train``: build, fit, evaluate, save; returns the exit code."""
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    print(f"data: {dataset}, {len(y_train)} train / {len(y_test)} test images, "
          f"{x_train.shape[1]} features, {n_classes} classes")

    init_seed, shuffle_seed = np.random.SeedSequence(args.seed).spawn(2)
    init_rng = np.random.default_rng(init_seed)
    model = _build_model(args.model, cfg, x_train.shape[1], n_classes,
                         init_rng).to_device(device)
    nesterov = args.nesterov and cfg["momentum"] > 0
    lr = cfg["lr"] if args.lr is not None or args.optimizer == "sgd" else \
        _OPTIMIZER_LR[args.optimizer]
    lr = _schedule(lr, schedule, cfg["epochs"] * -(-len(y_train) // cfg["batch_size"]))
    wd = cfg["weight_decay"]
    opt = {"sgd": lambda: nn.SGD(lr, momentum=cfg["momentum"], weight_decay=wd,
                                 nesterov=nesterov),
           "adagrad": lambda: nn.Adagrad(lr, weight_decay=wd),
           "rmsprop": lambda: nn.RMSprop(lr, weight_decay=wd),
           "adam": lambda: nn.Adam(lr, weight_decay=wd),
           "adamw": lambda: nn.AdamW(lr, weight_decay=wd)}[args.optimizer]()
    mp = None
    if args.mixed_precision:
        mp = nn.MixedPrecision(args.mixed_precision)
    print(f"model: {model}")
    print(f"optimizer: {opt!r}, batch {cfg['batch_size']}, "
          f"{cfg['epochs']} epochs, seed {args.seed}, device {device}"
          + (f", mixed precision {args.mixed_precision}" if mp else ""))

    def report(epoch, logs):
        print(f"epoch {epoch}/{cfg['epochs']}: loss {logs['loss']:.4f}  "
              f"accuracy {logs['accuracy']:.4f}  ({logs['time']:.2f} s)", flush=True)

    t_fit = time.perf_counter()
    model.fit(x_train, y_train, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
              optimizer=opt, seed=np.random.default_rng(shuffle_seed),
              progress=args.progress, on_epoch_end=report, mixed_precision=mp)
    train_time = time.perf_counter() - t_fit
    test_loss, test_acc = model.evaluate(x_test, y_test)
    print(f"test loss: {test_loss:.4f}")
    print(f"test accuracy: {test_acc:.4f}")
    if mp is not None:  # what a 16-bit deployment of the same weights gets
        print(f"test accuracy, {mp.policy} inference: "
              f"{model.evaluate(x_test, y_test, mixed_precision=mp)[1]:.4f}")
    print(f"train time: {train_time:.1f} s")
    if args.save:
        try:
            model.save(args.save)
        except OSError as e:
            return _fail(f"--save {args.save}", f"cannot save: {e}")
        print(f"saved: {args.save}")
    print(f"wall time: {time.perf_counter() - t_start:.1f} s")
    return 0


def main(argv=None):
    """Run the ``blasfast`` command line and return its exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success; 1 on a data or file error or a failed run (``--save`` path not
        writable, training diverged or ran out of memory); 2 on a usage error (including
        ``--help``-style exits of argparse, which return their own code, 0 for ``--help``).
        Errors print one line on stderr naming the subcommand and the option (argparse's
        usage line comes before its own), never a traceback.

    Examples
    --------
    >>> from blasfast.cli import main
    >>> main(["train", "--epochs", "1", "--no-progress"])  # doctest: +SKIP
    0
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    if args.command == "info":
        return _info(args)
    if args.command == "solve":
        return run_solve(args)
    return _train(args)


if __name__ == "__main__":
    sys.exit(main())
