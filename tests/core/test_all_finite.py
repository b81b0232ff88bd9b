"""pynn._checks.all_finite: the core's one-pass finiteness check of input arrays.

fit/predict check X once per call; NumPy's isfinite(X).all() built an X-sized boolean
temporary (0.1 s on 60,000 x 784, a fifth of an epoch), the core reads X once. It must
agree with NumPy everywhere: a bad value in the first, last or any middle element, in the
tail after the vector blocks, in either half of a split between threads, any dtype.
"""
import numpy as np
import pytest

import pynn
from pynn import _checks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 40_000, 100_003])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_agrees_with_numpy_wherever_the_bad_value_is(dtype, n, bad):
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    assert _checks.all_finite(x)
    for i in sorted({0, n // 2, n - 16 if n > 16 else 0, n - 1}):
        y = x.copy()
        y[i] = bad
        assert _checks.all_finite(y) == bool(np.isfinite(y).all()) == False, (n, i)


@pytest.mark.parametrize("threads", [1, 2])
def test_thread_count_does_not_matter(threads):
    previous = pynn.get_num_threads()
    pynn.set_num_threads(threads)
    try:
        X = np.ones((5000, 37), np.float32)
        assert _checks.all_finite(X)
        X[4999, 36] = np.nan  # in the last thread's share
        assert not _checks.all_finite(X)
        X[4999, 36] = 1.0
        X[0, 0] = np.inf  # in the first thread's share
        assert not _checks.all_finite(X)
    finally:
        pynn.set_num_threads(previous)


def test_other_layouts_and_dtypes_fall_back_to_numpy():
    x = np.ones((6, 8), np.float32)[:, ::2]  # not C-contiguous
    assert _checks.all_finite(x)
    x = np.ones((6, 8), np.float32)
    x[3, 6] = np.nan
    assert not _checks.all_finite(x[:, ::2])  # column 6 is in this view
    assert _checks.all_finite(x[:, 1::2])  # and not in this one
    assert _checks.all_finite(np.arange(5))  # integers are always finite
    assert not _checks.all_finite(np.array([1.0, np.inf], np.float16))


def test_fit_and_predict_still_name_the_bad_value():
    X = np.zeros((10, 3), np.float32)
    X[7, 2] = np.inf
    model = pynn.Sequential([pynn.Dense(3, 2)], loss="softmax_cross_entropy", seed=0)
    with pytest.raises(ValueError, match="X contains inf"):
        model.fit(X, np.zeros(10, np.int64), epochs=1, verbose=0)
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        model.predict(X)
