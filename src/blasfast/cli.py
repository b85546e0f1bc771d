"""The ``blasfast`` console script: ``blasfast info``, ``blasfast train`` and ``blasfast solve``.

Exit codes: 0 success, 1 a runtime failure (missing or corrupt data file, a ``--save`` path
that cannot be written, training that diverged or ran out of memory), 2 a usage error (bad
option value, or ``--device gpu`` where no GPU is usable). Every error ends in one line
on stderr naming the subcommand and the option (argparse's usage errors print the usage
line before it); never a traceback.
"""

import argparse
import math
import os
import sys
import time

import numpy as np

from .solvers.cli import add_solve_parser, run_solve

__all__ = ["main"]

# Per-dataset defaults of `blasfast train`. MNIST follows MagmaDNN's MLP benchmark
# (528 hidden units, batch 100, 5 epochs, weight decay 0.001); the activation, learning
# rate and momentum are ours, chosen by the sweep summarized in _TRAIN_HELP.
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
Train a multilayer perceptron (Dense -> activation -> ... -> Dense, softmax
cross-entropy, SGD) on real handwritten digits, float32 throughout, and report
the test accuracy. Every GEMM goes through blasfast.batched_gemm.

datasets:
  default       scikit-learn's 8x8 digits (1797 images, bundled, no download),
                split 75/25 per class with a fixed seed (0): 1347 train, 450 test
  --mnist DIR   the four MNIST IDX files in DIR (.gz or raw): 60000 train,
                10000 test

defaults             digits          MNIST (MagmaDNN's benchmark)
  --hidden           128             528
  --epochs           30              5
  --batch-size       32              100
  --lr               0.05            0.05
  --momentum         0.9 (Nesterov)  0.9 (Nesterov)
  --weight-decay     1e-4            1e-3
  --activation       relu            relu

Why ReLU, lr 0.05 and Nesterov momentum 0.9 for MNIST (measured on this
setup, 5 epochs, weight decay 1e-3, test accuracy): sigmoid and tanh nets of
the same size stay below 0.97 (sigmoid 0.92-0.94, tanh 0.94-0.966, for lr
0.05-0.5 with or without momentum); ReLU with He initialization passes it.
MagmaDNN's lr 0.2 with plain SGD gives 0.971 with ReLU; Nesterov momentum 0.9
at lr 0.05 was the steadiest of lr 0.02-0.1 over five seeds (0.973-0.979).

--model cnn trains a small CNN instead (blasfast.nn.cnn): Reshape -> two
blocks of [3x3 Conv2D (padding 'same') -> ReLU -> 2x2 MaxPool2D] with 16 and
32 channels -> Dense(128) -> ReLU -> Dense; the convolutions run through
blasfast.conv2d (Winograd F(2x2,3x3) or im2col + batched GEMM, 'auto').
CNN defaults: digits --hidden 64, 15 epochs, batch 32; MNIST --hidden 128,
3 epochs, batch 64, --schedule cosine; both lr 0.05, Nesterov momentum 0.9,
weight decay 1e-4. Measured (CPU path, one BLAS thread): digits 0.980 (seed 0,
~10 s); MNIST 0.9839 / 0.9889 / 0.9906 after epochs 1 / 2 / 3 (seed 0, ~80 s
of CPU time; seeds 1 and 2 reach 0.9916 and 0.9913), against 0.975 for the
MLP. With a constant rate (--schedule none) the last of 3 epochs is noisier:
0.9870 and 0.9903 for seeds 0 and 1.

--optimizer picks SGD (default; --momentum/--nesterov apply), adagrad,
rmsprop, adam or adamw; without --lr these use lr 0.05, 0.003, 0.003 and
0.003. --schedule step (StepLR: x0.3 after every third of the run) or
cosine (CosineLR to 0 over the run) decays the rate. Measured on digits
(defaults otherwise, seed 0, CPU): sgd 0.969, adagrad 0.978, rmsprop 0.978,
adam 0.976, adamw 0.978.

--mixed-precision float16|bfloat16 trains with 16-bit copies of weights and
activations, FP32 master weights and dynamic loss scaling
(blasfast.nn.MixedPrecision; on the CPU path the 16-bit products are emulated,
so it is slower there, not faster). Measured test accuracy (seed 0, CPU path,
one BLAS thread), float32 / float16 / bfloat16: digits MLP 0.9689 / 0.9689 /
0.9689; MNIST MLP 0.9753 / 0.9752 / 0.9750 (15 s / 52 s / 19 s of training);
digits CNN 0.9800 / 0.9756 / 0.9756; MNIST CNN (cosine, seeds 0 / 1 / 2)
0.9906 / 0.9907 / 0.9915, 0.9916 / 0.9911 / 0.9908, 0.9913 / 0.9910 / 0.9897
(more in bench/results/2026-11-21-cpu-path-mixed-precision.md and
2026-11-28-cpu-path-mixed-precision-cnn-mnist.md). A mixed-precision run also
reports the test accuracy of 16-bit inference with the trained weights.

The output ends with parseable lines: 'test accuracy: 0.9742', 'train time: ...',
'wall time: ...'. Exit codes: 0 ok, 1 data or --save error or divergence,
2 usage error.
"""


def _parser():
    p = argparse.ArgumentParser(prog="blasfast", description="blasfast command-line tools.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{info,train,solve}")
    add_solve_parser(sub)
    sub.add_parser("info", help="print versions, GPU facts and the kernel cache location",
                   description="Print blasfast.info(): versions, GPU facts, kernel cache.")
    t = sub.add_parser("train", help="train an MLP on digits or MNIST and report accuracy",
                       description=_TRAIN_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--mnist", metavar="DIR", help="train on the MNIST IDX files in DIR")
    t.add_argument("--model", choices=("mlp", "cnn"), default="mlp",
                   help="mlp (default) or cnn: two 3x3 conv blocks + dense (see below)")
    t.add_argument("--epochs", type=_positive_int, help="passes over the training set")
    t.add_argument("--batch-size", type=_positive_int, help="images per SGD step")
    t.add_argument("--lr", type=_positive_float, help="learning rate")
    t.add_argument("--momentum", type=_unit_float, help="momentum in [0, 1); 0 = plain SGD")
    t.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True,
                   help="Nesterov momentum (default on; ignored when momentum is 0)")
    t.add_argument("--weight-decay", type=_nonnegative_float, help="L2 weight decay (>= 0)")
    t.add_argument("--optimizer", choices=tuple(_OPTIMIZER_LR), default="sgd",
                   help="sgd (default), adagrad, rmsprop, adam or adamw")
    t.add_argument("--schedule", choices=("none", "step", "cosine"), default=None,
                   help="learning-rate schedule over the run (default: cosine for "
                        "--model cnn on MNIST, else none)")
    t.add_argument("--mixed-precision", choices=("float16", "bfloat16"), default=None,
                   help="mixed-precision training with this 16-bit type (default off)")
    t.add_argument("--hidden", type=_positive_int, nargs="+", metavar="UNITS",
                   help="units per hidden layer, e.g. --hidden 256 128")
    t.add_argument("--activation", choices=("relu", "tanh", "sigmoid"),
                   help="hidden activation (ReLU uses He init, the others Glorot)")
    t.add_argument("--seed", type=_nonnegative_int, default=0,
                   help="seed for the initial weights and the shuffling (default 0)")
    t.add_argument("--limit", type=_positive_int, metavar="N",
                   help="train on the first N training images only (quick runs)")
    t.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="where to train; auto = GPU when one is usable (default)")
    t.add_argument("--save", metavar="PATH", help="save the trained model (.npz) to PATH")
    t.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")
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
