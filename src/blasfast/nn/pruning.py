"""Pruning: hard-prune masks (irregular, row, column, block), compaction of pruned
rows/columns into smaller dense layers, and shared-weight multi-sparsity models."""

import numpy as np

from .._backend import _cupy
from .conv_layers import Conv2D
from .layers import Dense, ReLU, Sigmoid, Tanh

__all__ = ["prune", "compact", "weight_sparsity", "MultiSparsity"]

METHODS = ("irregular", "row", "column", "block")
_ELEMENTWISE = (ReLU, Tanh, Sigmoid)


def _host(a):
    cp = _cupy()
    return a.get() if cp is not None and isinstance(a, cp.ndarray) else np.asarray(a)


def _like(a, ref):
    """Host array ``a`` moved to the side of ``ref``."""
    cp = _cupy()
    return cp.asarray(a) if cp is not None and isinstance(ref, cp.ndarray) else a


def _check_args(method, sparsity, block, owner):
    if method not in METHODS:
        raise ValueError(f"{owner}: unknown method {method!r}; expected one of {METHODS}")
    try:
        s = float(sparsity)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: sparsity must be a number in [0, 1), got "
                         f"{sparsity!r}") from None
    if not 0 <= s < 1:
        raise ValueError(f"{owner}: sparsity must lie in [0, 1), got {sparsity!r}")
    blk = tuple(block) if isinstance(block, (tuple, list)) else (block, block)
    if len(blk) != 2 or not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool)
                                and b >= 1 for b in blk):
        raise ValueError(f"{owner}: block must be a pair of positive ints, got {block!r}")
    return s, (int(blk[0]), int(blk[1]))


def _matrix(layer):
    """The weight as an (inputs, outputs) host matrix: Dense W, or Conv2D W as
    (C*R*S, K)."""
    w = _host(layer.W)
    return w if isinstance(layer, Dense) else w.reshape(w.shape[0], -1).T


def _from_matrix(layer, m):
    return m if isinstance(layer, Dense) else m.T.reshape(layer.W.shape)


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
    m = _matrix(layer)
    scores, expand = _scores(m, method, block)
    keep = _keep(scores, sparsity)
    wmask = expand(keep)
    masks = {"W": _from_matrix(layer, wmask)}
    if method == "column":  # a pruned output unit loses its bias too (so compact is exact)
        masks["b"] = keep.copy()
    return masks


def _weight_layers(target, owner):
    if isinstance(target, (Dense, Conv2D)):
        return [target]
    layers = getattr(target, "layers", None)
    if layers is None:
        raise TypeError(f"{owner}: expected a Sequential, Dense or Conv2D, got "
                        f"{type(target).__name__}")
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


def prune(target, method="irregular", sparsity=0.5, block=(4, 4), *, include_last=False):
    r"""Hard-prune the weights of a model or a layer: zero them and keep them zero.

    The mask is chosen per layer from its weight :math:`W` (Dense: ``(in, out)``; Conv2D:
    ``(K, C, R, S)`` viewed as the ``(C R S, K)`` matrix):

    * ``'irregular'``: the ``floor(sparsity * W.size)`` entries of smallest :math:`|w|`;
    * ``'row'``: the rows (inputs) of smallest L2 norm;
    * ``'column'``: the columns (output units / filters) of smallest L2 norm, with their
      bias entries;
    * ``'block'``: the ``block`` tiles (rows x columns; edge tiles are partial) of
      smallest L2 norm.

    The masks are stored as ``layer.masks = {"W": bool array, ...}``; the pruned weights
    are set to zero now, and :meth:`Sequential.fit` multiplies the gradients (before) and
    the weights (after) every update by the masks, so they stay zero through fine-tuning.
    Pruning again intersects the new masks with the old ones.

    Parameters
    ----------
    target : Sequential, Dense or Conv2D
    method : {'irregular', 'row', 'column', 'block'}
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
        For an unknown method, a sparsity outside [0, 1), or a bad block shape.
    TypeError
        For a target that is not a model, Dense or Conv2D.

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
    s, blk = _check_args(method, sparsity, block, "prune")
    layers = _weight_layers(target, "prune")
    if not isinstance(target, (Dense, Conv2D)) and not include_last:
        layers = layers[:-1]
    out = []
    for layer in layers:
        masks = _layer_masks(layer, method, s, blk)
        _set_masks(layer, masks)
        out.append(layer.masks)
    return out


def weight_sparsity(target):
    """Fraction of exactly-zero entries among the weights ``W`` of the Dense/Conv2D layers.

    Parameters
    ----------
    target : Sequential, Dense or Conv2D

    Returns
    -------
    float in [0, 1]
    """
    ws = [_host(layer.W) for layer in _weight_layers(target, "weight_sparsity")]
    total = sum(w.size for w in ws)
    return sum(int((w == 0).sum()) for w in ws) / total if total else 0.0


def compact(model):
    r"""Return a copy of ``model`` with pruned hidden units physically removed.

    For every pair of :class:`Dense` layers separated only by elementwise activations
    (ReLU, Tanh, Sigmoid), a hidden unit :math:`j` is removed when

    * its row :math:`W_{i+1}[j, :]` in the next layer is all zero (its value is unused), or
    * its column :math:`W_i[:, j]` is all zero: its value is then the constant
      :math:`c_j = \text{act}(b_i[j])`, folded into the next bias,
      :math:`b_{i+1} \mathrel{+}= c_j W_{i+1}[j, :]` (nothing to fold after column pruning
      with ReLU/Tanh, where :math:`b_i[j] = 0` and :math:`\text{act}(0) = 0`).

    The unit's column of :math:`W_i`, entry of :math:`b_i` and row of :math:`W_{i+1}` go,
    so row and column pruning turn into smaller dense GEMMs. The outputs are the same up
    to the summation order of the smaller GEMMs (and the rounding of a folded bias).
    The inputs of the first layer and the outputs of the last are kept.

    Parameters
    ----------
    model : Sequential

    Returns
    -------
    Sequential
        A new model on the CPU (parameters copied; masks sliced alongside).

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import Dense, ReLU, Sequential, compact, prune
    >>> model = Sequential([Dense(6, 10, rng=0), ReLU(), Dense(10, 3, rng=1)])
    >>> _ = prune(model, "column", sparsity=0.5)
    >>> compact(model).layers[0].W.shape
    (6, 5)
    """
    from .model import Sequential

    new = Sequential.__new__(Sequential)
    Sequential.__init__(new, [type(layer)(**layer.config()) for layer in model.layers])
    for src, dst in zip(model.layers, new.layers):
        for name in src.param_names:
            setattr(dst, name, _host(getattr(src, name)).copy())
        if getattr(src, "masks", None):
            dst.masks = {k: _host(v).copy() for k, v in src.masks.items()}
    layers = new.layers
    dense_idx = [i for i, layer in enumerate(layers) if isinstance(layer, Dense)]
    for i, k in zip(dense_idx[:-1], dense_idx[1:]):
        between = layers[i + 1:k]
        if not all(isinstance(layer, _ELEMENTWISE) for layer in between):
            continue
        a, b = layers[i], layers[k]
        dead_in = ~np.any(a.W != 0, axis=0)
        unused = ~np.any(b.W != 0, axis=1)
        fold = dead_in & ~unused
        if fold.any():
            c = a.b[fold]
            for act in between:
                c = act.forward(c, training=False)
            if np.any(c != 0):
                b.b = b.b + (c.astype(b.W.dtype) @ b.W[fold]).astype(b.b.dtype)
        keep = ~(dead_in | unused)
        if keep.all():
            continue
        if not keep.any():
            keep[0] = True  # keep one unit so the layers stay valid
        a.W, a.b, b.W = a.W[:, keep].copy(), a.b[keep].copy(), b.W[keep].copy()
        a.out_features = b.in_features = int(keep.sum())
        if getattr(a, "masks", None):
            a.masks = {n: (m[:, keep] if n == "W" else m[keep]) for n, m in a.masks.items()}
        if getattr(b, "masks", None) and "W" in b.masks:
            b.masks = dict(b.masks, W=b.masks["W"][keep])
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
    sparsities : sequence of float in [0, 1)
        E.g. (0.3, 0.6, 0.9) for low / medium / high.
    block : (int, int), optional
    include_last : bool, optional
        As :func:`prune`.

    Attributes
    ----------
    current : float or None
        The sparsity the model holds now (None: dense).

    Raises
    ------
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

    def __init__(self, model, method, sparsities, block=(4, 4), *, include_last=False):
        sparsities = sorted(float(s) for s in sparsities)
        if not sparsities:
            raise ValueError("MultiSparsity: give at least one sparsity")
        blk = None
        for s in sparsities:
            _, blk = _check_args(method, s, block, "MultiSparsity")
        self.model, self.method, self.sparsities = model, method, sparsities
        layers = _weight_layers(model, "MultiSparsity")
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

    def rewrite_fraction(self, a, b):
        """Fraction of the weights ``W`` that differ between the models at sparsities
        ``a`` and ``b`` (None = dense), i.e. are rewritten by a switch between them."""
        ma, mb = self._full(a), self._full(b)
        return sum(int((x["W"] != y["W"]).sum()) for x, y in zip(ma, mb)) / self.n_weights

    def switch(self, sparsity):
        """Turn the model into the one at ``sparsity`` (one of ``sparsities``, or None for
        the dense model), writing only the entries that change; set the layers' masks (so
        that fine-tuning keeps the pattern) and return the fraction of weights rewritten.

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
