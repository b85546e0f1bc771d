"""blasfast.nn.MixedPrecision on the CPU path (16-bit products emulated): gradients against
float32, loss scaling against underflow, dynamic scale changes, and digits accuracy."""

import ml_dtypes
import numpy as np
import pytest

from blasfast.nn import (SGD, AvgPool2D, Conv2D, Dense, Flatten, MixedPrecision, ReLU,
                         Sequential, SoftmaxCrossEntropy, Tanh, load_digits_split)

U16 = 2.0 ** -11  # unit roundoff of float16
UBF = 2.0 ** -8   # unit roundoff of bfloat16


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / np.linalg.norm(b)


class TinyLoss(SoftmaxCrossEntropy):
    """Cross-entropy times 1e-8: gradients of ~1e-9, below float16's smallest subnormal."""

    def forward(self, logits, labels):
        return super().forward(logits, labels) * np.float32(1e-8)

    def backward(self):
        return super().backward() * np.float32(1e-8)


def mlp(seed):
    rng = np.random.default_rng(seed)
    return Sequential([Dense(12, 16, rng=rng), Tanh(), Dense(16, 4, rng=rng)])


def fp32_grads(model, x, y, loss):
    out = model._forward(x, True)
    loss.forward(out, y)
    model._backward(loss.backward())
    return [g.copy() for g in model.grads]


def host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


@pytest.mark.parametrize("policy,u", [("float16", U16), ("bfloat16", UBF)])
def test_mixed_precision_gradients_follow_float32(policy, u, rng, xp):
    """Unscaled 16-bit gradients agree with the float32 ones to c * u16 (16 hidden units,
    k <= 32 inner products; the bound 32 u covers the 16-bit rounding of activations,
    weights and gradients before each float32-accumulated product). On the GPU the
    products run on tensor cores (not yet run on a GPU)."""
    x, y = rng.random((32, 12), dtype=np.float32), rng.integers(0, 4, 32)
    model = mlp(1)
    if xp is not np:
        model.to_device("gpu")
    x, y = xp.asarray(x), xp.asarray(y)
    ref = [host(g) for g in fp32_grads(model, x, y, SoftmaxCrossEntropy())]
    mp = MixedPrecision(policy)
    out, value, grads, finite = mp.gradients(model, x, y, SoftmaxCrossEntropy())
    assert finite and out.dtype == np.float32 and len(grads) == 4
    assert all(g.dtype == np.float32 and type(g) is type(x) for g in grads)
    for g, r in zip(grads, ref):
        assert rel(host(g), r) < 32 * u
    assert all(layer._compute_dtype is None for layer in model.layers)
    # the layers really computed in 16 bits: cached activations are 16-bit
    assert model.layers[0]._x.dtype == mp.compute_dtype


def test_small_gradients_underflow_without_loss_scaling_and_survive_with_it(rng):
    x, y = rng.random((32, 12), dtype=np.float32), rng.integers(0, 4, 32)
    model = mlp(2)
    ref = fp32_grads(model, x, y, TinyLoss())
    assert 1e-12 < np.abs(ref[2]).max() < 2.0 ** -24  # below float16's smallest subnormal
    plain = MixedPrecision("float16", init_scale=1.0, dynamic=False)
    _, _, grads, finite = plain.gradients(model, x, y, TinyLoss())
    assert finite and all(not np.any(g) for g in grads)  # everything flushed to zero
    scaled = MixedPrecision("float16", init_scale=2.0 ** 20, dynamic=False)
    _, _, grads, finite = scaled.gradients(model, x, y, TinyLoss())
    assert finite
    for g, r in zip(grads, ref):
        assert rel(g, r) < 32 * U16


def test_dynamic_loss_scale_skips_overflow_and_grows(rng):
    x, y = rng.random((16, 12), dtype=np.float32), rng.integers(0, 4, 16)
    model = mlp(3)
    before = [p.copy() for p in model.params]
    mp = MixedPrecision("float16", init_scale=2.0 ** 40, growth_interval=3)
    opt = SGD(0.1, momentum=0.9)
    loss = SoftmaxCrossEntropy()
    mp.train_step(model, x, y, loss, opt)  # 2^40 * O(0.1) overflows float16 -> skip
    assert mp.skipped_steps == 1 and mp.loss_scale == 2.0 ** 39 and opt.t == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.params))
    while mp.skipped_steps == mp.good_steps == 0 or opt.t == 0:
        mp.train_step(model, x, y, loss, opt)
    s = mp.loss_scale
    assert s <= 2.0 ** 20 and opt.t == 1 and mp.good_steps == 1
    mp.train_step(model, x, y, loss, opt)
    mp.train_step(model, x, y, loss, opt)  # third good step in a row: scale doubles
    assert mp.loss_scale == 2 * s and mp.good_steps == 0 and opt.t == 3
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.params))
    assert all(p.dtype == np.float32 for p in model.params)  # masters stay FP32


def test_mixed_precision_conv2d_gradients(rng):
    """Conv2D under MixedPrecision: 16-bit conv2d/dgrad/wgrad, gradients within c * u16."""
    x = rng.random((4, 1, 8, 8), dtype=np.float32)
    y = rng.integers(0, 3, 4)
    r = np.random.default_rng(0)
    # smooth activation and pooling: with ReLU/max-pooling, a pre-activation that changes
    # sign (or a tie that changes winner) under 16-bit rounding flips a whole path
    model = Sequential([Conv2D(1, 4, 3, padding="same", rng=r), Tanh(), AvgPool2D(2),
                        Flatten(), Dense(64, 3, rng=r)])
    ref = fp32_grads(model, x, y, SoftmaxCrossEntropy())
    _, _, grads, finite = MixedPrecision("float16").gradients(model, x, y,
                                                              SoftmaxCrossEntropy())
    assert finite
    for g, r_ in zip(grads, ref):
        assert rel(g, r_) < 64 * U16


def test_mixed_precision_errors():
    with pytest.raises(ValueError, match="policy"):
        MixedPrecision("float8")
    with pytest.raises(ValueError, match="backoff"):
        MixedPrecision("float16", backoff_factor=1.0)
    assert MixedPrecision("bfloat16").compute_dtype == ml_dtypes.bfloat16
    assert MixedPrecision("bfloat16").loss_scale == 1.0


def test_digits_mlp_mixed_precision_matches_float32_accuracy():
    """The CLI's digits MLP (64-128-10, ReLU, Nesterov SGD, 30 epochs) reaches the same
    test accuracy in mixed precision (float16 and bfloat16) as in float32, within 0.3
    points (measured, seed 0: 0.9689 for all three)."""
    xtr, ytr, xte, yte = load_digits_split(test_size=0.25, seed=0)
    accs = {}
    for policy in (None, "float16", "bfloat16"):
        rng = np.random.default_rng(0)
        model = Sequential([Dense(64, 128, rng=rng), ReLU(), Dense(128, 10, rng=rng)])
        mp = MixedPrecision(policy) if policy else None
        hist = model.fit(xtr, ytr, epochs=30, batch_size=32, seed=1, progress=False,
                         optimizer=SGD(0.05, momentum=0.9, weight_decay=1e-4, nesterov=True),
                         mixed_precision=mp)
        accs[policy] = model.evaluate(xte, yte)[1]
        if mp:
            assert hist["skipped_steps"][-1] == mp.skipped_steps <= 2
    print(accs)
    assert accs[None] > 0.95
    assert abs(accs["float16"] - accs[None]) <= 0.003 + 1e-9
    assert abs(accs["bfloat16"] - accs[None]) <= 0.003 + 1e-9


def _mp_run(model, x, y, mp, epochs, callbacks=None, opt=None):
    opt = opt or SGD(0.1, momentum=0.9, nesterov=True)
    model.fit(x, y, epochs=epochs, batch_size=8, optimizer=opt, shuffle=False,
              progress=False, mixed_precision=mp, callbacks=callbacks)
    return model


def test_checkpoint_keeps_the_loss_scale_and_resumes_exactly(tmp_path, rng):
    """Sequential.save writes the MixedPrecision state (policy, loss scale, counters) and
    load restores it: 2 epochs straight == 1 epoch, save, load, 1 more epoch, bit for bit
    (a fresh MixedPrecision would restart at the initial scale)."""
    x, y = rng.random((48, 12), dtype=np.float32), rng.integers(0, 4, 48)
    # 2^20 overflows at first (skips, backoff), growth_interval 4: the scale changes and
    # good_steps is not 0 at the end of epoch 1 (6 steps per epoch)
    kw = dict(init_scale=2.0 ** 20, growth_interval=4)
    straight = _mp_run(mlp(5), x, y, MixedPrecision("float16", **kw), 2)
    mp = MixedPrecision("float16", **kw)
    first = _mp_run(mlp(5), x, y, mp, 1)
    state = mp.state_dict()
    assert state["skipped_steps"] > 0 and state["good_steps"] > 0
    assert state["loss_scale"] not in (2.0 ** 20, 2.0 ** 15)
    path = tmp_path / "ckpt.npz"
    first.save(path)  # the mixed_precision of the last fit
    loaded = Sequential.load(path)
    assert loaded.mixed_precision is not mp and loaded.mixed_precision.state_dict() == state
    _mp_run(loaded, x, y, loaded.mixed_precision, 1, opt=loaded.optimizer)
    assert loaded.mixed_precision.state_dict() == straight.mixed_precision.state_dict()
    for a, b in zip(loaded.params, straight.params):
        assert np.array_equal(a, b)
    # an explicit mixed_precision= wins; a float32 fit leaves none to save
    other = MixedPrecision("bfloat16", growth_interval=7)
    first.save(path, mixed_precision=other)
    assert Sequential.load(path).mixed_precision.state_dict() == other.state_dict()
    _mp_run(first, x, y, None, 1)
    first.save(path)
    assert Sequential.load(path).mixed_precision is None


def test_model_checkpoint_callback_saves_the_mixed_precision_state(tmp_path, rng):
    from blasfast.nn import ModelCheckpoint

    x, y = rng.random((32, 12), dtype=np.float32), rng.integers(0, 4, 32)
    mp = MixedPrecision("float16", init_scale=2.0 ** 22, growth_interval=2)
    ckpt = ModelCheckpoint(tmp_path / "ep{epoch}.npz")
    _mp_run(mlp(6), x, y, mp, 2, callbacks=[ckpt])
    assert len(ckpt.saved) == 2
    assert Sequential.load(ckpt.saved[-1]).mixed_precision.state_dict() == mp.state_dict()


def test_mixed_precision_state_errors(tmp_path, rng):
    import json

    mp = MixedPrecision("float16")
    with pytest.raises(ValueError, match="load_state_dict: state is for policy 'bfloat16'"):
        mp.load_state_dict(MixedPrecision("bfloat16").state_dict())
    good = mp.state_dict()
    bad_states = [dict(good, loss_scale=0.0), dict(good, loss_scale=float("inf")),
                  dict(good, good_steps=-1), dict(good, skipped_steps=1.5),
                  dict(good, dynamic="yes"), dict(good, policy="float8"),
                  dict(good, growth_interval=0), dict(good, backoff_factor=1.0)]
    for bad in bad_states:
        with pytest.raises(ValueError, match="from_state_dict: invalid state values"):
            MixedPrecision.from_state_dict(bad)
    with pytest.raises(ValueError, match="missing keys .'good_steps'."):
        MixedPrecision.from_state_dict({k: v for k, v in good.items() if k != "good_steps"})
    with pytest.raises(ValueError, match="unknown keys .'extra'."):
        MixedPrecision.from_state_dict(dict(good, extra=1))
    with pytest.raises(ValueError, match="must be a dict"):
        MixedPrecision.from_state_dict([1, 2])
    with pytest.raises(TypeError, match="Sequential.save: mixed_precision must be"):
        mlp(0).save(tmp_path / "x.npz", mixed_precision="float16")
    # corrupt or mismatched entries in a file: a clear error naming the file
    path = tmp_path / "m.npz"
    mlp(0).save(path, mixed_precision=mp)
    assert Sequential.load(path).mixed_precision.state_dict() == good
    for entry, what in [("{not json", "Expecting property name"),
                        (json.dumps(dict(good, policy="float8")), "policy='float8'"),
                        (json.dumps(dict(good, loss_scale=-2.0)), "loss_scale=-2.0"),
                        (json.dumps({"policy": "float16"}), "missing keys")]:
        data = dict(np.load(path))
        data["mixed_precision"] = np.array(entry)
        np.savez(path, **data)
        with pytest.raises(ValueError, match=f"Sequential.load: .*m.npz: bad mixed-precision "
                                             f"state .*{what}"):
            Sequential.load(path)


@pytest.mark.parametrize("policy,u", [("float16", U16), ("bfloat16", UBF)])
def test_predict_in_mixed_precision_is_the_16_bit_forward(policy, u, rng):
    """predict(mixed_precision=) computes as training does: operands rounded to 16 bits,
    float32 accumulation, the output rounded to 16 bits once. Against a float64 product of
    the rounded operands the only differences are the float32 sums (K u32) and that last
    rounding (u): normwise <= u + K u32."""
    k = 40
    layer = Dense(k, 7, rng=rng)
    layer.b[...] = rng.standard_normal(7).astype(np.float32)
    model = Sequential([layer])
    x = rng.standard_normal((33, k)).astype(np.float32)
    mp = MixedPrecision(policy)
    dt = mp.compute_dtype
    ref = (x.astype(dt).astype(np.float64) @ layer.W.astype(dt).astype(np.float64)
           + layer.b.astype(np.float64))
    out = model.predict(x, mixed_precision=mp, batch_size=10)   # 4 batches
    assert out.dtype == np.float32 and out.shape == (33, 7)
    assert np.array_equal(out.astype(dt).astype(np.float32), out)   # 16-bit values
    assert rel(out, ref) <= u + k * 2.0 ** -24
    assert rel(out, ref) > 0                        # really rounded, unlike float32:
    assert rel(model.predict(x), ref) > rel(out, ref) / 50
    # a policy string does the same; the layer computes in float32 again afterwards
    assert np.array_equal(model.predict(x, mixed_precision=policy), out)
    assert layer._compute_dtype is None and model.predict(x).dtype == np.float32


def test_evaluate_in_mixed_precision_and_policy_strings(rng):
    xtr, ytr, xte, yte = load_digits_split(test_size=0.25, seed=0)
    r = np.random.default_rng(3)
    model = Sequential([Dense(64, 32, rng=r), ReLU(), Dense(32, 10, rng=r)])
    model.fit(xtr, ytr, epochs=5, batch_size=32, seed=0, progress=False,
              optimizer=SGD(0.05, momentum=0.9), mixed_precision="float16")
    assert isinstance(model.mixed_precision, MixedPrecision)
    assert model.mixed_precision.policy == "float16"
    loss32, acc32 = model.evaluate(xte, yte)
    loss16, acc16 = model.evaluate(xte, yte, mixed_precision=model.mixed_precision)
    assert acc32 > 0.9 and abs(acc16 - acc32) <= 2 / len(yte) + 1e-12   # a test image
    assert loss16 != loss32 and abs(loss16 - loss32) <= 0.05 * loss32


def test_autocast_restores_the_layers_after_an_error(rng):
    model = mlp(1)
    mp = MixedPrecision("bfloat16")
    with pytest.raises(RuntimeError, match="inside"):
        with mp.autocast(model):
            assert all(layer._compute_dtype == mp.compute_dtype for layer in model.layers)
            raise RuntimeError("inside")
    assert all(layer._compute_dtype is None for layer in model.layers)


def test_mixed_precision_argument_errors(rng):
    model = mlp(2)
    x, y = rng.random((6, 12), dtype=np.float32), rng.integers(0, 4, 6)
    for call in (lambda mp: model.predict(x, mixed_precision=mp),
                 lambda mp: model.evaluate(x, y, mixed_precision=mp),
                 lambda mp: model.fit(x, y, epochs=1, batch_size=3, optimizer=SGD(0.1),
                                      progress=False, mixed_precision=mp)):
        with pytest.raises(TypeError, match="mixed_precision must be a MixedPrecision"):
            call(np.float16)
        with pytest.raises(ValueError, match="policy must be 'float16' or 'bfloat16'"):
            call("float8")
    assert model.optimizer is None   # the failed fit changed nothing
