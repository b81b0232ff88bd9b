"""The AVX-512 float32 GELU (forward and backward) and SiLU backward
(csrc/kernels/activations_avx512.cpp: normal16, derivative16) against exact values and
against the portable libm loop they replace.

The contract (an exhaustive scan of all finite float32 inputs gave 4.97, 7.96 and 11.65
ulp and 1.66e-7): GELU within 5 ulp of the exact x Phi(x) for |x| < 1.2 (libm's loop:
3.1), 8 for x > -10, 12 below (where the portable 0.5 x (1 + erf(x / sqrt 2)) cancels:
10^5 ulp and more below x = -3); GELU's derivative Phi(x) + x phi(x) within 1.7e-7
absolute (it crosses zero at x = -0.75, so no relative bound; libm's loop: 1.4e-7); SiLU's derivative as accurate as
the portable formula; NaN, +-inf and +-0 as the portable code; and a model's training
step runs these kernels.
"""
import os

import numpy as np
import pytest

import pynn
from pynn import _core

pytestmark = pytest.mark.skipif(not _core.avx512_supported() or os.environ.get("PYNN_DISABLE_AVX512", "0") not in ("", "0"),
                                reason="no AVX-512 kernels here (the CPU has none, or PYNN_DISABLE_AVX512 is set): "
                                       "only the portable libm loop runs")


def _special():
    return pytest.importorskip("scipy.special", reason="the exact normal CDF (scipy.special.ndtr) is the oracle")


@pytest.fixture(autouse=True)
def _restore_kernel(restore_kernel):
    yield


def _grid():
    return np.concatenate([np.linspace(-16, 16, 1_600_001), np.geomspace(1e-38, 16, 100_001),
                           -np.geomspace(1e-38, 16, 100_001)]).astype(np.float32)


def _exact(x):
    x = x.astype(np.float64)
    cdf = _special().ndtr(x)
    return x * cdf, cdf + x * np.exp(-0.5 * x * x) / np.sqrt(2 * np.pi)


def _ulps(got, exact):
    """|got - exact| in float32 spacings at the exact value (at least the smallest subnormal)."""
    spacing = np.maximum(np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64), 2.0**-149)
    return np.abs(got.astype(np.float64) - exact) / spacing


def _run(kernel, name, x, grad=False):
    _core.set_kernel(kernel)
    return pynn.functional.derivative(name, x) if grad else getattr(pynn.functional, name)(x)


def test_gelu_within_its_bounds_and_better_than_libm_in_the_tail():
    x = _grid()
    gelu, grad = _exact(x)
    got = _run("auto", "gelu", x)
    assert got.dtype == np.float32
    err = _ulps(got, gelu)
    assert err[np.abs(x) < 1.2].max() <= 5, err[np.abs(x) < 1.2].max()
    assert err[x > -10].max() <= 8 and err.max() <= 12, (err[x > -10].max(), err.max())
    portable = _run("blas", "gelu", x)
    tail = (x < -4) & (x > -10)
    assert _ulps(portable, gelu)[tail].max() > 1000 > err[tail].max()  # erfc, not 1 + erf
    assert np.abs(_run("auto", "gelu", x, grad=True).astype(np.float64) - grad).max() <= 1.7e-7


def test_silu_derivative_as_accurate_as_the_portable_formula():
    x = _grid()
    xd = x.astype(np.float64)
    with np.errstate(over="ignore"):
        s = 1.0 / (1.0 + np.exp(-xd))
    exact = s * (1.0 + xd * (1.0 - s))
    fast, portable = (_run(k, "silu", x, grad=True).astype(np.float64) for k in ("auto", "blas"))
    assert not np.array_equal(fast, portable)
    assert np.abs(fast - exact).max() <= max(1.25 * np.abs(portable - exact).max(), 1e-6)


def test_specials_as_the_portable_code():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 20.0, -20.0, 1e30, -1e30, 1e-40, -1e-40], np.float32)
    for name in ("gelu", "silu"):
        for grad in (False, True):
            fast, portable = _run("auto", name, x, grad), _run("blas", name, x, grad)
            np.testing.assert_array_equal(np.isnan(fast), np.isnan(portable), err_msg=f"{name} grad={grad}")
            np.testing.assert_array_equal(np.signbit(fast[:2]), np.signbit(portable[:2]))
    gelu = _run("auto", "gelu", x)
    assert gelu[2] == np.inf and gelu[5] == 20.0 and gelu[6] == 0.0 and gelu[7] == np.float32(1e30)
    assert (_run("auto", "gelu", x[:2], grad=True) == 0.5).all()


def test_nan_payloads_come_out_quiet():
    x = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001], dtype=np.uint32).view(np.float32)
    for name in ("gelu", "silu"):
        for grad in (False, True):
            got = _run("auto", name, x, grad).view(np.uint32)
            assert np.isnan(got.view(np.float32)).all() and (got & 0x00400000).all(), (name, grad)


@pytest.mark.parametrize("n", list(range(1, 34)))
def test_every_length(n):
    """The masked tail of the 16-lane loops: each length gives the values of the long run."""
    x = np.linspace(-4, 4, 64).astype(np.float32)
    for name, grad in (("gelu", False), ("gelu", True), ("silu", True)):
        np.testing.assert_array_equal(_run("auto", name, x[:n], grad), _run("auto", name, x, grad)[:n])


@pytest.mark.parametrize("name,act", [("gelu", pynn.GELU), ("silu", pynn.SiLU)])
@pytest.mark.parametrize("step", ["loss_and_gradients", "fit"])
def test_a_models_training_step_runs_the_vector_kernels(name, act, step, pass_through):
    """Dense with W = I, b = 0 passes x through; with targets out + 1 the mse gradient of
    the outputs is -2 / 16 exactly, so the bias gradient is -0.125 f'(x) bit for bit, and
    one SGD step (lr 1) moves b by +0.125 f'(x): pynn.functional's derivative under
    "auto", libm's under "blas". x sits where the two differ (near GELU's zero slope)."""
    x = (np.float32(-0.7518) + np.arange(16, dtype=np.float32) * np.float32(1e-5)).reshape(1, 16)
    if name == "silu":
        x = x * np.float32(1.6)  # SiLU's slope crosses zero at -1.28
    derivatives = {k: _run(k, name, x, grad=True) for k in ("auto", "blas")}
    assert not np.array_equal(derivatives["auto"], derivatives["blas"])
    for kernel in ("auto", "blas"):
        _core.set_kernel(kernel)
        model = pass_through(act())
        target = model.forward(x) + np.float32(1)
        if step == "fit":
            model.fit(x, target, epochs=1, batch_size=1, optimizer=pynn.SGD(lr=1.0), verbose=0)
            np.testing.assert_array_equal(model.parameters()[1], 0.125 * derivatives[kernel][0])
        else:
            model.loss_and_gradients(x, target)
            np.testing.assert_array_equal(model.gradients()[1], -0.125 * derivatives[kernel][0])
