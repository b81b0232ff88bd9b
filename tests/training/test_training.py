"""Training end to end and the model API a user meets: the digits default run, the
command line, reproducibility from the seed, History, predict/predict_proba/evaluate,
summary/repr, the parameter and gradient views, the plain activation functions and
the thread count."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import cli
from pynn import reference as R

PYNN = shutil.which("pynn", path=os.path.dirname(sys.executable))


# ---------------------------------------------------------------------------- the default run

def test_digits_default_run_reaches_95_percent(capsys):
    assert cli.main(["train"]) == 0
    out = capsys.readouterr().out
    epochs = re.findall(r"^Epoch (\d+)/30 - .*loss: [0-9.]+ - accuracy: [0-9.]+", out, re.M)
    assert [int(e) for e in epochs] == list(range(1, 31))
    accuracy = float(re.search(r"held-out accuracy: ([0-9.]+)", out).group(1))
    assert accuracy >= 0.95


def test_digits_network_in_python_reaches_95_percent():
    """The same network as `pynn train`, written as a user would."""
    X, y = pynn.datasets.load_digits()
    train, test = pynn.datasets.train_test_split_indices(len(X), 0.2, seed=0, stratify=y)
    model = pynn.Sequential([pynn.Dense(64, 128), pynn.ReLU(), pynn.Dropout(0.1), pynn.Dense(128, 10)], seed=0)
    model.fit(X[train], y[train], epochs=30, batch_size=32, optimizer=pynn.Adam(lr=1e-3), verbose=0)
    result = model.evaluate(X[test], y[test])
    assert result["accuracy"] >= 0.95
    assert result["accuracy"] == np.mean(model.predict(X[test]) == y[test])


@pytest.mark.parametrize("how", ["module", "script"])
def test_command_line_train(how, tmp_path):
    if how == "script" and PYNN is None:
        pytest.skip("the pynn console script is not installed next to this Python")
    cmd = [sys.executable, "-m", "pynn"] if how == "module" else [PYNN]
    result = subprocess.run(cmd + ["train", "--epochs", "3"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(re.findall(r"^Epoch \d/3 - .*loss: .*accuracy: ", result.stdout, re.M)) == 3
    assert re.search(r"^held-out accuracy: 0\.\d{4}", result.stdout, re.M)


def test_help_explains_itself(tmp_path):
    cmd = [PYNN] if PYNN else [sys.executable, "-m", "pynn"]
    result = subprocess.run(cmd + ["--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: pynn")
    assert "train" in result.stdout and "neural networks" in result.stdout
    sub = subprocess.run(cmd + ["train", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert sub.returncode == 0 and all(opt in sub.stdout for opt in ("--epochs", "--batch-size", "--lr", "--seed"))


# ---------------------------------------------------------------------------- reproducibility

def _fit_flat(seed, dtype="float32", data_seed=0):
    rng = np.random.default_rng(data_seed)
    X, y = rng.normal(size=(90, 6)), rng.integers(0, 4, size=90)
    model = pynn.Sequential([pynn.Dense(6, 16), pynn.GELU(), pynn.Dropout(0.3), pynn.Dense(16, 8), pynn.PReLU(8),
                             pynn.Dense(8, 4)], dtype=dtype, seed=seed)
    model.fit(X, y, epochs=3, batch_size=16, optimizer=pynn.AdamW(lr=0.01), verbose=0)
    return np.concatenate([p.ravel() for p in model.parameters()])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_and_data_give_bit_identical_parameters(dtype):
    np.testing.assert_array_equal(_fit_flat(5, dtype), _fit_flat(5, dtype))


def test_different_seeds_differ():
    a, b = _fit_flat(5), _fit_flat(6)
    assert a.shape == b.shape and not np.allclose(a, b)


def test_seed_none_draws_a_seed():
    a = pynn.Sequential([pynn.Dense(3, 2)], seed=None)
    b = pynn.Sequential([pynn.Dense(3, 2)], seed=None)
    assert isinstance(a.seed, int) and a.seed != b.seed


# ---------------------------------------------------------------------------- fit, predict, evaluate

def _problem(loss, n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    if loss == "softmax_cross_entropy":
        y, n_out = rng.integers(0, 3, size=n), 3
    elif loss == "binary_cross_entropy":  # multi-label, 2 labels per row
        y, n_out = (rng.random((n, 2)) < 0.5).astype(float), 2
    else:
        y, n_out = rng.normal(size=(n, 2)), 2
    model = pynn.Sequential([pynn.Dense(5, 8), pynn.Tanh(), pynn.Dense(8, n_out)], loss=loss, dtype="float64", seed=1)
    return model, X, y


@pytest.mark.parametrize("loss, keys", [
    ("softmax_cross_entropy", {"loss", "accuracy", "val_loss", "val_accuracy"}),
    ("binary_cross_entropy", {"loss", "accuracy", "val_loss", "val_accuracy"}),
    ("mse", {"loss", "val_loss"}),
])
def test_fit_history(loss, keys):
    model, X, y = _problem(loss)
    history = model.fit(X[:30], y[:30], epochs=4, batch_size=8, validation_data=(X[30:], y[30:]), verbose=0,
                        optimizer=pynn.Adam(lr=0.01))
    assert set(history.history) == keys
    assert history.epoch == [0, 1, 2, 3] and model.history is history
    assert all(len(v) == 4 and all(np.isfinite(v)) for v in history.history.values())
    assert history.history["loss"][-1] < history.history["loss"][0]
    np.testing.assert_allclose(history.history["val_loss"][-1], model.evaluate(X[30:], y[30:])["loss"], rtol=1e-12)


def test_fit_verbose_prints_one_line_per_epoch(capsys):
    model, X, y = _problem("softmax_cross_entropy")
    model.fit(X, y, epochs=2, verbose=2)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Epoch ")]
    assert len(lines) == 2 and "loss: " in lines[0] and "accuracy: " in lines[0]


def test_predict_proba_evaluate_softmax_cross_entropy():
    model, X, y = _problem("softmax_cross_entropy")
    logits = model.forward(X)
    proba = model.predict_proba(X)
    assert logits.shape == proba.shape == (40, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba, R.softmax(logits), rtol=1e-12)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    pred = model.predict(X)
    assert pred.shape == (40,) and pred.dtype.kind == "i"
    np.testing.assert_array_equal(pred, logits.argmax(axis=1))
    result = model.evaluate(X, y)
    assert set(result) == {"loss", "accuracy"}
    np.testing.assert_allclose(result["loss"], R.softmax_cross_entropy(logits, y)[0], rtol=1e-12)
    assert result["accuracy"] == np.mean(pred == y)


def test_predict_proba_evaluate_binary_cross_entropy():
    model, X, y = _problem("binary_cross_entropy")
    logits = model.forward(X)
    proba = model.predict_proba(X)
    assert proba.shape == (40, 2)
    np.testing.assert_allclose(proba, R.sigmoid(logits), rtol=1e-12)
    pred = model.predict(X)
    assert pred.shape == (40, 2)
    np.testing.assert_array_equal(pred, (logits > 0).astype(int))
    result = model.evaluate(X, y)
    np.testing.assert_allclose(result["loss"], R.binary_cross_entropy(logits, y)[0], rtol=1e-12)
    assert result["accuracy"] == np.mean(pred == y)  # per label


def test_predict_evaluate_mse():
    model, X, y = _problem("mse")
    out = model.predict(X)
    np.testing.assert_array_equal(out, model.forward(X))
    assert out.shape == (40, 2)
    assert model.evaluate(X, y).keys() == {"loss"}
    np.testing.assert_allclose(model.evaluate(X, y)["loss"], np.mean((out - y) ** 2), rtol=1e-12)
    with pytest.raises(ValueError, match="predict_proba needs a classification loss"):
        model.predict_proba(X)


def test_predict_is_chunked_consistently():
    """Inference over more rows than the core's chunk gives the row-by-row result."""
    model = pynn.Sequential([pynn.Dense(3, 4), pynn.ReLU(), pynn.Dense(4, 2)], loss="mse", dtype="float64")
    X = np.random.default_rng(0).normal(size=(9000, 3))
    np.testing.assert_allclose(model.predict(X), R.MLP([l.get_config() for l in model.layers],
                                                       model.parameters(), "mse").forward(X), rtol=1e-12)


def test_inference_ignores_dropout_and_does_not_advance_the_step():
    model = pynn.Sequential([pynn.Dense(3, 50), pynn.Dropout(0.5), pynn.Dense(50, 2)])
    X = np.ones((4, 3))
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X))
    assert model._net.train_forwards == 0


# ---------------------------------------------------------------------------- summary, repr

def test_summary_and_repr():
    model = pynn.Sequential([pynn.Dense(64, 32), pynn.ReLU(), pynn.Dropout(0.1), pynn.Dense(32, 10, use_bias=False),
                             pynn.PReLU(10)], loss="softmax_cross_entropy", seed=3)
    text = model.summary(print_fn=None)
    for piece in ("Dense(64, 32", "(None, 32)", "2,080", "Dropout(p=0.1)", "Dense(32, 10, use_bias=False",
                  "(None, 10)", "320", "PReLU(num_parameters=10", "Total params: 2,410", "Input: (None, 64)",
                  "softmax_cross_entropy", "float32", "seed: 3"):
        assert piece in text, piece
    assert model.count_params() == 2410 == sum(p.size for p in model.parameters())
    r = repr(model)
    assert r.startswith("Sequential(") and "(0): Dense(64, 32" in r and "(4): PReLU" in r and "params=2,410" in r


def test_summary_prints(capsys):
    pynn.Sequential([pynn.Dense(2, 2)]).summary()
    assert "Total params: 6" in capsys.readouterr().out


# ---------------------------------------------------------------------------- parameter and gradient views

def test_parameters_are_writeable_views_that_change_the_model():
    model = pynn.Sequential([pynn.Dense(3, 4), pynn.PReLU(), pynn.Dense(4, 2)], loss="mse", dtype="float64")
    params = model.parameters()
    assert [p.shape for p in params] == [(4, 3), (4,), (1,), (2, 4), (2,)]
    assert all(p.flags.writeable and p.dtype == np.float64 for p in params)
    X = np.ones((2, 3))
    params[3][...] = 0.0
    params[4][...] = [1.5, -2.0]
    np.testing.assert_array_equal(model.forward(X), [[1.5, -2.0], [1.5, -2.0]])
    params[2][0] = 0.7  # PReLU slope
    params[3][...] = 1.0
    params[4][...] = 0.0
    W, b = params[0], params[1]
    h = X @ W.T + b
    np.testing.assert_allclose(model.forward(X), np.where(h > 0, h, 0.7 * h).sum(axis=1, keepdims=True) * [1, 1])
    # The views stay live: a train step updates the very same arrays.
    before = params[0].copy()
    model.train_step(X, np.zeros((2, 2)), pynn.SGD(lr=0.1))
    assert not np.array_equal(params[0], before)
    assert np.shares_memory(model.parameters()[0], params[0])


def test_gradients_are_views_filled_by_loss_and_gradients():
    model = pynn.Sequential([pynn.Dense(3, 4), pynn.Tanh(), pynn.Dense(4, 2)], loss="mse", dtype="float64")
    grads = model.gradients()
    assert [g.shape for g in grads] == [p.shape for p in model.parameters()]
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    model.loss_and_gradients(X, y)
    ref = R.MLP([l.get_config() for l in model.layers], model.parameters(), "mse")
    for g, want in zip(grads, ref.loss_and_gradients(X, y)[1]):  # the views held from before the call
        np.testing.assert_allclose(g, want, rtol=1e-12)


# ---------------------------------------------------------------------------- plain functions, threads

FUNCTIONS = [
    (pynn.identity, lambda x: x), (pynn.sigmoid, R.sigmoid), (pynn.tanh, np.tanh), (pynn.relu, R.relu),
    (lambda x: pynn.leaky_relu(x, 0.2), lambda x: R.leaky_relu(x, 0.2)), (lambda x: pynn.elu(x, 1.5),
                                                                          lambda x: R.elu(x, 1.5)),
    (pynn.gelu, R.gelu), (pynn.silu, R.silu), (pynn.softplus, R.softplus), (pynn.softmax, R.softmax),
    (pynn.log_softmax, R.log_softmax),
]
FUNCTION_IDS = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus", "softmax",
                "log_softmax"]


@pytest.mark.parametrize("fn, numpy_fn", FUNCTIONS, ids=FUNCTION_IDS)
def test_plain_functions_equal_numpy(fn, numpy_fn):
    x = np.random.default_rng(0).normal(scale=4, size=(6, 5))
    x[0, :3] = [-800.0, 0.0, 800.0]  # saturation: no overflow, no NaN
    got = fn(x)
    assert got.shape == x.shape and np.isfinite(got).all()
    np.testing.assert_allclose(got, numpy_fn(x), rtol=1e-12, atol=1e-300)
    x32 = x.astype(np.float32)
    # float32 against the exact values at the same inputs. GELU's portable formula
    # 0.5 x (1 + erf(x / sqrt 2)) cancels below x = -3 (the AVX-512 kernel computes erfc and
    # does not): there only absolute accuracy, ~|x| 3e-8, holds on every CPU.
    atol = 1e-6 if fn is pynn.gelu else 1e-30
    np.testing.assert_allclose(fn(x32), numpy_fn(x32.astype(np.float64)), rtol=1e-5, atol=atol)
    if fn not in (pynn.softmax, pynn.log_softmax):
        assert fn(x.astype(np.float32)).dtype == np.float32
        assert np.isclose(fn(1.5), numpy_fn(np.array(1.5)))  # scalars in, scalars out


def test_threads_round_trip():
    before = pynn.get_num_threads()
    try:
        pynn.set_num_threads(1)
        assert pynn.get_num_threads() == 1
        pynn.set_num_threads(2)
        assert pynn.get_num_threads() == 2
    finally:
        pynn.set_num_threads(before)
    assert pynn.get_num_threads() == before
    for bad, exc in ((0, ValueError), (-1, ValueError), (True, TypeError), (2.0, TypeError), ("2", TypeError)):
        with pytest.raises(exc, match=r"^n must be an integer"):
            pynn.set_num_threads(bad)


@pytest.mark.parametrize("fn", [pynn.softmax, pynn.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_of_a_scalar_is_rejected(fn):
    with pytest.raises(ValueError, match=r"needs x with at least 1 dimension, got a scalar 3.0"):
        fn(3.0)


def test_gemm_does_not_hang_when_the_callers_openmp_limit_is_lower():
    """Regression: OpenBLAS's jobs of one GEMM wait for each other, so they must all run at
    once. With OpenBLAS at 2 threads and the caller's OpenMP limit at 1 (what
    torch.set_num_threads(1) or threadpoolctl do), the core ran them one after the other
    and spun forever. A subprocess turns such a hang into a timeout, not a stuck suite."""
    pytest.importorskip("threadpoolctl", reason="threadpoolctl sets the OpenMP limit portably")
    code = (
        "import numpy as np, pynn\n"
        "from threadpoolctl import threadpool_limits\n"
        "pynn.set_num_threads(2)\n"
        "m = pynn.Sequential([pynn.Dense(512, 512), pynn.Dense(512, 3)], loss='mse', dtype='float64')\n"
        "X = np.random.default_rng(0).normal(size=(64, 512))\n"
        "want = m.forward(X)\n"
        "with threadpool_limits(1, user_api='openmp'):\n"
        "    got = m.forward(X)\n"
        "    m.fit(X, np.zeros((64, 3)), epochs=1, batch_size=64, verbose=0)\n"
        "assert np.array_equal(got, want)\n"
        "print('done')\n")
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("a GEMM under a lower OpenMP limit hung")
    assert result.returncode == 0 and result.stdout.strip() == "done", result.stderr


# ---------------------------------------------------------------------------- initialization

@pytest.mark.parametrize("init, var", [
    ("glorot_uniform", 2 / (300 + 200)), ("glorot_normal", 2 / (300 + 200)), ("he_uniform", 2 / 300),
    ("he_normal", 2 / 300), ("lecun_uniform", 1 / 300), ("lecun_normal", 1 / 300)])
def test_initializers_draw_with_the_documented_variance(init, var):
    model = pynn.Sequential([pynn.Dense(300, 200, init=init), pynn.Dense(200, 2, init="zeros")], loss="mse",
                            dtype="float64", seed=0)
    W, b, W2, b2 = model.parameters()
    assert np.all(b == 0) and np.all(W2 == 0) and np.all(b2 == 0)
    assert abs(W.var() / var - 1) < 0.05 and abs(W.mean()) < 0.05 * np.sqrt(var)
    if init.endswith("uniform"):
        assert np.abs(W).max() <= np.sqrt(3 * var)


def test_auto_init_is_he_before_relu_like_units_and_glorot_otherwise():
    def first_weights(act):
        layers = [pynn.Dense(300, 200), pynn.Dropout(0.1), act, pynn.Dense(200, 2)]
        return pynn.Sequential(layers, loss="mse", dtype="float64", seed=0).parameters()[0]
    for act in (pynn.ReLU(), pynn.LeakyReLU(), pynn.PReLU(), pynn.ELU(), pynn.GELU(), pynn.SiLU()):
        assert abs(first_weights(act).var() / (2 / 300) - 1) < 0.05, act
    for act in (pynn.Tanh(), pynn.Sigmoid(), pynn.Identity(), pynn.Softplus()):
        assert abs(first_weights(act).var() / (2 / 500) - 1) < 0.05, act
