"""Numerics at the edges: huge logits, saturated units, badly scaled data.

- logits of +-1e4 give finite cross-entropy (the exact value, as the float64 oracle
  computes it from the same logits) and finite gradients, in float32 and float64;
- saturated sigmoid/tanh (and every other activation) never produce NaN, forward or
  backward, up to +-1e30 (+-inf for the bounded ones);
- float32 training on data scaled by 1e6 either trains (finite loss, finite parameters)
  or stops with the divergence error (raised, or TerminateOnNaN's warning) and keeps
  finite parameters -- never NaN parameters.
"""
import inspect
import warnings

import numpy as np
import pytest

import pynn
from pynn import _core
from pynn import reference as R

DTYPES = ["float32", "float64"]
ACTIVATIONS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus"]


def _logit_model(logits, loss, dtype):
    """A model whose outputs on X = I are exactly `logits` (one row per sample):
    Dense(B, C, no bias) with W = logits.T, so dLoss/dW = dLoss/dlogits^T."""
    B, C = logits.shape
    model = pynn.Sequential([pynn.Dense(B, C, use_bias=False)], loss=loss, dtype=dtype, seed=0)
    model.parameters()[0][...] = logits.T
    return model, np.eye(B, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [1e4, -1e4, 3e4])
def test_softmax_cross_entropy_large_logits(dtype, scale):
    rng = np.random.default_rng(0)
    logits = np.sign(rng.normal(size=(6, 6))) * scale
    logits[:, 0] = -scale  # the true class is at -scale for some rows: loss ~ 2 * scale
    labels = np.array([0, 1, 2, 3, 4, 5])
    model, X = _logit_model(logits, "softmax_cross_entropy", dtype)
    out = model.forward(X)
    np.testing.assert_array_equal(out, logits.astype(dtype))
    loss = model.loss_and_gradients(X, labels)
    want, dlogits = R.softmax_cross_entropy(logits.astype(np.float64), labels)
    assert np.isfinite(loss) and loss == pytest.approx(float(want), rel=1e-6)
    (g,) = model.gradients()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g, dlogits.T, atol=1e-6)  # out = X W^T with X = I: dW = dlogits^T
    assert np.isfinite(model.evaluate(X, labels)["loss"])
    p = model.predict_proba(X)
    assert np.isfinite(p).all() and np.allclose(p.sum(axis=1), 1)


@pytest.mark.parametrize("C", [2, 3, 10, 16, 17])
def test_float32_softmax_rows_match_float64(C):
    """float32 rows of up to 16 classes take a one-zmm pass (a polynomial exp) on AVX-512
    CPUs, 17 classes the scalar one: loss, gradient and hits agree with the float64 oracle
    to float32 accuracy over logits whose distances to the row maximum reach -1500 (exp
    underflows to 0) and -87..-104 (subnormal exps), rows of equal logits (ties: the first
    maximum is the prediction), and sample weights."""
    rng = np.random.default_rng(C)
    B = 96
    logits = rng.normal(scale=4.0, size=(B, C)).astype(np.float32)
    logits[::7] *= 100.0
    logits[2::7] = rng.uniform(-104.0, -87.0, size=(len(logits[2::7]), C)).astype(np.float32)
    logits[2::7, 0] = 0.0
    logits[1::5] = np.float32(0.5)
    labels = rng.integers(0, C, B)
    weights = rng.uniform(0.5, 2.0, B).astype(np.float32)
    model, X = _logit_model(logits, "softmax_cross_entropy", "float32")
    loss = model.loss_and_gradients(X, labels, sample_weight=weights)
    want, dlogits = R.softmax_cross_entropy(logits.astype(np.float64), labels, sample_weight=weights.astype(np.float64))
    # (Measured: loss within 3e-8, gradient within 1e-7 of its largest element.)
    assert loss == pytest.approx(float(want), rel=2e-7)
    np.testing.assert_allclose(model.gradients()[0].T, dlogits, rtol=1e-6, atol=4e-7 * np.abs(dlogits).max())
    value, hits = _core.loss("softmax_cross_entropy", logits, (labels.astype(np.int32), None, weights))
    assert value == pytest.approx(float(want), rel=2e-7)
    assert hits == int((np.argmax(logits, axis=1) == labels).sum())


@pytest.mark.parametrize("C", [2, 3, 10, 16, 17])
def test_float32_softmax_gradients_are_accurate_to_about_an_ulp(C):
    """With the row maximum exactly 0, z - max is exact and the gradient of a non-label
    class, scale * exp(z) / sum, carries only the exp's and three roundings' error: within
    3e-7 relative (measured: 1.1-1.5e-7 for the one-zmm pass, 1.2e-7 for expf; a 1e-4
    error in one polynomial coefficient gives 8e-7). Logits down to -60 keep the gradient
    a normal float32."""
    rng = np.random.default_rng(C)
    B = 512
    logits = rng.uniform(-60.0, 0.0, size=(B, C)).astype(np.float32)
    logits[np.arange(B), rng.integers(0, C, B)] = 0.0
    labels = rng.integers(0, C, B)
    model, X = _logit_model(logits, "softmax_cross_entropy", "float32")
    model.loss_and_gradients(X, labels)
    _, dlogits = R.softmax_cross_entropy(logits.astype(np.float64), labels)
    others = np.ones(dlogits.shape, dtype=bool)
    others[np.arange(B), labels] = False
    got = model.gradients()[0].T[others]
    assert np.max(np.abs(got - dlogits[others]) / np.abs(dlogits[others])) < 3e-7


def test_float32_softmax_rows_with_inf_or_nan_give_a_nan_loss():
    """A row the one-zmm pass refuses (a non-finite logit) takes the scalar path: its loss is
    NaN, never a finite number made by clamping."""
    logits = np.zeros((4, 10), dtype=np.float32)
    logits[1, 3] = np.nan
    logits[2, 5] = np.inf
    labels = np.zeros(4, dtype=np.int32)
    for rows in ([0, 1], [0, 2], [2, 3]):
        value, _ = _core.loss("softmax_cross_entropy", logits[rows], (labels[:2], None, None))
        assert np.isnan(value), rows


@pytest.mark.parametrize("dtype", DTYPES)
def test_soft_targets_and_binary_cross_entropy_large_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0], [3e4, -3e4, -1e4]])
    targets = np.array([[0.0, 1.0, 0.5], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    for loss, oracle, y in [("binary_cross_entropy", R.binary_cross_entropy, targets),
                            ("softmax_cross_entropy", R.softmax_cross_entropy, targets / targets.sum(1, keepdims=True))]:
        model, X = _logit_model(logits, loss, dtype)
        got = model.loss_and_gradients(X, y)
        want, _ = oracle(logits, y)
        assert np.isfinite(got) and got == pytest.approx(float(want), rel=1e-6), loss
        assert np.isfinite(model.gradients()[0]).all(), loss


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_saturated_activations_never_nan(dtype, name):
    big = [1e4, 1e30, 3e38] if dtype == "float32" else [1e4, 1e30, 1e300]
    x = np.array([v * s for v in big for s in (1, -1)] + [0.0, -0.0], dtype=dtype)
    y = getattr(pynn, name)(x)
    d = pynn.derivative(name, x)
    assert not np.isnan(y).any(), f"{name}({x}) = {y}"
    assert not np.isnan(d).any(), f"{name}'({x}) = {d}"
    assert np.isfinite(d).all()
    if name in ("sigmoid", "tanh"):
        lo = 0.0 if name == "sigmoid" else -1.0
        inf = np.array([np.inf, -np.inf], dtype=dtype)
        assert np.array_equal(getattr(pynn, name)(inf), np.array([1.0, lo], dtype=dtype))
        assert np.array_equal(pynn.derivative(name, inf), np.zeros(2, dtype=dtype))
        assert ((lo <= y) & (y <= 1)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", [pynn.Sigmoid, pynn.Tanh, pynn.SiLU, pynn.GELU, pynn.Softplus, pynn.ELU])
def test_saturated_units_train_without_nan(dtype, act):
    """Pre-activations of +-1e4..1e6: the gradient through the saturated units is 0 or
    finite, a training step keeps every parameter finite."""
    rng = np.random.default_rng(1)
    model = pynn.Sequential([pynn.Dense(4, 8), act(), pynn.Dense(8, 3)], dtype=dtype, seed=0)
    model.parameters()[0][...] *= 1e4
    X = rng.normal(size=(16, 4)) * 100
    y = rng.integers(0, 3, 16)
    loss = model.loss_and_gradients(X, y)
    assert np.isfinite(loss)
    assert all(np.isfinite(g).all() for g in model.gradients())
    model.train_step(X, y, optimizer=pynn.SGD(0.01))
    assert all(np.isfinite(p).all() for p in model.parameters())


def _fit_or_diverge(model, X, y, optimizer, raise_on_divergence):
    """fit; returns 'trained' or 'diverged' (DivergenceError raised, or TerminateOnNaN's
    warning and history.params['diverged_epoch'])."""
    kwargs = {}
    if "terminate_on_nan" in inspect.signature(model.fit).parameters:
        kwargs["terminate_on_nan"] = not raise_on_divergence
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hist = model.fit(X, y, epochs=5, batch_size=16, optimizer=optimizer, verbose=0, **kwargs)
    except pynn.DivergenceError:
        return "diverged"
    if "diverged_epoch" in hist.params:
        assert any("diverg" in str(w.message) for w in caught), "a stop for divergence must warn"
        return "diverged"
    assert np.isfinite(hist.history["loss"]).all()
    return "trained"


@pytest.mark.parametrize("raise_on_divergence", [True, False])
@pytest.mark.parametrize("loss,optimizer,expected", [
    # Seeded, so the outcome is fixed: SGD's step scales with the data and overflows,
    # Adam's step is bounded by lr and trains.
    ("mse", pynn.SGD(0.1), "diverged"), ("mse", pynn.SGD(1e-3, momentum=0.9), "diverged"),
    ("mse", pynn.Adam(1e-2), "trained"),
    ("softmax_cross_entropy", pynn.SGD(0.5), "diverged"), ("softmax_cross_entropy", pynn.Adam(1e-3), "trained"),
    ("binary_cross_entropy", pynn.SGD(1.0), "diverged"),
])
def test_float32_data_scaled_1e6_trains_or_diverges(loss, optimizer, expected, raise_on_divergence):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(128, 8)) * 1e6
    n_out = 1 if loss == "binary_cross_entropy" else 3
    if loss == "mse":
        y = rng.normal(size=(128, n_out)) * 1e6
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (128, 1))
    else:
        y = rng.integers(0, n_out, 128)
    model = pynn.Sequential([pynn.Dense(8, 16), pynn.ReLU(), pynn.Dense(16, n_out)], loss=loss, seed=0)
    outcome = _fit_or_diverge(model, X, y, optimizer, raise_on_divergence)
    assert outcome == expected
    assert all(np.isfinite(p).all() for p in model.parameters()), f"{outcome} with non-finite parameters"
    assert np.isfinite(model.forward(X[:4] / 1e6)).all()


def test_divergence_keeps_the_last_finite_parameters():
    """A step that would overflow raises DivergenceError and leaves the model exactly as
    before the step (parameters, optimizer state, counters)."""
    rng = np.random.default_rng(0)
    model = pynn.Sequential([pynn.Dense(4, 4), pynn.Dense(4, 2)], loss="mse", seed=0)
    X = rng.normal(size=(8, 4)).astype(np.float32)
    model.train_step(X, rng.normal(size=(8, 2)), optimizer=pynn.Adam(1e-2))
    before = [p.copy() for p in model.parameters()] + [model._net.first_moment().copy(), model._net.second_moment().copy()]
    step = model._net.opt_step
    with pytest.raises(pynn.DivergenceError):
        model.train_step(X * 1e30, np.full((8, 2), 3e38))
    after = [p.copy() for p in model.parameters()] + [model._net.first_moment().copy(), model._net.second_moment().copy()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert model._net.opt_step == step


def test_overflowing_validation_outputs_stop_fit_cleanly():
    """Regression (found by tools/fuzz.py): validation outputs that overflow made the
    validation loss raise DivergenceError out of fit, past TerminateOnNaN and after the
    epoch was already counted. evaluate now reports loss inf; fit stops with a warning."""
    model = pynn.Sequential([pynn.Dense(2, 2)], loss="mse", seed=0)
    model.parameters()[0][...] = 10.0
    X_val = np.full((3, 2), 3e38, dtype=np.float32)  # finite, but 10 * 3e38 overflows float32
    assert model.evaluate(X_val, np.zeros((3, 2)))["loss"] == np.inf
    if "terminate_on_nan" not in inspect.signature(model.fit).parameters:
        pytest.skip("fit has no terminate_on_nan in this version")
    X = np.ones((8, 2), dtype=np.float32)
    with pytest.warns(RuntimeWarning, match="val_loss"):
        hist = model.fit(X, np.zeros((8, 2)), epochs=3, optimizer=pynn.SGD(1e-6), verbose=0,
                         validation_data=(X_val, np.zeros((3, 2))))
    assert hist.history["val_loss"] == [np.inf] and model.epochs_done == 1
    assert all(np.isfinite(p).all() for p in model.parameters())
