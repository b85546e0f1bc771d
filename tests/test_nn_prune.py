"""blasfast.nn pruning: masks per method, hard prune through training, compaction with
the same outputs, shared-weight multi-sparsity switching, files and errors."""

import numpy as np
import pytest

from blasfast.nn import (SGD, Adam, Conv2D, Dense, MixedPrecision, MultiSparsity, ReLU, Sequential, Sigmoid,
                         Tanh, compact, prune, weight_sparsity)


def blobs(rng, n=300, classes=4, features=12):
    centers = rng.standard_normal((classes, features)) * 3
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.standard_normal((n, features))).astype(np.float32), y


def mlp(seed, act=ReLU):
    rng = np.random.default_rng(seed)
    return Sequential([Dense(12, 32, rng=rng), act(), Dense(32, 16, rng=rng), act(),
                       Dense(16, 4, rng=rng)])


def test_masks_per_method(rng):
    w = rng.standard_normal((8, 12)).astype(np.float32)
    for method, check in [
        ("irregular", lambda W: (W == 0).sum() == 48
         and np.abs(W[W != 0]).min() >= np.sort(np.abs(w).ravel())[47]),
        ("row", lambda W: (np.abs(W).sum(1) == 0).sum() == 4),
        ("column", lambda W: (np.abs(W).sum(0) == 0).sum() == 6),
        ("block", lambda W: (W == 0).sum() == 3 * 16
         and all(np.all(W[r:r + 4, c:c + 4] == 0) or np.all(W[r:r + 4, c:c + 4] != 0)
                 for r in (0, 4) for c in (0, 4, 8))),
    ]:
        layer = Dense(8, 12, rng=0)
        layer.W, layer.b = w.copy(), np.ones(12, np.float32)
        masks = prune(layer, method, sparsity=0.5)
        assert check(layer.W), method
        assert masks[0]["W"].dtype == bool and np.array_equal(layer.W, w * masks[0]["W"])
        if method == "column":  # the pruned units' biases go too
            assert np.array_equal(layer.b == 0, ~masks[0]["b"])
    # row pruning keeps the rows of largest norm
    layer = Dense(8, 12, rng=0)
    layer.W = w.copy()
    prune(layer, "row", sparsity=0.25)
    kept = np.abs(layer.W).sum(1) != 0
    assert np.linalg.norm(w[kept], axis=1).min() >= np.linalg.norm(w[~kept], axis=1).max()
    # partial edge blocks, Conv2D filters as columns
    layer = Dense(6, 7, rng=1)
    prune(layer, "block", sparsity=0.5, block=(4, 4))
    assert weight_sparsity(layer) > 0
    conv = Conv2D(3, 8, 3, rng=2)
    prune(conv, "column", sparsity=0.25)
    assert (np.abs(conv.W).sum(axis=(1, 2, 3)) == 0).sum() == 2 and (conv.b == 0).all()


@pytest.mark.parametrize("method", ["irregular", "row", "column", "block"])
def test_pruned_weights_stay_zero_through_training(method, rng):
    x, y = blobs(rng)
    model = mlp(0)
    model.fit(x, y, epochs=2, batch_size=32, optimizer=SGD(0.05, momentum=0.9),
              progress=False)
    masks = prune(model, method, sparsity=0.5, block=(4, 4))
    assert len(masks) == 2 and not hasattr(model.layers[4], "masks")  # classifier kept
    acc_pruned = model.evaluate(x, y)[1]
    model.fit(x, y, epochs=3, batch_size=32, optimizer=Adam(0.01, weight_decay=1e-3),
              progress=False)
    for layer, m in zip((model.layers[0], model.layers[2]), masks):
        assert np.all(layer.W[~m["W"]] == 0)
        assert np.count_nonzero(layer.W) > 0.9 * m["W"].sum()  # the rest still trains
    assert model.evaluate(x, y)[1] >= max(acc_pruned - 0.02, 0.8)  # fine-tuning works


@pytest.mark.parametrize("method,act", [("column", ReLU), ("row", ReLU), ("column", Sigmoid),
                                        ("irregular", Tanh)])
def test_compact_removes_units_with_the_same_outputs(method, act, rng):
    x, y = blobs(rng, n=100)
    model = mlp(1, act)
    model.fit(x, y, epochs=1, batch_size=20, optimizer=SGD(0.05), progress=False)
    prune(model, method, sparsity=0.5)
    small = compact(model)
    ref, out = model.predict(x), small.predict(x)
    assert np.allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    shapes = [layer.W.shape for layer in small.layers if isinstance(layer, Dense)]
    if method == "column":  # hidden units 32 -> 16 and 16 -> 8
        assert shapes == [(12, 16), (16, 8), (8, 4)]
    elif method == "row":  # rows 32 -> 16 of layer 2 and 16 -> 8 of layer 3 (unchanged)
        assert shapes == [(12, 16), (16, 16), (16, 4)]
    else:
        assert shapes == [(12, 32), (32, 16), (16, 4)]
    assert model.layers[0].W.shape == (12, 32)  # the original is untouched
    # the compacted model keeps its masks and still trains, saves and loads
    small.fit(x, y, epochs=1, batch_size=20, optimizer=SGD(0.05), progress=False)


def test_mask_survives_momentum_and_mixed_precision(rng):
    """Pruning mid-training with the same optimizer: the velocity buffers still hold
    values at pruned positions, yet the weights stay zero (also under MixedPrecision)."""
    x, y = blobs(rng)
    for mp in (None, MixedPrecision("float16")):
        model = mlp(5)
        opt = SGD(0.05, momentum=0.9, weight_decay=1e-3)
        model.fit(x, y, epochs=1, batch_size=32, optimizer=opt, progress=False)
        (m, _) = prune(model, "irregular", sparsity=0.6)
        assert np.any(opt._state[0]["velocity"][~m["W"]] != 0)
        model.fit(x, y, epochs=2, batch_size=32, optimizer=opt, progress=False,
                  mixed_precision=mp)
        assert np.all(model.layers[0].W[~m["W"]] == 0)
        assert weight_sparsity(model.layers[0]) == pytest.approx(0.6, abs=0.01)


def test_masks_round_trip_through_files(tmp_path, rng):
    x, y = blobs(rng, n=60)
    model = mlp(2)
    prune(model, "block", sparsity=0.75, block=(2, 8))
    model.save(tmp_path / "m.npz")
    back = Sequential.load(tmp_path / "m.npz")
    assert np.array_equal(back.layers[0].masks["W"], model.layers[0].masks["W"])
    back.fit(x, y, epochs=1, batch_size=20, optimizer=SGD(0.1), progress=False)
    assert np.all(back.layers[0].W[~model.layers[0].masks["W"]] == 0)
    data = dict(np.load(tmp_path / "m.npz"))
    data["layer0.mask.W"] = data["layer0.mask.W"][:3]
    np.savez(tmp_path / "bad.npz", **data)
    with pytest.raises(ValueError, match=r"mask layer0\.mask\.W should be \(12, 32\)"):
        Sequential.load(tmp_path / "bad.npz")


def test_multi_sparsity_shares_weights_and_reports_rewrites(rng):
    x, y = blobs(rng)
    model = mlp(3)
    model.fit(x, y, epochs=2, batch_size=32, optimizer=SGD(0.05, momentum=0.9),
              progress=False)
    dense = [p.copy() for p in model.params]
    ms = MultiSparsity(model, "irregular", (0.9, 0.5, 0.25))
    assert ms.sparsities == [0.25, 0.5, 0.9]
    accs = {}
    for s, expected in [(0.25, 0.25), (0.5, 0.25), (0.9, 0.4), (0.25, 0.65), (None, 0.25)]:
        frac = ms.switch(s)
        assert frac == pytest.approx(expected, abs=0.01), s
        accs[s] = model.evaluate(x, y)[1]
        if s is not None:
            assert weight_sparsity(model.layers[0]) == pytest.approx(s, abs=0.01)
    for a, b in zip(model.params, dense):  # back to dense: exactly the shared weights
        assert np.array_equal(a, b)
    # nested masks: every weight kept at 0.9 is kept, with the same value, at 0.25
    ms.switch(0.9)
    w_high = model.layers[0].W.copy()
    ms.switch(0.25)
    nz = w_high != 0
    assert np.array_equal(model.layers[0].W[nz], w_high[nz])
    assert ms.rewrite_fraction(0.25, 0.9) == pytest.approx(0.65, abs=0.01)
    assert accs[0.25] >= accs[0.9] - 0.05
    for method in ("row", "column", "block"):
        ms = MultiSparsity(mlp(4), method, (0.25, 0.5))
        assert 0.2 < ms.switch(0.5) <= 0.5 and 0.2 < ms.switch(0.25) <= 0.5
    with pytest.raises(ValueError, match="not one of"):
        ms.switch(0.3)


def test_bad_configurations_give_clear_errors():
    layer = Dense(4, 4, rng=0)
    with pytest.raises(ValueError, match="unknown method 'random'"):
        prune(layer, "random")
    for s in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"sparsity must lie in \[0, 1\)"):
            prune(layer, "irregular", sparsity=s)
    with pytest.raises(ValueError, match="sparsity must be a number"):
        prune(layer, "row", sparsity="half")
    for b in ((0, 4), (4,), 2.5, (True, 2)):
        with pytest.raises(ValueError, match="block must be"):
            prune(layer, "block", block=b)
    with pytest.raises(TypeError, match="expected a Sequential"):
        prune(ReLU(), "row")
    with pytest.raises(ValueError, match="at least one"):
        MultiSparsity(mlp(0), "row", [])
    with pytest.raises(ValueError, match="sparsity must lie"):
        MultiSparsity(mlp(0), "row", [0.5, 1.0])
    assert weight_sparsity(layer) == 0.0
    prune(layer, "irregular", sparsity=0.0)  # sparsity 0 is allowed: nothing pruned
    assert weight_sparsity(layer) == 0.0
