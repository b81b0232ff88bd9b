"""The estimators' partial_fit over chunks (a Dask array's blocks, a pandas CSV reader)
is one training run: it keeps the optimizer state from chunk to chunk, so partial_fit on
A then B gives exactly the parameters of one Sequential trained on A then B with one
optimizer."""
import numpy as np
import pytest

import pynn

pytest.importorskip("sklearn", reason="pynn.MLPClassifier needs scikit-learn (the sklearn extra)")

BATCH = 32


def _data(n=900, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.4)  # classes 0, 1, 2
    return X, y


def _estimator(solver="adam"):
    return pynn.MLPClassifier(hidden_layer_sizes=(16,), solver=solver, alpha=0.0, batch_size=BATCH,
                              learning_rate_init=0.01, random_state=7, momentum=0.9)


def _sequential(d):
    # The estimator's network: glorot_uniform Dense layers, ReLU, softmax over 3 classes.
    return pynn.Sequential([pynn.Dense(d, 16, init="glorot_uniform"), pynn.ReLU(),
                            pynn.Dense(16, 3, init="glorot_uniform")], seed=7)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_partial_fit_over_blocks_is_one_run_with_one_optimizer(solver):
    X, y = _data()
    blocks = [(X[a:a + 300], y[a:a + 300]) for a in range(0, len(X), 300)]  # as a Dask array's .blocks
    est = _estimator(solver)
    for i, (Xb, yb) in enumerate(blocks):
        est.partial_fit(Xb, yb, classes=np.arange(3) if i == 0 else None)
    model = _sequential(X.shape[1])
    optimizer = (pynn.Adam(lr=0.01, eps=1e-8) if solver == "adam"
                 else pynn.SGD(lr=0.01, momentum=0.9, nesterov=True))
    for Xb, yb in blocks:
        model.fit(Xb, yb, batch_size=BATCH, optimizer=optimizer, verbose=0)
    for mine, theirs in zip(est.model_.parameters(), model.parameters()):
        np.testing.assert_array_equal(mine, theirs)
    # A new optimizer per block (a fresh Adam moment, a fresh momentum) is another run.
    fresh = _sequential(X.shape[1])
    for Xb, yb in blocks:
        fresh.fit(Xb, yb, batch_size=BATCH, optimizer=pynn.Adam(lr=0.01) if solver == "adam"
                  else pynn.SGD(lr=0.01, momentum=0.9, nesterov=True), verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(est.model_.parameters(), fresh.parameters()))


def test_partial_fit_over_a_pandas_csv_reader(tmp_path):
    pd = pytest.importorskip("pandas", reason="reading a CSV in chunks with read_csv(chunksize=...) needs pandas")
    X, y = _data()
    path = tmp_path / "train.csv"
    pd.DataFrame(np.column_stack([X, y]), columns=[f"x{i}" for i in range(X.shape[1])] + ["label"]).to_csv(
        path, index=False)
    est, ref = _estimator(), _estimator()
    for i, frame in enumerate(pd.read_csv(path, chunksize=250)):
        est.partial_fit(frame.drop(columns="label").to_numpy(np.float32), frame["label"].to_numpy(np.int64),
                        classes=np.arange(3) if i == 0 else None)
    for i, a in enumerate(range(0, len(X), 250)):
        ref.partial_fit(X[a:a + 250], y[a:a + 250], classes=np.arange(3) if i == 0 else None)
    for mine, theirs in zip(est.model_.parameters(), ref.model_.parameters()):
        np.testing.assert_array_equal(mine, theirs)
