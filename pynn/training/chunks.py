"""Training data given as chunks: `Sequential.fit(chunks)` with chunks of (X, y) pairs.

An epoch is one pass over the chunks. Which chunks an epoch visits, and in what order:

* a list or tuple of chunks is visited in a seeded order per epoch (in the given order
  with shuffle=False), every epoch;
* a function (no arguments) is called at the start of every epoch and its iterable is
  visited in the order it yields: a generator function re-reads a file, a database, ...;
* any other iterable (a generator, say over a file reader) can be iterated only once, so
  it serves one epoch only.

Within a chunk, shuffle=True shuffles the rows: the k-th chunk of epoch e (counted in the
order visited) in the order csrc/network/epoch_order.h draws from (seed_k, e), where seed_0 is the
model's seed, so one chunk shuffles exactly as the same rows given as arrays.

May import: pynn._checks, pynn.training.shuffle."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .. import _checks
from .shuffle import epoch_order

__all__ = ["ChunkSource", "chunk_row_order"]


def _one_shot(chunks) -> bool:
    return not callable(chunks) and not isinstance(chunks, (list, tuple))


class ChunkSource:
    """The chunks of one fit: chunks(epoch) yields the raw entries of an epoch, each
    checked to be (X_chunk, y_chunk) or (X_chunk, y_chunk, sample_weight_chunk)."""

    def __init__(self, chunks, epochs: int, shuffle: bool, seed: int):
        if isinstance(chunks, (str, bytes, np.ndarray)) or not (callable(chunks) or isinstance(chunks, Iterable)):
            raise TypeError(f"X must be an array (with y), or with y=None a list of (X_chunk, y_chunk) pairs, a function "
                            f"returning an iterator of them, or an iterator of them; got {_checks.describe(chunks)}")
        if _one_shot(chunks) and epochs > 1:
            raise ValueError(f"epochs={epochs} needs chunks that can be read once per epoch: pass a list of "
                             f"(X_chunk, y_chunk) pairs or a function returning a fresh iterator of them; "
                             f"got {type(chunks).__name__}, which can be iterated only once")
        if isinstance(chunks, (list, tuple)) and not chunks:
            raise ValueError("X (the chunks) must not be empty")
        self.chunks, self.shuffle, self.seed = chunks, shuffle, seed

    def __call__(self, epoch: int):
        for k, entry in enumerate(self._iterable(epoch)):
            if not isinstance(entry, (tuple, list)) or len(entry) not in (2, 3):
                raise TypeError(f"chunk {k} must be a pair (X_chunk, y_chunk) or a triple (X_chunk, y_chunk, "
                                f"sample_weight_chunk), got {_checks.describe(entry)}")
            yield k, entry

    def _iterable(self, epoch: int):
        chunks = self.chunks
        if isinstance(chunks, (list, tuple)):
            if not self.shuffle:
                return chunks
            order = np.random.default_rng([self.seed, 5, epoch]).permutation(len(chunks))
            return [chunks[i] for i in order]
        if callable(chunks):
            fresh = chunks()
            if isinstance(fresh, (str, bytes, np.ndarray)) or not isinstance(fresh, Iterable):
                raise TypeError(f"the chunks function must return an iterable of (X_chunk, y_chunk) pairs, "
                                f"got {_checks.describe(fresh)}")
            return fresh
        return chunks


def chunk_row_order(out: np.ndarray, seed: int, epoch: int, k: int, shuffle: bool) -> np.ndarray:
    """The row order of the k-th chunk of an epoch, written into out (its length: the rows)."""
    if not shuffle:
        out[...] = np.arange(len(out))
        return out
    seed_k = seed if k == 0 else int(np.random.SeedSequence([seed, 6, k]).generate_state(1, np.uint64)[0] >> np.uint64(1))
    return epoch_order(out, seed_k, epoch)
