"""blasfast.nn pruning: masks per method, hard prune through training, compaction with
the same outputs, shared-weight multi-sparsity switching, files and errors."""

import numpy as np
import pytest

from blasfast.nn import (SGD, Adam, AvgPool2D, Conv2D, Dense, Flatten, MaxPool2D,
                         MixedPrecision, MultiSparsity, ReLU, Reshape, Sequential, Sigmoid,
                         Tanh, compact, prune, weight_sparsity)

# Tolerance of the compacted-vs-original comparisons, relative (Frobenius) norm of the
# logits. Compaction only drops exact zeros and reorders float32 sums (im2col GEMMs of
# up to C R S = 72 terms, a few layers deep) and rounds a folded bias once: a few float32
# ulps (eps = 1.2e-7) per layer, i.e. ~1e-6 at worst. 2e-5 leaves margin for the GEMM
# blocking, and is still orders of magnitude below what a wrong removal does (see the
# border check in test_constant_channel_before_zero_padding_is_kept: > 1e-3).
RTOL = 2e-5


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
    with pytest.raises(ValueError, match="method must be one of .*got 'random'"):
        prune(layer, "random")
    for s in (-0.1, 1.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"sparsity must be a finite number 0 <= "
                                             r"sparsity < 1"):
            prune(layer, "irregular", sparsity=s)
    with pytest.raises(TypeError, match="sparsity must be a real number"):
        prune(layer, "row", sparsity="half")
    for b in ((0, 4), (4,)):
        with pytest.raises(ValueError, match="block"):
            prune(layer, "block", block=b)
    for b in (2.5, (True, 2)):   # not integers: a type error, never truncated
        with pytest.raises(TypeError, match="block.* must be an integer"):
            prune(layer, "block", block=b)
    with pytest.raises(TypeError, match="target must be a Sequential"):
        prune(ReLU(), "row")
    with pytest.raises(ValueError, match="at least one"):
        MultiSparsity(mlp(0), "row", [])
    with pytest.raises(ValueError, match=r"sparsities\[1\] must be a finite number"):
        MultiSparsity(mlp(0), "row", [0.5, 1.0])
    assert weight_sparsity(layer) == 0.0
    prune(layer, "irregular", sparsity=0.0)  # sparsity 0 is allowed: nothing pruned
    assert weight_sparsity(layer) == 0.0


def rel_err(out, ref):
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


def small_cnn(rng, act=ReLU, padding=1, size=12, c0=8, c1=6, hidden=7):
    """Reshape -> Conv -> act -> MaxPool -> Conv -> act -> AvgPool -> Flatten -> Dense ->
    act -> Dense, with random non-zero biases. Returns the model and the pooled size."""
    h = size + 2 * padding - 2
    h = (h // 2 + 2 * padding - 2) // 2
    layers = [Reshape((2, size, size)), Conv2D(2, c0, 3, padding=padding, rng=rng), act(),
              MaxPool2D(2), Conv2D(c0, c1, 3, padding=padding, rng=rng), act(), AvgPool2D(2),
              Flatten(), Dense(c1 * h * h, hidden, rng=rng), act(), Dense(hidden, 3, rng=rng)]
    model = Sequential(layers)
    for layer in model.layers:
        if hasattr(layer, "b"):
            layer.b = (0.3 * rng.standard_normal(layer.b.shape)).astype(np.float32)
    return model, h * h


def images(rng, n=16, size=12):
    return rng.standard_normal((n, 2 * size * size)).astype(np.float32)


def shapes(model):
    return [layer.W.shape for layer in model.layers if hasattr(layer, "W")]


def test_conv_row_and_column_pruning_remove_whole_channels(rng):
    conv = Conv2D(6, 5, 3, rng=rng)
    w = conv.W.copy()
    (m,) = prune(conv, "row", sparsity=0.5)
    dead_in = np.abs(conv.W).sum(axis=(0, 2, 3)) == 0
    assert dead_in.sum() == 3 and m["W"].shape == w.shape and "b" not in m
    assert np.array_equal(conv.W, w * m["W"])
    norms = np.linalg.norm(w.transpose(1, 0, 2, 3).reshape(6, -1), axis=1)
    assert norms[~dead_in].min() >= norms[dead_in].max()  # largest input channels kept
    assert np.all(m["W"] == m["W"][:, :, :1, :1])  # the mask is per (filter, channel)
    conv = Conv2D(6, 5, 3, rng=rng)
    conv.b[:] = 1
    (m,) = prune(conv, "column", sparsity=0.4)
    dead_out = np.abs(conv.W).sum(axis=(1, 2, 3)) == 0
    assert dead_out.sum() == 2 and np.array_equal(conv.b == 0, dead_out)
    # shared-weight switching uses the same channel masks
    model, _ = small_cnn(rng)
    ms = MultiSparsity(model, "row", (0.25, 0.5))
    ms.switch(0.5)
    assert (np.abs(model.layers[4].W).sum(axis=(0, 2, 3)) == 0).sum() == 4


@pytest.mark.parametrize("method,act,padding", [
    ("column", ReLU, 1), ("column", Tanh, 0), ("column", Sigmoid, 1), ("column", Sigmoid, 0),
    ("row", ReLU, 1), ("row", Sigmoid, 0)])
def test_compact_cnn_removes_channels_with_the_same_outputs(method, act, padding, rng):
    model, hw = small_cnn(rng, act, padding)
    prune(model, method, sparsity=0.5)
    x = images(rng)
    ref = model.predict(x)
    small = compact(model)
    assert rel_err(small.predict(x), ref) < RTOL
    conv0, conv1, dense0 = small.layers[1], small.layers[4], small.layers[8]
    if method == "column":
        # conv0 8 -> 4 filters, conv1 6 -> 3, hidden dense 7 -> 4 (floor(3.5) pruned);
        # the dead filters are sigmoid(0) = 0.5 constants with Sigmoid: folded away,
        # except in front of the zero-padded conv1, where they must stay
        k0 = 8 if (act is Sigmoid and padding) else 4
        assert shapes(small) == [(k0, 2, 3, 3), (3, k0, 3, 3), (3 * hw, 4), (4, 3)]
    else:
        # conv1 loses 4 of 8 input channels, hence conv0 4 filters; the dense layer
        # after Flatten loses single rows: a conv1 channel goes only if all its rows did;
        # the classifier is not pruned, so the hidden dense layer keeps its 7 units
        w_dense = model.layers[8].W.reshape(6, hw, -1)
        k1 = 6 - int((~np.any(w_dense != 0, axis=(1, 2))).sum())
        assert shapes(small) == [(4, 2, 3, 3), (k1, 4, 3, 3), (k1 * hw, 7), (7, 3)]
    assert (conv0.out_channels, conv1.in_channels) == (conv0.W.shape[0], conv1.W.shape[1])
    assert conv1.out_channels * hw == dense0.in_features == dense0.W.shape[0]
    assert f"in_channels={conv1.in_channels}" in repr(small)
    assert shapes(model)[0] == (8, 2, 3, 3)  # the original is untouched


def _dead_filter_cnn(rng, padding, consts):
    """Conv0 whose filters 1, 3, 5 are zero with biases ``consts``, then ReLU, MaxPool."""
    model, hw = small_cnn(rng, ReLU, padding)
    conv0 = model.layers[1]
    conv0.W[[1, 3, 5]] = 0
    conv0.b[[1, 3, 5]] = consts
    return model, hw


def test_constant_channel_before_zero_padding_is_kept(rng):
    model, _ = _dead_filter_cnn(rng, 1, [0.3, -0.2, 0.0])  # ReLU: 0.3, 0, 0
    x = images(rng)
    ref = model.predict(x)
    small = compact(model)
    assert rel_err(small.predict(x), ref) < RTOL
    # the two zero channels go, the 0.3 one stays (conv1 pads with zeros)
    assert small.layers[1].W.shape == (6, 2, 3, 3) and small.layers[4].W.shape == (6, 6, 3, 3)
    kept = np.flatnonzero(np.any(model.layers[1].W != 0, axis=(1, 2, 3)) |
                          (np.arange(8) == 1))
    assert np.array_equal(small.layers[1].b, model.layers[1].b[kept])
    # folding the 0.3 channel into conv1's bias would be wrong at the image borders, by far
    # more than the tolerance: the check above can tell
    wrong = compact(model)
    j = int(np.flatnonzero(kept == 1)[0])
    conv1 = wrong.layers[4]
    conv1.b = conv1.b + np.float32(0.3) * conv1.W[:, j].sum(axis=(1, 2))
    conv1.W[:, j] = 0
    assert rel_err(wrong.predict(x), ref) > 1e-3


def test_constant_channel_without_padding_is_folded(rng):
    model, _ = _dead_filter_cnn(rng, 0, [0.3, -0.2, 0.7])
    x = images(rng)
    ref = model.predict(x)
    b1 = model.layers[4].b.copy()
    small = compact(model)
    assert rel_err(small.predict(x), ref) < RTOL
    assert small.layers[1].W.shape == (5, 2, 3, 3) and small.layers[4].W.shape == (6, 5, 3, 3)
    assert not np.allclose(small.layers[4].b, b1)  # 0.3 and 0.7 went into the bias


@pytest.mark.parametrize("act", [ReLU, Sigmoid])
def test_constant_conv_channel_folds_into_dense_after_flatten(act, rng):
    model, hw = small_cnn(rng, act, 1)
    conv1, dense = model.layers[4], model.layers[8]
    conv1.W[[0, 2, 5]] = 0           # constants act(b) through AvgPool and Flatten
    conv1.b[[0, 2, 5]] = [0.4, -0.5, 0.9]
    dense.W[4 * hw:5 * hw] = 0       # channel 4 unused by the Dense layer
    x = images(rng)
    ref = model.predict(x)
    small = compact(model)
    assert rel_err(small.predict(x), ref) < RTOL
    assert small.layers[4].W.shape == (2, 8, 3, 3)  # channels 1 and 3 remain
    expected_rows = np.concatenate([model.layers[8].W[k * hw:(k + 1) * hw] for k in (1, 3)])
    assert np.array_equal(small.layers[8].W, expected_rows)  # NCHW row blocks
    shift = small.layers[8].b - dense.b
    assert np.abs(shift).max() > 0.01   # the constants moved into the Dense bias


def test_all_units_removable_keeps_one_and_the_outputs(rng):
    # every hidden unit is a folded constant: one must stay, without counting twice
    model = Sequential([Dense(5, 6, rng=rng), Sigmoid(), Dense(6, 3, rng=rng)])
    model.layers[0].W[:] = 0
    model.layers[0].b = rng.standard_normal(6).astype(np.float32)
    x = rng.standard_normal((10, 5)).astype(np.float32)
    small = compact(model)
    assert shapes(small) == [(5, 1), (1, 3)]
    assert rel_err(small.predict(x), model.predict(x)) < RTOL
    # likewise for a CNN whose first convolution gives only zeros (ReLU of b <= 0): then
    # conv1 sees zeros, its outputs are constants folded into the Dense bias, and so on
    cnn, hw = small_cnn(rng)
    cnn.layers[1].W[:] = 0
    cnn.layers[1].b[:] = -np.abs(cnn.layers[1].b)
    x = images(rng)
    small = compact(cnn)
    assert shapes(small) == [(1, 2, 3, 3), (1, 1, 3, 3), (hw, 1), (1, 3)]
    assert rel_err(small.predict(x), cnn.predict(x)) < RTOL


def test_compacted_cnn_keeps_masks_trains_and_round_trips(tmp_path, rng):
    model, hw = small_cnn(rng, ReLU, 1)
    prune(model, "column", sparsity=0.5)
    prune(model, "irregular", sparsity=0.3)  # intersected: zeros inside the kept filters
    small = compact(model)
    for layer in small.layers:
        for name, m in (getattr(layer, "masks", None) or {}).items():
            p = getattr(layer, name)
            assert m.shape == p.shape and np.all(p[~m] == 0), (layer, name)
    assert small.layers[4].masks["W"].shape == (3, 4, 3, 3)
    x = images(rng, n=48)
    y = rng.integers(0, 3, 48)
    small.fit(x, y, epochs=1, batch_size=16, optimizer=SGD(0.05, momentum=0.9),
              progress=False)
    for layer in small.layers:   # fine-tuning keeps the pruned weights at zero
        if getattr(layer, "masks", None):
            assert np.all(layer.W[~layer.masks["W"]] == 0)
    small.save(tmp_path / "small.npz")
    back = Sequential.load(tmp_path / "small.npz")
    assert repr(back) == repr(small) and shapes(back) == shapes(small)
    assert np.array_equal(back.predict(x), small.predict(x))
    for a, b in zip(back.layers, small.layers):
        for name, m in (getattr(b, "masks", None) or {}).items():
            assert np.array_equal(a.masks[name], m)


def test_compact_the_cli_cnn(rng):
    from blasfast.nn.cnn import build_cnn
    model = build_cnn((1, 8, 8), 4, channels=(8, 6), hidden=(10,), rng=rng)
    prune(model, "column", sparsity=0.5)
    x = rng.standard_normal((12, 64)).astype(np.float32)
    small = compact(model)
    assert shapes(small) == [(4, 1, 3, 3), (3, 4, 3, 3), (12, 5), (5, 4)]
    assert rel_err(small.predict(x), model.predict(x)) < RTOL
