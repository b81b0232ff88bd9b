"""The core's thread count (OpenMP; OpenBLAS runs its GEMMs on the same threads)."""
from __future__ import annotations

from . import _checks, _core


def set_num_threads(n: int) -> None:
    """Use n threads in every core call from now on (also limits OpenMP and the
    vendored OpenBLAS, so threadpoolctl sees the same number)."""
    _core.set_num_threads(_checks.positive_int(n, "n", maximum=4096))


def get_num_threads() -> int:
    """Threads the next core call will use (OMP_NUM_THREADS or the core count by default)."""
    return int(_core.get_num_threads())
