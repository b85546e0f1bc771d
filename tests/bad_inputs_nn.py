"""Bad-input table of :mod:`blasfast.nn`: every constructor and function in
``blasfast.nn.__all__`` and ``Sequential.fit`` / ``predict`` / ``evaluate``.

Run by ``tests/test_bad_inputs.py`` (``-k`` with the op name, e.g. ``-k fit``).
"""

import numpy as np

from bad_inputs import Case
from blasfast import nn
from blasfast.nn import (SGD, Adagrad, Adam, AdamW, AvgPool2D, Conv2D, CosineLR, DataParallel,
                         Dense, EarlyStopping, MaxPool2D, MixedPrecision, ModelCheckpoint,
                         MultiSparsity, ReLU, Reshape, RMSprop, Sequential, StepLR, compact,
                         load_digits_split, load_idx, load_mnist, prune, weight_sparsity)

_RNG = np.random.default_rng(0)
X = _RNG.random((12, 4), dtype=np.float32)
Y = _RNG.integers(0, 3, 12)


def _model():
    return Sequential([Dense(4, 6, rng=0), ReLU(), Dense(6, 3, rng=1)])


class _Comm:
    """The least an MPI communicator needs, for one rank."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def Allreduce(self, send, recv):
        recv[...] = send

    def bcast(self, obj, root=0):
        return obj


def _fit(**kw):
    args = dict(x=X, y=Y, epochs=1, batch_size=4, optimizer=SGD(0.1), progress=False)
    args.update(kw)
    return _model().fit(args.pop("x"), args.pop("y"), **args)


def _predict(**kw):
    args = dict(x=X)
    args.update(kw)
    return _model().predict(args.pop("x"), **args)


def _evaluate(**kw):
    args = dict(x=X, y=Y)
    args.update(kw)
    return _model().evaluate(args.pop("x"), args.pop("y"), **args)


NAN_X = X.copy()
NAN_X[3, 1] = np.nan
INF_X = X.astype(np.float64)
INF_X[5, 0] = 1e300   # finite in float64, Inf after the cast to the model's float32

CASES = [
    # -- layers ------------------------------------------------------------------------
    Case(Dense, "in_features", lambda: Dense(2.5, 3), TypeError, "integer", label="float"),
    Case(Dense, "in_features", lambda: Dense(True, 3), TypeError, "integer", label="bool"),
    Case(Dense, "in_features", lambda: Dense(0, 3), ValueError, ">= 1", label="zero"),
    Case(Dense, "out_features", lambda: Dense(2, "3"), TypeError, "integer", label="str"),
    Case(Dense, "out_features", lambda: Dense(2, -1), ValueError, ">= 1", label="negative"),
    Case(Dense, "rng", lambda: Dense(2, 3, rng="seed"), TypeError, "Generator", label="str"),
    Case(Dense, "rng", lambda: Dense(2, 3, rng=-1), ValueError, "non-negative",
         label="negative"),
    Case(Dense, "rng", lambda: Dense(2, 3, rng=1.5), TypeError, "seed", label="float"),
    Case(Dense, "dtype", lambda: Dense(2, 3, dtype=np.float16), TypeError, "float32 or float64",
         label="float16"),
    Case(Dense, "dtype", lambda: Dense(2, 3, dtype=None), TypeError, "float32 or float64",
         label="none"),
    Case(Dense, "dtype", lambda: Dense(2, 3, dtype="float99"), TypeError, "float32",
         label="unknown"),
    Case(Dense, "init", lambda: Dense(2, 3, init="xavier"), ValueError, "'he', 'glorot'"),
    Case(Dense, "init", lambda: Dense(2, 3, init=1), TypeError, "'he'", label="int"),

    Case(Conv2D, "in_channels", lambda: Conv2D(1.0, 4, 3), TypeError, "integer"),
    Case(Conv2D, "in_channels", lambda: Conv2D(0, 4, 3), ValueError, ">= 1", label="zero"),
    Case(Conv2D, "out_channels", lambda: Conv2D(1, 4.5, 3), TypeError, "integer"),
    Case(Conv2D, "out_channels", lambda: Conv2D(1, -4, 3), ValueError, ">= 1",
         label="negative"),
    Case(Conv2D, "kernel_size", lambda: Conv2D(1, 4, 2.5), TypeError, "integer"),
    Case(Conv2D, "kernel_size", lambda: Conv2D(1, 4, (3, 3, 3)), ValueError, "pair",
         label="triple"),
    Case(Conv2D, "kernel_size", lambda: Conv2D(1, 4, 0), ValueError, ">= 1", label="zero"),
    Case(Conv2D, "stride", lambda: Conv2D(1, 4, 3, stride=1.5), TypeError, "integer"),
    Case(Conv2D, "stride", lambda: Conv2D(1, 4, 3, stride=0), ValueError, ">= 1",
         label="zero"),
    Case(Conv2D, "padding", lambda: Conv2D(1, 4, 3, padding="full"), ValueError, "same"),
    Case(Conv2D, "padding", lambda: Conv2D(1, 4, 3, padding=-1), ValueError, "padding",
         label="negative"),
    Case(Conv2D, "padding", lambda: Conv2D(1, 4, 3, padding=1.5), TypeError, "integer",
         label="float"),
    Case(Conv2D, "algorithm", lambda: Conv2D(1, 4, 3, algorithm="fft"), ValueError, "gemm"),
    Case(Conv2D, "algorithm", lambda: Conv2D(1, 4, 3, algorithm=None), TypeError, "gemm",
         label="none"),
    Case(Conv2D, "algorithm", lambda: Conv2D(1, 4, 5, algorithm="winograd"), ValueError,
         "3x3|winograd", label="5x5-winograd"),
    Case(Conv2D, "dilation", lambda: Conv2D(1, 4, 3, dilation=0), ValueError, ">= 1"),
    Case(Conv2D, "dilation", lambda: Conv2D(1, 4, 3, dilation="2"), TypeError, "integer",
         label="str"),
    Case(Conv2D, "rng", lambda: Conv2D(1, 4, 3, rng=[-1]), ValueError, "non-negative"),
    Case(Conv2D, "rng", lambda: Conv2D(1, 4, 3, rng=object()), TypeError, "Generator",
         label="object"),
    Case(Conv2D, "dtype", lambda: Conv2D(1, 4, 3, dtype=np.int32), TypeError, "float32"),
    Case(Conv2D, "init", lambda: Conv2D(1, 4, 3, init="zeros"), ValueError, "'he'"),

    Case(MaxPool2D, "kernel_size", lambda: MaxPool2D(0), ValueError, ">= 1"),
    Case(MaxPool2D, "kernel_size", lambda: MaxPool2D(2.0), TypeError, "integer", label="float"),
    Case(MaxPool2D, "stride", lambda: MaxPool2D(2, stride=(1, 0)), ValueError, ">= 1"),
    Case(MaxPool2D, "stride", lambda: MaxPool2D(2, stride="1"), TypeError, "integer",
         label="str"),
    Case(AvgPool2D, "kernel_size", lambda: AvgPool2D((2, 2, 2)), ValueError, "pair"),
    Case(AvgPool2D, "kernel_size", lambda: AvgPool2D(True), TypeError, "integer", label="bool"),
    Case(AvgPool2D, "stride", lambda: AvgPool2D(2, stride=-2), ValueError, ">= 1"),
    Case(AvgPool2D, "stride", lambda: AvgPool2D(2, stride=1.0), TypeError, "integer",
         label="float"),
    Case(Reshape, "shape", lambda: Reshape(784), TypeError, "tuple"),
    Case(Reshape, "shape", lambda: Reshape((1, 28.0, 28)), TypeError, "integer", label="float"),
    Case(Reshape, "shape", lambda: Reshape((1, 0, 28)), ValueError, ">= 1", label="zero"),
    Case(Reshape, "shape", lambda: Reshape(()), ValueError, "non-empty", label="empty"),

    # -- optimizers and schedules ----------------------------------------------------------
    Case(SGD, "lr", lambda: SGD(None), TypeError, "float, StepLR or CosineLR"),
    Case(SGD, "lr", lambda: SGD("0.1"), TypeError, "float", label="str"),
    Case(SGD, "lr", lambda: SGD(0.0), ValueError, "0 < lr", label="zero"),
    Case(SGD, "lr", lambda: SGD(float("nan")), ValueError, "finite", label="nan"),
    Case(SGD, "lr", lambda: SGD(print), TypeError, "StepLR", label="callable"),
    Case(SGD, "momentum", lambda: SGD(0.1, momentum=1.0), ValueError, "< 1"),
    Case(SGD, "momentum", lambda: SGD(0.1, momentum="0.9"), TypeError, "real number",
         label="str"),
    Case(SGD, "weight_decay", lambda: SGD(0.1, weight_decay=-1e-4), ValueError, ">= 0|<="),
    Case(SGD, "weight_decay", lambda: SGD(0.1, weight_decay=float("inf")), ValueError,
         "finite", label="inf"),
    Case(SGD, "nesterov", lambda: SGD(0.1, momentum=0.9, nesterov="yes"), TypeError, "bool"),
    Case(SGD, "nesterov", lambda: SGD(0.1, nesterov=True), ValueError, "momentum > 0",
         label="no-momentum"),
    Case(Adagrad, "lr", lambda: Adagrad(-0.1), ValueError, "0 < lr"),
    Case(Adagrad, "eps", lambda: Adagrad(eps=-1.0), ValueError, "0 <= eps"),
    Case(Adagrad, "eps", lambda: Adagrad(eps=None), TypeError, "real number", label="none"),
    Case(Adagrad, "weight_decay", lambda: Adagrad(weight_decay=True), TypeError, "real number"),
    Case(RMSprop, "lr", lambda: RMSprop([0.1]), TypeError, "float"),
    Case(RMSprop, "rho", lambda: RMSprop(rho=1.0), ValueError, "rho < 1"),
    Case(RMSprop, "eps", lambda: RMSprop(eps=float("nan")), ValueError, "finite"),
    Case(RMSprop, "momentum", lambda: RMSprop(momentum=-0.5), ValueError, "0 <= momentum"),
    Case(RMSprop, "weight_decay", lambda: RMSprop(weight_decay="0"), TypeError, "real number"),
    Case(Adam, "lr", lambda: Adam(0), ValueError, "0 < lr"),
    Case(Adam, "betas", lambda: Adam(betas=0.9), TypeError, "pair"),
    Case(Adam, "betas", lambda: Adam(betas=(0.9,)), ValueError, "pair", label="short"),
    Case(Adam, "betas", lambda: Adam(betas=(0.9, 1.0)), ValueError, "< 1", label="one"),
    Case(Adam, "betas", lambda: Adam(betas=(0.9, "0.999")), TypeError, "real number",
         label="str"),
    Case(Adam, "eps", lambda: Adam(eps=-1e-8), ValueError, "0 <= eps"),
    Case(Adam, "weight_decay", lambda: Adam(weight_decay=-1.0), ValueError, "0 <= weight_decay"),
    Case(AdamW, "lr", lambda: AdamW(float("inf")), ValueError, "finite"),
    Case(AdamW, "betas", lambda: AdamW(betas=(-0.1, 0.999)), ValueError, "0 <= betas"),
    Case(AdamW, "eps", lambda: AdamW(eps="1e-8"), TypeError, "real number"),
    Case(AdamW, "weight_decay", lambda: AdamW(weight_decay=None), TypeError, "real number"),
    Case(StepLR, "lr", lambda: StepLR(0, 10), ValueError, "0 < lr"),
    Case(StepLR, "lr", lambda: StepLR("0.1", 10), TypeError, "real number", label="str"),
    Case(StepLR, "step_size", lambda: StepLR(0.1, 2.5), TypeError, "integer"),
    Case(StepLR, "step_size", lambda: StepLR(0.1, 0), ValueError, ">= 1", label="zero"),
    Case(StepLR, "gamma", lambda: StepLR(0.1, 10, gamma=0), ValueError, "0 < gamma <= 1"),
    Case(StepLR, "gamma", lambda: StepLR(0.1, 10, gamma=1.5), ValueError, "gamma <= 1",
         label="above-one"),
    Case(CosineLR, "lr", lambda: CosineLR(-1, 10), ValueError, "0 < lr"),
    Case(CosineLR, "total_steps", lambda: CosineLR(0.1, 10.0), TypeError, "integer"),
    Case(CosineLR, "total_steps", lambda: CosineLR(0.1, 0), ValueError, ">= 1", label="zero"),
    Case(CosineLR, "min_lr", lambda: CosineLR(0.1, 10, min_lr=0.2), ValueError,
         "min_lr <= 0.1"),
    Case(CosineLR, "min_lr", lambda: CosineLR(0.1, 10, min_lr=-0.1), ValueError,
         "0 <= min_lr", label="negative"),

    # -- callbacks ------------------------------------------------------------------------
    Case(EarlyStopping, "monitor", lambda: EarlyStopping(monitor=None), TypeError, "str"),
    Case(EarlyStopping, "monitor", lambda: EarlyStopping(monitor=""), ValueError, "non-empty",
         label="empty"),
    Case(EarlyStopping, "patience", lambda: EarlyStopping(patience=2.5), TypeError, "integer"),
    Case(EarlyStopping, "patience", lambda: EarlyStopping(patience=-1), ValueError, ">= 0",
         label="negative"),
    Case(EarlyStopping, "min_delta", lambda: EarlyStopping(min_delta=-0.1), ValueError,
         "0 <= min_delta"),
    Case(EarlyStopping, "min_delta", lambda: EarlyStopping(min_delta="0"), TypeError,
         "real number", label="str"),
    Case(EarlyStopping, "mode", lambda: EarlyStopping(mode="best"), ValueError, "'min'"),
    Case(EarlyStopping, "restore_best_weights",
         lambda: EarlyStopping(restore_best_weights=1), TypeError, "bool"),
    Case(ModelCheckpoint, "path", lambda: ModelCheckpoint(None), TypeError, "path"),
    Case(ModelCheckpoint, "path", lambda: ModelCheckpoint(""), ValueError, "non-empty",
         label="empty"),
    Case(ModelCheckpoint, "monitor", lambda: ModelCheckpoint("m.npz", monitor=3), TypeError,
         "str"),
    Case(ModelCheckpoint, "save_best_only",
         lambda: ModelCheckpoint("m.npz", save_best_only="no"), TypeError, "bool"),
    Case(ModelCheckpoint, "mode", lambda: ModelCheckpoint("m.npz", mode="max "), ValueError,
         "'max'"),

    # -- mixed precision, data parallel ---------------------------------------------------
    Case(MixedPrecision, "policy", lambda: MixedPrecision("float8"), ValueError,
         "'float16' or 'bfloat16'"),
    Case(MixedPrecision, "policy", lambda: MixedPrecision(np.float16), TypeError,
         "'float16' or 'bfloat16'", label="dtype"),
    Case(MixedPrecision, "init_scale", lambda: MixedPrecision(init_scale=0), ValueError,
         "0 < init_scale"),
    Case(MixedPrecision, "init_scale", lambda: MixedPrecision(init_scale=float("inf")),
         ValueError, "finite", label="inf"),
    Case(MixedPrecision, "growth_factor", lambda: MixedPrecision(growth_factor=0.5),
         ValueError, "1 <= growth_factor"),
    Case(MixedPrecision, "backoff_factor", lambda: MixedPrecision(backoff_factor=1.0),
         ValueError, "backoff_factor < 1"),
    Case(MixedPrecision, "backoff_factor", lambda: MixedPrecision(backoff_factor="0.5"),
         TypeError, "real number", label="str"),
    Case(MixedPrecision, "growth_interval", lambda: MixedPrecision(growth_interval=10.5),
         TypeError, "integer"),
    Case(MixedPrecision, "growth_interval", lambda: MixedPrecision(growth_interval=0),
         ValueError, ">= 1", label="zero"),
    Case(MixedPrecision, "dynamic", lambda: MixedPrecision(dynamic="false"), TypeError, "bool"),
    Case(DataParallel, "comm", lambda: DataParallel(comm="world"), TypeError, "Allreduce"),
    Case(DataParallel, "backend", lambda: DataParallel(_Comm(), backend="gloo"), ValueError,
         "'mpi', 'nccl'"),
    Case(DataParallel, "backend", lambda: DataParallel(_Comm(), backend=1), TypeError,
         "'mpi'", label="int"),

    # -- pruning --------------------------------------------------------------------------
    Case(prune, "target", lambda: prune([Dense(2, 3)]), TypeError, "Sequential, Dense or Conv2D"),
    Case(prune, "method", lambda: prune(Dense(4, 4, rng=0), "random"), ValueError, "'row'"),
    Case(prune, "method", lambda: prune(Dense(4, 4, rng=0), 2), TypeError, "'row'",
         label="int"),
    Case(prune, "sparsity", lambda: prune(Dense(4, 4, rng=0), sparsity=1.0), ValueError,
         "sparsity < 1"),
    Case(prune, "sparsity", lambda: prune(Dense(4, 4, rng=0), sparsity="0.5"), TypeError,
         "real number", label="str"),
    Case(prune, "sparsity", lambda: prune(Dense(4, 4, rng=0), sparsity=float("nan")),
         ValueError, "finite", label="nan"),
    Case(prune, "block", lambda: prune(Dense(4, 4, rng=0), "block", block=(2, 0)), ValueError,
         ">= 1"),
    Case(prune, "block", lambda: prune(Dense(4, 4, rng=0), "block", block=2.0), TypeError,
         "integer", label="float"),
    Case(prune, "include_last", lambda: prune(_model(), include_last=1), TypeError, "bool"),
    Case(compact, "model", lambda: compact(Dense(2, 3)), TypeError, "Sequential"),
    Case(weight_sparsity, "target", lambda: weight_sparsity(np.ones((2, 2))), TypeError,
         "Sequential, Dense or Conv2D"),
    Case(MultiSparsity, "model", lambda: MultiSparsity(None, "row", (0.5,)), TypeError,
         "Sequential"),
    Case(MultiSparsity, "method", lambda: MultiSparsity(_model(), "rows", (0.5,)), ValueError,
         "'row'"),
    Case(MultiSparsity, "sparsities", lambda: MultiSparsity(_model(), "row", 0.5), TypeError,
         "sequence"),
    Case(MultiSparsity, "sparsities", lambda: MultiSparsity(_model(), "row", []), ValueError,
         "at least one", label="empty"),
    Case(MultiSparsity, "sparsities", lambda: MultiSparsity(_model(), "row", (0.5, 1.5)),
         ValueError, r"sparsities\[1\]", label="out-of-range"),
    Case(MultiSparsity, "block", lambda: MultiSparsity(_model(), "block", (0.5,), (4, 4, 4)),
         ValueError, "pair"),
    Case(MultiSparsity, "include_last",
         lambda: MultiSparsity(_model(), "row", (0.5,), include_last="yes"), TypeError, "bool"),

    # -- data -----------------------------------------------------------------------------
    Case(load_idx, "path", lambda: load_idx(5), TypeError, "str or os.PathLike"),
    Case(load_idx, "path", lambda: load_idx("/nonexistent/file.idx"), FileNotFoundError,
         "does not exist", label="missing"),
    Case(load_idx, "path", lambda: load_idx("/"), FileNotFoundError, "directory",
         label="directory"),
    Case(load_mnist, "directory", lambda: load_mnist(None), TypeError, "str or os.PathLike"),
    Case(load_mnist, "directory", lambda: load_mnist("/nonexistent/mnist"), FileNotFoundError,
         "does not exist", label="missing"),
    Case(load_digits_split, "test_size", lambda: load_digits_split(test_size=1.0), ValueError,
         "test_size < 1"),
    Case(load_digits_split, "test_size", lambda: load_digits_split(test_size="0.25"),
         TypeError, "real number", label="str"),
    Case(load_digits_split, "seed", lambda: load_digits_split(seed=-3), ValueError,
         "non-negative"),
    Case(load_digits_split, "seed", lambda: load_digits_split(seed="0"), TypeError,
         "Generator", label="str"),

    # -- the model ------------------------------------------------------------------------
    Case(Sequential, "layers", lambda: Sequential(Dense(2, 3)), TypeError, "list of layers"),
    Case(Sequential, "layers", lambda: Sequential([Dense(2, 3), "relu"]), TypeError,
         r"layers\[1\]", label="element"),

    Case(Sequential.fit, "x", lambda: _fit(x=X.tolist()), TypeError, "array", label="list"),
    Case(Sequential.fit, "x", lambda: _fit(x=X + 1j), TypeError, "real numbers",
         label="complex"),
    Case(Sequential.fit, "x", lambda: _fit(x=NAN_X), ValueError, r"finite.*first: \[3\]",
         label="nan"),
    Case(Sequential.fit, "x", lambda: _fit(x=INF_X), ValueError, r"Inf.*first: \[5\]",
         label="overflow-in-cast"),
    Case(Sequential.fit, "x", lambda: _fit(x=X[:, :, None]), ValueError, r"\(N, F\)",
         label="3d"),
    Case(Sequential.fit, "y", lambda: _fit(y=Y.astype(np.float32)), TypeError,
         "integer labels"),
    Case(Sequential.fit, "y", lambda: _fit(y=Y + 3), ValueError, r"labels must lie in \[0, 3\)",
         label="range"),
    Case(Sequential.fit, "y", lambda: _fit(y=Y[:5]), ValueError, r"\(N,\)", label="length"),
    Case(Sequential.fit, "epochs", lambda: _fit(epochs=1.7), TypeError, "integer"),
    Case(Sequential.fit, "epochs", lambda: _fit(epochs=0), ValueError, ">= 1", label="zero"),
    Case(Sequential.fit, "batch_size", lambda: _fit(batch_size=2.5), TypeError, "integer"),
    Case(Sequential.fit, "batch_size", lambda: _fit(batch_size=0), ValueError, ">= 1",
         label="zero"),
    Case(Sequential.fit, "optimizer", lambda: _fit(optimizer=None), TypeError, r"step\(\)"),
    Case(Sequential.fit, "optimizer", lambda: _fit(optimizer=0.1), TypeError, "optimizer",
         label="float"),
    Case(Sequential.fit, "loss", lambda: _fit(loss="mse"), TypeError, r"forward\(\)"),
    Case(Sequential.fit, "seed", lambda: _fit(seed=-1), ValueError, "non-negative"),
    Case(Sequential.fit, "seed", lambda: _fit(seed=0.5), TypeError, "Generator", label="float"),
    Case(Sequential.fit, "shuffle", lambda: _fit(shuffle="no"), TypeError, "bool"),
    Case(Sequential.fit, "validation_data", lambda: _fit(validation_data=X), TypeError,
         "pair"),
    Case(Sequential.fit, "validation_data", lambda: _fit(validation_data=(X, Y, Y)),
         ValueError, "pair", label="triple"),
    Case(Sequential.fit, "validation_data", lambda: _fit(validation_data=(NAN_X, Y)),
         ValueError, "finite", label="nan"),
    Case(Sequential.fit, "validation_data", lambda: _fit(validation_data=(X, Y + 3)),
         ValueError, "labels must lie", label="labels"),
    Case(Sequential.fit, "progress", lambda: _fit(progress=None), TypeError, "bool"),
    Case(Sequential.fit, "on_epoch_end", lambda: _fit(on_epoch_end="print"), TypeError,
         "callable"),
    Case(Sequential.fit, "callbacks", lambda: _fit(callbacks=EarlyStopping()), TypeError,
         "list of callbacks"),
    Case(Sequential.fit, "callbacks", lambda: _fit(callbacks=[print]), TypeError,
         r"on_epoch_end\(\)", label="element"),
    Case(Sequential.fit, "mixed_precision", lambda: _fit(mixed_precision=np.float16),
         TypeError, "MixedPrecision"),
    Case(Sequential.fit, "mixed_precision", lambda: _fit(mixed_precision="fp16"), ValueError,
         "'float16' or 'bfloat16'", label="policy"),
    Case(Sequential.fit, "distributed", lambda: _fit(distributed=_Comm()), TypeError,
         r"allreduce_grads\(\)"),

    Case(Sequential.predict, "x", lambda: _predict(x=None), TypeError, "array"),
    Case(Sequential.predict, "x", lambda: _predict(x=X.astype(np.complex64)), TypeError,
         "real numbers", label="complex"),
    Case(Sequential.predict, "x", lambda: _predict(x=np.array(["a"] * 4)[None]), TypeError,
         "real numbers", label="str"),
    Case(Sequential.predict, "batch_size", lambda: _predict(batch_size=0), ValueError, ">= 1"),
    Case(Sequential.predict, "batch_size", lambda: _predict(batch_size=-1), ValueError, ">= 1",
         label="negative"),
    Case(Sequential.predict, "batch_size", lambda: _predict(batch_size=4.0), TypeError,
         "integer", label="float"),
    Case(Sequential.predict, "mixed_precision", lambda: _predict(mixed_precision=16),
         TypeError, "MixedPrecision"),
    Case(Sequential.evaluate, "x", lambda: _evaluate(x=X + 0j), TypeError, "real numbers"),
    Case(Sequential.evaluate, "y", lambda: _evaluate(y=list(Y)), TypeError, "array"),
    Case(Sequential.evaluate, "y", lambda: _evaluate(y=Y.astype(float)), TypeError,
         "integer labels", label="float"),
    Case(Sequential.evaluate, "loss", lambda: _evaluate(loss=nn.SGD(0.1)), TypeError,
         r"forward\(\)"),
    Case(Sequential.evaluate, "batch_size", lambda: _evaluate(batch_size=0), ValueError,
         ">= 1"),
    Case(Sequential.evaluate, "batch_size", lambda: _evaluate(batch_size=True), TypeError,
         "integer", label="bool"),
    Case(Sequential.evaluate, "mixed_precision", lambda: _evaluate(mixed_precision="half"),
         ValueError, "'float16' or 'bfloat16'"),
]

EXEMPT = {}
