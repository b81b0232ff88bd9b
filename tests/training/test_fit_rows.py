"""fit, predict and evaluate read X's rows where they are (pynn/training/rows.py): a
validation split by row index, a memory map converted block by block. The results are
those of the copies they avoid, bit for bit (the epoch loss: to rounding, as it is summed
per block)."""
import numpy as np
import pytest

import pynn
from pynn.datasets import train_test_split_indices
from pynn.training import rows


def _data(n=1000, d=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, :3].sum(axis=1) > 0).astype(np.int64) + (X[:, 3] > 1)
    return X, y


def _model(d=12, dtype="float32", dropout=0.0):
    layers = [pynn.Dense(d, 16), pynn.ReLU()] + ([pynn.Dropout(dropout)] if dropout else []) + [pynn.Dense(16, 3)]
    return pynn.Sequential(layers, dtype=dtype, seed=3)


def _params(model):
    return [p.copy() for p in model.parameters()]


def _same_params(a, b):
    for pa, pb in zip(_params(a), _params(b)):
        np.testing.assert_array_equal(pa, pb)


def _memmap(tmp_path, X, name="X.npy"):
    np.save(tmp_path / name, X)
    return np.load(tmp_path / name, mmap_mode="r")


def test_validation_split_trains_and_validates_as_on_copies_of_the_rows():
    X, y = _data()
    a, b = _model(dropout=0.2), _model(dropout=0.2)
    ha = a.fit(X, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0)
    train, val = train_test_split_indices(len(X), 0.25, seed=[b.seed, 2], stratify=y)
    hb = b.fit(X[train], y[train], epochs=3, batch_size=32, validation_data=(X[val], y[val]), verbose=0)
    _same_params(a, b)
    assert ha.history == hb.history


@pytest.fixture
def small_blocks(monkeypatch):
    # Blocks of a few rows, so the block-by-block paths cross many block boundaries.
    monkeypatch.setattr(rows, "BLOCK_BYTES", 2048)
    monkeypatch.setattr(rows, "PREDICT_ROWS", 64)


@pytest.mark.parametrize("model_dtype, file_dtype", [("float32", np.float64), ("float64", np.float32),
                                                     ("float32", np.int16)])
def test_a_memmap_of_another_dtype_gives_the_results_of_a_converted_copy(tmp_path, small_blocks, model_dtype,
                                                                          file_dtype):
    X, y = _data(n=700)
    X = (X * 100).astype(file_dtype)
    mapped = _memmap(tmp_path, X)
    assert rows.is_mapped(mapped) and not rows.in_place(mapped, model_dtype)
    a, b = _model(dtype=model_dtype), _model(dtype=model_dtype)
    ha = a.fit(mapped, y, epochs=2, batch_size=16, validation_split=0.2, verbose=0)
    hb = b.fit(X.astype(model_dtype), y, epochs=2, batch_size=16, validation_split=0.2, verbose=0)
    _same_params(a, b)
    for key in hb.history:
        np.testing.assert_allclose(ha.history[key], hb.history[key], rtol=1e-12, err_msg=key)
    np.testing.assert_array_equal(a.forward(mapped), b.forward(X.astype(model_dtype)))
    assert a.evaluate(mapped, y) == b.evaluate(X.astype(model_dtype), y)


def test_a_memmap_of_the_model_dtype_is_read_in_place(tmp_path):
    X, y = _data()
    mapped = _memmap(tmp_path, X)
    assert rows.in_place(np.asarray(mapped), "float32")
    checked = rows.feature_rows(mapped, "X", "float32", X.shape[1])
    assert np.shares_memory(checked, mapped)


def test_predicting_rows_in_blocks_gives_the_bits_of_one_call():
    X, _ = _data(n=3 * rows.PREDICT_ROWS + 123, d=40)
    model = _model(d=40)
    whole = model.forward(X)
    picked = np.random.default_rng(1).permutation(len(X))[:2 * rows.PREDICT_ROWS + 7]
    blocks = rows.predict_rows(lambda b: model._net.predict(b, False), X, "float32", picked)
    np.testing.assert_array_equal(blocks, model._net.predict(np.ascontiguousarray(X[picked]), False))
    np.testing.assert_array_equal(rows.predict_rows(lambda b: model._net.predict(b, False), X.astype(np.float64),
                                                    "float32"), whole)


@pytest.mark.parametrize("file_dtype, bad, named", [(np.float64, np.nan, "NaN"),
                                                    (np.float64, 1e39, "inf"),  # 1e39 overflows float32
                                                    (np.float32, np.inf, "inf")])  # read in place
def test_a_memmap_with_bad_values_is_refused_block_by_block(tmp_path, small_blocks, file_dtype, bad, named):
    X, y = _data(n=500)
    X = X.astype(file_dtype)
    X[437, 5] = bad
    mapped = _memmap(tmp_path, X)
    model = _model()
    before = _params(model)
    with pytest.raises(ValueError, match=rf"X contains {named} \(or a value too large for float32\)"):
        model.fit(mapped, y, verbose=0)
    for p, q in zip(before, _params(model)):
        np.testing.assert_array_equal(p, q)
