"""blasfast.nn convolution layers: gradients against float64 finite differences, configs and
model files, and the CNN trained on real digits (scikit-learn's 8x8 set; an MNIST subset
where the MNIST files are present).

The ``xp`` (numpy / cupy, the latter marked ``gpu``) and ``rng`` fixtures come from
conftest.py.
"""

import json
import os
import pathlib
import time

import numpy as np
import pytest

from blasfast import conv
from blasfast.nn import SGD, Dense, ReLU, Sequential
from blasfast.nn import cnn
from blasfast.nn.conv_layers import AvgPool2D, Conv2D, Flatten, MaxPool2D, Reshape
from blasfast.nn.data import load_digits_split, load_mnist
from nn_helpers import (assert_model_grads_match_finite_differences, host,  # noqa: F401
                        numeric_grad, on, rel)

ROOT = pathlib.Path(__file__).resolve().parents[1]
MNIST = pathlib.Path(os.environ.get("BLASFAST_DATA", ROOT.parent / "shared" / "data")) / "mnist"




# -- layers ------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm,stride,padding", [
    ("winograd", 1, "same"), ("gemm", 2, 1), ("auto", 1, "valid")])
def test_conv2d_layer_gradients_match_finite_differences(xp, rng, algorithm, stride, padding):
    layer = on(xp, Conv2D(3, 4, 3, stride, padding, algorithm, rng=rng, dtype=np.float64))
    layer.b = xp.asarray(rng.standard_normal(4))
    x = rng.standard_normal((2, 3, 6, 5))
    w, b = host(layer.W).copy(), host(layer.b).copy()
    y = layer.forward(xp.asarray(x))
    r = rng.standard_normal(y.shape)  # L = sum(r * y)
    args = dict(stride=stride, padding=padding)

    def loss():
        return float(np.sum(r * conv.conv2d(x, w, b, **args)))

    dx = layer.backward(xp.asarray(r))
    dw, db = layer.grads
    assert rel(dx, numeric_grad(loss, x)) < 1e-8
    assert rel(dw, numeric_grad(loss, w)) < 1e-8
    assert rel(db, numeric_grad(loss, b)) < 1e-8
    assert layer.backward(xp.asarray(r), need_input_grad=False) is None


def test_conv2d_layer_transforms_the_filters_once_per_step(monkeypatch, rng):
    calls = []
    real = conv.winograd_filter_transform
    monkeypatch.setattr(conv, "winograd_filter_transform", lambda w: calls.append(1) or real(w))
    layer = Conv2D(2, 3, 3, padding=1, algorithm="winograd", rng=rng)
    y = layer.forward(rng.standard_normal((2, 2, 5, 5)).astype(np.float32))
    layer.backward(np.ones_like(y))
    assert len(calls) == 1


@pytest.mark.parametrize("cls,kernel,stride", [
    (MaxPool2D, 2, None), (MaxPool2D, 3, 2), (MaxPool2D, (2, 3), (1, 2)),
    (AvgPool2D, 2, None), (AvgPool2D, 3, 2), (AvgPool2D, (3, 2), 1)])
def test_pooling_gradients_match_finite_differences(xp, rng, cls, kernel, stride):
    layer = cls(kernel, stride)
    x = rng.standard_normal((2, 3, 7, 6))   # odd sizes: trailing rows dropped (floor mode)
    y = layer.forward(xp.asarray(x))
    ref_layer = cls(kernel, stride)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(xp.asarray(r))
    num = numeric_grad(lambda: float(np.sum(r * ref_layer.forward(x, False))), x)
    assert rel(dx, num) < 1e-8


def test_pooling_values(rng):
    x = rng.standard_normal((2, 3, 5, 7))
    y = MaxPool2D(2).forward(x)
    ref = x[:, :, :4, :6].reshape(2, 3, 2, 2, 3, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(y, ref)
    a = AvgPool2D((2, 3), (2, 3)).forward(x)
    np.testing.assert_allclose(a, x[:, :, :4, :6].reshape(2, 3, 2, 2, 2, 3).mean(axis=(3, 5)),
                               rtol=1e-14)


def test_maxpool_ties_and_nan():
    x = np.ones((1, 1, 2, 2))
    layer = MaxPool2D(2)
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.full((1, 1, 1, 1), 5.0)),
                                  [[[[5.0, 0.0], [0.0, 0.0]]]])  # the first maximum only
    x[0, 0, 1, 0] = np.nan
    assert np.isnan(MaxPool2D(2).forward(x)).all()


def test_flatten_and_reshape_round_trip(rng):
    x = rng.standard_normal((3, 2, 4, 5))
    f = Flatten()
    y = f.forward(x)
    assert y.shape == (3, 40)
    np.testing.assert_array_equal(f.backward(y), x)
    r = Reshape((2, 4, 5))
    np.testing.assert_array_equal(r.forward(y), x)
    np.testing.assert_array_equal(r.backward(x), y)


def test_cnn_gradients_match_finite_differences(xp, rng):
    """Reshape-Conv(gemm)-ReLU-MaxPool-Conv(winograd)-AvgPool-Flatten-Dense, softmax
    cross-entropy, every parameter, float64."""
    f64 = np.float64
    model = Sequential([
        Reshape((2, 6, 6)), Conv2D(2, 3, 3, padding=1, algorithm="gemm", rng=rng, dtype=f64),
        ReLU(), MaxPool2D(2, 1), Conv2D(3, 4, 3, padding="same", algorithm="winograd",
                                        rng=rng, dtype=f64),
        AvgPool2D(2), Flatten(), Dense(16, 3, rng=rng, dtype=f64)])
    for layer in model.layers:
        on(xp, layer)
        if isinstance(layer, Conv2D):
            layer.b = xp.asarray(rng.standard_normal(layer.b.shape))
    x = xp.asarray(rng.standard_normal((3, 72)))
    y = xp.asarray(rng.integers(0, 3, 3))
    assert_model_grads_match_finite_differences(xp, model, x, y)


def test_configs_rebuild_the_layers():
    layers = [Conv2D(3, 8, (3, 5), (1, 2), ((1, 0), (2, 2)), "gemm", dilation=(2, 1),
                     dtype=np.float64, init="glorot"),
              Conv2D(2, 4, 3, padding="same"), MaxPool2D(3, 2), AvgPool2D((2, 1)), Flatten(),
              Reshape((1, 8, 8))]
    for layer in layers:
        cfg = json.loads(json.dumps(layer.config()))
        again = type(layer)(**cfg)
        assert again.config() == layer.config()
        assert repr(again) == repr(layer)


def test_cnn_saves_and_loads(tmp_path, rng):
    model = cnn.build_cnn((1, 8, 8), 10, channels=(4, 6), hidden=(8,), rng=0)
    x = rng.random((5, 64), dtype=np.float32)
    path = tmp_path / "cnn.npz"
    model.save(path)
    again = Sequential.load(path)
    assert repr(again) == repr(model)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))


def test_layer_errors(rng):
    with pytest.raises(ValueError, match="in_channels must be an integer >= 1"):
        Conv2D(0, 3, 3)
    with pytest.raises(ValueError, match="kernel_size must be an integer >= 1"):
        Conv2D(1, 3, 0)
    with pytest.raises(TypeError, match="float32 or float64"):
        Conv2D(1, 3, 3, dtype=np.float16)
    with pytest.raises(ValueError, match="init must be"):
        Conv2D(1, 3, 3, init="lecun")
    with pytest.raises(ValueError, match="algorithm must be 'auto', 'winograd', 'winograd_nonfused' or 'gemm'"):
        Conv2D(1, 3, 3, algorithm="fft")
    with pytest.raises(ValueError, match=r"algorithm='winograd' needs stride 1"):
        Conv2D(1, 3, 3, stride=2, algorithm="winograd")
    with pytest.raises(ValueError, match="needs 3x3 filters, got 5x5"):
        Conv2D(1, 3, 5, algorithm="winograd")
    layer = Conv2D(2, 3, 3, rng=0)
    with pytest.raises(RuntimeError, match="call forward"):
        layer.backward(np.ones((1, 3, 2, 2), np.float32))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2, H, W\) \(NCHW\)"):
        layer.forward(np.ones((1, 8, 8, 2), np.float32))
    with pytest.raises(ValueError, match="the output would be empty"):
        layer.forward(np.ones((1, 2, 2, 2), np.float32))
    for cls in (MaxPool2D, AvgPool2D):
        with pytest.raises(ValueError, match="window is larger than the 1x4 input"):
            cls(2).forward(np.ones((1, 1, 1, 4)))
        with pytest.raises(ValueError, match="4-D NCHW"):
            cls(2).forward(np.ones((4, 4)))
        with pytest.raises(RuntimeError, match="call forward"):
            cls(2).backward(np.ones((1, 1, 1, 1)))
        with pytest.raises(ValueError, match="stride must be an integer >= 1"):
            cls(2, 0)
        pool = cls(2)
        pool.forward(np.ones((1, 1, 4, 4)))
        with pytest.raises(ValueError, match="grad must have shape"):
            pool.backward(np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="cannot become"):
        Reshape((2, 3)).forward(np.ones((4, 5)))
    with pytest.raises(ValueError, match="not a square image"):
        cnn.image_shape(50)
    with pytest.raises(ValueError, match="too small"):
        cnn.build_cnn((1, 2, 2), 3, channels=(2, 2, 2))


# -- training on real digits -----------------------------------------------------------


def _train(x_train, y_train, cfg, seed=0, **build):
    init_seed, shuffle_seed = np.random.SeedSequence(seed).spawn(2)
    model = cnn.build_cnn(cnn.image_shape(x_train.shape[1]), 10, hidden=cfg["hidden"],
                          rng=np.random.default_rng(init_seed), **build)
    opt = SGD(cfg["lr"], momentum=cfg["momentum"], weight_decay=cfg["weight_decay"],
              nesterov=True)
    model.fit(x_train, y_train, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
              optimizer=opt, seed=np.random.default_rng(shuffle_seed), progress=False)
    return model


@pytest.mark.parametrize("algorithm,epochs", [("auto", 15), ("winograd", 10)])
def test_cnn_trains_on_digits(algorithm, epochs):
    """scikit-learn's 8x8 digits with the CLI defaults (seed 0; fewer epochs for the second
    case, to save CI time). 'auto' takes the GEMM algorithm for these thin layers on the
    CPU; 'winograd' trains every convolution (forward, dgrad, wgrad) through F(2x2, 3x3).
    Measured test accuracy: 0.980 (auto, 15 epochs), 0.976 (winograd, 15 epochs); the MLP
    of `blasfast train` reaches about 0.97."""
    x_train, y_train, x_test, y_test = load_digits_split(0.25, 0)
    t0 = time.perf_counter()
    cfg = dict(cnn.CNN_DEFAULTS["digits"], epochs=epochs)
    model = _train(x_train, y_train, cfg, algorithm=algorithm)
    _, acc = model.evaluate(x_test, y_test)
    print(f"digits CNN ({algorithm}): test accuracy {acc:.4f} in "
          f"{time.perf_counter() - t0:.1f} s")
    assert acc >= 0.96


@pytest.mark.slow
@pytest.mark.skipif(not MNIST.is_dir(), reason=f"real MNIST data not found at {MNIST}")
def test_cnn_trains_on_an_mnist_subset():
    """CI-sized MNIST run: the first 10000 training images, 2 epochs with the MNIST defaults,
    all 10000 test images. Measured (seed 0): test accuracy 0.9639, about 17 s of CPU time
    (the full 60000-image run with the cosine schedule of the CLI takes ~80 s of CPU time
    for 3 epochs and reaches 0.9906: run it with `blasfast train --model cnn --mnist DIR`)."""
    x_train, y_train, x_test, y_test = load_mnist(MNIST)
    cfg = dict(cnn.CNN_DEFAULTS["mnist"], epochs=2)
    t0 = time.process_time()
    model = _train(x_train[:10000], y_train[:10000], cfg)
    _, acc = model.evaluate(x_test, y_test)
    print(f"MNIST subset CNN: test accuracy {acc:.4f} in {time.process_time() - t0:.1f} s "
          "of CPU time")
    assert acc >= 0.955


def test_cli_trains_and_saves_a_cnn(tmp_path, capsys):
    """`blasfast train --model cnn` wiring: the CNN is built, trained, reported, saved and
    loads back (a short run: the accuracy is the job of the tests above)."""
    from blasfast.cli import main

    path = tmp_path / "cnn.npz"
    rc = main(["train", "--model", "cnn", "--device", "cpu", "--no-progress", "--epochs", "3",
               "--limit", "500", "--save", str(path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Conv2D(in_channels=1, out_channels=16" in out and "MaxPool2D" in out
    acc = float(out.split("test accuracy: ")[1].split()[0])
    assert acc >= 0.8, out
    assert isinstance(Sequential.load(path).layers[1], Conv2D)
