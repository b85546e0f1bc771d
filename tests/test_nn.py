"""blasfast.nn: layer gradients against float64 finite differences, the loss against a float64
reference, SGD against hand-computed steps, model files, and training.

The ``xp`` (numpy / cupy, the latter marked ``gpu``) and ``rng`` (fresh seeded generator,
seed printed) fixtures come from conftest.py.
"""

import numpy as np
import pytest
from scipy.special import logsumexp, softmax

from blasfast import _backend
from blasfast.nn import SGD, Dense, ReLU, Sequential, Sigmoid, SoftmaxCrossEntropy, Tanh
from nn_helpers import (assert_model_grads_match_finite_differences, host,  # noqa: F401
                        numeric_grad, on, rel)

U32 = np.finfo(np.float32).eps / 2  # unit roundoff of float32




# -- layers ---------------------------------------------------------------------------


def test_dense_gradients_match_finite_differences(xp, rng):
    layer = on(xp, Dense(7, 5, rng=rng, dtype=np.float64))
    layer.b = xp.asarray(rng.standard_normal(5))
    x = rng.standard_normal((6, 7))
    r = rng.standard_normal((6, 5))  # L = sum(r * y), so dL/dy = r
    w, b = host(layer.W).copy(), host(layer.b).copy()

    def loss():
        return float(np.sum(r * (x @ w + b)))

    y = layer.forward(xp.asarray(x))
    assert rel(y, x @ w + b) < 1e-14
    dx = layer.backward(xp.asarray(r))
    dw, db = layer.grads
    assert rel(dx, numeric_grad(loss, x)) < 1e-7
    assert rel(dw, numeric_grad(loss, w)) < 1e-7
    assert rel(db, numeric_grad(loss, b)) < 1e-7
    assert layer.backward(xp.asarray(r), need_input_grad=False) is None


@pytest.mark.parametrize("cls", [ReLU, Tanh, Sigmoid])
def test_activation_gradients_match_finite_differences(xp, rng, cls):
    layer = cls()
    x = rng.standard_normal((4, 9)) * 3
    r = rng.standard_normal((4, 9))
    ref = {ReLU: lambda v: np.maximum(v, 0), Tanh: np.tanh,
           Sigmoid: lambda v: 1 / (1 + np.exp(-v))}[cls]
    y = layer.forward(xp.asarray(x))
    assert rel(y, ref(x)) < 1e-14
    dx = layer.backward(xp.asarray(r))
    assert rel(dx, numeric_grad(lambda: float(np.sum(r * ref(x))), x)) < 1e-7


def test_model_gradients_match_finite_differences(xp, rng):
    """Dense-Tanh-Dense-ReLU-Dense with softmax cross-entropy, every parameter, float64."""
    model = Sequential([Dense(6, 8, rng=rng, dtype=np.float64, init="glorot"), Tanh(),
                        Dense(8, 7, rng=rng, dtype=np.float64), ReLU(),
                        Dense(7, 4, rng=rng, dtype=np.float64)])
    for layer in model.layers:
        on(xp, layer)
    x = xp.asarray(rng.standard_normal((5, 6)))
    y = xp.asarray(rng.integers(0, 4, 5))
    assert_model_grads_match_finite_differences(xp, model, x, y)


def test_dense_float32_forward_within_k_u(xp, rng):
    k = 300
    layer = on(xp, Dense(k, 20, rng=rng))
    x = rng.standard_normal((50, k)).astype(np.float32)
    y = layer.forward(xp.asarray(x))
    assert y.dtype == np.float32
    ref = x.astype(np.float64) @ host(layer.W).astype(np.float64)
    assert rel(y, ref) < 2 * k * U32  # |error| <= k u |x||W| per element, well-conditioned


def test_dense_init_is_seeded_and_scaled():
    a, b = Dense(400, 300, rng=3), Dense(400, 300, rng=3)
    assert np.array_equal(a.W, b.W) and a.W.dtype == np.float32
    assert not np.array_equal(a.W, Dense(400, 300, rng=4).W)
    assert abs(a.W.std() - np.sqrt(2 / 400)) < 0.01 * np.sqrt(2 / 400)
    g = Dense(400, 300, rng=3, init="glorot").W
    assert abs(g.max()) <= np.sqrt(6 / 700) and g.max() > 0.99 * np.sqrt(6 / 700)
    assert not a.b.any()


def test_layer_errors():
    with pytest.raises(ValueError, match="in_features"):
        Dense(0, 3)
    with pytest.raises(TypeError, match="float32 or float64"):
        Dense(2, 3, dtype=np.float16)
    with pytest.raises(ValueError, match="init"):
        Dense(2, 3, init="lecun")
    layer = Dense(4, 3, rng=0)
    with pytest.raises(RuntimeError, match="forward"):
        layer.backward(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        layer.forward(np.ones((2, 5), np.float32))
    layer.forward(np.ones((2, 4), np.float32))
    with pytest.raises(ValueError, match="grad must have shape"):
        layer.backward(np.ones((3, 3), np.float32))
    with pytest.raises(RuntimeError, match="forward"):
        ReLU().backward(np.ones(3))


def test_dense_rejects_mixed_host_and_device(dev):
    layer = Dense(4, 3, rng=0)
    with pytest.raises(TypeError, match="same side"):
        layer.forward(dev.ones((2, 4), np.float32))


# -- loss ----------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
def test_softmax_cross_entropy_matches_float64_reference(xp, rng, scale):
    z = (rng.standard_normal((64, 10)) * scale).astype(np.float32)
    y = rng.integers(0, 10, 64)
    loss = SoftmaxCrossEntropy()
    got = loss.forward(xp.asarray(z), xp.asarray(y))
    z64 = z.astype(np.float64)
    ref = np.mean(logsumexp(z64, axis=1) - z64[np.arange(64), y])
    assert got.dtype == np.float32 and np.isfinite(float(got))
    # shifted logits are exact; exp/log/sum each cost O(u) relative to the largest terms
    assert abs(float(got) - ref) <= 50 * U32 * max(1.0, ref, scale)
    dz = loss.backward()
    ref_dz = (softmax(z64, axis=1) - np.eye(10)[y]) / 64
    assert rel(dz, ref_dz) < 50 * U32


def test_softmax_cross_entropy_errors():
    loss = SoftmaxCrossEntropy()
    with pytest.raises(RuntimeError):
        loss.backward()
    with pytest.raises(ValueError, match="labels must lie"):
        loss.forward(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="expected logits"):
        loss.forward(np.zeros((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="integers"):
        loss.forward(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="empty"):
        loss.forward(np.zeros((0, 3)), np.zeros(0, np.int64))


# -- optimizer -----------------------------------------------------------------------


def test_sgd_plain_and_weight_decay_by_hand(xp):
    w = xp.asarray([1.0, -2.0, 0.5])
    g = xp.asarray([0.5, 0.25, -1.0])
    SGD(lr=0.1).step([w], [g])
    assert np.allclose(host(w), [0.95, -2.025, 0.6], rtol=0, atol=1e-15)
    w = xp.asarray([1.0, -2.0, 0.5])
    SGD(lr=0.1, weight_decay=0.01).step([w], [g])
    # w - 0.1 * (g + 0.01 w)
    assert np.allclose(host(w), [0.949, -2.023, 0.5995], rtol=0, atol=1e-15)
    assert np.array_equal(host(g), [0.5, 0.25, -1.0])  # grads untouched


def test_sgd_momentum_and_nesterov_by_hand(xp):
    g1, g2 = xp.asarray([1.0, -1.0]), xp.asarray([0.5, 2.0])
    w = xp.asarray([0.0, 0.0])
    opt = SGD(lr=0.1, momentum=0.9)
    opt.step([w], [g1])  # v = g1 = [1, -1];  w = -0.1 v
    assert np.allclose(host(w), [-0.1, 0.1], rtol=0, atol=1e-15)
    opt.step([w], [g2])  # v = 0.9 [1, -1] + [0.5, 2] = [1.4, 1.1]
    assert np.allclose(host(w), [-0.24, -0.01], rtol=0, atol=1e-15)
    w = xp.asarray([0.0, 0.0])
    opt = SGD(lr=0.1, momentum=0.9, nesterov=True)
    opt.step([w], [g1])  # v = [1, -1]; d = g1 + 0.9 v = [1.9, -1.9]
    assert np.allclose(host(w), [-0.19, 0.19], rtol=0, atol=1e-15)
    opt.step([w], [g2])  # v = [1.4, 1.1]; d = [0.5 + 1.26, 2 + 0.99]
    assert np.allclose(host(w), [-0.366, -0.109], rtol=0, atol=1e-15)


def test_sgd_errors():
    for kwargs in [dict(lr=0), dict(lr=0.1, momentum=1.0), dict(lr=0.1, weight_decay=-1),
                   dict(lr=0.1, nesterov=True)]:
        with pytest.raises(ValueError):
            SGD(**kwargs)
    opt = SGD(0.1, momentum=0.5)
    with pytest.raises(ValueError, match="shapes differ"):
        opt.step([np.zeros(2)], [np.zeros(3)])
    opt.step([np.zeros(2)], [np.ones(2)])
    with pytest.raises(ValueError, match="reset"):
        opt.step([np.zeros(2), np.zeros(2)], [np.ones(2), np.ones(2)])


# -- model -----------------------------------------------------------------------------


def blobs(rng, n=600, classes=3, features=5):
    centers = rng.standard_normal((classes, features)) * 3
    y = rng.integers(0, classes, n)
    x = (centers[y] + rng.standard_normal((n, features))).astype(np.float32)
    return x, y


def small_model(seed, features=5, classes=3):
    rng = np.random.default_rng(seed)
    return Sequential([Dense(features, 16, rng=rng), ReLU(), Dense(16, classes, rng=rng)])


def test_fit_reduces_loss_and_is_reproducible(xp, rng):
    x, y = blobs(rng)
    runs = []
    for _ in range(2):
        model = small_model(7)
        if xp is not np:
            model.to_device("gpu")
        loss0, _ = model.evaluate(x, y)
        hist = model.fit(x, y, epochs=5, batch_size=32, optimizer=SGD(0.05, momentum=0.9),
                         seed=11, validation_data=(x, y), progress=False)
        runs.append([host(p) for p in model.params])
    assert hist["loss"][-1] < 0.5 * loss0 and hist["loss"][-1] < hist["loss"][0]
    assert hist["accuracy"][-1] > 0.9 and hist["val_accuracy"][-1] > 0.9
    assert len(hist["loss"]) == len(hist["time"]) == len(hist["val_loss"]) == 5
    for a, b in zip(*runs):
        assert np.array_equal(a, b)


def test_predict_and_evaluate_agree(rng):
    x, y = blobs(rng, n=100)
    model = small_model(1)
    out = model.predict(x, batch_size=7)
    assert out.shape == (100, 3) and out.dtype == np.float32
    acc = float(np.mean(out.argmax(axis=1) == y))
    assert model.evaluate(x, y, batch_size=13)[1] == pytest.approx(acc)


def test_fit_rejects_bad_labels_and_shapes(rng):
    x, y = blobs(rng, n=20)
    model = small_model(0)
    with pytest.raises(ValueError, match="labels must lie"):
        model.fit(x, y + 3, epochs=1, batch_size=4, optimizer=SGD(0.1), progress=False)
    with pytest.raises(ValueError, match="expected x"):
        model.fit(x, y[:5], epochs=1, batch_size=4, optimizer=SGD(0.1), progress=False)
    with pytest.raises(TypeError, match="integer labels"):
        model.evaluate(x, y.astype(np.float32))
    with pytest.raises(ValueError, match="epochs"):
        model.fit(x, y, epochs=0, batch_size=4, optimizer=SGD(0.1), progress=False)


def test_save_load_round_trip_is_exact(tmp_path, rng):
    model = Sequential([Dense(5, 9, rng=rng), Sigmoid(), Dense(9, 6, rng=rng, init="glorot"),
                        Tanh(), Dense(6, 3, rng=rng, dtype=np.float64)])
    x, y = blobs(rng, n=50)
    model.fit(x, y, epochs=1, batch_size=10, optimizer=SGD(0.1), progress=False)
    path = tmp_path / "model.bin"  # used as given: no .npz appended
    model.save(path)
    loaded = Sequential.load(path)
    assert loaded.architecture() == model.architecture()
    for a, b in zip(model.params, loaded.params):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.array_equal(model.predict(x), loaded.predict(x))


def test_load_reports_missing_corrupt_and_mismatched_files(tmp_path, rng):
    with pytest.raises(FileNotFoundError, match="no such file"):
        Sequential.load(tmp_path / "absent.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(rng.bytes(300))
    with pytest.raises(ValueError, match="not a readable .npz"):
        Sequential.load(garbage)
    good = tmp_path / "good.npz"
    small_model(0).save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(ValueError, match="truncated"):
        Sequential.load(truncated)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a blasfast model"):
        Sequential.load(other)
    data = dict(np.load(good))
    data["layer0.W"] = data["layer0.W"][:, :4]
    np.savez(tmp_path / "mismatch.npz", **data)
    with pytest.raises(ValueError, match=r"layer0\.W should be \(5, 16\) float32"):
        Sequential.load(tmp_path / "mismatch.npz")
    data = dict(np.load(good))
    del data["layer2.b"]
    np.savez(tmp_path / "missing.npz", **data)
    with pytest.raises(ValueError, match=r"layer2\.b is missing"):
        Sequential.load(tmp_path / "missing.npz")
    data = dict(np.load(good))
    data["architecture"] = np.array('[{"type": "Conv9D", "config": {}}]')
    np.savez(tmp_path / "arch.npz", **data)
    with pytest.raises(ValueError, match="bad architecture"):
        Sequential.load(tmp_path / "arch.npz")


@pytest.mark.skipif(_backend.gpu_available(), reason="checks the no-GPU error")
def test_to_device_gpu_without_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        small_model(0).to_device("gpu")
    with pytest.raises(ValueError, match="'cpu' or 'gpu'"):
        small_model(0).to_device("tpu")


def test_gpu_training_matches_cpu(dev, rng, tmp_path):
    """Same seeds on both sides: the GPU path follows the CPU path within float32 rounding."""
    cupy = dev

    x, y = blobs(rng)
    cpu, gpu = small_model(5), small_model(5).to_device("gpu")
    assert all(isinstance(p, cupy.ndarray) for p in gpu.params)
    for m in (cpu, gpu):
        m.fit(x, y, epochs=2, batch_size=50, optimizer=SGD(0.05, momentum=0.9), seed=3,
              progress=False)
    for a, b in zip(cpu.params, gpu.params):
        assert rel(b, a) < 1e-4
    assert isinstance(gpu.predict(x), cupy.ndarray)
    gpu.save(tmp_path / "m.npz")
    back = Sequential.load(tmp_path / "m.npz")
    for a, b in zip(gpu.params, back.params):
        assert np.array_equal(host(a), b)
    assert all(isinstance(p, np.ndarray) for p in gpu.to_device("cpu").params)
