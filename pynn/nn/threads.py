"""The core's thread count (OpenMP; OpenBLAS runs its GEMMs on the same threads).

May import: pynn._checks, pynn._core."""
from __future__ import annotations

import contextlib

from .. import _checks, _core


def set_num_threads(n: int) -> None:
    """Use n threads in every core call from now on (also limits OpenMP and the
    vendored OpenBLAS, so threadpoolctl sees the same number)."""
    _core.set_num_threads(_checks.positive_int(n, "n", maximum=4096))


def get_num_threads() -> int:
    """Threads the next core call will use (OMP_NUM_THREADS or the core count by default)."""
    return int(_core.get_num_threads())


@contextlib.contextmanager
def _threads_for_this_call(n: int):
    """Run the block with n threads, then put back exactly what was in force before: pynn's
    setting (or none), this thread's OpenMP limit (a threadpoolctl limit, a Dask worker's
    OMP_NUM_THREADS) and OpenBLAS's count. So an estimator's n_threads lasts its own
    fit/predict and leaves the process as it found it.

    pynn's setting and OpenBLAS's count are per process: while the block runs, pynn calls
    from the process's other Python threads run under them too."""
    before = _core._thread_settings()
    set_num_threads(n)
    try:
        yield
    finally:
        _core._restore_thread_settings(*before)
