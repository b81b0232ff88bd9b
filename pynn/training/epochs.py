"""What one epoch of Sequential.fit trains on: a sequence of (X, targets, perm), perm
listing the rows of X (and of targets) to train on, in order.

ArrayEpochs: one array, all its rows or a subset (validation_split's training rows,
listed by index instead of copied out). ChunkEpochs: one entry per chunk of a
ChunkSource (pynn/training/chunks.py).

May import: pynn.training."""
from __future__ import annotations

import numpy as np

from .shuffle import Shuffler
from .chunks import ChunkSource, chunk_row_order

__all__ = ["ArrayEpochs", "ChunkEpochs"]


class ArrayEpochs:
    def __init__(self, X: np.ndarray, targets: tuple, rows: np.ndarray | None, seed: int, shuffle: bool):
        self.X, self.targets, self.rows = X, targets, rows
        self.n_rows = X.shape[0] if rows is None else len(rows)
        self._shuffler = Shuffler(self.n_rows, seed, shuffle)
        self._perm = None if rows is None else np.empty(len(rows), dtype=np.int64)

    def __call__(self, epoch: int):
        order = self._shuffler.order(epoch)
        if self.rows is not None:
            order = np.take(self.rows, order, out=self._perm)
        yield self.X, self.targets, order


class ChunkEpochs:
    """prepare(entry, k) turns a raw chunk entry into (X, targets), validated."""

    n_rows = None  # unknown before the chunks are read

    def __init__(self, source: ChunkSource, prepare, seed: int, shuffle: bool):
        self.source, self.prepare, self.seed, self.shuffle = source, prepare, seed, shuffle

    def __call__(self, epoch: int):
        seen = False
        for k, entry in self.source(epoch):
            X, targets = self.prepare(entry, k)
            perm = chunk_row_order(np.empty(X.shape[0], dtype=np.int64), self.seed, epoch, k, self.shuffle)
            seen = True
            yield X, targets, perm
        if not seen:
            raise ValueError("the chunks yielded no data this epoch (an iterator or generator is used up after "
                             "one pass: pass a list of chunks or a function returning a fresh iterator)")
