"""The core's buffers of 1 MiB and more (aligned.h) are their own 2 MiB-aligned mappings
with madvise(MADV_HUGEPAGE), rounded up to whole 2 MiB pages and unmapped whole: a
model's parameters, gradients, moments and packed first layer train as before, every
element of a buffer that is not a multiple of 2 MiB is usable, and building and dropping
such models neither leaks mappings nor memory."""
import gc
import os
import sys

import numpy as np
import pytest

import pynn

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="huge pages are a Linux mapping (aligned.h)"),
    pytest.mark.skipif(bool(os.environ.get("PYNN_SANITIZE")),
                       reason="under AddressSanitizer every buffer goes through operator new, so ASan sees it"),
]

HUGE = 2 << 20


def big_model(n_in=1024, n_out=520, seed=0):
    # 1024 x 520 + 520 float32 parameters: 2.13 MB, not a multiple of 2 MiB.
    return pynn.Sequential([pynn.Dense(n_in, n_out), pynn.ReLU(), pynn.Dense(n_out, 3)], seed=seed)


def vm_flags(address: int) -> list[str]:
    """The VmFlags of the mapping of this process that holds `address` (/proc/self/smaps)."""
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()[0]
            if "-" in head and ":" not in head:
                lo, hi = (int(x, 16) for x in head.split("-"))
                inside = lo <= address < hi
            elif inside and head == "VmFlags:":
                return line.split()[1:]
    raise AssertionError(f"no mapping holds {address:#x}")


def test_a_large_parameter_buffer_is_a_2mib_aligned_huge_page_mapping():
    model = big_model()
    params = model.state().params
    assert params.nbytes > HUGE and params.nbytes % HUGE != 0
    assert params.ctypes.data % HUGE == 0
    assert "hg" in vm_flags(params.ctypes.data)  # MADV_HUGEPAGE was applied
    # Small buffers keep the ordinary allocator (the rounding would waste most of a page).
    small = pynn.Sequential([pynn.Dense(20, 30), pynn.ReLU(), pynn.Dense(30, 3)], seed=0).state().params
    assert "hg" not in vm_flags(small.ctypes.data)


def test_every_element_of_a_rounded_buffer_is_usable_and_split_fits_match_one():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 1024)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = big_model()
    params = model.state().params
    params[-1] = 0.25  # the last bias, in the last, partly used huge page
    assert params[-1] == np.float32(0.25)
    start = params.copy()
    twin = big_model()
    twin.state().params[...] = start
    # One fit, then the same in two halves with the moments carried: the packed first
    # layer's state (gradient | m | v: 3 x 2.1 MB, one huge-page mapping) is written
    # back and re-packed between the fits, so both runs agree bit for bit only if every
    # element of every one of those buffers is kept.
    model.fit(X, y, epochs=2, batch_size=16, verbose=0, optimizer=pynn.Adam(lr=1e-3), shuffle=False)
    twin.fit(X, y, epochs=1, batch_size=16, verbose=0, optimizer=pynn.Adam(lr=1e-3), shuffle=False)
    twin.fit(X, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    assert model.state().params.tobytes() == twin.state().params.tobytes()
    a, b = model.state().optimizer_buffers, twin.state().optimizer_buffers
    assert all(u.tobytes() == v.tobytes() for u, v in zip(a, b))
    assert np.isfinite(params).all() and params.tobytes() != start.tobytes()


def _mappings() -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for _ in f)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_building_and_dropping_large_models_leaks_no_mapping_and_no_memory():
    X = np.ones((32, 1024), np.float32)
    y = np.zeros(32, np.int64)

    def cycle(i):
        model = big_model(seed=i)
        model.fit(X, y, epochs=1, batch_size=32, verbose=0, optimizer=pynn.Adam(lr=1e-3))
        del model
        gc.collect()

    for i in range(3):
        cycle(i)
    maps, rss = _mappings(), _rss()
    for i in range(40):  # each model maps ~20 MB: a leak of one buffer per cycle is >= 80 MB
        cycle(i)
    assert _mappings() <= maps + 8
    assert _rss() - rss < 32 << 20
