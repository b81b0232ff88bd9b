"""What Sequential.fit keeps from one epoch to the next: the shuffle buffer and the
rollback snapshot, allocated once per fit.

An epoch of a small network on a small data set (the digits: 7 batches) takes well
under a millisecond in the core, so fit's Python work per epoch counts. These buffers
make it a few copies into memory that already exists instead of fresh arrays per epoch;
what is computed does not change (tests/test_epoch_buffers.py checks bit for bit).
"""
from __future__ import annotations

import numpy as np

from . import _core


def optimizer_buffer_ids(optimizer) -> tuple[int, ...]:
    """The core optimizer buffers `optimizer` uses: SGD one (the momentum; the core
    passes it to every SGD step, momentum or not), Adam and AdamW two (m, v).

    Reading a buffer through the binding (`net.optimizer_buffer(i)`) allocates it, so
    the snapshot and the pickled state read only these: an SGD run carries no unused
    second buffer (it did before: the snapshot read both)."""
    if optimizer is None:
        return ()
    return (0,) if optimizer.kind == "sgd" else (0, 1)


class Snapshot:
    """A copy of everything an update changes: the flat parameter buffer, the optimizer
    buffers in use, the optimizer's step count and the dropout counter. take() copies
    into the same arrays every time; restore() writes them back, so a failed step or
    epoch leaves the model as it was."""

    def __init__(self, net, buffer_ids: tuple[int, ...]):
        self.net = net
        self.ids = buffer_ids
        # Views stay valid: the core allocates its buffers once (the parameters at
        # finalize, an optimizer buffer on first use) and never resizes them after.
        self.params = net.param_view(0, [net.n_params])  # the live parameters (a view)
        self._sources = [self.params] + [net.optimizer_buffer(i) for i in buffer_ids]
        self._copies = [np.empty_like(a) for a in self._sources]
        self.step = self.forwards = 0

    def take(self) -> Snapshot:
        for copy, source in zip(self._copies, self._sources):
            np.copyto(copy, source)
        self.step, self.forwards = self.net.opt_step, self.net.train_forwards
        return self

    def restore(self) -> None:
        for copy, source in zip(self._copies, self._sources):
            np.copyto(source, copy)
        self.net.opt_step, self.net.train_forwards = self.step, self.forwards


class Shuffler:
    """Index orders for the epochs of one fit over n rows.

    The order of epoch e (counted over the model's life) is a function of (seed, e) only,
    so a run resumed from a saved model shuffles exactly as an uninterrupted one: a
    Fisher-Yates shuffle over a counter-based splitmix64 stream (csrc/network/epoch_order.h, reproduced
    by pynn.reference.epoch_order). It is computed in the core into one buffer per fit:
    ~3 us for the digits' 1,347 rows, where NumPy's default_rng([seed, 1, e]).permutation
    took ~45 us -- a tenth of an epoch of a small network."""

    def __init__(self, n: int, seed: int, shuffle: bool):
        self.seed, self.shuffle = seed, shuffle
        self._perm = np.empty(n, dtype=np.int64) if shuffle else np.arange(n, dtype=np.int64)

    def order(self, epoch: int) -> np.ndarray:
        """The row order of epoch `epoch` (int64, read-only use: it is reused)."""
        if self.shuffle:
            _core.epoch_order(self._perm, self.seed, epoch)
        return self._perm
