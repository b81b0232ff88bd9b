"""Rows of X for fit, predict and evaluate without a copy of X.

The core reads rows in place from any C-contiguous, aligned array of the model's dtype,
including a read-only np.memmap: training gathers each batch by index, inference runs in
chunks of rows. A memory-mapped X in another dtype or layout (a float64 file under a
float32 model, uint8 images, a Fortran-ordered file) is converted block by block, every
epoch, so the extra memory is one block (BLOCK_BYTES) whatever the size of the file. An
X already in memory is converted once, whole, as _checks.features does: re-converting it
every epoch would cost time to save memory its owner has already spent.

May import: pynn._checks."""
from __future__ import annotations

import mmap

import numpy as np

from .. import _checks

__all__ = ["BLOCK_BYTES", "PREDICT_ROWS", "check_finite_rows", "feature_rows", "gather_rows", "in_place", "is_mapped",
           "nonfinite_rows_error", "predict_rows", "train_rows"]

# The most a block of converted or gathered rows takes.
BLOCK_BYTES = 8 << 20
# The core's inference works through kPredictChunk = 4096 rows at a time from the first
# row of each call (csrc/network/network.cpp); blocks of a multiple of it cut X where the core
# would, so predicting block by block gives the bits of one call on all of X.
PREDICT_ROWS = 4096


def in_place(X: np.ndarray, dtype: str) -> bool:
    """True when the core can read X's rows where they are."""
    return X.dtype == dtype and X.flags.c_contiguous and X.flags.aligned


def is_mapped(X: np.ndarray) -> bool:
    """True when X's memory is a memory map (np.memmap, np.load(mmap_mode=...)), or a view of one."""
    while X is not None:
        if isinstance(X, (np.memmap, mmap.mmap)):
            return True
        X = getattr(X, "base", None)
    return False


def _block_rows(X: np.ndarray, dtype: str, multiple: int) -> int:
    # A gathered block exists twice for a moment: in X's dtype, then converted.
    row_bytes = max(X.shape[1] * (X.dtype.itemsize + np.dtype(dtype).itemsize), 1)
    return max(multiple, BLOCK_BYTES // row_bytes // multiple * multiple)


def gather_rows(X: np.ndarray, rows, dtype: str) -> np.ndarray:
    """Rows of X (a slice or an index array) as a C-contiguous array of dtype."""
    return _checks.contiguous(X[rows], dtype)


def feature_rows(X, name: str, dtype: str, n_features: int | None = None, check_finite: bool = True) -> np.ndarray:
    """X as a validated (n_samples, n_features) ndarray: a view of X when the core can
    read it in place (a memmap too); a memory-mapped X in another dtype or layout
    unconverted (it is converted block by block where it is read); anything else
    converted to a C-contiguous array of dtype once. Then check_finite_rows, unless
    the caller proves finiteness another way (check_finite=False: fit, see fitting.py)."""
    arr = _checks.feature_matrix(X, name, n_features)
    if not in_place(arr, dtype) and not is_mapped(arr):
        arr = _checks.contiguous(arr, dtype)
    if check_finite:
        check_finite_rows(arr, name, dtype)
    return arr


def check_finite_rows(X: np.ndarray, name: str, dtype: str) -> None:
    """ValueError unless every value of feature_rows' X is finite in dtype."""
    error = nonfinite_rows_error(X, name, dtype)
    if error is not None:
        raise error


def nonfinite_rows_error(X: np.ndarray, name: str, dtype: str) -> ValueError | None:
    """The ValueError naming a non-finite value of feature_rows' X in dtype, None when all
    are finite: in the core in one pass, or block by block after conversion, so a value
    that overflows dtype is caught as in _checks.features."""
    if in_place(X, dtype) and _checks.all_finite(X):
        return None
    bad = _first_bad_block(X, dtype)
    return None if bad is None else _checks.nonfinite_error(name, bad, dtype)


def _first_bad_block(X: np.ndarray, dtype: str) -> np.ndarray | None:
    """The first block of X (in dtype) that is not all finite, None if all are: a block
    at a time, so a memory-mapped X needs no X-sized temporary."""
    step = _block_rows(X, dtype, 1)
    for s in range(0, X.shape[0], step):
        block = gather_rows(X, slice(s, s + step), dtype)
        if not _checks.all_finite(block):
            return block
    return None


def predict_rows(predict, X: np.ndarray, dtype: str, rows: np.ndarray | None = None) -> np.ndarray:
    """predict(X[rows]) (all rows when rows is None) without materializing X[rows] or a
    converted X: `predict` is the core's inference call on a C-contiguous array."""
    if rows is None and in_place(X, dtype):
        return predict(X)
    n = X.shape[0] if rows is None else len(rows)
    step = _block_rows(X, dtype, PREDICT_ROWS)
    out = None
    for s in range(0, n, step):
        block = slice(s, min(s + step, n)) if rows is None else rows[s:s + step]
        part = predict(gather_rows(X, block, dtype))
        if out is None:
            out = np.empty((n, part.shape[1]), dtype=part.dtype)
        out[s:s + len(part)] = part
    return out


def train_rows(train_epoch, dtype: str, X: np.ndarray, targets: tuple, perm: np.ndarray, batch_size: int) -> tuple:
    """(loss_sum, rows, correct) of training on the rows perm lists (indices into X and
    targets), in that order. train_epoch(X, targets, perm) is the core's epoch over a
    C-contiguous X of dtype. X readable in place goes to it whole with perm; otherwise
    perm is cut into blocks of whole batches, each gathered and converted, so the batches
    and the updates are those of a converted copy of X."""
    if in_place(X, dtype):
        loss_sum, rows, correct = train_epoch(X, targets, perm)
        return loss_sum, rows, correct
    step = _block_rows(X, dtype, batch_size)
    loss_sum, rows, correct = 0.0, 0, 0
    for s in range(0, len(perm), step):
        idx = perm[s:s + step]
        block_targets = tuple(None if a is None else np.ascontiguousarray(a[idx]) for a in targets)
        part = train_epoch(gather_rows(X, idx, dtype), block_targets, np.arange(len(idx), dtype=np.int64))
        loss_sum, rows, correct = loss_sum + part[0], rows + part[1], correct + part[2]
    return loss_sum, rows, correct
