"""pynn on a Dask cluster (docs/distributed.md, "Hyperparameter search on a Dask cluster").

A scikit-learn search under joblib's dask backend gives the sequential search's results
exactly, a pynn.Sequential trained on a worker comes back bit-identical to a local fit,
and the thread rule holds inside workers. The rule, first match wins: an estimator's
n_threads (for its own fit/predict); a threadpoolctl limit in force (it caps an earlier
pynn.set_num_threads); pynn.set_num_threads; the worker's OMP_NUM_THREADS, which the
Dask nanny sets before it starts the worker: the client's OMP_NUM_THREADS if set, else
`distributed.nanny.pre-spawn-environ` (1 by default, whatever threads_per_worker is).

Clusters run worker processes on loopback; every wait on them has a deadline.
"""
import contextlib
import os
import sys
import threading
import warnings

import numpy as np
import pytest

import pynn

# dask first: without it, this folder (tests/distributed/) would pass for a "distributed" module.
pytest.importorskip("dask", reason="the Dask tests need dask[distributed] (pip install 'pynn[dask]')")
distributed = pytest.importorskip("distributed", reason="the Dask tests need dask[distributed] (pip install "
                                                        "'pynn[dask]')")
pytest.importorskip("sklearn", reason="the search tests need scikit-learn (pip install 'pynn[dask]')")
import cloudpickle  # noqa: E402  (a dependency of distributed)
import dask  # noqa: E402
import joblib  # noqa: E402
import threadpoolctl  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

DEADLINE = 120  # seconds for any one wait on a cluster; the tests take a few seconds here

# The workers are fresh processes that cannot import this file: its functions travel by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


# With dashboard_address=None the scheduler still serves its health and metrics routes on
# loopback, on port 8787 or, when another cluster on the machine has it, on another port.
pytestmark = pytest.mark.filterwarnings("ignore:Port [0-9]+ is already in use:UserWarning")


@pytest.fixture(scope="module")
def _clean_environ():
    """The nanny writes its pre-spawn variables (OMP_NUM_THREADS=1, ...) into this process's
    os.environ before it starts a worker: put os.environ back afterwards, so that later
    tests' child processes do not inherit them."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@contextlib.contextmanager
def _cluster(n_workers, threads_per_worker):
    """A client of a new LocalCluster with Dask's thread settings wherever the tests run: a
    client-side OMP_NUM_THREADS (the CI's, or the one an earlier cluster left) would be
    passed to the workers instead of distributed.nanny.pre-spawn-environ's."""
    os.environ.pop("OMP_NUM_THREADS", None)
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(n_workers, timeout=DEADLINE)
        yield client


@pytest.fixture(scope="module")
def client(_clean_environ):
    with _cluster(2, 1) as client:
        yield client


@pytest.fixture
def one_local_thread():
    """Local fits on 1 thread, as each worker's: the comparisons are bit for bit."""
    settings = pynn._core._thread_settings()
    pynn.set_num_threads(1)
    yield
    pynn._core._restore_thread_settings(*settings)


def _within(seconds, fn):
    """fn() in a daemon thread, failing the test if it takes longer than `seconds` (a hung
    search then ends when the cluster fixture closes the cluster)."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"did not finish within {seconds} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def _digits(n=360):
    X, y = pynn.datasets.load_digits()
    return X[:n], y[:n]


# ---------------------------------------------------------------------------- the search
def _search(backend):
    X, y = _digits()
    est = pynn.MLPClassifier((16,), max_iter=15, batch_size=32, random_state=0)
    grid = {"alpha": [1e-4, 1e-1], "learning_rate_init": [1e-3, 1e-2]}
    search = GridSearchCV(est, grid, cv=3, n_jobs=-1 if backend else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 15 epochs is short on purpose
        if backend:
            with joblib.parallel_config(backend=backend):  # thread-local: entered in the search's thread
                return search.fit(X, y)
        return search.fit(X, y)


TIMING = {"mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time"}


def _tasks_run(client):
    return client.run(lambda dask_worker: dask_worker.state.executed_count)


def test_grid_search_on_the_cluster_equals_the_sequential_search(client, one_local_thread):
    before = _tasks_run(client)
    on_cluster = _within(DEADLINE, lambda: _search("dask"))
    after = _tasks_run(client)
    assert len(after) == 2 and all(after[w] > before[w] for w in after), "a worker ran no fit of the search"
    sequential = _search(None)
    assert on_cluster.best_params_ == sequential.best_params_
    assert on_cluster.best_score_ == sequential.best_score_
    assert set(on_cluster.cv_results_) == set(sequential.cv_results_)
    for key in sorted(set(sequential.cv_results_) - TIMING):
        a, b = on_cluster.cv_results_[key], sequential.cv_results_[key]
        if key == "params":
            assert a == b
        else:
            np.testing.assert_array_equal(a, b, err_msg=key)
    # The grid points differ: a search whose scores were all equal would show nothing.
    assert len(set(sequential.cv_results_["mean_test_score"])) > 1
    # The refit best estimator predicts as the sequential search's.
    X, _ = _digits()
    np.testing.assert_array_equal(on_cluster.predict(X), sequential.predict(X))


# ---------------------------------------------------------------------------- a model round trip
def _network():
    return pynn.Sequential([pynn.Dense(64, 32), pynn.ReLU(), pynn.Dropout(0.1), pynn.Dense(32, 10)],
                           loss="softmax_cross_entropy", seed=7)


def _train(model, X, y):
    history = model.fit(X, y, epochs=3, batch_size=32, optimizer=pynn.Adam(lr=1e-2), verbose=0)
    return model, history.history, pynn.get_num_threads()


def test_sequential_trained_on_a_worker_equals_a_local_fit(client, one_local_thread):
    X, y = _digits()
    remote, remote_history, remote_threads = client.submit(_train, _network(), X, y, pure=False).result(
        timeout=DEADLINE)
    local, local_history, _ = _train(_network(), X, y)
    assert remote_threads == 1
    assert remote is not local and remote.seed == 7
    names = [name for name, _ in local.named_parameters()]
    assert [name for name, _ in remote.named_parameters()] == names
    for (name, a), (_, b) in zip(remote.named_parameters(), local.named_parameters()):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert remote_history == local_history
    assert not np.array_equal(local.parameters()[0], _network().parameters()[0])  # it did train
    predictions = remote.predict(X)
    np.testing.assert_array_equal(predictions, local.predict(X))
    assert (predictions == y).mean() > 0.5  # 10 classes: chance is 0.1
    # And it trains on from where it was, as the local model does.
    remote.fit(X, y, epochs=1, batch_size=32, verbose=0)
    local.fit(X, y, epochs=1, batch_size=32, verbose=0)
    np.testing.assert_array_equal(remote.parameters()[0], local.parameters()[0])


# ---------------------------------------------------------------------------- the thread rule
def _threads_in_task(n_threads=None, set_first=None, limit=None):
    """In a worker: the worker's OMP_NUM_THREADS, pynn.get_num_threads() before, the counts
    an MLPClassifier(n_threads=...) fit ran with (read at each epoch end), and
    pynn.get_num_threads() after."""
    from pynn.sklearn import _SklearnStopping
    seen, on_epoch_end = [], _SklearnStopping.on_epoch_end

    def recording(self, epoch, logs=None):
        seen.append(pynn.get_num_threads())
        return on_epoch_end(self, epoch, logs)

    omp, before = os.environ.get("OMP_NUM_THREADS"), pynn.get_num_threads()
    settings = pynn._core._thread_settings()  # the worker runs later tasks as it found them
    if set_first is not None:
        pynn.set_num_threads(set_first)
    X, y = _digits(120)
    est = pynn.MLPClassifier((8,), max_iter=2, n_threads=n_threads, random_state=0)
    _SklearnStopping.on_epoch_end = recording
    try:
        with warnings.catch_warnings(), threadpoolctl.threadpool_limits(limit):
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
        return omp, before, seen, pynn.get_num_threads()
    finally:
        _SklearnStopping.on_epoch_end = on_epoch_end
        pynn._core._restore_thread_settings(*settings)


def _in_worker(client, **kwargs):
    return client.submit(_threads_in_task, pure=False, **kwargs).result(timeout=DEADLINE)


def test_one_thread_workers_run_pynn_on_one_thread(client):
    omp, before, seen, after = _in_worker(client)
    assert (omp, before, seen, after) == ("1", 1, [1, 1], 1)


def test_explicit_threads_win_over_the_workers_budget(client):
    assert _in_worker(client, n_threads=2)[2:] == ([2, 2], 1)  # the estimator's n_threads, for its fit
    assert _in_worker(client, set_first=2)[2:] == ([2, 2], 2)  # pynn.set_num_threads in the task


def test_a_threadpoolctl_limit_caps_the_setting_but_not_n_threads(client):
    # set_num_threads(2) and then a limit of 1 (as a library around the call would): 1.
    assert _in_worker(client, set_first=2, limit=1)[2] == [1, 1]
    assert _in_worker(client, n_threads=2, limit=1)[2] == [2, 2]


def test_threads_per_worker_is_not_a_thread_budget_by_default(_clean_environ):
    # Dask's nanny sets OMP_NUM_THREADS=1 for every worker: a worker running 2 tasks at once
    # gives each task 1 thread, so the 2 threads of the worker fill its 2 cores.
    with _cluster(1, 2) as client:
        assert _in_worker(client) == ("1", 1, [1, 1], 1)


def test_a_two_thread_budget_runs_fits_on_two_threads_unless_n_threads_says_otherwise(_clean_environ):
    with dask.config.set({"distributed.nanny.pre-spawn-environ.OMP_NUM_THREADS": 2}):
        with _cluster(1, 2) as client:
            assert _in_worker(client) == ("2", 2, [2, 2], 2)
            assert _in_worker(client, n_threads=1) == ("2", 2, [1, 1], 2)
            assert _in_worker(client, limit=1)[2] == [1, 1]
