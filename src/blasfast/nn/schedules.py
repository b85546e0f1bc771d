"""Learning-rate schedules: :class:`StepLR` and :class:`CosineLR`.

A schedule is a callable ``schedule(t) -> lr`` of the 0-based optimizer step ``t`` with a
JSON-able ``config()``; pass one as ``lr`` to any optimizer of :mod:`blasfast.nn.optimizers`.
"""

import math
from typing import Any

from .. import _checks
from .._typing import Int, Real
from . import _args

__all__ = ["StepLR", "CosineLR"]


class StepLR:
    r"""Step decay: :math:`\eta_t = \eta_0\,\gamma^{\lfloor t / s \rfloor}`.

    Parameters
    ----------
    lr : float
        :math:`\eta_0 > 0`.
    step_size : int
        :math:`s \ge 1`, optimizer steps between decays (``epochs * batches_per_epoch``
        to decay every few epochs).
    gamma : float, optional
        Factor :math:`\gamma \in (0, 1]`. Default 0.1.

    Raises
    ------
    TypeError
        For a rate that is not a real number, or a step count that is not an integer.
    ValueError
        For a value out of range or not finite.

    Examples
    --------
    >>> from blasfast.nn import StepLR
    >>> s = StepLR(0.1, step_size=10, gamma=0.5)
    >>> s(0), s(9), s(10), s(25)
    (0.1, 0.1, 0.05, 0.025)
    """

    def __init__(self, lr: Real, step_size: Int, gamma: Real = 0.1) -> None:
        lr = _args.real("StepLR", "lr", lr, lo=0, lo_open=True)
        step_size = _checks.integer("StepLR", "step_size", step_size, minimum=1)
        gamma = _args.real("StepLR", "gamma", gamma, lo=0, hi=1, lo_open=True)
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def __call__(self, t: int) -> float:
        """Return the learning rate at step ``t``.

        Parameters
        ----------
        t : int
            The optimizer step, 0-based.

        Returns
        -------
        float
            The rate.
        """
        return self.lr * self.gamma ** (int(t) // self.step_size)

    def config(self) -> dict[str, Any]:
        """Return the JSON-able keyword arguments that rebuild the schedule.

        Returns
        -------
        dict
            ``{"type": class name, **keyword arguments}``.
        """
        return {"type": "StepLR", "lr": self.lr, "step_size": self.step_size,
                "gamma": self.gamma}

    def __repr__(self):
        return f"StepLR(lr={self.lr}, step_size={self.step_size}, gamma={self.gamma})"


class CosineLR:
    r"""Cosine annealing from ``lr`` down to ``min_lr`` over ``total_steps`` steps.

    .. math::

        \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
        (1 + \cos(\pi \min(t, T) / T))

    Parameters
    ----------
    lr : float
        :math:`\eta_0 > 0`, the rate at step 0.
    total_steps : int
        :math:`T \ge 1`; the rate stays at :math:`\eta_{\min}` after it.
    min_lr : float, optional
        :math:`0 \le \eta_{\min} \le \eta_0`. Default 0.

    Raises
    ------
    TypeError
        For a rate that is not a real number, or a step count that is not an integer.
    ValueError
        For a value out of range or not finite.

    References
    ----------
    I. Loshchilov, F. Hutter, "SGDR: stochastic gradient descent with warm restarts",
    ICLR 2017.

    Examples
    --------
    >>> from blasfast.nn import CosineLR
    >>> s = CosineLR(0.1, total_steps=100)
    >>> s(0), round(s(50), 12), s(100)
    (0.1, 0.05, 0.0)
    """

    def __init__(self, lr: Real, total_steps: Int, min_lr: Real = 0.0) -> None:
        lr = _args.real("CosineLR", "lr", lr, lo=0, lo_open=True)
        total_steps = _checks.integer("CosineLR", "total_steps", total_steps, minimum=1)
        min_lr = _args.real("CosineLR", "min_lr", min_lr, lo=0, hi=lr)
        self.lr, self.total_steps, self.min_lr = lr, total_steps, min_lr

    def __call__(self, t: int) -> float:
        """Return the learning rate at step ``t``.

        Parameters
        ----------
        t : int
            The optimizer step, 0-based.

        Returns
        -------
        float
            The rate.
        """
        frac = min(int(t), self.total_steps) / self.total_steps
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * frac))

    def config(self) -> dict[str, Any]:
        """Return the JSON-able keyword arguments that rebuild the schedule.

        Returns
        -------
        dict
            ``{"type": class name, **keyword arguments}``.
        """
        return {"type": "CosineLR", "lr": self.lr, "total_steps": self.total_steps,
                "min_lr": self.min_lr}

    def __repr__(self):
        return (f"CosineLR(lr={self.lr}, total_steps={self.total_steps}, "
                f"min_lr={self.min_lr})")


_SCHEDULES = {"StepLR": StepLR, "CosineLR": CosineLR}


def _schedule_from_config(cfg):
    cfg = dict(cfg)
    return _SCHEDULES[cfg.pop("type")](**cfg)
