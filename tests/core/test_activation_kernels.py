"""The AVX-512 float32 sigmoid, tanh and SiLU forward (csrc/kernels/activations_avx512.cpp)
against exact values and against the portable libm loop they replace (GELU and the
backward kernels: test_gelu_silu_kernels.py).

On a CPU with AVX-512 a float32 model's (and pynn.functional's) sigmoid, tanh and SiLU run
16 lanes wide with their own exp, so their bits differ from libm's. The contract: within
2.5 ulp of the exact value (float64) for sigmoid and tanh (an exhaustive scan of all 2^32
inputs gave 2.40 and 1.51; glibc's loop 2.40 and 2.19), SiLU exactly x times that
sigmoid, as the portable formula is; NaN stays NaN (quieted), +-inf give the limits, +-0
give what the portable code gives; and a model's forward runs this kernel.
"""
import os

import numpy as np
import pytest

import pynn
from pynn import _core

pytestmark = pytest.mark.skipif(not _core.avx512_supported() or os.environ.get("PYNN_DISABLE_AVX512", "0") not in ("", "0"),
                                reason="no AVX-512 kernels here (the CPU has none, or PYNN_DISABLE_AVX512 is set): "
                                       "only the portable libm loop runs")

SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-38, -1e-38, 0.625, -0.625,
                     np.nextafter(np.float32(0.625), np.float32(0)), 88.7, -88.7, 103.9, -103.9, 200.0, -200.0],
                    dtype=np.float32)


@pytest.fixture(autouse=True)
def _restore_kernel(restore_kernel):
    yield


def _grid():
    # Dense where the functions bend, geometric over the tails and near 0, and every length
    # remainder of the 16-lane loop (the sizes 1..33 below).
    return np.concatenate([np.linspace(-20, 20, 400_001), np.geomspace(1e-30, 110, 40_001),
                           -np.geomspace(1e-30, 110, 40_001), SPECIALS]).astype(np.float32)


def _exact(name, x):
    x = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        sig = 1.0 / (1.0 + np.exp(-x))
        return {"sigmoid": sig, "tanh": np.tanh(x)}[name]


def _ulps(got, exact):
    """|got - exact| in units of float32's spacing below the exact value (normal results;
    the spacing of the binade the exact value lies in)."""
    sel = np.isfinite(exact) & (np.abs(exact) >= np.finfo(np.float32).tiny)
    below = np.nextafter(np.abs(exact[sel]).astype(np.float32), np.float32(0))  # float32 <= |exact|
    below = np.where(below.astype(np.float64) > np.abs(exact[sel]), np.nextafter(below, np.float32(0)), below)
    spacing = np.spacing(below).astype(np.float64)
    return np.abs(got[sel].astype(np.float64) - exact[sel]) / spacing


def _run(name, x, kernel):
    _core.set_kernel(kernel)
    return getattr(pynn.functional, name)(x)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_within_2_5_ulp_of_exact(name):
    x = _grid()
    got = _run(name, x, "auto")
    assert got.dtype == np.float32
    exact = _exact(name, x)
    assert _ulps(got, exact).max() <= 2.5, f"{name}: worst {_ulps(got, exact).max():.2f} ulp"
    # Subnormal results (sigmoid far left): within one subnormal step.
    sub = (np.abs(exact) < np.finfo(np.float32).tiny) & (exact != 0)
    assert (np.abs(got[sub].astype(np.float64) - exact[sub]) <= 2 * 2.0**-149).all()


def test_specials():
    x = SPECIALS
    sig, th, silu = _run("sigmoid", x, "auto"), _run("tanh", x, "auto"), _run("silu", x, "auto")
    nan = np.isnan(x)
    assert np.isnan(sig[nan]).all() and np.isnan(th[nan]).all() and np.isnan(silu[nan]).all()
    assert sig[x == np.inf][0] == 1.0 and sig[x == -np.inf][0] == 0.0
    assert th[x == np.inf][0] == 1.0 and th[x == -np.inf][0] == -1.0
    assert np.array_equal(np.signbit(th[x == 0]), np.signbit(x[x == 0])), "tanh(-0) must be -0"
    assert th[1] == 0.0 and np.signbit(th[1])
    tiny = np.abs(x) < 1e-30
    np.testing.assert_array_equal(th[tiny & ~nan], x[tiny & ~nan])  # tanh(x) = x where x^2 underflows
    assert (sig[x == 0] == 0.5).all()  # +0 and -0
    np.testing.assert_array_equal(np.signbit(silu[x == 0]), np.signbit(x[x == 0]))  # x * 0.5 keeps the sign
    # The portable loop gives the same at the specials (NaN where it gives NaN).
    for name, got in (("sigmoid", sig), ("tanh", th), ("silu", silu)):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(_run(name, x, "blas")))


def test_nan_payloads_come_out_quiet():
    bits = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001, 0x7FA00000], dtype=np.uint32)
    x = bits.view(np.float32)
    for name in ("sigmoid", "tanh", "silu"):
        got = _run(name, x, "auto").view(np.uint32)
        assert np.isnan(got.view(np.float32)).all()
        assert (got & 0x00400000).all(), f"{name}: a signaling NaN came out signaling"


def test_silu_is_x_times_the_sigmoid():
    x = _grid()
    sig, silu = _run("sigmoid", x, "auto"), _run("silu", x, "auto")
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(silu, x * sig)


@pytest.mark.parametrize("n", list(range(1, 34)))
def test_every_length(n):
    """The masked tail of the 16-lane loop: each length gives the values of the long run."""
    x = np.linspace(-3, 3, 64).astype(np.float32)
    for name in ("sigmoid", "tanh", "silu"):
        whole = _run(name, x, "auto")
        np.testing.assert_array_equal(_run(name, x[:n], "auto"), whole[:n])


@pytest.mark.parametrize("name,act", [("sigmoid", pynn.Sigmoid), ("tanh", pynn.Tanh), ("silu", pynn.SiLU)])
def test_a_models_forward_runs_the_vector_kernel(name, act, pass_through):
    """Dense with W = I and b = 0 passes X through exactly, so the model's output is the
    activation of X: bit for bit pynn.functional's under "auto", libm's under "blas"."""
    x = np.linspace(-6, 6, 16 * 3001).astype(np.float32).reshape(-1, 16)
    model = pass_through(act())
    fast, portable = _run(name, x, "auto"), _run(name, x, "blas")
    assert not np.array_equal(fast, portable)
    _core.set_kernel("auto")
    np.testing.assert_array_equal(model.forward(x), fast)
    _core.set_kernel("blas")
    np.testing.assert_array_equal(model.forward(x), portable)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_the_vector_kernel_is_the_one_that_runs(name):
    """Under "auto" the results are not libm's bit for bit (else the dispatch sent float32
    to the portable loop and the tests above measured libm twice)."""
    x = _grid()
    assert not np.array_equal(_run(name, x, "auto"), _run(name, x, "blas"))
