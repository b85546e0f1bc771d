"""The work of :func:`blasfast.nn.compact`: removing dead hidden units and channels between
consecutive weight layers of a (host) model.

A *link* is a pair of consecutive weight layers ``a -> ... -> b`` with only layers in
between that map each unit/channel of ``a``'s output on its own:

* ``'dense'``: Dense -> elementwise activations -> Dense;
* ``'conv'``: Conv2D -> elementwise activations / MaxPool2D / AvgPool2D -> Conv2D;
* ``'flatten'``: Conv2D -> activations / pooling -> Flatten -> activations -> Dense.

Everything here works in place on the host (NumPy) copies that :func:`compact` made.
"""

import numpy as np

from ..conv._geom import normalize_padding
from .conv_layers import AvgPool2D, Conv2D, Flatten, MaxPool2D
from .layers import Dense, ReLU, Sigmoid, Tanh

ELEMENTWISE = (ReLU, Tanh, Sigmoid)
POOLS = (MaxPool2D, AvgPool2D)


def link_kind(a, between, b):
    """``'dense'``, ``'conv'``, ``'flatten'`` or None (a link compact leaves alone)."""
    if isinstance(a, Dense):
        ok = isinstance(b, Dense) and all(isinstance(x, ELEMENTWISE) for x in between)
        return "dense" if ok else None
    if not isinstance(a, Conv2D):
        return None
    if isinstance(b, Conv2D):
        return "conv" if all(isinstance(x, ELEMENTWISE + POOLS) for x in between) else None
    flat = [i for i, x in enumerate(between) if isinstance(x, Flatten)]
    if not isinstance(b, Dense) or len(flat) != 1 or b.in_features % a.out_channels:
        return None
    f = flat[0]
    if all(isinstance(x, ELEMENTWISE + POOLS) for x in between[:f]) and all(
            isinstance(x, ELEMENTWISE) for x in between[f + 1:]):
        return "flatten"
    return None


def _never_pads(conv):
    """True when ``conv`` adds no zero padding whatever the input size."""
    p = conv.padding
    if isinstance(p, str):
        return p == "valid" or (p == "same" and tuple(conv.kernel_size) == (1, 1))
    try:
        return normalize_padding("compact", p, 1, 1, *conv.kernel_size, (1, 1),
                                 (1, 1)) == (0, 0, 0, 0)
    except (TypeError, ValueError):
        return False


def _through(c, between):
    """The constants ``c`` (one per unit/channel) after the layers ``between``, computed by
    those layers themselves so that the rounding is theirs (a pooling layer gets one full
    window of the constant; Flatten does not change a per-channel constant)."""
    v = c.reshape(1, -1)
    for layer in between:
        if isinstance(layer, Flatten):
            continue
        if isinstance(layer, POOLS):
            kh, kw = layer.kernel_size
            win = np.ascontiguousarray(np.broadcast_to(v[:, :, None, None],
                                                       v.shape + (kh, kw)))
            v = layer.forward(win, training=False)[:, :, 0, 0]
        else:
            v = layer.forward(v, training=False)
    return np.asarray(v).reshape(-1)


def _dead(a):
    """Output units/channels of ``a`` whose weights are all zero (output = bias)."""
    if isinstance(a, Dense):
        return ~np.any(a.W != 0, axis=0)
    return ~np.any(a.W.reshape(a.W.shape[0], -1) != 0, axis=1)


def _rows(kind, a, b):
    """Function from a vector over ``a``'s outputs to one over ``b``'s inputs (rows of
    Dense W, or input channels of Conv2D W): after a Flatten, each channel's entry is
    repeated for its ``H W`` rows (NCHW order)."""
    if kind == "flatten":
        hw = b.in_features // a.out_channels
        return lambda sel: np.repeat(sel, hw)
    return lambda sel: sel


def _inputs(kind, b, sel):
    """The part of ``b``'s weight fed by the selected outputs of ``a``."""
    return b.W[:, sel] if kind == "conv" else b.W[sel]


def _unused(kind, a, b):
    """Outputs of ``a`` that ``b`` multiplies by zero everywhere."""
    if kind == "dense":
        return ~np.any(b.W != 0, axis=1)
    if kind == "conv":
        return ~np.any(b.W != 0, axis=(0, 2, 3))
    hw = b.in_features // a.out_channels
    return ~np.any(b.W.reshape(a.out_channels, hw, -1) != 0, axis=(1, 2))


def _fold(kind, a, between, b, dead, unused):
    """Fold the constant outputs of the dead units of ``a`` into ``b``'s bias where that is
    exact; return the boolean vector of the outputs that can go."""
    cand = dead & ~unused
    removable = dead | unused
    if not cand.any():
        return removable
    c = np.zeros(dead.size, dtype=a.b.dtype)
    c[cand] = _through(a.b[cand], between)
    fold = cand & (c != 0)   # exact zeros contribute nothing: simply dropped
    if not fold.any():
        return removable
    if kind == "conv" and not _never_pads(b):
        # with zero padding, a constant channel is not constant at the borders of b's
        # input: its effect is no bias shift, so the channel stays
        return removable & ~fold
    rows = _rows(kind, a, b)
    sel = rows(fold)
    cf = rows(c)[sel].astype(np.float64)   # per input of b (per row after a Flatten)
    w = _inputs(kind, b, sel).astype(np.float64)
    shift = np.einsum("kcrs,c->k", w, cf) if kind == "conv" else cf @ w
    b.b = (b.b.astype(np.float64) + shift).astype(b.b.dtype)
    return removable


def _slice_masks(layer, fn):
    masks = getattr(layer, "masks", None)
    if masks:
        layer.masks = {n: np.ascontiguousarray(fn(n, m)) for n, m in masks.items()}


def compact_link(kind, a, between, b):
    """Remove the dead/unused outputs of ``a`` and the matching inputs of ``b`` (in place);
    return how many went."""
    dead, unused = _dead(a), _unused(kind, a, b)
    keep = ~_fold(kind, a, between, b, dead, unused)
    if keep.all():
        return 0
    rows = _rows(kind, a, b)
    if not keep.any():
        # keep one output so that the layers stay valid; its contribution is already in
        # b's bias (folded) or nothing (unused, or a zero constant), so cut its inputs of b
        keep[0] = True
        if kind == "conv":
            b.W[:, keep] = 0
        else:
            b.W[rows(keep)] = 0
    n = int(keep.sum())
    a.W = np.ascontiguousarray(a.W[:, keep] if kind == "dense" else a.W[keep])
    a.b = a.b[keep].copy()
    if kind == "dense":
        a.out_features = n
        _slice_masks(a, lambda name, m: m[:, keep] if name == "W" else m[keep])
    else:
        a.out_channels = n
        _slice_masks(a, lambda name, m: m[keep])
    sel = rows(keep)
    if kind == "conv":
        b.W, b.in_channels = np.ascontiguousarray(b.W[:, sel]), n
        _slice_masks(b, lambda name, m: m[:, sel] if name == "W" else m)
    else:
        b.W, b.in_features = np.ascontiguousarray(b.W[sel]), int(sel.sum())
        _slice_masks(b, lambda name, m: m[sel] if name == "W" else m)
    return int(keep.size - n)


def compact_layers(layers):
    """Compact every link of ``layers`` (a list of host layers), first to last."""
    idx = [i for i, layer in enumerate(layers) if isinstance(layer, (Dense, Conv2D))]
    for i, k in zip(idx[:-1], idx[1:]):
        a, between, b = layers[i], layers[i + 1:k], layers[k]
        kind = link_kind(a, between, b)
        if kind is not None:
            compact_link(kind, a, between, b)
