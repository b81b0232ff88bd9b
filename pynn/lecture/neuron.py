"""A single neural unit and the perceptron, as in the course (Jurafsky & Martin ch. 7).

A unit computes a weighted sum of its inputs plus a bias, then a nonlinearity::

    z = w . x + b
    y = f(z)

The perceptron is the unit whose f is a step, trained by the perceptron rule. It
learns AND and OR but never XOR: no line separates XOR's classes.

May import: NumPy only."""
import warnings

import numpy as np

__all__ = ["Neuron", "Perceptron", "ConvergenceWarning", "ACTIVATIONS"]


class ConvergenceWarning(UserWarning):
    """A training procedure stopped before it reached its goal."""


def _step(z):
    # strictly greater: z = 0 gives 0, which is what makes AND (w=[1,1], b=-1) work
    return (z > 0).astype(np.float64)


ACTIVATIONS = {
    "sigmoid": lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)),   # = 1/(1+e^-z), never overflows
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "identity": lambda z: z,
    "step": _step,
}


def _as_real_array(x, argname):
    """`x` as a float64 array; TypeError if it is not numbers."""
    try:
        arr = np.asarray(x)
    except ValueError as err:  # ragged nested lists
        raise ValueError(f"{argname} must be a regular array of numbers: {err}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{argname} must be numbers, got {type(x).__name__} (dtype {arr.dtype})")
    return arr.astype(np.float64)


def _as_weights(w, argname="w"):
    w = _as_real_array(w, argname)
    if w.ndim != 1 or w.size == 0:
        raise ValueError(f"{argname} must be a non-empty 1-D array of weights, got shape {w.shape}")
    return w


def _as_bias(b):
    if isinstance(b, (bool, np.bool_)) or np.ndim(b) != 0 or np.asarray(b).dtype.kind not in "iuf":
        raise TypeError(f"b must be a real number, got {type(b).__name__}: {b!r}")
    return float(b)


def _as_inputs(x, n_features, argname="x"):
    """One input (1-D, length n_features) or a batch of rows (2-D, (n, n_features))."""
    x = _as_real_array(x, argname)
    if x.ndim not in (1, 2):
        raise ValueError(f"{argname} must be one input (1-D) or a batch of inputs (2-D), "
                         f"got shape {x.shape}")
    if x.shape[-1] != n_features:
        raise ValueError(f"{argname} has {x.shape[-1]} features but w has {n_features} weights "
                         f"(shape of {argname}: {x.shape})")
    return x


class Neuron:
    """One unit: ``y = f(w . x + b)``.

    ``Neuron(w, b, activation)``, activation one of "sigmoid", "tanh", "relu",
    "identity", "step" or a callable on arrays. Call it on one input (1-D, returns a
    float) or on a batch whose rows are inputs (2-D (n, len(w)), returns shape (n,)).

    >>> unit = Neuron([0.2, 0.3, 0.9], 0.5)
    >>> unit.z([0.5, 0.6, 0.1])      # .5*.2 + .6*.3 + .1*.9 + .5 = 0.87
    0.87
    >>> round(unit([0.5, 0.6, 0.1]), 4)  # sigmoid(0.87) = 1 / (1 + e^-0.87)
    0.7047
    """

    def __init__(self, w, b, activation="sigmoid"):
        self.w = _as_weights(w)
        self.b = _as_bias(b)
        if callable(activation):
            self.activation, self._f = getattr(activation, "__name__", "custom"), activation
        elif activation in ACTIVATIONS:
            self.activation, self._f = activation, ACTIVATIONS[activation]
        else:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or a callable, "
                             f"got {activation!r}")

    def z(self, x):
        """The pre-activation ``w . x + b`` (a float, or shape (n,) for a batch)."""
        x = _as_inputs(x, self.w.size)
        z = x @ self.w + self.b
        return float(z) if x.ndim == 1 else z

    def __call__(self, x):
        y = np.asarray(self._f(np.asarray(self.z(x))), dtype=np.float64)
        return float(y) if y.ndim == 0 else y

    def __repr__(self):
        return f"Neuron(w={self.w.tolist()}, b={self.b}, activation={self.activation!r})"


class Perceptron:
    """The perceptron: ``y = 1 if w . x + b > 0 else 0``.

    With weights it is a fixed logic gate -- AND is ``Perceptron([1, 1], -1)``, OR is
    ``Perceptron([1, 1], 0)``. ``fit`` learns them with the perceptron rule, one example
    at a time, in order::

        yhat = step(w . x + b)
        w <- w + lr (y - yhat) x
        b <- b + lr (y - yhat)

    It changes the weights only on mistakes, and stops after the first epoch without
    one. If the classes are linearly separable that epoch comes; if not (XOR) it never
    does, and ``fit`` says so with a ``ConvergenceWarning`` and ``converged_ = False``.

    After ``fit``: ``converged_`` (bool), ``n_epochs_`` (epochs run), ``errors_``
    (mistakes in each epoch).
    """

    def __init__(self, w=None, b=None, lr=1.0):
        if w is None and b is not None:
            raise ValueError("b was given without w; give both, or neither and call fit")
        self.w = None if w is None else _as_weights(w)
        self.b = None if w is None else (0.0 if b is None else _as_bias(b))
        if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (int, float, np.number)) \
                or not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a positive finite number, got {lr!r}")
        self.lr = float(lr)
        self.converged_ = None
        self.n_epochs_ = 0
        self.errors_ = []

    def _check_fitted(self):
        if self.w is None:
            raise ValueError("this Perceptron has no weights yet: pass w and b to the "
                             "constructor, or call fit(X, y) first")

    def decision_function(self, X):
        """``w . x + b`` for each row of X."""
        self._check_fitted()
        return _as_inputs(X, self.w.size, "X") @ self.w + self.b

    def predict(self, X):
        """Labels 0/1 (int array) for a batch X of shape (n, n_features)."""
        self._check_fitted()
        X = _as_inputs(X, self.w.size, "X")
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D batch (n, {self.w.size}), got shape {X.shape}; "
                             "call the perceptron itself on a single input")
        return (X @ self.w + self.b > 0).astype(int)

    def __call__(self, x):
        """The label of one input (an int), or of each row of a batch (an int array)."""
        self._check_fitted()
        x = _as_inputs(x, self.w.size)
        out = (x @ self.w + self.b > 0).astype(int)
        return int(out) if x.ndim == 1 else out

    def fit(self, X, y, epochs=100):
        """Train with the perceptron rule; start from zeros if there are no weights."""
        X = _as_real_array(X, "X")
        if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(f"X must be a non-empty 2-D array (n_samples, n_features), got shape {X.shape}")
        y = _as_real_array(y, "y")
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), one label per row of X, got {y.shape}")
        if not np.all((y == 0) | (y == 1)):
            raise ValueError(f"y must hold labels 0 and 1 only, got values {np.unique(y)[:10].tolist()}")
        if isinstance(epochs, (bool, np.bool_)) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {epochs!r}")
        if self.w is None:
            self.w, self.b = np.zeros(X.shape[1]), 0.0
        elif self.w.size != X.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features but w has {self.w.size} weights")

        self.errors_, self.converged_ = [], False
        for _ in range(epochs):
            mistakes = 0
            for x_i, y_i in zip(X, y):
                error = y_i - float(x_i @ self.w + self.b > 0)   # -1, 0 or +1
                if error:
                    self.w = self.w + self.lr * error * x_i
                    self.b = self.b + self.lr * error
                    mistakes += 1
            self.errors_.append(mistakes)
            if mistakes == 0:
                self.converged_ = True
                break
        self.n_epochs_ = len(self.errors_)
        if not self.converged_:
            warnings.warn(f"the perceptron did not converge in {epochs} epochs (still "
                          f"{self.errors_[-1]} mistake(s) in the last one): the classes may not "
                          "be linearly separable -- XOR is not -- or it needs more epochs",
                          ConvergenceWarning, stacklevel=2)
        return self

    def __repr__(self):
        w = None if self.w is None else self.w.tolist()
        return f"Perceptron(w={w}, b={self.b}, lr={self.lr})"
