"""Issue 13, the ``bf.nn`` part: bad arguments and non-finite data are refused with a clear
error instead of being coerced or trained on; divergence stops training with the epoch and
batch named; mixed precision's expected float16 overflow still only skips steps.

(The full per-argument table is ``tests/bad_inputs_nn.py``, run by ``test_bad_inputs.py``.)
"""

import numpy as np
import pytest

from blasfast.nn import SGD, Dense, MixedPrecision, ReLU, Sequential, SoftmaxCrossEntropy
from blasfast.nn.model import _check_loss


def model(seed=0):
    return Sequential([Dense(4, 8, rng=seed), ReLU(), Dense(8, 3, rng=seed + 1)])


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return rng.random((20, 4), dtype=np.float32), rng.integers(0, 3, 20)


def fit(m, x, y, **kw):
    args = dict(epochs=1, batch_size=4, optimizer=SGD(0.1), progress=False, shuffle=False)
    args.update(kw)
    return m.fit(x, y, **args)


def snapshot(m):
    return [p.copy() for p in m.params]


def unchanged(m, before):
    return all(np.array_equal(p, q) for p, q in zip(m.params, before))


# -- the coercions the issue lists --------------------------------------------------------

def test_fit_refuses_a_float_batch_size(data):
    with pytest.raises(TypeError, match="Sequential.fit: batch_size must be an integer, got "
                                        "float 2.5"):
        fit(model(), *data, batch_size=2.5)


def test_fit_refuses_a_float_epoch_count_instead_of_truncating_it(data):
    m = model()
    before = snapshot(m)
    with pytest.raises(TypeError, match="Sequential.fit: epochs must be an integer, got "
                                        "float 1.7"):
        fit(m, *data, epochs=1.7)
    assert unchanged(m, before)


def test_fit_refuses_optimizer_none(data):
    with pytest.raises(TypeError, match=r"Sequential.fit: optimizer must be .*step\(\).*"
                                        "got NoneType None"):
        fit(model(), *data, optimizer=None)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_predict_refuses_a_batch_size_below_one(data, batch_size):
    with pytest.raises(ValueError, match=f"Sequential.predict: batch_size must be an integer "
                                         f">= 1, got {batch_size}"):
        model().predict(data[0], batch_size=batch_size)


def test_dense_refuses_a_float_size_instead_of_truncating_it():
    with pytest.raises(TypeError, match="Dense: in_features must be an integer, got float"):
        Dense(2.5, 3)
    with pytest.raises(TypeError, match="Dense: out_features must be an integer, got bool"):
        Dense(2, True)
    assert Dense(np.int64(2), 3).W.shape == (2, 3)   # NumPy integers are integers


def test_fit_refuses_complex_x_instead_of_dropping_the_imaginary_part(data):
    x, y = data
    m = model()
    before = snapshot(m)
    with pytest.raises(TypeError, match="Sequential.fit: x must hold real numbers .*complex"):
        fit(m, x + 1j * x, y)
    assert unchanged(m, before) and m.optimizer is None


# -- non-finite data ----------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_fit_refuses_non_finite_x_up_front(data, bad):
    x, y = data
    x = x.copy()
    x[13, 2] = bad
    m = model()
    before = snapshot(m)
    with pytest.raises(ValueError, match=r"Sequential.fit: x must be finite, got NaN or Inf "
                                         r"in 1 row\(s\) \(first: \[13\]\)"):
        fit(m, x, y)
    assert unchanged(m, before) and m.optimizer is None


def test_fit_refuses_float64_values_that_overflow_the_models_float32(data):
    x, y = data
    x = x.astype(np.float64)
    x[4, 0] = 1e300
    with pytest.raises(ValueError, match=r"x must be finite.*\[4\].*float32"):
        fit(model(), x, y)


def test_fit_refuses_non_finite_validation_inputs(data):
    x, y = data
    xv = x.copy()
    xv[0, 0] = np.nan
    m = model()
    before = snapshot(m)
    with pytest.raises(ValueError, match=r"validation_data\[0\] must be finite"):
        fit(m, x, y, validation_data=(xv, y))
    assert unchanged(m, before)


def test_integer_inputs_are_still_accepted(data):
    x, y = data
    hist = fit(model(), (x * 10).astype(np.uint8), y)
    assert np.isfinite(hist["loss"][0])


# -- divergence ---------------------------------------------------------------------------

def test_divergence_raises_naming_the_epoch_and_batch(data):
    """Batch 3 of 5 (rows 8-11) holds finite but huge inputs whose logits overflow float32:
    the loss of that batch is NaN, and fit stops there instead of training on."""
    x, y = data
    x = x.copy()
    x[9] = 3e38   # finite in float32; the hidden layer overflows to Inf
    m = model()
    with pytest.raises(FloatingPointError, match=r"Sequential.fit: the loss became nan at "
                                                 r"epoch 1, batch 3 of 5"), \
            np.errstate(over="ignore", invalid="ignore"):
        fit(m, x, y)


class LossTurningNaN(SoftmaxCrossEntropy):
    """Softmax cross-entropy whose ``bad_call``-th forward (1-based) returns NaN."""

    def __init__(self, bad_call):
        super().__init__()
        self.calls, self.bad_call = 0, bad_call

    def forward(self, logits, labels):
        self.calls += 1
        value = super().forward(logits, labels)
        return value * np.float32("nan") if self.calls == self.bad_call else value


def test_divergence_in_a_later_epoch_is_named(data):
    x, y = data
    seen = []
    m = model()
    with pytest.raises(FloatingPointError, match=r"became nan at epoch 2, batch 2 of 5"):
        fit(m, x, y, epochs=3, loss=LossTurningNaN(bad_call=7),
            on_epoch_end=lambda e, logs: seen.append(logs["loss"]))
    assert len(seen) == 1 and np.isfinite(seen[0])   # epoch 1 completed, finite


def test_the_deferred_check_names_the_first_bad_batch():
    """On a GPU the running loss is read every 50 batches; the check then looks back at the
    pending batch losses for the first non-finite one."""
    pending = [(b, np.float32(1.0)) for b in range(100, 150)]
    pending[7] = (107, np.float32(np.inf))
    pending[9] = (109, np.float32(np.nan))
    total = sum(v for _, v in pending)
    with pytest.raises(FloatingPointError, match="became inf at epoch 4, batch 108 of 200"):
        _check_loss(pending, total, 4, 200)
    ok = [(0, np.float32(2.0))]
    _check_loss(ok, np.float32(2.0), 1, 1)
    assert ok == []   # checked and cleared


def test_mixed_precision_overflow_still_skips_steps_without_raising(data):
    """float16 overflow of the scaled gradients is what dynamic loss scaling handles: the
    step is skipped and the scale backs off; fit must not call that divergence."""
    x, y = data
    m = model()
    mp = MixedPrecision("float16", init_scale=2.0 ** 40)
    hist = fit(m, x, y, mixed_precision=mp)
    assert mp.skipped_steps >= 1 and mp.loss_scale < 2.0 ** 40
    assert np.isfinite(hist["loss"][0])
    assert all(np.isfinite(p).all() for p in m.params)


def test_mixed_precision_forward_overflow_skips_the_step(data):
    """Inputs finite in float32 but beyond float16's range (65504) overflow the 16-bit
    forward pass: those steps are skipped (weights untouched), not raised."""
    x, y = data
    m = model()
    before = snapshot(m)
    mp = MixedPrecision("float16")
    with np.errstate(over="ignore", invalid="ignore"):
        fit(m, x * 1e6, y, mixed_precision=mp)
    assert mp.skipped_steps == 5
    assert unchanged(m, before)


@pytest.mark.gpu
@pytest.mark.emulator
def test_device_path_checks_data_once_and_names_the_bad_batch(data, monkeypatch):
    """On the GPU path (here the CUDA emulator) NaN in x is refused before training, and a
    non-finite loss found at the epoch's end read still names the first bad batch."""
    from conftest import NO_EMULATOR

    if NO_EMULATOR is not None:
        pytest.skip(str(NO_EMULATOR))
    monkeypatch.setenv("BLASFAST_EMULATOR", "1")
    x, y = data
    m = model().to_device("gpu")
    assert not isinstance(m.params[0], np.ndarray)   # emulated device arrays
    bad = x.copy()
    bad[13, 1] = np.nan
    with pytest.raises(ValueError, match=r"x must be finite.*first: \[13\]"):
        fit(m, bad, y)
    with pytest.raises(FloatingPointError, match="became nan at epoch 2, batch 2 of 5"):
        fit(m, x, y, epochs=3, loss=LossTurningNaN(bad_call=7))


def test_save_and_load_refuse_a_non_path(tmp_path):
    """``open(5, 'wb')`` would write the model to file descriptor 5."""
    m = model()
    with pytest.raises(TypeError, match="Sequential.save: path must be a path"):
        m.save(5)
    with pytest.raises(TypeError, match="Sequential.load: path must be a path"):
        Sequential.load(None)
    m.save(tmp_path / "m.npz")   # os.PathLike still works
    assert repr(Sequential.load(tmp_path / "m.npz")) == repr(m)
