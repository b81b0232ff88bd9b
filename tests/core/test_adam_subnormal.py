"""Adam's moments never stay subnormal (csrc/kernels/optimizers.h, flush_subnormal).

When a weight's gradient is exactly 0 from some step on (a ReLU unit that stopped firing,
an input feature that is always 0), its first moment decays by beta1 per step into the
subnormal range and, under torch's formulas, sticks at the smallest subnormal forever;
the subnormal operands then slow every update. pynn stores a moment below the smallest
normal number as 0. These tests start such moments just above that number and check, step
by step, on every update path (the AVX-512 panel update of a float32 W, the generic loop of
the biases and of float64, the BLAS kernel), that they pass straight from normal to exactly
0, that pynn.reference does the same, and that NaN is never flushed.
"""
import numpy as np
import pytest

import pynn
from pynn import _core
from pynn import reference as R

N_IN, N_OUT, ZERO_FEATURE = 5, 3, 2


@pytest.fixture(autouse=True)
def _restore_kernel():
    yield
    _core.set_kernel("auto")


def _data(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, N_IN)).astype(dtype)
    X[:, ZERO_FEATURE] = 0.0  # dLoss/dW[:, ZERO_FEATURE] = dZ^T X[:, ZERO_FEATURE] is exactly 0
    y = rng.normal(size=(16, N_OUT)).astype(dtype)
    return X, y


def _model_with_moments(dtype):
    """A trained-for-one-step model whose zero-gradient weights have m = 5 tiny and
    v = 1.5 tiny: m needs 16 steps of beta1 = 0.9 to fall below tiny, v 406 of beta2 =
    0.999 -- so beta2 is lowered to 0.9 as well (the flush does not depend on beta)."""
    X, y = _data(dtype)
    model = pynn.Sequential([pynn.Dense(N_IN, N_OUT)], loss="mse", dtype=dtype, seed=0)
    opt = pynn.Adam(lr=1e-3, betas=(0.9, 0.9))
    model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
    W = model.parameters()[0]
    flat = model.state().params
    assert np.shares_memory(W, flat) and np.array_equal(flat[:W.size].reshape(W.shape), W)
    cols = np.arange(N_OUT) * N_IN + ZERO_FEATURE  # W[:, ZERO_FEATURE] in the flat buffer
    tiny = np.finfo(dtype).tiny
    m, v = model.state().optimizer_buffers
    m[cols] = 5 * tiny * np.array([1, -1, 1])
    v[cols] = 1.5 * tiny
    return model, opt, X, y, cols


def _is_subnormal(a):
    a = np.abs(a)
    return (a > 0) & (a < np.finfo(a.dtype).tiny)


@pytest.mark.parametrize("kernel", ["auto", "blas"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_moments_go_from_normal_straight_to_zero(dtype, kernel):
    _core.set_kernel(kernel)
    model, opt, X, y, cols = _model_with_moments(dtype)
    # The reference optimizer, given the same state, to follow step by step.
    m0, v0 = (b.copy() for b in model.state().optimizer_buffers)
    params = [p.copy() for p in model.parameters()]
    ref = R.Adam(lr=1e-3, betas=(0.9, 0.9))
    ref.state.t = model.state().opt_step
    ref.state.m = [m0[:N_OUT * N_IN].reshape(N_OUT, N_IN).copy(), m0[N_OUT * N_IN:].copy()]
    ref.state.v = [v0[:N_OUT * N_IN].reshape(N_OUT, N_IN).copy(), v0[N_OUT * N_IN:].copy()]
    ref_model = R.MLP([layer.get_config() for layer in model.layers], params, "mse")
    seen_zero = False
    for step in range(40):
        model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
        ref_model.fit_epoch(X, y, len(X), ref, np.arange(len(X)))
        m, v = model.state().optimizer_buffers
        assert not _is_subnormal(m).any() and not _is_subnormal(v).any(), f"a subnormal moment after step {step}"
        assert not _is_subnormal(ref.state.m[0]).any() and not _is_subnormal(ref.state.v[0]).any()
        seen_zero |= bool((m[cols] == 0).all() and (v[cols] == 0).all())
    assert seen_zero, "the decaying moments never reached 0"
    assert (ref.state.m[0][:, ZERO_FEATURE] == 0).all() and (ref.state.v[0][:, ZERO_FEATURE] == 0).all()
    # The weights with a zero gradient stopped moving once their moments were 0, as in the reference.
    np.testing.assert_allclose(model.parameters()[0], ref_model.params[0], rtol=1e-5 if dtype == "float32" else 1e-12)


def test_flush_keeps_nan():
    """flush_subnormal keeps NaN (|NaN| < tiny is false): a NaN moment makes a NaN weight,
    which fit reports as divergence (and undoes), instead of being hidden as 0."""
    model, opt, X, y, cols = _model_with_moments("float32")
    m, _ = model.state().optimizer_buffers
    m[cols[0]] = np.nan
    with pytest.warns(RuntimeWarning, match="diverged"):
        model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
    assert np.isfinite(model.parameters()[0]).all()
