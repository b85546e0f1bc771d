"""Convolution geometry: argument normalization and output sizes (shapes only, no arrays).

Every convolution op (forward, dgrad, wgrad) of :mod:`blasfast.conv` turns its ``stride``,
``padding`` and ``dilation`` into one :class:`ConvGeom` here; the algorithms
(:mod:`blasfast.conv._winograd`, :mod:`blasfast.conv._im2col`) read sizes from it only.

Padding is kept as four signed integers ``(top, bottom, left, right)``: the public API only
produces non-negative ones, but the Winograd dgrad pads ``dy`` by ``R - 1 - pad``, which is
negative (a crop) when the forward padding exceeds the filter extent.
"""

import dataclasses

from .. import _checks
from .._errors import message
from .._typing import Padding as Padding  # noqa: F401  (its modes are PADDING_MODES)

PADDING_MODES = ("same", "valid")

# The annotations of the public arguments (``stride``, ``dilation``, ``padding``, the shapes)
# are blasfast._typing's IntPair, Padding and Shape: what the checks below accept. Padding
# is named here too, next to PADDING_MODES, its Literal's choices.


@dataclasses.dataclass(frozen=True)
class ConvGeom:
    """Sizes of one 2-D cross-correlation ``y = x * w`` (NCHW input, KCRS filters).

    ``P = (H + pt + pb - dh (R - 1) - 1) // sh + 1`` output rows, ``Q`` likewise.
    """

    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    stride: tuple     # (sh, sw)
    dilation: tuple   # (dh, dw)
    pads: tuple       # (top, bottom, left, right)

    @property
    def P(self):
        return out_size(self.H, self.pads[0] + self.pads[1], self.R, self.stride[0],
                        self.dilation[0])

    @property
    def Q(self):
        return out_size(self.W, self.pads[2] + self.pads[3], self.S, self.stride[1],
                        self.dilation[1])

    @property
    def x_shape(self):
        return (self.N, self.C, self.H, self.W)

    @property
    def w_shape(self):
        return (self.K, self.C, self.R, self.S)

    @property
    def y_shape(self):
        return (self.N, self.K, self.P, self.Q)

    @property
    def flops(self):
        """``2 N K C R S P Q``: the direct-convolution count (what TFLOP/s figures use)."""
        return 2 * self.N * self.K * self.C * self.R * self.S * self.P * self.Q

    @property
    def winograd_ok(self):
        """True when F(2x2, 3x3) applies: 3x3 filters, stride 1, dilation 1."""
        return (self.R, self.S) == (3, 3) and self.stride == (1, 1) \
            and self.dilation == (1, 1)


def out_size(n, pad_total, r, stride, dilation):
    """Output length of a 1-D correlation: ``(n + pad - dilation (r - 1) - 1) // stride + 1``."""
    return (n + pad_total - dilation * (r - 1) - 1) // stride + 1


def _int_pair(op, name, v, minimum):
    """An integer or a pair of integers (:func:`blasfast._checks.integer` each), each
    >= ``minimum``, as a 2-tuple; a pair of another length is a ``ValueError``."""
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(message(op, f"{name} must be an integer or a pair of integers, "
                                         f"got {len(v)} entries: {tuple(v)!r}"))
        return tuple(_checks.integer(op, f"{name}[{i}]", e, minimum=minimum)
                     for i, e in enumerate(v))
    try:
        value = _checks.integer(op, name, v)
    except TypeError:
        raise TypeError(message(op, f"{name} must be an integer or a pair of integers, got "
                                    f"{_checks.describe(v)}")) from None
    return (_checks.integer(op, name, value, minimum=minimum),) * 2


def normalize_padding(op, padding, h, w, r, s, stride, dilation):
    """``(top, bottom, left, right)`` from an int, a pair, a pair of pairs, 'same' or 'valid'.

    'same' gives ``ceil(H / sh)`` output rows (the TensorFlow/XLA rule; with stride 1 that is
    H): a total padding of ``max((ceil(H/sh) - 1) sh + dh (R - 1) + 1 - H, 0)`` split as
    ``total // 2`` on top and the rest at the bottom (as PyTorch and TensorFlow), likewise
    for the columns.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            pads = []
            for n, k, st, d in ((h, r, stride[0], dilation[0]), (w, s, stride[1], dilation[1])):
                out = -(-n // st)
                total = max((out - 1) * st + d * (k - 1) + 1 - n, 0)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        raise ValueError(message(op, f"padding must be an integer, a pair, a pair of pairs, "
                                     f"'same' or 'valid', got {padding!r}"))
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(
            isinstance(e, (tuple, list)) for e in padding):
        (pt, pb), (pl, pr) = (_int_pair(op, f"padding[{i}]", e, 0)
                              for i, e in enumerate(padding))
        return (pt, pb, pl, pr)
    if not isinstance(padding, (tuple, list)):
        try:
            _checks.integer(op, "padding", padding)
        except TypeError:
            raise TypeError(message(
                op, f"padding must be an integer, a pair (ph, pw), a pair of pairs "
                    f"((top, bottom), (left, right)), 'same' or 'valid', got "
                    f"{_checks.describe(padding)}")) from None
    ph, pw = _int_pair(op, "padding", padding, 0)
    return (ph, ph, pw, pw)


def _shape4(op, name, shape, layout):
    """An array's shape, or a shape argument: a tuple or list of 4 non-negative integers
    (:func:`blasfast._checks.shape`)."""
    shape = _checks.shape(op, name, shape)
    if len(shape) != 4:
        what = f"{len(shape)} entries: {shape}" if "shape" in name else f"shape {shape}"
        raise ValueError(message(op, f"{name} must be a 4-D {layout} "
                                     f"{'shape' if 'shape' in name else 'array'} "
                                     f"({', '.join(layout)}), got {what}"))
    return shape


def make_geom(op, x_shape, w_shape, stride, padding, dilation, x_name="x", w_name="w"):
    """Validate the shapes and arguments of a convolution and return its :class:`ConvGeom`.

    Raises
    ------
    ValueError
        A rank other than 4, a channel mismatch (with a hint when ``x`` looks NHWC), an
        empty batch or any zero-sized dimension, a stride/dilation below 1, a negative
        padding, or an empty output (the dilated filter is larger than the padded input).
    TypeError
        Non-integer stride, dilation or padding.
    """
    n, c, h, w = _shape4(op, x_name, x_shape, "NCHW")
    k, cw, r, s = _shape4(op, w_name, w_shape, "KCRS")
    if c != cw:
        hint = ""
        if w_shape[1] == x_shape[3]:
            hint = ("; x looks channels-last (NHWC): conv2d takes NCHW, e.g. "
                    "x.transpose(0, 3, 1, 2)")
        raise ValueError(message(
            op, f"{x_name} has C = {c} channels (axis 1 of NCHW {tuple(x_shape)}) but "
                f"{w_name} expects {cw} (axis 1 of KCRS {tuple(w_shape)}){hint}"))
    if n == 0:
        raise ValueError(message(op, f"{x_name} has an empty batch (N = 0, shape "
                                     f"{tuple(x_shape)}); convolution needs N >= 1"))
    for name, v in (("C", c), ("H", h), ("W", w), ("K", k), ("R", r), ("S", s)):
        if v == 0:
            raise ValueError(message(op, f"{name} = 0: every dimension of {x_name} "
                                         f"{tuple(x_shape)} and {w_name} {tuple(w_shape)} "
                                         "must be >= 1"))
    stride = _int_pair(op, "stride", stride, 1)
    dilation = _int_pair(op, "dilation", dilation, 1)
    pads = normalize_padding(op, padding, h, w, r, s, stride, dilation)
    geom = ConvGeom(n, c, h, w, k, r, s, stride, dilation, pads)
    if geom.P < 1 or geom.Q < 1:
        raise ValueError(message(
            op, f"the output would be empty: the input {h}x{w} ({x_name}) padded by {pads} "
                f"(top, bottom, left, right) is smaller than the {r}x{s} filter ({w_name}) "
                f"dilated by {dilation}"))
    for name, v in (("N*C*H*W", n * c * h * w), ("N*K*P*Q", n * k * geom.P * geom.Q)):
        if v >= 2**62:
            raise ValueError(message(op, f"{name} = {v} is too large"))
    return geom
