"""The C++ core (through pynn.Sequential) against the NumPy oracle pynn.reference.

Each test builds a model, copies its configs (layer.get_config()) and parameters into
a reference.MLP, and compares forward outputs, loss, gradients and parameters after
optimizer steps. float32 agrees to ~1e-4 relative (different summation orders in the
BLAS), float64 to ~1e-10.
"""
import numpy as np
import pytest

import pynn
from pynn import reference as R

TOL = {"float32": dict(rtol=1e-4, atol=1e-5), "float64": dict(rtol=1e-10, atol=1e-12)}
DTYPES = ["float32", "float64"]


def _activations(width):
    """Every activation layer kind, with non-default hyperparameters where it has any."""
    return [pynn.Identity(), pynn.Sigmoid(), pynn.Tanh(), pynn.ReLU(), pynn.LeakyReLU(0.1),
            pynn.ELU(alpha=1.3), pynn.GELU(), pynn.SiLU(), pynn.Softplus(),
            pynn.PReLU(), pynn.PReLU(num_parameters=width, init=0.1)]


ACTIVATION_IDS = ["Identity", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus",
                  "PReLU-shared", "PReLU-per-unit"]


def reference_of(model):
    """A reference.MLP with the model's layer configs, parameters (copied) and seed."""
    return R.MLP([layer.get_config() for layer in model.layers], [p.copy() for p in model.parameters()],
                 model.loss, seed=model.seed)


def reference_optimizer(opt):
    config = dict(opt.get_config())
    cls = {"SGD": R.SGD, "Adam": R.Adam, "AdamW": R.AdamW}[config.pop("class")]
    return cls(**config)


def data(rng, n, n_in, n_out, loss, dtype="float64"):
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, n_out, size=n)
    elif loss == "softmax_cross_entropy/probs":
        y = rng.dirichlet(np.ones(n_out), size=n).astype(dtype)
    elif loss == "binary_cross_entropy":
        y = (rng.random((n, n_out)) < 0.5).astype(dtype)
    else:
        y = rng.normal(size=(n, n_out)).astype(dtype)
    return X, y


def assert_params_close(model, ref, dtype, msg=""):
    for i, (got, want) in enumerate(zip(model.parameters(), ref.params)):
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{msg} parameter {model._names[i]}")


def assert_same_step(model, ref, X, y, dtype, sample_weight=None):
    """forward (inference), loss_and_gradients + gradients() agree with the reference."""
    np.testing.assert_allclose(model.forward(X), ref.forward(X), **TOL[dtype])
    loss = model.loss_and_gradients(X, y, sample_weight=sample_weight)
    ref_loss, ref_grads = ref.loss_and_gradients(X, y, sample_weight)
    np.testing.assert_allclose(loss, ref_loss, **TOL[dtype])
    assert len(model.gradients()) == len(ref_grads)
    for name, got, want in zip(model._names, model.gradients(), ref_grads):
        np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"gradient of {name}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", range(len(ACTIVATION_IDS)), ids=ACTIVATION_IDS)
def test_activation_forward_gradients_and_steps(index, dtype):
    rng = np.random.default_rng(index)
    act = _activations(6)[index]
    model = pynn.Sequential([pynn.Dense(5, 6), act, pynn.Dense(6, 3)], loss="softmax_cross_entropy",
                            dtype=dtype, seed=index)
    ref = reference_of(model)
    X, y = data(rng, 9, 5, 3, "softmax_cross_entropy", dtype)
    assert_same_step(model, ref, X, y, dtype)
    opt = pynn.SGD(lr=0.1, momentum=0.9)
    ref_opt = reference_optimizer(opt)
    for _ in range(3):
        loss = model.train_step(X, y, opt)
        np.testing.assert_allclose(loss, ref.train_step(X, y, ref_opt), **TOL[dtype])
    assert_params_close(model, ref, dtype)


LOSS_CASES = ["softmax_cross_entropy", "softmax_cross_entropy/probs", "binary_cross_entropy", "mse"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "sample_weight"])
@pytest.mark.parametrize("case", LOSS_CASES)
def test_losses(case, weighted, dtype):
    rng = np.random.default_rng(1)
    loss = case.split("/")[0]
    model = pynn.Sequential([pynn.Dense(4, 7), pynn.Tanh(), pynn.Dense(7, 3)], loss=loss, dtype=dtype, seed=2)
    ref = reference_of(model)
    X, y = data(rng, 11, 4, 3, case, dtype)
    w = rng.random(11).astype(dtype) * 2 if weighted else None
    assert_same_step(model, ref, X, y, dtype, sample_weight=w)
    np.testing.assert_allclose(model.evaluate(X, y, sample_weight=w)["loss"],
                               R.LOSSES[loss](ref.forward(X), y, w)[0], **TOL[dtype])
    opt = pynn.Adam(lr=0.01)
    ref_opt = reference_optimizer(opt)
    for _ in range(3):
        got = model.train_step(X, y, opt, sample_weight=w)
        np.testing.assert_allclose(got, ref.train_step(X, y, ref_opt, sample_weight=w), **TOL[dtype])
    assert_params_close(model, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["softmax_cross_entropy", "softmax_cross_entropy/probs"])
def test_softmax_cross_entropy_with_many_classes(case, dtype):
    """70 classes: past the 64 exp(z - m) the loss keeps per row for its gradient (the rest
    are recomputed); loss, gradients and a training step must still be the reference's."""
    rng = np.random.default_rng(3)
    model = pynn.Sequential([pynn.Dense(5, 9), pynn.ReLU(), pynn.Dense(9, 70)], loss="softmax_cross_entropy",
                            dtype=dtype, seed=4)
    ref = reference_of(model)
    X, y = data(rng, 13, 5, 70, case, dtype)
    assert_same_step(model, ref, X, y, dtype)
    np.testing.assert_allclose(model.evaluate(X, y)["loss"], R.LOSSES["softmax_cross_entropy"](ref.forward(X), y, None)[0],
                               **TOL[dtype])


OPTIMIZERS = {
    "sgd": lambda: pynn.SGD(lr=0.05),
    "sgd-momentum": lambda: pynn.SGD(lr=0.05, momentum=0.9),
    "sgd-nesterov": lambda: pynn.SGD(lr=0.05, momentum=0.8, nesterov=True),
    "sgd-weight-decay": lambda: pynn.SGD(lr=0.05, momentum=0.5, weight_decay=0.1),
    "adam": lambda: pynn.Adam(lr=0.01),
    "adam-weight-decay": lambda: pynn.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05),
    "adamw": lambda: pynn.AdamW(lr=0.01, weight_decay=0.1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizers(name, dtype):
    rng = np.random.default_rng(3)
    model = pynn.Sequential([pynn.Dense(6, 8), pynn.PReLU(8), pynn.Dense(8, 4, use_bias=False), pynn.ELU(),
                             pynn.Dense(4, 3)], loss="mse", dtype=dtype, seed=3)
    ref = reference_of(model)
    opt = OPTIMIZERS[name]()
    ref_opt = reference_optimizer(opt)
    for step in range(5):
        X, y = data(rng, 10, 6, 3, "mse", dtype)  # a new batch each step
        np.testing.assert_allclose(model.train_step(X, y, opt), ref.train_step(X, y, ref_opt), **TOL[dtype])
        assert_params_close(model, ref, dtype, msg=f"step {step}:")


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_matches_reference_masks(dtype):
    """The core's masks are reference.dropout_keep_mask(seed, step, layer index): the step
    is model._net.train_forwards and the layer index the position in model.layers."""
    rng = np.random.default_rng(4)
    model = pynn.Sequential([pynn.Dense(5, 40), pynn.ReLU(), pynn.Dropout(0.3), pynn.Dense(40, 30),
                             pynn.Dropout(0.6), pynn.Dense(30, 3)], dtype=dtype, seed=11)
    ref = reference_of(model)
    X, y = data(rng, 17, 5, 3, "softmax_cross_entropy", dtype)
    np.testing.assert_allclose(model.forward(X), ref.forward(X), **TOL[dtype])  # inference: identity
    assert model._net.train_forwards == ref.step == 0
    np.testing.assert_allclose(model.forward(X, training=True), ref.forward(X, training=True), **TOL[dtype])
    assert model._net.train_forwards == ref.step == 1
    # The masks really drop something, and differ between layers and steps.
    assert not np.allclose(model.forward(X, training=True), model.forward(X))
    ref.forward(X, training=True)
    assert_same_step(model, ref, X, y, dtype)
    opt = pynn.SGD(lr=0.1)
    ref_opt = reference_optimizer(opt)
    for _ in range(3):
        np.testing.assert_allclose(model.train_step(X, y, opt), ref.train_step(X, y, ref_opt), **TOL[dtype])
    assert model._net.train_forwards == ref.step
    assert_params_close(model, ref, dtype)


def test_dropout_masks_follow_the_step_counter():
    """Resetting the step counter replays the same mask; the next step draws a new one."""
    model = pynn.Sequential([pynn.Dense(3, 64), pynn.Dropout(0.5), pynn.Dense(64, 2)], dtype="float64", seed=5)
    X = np.ones((4, 3))
    first = model.forward(X, training=True)
    second = model.forward(X, training=True)
    assert not np.array_equal(first, second)
    model._net.train_forwards = 0
    np.testing.assert_array_equal(model.forward(X, training=True), first)
    keep = R.dropout_keep_mask(5, 1, 1, (4, 64), 0.5)
    W1, b1, W2, b2 = model.parameters()
    h = (X @ W1.T + b1) * keep / 0.5
    np.testing.assert_allclose(model.forward(X, training=True), h @ W2.T + b2, rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("width", [1, 7, 33, 257])
@pytest.mark.parametrize("batch", [1, 7, 33])
def test_ragged_sizes(batch, width, dtype):
    """Sizes that are not multiples of any SIMD width or BLAS block."""
    rng = np.random.default_rng(batch * 1000 + width)
    model = pynn.Sequential([pynn.Dense(width, width), pynn.SiLU(), pynn.Dropout(0.25), pynn.Dense(width, 5),
                             pynn.PReLU(5), pynn.Dense(5, 3)], loss="softmax_cross_entropy", dtype=dtype, seed=6)
    ref = reference_of(model)
    X, y = data(rng, batch, width, 3, "softmax_cross_entropy", dtype)
    assert_same_step(model, ref, X, y, dtype)
    opt = pynn.Adam(lr=0.01)
    ref_opt = reference_optimizer(opt)
    for _ in range(2):
        np.testing.assert_allclose(model.train_step(X, y, opt), ref.train_step(X, y, ref_opt), **TOL[dtype])
    # Adam divides by sqrt(v) + eps: a gradient that cancels to ~eps (here one of 66049,
    # |g| ~ 9e-8 against a scale of 0.08) carries ~1% float32 rounding in any summation
    # order, which moves its parameter by up to ~0.1% of lr. The float32 bound allows that.
    for i, (got, want) in enumerate(zip(model.parameters(), ref.params)):
        tol = TOL[dtype] if dtype == "float64" else dict(rtol=1e-4, atol=5e-5)
        np.testing.assert_allclose(got, want, **tol, err_msg=f"parameter {model._names[i]}")


def _fit_model(dtype, loss="softmax_cross_entropy"):
    return pynn.Sequential([pynn.Dense(6, 12), pynn.Tanh(), pynn.Dropout(0.2), pynn.Dense(12, 3)],
                           loss=loss, dtype=dtype, seed=7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_one_epoch_without_shuffle_equals_reference_epoch(dtype):
    rng = np.random.default_rng(8)
    X, y = data(rng, 45, 6, 3, "softmax_cross_entropy", dtype)  # 45 = 4 batches of 10 + 5
    model = _fit_model(dtype)
    ref = reference_of(model)
    opt = pynn.SGD(lr=0.1, momentum=0.9, nesterov=True)
    history = model.fit(X, y, epochs=1, batch_size=10, optimizer=opt, shuffle=False, verbose=0)
    ref_loss = ref.fit_epoch(X, y, 10, reference_optimizer(opt), np.arange(45))
    np.testing.assert_allclose(history.history["loss"][0], ref_loss, **TOL[dtype])
    assert model._net.train_forwards == ref.step == 5
    assert_params_close(model, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fit_shuffles_with_the_documented_permutation(dtype):
    """Epoch e (counted over the model's life) visits the rows in reference.epoch_order(n, seed, e)."""
    rng = np.random.default_rng(9)
    X, y = data(rng, 37, 6, 3, "mse", dtype)
    model = _fit_model(dtype, loss="mse")
    ref = reference_of(model)
    opt = pynn.Adam(lr=0.01)
    ref_opt = reference_optimizer(opt)
    losses = model.fit(X, y, epochs=2, batch_size=8, optimizer=opt, verbose=0).history["loss"]
    losses += model.fit(X, y, epochs=1, batch_size=8, verbose=0).history["loss"]  # same optimizer continues
    assert model.epochs_done == 3
    for epoch in range(3):
        perm = R.epoch_order(37, model.seed, epoch)
        np.testing.assert_allclose(losses[epoch], ref.fit_epoch(X, y, 8, ref_opt, perm), **TOL[dtype])
    assert_params_close(model, ref, dtype)


@pytest.mark.parametrize("case", LOSS_CASES)
def test_fit_with_sample_weights_equals_reference_steps(case):
    """The batch loop in the core gathers each batch's weights (and probability rows)."""
    rng = np.random.default_rng(10)
    loss = case.split("/")[0]
    X, y = data(rng, 29, 4, 3, case)
    w = rng.random(29) * 2
    model = pynn.Sequential([pynn.Dense(4, 6), pynn.Softplus(), pynn.Dense(6, 3)], loss=loss, dtype="float64", seed=12)
    ref = reference_of(model)
    opt = pynn.SGD(lr=0.2, momentum=0.5)
    ref_opt = reference_optimizer(opt)
    history = model.fit(X, y, epochs=2, batch_size=6, optimizer=opt, sample_weight=w, verbose=0)
    for epoch in range(2):
        perm = R.epoch_order(29, model.seed, epoch)
        total = 0.0
        for start in range(0, 29, 6):
            idx = perm[start:start + 6]
            total += ref.train_step(X[idx], y[idx], ref_opt, sample_weight=w[idx]) * len(idx)
        np.testing.assert_allclose(history.history["loss"][epoch], total / 29, **TOL["float64"])
    assert_params_close(model, ref, "float64")
