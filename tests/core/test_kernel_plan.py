"""The kernel plan (csrc/dispatch/plan.h): which kernel each Dense layer's products run on.

The choice is a fixed table keyed by the CPU's class, so it is the same in every process on
one machine (no measurement at run time), and a pin (set_bf16_kernel, PYNN_BF16_KERNEL)
makes it the same across machines. Every row of the table is checked here on any machine
through the core's table function; what this machine's CPU gets is checked against
Sequential.kernel_plan and against what fit actually computes.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import _core

needs_avx512 = pytest.mark.skipif(not _core.avx512_supported(),
                                  reason="this CPU has no AVX-512: fit runs the OpenBLAS kernels only")


@pytest.fixture(autouse=True)
def _restore():
    threads, precision = pynn.get_num_threads(), pynn.get_float32_matmul_precision()
    setting = pynn.get_bf16_kernel()["setting"]
    yield
    pynn.set_num_threads(threads)
    pynn.set_float32_matmul_precision(precision)
    pynn.set_bf16_kernel(setting)


def _mlp(widths, dropout=False, dtype="float32"):
    layers = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        layers += [pynn.Dense(n_in, n_out), pynn.ReLU()] + ([pynn.Dropout(0.1)] if dropout else [])
    return pynn.Sequential(layers[:-2] if dropout else layers[:-1], dtype=dtype, seed=3)


@pytest.mark.parametrize("vendor, family, avx512, bf16, amx, row, kernel", [
    ("GenuineIntel", 6, True, True, True, "intel-amx", "amx"),
    ("GenuineIntel", 6, True, True, False, "intel-avx512", "avx512"),   # vdpbf16ps is no faster there
    ("GenuineIntel", 6, True, False, False, "intel-avx512", "avx512"),
    ("AuthenticAMD", 25, True, True, False, "amd-zen4", "avx512-bf16"),
    ("AuthenticAMD", 26, True, True, False, "amd-zen5", "avx512-bf16"),
    ("AuthenticAMD", 27, True, True, False, "amd-avx512", "avx512-bf16"),
    ("AuthenticAMD", 25, False, False, False, "other", "avx512"),       # Zen 3: no AVX-512
    ("HygonGenuine", 24, False, False, False, "other", "avx512"),
])
def test_every_row_of_the_table(vendor, family, avx512, bf16, amx, row, kernel):
    got_row, got_kernel, why = _core._bf16_kernel_table(vendor, family, avx512, bf16, amx)
    assert (got_row, got_kernel) == (row, kernel)
    assert why  # every choice says why
    # An AMX CPU where Linux refused the tile permission falls back to vdpbf16ps's row rule.
    if amx:
        assert _core._bf16_kernel_table(vendor, family, avx512, bf16, False)[1] != "amx"


def test_this_machine_gets_its_row():
    cpu = _core.cpu_info()
    expected = _core._bf16_kernel_table(cpu["vendor"], cpu["family"], _core.avx512_supported(),
                                        _core.cpu_features().get("avx512bf16", False), cpu["amx_usable"])
    assert cpu["class"] == expected[0]
    assert pynn.get_bf16_kernel() == {"setting": "auto", "kernel": expected[1], "why": expected[2]}
    # bf16_supported() is "medium has a bf16 kernel here": a float32 row says no.
    assert pynn.precision.bf16_supported() == (expected[1] != "avx512" and _core.avx512_supported())


def test_pins_round_trip_and_bad_ones_are_refused():
    with pytest.raises(TypeError, match="name must be a str .*got int"):
        pynn.set_bf16_kernel(3)
    with pytest.raises(ValueError, match="name must be one of 'auto', 'float32', .*got 'fp8'"):
        pynn.set_bf16_kernel("fp8")
    pynn.set_bf16_kernel("float32")
    assert pynn.get_bf16_kernel()["setting"] == "float32" and pynn.get_bf16_kernel()["kernel"] == "avx512"
    assert not pynn.precision.bf16_supported()
    pynn.set_bf16_kernel("auto")
    assert pynn.get_bf16_kernel()["setting"] == "auto"
    if not _core.cpu_info()["amx_usable"]:
        with pytest.raises(ValueError, match="bf16 kernel 'amx' needs a CPU with AMX-BF16"):
            pynn.set_bf16_kernel("amx")
        assert pynn.get_bf16_kernel()["setting"] == "auto"  # a refused pin changes nothing
    if not _core.cpu_features().get("avx512bf16"):
        for name in ("avx512-bf16", "amx-emulated"):
            with pytest.raises(ValueError, match="needs a CPU with AVX512_BF16"):
                pynn.set_bf16_kernel(name)


@needs_avx512
def test_kernel_plan_follows_precision_size_network_and_dtype():
    model = _mlp((784, 256, 128, 10))
    highest = model.kernel_plan(128)
    assert [(p["layer"], p["n_in"], p["n_out"]) for p in highest] == [(0, 784, 256), (2, 256, 128), (4, 128, 10)]
    assert [p["kernel"] for p in highest] == ["avx512"] * 3
    assert [p["split"] for p in highest] == ["panels", "rows", "rows"]  # W0 is 784 KB: its panels stay put
    pynn.set_float32_matmul_precision("medium")
    bf16 = pynn.get_bf16_kernel()["kernel"]
    assert [p["kernel"] for p in model.kernel_plan(128)] == [bf16, bf16, "avx512"]  # 128x10 is below 128 x 128
    # Dropout and PReLU networks take the one-region step, and "medium" with it; float64 is left alone.
    assert [p["kernel"] for p in _mlp((784, 256, 10), dropout=True).kernel_plan(128)] == [bf16, "avx512"]
    prelu = pynn.Sequential([pynn.Dense(784, 256), pynn.PReLU(256), pynn.Dense(256, 10)], seed=3)
    assert [p["kernel"] for p in prelu.kernel_plan(128)] == [bf16, "avx512"]
    assert {p["kernel"] for p in _mlp((784, 256, 10), dtype="float64").kernel_plan(128)} == {"blas"}
    pynn.set_bf16_kernel("float32")
    assert [p["kernel"] for p in model.kernel_plan(128)] == ["avx512"] * 3
    pynn.set_num_threads(2)
    assert model.kernel_plan(128)[0]["threads"] == min(2, _core.get_num_threads())
    assert _mlp((4, 3, 2)).kernel_plan(8)[0]["threads"] == 1  # too small a step for a second thread
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, .*got 0"):
        model.kernel_plan(0)


@needs_avx512
def test_a_float32_pin_makes_medium_bit_identical_to_highest():
    """Where "medium" has no faster kernel it must be float32 exactly: the pin stands in for such a CPU."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 300)).astype(np.float32)
    y = rng.integers(0, 10, 200)
    results = []
    for precision in ("highest", "medium"):
        pynn.set_float32_matmul_precision(precision)
        pynn.set_bf16_kernel("float32")
        model = _mlp((300, 160, 130, 10))
        model.fit(X, y, epochs=2, batch_size=32, verbose=0)
        results.append([p.copy() for p in model.parameters()])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


_FIT_IN_A_CHILD = """
import sys, numpy as np, pynn
pynn.set_float32_matmul_precision(sys.argv[1])
rng = np.random.default_rng(5)
X = rng.standard_normal((300, 200)).astype(np.float32)
y = rng.integers(0, 10, 300)
model = pynn.Sequential([pynn.Dense(200, 160), pynn.ReLU(), pynn.Dense(160, 130), pynn.ReLU(),
                         pynn.Dense(130, 10)], seed=1)
model.fit(X, y, epochs=2, batch_size=50, verbose=0)
print(pynn.get_bf16_kernel()["setting"], [p["kernel"] for p in model.kernel_plan(50)])
sys.stdout.flush()
np.save(sys.argv[2], np.concatenate([p.ravel() for p in model.parameters()]))
"""


@pytest.mark.parametrize("precision", ["highest", "medium"])
def test_separate_processes_give_bit_identical_parameters(tmp_path, precision):
    runs = []
    for i in range(2):
        out = tmp_path / f"run{i}.npy"
        child = subprocess.run([sys.executable, "-c", _FIT_IN_A_CHILD, precision, str(out)],
                               capture_output=True, text=True, timeout=300)
        assert child.returncode == 0, child.stderr
        runs.append((child.stdout.strip().splitlines()[-1], np.load(out)))
    assert runs[0][0] == runs[1][0]  # the same plan
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_the_environment_variable_pins_at_import(tmp_path):
    code = "import pynn; print(pynn.get_bf16_kernel()['setting'])"
    env = dict(os.environ, PYNN_BF16_KERNEL="float32")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                           cwd=tmp_path)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip().splitlines()[-1] == "float32"
    env["PYNN_BF16_KERNEL"] = "fp8"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                           cwd=tmp_path)
    assert child.returncode != 0
    assert "ValueError: environment variable PYNN_BF16_KERNEL: name must be one of 'auto', 'float32'" in child.stderr
    assert "got 'fp8'" in child.stderr
