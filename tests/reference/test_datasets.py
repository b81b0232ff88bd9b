"""Tests of pynn.datasets: bundled digits, split helper, synthetic MNIST-like set."""

import numpy as np
import pytest

from pynn import datasets


def test_load_digits_shapes_dtypes_and_ranges():
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    # Pixels are counts 0..16 divided by 16: exactly representable in float32.
    np.testing.assert_array_equal(X * 16, np.round(X * 16))
    assert set(np.unique(y)) == set(range(10))
    assert np.bincount(y).min() >= 170  # roughly balanced, ~180 per digit


def test_load_digits_dict_form():
    d = datasets.load_digits(return_X_y=False)
    assert d["images"].shape == (1797, 8, 8)
    np.testing.assert_array_equal(d["images"].reshape(1797, 64), d["data"])


def test_load_digits_matches_scikit_learn():
    sk = pytest.importorskip("sklearn.datasets", reason="scikit-learn not installed")
    X, y = datasets.load_digits()
    ref = sk.load_digits()
    np.testing.assert_array_equal(X * 16, ref.data)
    np.testing.assert_array_equal(y, ref.target)


def test_split_is_a_deterministic_partition():
    train, test = datasets.train_test_split_indices(100, 0.25, seed=3)
    assert len(test) == 25 and len(train) == 75
    assert train.dtype == np.int64 and test.dtype == np.int64
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(100))
    again = datasets.train_test_split_indices(100, 0.25, seed=3)
    np.testing.assert_array_equal(again[1], test)
    other = datasets.train_test_split_indices(100, 0.25, seed=4)
    assert not np.array_equal(other[1], test)


def test_stratified_split_keeps_class_proportions():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    np.random.default_rng(0).shuffle(labels)
    train, test = datasets.train_test_split_indices(100, 0.2, seed=0, stratify=labels)
    np.testing.assert_array_equal(np.bincount(labels[test]), [12, 6, 2])
    np.testing.assert_array_equal(np.bincount(labels[train]), [48, 24, 8])
    assert np.intersect1d(train, test).size == 0


def test_split_rejects_bad_arguments():
    with pytest.raises(ValueError):
        datasets.train_test_split_indices(10, 1.5, seed=0)
    with pytest.raises(ValueError):
        datasets.train_test_split_indices(10, 0.5, seed=0, stratify=np.zeros(9))


def test_make_mnist_like_shapes_ranges_and_determinism():
    X, y = datasets.make_mnist_like(n=500, n_features=100, n_classes=5, seed=1)
    assert X.shape == (500, 100) and X.dtype == np.float32
    assert y.shape == (500,) and y.dtype == np.int64
    assert X.min() >= 0 and X.max() <= 1
    assert set(np.unique(y)) == set(range(5))
    X2, y2 = datasets.make_mnist_like(n=500, n_features=100, n_classes=5, seed=1)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = datasets.make_mnist_like(n=500, n_features=100, n_classes=5, seed=2)
    assert not np.array_equal(X, X3)


def test_make_mnist_like_is_learnable():
    # A least-squares linear classifier on one-hot targets beats chance (10%)
    # by far on held-out data, so the labels really depend on the pixels.
    X, y = datasets.make_mnist_like(n=4000, seed=0)
    train, test = datasets.train_test_split_indices(len(y), 0.25, seed=0, stratify=y)
    A = np.hstack([X, np.ones((len(X), 1), dtype=np.float32)]).astype(np.float64)
    onehot = np.eye(10)[y[train]]
    coef = np.linalg.solve(A[train].T @ A[train] + 1e-1 * np.eye(A.shape[1]), A[train].T @ onehot)
    accuracy = np.mean(np.argmax(A[test] @ coef, axis=1) == y[test])
    assert accuracy > 0.6
