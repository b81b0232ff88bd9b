"""How precise float32 matrix products must be: the contract of PyTorch's
``torch.set_float32_matmul_precision``.

- ``"highest"`` (the default) and ``"high"``: float32 operands and float32 accumulation.
- ``"medium"``: training may round a product's operands to bfloat16 (8 significant bits,
  the exponent range of float32) and accumulate in float32. Where the CPU has a bfloat16
  kernel faster than float32 the core then runs the products of ``fit`` (forward, weight
  gradient, input gradient) of every Dense layer with at least 128 x 128 weights --
  nearly all of an MLP's arithmetic -- on it, as ``torch.autocast`` would, and
  ``predict`` (``predict_proba``, ``evaluate``, validation) runs those layers' forward on
  it too. The parameters, the optimizer state, the smaller layers (a 10-class output
  layer), the loss and ``train_step`` stay float32. float64 models and CPUs without a
  faster bf16 kernel are unaffected: there "medium" changes nothing, so it never slows a
  run down.

Which bf16 kernel (the core's plan, ``csrc/dispatch/plan.h``): a fixed table keyed by the
CPU, so runs stay bit-identical from run to run on one machine --

=================================  ===============  ==========================================
CPU                                kernel           why
=================================  ===============  ==========================================
Intel Xeon with AMX-BF16           ``amx``          tile products, 1024 multiply-adds each
AMD Zen 4, Zen 5 (AVX512_BF16)     ``avx512-bf16``  ``vdpbf16ps``: epochs 1.2-1.6x faster
Intel without AMX (AVX512_BF16)    float32          ``vdpbf16ps`` no faster than FMA there
anything else                      float32          no bf16 instructions
=================================  ===============  ==========================================

``set_bf16_kernel`` (or the environment variable ``PYNN_BF16_KERNEL``, read at import)
pins the choice -- to compare kernels, or to reproduce a run of another machine:
``"amx-emulated"`` runs the AMX kernels' exact arithmetic over a portable tile backend on
any CPU with AVX512_BF16 (slowly). ``Sequential.kernel_plan(batch_size)`` and ``pynn info --plan``
show what each layer runs on.

The settings are process-wide and read at the start of each epoch.

May import: pynn._checks, pynn._core."""
from __future__ import annotations

import os

from .. import _checks, _core

_CHOICES = ("highest", "high", "medium")


def set_float32_matmul_precision(precision: str) -> None:
    """Set the float32 matmul precision: "highest" (default), "high" or "medium"."""
    _core.set_float32_matmul_precision(_checks.one_of(precision, "precision", _CHOICES))


def get_float32_matmul_precision() -> str:
    """The current float32 matmul precision ("highest" unless set)."""
    return str(_core.get_float32_matmul_precision())


def bf16_supported() -> bool:
    """True when "medium" precision has a bfloat16 kernel to use on this CPU (see the table above)."""
    return bool(_core.bf16_supported())


_BF16_KERNELS = ("auto", "float32", "avx512-bf16", "amx", "amx-emulated")


def set_bf16_kernel(name: str) -> None:
    """Pin the kernel of "medium" precision: "auto" (the table, the default), "float32",
    "avx512-bf16", "amx" or "amx-emulated". ValueError if this CPU cannot run it."""
    _core.set_bf16_kernel(_checks.one_of(name, "name", _BF16_KERNELS))


def get_bf16_kernel() -> dict:
    """The bf16 kernel of "medium": ``{"setting": "auto" or the pin, "kernel": what runs,
    "why": the reason}`` ("kernel" is "avx512", plain float32, where no bf16 kernel is faster)."""
    setting, kernel, why = _core.get_bf16_kernel()
    return {"setting": setting, "kernel": kernel, "why": why}


def _pin_from_environment() -> None:
    name = os.environ.get("PYNN_BF16_KERNEL", "")
    if name:
        try:
            set_bf16_kernel(name)
        except ValueError as exc:
            raise ValueError(f"environment variable PYNN_BF16_KERNEL: {exc}") from None


_pin_from_environment()
