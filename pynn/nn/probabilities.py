"""Probabilities from a network's raw outputs (logits), in the logits' own dtype.

A float32 network's outputs are float32, and so are the probabilities made from them, as
scikit-learn's estimators return float32 for float32 models: no float64 copy, and the
values differ from a float64 computation from the same logits by float32 rounding only.
Each function takes a fresh (B, k) array of logits, as the core's predict returns them;
the softmax functions overwrite it and return it.

May import: NumPy only."""
from __future__ import annotations

import numpy as np

__all__ = ["softmax_rows", "log_softmax_rows", "sigmoid", "log_sigmoid"]


def softmax_rows(z: np.ndarray) -> np.ndarray:
    """softmax of each row of z, in place: e^{z_i - max z} / sum_j e^{z_j - max z}."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def log_softmax_rows(z: np.ndarray) -> np.ndarray:
    """log softmax of each row of z, in place: z_i - max z - log sum_j e^{z_j - max z},
    finite where the probability underflows to 0."""
    z -= z.max(axis=1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=1, keepdims=True))
    return z


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) as e^-|z| / (1 + e^-|z|) where z < 0: no overflow, and small
    probabilities keep their relative precision (1 - (a number near 1) would lose it)."""
    e = np.exp(-np.abs(z))
    s = 1 / (1 + e)
    return np.where(z >= 0, s, e * s)


def log_sigmoid(z: np.ndarray) -> np.ndarray:
    """log(1 / (1 + e^-z)) = -log(e^0 + e^-z), finite where the sigmoid underflows to 0."""
    return -np.logaddexp(0, -z)
