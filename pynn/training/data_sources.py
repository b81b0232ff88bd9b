"""Data for the command line: the bundled data sets, CSV files with a label column, and
.npy / .npz arrays. Every problem raises DataError naming the file (and column or key),
which the CLI prints as one line.

Loading never executes anything from a file: NumPy files are read with
allow_pickle=False, CSV cells are parsed as numbers (or kept as label strings).

Data larger than memory: .npy features are memory-mapped (np.load(mmap_mode="r"): the
rows stay in the file until read), and CsvChunks reads a CSV a block of rows at a time,
once per epoch, for Sequential.fit's chunks.

May import: pynn._checks, pynn._files, pynn.datasets."""
from __future__ import annotations

import csv
import io
import os
import sys

import numpy as np

from .. import _checks, datasets
from .._files import atomic_write

__all__ = ["DataError", "BUNDLED", "load_bundled", "csv_columns", "read_csv", "CsvChunks", "read_npy", "read_npz",
           "read_features", "write_table"]

BUNDLED = ("digits", "mnist_like")


class DataError(ValueError):
    """A data file is missing, unreadable or not what was asked for. `argument`: the
    argument of the reading function that is at fault ("label", "x_key", "y_key"), or
    None when it is the file itself."""

    def __init__(self, message: str, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


def load_bundled(name: str, n_samples: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    if name == "digits":
        return datasets.load_digits()
    if name == "mnist_like":
        X, y = datasets.make_mnist_like(n=n_samples or 10000, seed=seed)
        return X, y
    raise DataError(f"unknown bundled data set {name!r}; expected one of {', '.join(BUNDLED)}")


def _exists(path: str) -> None:
    if not os.path.exists(path):
        raise DataError(f"file {path!r} not found")
    if os.path.isdir(path):
        raise DataError(f"{path!r} is a directory, expected a file")


def _column_index(label, header: list[str] | None, n_cols: int, path: str) -> int:
    """The index of the label column named by `label` (a header name or an int, negative
    counting from the end)."""
    if isinstance(label, str):
        if header is None:
            raise DataError(f"{path}: the label column is named {label!r} but the file has no header row; "
                            f"give the column index instead", "label")
        if label not in header:
            raise DataError(f"{path}: label column {label!r} not found (columns: {', '.join(header[:20])}"
                            f"{', ...' if len(header) > 20 else ''})", "label")
        return header.index(label)
    if not -n_cols <= label < n_cols:
        raise DataError(f"{path}: label column index {label} out of range for {n_cols} columns", "label")
    return label % n_cols


def _looks_numeric(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
    except ValueError:
        return False
    return True


def csv_columns(path: str, delimiter: str = ","):
    """(header names or None when the first row is all numbers, number of columns)."""
    _exists(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = next((r for r in csv.reader(f, delimiter=delimiter) if r and any(c.strip() for c in r)), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV: {exc}") from None
    if first is None:
        raise DataError(f"{path}: the file is empty")
    return (None if _looks_numeric(first) else [c.strip() for c in first]), len(first)


def read_csv(path: str, label=None, delimiter: str = ",", header="auto"):
    """(X float64 (n, d), labels (n,) or None, feature names).

    label: the label column (name or index) or None for features only. header: True,
    False, or "auto" (a first row that is not all numbers is a header). Labels stay
    strings unless every one is a number. The file as one CsvChunks chunk: one parser
    for whole files and chunked ones."""
    whole = CsvChunks(path, label, delimiter, header, chunk_rows=sys.maxsize)
    return whole.X, whole.labels, whole.names


class CsvChunks:
    """A CSV read a block of `chunk_rows` rows at a time. The constructor reads the file
    once, keeping the labels (the classes must be known before training) and checking
    every row's width; each call then yields (X_chunk float64, labels_chunk or None), so
    the chunks of a file concatenate to read_csv's arrays. A file of at most chunk_rows
    rows is parsed by the constructor, once, into X (None for a larger file, which each
    call re-reads). Problems raise DataError naming the file, column and row."""

    def __init__(self, path: str, label=None, delimiter: str = ",", header="auto", chunk_rows: int = 100_000):
        self.path, self.delimiter, self.chunk_rows = path, delimiter, chunk_rows
        names, n_cols = csv_columns(path, delimiter)
        self.has_header = names is not None if header == "auto" else bool(header)
        rows = self._rows()
        first = next(rows)
        if self.has_header:
            names = [c.strip() for c in first]
        else:
            rows = _chain_one(first, rows)
        all_names = names or [str(i) for i in range(n_cols)]
        self.col = None if label is None else _column_index(label, names if self.has_header else None, n_cols, path)
        self.feature_cols = [j for j in range(n_cols) if j != self.col]
        if not self.feature_cols:
            raise DataError(f"{path}: no feature columns besides the label")
        self.names = [all_names[j] for j in self.feature_cols]
        self._all_names, self.n_cols = all_names, n_cols
        # The labels are kept a block at a time as NumPy strings: a few bytes per row, where
        # a list of Python strings of every row of a large file would take ~60.
        raw, blocks, n = [], [], 0
        kept = []  # the rows while they fit in one chunk (then parsed once, below)
        for n, row in enumerate(rows, start=1):
            if len(row) != n_cols:
                raise DataError(f"{path}: row {n + self.has_header} has {len(row)} columns, expected {n_cols}")
            if kept is not None:
                kept.append(row)
                if len(kept) > chunk_rows:
                    kept = None
            if self.col is not None:
                raw.append(row[self.col].strip())
                if len(raw) == chunk_rows:
                    blocks.append(np.array(raw))
                    raw = []
        if n == 0:
            raise DataError(f"{path}: no data rows")
        self.n_rows = n
        self.labels = None
        if self.col is not None:
            blocks.append(np.array(raw, dtype=str))
            if all(_looks_numeric(b.tolist()) for b in blocks):  # as read_csv: numbers only if every label is one
                blocks = [np.array([float(v) for v in b.tolist()]) for b in blocks]
            self.labels = np.concatenate(blocks)
        self.X = None if kept is None else self._parse(kept, 0)

    def _rows(self):
        try:
            with open(self.path, newline="", encoding="utf-8-sig") as f:
                for r in csv.reader(f, delimiter=self.delimiter):
                    if r and any(c.strip() for c in r):
                        yield r
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise DataError(f"{self.path}: cannot read as CSV: {exc}") from None

    def __call__(self):
        if self.X is not None:
            yield self.X, self.labels
            return
        rows = self._rows()
        if self.has_header:
            next(rows)
        start = 0
        while start < self.n_rows:
            block = [row for _, row in zip(range(self.chunk_rows), rows)]
            yield self._parse(block, start), (None if self.labels is None else self.labels[start:start + len(block)])
            start += len(block)

    def pairs(self, y: np.ndarray):
        """A function returning a fresh iterator of (X_chunk, y_chunk) per call: the chunks
        with y (one entry per row of the file, e.g. the labels encoded) cut to match."""
        def chunks():
            start = 0
            for X, _ in self():
                yield X, y[start:start + len(X)]
                start += len(X)
        return chunks

    def _parse(self, block: list, start: int) -> np.ndarray:
        X = np.empty((len(block), len(self.feature_cols)), dtype=np.float64)
        for i, row in enumerate(block):
            try:
                X[i] = [float(row[j]) for j in self.feature_cols]
            except ValueError:
                bad = next(j for j in self.feature_cols if not _looks_numeric([row[j]]))
                raise DataError(f"{self.path}: column {self._all_names[bad]!r} is not numeric (row "
                                f"{start + i + 1 + self.has_header}: {row[bad].strip()[:40]!r})") from None
        if not _checks.all_finite(X):
            raise DataError(f"{self.path}: the features contain NaN or inf; clean or impute them first")
        return X


def _chain_one(first, rest):
    yield first
    yield from rest


def _load_npy(path: str, mmap: bool = False) -> np.ndarray:
    _exists(path)
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy file without pickled objects ({exc})") from None
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{path}: expected a .npy array, got a .npz archive")
    return arr


def read_npy(x_path: str, y_path: str | None):
    """(X memory-mapped read-only, y in memory or None)."""
    X = _load_npy(x_path, mmap=True)
    y = _load_npy(y_path) if y_path is not None else None
    return X, y


def read_npz(path: str, x_key: str = "X", y_key: str | None = "y"):
    _exists(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            if not hasattr(f, "files"):
                raise DataError(f"{path}: expected an .npz archive, got a single array")
            keys = list(f.files)
            for argument, key in (("x_key", x_key), ("y_key", y_key)):
                if key is not None and key not in keys:
                    raise DataError(f"{path}: no array named {key!r} (arrays: {', '.join(keys)})", argument)
            X = f[x_key]
            y = f[y_key] if y_key is not None else None
    except DataError:
        raise
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npz archive without pickled objects ({exc})") from None
    return X, y


def read_features(path: str, label=None, labels_path: str | None = None, x_key="X", y_key="y"):
    """(X, y or None) from a CSV (`label`: its label column), an .npz (x_key, y_key) or
    an .npy of features (with `labels_path`, another .npy, for y). For `pynn evaluate`
    and `pynn predict`."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npz":
        X, y = read_npz(path, x_key, y_key if labels_path is None else None)
        if labels_path is not None:
            y = _load_npy(labels_path)
        return X, y
    if ext == ".npy":
        return read_npy(path, labels_path)
    X, y, _ = read_csv(path, label=label)
    if labels_path is not None:
        y = _load_npy(labels_path)
    return X, y


def write_table(path: str | None, array: np.ndarray, columns: list[str], stream=None) -> None:
    """Write `array` (n,) or (n, k) as CSV (to `path` or `stream`) or, for a .npy path, as
    a NumPy file. Files are written atomically (see pynn._files)."""
    if path is not None and path.lower().endswith(".npy"):
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        atomic_write(path, [buffer.getvalue()])
        return
    arr = array.reshape(len(array), -1)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in arr:
        writer.writerow([str(v) for v in row])  # NumPy's str is the shortest round-trip form
    if path is None:
        stream.write(text.getvalue())
    else:
        atomic_write(path, [text.getvalue().encode("utf-8")])
