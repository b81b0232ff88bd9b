"""How precise float32 matrix products must be: the contract of PyTorch's
``torch.set_float32_matmul_precision``.

- ``"highest"`` (the default) and ``"high"``: float32 operands and float32 accumulation.
- ``"medium"``: training may round a product's operands to bfloat16 (8 significant bits,
  the exponent range of float32) and accumulate in float32. On CPUs with AVX512_BF16 the
  core then runs the products of ``fit`` (forward, weight gradient, input gradient) of
  every Dense layer with at least 128 x 128 weights -- nearly all of an MLP's arithmetic
  -- at twice the float32 rate, as ``torch.autocast`` would. The parameters, the
  optimizer state, the smaller layers (a 10-class output layer), the loss, ``predict``
  and ``train_step`` stay float32. Networks with Dropout or PReLU layers (which take the
  layer-by-layer step), float64 models and CPUs without AVX512_BF16 are unaffected:
  there "medium" changes nothing.

The setting is process-wide and read at the start of each epoch.
"""
from __future__ import annotations

from . import _core

_CHOICES = ("highest", "high", "medium")


def set_float32_matmul_precision(precision: str) -> None:
    """Set the float32 matmul precision: "highest" (default), "high" or "medium"."""
    if not isinstance(precision, str):
        raise TypeError(f"precision must be a str ({', '.join(map(repr, _CHOICES))}), got {type(precision).__name__}")
    if precision not in _CHOICES:
        raise ValueError(f"precision must be one of {', '.join(map(repr, _CHOICES))}, got {precision!r}")
    _core.set_float32_matmul_precision(precision)


def get_float32_matmul_precision() -> str:
    """The current float32 matmul precision ("highest" unless set)."""
    return str(_core.get_float32_matmul_precision())


def bf16_supported() -> bool:
    """True when "medium" precision has bfloat16 kernels to use on this CPU (AVX512_BF16)."""
    return bool(_core.bf16_supported())
