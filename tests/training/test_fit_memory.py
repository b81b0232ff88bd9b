"""Peak memory of fit: the data set plus a small constant.

fit may make one float32 copy of X when the caller passes float64, and none when it
passes float32 C-contiguous rows; nothing X-sized per epoch (the shuffle gathers rows
batch by batch inside the core). NumPy reports its allocations to tracemalloc, so the
traced peak during a call is what Python-side copies and temporaries cost; the core's
own workspace (a few batches of activations) is not traced and is a small constant.
"""
import tracemalloc

import numpy as np
import pytest

import pynn

N, D = 20_000, 100  # X is 8 MB in float32: large next to every per-fit constant


def _data(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D)).astype(dtype)
    y = rng.integers(0, 10, N)
    return X, y


def _traced_peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _model():
    return pynn.Sequential([pynn.Dense(D, 64), pynn.ReLU(), pynn.Dense(64, 10)], loss="softmax_cross_entropy", seed=0)


SMALL = 1_000_000  # bytes: permutation, labels, parameter snapshots, history (~0.5 MB measured)


def test_fit_on_float32_copies_nothing_x_sized():
    X, y = _data(np.float32)
    model = _model()
    model.fit(X[:256], y[:256], epochs=1, verbose=0)  # workspace and first-call setup
    peak = _traced_peak(lambda: model.fit(X, y, epochs=3, batch_size=64, verbose=0))
    assert peak < SMALL, f"fit traced {peak / 1e6:.1f} MB on a {X.nbytes / 1e6:.0f} MB float32 X"


def test_fit_on_float64_makes_at_most_one_float32_copy():
    X, y = _data(np.float64)
    model = _model()
    model.fit(X[:256], y[:256], epochs=1, verbose=0)
    peak = _traced_peak(lambda: model.fit(X, y, epochs=3, batch_size=64, verbose=0))
    one_copy = X.size * 4
    assert peak < one_copy + SMALL, f"fit traced {peak / 1e6:.1f} MB; one float32 copy of X is {one_copy / 1e6:.0f} MB"


def test_predict_proba_allocates_output_sized_arrays_only():
    X, _ = _data(np.float32)
    model = _model()
    peak = _traced_peak(lambda: model.predict_proba(X))
    out = N * 10 * 4  # the float32 result; the logits and a float64 softmax of them come on top
    assert peak < 4 * out + SMALL, f"predict_proba traced {peak / 1e6:.1f} MB for a {out / 1e6:.1f} MB output"


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")  # max_iter=3 on purpose
def test_estimator_fit_on_float32_copies_nothing_x_sized():
    pytest.importorskip("sklearn", reason="pynn.MLPClassifier needs scikit-learn (the sklearn extra)")
    X, y = _data(np.float32)
    est = pynn.MLPClassifier(hidden_layer_sizes=(64,), max_iter=3, batch_size=64, random_state=0, tol=0.0)
    est.fit(X[:512], y[:512])
    peak = _traced_peak(lambda: est.fit(X, y))
    assert peak < SMALL, f"MLPClassifier.fit traced {peak / 1e6:.1f} MB on a {X.nbytes / 1e6:.0f} MB X"
