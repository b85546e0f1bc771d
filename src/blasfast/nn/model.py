"""``Sequential``: a stack of layers with training, evaluation, device moves and .npz files."""

import json
import os
import time
import zipfile

import numpy as np

from .._backend import _cupy, get_array_module, gpu_available
from .conv_layers import AvgPool2D, Conv2D, Flatten, MaxPool2D, Reshape
from .layers import Dense, ReLU, Sigmoid, Tanh
from .losses import SoftmaxCrossEntropy

__all__ = ["Sequential"]

_FORMAT = "blasfast.nn.Sequential/1"
_LAYER_TYPES = {cls.__name__: cls for cls in (Dense, ReLU, Tanh, Sigmoid, Conv2D, MaxPool2D,
                                               AvgPool2D, Flatten, Reshape)}


class Sequential:
    """A feed-forward classifier: layers applied in order, trained with mini-batch SGD.

    Parameters
    ----------
    layers : sequence of layers
        Instances of :class:`Dense`, :class:`ReLU`, :class:`Tanh`, :class:`Sigmoid`.

    Attributes
    ----------
    device : {'cpu', 'gpu'}
        Where the parameters live; inputs given to :meth:`fit`, :meth:`evaluate` and
        :meth:`predict` are moved there, and outputs are returned there.

    Raises
    ------
    TypeError
        If a layer is not one of the supported types.

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

    def __init__(self, layers):
        layers = list(layers)
        for layer in layers:
            if type(layer).__name__ not in _LAYER_TYPES:
                raise TypeError(f"Sequential: unsupported layer {layer!r}; expected one of "
                                f"{sorted(_LAYER_TYPES)}")
        self.layers = layers
        self.device = "cpu"

    def __repr__(self):
        return "Sequential([" + ", ".join(map(repr, self.layers)) + "])"

    # -- parameters -----------------------------------------------------------------

    @property
    def params(self):
        """list of arrays: every layer's parameters, in layer order."""
        return [p for layer in self.layers for p in layer.params]

    @property
    def grads(self):
        """list of arrays: every layer's gradients from the last backward, as ``params``."""
        return [g for layer in self.layers for g in layer.grads]

    def _xp(self):
        return _cupy() if self.device == "gpu" else np

    def _input(self, x, name):
        """``x`` on the model's side, in the dtype of the first Dense layer."""
        xp = self._xp()
        if xp is np:
            _, (x,) = get_array_module(f"Sequential.{name}", x)
            if not isinstance(x, np.ndarray):
                raise TypeError(f"Sequential.{name}: the model is on the CPU but x is a "
                                "GPU array; call to_device('gpu') first")
        dtypes = [layer.dtype for layer in self.layers if isinstance(layer, Dense)]
        return xp.asarray(x, dtype=dtypes[0] if dtypes else None)

    def to_device(self, device):
        """Move all parameters to ``'cpu'`` (NumPy) or ``'gpu'`` (CuPy); return ``self``.

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
                    a.get() if cp is not None and isinstance(a, cp.ndarray) else a)
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

    def predict(self, x, *, batch_size=1024):
        """Return the network's outputs (logits) for ``x``.

        Parameters
        ----------
        x : (N, F) array
        batch_size : int
            Rows per forward pass (bounds memory).

        Returns
        -------
        (N, C) array on the model's device; ``argmax(axis=1)`` gives the classes.
        """
        x = self._input(x, "predict")
        xp = self._xp()
        outs = [self._forward(x[i:i + batch_size], False)
                for i in range(0, x.shape[0], batch_size)]
        return xp.concatenate(outs) if outs else self._forward(x, False)

    def evaluate(self, x, y, *, loss=None, batch_size=1024):
        """Return ``(mean loss, accuracy)`` on ``(x, y)`` as Python floats.

        Parameters
        ----------
        x : (N, F) array
        y : (N,) integer array of class labels
        loss : loss object, optional
            Default :class:`SoftmaxCrossEntropy`.
        batch_size : int
            Rows per forward pass.

        Raises
        ------
        ValueError
            On shape mismatch, an empty set or labels out of range.
        """
        x, y = self._check_xy(x, y, "evaluate")
        loss = loss or SoftmaxCrossEntropy()
        xp = self._xp()
        total, correct = 0.0, 0
        for i in range(0, x.shape[0], batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            out = self._forward(xb, False)
            total = total + loss.forward(out, yb) * xb.shape[0]
            correct = correct + (out.argmax(axis=1) == yb).sum()
        n = x.shape[0]
        return float(total) / n, float(correct) / n

    def _check_xy(self, x, y, name):
        x = self._input(x, name)
        xp = self._xp()
        y = xp.asarray(y)
        if x.ndim != 2 or y.shape != (x.shape[0],) or x.shape[0] == 0:
            raise ValueError(f"Sequential.{name}: expected x (N, F) and y (N,) with N >= 1, "
                             f"got {x.shape} and {y.shape}")
        if y.dtype.kind not in "iu":
            raise TypeError(f"Sequential.{name}: y must hold integer labels, got {y.dtype}")
        dense = [layer for layer in self.layers if isinstance(layer, Dense)]
        if dense:
            lo, hi, c = int(y.min()), int(y.max()), dense[-1].out_features
            if lo < 0 or hi >= c:
                raise ValueError(f"Sequential.{name}: labels must lie in [0, {c}), got "
                                 f"values in [{lo}, {hi}]")
        return x, y

    def fit(self, x, y, *, epochs, batch_size, optimizer, loss=None, seed=0, shuffle=True,
            validation_data=None, progress=True, on_epoch_end=None):
        """Train with mini-batch gradient descent; return the per-epoch history.

        Parameters
        ----------
        x : (N, F) array, float
            Training inputs (moved to the model's device and dtype).
        y : (N,) integer array
            Class labels in ``[0, C)``.
        epochs, batch_size : int
            Passes over the data, rows per step (the last batch may be smaller).
        optimizer : object with ``step(params, grads)``, e.g. :class:`SGD`
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

        Returns
        -------
        dict of lists, one entry per epoch: ``loss`` and ``accuracy`` (averaged over the
        epoch's batches, weighted by batch size, as the model stood at each batch),
        ``time`` (seconds), and ``val_loss``/``val_accuracy`` with ``validation_data``.

        Raises
        ------
        ValueError
            For bad shapes, labels out of range, or non-positive ``epochs``/``batch_size``.
        """
        if int(epochs) < 1 or int(batch_size) < 1:
            raise ValueError(f"Sequential.fit: epochs and batch_size must be >= 1, got "
                             f"{epochs} and {batch_size}")
        x, y = self._check_xy(x, y, "fit")
        loss = loss or SoftmaxCrossEntropy()
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        xp, n = self._xp(), x.shape[0]
        n_batches = -(-n // batch_size)
        bar = _progress_factory(progress)
        history = {"loss": [], "accuracy": [], "time": []}
        if validation_data is not None:
            history.update(val_loss=[], val_accuracy=[])
        for epoch in range(1, int(epochs) + 1):
            t0 = time.perf_counter()
            order = xp.asarray(rng.permutation(n)) if shuffle else None
            total, correct = 0.0, 0
            with bar(total=n_batches, desc=f"epoch {epoch}/{epochs}", unit="batch",
                     leave=on_epoch_end is None) as pb:
                for b in range(n_batches):
                    sl = slice(b * batch_size, min(n, (b + 1) * batch_size))
                    idx = order[sl] if shuffle else sl
                    xb, yb = x[idx], y[idx]
                    out = self._forward(xb, True)
                    total = total + loss.forward(out, yb) * xb.shape[0]
                    correct = correct + (out.argmax(axis=1) == yb).sum()
                    self._backward(loss.backward())
                    optimizer.step(self.params, self.grads)
                    pb.update(1)
                    if b % 50 == 49 or b == n_batches - 1:
                        seen = sl.stop
                        pb.set_postfix({"loss": f"{float(total) / seen:.4f}",
                                        "accuracy": f"{float(correct) / seen:.4f}"})
                logs = {"loss": float(total) / n, "accuracy": float(correct) / n}
                if validation_data is not None:
                    logs["val_loss"], logs["val_accuracy"] = self.evaluate(*validation_data)
                logs["time"] = time.perf_counter() - t0
                pb.set_postfix({k: f"{v:.4f}" for k, v in logs.items() if k != "time"})
            for k, v in logs.items():
                history[k].append(v)
            if on_epoch_end is not None:
                on_epoch_end(epoch, logs)
        return history

    # -- files ---------------------------------------------------------------------

    def architecture(self):
        """Return the JSON-able list ``[{"type": name, "config": {...}}, ...]``."""
        return [{"type": type(layer).__name__, "config": layer.config()}
                for layer in self.layers]

    def save(self, path):
        """Write the architecture and the parameters to ``path`` as a NumPy ``.npz`` file.

        The file holds ``format`` and ``architecture`` (JSON strings) and one array per
        parameter, ``layer{i}.{name}``; no pickles. The path is used as given (no ``.npz``
        is appended). Parameters on the GPU are copied to the host.
        """
        arrays = {"format": np.array(_FORMAT),
                  "architecture": np.array(json.dumps(self.architecture()))}
        cp = _cupy()
        for i, layer in enumerate(self.layers):
            for name, p in zip(layer.param_names, layer.params):
                arrays[f"layer{i}.{name}"] = (
                    p.get() if cp is not None and isinstance(p, cp.ndarray) else p)
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path):
        """Rebuild a model saved by :meth:`save`, on the CPU; the parameters round-trip exactly.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a readable ``.npz`` (corrupt or truncated), is not a blasfast
            model, names an unknown layer, or a parameter is missing, extra, or has the
            wrong shape or dtype. The message names the file and what is wrong.
        """
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
        if data:
            raise ValueError(f"{where}: unexpected entries {sorted(data)}")
        return model


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
