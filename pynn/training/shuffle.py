"""The row order of each epoch: a function of (seed, epoch) only, so a run resumed from a
saved model shuffles exactly as an uninterrupted one. A Fisher-Yates shuffle over a
counter-based splitmix64 stream, computed in the core (reproduced by
pynn.reference.epoch_order).

May import: pynn._core (epoch_order: this module is its one door outside pynn/nn/)."""
from __future__ import annotations

import numpy as np

from .. import _core

__all__ = ["Shuffler", "epoch_order"]


def epoch_order(out: np.ndarray, seed: int, epoch: int) -> np.ndarray:
    """Write the shuffled order of len(out) rows for `epoch` of `seed` into out (int64)."""
    _core.epoch_order(out, seed, epoch)
    return out


class Shuffler:
    """Index orders for the epochs of one fit over n rows.

    Epochs are counted over the model's life. The order is computed into one buffer
    per fit: ~3 us for the digits' 1,347 rows, where NumPy's default_rng([seed, 1, e]).permutation
    took ~45 us -- a tenth of an epoch of a small network."""

    def __init__(self, n: int, seed: int, shuffle: bool):
        self.seed, self.shuffle = seed, shuffle
        self._perm = np.empty(n, dtype=np.int64) if shuffle else np.arange(n, dtype=np.int64)

    def order(self, epoch: int) -> np.ndarray:
        """The row order of epoch `epoch` (int64, read-only use: it is reused)."""
        if self.shuffle:
            epoch_order(self._perm, self.seed, epoch)
        return self._perm
