"""Sequential.fit on data in chunks (pynn/training/chunks.py): one chunk is the array,
several are per-chunk training with one optimizer state, and the epoch and shuffle
rules are those documented."""
import numpy as np
import pytest

import pynn
from pynn.training.shuffle import Shuffler
from pynn.training.chunks import chunk_row_order


def _data(n=600, d=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5)
    return X, y


def _model(dropout=0.0, seed=4):
    layers = [pynn.Dense(10, 16), pynn.ReLU()] + ([pynn.Dropout(dropout)] if dropout else []) + [pynn.Dense(16, 3)]
    return pynn.Sequential(layers, seed=seed)


def _params(model):
    return [p.copy() for p in model.parameters()]


def _same(a, b):
    for pa, pb in zip(_params(a), _params(b)):
        np.testing.assert_array_equal(pa, pb)


def _split(X, y, sizes):
    edges = np.cumsum([0] + sizes)
    return [(X[a:b], y[a:b]) for a, b in zip(edges[:-1], edges[1:])]


@pytest.mark.parametrize("shuffle", [False, True])
def test_one_chunk_trains_exactly_as_the_array(shuffle):
    X, y = _data()
    w = np.linspace(0.5, 1.5, len(X))
    a, b = _model(dropout=0.3), _model(dropout=0.3)
    ha = a.fit([(X, y, w)], epochs=3, batch_size=32, shuffle=shuffle, validation_data=(X[:50], y[:50]), verbose=0)
    hb = b.fit(X, y, sample_weight=w, epochs=3, batch_size=32, shuffle=shuffle, validation_data=(X[:50], y[:50]),
               verbose=0)
    _same(a, b)
    assert ha.history == hb.history


def test_chunks_train_as_one_fit_per_chunk_with_one_optimizer():
    X, y = _data()
    chunks = _split(X, y, [250, 100, 250])  # 250 rows: a last batch of 26 in each big chunk
    a, b = _model(), _model()
    history = a.fit(chunks, epochs=2, batch_size=32, shuffle=False, optimizer=pynn.Adam(lr=0.01), verbose=0)
    opt, per_chunk = pynn.Adam(lr=0.01), []
    for _ in range(2):
        per_chunk.append([b.fit(Xc, yc, batch_size=32, shuffle=False, optimizer=opt, verbose=0).history
                          for Xc, yc in chunks])
    _same(a, b)
    for epoch, fits in enumerate(per_chunk):  # row-weighted over the chunks
        rows = [len(yc) for _, yc in chunks]
        for key in ("loss", "accuracy"):
            expected = sum(h[key][0] * n for h, n in zip(fits, rows)) / sum(rows)
            assert history.history[key][epoch] == pytest.approx(expected, rel=1e-12)


def test_a_function_gives_a_fresh_iterator_per_epoch_in_its_order():
    X, y = _data()
    chunks = _split(X, y, [200, 200, 200])
    calls = []

    def read():
        calls.append(1)
        return iter(chunks)

    a, b = _model(), _model()
    a.fit(read, epochs=3, batch_size=32, verbose=0)
    b.fit(chunks, epochs=3, batch_size=32, verbose=0, shuffle=False)
    assert len(calls) == 3
    assert not all(np.array_equal(p, q) for p, q in zip(_params(a), _params(b)))  # rows shuffled within chunks
    c = _model()
    c.fit(read, epochs=3, batch_size=32, verbose=0, shuffle=False)
    _same(b, c)


def test_a_list_of_chunks_is_visited_in_a_seeded_order():
    X, y = _data()
    chunks = _split(X, y, [150] * 4)
    runs = [_model(), _model(), _model()]
    for m in runs[:2]:
        m.fit(chunks, epochs=2, batch_size=32, verbose=0)
    runs[2].fit(chunks[::-1], epochs=2, batch_size=32, verbose=0)
    _same(runs[0], runs[1])
    assert not all(np.array_equal(p, q) for p, q in zip(_params(runs[0]), _params(runs[2])))


def test_a_generator_serves_one_epoch():
    X, y = _data()
    chunks = _split(X, y, [300, 300])
    a, b = _model(), _model()
    a.fit((c for c in chunks), batch_size=32, verbose=0, shuffle=False)
    b.fit(chunks, batch_size=32, verbose=0, shuffle=False)
    _same(a, b)
    with pytest.raises(ValueError, match="epochs=2 needs chunks that can be read once per epoch.*generator"):
        a.fit((c for c in chunks), epochs=2, verbose=0)
    used = iter(chunks)
    list(used)
    before = _params(a)
    with pytest.raises(ValueError, match="yielded no data"):
        a.fit(used, verbose=0)
    for p, q in zip(before, _params(a)):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("call, error, message", [
    (lambda m, c: m.fit(c, validation_split=0.2, verbose=0), ValueError, "validation_split needs X and y as arrays"),
    (lambda m, c: m.fit(c, sample_weight=np.ones(10), verbose=0), ValueError, "sample weights go into the chunks"),
    (lambda m, c: m.fit([c[0][0]], verbose=0), TypeError, r"chunk 0 must be a pair \(X_chunk, y_chunk\)"),
    (lambda m, c: m.fit([c[0], (c[1][0], c[1][1][:5])], verbose=0, shuffle=False), ValueError,
     "chunk 1 y has 5 samples but X has 300"),
    (lambda m, c: m.fit(np.zeros((5, 10)), verbose=0), TypeError, "X must be an array \\(with y\\)"),
    (lambda m, c: m.fit(lambda: 3, verbose=0), TypeError, "the chunks function must return an iterable"),
    (lambda m, c: m.fit([], verbose=0), ValueError, "must not be empty"),
])
def test_bad_chunks_are_refused_and_leave_the_model_as_it_was(call, error, message):
    X, y = _data()
    chunks = _split(X, y, [300, 300])
    model = _model()
    before = _params(model)
    with pytest.raises(error, match=message):
        call(model, chunks)
    for p, q in zip(before, _params(model)):
        np.testing.assert_array_equal(p, q)


def test_chunk_row_orders():
    first = chunk_row_order(np.empty(50, np.int64), seed=9, epoch=2, k=0, shuffle=True)
    np.testing.assert_array_equal(first, Shuffler(50, 9, True).order(2))  # the array's order
    later = [chunk_row_order(np.empty(50, np.int64), 9, 2, k, True) for k in (1, 2)]
    for order in later:
        assert sorted(order) == list(range(50))
    assert not np.array_equal(later[0], later[1]) and not np.array_equal(later[0], first)
    np.testing.assert_array_equal(chunk_row_order(np.empty(7, np.int64), 9, 2, 3, False), np.arange(7))
