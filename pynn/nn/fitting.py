"""Sequential.fit's work: its arguments checked, the epochs run around the core's batch
loop (each epoch undone if it diverges), validation, callbacks and History. The batch
loop of an epoch is one core call; here is only what happens between them.

May import: pynn.nn, pynn.training, pynn.datasets, pynn._checks."""
from __future__ import annotations

import numpy as np

from .. import _checks
from .._core import DivergenceError
from ..datasets import train_test_split_indices
from ..training.callbacks import Callback, History, TerminateOnNaN
from ..training.chunks import ChunkSource
from ..training.epochs import ArrayEpochs, ChunkEpochs
from ..training.progress import ProgressLogger
from ..training.rows import (check_finite_rows, feature_rows, gather_rows, in_place, is_mapped,
                             nonfinite_rows_error, train_rows)
from .layers import Dense
from .state import Snapshot

__all__ = ["fit"]


def fit(model, X, y, epochs, batch_size, optimizer, shuffle, validation_data, verbose, sample_weight,
        callbacks, validation_split, terminate_on_nan) -> History:
    """Sequential.fit without comm (see its docstring): check the arguments, then run
    the epochs, the callbacks and the validation around the core's batch loop."""
    run = model._data_parallel
    unchecked = None  # X, while the first epoch is what proves it finite (_first_epoch_proves_finite)
    epochs = _checks.positive_int(epochs, "epochs")
    validation_split = _checks.real(validation_split, "validation_split", low=0.0, high=1.0, high_open=True)
    if y is None:
        if run is not None:
            raise ValueError("fit(comm=...) needs X and y as arrays (each process's own rows), not chunks")
        if validation_split > 0:
            raise ValueError("validation_split needs X and y as arrays; with chunks, hold out a chunk and pass "
                             "it as validation_data=(X_val, y_val)")
        if sample_weight is not None:
            raise ValueError("with chunks, sample weights go into the chunks: (X_chunk, y_chunk, sample_weight_chunk)")
        data = ChunkEpochs(ChunkSource(X, epochs, bool(shuffle), model.seed), lambda entry, k: _chunk(model, entry, k), model.seed, bool(shuffle))
    else:
        X = feature_rows(X, "X", model.dtype, model.n_inputs, check_finite=False)  # checked below
        if _first_epoch_proves_finite(model, X, run, callbacks, optimizer):
            unchecked = X
        if run is not None and not in_place(X, model.dtype):
            # One core epoch call per epoch: every process must take the same steps.
            X = np.ascontiguousarray(X, dtype=model.dtype)
        targets = model._targets(y, X.shape[0], sample_weight)
    batch_size = _checks.positive_int(batch_size, "batch_size")
    for name, flag in (("shuffle", shuffle), ("terminate_on_nan", terminate_on_nan)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be True or False, got {_checks.describe(flag)}")
    verbose = _checks.positive_int(verbose, "verbose", minimum=0, maximum=2)
    validation = None
    if validation_data is not None:
        if validation_split > 0:
            raise ValueError("pass validation_data or validation_split, not both")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a tuple (X_val, y_val) or (X_val, y_val, sample_weight_val)")
        Xv = feature_rows(validation_data[0], "validation_data X", model.dtype, model.n_inputs)
        vw = validation_data[2] if len(validation_data) == 3 else None
        validation = (Xv, model._targets(validation_data[1], Xv.shape[0], vw, "validation_data y"))
    if y is not None:
        train_rows_ = None
        if validation_split > 0:
            train_rows_, validation = _split_validation(model, X, targets, validation_split)
        data = ArrayEpochs(X, targets, train_rows_, model.seed, bool(shuffle))
    callbacks = list(callbacks or [])
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be pynn.Callback instances, got {_checks.describe(cb)}")
    if terminate_on_nan and not any(isinstance(cb, TerminateOnNaN) for cb in callbacks):
        callbacks.append(TerminateOnNaN())
    if y is not None:
        # X's values last among the arguments, whether the pass or the first epoch checks them.
        if unchecked is None:
            check_finite_rows(X, "X", model.dtype)
        elif validation_split > 0 and not _checks.all_finite(validation[0]):  # rows no epoch visits
            check_finite_rows(X, "X", model.dtype)  # the error the whole pass gives
    before = (model.optimizer, model.state().optimizer_kind, model.stop_training)
    config = model._bind_optimizer(optimizer)

    history = History()
    metrics = ["loss"] + (["accuracy"] if model.is_classifier else [])
    metrics += [f"val_{m}" for m in metrics] if validation is not None else []
    history.params = {"epochs": epochs, "batch_size": batch_size, "samples": data.n_rows, "metrics": metrics}
    if run is not None:  # every process's arguments are good; rank 0's parameters everywhere
        run.begin(model, history.params, validation, shuffle)
    progress = ProgressLogger(verbose) if verbose else None
    callbacks = [history] + ([progress] if progress else []) + callbacks
    for cb in callbacks:
        cb.set_model(model)
        cb.set_params(history.params)
    model.stop_training = False
    snapshot = Snapshot(model.state())  # allocated once for all epochs
    try:
        for cb in callbacks:
            cb.on_train_begin()
        for epoch in range(epochs):
            for cb in callbacks:
                cb.on_epoch_begin(epoch)
            config.lr = model.optimizer.lr  # a callback may have changed it
            try:
                logs = _run_epoch(model, data, batch_size, config, snapshot,
                                       reducer=run.reducer if run is not None else None)
            except DivergenceError as exc:  # the epoch is undone; a TerminateOnNaN turns it into a stop
                error = None if unchecked is None else nonfinite_rows_error(unchecked, "X", model.dtype)
                if error is not None:  # X's fault, not the training's: as if checked before anything ran
                    _undo_binding(model, *before)
                    raise error from None
                guard = next((cb for cb in callbacks if isinstance(cb, TerminateOnNaN)), None)
                if guard is None:
                    raise
                guard.on_divergence(epoch, exc)
                history.params["diverged_epoch"] = epoch
                break
            unchecked = None  # an epoch finished: every row of X was finite
            if validation is not None:
                val = model._evaluate(*validation) if run is None else run.evaluate(model, *validation)
                logs.update({f"val_{k}": v for k, v in val.items()})
            for cb in callbacks:
                cb.on_epoch_end(epoch, logs)
            if run is not None:  # a callback on one process stops them all
                model.stop_training = run.end_epoch(model.stop_training)
            if model.stop_training:
                break
        for cb in callbacks:
            cb.on_train_end()
    finally:
        if progress is not None:
            progress.close()
    model.history = history
    return history


def _first_epoch_proves_finite(model, X: np.ndarray, run, callbacks, optimizer) -> bool:
    """True when fit may skip its pass over X that proves every value finite (one read
    of all of X: 4-6 ms of a 188 MB X, 2-3% of a one-epoch fit of the benchmark) and let
    the first epoch prove it instead.

    A NaN or inf in a row the epoch visits reaches the first Dense layer's weight
    gradient, dW = dZ^T X, as NaN or inf whatever the network does after that layer:
    0 * inf and 0 * NaN are NaN, so a row of weight 0, a dead unit or a saturated one
    still carries it (no dW kernel skips zero rows; the bf16 conversions keep NaN). The
    core then raises DivergenceError before that batch's update, the epoch is undone,
    and fit runs the pass, which names X's value as before and undoes the rest
    (_undo_binding). So the outcome is the old one when nothing outside the model saw
    the epoch run and the epochs visit all of X:
    - arrays in one process (chunks are checked as they are read; with comm= each
      process's verdict must come before any collective step);
    - no callbacks of the user's (a progress bar over epochs only shows one starting);
    - a built-in loss, computed in the core (a loss function could mask a NaN);
    - X in memory (converted once if it had to be): a memory map's held-out rows are
      read where they are every epoch, and held-out rows of an X in memory are checked
      as a copy before training;
    - an optimizer binding fit can undo: the model has none yet, or keeps its own.
    What differs: a bad value is reported once the epoch reaches it (up to an epoch
    later than the pass would), and a progress bar (verbose=1) may have started.
    tests/training/test_finite_proof.py checks the claim on every kernel path."""
    # Sequential requires a first Dense layer today; checked so a new first layer cannot
    # void the claim (an activation or dropout before it could map inf to a finite value).
    return (run is None and not callbacks and isinstance(model.loss, str)
            and isinstance(model.layers[0], Dense) and in_place(X, model.dtype) and not is_mapped(X)
            and (model.optimizer is None or optimizer is None or optimizer is model.optimizer))


def _undo_binding(model, optimizer, optimizer_kind: str, stop_training: bool) -> None:
    """What fit changed besides the snapshot's buffers and counters (which the failed
    epoch has restored): the optimizer it bound and the core's record of its kind."""
    if model.optimizer is not optimizer:  # None before (_first_epoch_proves_finite)
        model._net.reset_optimizer_state()
        model.optimizer = optimizer
    model.state().optimizer_kind = optimizer_kind
    model.stop_training = stop_training


def _split_validation(model, X, targets, fraction: float):
    """(training rows, (X_val, targets_val, validation rows)): a shuffled split seeded by
    the model's seed, stratified on class labels (softmax labels, or one 0/1 output).
    Training reads its rows of X by index. The validation rows are copied out of X once
    (rows None), except from a memory map, whose rows are read by index every epoch so
    that they need not be held in memory."""
    labels, dense, weights = targets
    strata = labels
    if strata is None and model.loss == "binary_cross_entropy" and dense.shape[1] == 1:
        strata = dense[:, 0]
    train, val = train_test_split_indices(X.shape[0], fraction, seed=[model.seed, 2], stratify=strata)
    if len(train) == 0 or len(val) == 0:
        raise ValueError(f"validation_split={fraction} of {X.shape[0]} samples leaves "
                         f"{len(train)} for training and {len(val)} for validation; both need at least one")

    def part(idx):
        return tuple(None if a is None else np.ascontiguousarray(a[idx]) for a in targets)

    if is_mapped(X):
        return train, (X, part(val), val)
    return train, (gather_rows(X, val, model.dtype), part(val), None)


def _chunk(model, entry, k: int) -> tuple:
    """(X, targets) of the k-th chunk of an epoch, validated as fit's arrays are."""
    X = feature_rows(entry[0], f"chunk {k} X", model.dtype, model.n_inputs)
    weights = entry[2] if len(entry) == 3 else None
    return X, model._targets(entry[1], X.shape[0], weights, f"chunk {k} y")


def _run_epoch(model, data, batch_size, config, snapshot: Snapshot, reducer=None) -> dict:
    # The shuffle of epoch e depends only on (seed, e): a run resumed from a saved
    # model shuffles exactly as an uninterrupted one.
    snapshot.take()
    loss_sum, rows, correct = 0.0, 0, 0
    try:
        for X, targets, perm in data(model.epochs_done):
            if isinstance(model.loss, str):
                part = train_rows(lambda *data: model._net.train_epoch(*data, batch_size, config, reducer=reducer),
                                  model.dtype, X, targets, perm, batch_size)
            else:
                part = _custom_epoch(model, X, targets, perm, batch_size, config)
            loss_sum, rows, correct = loss_sum + part[0], rows + part[1], correct + part[2]
        model._check_finite_params(snapshot.params)
    except Exception:
        # A DivergenceError, or a custom loss that fails on a later batch: either way
        # the model keeps the parameters it had before the epoch (the last finite ones).
        snapshot.restore()
        raise
    model.epochs_done += 1
    logs = {"loss": loss_sum / rows}
    denominator = model._accuracy_denominator(rows)
    if denominator is not None:
        logs["accuracy"] = correct / denominator
    return logs


def _custom_epoch(model, X, targets, perm, batch_size, config):
    loss_sum = 0.0
    for start in range(0, len(perm), batch_size):
        idx = perm[start:start + batch_size]
        loss_sum += model._custom_loss_gradients(gather_rows(X, idx, model.dtype), targets[1][idx]) * len(idx)
        model._net.apply_update(config)
    return loss_sum, len(perm), 0
