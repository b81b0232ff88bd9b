"""Bad input: every public entry point answers with a ValueError/TypeError that names the
argument, before the core sees anything (but fit's X values, which its first epoch may
check: tests/training/test_finite_proof.py), and a rejected call leaves the model
bit-identical. Other numeric dtypes and memory layouts are accepted and converted. Sizes
too large to allocate are a MemoryError, and diverging training a DivergenceError that
leaves finite parameters.
"""
import contextlib
import math

import numpy as np
import pytest

import pynn


def make_model(dtype="float32", loss="softmax_cross_entropy"):
    n_out = 1 if loss == "binary_cross_entropy" else 3
    return pynn.Sequential([pynn.Dense(4, 8), pynn.ReLU(), pynn.Dropout(0.2), pynn.Dense(8, n_out)],
                           loss=loss, dtype=dtype, seed=0)


@pytest.fixture
def model():
    m = make_model()
    m.fit(X_GOOD, Y_GOOD, epochs=1, batch_size=4, verbose=0)  # so optimizer state exists too
    return m


RNG = np.random.default_rng(0)
X_GOOD = RNG.normal(size=(10, 4))
Y_GOOD = np.arange(10) % 3


def state_of(model):
    """Everything a call could change: parameters, optimizer state, counters (as bytes)."""
    net = model._net
    return ([p.tobytes() for p in model.parameters()], [net.first_moment().tobytes(), net.second_moment().tobytes()],
            net.opt_step, net.train_forwards, model.epochs_done)


@contextlib.contextmanager
def rejected(model, exc, match):
    """The block raises `exc` with a message matching `match`, and the model is unchanged."""
    before = state_of(model)
    with pytest.raises(exc, match=match):
        yield
    assert state_of(model) == before, "a rejected call changed the model"


# ---------------------------------------------------------------------------- arrays X

ENTRY_POINTS = {
    "fit": lambda m, X, y: m.fit(X, y, epochs=1, verbose=0),
    "train_step": lambda m, X, y: m.train_step(X, y, pynn.SGD(lr=0.1)),
    "loss_and_gradients": lambda m, X, y: m.loss_and_gradients(X, y),
    "evaluate": lambda m, X, y: m.evaluate(X, y),
    "predict": lambda m, X, y: m.predict(X),
    "predict_proba": lambda m, X, y: m.predict_proba(X),
    "forward": lambda m, X, y: m.forward(X, training=True),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_wrong_feature_count(model, entry):
    with rejected(model, ValueError, r"X has 3 features, but the model expects 4"):
        ENTRY_POINTS[entry](model, X_GOOD[:, :3], Y_GOOD)


def test_one_dimensional_X(model):
    with rejected(model, ValueError, r"X must be 2-D .* 1-D array of shape \(4,\).*reshape"):
        model.predict(X_GOOD[0])


def test_three_dimensional_X(model):
    with rejected(model, ValueError, r"X must be 2-D .* 3-D array"):
        model.fit(X_GOOD[None], Y_GOOD, verbose=0)


@pytest.mark.parametrize("shape", [(0, 4), (3, 0)])
def test_empty_X(model, shape):
    with rejected(model, ValueError, r"X must not be empty"):
        model.fit(np.zeros(shape), Y_GOOD[:shape[0]], verbose=0)


@pytest.mark.parametrize("X", ["abc", np.array([["a", "b", "c", "d"]]), None, X_GOOD.astype(complex)],
                         ids=["str", "str-array", "None", "complex"])
def test_non_numeric_X(model, X):
    with rejected(model, TypeError, r"X must (be a numeric array|hold real numbers)"):
        model.predict(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e300], ids=["nan", "inf", "-inf", "too-large-for-float32"])
def test_non_finite_X(model, bad):
    X = X_GOOD.copy()
    X[3, 2] = bad
    with rejected(model, ValueError, r"X contains (NaN|inf)"):
        model.fit(X, Y_GOOD, verbose=0)


def test_non_finite_validation_X(model):
    Xv = X_GOOD.copy()
    Xv[0, 0] = np.nan
    with rejected(model, ValueError, r"validation_data X contains NaN"):
        model.fit(X_GOOD, Y_GOOD, validation_data=(Xv, Y_GOOD), verbose=0)


# ---------------------------------------------------------------------------- targets y

def test_labels_out_of_range(model):
    with rejected(model, ValueError, r"y holds class label 3, expected integers in \[0, 2\]"):
        model.fit(X_GOOD, Y_GOOD + 1, verbose=0)


def test_negative_labels(model):
    with rejected(model, ValueError, r"y holds class label -1"):
        model.train_step(X_GOOD, Y_GOOD - 1)


def test_fractional_labels(model):
    with rejected(model, ValueError, r"y holds fractional class labels \(e\.g\. 0\.5\)"):
        model.fit(X_GOOD, Y_GOOD + 0.5, verbose=0)


def test_non_finite_labels(model):
    y = Y_GOOD.astype(float)
    y[0] = np.nan
    with rejected(model, ValueError, r"y contains NaN"):
        model.evaluate(X_GOOD, y)


def test_length_mismatch(model):
    with rejected(model, ValueError, r"y has 9 samples but X has 10"):
        model.fit(X_GOOD, Y_GOOD[:-1], verbose=0)


def test_sample_weight_mismatch_and_negative(model):
    with rejected(model, ValueError, r"sample_weight must have shape \(10,\)"):
        model.fit(X_GOOD, Y_GOOD, sample_weight=np.ones(9), verbose=0)
    with rejected(model, ValueError, r"sample_weight must be finite and non-negative"):
        model.fit(X_GOOD, Y_GOOD, sample_weight=-np.ones(10), verbose=0)


def test_probability_targets_out_of_range(model):
    with rejected(model, ValueError, r"y values must be >= 0"):
        model.fit(X_GOOD, -np.ones((10, 3)) / 3, verbose=0)


def test_binary_targets_outside_zero_one():
    m = make_model(loss="binary_cross_entropy")
    with rejected(m, ValueError, r"y values must be in \[0.0, 1.0\]"):
        m.fit(X_GOOD, np.full(10, 2.0), verbose=0)


def test_mse_targets_wrong_shape():
    m = make_model(loss="mse")
    with rejected(m, ValueError, r"y must have shape \(n_samples, 3\), got \(10, 2\)"):
        m.fit(X_GOOD, np.ones((10, 2)), verbose=0)


def test_string_targets(model):
    with rejected(model, TypeError, r"y must be a numeric array"):
        model.fit(X_GOOD, "abc", verbose=0)


# ---------------------------------------------------------------------------- fit arguments

@pytest.mark.parametrize("batch_size", [0, -3])
def test_non_positive_batch_size(model, batch_size):
    with rejected(model, ValueError, rf"batch_size must be an integer in \[1, .*got {batch_size}"):
        model.fit(X_GOOD, Y_GOOD, batch_size=batch_size, verbose=0)


@pytest.mark.parametrize("epochs", [0, -1])
def test_non_positive_epochs(model, epochs):
    with rejected(model, ValueError, rf"epochs must be an integer in \[1, .*got {epochs}"):
        model.fit(X_GOOD, Y_GOOD, epochs=epochs, verbose=0)


@pytest.mark.parametrize("epochs", [True, 2.0, "3"], ids=["bool", "float", "str"])
def test_epochs_must_be_an_int(model, epochs):
    with rejected(model, TypeError, r"epochs must be an integer, got"):
        model.fit(X_GOOD, Y_GOOD, epochs=epochs, verbose=0)


def test_shuffle_must_be_a_bool(model):
    with rejected(model, TypeError, r"shuffle must be True or False"):
        model.fit(X_GOOD, Y_GOOD, shuffle=1, verbose=0)


def test_unknown_optimizer_name(model):
    with rejected(model, ValueError, r"unknown optimizer 'rmsprop'; expected 'sgd', 'adam', 'adamw'"):
        model.fit(X_GOOD, Y_GOOD, optimizer="rmsprop", verbose=0)


# ---------------------------------------------------------------------------- layers, model, optimizers

@pytest.mark.parametrize("args, name", [((0, 3), "n_in"), ((3, 0), "n_out"), ((-2, 3), "n_in")])
def test_non_positive_dense_sizes(args, name):
    with pytest.raises(ValueError, match=rf"Dense {name} must be an integer in \[1, "):
        pynn.Dense(*args)


def test_dense_sizes_must_be_ints():
    with pytest.raises(TypeError, match=r"Dense n_in must be an integer, got float 4.0"):
        pynn.Dense(4.0, 3)


@pytest.mark.parametrize("p", [1.0, 1.5, -0.1, math.nan])
def test_dropout_rate_outside_unit_interval(p):
    with pytest.raises(ValueError, match=r"Dropout p must be"):
        pynn.Dropout(p)


@pytest.mark.parametrize("make", [pynn.SGD, pynn.Adam, pynn.AdamW], ids=["SGD", "Adam", "AdamW"])
@pytest.mark.parametrize("lr", [0.0, -0.1, math.nan, math.inf])
def test_learning_rate_positive_and_finite(make, lr):
    with pytest.raises(ValueError, match=r"lr must be (> 0|finite)"):
        make(lr=lr)


def test_learning_rate_must_be_a_number():
    with pytest.raises(TypeError, match=r"lr must be a real number, got str"):
        pynn.SGD(lr="0.1")


def test_unknown_loss_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown loss 'hinge'; expected one of softmax_cross_entropy, "
                                         r"binary_cross_entropy, mse"):
        pynn.Sequential([pynn.Dense(2, 2)], loss="hinge")


def test_unknown_init_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown init 'xavier'; expected one of auto, glorot_uniform, "
                                         r"glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal, zeros"):
        pynn.Dense(2, 2, init="xavier")


def test_dense_sizes_must_chain():
    with pytest.raises(ValueError, match=r"layers\[2\] is Dense\(4, 2\) but the layer before it outputs 3 "
                                         r"features; adjacent Dense sizes must chain"):
        pynn.Sequential([pynn.Dense(2, 3), pynn.Tanh(), pynn.Dense(4, 2)])


@pytest.mark.parametrize("dtype", ["int32", "float16", np.complex128, "double precision", None])
def test_bad_dtype(dtype):
    with pytest.raises(ValueError, match=r"dtype must be 'float32' or 'float64', got"):
        pynn.Sequential([pynn.Dense(2, 2)], dtype=dtype)


def test_prelu_num_parameters_mismatch():
    with pytest.raises(ValueError, match=r"layers\[1\] PReLU num_parameters must be 1 or the layer width 3, got 2"):
        pynn.Sequential([pynn.Dense(2, 3), pynn.PReLU(2), pynn.Dense(3, 2)])


def test_prelu_num_parameters_positive():
    with pytest.raises(ValueError, match=r"PReLU num_parameters must be an integer in \[1, "):
        pynn.PReLU(0)


def test_set_num_threads_rejects_bad_values():
    before = pynn.get_num_threads()
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, "):
        pynn.set_num_threads(0)
    with pytest.raises(TypeError, match=r"n must be an integer"):
        pynn.set_num_threads(1.5)
    assert pynn.get_num_threads() == before


# ---------------------------------------------------------------------------- accepted and converted

def _layouts(X):
    """The same values as X in other memory layouts and dtypes that represent them exactly."""
    wide = np.zeros((X.shape[0] * 2, X.shape[1] * 3))
    wide[::2, ::3] = X
    return {"fortran": np.asfortranarray(X), "strided": wide[::2, ::3], "list": X.tolist(),
            "float16": X.astype(np.float16), "int64": X.astype(np.int64), "int8": X.astype(np.int8),
            "bool": X.astype(bool), "uint8": X.astype(np.uint8)}


LAYOUTS = ["fortran", "strided", "list", "float16", "int64", "int8", "bool", "uint8"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_other_layouts_and_dtypes_give_the_clean_result(layout, dtype):
    # Values that every listed dtype holds exactly: small non-negative integers (0/1 for bool).
    X = (RNG.integers(0, 2 if layout == "bool" else 5, size=(10, 4))).astype(np.float64)
    clean = X.astype(dtype)
    other = _layouts(X)[layout]
    a, b = make_model(dtype), make_model(dtype)
    np.testing.assert_array_equal(a.forward(other), b.forward(clean))
    np.testing.assert_array_equal(a.predict_proba(other), b.predict_proba(clean))
    a.fit(other, Y_GOOD, epochs=2, batch_size=4, verbose=0)
    b.fit(clean, Y_GOOD, epochs=2, batch_size=4, verbose=0)
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa, pb)


def test_labels_in_other_dtypes_give_the_same_result():
    results = []
    for y in (Y_GOOD, Y_GOOD.astype(np.uint8), Y_GOOD.astype(float), Y_GOOD.astype(np.int32)[:, None],
              list(Y_GOOD), Y_GOOD[::-1].copy()[::-1]):
        m = make_model()
        m.fit(X_GOOD, y, epochs=1, batch_size=4, verbose=0)
        results.append(np.concatenate([p.ravel() for p in m.parameters()]))
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


# ---------------------------------------------------------------------------- sizes and divergence

def test_size_too_large_to_allocate_is_a_memory_error():
    # Linux: refused up front against MemAvailable; elsewhere: the allocation itself fails.
    with pytest.raises(MemoryError, match=r"(their values and gradients|the parameter buffer) needs? .*GiB"):
        pynn.Sequential([pynn.Dense(2**30, 2**30)], loss="mse")


def test_parameter_count_overflowing_int64_is_a_memory_error():
    n = 2**31 - 1  # the largest size BLAS takes; three such layers overflow an int64 count
    with pytest.raises(MemoryError, match=r"parameter count overflows a 64-bit size"):
        pynn.Sequential([pynn.Dense(n, n), pynn.Dense(n, n), pynn.Dense(n, n)], loss="mse")


def test_sizes_beyond_blas_limits_are_rejected():
    with pytest.raises(ValueError, match=r"Dense n_out must be an integer in \[1, 2147483647\]"):
        pynn.Dense(2, 2**31)


def _diverging():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 4)) * 1e6
    y = rng.normal(size=(64, 1)) * 1e6
    model = pynn.Sequential([pynn.Dense(4, 8), pynn.ReLU(), pynn.Dense(8, 1)], loss="mse", dtype="float32", seed=0)
    return model, X, y


def test_diverging_train_step_raises_and_keeps_finite_parameters():
    model, X, y = _diverging()
    opt = pynn.SGD(lr=1e6)
    for _ in range(20):
        before = state_of(model)
        try:
            model.train_step(X, y, opt)
        except pynn.DivergenceError as exc:
            assert "not finite" in str(exc)
            break
    else:
        pytest.fail("lr=1e6 on data scaled 1e6 did not diverge in 20 steps")
    assert state_of(model) == before  # the failing step changed nothing
    assert all(np.isfinite(p).all() for p in model.parameters())


def test_diverging_fit_raises_and_keeps_finite_parameters():
    model, X, y = _diverging()
    before = state_of(model)
    with pytest.raises(pynn.DivergenceError):
        model.fit(X, y, epochs=3, batch_size=16, optimizer=pynn.SGD(lr=1e6), verbose=0, terminate_on_nan=False)
    assert all(np.isfinite(p).all() for p in model.parameters())
    assert state_of(model)[0] == before[0]  # the diverging (first) epoch was undone


def test_numpy_scalars_are_accepted_as_plain_python_values():
    layer = pynn.Dense(np.int64(3), np.int32(2), use_bias=np.bool_(False))
    config = layer.get_config()
    assert config == {"class": "Dense", "n_in": 3, "n_out": 2, "use_bias": False, "init": "auto"}
    assert all(type(config[k]) in (int, bool) for k in ("n_in", "n_out", "use_bias"))
    assert type(pynn.Dropout(np.float32(0.25)).p) is float and type(pynn.SGD(lr=np.float64(0.1)).lr) is float


def test_dense_use_bias_must_be_a_bool():
    with pytest.raises(TypeError, match=r"Dense use_bias must be True or False, got int 1"):
        pynn.Dense(2, 2, use_bias=1)


# ---------------------------------------------------------------------------- the core's own guards
# pynn._core is private, but it checks what it is handed so that a bug above it is a
# ValueError, never a segfault or a silently NaN model.

def _core_net():
    net = pynn._core.NetworkF64(3, 0)
    net.add_dense(4, True)
    net.set_loss("mse")
    net.finalize()
    return net


def test_core_rejects_an_empty_batch():
    net = _core_net()
    empty_targets = (None, np.ones((0, 4)), None)
    with pytest.raises(ValueError, match="X must have at least one row"):  # was a segfault
        net.loss_and_gradients(np.ones((0, 3)), empty_targets)
    with pytest.raises(ValueError, match="X must have at least one row"):
        net.train_epoch(np.ones((0, 3)), empty_targets, np.zeros(0, np.int64), 4, pynn._core.OptimizerConfig("sgd", 0.1))
    assert net.predict(np.ones((0, 3))).shape == (0, 4)


@pytest.mark.parametrize("kwargs", [dict(lr=float("nan")), dict(lr=-1.0), dict(lr=0.1, momentum=-1.0),
                                    dict(lr=0.1, beta1=1.0), dict(lr=0.1, eps=0.0)])
def test_core_rejects_bad_optimizer_settings(kwargs):
    with pytest.raises(ValueError, match="must be"):
        pynn._core.OptimizerConfig("adam", **kwargs)


def test_core_rejects_a_non_finite_learning_rate_set_later():
    config = pynn._core.OptimizerConfig("sgd", 0.1)
    with pytest.raises(ValueError, match=r"lr must be finite and > 0, got nan"):
        config.lr = float("nan")
    assert config.lr == 0.1


@pytest.mark.parametrize("shape", [[-1], [2, -2], [2**62, 2**62, 0], [2**32, 2**32]])
def test_core_rejects_views_out_of_range(shape):
    with pytest.raises(ValueError, match="view shape out of range"):
        _core_net().param_view(0, shape)
    with pytest.raises(ValueError, match="view out of range"):
        _core_net().grad_view(10, [7])


def test_softmax_of_rows_with_no_columns():
    assert pynn.softmax(np.ones((2, 0))).shape == (2, 0)


def test_forward_training_must_be_a_bool(model):
    with rejected(model, TypeError, r"training must be True or False, got str 'False'"):
        model.forward(X_GOOD, training="False")
