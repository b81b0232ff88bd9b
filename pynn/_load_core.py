"""Import the compiled core with a message a user can act on when it fails.

pynn's vendored OpenBLAS starts its own worker threads when it loads, and they spin for
~0.1 s (OpenBLAS's default idle timeout) although they never get work: pynn hands every
OpenBLAS job to its OpenMP team through OpenBLAS's threads callback (csrc/dispatch/threads.cpp).
On a 2-core machine that spin took a core from the first fit in a fresh process (40-80 ms
lost on the digits estimator). OPENBLAS_THREAD_TIMEOUT is read once, when a library loads,
so it is set only around loading the core (unless the user set it) and removed again:
NumPy's own OpenBLAS, loaded before, and any BLAS loaded later keep their defaults.

May import: NumPy and pynn._core only."""
import os

import numpy  # noqa: F401  (loaded first: its OpenBLAS must not see the variable below)

_KEY = "OPENBLAS_THREAD_TIMEOUT"
_set_here = _KEY not in os.environ
if _set_here:
    os.environ[_KEY] = "4"  # 2^4 cycles of spinning, then sleep
try:
    from . import _core  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError(
        "pynn's compiled core (pynn._core) could not be loaded: "
        f"{exc}. Reinstall with `pip install --force-reinstall --no-cache-dir pynn` "
        "on this machine (the core is built for x86-64 and picks faster code at run time)."
    ) from exc
finally:
    if _set_here:
        del os.environ[_KEY]
