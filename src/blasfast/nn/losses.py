"""Loss functions of the small neural-network set."""

from typing import Protocol

import numpy as np

from .._backend import get_array_module
from .._typing import Array, ArrayLike

__all__ = ["Loss", "SoftmaxCrossEntropy"]


class Loss(Protocol):
    """What :meth:`blasfast.nn.Sequential.fit` and ``evaluate`` take as ``loss=``.

    Any object with these two methods will do (:meth:`~Sequential.evaluate` calls only
    ``forward``); :class:`SoftmaxCrossEntropy` is one.
    """

    def forward(self, logits: Array, labels: Array) -> Array:
        """Return the mean loss of the batch as a 0-d array (caching what ``backward``
        needs)."""

    def backward(self) -> Array:
        """Return dL/dlogits for the last ``forward``."""


class SoftmaxCrossEntropy:
    r"""Softmax followed by the cross-entropy with integer class labels, averaged over a batch.

    .. math::

        L = \frac1N \sum_{n=1}^{N} \Big(\log \sum_{c} e^{z_{nc}} - z_{n y_n}\Big),
        \qquad \frac{\partial L}{\partial z_{nc}} = \frac1N\,(p_{nc} - [c = y_n]),

    with :math:`p = \operatorname{softmax}(z)` row by row.

    Notes
    -----
    The log-sum-exp is shifted by the row maximum, :math:`\log\sum_c e^{z_c} = m +
    \log\sum_c e^{z_c - m}`, so no exponential overflows and the loss is finite for any
    finite logits; computed in the logits' dtype. ``forward`` returns a 0-d array on the
    logits' side (no device-to-host sync); call ``float()`` on it to read it.

    References
    ----------
    C. M. Bishop, *Pattern Recognition and Machine Learning*, Springer 2006, sec. 4.3.4.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import SoftmaxCrossEntropy
    >>> loss = SoftmaxCrossEntropy()
    >>> round(float(loss.forward(np.zeros((2, 4)), np.array([0, 3]))), 6)
    1.386294
    """

    def __init__(self) -> None:
        self._cache = None

    def forward(self, logits: ArrayLike, labels: ArrayLike) -> Array:
        """Return the mean loss over the batch.

        Parameters
        ----------
        logits : (N, C) array, float32/float64
            The network's outputs.
        labels : (N,) int array
            Class labels in ``[0, C)``, on the same side (NumPy/CuPy) as ``logits``.

        Returns
        -------
        0-d array
            The mean loss, of the logits' dtype.

        Raises
        ------
        ValueError
            On shape mismatch, an empty batch, or (for NumPy inputs) a label outside
            ``[0, C)``. CuPy labels are not range-checked here (that would sync the device);
            :meth:`Sequential.fit` checks them once per call.
        TypeError
            For non-float logits or non-integer labels.
        """
        xp, (logits, labels) = get_array_module("SoftmaxCrossEntropy.forward", logits, labels)
        if logits.ndim != 2 or labels.shape != (logits.shape[0],):
            raise ValueError(f"SoftmaxCrossEntropy.forward: expected logits (N, C) and "
                             f"labels (N,), got {logits.shape} and {labels.shape}")
        if logits.shape[0] == 0:
            raise ValueError("SoftmaxCrossEntropy.forward: empty batch")
        if logits.dtype not in (np.float32, np.float64):
            raise TypeError(f"SoftmaxCrossEntropy.forward: logits must be float32 or "
                            f"float64, got {logits.dtype}")
        if labels.dtype.kind not in "iu":
            raise TypeError(f"SoftmaxCrossEntropy.forward: labels must be integers, "
                            f"got {labels.dtype}")
        n, c = logits.shape
        if xp is np and (labels.min() < 0 or labels.max() >= c):
            raise ValueError(f"SoftmaxCrossEntropy.forward: labels must lie in [0, {c}), "
                             f"got values in [{labels.min()}, {labels.max()}]")
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        total = exp.sum(axis=1, keepdims=True)
        rows = xp.arange(n)
        loss = (xp.log(total[:, 0]) - shifted[rows, labels]).mean()
        self._cache = (exp / total, labels)
        return loss

    def backward(self) -> Array:
        """Return dL/dlogits for the last :meth:`forward`.

        Returns
        -------
        (N, C) array
            ``(softmax(logits) - onehot(labels)) / N``, of the logits' dtype.

        Raises
        ------
        RuntimeError
            If :meth:`forward` was not called first.
        """
        if self._cache is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward: call forward first")
        probs, labels = self._cache
        xp, _ = get_array_module("SoftmaxCrossEntropy.backward", probs)
        grad = probs.copy()
        n = grad.shape[0]
        grad[xp.arange(n), labels] -= 1
        grad /= n
        return grad
