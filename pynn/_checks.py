"""Argument checks shared by the public API.

Every public entry point validates what it gets *before* the core sees it, so a bad
call raises a ValueError/TypeError naming the argument, what was expected and what
came, and leaves the model untouched. One exception, with the same outcome: fit may let
its first epoch prove X finite instead of a pass over it, and undo the epoch when it
does not (pynn/nn/fitting.py, _first_epoch_proves_finite).

May import: NumPy; pynn._core (all_finite: this module is its door)."""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import _core

# BLAS takes 32-bit int sizes; anything larger cannot be multiplied by the core.
MAX_DIM = 2**31 - 1


def describe(value) -> str:
    """A short description of a value for error messages."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def positive_int(value, name: str, *, minimum: int = 1, maximum: int = MAX_DIM) -> int:
    """An int >= minimum (bools and floats are rejected: 2.5 epochs is a mistake)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    value = int(value)
    if value < minimum or value > maximum:
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum}], got {value}")
    return value


def one_of(value, name: str, choices: tuple) -> str:
    """A str among `choices` (TypeError for another type, ValueError for another string)."""
    listed = ", ".join(map(repr, choices))
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str ({listed}), got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {listed}, got {value!r}")
    return value


def real(value, name: str, *, low=None, high=None, low_open=False, high_open=False) -> float:
    """A finite real number within the given bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {describe(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value}")
    return value


def dtype_name(dtype) -> str:
    """'float32' or 'float64' from a name or a NumPy dtype."""
    try:
        d = None if dtype is None else np.dtype(dtype)  # np.dtype(None) is float64, not our default
    except TypeError:
        d = None
    if d is None or d not in (np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return d.name


def numeric_array(value, name: str) -> np.ndarray:
    """np.asarray that refuses strings, objects and complex numbers with a TypeError."""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be a numeric array, got {describe(value)}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {arr.dtype}")
    return arr


def all_finite(arr: np.ndarray) -> bool:
    """np.isfinite(arr).all() without its boolean temporary (one pass in the core)."""
    if arr.dtype in (np.float32, np.float64) and arr.flags.c_contiguous:
        return _core.all_finite(arr)
    return bool(np.isfinite(arr).all())


def feature_matrix(X, name: str, n_features: int | None = None) -> np.ndarray:
    """X as a non-empty (n_samples, n_features) numeric array, not converted or copied."""
    arr = numeric_array(X, name)
    if arr.ndim != 2:
        hint = " (use X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample)" if arr.ndim == 1 else ""
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got a {arr.ndim}-D array of shape {arr.shape}{hint}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, but the model expects {n_features}")
    return arr


def contiguous(arr: np.ndarray, dtype: str) -> np.ndarray:
    """arr as a C-contiguous array of dtype (a copy only when needed). A float64 too large
    for float32 becomes inf, which the finiteness checks then report (nonfinite_error)."""
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(arr, dtype=dtype)


def nonfinite_error(name: str, arr: np.ndarray, dtype: str) -> ValueError:
    """The error for features `name` in which arr (some of them, in dtype) is not all finite."""
    bad = "NaN" if np.isnan(arr).any() else "inf"
    return ValueError(f"{name} contains {bad} (or a value too large for {dtype}); clean or impute it first")


def features(X, name: str, dtype: str, n_features: int | None = None) -> np.ndarray:
    """A (n_samples, n_features) C-contiguous array of `dtype`, finite, non-empty.

    Copies only when needed (non-contiguous memory or another dtype)."""
    out = contiguous(feature_matrix(X, name, n_features), dtype)
    if not all_finite(out):
        raise nonfinite_error(name, out, dtype)
    return out


def class_labels(y, name: str, n_classes: int, n_samples: int) -> np.ndarray:
    """Integer class indices in [0, n_classes) as int32, shape (n_samples,)."""
    arr = numeric_array(y, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D class indices or ({n_samples}, {n_classes}) probability rows, got shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples but X has {n_samples}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or inf")
        if (arr != np.round(arr)).any():
            raise ValueError(f"{name} holds fractional class labels (e.g. {arr[arr != np.round(arr)][0]}); class labels must be integers")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        bad = (arr.min() if arr.min() < 0 else arr.max()).item()  # a Python number: no np.int64(3) in the text
        raise ValueError(f"{name} holds class label {bad!r}, expected integers in [0, {n_classes - 1}] for a model with {n_classes} outputs")
    return np.ascontiguousarray(arr, dtype=np.int32)


def dense_targets(y, name: str, n_outputs: int, n_samples: int, dtype: str, *, low=None, high=None) -> np.ndarray:
    """Targets of shape (n_samples, n_outputs) (1-D accepted when n_outputs == 1)."""
    arr = numeric_array(y, name)
    if arr.ndim == 1 and n_outputs == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != n_outputs:
        raise ValueError(f"{name} must have shape (n_samples, {n_outputs}), got {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples but X has {n_samples}")
    with np.errstate(over="ignore"):  # overflow to inf in the cast is reported below
        out = np.ascontiguousarray(arr, dtype=dtype)
    if not all_finite(out):
        raise ValueError(f"{name} contains NaN or inf (or a value too large for {dtype})")
    if low is not None and out.min() < low or high is not None and out.max() > high:
        expected = f"in [{low}, {high}]" if low is not None and high is not None else (
            f">= {low}" if low is not None else f"<= {high}")
        raise ValueError(f"{name} values must be {expected}, got values in [{out.min()}, {out.max()}]")
    return out


def sample_weights(w, n_samples: int, dtype: str) -> np.ndarray | None:
    if w is None:
        return None
    arr = numeric_array(w, "sample_weight")
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(f"sample_weight must have shape ({n_samples},), got {arr.shape}")
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(out).all() or (out < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    return out
