"""The dtype of every output. Sequential: the model's dtype. The scikit-learn estimators:
float32 when the model and X are float32 (scikit-learn's estimators return float32 for
float32 inputs), float64 otherwise; class labels keep their own dtype. The values are
those of a float64 model with the same weights within float32 rounding, and the
probabilities those of the float64 formulas (pynn.reference) of the same logits; losses
and metrics stay Python floats."""
import warnings

import numpy as np
import pytest

import pynn
from pynn.nn import probabilities as P
from pynn import reference as R

EPS32 = float(np.finfo(np.float32).eps)
# A float32 forward through two small layers next to float64's: a few ulps per product sum.
FORWARD_RTOL, FORWARD_ATOL = 2e-5, 1e-6


def assert_float32_of(actual, exact, spread, log=False):
    """actual (float32) is exact (float64) rounded to float32, up to the rounding of
    logit differences as large as `spread` (the exponent of e^(z - max z) is float32).
    log: actual holds log-probabilities, whose rounding is absolute (relative to p)."""
    assert actual.dtype == np.float32
    finite = np.isfinite(exact)
    np.testing.assert_array_equal(actual[~finite], exact[~finite])
    scale = np.abs(exact[finite]) + (1.0 if log else 0.0)
    tol = 4 * EPS32 * (1 + spread) * scale + np.finfo(np.float32).tiny
    assert np.all(np.abs(actual[finite].astype(np.float64) - exact[finite]) <= tol), (actual, exact)


# ---------------------------------------------------------------------------- the formulas in float32
def test_sigmoid_in_float32_keeps_the_relative_precision_of_small_probabilities():
    z = np.array([-80, -30, -7.5, -1e-3, 0, 1e-3, 7.5, 30, 80, np.inf, -np.inf], dtype=np.float32)
    assert_float32_of(P.sigmoid(z), R.sigmoid(z.astype(np.float64)), spread=0)
    assert_float32_of(P.log_sigmoid(z), -R.softplus(-z.astype(np.float64)), spread=0, log=True)
    assert P.sigmoid(np.float32([np.nan])).dtype == np.float32 and np.isnan(P.sigmoid(np.float32([np.nan])))[0]


def test_softmax_rows_in_float32_match_float64_formulas_of_the_same_logits():
    z = np.array([[0.25, -20.5, -50.125, 10.0625], [3.3, 3.3, -3.3, 0.1], [-1e-3, 0, 1e-3, 2e-3]], dtype=np.float32)
    spread = float((z.max(axis=1, keepdims=True) - z).max())
    exact = z.astype(np.float64)
    assert_float32_of(P.softmax_rows(z.copy()), R.softmax(exact, axis=1), spread)
    assert_float32_of(P.log_softmax_rows(z.copy()), R.log_softmax(exact, axis=1), spread, log=True)


# ---------------------------------------------------------------------------- Sequential
def sequential_twins(loss: str, n_out: int):
    """A float32 and a float64 Sequential with the same (float32) weights, logits within ~+-8."""
    layers = lambda: [pynn.Dense(6, 16), pynn.Tanh(), pynn.Dense(16, n_out)]  # noqa: E731
    m32 = pynn.Sequential(layers(), loss=loss, dtype="float32", seed=0)
    m64 = pynn.Sequential(layers(), loss=loss, dtype="float64", seed=0)
    rng = np.random.default_rng(1)
    for p32, p64 in zip(m32.parameters(), m64.parameters()):
        p32[...] = rng.normal(scale=1.0, size=p32.shape)
        p64[...] = p32
    return m32, m64


@pytest.mark.parametrize("loss,n_out", [("softmax_cross_entropy", 3), ("binary_cross_entropy", 2), ("mse", 2)])
@pytest.mark.parametrize("x_dtype", [np.float32, np.float64])
def test_sequential_outputs_have_the_models_dtype(loss, n_out, x_dtype):
    m32, m64 = sequential_twins(loss, n_out)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((50, 6)).astype(x_dtype)
    z32, z64 = m32.forward(X), m64.forward(X)
    assert (z32.dtype, z64.dtype) == (np.float32, np.float64)
    np.testing.assert_allclose(z32, z64, rtol=FORWARD_RTOL, atol=FORWARD_ATOL)
    if loss == "mse":
        p32, p64 = m32.predict(X), m64.predict(X)
        assert (p32.dtype, p64.dtype) == (np.float32, np.float64)
        np.testing.assert_array_equal(p32, z32)
    else:
        p32, p64 = m32.predict_proba(X), m64.predict_proba(X)
        assert (p32.dtype, p64.dtype) == (np.float32, np.float64)
        formula = (lambda z: R.softmax(z, axis=1)) if loss == "softmax_cross_entropy" else R.sigmoid
        spread = float(np.ptp(z32, axis=1).max()) if loss == "softmax_cross_entropy" else 0.0
        assert_float32_of(p32, formula(z32.astype(np.float64)), spread)
        np.testing.assert_allclose(p32, p64, rtol=FORWARD_RTOL, atol=FORWARD_ATOL)
        assert m32.predict(X).dtype.kind == m64.predict(X).dtype.kind == "i"
    y = m64.predict(X)
    for m in (m32, m64):
        assert all(type(v) is float for v in m.evaluate(X, y).values())


# ---------------------------------------------------------------------------- the estimators
def estimator_problems():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 6))
    return {
        "multiclass": (pynn.MLPClassifier, X, rng.integers(0, 3, 60)),
        "binary": (pynn.MLPClassifier, X, np.where(rng.integers(0, 2, 60), "yes", "no")),
        "multi-label": (pynn.MLPClassifier, X, rng.integers(0, 2, (60, 3))),
        "regression": (pynn.MLPRegressor, X, rng.standard_normal(60)),
        "multi-output": (pynn.MLPRegressor, X, rng.standard_normal((60, 2))),
    }


def estimator_twins(problem: str):
    """A fitted float32 estimator and a float64 one with the float32 one's weights."""
    exceptions = pytest.importorskip("sklearn.exceptions", reason="the estimators need scikit-learn (the sklearn extra)")
    Estimator, X, y = estimator_problems()[problem]
    kw = dict(hidden_layer_sizes=(16,), activation="tanh", learning_rate_init=0.05, max_iter=20, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", exceptions.ConvergenceWarning)
        e32 = Estimator(dtype="float32", **kw).fit(X, y)
        e64 = Estimator(dtype="float64", **kw).fit(X, y)
    e64.coefs_, e64.intercepts_ = e32.coefs_, e32.intercepts_
    return e32, e64, X, y


def outputs(est, X) -> dict:
    if isinstance(est, pynn.MLPRegressor):
        return {"predict": est.predict(X)}
    return {"predict_proba": est.predict_proba(X), "predict_log_proba": est.predict_log_proba(X)}


@pytest.mark.parametrize("problem", ["multiclass", "binary", "multi-label", "regression", "multi-output"])
def test_estimator_outputs_are_float32_for_float32_models_and_inputs(problem):
    e32, e64, X, y = estimator_twins(problem)
    X32 = X.astype(np.float32)
    for est, X_in, expected in [(e32, X32, np.float32), (e32, X, np.float64), (e64, X32, np.float64),
                                (e64, X, np.float64)]:
        for method, out in outputs(est, X_in).items():
            assert out.dtype == expected, (est.dtype, X_in.dtype, method)
        if isinstance(est, pynn.MLPClassifier):
            labels = est.predict(X_in)
            assert labels.dtype == (np.int64 if problem == "multi-label" else est.classes_.dtype)
            np.testing.assert_array_equal(labels, e64.predict(X))
        assert type(est.score(X_in, y)) is float
    # the float32 outputs are the float64 computation's, within the float32 forward's rounding
    ours, exact = outputs(e32, X32), outputs(e64, X)
    for method in ours:
        np.testing.assert_allclose(ours[method], exact[method], rtol=FORWARD_RTOL, atol=FORWARD_ATOL,
                                   err_msg=method)


def test_float32_probabilities_are_the_float64_formulas_of_the_float32_logits():
    e32, _, X, _ = estimator_twins("multiclass")
    X32 = X.astype(np.float32)
    z = e32.model_.forward(X32)
    spread = float(np.ptp(z, axis=1).max())
    assert_float32_of(e32.predict_proba(X32), R.softmax(z.astype(np.float64), axis=1), spread)
    assert_float32_of(e32.predict_log_proba(X32), R.log_softmax(z.astype(np.float64), axis=1), spread, log=True)
