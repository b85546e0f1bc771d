"""Helpers shared by the nn tests: moving layers between sides, relative errors, and
central-difference gradients."""

import numpy as np

from conftest import to_numpy as host


def on(xp, layer):
    """Move a layer's parameters to the side of ``xp``."""
    for name in layer.param_names:
        setattr(layer, name, xp.asarray(getattr(layer, name)))
    return layer


def rel(a, b):
    """Normwise relative difference of two arrays (either side), in float64."""
    a, b = host(a).astype(np.float64), host(b).astype(np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar function f at the float64 host array x (in place)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def assert_model_grads_match_finite_differences(xp, model, x, y, tol=1e-6):
    """Backpropagate softmax cross-entropy through a float64 model and compare every
    parameter gradient with central differences (relative error below ``tol``)."""
    from blasfast.nn import SoftmaxCrossEntropy

    loss = SoftmaxCrossEntropy()
    loss.forward(model._forward(x, True), y)
    model._backward(loss.backward())
    for p, g in zip(model.params, model.grads):
        ph = host(p).copy()

        def f():
            p[...] = xp.asarray(ph)
            return float(SoftmaxCrossEntropy().forward(model._forward(x, False), y))

        num = numeric_grad(f, ph)
        p[...] = xp.asarray(ph)
        assert rel(g, num) < tol
