"""threadpoolctl sees pynn's thread pools and its limits are honoured.

pynn runs on one pool: OpenMP (libgomp) owns the threads and the vendored OpenBLAS hands
its work to them (csrc/threads.cpp). threadpoolctl must list both libraries and a
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
