"""Training callbacks and the History that `fit` returns (Keras-style hooks).

`fit` calls, in order: on_train_begin, then per epoch on_epoch_begin(epoch) and
on_epoch_end(epoch, logs), then on_train_end. `logs` holds the epoch's "loss" (and
"accuracy" for the classification losses) and, with validation data, "val_loss" /
"val_accuracy". The batch loop of an epoch runs in the C++ core, so there are no
per-batch hooks. Before training, `callback.params` holds {"epochs", "batch_size",
"samples", "metrics"} (metrics: the keys the logs will have).

May import: pynn._checks; the model is read through its public accessors."""
from __future__ import annotations

import math
import os
import warnings

import numpy as np

from .. import _checks

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "TerminateOnNaN",
           "LearningRateScheduler", "ReduceLROnPlateau"]


class Callback:
    """Base class: override any hook. `self.model` is set before training starts;
    set `self.model.stop_training = True` to stop after the current epoch."""

    model = None
    params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None): ...
    def on_train_end(self, logs=None): ...
    def on_epoch_begin(self, epoch, logs=None): ...
    def on_epoch_end(self, epoch, logs=None): ...


class History(Callback):
    """What `fit` returns: `history.history["loss"]`, `["val_loss"]`, `["accuracy"]`, ...
    one value per epoch, and `history.epoch`, the epoch numbers."""

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("model", None)  # the model pickles its history, not the other way round
        return state

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


# ---------------------------------------------------------------------- monitoring helpers
def _check_mode(mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return mode


class _Monitor(Callback):
    """Shared logic of the callbacks that watch one logged quantity.

    mode 'auto' maximizes quantities whose name contains "acc" and minimizes the rest.
    An epoch improves on the best so far when value < best - min_delta ('min') or
    value > best + min_delta ('max')."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0):
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of a logged quantity (e.g. 'val_loss'), got {_checks.describe(monitor)}")
        self.monitor = monitor
        self.mode = _check_mode(mode)
        self.min_delta = abs(_checks.real(min_delta, "min_delta"))
        self.best = None

    @property
    def _maximize(self) -> bool:
        return self.mode == "max" or (self.mode == "auto" and "acc" in self.monitor)

    def _check_monitor_known(self) -> None:
        metrics = self.params.get("metrics") if isinstance(self.params, dict) else None
        if metrics is not None and self.monitor not in metrics:
            hint = " (pass validation_data or validation_split to fit)" if self.monitor.startswith("val_") else ""
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, but fit logs only "
                             f"{', '.join(metrics)}{hint}")

    def _current(self, logs) -> float:
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, but the epoch logs have only "
                             f"{', '.join(logs) or 'nothing'}")
        return float(logs[self.monitor])

    def _improves(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self._maximize:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta


class EarlyStopping(_Monitor):
    """Stop training when `monitor` has not improved for `patience` epochs.

    An epoch improves when monitor < best - min_delta (or > best + min_delta for
    mode 'max'; mode 'auto' maximizes names containing "acc"). After `patience`
    epochs in a row without improvement (patience=0: the first one), fit stops.
    baseline: the value to beat before anything counts as an improvement.
    restore_best_weights: at the end of training the model gets back the parameters
    of its best epoch (only the parameters: the optimizer state keeps going).
    `stopped_epoch` (0-based, None if never stopped) and `best_epoch` tell what happened."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta)
        self.patience = _checks.positive_int(patience, "patience", minimum=0)
        self.baseline = None if baseline is None else _checks.real(baseline, "baseline")
        if not isinstance(restore_best_weights, bool):
            raise TypeError(f"restore_best_weights must be True or False, got {_checks.describe(restore_best_weights)}")
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = _checks.positive_int(start_from_epoch, "start_from_epoch", minimum=0)

    def on_train_begin(self, logs=None):
        self._check_monitor_known()
        self.best = self.baseline
        self.wait = 0
        self.best_epoch = None
        self.stopped_epoch = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        value = self._current(logs)
        if epoch < self.start_from_epoch:
            return
        if self._improves(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = _flat_params(self.model).copy()
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1):  # Keras's count: patience=0 and 1 both stop at the first miss
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            _flat_params(self.model)[...] = self.best_weights


def _flat_params(model) -> np.ndarray:
    return model.state().params


class ModelCheckpoint(_Monitor):
    """Save the model with `model.save(path)` at the end of epochs.

    path may hold format fields filled per epoch: {epoch} (1-based) and any logged
    quantity, e.g. "ckpt-{epoch:03d}-{val_loss:.3f}.safetensors". save_best_only: save
    only when `monitor` improves (mode as EarlyStopping), so `path` always holds the
    best model so far. Saves are atomic (model.save writes a temporary file and renames
    it), so an interrupted run never leaves a half-written checkpoint."""

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = False, mode: str = "auto",
                 min_delta: float = 0.0, include_optimizer: bool = True):
        super().__init__(monitor, mode, min_delta)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a file path, got {_checks.describe(path)}")
        for name, value in (("save_best_only", save_best_only), ("include_optimizer", include_optimizer)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False, got {_checks.describe(value)}")
        self.path = os.fspath(path)
        self.save_best_only = save_best_only
        self.include_optimizer = include_optimizer
        self.saved: list[str] = []

    def on_train_begin(self, logs=None):
        if not callable(getattr(self.model, "save", None)):
            raise TypeError(f"ModelCheckpoint needs a model with a save(path) method, got {type(self.model).__name__}")
        if self.save_best_only:
            self._check_monitor_known()
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only and not self._improves(self._current(logs)):
            return
        if self.save_best_only:
            self.best = float(logs[self.monitor])
        try:
            path = self.path.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"ModelCheckpoint path {self.path!r} has a format field that cannot be filled "
                             f"({exc!r}); available: epoch, {', '.join(logs)}") from None
        if self.include_optimizer:
            self.model.save(path)
        else:
            self.model.save(path, include_optimizer=False)
        self.saved.append(path)


class TerminateOnNaN(Callback):
    """Stop training cleanly when the loss stops being finite.

    The core checks every batch: a non-finite loss or gradient raises
    pynn.DivergenceError and the epoch is undone, so the model keeps the parameters
    of the end of the last good epoch. With a TerminateOnNaN among the callbacks (fit
    adds one unless terminate_on_nan=False), fit catches that error, warns with a
    RuntimeWarning, stops, calls the on_train_end hooks and returns the History of
    the good epochs; without it, fit raises the DivergenceError. A non-finite value
    in the epoch logs (e.g. val_loss) also stops training after that epoch.

    After training, `stopped_epoch` is the 0-based epoch that diverged (None if none)
    and `error` the DivergenceError caught."""

    def __init__(self):
        self.stopped_epoch = None
        self.error = None

    def on_train_begin(self, logs=None):
        self.stopped_epoch = None
        self.error = None

    def on_epoch_end(self, epoch, logs=None):
        bad = [k for k, v in (logs or {}).items() if not math.isfinite(float(v))]
        if bad:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            warnings.warn(f"epoch {epoch + 1}: {', '.join(bad)} is not finite; training stopped",
                          RuntimeWarning, stacklevel=2)

    def on_divergence(self, epoch, error) -> None:
        """Called by fit when epoch `epoch` raised DivergenceError (already undone)."""
        self.stopped_epoch = epoch
        self.error = error
        self.model.stop_training = True
        warnings.warn(f"training diverged in epoch {epoch + 1} ({error}); stopped with the parameters of the "
                      f"end of the previous epoch. Lower the learning rate or scale the data.",
                      RuntimeWarning, stacklevel=3)


def _check_lr(value, where: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where} must return a learning rate (a positive number), got {_checks.describe(value)}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{where} must return a positive finite learning rate, got {value}")
    return value


class LearningRateScheduler(Callback):
    """Set the optimizer's learning rate before each epoch: lr = schedule(epoch, lr),
    epoch 0-based and counted within this fit, lr the current rate. E.g. step decay:
    LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch and epoch % 10 == 0 else lr).
    The rate of each epoch is in `self.lrs`."""

    def __init__(self, schedule):
        if not callable(schedule):
            raise TypeError(f"schedule must be a function (epoch, lr) -> lr, got {_checks.describe(schedule)}")
        self.schedule = schedule
        self.lrs: list[float] = []

    def on_train_begin(self, logs=None):
        self.lrs = []

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        opt.lr = _check_lr(self.schedule(epoch, opt.lr), "the LearningRateScheduler schedule")
        self.lrs.append(opt.lr)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by `factor` when `monitor` has not improved for
    `patience` epochs in a row (0 acts as 1); the `cooldown` epochs after a reduction do
    not count as misses. The rate never goes below `min_lr`."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, mode: str = "auto",
                 min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0):
        super().__init__(monitor, mode, min_delta)
        self.factor = _checks.real(factor, "factor", low=0.0, high=1.0, low_open=True, high_open=True)
        self.patience = _checks.positive_int(patience, "patience", minimum=0)
        self.cooldown = _checks.positive_int(cooldown, "cooldown", minimum=0)
        self.min_lr = _checks.real(min_lr, "min_lr", low=0.0)

    def on_train_begin(self, logs=None):
        self._check_monitor_known()
        self.best, self.wait, self.cooldown_left = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        value = self._current(logs)
        if self._improves(value):
            self.best, self.wait = value, 0
        elif self.cooldown_left > 0:  # an epoch of cooldown: misses do not count
            self.wait = 0
        else:
            self.wait += 1
            if self.wait >= max(self.patience, 1):
                opt = self.model.optimizer
                opt.lr = max(opt.lr * self.factor, self.min_lr, 1e-300)
                self.cooldown_left, self.wait = self.cooldown + 1, 0  # this epoch's decrement below
        self.cooldown_left = max(self.cooldown_left - 1, 0)
