"""blasfast.nn optimizers (hand-computed steps, float64 references), learning-rate schedules,
callbacks, and save/load of the optimizer state."""

import json
import math

import numpy as np
import pytest

from blasfast.nn import (SGD, Adagrad, Adam, AdamW, CosineLR, Dense, EarlyStopping,
                         ModelCheckpoint, ReLU, RMSprop, Sequential, StepLR)


def host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.asarray(a)


# -- hand-computed steps ----------------------------------------------------------------


def test_adagrad_two_steps_by_hand(xp):
    w = xp.asarray([1.0, -1.0])
    opt = Adagrad(lr=0.5, eps=0.0)
    opt.step([w], [xp.asarray([2.0, -1.0])])  # G = [4, 1]; w -= 0.5 * [2/2, -1/1]
    assert np.allclose(host(w), [0.5, -0.5], rtol=0, atol=1e-15)
    opt.step([w], [xp.asarray([0.0, 1.0])])  # G = [4, 2]; w -= 0.5 * [0, 1/sqrt 2]
    assert np.allclose(host(w), [0.5, -0.5 - 0.5 / math.sqrt(2)], rtol=0, atol=1e-15)


def test_rmsprop_two_steps_by_hand(xp):
    w = xp.asarray([0.0])
    opt = RMSprop(lr=0.1, rho=0.5, eps=0.0, momentum=0.5)
    opt.step([w], [xp.asarray([2.0])])  # s = 2; d = 2/sqrt 2 = sqrt 2; v = sqrt 2
    assert np.allclose(host(w), [-0.1 * math.sqrt(2)], rtol=0, atol=1e-15)
    opt.step([w], [xp.asarray([1.0])])  # s = 1 + 0.5 = 1.5; d = 1/sqrt 1.5; v = sqrt2/2 + d
    v = math.sqrt(2) / 2 + 1 / math.sqrt(1.5)
    assert np.allclose(host(w), [-0.1 * math.sqrt(2) - 0.1 * v], rtol=0, atol=1e-15)


def test_adam_and_adamw_two_steps_by_hand(xp):
    g1, g2 = 2.0, -1.0
    b1, b2, lr, lam = 0.5, 0.75, 0.1, 0.2
    for cls in (Adam, AdamW):
        w = xp.asarray([1.0])
        opt = cls(lr=lr, betas=(b1, b2), eps=0.0, weight_decay=lam)
        ref, m, v = 1.0, 0.0, 0.0
        for t, g in enumerate((g1, g2), start=1):
            opt.step([w], [xp.asarray([g])])
            if cls is Adam:
                g = g + lam * ref
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            upd = lr * (m / (1 - b1 ** t)) / math.sqrt(v / (1 - b2 ** t))
            ref = (ref * (1 - lr * lam) if cls is AdamW else ref) - upd
            assert host(w)[0] == pytest.approx(ref, abs=1e-15), (cls, t)
    # first Adam step without decay is lr * sign(g), whatever |g|
    w = xp.asarray([0.0, 0.0])
    Adam(lr=0.01, eps=0.0).step([w], [xp.asarray([1e-3, -50.0])])
    assert np.allclose(host(w), [-0.01, 0.01], rtol=0, atol=1e-15)


# -- float64 reference on a small problem ------------------------------------------------


def _ref_step(name, w, g, st, t, lr, hp):
    """Straightforward scalar-loop float64 implementation of each update rule."""
    w, g = w.copy(), g.copy()
    for i in range(w.size):
        gi = g.flat[i]
        if name == "SGD":
            gi += hp["weight_decay"] * w.flat[i]
            v = hp["momentum"] * st.setdefault("v", np.zeros_like(w)).flat[i] + gi
            st["v"].flat[i] = v
            d = gi + hp["momentum"] * v if hp["nesterov"] else v
            w.flat[i] -= lr * d
        elif name == "Adagrad":
            s = st.setdefault("s", np.zeros_like(w)).flat[i] + gi * gi
            st["s"].flat[i] = s
            w.flat[i] -= lr * gi / (math.sqrt(s) + hp["eps"])
        elif name == "RMSprop":
            s = hp["rho"] * st.setdefault("s", np.zeros_like(w)).flat[i] + (1 - hp["rho"]) * gi ** 2
            st["s"].flat[i] = s
            w.flat[i] -= lr * gi / (math.sqrt(s) + hp["eps"])
        else:
            b1, b2 = hp["betas"]
            if name == "Adam":
                gi += hp["weight_decay"] * w.flat[i]
            m = b1 * st.setdefault("m", np.zeros_like(w)).flat[i] + (1 - b1) * gi
            v = b2 * st.setdefault("v", np.zeros_like(w)).flat[i] + (1 - b2) * gi * gi
            st["m"].flat[i], st["v"].flat[i] = m, v
            upd = lr * (m / (1 - b1 ** t)) / (math.sqrt(v / (1 - b2 ** t)) + hp["eps"])
            if name == "AdamW":
                w.flat[i] *= 1 - lr * hp["weight_decay"]
            w.flat[i] -= upd
    return w


CASES = [
    (SGD, dict(momentum=0.9, weight_decay=0.01, nesterov=True)),
    (Adagrad, dict(eps=1e-10, weight_decay=0.0)),
    (RMSprop, dict(rho=0.9, eps=1e-8, momentum=0.0, weight_decay=0.0)),
    (Adam, dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-3)),
    (AdamW, dict(betas=(0.9, 0.99), eps=1e-8, weight_decay=0.05)),
]


@pytest.mark.parametrize("cls,hp", CASES, ids=[c.__name__ for c, _ in CASES])
def test_optimizer_matches_float64_reference_on_least_squares(cls, hp, rng):
    """Minimize ||A w - b||^2 / 2m for 30 steps with a cosine schedule; the float64
    optimizer follows the scalar reference within 1e-12 (relative) and the float32 one
    within 1e-4, and both reduce the loss."""
    a, b = rng.standard_normal((20, 6)), rng.standard_normal(20)
    w0 = rng.standard_normal(6)
    sched = CosineLR(0.05, total_steps=30, min_lr=0.005)
    opt64, opt32 = cls(lr=sched, **hp), cls(lr=sched, **hp)
    w64, w32, wref, st = w0.copy(), w0.astype(np.float32), w0.copy(), {}
    for t in range(1, 31):
        g64 = a.T @ (a @ w64 - b) / 20
        gref = a.T @ (a @ wref - b) / 20
        g32 = (a.T @ (a @ w32 - b) / 20).astype(np.float32)
        wref = _ref_step(cls.__name__, wref, gref, st, t, sched(t - 1), hp)
        opt64.step([w64], [g64])
        opt32.step([w32], [g32])
        assert np.linalg.norm(w64 - wref) <= 1e-12 * np.linalg.norm(wref)
    assert np.linalg.norm(w32 - wref) <= 1e-4 * np.linalg.norm(wref)
    assert w32.dtype == np.float32 and opt64.t == 30
    loss = lambda w: np.sum((a @ w - b) ** 2)  # noqa: E731
    assert loss(w64) < loss(w0)


def test_schedules():
    s = StepLR(1.0, step_size=3, gamma=0.5)
    assert [s(t) for t in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    c = CosineLR(1.0, total_steps=4, min_lr=0.2)
    assert c(0) == 1.0 and c(2) == pytest.approx(0.6) and c(4) == c(10) == pytest.approx(0.2)
    opt = SGD(lr=s)
    w = np.zeros(1)
    for _ in range(4):
        opt.step([w], [np.ones(1)])
    assert w[0] == pytest.approx(-3.5) and opt.current_lr() == 0.5
    for bad in (lambda: StepLR(0, 1), lambda: StepLR(1, 0), lambda: StepLR(1, 1, gamma=2),
                lambda: CosineLR(1, 0), lambda: CosineLR(1, 5, min_lr=2)):
        with pytest.raises(ValueError):
            bad()


def test_optimizer_errors():
    for bad in (lambda: Adam(lr=0), lambda: Adam(betas=(1.0, 0.9)), lambda: AdamW(eps=-1),
                lambda: RMSprop(rho=1.0), lambda: Adagrad(weight_decay=-1),
                lambda: RMSprop(momentum=-0.1)):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(TypeError, match="lr must be"):
        Adam(lr=lambda t: 0.1)
    opt = Adam()
    opt.step([np.zeros(2)], [np.ones(2)])
    with pytest.raises(ValueError, match="reset"):
        opt.step([np.zeros(2), np.zeros(2)], [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match="reset"):
        opt.step([np.zeros(3)], [np.ones(3)])
    opt.reset()
    opt.step([np.zeros(3)], [np.ones(3)])
    assert opt.t == 1


# -- model training, callbacks, files ----------------------------------------------------


def blobs(rng, n=400, classes=3, features=5):
    centers = rng.standard_normal((classes, features)) * 3
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.standard_normal((n, features))).astype(np.float32), y


def small_model(seed):
    rng = np.random.default_rng(seed)
    return Sequential([Dense(5, 16, rng=rng), ReLU(), Dense(16, 3, rng=rng)])


@pytest.mark.parametrize("make", [lambda: Adagrad(0.1), lambda: RMSprop(0.01),
                                  lambda: Adam(0.01), lambda: AdamW(0.01, weight_decay=0.01),
                                  lambda: SGD(StepLR(0.1, 20), momentum=0.9)],
                         ids=["adagrad", "rmsprop", "adam", "adamw", "sgd-step"])
def test_every_optimizer_trains_a_model(make, rng):
    x, y = blobs(rng)
    model = small_model(3)
    loss0 = model.evaluate(x, y)[0]
    hist = model.fit(x, y, epochs=4, batch_size=32, optimizer=make(), progress=False)
    assert hist["loss"][-1] < 0.5 * loss0 and hist["accuracy"][-1] > 0.9


def test_save_load_resumes_training_exactly(tmp_path, rng):
    """Train 2 epochs, save, load, train 2 more == train 4 epochs straight (Adam, cosine)."""
    x, y = blobs(rng)
    straight = small_model(0)
    straight.fit(x, y, epochs=4, batch_size=50, optimizer=Adam(CosineLR(0.01, 32)), seed=1,
                 shuffle=False, progress=False)
    first = small_model(0)
    first.fit(x, y, epochs=2, batch_size=50, optimizer=Adam(CosineLR(0.01, 32)), seed=1,
              shuffle=False, progress=False)
    first.save(tmp_path / "m.npz")
    resumed = Sequential.load(tmp_path / "m.npz")
    assert isinstance(resumed.optimizer, Adam) and resumed.optimizer.t == 16
    assert resumed.optimizer.config() == first.optimizer.config()
    for a, b in zip(first.optimizer._state, resumed.optimizer._state):
        assert all(np.array_equal(a[k], b[k]) for k in ("m", "v"))
    resumed.fit(x, y, epochs=2, batch_size=50, optimizer=resumed.optimizer, shuffle=False,
                progress=False)
    for a, b in zip(straight.params, resumed.params):
        assert np.array_equal(a, b)


def test_load_rejects_bad_optimizer_state(tmp_path, rng):
    x, y = blobs(rng, n=40)
    model = small_model(0)
    model.fit(x, y, epochs=1, batch_size=10, optimizer=Adam(), progress=False)
    model.save(tmp_path / "good.npz")
    data = dict(np.load(tmp_path / "good.npz"))
    bad = dict(data, **{"optimizer.0.m": np.zeros((2, 2), np.float32)})
    np.savez(tmp_path / "shape.npz", **bad)
    with pytest.raises(ValueError, match="bad optimizer state.*state buffer m"):
        Sequential.load(tmp_path / "shape.npz")
    cfg = json.loads(str(data["optimizer"]))
    np.savez(tmp_path / "type.npz", **dict(data, optimizer=np.array(json.dumps(
        dict(cfg, type="Adamax")))))
    with pytest.raises(ValueError, match="unknown optimizer 'Adamax'"):
        Sequential.load(tmp_path / "type.npz")
    np.savez(tmp_path / "slot.npz", **dict(data, **{"optimizer.0.q": np.zeros(1)}))
    with pytest.raises(ValueError, match="unexpected state entry '0.q'"):
        Sequential.load(tmp_path / "slot.npz")


def test_early_stopping_and_checkpoint(tmp_path, rng):
    x, y = blobs(rng)
    xv, yv = blobs(np.random.default_rng(99), n=100)
    model = small_model(2)
    stop = EarlyStopping(monitor="val_loss", patience=1, min_delta=10.0,
                         restore_best_weights=True)
    ckpt = ModelCheckpoint(tmp_path / "ck-{epoch}.npz", monitor="val_accuracy",
                           save_best_only=True)
    every = ModelCheckpoint(tmp_path / "every-{epoch:02d}.npz")
    hist = model.fit(x, y, epochs=20, batch_size=32, optimizer=SGD(0.05), progress=False,
                     validation_data=(xv, yv), callbacks=[stop, ckpt, every])
    # min_delta=10 makes every epoch after the first "no improvement": stop after epoch 3
    assert len(hist["loss"]) == 3 and stop.stopped_epoch == 3 and stop.best_epoch == 1
    assert [p.rsplit("/", 1)[1] for p in every.saved] == ["every-01.npz", "every-02.npz",
                                                          "every-03.npz"]
    assert ckpt.saved and all((tmp_path / p).exists() for p in ckpt.saved)
    first = Sequential.load(tmp_path / "every-01.npz")
    for a, b in zip(first.params, model.params):  # best (epoch 1) weights restored
        assert np.array_equal(a, b)
    with pytest.raises(KeyError, match="val_loss"):
        small_model(0).fit(x, y, epochs=1, batch_size=32, optimizer=SGD(0.1),
                           progress=False, callbacks=[EarlyStopping()])
    with pytest.raises(ValueError):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="mode"):
        ModelCheckpoint("x", mode="up")
