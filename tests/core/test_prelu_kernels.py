"""PReLU's forward and backward kernels (csrc/kernels/prelu.cpp: prelu_forward_cols,
prelu_dx_cols, prelu_slope_cols; vectorized, the slope gradient split by columns between
threads) against their formulas, bit for bit.

A Dense(B, C) layer with weights W, zero bias, fed X = I (B rows) outputs W^T exactly (one
nonzero term per sum), so the PReLU's input is values we choose; and its weight gradient
dZ^T X is dZ^T exactly, so the PReLU's dx can be read back. With mse against zero targets
the PReLU's output gradient is float32(2 y / (B C)), as the loss kernel computes it. The
slope gradient must be the float64 sum over the rows in order of dy x where x <= 0, per
column (then, for one shared slope, summed over the columns in order), for any thread
count: the threads split the columns, never the rows. (In float64 the sum is the result
itself, so another order of the rows shows in its last bits: reversing them fails half of
these cases. Where the compiler fuses the float64 sum's multiply and add -- aarch64, whose
baseline has FMA, under gcc's default -ffp-contract=fast -- that sum is compared to 1e-15
instead, and its thread-count invariance bit for bit.)
"""
import platform

import numpy as np
import pytest

import pynn


@pytest.fixture(autouse=True)
def _threads():
    previous = pynn.get_num_threads()
    yield
    pynn.set_num_threads(previous)


def _expected(x, a, B, C):
    y = np.where(x > 0, x, a * x).astype(np.float32)
    dy = ((2.0 * y.astype(np.float64)) * (1.0 / (B * C))).astype(np.float32)
    dx = np.where(x > 0, dy, a * dy).astype(np.float32)
    acc = np.zeros(C)
    for b in range(B):  # row by row: the kernel's order of the sums
        acc += np.where(x[b] > 0, 0.0, dy[b].astype(np.float64) * x[b].astype(np.float64))
    return y, dx, acc


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("C", [150, 256, 7])
@pytest.mark.parametrize("threads", [1, 2])
def test_forward_dx_and_slope_gradient_are_the_formulas(threads, C, shared, dtype):
    pynn.set_num_threads(threads)
    B = 256  # B * C > 32,768 for C = 150 and 256: the backward splits the columns between threads
    rng = np.random.default_rng(C)
    x = rng.standard_normal((B, C)).astype(dtype)
    x[::7, ::5] = 0.0  # a * 0 is -0 for a negative slope (a -0 would reach the PReLU as +0: + the zero bias)
    model = pynn.Sequential([pynn.Dense(B, C), pynn.PReLU(1 if shared else C, init=0.25)], loss="mse", dtype=dtype,
                            seed=0)
    W, b, slope = model.parameters()
    W[...] = x.T
    b[...] = 0
    slope[...] = rng.uniform(-0.5, 0.5, slope.shape).astype(dtype)
    a = slope[0] if shared else slope[None, :]
    eye = np.eye(B, dtype=dtype)
    y_want, dx_want, acc = _expected(x, a, B, C) if dtype == "float32" else (None, None, None)
    if dtype == "float64":  # the same formulas in float64 (the double sum's terms are rounded products)
        y_want = np.where(x > 0, x, a * x)
        dy = (2.0 * y_want) * (1.0 / (B * C))
        dx_want = np.where(x > 0, dy, a * dy)
        acc = np.zeros(C)
        for r in range(B):
            acc += np.where(x[r] > 0, 0.0, dy[r] * x[r])
    y = model.forward(eye)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(np.signbit(y), np.signbit(y_want))
    model.loss_and_gradients(eye, np.zeros((B, C), dtype=dtype))
    dW, _, dslope = model.gradients()
    np.testing.assert_array_equal(dW, dx_want.T)
    want = np.array([sum_in_order(acc)], dtype=dtype) if shared else acc.astype(dtype)
    if dtype == "float64" and platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        np.testing.assert_allclose(dslope, want, rtol=1e-15, atol=0)
    else:
        np.testing.assert_array_equal(dslope, want)
    pynn.set_num_threads(3 - threads)  # the other thread count: the same bits
    model.loss_and_gradients(eye, np.zeros((B, C), dtype=dtype))
    np.testing.assert_array_equal(model.gradients()[2], dslope)


def sum_in_order(values):
    total = 0.0
    for v in values:  # over the columns in order
        total += v
    return total
