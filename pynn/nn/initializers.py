"""Weight initializers. fan_in = n_in, fan_out = n_out of a Dense layer.

    glorot_uniform  U(-a, a), a = sqrt(6 / (fan_in + fan_out))     (Glorot & Bengio 2010)
    glorot_normal   N(0, s^2), s = sqrt(2 / (fan_in + fan_out))
    he_uniform      U(-a, a), a = sqrt(6 / fan_in)                  (He et al. 2015)
    he_normal       N(0, s^2), s = sqrt(2 / fan_in)
    lecun_uniform   U(-a, a), a = sqrt(3 / fan_in)                  (LeCun et al. 1998)
    lecun_normal    N(0, s^2), s = sqrt(1 / fan_in)
    zeros           all zeros (a network started this way never breaks symmetry)

Normal variants are plain (not truncated) normals, as torch.nn.init. Every draw comes
from the generator the model derives from its seed.

May import: NumPy only."""
from __future__ import annotations

import math

import numpy as np

INITIALIZERS = ("auto", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                "lecun_uniform", "lecun_normal", "zeros")


def check_name(init) -> str:
    if not isinstance(init, str):
        raise TypeError(f"init must be a string, one of {', '.join(INITIALIZERS)}; got {init!r}")
    if init not in INITIALIZERS:
        raise ValueError(f"unknown init {init!r}; expected one of {', '.join(INITIALIZERS)}")
    return init


def initialize(init: str, rng: np.random.Generator, n_in: int, n_out: int) -> np.ndarray:
    """A (n_out, n_in) float64 weight matrix drawn by `init` (not 'auto')."""
    shape = (n_out, n_in)
    if init == "zeros":
        return np.zeros(shape)
    family, kind = init.rsplit("_", 1)
    if family == "glorot":
        var = 2.0 / (n_in + n_out)
    elif family == "he":
        var = 2.0 / n_in
    else:  # lecun
        var = 1.0 / n_in
    if kind == "uniform":
        limit = math.sqrt(3.0 * var)  # U(-a, a) has variance a^2 / 3
        return rng.uniform(-limit, limit, size=shape)
    return rng.normal(0.0, math.sqrt(var), size=shape)
