"""Sequential.fit options: validation_split, verbose modes, terminate_on_nan, plot_history,
and pickling a model (the state a fit leaves behind)."""
import copy
import io
import pickle
import sys
import warnings

import numpy as np
import pytest

import pynn
from pynn.datasets import train_test_split_indices
from pynn.progress import ProgressLogger


def net(seed=0, n_in=64, n_out=10, loss="softmax_cross_entropy", dropout=0.0, dtype="float32"):
    layers = [pynn.Dense(n_in, 16), pynn.ReLU()]
    if dropout:
        layers.append(pynn.Dropout(dropout))
    layers.append(pynn.Dense(16, n_out))
    return pynn.Sequential(layers, loss=loss, seed=seed, dtype=dtype)


@pytest.fixture(scope="module")
def digits():
    X, y = pynn.datasets.load_digits()
    order = np.argsort(y, kind="stable")  # sorted by class: "the last 10%" would be all nines
    return X[order][:600], y[order][:600]


# ---------------------------------------------------------------------------- validation_split
def test_validation_split_is_the_seeded_stratified_split(digits):
    X, y = digits
    a, b = net(seed=3), net(seed=3)
    ha = a.fit(X, y, epochs=2, verbose=0, validation_split=0.25)
    train, val = train_test_split_indices(len(X), 0.25, seed=[3, 2], stratify=y)
    hb = b.fit(X[train], y[train], epochs=2, verbose=0, validation_data=(X[val], y[val]))
    assert ha.history == hb.history  # bit for bit: the same rows, in the same order
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
    assert ha.params["samples"] == len(train)


def test_validation_split_keeps_class_shares_and_is_not_the_tail(digits):
    X, y = digits
    train, val = train_test_split_indices(len(X), 0.2, seed=[0, 2], stratify=y)
    counts = np.bincount(y, minlength=10)
    np.testing.assert_array_equal(np.bincount(y[val], minlength=10), np.round(0.2 * counts))
    assert not np.array_equal(val, np.arange(len(X) - len(val), len(X)))
    assert len(np.unique(y[val])) == len(np.unique(y))  # the tail of sorted y holds 1-2 classes


def test_validation_split_stratifies_one_binary_output():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (np.arange(200) < 40).astype(float)  # 20% positives, all at the front
    model = pynn.Sequential([pynn.Dense(4, 1)], loss="binary_cross_entropy", seed=5)
    hist = model.fit(X, y, epochs=1, verbose=0, validation_split=0.25)
    train, val = train_test_split_indices(200, 0.25, seed=[5, 2], stratify=y)
    assert y[val].sum() == 10 and len(val) == 50
    assert hist.params["samples"] == 150 and "val_accuracy" in hist.history


def test_validation_split_errors(digits):
    X, y = digits
    model = net()
    with pytest.raises(ValueError, match="validation_data or validation_split, not both"):
        model.fit(X, y, verbose=0, validation_split=0.1, validation_data=(X, y))
    with pytest.raises(ValueError, match="validation_split must be < 1.0"):
        model.fit(X, y, verbose=0, validation_split=1.0)
    with pytest.raises(TypeError, match="validation_split must be a real number"):
        model.fit(X, y, verbose=0, validation_split="10%")
    with pytest.raises(ValueError, match="leaves .* both need at least one"):
        model.fit(X[:3], y[:3], verbose=0, validation_split=0.1)
    assert model.epochs_done == 0


# ---------------------------------------------------------------------------- verbose
def test_verbose_2_prints_one_line_per_epoch(digits, capsys):
    X, y = digits
    net().fit(X, y, epochs=3, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for i, line in enumerate(lines, 1):
        assert line.startswith(f"Epoch {i}/3 - ") and "loss: " in line and "val_accuracy: " in line


def test_verbose_0_is_silent(digits, capsys):
    X, y = digits
    net().fit(X, y, epochs=2, verbose=0)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_verbose_1_without_a_terminal_prints_lines(digits, capsys):
    X, y = digits
    net().fit(X, y, epochs=2, verbose=1)  # pytest's captured stderr is no terminal
    out = capsys.readouterr().out
    assert len([l for l in out.splitlines() if l.startswith("Epoch ")]) == 2


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def run_logger(logger, epochs=3):
    logger.set_params({"epochs": epochs})
    logger.on_train_begin()
    for e in range(epochs):
        logger.on_epoch_begin(e)
        logger.on_epoch_end(e, {"loss": 1.0 / (e + 1), "accuracy": 0.5})
    logger.on_train_end()


def test_verbose_1_on_a_terminal_draws_one_tqdm_bar():
    pytest.importorskip("tqdm", reason="the progress bar needs tqdm")
    term = FakeTerminal()
    run_logger(ProgressLogger(1, file=term))
    text = term.getvalue()
    assert "3/3" in text and "epoch" in text and "loss=0.3333" in text
    assert "Epoch 1/3" not in text


def test_verbose_1_without_tqdm_falls_back_to_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    term = FakeTerminal()
    run_logger(ProgressLogger(1, file=term))
    assert [l.split(" - ")[0] for l in term.getvalue().splitlines()] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]


def test_bad_verbose(digits):
    X, y = digits
    with pytest.raises(ValueError, match="verbose must be an integer in \\[0, 2\\]"):
        net().fit(X, y, verbose=3)


# ---------------------------------------------------------------------------- terminate_on_nan
def diverge_at_epoch_2(epoch, lr):
    return 1e-2 if epoch < 2 else 1e30


def regression_data():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 4))
    return X, X @ rng.standard_normal((4, 2))


def regression_net():
    return pynn.Sequential([pynn.Dense(4, 8), pynn.Tanh(), pynn.Dense(8, 2)], loss="mse", seed=0)


def test_divergence_stops_cleanly_with_the_last_good_epoch():
    X, Y = regression_data()
    model, twin = regression_net(), regression_net()
    opt = pynn.SGD(lr=1e-2)
    with pytest.warns(RuntimeWarning, match="training diverged in epoch 3"):
        hist = model.fit(X, Y, epochs=5, verbose=0, optimizer=opt,
                         callbacks=[pynn.LearningRateScheduler(diverge_at_epoch_2)])
    assert len(hist.history["loss"]) == 2 and hist.params["diverged_epoch"] == 2
    assert model.epochs_done == 2
    twin.fit(X, Y, epochs=2, verbose=0, optimizer=pynn.SGD(lr=1e-2))
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(p, q)  # the end of epoch 2, finite


def test_divergence_raises_without_terminate_on_nan():
    X, Y = regression_data()
    model = regression_net()
    with pytest.raises(pynn.DivergenceError):
        model.fit(X, Y, epochs=5, verbose=0, optimizer=pynn.SGD(lr=1e-2), terminate_on_nan=False,
                  callbacks=[pynn.LearningRateScheduler(diverge_at_epoch_2)])
    assert model.epochs_done == 2 and all(np.isfinite(p).all() for p in model.parameters())


def test_an_explicit_terminate_on_nan_records_the_epoch():
    X, Y = regression_data()
    guard = pynn.TerminateOnNaN()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        regression_net().fit(X, Y, epochs=4, verbose=0, optimizer=pynn.SGD(lr=1e-2),
                             callbacks=[pynn.LearningRateScheduler(diverge_at_epoch_2), guard])
    assert guard.stopped_epoch == 2 and isinstance(guard.error, pynn.DivergenceError)


# ---------------------------------------------------------------------------- plot_history
def test_plot_history_writes_a_png(digits, tmp_path):
    pytest.importorskip("matplotlib", reason="plotting needs matplotlib")
    X, y = digits
    model = net()
    model.fit(X, y, epochs=3, verbose=0, validation_split=0.2)
    path = model.plot_history(tmp_path / "curves.png", title="digits")
    data = (tmp_path / "curves.png").read_bytes()
    assert path == str(tmp_path / "curves.png") and data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert pynn.plot_history(model.history.history, tmp_path / "d.png").endswith("d.png")


def test_plot_history_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="call fit first"):
        net().plot_history(tmp_path / "x.png")
    with pytest.raises(ValueError, match="history is empty"):
        pynn.plot_history({}, tmp_path / "x.png")
    with pytest.raises(TypeError, match="history must be a pynn History"):
        pynn.plot_history([1, 2], tmp_path / "x.png")
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'pynn\[plot\]'"):
        pynn.plot_history({"loss": [1.0, 0.5]}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# ---------------------------------------------------------------------------- pickling
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make_copy", [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy],
                         ids=["pickle", "deepcopy"])
def test_a_copied_model_predicts_and_trains_on_identically(digits, dtype, make_copy):
    X, y = digits
    model = net(seed=4, dropout=0.2, dtype=dtype)
    model.fit(X, y, epochs=2, verbose=0, optimizer=pynn.Adam(lr=1e-2), validation_split=0.1)
    clone = make_copy(model)
    assert clone is not model and clone._net is not model._net
    np.testing.assert_array_equal(clone.predict_proba(X), model.predict_proba(X))
    assert clone.history.history == model.history.history and clone.epochs_done == 2
    assert clone.optimizer.get_config() == model.optimizer.get_config()
    # Adam's moments and step count, the dropout counter and the epoch count came along:
    model.fit(X, y, epochs=1, verbose=0)
    clone.fit(X, y, epochs=1, verbose=0)
    for p, q in zip(model.parameters(), clone.parameters()):
        np.testing.assert_array_equal(p, q)


def test_pickling_an_untrained_model():
    model = net(seed=9)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.optimizer is None and repr(clone) == repr(model)
    for p, q in zip(model.parameters(), clone.parameters()):
        np.testing.assert_array_equal(p, q)
