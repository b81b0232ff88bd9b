"""The AVX-512 float32 softplus (forward and backward) and ELU forward
(csrc/kernels/activations_avx512.cpp: softplus16, log1p_unit16, elu16; avx512_exp.h:
expm1_nonpositive) against exact values and against the portable libm loop they replace,
and the same file's LeakyReLU forward and ELU and LeakyReLU backward against their
formulas (the portable loop's bits, in both dtypes and under both kernels).

The contract (an exhaustive scan of all finite float32 inputs, float64 oracle, gave
1.71, 0.86 and 2.40 ulp): softplus within 2 ulp of the exact max(x, 0) + log1p(e^-|x|),
ELU (alpha 1) within 1 ulp of the exact e^x - 1 below 0 and x itself above, softplus's
derivative (the sigmoid) within 2.5 ulp; ELU with another alpha
is alpha times ELU with alpha 1, bit for bit, as the portable alpha * expm1(x); NaN, +-inf
and +-0 as the portable code; and a model's training step runs these kernels.
"""
import os

import numpy as np
import pytest

import pynn
from pynn import _core

pytestmark = pytest.mark.skipif(not _core.avx512_supported() or os.environ.get("PYNN_DISABLE_AVX512", "0") not in ("", "0"),
                                reason="no AVX-512 kernels here (the CPU has none, or PYNN_DISABLE_AVX512 is set): "
                                       "only the portable libm loop runs")

# The exhaustive scan's worst cases (1.71, 0.86, 2.40 ulp), rounded up.
SOFTPLUS_ULP, ELU_ULP, DSOFTPLUS_ULP = 2.0, 1.0, 2.5


@pytest.fixture(autouse=True)
def _restore_kernel(restore_kernel):
    yield


def _grid():
    # Dense over the bends, geometric over both tails and towards 0, the boundaries of the
    # kernels' branches (|x| near ln(2)/2 and where 1 + e^-|x| crosses sqrt 2).
    edges = np.float32([0.34657359, 0.88137359, 17.0, 87.3, 103.9, 104.0])
    near = np.concatenate([np.nextafter(edges, np.float32(np.inf) * s) for s in (1, -1)] + [edges])
    return np.concatenate([np.linspace(-30, 30, 1_200_001), np.geomspace(1e-38, 120, 100_001),
                           -np.geomspace(1e-38, 120, 100_001), near, -near]).astype(np.float32)


def _exact(name, x):
    x = x.astype(np.float64)
    with np.errstate(over="ignore"):
        return {"softplus": np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x))),
                "elu": np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
                "dsoftplus": 1.0 / (1.0 + np.exp(-x))}[name]


def _ulps(got, exact):
    """|got - exact| in float32 spacings at the exact value (at least the smallest subnormal)."""
    spacing = np.maximum(np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64), 2.0**-149)
    return np.abs(got.astype(np.float64) - exact) / spacing


def _run(kernel, name, x, alpha=None):
    _core.set_kernel(kernel)
    if name == "dsoftplus":
        return pynn.functional.derivative("softplus", x)
    if name == "elu":
        return pynn.functional.elu(x, 1.0 if alpha is None else alpha)
    return pynn.functional.softplus(x)


@pytest.mark.parametrize("name,bound", [("softplus", SOFTPLUS_ULP), ("elu", ELU_ULP), ("dsoftplus", DSOFTPLUS_ULP)])
def test_within_bounds_of_exact(name, bound):
    x = _grid()
    got = _run("auto", name, x)
    assert got.dtype == np.float32
    err = _ulps(got, _exact(name, x))
    assert err.max() <= bound, f"{name}: {err.max():.2f} ulp at x = {x[np.argmax(err)]!r}"
    assert not np.array_equal(got, _run("blas", name, x)), "the vector kernel did not run (libm's bits)"


@pytest.mark.parametrize("alpha", [0.5, 1.7, 0.0, -0.3])
def test_elu_alpha_scales_the_alpha_1_curve_bit_for_bit(alpha):
    x = _grid()
    x = x[x <= 0]
    np.testing.assert_array_equal(_run("auto", "elu", x, alpha), np.float32(alpha) * _run("auto", "elu", x, 1.0))


def test_specials_as_the_portable_code():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 200.0, -200.0, 1e30, -1e30, 1e-40, -1e-40, -103.0, 88.8],
                 np.float32)
    for name in ("softplus", "elu", "dsoftplus"):
        fast, portable = _run("auto", name, x), _run("blas", name, x)
        np.testing.assert_array_equal(np.isnan(fast), np.isnan(portable), err_msg=name)
        np.testing.assert_array_equal(np.signbit(fast[:2]), np.signbit(portable[:2]), err_msg=name)
        inf = np.isinf(x)
        np.testing.assert_array_equal(fast[inf], portable[inf], err_msg=name)
    elu = _run("auto", "elu", x, 2.0)
    assert elu[3] == -2.0 and elu[6] == -2.0 and elu[2] == np.inf and elu[10] == np.float32(2.0) * x[10]
    sp = _run("auto", "softplus", x)
    assert sp[2] == np.inf and sp[3] == 0.0 and sp[5] == 200.0 and sp[6] == 0.0
    assert sp[9] == np.float32(np.log(2.0)) and sp[11] > 0.0  # e^-103 is a subnormal, not 0


def test_nan_payloads_come_out_quiet():
    x = np.array([0x7FC00000, 0xFFC00000, 0x7F800001, 0xFF800001], dtype=np.uint32).view(np.float32)
    for name in ("softplus", "elu", "dsoftplus"):
        got = _run("auto", name, x).view(np.uint32)
        assert np.isnan(got.view(np.float32)).all() and (got & 0x00400000).all(), name


@pytest.mark.parametrize("n", list(range(1, 34)))
def test_every_length(n):
    """The masked tail of the 16-lane loops: each length gives the values of the long run."""
    x = np.linspace(-4, 4, 64).astype(np.float32)
    for name in ("softplus", "elu", "dsoftplus"):
        np.testing.assert_array_equal(_run("auto", name, x[:n]), _run("auto", name, x)[:n])


@pytest.mark.parametrize("kernel", ["auto", "blas"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,alpha", [("elu", 1.0), ("elu", 0.4), ("leaky_relu", 0.01), ("leaky_relu", -0.5)])
def test_elu_and_leaky_relu_derivatives_are_their_formulas(kernel, dtype, name, alpha):
    """f' is 1 above 0, y + alpha (ELU, from the forward's output) or alpha below, and
    LeakyReLU is x or alpha x: bit for bit in the vector kernels (float32 under "auto") as
    in the portable loop (the rest)."""
    _core.set_kernel(kernel)
    x = np.concatenate([np.linspace(-6, 6, 4099), [0.0, -0.0, np.inf, -np.inf, np.nan]]).astype(dtype)
    fn = getattr(pynn.functional, name)
    y = fn(x, alpha)
    with np.errstate(invalid="ignore"):
        below = (y + dtype(alpha)) if name == "elu" else np.full_like(x, alpha)
        want = np.where(x > 0, dtype(1), below).astype(dtype)
    np.testing.assert_array_equal(pynn.functional.derivative(name, x, alpha), want)
    if name == "leaky_relu":
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(y, np.where(x > 0, x, dtype(alpha) * x))


@pytest.mark.parametrize("name,act", [("softplus", pynn.Softplus), ("elu", pynn.ELU)])
def test_a_models_training_step_runs_the_vector_kernels(name, act, pass_through):
    """Dense with W = I, b = 0 passes x through, so the output is f(x) bit for bit
    (pynn.functional's under "auto", libm's under "blas"); with targets out / 2 the mse
    gradient of the outputs is 2 (out - out / 2) / 16 = out / 16 exactly (Sterbenz), so
    the bias gradient is (out / 16) f'(x), one rounding."""
    x = np.linspace(-3, 3, 16 * 64).astype(np.float32).reshape(-1, 16)
    outs, grads = {}, {}
    for kernel in ("auto", "blas"):
        _core.set_kernel(kernel)
        model = pass_through(act())
        outs[kernel] = model.forward(x)
        np.testing.assert_array_equal(outs[kernel], _run(kernel, name, x))
        row = x[:1]
        out = model.forward(row)
        model.loss_and_gradients(row, out * np.float32(0.5))
        want = pynn.functional.derivative(name, row, 1.0)[0] if name == "elu" else _run(kernel, "dsoftplus", row)[0]
        np.testing.assert_array_equal(model.gradients()[1], out[0] / np.float32(16) * want)
        grads[kernel] = model.gradients()[1]
    assert not np.array_equal(outs["auto"], outs["blas"])
    if name == "softplus":
        assert not np.array_equal(grads["auto"], grads["blas"])
