"""Pruning: hard-prune masks (irregular, row, column, block), compaction of pruned
rows/columns and channels into smaller Dense and Conv2D layers (the work is in
:mod:`blasfast.nn._compact`), and shared-weight multi-sparsity models."""

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
import numpy.typing as npt

from .. import _backend, _checks
from .._typing import IntPair, Real
from . import _args
from ._compact import compact_layers
from .conv_layers import Conv2D
from .layers import Dense
from .model import Sequential

__all__ = ["prune", "compact", "weight_sparsity", "MultiSparsity"]

#: The pruning methods (the type; :data:`METHODS` is its values, what the checks accept).
Method = Literal["irregular", "row", "column", "block"]
METHODS = get_args(Method)
#: The masks of one layer: parameter name -> boolean host array of the parameter's shape.
Masks = dict[str, npt.NDArray[np.bool_]]


def _host(a):
    return a.get() if _backend.is_device_array(a) else np.asarray(a)


def _like(a, ref):
    """Host array ``a`` moved to the side of ``ref``."""
    return _backend.array_module(ref).asarray(a) if _backend.is_device_array(ref) else a


def _check_args(method, sparsity, block, owner, sparsity_name="sparsity"):
    _checks.choice(owner, "method", method, METHODS)
    s = _args.real(owner, sparsity_name, sparsity, lo=0, hi=1, hi_open=True)
    return s, _args.pair(owner, "block", block)


def _matrix(layer, method):
    """The weight as a host matrix whose rows are the layer's inputs and whose columns are
    its outputs: Dense W; Conv2D W (K, C, R, S) as (C R S, K), except for ``'row'``, where
    a row is a whole input channel, (C, K R S), so that row pruning removes channels."""
    w = _host(layer.W)
    if isinstance(layer, Dense):
        return w
    if method == "row":
        return w.transpose(1, 0, 2, 3).reshape(w.shape[1], -1)
    return w.reshape(w.shape[0], -1).T


def _from_matrix(layer, m, method):
    if isinstance(layer, Dense):
        return m
    k, c, r, s = layer.W.shape
    if method == "row":
        return np.ascontiguousarray(m.reshape(c, k, r, s).transpose(1, 0, 2, 3))
    return np.ascontiguousarray(m.T.reshape(k, c, r, s))


def _scores(m, method, block):
    """Per-unit scores and a function from a boolean keep-vector over units to a mask."""
    m = m.astype(np.float64)
    if method == "irregular":
        return np.abs(m).ravel(), lambda keep: keep.reshape(m.shape)
    if method == "row":
        return np.linalg.norm(m, axis=1), lambda keep: np.repeat(keep[:, None], m.shape[1], 1)
    if method == "column":
        return np.linalg.norm(m, axis=0), lambda keep: np.repeat(keep[None, :], m.shape[0], 0)
    br, bc = block
    nr, nc = -(-m.shape[0] // br), -(-m.shape[1] // bc)
    padded = np.zeros((nr * br, nc * bc))
    padded[:m.shape[0], :m.shape[1]] = m
    norms = np.sqrt((padded.reshape(nr, br, nc, bc) ** 2).sum(axis=(1, 3)))

    def expand(keep):
        full = np.repeat(np.repeat(keep.reshape(nr, nc), br, 0), bc, 1)
        return full[:m.shape[0], :m.shape[1]]

    return norms.ravel(), expand


def _keep(scores, sparsity):
    """Keep all but the floor(sparsity * n) lowest scores (ties broken by position)."""
    n_prune = int(np.floor(sparsity * scores.size))
    keep = np.ones(scores.size, dtype=bool)
    keep[np.argsort(scores, kind="stable")[:n_prune]] = False
    return keep


def _layer_masks(layer, method, sparsity, block):
    m = _matrix(layer, method)
    scores, expand = _scores(m, method, block)
    keep = _keep(scores, sparsity)
    wmask = expand(keep)
    masks = {"W": _from_matrix(layer, wmask, method)}
    if method == "column":  # a pruned output unit loses its bias too (so compact is exact)
        masks["b"] = keep.copy()
    return masks


def _weight_layers(target, owner):
    if isinstance(target, (Dense, Conv2D)):
        return [target]
    layers = getattr(target, "layers", None)
    if layers is None or isinstance(target, type):
        name = "model" if owner in ("MultiSparsity", "compact") else "target"
        raise TypeError(f"{owner}: {name} must be a Sequential, Dense or Conv2D, got "
                        f"{_args.describe(target)}")
    return [layer for layer in layers if isinstance(layer, (Dense, Conv2D))]


def _set_masks(layer, masks):
    old = getattr(layer, "masks", None) or {}
    new = {}
    for name, m in masks.items():
        m = m.astype(bool)
        if name in old:
            m = m & _host(old[name]).astype(bool)
        new[name] = m
    for name, m in old.items():
        new.setdefault(name, _host(m).astype(bool))
    layer.masks = new
    for name, m in new.items():
        p = getattr(layer, name)
        p *= _like(m.astype(p.dtype), p)


def prune(target: Sequential | Dense | Conv2D, method: Method = "irregular",
          sparsity: Real = 0.5, block: IntPair = (4, 4), *,
          include_last: bool = False) -> list[Masks]:
    r"""Hard-prune the weights of a model or a layer: zero them and keep them zero.

    The mask is chosen per layer from its weight :math:`W` viewed as a matrix whose rows
    are the layer's inputs and whose columns its outputs (Dense: ``W``, ``(in, out)``;
    Conv2D: ``W`` of shape ``(K, C, R, S)`` as the ``(C R S, K)`` im2col matrix, or, for
    ``'row'``, as ``(C, K R S)``):

    * ``'irregular'``: the ``floor(sparsity * W.size)`` entries of smallest :math:`|w|`;
    * ``'row'``: the rows of smallest L2 norm: Dense input features ``W[j, :]``; Conv2D
      whole input channels ``W[:, c]`` (all their filters and taps at once);
    * ``'column'``: the columns of smallest L2 norm, with their bias entries: Dense output
      units ``W[:, j]``; Conv2D filters ``W[k]`` (whole output channels);
    * ``'block'``: the ``block`` tiles (rows x columns; edge tiles are partial) of
      smallest L2 norm.

    ``'row'`` and ``'column'`` are the structured methods: :func:`compact` turns what they
    prune into smaller layers. A column-pruned unit or filter goes from its layer (and its
    input from the next layer); a row-pruned input goes from its layer together with the
    previous layer's matching output (unit, or channel through pooling and Flatten: after
    a Flatten, all ``H W`` rows of a channel must be zero). The first layer's inputs and
    the last layer's outputs are always kept.

    The masks are stored as ``layer.masks = {"W": bool array, ...}``; the pruned weights
    are set to zero now, and :meth:`Sequential.fit` multiplies the gradients (before) and
    the weights (after) every update by the masks, so they stay zero through fine-tuning.
    Pruning again intersects the new masks with the old ones.

    Parameters
    ----------
    target : Sequential, Dense or Conv2D
        A model (each of its Dense/Conv2D layers is pruned) or one layer.
    method : {'irregular', 'row', 'column', 'block'}
        What is removed, as listed above.
    sparsity : float in [0, 1)
        Fraction of the units (entries, rows, columns, blocks) of each layer to remove.
    block : (int, int), optional
        Tile shape for ``'block'``. Default (4, 4).
    include_last : bool, optional
        For a model, also prune the last weight layer (the classifier). Default False:
        its columns are the classes.

    Returns
    -------
    list of dict
        The masks of each pruned layer, in order (host boolean arrays).

    Raises
    ------
    ValueError
        For an unknown method, a sparsity outside [0, 1) (or NaN), or a block with a
        size < 1 or not two entries.
    TypeError
        For a target that is not a model, Dense or Conv2D, a non-string method, a
        sparsity that is not a real number, a block that is not an integer or a pair of
        them, or a non-bool ``include_last``.

    References
    ----------
    S. Han, J. Pool, J. Tran, W. Dally, "Learning both weights and connections for
    efficient neural networks", NeurIPS 2015. W. Wen et al., "Learning structured sparsity
    in deep neural networks", NeurIPS 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import Dense, prune
    >>> layer = Dense(8, 4, rng=0)
    >>> masks = prune(layer, "row", sparsity=0.5)
    >>> int((np.abs(layer.W).sum(axis=1) == 0).sum())
    4
    """
    layers = _weight_layers(target, "prune")
    s, blk = _check_args(method, sparsity, block, "prune")
    include_last = _checks.flag("prune", "include_last", include_last)
    if not isinstance(target, (Dense, Conv2D)) and not include_last:
        layers = layers[:-1]
    out = []
    for layer in layers:
        masks = _layer_masks(layer, method, s, blk)
        _set_masks(layer, masks)
        out.append(layer.masks)
    return out


def weight_sparsity(target: Sequential | Dense | Conv2D) -> float:
    """Return the fraction of exactly-zero entries in the weights of the Dense/Conv2D layers.

    Parameters
    ----------
    target : Sequential, Dense or Conv2D
        A model or one layer; only the weights ``W`` count (not the biases).

    Returns
    -------
    float
        In [0, 1]; 0.0 when there are no weights.

    Raises
    ------
    TypeError
        For a target that is not a model, Dense or Conv2D.
    """
    ws = [_host(layer.W) for layer in _weight_layers(target, "weight_sparsity")]
    total = sum(w.size for w in ws)
    return sum(int((w == 0).sum()) for w in ws) / total if total else 0.0


def compact(model: Sequential) -> Sequential:
    r"""Return a copy of ``model`` with pruned hidden units and channels physically removed.

    Consecutive weight layers :math:`a \to b` are compacted when the layers between them
    act on each unit/channel separately:

    * Dense -> elementwise activations (ReLU, Tanh, Sigmoid) -> Dense: hidden units;
    * Conv2D -> activations, MaxPool2D, AvgPool2D -> Conv2D: channels;
    * Conv2D -> activations, pooling -> Flatten -> activations -> Dense: channels, each
      feeding the ``H W`` consecutive rows ``k H W .. (k+1) H W - 1`` of the Dense
      weight (NCHW order; ``H W = in_features / K`` is the pooled size).

    An output :math:`k` of :math:`a` (Dense column :math:`W_a[:, k]`, or Conv2D filter
    :math:`W_a[k]`) is removed when

    * the inputs of :math:`b` it feeds are all zero (Dense rows :math:`W_b[k, :]`, the
      channel's ``H W`` rows after a Flatten, or the input channel :math:`W_b[:, k]` of a
      Conv2D): its value is unused; or
    * its weights are all zero: its value is then the constant
      :math:`c_k = \text{act}(b_a[k])` (the same at every position, padding included,
      and pooling keeps it), which is

      - dropped when it is exactly 0: ReLU of :math:`b_a[k] \le 0`, or column pruning
        (which prunes the bias too) with ReLU or Tanh, as :math:`\text{act}(0) = 0`;
      - otherwise folded into the next bias: :math:`b_b \mathrel{+}= c_k W_b[k, :]` for a
        Dense (summed over the channel's ``H W`` rows after a Flatten), and
        :math:`b_b \mathrel{+}= c_k \sum_{r,s} W_b[:, k, r, s]` for a Conv2D that adds no
        zero padding. A Conv2D with zero padding sees the constant inside the image but
        zeros at its borders, which no bias shift reproduces: such a channel is kept.

    Shapes: Dense ``W (in, out) -> (in', out')``, ``b (out,) -> (out',)``; Conv2D
    ``W (K, C, R, S) -> (K', C', R, S)``, ``b (K,) -> (K',)``, with the primes counting what
    is kept.

    Removed are :math:`a`'s column or filter, its bias entry and mask slices, and the
    matching inputs (rows, input channel) of :math:`b` and of its ``'W'`` mask;
    ``out_features``/``out_channels`` and ``in_features``/``in_channels`` are updated, so
    ``config()``, ``repr`` and :meth:`Sequential.save`/``load`` describe the smaller
    model. Row and column pruning (see :func:`prune`) thus turn into smaller dense GEMMs
    and convolutions. The outputs agree with the model's up to the summation order of the
    smaller GEMMs (and the rounding of a folded bias). The inputs of the first weight layer
    and the outputs of the last are kept; where every output of a layer could go, one is
    kept (with zero weight into the next layer) so that the layers stay valid.

    Parameters
    ----------
    model : Sequential
        A model pruned by :func:`prune` (not modified).

    Returns
    -------
    Sequential
        A new model on the CPU (parameters copied; masks sliced alongside); ``model`` is
        not changed.

    Raises
    ------
    TypeError
        If ``model`` is not a :class:`Sequential`.

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import Dense, ReLU, Sequential, compact, prune
    >>> model = Sequential([Dense(6, 10, rng=0), ReLU(), Dense(10, 3, rng=1)])
    >>> _ = prune(model, "column", sparsity=0.5)
    >>> compact(model).layers[0].W.shape
    (6, 5)
    >>> from blasfast.nn import Conv2D, Flatten, MaxPool2D
    >>> cnn = Sequential([Conv2D(1, 8, 3, padding=1, rng=0), ReLU(), MaxPool2D(2),
    ...                   Conv2D(8, 6, 3, padding=1, rng=1), ReLU(), Flatten(),
    ...                   Dense(6 * 4 * 4, 3, rng=2)])
    >>> _ = prune(cnn, "column", sparsity=0.5)   # half the filters of both convolutions
    >>> [layer.W.shape for layer in compact(cnn).layers if hasattr(layer, "W")]
    [(4, 1, 3, 3), (3, 4, 3, 3), (48, 3)]
    """
    if not isinstance(model, Sequential):
        raise TypeError(f"compact: model must be a Sequential, got {_args.describe(model)}")
    new = Sequential.__new__(Sequential)
    Sequential.__init__(new, [type(layer)(**layer.config()) for layer in model.layers])
    for src, dst in zip(model.layers, new.layers):
        for name in src.param_names:
            setattr(dst, name, _host(getattr(src, name)).copy())
        if getattr(src, "masks", None):
            dst.masks = {k: _host(v).copy() for k, v in src.masks.items()}
    compact_layers(new.layers)
    return new


class MultiSparsity:
    """Shared-weight models at several sparsities derived from one trained model.

    The units of every layer are ranked once by the score of ``method`` (see
    :func:`prune`) on the trained weights, so the mask at a higher sparsity is contained in
    the mask at a lower one: the models share their remaining weights, and switching from
    one sparsity to another rewrites only the weights in the difference of the two masks
    (pruned ones set to zero, restored ones copied back from the dense weights).

    Parameters
    ----------
    model : Sequential
        Trained; its current weights become the shared dense weights.
    method : {'irregular', 'row', 'column', 'block'}
        As :func:`prune`.
    sparsities : sequence of float in [0, 1)
        E.g. (0.3, 0.6, 0.9) for low / medium / high.
    block : (int, int), optional
        As :func:`prune`.
    include_last : bool, optional
        As :func:`prune`.

    Attributes
    ----------
    current : float or None
        The sparsity the model holds now (None: dense).

    Raises
    ------
    TypeError
        As :func:`prune`, or for ``sparsities`` that is not a sequence.
    ValueError
        As :func:`prune`, or for an empty list of sparsities.

    Examples
    --------
    >>> from blasfast.nn import Dense, MultiSparsity, ReLU, Sequential
    >>> model = Sequential([Dense(8, 16, rng=0), ReLU(), Dense(16, 4, rng=1)])
    >>> ms = MultiSparsity(model, "irregular", (0.25, 0.5, 0.75))
    >>> ms.switch(0.5), ms.switch(0.75)
    (0.5, 0.25)
    """

    def __init__(self, model: Sequential, method: Method,
                 sparsities: Sequence[Real] | npt.NDArray[np.floating],
                 block: IntPair = (4, 4), *, include_last: bool = False) -> None:
        layers = _weight_layers(model, "MultiSparsity")
        if not isinstance(sparsities, (tuple, list, np.ndarray)):
            raise TypeError(f"MultiSparsity: sparsities must be a sequence of numbers in "
                            f"[0, 1), got {_args.describe(sparsities)}")
        if len(sparsities) == 0:
            raise ValueError("MultiSparsity: sparsities must hold at least one sparsity, "
                             "got none")
        include_last = _checks.flag("MultiSparsity", "include_last", include_last)
        checked = [_check_args(method, s, block, "MultiSparsity", f"sparsities[{i}]")
                   for i, s in enumerate(sparsities)]
        sparsities = sorted(s for s, _ in checked)
        blk = checked[0][1]
        self.model, self.method, self.sparsities = model, method, sparsities
        self.layers = layers if include_last else layers[:-1]
        self._dense = [{n: _host(getattr(layer, n)).copy() for n in layer.param_names}
                       for layer in self.layers]
        self._masks = {s: [_layer_masks(layer, method, s, blk) for layer in self.layers]
                       for s in sparsities}
        self.current = None
        self.n_weights = sum(d["W"].size for d in self._dense)

    def _full(self, s):
        """Masks at sparsity ``s`` (all-true for None), per layer and parameter."""
        if s is None:
            return [{n: np.ones(d[n].shape, bool) for n in d} for d in self._dense]
        return [{n: m.get(n, np.ones(d[n].shape, bool)) for n in d}
                for m, d in zip(self._masks[s], self._dense)]

    def rewrite_fraction(self, a: float | None, b: float | None) -> float:
        """Return the fraction of the weights ``W`` rewritten by a switch from ``a`` to ``b``.

        Parameters
        ----------
        a, b : float or None
            Two of ``sparsities`` (None: the dense model).

        Returns
        -------
        float
            The fraction of weights that differ between the two models.
        """
        ma, mb = self._full(a), self._full(b)
        return sum(int((x["W"] != y["W"]).sum()) for x, y in zip(ma, mb)) / self.n_weights

    def switch(self, sparsity: Real | None) -> float:
        """Turn the model into the one at ``sparsity``, writing only the entries that change.

        Also sets the layers' masks, so that fine-tuning keeps the pattern.

        Parameters
        ----------
        sparsity : float or None
            One of ``sparsities``, or None for the dense model.

        Returns
        -------
        float
            The fraction of weights rewritten (as :meth:`rewrite_fraction`).

        Raises
        ------
        ValueError
            For a sparsity not in ``sparsities``.
        """
        if sparsity is not None:
            sparsity = float(sparsity)
            if sparsity not in self._masks:
                raise ValueError(f"MultiSparsity.switch: sparsity {sparsity} is not one of "
                                 f"{self.sparsities}")
        old, new = self._full(self.current), self._full(sparsity)
        for layer, dense, mo, mn in zip(self.layers, self._dense, old, new):
            for n in layer.param_names:
                p = getattr(layer, n)
                changed = mo[n] != mn[n]
                if changed.any():
                    vals = np.where(mn[n], dense[n], 0).astype(p.dtype)
                    idx = np.nonzero(changed)
                    p[tuple(_like(i, p) for i in idx)] = _like(vals[idx], p)
            layer.masks = None if sparsity is None else {k: v.copy() for k, v in mn.items()}
        frac = self.rewrite_fraction(self.current, sparsity)
        self.current = sparsity
        return frac
