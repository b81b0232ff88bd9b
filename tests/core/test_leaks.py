"""No leaks: 1,000 build / fit / predict / evaluate / save / load cycles (and cycles whose
calls fail inside the core) hold resident memory flat.

Each cycle's model owns ~50 KB in the core (parameters, gradients, Adam state, the
workspace), so leaking one model per cycle would grow RSS by ~50 MB over 1,000 cycles;
the allowed slack is 4 MB per half (allocator caches, Python's free lists)."""
import ctypes
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

import pynn

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RSS from /proc/self/statm"),
    pytest.mark.skipif(bool(os.environ.get("PYNN_SANITIZE")),
                       reason="under AddressSanitizer freed memory sits in its quarantine: RSS measures nothing"),
]

CYCLES = 1000
SLACK = 4 * 2**20


def _malloc_trim():
    """Hand freed heap pages back to the OS (glibc), so RSS tracks live memory rather
    than where the allocator happens to have fragmented."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def rss() -> int:
    gc.collect()
    _malloc_trim()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure(cycle, n=CYCLES, warmup=100):
    """RSS growth over the first and the second half of n cycles, after a warm-up that
    lets every cache (allocator arenas, OpenBLAS buffers, the thread pool) fill."""
    for i in range(warmup):
        cycle(i)
    start = rss()
    for i in range(n // 2):
        cycle(i)
    mid = rss()
    for i in range(n // 2, n):
        cycle(i)
    end = rss()
    return mid - start, end - mid


def _data(dtype):
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 32)).astype(dtype), rng.integers(0, 10, 64)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_build_fit_predict_save_load_cycles(tmp_path, dtype):
    X, y = _data(dtype)
    # On tmpfs when there is one: fsync there is free, so 1,000 saves take no disk time.
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    path = directory / "m.safetensors"
    has_io = hasattr(pynn, "load") and hasattr(pynn.Sequential, "save")

    def cycle(i):
        model = pynn.Sequential([pynn.Dense(32, 64), pynn.ReLU(), pynn.Dropout(0.1), pynn.Dense(64, 64), pynn.PReLU(),
                                 pynn.Dense(64, 10)], dtype=dtype, seed=i)
        model.fit(X, y, epochs=1, batch_size=16, optimizer=pynn.Adam(1e-3), verbose=0, validation_data=(X, y))
        model.predict(X)
        model.predict_proba(X)
        model.evaluate(X, y)
        model.loss_and_gradients(X, y)
        model.train_step(X, y)
        if has_io:
            model.save(path)
            again = pynn.load(path)
            again.predict(X)

    try:
        first, second = _measure(cycle)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert first < SLACK and second < SLACK, f"RSS grew by {first / 2**20:.1f} MB, then {second / 2**20:.1f} MB"


def test_failing_calls_do_not_leak():
    """Errors thrown inside the core (bad labels caught there, divergence, huge sizes)
    unwind without leaking the buffers of the call."""
    X, y = _data("float32")
    Xbig = X * 1e30

    def cycle(i):
        model = pynn.Sequential([pynn.Dense(32, 64), pynn.ReLU(), pynn.Dense(64, 10)], loss="mse", seed=i)
        with pytest.raises(pynn.DivergenceError):
            model.train_step(Xbig, np.full((64, 10), 1e30), optimizer=pynn.SGD(1.0))
        with pytest.raises(ValueError):
            model._net.loss_and_gradients(X, (None, np.zeros((64, 9), np.float32), None))  # wrong width, core-checked
        with pytest.raises((MemoryError, ValueError)):
            pynn.Sequential([pynn.Dense(2**31 - 1, 2**31 - 1)])
        with pytest.raises(ValueError):
            model.predict(np.full((4, 32), np.nan))

    first, second = _measure(cycle)
    assert first < SLACK and second < SLACK, f"RSS grew by {first / 2**20:.1f} MB, then {second / 2**20:.1f} MB"


def test_functional_cycles():
    x = np.random.default_rng(0).normal(size=(16, 16))

    def cycle(i):
        for f in (pynn.relu, pynn.sigmoid, pynn.tanh, pynn.gelu, pynn.silu, pynn.softplus, pynn.softmax):
            f(x)
            f(x.astype(np.float32))
        pynn.derivative("gelu", x)

    first, second = _measure(cycle)
    assert first < SLACK and second < SLACK, f"RSS grew by {first / 2**20:.1f} MB, then {second / 2**20:.1f} MB"
