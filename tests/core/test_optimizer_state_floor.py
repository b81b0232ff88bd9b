"""Optimizer state never lingers below the floor (csrc/kernels/optimizers.h, state_floor).

When a weight's gradient is exactly 0 from some step on (a ReLU unit that stopped firing,
an input feature that is always 0), Adam's first moment and SGD's momentum buffer decay
geometrically; under torch's formulas they sink into the subnormal range and stick at the
smallest subnormal, and long before that the update's products ((1 - beta1) m, lr m /
(1 - beta1^t), momentum * buf) are subnormal. Subnormal arithmetic is slow on CPUs. pynn
stores a state value below 2^-100 (float32; 2^-996 in float64) as 0.

These tests start such values just above the floor and check, step by step, on every
update path (the AVX-512 panel update of a float32 W, the generic loop of the biases and
of float64, the BLAS kernel), that they go from at least the floor straight to exactly 0,
that pynn.reference does the same, that the weights agree with it, and that NaN is never
flushed.
"""
import numpy as np
import pytest

import pynn
from pynn import _core
from pynn import reference as R

ZERO_FEATURE = 2
STEPS = 40
# (n_in, n_out): a small W, and one over 256 KB, which a float32 epoch keeps in the
# forward's panel layout with its moments (FastPath::packed_first) on AVX-512 CPUs.
SHAPES = [(5, 3), (600, 128)]


@pytest.fixture(autouse=True)
def _restore_kernel():
    yield
    _core.set_kernel("auto")


def _data(dtype, n_in, n_out):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, n_in)).astype(dtype)
    X[:, ZERO_FEATURE] = 0.0  # dLoss/dW[:, ZERO_FEATURE] = dZ^T X[:, ZERO_FEATURE] is exactly 0
    y = rng.normal(size=(16, n_out)).astype(dtype)
    return X, y


def _floor(dtype):
    return np.finfo(dtype).tiny * 2.0**26


def test_floor_is_2_to_the_minus_100_in_float32():
    assert R.state_floor(np.float32) == 2.0**-100
    assert R.state_floor(np.float64) == 2.0**-996


def _model_with_small_state(dtype, opt, values, shape=SHAPES[0]):
    """A model trained one step with `opt`, whose zero-gradient weights' state buffers are
    then set to `values` (one array per buffer, broadcast over the column) times the floor."""
    n_in, n_out = shape
    X, y = _data(dtype, n_in, n_out)
    model = pynn.Sequential([pynn.Dense(n_in, n_out)], loss="mse", dtype=dtype, seed=0)
    model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
    W = model.parameters()[0]
    flat = model.state().params
    assert np.shares_memory(W, flat) and np.array_equal(flat[:W.size].reshape(W.shape), W)
    cols = np.arange(n_out) * n_in + ZERO_FEATURE  # W[:, ZERO_FEATURE] in the flat buffer
    for buf, value in zip(model.state().optimizer_buffers, values):
        buf[cols] = np.resize(value, n_out) * _floor(dtype)
    return model, X, y, cols


def _below_floor(a):
    a = np.abs(a)
    return (a > 0) & (a < _floor(a.dtype))


def _split(flat, model):
    """The flat buffer as the reference's per-parameter arrays (W, b)."""
    n_out, n_in = model.parameters()[0].shape
    return [flat[:n_out * n_in].reshape(n_out, n_in).copy(), flat[n_out * n_in:].copy()]


def _assert_weights_match(model, ref_model, dtype):
    """W as the reference's. The zero-gradient column closely: its weights stop once their
    state is 0. The rest within rounding: absolutely near 0 (a float64 weight of 3e-6
    differs in its 12th digit after 40 steps), and in float32 Adam more loosely, since it
    divides gradients that are rounding noise by their own size (docs/reliability.md)."""
    W, W_ref = model.parameters()[0], ref_model.params[0]
    rtol, atol = (1e-3, 2e-6) if dtype == "float32" else (1e-12, 1e-15)
    np.testing.assert_allclose(W, W_ref, rtol=rtol, atol=atol)
    np.testing.assert_allclose(W[:, ZERO_FEATURE], W_ref[:, ZERO_FEATURE], rtol=1e-5 if dtype == "float32" else 1e-12)


def _follow(model, opt, ref_opt, X, y, cols):
    """Train model and pynn.reference side by side for STEPS steps; return, per step, the
    zero-gradient weights' state buffers of both."""
    params = [p.copy() for p in model.parameters()]
    ref_model = R.MLP([layer.get_config() for layer in model.layers], params, "mse")
    seen = []
    for step in range(STEPS):
        model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
        ref_model.fit_epoch(X, y, len(X), ref_opt, np.arange(len(X)))
        bufs = model.state().optimizer_buffers
        for buf in bufs:
            assert not _below_floor(buf).any(), f"a state value in (0, floor) after step {step}: {buf[cols]}"
        seen.append([buf[cols].copy() for buf in bufs])
    return ref_model, seen


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel", ["auto", "blas"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_adam_moments_go_from_the_floor_straight_to_zero(dtype, kernel, shape):
    _core.set_kernel(kernel)
    # m needs 16 steps of beta1 = 0.9 to fall below the floor from 5x it; v from 1.5x needs
    # 406 of beta2 = 0.999, so beta2 is 0.9 as well (the flush does not depend on beta).
    opt = pynn.Adam(lr=1e-3, betas=(0.9, 0.9))
    model, X, y, cols = _model_with_small_state(dtype, opt, [5 * np.array([1, -1, 1]), 1.5], shape)
    m0, v0 = (b.copy() for b in model.state().optimizer_buffers)
    ref = R.Adam(lr=1e-3, betas=(0.9, 0.9))
    ref.state.t = model.state().opt_step
    ref.state.m, ref.state.v = _split(m0, model), _split(v0, model)
    ref_model, seen = _follow(model, opt, ref, X, y, cols)
    m_seen = np.array([s[0] for s in seen])
    assert (np.abs(m_seen[0]) >= _floor(dtype)).all(), "m fell below the floor on the first step"
    assert (m_seen[-1] == 0).all() and (seen[-1][1] == 0).all(), "the decaying moments never reached 0"
    for state in (ref.state.m, ref.state.v):
        assert not _below_floor(state[0]).any()
        assert (state[0][:, ZERO_FEATURE] == 0).all()
    # The weights with a zero gradient stopped moving once their moments were 0, as in the reference.
    _assert_weights_match(model, ref_model, dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("kernel", ["auto", "blas"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sgd_momentum_buffer_goes_from_the_floor_straight_to_zero(dtype, kernel, nesterov, shape):
    _core.set_kernel(kernel)
    opt = pynn.SGD(lr=0.01, momentum=0.9, nesterov=nesterov)
    model, X, y, cols = _model_with_small_state(dtype, opt, [5 * np.array([1, -1, 1])], shape)
    (buf0,) = (b.copy() for b in model.state().optimizer_buffers)
    ref = R.SGD(lr=0.01, momentum=0.9, nesterov=nesterov)
    ref.state.t = model.state().opt_step
    ref.state.momentum_buffers = _split(buf0, model)
    ref_model, seen = _follow(model, opt, ref, X, y, cols)
    bufs = np.array([s[0] for s in seen])
    assert (np.abs(bufs[0]) >= _floor(dtype)).all(), "the buffer fell below the floor on the first step"
    assert (bufs[-1] == 0).all(), "the decaying momentum buffers never reached 0"
    assert not _below_floor(ref.state.momentum_buffers[0]).any()
    assert (ref.state.momentum_buffers[0][:, ZERO_FEATURE] == 0).all()
    _assert_weights_match(model, ref_model, dtype)


def test_flush_keeps_nan():
    """flush_below_floor keeps NaN (|NaN| < floor is false): a NaN moment makes a NaN weight,
    which fit reports as divergence (and undoes), instead of being hidden as 0."""
    opt = pynn.Adam(lr=1e-3, betas=(0.9, 0.9))
    model, X, y, cols = _model_with_small_state("float32", opt, [5.0, 1.5])
    m, _ = model.state().optimizer_buffers
    m[cols[0]] = np.nan
    with pytest.warns(RuntimeWarning, match="diverged"):
        model.fit(X, y, epochs=1, batch_size=len(X), optimizer=opt, shuffle=False, verbose=0)
    assert np.isfinite(model.parameters()[0]).all()
