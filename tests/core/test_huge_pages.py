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
from pynn import reference as R

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
    small = pynn.Sequential([pynn.Dense(20, 30), pynn.ReLU(), pynn.Dense(30, 3)], seed=0).state().params
    if not os.path.isdir("/sys/kernel/mm/transparent_hugepage"):
        pytest.skip("this kernel has no transparent huge pages: madvise(MADV_HUGEPAGE) has nothing to mark")
    assert "hg" in vm_flags(params.ctypes.data)  # MADV_HUGEPAGE was applied
    # Small buffers keep the ordinary allocator (the rounding would waste most of a page).
    assert "hg" not in vm_flags(small.ctypes.data)


def test_every_element_of_a_rounded_buffer_is_usable_and_training_matches_the_reference():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 1024)).astype(np.float32)
    y = rng.integers(0, 3, 64)
    model = big_model()
    params = model.state().params
    params[-1] = 0.25  # the last bias, in the last, partly used huge page
    assert params[-1] == np.float32(0.25)
    ref = R.MLP([layer.get_config() for layer in model.layers], [p.copy() for p in model.parameters()], model.loss)
    ref_opt = R.Adam(lr=1e-3)
    # Two fits: on a CPU with AVX-512 the first layer's gradient and moments live packed
    # in one huge-page mapping (gradient | m | v, 3 x 2.2 MB) during each epoch and are
    # written back and re-packed between the fits; NumPy's Adam keeps its own.
    for epoch in range(2):
        model.fit(X, y, epochs=1, batch_size=16, verbose=0, optimizer=pynn.Adam(lr=1e-3) if epoch == 0 else None,
                  shuffle=False)
        ref.fit_epoch(X, y, 16, ref_opt, np.arange(len(X)))
    # float32 sums in another order, amplified by Adam where a gradient is ~0 (m / sqrt(v)
    # is then noise): 7 of the 532,480 weights differ by more than 2e-6, at most 1.8e-5. A
    # moment not written back or two moments in one place moves thousands, by ~1e-3.
    flat_ref = np.concatenate([p.ravel() for p in ref.params])
    m, v = model.state().optimizer_buffers
    ref_m, ref_v = (np.concatenate([a.ravel() for a in b]) for b in (ref_opt.state.m, ref_opt.state.v))
    for name, got, want, atol in (("parameters", model.state().params, flat_ref, 2e-6), ("m", m, ref_m, 2e-8),
                                  ("v", v, ref_v, 1e-11)):
        off = np.abs(got - want) > atol + 1e-3 * np.abs(want)
        assert off.sum() <= 50 and np.abs(got - want).max() < 1e-4, f"{name}: {off.sum()} elements off"


def test_a_buffer_of_exactly_1_mib_takes_the_huge_page_path_both_ways():
    # 511 x 512 weights + 512 biases = 262,144 float32: exactly 1 MiB, the threshold.
    model = pynn.Sequential([pynn.Dense(511, 512)], loss="mse", seed=0)
    params = model.state().params
    assert params.nbytes == 1 << 20 and params.ctypes.data % HUGE == 0
    params[...] = 1.0
    assert float(params.sum()) == 262144.0
    del params, model
    gc.collect()  # freed the way it was allocated, or the process dies here


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
