"""Finite-difference checks (float64) of the core's gradients.

For every parameter entry p_i, the central difference
    (L(p_i + h) - L(p_i - h)) / 2h,  h = 1e-6,
must match the gradient the core writes into model.gradients() after
model.loss_and_gradients (truncation error O(h^2), rounding O(eps/h): ~1e-9 relative).
"""
import zlib

import numpy as np
import pytest

import pynn

H = 1e-6
ACTIVATIONS = {
    "Identity": pynn.Identity, "Sigmoid": pynn.Sigmoid, "Tanh": pynn.Tanh, "ReLU": pynn.ReLU,
    "LeakyReLU": lambda: pynn.LeakyReLU(0.2), "ELU": lambda: pynn.ELU(0.7), "GELU": pynn.GELU,
    "SiLU": pynn.SiLU, "Softplus": pynn.Softplus, "PReLU": pynn.PReLU,
}
LOSSES = ["softmax_cross_entropy", "softmax_cross_entropy/probs", "binary_cross_entropy", "mse"]


def targets(rng, case, n, n_out):
    if case == "softmax_cross_entropy":
        return rng.integers(0, n_out, size=n)
    if case == "softmax_cross_entropy/probs":
        return rng.dirichlet(np.ones(n_out), size=n)
    if case == "binary_cross_entropy":
        return (rng.random((n, n_out)) < 0.5).astype(float)
    return rng.normal(size=(n, n_out))


def check_gradients(model, X, y, sample_weight=None, step=None):
    """Compare every gradient entry with a central difference of the loss.

    step: if given, the dropout step counter is reset to it before every loss evaluation,
    so all evaluations see the same masks."""
    def loss():
        if step is not None:
            model._net.train_forwards = step
        return model.loss_and_gradients(X, y, sample_weight=sample_weight)

    loss()
    analytic = [g.copy() for g in model.gradients()]
    checked = 0
    for name, p, g in zip(model._names, model.parameters(), analytic):
        numeric = np.empty_like(g)
        for i in np.ndindex(p.shape):
            keep = p[i]
            p[i] = keep + H
            up = loss()
            p[i] = keep - H
            down = loss()
            p[i] = keep  # the exact original value: the model is unchanged afterwards
            numeric[i] = (up - down) / (2 * H)
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8, err_msg=f"gradient of {name}")
        checked += g.size
    assert checked == model.count_params()


@pytest.mark.parametrize("case", LOSSES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_every_activation_with_every_loss(act, case):
    rng = np.random.default_rng(zlib.crc32(f"{act}/{case}".encode()))  # str hash() is salted per run
    model = pynn.Sequential([pynn.Dense(3, 5), ACTIVATIONS[act](), pynn.Dense(5, 3)], loss=case.split("/")[0],
                            dtype="float64", seed=1)
    for p in model.parameters():  # non-zero biases, so every term of the gradient is exercised
        p += rng.normal(scale=0.3, size=p.shape)
    X = rng.normal(size=(6, 3))
    check_gradients(model, X, targets(rng, case, 6, 3))


@pytest.mark.parametrize("num_parameters", [1, 4], ids=["shared", "per-unit"])
def test_prelu_slopes(num_parameters):
    rng = np.random.default_rng(num_parameters)
    model = pynn.Sequential([pynn.Dense(3, 4), pynn.PReLU(num_parameters, init=0.3), pynn.Dense(4, 4),
                             pynn.PReLU(num_parameters, init=-0.2), pynn.Dense(4, 2)], loss="mse",
                            dtype="float64", seed=2)
    X = rng.normal(size=(8, 3))
    check_gradients(model, X, rng.normal(size=(8, 2)))
    slope = model.parameters()[2]
    assert slope.shape == (num_parameters,) and np.abs(model.gradients()[2]).min() > 0


def test_dense_without_bias():
    rng = np.random.default_rng(3)
    model = pynn.Sequential([pynn.Dense(4, 5, use_bias=False), pynn.Tanh(), pynn.Dense(5, 2, use_bias=False)],
                            loss="binary_cross_entropy", dtype="float64", seed=3)
    assert [p.shape for p in model.parameters()] == [(5, 4), (2, 5)]
    check_gradients(model, rng.normal(size=(7, 4)), (rng.random((7, 2)) < 0.5).astype(float))


@pytest.mark.parametrize("case", LOSSES)
def test_sample_weights(case):
    rng = np.random.default_rng(4)
    model = pynn.Sequential([pynn.Dense(3, 4), pynn.Softplus(), pynn.Dense(4, 3)], loss=case.split("/")[0],
                            dtype="float64", seed=4)
    X = rng.normal(size=(9, 3))
    w = rng.random(9) * 3
    w[2] = 0.0  # a zero weight must remove the sample from the gradient
    check_gradients(model, X, targets(rng, case, 9, 3), sample_weight=w)


def test_dropout_with_a_fixed_step():
    rng = np.random.default_rng(5)
    model = pynn.Sequential([pynn.Dense(3, 16), pynn.GELU(), pynn.Dropout(0.4), pynn.Dense(16, 3)],
                            loss="softmax_cross_entropy", dtype="float64", seed=5)
    check_gradients(model, rng.normal(size=(5, 3)), rng.integers(0, 3, size=5), step=7)
