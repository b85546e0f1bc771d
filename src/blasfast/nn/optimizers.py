"""Optimizers and learning-rate schedules of the small neural-network set.

Every optimizer updates a list of parameters in place from a list of gradients of the same
shapes (NumPy or CuPy; the state follows the parameters' side), counts its steps in ``t``,
and exposes ``state_dict()`` / ``load_state_dict()`` (host arrays and JSON-able numbers), which
:meth:`blasfast.nn.Sequential.save` writes next to the weights so that training resumes
exactly. ``lr`` is a float or a schedule (:class:`StepLR`, :class:`CosineLR`) evaluated at
the step count before each update.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, Union

import numpy as np

from .. import _checks
from .._backend import get_array_module
from .._typing import Array, ArrayLike, Real
from . import _args
from .schedules import CosineLR, StepLR, _schedule_from_config

__all__ = ["SupportsStep", "LearningRate", "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam",
           "AdamW", "StepLR", "CosineLR", "optimizer_from_config"]


#: What ``lr=`` takes: a rate > 0 or a schedule.
LearningRate = Union[Real, StepLR, CosineLR]


class SupportsStep(Protocol):
    """What :meth:`blasfast.nn.Sequential.fit` takes as ``optimizer=``: any object with
    ``step(params, grads)``, which updates the arrays of ``params`` in place (the
    optimizers below are ones; :meth:`~blasfast.nn.Sequential.save` also stores the state
    of one with ``state_dict()``)."""

    def step(self, params: list[Array], grads: list[Array]) -> None:
        """Update ``params`` in place from ``grads`` (lists of the same shapes)."""


# -- optimizers ---------------------------------------------------------------------------


class Optimizer:
    """Base class: step counting, argument checks, per-parameter state and its files.

    Subclasses set ``_slots`` (names of the per-parameter state buffers, created as zeros on
    the parameter's side) and implement ``_update(xp, p, g, state, lr)``, which changes ``p``
    and the buffers of ``state`` in place; ``self.t`` is already the 1-based step number.
    """

    _slots = ()

    def __init__(self, lr: LearningRate) -> None:
        name = type(self).__name__
        if callable(lr):
            if not hasattr(lr, "config"):
                raise TypeError(f"{name}: lr must be a float, StepLR or "
                                f"CosineLR, got {_args.describe(lr)}")
        else:
            if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (int, float, np.number)):
                raise TypeError(f"{name}: lr must be a float, StepLR or CosineLR, got "
                                f"{_args.describe(lr)}")
            lr = _args.real(name, "lr", lr, lo=0, lo_open=True)
        self.lr = lr
        self.t = 0
        self._state = None

    def current_lr(self) -> float:
        """Return the learning rate the next :meth:`step` uses (the schedule at step ``t``).

        Returns
        -------
        float
            ``lr``, or the schedule's value at step ``t``.
        """
        return float(self.lr(self.t)) if callable(self.lr) else self.lr

    def reset(self) -> None:
        """Forget the step count and all state buffers (e.g. before training another model)."""
        self._state = None
        self.t = 0

    def _check(self, params, grads):
        name = f"{type(self).__name__}.step"
        if len(params) != len(grads):
            raise ValueError(f"{name}: got {len(params)} params and {len(grads)} grads")
        for p, g in zip(params, grads):
            if p.shape != g.shape:
                raise ValueError(f"{name}: param and grad shapes differ, {p.shape} "
                                 f"and {g.shape}")
        if self._state is None:
            self._state = [dict() for _ in params]
        if len(self._state) != len(params):
            raise ValueError(f"{name}: optimizer state holds {len(self._state)} entries but "
                             f"{len(params)} params came; call reset()")

    def step(self, params: Sequence[Array], grads: Sequence[Array]) -> None:
        """Update ``params`` in place from ``grads``.

        Parameters
        ----------
        params : list of arrays
            Parameters, updated in place. The same list (same order and shapes) must be
            passed on every call, as the state is kept per position.
        grads : list of arrays
            Gradients, same shapes and sides as ``params``; not modified.

        Raises
        ------
        ValueError
            If the lists differ in length or shapes, or do not match the state.
        """
        self._check(params, grads)
        lr = self.current_lr()
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            xp, (p, g) = get_array_module(f"{type(self).__name__}.step", p, g)
            state = self._state[i]
            for slot in self._slots:
                buf = state.get(slot)
                if buf is None:
                    state[slot] = xp.zeros_like(p)
                elif buf.shape != p.shape:
                    raise ValueError(f"{type(self).__name__}.step: state buffer {i}.{slot} "
                                     f"has shape {buf.shape}, param has {p.shape}; call "
                                     "reset()")
                else:
                    state[slot] = _to_side(xp, buf)
            self._update(xp, p, g, state, lr)

    # -- state files --------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """Return the JSON-able ``{"type": name, **hyperparameters}``.

        Returns
        -------
        dict
            The class name and hyperparameters (a schedule as its own config), from
            which :func:`optimizer_from_config` rebuilds the optimizer (without state).
        """
        cfg = {"type": type(self).__name__}
        cfg.update({k: getattr(self, k) for k in self._hyper})
        cfg["lr"] = self.lr.config() if callable(self.lr) else self.lr
        return cfg

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return ``(config, arrays)``, the optimizer's state for a file.

        Returns
        -------
        config : dict
            The JSON-able :meth:`config` plus ``t`` and the number of parameters.
        arrays : dict of numpy.ndarray
            The state buffers as host arrays named ``"{i}.{slot}"``.
        """
        cfg = dict(self.config(), t=self.t,
                   n_params=None if self._state is None else len(self._state))
        arrays = {}
        for i, state in enumerate(self._state or []):
            for slot, buf in state.items():
                arrays[f"{i}.{slot}"] = buf.get() if hasattr(buf, "get") and not isinstance(
                    buf, np.ndarray) else np.asarray(buf)
        return cfg, arrays

    def load_state_dict(self, cfg: Mapping[str, Any],
                        arrays: Mapping[str, ArrayLike]) -> None:
        """Restore ``t`` and the buffers written by :meth:`state_dict`.

        Parameters
        ----------
        cfg : dict
            The ``config`` of :meth:`state_dict`.
        arrays : dict of arrays
            Its ``arrays`` (host arrays; they move to the parameters' side at the next
            step).

        Raises
        ------
        ValueError
            If ``cfg`` is for another optimizer type or an array name is malformed.
        """
        if cfg.get("type") != type(self).__name__:
            raise ValueError(f"{type(self).__name__}.load_state_dict: state is for "
                             f"{cfg.get('type')!r}")
        self.t = int(cfg.get("t", 0))
        n = cfg.get("n_params")
        self._state = None if n is None else [dict() for _ in range(int(n))]
        for key, a in arrays.items():
            i, _, slot = key.partition(".")
            if self._state is None or not i.isdigit() or int(i) >= len(self._state) \
                    or slot not in self._slots:
                raise ValueError(f"{type(self).__name__}.load_state_dict: unexpected state "
                                 f"entry {key!r}")
            self._state[int(i)][slot] = np.array(a)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in
                         [("lr", self.lr)] + [(k, getattr(self, k)) for k in self._hyper])
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay.

    For every parameter :math:`w` with gradient :math:`\nabla` one :meth:`step` does

    .. math::

        g &\leftarrow \nabla + \lambda w                 && \text{(weight decay } \lambda)\\
        v &\leftarrow \mu v + g                          && \text{(momentum } \mu,\ v_0 = 0)\\
        d &= \begin{cases} g + \mu v & \text{Nesterov} \\ v & \text{otherwise} \end{cases}\\
        w &\leftarrow w - \eta\, d                       && \text{(learning rate } \eta)

    With :math:`\mu = 0` this is plain SGD, :math:`w \leftarrow w - \eta(\nabla + \lambda w)`.

    Parameters
    ----------
    lr : float or schedule
        Learning rate :math:`\eta > 0`, or a :class:`StepLR` / :class:`CosineLR`.
    momentum : float, optional
        :math:`\mu \in [0, 1)`. Default 0.
    weight_decay : float, optional
        L2 coefficient :math:`\lambda \ge 0` (adds :math:`\tfrac\lambda2\|w\|^2` to the
        loss). Default 0. Applied to every parameter, biases included.
    nesterov : bool, optional
        Use Nesterov momentum (needs ``momentum > 0``). Default False.

    Raises
    ------
    TypeError
        For a hyperparameter that is not a real number (a string, a bool, None, complex),
        an ``lr`` that is neither a number nor a schedule, or a non-bool flag.
    ValueError
        For a value out of the ranges above, or not finite (NaN, Inf).

    Notes
    -----
    Parameters are updated in place, on whichever side (NumPy/CuPy) they live; the
    velocity buffers follow the parameters if they are moved. This is the formulation of
    PyTorch's ``torch.optim.SGD``; the momentum form is the one in the seed lecture
    (:math:`g \leftarrow \beta g + \nabla`).

    References
    ----------
    B. T. Polyak, "Some methods of speeding up the convergence of iteration methods", 1964.
    I. Sutskever, J. Martens, G. Dahl, G. Hinton, "On the importance of initialization
    and momentum in deep learning", ICML 2013.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import SGD
    >>> w = np.array([1.0, 2.0])
    >>> SGD(lr=0.1).step([w], [np.array([1.0, -1.0])])
    >>> w
    array([0.9, 2.1])
    """

    _hyper = ("momentum", "weight_decay", "nesterov")

    def __init__(self, lr: LearningRate, momentum: Real = 0.0, weight_decay: Real = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(lr)
        momentum = _args.real("SGD", "momentum", momentum, lo=0, hi=1, hi_open=True)
        weight_decay = _args.real("SGD", "weight_decay", weight_decay, lo=0)
        nesterov = _checks.flag("SGD", "nesterov", nesterov)
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.momentum = float(momentum)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)
        self._slots = ("velocity",) if self.momentum else ()

    def _update(self, xp, p, g, state, lr):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            v = state["velocity"]
            v *= self.momentum
            v += g
            g = g + self.momentum * v if self.nesterov else v
        p -= lr * g


class Adagrad(Optimizer):
    r"""Adagrad: per-coordinate steps scaled by the root of the summed squared gradients.

    .. math::

        g &\leftarrow \nabla + \lambda w, \qquad
        G \leftarrow G + g \odot g \quad (G_0 = 0),\\
        w &\leftarrow w - \eta\, g / (\sqrt{G} + \epsilon)

    Parameters
    ----------
    lr : float or schedule
        :math:`\eta > 0`. Default 0.01.
    eps : float, optional
        :math:`\epsilon > 0`. Default 1e-10.
    weight_decay : float, optional
        L2 coefficient :math:`\lambda \ge 0`. Default 0.

    Raises
    ------
    TypeError
        For a hyperparameter that is not a real number (a string, a bool, None, complex),
        an ``lr`` that is neither a number nor a schedule, or a non-bool flag.
    ValueError
        For a value out of the ranges above, or not finite (NaN, Inf).

    References
    ----------
    J. Duchi, E. Hazan, Y. Singer, "Adaptive subgradient methods for online learning and
    stochastic optimization", JMLR 12, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import Adagrad
    >>> w = np.array([1.0, 2.0])
    >>> Adagrad(lr=0.1, eps=0.0).step([w], [np.array([3.0, -0.5])])
    >>> w
    array([0.9, 2.1])
    """

    _hyper = ("eps", "weight_decay")
    _slots = ("sum_sq",)

    def __init__(self, lr: LearningRate = 0.01, eps: Real = 1e-10,
                 weight_decay: Real = 0.0) -> None:
        super().__init__(lr)
        eps = _args.real("Adagrad", "eps", eps, lo=0)
        weight_decay = _args.real("Adagrad", "weight_decay", weight_decay, lo=0)
        self.eps, self.weight_decay = float(eps), float(weight_decay)

    def _update(self, xp, p, g, state, lr):
        if self.weight_decay:
            g = g + self.weight_decay * p
        s = state["sum_sq"]
        s += g * g
        p -= lr * g / (xp.sqrt(s) + self.eps)


class RMSprop(Optimizer):
    r"""RMSprop: steps scaled by a running root mean square of the gradients.

    .. math::

        g &\leftarrow \nabla + \lambda w, \qquad
        s \leftarrow \rho s + (1 - \rho)\, g \odot g \quad (s_0 = 0),\\
        v &\leftarrow \mu v + g / (\sqrt{s} + \epsilon) \quad (v_0 = 0),\qquad
        w \leftarrow w - \eta v

    (with :math:`\mu = 0`, :math:`w \leftarrow w - \eta\, g / (\sqrt s + \epsilon)`).

    Parameters
    ----------
    lr : float or schedule
        :math:`\eta > 0`. Default 0.001.
    rho : float, optional
        Decay :math:`\rho \in [0, 1)`. Default 0.9.
    eps : float, optional
        Default 1e-8.
    momentum : float, optional
        :math:`\mu \in [0, 1)`. Default 0.
    weight_decay : float, optional
        :math:`\lambda \ge 0`. Default 0.

    Raises
    ------
    TypeError
        For a hyperparameter that is not a real number (a string, a bool, None, complex),
        an ``lr`` that is neither a number nor a schedule, or a non-bool flag.
    ValueError
        For a value out of the ranges above, or not finite (NaN, Inf).

    References
    ----------
    T. Tieleman, G. Hinton, Lecture 6.5 "rmsprop", COURSERA: Neural Networks for Machine
    Learning, 2012.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import RMSprop
    >>> w = np.array([1.0])
    >>> RMSprop(lr=0.1, rho=0.75, eps=0.0).step([w], [np.array([2.0])])
    >>> w  # s = 0.25 * 4 = 1, step 0.1 * 2 / 1
    array([0.8])
    """

    _hyper = ("rho", "eps", "momentum", "weight_decay")

    def __init__(self, lr: LearningRate = 0.001, rho: Real = 0.9, eps: Real = 1e-8,
                 momentum: Real = 0.0, weight_decay: Real = 0.0) -> None:
        super().__init__(lr)
        rho = _args.real("RMSprop", "rho", rho, lo=0, hi=1, hi_open=True)
        eps = _args.real("RMSprop", "eps", eps, lo=0)
        momentum = _args.real("RMSprop", "momentum", momentum, lo=0, hi=1, hi_open=True)
        weight_decay = _args.real("RMSprop", "weight_decay", weight_decay, lo=0)
        self.rho, self.eps = float(rho), float(eps)
        self.momentum, self.weight_decay = float(momentum), float(weight_decay)
        self._slots = ("mean_sq", "velocity") if self.momentum else ("mean_sq",)

    def _update(self, xp, p, g, state, lr):
        if self.weight_decay:
            g = g + self.weight_decay * p
        s = state["mean_sq"]
        s *= self.rho
        s += (1 - self.rho) * (g * g)
        d = g / (xp.sqrt(s) + self.eps)
        if self.momentum:
            v = state["velocity"]
            v *= self.momentum
            v += d
            d = v
        p -= lr * d


class Adam(Optimizer):
    r"""Adam: bias-corrected running moments of the gradient and of its square.

    At step :math:`t = 1, 2, \dots`

    .. math::

        g &\leftarrow \nabla + \lambda w \qquad \text{(L2 weight decay, coupled)}\\
        m &\leftarrow \beta_1 m + (1 - \beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2)\, g \odot g \qquad (m_0 = v_0 = 0)\\
        \hat m &= m / (1 - \beta_1^t), \qquad \hat v = v / (1 - \beta_2^t)\\
        w &\leftarrow w - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)

    Parameters
    ----------
    lr : float or schedule
        :math:`\eta > 0`. Default 0.001.
    betas : (float, float), optional
        :math:`\beta_1, \beta_2 \in [0, 1)`. Default (0.9, 0.999).
    eps : float, optional
        Default 1e-8.
    weight_decay : float, optional
        :math:`\lambda \ge 0`, added to the gradient (use :class:`AdamW` for decoupled
        decay). Default 0.

    Raises
    ------
    TypeError
        For a hyperparameter that is not a real number (a string, a bool, None, complex),
        an ``lr`` that is neither a number nor a schedule, or a non-bool flag.
    ValueError
        For a value out of the ranges above, or not finite (NaN, Inf).

    References
    ----------
    D. P. Kingma, J. Ba, "Adam: a method for stochastic optimization", ICLR 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import Adam
    >>> w = np.array([1.0, 1.0])
    >>> Adam(lr=0.1, eps=0.0).step([w], [np.array([5.0, -0.01])])
    >>> w  # the first step is lr * sign(g)
    array([0.9, 1.1])
    """

    _hyper = ("betas", "eps", "weight_decay")
    _slots = ("m", "v")
    _decoupled = False

    def __init__(self, lr: LearningRate = 0.001,
                 betas: Sequence[Real] = (0.9, 0.999),
                 eps: Real = 1e-8,
                 weight_decay: Real = 0.0) -> None:
        super().__init__(lr)
        name = type(self).__name__
        if not isinstance(betas, (tuple, list)):
            raise TypeError(f"{name}: betas must be a pair (beta1, beta2) of numbers in "
                            f"[0, 1), got {_args.describe(betas)}")
        if len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got "
                             f"{len(betas)} entries: {betas!r}")
        b1, b2 = (_args.real(name, f"betas[{i}]", b, lo=0, hi=1, hi_open=True)
                  for i, b in enumerate(betas))
        eps = _args.real(name, "eps", eps, lo=0)
        weight_decay = _args.real(name, "weight_decay", weight_decay, lo=0)
        self.betas, self.eps, self.weight_decay = [b1, b2], float(eps), float(weight_decay)

    def _update(self, xp, p, g, state, lr):
        b1, b2 = self.betas
        if self.weight_decay and not self._decoupled:
            g = g + self.weight_decay * p
        m, v = state["m"], state["v"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        step = (lr / c1) * m / (xp.sqrt(v / c2) + self.eps)
        if self.weight_decay and self._decoupled:
            p *= 1 - lr * self.weight_decay
        p -= step


class AdamW(Adam):
    r"""Adam with decoupled weight decay.

    As :class:`Adam` with :math:`\lambda` taken out of the gradient and applied to the
    weights directly:

    .. math::

        m &\leftarrow \beta_1 m + (1 - \beta_1) \nabla, \qquad
        v \leftarrow \beta_2 v + (1 - \beta_2)\, \nabla \odot \nabla\\
        w &\leftarrow (1 - \eta\lambda)\, w - \eta\, \hat m / (\sqrt{\hat v} + \epsilon)

    Parameters
    ----------
    lr : float or schedule
        Default 0.001.
    betas : (float, float), optional
        As :class:`Adam`. Default (0.9, 0.999).
    eps : float, optional
        As :class:`Adam`. Default 1e-8.
    weight_decay : float, optional
        Decoupled :math:`\lambda \ge 0`. Default 0.01.

    References
    ----------
    I. Loshchilov, F. Hutter, "Decoupled weight decay regularization", ICLR 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import AdamW
    >>> w = np.array([2.0])
    >>> AdamW(lr=0.1, eps=0.0, weight_decay=0.5).step([w], [np.array([1.0])])
    >>> w  # 2 * (1 - 0.05) - 0.1
    array([1.8])
    """

    _decoupled = True

    def __init__(self, lr: LearningRate = 0.001,
                 betas: Sequence[Real] = (0.9, 0.999),
                 eps: Real = 1e-8,
                 weight_decay: Real = 0.01) -> None:
        super().__init__(lr, betas=betas, eps=eps, weight_decay=weight_decay)


_OPTIMIZERS = {cls.__name__: cls for cls in (SGD, Adagrad, RMSprop, Adam, AdamW)}


def optimizer_from_config(cfg: Mapping[str, Any]) -> Optimizer:
    """Rebuild an optimizer (without state) from :meth:`Optimizer.config`.

    Raises
    ------
    ValueError
        For an unknown type or bad hyperparameters.
    """
    cfg = {k: v for k, v in cfg.items() if k not in ("t", "n_params")}
    name = cfg.pop("type", None)
    if name not in _OPTIMIZERS:
        raise ValueError(f"optimizer_from_config: unknown optimizer {name!r}; expected one of "
                         f"{sorted(_OPTIMIZERS)}")
    if isinstance(cfg.get("lr"), dict):
        cfg["lr"] = _schedule_from_config(cfg["lr"])
    try:
        return _OPTIMIZERS[name](**cfg)
    except TypeError as e:
        raise ValueError(f"optimizer_from_config: bad config for {name}: {e}") from None


def _to_side(xp, a):
    """``a`` converted to the array module ``xp`` (a no-op when it already is)."""
    if xp.__name__ == "numpy" and hasattr(a, "get"):
        return a.get()
    return xp.asarray(a)
