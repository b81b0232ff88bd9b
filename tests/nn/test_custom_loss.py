"""Custom losses: Sequential(..., loss=fn) with fn(outputs, targets) written with
pynn.autodiff operations. pynn evaluates fn on a graph, takes dL/doutputs from it and
hands that to the core's backward pass, so a user-written loss must give exactly what
the built-in fused one gives (float64), train the same way, and fail clearly when it
is not a scalar Tensor built from the outputs.
"""
import warnings

import numpy as np
import pytest

import pynn
from pynn import autodiff as ad

N_IN, N_HIDDEN, N_CLASSES = 5, 7, 3


def my_cross_entropy(z, t):
    """L = -(1/B) sum_b sum_k t_bk log softmax(z_b)_k   (z: logits, t: one-hot rows)"""
    return -(t * z.log_softmax(axis=1)).sum() / z.shape[0]


def my_mse(y, t):
    """L = (1/(B C)) sum (y - t)^2"""
    return ((y - t) ** 2).mean()


def my_bce_with_logits(z, t):
    """l = max(z, 0) - z t + log(1 + e^{-|z|}), mean over all elements (no overflow)."""
    abs_z = z.relu() + (-z).relu()
    return (z.relu() - z * t + (1 + (-abs_z).exp()).log()).mean()


def layers(dropout=0.0):
    stack = [pynn.Dense(N_IN, N_HIDDEN), pynn.Tanh()]
    if dropout:
        stack.append(pynn.Dropout(dropout))
    return stack + [pynn.Dense(N_HIDDEN, N_CLASSES)]


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, N_IN))
    y = rng.integers(0, N_CLASSES, size=40)
    return X, y, np.eye(N_CLASSES)[y]


def twins(builtin, custom, dtype="float64", dropout=0.0, seed=3):
    """Two models with the same layers, seed and so the same initial weights."""
    return (pynn.Sequential(layers(dropout), loss=builtin, dtype=dtype, seed=seed),
            pynn.Sequential(layers(dropout), loss=custom, dtype=dtype, seed=seed))


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_user_cross_entropy_gives_the_builtin_loss_and_gradients(data, dropout):
    X, y, onehot = data
    builtin, custom = twins("softmax_cross_entropy", my_cross_entropy, dropout=dropout)
    assert custom.loss_and_gradients(X, onehot) == pytest.approx(builtin.loss_and_gradients(X, y), rel=1e-14)
    for g_custom, g_builtin in zip(custom.gradients(), builtin.gradients()):
        np.testing.assert_allclose(g_custom, g_builtin, rtol=1e-12, atol=1e-15)
    # Not vacuous: the gradients are really there.
    assert all(np.abs(g).max() > 1e-4 for g in custom.gradients())


@pytest.mark.parametrize("builtin, custom", [("mse", my_mse), ("binary_cross_entropy", my_bce_with_logits)])
def test_user_mse_and_bce_give_the_builtin_gradients(data, builtin, custom):
    X, _, onehot = data
    a, b = twins(builtin, custom)
    assert b.loss_and_gradients(X, onehot) == pytest.approx(a.loss_and_gradients(X, onehot), rel=1e-13)
    for g_custom, g_builtin in zip(b.gradients(), a.gradients()):
        np.testing.assert_allclose(g_custom, g_builtin, rtol=1e-11, atol=1e-15)


def test_output_gradient_matches_the_reference_loss(data):
    """dL/doutputs from the graph equals pynn.reference's closed form (softmax - t) / B."""
    _, y, onehot = data
    logits = np.random.default_rng(1).normal(size=onehot.shape) * 5
    value, grad = ad.custom_loss_gradient(my_cross_entropy, logits, onehot)
    ref_value, ref_grad = pynn.reference.softmax_cross_entropy(logits, y)
    assert value == pytest.approx(ref_value, rel=1e-14)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("optimizer", [lambda: pynn.SGD(lr=0.2, momentum=0.9), lambda: pynn.Adam(lr=0.01)])
def test_fit_with_a_user_loss_follows_the_builtin_trajectory(data, optimizer):
    X, y, onehot = data
    builtin, custom = twins("softmax_cross_entropy", my_cross_entropy, dropout=0.2)
    h_builtin = builtin.fit(X, y, epochs=4, batch_size=8, optimizer=optimizer(), verbose=0)
    h_custom = custom.fit(X, onehot, epochs=4, batch_size=8, optimizer=optimizer(), verbose=0)
    np.testing.assert_allclose(h_custom.history["loss"], h_builtin.history["loss"], rtol=1e-10)
    for p_custom, p_builtin in zip(custom.parameters(), builtin.parameters()):
        np.testing.assert_allclose(p_custom, p_builtin, rtol=1e-9, atol=1e-12)
    assert h_custom.history["loss"][-1] < h_custom.history["loss"][0]


def test_float32_model_with_a_user_loss_trains_like_the_builtin(data):
    X, y, onehot = data
    builtin, custom = twins("softmax_cross_entropy", my_cross_entropy, dtype="float32")
    h_builtin = builtin.fit(X, y, epochs=20, batch_size=10, optimizer=pynn.Adam(lr=0.01), verbose=0)
    h_custom = custom.fit(X, onehot, epochs=20, batch_size=10, optimizer=pynn.Adam(lr=0.01), verbose=0)
    np.testing.assert_allclose(h_custom.history["loss"], h_builtin.history["loss"], rtol=1e-4)
    assert custom.parameters()[0].dtype == np.float32


def test_predict_evaluate_and_validation_with_a_user_loss(data):
    X, y, onehot = data
    builtin, custom = twins("softmax_cross_entropy", my_cross_entropy)
    np.testing.assert_array_equal(custom.predict(X), custom.forward(X))  # raw outputs
    assert custom.predict(X).shape == (len(X), N_CLASSES)
    result = custom.evaluate(X, onehot)
    assert set(result) == {"loss"}
    assert result["loss"] == pytest.approx(builtin.evaluate(X, y)["loss"], rel=1e-14)
    history = custom.fit(X, onehot, epochs=2, batch_size=8, validation_data=(X, onehot), verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(custom.evaluate(X, onehot)["loss"], rel=1e-14)
    with pytest.raises(ValueError, match="predict_proba needs a classification loss"):
        custom.predict_proba(X)
    with pytest.raises(ValueError, match="custom loss"):
        custom.get_config()


def test_one_output_with_1d_targets_is_not_broadcast_to_a_matrix():
    """y of shape (n,) with one output is (n, 1), as for the built-in losses; otherwise
    (n, 1) - (n,) would silently broadcast to (n, n)."""
    rng = np.random.default_rng(2)
    X, t = rng.normal(size=(12, 2)), rng.normal(size=12)
    a = pynn.Sequential([pynn.Dense(2, 1)], loss="mse", dtype="float64")
    b = pynn.Sequential([pynn.Dense(2, 1)], loss=my_mse, dtype="float64")
    assert b.loss_and_gradients(X, t) == pytest.approx(a.loss_and_gradients(X, t), rel=1e-14)
    np.testing.assert_allclose(b.gradients()[0], a.gradients()[0], rtol=1e-12)


def test_a_loss_builtins_lack_matches_torch(data):
    """Huber loss (not built in) through the custom path: the parameter gradients equal
    torch.autograd's on the same network and weights."""
    torch = pytest.importorskip("torch", reason="torch not installed: skipping the PyTorch comparison")
    X, _, onehot = data

    def huber(y, t, delta=1.0):  # 0.5 d^2 if |d| <= delta else delta (|d| - delta / 2), mean
        d = y - t
        a = d.relu() + (-d).relu()
        quadratic = a - (a - delta).relu()           # min(|d|, delta)
        return (0.5 * quadratic ** 2 + delta * (a - quadratic)).mean()

    model = pynn.Sequential(layers(), loss=huber, dtype="float64", seed=5)
    X3 = 3 * X  # large enough residuals to hit both branches
    loss = model.loss_and_gradients(X3, onehot)
    W1, b1, W2, b2 = (torch.tensor(p.copy(), requires_grad=True) for p in model.parameters())
    out = torch.tanh(torch.tensor(X3) @ W1.T + b1) @ W2.T + b2
    t_loss = torch.nn.functional.huber_loss(out, torch.tensor(onehot), delta=1.0)
    t_loss.backward()
    residual = np.abs(out.detach().numpy() - onehot)
    assert (residual > 1).any() and (residual < 1).any()
    assert loss == pytest.approx(t_loss.item(), rel=1e-13)
    for g, t in zip(model.gradients(), (W1, b1, W2, b2)):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-11, atol=1e-15)


# --------------------------------------------------------------------------- bad losses

BAD_LOSSES = [
    (lambda y, t: (y - t) ** 2, ValueError, "must return a scalar Tensor, got shape"),
    (lambda y, t: float(((y.data - t.data) ** 2).mean()), TypeError, "must return a scalar Tensor .* got float"),
    (lambda y, t: ((y.detach() - t) ** 2).mean(), ValueError, "does not depend on the outputs"),
    (lambda y, t: None, TypeError, "got NoneType"),
]


@pytest.mark.parametrize("fn, error, message", BAD_LOSSES)
@pytest.mark.parametrize("call", ["fit", "train_step", "loss_and_gradients", "evaluate"])
def test_bad_custom_losses_give_clear_errors_and_leave_the_model_unchanged(data, fn, error, message, call):
    X, _, onehot = data
    model = pynn.Sequential(layers(), loss=fn, seed=0)
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(error, match=message):
        if call == "fit":
            model.fit(X, onehot, epochs=1, verbose=0)
        else:
            getattr(model, call)(X, onehot)
    for p, q in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, q)


def test_loss_failing_on_a_later_batch_leaves_the_model_as_before_the_epoch(data):
    """A loss that only works for batches of 16 rows fails on the last, smaller batch,
    after two updates: fit undoes those, as for any bad call."""
    X, _, onehot = data

    def fixed_batch_loss(y, t):
        return ((y - t).reshape(16, N_CLASSES) ** 2).mean()

    model = pynn.Sequential(layers(), loss=fixed_batch_loss, seed=0)
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match="reshape"):
        model.fit(X, onehot, epochs=1, batch_size=16, verbose=0)  # 40 rows: 16, 16, 8
    for p, q in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, q)
    assert model.epochs_done == 0


def test_non_finite_custom_loss_is_a_divergence_error(data):
    X, _, onehot = data
    model = pynn.Sequential(layers(), loss=lambda y, t: y.sum() * np.inf, seed=0)
    before = [p.copy() for p in model.parameters()]
    for call in (model.loss_and_gradients, model.train_step):
        with pytest.raises(pynn.DivergenceError, match="not finite"):
            call(X, onehot)
    # fit either raises or stops on the divergence (terminate_on_nan); either way the
    # diverged epoch is undone.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            model.fit(X, onehot, epochs=1, verbose=0)
        except pynn.DivergenceError:
            pass
    for p, q in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, q)


def test_bad_targets_and_weights_with_a_custom_loss(data):
    X, _, onehot = data
    model = pynn.Sequential(layers(), loss=my_cross_entropy)
    with pytest.raises(ValueError, match="y has 10 samples but X has 40"):
        model.fit(X, onehot[:10], verbose=0)
    with pytest.raises(ValueError, match="y contains NaN"):
        model.fit(X, np.full_like(onehot, np.nan), verbose=0)
    with pytest.raises(TypeError, match="y must be a numeric array"):
        model.fit(X, "labels", verbose=0)
    with pytest.raises(ValueError, match="sample_weight is not supported with a custom loss"):
        model.fit(X, onehot, sample_weight=np.ones(len(X)), verbose=0)
    with pytest.raises(ValueError, match=r"cannot be broadcast together: shapes \(32, 2\) and \(32, 3\)"):
        model.fit(X, onehot[:, :2], verbose=0)


def test_loss_that_is_neither_name_nor_function():
    with pytest.raises(TypeError, match="loss must be a name .* or a function"):
        pynn.Sequential(layers(), loss=3)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        pynn.Sequential(layers(), loss="hinge")
