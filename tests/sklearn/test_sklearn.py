"""pynn.MLPClassifier / MLPRegressor: scikit-learn's estimator contract (its own checks),
the same training as scikit-learn's MLP from the same weights, the ecosystem (Pipeline,
clone, searches, cross-validation, pickle), partial_fit state, multi-label, attributes."""
import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="the estimators need scikit-learn (the sklearn extra)")

from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkMLPClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkMLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import pynn  # noqa: E402

SMALL = dict(hidden_layer_sizes=(32,), max_iter=100, random_state=0)


WHY_FLOAT32 = ("float32 training: repeating a row instead of weighting it changes the order of the float32 sums, "
               "so the two fits' predictions agree to ~5e-7 relative; the check compares them at a fixed "
               "rtol=1e-7 whatever their dtype (scikit-learn 1.6-1.9: assert_allclose_dense_sparse's default), "
               "which only bit-identical float32 training could meet; the float64 estimators pass it")


def expected_failures(estimator):
    if estimator.dtype == "float32":
        return {"check_sample_weight_equivalence_on_dense_data": WHY_FLOAT32}
    return {}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=100 keeps them fast
@parametrize_with_checks([Estimator(dtype=dtype, **SMALL) for dtype in ("float32", "float64")
                          for Estimator in (pynn.MLPClassifier, pynn.MLPRegressor)],
                         expected_failed_checks=expected_failures)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------- same math as scikit-learn
def problems():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    return {
        "regression": (pynn.MLPRegressor, SkMLPRegressor, X, rng.standard_normal(40)),
        "multi-output": (pynn.MLPRegressor, SkMLPRegressor, X, rng.standard_normal((40, 3))),
        "multiclass": (pynn.MLPClassifier, SkMLPClassifier, X, rng.integers(0, 4, 40)),
        "binary": (pynn.MLPClassifier, SkMLPClassifier, X, np.where(rng.integers(0, 2, 40), "yes", "no")),
        "multi-label": (pynn.MLPClassifier, SkMLPClassifier, X, rng.integers(0, 2, (40, 3))),
    }


def same_start(problem, solver, **kw):
    """A pynn and a scikit-learn estimator with the same weights and fresh optimizer state."""
    Ours, Theirs, X, y = problems()[problem]
    common = dict(hidden_layer_sizes=(7,), activation="tanh", solver=solver, batch_size=40, shuffle=False,
                  learning_rate_init=0.05, max_iter=1, random_state=0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, theirs = Ours(dtype="float64", **common).fit(X, y), Theirs(**common).fit(X, y)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        a[...] = b  # coefs_ are views into pynn's parameters
    ours.model_._net.reset_optimizer_state()
    del theirs._optimizer  # scikit-learn then starts a new one in partial_fit
    return ours, theirs, X, y


def params_of(est):
    return est.coefs_ + est.intercepts_


@pytest.mark.parametrize("problem", list(problems()))
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, True)])
def test_sgd_steps_equal_scikit_learns(problem, momentum, nesterov):
    ours, theirs, X, y = same_start(problem, "sgd", momentum=momentum, nesterovs_momentum=nesterov, alpha=0.0)
    for _ in range(4):
        ours.partial_fit(X, y)
        theirs.partial_fit(X, y)
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)
    for a, b in zip(params_of(ours), params_of(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("problem", list(problems()))
def test_adam_steps_match_scikit_learns(problem):
    # Adam differs only in where eps goes: torch's eps * sqrt(1 - beta2^t) vs scikit-learn's eps.
    ours, theirs, X, y = same_start(problem, "adam", alpha=0.0)
    for _ in range(4):
        ours.partial_fit(X, y)
        theirs.partial_fit(X, y)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-4)
    for a, b in zip(params_of(ours), params_of(theirs)):
        np.testing.assert_allclose(a, b, atol=3e-4)


@pytest.mark.parametrize("problem", list(problems()))
def test_alpha_is_scikit_learns_l2_penalty(problem):
    # The same penalty on the weights and in the loss; pynn's weight decay also shrinks the
    # biases (one flat parameter buffer), a small difference, not a different training.
    ours, theirs, X, y = same_start(problem, "sgd", alpha=0.05, momentum=0.0)
    for _ in range(4):
        ours.partial_fit(X, y)
        theirs.partial_fit(X, y)
        # (the penalty term of loss_ uses the weights at the end of the epoch, scikit-learn's
        # those before each step)
        assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-3)
    for a, b in zip(params_of(ours), params_of(theirs)):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_accuracy_on_digits_is_scikit_learns():
    X, y = pynn.datasets.load_digits()
    train, test = pynn.datasets.train_test_split_indices(len(X), 0.25, seed=0, stratify=y)
    params = dict(hidden_layer_sizes=(64,), max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = pynn.MLPClassifier(**params).fit(X[train], y[train]).score(X[test], y[test])
        theirs = SkMLPClassifier(**params).fit(X[train], y[train]).score(X[test], y[test])
    assert ours >= theirs - 0.02 and ours > 0.9


# ---------------------------------------------------------------------------- the ecosystem
@pytest.fixture(scope="module")
def digits():
    X, y = pynn.datasets.load_digits()
    return X[:500] * 16.0, y[:500]  # raw pixel counts: the scaler in the pipeline matters


def test_pipeline_grid_search_and_cross_validation(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), pynn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=30,
                                                              learning_rate_init=0.01, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-2],
                                   "mlpclassifier__activation": ["relu", "tanh"]}, cv=3).fit(X, y)
        assert grid.best_score_ > 0.8 and len(grid.cv_results_["params"]) == 4
        search = RandomizedSearchCV(pynn.MLPClassifier(max_iter=10, random_state=0),
                                    {"hidden_layer_sizes": [(8,), (16,), (16, 8)],
                                     "learning_rate_init": [1e-3, 1e-2]}, n_iter=3, cv=2, random_state=0)
        search.fit(X / 16.0, y)
        assert search.best_estimator_.n_iter_ == 10
        scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.8


def test_clone_and_pickle_give_identical_models(digits):
    X, y = digits
    est = pynn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=3, dropout=0.1, dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X / 16.0, y)
        fresh = clone(est)
        assert not hasattr(fresh, "model_") and fresh.get_params() == est.get_params()
        np.testing.assert_array_equal(fresh.fit(X / 16.0, y).predict_proba(X), est.predict_proba(X))
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    assert copy.loss_curve_ == est.loss_curve_ and copy.n_iter_ == est.n_iter_
    est.partial_fit(X / 16.0, y)  # the optimizer state came along: both continue the same run
    copy.partial_fit(X / 16.0, y)
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))


# ---------------------------------------------------------------------------- partial_fit and warm_start
def test_partial_fit_keeps_the_optimizer_state(digits):
    X, y = digits
    X = X / 16.0
    params = dict(hidden_layer_sizes=(16,), random_state=0, tol=0.0, n_iter_no_change=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = pynn.MLPClassifier(max_iter=3, **params).fit(X, y)
    parts = pynn.MLPClassifier(**params)
    for _ in range(3):
        parts.partial_fit(X, y, classes=np.arange(10))
    # three partial_fit calls are one Adam run of three epochs (scikit-learn would restart Adam)
    np.testing.assert_array_equal(parts.predict_proba(X), whole.predict_proba(X))
    assert parts.loss_curve_ == whole.loss_curve_ and parts.n_iter_ == 3 and parts.t_ == 3 * len(X)


def test_partial_fit_errors(digits):
    X, y = digits
    est = pynn.MLPClassifier(hidden_layer_sizes=(8,))
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X, y % 3, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"y holds labels \[3"):
        est.partial_fit(X, y % 5)
    with pytest.raises(ValueError, match="is not the same as on the first call"):
        est.partial_fit(X, y % 3, classes=[0, 1, 2, 3])
    est.partial_fit(X, y % 3, classes=[2, 1, 0])  # the same set: fine
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        pynn.MLPClassifier(early_stopping=True).partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="class_weight='balanced' needs the whole y"):
        pynn.MLPClassifier(class_weight="balanced").partial_fit(X, y, classes=np.arange(10))


def test_warm_start_continues_from_the_weights(digits):
    X, y = digits
    X = X / 16.0
    est = pynn.MLPClassifier(hidden_layer_sizes=(16,), max_iter=3, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        first = [w.copy() for w in est.coefs_]
        model = est.model_
        est.fit(X, y)
    assert est.model_ is model and est.n_iter_ == 6 and len(est.loss_curve_) == 6
    assert est.loss_curve_[3] < est.loss_curve_[0]
    assert not np.array_equal(first[0], est.coefs_[0])


# ---------------------------------------------------------------------------- fitted attributes
def test_fitted_attributes_follow_scikit_learn(digits):
    X, y = digits
    labels = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])[y]
    est = pynn.MLPClassifier(hidden_layer_sizes=(20, 12), max_iter=4, random_state=0)
    with pytest.raises(NotFittedError):
        est.predict(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X / 16.0, labels)
    assert list(est.classes_) == sorted(set(labels))
    assert [c.shape for c in est.coefs_] == [(64, 20), (20, 12), (12, 10)]
    assert [b.shape for b in est.intercepts_] == [(20,), (12,), (10,)]
    np.testing.assert_array_equal(est.coefs_[0], est.model_.parameters()[0].T)
    assert (est.n_layers_, est.n_outputs_, est.out_activation_, est.n_features_in_) == (4, 10, "softmax", 64)
    assert len(est.loss_curve_) == est.n_iter_ == 4 and est.loss_ == est.loss_curve_[-1]
    assert est.best_loss_ == min(est.loss_curve_) and est.validation_scores_ is None
    assert set(est.predict(X / 16.0)) <= set(labels)
    proba = est.predict_proba(X / 16.0)
    assert proba.dtype == np.float32  # float32 X into a float32 model
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.exp(est.predict_log_proba(X / 16.0)), proba, rtol=1e-6)
    np.testing.assert_array_equal(est.classes_[proba.argmax(axis=1)], est.predict(X / 16.0))


def test_coefs_and_intercepts_can_be_set(digits, capsys):
    X, y = digits
    est = pynn.MLPClassifier(hidden_layer_sizes=(6,), max_iter=2, random_state=0, verbose=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X / 16.0, y)
    assert capsys.readouterr().out.splitlines()[:2] == [f"Iteration {i}, loss = {est.loss_curve_[i - 1]:.8f}"
                                                        for i in (1, 2)]
    est.coefs_ = [np.zeros((64, 6)), np.ones((6, 10))]
    est.intercepts_ = [np.zeros(6), np.arange(10.0)]
    np.testing.assert_array_equal(est.predict(X), np.full(len(X), 9))  # the biases alone decide
    assert est.model_.parameters()[2].sum() == 60
    with pytest.raises(ValueError, match=r"coefs_\[1\] must have shape \(6, 10\), got \(10, 6\)"):
        est.coefs_ = [np.zeros((64, 6)), np.ones((10, 6))]
    with pytest.raises(ValueError, match="intercepts_ needs 2 arrays, got 1"):
        est.intercepts_ = [np.zeros(6)]
    assert est.model_.parameters()[2].sum() == 60  # nothing was written by the failed assignments


def test_binary_uses_one_logistic_output(digits):
    X, y = digits
    est = pynn.MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.01, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X / 16.0, y == 3)
    assert (est.n_outputs_, est.out_activation_, est.model_.loss) == (1, "logistic", "binary_cross_entropy")
    proba = est.predict_proba(X / 16.0)
    assert proba.shape == (len(X), 2) and est.score(X / 16.0, y == 3) > 0.9
    # float64 X gives float64 outputs. atol: for p within ~1e-8 of 1, log(p) carries p's
    # rounding (1e-16 absolute) as a ~1e-9 *relative* error; predict_log_proba, from the
    # logits, does not.
    X64 = X.astype(np.float64) / 16.0
    np.testing.assert_allclose(est.predict_log_proba(X64), np.log(est.predict_proba(X64)), rtol=1e-9, atol=1e-15)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_multi_label_classification():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6))
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] < -0.5], axis=1).astype(int)
    est = pynn.MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0, learning_rate_init=0.01)
    est.fit(X, Y)
    assert (est.out_activation_, est.model_.loss, est.n_outputs_) == ("logistic", "binary_cross_entropy", 3)
    np.testing.assert_array_equal(est.classes_, [0, 1, 2])
    pred, proba = est.predict(X), est.predict_proba(X)
    assert pred.shape == proba.shape == (300, 3) and set(np.unique(pred)) <= {0, 1}
    assert (pred == Y).mean() > 0.95
    with pytest.raises(ValueError, match="class_weight is not supported for multi-label"):
        pynn.MLPClassifier(class_weight="balanced").fit(X, Y)


def test_regressor_outputs_and_early_stopping():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((400, 5))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    est = pynn.MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, early_stopping=True, random_state=0,
                            learning_rate_init=0.01)
    est.fit(X, y)
    pred = est.predict(X)
    assert pred.shape == (400,) and pred.dtype == np.float64 and est.score(X, y) > 0.8  # float64 X
    assert est.best_loss_ is None and len(est.validation_scores_) == est.n_iter_ < 300
    assert est.best_validation_score_ == max(est.validation_scores_)
    # the best epoch's parameters were restored: its validation R^2 is what the model scores now
    train, val = pynn.datasets.train_test_split_indices(400, 0.1, seed=[est.model_.seed, 3])
    assert est.score(X[val], y[val]) == pytest.approx(est.best_validation_score_, rel=1e-6)
    two = pynn.MLPRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        two.fit(X, np.stack([y, -y], axis=1))
    assert two.predict(X).shape == (400, 2) and two.n_outputs_ == 2 and two.out_activation_ == "identity"


# ---------------------------------------------------------------------------- pynn's additions
def test_per_layer_activations_dropout_init_dtype_threads(digits):
    X, y = digits
    before = pynn.get_num_threads()
    est = pynn.MLPClassifier(hidden_layer_sizes=(16, 8), activation=["gelu", "prelu"], dropout=[0.2, 0.0],
                             init="he_normal", dtype="float64", n_threads=1, max_iter=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X / 16.0, y)
    names = [type(layer).__name__ for layer in est.model_.layers]
    assert names == ["Dense", "GELU", "Dropout", "Dense", "PReLU", "Dense"]
    assert est.model_.dtype == "float64" and est.predict_proba(X).dtype == np.float64
    assert pynn.get_num_threads() == before


def test_class_weight_shifts_predictions(digits):
    X, y = digits
    X = X / 16.0
    params = dict(hidden_layer_sizes=(16,), max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = pynn.MLPClassifier(**params).fit(X, y)
        heavy = pynn.MLPClassifier(class_weight={3: 50.0}, **params).fit(X, y)
    assert (heavy.predict(X) == 3).sum() > (plain.predict(X) == 3).sum()


@pytest.mark.parametrize("params, error, match", [
    (dict(solver="lbfgs"), ValueError, "solver must be 'sgd' or 'adam'"),
    (dict(activation="swish"), ValueError, "activation must be one of"),
    (dict(hidden_layer_sizes=(10, 0)), ValueError, r"hidden_layer_sizes\[1\]"),
    (dict(hidden_layer_sizes="10"), TypeError, "hidden_layer_sizes must be an int or a sequence"),
    (dict(activation=["relu"], hidden_layer_sizes=(4, 4)), ValueError, "activation has 1 entries but there are 2"),
    (dict(dropout=1.0), ValueError, "dropout must be < 1.0"),
    (dict(alpha=-1.0), ValueError, "alpha must be >= 0.0"),
    (dict(batch_size=0), ValueError, "batch_size"),
    (dict(learning_rate_init=0), ValueError, "learning_rate_init must be > 0"),
    (dict(init="normal"), ValueError, "unknown init 'normal'"),
    (dict(dtype="float16"), ValueError, "dtype must be 'float32' or 'float64'"),
    (dict(n_threads=0), ValueError, "n_threads"),
    (dict(early_stopping="yes"), TypeError, "early_stopping must be True or False"),
    (dict(validation_fraction=1.0), ValueError, "validation_fraction must be < 1.0"),
    (dict(random_state=-1), ValueError, "random_state must be a non-negative int"),
])
def test_bad_parameters_name_themselves_at_fit(digits, params, error, match):
    X, y = digits
    est = pynn.MLPClassifier(**params)  # scikit-learn's rule: __init__ only stores
    with pytest.raises(error, match=match):
        est.fit(X, y)
    assert not hasattr(est, "model_")


def test_a_too_small_validation_set_leaves_the_estimator_unfitted(digits):
    X, y = digits
    est = pynn.MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, early_stopping=True, validation_fraction=0.001)
    with pytest.raises(ValueError, match=r"validation set is too small \(0 samples\)"):
        est.fit(X[:100], y[:100])
    assert not hasattr(est, "model_")


def test_one_class_and_continuous_targets_are_refused(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        pynn.MLPClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Unknown label type"):
        pynn.MLPClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_divergence_stops_with_a_warning():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3)) * 1e3
    y = X.sum(axis=1) * 1e30
    est = pynn.MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=10.0, max_iter=5,
                            random_state=0)
    with pytest.warns(RuntimeWarning, match="training diverged"):
        est.fit(X, y)
    assert all(np.isfinite(c).all() for c in est.coefs_) and est.n_iter_ < 5


# ---------------------------------------------------------------------------- an optional dependency
def run_python(code):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_pynn_does_not_import_scikit_learn():
    out = run_python("import sys, pynn; print('sklearn' in sys.modules, 'MLPClassifier' in dir(pynn)); "
                     "print(pynn.MLPRegressor.__module__, 'sklearn' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "pynn.sklearn", "True"]
    assert {"MLPClassifier", "MLPRegressor"} <= set(pynn.__all__)


def test_without_scikit_learn_the_estimators_say_how_to_get_it():
    out = run_python("import sys; sys.modules['sklearn'] = None\n"
                     "import pynn\n"
                     "assert 'MLPClassifier' not in pynn.__all__\n"
                     "from pynn import *\n"
                     "pynn.MLPClassifier")
    assert out.returncode != 0
    assert "ImportError: pynn.MLPClassifier and pynn.MLPRegressor need scikit-learn >= 1.6: pip install 'pynn[sklearn]'" \
        in out.stderr


# ---------------------------------------------------------------------------- the benchmark script
def test_benchmark_quick_mode_runs_both_libraries(tmp_path):
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sklearn.py"
    env = dict(os.environ, OMP_NUM_THREADS="1")  # a smoke run: no thread contention with other tests
    out = subprocess.run([sys.executable, str(script), "--quick", "--output", str(tmp_path / "table.md")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "table.md").read_text()
    rows = re.findall(r"^\| (digits|mnist_like) \| [\d,]+ / [\d,]+ \| (sklearn|pynn) \| (0\.\d{4}|1\.0000) \|", table, re.M)
    assert sorted((d, lib) for d, lib, _ in rows) == [("digits", "pynn"), ("digits", "sklearn"),
                                                      ("mnist_like", "pynn"), ("mnist_like", "sklearn")]
    assert all(float(acc) > 0.2 for _, _, acc in rows) and "x per epoch" in table
