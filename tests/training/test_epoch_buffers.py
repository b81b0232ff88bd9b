"""fit's per-epoch buffers (pynn/nn/state.py, pynn/training/shuffle.py) change how fast an epoch starts, not what it
computes: the estimator and Sequential.fit equal a plain loop over the core's
train_epoch with the documented shuffle, bit for bit; a reused rollback snapshot undoes
a diverging epoch back to the end of the one before (optimizer state included); SGD's
state is the one buffer it uses."""
import math
import pickle
import warnings

import numpy as np
import pytest

import pynn
from pynn import reference as R
from pynn.nn.state import Snapshot, optimizer_buffer_ids
from pynn.training.shuffle import Shuffler


def digits(n=300):
    X, y = pynn.datasets.load_digits()
    return X[:n], y[:n]


def flat(model):
    return model.state().params.copy()


def opt_state(model):
    state = model.state()
    return [b.copy() for b in state.optimizer_buffers], state.opt_step


def plain_loop(model, X, targets, batch_size, optimizer, epochs, first_epoch=0, shuffle=True):
    """The loop fit runs, written out: epoch e visits the rows in reference.epoch_order(n, seed, e).
    Returns the mean loss of each epoch."""
    model._bind_optimizer(optimizer)
    config = optimizer._config()
    n = X.shape[0]
    losses = []
    for e in range(first_epoch, first_epoch + epochs):
        perm = R.epoch_order(n, model.seed, e) if shuffle else np.arange(n)
        loss_sum, rows, _ = model._net.train_epoch(X, targets, perm.astype(np.int64), batch_size, config)
        losses.append(loss_sum / rows)
    return losses


# ---------------------------------------------------------------------------- the shuffle
@pytest.mark.parametrize("n", [1, 2, 7, 300])
@pytest.mark.parametrize("seed", [0, 3, 2**40])
def test_shuffler_gives_the_documented_permutation(n, seed):
    shuffler = Shuffler(n, seed, shuffle=True)
    for epoch in (0, 1, 17):
        order = shuffler.order(epoch)
        assert order.dtype == np.int64
        np.testing.assert_array_equal(order, R.epoch_order(n, seed, epoch))
    assert shuffler.order(1) is shuffler.order(2)  # one buffer, reused


def test_epoch_orders_are_permutations_and_differ_by_seed_and_epoch():
    orders = {(seed, epoch): R.epoch_order(50, seed, epoch).tobytes() for seed in (0, 1, 2) for epoch in (0, 1, 2)}
    assert len(set(orders.values())) == 9
    for key in orders:
        assert sorted(np.frombuffer(orders[key], np.int64)) == list(range(50))


def test_epoch_orders_are_uniform():
    """Every order of 3 rows equally often (Fisher-Yates with unbiased draws): 6,000
    epochs, each of the 6 orders within 4 standard deviations of 1,000."""
    counts = {}
    for epoch in range(6000):
        key = tuple(Shuffler(3, 7, shuffle=True).order(epoch))
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6
    sd = (6000 * (1 / 6) * (5 / 6)) ** 0.5
    assert all(abs(c - 1000) < 4 * sd for c in counts.values()), counts


def test_shuffler_without_shuffle_is_the_identity():
    np.testing.assert_array_equal(Shuffler(5, 0, shuffle=False).order(3), np.arange(5))


# ---------------------------------------------------------------------------- same training, bit for bit
@pytest.mark.parametrize("optimizer", [lambda: pynn.Adam(lr=3e-3, weight_decay=1e-4),
                                       lambda: pynn.SGD(lr=0.05, momentum=0.9, nesterov=True)],
                         ids=["adam", "sgd"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_sequential_fit_equals_the_plain_loop(optimizer, shuffle):
    X, y = digits()
    X = X.astype(np.float32)

    def net():
        return pynn.Sequential([pynn.Dense(64, 24), pynn.ReLU(), pynn.Dense(24, 10)], seed=5)

    model, twin = net(), net()
    opt = optimizer()
    losses = model.fit(X, y, epochs=3, batch_size=64, optimizer=opt, shuffle=shuffle, verbose=0).history["loss"]
    losses += model.fit(X, y, epochs=2, batch_size=64, shuffle=shuffle, verbose=0).history["loss"]  # resumes at epoch 3
    twin_losses = plain_loop(twin, X, twin._targets(y, len(y)), 64, optimizer(), 5, shuffle=shuffle)
    assert losses == twin_losses
    assert flat(model).tobytes() == flat(twin).tobytes()
    (bufs, step), (twin_bufs, twin_step) = opt_state(model), opt_state(twin)
    assert step == twin_step == 5 * 5
    assert all(a.tobytes() == b.tobytes() for a, b in zip(bufs, twin_bufs))


def old_penalty(est, batch_size):
    """The L2 term alpha / (2 B) sum ||W||^2, summed exactly (math.fsum of the float64
    squares): the estimator's einsum agrees to rounding, not bit for bit."""
    sq = math.fsum(float(v) ** 2 for w in est._weights() for v in w.ravel())
    return 0.5 * float(est.alpha) * sq / batch_size


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_estimator_fit_equals_the_plain_loop(solver, dtype):
    """MLPClassifier.fit is the plain loop plus scikit-learn's stopping rule on the loss
    (loss_curve_: the mean loss plus alpha/(2 B) ||W||^2, in float64)."""
    pytest.importorskip("sklearn", reason="the estimators need scikit-learn (the sklearn extra)")
    from sklearn.exceptions import ConvergenceWarning
    X, y = digits()
    params = dict(hidden_layer_sizes=(24,), solver=solver, alpha=1e-3, batch_size=64, learning_rate_init=5e-3,
                  max_iter=12, random_state=3, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = pynn.MLPClassifier(**params).fit(X, y)
    twin = pynn.MLPClassifier(**params)
    twin._check_params()
    twin._weight_mean = 1.0
    twin.model_ = twin._build_model(64, 10, "softmax_cross_entropy", 3)
    model = twin.model_
    Xc = np.ascontiguousarray(X, dtype=dtype)
    targets = model._targets(np.searchsorted(est.classes_, y), len(y))
    optimizer = twin._optimizer_for(64)
    curve = []
    for e in range(est.n_iter_):
        (loss,) = plain_loop(model, Xc, targets, 64, optimizer, 1, first_epoch=e)
        curve.append(loss + old_penalty(twin, 64))
    np.testing.assert_allclose(est.loss_curve_, curve, rtol=1e-13)
    assert flat(est.model_).tobytes() == flat(model).tobytes()
    np.testing.assert_allclose(est._penalty(64), old_penalty(est, 64), rtol=1e-13)


def test_early_stopping_estimator_is_unchanged_by_a_refit():
    """Two fits with the same seed (each with its own buffers) give the same model."""
    pytest.importorskip("sklearn", reason="the estimators need scikit-learn (the sklearn extra)")
    X, y = digits()
    params = dict(hidden_layer_sizes=(16,), early_stopping=True, max_iter=15, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = pynn.MLPClassifier(**params).fit(X, y), pynn.MLPClassifier(**params).fit(X, y)
    assert a.validation_scores_ == b.validation_scores_ and a.loss_curve_ == b.loss_curve_
    assert flat(a.model_).tobytes() == flat(b.model_).tobytes()


# ---------------------------------------------------------------------------- rollback with a reused snapshot
def diverge_at_epoch_3(epoch, lr):
    return 1e-2 if epoch < 3 else 1e30


@pytest.mark.parametrize("optimizer", [lambda: pynn.SGD(lr=1e-2, momentum=0.9), lambda: pynn.Adam(lr=1e-2)],
                         ids=["sgd-momentum", "adam"])
def test_a_diverging_epoch_is_undone_to_the_end_of_the_previous_one(optimizer):
    """The snapshot taken before epoch 4 (into the buffers that held epoch 1's, 2's and
    3's) restores parameters, optimizer buffers, step count and dropout counter."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((64, 4))
    Y = X @ rng.standard_normal((4, 2))

    def net():
        return pynn.Sequential([pynn.Dense(4, 8), pynn.Tanh(), pynn.Dropout(0.2), pynn.Dense(8, 2)],
                               loss="mse", seed=0)

    model, twin = net(), net()
    with pytest.warns(RuntimeWarning, match="training diverged in epoch 4"):
        model.fit(X, Y, epochs=6, batch_size=16, verbose=0, optimizer=optimizer(),
                  callbacks=[pynn.LearningRateScheduler(diverge_at_epoch_3)])
    twin.fit(X, Y, epochs=3, batch_size=16, verbose=0, optimizer=optimizer())
    assert model.epochs_done == twin.epochs_done == 3
    assert flat(model).tobytes() == flat(twin).tobytes()
    (bufs, step), (twin_bufs, twin_step) = opt_state(model), opt_state(twin)
    assert step == twin_step == 12
    assert all(a.tobytes() == b.tobytes() for a, b in zip(bufs, twin_bufs))
    assert model._net.train_forwards == twin._net.train_forwards


def test_snapshot_take_and_restore_round_trip():
    model = pynn.Sequential([pynn.Dense(3, 4), pynn.ReLU(), pynn.Dense(4, 2)], loss="mse", seed=0)
    X, Y = np.ones((8, 3)), np.zeros((8, 2))
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0, optimizer=pynn.Adam(lr=0.1))
    snap = Snapshot(model.state()).take()
    before, (bufs, step) = flat(model), opt_state(model)
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0)
    assert flat(model).tobytes() != before.tobytes()
    snap.restore()
    assert flat(model).tobytes() == before.tobytes()
    after_bufs, after_step = opt_state(model)
    assert after_step == step and all(a.tobytes() == b.tobytes() for a, b in zip(after_bufs, bufs))


# ---------------------------------------------------------------------------- optimizer buffers in use
def test_optimizer_buffer_ids_follow_the_optimizer():
    assert optimizer_buffer_ids(None) == ()
    assert optimizer_buffer_ids(pynn.SGD(0.1)) == (0,)
    assert optimizer_buffer_ids(pynn.Adam()) == optimizer_buffer_ids(pynn.AdamW()) == (0, 1)


def test_sgd_state_is_its_one_buffer_and_pickles_to_an_identical_run():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 3))
    y = rng.integers(0, 3, 40)
    model = pynn.Sequential([pynn.Dense(3, 5), pynn.ReLU(), pynn.Dense(5, 3)], seed=4)
    model.fit(X, y, epochs=2, batch_size=8, verbose=0, optimizer=pynn.SGD(lr=0.1, momentum=0.9))
    state = model.__getstate__()["_core_state"]
    assert len(state["optimizer_buffers"]) == 1  # the momentum; nothing else is carried
    copy = pickle.loads(pickle.dumps(model))
    model.fit(X, y, epochs=2, batch_size=8, verbose=0)
    copy.fit(X, y, epochs=2, batch_size=8, verbose=0)
    assert flat(model).tobytes() == flat(copy).tobytes()


def zero_bits(a):
    return not a.view(np.uint8).any()


def test_snapshot_of_a_fresh_optimizer_restores_zero_moments_without_copying_them():
    # Before the first update Adam's moments are all zero bits: take() records that
    # instead of copying them (no fresh memory to fault in), restore() writes zeros back.
    model = pynn.Sequential([pynn.Dense(3, 4), pynn.ReLU(), pynn.Dense(4, 2)], loss="mse", seed=0)
    X, Y = np.ones((8, 3)), np.zeros((8, 2))
    model._bind_optimizer(pynn.Adam(lr=0.1))
    snap = Snapshot(model.state()).take()
    assert [c is None for c in snap._copies] == [False, True, True]  # params copied, m and v not
    before = flat(model)
    model.fit(X, Y, epochs=2, batch_size=4, verbose=0)
    bufs, step = opt_state(model)
    assert step == 4 and all(b.any() for b in bufs)
    snap.restore()
    assert flat(model).tobytes() == before.tobytes()
    bufs, step = opt_state(model)
    assert step == 0 and all(zero_bits(b) for b in bufs)


def test_snapshot_keeps_negative_zeros_and_switches_between_zero_and_copied():
    model = pynn.Sequential([pynn.Dense(3, 4), pynn.ReLU(), pynn.Dense(4, 2)], loss="mse", seed=0)
    X, Y = np.ones((8, 3)), np.zeros((8, 2))
    model._bind_optimizer(pynn.Adam(lr=0.1))
    m = model.state().optimizer_buffers[0]
    m[3] = -0.0  # == 0, but not zero bits: it must be copied and come back as -0.0
    snap = Snapshot(model.state()).take()
    assert snap._copies[1] is not None and snap._copies[2] is None
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    snap.restore()
    assert np.signbit(m[3]) and zero_bits(np.delete(m, 3))
    # Taken again after updates (now copied), then again at zero (a copy no longer used).
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    snap.take()
    saved = [b.copy() for b in model.state().optimizer_buffers]
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    snap.restore()
    assert all(a.tobytes() == b.tobytes() for a, b in zip(model.state().optimizer_buffers, saved))
    model.state().install_optimizer(model.optimizer, [np.zeros_like(b) for b in saved], 0)
    snap.take()
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0)
    snap.restore()
    assert all(zero_bits(b) for b in model.state().optimizer_buffers)
