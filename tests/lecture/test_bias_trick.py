"""Lecture section 9, the bias trick: a bias is a weight on a constant input x0 = 1.

    x' = [1, x],  W' = [b | W]  =>  W' x' = W x + b

So Dense(n_in, n_out) with weights (W, b) and Dense(n_in + 1, n_out, use_bias=False)
with weights [b | W] on inputs augmented with a column of ones compute the same
outputs, and their gradients agree as well: dL/dW' = [dL/db | dL/dW].
"""
import numpy as np
import pytest

import pynn


def augment(X):
    """Prepend the constant input x0 = 1 to every row."""
    return np.hstack([np.ones((X.shape[0], 1)), X])


def pair(dtype, loss="softmax_cross_entropy", hidden=pynn.Tanh):
    """(with bias, without bias) two-layer models whose first layers are equal by the trick."""
    with_bias = pynn.Sequential([pynn.Dense(3, 5), hidden(), pynn.Dense(5, 4)], loss=loss, dtype=dtype, seed=1)
    no_bias = pynn.Sequential([pynn.Dense(4, 5, use_bias=False), hidden(), pynn.Dense(5, 4)],
                              loss=loss, dtype=dtype, seed=2)
    W, b, U, c = with_bias.parameters()
    b[...] = np.linspace(-1, 1, 5)  # biases start at zero: make them matter
    W_aug, U2, c2 = no_bias.parameters()
    W_aug[...] = np.hstack([b[:, None], W])
    U2[...], c2[...] = U, c
    return with_bias, no_bias


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 3)), rng.integers(0, 4, size=16)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-12), ("float32", 1e-5)])
def test_same_outputs(data, dtype, tol):
    X, _ = data
    with_bias, no_bias = pair(dtype)
    np.testing.assert_allclose(no_bias.forward(augment(X)), with_bias.forward(X), rtol=tol, atol=tol)


def test_same_outputs_by_hand(data):
    X, _ = data
    W, b = np.arange(15.0).reshape(5, 3) / 10, np.arange(5.0)
    W_aug = np.hstack([b[:, None], W])
    np.testing.assert_allclose(augment(X) @ W_aug.T, X @ W.T + b, rtol=1e-14)


def test_same_gradients(data):
    X, y = data
    with_bias, no_bias = pair("float64")
    loss = with_bias.loss_and_gradients(X, y)
    loss_aug = no_bias.loss_and_gradients(augment(X), y)
    assert loss_aug == pytest.approx(loss, rel=1e-13)
    gW, gb, gU, gc = with_bias.gradients()
    gW_aug, gU2, gc2 = no_bias.gradients()
    np.testing.assert_allclose(gW_aug, np.hstack([gb[:, None], gW]), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gU2, gU, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gc2, gc, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("optimizer", [lambda: pynn.SGD(lr=0.1, momentum=0.9, weight_decay=0.01),
                                       lambda: pynn.Adam(lr=0.01, weight_decay=0.01)])
def test_same_training(data, optimizer):
    """Equal gradients at every step give equal trajectories. Weight decay too: pynn
    decays every parameter, b included, exactly as it decays b's column inside W'."""
    X, y = data
    with_bias, no_bias = pair("float64", hidden=pynn.ReLU)
    opt = dict(epochs=5, batch_size=4, verbose=0, shuffle=False)
    with_bias.fit(X, y, optimizer=optimizer(), **opt)
    no_bias.fit(augment(X), y, optimizer=optimizer(), **opt)
    W, b, _, _ = with_bias.parameters()
    np.testing.assert_allclose(no_bias.parameters()[0], np.hstack([b[:, None], W]), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(no_bias.forward(augment(X)), with_bias.forward(X), rtol=1e-10, atol=1e-12)
