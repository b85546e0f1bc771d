"""Optimizers of the small neural-network set."""

from .._backend import get_array_module

__all__ = ["SGD"]


class SGD:
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
    lr : float
        Learning rate :math:`\eta > 0`.
    momentum : float, optional
        :math:`\mu \in [0, 1)`. Default 0.
    weight_decay : float, optional
        L2 coefficient :math:`\lambda \ge 0` (adds :math:`\tfrac\lambda2\|w\|^2` to the
        loss). Default 0. Applied to every parameter, biases included.
    nesterov : bool, optional
        Use Nesterov momentum (needs ``momentum > 0``). Default False.

    Raises
    ------
    ValueError
        For a value out of the ranges above.

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

    def __init__(self, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
        if not lr > 0:
            raise ValueError(f"SGD: lr must be > 0, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"SGD: momentum must lie in [0, 1), got {momentum}")
        if not weight_decay >= 0:
            raise ValueError(f"SGD: weight_decay must be >= 0, got {weight_decay}")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.lr, self.momentum = float(lr), float(momentum)
        self.weight_decay, self.nesterov = float(weight_decay), bool(nesterov)
        self._velocity = None

    def reset(self):
        """Forget the momentum buffers (e.g. before training another model)."""
        self._velocity = None

    def step(self, params, grads):
        """Update ``params`` in place from ``grads``.

        Parameters
        ----------
        params : list of arrays
            Parameters, updated in place. The same list (same order and shapes) must be
            passed on every call, as momentum state is kept per position.
        grads : list of arrays
            Gradients, same shapes and sides as ``params``; not modified.

        Raises
        ------
        ValueError
            If the lists differ in length or shapes, or do not match the momentum state.
        """
        if len(params) != len(grads):
            raise ValueError(f"SGD.step: got {len(params)} params and {len(grads)} grads")
        for p, g in zip(params, grads):
            if p.shape != g.shape:
                raise ValueError(f"SGD.step: param and grad shapes differ, {p.shape} "
                                 f"and {g.shape}")
        if self.momentum and self._velocity is None:
            self._velocity = [None] * len(params)
        if self.momentum and len(self._velocity) != len(params):
            raise ValueError(f"SGD.step: momentum state holds {len(self._velocity)} "
                             f"buffers but {len(params)} params came; call reset()")
        for i, (p, g) in enumerate(zip(params, grads)):
            xp, (p, g) = get_array_module("SGD.step", p, g)
            if self.weight_decay:
                g = g + self.weight_decay * p
            if self.momentum:
                v = self._velocity[i]
                if v is None:
                    v = xp.zeros_like(p)
                elif v.shape != p.shape:
                    raise ValueError(f"SGD.step: momentum buffer {i} has shape {v.shape}, "
                                     f"param has {p.shape}; call reset()")
                else:
                    v = _to_side(xp, v)
                v *= self.momentum
                v += g
                self._velocity[i] = v
                g = g + self.momentum * v if self.nesterov else v
            p -= self.lr * g


def _to_side(xp, a):
    """``a`` converted to the array module ``xp`` (a no-op when it already is)."""
    if xp.__name__ == "numpy" and hasattr(a, "get"):
        return a.get()
    return xp.asarray(a)
