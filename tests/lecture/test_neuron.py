"""pynn.neuron: the course's unit example, the perceptron's logic gates, learning
AND/OR, failing XOR honestly, and bad input."""
import warnings

import numpy as np
import pytest

from pynn.neuron import ConvergenceWarning, Neuron, Perceptron

X_BITS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
AND = np.array([0, 0, 0, 1])
OR = np.array([0, 1, 1, 1])
XOR = np.array([0, 1, 1, 0])


# --------------------------------------------------------------------------- Neuron

def test_course_unit_example():
    unit = Neuron([0.2, 0.3, 0.9], 0.5)
    x = [0.5, 0.6, 0.1]
    assert unit.z(x) == pytest.approx(0.87)
    assert unit(x) == pytest.approx(1 / (1 + np.exp(-0.87)))
    assert round(unit(x), 2) == 0.70
    assert isinstance(unit(x), float)


@pytest.mark.parametrize("activation, f", [
    ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
    ("tanh", np.tanh),
    ("relu", lambda z: np.maximum(z, 0)),
    ("identity", lambda z: z),
    ("step", lambda z: (z > 0).astype(float)),
    (np.sin, np.sin),
])
def test_activations_on_a_batch(activation, f):
    rng = np.random.default_rng(0)
    w, b, X = rng.normal(size=3), 0.25, rng.normal(size=(5, 3))
    unit = Neuron(w, b, activation=activation)
    z = X @ w + b
    np.testing.assert_allclose(unit.z(X), z)
    out = unit(X)
    assert out.shape == (5,)
    np.testing.assert_allclose(out, f(z))


def test_sigmoid_does_not_overflow():
    unit = Neuron([1.0], 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert unit([-1000.0]) == 0.0 and unit([1000.0]) == 1.0


def test_neuron_bad_input():
    unit = Neuron([0.2, 0.3, 0.9], 0.5)
    with pytest.raises(ValueError, match="x has 2 features but w has 3 weights"):
        unit([1.0, 2.0])
    with pytest.raises(ValueError, match="x has 2 features but w has 3 weights"):
        unit.z(np.ones((4, 2)))
    with pytest.raises(ValueError, match="1-D.*2-D"):
        unit(np.ones((2, 2, 3)))
    with pytest.raises(TypeError, match="x must be numbers"):
        unit(["a", "b", "c"])
    with pytest.raises(TypeError, match="w must be numbers"):
        Neuron(["a"], 0.0)
    with pytest.raises(TypeError, match="b must be a real number"):
        Neuron([1.0], "1")
    with pytest.raises(TypeError, match="b must be a real number"):
        Neuron([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="w must be a non-empty 1-D"):
        Neuron([[1.0, 2.0]], 0.0)
    with pytest.raises(ValueError, match="activation must be one of"):
        Neuron([1.0], 0.0, activation="softsign")


# --------------------------------------------------------------------------- Perceptron

@pytest.mark.parametrize("w, b, table", [([1, 1], -1, AND), ([1, 1], 0, OR)], ids=["AND", "OR"])
def test_logic_gates_with_the_course_weights(w, b, table):
    p = Perceptron(w, b)
    for x, expected in zip(X_BITS, table):
        assert p(x) == expected and isinstance(p(x), int)
    np.testing.assert_array_equal(p.predict(X_BITS), table)
    assert p.predict(X_BITS).dtype.kind == "i"


@pytest.mark.parametrize("table", [AND, OR], ids=["AND", "OR"])
def test_learns_and_or(table):
    p = Perceptron()
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # converging must not warn
        p.fit(X_BITS, table, epochs=100)
    assert p.converged_ is True
    assert p.errors_[-1] == 0 and len(p.errors_) == p.n_epochs_ < 100
    np.testing.assert_array_equal(p.predict(X_BITS), table)


def test_fails_xor_and_says_so():
    p = Perceptron()
    with pytest.warns(ConvergenceWarning, match="did not converge.*linearly separable"):
        p.fit(X_BITS, XOR, epochs=50)
    assert p.converged_ is False
    assert p.n_epochs_ == 50 and len(p.errors_) == 50
    assert min(p.errors_) > 0
    assert not np.array_equal(p.predict(X_BITS), XOR)
    assert issubclass(ConvergenceWarning, UserWarning)


def test_fit_follows_the_perceptron_rule():
    # one example, one mistake: w = 0 + 1 * (1 - 0) * x, b = 0 + 1
    p = Perceptron(lr=0.5).fit(np.array([[2.0, -1.0]]), [1])
    np.testing.assert_array_equal(p.w, [1.0, -0.5])
    assert p.b == 0.5 and p.errors_ == [1, 0] and p.converged_


def test_fit_starts_from_given_weights():
    p = Perceptron([1, 1], -1).fit(X_BITS, AND)
    assert p.errors_ == [0] and p.n_epochs_ == 1 and p.converged_


def test_perceptron_bad_input():
    with pytest.raises(ValueError, match="no weights yet"):
        Perceptron()([0, 1])
    with pytest.raises(ValueError, match="no weights yet"):
        Perceptron().predict(X_BITS)
    with pytest.raises(ValueError, match="b was given without w"):
        Perceptron(b=1.0)
    with pytest.raises(ValueError, match="lr must be a positive"):
        Perceptron(lr=0)
    with pytest.raises(ValueError, match="labels 0 and 1"):
        Perceptron().fit(X_BITS, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="labels 0 and 1"):
        Perceptron().fit(X_BITS, [-1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"y must have shape \(4,\)"):
        Perceptron().fit(X_BITS, [0, 1])
    with pytest.raises(ValueError, match="X must be a non-empty 2-D"):
        Perceptron().fit([0, 1, 1, 0], XOR)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        Perceptron().fit(X_BITS, AND, epochs=0)
    with pytest.raises(TypeError, match="X must be numbers"):
        Perceptron().fit([["a", "b"]], [0])
    with pytest.raises(ValueError, match="X has 3 features but w has 2"):
        Perceptron([1, 1], 0).fit(np.ones((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="X has 3 features but w has 2"):
        Perceptron([1, 1], 0).predict(np.ones((2, 3)))
