"""Mixed-precision training: 16-bit forward/backward, FP32 master weights, loss scaling."""

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import _checks
from .._backend import get_array_module
from .._typing import Array, ArrayLike, Int, Real
from . import _args
from .distributed import DataParallel
from .losses import Loss
from .optimizers import SupportsStep

if TYPE_CHECKING:  # a cycle at run time (model imports this module); blasfast.nn.model
    from .model import Sequential  # binds the name here once Sequential exists

__all__ = ["MixedPrecision", "Policy"]

#: The 16-bit types of mixed precision.
Policy = Literal["float16", "bfloat16"]


def _dtype(policy):
    if not isinstance(policy, str):
        raise TypeError(f"MixedPrecision: policy must be 'float16' or 'bfloat16', got "
                        f"{_args.describe(policy)}")
    if policy == "float16":
        return np.dtype(np.float16)
    if policy == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    raise ValueError(f"MixedPrecision: policy must be 'float16' or 'bfloat16', got {policy!r}")


_STATE_KEYS = ("policy", "loss_scale", "growth_factor", "backoff_factor", "growth_interval",
               "dynamic", "good_steps", "skipped_steps")


def _check_state(state, where):
    """``state`` validated as a :meth:`MixedPrecision.state_dict`, else a ValueError."""
    if not isinstance(state, dict):
        raise ValueError(f"{where}: state must be a dict, got {type(state).__name__}")
    missing = [k for k in _STATE_KEYS if k not in state]
    extra = sorted(set(state) - set(_STATE_KEYS))
    if missing or extra:
        raise ValueError(f"{where}: state has missing keys {missing} or unknown keys {extra}")

    def real(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def count(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    ok = {"policy": state["policy"] in ("float16", "bfloat16"),
          "loss_scale": real(state["loss_scale"]) and state["loss_scale"] > 0,
          "growth_factor": real(state["growth_factor"]) and state["growth_factor"] >= 1,
          "backoff_factor": real(state["backoff_factor"]) and 0 < state["backoff_factor"] < 1,
          "growth_interval": count(state["growth_interval"]) and state["growth_interval"] >= 1,
          "dynamic": isinstance(state["dynamic"], bool),
          "good_steps": count(state["good_steps"]),
          "skipped_steps": count(state["skipped_steps"])}
    bad = [f"{k}={state[k]!r}" for k in _STATE_KEYS if not ok[k]]
    if bad:
        raise ValueError(f"{where}: invalid state values {', '.join(bad)}")
    return state


class MixedPrecision:
    r"""Mixed-precision training with dynamic loss scaling (NVIDIA's recipe).

    Passed to :meth:`Sequential.fit` as ``mixed_precision=``. Every training step:

    1. :class:`Dense` and :class:`Conv2D` layers compute with 16-bit copies of their
       weights and inputs; the products accumulate in float32
       (:func:`blasfast.batched_gemm`, :func:`blasfast.conv.conv2d` with float16/bfloat16
       operands: tensor cores on the GPU, the same rounding emulated on the CPU) and the
       activations are stored in 16 bits.
    2. The loss is computed in float32 from the logits and its gradient multiplied by the
       loss scale :math:`S` before the 16-bit backward pass; weight gradients come out in
       16 bits (as tensor-core GEMMs with 16-bit output write them).
    3. The gradients are converted to float32 and unscaled, :math:`g \leftarrow g / S`.
       If any is Inf/NaN the step is skipped and :math:`S \leftarrow S \cdot
       \text{backoff}`; otherwise the optimizer updates the float32 master weights (the
       layers' own parameters), and after ``growth_interval`` finite steps in a row
       :math:`S \leftarrow S \cdot \text{growth}`.

    Parameters
    ----------
    policy : {'float16', 'bfloat16'}
        The 16-bit type of weights copies, activations and gradients.
    init_scale : float, optional
        Initial :math:`S`. Default :math:`2^{15}` for float16 and 1 for bfloat16 (whose
        exponent range is float32's, so it rarely needs scaling).
    growth_factor, backoff_factor : float, optional
        Default 2 and 0.5.
    growth_interval : int, optional
        Finite steps in a row before the scale grows. Default 1000.
    dynamic : bool, optional
        False keeps :math:`S` fixed (``init_scale=1, dynamic=False`` is no loss scaling);
        non-finite steps are still skipped. Default True.

    Attributes
    ----------
    loss_scale : float
        The current :math:`S`.
    skipped_steps, good_steps : int
        Steps skipped for non-finite gradients (in total), finite steps since the last
        change of scale.

    All of it round-trips through :meth:`state_dict` / :meth:`from_state_dict`, and
    through a checkpoint: :meth:`Sequential.save` writes the state of the last
    :meth:`Sequential.fit`'s ``mixed_precision`` and :meth:`Sequential.load` restores it
    as ``model.mixed_precision``.

    Raises
    ------
    TypeError
        For a non-string policy, a factor or scale that is not a real number, a
        ``growth_interval`` that is not an integer, or a non-bool ``dynamic``.
    ValueError
        For an unknown policy, or factors out of range or not finite.

    Notes
    -----
    Evaluation (:meth:`Sequential.evaluate`, :meth:`Sequential.predict`) runs in the
    master precision unless given ``mixed_precision=``, which runs the forward pass in
    16 bits as training does (the inference a tensor-core deployment gets). Updates
    smaller than :math:`2^{-11}` of a weight would vanish in a float16 weight, which is
    why the update is applied to float32 masters; gradients below
    the smallest float16 subnormal (:math:`2^{-24} \approx 6\cdot10^{-8}`) flush to zero
    without loss scaling. One device-to-host sync per step reads the finiteness check.
    On the GPU, bfloat16 activations need CuPy's bfloat16 support (not yet run).

    References
    ----------
    P. Micikevicius et al., "Mixed precision training", ICLR 2018.
    NVIDIA, "Train with mixed precision", user guide (loss scaling section).

    Examples
    --------
    >>> import numpy as np
    >>> from blasfast.nn import Dense, MixedPrecision, ReLU, SGD, Sequential
    >>> rng = np.random.default_rng(0)
    >>> model = Sequential([Dense(4, 8, rng=rng), ReLU(), Dense(8, 3, rng=rng)])
    >>> x, y = rng.random((30, 4), dtype=np.float32), rng.integers(0, 3, 30)
    >>> mp = MixedPrecision("float16")
    >>> h = model.fit(x, y, epochs=1, batch_size=10, optimizer=SGD(0.1), progress=False,
    ...               mixed_precision=mp)
    >>> model.params[0].dtype, mp.loss_scale
    (dtype('float32'), 32768.0)
    """

    def __init__(self, policy: Policy = "float16", *, init_scale: Real | None = None,
                 growth_factor: Real = 2.0, backoff_factor: Real = 0.5,
                 growth_interval: Int = 1000, dynamic: bool = True) -> None:
        self.compute_dtype = _dtype(policy)
        self.policy = policy
        op = "MixedPrecision"
        if init_scale is None:
            init_scale = 2.0 ** 15 if policy == "float16" else 1.0
        self.loss_scale = _args.real(op, "init_scale", init_scale, lo=0, lo_open=True)
        self.growth_factor = _args.real(op, "growth_factor", growth_factor, lo=1)
        self.backoff_factor = _args.real(op, "backoff_factor", backoff_factor, lo=0, hi=1,
                                         lo_open=True, hi_open=True)
        self.growth_interval = _checks.integer(op, "growth_interval", growth_interval,
                                               minimum=1)
        self.dynamic = _checks.flag(op, "dynamic", dynamic)
        self.skipped_steps = self.good_steps = 0

    def __repr__(self):
        return (f"MixedPrecision({self.policy!r}, loss_scale={self.loss_scale}, "
                f"dynamic={self.dynamic})")

    def state_dict(self) -> dict[str, Any]:
        """Return the JSON-able configuration and dynamic state.

        :meth:`Sequential.save` writes it (``mixed_precision=``) so that training resumed
        from a checkpoint continues with the same loss scale instead of restarting at the
        initial one. Floats round-trip exactly through JSON.

        Returns
        -------
        dict
            ``policy``, ``loss_scale``, ``growth_factor``, ``backoff_factor``,
            ``growth_interval``, ``dynamic``, ``good_steps``, ``skipped_steps``.

        Examples
        --------
        >>> from blasfast.nn import MixedPrecision
        >>> mp = MixedPrecision("float16", growth_interval=3)
        >>> mp.loss_scale, mp.good_steps = 1024.0, 2
        >>> MixedPrecision.from_state_dict(mp.state_dict()).state_dict() == mp.state_dict()
        True
        """
        return {"policy": self.policy, "loss_scale": self.loss_scale,
                "growth_factor": self.growth_factor, "backoff_factor": self.backoff_factor,
                "growth_interval": self.growth_interval, "dynamic": self.dynamic,
                "good_steps": self.good_steps, "skipped_steps": self.skipped_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, into this object.

        Parameters
        ----------
        state : dict
            As returned by :meth:`state_dict`, for the same policy.

        Raises
        ------
        ValueError
            If ``state`` is not such a dict (missing or unknown keys, values of the wrong
            type or out of range) or is for another policy than ``self.policy``.
        """
        state = _check_state(state, "MixedPrecision.load_state_dict")
        if state["policy"] != self.policy:
            raise ValueError(f"MixedPrecision.load_state_dict: state is for policy "
                             f"{state['policy']!r}, this object is {self.policy!r}")
        self.loss_scale = float(state["loss_scale"])
        self.growth_factor = float(state["growth_factor"])
        self.backoff_factor = float(state["backoff_factor"])
        self.growth_interval, self.dynamic = state["growth_interval"], state["dynamic"]
        self.good_steps, self.skipped_steps = state["good_steps"], state["skipped_steps"]

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> "MixedPrecision":
        """Return a new :class:`MixedPrecision` with the policy and state of ``state``.

        Parameters
        ----------
        state : dict
            As returned by :meth:`state_dict`.

        Returns
        -------
        MixedPrecision
            The new object.

        Raises
        ------
        ValueError
            As :meth:`load_state_dict`.
        """
        state = _check_state(state, "MixedPrecision.from_state_dict")
        mp = cls(state["policy"], init_scale=state["loss_scale"],
                 growth_factor=state["growth_factor"], backoff_factor=state["backoff_factor"],
                 growth_interval=state["growth_interval"], dynamic=state["dynamic"])
        mp.good_steps, mp.skipped_steps = state["good_steps"], state["skipped_steps"]
        return mp

    @contextlib.contextmanager
    def autocast(self, model: "Sequential") -> Iterator["Sequential"]:
        """Make ``model``'s layers compute in the policy's 16-bit type within a ``with`` block.

        Within the block, ``model``'s Dense and Conv2D layers compute in the policy's
        16-bit type (16-bit copies of weights and inputs, float32 accumulation, 16-bit
        outputs), as in training; the layers compute in their own dtype again on exit,
        also after an exception. :meth:`Sequential.predict` and
        :meth:`Sequential.evaluate` use it for ``mixed_precision=``.

        Parameters
        ----------
        model : Sequential
            The model whose layers switch.

        Yields
        ------
        Sequential
            ``model`` itself (the value of ``with ... as``).
        """
        for layer in model.layers:
            layer._compute_dtype = self.compute_dtype
        try:
            yield model
        finally:
            for layer in model.layers:
                layer._compute_dtype = None

    def gradients(self, model: "Sequential", x: ArrayLike, y: ArrayLike,
                  loss: Loss) -> tuple[Array, Array, list[Array], bool]:
        """Forward and backward of ``model`` in mixed precision on one batch.

        Parameters
        ----------
        model : Sequential
            The model, in training mode.
        x : (N, ...) array
            Inputs on the model's side.
        y : (N,) int array
            Class labels.
        loss : loss object
            Computed in float32 from the 16-bit logits.

        Returns
        -------
        out : (N, C) float32 array
            The logits.
        value : 0-d float32 array
            The (unscaled) mean loss.
        grads : list of float32 arrays
            The unscaled gradients, aligned with ``model.params``.
        finite : bool
            Whether every gradient is finite.
        """
        # overflow to Inf in a 16-bit cast is expected here: it is what the finiteness
        # check below detects (NumPy would warn for each cast)
        with self.autocast(model), np.errstate(over="ignore", invalid="ignore"):
            out = model._forward(x, True)
            out = out.astype(np.float32)
            value = loss.forward(out, y)
            g = loss.backward()
            g *= g.dtype.type(self.loss_scale)
            model._backward(g)
        grads = []
        finite = True
        inv = np.float32(1.0 / self.loss_scale)
        for gr in model.grads:
            xp, (gr,) = get_array_module("MixedPrecision.gradients", gr)
            g32 = gr.astype(xp.float32)
            finite = finite and bool(xp.isfinite(g32).all())
            g32 *= inv
            grads.append(g32)
        return out, value, grads, finite

    def train_step(self, model: "Sequential", x: ArrayLike, y: ArrayLike, loss: Loss,
                   optimizer: SupportsStep,
                   distributed: DataParallel | None = None) -> tuple[Array, Array]:
        """Run one mixed-precision step (called by :meth:`Sequential.fit`).

        A step with non-finite gradients leaves the weights and the optimizer untouched
        and lowers the scale.

        Parameters
        ----------
        model : Sequential
            The model, updated in place.
        x : (N, ...) array
            Inputs on the model's side.
        y : (N,) int array
            Class labels.
        loss : loss object
            Computed in float32 from the 16-bit logits.
        optimizer : optimizer
            Applies the unscaled gradients.
        distributed : DataParallel, optional
            Averages the gradients over processes first.

        Returns
        -------
        out : (N, C) float32 array
            The logits.
        value : 0-d float32 array
            The (unscaled) mean loss.
        """
        out, value, grads, finite = self.gradients(model, x, y, loss)
        if distributed is not None:
            grads = distributed.allreduce_grads(grads)
            xp, _ = get_array_module("MixedPrecision.train_step", grads[0])
            finite = all(bool(xp.isfinite(g).all()) for g in grads)
        if not finite:
            self.skipped_steps += 1
            self.good_steps = 0
            if self.dynamic:
                self.loss_scale *= self.backoff_factor
            return out, value
        model._apply_masks(grads)
        optimizer.step(model.params, grads)
        self.good_steps += 1
        if self.dynamic and self.good_steps >= self.growth_interval:
            self.loss_scale *= self.growth_factor
            self.good_steps = 0
        return out, value
