"""Small data sets for examples, tests and benchmarks (NumPy only).

* ``load_digits``: the 8x8 UCI handwritten digits bundled in ``pynn/data``
  (see ``pynn/data/LICENSE-digits.txt``: CC BY 4.0, Alpaydin & Kaynak 1998).
* ``make_mnist_like``: a synthetic, learnable MNIST-sized classification set.
* ``train_test_split_indices``: a (stratified) split helper.

May import: NumPy only."""

from importlib import resources
from pathlib import Path

import numpy as np


def _data_file(name):
    """Path-like to a bundled data file; importlib.resources works from a wheel/zip."""
    if __package__:
        return resources.files(__package__).joinpath("data").joinpath(name)
    # Loaded as a bare module (no package): fall back to the file system.
    return Path(__file__).parent / "data" / name


def load_digits(return_X_y=True):
    """The 1797 handwritten digits, 8x8 pixels with counts 0..16.

    Returns ``(X, y)`` with X float32 (1797, 64) scaled to [0, 1] (divided by
    16) and y int64 (1797,) in 0..9; with ``return_X_y=False`` a dict with
    keys "data", "target" and "images" (X reshaped to (1797, 8, 8)).
    """
    with resources.as_file(_data_file("digits.npz")) as path, np.load(path) as f:
        X = f["X"].astype(np.float32) / 16
        y = f["y"].astype(np.int64)
    if return_X_y:
        return X, y
    return {"data": X, "target": y, "images": X.reshape(-1, 8, 8)}


def train_test_split_indices(n, test_fraction, seed, stratify=None):
    """Random split of ``range(n)`` -> ``(train_idx, test_idx)``, both sorted int64.

    Without ``stratify`` the test set has round(test_fraction * n) indices.
    With ``stratify`` (labels of shape (n,)) each class c with n_c members
    contributes round(test_fraction * n_c) indices, so class proportions are
    kept in both parts (the total may differ from the unstratified one by the
    rounding of each class).
    """
    if not 0 <= test_fraction <= 1:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    rng = np.random.default_rng(seed)
    if stratify is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(stratify)
        if labels.shape != (n,):
            raise ValueError(f"stratify must have shape ({n},), got {labels.shape}")
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    test = []
    for members in groups:
        n_test = int(round(test_fraction * len(members)))
        test.append(rng.permutation(members)[:n_test])
    test_idx = np.sort(np.concatenate(test)).astype(np.int64)
    is_test = np.zeros(n, dtype=bool)
    is_test[test_idx] = True
    return np.flatnonzero(~is_test).astype(np.int64), test_idx


def make_mnist_like(n=60000, n_features=784, n_classes=10, seed=0,
                    latent_dim=10, modes_per_class=6, cluster_std=0.5, pixel_noise=0.05):
    """Synthetic classification data shaped like MNIST, for benchmarks.

    Like sklearn's make_classification, but squashed into [0, 1] "pixels":
    each class is a mixture of ``modes_per_class`` Gaussian clusters in a
    small latent space (centres ~ N(0, I), so classes interleave and the
    problem is multi-modal), mapped to pixels by a fixed random projection:

        z = centre[y, mode] + cluster_std * N(0, I_latent_dim)
        x = clip(sigmoid(z @ A) + pixel_noise * N(0, I), 0, 1),
        A ~ N(0, 4 / latent_dim)  of shape (latent_dim, n_features)

    ``cluster_std`` sets the overlap: with the defaults and 10k training
    samples a linear model reaches ~95% test accuracy and a small MLP ~96%,
    so there is something to learn but not everything.

    Returns X float32 (n, n_features) in [0, 1] and y int64 (n,), classes
    drawn uniformly. Deterministic in ``seed``.
    """
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, modes_per_class, latent_dim), dtype=np.float32)
    A = rng.standard_normal((latent_dim, n_features), dtype=np.float32)
    A *= 2 / np.sqrt(latent_dim)  # pre-activations of order 1-2: sigmoid not saturated
    y = rng.integers(0, n_classes, size=n).astype(np.int64)
    mode = rng.integers(0, modes_per_class, size=n)
    X = np.empty((n, n_features), dtype=np.float32)
    # Fill in chunks so no float64 (or second full-size) temporary is needed.
    chunk = 8192
    for start in range(0, n, chunk):
        rows = slice(start, min(start + chunk, n))
        m = rows.stop - rows.start
        z = centres[y[rows], mode[rows]]
        z += cluster_std * rng.standard_normal((m, latent_dim), dtype=np.float32)
        block = z @ A
        np.negative(block, out=block)
        np.exp(block, out=block)
        block += 1
        np.reciprocal(block, out=block)  # sigmoid(z @ A) = 1 / (1 + exp(-z @ A))
        block += pixel_noise * rng.standard_normal((m, n_features), dtype=np.float32)
        np.clip(block, 0, 1, out=X[rows])
    return X, y
