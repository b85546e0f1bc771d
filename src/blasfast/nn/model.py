"""``Sequential``: a stack of layers with training, evaluation, device moves and .npz files."""

import json
import math
import os
import time
import zipfile
from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np

from .. import _checks
from .._backend import _cupy, get_array_module, gpu_available, is_device_array
from .._typing import Array, ArrayLike, Int
from . import _args
from . import callbacks as _callbacks_module
from . import distributed as _distributed_module
from . import mixed_precision as _mixed_precision_module
from .callbacks import Callback
from .conv_layers import AvgPool2D, Conv2D, Flatten, MaxPool2D, Reshape
from .distributed import DataParallel
from .layers import Dense, Layer, ReLU, Sigmoid, Tanh
from .losses import Loss, SoftmaxCrossEntropy
from .mixed_precision import MixedPrecision, Policy
from .optimizers import SupportsStep, optimizer_from_config

__all__ = ["Sequential"]

_FORMAT = "blasfast.nn.Sequential/1"
_LAYER_TYPES = {cls.__name__: cls for cls in (Dense, ReLU, Tanh, Sigmoid, Conv2D, MaxPool2D,
                                               AvgPool2D, Flatten, Reshape)}


class Sequential:
    """A feed-forward classifier: layers applied in order, trained by mini-batch gradient steps.

    Parameters
    ----------
    layers : sequence of layers
        Instances of :class:`Dense`, :class:`ReLU`, :class:`Tanh`, :class:`Sigmoid`,
        :class:`Conv2D`, :class:`MaxPool2D`, :class:`AvgPool2D`, :class:`Flatten`,
        :class:`Reshape`.

    Attributes
    ----------
    device : {'cpu', 'gpu'}
        Where the parameters live; inputs given to :meth:`fit`, :meth:`evaluate` and
        :meth:`predict` are moved there, and outputs are returned there.
    optimizer : optimizer or None
        The optimizer of the last :meth:`fit` (or the one restored by :meth:`load`).
    mixed_precision : MixedPrecision or None
        The ``mixed_precision`` of the last :meth:`fit` (or the one restored by
        :meth:`load`, with its loss scale).
    stop_training : bool
        Set by a callback to end :meth:`fit` after the current epoch.

    Raises
    ------
    TypeError
        If ``layers`` is not iterable, or a layer is not one of the supported types.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import Dense, ReLU, SGD, Sequential
    >>> rng = np.random.default_rng(0)
    >>> model = Sequential([Dense(4, 8, rng=rng), ReLU(), Dense(8, 3, rng=rng)])
    >>> x, y = rng.random((30, 4), dtype=np.float32), rng.integers(0, 3, 30)
    >>> hist = model.fit(x, y, epochs=2, batch_size=10, optimizer=SGD(0.1), progress=False)
    >>> sorted(hist)
    ['accuracy', 'loss', 'time']
    """

    def __init__(self, layers: Iterable[Layer]) -> None:
        if isinstance(layers, (str, bytes, dict)) or not hasattr(layers, "__iter__"):
            raise TypeError(f"Sequential: layers must be a list of layers, got "
                            f"{_args.describe(layers)}")
        layers = list(layers)
        for i, layer in enumerate(layers):
            if type(layer).__name__ not in _LAYER_TYPES:
                raise TypeError(f"Sequential: layers[{i}] must be a layer, one of "
                                f"{sorted(_LAYER_TYPES)}, got {_args.describe(layer)}")
        self.layers = layers
        self.device = "cpu"
        self.optimizer = None
        self.mixed_precision = None
        self.stop_training = False

    def __repr__(self):
        return "Sequential([" + ", ".join(map(repr, self.layers)) + "])"

    # -- parameters -----------------------------------------------------------------

    @property
    def params(self) -> list[Array]:
        """List of arrays: every layer's parameters, in layer order."""
        return [p for layer in self.layers for p in layer.params]

    @property
    def grads(self) -> list[Array]:
        """List of arrays: every layer's gradients from the last backward, as ``params``."""
        return [g for layer in self.layers for g in layer.grads]

    def _xp(self):
        return _cupy() if self.device == "gpu" else np

    def _input(self, x, name, arg="x"):
        """``x`` on the model's side, in the dtype of the first Dense layer; an array of
        real numbers (bool, integer or float) is required (complex would lose its
        imaginary part in the cast)."""
        op = f"Sequential.{name}"
        xp = self._xp()
        _checks.array_operand(op, arg, x)
        if xp is np:
            _, (x,) = get_array_module(op, x)
            if not isinstance(x, np.ndarray):
                raise TypeError(f"{op}: the model is on the CPU but {arg} is a "
                                "GPU array; call to_device('gpu') first")
        else:
            x = xp.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{op}: {arg} must hold real numbers (float, integer or bool), "
                            f"got dtype {x.dtype}")
        dtypes = [layer.dtype for layer in self.layers if isinstance(layer, Dense)]
        return xp.asarray(x, dtype=dtypes[0] if dtypes else None)

    def _check_finite(self, x, op, arg):
        """Refuse NaN/Inf in ``x`` (one reduction; on the GPU, one device-to-host sync)."""
        if x.dtype.kind != "f":
            return
        xp = self._xp()
        if bool(xp.isfinite(x).all()):
            return
        bad = ~xp.isfinite(x.reshape(x.shape[0], -1)).all(axis=1)
        rows = [int(r) for r in xp.flatnonzero(bad)[:5].tolist()]
        count = int(bad.sum())
        raise ValueError(f"{op}: {arg} must be finite, got NaN or Inf in {count} row(s) "
                         f"(first: {rows}) after the cast to {x.dtype}; clean or drop them "
                         "(values beyond the dtype's range also become Inf)")

    def to_device(self, device: Literal["cpu", "gpu"]) -> "Sequential":
        """Move all parameters to ``'cpu'`` (NumPy) or ``'gpu'`` (CuPy); return ``self``.

        Parameters
        ----------
        device : {'cpu', 'gpu'}
            Where the parameters go.

        Returns
        -------
        Sequential
            ``self``, for chaining.

        Raises
        ------
        ValueError
            For a device name other than 'cpu' or 'gpu'.
        RuntimeError
            For 'gpu' when no usable CUDA GPU and CuPy are present.
        """
        if device not in ("cpu", "gpu"):
            raise ValueError(f"Sequential.to_device: device must be 'cpu' or 'gpu', "
                             f"got {device!r}")
        if device == "gpu" and not gpu_available():
            raise RuntimeError("Sequential.to_device: no usable CUDA GPU (CuPy missing "
                               "or no device)")
        cp = _cupy()
        for layer in self.layers:
            for name in layer.param_names:
                a = getattr(layer, name)
                moved = cp.asarray(a) if device == "gpu" else (
                    a.get() if is_device_array(a) else a)
                setattr(layer, name, moved)
            layer._grads = []
        self.device = device
        return self

    # -- forward / backward ------------------------------------------------------------

    def _forward(self, x, training):
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def _backward(self, grad):
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad, need_input_grad=i > 0)

    def _inference(self, x, mixed_precision):
        """Forward pass for predict/evaluate: in the master precision, or in 16 bits under
        ``mixed_precision`` (logits returned as float32)."""
        if mixed_precision is None:
            return self._forward(x, False)
        with mixed_precision.autocast(self), np.errstate(over="ignore", invalid="ignore"):
            return self._forward(x, False).astype(np.float32)

    def predict(self, x: ArrayLike, *, batch_size: Int = 1024,
                mixed_precision: MixedPrecision | Policy | None = None) -> Array:
        """Return the network's outputs (logits) for ``x``.

        Parameters
        ----------
        x : (N, F) array
            The inputs, moved to the model's device and dtype.
        batch_size : int
            Rows per forward pass (bounds memory).
        mixed_precision : MixedPrecision, 'float16' or 'bfloat16', optional
            Run the forward pass in its 16-bit type, as training did (16-bit weights
            copies and activations, float32 accumulation): the inference a tensor-core
            deployment gets. Default: the model's own dtype (float32 master weights).

        Returns
        -------
        (N, C) array
            On the model's device (float32 under ``mixed_precision``);
            ``argmax(axis=1)`` gives the classes.

        Raises
        ------
        TypeError
            If ``x`` is not an array of real numbers, ``batch_size`` not an integer, or
            ``mixed_precision`` not a :class:`MixedPrecision`, a policy or None.
        ValueError
            For ``batch_size < 1`` or an unknown policy string.
        """
        x = self._input(x, "predict")
        batch_size = _checks.integer("Sequential.predict", "batch_size", batch_size,
                                     minimum=1)
        mixed_precision = _check_mp(mixed_precision, "predict")
        xp = self._xp()
        outs = [self._inference(x[i:i + batch_size], mixed_precision)
                for i in range(0, x.shape[0], batch_size)]
        return xp.concatenate(outs) if outs else self._inference(x, mixed_precision)

    def evaluate(self, x: ArrayLike, y: ArrayLike, *, loss: Loss | None = None,
                 batch_size: Int = 1024,
                 mixed_precision: MixedPrecision | Policy | None = None) -> tuple[float, float]:
        """Return ``(mean loss, accuracy)`` on ``(x, y)`` as Python floats.

        Parameters
        ----------
        x : (N, F) array
            The inputs, moved to the model's device and dtype.
        y : (N,) int array
            Class labels in ``[0, C)``.
        loss : loss object, optional
            Default :class:`SoftmaxCrossEntropy`.
        batch_size : int
            Rows per forward pass.
        mixed_precision : MixedPrecision, 'float16' or 'bfloat16', optional
            Evaluate with the 16-bit forward pass (see :meth:`predict`); the loss is
            computed in float32 from the logits.

        Returns
        -------
        loss : float
            The mean loss over the rows.
        accuracy : float
            The fraction of rows whose largest logit is the label.

        Raises
        ------
        ValueError
            On shape mismatch, an empty set, labels out of range, ``batch_size < 1`` or an
            unknown policy.
        TypeError
            If ``x`` is not an array of real numbers, ``y`` not an integer array,
            ``loss`` has no ``forward``, ``batch_size`` is not an integer, or
            ``mixed_precision`` is not a :class:`MixedPrecision`, a policy or None.
        """
        op = "Sequential.evaluate"
        x, y = self._check_xy(x, y, "evaluate")
        _args.has_methods(op, "loss", loss, ("forward",), "a loss", optional=True)
        batch_size = _checks.integer(op, "batch_size", batch_size, minimum=1)
        mixed_precision = _check_mp(mixed_precision, "evaluate")
        loss = loss or SoftmaxCrossEntropy()
        total, correct = 0.0, 0
        for i in range(0, x.shape[0], batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            out = self._inference(xb, mixed_precision)
            total = total + loss.forward(out, yb) * xb.shape[0]
            correct = correct + (out.argmax(axis=1) == yb).sum()
        n = x.shape[0]
        return float(total) / n, float(correct) / n

    def _check_xy(self, x, y, name, xname="x", yname="y"):
        x = self._input(x, name, xname)
        xp = self._xp()
        _checks.array_operand(f"Sequential.{name}", yname, y)
        y = xp.asarray(y)
        if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
            raise ValueError(f"Sequential.{name}: expected {xname} (N, F) and {yname} (N,) "
                             f"with N >= 1, got {x.shape} and {y.shape}")
        if y.dtype.kind not in "iu":
            raise TypeError(f"Sequential.{name}: {yname} must hold integer labels, got "
                            f"{y.dtype}")
        dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        if dense:
            lo, hi, c = int(y.min()), int(y.max()), dense[-1].out_features
            if lo < 0 or hi >= c:
                raise ValueError(f"Sequential.{name}: labels must lie in [0, {c}), got "
                                 f"values in [{lo}, {hi}] in {yname}")
        return x, y

    def _train_step(self, xb, yb, loss, optimizer, mixed_precision=None, distributed=None):
        """One step on a batch: forward, backward, gradient masks, (allreduce), update.

        Returns the outputs and the batch's mean loss (both on the model's side)."""
        if mixed_precision is not None:
            out, value = mixed_precision.train_step(self, xb, yb, loss, optimizer,
                                                    distributed=distributed)
        else:
            out = self._forward(xb, True)
            value = loss.forward(out, yb)
            self._backward(loss.backward())
            grads = self.grads
            if distributed is not None:
                grads = distributed.allreduce_grads(grads)
            self._apply_masks(grads)
            optimizer.step(self.params, grads)
        self._apply_masks()  # momentum or decoupled decay must not revive pruned weights
        return out, value

    def _apply_masks(self, grads=None):
        """Multiply the weights (``grads=None``) or the matching gradients in place by the
        pruning masks that :func:`blasfast.nn.prune` attached to layers ("hard prune")."""
        i = 0
        for layer in self.layers:
            masks = getattr(layer, "masks", None) or {}
            for name in layer.param_names:
                m = masks.get(name)
                if m is not None:
                    target = getattr(layer, name) if grads is None else grads[i]
                    xp, (target,) = get_array_module("Sequential._apply_masks", target)
                    target *= xp.asarray(m, dtype=target.dtype)
                i += 1

    def fit(self, x: ArrayLike, y: ArrayLike, *, epochs: Int, batch_size: Int,
            optimizer: SupportsStep, loss: Loss | None = None,
            seed: Int | np.random.Generator = 0, shuffle: bool = True,
            validation_data: tuple[ArrayLike, ArrayLike] | None = None, progress: bool = True,
            on_epoch_end: Callable[..., Any] | None = None,
            callbacks: Iterable[Callback] | None = None,
            mixed_precision: MixedPrecision | Policy | None = None,
            distributed: DataParallel | None = None) -> dict[str, list[float]]:
        """Train with mini-batch gradient descent; return the per-epoch history.

        Parameters
        ----------
        x : (N, F) array, float
            Training inputs (moved to the model's device and dtype).
        y : (N,) int array
            Class labels in ``[0, C)``.
        epochs, batch_size : int
            Passes over the data, rows per step (the last batch may be smaller).
        optimizer : object with ``step(params, grads)``, e.g. :class:`SGD`
            Updates the parameters from the gradients after every batch.
        loss : loss object, optional
            Default :class:`SoftmaxCrossEntropy`.
        seed : int or numpy.random.Generator
            Seeds the per-epoch shuffle (a NumPy Generator; no global state).
        shuffle : bool
            Visit the rows in a fresh random order every epoch.
        validation_data : tuple (x_val, y_val), optional
            Evaluated after every epoch.
        progress : bool
            Show a tqdm bar per epoch (on stderr) with the running loss and accuracy
            (skipped when tqdm is not installed). The bar stays on screen with the
            epoch's final figures, unless ``on_epoch_end`` is given (which then reports).
        on_epoch_end : callable, optional
            Called as ``on_epoch_end(epoch, logs)`` (1-based epoch, dict of this epoch's
            entries of the history).
        callbacks : list of callbacks, optional
            Objects with ``on_epoch_end(epoch, logs, model)`` (and optionally
            ``on_train_begin(model)`` / ``on_train_end(model)``), e.g.
            :class:`EarlyStopping`, :class:`ModelCheckpoint`. A callback may set
            ``model.stop_training = True`` to end training after the epoch.
        mixed_precision : MixedPrecision, 'float16' or 'bfloat16', optional
            Train with 16-bit weight/activation copies, FP32 master weights and dynamic
            loss scaling (see :class:`MixedPrecision`; a policy string makes one with the
            default scaling, kept as ``self.mixed_precision``).
        distributed : DataParallel, optional
            Average the gradients over processes before every update
            (see :class:`DataParallel`); each process passes its own shard.

        Returns
        -------
        history : dict of lists
            One entry per epoch: ``loss`` and ``accuracy`` (averaged over the epoch's
            batches, weighted by batch size, as the model stood at each batch), ``time``
            (seconds), ``val_loss``/``val_accuracy`` with ``validation_data``, and
            ``loss_scale``/``skipped_steps`` (at the epoch's end) with
            ``mixed_precision``. Fewer entries than ``epochs`` when a callback stopped
            training.

        Raises
        ------
        ValueError
            For bad shapes, an empty set, labels out of range, NaN/Inf in ``x`` or the
            validation inputs, ``epochs``/``batch_size`` < 1, a negative ``seed``,
            ``validation_data`` that is not a pair, or an unknown mixed-precision policy.
        TypeError
            If ``x`` is not an array of real numbers (complex is refused, not truncated),
            ``y`` not an integer array, ``epochs``/``batch_size`` not integers (``2.5``,
            ``True``), ``optimizer`` has no ``step`` (e.g. None), ``loss`` no
            ``forward``/``backward``, ``seed`` is not a seed or Generator, ``shuffle`` or
            ``progress`` is not a bool, ``on_epoch_end`` is not callable, a callback has no
            ``on_epoch_end``, ``distributed`` has no ``allreduce_grads``, or
            ``mixed_precision`` is not a :class:`MixedPrecision`, a policy or None.
        FloatingPointError
            When the loss becomes NaN or Inf during training (see Notes).

        Notes
        -----
        Pruning masks attached by :func:`prune` multiply the gradients before and the
        weights after every update, so pruned weights stay exactly zero. The optimizer and
        the mixed-precision object are kept as ``self.optimizer`` and
        ``self.mixed_precision``, so :meth:`save` (and :class:`ModelCheckpoint`) writes
        their state; pass ``model.mixed_precision`` again to resume with its loss scale.

        Non-finite data and divergence: before training, ``x`` (after the cast to the
        model's dtype) and the inputs of ``validation_data`` are checked for NaN/Inf with
        one reduction each (on the GPU that is one device-to-host sync per :meth:`fit`
        call, not per batch); labels are integers, so they have none. During training a
        non-finite loss (the model diverged: too high a learning rate, or an overflow)
        raises ``FloatingPointError`` naming the epoch and the batch. On the CPU it is
        checked after every batch; on the GPU it is read where the running loss is read
        anyway (every 50 batches and at each epoch's end), so training may run up to 49
        batches past the first bad one before stopping; the message still names the first
        bad batch. The weights are then non-finite too: reload a checkpoint to go on.
        Under ``mixed_precision`` a non-finite loss gives non-finite gradients, and that
        step is skipped by the dynamic loss scaling instead (counted in
        ``skipped_steps``), as overflow in float16 is expected there.
        """
        op = "Sequential.fit"
        epochs = _checks.integer(op, "epochs", epochs, minimum=1)
        batch_size = _checks.integer(op, "batch_size", batch_size, minimum=1)
        _args.has_methods(op, "optimizer", optimizer, ("step",),
                          "an optimizer such as SGD(0.1)")
        _args.has_methods(op, "loss", loss, ("forward", "backward"), "a loss", optional=True)
        rng = _args.generator(op, "seed", seed)
        shuffle = _checks.flag(op, "shuffle", shuffle)
        progress = _checks.flag(op, "progress", progress)
        if on_epoch_end is not None and not callable(on_epoch_end):
            raise TypeError(f"{op}: on_epoch_end must be callable or None, got "
                            f"{_args.describe(on_epoch_end)}")
        if callbacks is not None:
            if isinstance(callbacks, (str, bytes)) or not hasattr(callbacks, "__iter__"):
                raise TypeError(f"{op}: callbacks must be a list of callbacks or None, got "
                                f"{_args.describe(callbacks)}")
            callbacks = list(callbacks)
            for i, cb in enumerate(callbacks):
                _args.has_methods(op, f"callbacks[{i}]", cb, ("on_epoch_end",), "a callback")
        _args.has_methods(op, "distributed", distributed, ("allreduce_grads",),
                          "a DataParallel", optional=True)
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)):
                raise TypeError(f"{op}: validation_data must be a pair (x_val, y_val) or "
                                f"None, got {_args.describe(validation_data)}")
            if len(validation_data) != 2:
                raise ValueError(f"{op}: validation_data must be a pair (x_val, y_val), got "
                                 f"{len(validation_data)} entries")
        x, y = self._check_xy(x, y, "fit")
        if validation_data is not None:
            validation_data = self._check_xy(*validation_data, "fit", "validation_data[0]",
                                             "validation_data[1]")
        mixed_precision = _check_mp(mixed_precision, "fit")
        self._check_finite(x, op, "x")
        if validation_data is not None:
            self._check_finite(validation_data[0], op, "validation_data[0]")
        loss = loss or SoftmaxCrossEntropy()
        xp, n = self._xp(), x.shape[0]
        n_batches = -(-n // batch_size)
        bar = _progress_factory(progress)
        history = {"loss": [], "accuracy": [], "time": []}
        if validation_data is not None:
            history.update(val_loss=[], val_accuracy=[])
        if mixed_precision is not None:
            history.update(loss_scale=[], skipped_steps=[])
        callbacks = callbacks or []
        self.optimizer, self.mixed_precision = optimizer, mixed_precision
        self.stop_training = False
        for cb in callbacks:
            if hasattr(cb, "on_train_begin"):
                cb.on_train_begin(self)
        for epoch in range(1, int(epochs) + 1):
            t0 = time.perf_counter()
            order = xp.asarray(rng.permutation(n)) if shuffle else None
            total, correct = 0.0, 0
            pending = []  # (batch, loss) not yet checked for finiteness
            with bar(total=n_batches, desc=f"epoch {epoch}/{epochs}", unit="batch",
                     leave=on_epoch_end is None, disable=None) as pb:
                for b in range(n_batches):
                    sl = slice(b * batch_size, min(n, (b + 1) * batch_size))
                    idx = order[sl] if shuffle else sl
                    xb, yb = x[idx], y[idx]
                    out, value = self._train_step(xb, yb, loss, optimizer, mixed_precision,
                                                  distributed)
                    total = total + value * xb.shape[0]
                    correct = correct + (out.argmax(axis=1) == yb).sum()
                    pb.update(1)
                    report = b % 50 == 49 or b == n_batches - 1
                    if mixed_precision is None:
                        pending.append((b, value))
                        if xp is np or report:  # where the loss is read anyway on a GPU
                            _check_loss(pending, total, epoch, n_batches)
                    if report:
                        seen = sl.stop
                        pb.set_postfix({"loss": f"{float(total) / seen:.4f}",
                                        "accuracy": f"{float(correct) / seen:.4f}"})
                logs = {"loss": float(total) / n, "accuracy": float(correct) / n}
                if validation_data is not None:
                    logs["val_loss"], logs["val_accuracy"] = self.evaluate(*validation_data)
                if mixed_precision is not None:
                    logs["loss_scale"] = mixed_precision.loss_scale
                    logs["skipped_steps"] = mixed_precision.skipped_steps
                logs["time"] = time.perf_counter() - t0
                pb.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k != "time"})
            for k, v in logs.items():
                history[k].append(v)
            if on_epoch_end is not None:
                on_epoch_end(epoch, logs)
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs, self)
            if self.stop_training:
                break
        for cb in callbacks:
            if hasattr(cb, "on_train_end"):
                cb.on_train_end(self)
        return history

    # -- files ---------------------------------------------------------------------

    def architecture(self) -> list[dict[str, Any]]:
        """Return the JSON-able list ``[{"type": name, "config": {...}}, ...]``.

        Returns
        -------
        list of dict
            One ``{"type": class name, "config": layer.config()}`` per layer, in order.
        """
        return [{"type": type(layer).__name__, "config": layer.config()}
                for layer in self.layers]

    def save(self, path: str | os.PathLike[str], optimizer: SupportsStep | None = None,
             mixed_precision: MixedPrecision | None = None) -> None:
        """Write the architecture, the parameters and the training state to ``path`` (.npz).

        The file holds ``format`` and ``architecture`` (JSON strings), one array per
        parameter, ``layer{i}.{name}``, pruning masks as ``layer{i}.mask.{name}``;
        when there is an optimizer (``optimizer``, else the one of the last :meth:`fit`),
        its config and step count as the JSON string ``optimizer`` and its state buffers
        as ``optimizer.{i}.{slot}``; and when there is a :class:`MixedPrecision`
        (``mixed_precision``, else the one of the last :meth:`fit`), its
        :meth:`~MixedPrecision.state_dict` (policy, loss scale, step counters) as the JSON
        string ``mixed_precision``. No pickles. The path is used as given (no ``.npz`` is
        appended). Arrays on the GPU are copied to the host.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if it exists).
        optimizer : optimizer, optional
            Whose state to store; default the one of the last :meth:`fit`.
        mixed_precision : MixedPrecision, optional
            Whose state to store; default the one of the last :meth:`fit`.

        Raises
        ------
        TypeError
            If ``path`` is not a str or os.PathLike (an int would be taken by ``open`` as
            a file descriptor), or ``mixed_precision`` has no ``state_dict``.
        """
        path = _args.path("Sequential.save", "path", path)
        arrays = {"format": np.array(_FORMAT),
                  "architecture": np.array(json.dumps(self.architecture()))}
        def host(a):
            return a.get() if is_device_array(a) else np.asarray(a)

        for i, layer in enumerate(self.layers):
            for name, p in zip(layer.param_names, layer.params):
                arrays[f"layer{i}.{name}"] = host(p)
            for name, m in (getattr(layer, "masks", None) or {}).items():
                arrays[f"layer{i}.mask.{name}"] = host(m)
        optimizer = optimizer if optimizer is not None else self.optimizer
        if optimizer is not None and hasattr(optimizer, "state_dict"):
            cfg, state = optimizer.state_dict()
            arrays["optimizer"] = np.array(json.dumps(cfg))
            arrays.update({f"optimizer.{k}": v for k, v in state.items()})
        mp = mixed_precision if mixed_precision is not None else self.mixed_precision
        if mp is not None:
            if not hasattr(mp, "state_dict"):
                raise TypeError(f"Sequential.save: mixed_precision must be a MixedPrecision, "
                                f"got {mp!r}")
            arrays["mixed_precision"] = np.array(json.dumps(mp.state_dict()))
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Sequential":
        """Rebuild a model saved by :meth:`save`, on the CPU; the parameters round-trip exactly.

        The optimizer, when the file has one, is rebuilt with its state (step count,
        moment buffers, schedule) as ``model.optimizer``, and the mixed-precision state
        (policy, loss scale, step counters) as ``model.mixed_precision``, so that
        ``model.fit(..., optimizer=model.optimizer, mixed_precision=model.mixed_precision)``
        continues exactly where training stopped.

        Parameters
        ----------
        path : str or os.PathLike
            A file written by :meth:`save`.

        Returns
        -------
        Sequential
            The model, on the CPU.

        Raises
        ------
        TypeError
            If ``path`` is not a str or os.PathLike.
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a readable ``.npz`` (corrupt or truncated), is not a blasfast
            model, names an unknown layer, a parameter is missing, extra, or has the
            wrong shape or dtype, or the optimizer or mixed-precision state is malformed.
            The message names the file and what is wrong.
        """
        path = _args.path("Sequential.load", "path", path)
        data = _read_npz(path)
        where = f"Sequential.load: {path}"
        if str(data.pop("format", "")) != _FORMAT:
            raise ValueError(f"{where} is not a blasfast model file (format tag missing or "
                             f"not {_FORMAT!r})")
        try:
            arch = json.loads(str(data.pop("architecture")))
            layers = [_LAYER_TYPES[d["type"]](**d["config"]) for d in arch]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: bad architecture description ({e!r})") from None
        model = cls(layers)
        for i, layer in enumerate(model.layers):
            for name, p in zip(layer.param_names, layer.params):
                key = f"layer{i}.{name}"
                if key not in data:
                    raise ValueError(f"{where}: parameter {key} is missing")
                a = data.pop(key)
                if a.shape != p.shape or a.dtype != p.dtype:
                    raise ValueError(f"{where}: parameter {key} should be {p.shape} "
                                     f"{p.dtype}, got {a.shape} {a.dtype}")
                setattr(layer, name, a)
                mkey = f"layer{i}.mask.{name}"
                if mkey in data:
                    m = data.pop(mkey)
                    if m.shape != p.shape:
                        raise ValueError(f"{where}: mask {mkey} should be {p.shape}, got "
                                         f"{m.shape}")
                    if not hasattr(layer, "masks"):
                        layer.masks = {}
                    layer.masks[name] = m
        if "optimizer" in data:
            try:
                cfg = json.loads(str(data.pop("optimizer")))
                opt = optimizer_from_config(cfg)
                prefix = "optimizer."
                state = {k[len(prefix):]: data.pop(k) for k in list(data)
                         if k.startswith(prefix)}
                opt.load_state_dict(cfg, state)
                if opt._state is not None:
                    if len(opt._state) != len(model.params):
                        raise ValueError(f"state for {len(opt._state)} parameters, the "
                                         f"model has {len(model.params)}")
                    for st, p in zip(opt._state, model.params):
                        for slot, buf in st.items():
                            if buf.shape != p.shape:
                                raise ValueError(f"state buffer {slot} is {buf.shape}, its "
                                                 f"parameter {p.shape}")
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise ValueError(f"{where}: bad optimizer state ({e})") from None
            model.optimizer = opt
        if "mixed_precision" in data:
            try:
                state = json.loads(str(data.pop("mixed_precision")))
                model.mixed_precision = MixedPrecision.from_state_dict(state)
            except ValueError as e:  # json.JSONDecodeError is a ValueError
                raise ValueError(f"{where}: bad mixed-precision state ({e})") from None
        if data:
            raise ValueError(f"{where}: unexpected entries {sorted(data)}")
        return model


# callbacks, distributed and mixed_precision name Sequential in their annotations but cannot
# import it at run time (this module imports them): bind the name in them now, so that
# typing.get_type_hints resolves those annotations (type checkers read their TYPE_CHECKING
# import).
for _module in (_callbacks_module, _distributed_module, _mixed_precision_module):
    setattr(_module, "Sequential", Sequential)
del _module


def _check_loss(pending, total, epoch, n_batches):
    """Raise ``FloatingPointError`` when the running loss ``total`` is not finite, naming
    the first batch of ``pending`` whose loss is not (reads ``total``: one sync on a GPU);
    empty ``pending`` when all is well."""
    t = float(total)
    if math.isfinite(t):
        pending.clear()
        return
    first, value = pending[-1][0], t
    for b, v in pending:
        if not math.isfinite(float(v)):
            first, value = b, float(v)
            break
    raise FloatingPointError(
        f"Sequential.fit: the loss became {value} at epoch {epoch}, batch {first + 1} of "
        f"{n_batches}: training diverged (the weights are now non-finite too); lower the "
        "learning rate or scale the inputs")


def _check_mp(mixed_precision, name):
    """``mixed_precision`` as a :class:`MixedPrecision` (a policy string makes a new one),
    or None."""
    if mixed_precision is None or isinstance(mixed_precision, MixedPrecision):
        return mixed_precision
    if isinstance(mixed_precision, str):
        if mixed_precision not in ("float16", "bfloat16"):
            raise ValueError(f"Sequential.{name}: mixed_precision policy must be 'float16' "
                             f"or 'bfloat16', got {mixed_precision!r}")
        return MixedPrecision(mixed_precision)
    raise TypeError(f"Sequential.{name}: mixed_precision must be a MixedPrecision, "
                    f"'float16', 'bfloat16' or None, got {mixed_precision!r}")


def _read_npz(path):
    """All entries of an .npz file as a dict, with clear errors for missing/corrupt files."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Sequential.load: no such file: {path}")
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with f:
            return {k: f[k] for k in f.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"Sequential.load: {path} is not a readable .npz file "
                         f"(corrupt or truncated?): {e}") from None


def _progress_factory(progress):
    """tqdm when wanted and installed, else a silent stand-in with the same methods."""
    if progress:
        try:
            from tqdm.auto import tqdm
            return tqdm
        except ImportError:
            pass
    return _NoBar


class _NoBar:
    def __init__(self, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass

    def set_postfix(self, *args, **kwargs):
        pass
