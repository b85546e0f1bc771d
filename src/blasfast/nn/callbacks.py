"""Callbacks of :meth:`blasfast.nn.Sequential.fit`: early stopping and checkpointing.

A callback is any object with ``on_epoch_end(epoch, logs, model)`` (1-based epoch, the
epoch's entries of the history); it may set ``model.stop_training = True`` to end training
after the current epoch, and may define ``on_train_end(model)``.
"""

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal, get_args

from .. import _checks
from .._typing import Int, Real
from . import _args

if TYPE_CHECKING:  # a cycle at run time (model imports this module); blasfast.nn.model
    from .model import Sequential  # binds the name here once Sequential exists

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint"]

#: What ``mode=`` takes; the check accepts its values.
Mode = Literal["auto", "min", "max"]


class Callback:
    """Base class with do-nothing hooks."""

    def on_train_begin(self, model: "Sequential") -> None:
        """Run once before the first epoch.

        Parameters
        ----------
        model : Sequential
            The model being trained.
        """

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float], model: "Sequential") -> None:
        """Run after every epoch with the epoch's logs.

        Parameters
        ----------
        epoch : int
            The epoch just finished, 1-based.
        logs : dict
            This epoch's entries of the history (``loss``, ``accuracy``, ``time``, ...).
        model : Sequential
            The model being trained; set ``model.stop_training = True`` to stop.
        """

    def on_train_end(self, model: "Sequential") -> None:
        """Run once after the last epoch (also after an early stop).

        Parameters
        ----------
        model : Sequential
            The model being trained.
        """


def _mode(monitor, mode, owner):
    _checks.choice(owner, "mode", mode, get_args(Mode))
    if mode == "auto":
        mode = "max" if "acc" in monitor else "min"
    return mode


def _metric(logs, monitor, owner):
    if monitor not in logs:
        raise KeyError(f"{owner}: monitored quantity {monitor!r} is not in the logs "
                       f"{sorted(logs)} (pass validation_data for val_* entries)")
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stop training when a monitored quantity has stopped improving.

    An epoch improves when the value beats the best so far by more than ``min_delta``
    (lower for ``mode='min'``, higher for ``'max'``). After ``patience`` epochs in a row
    without improvement, ``model.stop_training`` is set.

    Parameters
    ----------
    monitor : str, optional
        A key of the history, e.g. ``'val_loss'`` (default), ``'val_accuracy'``, ``'loss'``.
    patience : int, optional
        Epochs without improvement to wait, >= 0. Default 3.
    min_delta : float, optional
        Smallest change that counts, >= 0. Default 0.
    mode : {'auto', 'min', 'max'}, optional
        ``'auto'``: max for names containing ``acc``, else min.
    restore_best_weights : bool, optional
        At the end of training, put back the parameters of the best epoch. Default False.

    Attributes
    ----------
    stopped_epoch : int or None
        The epoch after which training stopped, None when it ran to the end.
    best : float
        The best value seen.

    Raises
    ------
    TypeError
        For a non-string ``monitor`` or ``mode``, a non-integer ``patience``, a
        non-number ``min_delta`` or a non-bool ``restore_best_weights``.
    ValueError
        For an empty ``monitor``, a negative ``patience`` / ``min_delta`` (or a NaN/Inf
        one) or an unknown mode.
    KeyError
        At the first epoch, when ``monitor`` is not in the logs.

    Examples
    --------
    >>> from blasfast.nn import EarlyStopping
    >>> EarlyStopping(monitor="val_accuracy", patience=2).mode
    'max'
    """

    def __init__(self, monitor: str = "val_loss", patience: Int = 3, min_delta: Real = 0.0,
                 mode: Mode = "auto",
                 restore_best_weights: bool = False) -> None:
        monitor = _args.string("EarlyStopping", "monitor", monitor)
        patience = _checks.integer("EarlyStopping", "patience", patience, minimum=0)
        min_delta = _args.real("EarlyStopping", "min_delta", min_delta, lo=0)
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = _mode(monitor, mode, "EarlyStopping")
        self.restore_best_weights = _checks.flag("EarlyStopping", "restore_best_weights",
                                                 restore_best_weights)
        self.on_train_begin(None)

    def on_train_begin(self, model: "Sequential | None") -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait, self.stopped_epoch, self.best_epoch, self._best_params = 0, None, None, None

    def _improved(self, value):
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float],
                     model: "Sequential") -> None:
        value = _metric(logs, self.monitor, "EarlyStopping")
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self._best_params = [p.copy() for p in model.params]
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.stopped_epoch = epoch
                model.stop_training = True

    def on_train_end(self, model: "Sequential") -> None:
        if self.restore_best_weights and self._best_params is not None:
            for p, best in zip(model.params, self._best_params):
                p[...] = best


class ModelCheckpoint(Callback):
    """Save the model (architecture, weights, optimizer state) after epochs.

    Parameters
    ----------
    path : str or os.PathLike
        File to write with :meth:`blasfast.nn.Sequential.save`; may contain ``{epoch}``
        and any log key as format fields, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.npz"``.
    monitor : str, optional
        Quantity compared when ``save_best_only``. Default ``'val_loss'``.
    save_best_only : bool, optional
        Write only when the monitored value improves on the best so far. Default False
        (every epoch).
    mode : {'auto', 'min', 'max'}, optional
        As :class:`EarlyStopping`.

    Attributes
    ----------
    saved : list of str
        Paths written, in order.

    Raises
    ------
    TypeError
        For a ``path`` that is not a str or os.PathLike, a non-string ``monitor`` or
        ``mode``, or a non-bool ``save_best_only``.
    ValueError
        For an empty ``path`` or ``monitor``, or an unknown mode.

    Examples
    --------
    >>> from blasfast.nn import ModelCheckpoint
    >>> ModelCheckpoint("best.npz", monitor="val_accuracy", save_best_only=True).mode
    'max'
    """

    def __init__(self, path: str | os.PathLike[str], monitor: str = "val_loss",
                 save_best_only: bool = False,
                 mode: Mode = "auto") -> None:
        path = _args.path("ModelCheckpoint", "path", path)
        monitor = _args.string("ModelCheckpoint", "monitor", monitor)
        save_best_only = _checks.flag("ModelCheckpoint", "save_best_only", save_best_only)
        self.path, self.monitor, self.save_best_only = path, monitor, save_best_only
        self.mode = _mode(monitor, mode, "ModelCheckpoint")
        self.on_train_begin(None)

    def on_train_begin(self, model: "Sequential | None") -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved = []

    def on_epoch_end(self, epoch: int, logs: Mapping[str, float],
                     model: "Sequential") -> None:
        if self.save_best_only:
            value = _metric(logs, self.monitor, "ModelCheckpoint")
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = value
        path = self.path.format(epoch=epoch, **logs)
        model.save(path)
        self.saved.append(path)
