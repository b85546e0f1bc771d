"""Mixed-precision training: 16-bit forward/backward, FP32 master weights, loss scaling."""

import numpy as np

from .._backend import get_array_module

__all__ = ["MixedPrecision"]


def _dtype(policy):
    if policy == "float16":
        return np.dtype(np.float16)
    if policy == "bfloat16":
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    raise ValueError(f"MixedPrecision: policy must be 'float16' or 'bfloat16', got {policy!r}")


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

    Raises
    ------
    ValueError
        For an unknown policy or factors out of range.

    Notes
    -----
    Evaluation (:meth:`Sequential.evaluate`, :meth:`Sequential.predict`) runs in the
    master precision. Updates smaller than :math:`2^{-11}` of a weight would vanish in a
    float16 weight, which is why the update is applied to float32 masters; gradients below
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

    def __init__(self, policy="float16", *, init_scale=None, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=1000, dynamic=True):
        self.compute_dtype = _dtype(policy)
        self.policy = policy
        if init_scale is None:
            init_scale = 2.0 ** 15 if policy == "float16" else 1.0
        if not init_scale > 0 or not growth_factor >= 1 or not 0 < backoff_factor < 1 \
                or int(growth_interval) < 1:
            raise ValueError(f"MixedPrecision: need init_scale > 0, growth_factor >= 1, "
                             f"0 < backoff_factor < 1, growth_interval >= 1, got "
                             f"{init_scale}, {growth_factor}, {backoff_factor}, "
                             f"{growth_interval}")
        self.loss_scale = float(init_scale)
        self.growth_factor, self.backoff_factor = float(growth_factor), float(backoff_factor)
        self.growth_interval, self.dynamic = int(growth_interval), bool(dynamic)
        self.skipped_steps = self.good_steps = 0

    def __repr__(self):
        return (f"MixedPrecision({self.policy!r}, loss_scale={self.loss_scale}, "
                f"dynamic={self.dynamic})")

    def gradients(self, model, x, y, loss):
        """Forward and backward of ``model`` in mixed precision on one batch.

        Parameters
        ----------
        model : Sequential
        x : (N, ...) array
            Inputs on the model's side.
        y : (N,) integer array
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
        for layer in model.layers:
            layer._compute_dtype = self.compute_dtype
        try:
            # overflow to Inf in a 16-bit cast is expected here: it is what the finiteness
            # check below detects (NumPy would warn for each cast)
            with np.errstate(over="ignore", invalid="ignore"):
                out = model._forward(x, True)
                out = out.astype(np.float32)
                value = loss.forward(out, y)
                g = loss.backward()
                g *= g.dtype.type(self.loss_scale)
                model._backward(g)
        finally:
            for layer in model.layers:
                layer._compute_dtype = None
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

    def train_step(self, model, x, y, loss, optimizer, distributed=None):
        """One mixed-precision step (called by :meth:`Sequential.fit`).

        Returns the float32 logits and the mean loss. A step with non-finite gradients
        leaves the weights and the optimizer untouched and lowers the scale.
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
