"""Activation functions as plain functions on arrays, computed by the C++ core (the same
code the layers run). Input: any real array; output: float64 unless the input is float32.

May import: pynn._checks, pynn._core, pynn.nn.layers (the activation names)."""
from __future__ import annotations

import math

import numpy as np

from .. import _checks, _core
from .layers import ACTIVATION_NAMES

__all__ = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu", "softplus",
           "softmax", "log_softmax", "derivative"]


def _array(x) -> np.ndarray:
    arr = _checks.numeric_array(x, "x")
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(np.float64)


def _apply(name, x, alpha=0.0):
    arr = _array(x)
    out = _core.activation(np.ascontiguousarray(arr), name, alpha)
    return out if np.ndim(x) else out.item()


def identity(x):
    """f(z) = z"""
    return _apply("identity", x)


def sigmoid(x):
    """f(z) = 1 / (1 + e^-z)"""
    return _apply("sigmoid", x)


def tanh(x):
    """f(z) = tanh(z)"""
    return _apply("tanh", x)


def relu(x):
    """f(z) = max(z, 0)"""
    return _apply("relu", x)


def leaky_relu(x, negative_slope: float = 0.01):
    """f(z) = z if z > 0 else negative_slope * z"""
    return _apply("leaky_relu", x, _checks.real(negative_slope, "negative_slope"))


def elu(x, alpha: float = 1.0):
    """f(z) = z if z > 0 else alpha (e^z - 1)"""
    return _apply("elu", x, _checks.real(alpha, "alpha"))


def gelu(x):
    """f(z) = z Phi(z) (exact, erf)"""
    return _apply("gelu", x)


def silu(x):
    """f(z) = z sigmoid(z)"""
    return _apply("silu", x)


def softplus(x):
    """f(z) = log(1 + e^z)"""
    return _apply("softplus", x)


def derivative(name: str, x, alpha: float = 0.0):
    """f'(x) of the activation `name`, as the core's backward pass computes it."""
    if name not in ACTIVATION_NAMES:
        raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATION_NAMES)}")
    arr = _array(x)
    out = _core.activation_grad(np.ascontiguousarray(arr), name, _checks.real(alpha, "alpha"))
    return out if np.ndim(x) else out.item()


def softmax(x, axis: int = -1):
    """softmax(z)_i = e^{z_i - max z} / sum_j e^{z_j - max z} along `axis` (float64)."""
    arr = _array(x).astype(np.float64)
    if arr.ndim == 0:  # checked before moveaxis, whose AxisError would not name x
        raise ValueError(f"softmax needs x with at least 1 dimension, got a scalar {x!r}")
    arr = np.moveaxis(arr, axis, -1)
    flat = np.ascontiguousarray(arr.reshape(math.prod(arr.shape[:-1]), arr.shape[-1]))  # -1 fails on size 0
    out = _core.softmax(flat).reshape(arr.shape)
    return np.moveaxis(out, -1, axis)


def log_softmax(x, axis: int = -1):
    """log softmax(z)_i = z_i - max z - log sum_j e^{z_j - max z}  (never log(0))."""
    arr = _array(x).astype(np.float64)
    if arr.ndim == 0:  # as softmax: a scalar has no axis to normalize over
        raise ValueError(f"log_softmax needs x with at least 1 dimension, got a scalar {x!r}")
    m = arr.max(axis=axis, keepdims=True)
    return arr - m - np.log(np.exp(arr - m).sum(axis=axis, keepdims=True))
