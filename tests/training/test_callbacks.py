"""Callbacks: EarlyStopping, ModelCheckpoint, TerminateOnNaN, LearningRateScheduler,
ReduceLROnPlateau and the plain Callback hooks, driven by synthetic logs (exact rules)
and by real fits (wiring)."""
import warnings

import numpy as np
import pytest

import pynn


def net(seed=0):
    return pynn.Sequential([pynn.Dense(64, 16), pynn.ReLU(), pynn.Dense(16, 10)], seed=seed)


@pytest.fixture(scope="module")
def digits():
    X, y = pynn.datasets.load_digits()
    return X[:400], y[:400]


def drive(cb, model, values, monitor="val_loss", on_epoch=None):
    """Run the hooks as fit does with `monitor` taking `values`; returns the epochs run."""
    cb.set_model(model)
    cb.set_params({"epochs": len(values), "metrics": ["loss", monitor]})
    model.stop_training = False
    cb.on_train_begin()
    ran = 0
    for epoch, value in enumerate(values):
        cb.on_epoch_begin(epoch)
        if on_epoch:
            on_epoch(epoch)
        cb.on_epoch_end(epoch, {"loss": 0.0, monitor: value})
        ran += 1
        if model.stop_training:
            break
    cb.on_train_end()
    return ran


# ---------------------------------------------------------------------------- EarlyStopping
@pytest.mark.parametrize("patience, expected", [(0, 3), (1, 3), (2, 4), (3, 5)])
def test_early_stopping_counts_epochs_without_improvement(patience, expected):
    # best at epoch 1 (0.5); epochs 2.. do not improve: stop after `patience` of them (0 acts as 1)
    values = [1.0, 0.5, 0.6, 0.55, 0.7, 0.9, 0.9]
    cb = pynn.EarlyStopping(patience=patience)
    assert drive(cb, net(), values) == expected
    assert cb.best == 0.5 and cb.best_epoch == 1 and cb.stopped_epoch == expected - 1


def test_early_stopping_min_delta_and_mode():
    cb = pynn.EarlyStopping(min_delta=0.1, patience=1)
    assert drive(cb, net(), [1.0, 0.95, 0.8, 0.75]) == 2  # 0.95 is not better by 0.1
    acc = pynn.EarlyStopping(monitor="val_accuracy", patience=1)  # 'auto' maximizes accuracies
    assert drive(acc, net(), [0.5, 0.6, 0.7, 0.65], monitor="val_accuracy") == 4 and acc.best == 0.7
    low = pynn.EarlyStopping(monitor="val_accuracy", mode="min", patience=1)
    assert drive(low, net(), [0.5, 0.6, 0.7], monitor="val_accuracy") == 2
    base = pynn.EarlyStopping(baseline=0.4, patience=2)
    assert drive(base, net(), [0.5, 0.45, 0.3, 0.2]) == 2 and base.best_epoch is None
    late = pynn.EarlyStopping(patience=1, start_from_epoch=3)
    assert drive(late, net(), [1.0, 2.0, 3.0, 4.0, 5.0]) == 5


def test_early_stopping_restores_the_best_parameters():
    model = net()
    snapshots = {}

    def perturb(epoch):  # stands in for training: new parameters every epoch
        for p in model.parameters():
            p += 0.01 * (epoch + 1)
        snapshots[epoch] = [p.copy() for p in model.parameters()]

    cb = pynn.EarlyStopping(patience=2, restore_best_weights=True)
    drive(cb, model, [3.0, 1.0, 2.0, 2.5, 0.1], on_epoch=perturb)
    assert cb.stopped_epoch == 3
    for p, q in zip(model.parameters(), snapshots[1]):
        np.testing.assert_array_equal(p, q)


def test_early_stopping_in_fit(digits):
    X, y = digits
    model = net()
    stop = pynn.EarlyStopping(monitor="val_loss", min_delta=10.0, patience=0)  # nothing improves by 10
    hist = model.fit(X, y, epochs=20, verbose=0, validation_split=0.2, callbacks=[stop])
    assert len(hist.history["val_loss"]) == 2 and stop.stopped_epoch == 1 and model.epochs_done == 2


def test_a_monitor_that_fit_does_not_log_fails_before_training(digits):
    X, y = digits
    model = net()
    before = [p.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match="monitors 'val_loss', but fit logs only loss, accuracy.*validation_split"):
        model.fit(X, y, epochs=3, verbose=0, callbacks=[pynn.EarlyStopping()])
    with pytest.raises(ValueError, match="monitors 'val_acc'"):
        model.fit(X, y, epochs=3, verbose=0, validation_split=0.2, callbacks=[pynn.ReduceLROnPlateau("val_acc")])
    assert model.epochs_done == 0
    for p, q in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("make, error, match", [
    (lambda: pynn.EarlyStopping(patience=-1), ValueError, "patience"),
    (lambda: pynn.EarlyStopping(patience=1.5), TypeError, "patience must be an integer"),
    (lambda: pynn.EarlyStopping(mode="up"), ValueError, "mode must be 'auto', 'min' or 'max'"),
    (lambda: pynn.EarlyStopping(monitor=3), TypeError, "monitor must be the name"),
    (lambda: pynn.EarlyStopping(restore_best_weights=1), TypeError, "restore_best_weights"),
    (lambda: pynn.ModelCheckpoint(3), TypeError, "path must be a file path"),
    (lambda: pynn.ModelCheckpoint("m.safetensors", save_best_only="yes"), TypeError, "save_best_only"),
    (lambda: pynn.LearningRateScheduler(0.1), TypeError, "schedule must be a function"),
    (lambda: pynn.ReduceLROnPlateau(factor=1.0), ValueError, "factor must be < 1.0"),
])
def test_bad_callback_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---------------------------------------------------------------------------- ModelCheckpoint
@pytest.fixture
def needs_save():
    if not callable(getattr(pynn.Sequential, "save", None)):
        pytest.skip("Sequential.save (pynn.io) is not available in this tree")


def test_checkpoint_every_epoch_with_a_path_template(digits, tmp_path, needs_save):
    X, y = digits
    model = net()
    ckpt = pynn.ModelCheckpoint(str(tmp_path / "m-{epoch:02d}-{loss:.3f}.safetensors"))
    hist = model.fit(X, y, epochs=3, verbose=0, callbacks=[ckpt])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"m-{e + 1:02d}-{hist.history['loss'][e]:.3f}.safetensors" for e in range(3)]
    last = pynn.load(tmp_path / names[-1])
    np.testing.assert_array_equal(last.predict_proba(X), model.predict_proba(X))


def test_checkpoint_save_best_only_keeps_the_best_epoch(digits, tmp_path, needs_save):
    X, y = digits
    model = net()
    path = tmp_path / "best.safetensors"
    saved = {}

    class Record(pynn.Callback):  # runs after the checkpoint: what the model was at each epoch end
        def on_epoch_end(self, epoch, logs=None):
            saved[epoch] = self.model.predict_proba(X)

    ckpt = pynn.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    hist = model.fit(X, y, epochs=6, verbose=0, validation_split=0.25, optimizer=pynn.Adam(lr=0.05),
                     callbacks=[ckpt, Record()])
    best = int(np.argmin(hist.history["val_loss"]))
    assert ckpt.best == hist.history["val_loss"][best] and len(ckpt.saved) >= 1
    np.testing.assert_array_equal(pynn.load(path).predict_proba(X), saved[best])


def test_checkpoint_errors(digits, tmp_path, needs_save):
    X, y = digits
    with pytest.raises(ValueError, match="format field that cannot be filled"):
        net().fit(X, y, epochs=1, verbose=0, callbacks=[pynn.ModelCheckpoint(str(tmp_path / "{val_loss}.st"))])
    with pytest.raises(ValueError, match="monitors 'val_loss'"):
        net().fit(X, y, epochs=1, verbose=0, callbacks=[pynn.ModelCheckpoint(tmp_path / "m", save_best_only=True)])


# ---------------------------------------------------------------------------- TerminateOnNaN
def test_terminate_on_nan_stops_on_a_non_finite_log():
    cb = pynn.TerminateOnNaN()
    with pytest.warns(RuntimeWarning, match="epoch 2: val_loss is not finite"):
        assert drive(cb, net(), [1.0, float("nan"), 0.5]) == 2
    assert cb.stopped_epoch == 1


# ---------------------------------------------------------------------------- learning rates
def test_scheduler_equals_setting_the_rate_by_hand(digits):
    X, y = digits
    schedule = lambda epoch, lr: 0.1 / (epoch + 1)  # noqa: E731
    a, b = net(), net()
    sched = pynn.LearningRateScheduler(schedule)
    a.fit(X, y, epochs=3, verbose=0, optimizer=pynn.SGD(lr=0.1, momentum=0.9), callbacks=[sched])
    opt = pynn.SGD(lr=0.1, momentum=0.9)
    for epoch in range(3):  # the same optimizer object: its momentum carries over
        opt.lr = schedule(epoch, opt.lr)
        b.fit(X, y, epochs=1, verbose=0, optimizer=opt)
    assert sched.lrs == [0.1, 0.05, 0.1 / 3] and a.optimizer.lr == 0.1 / 3
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("value, error", [(0.0, ValueError), (float("nan"), ValueError), ("0.1", TypeError),
                                          (None, TypeError)])
def test_scheduler_must_return_a_positive_rate(digits, value, error):
    X, y = digits
    with pytest.raises(error, match="schedule must return"):
        net().fit(X, y, epochs=2, verbose=0, callbacks=[pynn.LearningRateScheduler(lambda e, lr: value)])


def test_reduce_lr_on_plateau():
    model = net()
    model.optimizer = pynn.SGD(lr=1.0)
    cb = pynn.ReduceLROnPlateau(factor=0.5, patience=2, min_delta=0.0, cooldown=1, min_lr=0.2)
    lrs = []
    cb.set_model(model)
    cb.set_params({"metrics": ["val_loss"]})
    cb.on_train_begin()
    for epoch, value in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        cb.on_epoch_end(epoch, {"val_loss": value})
        lrs.append(model.optimizer.lr)
    # misses at epochs 1, 2 -> halve; one cooldown epoch (3); misses at 4, 5 -> halve; then the floor
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2]


def test_reduce_lr_on_plateau_in_fit(digits):
    X, y = digits
    model = net()
    cb = pynn.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=100.0)
    model.fit(X, y, epochs=3, verbose=0, optimizer=pynn.Adam(lr=0.01), callbacks=[cb])
    assert model.optimizer.lr == pytest.approx(0.01 * 0.5 ** 2)  # epochs 2 and 3 miss by 100


# ---------------------------------------------------------------------------- the base class
def test_custom_callback_sees_every_hook_in_order(digits):
    X, y = digits
    calls = []

    class Spy(pynn.Callback):
        def on_train_begin(self, logs=None):
            calls.append(("train_begin", sorted(self.params)))

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(("epoch_begin", epoch))

        def on_epoch_end(self, epoch, logs=None):
            calls.append(("epoch_end", epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            calls.append(("train_end",))

    model = net()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X, y, epochs=5, verbose=0, validation_split=0.2, callbacks=[Spy()])
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert calls == [("train_begin", ["batch_size", "epochs", "metrics", "samples"]),
                     ("epoch_begin", 0), ("epoch_end", 0, keys), ("epoch_begin", 1), ("epoch_end", 1, keys),
                     ("train_end",)]
    with pytest.raises(TypeError, match="callbacks must be pynn.Callback instances"):
        model.fit(X, y, verbose=0, callbacks=[lambda: None])
