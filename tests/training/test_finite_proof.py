"""fit skips its pass over X that proves every value finite when the first epoch proves it
instead (pynn/nn/fitting.py: _first_epoch_proves_finite). The claim that makes this
safe: a NaN or inf anywhere in X makes that epoch raise DivergenceError, on every kernel
path, whatever follows the first Dense layer. Then fit must raise the ValueError it
raised before, with the model exactly as it was before the fit."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pynn
from pynn import _checks, _core
from pynn.nn import fitting

ACTIVATIONS = [pynn.ReLU, pynn.Sigmoid, pynn.Tanh, pynn.LeakyReLU, pynn.ELU, pynn.GELU, pynn.SiLU, pynn.Softplus,
               pynn.Identity]


@pytest.fixture(autouse=True)
def _restore_settings():
    kernel, precision = _core.get_kernel(), pynn.get_float32_matmul_precision()
    yield
    _core.set_kernel("auto" if kernel == "avx512" else kernel)
    pynn.set_float32_matmul_precision(precision)


def _model_state(model) -> tuple:
    """Everything fit may change, as bytes and plain values."""
    state = model.state()
    return (state.params.tobytes(), tuple(b.tobytes() for b in state.optimizer_buffers), state.opt_step,
            state.train_forwards, state.optimizer_kind, model.optimizer, model.epochs_done, model.history,
            model.stop_training)


class _Taken:
    """Records what _first_epoch_proves_finite answered, so a test knows which path ran."""

    def __enter__(self):
        self.answers, self._real = [], fitting._first_epoch_proves_finite
        fitting._first_epoch_proves_finite = lambda *a: self.answers.append(self._real(*a)) or self.answers[-1]
        return self

    def __exit__(self, *exc):
        fitting._first_epoch_proves_finite = self._real


def _data(rng, n, n_in, loss, n_out, dtype):
    X = rng.normal(size=(n, n_in)).astype(dtype)
    if loss == "softmax_cross_entropy":
        y = rng.integers(0, n_out, n)
    elif loss == "binary_cross_entropy":
        y = rng.integers(0, 2, (n, n_out)).astype(dtype)
    else:
        y = rng.normal(size=(n, n_out)).astype(dtype)
    return X, y


def _count_full_passes(monkeypatch, n_values):
    """How often _checks.all_finite reads an array of n_values values (the pass over X)."""
    calls = []
    real = _checks.all_finite
    monkeypatch.setattr(_checks, "all_finite", lambda arr: calls.append(arr.size == n_values) or real(arr))
    return lambda: sum(calls)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_finite_X_is_read_once_by_training_only(monkeypatch, dtype):
    rng = np.random.default_rng(0)
    X, y = _data(rng, 300, 20, "softmax_cross_entropy", 3, dtype)
    passes = _count_full_passes(monkeypatch, X.size)
    model = pynn.Sequential([pynn.Dense(20, 16), pynn.ReLU(), pynn.Dense(16, 3)], dtype=dtype, seed=0)
    model.fit(X, y, epochs=2, batch_size=32, verbose=0)
    assert passes() == 0
    # a callback of the user's could see the epoch run: the pass comes first again
    model.fit(X, y, epochs=1, batch_size=32, verbose=0, callbacks=[pynn.training.callbacks.History()])
    assert passes() == 1
    # so does an optimizer that would replace the model's own (its state could not be restored)
    model.fit(X, y, epochs=1, batch_size=32, verbose=0, optimizer=pynn.SGD(lr=0.01))
    assert passes() == 2


def test_the_proof_and_the_pass_give_the_same_model():
    rng = np.random.default_rng(1)
    X, y = _data(rng, 200, 12, "softmax_cross_entropy", 4, "float32")
    models = [pynn.Sequential([pynn.Dense(12, 8), pynn.Tanh(), pynn.Dense(8, 4)], seed=3) for _ in range(2)]
    models[0].fit(X, y, epochs=2, batch_size=16, verbose=0)  # proved by the first epoch
    models[1].fit(X, y, epochs=2, batch_size=16, verbose=0, callbacks=[pynn.training.callbacks.History()])
    assert models[0].state().params.tobytes() == models[1].state().params.tobytes()


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_nonfinite_value_anywhere_is_the_old_value_error_and_the_model_is_unchanged(data):
    draw = data.draw
    dtype = draw(st.sampled_from(["float32", "float64"]), label="dtype")
    loss = draw(st.sampled_from(["softmax_cross_entropy", "binary_cross_entropy", "mse"]), label="loss")
    n = draw(st.integers(1, 80))
    # wide layers too: "medium" runs bf16 products from 128 x 128 up
    n_in, hidden = draw(st.sampled_from([(draw(st.integers(1, 40)), draw(st.integers(1, 24))), (200, 160)]))
    n_out = draw(st.integers(2, 4)) if loss == "softmax_cross_entropy" else draw(st.integers(1, 3))
    activation = draw(st.sampled_from(ACTIVATIONS + [pynn.PReLU]), label="activation")
    layers = [pynn.Dense(n_in, hidden), activation(hidden) if activation is pynn.PReLU else activation()]
    if draw(st.booleans(), label="dropout"):
        layers.append(pynn.Dropout(0.5))
    layers.append(pynn.Dense(hidden, n_out))
    model = pynn.Sequential(layers, loss=loss, dtype=dtype, seed=draw(st.integers(0, 9)))
    _core.set_kernel(draw(st.sampled_from(["auto", "blas"]), label="kernel"))
    pynn.set_float32_matmul_precision(draw(st.sampled_from(["highest", "medium"]), label="precision"))

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X, y = _data(rng, n, n_in, loss, n_out, dtype)
    if loss == "softmax_cross_entropy" and draw(st.booleans(), label="probability rows"):
        y = rng.dirichlet(np.ones(n_out), n).astype(dtype)
    weights = None
    if draw(st.booleans(), label="weights"):
        weights = rng.uniform(0, 2, n) * (rng.uniform(size=n) > 0.3)  # zeros among them
    if draw(st.booleans(), label="trained before"):  # an optimizer state and moments to keep
        model.fit(X, y, epochs=1, batch_size=8, verbose=0, optimizer=draw(st.sampled_from(["adam", "sgd"])))
    row, col = draw(st.integers(0, n - 1), label="row"), draw(st.integers(0, n_in - 1), label="col")
    bits = draw(st.sampled_from([0x7FC00000, 0x7FFFFFFF, 0xFFFFFFFF, 0x7F800001, 0x7F800000, 0xFF800000]))
    bad = np.array([bits], np.uint32).view(np.float32)[0]  # quiet, payload, signalling NaN; +-inf
    with np.errstate(invalid="ignore"):  # a signalling NaN into a float64 X
        X[row, col] = bad
    if weights is not None and draw(st.booleans(), label="bad row weighs 0"):
        weights[row] = 0.0
    optimizer = draw(st.sampled_from([None, "keep", pynn.Adam(lr=1e-3), pynn.SGD(lr=0.1, momentum=0.9)]))
    if optimizer == "keep":
        optimizer = model.optimizer
    split = draw(st.sampled_from([0.0, 0.3])) if n >= 8 else 0.0
    model.stop_training = draw(st.booleans())  # an earlier fit's EarlyStopping leaves it True
    before = _model_state(model)
    word = "NaN" if np.isnan(bad) else "inf"
    with _Taken() as taken, pytest.raises(ValueError, match=f"X contains {word}"):
        model.fit(X, y, epochs=2, batch_size=draw(st.integers(1, n + 3), label="batch"), verbose=0,
                  sample_weight=weights, optimizer=optimizer, shuffle=draw(st.booleans()), validation_split=split)
    assert _model_state(model) == before
    # the first epoch found it, unless fit could not have undone the optimizer it was given
    assert taken.answers == [before[5] is None or optimizer is None or optimizer is before[5]]


@pytest.mark.parametrize("precision", ["highest", "medium"])
@pytest.mark.parametrize("batch", [32, 128])
def test_the_benchmark_network_finds_a_value_in_its_last_batch(precision, batch):
    """The benchmark's shape takes the one-region step with the packed first layer."""
    pynn.set_float32_matmul_precision(precision)
    X, y = pynn.datasets.make_mnist_like(n=4 * batch + 5, seed=0)
    X = np.asarray(X, np.float32)
    for value in (np.nan, np.inf):
        model = pynn.Sequential([pynn.Dense(784, 256), pynn.ReLU(), pynn.Dense(256, 128), pynn.ReLU(),
                                 pynn.Dense(128, 10)], seed=0)
        before = _model_state(model)
        bad = X.copy()
        bad[pynn.reference.epoch_order(len(X), 0, 0)[-1], 300] = value  # the last row the epoch visits
        with pytest.raises(ValueError, match="X contains (NaN|inf)"):
            model.fit(bad, y, epochs=1, batch_size=batch, verbose=0, optimizer=pynn.Adam(lr=1e-3))
        assert _model_state(model) == before


def test_a_real_divergence_is_still_a_divergence():
    """A finite X that training blows up: the pass after the failed epoch finds X finite,
    and the DivergenceError (or TerminateOnNaN's stop) is what it was."""
    rng = np.random.default_rng(2)
    X, y = _data(rng, 64, 5, "mse", 1, "float32")
    X *= 1e18
    model = pynn.Sequential([pynn.Dense(5, 4), pynn.ReLU(), pynn.Dense(4, 1)], loss="mse", seed=0)
    model.optimizer = pynn.SGD(lr=1.0)  # fit keeps it: the first epoch checks X
    with _Taken() as taken:
        with pytest.raises(pynn.DivergenceError):
            model.fit(X, y, epochs=1, verbose=0, terminate_on_nan=False)
        with pytest.warns(RuntimeWarning, match="not finite"):
            model.fit(X, y, epochs=3, verbose=0)
    assert taken.answers == [True, True]
    assert model.history.params["diverged_epoch"] == 0


def test_argument_errors_come_before_X_values_either_way():
    """The first epoch can only check X after the other arguments: so does the pass."""
    X, y = _data(np.random.default_rng(3), 40, 6, "softmax_cross_entropy", 3, "float32")
    X[5, 2] = np.nan
    model = pynn.Sequential([pynn.Dense(6, 5), pynn.ReLU(), pynn.Dense(5, 3)], seed=0)
    for callbacks in (None, [pynn.training.callbacks.History()]):
        with pytest.raises(ValueError, match="batch_size"):
            model.fit(X, y, batch_size=0, verbose=0, callbacks=callbacks)
        with pytest.raises(ValueError, match="class label 7"):
            model.fit(X, np.full(40, 7), verbose=0, callbacks=callbacks)
        with pytest.raises(ValueError, match="X contains NaN"):
            model.fit(X, y, verbose=0, callbacks=callbacks)


def test_a_bad_held_out_row_gives_the_message_of_the_whole_pass():
    """validation_split's held-out rows are checked before training (no epoch visits
    them), and the message is the one the pass over all of X gives: its first bad block."""
    X, y = _data(np.random.default_rng(4), 50, 6, "softmax_cross_entropy", 3, "float32")
    X[0, 0], X[-1, 0] = np.nan, np.inf
    for callbacks in (None, [pynn.training.callbacks.History()]):
        model = pynn.Sequential([pynn.Dense(6, 5), pynn.ReLU(), pynn.Dense(5, 3)], seed=0)
        before = _model_state(model)
        with pytest.raises(ValueError, match="X contains NaN"):
            model.fit(X, y, verbose=0, validation_split=0.5, callbacks=callbacks)
        assert _model_state(model) == before
