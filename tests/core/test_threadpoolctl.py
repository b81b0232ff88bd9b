"""threadpoolctl sees pynn's thread pools and its limits are honoured.

pynn runs on one pool: OpenMP (libgomp) owns the threads and the vendored OpenBLAS hands
its work to them (csrc/dispatch/threads.cpp). threadpoolctl must list both libraries and a
`threadpool_limits(1)` must bring pynn.get_num_threads() to 1 (what the next core call
uses), also after pynn.set_num_threads(2), and restore it afterwards.
"""
import os

import numpy as np
import pytest

import pynn

threadpoolctl = pytest.importorskip("threadpoolctl", reason="threadpoolctl is an optional test dependency")


@pytest.fixture(autouse=True)
def _restore_threads():
    old = pynn.get_num_threads()
    yield
    pynn.set_num_threads(old)


def _pynn_pools():
    pynn_dir = os.path.dirname(os.path.realpath(pynn._core.__file__))
    info = threadpoolctl.threadpool_info()
    blas = [d for d in info if d["internal_api"] == "openblas"
            and os.path.dirname(os.path.realpath(d["filepath"])) == pynn_dir]
    omp = [d for d in info if d["internal_api"] == "openmp"]
    return blas, omp


def test_threadpoolctl_lists_the_vendored_openblas_and_openmp():
    blas, omp = _pynn_pools()
    assert [d["prefix"] for d in blas] == ["libscipy_openblas"]
    assert any(d["prefix"] == "libgomp" for d in omp)


def test_threadpool_limits_one_is_honoured():
    pynn.set_num_threads(2)
    assert pynn.get_num_threads() == 2
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 20)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    with threadpoolctl.threadpool_limits(1):
        assert pynn.get_num_threads() == 1
        blas, omp = _pynn_pools()
        assert all(d["num_threads"] == 1 for d in blas + omp)
        model = pynn.Sequential([pynn.Dense(20, 16), pynn.ReLU(), pynn.Dense(16, 3)], seed=0)
        model.fit(X, y, epochs=1, batch_size=16, verbose=0)  # runs under the limit
    assert pynn.get_num_threads() == 2
    blas, _ = _pynn_pools()
    assert all(d["num_threads"] == 2 for d in blas)


def _threads_seen_by_fit(est, monkeypatch, X, y):
    """The thread count pynn uses during est.fit: read at every epoch end, in the fit."""
    from pynn.sklearn import _SklearnStopping
    seen, on_epoch_end = [], _SklearnStopping.on_epoch_end

    def recording(self, epoch, logs=None):
        seen.append(pynn.get_num_threads())
        return on_epoch_end(self, epoch, logs)

    monkeypatch.setattr(_SklearnStopping, "on_epoch_end", recording)
    est.fit(X, y)
    return seen


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_n_threads_wins_for_its_fit_and_leaves_the_limit_as_it_was(monkeypatch):
    pytest.importorskip("sklearn", reason="pynn.MLPClassifier needs scikit-learn")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 10)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    pynn.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1):
        est = pynn.MLPClassifier((8,), max_iter=2, n_threads=2, random_state=0)
        assert _threads_seen_by_fit(est, monkeypatch, X, y) == [2, 2]
        assert pynn.get_num_threads() == 1  # the limit holds again after the fit
        blas, omp = _pynn_pools()
        assert all(d["num_threads"] == 1 for d in blas + omp)
    assert pynn.get_num_threads() == 2  # and pynn's own setting after the limit
    blas, _ = _pynn_pools()
    assert all(d["num_threads"] == 2 for d in blas)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimator_without_n_threads_runs_under_the_limit(monkeypatch):
    pytest.importorskip("sklearn", reason="pynn.MLPClassifier needs scikit-learn")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 10)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    pynn.set_num_threads(2)
    with threadpoolctl.threadpool_limits(1):
        est = pynn.MLPClassifier((8,), max_iter=2, random_state=0)
        assert _threads_seen_by_fit(est, monkeypatch, X, y) == [1, 1]
    est = pynn.MLPClassifier((8,), max_iter=2, n_threads=1, random_state=0)
    assert _threads_seen_by_fit(est, monkeypatch, X, y) == [1, 1]
    assert pynn.get_num_threads() == 2
