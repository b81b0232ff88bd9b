"""pynn installed from a repaired wheel (tools/build_wheels.sh, cibuildwheel) runs on the
libraries it carries: the OpenMP runtime auditwheel grafted into pynn.libs/ and the
vendored OpenBLAS next to _core, never a copy from the system, whatever else is installed.

A fresh interpreter imports pynn and fits a small model (the OpenMP team starts there);
its memory map then shows which files the dynamic loader chose.
"""
import os
import subprocess
import sys

import pytest

import pynn

PACKAGE_DIR = os.path.dirname(os.path.realpath(pynn.__file__))
GRAFTED_DIR = os.path.join(os.path.dirname(PACKAGE_DIR), "pynn.libs")

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the wheels and /proc/self/maps are Linux's"),
    pytest.mark.skipif(not os.path.isdir(GRAFTED_DIR),
                       reason="pynn is not installed from a repaired wheel (no pynn.libs/ beside the package): "
                              "tools/build_wheels.sh builds one, tools/test_wheel.sh tests it"),
]

_FIT_THEN_LIST_LIBRARIES = """
import os, numpy as np, pynn
X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
pynn.Sequential([pynn.Dense(8, 4), pynn.ReLU(), pynn.Dense(4, 2)], seed=0).fit(
    X, (X[:, 0] > 0).astype(int), epochs=1, batch_size=16, verbose=0)
with open("/proc/self/maps") as maps:
    paths = {line.split(None, 5)[5].strip() for line in maps if len(line.split(None, 5)) == 6}
print("\\n".join(sorted(os.path.realpath(p) for p in paths if ".so" in p)))
"""


@pytest.fixture(scope="module")
def loaded_libraries():
    child = subprocess.run([sys.executable, "-c", _FIT_THEN_LIST_LIBRARIES],
                           capture_output=True, text=True, timeout=120, check=True)
    return child.stdout.split()


def _named(libraries, prefix):
    return [path for path in libraries if os.path.basename(path).startswith(prefix)]


def test_the_openmp_runtime_is_the_grafted_copy(loaded_libraries):
    openmp = _named(loaded_libraries, "libgomp")
    assert openmp, f"no OpenMP runtime loaded: {loaded_libraries}"
    assert all(os.path.dirname(path) == os.path.realpath(GRAFTED_DIR) for path in openmp), openmp


def test_the_blas_is_the_vendored_openblas(loaded_libraries):
    # NumPy's own OpenBLAS (libscipy_openblas64_-*.so in numpy.libs) is another library.
    blas = [path for path in loaded_libraries if os.path.basename(path) == "libscipy_openblas.so"]
    assert blas == [os.path.join(PACKAGE_DIR, "libscipy_openblas.so")], blas
